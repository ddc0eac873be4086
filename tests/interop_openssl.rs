//! Interop with the real OpenSSL 3 command-line peers, both directions:
//!
//! * our client → `openssl s_server -nocert -tls1_3 -psk … -www` (the status page it returns
//!   says whether the PSK was accepted: "Reused, TLSv1.3, Cipher is …");
//! * `openssl s_client -tls1_3 -psk …` → our server (s_client prints "Reused, TLSv1.3" for an
//!   accepted PSK, "Server Temp Key" for the (EC)DHE group, and the alert it received).
//!
//! Each case checks what the peer itself reports as well as what our side negotiated.
//! `openssl` must be installed; the tests fail (never skip) without it.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::peer::{
    assert_output_contains, assert_output_lacks, hex, openssl, openssl_psk_session_pem, run_client,
    spawn_server, OneShotServer, Peer, ReadUntil, TempDir, STEP_TIMEOUT,
};
use rustls::{AlertDescription, CipherSuite, NamedGroup};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::{
    ExternalPsk, KeyExchangeMode, PskClientConfig, PskClientConnection, PskHash,
    PskKeyExchangeModes, PskServerConfig, PskStream, StaticPskResolver,
};
use rustls_capif::Error;

const IDENTITY: &str = "invoker-openssl";
const KEY: [u8; 32] = *b"0123456789abcdef0123456789ABCDEF";
const OTHER_KEY: [u8; 32] = *b"fedcba9876543210FEDCBA9876543210";
const KEY_384: [u8; 48] = *b"sha384-psk-48-octets-sha384-psk-48-octets-sha384";
const GET: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

fn psk(key: &[u8], hash: PskHash) -> ExternalPsk {
    ExternalPsk::new(IDENTITY.as_bytes().to_vec(), key, hash).unwrap()
}

fn client_config(key: &[u8], hash: PskHash) -> PskClientConfig {
    PskClientConfig::new(psk(key, hash))
}

fn server_config(key: &[u8], hash: PskHash) -> PskServerConfig {
    let keys: StaticPskResolver = [psk(key, hash)].into_iter().collect();
    PskServerConfig::new(std::sync::Arc::new(keys))
}

/// How the OpenSSL tool is given the PSK.
enum OpensslPsk<'a> {
    /// `-psk HEX` (always SHA-256 in OpenSSL's apps).
    Hex(&'a [u8]),
    /// `-psk_session FILE`: a session whose cipher fixes the hash (SHA-384 here).
    Session(&'a Path),
}

fn psk_args(cmd: &mut Command, psk: &OpensslPsk<'_>) {
    match psk {
        OpensslPsk::Hex(key) => cmd.arg("-psk").arg(hex(key)),
        OpensslPsk::Session(file) => cmd.arg("-psk_session").arg(file),
    };
    cmd.args(["-psk_identity", IDENTITY]);
}

/// `openssl s_server -nocert -tls1_3 -www -num_tickets 0 -trace -naccept 1` with the PSK and
/// `extra`. It serves one connection and exits (which also flushes its trace).
fn s_server(psk: OpensslPsk<'_>, extra: &[&str]) -> (Peer, u16) {
    let tool = openssl();
    spawn_server(
        |port| {
            let mut cmd = Command::new(&tool);
            cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
                .args(["-nocert", "-tls1_3", "-www", "-num_tickets", "0"])
                .args(["-trace", "-naccept", "1"]);
            psk_args(&mut cmd, &psk);
            cmd.args(extra);
            cmd
        },
        |_| "ACCEPT".to_string(),
    )
}

/// `openssl s_client -tls1_3 -trace` with the PSK and `extra`, connected to our server; sends
/// an HTTP/1.0 GET and keeps stdin open until the server closes.
fn s_client(port: u16, psk: OpensslPsk<'_>, extra: &[&str]) -> Peer {
    let mut cmd = Command::new(openssl());
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-tls1_3", "-trace"]);
    psk_args(&mut cmd, &psk);
    cmd.args(extra);
    let mut peer = Peer::spawn(cmd);
    peer.write_stdin(GET);
    peer
}

/// The random of a HelloRetryRequest (RFC 8446 §4.1.3) as OpenSSL's trace prints it:
/// `gmt_unix_time=0xCF21AD74`, then the other 28 octets. OpenSSL 3.0 traces an HRR as a
/// ServerHello, so this is how its log shows one.
const HRR_RANDOM_TRACE: &str = "E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C";

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The SHA-384 PSK as an OpenSSL session file, checked with `openssl sess_id` first.
fn sha384_session(dir: &TempDir) -> std::path::PathBuf {
    let pem = openssl_psk_session_pem(CipherSuite::TLS13_AES_256_GCM_SHA384, &KEY_384, 0);
    let file = dir.write("psk384.pem", pem.as_bytes());
    let out = Command::new(openssl())
        .args(["sess_id", "-noout", "-text", "-in"])
        .arg(&file)
        .output()
        .expect("run openssl sess_id");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openssl sess_id rejects our session file: {out:?}"
    );
    assert_output_contains(&text, "Cipher    : TLS_AES_256_GCM_SHA384");
    assert_output_contains(
        &text,
        &format!("Resumption PSK: {}", hex(&KEY_384).to_uppercase()),
    );
    file
}

