//! The hello tap against real rustls flights and hostile input: malformed, truncated and
//! oversized records give a typed error (or a clean give-up), never a panic, and the result
//! never depends on how the bytes were chunked.

mod capif1e_common;

use std::sync::Arc;

use capif1e_common::{
    client_config, handshake_in_memory, random_at_fixed_offset, server_config,
    session_id_at_fixed_offset, Pki, RecordingKeyLog, Version, Wire, SERVER_NAME,
};
use rustls::pki_types::ServerName;
use rustls::ProtocolVersion;
use rustls_capif::capif1e::{HelloKind, HelloTap, TapState};
use rustls_capif::Error;

/// Real handshakes captured from rustls.
struct Flights {
    tls12: Wire,
    tls12_client_random_from_key_log: Vec<u8>,
    tls13: Wire,
    tls13_hrr: Wire,
}

fn capture(pki: &Pki, client: rustls::ClientConfig, server: rustls::ServerConfig) -> Wire {
    let mut c =
        rustls::ClientConnection::new(Arc::new(client), ServerName::try_from(SERVER_NAME).unwrap())
            .unwrap();
    let mut s = rustls::ServerConnection::new(Arc::new(server)).unwrap();
    let _ = pki;
    handshake_in_memory(&mut c, &mut s, 1 << 20)
}

fn flights() -> Flights {
    let pki = Pki::new();
    let log = Arc::new(RecordingKeyLog::default());
    let mut sc12 = server_config(&pki, Version::Tls12);
    sc12.key_log = log.clone();
    let tls12 = capture(&pki, client_config(&pki, Version::Tls12), sc12);
    let tls12_client_random_from_key_log = log.client_random_lines()[0].0.clone();
    let tls13 = capture(
        &pki,
        client_config(&pki, Version::Both),
        server_config(&pki, Version::Both),
    );
    let mut provider = (*rustls_capif::default_provider()).clone();
    provider
        .kx_groups
        .retain(|g| g.name() == rustls::NamedGroup::secp384r1);
    let hrr_server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf_der.clone()], pki.key())
        .unwrap();
    let tls13_hrr = capture(&pki, client_config(&pki, Version::Both), hrr_server);
    Flights {
        tls12,
        tls12_client_random_from_key_log,
        tls13,
        tls13_hrr,
    }
}

fn fed(kind: HelloKind, bytes: &[u8]) -> HelloTap {
    let mut tap = HelloTap::new(kind);
    let _ = tap.feed(bytes);
    tap
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Feeds `bytes` in random chunks; checks the error contract on every call.
fn fed_chunked(kind: HelloKind, bytes: &[u8], rng: &mut Rng, max_chunk: usize) -> HelloTap {
    let mut tap = HelloTap::new(kind);
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = 1 + rng.below(max_chunk.min(rest.len()));
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        match tap.feed(chunk) {
            Ok(()) => assert!(!matches!(tap.state(), TapState::Failed(_))),
            Err(Error::MalformedHello(why)) => assert_eq!(tap.state(), TapState::Failed(why)),
            Err(other) => panic!("untyped tap error {other:?}"),
        }
    }
    tap
}

fn same_result(a: &HelloTap, b: &HelloTap) -> bool {
    a.state() == b.state()
        && a.client_hello() == b.client_hello()
        && a.server_hello() == b.server_hello()
}

