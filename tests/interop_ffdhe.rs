//! RFC 7919 FFDHE (`kx::ffdhe`, feature `ffdhe`) with the real OpenSSL 3 tools, both
//! directions, ffdhe2048 and ffdhe3072 (directly and after a HelloRetryRequest), and with
//! GnuTLS's `gnutls-cli` / `gnutls-serv` (priority strings allowing FFDHE groups only); the group
//! parameters against OpenSSL's own copy; and peers sending Y = 0, 1, p-1, p (our own crafted
//! key shares) refused with `illegal_parameter` on both sides.
#![cfg(feature = "ffdhe")]

mod common;

use std::process::Command;
use std::sync::Arc;

use common::peer::{
    assert_output_contains, gnutls_cli, gnutls_serv, hex, openssl, run_client, spawn_server,
    OneShotServer, Peer, ReadUntil, TempDir, STEP_TIMEOUT,
};
use rustls::crypto::{ActiveKeyExchange, CryptoProvider, SharedSecret, SupportedKxGroup};
use rustls::{AlertDescription, NamedGroup};
use rustls_capif::kx::ffdhe;
use rustls_capif::psk::*;
use rustls_capif::Error;

const IDENTITY: &str = "invoker-ffdhe";
const KEY: [u8; 32] = *b"0123456789abcdef0123456789ABCDEF";
const GET: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

fn psk() -> ExternalPsk {
    ExternalPsk::new(IDENTITY.as_bytes().to_vec(), &KEY, PskHash::Sha256).unwrap()
}

fn server_config(groups: &[NamedGroup]) -> PskServerConfig {
    let keys: StaticPskResolver = [psk()].into_iter().collect();
    PskServerConfig::new(Arc::new(keys))
        .with_groups(groups)
        .unwrap()
}

fn s_server(groups: &str) -> (Peer, u16) {
    let tool = openssl();
    let groups = groups.to_string();
    spawn_server(
        move |port| {
            let mut cmd = Command::new(&tool);
            cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
                .args(["-nocert", "-tls1_3", "-www", "-num_tickets", "0"])
                .args(["-trace", "-naccept", "1", "-groups", &groups])
                .args(["-psk", &hex(&KEY), "-psk_identity", IDENTITY]);
            cmd
        },
        |_| "ACCEPT".to_string(),
    )
}

fn s_client(port: u16, groups: &str) -> Peer {
    let mut cmd = Command::new(openssl());
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-tls1_3", "-trace", "-groups", groups])
        .args(["-psk", &hex(&KEY), "-psk_identity", IDENTITY]);
    let mut peer = Peer::spawn(cmd);
    peer.write_stdin(GET);
    peer
}

/// Our client → `openssl s_server -groups G`: the PSK is accepted with the FFDHE group.
fn ours_to_s_server(server_groups: &str, ours: &[NamedGroup], want: NamedGroup, hrr: bool) {
    let (server, port) = s_server(server_groups);
    let client = PskClientConfig::new(psk()).with_groups(ours).unwrap();
    let out = run_client(client, port, GET, ReadUntil::Close);
    let (_, log) = server.finish(STEP_TIMEOUT);
    assert!(out.error.is_none(), "{:?}\ns_server:\n{log}", out.error);
    let page = String::from_utf8_lossy(&out.response);
    assert_output_contains(&page, "Reused, TLSv1.3");
    assert_eq!(out.negotiated.group, Some(want), "s_server:\n{log}");
    assert_eq!(out.negotiated.hello_retry, hrr);
    let code = u16::from(want);
    assert_output_contains(&log, &format!("({code})"));
}

#[test]
fn ours_to_s_server_ffdhe2048() {
    ours_to_s_server(
        "ffdhe2048",
        &[NamedGroup::FFDHE2048],
        NamedGroup::FFDHE2048,
        false,
    );
}

#[test]
fn ours_to_s_server_ffdhe3072_after_hello_retry_request() {
    ours_to_s_server(
        "ffdhe3072",
        &[NamedGroup::X25519, NamedGroup::FFDHE3072],
        NamedGroup::FFDHE3072,
        true,
    );
}

/// `openssl s_client -groups G` → our server.
fn s_client_to_ours(client_groups: &str, ours: &[NamedGroup], want: NamedGroup, bits: u32) {
    let server = OneShotServer::start(server_config(ours));
    let client = s_client(server.port, client_groups);
    let outcome = server.outcome();
    let (status, log) = client.finish(STEP_TIMEOUT);
    assert!(
        outcome.error.is_none(),
        "{:?}\ns_client:\n{log}",
        outcome.error
    );
    assert_output_contains(&log, "Reused, TLSv1.3");
    assert_output_contains(&log, &format!("Server Temp Key: DH, {bits} bits"));
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client: {status:?}\n{log}"
    );
    assert_eq!(outcome.negotiated.group, Some(want));
}