// ----- our client → openssl s_server ----------------------------------------------------------

#[test]
fn ours_to_s_server_psk_dhe_ke() {
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &[]);
    let out = run_client(
        client_config(&KEY, PskHash::Sha256),
        port,
        GET,
        ReadUntil::Close,
    );
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    let page = String::from_utf8_lossy(&out.response);
    assert_output_contains(&page, "HTTP/1.0 200 ok");
    assert_output_contains(&page, "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256");
    assert!(out.clean_close, "s_server ended without close_notify");

    let n = &out.negotiated;
    assert_eq!(n.suite, Some(CipherSuite::TLS13_AES_128_GCM_SHA256));
    assert_eq!(n.group, Some(NamedGroup::X25519));
    assert_eq!(n.mode, Some(KeyExchangeMode::PskDhe));
    assert_eq!(n.identity.as_deref(), Some(IDENTITY.as_bytes()));
    assert!(!n.hello_retry);
    // s_server's trace of its ServerHello: our PSK (index 0) and an X25519 share.
    assert_output_contains(&log, "psk_dhe_ke (1)");
    assert_output_contains(&log, "NamedGroup: ecdh_x25519 (29)");
}

#[test]
fn ours_to_s_server_psk_ke() {
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &["-allow_no_dhe_kex"]);
    let config =
        client_config(&KEY, PskHash::Sha256).with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(
        &String::from_utf8_lossy(&out.response),
        "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256",
    );
    assert_eq!(out.negotiated.mode, Some(KeyExchangeMode::PskOnly));
    assert_eq!(out.negotiated.group, None);
    // No key share anywhere: we offered psk_ke only and the server answered without one.
    assert_output_contains(&log, "psk_ke (0)");
    assert_output_lacks(&log, "extension_type=key_share");
}

#[test]
fn ours_to_s_server_prefers_dhe_when_a_group_overlaps() {
    // DESIGN §6: OpenSSL 3.0 with -allow_no_dhe_kex still picks psk_dhe_ke while a group
    // overlaps, even though we offer psk_ke as well.
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &["-allow_no_dhe_kex"]);
    let config = client_config(&KEY, PskHash::Sha256)
        .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(&String::from_utf8_lossy(&out.response), "Reused, TLSv1.3");
    assert_eq!(out.negotiated.mode, Some(KeyExchangeMode::PskDhe));
    assert_eq!(out.negotiated.group, Some(NamedGroup::X25519));
}

#[test]
fn ours_to_s_server_hello_retry_request() {
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &["-groups", "P-384"]);
    let config = client_config(&KEY, PskHash::Sha256)
        .with_groups(&[NamedGroup::X25519, NamedGroup::secp384r1])
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(
        &String::from_utf8_lossy(&out.response),
        "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256",
    );
    assert!(out.negotiated.hello_retry, "no HelloRetryRequest seen");
    assert_eq!(out.negotiated.group, Some(NamedGroup::secp384r1));
    assert_eq!(out.negotiated.mode, Some(KeyExchangeMode::PskDhe));
    // s_server's trace: it sent an HRR, then received our second ClientHello.
    assert_output_contains(&log, HRR_RANDOM_TRACE);
    assert_eq!(count(&log, "ClientHello, Length="), 2, "s_server:\n{log}");
}