#[test]
fn real_rustls_flights_give_the_values_on_the_wire() {
    let f = flights();
    // TLS 1.2: client random equals the one rustls logged; Session ID as on the wire.
    let ch = fed(HelloKind::ClientHello, &f.tls12.client_to_server);
    assert_eq!(ch.state(), TapState::Complete);
    assert_eq!(
        ch.client_hello().unwrap().random()[..],
        f.tls12_client_random_from_key_log[..]
    );
    let sh = fed(HelloKind::ServerHello, &f.tls12.server_to_client);
    let hello = sh.server_hello().unwrap();
    assert_eq!(hello.version(), ProtocolVersion::TLSv1_2);
    assert_eq!(
        hello.session_id(),
        &session_id_at_fixed_offset(&f.tls12.server_to_client)[..]
    );
    assert_eq!(
        hello.random(),
        &random_at_fixed_offset(&f.tls12.server_to_client)
    );
    assert!(!hello.after_hello_retry_request());

    // TLS 1.3: version from supported_versions, Session ID echoed, randoms as on the wire.
    let ch = fed(HelloKind::ClientHello, &f.tls13.client_to_server);
    assert_eq!(
        ch.client_hello().unwrap().random(),
        &random_at_fixed_offset(&f.tls13.client_to_server)
    );
    assert_eq!(
        ch.client_hello().unwrap().session_id(),
        &session_id_at_fixed_offset(&f.tls13.client_to_server)[..]
    );
    let sh = fed(HelloKind::ServerHello, &f.tls13.server_to_client);
    let hello = sh.server_hello().unwrap();
    assert_eq!(hello.version(), ProtocolVersion::TLSv1_3);
    assert_eq!(
        hello.random(),
        &random_at_fixed_offset(&f.tls13.server_to_client)
    );
    assert_eq!(
        hello.session_id(),
        &session_id_at_fixed_offset(&f.tls13.client_to_server)[..]
    );

    // HelloRetryRequest: the tap reports the ServerHello that follows it.
    let sh = fed(HelloKind::ServerHello, &f.tls13_hrr.server_to_client);
    let hello = sh.server_hello().unwrap();
    assert!(hello.after_hello_retry_request());
    assert_eq!(hello.version(), ProtocolVersion::TLSv1_3);
    let first_random = random_at_fixed_offset(&f.tls13_hrr.server_to_client);
    assert_ne!(
        hello.random(),
        &first_random,
        "the HRR random must be skipped"
    );
    // The values of the real ServerHello, the second hello message on the wire.
    let hellos = server_hello_messages(&f.tls13_hrr.server_to_client);
    assert_eq!(hellos.len(), 2, "HelloRetryRequest, then ServerHello");
    let second = hellos[1];
    assert_eq!(hello.random()[..], second[6..38]);
    let sid_len = usize::from(second[38]);
    assert_eq!(hello.session_id(), &second[39..39 + sid_len]);
    assert_eq!(
        hello.session_id(),
        &session_id_at_fixed_offset(&f.tls13_hrr.client_to_server)[..]
    );
}

/// The ServerHello handshake messages (HRR included) at the start of plaintext handshake
/// records in `wire` (each hello of a real flight starts its own record).
fn server_hello_messages(wire: &[u8]) -> Vec<&[u8]> {
    let mut hellos = Vec::new();
    let mut at = 0;
    while at + 5 <= wire.len() {
        let len = usize::from(u16::from_be_bytes([wire[at + 3], wire[at + 4]]));
        let body = &wire[at + 5..(at + 5 + len).min(wire.len())];
        if wire[at] == 22 && body.first() == Some(&2) {
            hellos.push(body);
        }
        at += 5 + len;
    }
    hellos
}

#[test]
fn chunking_never_changes_the_result() {
    let f = flights();
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (kind, bytes) in [
        (HelloKind::ClientHello, &f.tls12.client_to_server),
        (HelloKind::ServerHello, &f.tls12.server_to_client),
        (HelloKind::ClientHello, &f.tls13.client_to_server),
        (HelloKind::ServerHello, &f.tls13.server_to_client),
        (HelloKind::ServerHello, &f.tls13_hrr.server_to_client),
    ] {
        let whole = fed(kind, bytes);
        assert_eq!(whole.state(), TapState::Complete);
        for max in [1, 2, 3, 7, 64, 1500] {
            for _ in 0..20 {
                let chunked = fed_chunked(kind, bytes, &mut rng, max);
                assert!(same_result(&whole, &chunked), "{kind:?} max chunk {max}");
            }
        }
    }
}