#[test]
fn s_client_to_ours_ffdhe2048() {
    s_client_to_ours(
        "ffdhe2048",
        &[NamedGroup::X25519, NamedGroup::FFDHE2048],
        NamedGroup::FFDHE2048,
        2048,
    );
}

#[test]
fn s_client_to_ours_ffdhe3072_after_hello_retry_request() {
    // s_client sends a share for its first group only; our server asks for ffdhe3072.
    s_client_to_ours(
        "X25519:ffdhe3072",
        &[NamedGroup::FFDHE3072],
        NamedGroup::FFDHE3072,
        3072,
    );
}

/// A GnuTLS priority string for TLS 1.3 `psk_dhe_ke` over the FFDHE group `group` only.
fn gnutls_ffdhe_priority(group: &str) -> String {
    format!("NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+DHE-PSK:-GROUP-ALL:+GROUP-{group}")
}

/// `gnutls-cli` offering only ffdhe2048 → our server (X25519 preferred, ffdhe2048 allowed).
#[test]
fn gnutls_cli_to_ours_ffdhe2048() {
    let server = OneShotServer::start(server_config(&[NamedGroup::X25519, NamedGroup::FFDHE2048]));
    let mut cmd = Command::new(gnutls_cli());
    cmd.args([
        "--verbose",
        "--priority",
        &gnutls_ffdhe_priority("FFDHE2048"),
    ])
    .args(["--pskusername", IDENTITY, "--pskkey", &hex(&KEY)])
    .args(["-p", &server.port.to_string(), "127.0.0.1"]);
    let mut client = Peer::spawn(cmd);
    client.write_stdin(GET);
    let outcome = server.outcome();
    let (_, log) = client.finish(STEP_TIMEOUT);
    assert!(
        outcome.error.is_none(),
        "{:?}\ngnutls-cli:\n{log}",
        outcome.error
    );
    assert_output_contains(
        &log,
        &format!("PSK authentication. Connected as '{IDENTITY}'"),
    );
    assert_eq!(outcome.negotiated.group, Some(NamedGroup::FFDHE2048));
}

/// Our client (an X25519 share first) → `gnutls-serv` that takes only ffdhe3072: a
/// HelloRetryRequest, then ffdhe3072; its echo comes back.
#[test]
fn ours_to_gnutls_serv_ffdhe3072_after_hello_retry_request() {
    let dir = TempDir::new("gnutls-serv-ffdhe");
    let passwd = dir.write("psk.txt", format!("{IDENTITY}:{}\n", hex(&KEY)).as_bytes());
    let tool = gnutls_serv();
    let priority = gnutls_ffdhe_priority("FFDHE3072");
    let (server, port) = spawn_server(
        |port| {
            let mut cmd = Command::new(&tool);
            cmd.args(["--priority", &priority, "--pskpasswd"])
                .arg(&passwd)
                .args(["-p", &port.to_string(), "--echo"]);
            cmd
        },
        |port| format!("listening on IPv4 0.0.0.0 port {port}...done"),
    );
    let client = PskClientConfig::new(psk())
        .with_groups(&[NamedGroup::X25519, NamedGroup::FFDHE3072])
        .unwrap();
    let line = b"hello over ffdhe3072\n";
    let out = run_client(client, port, line, ReadUntil::Bytes(line.len()));
    let log = server.kill();
    assert!(out.error.is_none(), "{:?}\ngnutls-serv:\n{log}", out.error);
    assert_eq!(out.response, line, "the echo differs");
    assert_eq!(out.negotiated.group, Some(NamedGroup::FFDHE3072));
    assert!(out.negotiated.hello_retry, "expected a HelloRetryRequest");
}