#[test]
fn ours_to_s_server_sha384_psk() {
    let dir = TempDir::new("openssl-sha384");
    let session = sha384_session(&dir);
    let (server, port) = s_server(OpensslPsk::Session(&session), &[]);
    let out = run_client(
        client_config(&KEY_384, PskHash::Sha384),
        port,
        GET,
        ReadUntil::Close,
    );
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(
        &String::from_utf8_lossy(&out.response),
        "Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384",
    );
    assert_eq!(
        out.negotiated.suite,
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    assert_eq!(out.negotiated.mode, Some(KeyExchangeMode::PskDhe));
}

#[test]
fn ours_to_s_server_wrong_key() {
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &[]);
    let out = run_client(
        client_config(&OTHER_KEY, PskHash::Sha256),
        port,
        GET,
        ReadUntil::Close,
    );
    // OpenSSL answers a bad binder with illegal_parameter (RFC 8446 would say decrypt_error).
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(
        matches!(
            out.error,
            Some(Error::AlertReceived(AlertDescription::IllegalParameter))
        ),
        "expected AlertReceived(IllegalParameter), got {:?}\ns_server:\n{log}",
        out.error
    );
    assert!(out.response.is_empty());
    assert_eq!(out.negotiated.suite, None);
    // s_server logs the failure and traces the alert it sent.
    assert_output_contains(&log, "binder does not verify");
    assert_output_contains(&log, "Level=fatal(2), description=illegal parameter(47)");
}

#[test]
fn ours_to_s_server_unknown_identity() {
    // An OpenSSL server that does not know the identity ignores the PSK and falls back to a
    // certificate handshake, which fails on our PSK-only ClientHello (no signature_algorithms):
    // it answers missing_extension, not the binder alert.
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &[]);
    let config = PskClientConfig::new(
        ExternalPsk::new(b"unknown-invoker".to_vec(), &KEY, PskHash::Sha256).unwrap(),
    );
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            out.error,
            Some(Error::AlertReceived(AlertDescription::MissingExtension))
        ),
        "expected AlertReceived(MissingExtension), got {:?}\ns_server:\n{log}",
        out.error
    );
    assert_output_contains(&log, "missing sigalgs extension");
}

// ----- openssl s_client → our server ----------------------------------------------------------

#[test]
fn s_client_to_ours_psk_dhe_ke() {
    let server = OneShotServer::start(server_config(&KEY, PskHash::Sha256));
    let client = s_client(server.port, OpensslPsk::Hex(&KEY), &[]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256");
    assert_output_contains(&log, "Server Temp Key: X25519");
    assert_output_contains(&log, &format!("authenticated PSK identity: {IDENTITY}"));
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );

    let n = &ours.negotiated;
    assert_eq!(n.identity.as_deref(), Some(IDENTITY.as_bytes()));
    assert_eq!(n.suite, Some(CipherSuite::TLS13_AES_128_GCM_SHA256));
    assert_eq!(n.group, Some(NamedGroup::X25519));
    assert_eq!(n.mode, Some(KeyExchangeMode::PskDhe));
    assert!(!n.hello_retry);
    assert!(ours.request.starts_with(GET));
}

