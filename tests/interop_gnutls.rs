//! Interop with the real GnuTLS command-line peers, both directions (DESIGN.md §6):
//!
//! * our client → `gnutls-serv --pskpasswd FILE --echo` (it logs "PSK authentication.
//!   Connected as 'ID'", the curve of the (EC)DHE exchange and the RFC 9266 `tls-exporter`
//!   channel binding, which must equal ours: a check of the whole key schedule);
//! * `gnutls-cli --pskusername ID --pskkey HEX` → our server (it prints the same PSK line,
//!   our HTTP answer and the alert it received).
//!
//! `gnutls-cli --pskkey` and the `--pskpasswd` file take the key in hex; both are decoded to
//! the raw key bytes (checked: a key given as hex to GnuTLS interoperates with the same bytes
//! given to `ExternalPsk`). GnuTLS 3.7 binds external PSKs to SHA-256 and has no option for
//! SHA-384, so SHA-384 PSKs are covered against OpenSSL only.
//!
//! `gnutls-serv` and `gnutls-cli` (package gnutls-bin) must be installed; the tests fail
//! (never skip) without them.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;

use common::peer::{
    assert_output_contains, assert_output_lacks, connect_with_retry, gnutls_cli, gnutls_serv, hex,
    run_client, spawn_server, ClientOutcome, OneShotServer, Peer, ReadUntil, TempDir, STEP_TIMEOUT,
};
use rustls::{AlertDescription, CipherSuite, NamedGroup};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::{
    ExternalPsk, KeyExchangeMode, PskClientConfig, PskClientConnection, PskHash,
    PskKeyExchangeModes, PskServerConfig, PskStream, StaticPskResolver,
};
use rustls_capif::Error;

const IDENTITY: &str = "invoker-gnutls";
const KEY: [u8; 32] = *b"gnutls-psk-0123456789abcdef-0123";
const OTHER_KEY: [u8; 32] = *b"another-key-0123456789abcdef-012";

/// TLS 1.3 with every PSK key exchange (DESIGN.md §6).
const PRIO: &str = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK:+DHE-PSK:+ECDHE-PSK";
/// TLS 1.3 with psk_ke only.
const PRIO_PSK_KE: &str = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+PSK";

fn psk(key: &[u8]) -> ExternalPsk {
    ExternalPsk::new(IDENTITY.as_bytes().to_vec(), key, PskHash::Sha256).unwrap()
}

fn server_config(key: &[u8]) -> PskServerConfig {
    let keys: StaticPskResolver = [psk(key)].into_iter().collect();
    PskServerConfig::new(Arc::new(keys))
}

/// `gnutls-serv --priority PRIO --pskpasswd FILE -p PORT --echo` knowing `KEY` for
/// `IDENTITY`. The directory holding the password file must outlive the server.
fn gnutls_serv_with(priority: &str) -> (Peer, u16, TempDir) {
    gnutls_serv_args(priority, &[])
}

/// [`gnutls_serv_with`] with extra options (e.g. `-d 4` to log handshake messages).
fn gnutls_serv_args(priority: &str, extra: &[&str]) -> (Peer, u16, TempDir) {
    let dir = TempDir::new("gnutls-serv");
    let passwd = dir.write("psk.txt", format!("{IDENTITY}:{}\n", hex(&KEY)).as_bytes());
    let tool = gnutls_serv();
    let (peer, port) = spawn_server(
        |port| {
            let mut cmd = Command::new(&tool);
            cmd.args(["--priority", priority, "--pskpasswd"])
                .arg(&passwd)
                .args(["-p", &port.to_string(), "--echo"])
                .args(extra);
            cmd
        },
        |port| format!("listening on IPv4 0.0.0.0 port {port}...done"),
    );
    (peer, port, dir)
}

/// Our client sends a line to the echo server and reads it back.
fn echo_through(config: PskClientConfig, port: u16) -> ClientOutcome {
    let line = b"hello from rustls-capif\n";
    let out = run_client(config, port, line, ReadUntil::Bytes(line.len()));
    if out.error.is_none() {
        assert_eq!(out.response, line, "the echo differs from what we sent");
    }
    out
}

/// `gnutls-cli` connected to our server; sends an HTTP/1.0 GET and keeps stdin open until
/// the server closes.
fn gnutls_cli_with(port: u16, priority: &str, key: &[u8]) -> Peer {
    gnutls_cli_args(port, priority, key, &[])
}

