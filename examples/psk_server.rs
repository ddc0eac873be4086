//! CAPIF-2e server tool: a TLS 1.3 external-PSK server, with `--tls12` also a TLS 1.2 one.
//!
//! ```text
//! cargo run --example psk_server -- --listen 127.0.0.1:PORT --identity ID --psk HEX [--sha384] [--psk-ke]
//!     [--tls12] [--plain-psk] [--import | --import-only] [--groups x25519,ffdhe2048]
//! ```
//!
//! `--tls12` also accepts TLS 1.2 PSK clients (ECDHE_PSK suites; TLS 1.3 stays preferred);
//! `--plain-psk` adds the RFC 5487 plain PSK suites (no forward secrecy).
//!
//! Serves connections concurrently (a thread each) until killed. Each `GET` request gets a
//! small `HTTP/1.0 200 OK` response naming the authenticated PSK identity, then close_notify.
//! A failed handshake is logged on stderr and does not stop the server; a handshake has 10 s
//! in all, however the client paces its bytes. `--psk-ke` allows `psk_ke` in addition to
//! `psk_dhe_ke`. `--import` also accepts RFC 9258 imported identities of the key (empty
//! context, HKDF_SHA256 and HKDF_SHA384), `--import-only` accepts only those. (No OpenSSL or
//! GnuTLS release installed here speaks RFC 9258: use `psk_client --import`.) `--groups`
//! restricts and orders the key-exchange groups (comma-separated; `ffdhe2048` and
//! `ffdhe3072` with the `ffdhe` feature); without it, the provider's groups.

#[path = "psk_common/mod.rs"]
mod psk_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls_capif::psk::{
    ExternalPsk, PskHash, PskImporter, PskKeyExchangeModes, PskServerConfig, PskServerConnection,
    PskStream, StaticPskResolver,
};
use rustls_capif::secret::decode_hex;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 256;

/// Time a client has for its whole handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: psk_server --listen HOST:PORT --identity ID --psk HEX [--sha384] \
                     [--psk-ke] [--tls12] [--plain-psk] [--import | --import-only] [--groups LIST]";

fn config() -> Result<(String, PskServerConfig), String> {
    let (mut listen, mut identity, mut key) = (None, None, None);
    let (mut sha384, mut psk_ke, mut tls12, mut plain_psk) = (false, false, false, false);
    // RFC 9258: None, or whether plain identities are accepted as well.
    let mut import: Option<bool> = None;
    let mut groups = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            "--identity" => identity = args.next(),
            "--psk" => key = args.next(),
            "--sha384" => sha384 = true,
            "--psk-ke" => psk_ke = true,
            "--import" => import = Some(true),
            "--import-only" => import = Some(false),
            "--groups" => groups = Some(args.next().ok_or("--groups needs a list")?),
            "--tls12" => tls12 = true,
            "--plain-psk" => plain_psk = true,
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let listen = listen.ok_or(format!("missing --listen; {USAGE}"))?;
    let identity = identity.ok_or(format!("missing --identity; {USAGE}"))?;
    let key = decode_hex(&key.ok_or(format!("missing --psk; {USAGE}"))?)
        .map_err(|e| format!("--psk: {e}"))?;
    let hash = if sha384 {
        PskHash::Sha384
    } else {
        PskHash::Sha256
    };
    let psk = ExternalPsk::new(identity.into_bytes(), &key, hash).map_err(|e| e.to_string())?;
    let store: StaticPskResolver = [psk].into_iter().collect();
    let mut config = PskServerConfig::new(Arc::new(store));
    if psk_ke {
        config = config.with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    }
    if let Some(plain_too) = import {
        config = config.with_psk_importer(PskImporter::new().accepting_non_imported(plain_too));
    }
    if let Some(list) = groups {
        config = config
            .with_groups(&psk_common::parse_groups(&list)?)
            .map_err(|e| e.to_string())?;
    }
    config = config.with_tls12(tls12).with_plain_psk(plain_psk);
    Ok((listen, config))
}

fn serve(config: Arc<PskServerConfig>, tcp: TcpStream) -> Result<String, String> {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    tcp.set_nodelay(true).ok();
    let mut tls = PskStream::new(PskServerConnection::new(config), tcp);
    // A deadline for the whole handshake: the read timeout above bounds one read only, so a
    // client sending a byte every few seconds would otherwise hold this slot for hours.
    tls.handshake_within(HANDSHAKE_TIMEOUT)
        .map_err(|e| format!("handshake failed: {e}"))?;
    let identity =
        String::from_utf8_lossy(tls.conn.psk_identity().unwrap_or_default()).into_owned();

    // Read the request head (bounded).
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request_complete(&request) && request.len() < 8192 {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
    let body = if request.starts_with(b"GET ") {
        format!(
            "authenticated PSK identity: {identity}\nversion: {:?}\nimported (RFC 9258): {}\nsuite: {:?}\ngroup: {:?}\n",
            tls.conn.protocol_version(),
            tls.conn.psk_is_imported(),
            tls.conn.negotiated_cipher_suite(),
            tls.conn.negotiated_key_exchange_group()
        )
    } else {
        "only GET is served\n".to_string()
    };
    let status = if request.starts_with(b"GET ") {
        "200 OK"
    } else {
        "405 Method Not Allowed"
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes())
        .map_err(|e| format!("write failed: {e}"))?;
    tls.close().map_err(|e| format!("close failed: {e}"))?;
    Ok(identity)
}

/// A request head ends with an empty line (CRLF or, from `openssl s_client`, bare LF).
fn request_complete(request: &[u8]) -> bool {
    request.windows(4).any(|w| w == b"\r\n\r\n") || request.windows(2).any(|w| w == b"\n\n")
}

fn main() -> ExitCode {
    let (listen, config) = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: bind {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("psk_server listening on {listen}");
    let config = Arc::new(config);
    let active = Arc::new(AtomicUsize::new(0));
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        // A thread per connection, at most MAX_CONNECTIONS at once.
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            eprintln!("refusing a connection: {MAX_CONNECTIONS} already open");
            continue;
        }
        let (config, active) = (config.clone(), active.clone());
        std::thread::spawn(move || {
            let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            match serve(config, tcp) {
                Ok(identity) => eprintln!("{peer}: served identity {identity:?}"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    ExitCode::SUCCESS
}