#[test]
fn s_client_to_ours_psk_ke() {
    let config =
        server_config(&KEY, PskHash::Sha256).with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
    let server = OneShotServer::start(config);
    let client = s_client(server.port, OpensslPsk::Hex(&KEY), &["-allow_no_dhe_kex"]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256");
    assert_output_lacks(&log, "Server Temp Key");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    assert_eq!(ours.negotiated.mode, Some(KeyExchangeMode::PskOnly));
    assert_eq!(ours.negotiated.group, None);
}

#[test]
fn s_client_to_ours_hello_retry_request() {
    let config = server_config(&KEY, PskHash::Sha256)
        .with_groups(&[NamedGroup::secp384r1])
        .unwrap();
    let server = OneShotServer::start(config);
    let client = s_client(
        server.port,
        OpensslPsk::Hex(&KEY),
        &["-groups", "X25519:P-384"],
    );
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256");
    // s_client's trace: it received an HRR and sent a second ClientHello.
    assert_output_contains(&log, HRR_RANDOM_TRACE);
    assert_eq!(count(&log, "ClientHello, Length="), 2, "s_client:\n{log}");
    assert_output_contains(&log, "Server Temp Key: ECDH, secp384r1, 384 bits");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    assert!(ours.negotiated.hello_retry);
    assert_eq!(ours.negotiated.group, Some(NamedGroup::secp384r1));
}

#[test]
fn s_client_to_ours_sha384_psk() {
    let dir = TempDir::new("openssl-sha384");
    let session = sha384_session(&dir);
    let server = OneShotServer::start(server_config(&KEY_384, PskHash::Sha384));
    let client = s_client(server.port, OpensslPsk::Session(&session), &[]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    assert_eq!(
        ours.negotiated.suite,
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    assert_eq!(
        ours.negotiated.identity.as_deref(),
        Some(IDENTITY.as_bytes())
    );
}

#[test]
fn s_client_to_ours_wrong_key() {
    let server = OneShotServer::start(server_config(&KEY, PskHash::Sha256));
    let client = s_client(server.port, OpensslPsk::Hex(&OTHER_KEY), &[]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            ours.error,
            Some(Error::PskRejected(PskRejection::BadBinder))
        ),
        "expected PskRejected(BadBinder), got {:?}\ns_client:\n{log}",
        ours.error
    );
    assert_eq!(ours.negotiated.identity, None);
    assert_output_contains(&log, "alert decrypt error");
    assert_output_contains(&log, "SSL alert number 51");
    assert!(
        status.is_some_and(|s| !s.success()),
        "s_client: {status:?}\n{log}"
    );
}

#[test]
fn s_client_to_ours_unknown_identity_looks_like_wrong_key() {
    let keys: StaticPskResolver =
        [ExternalPsk::new(b"someone-else".to_vec(), &KEY, PskHash::Sha256).unwrap()]
            .into_iter()
            .collect();
    let server = OneShotServer::start(PskServerConfig::new(std::sync::Arc::new(keys)));
    let client = s_client(server.port, OpensslPsk::Hex(&KEY), &[]);
    let ours = server.outcome();
    let (_, log) = client.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            ours.error,
            Some(Error::PskRejected(PskRejection::UnknownIdentity))
        ),
        "expected PskRejected(UnknownIdentity), got {:?}\ns_client:\n{log}",
        ours.error
    );
    assert_output_contains(&log, "SSL alert number 51");
}

// ----- more of the protocol against OpenSSL ---------------------------------------------------

#[test]
fn ours_to_s_server_sha384_hello_retry_request() {
    // The second binder covers message_hash(ClientHello1) || HRR || ClientHello2 with SHA-384.
    let dir = TempDir::new("openssl-sha384-hrr");
    let session = sha384_session(&dir);
    let (server, port) = s_server(OpensslPsk::Session(&session), &["-groups", "P-384"]);
    let config = client_config(&KEY_384, PskHash::Sha384)
        .with_groups(&[NamedGroup::X25519, NamedGroup::secp384r1])
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (status, log) = server.finish(STEP_TIMEOUT);
    assert!(
        status.is_some(),
        "s_server did not exit after one connection:\n{log}"
    );
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(
        &String::from_utf8_lossy(&out.response),
        "Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384",
    );
    assert_output_contains(&log, HRR_RANDOM_TRACE);
    assert!(out.negotiated.hello_retry);
    assert_eq!(out.negotiated.group, Some(NamedGroup::secp384r1));
}