#[test]
fn every_truncation_is_incomplete_not_an_error() {
    let f = flights();
    for (kind, bytes) in [
        (HelloKind::ClientHello, &f.tls13.client_to_server),
        (HelloKind::ServerHello, &f.tls13_hrr.server_to_client),
        (HelloKind::ServerHello, &f.tls12.server_to_client),
    ] {
        let whole = fed(kind, bytes);
        let mut completed_at = None;
        for len in 0..bytes.len() {
            let tap = fed(kind, &bytes[..len]);
            match tap.state() {
                TapState::Parsing => assert!(completed_at.is_none(), "{kind:?} at {len}"),
                TapState::Complete => {
                    completed_at.get_or_insert(len);
                    assert!(same_result(&whole, &tap));
                }
                other => panic!("{kind:?} prefix {len}: {other:?}"),
            }
        }
        assert!(completed_at.is_some());
    }
}

// ---- hand-built hostile input --------------------------------------------------------------

fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type, 3, 3];
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut out = vec![typ, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(body);
    out
}

/// A handshake message split into as many records as needed.
fn records(content_type: u8, payload: &[u8]) -> Vec<u8> {
    payload
        .chunks(16_384)
        .flat_map(|c| record(content_type, c))
        .collect()
}

fn exts(list: &[(u16, &[u8])]) -> Vec<u8> {
    let mut block = Vec::new();
    for (typ, data) in list {
        block.extend_from_slice(&typ.to_be_bytes());
        block.extend_from_slice(&(data.len() as u16).to_be_bytes());
        block.extend_from_slice(data);
    }
    let mut out = (block.len() as u16).to_be_bytes().to_vec();
    out.extend(block);
    out
}

fn server_hello(random: [u8; 32], sid: &[u8], extensions: Option<Vec<u8>>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&random);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&[0xc0, 0x2f, 0]);
    if let Some(e) = extensions {
        b.extend(e);
    }
    b
}

fn client_hello(sid: &[u8], suites: &[u8], extensions: Option<Vec<u8>>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x42; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    b.extend_from_slice(suites);
    b.extend_from_slice(&[1, 0]);
    if let Some(e) = extensions {
        b.extend(e);
    }
    b
}

const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Malformed,
    Abandoned,
    Parsing,
    Complete,
}

