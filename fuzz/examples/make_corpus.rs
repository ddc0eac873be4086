//! Writes the checked-in seeds: `seeds/client_hello.bin` (the base of the structure-aware
//! target) and `corpus/<target>/*` (real flights of our client and server, framed the way
//! each target reads its input). Run from `fuzz/`: `cargo run --example make_corpus`.
//! Flights contain fresh randoms and key shares, so every run writes different bytes.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::NamedGroup;
use rustls_capif::psk::*;
use rustls_capif_fuzz as f;

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

fn with_header(header: [u8; 2], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = header.to_vec();
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

fn body(message: &[u8]) -> &[u8] {
    &message[4..]
}

/// Runs a handshake in memory; returns every flight in order (client first).
fn flights(client: PskClientConfig, server: Arc<PskServerConfig>) -> Vec<Vec<u8>> {
    let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
    let mut s = PskServerConnection::new(server);
    let mut out = Vec::new();
    for _ in 0..6 {
        let to_server = f::drain(&mut c);
        if !to_server.is_empty() {
            s.read_tls(&mut to_server.as_slice()).unwrap();
            s.process_new_packets().unwrap();
            out.push(to_server);
        }
        let to_client = f::drain(&mut s);
        if !to_client.is_empty() {
            c.read_tls(&mut to_client.as_slice()).unwrap();
            c.process_new_packets().unwrap();
            out.push(to_client);
        }
        if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() {
            break;
        }
    }
    assert!(!c.is_handshaking() && !s.is_handshaking());
    out
}

/// The extensions of a ClientHello message (without the block's length).
fn extension_block(ch: &[u8]) -> &[u8] {
    let ext_block_at = 4 + 2 + 32 + 1 + usize::from(ch[4 + 2 + 32]);
    let mut d = &ch[ext_block_at..];
    let suites = usize::from(u16::from_be_bytes([d[0], d[1]]));
    d = &d[2 + suites..];
    let comp = usize::from(d[0]);
    &d[1 + comp + 2..]
}

fn seed_client() -> PskClientConfig {
    PskClientConfig::new(f::psk())
        .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        .unwrap()
        .with_server_name("aef.example.com")
        .unwrap()
}

fn main() {
    // The structure-aware target's base: our client's ClientHello.
    let mut c = PskClientConnection::new(Arc::new(seed_client())).unwrap();
    let ch_record = f::drain(&mut c);
    let ch = f::plaintext_handshake_messages(&ch_record).remove(0);
    fs::create_dir_all("seeds").unwrap();
    fs::write("seeds/client_hello.bin", &ch).unwrap();
    // The structured target's re-binding reproduces our client's binder exactly, and the
    // server accepts the result.
    let mut h = f::Hello::parse(&ch).unwrap();
    assert!(h.rebind(0, &[]));
    assert_eq!(h.encode(), ch, "independent binder matches the engine's");
    let mut s = PskServerConnection::new(f::server_config(0));
    s.read_tls(&mut f::records(22, &h.encode(), &[]).as_slice())
        .unwrap();
    s.process_new_packets().expect("re-bound hello accepted");
    assert!(s.wants_write());

    // psk_server: [flags, shape] + what a client sends.
    let full = flights(seed_client(), f::server_config(0));
    write(
        "psk_server",
        "handshake",
        &with_header([0, 5], &[&full[0], &full[2]]),
    );
    write(
        "psk_server",
        "client_hello",
        &with_header([0, 4], &[&full[0]]),
    );
    write(
        "psk_server",
        "client_hello_bytewise",
        &with_header([0, 0], &[&full[0]]),
    );
    write(
        "psk_server",
        "deferred",
        &with_header([1, 3], &[&full[0], &full[2]]),
    );
    let hrr = flights(seed_client(), f::server_config(1));
    write(
        "psk_server",
        "hello_retry",
        &with_header([2, 5], &[&hrr[0], &hrr[2], &hrr[4]]),
    );
    let alpn = flights(seed_client(), f::server_config(2));
    write(
        "psk_server",
        "alpn",
        &with_header([4, 6], &[&alpn[0], &alpn[2]]),
    );
    write("psk_server", "not_tls", b"\x00\x05GET / HTTP/1.0\r\n\r\n");

    // psk_client: [seed, shape] + what a server sends to the fuzz client configuration.
    let client = || (*f::client_config()).clone();
    let full = flights(client(), f::server_config(0));
    write(
        "psk_client",
        "server_flight",
        &with_header([0, 5], &[&full[1]]),
    );
    write(
        "psk_client",
        "server_flight_small_reads",
        &with_header([7, 2], &[&full[1]]),
    );
    let keys: StaticPskResolver = [f::psk()].into_iter().collect();
    let p256 = PskServerConfig::new(Arc::new(keys.clone()))
        .with_groups(&[NamedGroup::secp256r1])
        .unwrap();
    let hrr = flights(client(), Arc::new(p256));
    write(
        "psk_client",
        "hello_retry",
        &with_header([0, 5], &[&hrr[1], &hrr[3]]),
    );
    let psk_ke =
        PskServerConfig::new(Arc::new(keys)).with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
    let psk_ke = flights(client(), Arc::new(psk_ke));
    write("psk_client", "psk_ke", &with_header([0, 5], &[&psk_ke[1]]));

    // psk_codec: [selector] + message.
    let sh = f::plaintext_handshake_messages(&full[1]).remove(0);
    let hrr_msg = f::plaintext_handshake_messages(&hrr[1]).remove(0);
    let codec = |name: &str, selector: u8, data: &[u8]| {
        let mut v = vec![selector];
        v.extend_from_slice(data);
        write("psk_codec", name, &v);
    };
    codec("client_hello", 0, body(&ch));
    codec("server_hello", 1, body(&sh));
    codec("hello_retry_request", 1, body(&hrr_msg));
    codec("encrypted_extensions", 2, &[0, 0]);
    codec(
        "encrypted_extensions_alpn_sni",
        2,
        &[0, 13, 0, 0, 0, 0, 0, 16, 0, 5, 0, 3, 2, b'h', b'2'],
    );
    codec("handshake_framing", 3, &ch);
    codec("key_update", 4, &[1]);
    codec(
        "new_session_ticket",
        4,
        &[0, 0, 0, 60, 1, 2, 3, 4, 1, 0, 0, 4, 9, 9, 9, 9, 0, 0],
    );
    codec("extensions", 5, extension_block(&ch));

    // TLS 1.2 (issue 14): our TLS 1.2-only fuzz client against the server configurations 6
    // (TLS 1.3 and 1.2, plain PSK allowed) and 7 (TLS 1.2 only) of `f::server_config`.
    let tls12_client = || (*f::tls12_client_config(false)).clone();
    for (k, kind) in [6u8, 7].into_iter().enumerate() {
        let fl = flights(tls12_client(), f::server_config(kind));
        for deferred in [0u8, 1] {
            write(
                "psk_server",
                &format!("tls12_client_{k}_{deferred}"),
                &with_header([(kind << 1) | deferred, 5], &[&fl[0], &fl[2]]),
            );
        }
    }
    // psk_tls12_client: a TLS 1.2-only server's two flights, to the TLS 1.2-only (seed bit 0
    // clear) and the TLS 1.3-and-1.2 client (handed over to TLS 1.2 by the ServerHello).
    for mixed in [false, true] {
        let client = (*f::tls12_client_config(mixed)).clone();
        let fl = flights(client, f::server_config(7));
        write(
            "psk_tls12_client",
            &format!("tls12_flight_{}", u8::from(mixed)),
            &with_header([u8::from(mixed), 5], &[&fl[1], &fl[3]]),
        );
    }
    // psk_codec selectors 6-9 and the TLS 1.2 ClientHello (selector 0).
    let fl = flights(tls12_client(), f::server_config(7));
    let ch12 = f::plaintext_handshake_messages(&fl[0]).remove(0);
    let server_flight = f::plaintext_handshake_messages(&fl[1]);
    let client_flight = f::plaintext_handshake_messages(&fl[2]);
    codec("tls12_client_hello", 0, body(&ch12));
    codec("tls12_server_hello", 6, body(&server_flight[0]));
    codec("tls12_server_key_exchange", 7, body(&server_flight[1]));
    codec("tls12_client_key_exchange", 8, body(&client_flight[0]));
    codec("tls12_hello_extensions", 9, extension_block(&ch12));

    // psk_server_structured: arbitrary-encoded inputs (the empty input means "the real
    // hello, re-bound, in one record").
    let structured: [&[u8]; 4] = [
        b"",
        b"\x01",
        b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
        b"\x02\x00\x05\x16\x03\x03\x00\x01\x01\x14\x03\x03\x00\x01\x01",
    ];
    for (i, s) in structured.iter().enumerate() {
        write("psk_server_structured", &format!("seed{i}"), s);
    }

    // psk_encrypted: arbitrary-encoded inputs (client or server side, before or after the
    // handshake completes, a few frames).
    let encrypted: [&[u8]; 4] = [
        b"\x00\x00\x00",
        b"\x01\x01\x00\x04\x00\x00\x00\x01\x05\x03",
        b"\x00\x01\x10\x03\x18\x01\x02\x00\x00\x06hello\x05\x06",
        b"\x01\x00\x22\x07\x01\x06\x00\x00\x00\x00\x00\x00\x01\x02",
    ];
    for (i, s) in encrypted.iter().enumerate() {
        write("psk_encrypted", &format!("seed{i}"), s);
    }
}