#[test]
fn s_client_psk_session_is_dropped_after_hello_retry_request() {
    // OpenSSL 3.0 s_client limitation, pinned here so that we notice when it goes away: with
    // -psk_session its psk_use_session callback compares the handshake digest it is given for
    // ClientHello2 with the session cipher's digest by pointer (openssl/openssl#22335), the two
    // differ, and s_client leaves the PSK out of ClientHello2 (with a SHA-256 session as well).
    // Without `-psk` as a fallback it then asks for a certificate handshake, which our PSK-only
    // server must refuse cleanly. SHA-384 + HRR is covered in the other direction
    // (`ours_to_s_server_sha384_hello_retry_request`).
    let dir = TempDir::new("openssl-sha384-hrr");
    let session = sha384_session(&dir);
    let config = server_config(&KEY_384, PskHash::Sha384)
        .with_groups(&[NamedGroup::secp384r1])
        .unwrap();
    let server = OneShotServer::start(config);
    let client = s_client(
        server.port,
        OpensslPsk::Session(&session),
        &["-groups", "X25519:P-384"],
    );
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(
        matches!(
            ours.error,
            Some(Error::PeerIncompatible {
                alert: AlertDescription::HandshakeFailure,
                ..
            })
        ),
        "expected a handshake_failure (no PSK in ClientHello2), got {:?}\ns_client:\n{log}",
        ours.error
    );
    assert!(ours.negotiated.hello_retry);
    assert_output_contains(&log, HRR_RANDOM_TRACE);
    assert_eq!(count(&log, "ClientHello, Length="), 2, "s_client:\n{log}");
    assert_eq!(
        count(&log, "extension_type=psk(41)"),
        1,
        "s_client now keeps its PSK in ClientHello2: turn this test into a positive one\n{log}"
    );
    assert_output_contains(&log, "SSL alert number 40");
    assert!(
        status.is_some_and(|s| !s.success()),
        "s_client: {status:?}\n{log}"
    );
}

#[test]
fn ours_to_s_server_selects_second_identity() {
    // s_server knows only IDENTITY, which we offer second: it must select identity 1, and
    // our binder for it (after a binder for an unknown key) must verify.
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &[]);
    let first = ExternalPsk::new(
        b"not-known-to-openssl".to_vec(),
        &OTHER_KEY,
        PskHash::Sha256,
    )
    .unwrap();
    let config = PskClientConfig::new(first)
        .with_additional_psk(psk(&KEY, PskHash::Sha256))
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(&String::from_utf8_lossy(&out.response), "Reused, TLSv1.3");
    assert_eq!(
        out.negotiated.identity.as_deref(),
        Some(IDENTITY.as_bytes())
    );
    // ServerHello pre_shared_key: selected_identity = 1.
    assert_output_contains(
        &log,
        "extension_type=psk(41), length=2\n          0000 - 00 01",
    );
}

#[test]
fn ours_to_s_server_chacha20() {
    let (server, port) = s_server(
        OpensslPsk::Hex(&KEY),
        &["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
    );
    let out = run_client(
        client_config(&KEY, PskHash::Sha256),
        port,
        GET,
        ReadUntil::Close,
    );
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(
        &String::from_utf8_lossy(&out.response),
        "Reused, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256",
    );
    assert_eq!(
        out.negotiated.suite,
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

#[test]
fn ours_to_s_server_alpn_and_sni() {
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &["-alpn", "http/1.1"]);
    let config = client_config(&KEY, PskHash::Sha256)
        .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        .unwrap()
        .with_server_name("aef.example.com")
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(&String::from_utf8_lossy(&out.response), "Reused, TLSv1.3");
    assert_eq!(out.negotiated.alpn.as_deref(), Some(&b"http/1.1"[..]));
    // s_server's trace: our SNI, and its EncryptedExtensions carrying the ALPN choice.
    assert_output_contains(&log, "extension_type=server_name(0), length=20");
    assert_output_contains(&log, ".aef.exampl");
    let ee = log
        .split("EncryptedExtensions")
        .nth(1)
        .unwrap_or_else(|| panic!("no EncryptedExtensions in the trace:\n{log}"));
    assert_output_contains(ee, "application_layer_protocol_negotiation(16)");
}

#[test]
fn s_client_to_ours_alpn_and_sni() {
    let config = server_config(&KEY, PskHash::Sha256)
        .with_alpn_protocols(vec![b"http/1.1".to_vec()])
        .unwrap();
    let server = OneShotServer::start(config);
    let client = s_client(
        server.port,
        OpensslPsk::Hex(&KEY),
        &["-alpn", "h2,http/1.1", "-servername", "AEF.example.com"],
    );
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "ALPN protocol: http/1.1");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    assert_eq!(ours.negotiated.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(ours.server_name.as_deref(), Some("aef.example.com"));
}

#[test]
fn s_client_to_ours_fragmented_client_hello() {
    // A 1000-octet identity makes a ~1.3 KB ClientHello, which -max_send_frag 512 splits over
    // three records: the server must reassemble it before checking the binder.
    let identity = "i".repeat(1000);
    let keys: StaticPskResolver =
        [ExternalPsk::new(identity.clone().into_bytes(), &KEY, PskHash::Sha256).unwrap()]
            .into_iter()
            .collect();
    let server = OneShotServer::start(PskServerConfig::new(std::sync::Arc::new(keys)));
    let mut cmd = Command::new(openssl());
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", server.port),
    ])
    .args([
        "-tls1_3",
        "-msg",
        "-max_send_frag",
        "512",
        "-psk",
        &hex(&KEY),
    ])
    .args(["-psk_identity", &identity]);
    let mut client = Peer::spawn(cmd);
    client.write_stdin(GET);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    let before_hello = log.split("ClientHello").next().unwrap();
    assert_eq!(
        count(before_hello, ">>> TLS 1.0, RecordHeader"),
        3,
        "ClientHello not split over three records:\n{log}"
    );
    assert_eq!(ours.negotiated.identity, Some(identity.into_bytes()));
}