#[test]
fn hostile_inputs_table() {
    use HelloKind::{ClientHello as C, ServerHello as S};
    use Want::*;
    let sh_ok = handshake(2, &server_hello([1; 32], &[2; 32], None));
    let ch_ok = handshake(1, &client_hello(&[], &[0x13, 0x01], None));
    let tls13 = || Some(exts(&[(0x2b, &[3, 4])]));
    let hrr = handshake(2, &server_hello(HRR_RANDOM, &[], tls13()));
    let big_ext = vec![0u8; 20_000];
    let mut fragmented_sh_with_ccs = record(22, &sh_ok[..10]);
    fragmented_sh_with_ccs.extend(record(20, &[1]));
    fragmented_sh_with_ccs.extend(record(22, &sh_ok[10..]));
    // The ServerHello's last octet travels in a record of its own.
    let last_octet_in_own_record = [
        record(22, &sh_ok[..sh_ok.len() - 1]),
        record(22, &sh_ok[sh_ok.len() - 1..]),
    ]
    .concat();

    let sh13 = handshake(2, &server_hello([1; 32], &[], tls13()));
    let alert = |level: u8, description: u8| record(21, &[level, description]);
    let warnings = |n: usize| -> Vec<u8> { (0..n).flat_map(|_| alert(1, 100)).collect() };
    let with_version = |version: [u8; 2], mut r: Vec<u8>| {
        r[1..3].copy_from_slice(&version);
        r
    };
    let mut fragmented_sh_with_warning = record(22, &sh_ok[..10]);
    fragmented_sh_with_warning.extend(alert(1, 90));
    fragmented_sh_with_warning.extend(record(22, &sh_ok[10..]));

    // What rustls 0.23 skips before a hello, and what it refuses there (issue 16 §3).
    let tolerance: Vec<(&str, HelloKind, Vec<u8>, Want)> = vec![
        (
            "warning no_renegotiation before the ServerHello",
            S,
            [alert(1, 100), record(22, &sh_ok)].concat(),
            Complete,
        ),
        (
            "warning user_canceled before the ClientHello",
            C,
            [alert(1, 90), record(22, &ch_ok)].concat(),
            Complete,
        ),
        (
            "warning close_notify and unknown description before the hello",
            C,
            [alert(1, 0), alert(1, 255), record(22, &ch_ok)].concat(),
            Complete,
        ),
        (
            "four warning alerts before the ClientHello",
            C,
            [warnings(4), record(22, &ch_ok)].concat(),
            Complete,
        ),
        (
            "five warning alerts before the ClientHello",
            C,
            [warnings(5), record(22, &ch_ok)].concat(),
            Abandoned,
        ),
        (
            "five warning alerts before the ServerHello",
            S,
            [warnings(5), record(22, &sh_ok)].concat(),
            Abandoned,
        ),
        (
            "fatal alert before the ClientHello",
            C,
            alert(2, 40),
            Abandoned,
        ),
        ("alert of unknown level", S, alert(3, 90), Malformed),
        ("alert of level 0", C, alert(0, 90), Malformed),
        ("alert record of 1 octet", S, record(21, &[1]), Malformed),
        (
            "alert record of 3 octets",
            S,
            record(21, &[1, 90, 1]),
            Malformed,
        ),
        ("empty alert record", C, record(21, &[]), Malformed),
        (
            "two alerts in one record",
            C,
            record(21, &[1, 90, 1, 90]),
            Malformed,
        ),
        (
            "warning alert inside a fragmented ServerHello",
            S,
            fragmented_sh_with_warning,
            Malformed,
        ),
        ("empty application data", C, record(23, &[]), Abandoned),
        ("empty CCS record", S, record(20, &[]), Malformed),
        (
            "HRR, CCS, CCS, ServerHello",
            S,
            [
                record(22, &hrr),
                record(20, &[1]),
                record(20, &[1]),
                record(22, &sh13),
            ]
            .concat(),
            Complete,
        ),
        (
            "HRR, three CCS",
            S,
            [
                record(22, &hrr),
                record(20, &[1]),
                record(20, &[1]),
                record(20, &[1]),
            ]
            .concat(),
            Abandoned,
        ),
        (
            "HRR, CCS of value 2",
            S,
            [record(22, &hrr), record(20, &[2])].concat(),
            Malformed,
        ),
        (
            "HRR, CCS of 2 octets",
            S,
            [record(22, &hrr), record(20, &[1, 1])].concat(),
            Malformed,
        ),
        (
            "HRR, user_canceled, ServerHello",
            S,
            [record(22, &hrr), alert(1, 90), record(22, &sh13)].concat(),
            Complete,
        ),
        (
            "HRR, then no_renegotiation (TLS 1.3)",
            S,
            [record(22, &hrr), alert(1, 100)].concat(),
            Abandoned,
        ),
        (
            "three warnings, HRR, two user_canceled",
            S,
            [warnings(3), record(22, &hrr), alert(1, 90), alert(1, 90)].concat(),
            Abandoned,
        ),
        (
            "HRR that does not select TLS 1.3",
            S,
            record(22, &handshake(2, &server_hello(HRR_RANDOM, &[], None))),
            Malformed,
        ),
        (
            "HRR and ServerHello in one record",
            S,
            record(22, &[hrr.clone(), sh13.clone()].concat()),
            Malformed,
        ),
        (
            "hello in a record of version 0xfefd",
            S,
            with_version([0xfe, 0xfd], record(22, &sh_ok)),
            Complete,
        ),
        (
            "hello in a record of version 0x0002",
            C,
            with_version([0, 2], record(22, &ch_ok)),
            Complete,
        ),
        (
            "warning in a record of version 0x0300",
            C,
            [with_version([3, 0], alert(1, 90)), record(22, &ch_ok)].concat(),
            Complete,
        ),
        (
            "record of version 0xfeff (DTLS 1.0) and 0xfefc (DTLS 1.3)",
            S,
            [
                with_version([0xfe, 0xff], alert(1, 90)),
                with_version([0xfe, 0xfc], record(22, &sh_ok)),
            ]
            .concat(),
            Complete,
        ),
        (
            "record of version 0xfefe",
            S,
            with_version([0xfe, 0xfe], record(22, &sh_ok)),
            Malformed,
        ),
        // rustls refuses these before a full header arrives; so does the tap.
        ("unknown content type, one octet", C, vec![0x19], Malformed),
        ("bad version, three octets", S, vec![22, 2, 3], Malformed),
    ];

    let mut cases: Vec<(&str, HelloKind, Vec<u8>, Want)> = vec![
        // record layer
        ("unknown content type", S, record(0x63, &sh_ok), Malformed),
        (
            "SSLv2-style hello",
            C,
            vec![0x80, 0x2e, 0x01, 0x03, 0x01, 0, 0],
            Malformed,
        ),
        (
            "record version 2.x",
            S,
            {
                let mut r = record(22, &sh_ok);
                r[1] = 2;
                r
            },
            Malformed,
        ),
        ("empty handshake record", S, record(22, &[]), Malformed),
        (
            "record of 2^14+2048 octets",
            S,
            vec![22, 3, 3, 0x48, 0x00],
            Malformed,
        ),
        (
            "record of 0xffff octets",
            C,
            vec![22, 3, 3, 0xff, 0xff],
            Malformed,
        ),
        (
            "record of 2^14+2047 octets (header only)",
            S,
            vec![22, 3, 3, 0x47, 0xff],
            Parsing,
        ),
        ("alert first", S, record(21, &[2, 40]), Abandoned),
        ("application data first", C, record(23, &[0; 10]), Abandoned),
        ("heartbeat first", S, record(24, &[1, 0, 0]), Abandoned),
        ("CCS before the ClientHello", C, record(20, &[1]), Abandoned),
        (
            // rustls skips a middlebox CCS only once TLS 1.3 is negotiated (after an HRR).
            "CCS before the first ServerHello",
            S,
            record(20, &[1]),
            Abandoned,
        ),
        (
            "CCS inside a fragmented message",
            S,
            fragmented_sh_with_ccs,
            Malformed,
        ),
        (
            "last octet in a record of its own",
            S,
            last_octet_in_own_record,
            Complete,
        ),
        // handshake layer
        (
            "ServerHello in the client direction",
            C,
            record(22, &sh_ok),
            Malformed,
        ),
        (
            "ClientHello in the server direction",
            S,
            record(22, &ch_ok),
            Malformed,
        ),
        (
            "Certificate first",
            S,
            record(22, &handshake(11, &[0; 10])),
            Malformed,
        ),
        (
            "HelloRequest first",
            S,
            record(22, &handshake(0, &[])),
            Malformed,
        ),
        (
            "message of 0x10000 octets",
            S,
            record(22, &[2, 1, 0, 0]),
            Malformed,
        ),
        (
            "message of 0xffffff octets",
            C,
            record(22, &[1, 0xff, 0xff, 0xff]),
            Malformed,
        ),
        (
            "empty ServerHello",
            S,
            record(22, &handshake(2, &[])),
            Malformed,
        ),
        (
            "empty ClientHello",
            C,
            record(22, &handshake(1, &[])),
            Malformed,
        ),
        (
            "ServerHello cut in its random",
            S,
            record(22, &handshake(2, &[3, 3, 1, 2])),
            Malformed,
        ),
        (
            "Session ID of 33 octets",
            S,
            record(22, &handshake(2, &server_hello([1; 32], &[0; 33], None))),
            Malformed,
        ),
        (
            "Session ID of 255 octets",
            C,
            record(
                22,
                &handshake(1, &{
                    let mut b = vec![3, 3];
                    b.extend([0; 32]);
                    b.push(255);
                    b.extend([0; 255]);
                    b
                }),
            ),
            Malformed,
        ),
        (
            "Session ID longer than the message",
            S,
            record(
                22,
                &handshake(2, &{
                    let mut b = vec![3, 3];
                    b.extend([0; 32]);
                    b.push(32);
                    b.extend([0; 10]);
                    b
                }),
            ),
            Malformed,
        ),
        (
            "odd cipher_suites length",
            C,
            record(22, &handshake(1, &client_hello(&[], &[0x13], None))),
            Malformed,
        ),
        (
            "cipher_suites past the end",
            C,
            record(
                22,
                &handshake(1, &{
                    let mut b = client_hello(&[], &[0x13, 0x01], None);
                    b.truncate(2 + 32 + 1 + 2 + 1);
                    b
                }),
            ),
            Malformed,
        ),
        (
            "extensions block longer than the message",
            S,
            record(
                22,
                &handshake(2, &server_hello([1; 32], &[], Some(vec![0, 9, 0, 0, 0, 0]))),
            ),
            Malformed,
        ),
        (
            "extensions block shorter than the message",
            S,
            record(
                22,
                &handshake(2, &server_hello([1; 32], &[], Some(vec![0, 0, 0xaa]))),
            ),
            Malformed,
        ),
        (
            "extension overruns its block",
            C,
            record(
                22,
                &handshake(
                    1,
                    &client_hello(&[], &[0, 0x2f], Some(vec![0, 4, 0, 0x17, 0, 9])),
                ),
            ),
            Malformed,
        ),
        (
            "half an extension header",
            S,
            record(
                22,
                &handshake(2, &server_hello([1; 32], &[], Some(vec![0, 1, 0]))),
            ),
            Malformed,
        ),
        (
            "extensions length cut",
            S,
            record(
                22,
                &handshake(2, &server_hello([1; 32], &[], Some(vec![0]))),
            ),
            Malformed,
        ),
        (
            "supported_versions of 3 octets",
            S,
            record(
                22,
                &handshake(
                    2,
                    &server_hello([1; 32], &[], Some(exts(&[(0x2b, &[3, 4, 0])]))),
                ),
            ),
            Malformed,
        ),
        (
            "supported_versions twice",
            S,
            record(
                22,
                &handshake(
                    2,
                    &server_hello(
                        [1; 32],
                        &[],
                        Some(exts(&[(0x2b, &[3, 4]), (0x2b, &[3, 4])])),
                    ),
                ),
            ),
            Malformed,
        ),
        (
            "two HelloRetryRequests",
            S,
            [record(22, &hrr), record(22, &hrr)].concat(),
            Malformed,
        ),
        (
            "HRR, CCS, then Certificate",
            S,
            [
                record(22, &hrr),
                record(20, &[1]),
                record(22, &handshake(11, &[0; 4])),
            ]
            .concat(),
            Malformed,
        ),
        (
            "HRR then alert",
            S,
            [record(22, &hrr), record(21, &[2, 40])].concat(),
            Abandoned,
        ),
        // large but within bounds
        (
            "ServerHello with a 20000-octet extension over two records",
            S,
            records(
                22,
                &handshake(
                    2,
                    &server_hello([1; 32], &[], Some(exts(&[(0xffce, &big_ext)]))),
                ),
            ),
            Complete,
        ),
        (
            "ClientHello of exactly 65535 octets",
            C,
            records(
                22,
                &handshake(
                    1,
                    &client_hello(
                        &[],
                        &[0x13, 0x01],
                        Some(exts(&[(
                            0x15,
                            &vec![0u8; 65_535 - 2 - 32 - 1 - 2 - 2 - 2 - 2 - 4],
                        )])),
                    ),
                ),
            ),
            Complete,
        ),
        (
            "ClientHello of 65536 octets",
            C,
            records(
                22,
                &handshake(
                    1,
                    &client_hello(
                        &[],
                        &[0x13, 0x01],
                        Some(exts(&[(
                            0x15,
                            &vec![0u8; 65_536 - 2 - 32 - 1 - 2 - 2 - 2 - 2 - 4],
                        )])),
                    ),
                ),
            ),
            Malformed,
        ),
        (
            "ClientHello without extensions",
            C,
            record(22, &ch_ok),
            Complete,
        ),
        (
            "garbage after a complete hello is ignored",
            S,
            [record(22, &sh_ok), vec![0xff; 64]].concat(),
            Complete,
        ),
    ];

    cases.extend(tolerance);

    let mut rng = Rng(42);
    for (name, kind, bytes, want) in &cases {
        let tap = fed(*kind, bytes);
        let got = match tap.state() {
            TapState::Failed(_) => Malformed,
            TapState::Abandoned => Abandoned,
            TapState::Parsing => Parsing,
            TapState::Complete => Complete,
            other => panic!("{name}: unknown state {other:?}"),
        };
        assert_eq!(got, *want, "{name}: {:?}", tap.state());
        if *want == Malformed {
            let mut again = HelloTap::new(*kind);
            let err = again.feed(bytes).unwrap_err();
            assert!(matches!(err, Error::MalformedHello(_)), "{name}: {err:?}");
            assert!(
                err.to_string().starts_with("malformed TLS hello"),
                "{name}: {err}"
            );
            assert!(again.feed(&[]).is_err(), "{name}: errors are sticky");
        }
        // The same bytes byte by byte and in random chunks give the same result.
        for max in [1, 5, 300] {
            assert!(
                same_result(&tap, &fed_chunked(*kind, bytes, &mut rng, max)),
                "{name}"
            );
        }
    }
}