/// The primes rustls carries (RFC 7919 Appendix A) are OpenSSL's: an independent copy
/// (`openssl genpkey -genparam -algorithm DH -pkeyopt group:NAME | openssl asn1parse`, which
/// prints the DHParameter's INTEGERs p and g).
#[test]
fn parameters_match_openssl() {
    use std::io::Write;
    use std::process::Stdio;
    for (name, group) in [
        ("ffdhe2048", ffdhe::FFDHE2048),
        ("ffdhe3072", ffdhe::FFDHE3072),
    ] {
        let pem = Command::new(openssl())
            .args(["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt"])
            .arg(format!("group:{name}"))
            .output()
            .expect("run openssl genpkey");
        assert!(pem.status.success(), "{pem:?}");
        let mut asn1 = Command::new(openssl())
            .arg("asn1parse")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run openssl asn1parse");
        asn1.stdin.take().unwrap().write_all(&pem.stdout).unwrap();
        let out = asn1.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let integers: Vec<Vec<u8>> = text
            .lines()
            .filter(|l| l.contains("prim: INTEGER"))
            .map(|l| hex_decode(l.rsplit(':').next().unwrap().trim()))
            .collect();
        assert_eq!(integers.len(), 2, "{text}");
        let ours = group.ffdhe_group().unwrap();
        assert_eq!(integers[0], ours.p, "{name}: p differs from OpenSSL's");
        assert_eq!(integers[1], ours.g, "{name}: g differs from OpenSSL's");
        assert_eq!(format!("{:?}", group.name()).to_lowercase(), name);
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ----- crafted key shares ----------------------------------------------------------------------

/// An FFDHE group whose exchanges publish a fixed value instead of g^x (a peer sending an
/// invalid Y), delegating everything else to the real group.
#[derive(Debug)]
struct Rogue {
    real: &'static dyn SupportedKxGroup,
    y: Vec<u8>,
}

struct RogueActive {
    real: Box<dyn ActiveKeyExchange>,
    y: Vec<u8>,
}

impl SupportedKxGroup for Rogue {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        Ok(Box::new(RogueActive {
            real: self.real.start()?,
            y: self.y.clone(),
        }))
    }
    fn name(&self) -> NamedGroup {
        self.real.name()
    }
}

impl ActiveKeyExchange for RogueActive {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        self.real.complete(peer)
    }
    fn pub_key(&self) -> &[u8] {
        &self.y
    }
    fn group(&self) -> NamedGroup {
        self.real.group()
    }
}

fn rogue_provider(real: &'static dyn SupportedKxGroup, y: Vec<u8>) -> Arc<CryptoProvider> {
    let rogue: &'static dyn SupportedKxGroup = Box::leak(Box::new(Rogue { real, y }));
    let mut provider = (*rustls_capif::default_provider()).clone();
    provider.kx_groups = vec![rogue];
    Arc::new(provider)
}

/// Y = 0, 1, p-1, p and a short encoding, for `group`.
fn bad_values(group: &'static dyn SupportedKxGroup) -> Vec<(&'static str, Vec<u8>)> {
    let p = group.ffdhe_group().unwrap().p.to_vec();
    let n = |v: u8| {
        let mut out = vec![0u8; p.len()];
        out[p.len() - 1] = v;
        out
    };
    let mut p_minus_1 = p.clone();
    *p_minus_1.last_mut().unwrap() -= 1;
    vec![
        ("Y=0", n(0)),
        ("Y=1", n(1)),
        ("Y=p-1", p_minus_1),
        ("Y=p", p.clone()),
        ("Y=2 unpadded", vec![2]),
    ]
}

fn expect_illegal_parameter(err: &Error, what: &str) {
    assert_eq!(
        err.alert(),
        Some(AlertDescription::IllegalParameter),
        "{what}: {err:?}"
    );
    assert!(
        matches!(err, Error::PeerMisbehaved { .. }),
        "{what}: {err:?}"
    );
}

#[test]
fn crafted_client_shares_are_refused() {
    for group in [ffdhe::FFDHE2048, ffdhe::FFDHE3072] {
        for (what, y) in bad_values(group) {
            let client = PskClientConfig::with_provider(psk(), rogue_provider(group, y))
                .with_groups(&[group.name()])
                .unwrap();
            let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
            let mut s = PskServerConnection::new(Arc::new(server_config(&[group.name()])));
            let (side, err) = common::handshake(&mut c, &mut s).unwrap_err();
            assert_eq!(side, common::Side::Server, "{what}");
            expect_illegal_parameter(&err, what);
            common::transfer(&mut s, &mut c);
            let err = c.process_new_packets().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::AlertReceived(AlertDescription::IllegalParameter)
                ),
                "{what}: client got {err:?}"
            );
        }
    }
}

#[test]
fn crafted_server_shares_are_refused() {
    for group in [ffdhe::FFDHE2048, ffdhe::FFDHE3072] {
        for (what, y) in bad_values(group) {
            let keys: StaticPskResolver = [psk()].into_iter().collect();
            let server = PskServerConfig::with_provider(Arc::new(keys), rogue_provider(group, y))
                .with_groups(&[group.name()])
                .unwrap();
            let client = PskClientConfig::new(psk())
                .with_groups(&[group.name()])
                .unwrap();
            let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
            let mut s = PskServerConnection::new(Arc::new(server));
            let (side, err) = common::handshake(&mut c, &mut s).unwrap_err();
            assert_eq!(side, common::Side::Client, "{what}");
            expect_illegal_parameter(&err, what);
        }
    }
}

#[test]
fn loopback_with_both_groups() {
    for group in [NamedGroup::FFDHE2048, NamedGroup::FFDHE3072] {
        let client = PskClientConfig::new(psk()).with_groups(&[group]).unwrap();
        let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
        let mut s = PskServerConnection::new(Arc::new(server_config(&[NamedGroup::X25519, group])));
        common::handshake(&mut c, &mut s).unwrap();
        assert_eq!(s.negotiated_key_exchange_group(), Some(group));
        assert_eq!(c.negotiated_key_exchange_group(), Some(group));
    }
}