#[test]
fn s_client_to_ours_key_update() {
    // s_client's "K" command sends KeyUpdate(update_requested): we must switch our read key
    // and answer with a KeyUpdate of our own before the response.
    let server = OneShotServer::start(server_config(&KEY, PskHash::Sha256));
    let mut cmd = Command::new(openssl());
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", server.port),
    ])
    .args([
        "-tls1_3",
        "-msg",
        "-psk",
        &hex(&KEY),
        "-psk_identity",
        IDENTITY,
    ]);
    let mut client = Peer::spawn(cmd);
    client.wait_for("Reused, TLSv1.3", STEP_TIMEOUT).unwrap();
    client.write_stdin(b"K\n");
    client.wait_for("KEYUPDATE", STEP_TIMEOUT).unwrap();
    client.write_stdin(GET);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_eq!(ours.negotiated.key_updates, (1, 1));
    assert_output_contains(&log, ">>> TLS 1.3, Handshake [length 0005], KeyUpdate");
    assert_output_contains(&log, "<<< TLS 1.3, Handshake [length 0005], KeyUpdate");
    assert_output_contains(&log, &format!("authenticated PSK identity: {IDENTITY}"));
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
}

#[test]
fn ours_to_s_server_key_update() {
    // Interactive s_server (no -www): it prints what we send and sends its stdin lines; its
    // "K" command sends KeyUpdate(update_requested). Then we initiate one ourselves.
    let tool = openssl();
    let (mut server, port) = spawn_server(
        |port| {
            let mut cmd = Command::new(&tool);
            // It also sends a NewSessionTicket carrying the early_data extension, which our
            // client must ignore.
            cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
                .args(["-nocert", "-tls1_3", "-naccept", "1", "-msg"])
                .args(["-num_tickets", "2", "-early_data"])
                .args(["-psk", &hex(&KEY), "-psk_identity", IDENTITY]);
            cmd
        },
        |_| "ACCEPT".to_string(),
    );
    let tcp = common::peer::connect_with_retry(port, STEP_TIMEOUT);
    let conn = PskClientConnection::new(std::sync::Arc::new(client_config(&KEY, PskHash::Sha256)))
        .unwrap();
    let mut tls = PskStream::new(conn, tcp);
    tls.write_all(b"ping-1\n").unwrap();
    server.wait_for("ping-1", STEP_TIMEOUT).unwrap();

    server.write_stdin(b"K\n");
    server
        .wait_for(
            ">>> TLS 1.3, Handshake [length 0005], KeyUpdate",
            STEP_TIMEOUT,
        )
        .unwrap();
    server.write_stdin(b"pong-1\n");
    read_line(&mut tls, b"pong-1\n");
    assert_eq!(tls.conn.key_update_counts(), (1, 1), "answered the update");

    tls.conn.refresh_traffic_keys().unwrap();
    tls.write_all(b"ping-2\n").unwrap();
    server.wait_for("ping-2", STEP_TIMEOUT).unwrap();
    server.write_stdin(b"pong-2\n");
    read_line(&mut tls, b"pong-2\n");
    assert_eq!(tls.conn.key_update_counts(), (2, 2));
    tls.close().unwrap();

    let (_, log) = server.finish(STEP_TIMEOUT);
    // OpenSSL sends a ticket after a PSK ("resumed") handshake; we ignored it.
    assert!(
        log.lines()
            .any(|l| l.starts_with(">>> TLS 1.3, Handshake") && l.ends_with("NewSessionTicket")),
        "s_server sent no NewSessionTicket:\n{log}"
    );
    assert_eq!(
        count(&log, ">>> TLS 1.3, Handshake [length 0005], KeyUpdate"),
        2,
        "{log}"
    );
    assert_eq!(
        count(&log, "<<< TLS 1.3, Handshake [length 0005], KeyUpdate"),
        2,
        "{log}"
    );
}