#[test]
fn random_mutations_of_real_flights_never_panic_and_do_not_depend_on_chunking() {
    let f = flights();
    let seeds = [
        (HelloKind::ClientHello, f.tls12.client_to_server.clone()),
        (HelloKind::ServerHello, f.tls12.server_to_client.clone()),
        (HelloKind::ClientHello, f.tls13.client_to_server.clone()),
        (HelloKind::ServerHello, f.tls13.server_to_client.clone()),
        (HelloKind::ServerHello, f.tls13_hrr.server_to_client.clone()),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = [0usize; 4];
    for round in 0..4000 {
        let (kind, seed) = &seeds[round % seeds.len()];
        // Only the first ~600 bytes matter to the tap; mutate there.
        let mut bytes = seed[..seed.len().min(600)].to_vec();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 => {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
                1 => {
                    let i = rng.below(bytes.len());
                    bytes[i] = [0, 0xff, 0x20, 0x21, 0x03][rng.below(5)];
                }
                2 => {
                    let i = rng.below(bytes.len());
                    bytes.truncate(i.max(1));
                }
                _ => {
                    let i = rng.below(bytes.len());
                    let b = rng.next() as u8;
                    bytes.insert(i, b);
                }
            }
        }
        let whole = fed(*kind, &bytes);
        outcomes[match whole.state() {
            TapState::Failed(_) => 0,
            TapState::Abandoned => 1,
            TapState::Parsing => 2,
            _ => 3,
        }] += 1;
        let max_chunk = 1 + rng.below(64);
        let chunked = fed_chunked(*kind, &bytes, &mut rng, max_chunk);
        assert!(
            same_result(&whole, &chunked),
            "round {round}: {:?} vs {:?}",
            whole,
            chunked
        );
    }
    // The mutations reach every outcome (the loop is not vacuous).
    assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
}