/// [`gnutls_cli_with`] with extra options.
fn gnutls_cli_args(port: u16, priority: &str, key: &[u8], extra: &[&str]) -> Peer {
    let mut cmd = Command::new(gnutls_cli());
    cmd.args(["--verbose", "--priority", priority])
        .args(["--pskusername", IDENTITY, "--pskkey", &hex(key)])
        .args(extra)
        .args(["-p", &port.to_string(), "127.0.0.1"]);
    let mut peer = Peer::spawn(cmd);
    peer.write_stdin(b"GET / HTTP/1.0\r\n\r\n");
    peer
}

/// The `tls-exporter` channel binding a GnuTLS tool printed.
fn logged_tls_exporter(log: &str) -> Option<String> {
    let marker = "'tls-exporter': ";
    let at = log.find(marker)? + marker.len();
    Some(
        log[at..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect(),
    )
}

/// Asserts the handshake succeeded with our PSK, as seen by both sides, and that both
/// derived the same exporter secret.
#[track_caller]
fn assert_authenticated(log: &str, ours: &common::peer::Negotiated) {
    assert_output_contains(
        log,
        &format!("PSK authentication. Connected as '{IDENTITY}'"),
    );
    assert_eq!(ours.identity.as_deref(), Some(IDENTITY.as_bytes()));
    assert_eq!(ours.suite, Some(CipherSuite::TLS13_AES_128_GCM_SHA256));
    assert_output_contains(log, "- Cipher: AES-128-GCM");
    assert_eq!(
        logged_tls_exporter(log),
        ours.tls_exporter,
        "tls-exporter differs:\n{log}"
    );
}

// ----- our client → gnutls-serv ---------------------------------------------------------------

#[test]
fn ours_to_gnutls_serv_psk_dhe_ke() {
    let (mut server, port, _dir) = gnutls_serv_with(PRIO);
    let out = echo_through(PskClientConfig::new(psk(&KEY)), port);
    let seen = server.wait_for("'tls-exporter'", STEP_TIMEOUT);
    let log = server.kill();
    assert!(out.error.is_none(), "{:?}\ngnutls-serv:\n{log}", out.error);
    seen.unwrap();
    assert_authenticated(&log, &out.negotiated);
    assert_output_contains(&log, "Using curve: X25519");
    assert_eq!(out.negotiated.group, Some(NamedGroup::X25519));
    assert_eq!(out.negotiated.mode, Some(KeyExchangeMode::PskDhe));
    assert!(!out.negotiated.hello_retry);
}

#[test]
fn ours_to_gnutls_serv_psk_ke() {
    // A psk_ke-only GnuTLS server with our client offering psk_ke only or both modes, and a
    // GnuTLS server allowing every mode with our client offering psk_ke only.
    for (priority, client_modes) in [
        (
            PRIO_PSK_KE,
            &[
                PskKeyExchangeModes::PskOnly,
                PskKeyExchangeModes::DheOrPskOnly,
            ][..],
        ),
        (PRIO, &[PskKeyExchangeModes::PskOnly][..]),
    ] {
        let (mut server, port, _dir) = gnutls_serv_with(priority);
        for &modes in client_modes {
            let config = PskClientConfig::new(psk(&KEY)).with_key_exchange_modes(modes);
            let out = echo_through(config, port);
            assert!(
                out.error.is_none(),
                "{priority} / {modes:?}: {:?}\ngnutls-serv:\n{}",
                out.error,
                server.output()
            );
            assert_eq!(
                out.negotiated.mode,
                Some(KeyExchangeMode::PskOnly),
                "{modes:?}"
            );
            assert_eq!(out.negotiated.group, None);
            let exporter = out.negotiated.tls_exporter.clone().unwrap();
            server.wait_for(&exporter, STEP_TIMEOUT).unwrap();
        }
        let log = server.kill();
        assert_eq!(
            log.matches(&format!("PSK authentication. Connected as '{IDENTITY}'"))
                .count(),
            client_modes.len(),
            "{log}"
        );
        assert_output_lacks(&log, "Diffie-Hellman");
    }
}

#[test]
fn ours_to_gnutls_serv_hello_retry_request() {
    let (mut server, port, _dir) =
        gnutls_serv_args(&format!("{PRIO}:-GROUP-ALL:+GROUP-SECP384R1"), &["-d", "4"]);
    let config = PskClientConfig::new(psk(&KEY))
        .with_groups(&[NamedGroup::X25519, NamedGroup::secp384r1])
        .unwrap();
    let out = echo_through(config, port);
    let seen = server.wait_for("'tls-exporter'", STEP_TIMEOUT);
    let log = server.kill();
    assert!(out.error.is_none(), "{:?}\ngnutls-serv:\n{log}", out.error);
    seen.unwrap();
    assert_authenticated(&log, &out.negotiated);
    assert_output_contains(&log, "Using curve: SECP384R1");
    assert_output_contains(&log, "HELLO RETRY REQUEST was queued");
    // GnuTLS also issues session tickets, which our client must ignore.
    assert_output_contains(&log, "NEW SESSION TICKET was queued");
    assert!(out.negotiated.hello_retry, "no HelloRetryRequest seen");
    assert_eq!(out.negotiated.group, Some(NamedGroup::secp384r1));
}

#[test]
fn ours_to_gnutls_serv_wrong_key() {
    let (mut server, port, _dir) = gnutls_serv_with(PRIO);
    let out = echo_through(PskClientConfig::new(psk(&OTHER_KEY)), port);
    let seen = server.wait_for("Error in handshake", STEP_TIMEOUT);
    let log = server.kill();
    // GnuTLS, like OpenSSL, answers a bad binder with illegal_parameter.
    assert!(
        matches!(
            out.error,
            Some(Error::AlertReceived(AlertDescription::IllegalParameter))
        ),
        "expected AlertReceived(IllegalParameter), got {:?}\ngnutls-serv:\n{log}",
        out.error
    );
    seen.unwrap();
    assert_output_lacks(&log, "PSK authentication. Connected as");
    assert!(out.response.is_empty());
}

#[test]
fn ours_to_gnutls_serv_unknown_identity() {
    // GnuTLS checks an unknown identity against a random key: same alert as a wrong key.
    let (mut server, port, _dir) = gnutls_serv_with(PRIO);
    let config = PskClientConfig::new(
        ExternalPsk::new(b"unknown-invoker".to_vec(), &KEY, PskHash::Sha256).unwrap(),
    );
    let out = echo_through(config, port);
    let seen = server.wait_for("Error in handshake", STEP_TIMEOUT);
    let log = server.kill();
    assert!(
        matches!(
            out.error,
            Some(Error::AlertReceived(AlertDescription::IllegalParameter))
        ),
        "expected AlertReceived(IllegalParameter), got {:?}\ngnutls-serv:\n{log}",
        out.error
    );
    seen.unwrap();
}

// ----- gnutls-cli → our server ----------------------------------------------------------------

#[test]
fn gnutls_cli_to_ours_psk_dhe_ke() {
    let server = OneShotServer::start(server_config(&KEY));
    let client = gnutls_cli_with(server.port, PRIO, &KEY);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ngnutls-cli:\n{log}", ours.error);
    assert_authenticated(&log, &ours.negotiated);
    assert_output_contains(&log, &format!("authenticated PSK identity: {IDENTITY}"));
    assert_output_contains(&log, "- Peer has closed the GnuTLS connection");
    assert!(
        status.is_some_and(|s| s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
    assert_eq!(ours.negotiated.group, Some(NamedGroup::X25519));
    assert_eq!(ours.negotiated.mode, Some(KeyExchangeMode::PskDhe));
    assert!(!ours.negotiated.hello_retry);
    assert!(ours.request.starts_with(b"GET / HTTP/1.0"));
}

#[test]
fn gnutls_cli_to_ours_psk_ke() {
    // GnuTLS offering psk_ke only (our server allows both), and GnuTLS offering both modes
    // with our server allowing psk_ke only.
    for (priority, modes) in [
        (PRIO_PSK_KE, PskKeyExchangeModes::DheOrPskOnly),
        (PRIO, PskKeyExchangeModes::PskOnly),
    ] {
        let server = OneShotServer::start(server_config(&KEY).with_key_exchange_modes(modes));
        let client = gnutls_cli_with(server.port, priority, &KEY);
        let ours = server.outcome();
        let (status, log) = client.finish(STEP_TIMEOUT);
        assert!(
            ours.error.is_none(),
            "{modes:?}: {:?}\ngnutls-cli:\n{log}",
            ours.error
        );
        assert_authenticated(&log, &ours.negotiated);
        assert_output_lacks(&log, "Diffie-Hellman");
        assert!(
            status.is_some_and(|s| s.success()),
            "gnutls-cli: {status:?}\n{log}"
        );
        assert_eq!(
            ours.negotiated.mode,
            Some(KeyExchangeMode::PskOnly),
            "{modes:?}"
        );
        assert_eq!(ours.negotiated.group, None);
    }
}

#[test]
fn gnutls_cli_to_ours_hello_retry_request() {
    let config = server_config(&KEY)
        .with_groups(&[NamedGroup::secp384r1])
        .unwrap();
    let server = OneShotServer::start(config);
    // GnuTLS sends one share per curve family: X25519 and P-256 here, so our
    // P-384-only server must ask for a P-384 share.
    let client = gnutls_cli_args(
        server.port,
        &format!("{PRIO}:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1"),
        &KEY,
        &["-d", "4"],
    );
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ngnutls-cli:\n{log}", ours.error);
    assert_authenticated(&log, &ours.negotiated);
    assert!(
        status.is_some_and(|s| s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
    assert!(ours.negotiated.hello_retry, "no HelloRetryRequest:\n{log}");
    assert_eq!(ours.negotiated.group, Some(NamedGroup::secp384r1));
    assert_output_contains(&log, "Using curve: SECP384R1");
    assert_output_contains(&log, "HELLO RETRY REQUEST");
}

#[test]
fn gnutls_cli_to_ours_unknown_identity_looks_like_wrong_key() {
    let keys: StaticPskResolver =
        [ExternalPsk::new(b"someone-else".to_vec(), &KEY, PskHash::Sha256).unwrap()]
            .into_iter()
            .collect();
    let server = OneShotServer::start(PskServerConfig::new(Arc::new(keys)));
    let client = gnutls_cli_with(server.port, PRIO, &KEY);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            ours.error,
            Some(Error::PskRejected(PskRejection::UnknownIdentity))
        ),
        "expected PskRejected(UnknownIdentity), got {:?}\ngnutls-cli:\n{log}",
        ours.error
    );
    assert_output_contains(&log, "Received alert [51]: Decrypt error");
    assert!(
        status.is_some_and(|s| !s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
}

#[test]
fn gnutls_cli_to_ours_wrong_key() {
    let server = OneShotServer::start(server_config(&KEY));
    let client = gnutls_cli_with(server.port, PRIO, &OTHER_KEY);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            ours.error,
            Some(Error::PskRejected(PskRejection::BadBinder))
        ),
        "expected PskRejected(BadBinder), got {:?}\ngnutls-cli:\n{log}",
        ours.error
    );
    assert_output_contains(&log, "Received alert [51]: Decrypt error");
    assert_output_contains(&log, "Fatal error: A TLS fatal alert has been received");
    assert_output_lacks(&log, "PSK authentication. Connected as");
    assert!(
        status.is_some_and(|s| !s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
}

// ----- more of the protocol against GnuTLS ----------------------------------------------------

#[test]
fn gnutls_cli_to_ours_key_update() {
    // `gnutls-cli -e` sends KeyUpdate(update_requested) after a TLS 1.3 handshake; we must
    // switch keys and answer with our own KeyUpdate.
    let server = OneShotServer::start(server_config(&KEY));
    let client = gnutls_cli_args(server.port, PRIO, &KEY, &["-e", "-d", "4"]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ngnutls-cli:\n{log}", ours.error);
    assert_eq!(ours.negotiated.key_updates, (1, 1));
    assert_output_contains(&log, "sending key update (1)");
    assert_output_contains(&log, "received TLS 1.3 key update (0)");
    assert_output_contains(&log, &format!("authenticated PSK identity: {IDENTITY}"));
    assert!(
        status.is_some_and(|s| s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
}

#[test]
fn ours_to_gnutls_serv_key_update_and_bulk_data() {
    // 1 MiB echoed in 16 KiB writes (many full-size records each way), with a KeyUpdate we
    // initiate (update_requested) in the middle. gnutls-serv echoes once it has a newline,
    // so each chunk is one line.
    let (server, port, _dir) = gnutls_serv_with(PRIO);
    let tcp = connect_with_retry(port, STEP_TIMEOUT);
    let conn = PskClientConnection::new(Arc::new(PskClientConfig::new(psk(&KEY)))).unwrap();
    let mut tls = PskStream::new(conn, tcp);
    let data: Vec<u8> = (0..1usize << 20)
        .map(|i| match i % 16384 {
            16383 => b'\n',
            j => b"abcdefghijklmnopqrstuvwxyz0123456789"[j % 36],
        })
        .collect();
    let mut echoed = vec![0u8; data.len()];
    for (n, (chunk, back)) in data.chunks(16384).zip(echoed.chunks_mut(16384)).enumerate() {
        if n == 32 {
            tls.conn.refresh_traffic_keys().unwrap();
        }
        tls.write_all(chunk).unwrap();
        tls.read_exact(back)
            .unwrap_or_else(|e| panic!("echo of chunk {n}: {e}\n{}", server.output()));
    }
    assert!(echoed == data, "the echo differs from what we sent");
    assert_eq!(tls.conn.key_update_counts(), (1, 1));
    tls.close().unwrap();
    let log = server.kill();
    assert_output_contains(
        &log,
        &format!("PSK authentication. Connected as '{IDENTITY}'"),
    );
}

#[test]
fn ours_to_gnutls_serv_only_first_identity_counts() {
    // GnuTLS 3.7 servers look up only the first external identity offered (an unknown one is
    // checked against a random key and fails with illegal_parameter); they never move on to the
    // next. So a client offering several PSKs to GnuTLS must put the right one first. Pinned
    // here so we notice if GnuTLS changes; OpenSSL does select later identities
    // (`ours_to_s_server_selects_second_identity` in interop_openssl.rs).
    let (mut server, port, _dir) = gnutls_serv_with(PRIO);
    let unknown =
        ExternalPsk::new(b"not-known-to-gnutls".to_vec(), &OTHER_KEY, PskHash::Sha256).unwrap();

    let known_first = PskClientConfig::new(psk(&KEY))
        .with_additional_psk(unknown.clone())
        .unwrap();
    let out = echo_through(known_first, port);
    assert!(
        out.error.is_none(),
        "{:?}\ngnutls-serv:\n{}",
        out.error,
        server.output()
    );
    assert_eq!(
        out.negotiated.identity.as_deref(),
        Some(IDENTITY.as_bytes())
    );
    let exporter = out.negotiated.tls_exporter.clone().unwrap();
    server.wait_for(&exporter, STEP_TIMEOUT).unwrap();

    let known_second = PskClientConfig::new(unknown)
        .with_additional_psk(psk(&KEY))
        .unwrap();
    let out = echo_through(known_second, port);
    let seen = server.wait_for("Error in handshake", STEP_TIMEOUT);
    let log = server.kill();
    assert!(
        matches!(
            out.error,
            Some(Error::AlertReceived(AlertDescription::IllegalParameter))
        ),
        "GnuTLS now selects a later identity: turn this into a positive test. Got {:?}\n{log}",
        out.error
    );
    seen.unwrap();
}

#[test]
fn gnutls_cli_to_ours_alpn_and_sni() {
    let config = server_config(&KEY)
        .with_alpn_protocols(vec![b"http/1.1".to_vec()])
        .unwrap();
    let server = OneShotServer::start(config);
    let client = gnutls_cli_args(
        server.port,
        PRIO,
        &KEY,
        &[
            "--alpn",
            "h2",
            "--alpn",
            "http/1.1",
            "--sni-hostname",
            "aef.example.com",
        ],
    );
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ngnutls-cli:\n{log}", ours.error);
    assert_output_contains(&log, "- Application protocol: http/1.1");
    assert!(
        status.is_some_and(|s| s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
    assert_eq!(ours.negotiated.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(ours.server_name.as_deref(), Some("aef.example.com"));
}

#[test]
fn gnutls_cli_to_ours_deferred_lookup_without_key() {
    // The AEF path when the CCF knows no key for the offered identity: provide_psk(None) fails
    // the handshake exactly like a wrong key.
    let config = PskServerConfig::new(Arc::new(rustls_capif::psk::NoPskResolver));
    let server = OneShotServer::start_deferred(
        config,
        Box::new(|offered: &[Vec<u8>]| {
            assert_eq!(offered, [IDENTITY.as_bytes().to_vec()]);
            None
        }),
    );
    let client = gnutls_cli_with(server.port, PRIO, &KEY);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            ours.error,
            Some(Error::PskRejected(PskRejection::UnknownIdentity))
        ),
        "expected PskRejected(UnknownIdentity), got {:?}\ngnutls-cli:\n{log}",
        ours.error
    );
    assert_output_contains(&log, "Received alert [51]: Decrypt error");
    assert!(
        status.is_some_and(|s| !s.success()),
        "gnutls-cli: {status:?}\n{log}"
    );
}

#[cfg(feature = "ring")]
#[test]
fn ring_provider_to_gnutls_serv() {
    // The ring provider's key schedule must give GnuTLS's exporter value too.
    let (mut server, port, _dir) = gnutls_serv_with(PRIO);
    let ring = Arc::new(rustls::crypto::ring::default_provider());
    let out = echo_through(PskClientConfig::with_provider(psk(&KEY), ring), port);
    let seen = server.wait_for("'tls-exporter'", STEP_TIMEOUT);
    let log = server.kill();
    assert!(out.error.is_none(), "{:?}\ngnutls-serv:\n{log}", out.error);
    seen.unwrap();
    assert_authenticated(&log, &out.negotiated);
}