/// Reads from our client until exactly `expected` has arrived.
fn read_line(tls: &mut PskStream<PskClientConnection, std::net::TcpStream>, expected: &[u8]) {
    let mut got = vec![0u8; expected.len()];
    tls.read_exact(&mut got).expect("read from s_server");
    assert_eq!(got, expected);
}

#[test]
fn ours_to_s_server_psk_ke_when_no_group_overlaps() {
    // OpenSSL 3.0 picks psk_ke (rather than a HelloRetryRequest) when we allow it and no group
    // overlaps: our client must take a ServerHello without key_share.
    let (server, port) = s_server(
        OpensslPsk::Hex(&KEY),
        &["-allow_no_dhe_kex", "-groups", "P-384"],
    );
    let config = client_config(&KEY, PskHash::Sha256)
        .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly)
        .with_groups(&[NamedGroup::X25519])
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(&String::from_utf8_lossy(&out.response), "Reused, TLSv1.3");
    assert_eq!(out.negotiated.mode, Some(KeyExchangeMode::PskOnly));
    assert!(!out.negotiated.hello_retry);
    assert_eq!(
        count(&log, "extension_type=key_share"),
        1,
        "only in our ClientHello:\n{log}"
    );
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn ours_to_s_server_hybrid_offer_falls_back_to_x25519() {
    // We offer X25519MLKEM768 first, with its X25519 half as a second share. OpenSSL 3.0 does
    // not know the hybrid group and takes the X25519 share: our client must finish the
    // exchange with the classical component of the hybrid key pair.
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &[]);
    let config = client_config(&KEY, PskHash::Sha256)
        .with_groups(&[NamedGroup::X25519MLKEM768, NamedGroup::X25519])
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(&String::from_utf8_lossy(&out.response), "Reused, TLSv1.3");
    assert_eq!(out.negotiated.group, Some(NamedGroup::X25519));
    assert!(!out.negotiated.hello_retry);
    assert_output_contains(&log, "NamedGroup: UNKNOWN (4588)");
}

#[test]
fn s_client_to_ours_early_data_is_rejected() {
    // s_client sends 0-RTT data with a PSK session allowing it; we never accept early data:
    // the server skips it, omits early_data from EncryptedExtensions, and the handshake and
    // the (resent) request then go through normally.
    let dir = TempDir::new("openssl-0rtt");
    let pem = openssl_psk_session_pem(CipherSuite::TLS13_AES_128_GCM_SHA256, &KEY, 16384);
    let session = dir.write("psk-0rtt.pem", pem.as_bytes());
    let early = dir.write("early.txt", b"EARLY / HTTP/1.0\r\n\r\n");
    let server = OneShotServer::start(server_config(&KEY, PskHash::Sha256));
    let mut cmd = Command::new(openssl());
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", server.port),
    ])
    .args(["-tls1_3", "-msg", "-psk_identity", IDENTITY, "-psk_session"])
    .arg(&session)
    .arg("-early_data")
    .arg(&early);
    let mut client = Peer::spawn(cmd);
    client
        .wait_for("Early data was rejected", STEP_TIMEOUT)
        .unwrap();
    client.write_stdin(GET);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert!(
        ours.request.starts_with(GET),
        "the server saw {:?}",
        String::from_utf8_lossy(&ours.request)
    );
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256");
    assert_output_contains(&log, &format!("authenticated PSK identity: {IDENTITY}"));
    // The early data really was sent (an application-data record before our ServerHello).
    let before_server_hello = log.split("<<< TLS 1.3, Handshake").next().unwrap();
    assert_output_contains(before_server_hello, ">>> TLS 1.2, InnerContent");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
}