/// Writes the seed corpus of the `hello_tap` fuzz target from real rustls flights:
/// `cargo test --test hello_tap -- --ignored write_fuzz_seed_corpus`.
/// Format (see fuzz/fuzz_targets/hello_tap.rs): byte 0 selects the direction (bit 0) and the
/// chunking mode (bits 1-2), byte 1 seeds the chunk sizes, the rest is the byte stream.
#[test]
#[ignore = "writes fuzz/corpus/hello_tap; run on purpose"]
fn write_fuzz_seed_corpus() {
    let f = flights();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/hello_tap");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, selector, bytes) in [
        ("tls12_client_hello", 0u8, &f.tls12.client_to_server),
        ("tls12_server_flight", 1 | 2 << 1, &f.tls12.server_to_client),
        ("tls13_client_hello", 3 << 1, &f.tls13.client_to_server),
        ("tls13_server_flight", 1, &f.tls13.server_to_client),
        (
            "tls13_hrr_server_flight",
            1 | 1 << 1,
            &f.tls13_hrr.server_to_client,
        ),
        (
            "tls12_server_flight_after_warning_alerts",
            1 | 2 << 1,
            &[
                vec![21, 3, 3, 0, 2, 1, 100, 21, 3, 3, 0, 2, 1, 90],
                f.tls12.server_to_client.clone(),
            ]
            .concat(),
        ),
    ] {
        let mut data = vec![selector, 0x5a];
        data.extend_from_slice(&bytes[..bytes.len().min(4096)]);
        std::fs::write(dir.join(name), data).unwrap();
    }
}