#[test]
fn record_padding_both_ways() {
    // -record_padding 512 pads every protected record's inner plaintext to a multiple of 512
    // octets (RFC 8446 §5.4): 528-octet records once the AEAD tag is added. Both our record
    // layers must strip the zero padding.
    let (server, port) = s_server(OpensslPsk::Hex(&KEY), &["-record_padding", "512"]);
    let out = run_client(
        client_config(&KEY, PskHash::Sha256),
        port,
        GET,
        ReadUntil::Close,
    );
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(&String::from_utf8_lossy(&out.response), "Reused, TLSv1.3");
    assert_output_contains(&log, "Length = 528");

    let server = OneShotServer::start(server_config(&KEY, PskHash::Sha256));
    let client = s_client(
        server.port,
        OpensslPsk::Hex(&KEY),
        &["-record_padding", "512"],
    );
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert!(ours.request.starts_with(GET));
    assert_output_contains(&log, "Length = 528");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
}

#[test]
fn s_client_to_ours_deferred_key_lookup() {
    // The AEF path: the server pauses after the ClientHello, looks the offered identity up
    // (here: in a closure, as a CAPIF-3 query would) and continues with the key.
    let config = PskServerConfig::new(std::sync::Arc::new(rustls_capif::psk::NoPskResolver));
    let server = OneShotServer::start_deferred(
        config,
        Box::new(|offered: &[Vec<u8>]| {
            assert_eq!(offered, [IDENTITY.as_bytes().to_vec()]);
            Some(psk(&KEY, PskHash::Sha256))
        }),
    );
    let client = s_client(server.port, OpensslPsk::Hex(&KEY), &[]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256");
    assert_output_contains(&log, &format!("authenticated PSK identity: {IDENTITY}"));
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    assert_eq!(
        ours.negotiated.identity.as_deref(),
        Some(IDENTITY.as_bytes())
    );
}

/// The `ring` crypto provider (instead of the default aws-lc-rs).
#[cfg(feature = "ring")]
fn ring() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(feature = "ring")]
#[test]
fn ring_provider_both_ways() {
    // Our client on ring → s_server (with ChaCha20 and an HRR to P-384), then s_client → our
    // server on ring with a SHA-384 PSK.
    let (server, port) = s_server(
        OpensslPsk::Hex(&KEY),
        &[
            "-groups",
            "P-384",
            "-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
        ],
    );
    let config = PskClientConfig::with_provider(psk(&KEY, PskHash::Sha256), ring())
        .with_groups(&[NamedGroup::X25519, NamedGroup::secp384r1])
        .unwrap();
    let out = run_client(config, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    assert_output_contains(
        &String::from_utf8_lossy(&out.response),
        "Reused, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256",
    );
    assert!(out.negotiated.hello_retry);

    let dir = TempDir::new("openssl-ring");
    let session = sha384_session(&dir);
    let keys: StaticPskResolver = [psk(&KEY_384, PskHash::Sha384)].into_iter().collect();
    let server = OneShotServer::start(PskServerConfig::with_provider(
        std::sync::Arc::new(keys),
        ring(),
    ));
    let client = s_client(server.port, OpensslPsk::Session(&session), &[]);
    let ours = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(ours.error.is_none(), "{:?}\ns_client:\n{log}", ours.error);
    assert_output_contains(&log, "Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384");
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
}
