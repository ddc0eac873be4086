//! Negative paths of the external-PSK engine (RFC 8446), driven by a scripted peer.
//!
//! Each case takes a real flight of our own client or server — or builds one with the
//! independent toolkit in `common/raw.rs` (its own framing, hello codec and SHA-256 key
//! schedule) — breaks exactly one rule, feeds it to the other side, and asserts both the typed
//! error and the alert that side queued on the wire: the exact plaintext record
//! `15 03 03 00 02 02 XX` before keys, or, after keys, the decrypted content of the protected
//! alert record (the scripted peer holds the keys, so it can check that too).
//!
//! Mutated ClientHellos are re-bound with the right key, so the one broken rule — not a
//! stale binder — is what the server must detect.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::raw::{
    self, ext, handshake, hs, parse_records, plain_alert, record, vec16, ClientHello, Extensions,
    Opener, Record, Sealer, ServerHello, ALERT, APP_DATA, CCS, HANDSHAKE,
};
use rustls::crypto::ActiveKeyExchange;
use rustls::{AlertDescription, CipherSuite, NamedGroup};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::*;
use rustls_capif::Error;

const ID: &[u8] = b"invoker-1";
const KEY: [u8; 32] = [0x42; 32];
const CHACHA: u16 = 0x1303;
const X25519: u16 = 0x001d;
const P256: u16 = 0x0017;
const P384: u16 = 0x0018;

macro_rules! assert_matches {
    ($value:expr, $pat:pat $(if $guard:expr)?) => {
        match $value {
            ref v => assert!(
                matches!(v, $pat $(if $guard)?),
                "expected {}, got {:?}",
                stringify!($pat),
                v
            ),
        }
    };
}

// ----- fixtures ------------------------------------------------------------------------------

fn psk() -> ExternalPsk {
    ExternalPsk::new(ID.to_vec(), &KEY, PskHash::Sha256).unwrap()
}

fn server_config() -> PskServerConfig {
    let keys: StaticPskResolver = [psk()].into_iter().collect();
    PskServerConfig::new(Arc::new(keys))
}

fn server() -> PskServerConnection {
    PskServerConnection::new(Arc::new(server_config()))
}

/// Our client restricted to what the scripted server speaks: TLS_CHACHA20_POLY1305_SHA256,
/// and `groups` (a key share is sent for the first only).
fn client_config(groups: &[NamedGroup]) -> PskClientConfig {
    PskClientConfig::new(psk())
        .with_cipher_suites(&[CipherSuite::TLS13_CHACHA20_POLY1305_SHA256])
        .unwrap()
        .with_groups(groups)
        .unwrap()
}

/// Everything `conn` has queued for the wire.
fn take(conn: &mut ConnectionCommon) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Feeds `wire` to `conn` (several reads if needed), processing after each read.
fn deliver<C: PskConnection>(conn: &mut C, mut wire: &[u8]) -> Result<(), Error> {
    loop {
        if !wire.is_empty() {
            conn.read_tls(&mut wire).expect("read_tls");
        }
        conn.process_new_packets()?;
        if wire.is_empty() {
            return Ok(());
        }
    }
}

/// Feeds `wire`, expects the connection to fail, and returns the error and what it queued.
fn fails<C: PskConnection>(conn: &mut C, wire: &[u8]) -> (Error, Vec<u8>) {
    let err = deliver(conn, wire).expect_err("the peer must reject this");
    assert!(
        conn.process_new_packets().is_err(),
        "a failed connection stays failed"
    );
    (err, take(conn))
}

/// The one protected record in `wire` must be a fatal `alert` under the key of `open`.
fn assert_sealed_alert(wire: &[u8], open: &mut Opener, alert: AlertDescription) {
    let records = parse_records(wire);
    assert_eq!(records.len(), 1, "exactly one alert record: {records:02x?}");
    assert_eq!(
        records[0].typ, APP_DATA,
        "after keys the alert is protected"
    );
    assert_eq!(
        open.open(&records[0].body),
        (ALERT, vec![2, u8::from(alert)]),
        "protected alert content"
    );
}

fn key_share_entry(group: u16, key: &[u8]) -> Vec<u8> {
    let mut out = group.to_be_bytes().to_vec();
    out.extend_from_slice(&vec16(key));
    out
}

fn ee_message(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    handshake(
        hs::ENCRYPTED_EXTENSIONS,
        &raw::encode_extensions(extensions),
    )
}

/// Traffic keys of an established connection, seen from the scripted peer.
struct AppKeys {
    /// Protects what the scripted peer sends.
    seal: Sealer,
    /// Opens what the engine sends.
    open: Opener,
    secrets: ([u8; 32], [u8; 32]),
}

impl AppKeys {
    /// `sending`: the scripted peer's traffic secret; `receiving`: the engine's.
    fn new(sending: [u8; 32], receiving: [u8; 32]) -> Self {
        Self {
            seal: Sealer::new(&sending),
            open: Opener::new(&receiving),
            secrets: (sending, receiving),
        }
    }

    /// Both directions after one KeyUpdate each.
    fn next(&self) -> Self {
        Self::new(
            raw::next_secret(&self.secrets.0),
            raw::next_secret(&self.secrets.1),
        )
    }
}

// ----- the scripted client (tests of our server) ----------------------------------------------

/// A ClientHello of our own client (chacha, `groups`), with its key share replaced by one whose
/// private half the test holds, re-bound to KEY.
fn scripted_hello(groups: &[NamedGroup]) -> (ClientHello, Box<dyn ActiveKeyExchange>) {
    let (_, ch_msg) = start_client(client_config(groups));
    let mut ch = ClientHello::parse(&ch_msg);
    let kx = raw::client_share(NamedGroup::X25519);
    ch.set_key_shares(&[(X25519, kx.pub_key())]);
    ch.bind(0, &KEY, &[]);
    (ch, kx)
}

fn default_hello() -> ClientHello {
    scripted_hello(&[NamedGroup::X25519]).0
}

fn server_rejects(ch: &ClientHello) -> (Error, Vec<u8>) {
    let mut s = server();
    fails(&mut s, &record(HANDSHAKE, &ch.encode()))
}

/// The scripted client's view after the server's first flight.
struct ClientKeys {
    transcript: Vec<u8>,
    secrets: raw::Secrets,
    /// Client handshake key.
    seal: Sealer,
    encrypted_extensions: Vec<u8>,
}

/// Reads ServerHello, CCS, {EncryptedExtensions} and {Finished} from `records` (after the
/// transcript `prefix`), checking the server Finished with the test's own key schedule.
/// Returns the keys and the records after the flight.
fn read_server_flight(
    prefix: &[u8],
    ch_msg: &[u8],
    kx: Box<dyn ActiveKeyExchange>,
    records: &[Record],
) -> (ClientKeys, Vec<Record>) {
    assert_eq!(records[0].typ, HANDSHAKE);
    let sh = ServerHello::parse(&records[0].body);
    assert!(!sh.is_hrr());
    let (_, server_key) = sh.key_share();
    let dhe = kx.complete(&server_key).unwrap();
    let mut transcript = prefix.to_vec();
    transcript.extend_from_slice(ch_msg);
    transcript.extend_from_slice(&records[0].body);
    let secrets = raw::handshake_secrets(&KEY, Some(dhe.secret_bytes()), &transcript);
    let mut open = Opener::new(&secrets.server_hs);
    let mut data = Vec::new();
    let mut used = 1;
    for r in &records[1..] {
        used += 1;
        if r.typ == CCS {
            assert_eq!(r.body, [1]);
            continue;
        }
        assert_eq!(r.typ, APP_DATA);
        let (typ, content) = open.open(&r.body);
        assert_eq!(typ, HANDSHAKE);
        data.extend_from_slice(&content);
        if raw::split_handshakes(&data).len() == 2 {
            break;
        }
    }
    let messages = raw::split_handshakes(&data);
    let (ee, fin) = (&messages[0], &messages[1]);
    assert_eq!(ee[0], hs::ENCRYPTED_EXTENSIONS);
    transcript.extend_from_slice(ee);
    let expected = handshake(
        hs::FINISHED,
        &raw::finished_mac(&secrets.server_hs, &transcript),
    );
    assert_eq!(fin, &expected, "server Finished");
    transcript.extend_from_slice(fin);
    let keys = ClientKeys {
        seal: Sealer::new(&secrets.client_hs),
        transcript,
        secrets,
        encrypted_extensions: ee.clone(),
    };
    (keys, records[used..].to_vec())
}

/// The server application keys the scripted client derives from a completed flight.
fn client_app_keys(keys: &ClientKeys) -> AppKeys {
    let (c_ap, s_ap) = raw::application_secrets(&keys.secrets.master, &keys.transcript);
    AppKeys::new(c_ap, s_ap)
}

/// Sends the client Finished; the server must complete its handshake.
fn finish_client(s: &mut PskServerConnection, mut keys: ClientKeys) -> AppKeys {
    let fin = handshake(
        hs::FINISHED,
        &raw::finished_mac(&keys.secrets.client_hs, &keys.transcript),
    );
    let app = client_app_keys(&keys);
    deliver(s, &keys.seal.seal(HANDSHAKE, &fin)).unwrap();
    assert!(!s.is_handshaking(), "server completed the handshake");
    app
}

/// Runs `ch` (with the private key `kx`) against a fresh server to completion.
fn scripted_client_handshake(
    ch: &ClientHello,
    kx: Box<dyn ActiveKeyExchange>,
) -> (PskServerConnection, AppKeys) {
    let ch_msg = ch.encode();
    let mut s = server();
    deliver(&mut s, &record(HANDSHAKE, &ch_msg)).unwrap();
    let (keys, rest) = read_server_flight(&[], &ch_msg, kx, &parse_records(&take(&mut s)));
    assert!(rest.is_empty());
    let app = finish_client(&mut s, keys);
    (s, app)
}

fn server_connected() -> (PskServerConnection, AppKeys) {
    let (ch, kx) = scripted_hello(&[NamedGroup::X25519]);
    scripted_client_handshake(&ch, kx)
}

/// Application data both ways still works (a positive control after ignored input).
fn server_still_works(s: &mut PskServerConnection, app: &mut AppKeys) {
    deliver(s, &app.seal.seal(APP_DATA, b"ping")).unwrap();
    assert_eq!(common::read_all(s), b"ping");
    s.writer().write_all(b"pong").unwrap();
    let out = parse_records(&take(s));
    assert_eq!(app.open.open(&out[0].body), (APP_DATA, b"pong".to_vec()));
}

// ----- the scripted server (tests of our client) ---------------------------------------------

/// Our client and its first ClientHello message.
fn start_client(config: PskClientConfig) -> (PskClientConnection, Vec<u8>) {
    let mut c = PskClientConnection::new(Arc::new(config)).unwrap();
    let out = parse_records(&take(&mut c));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].typ, HANDSHAKE);
    (c, out[0].body.clone())
}

/// A genuine ServerHello answering `ch_msg` (chacha, X25519, identity 0) and the ECDHE secret.
fn answer(ch_msg: &[u8]) -> (ServerHello, Vec<u8>) {
    let ch = ClientHello::parse(ch_msg);
    let (_, client_key) = ch
        .key_shares()
        .into_iter()
        .find(|(g, _)| *g == X25519)
        .expect("an X25519 share");
    let (server_key, dhe) = raw::server_share(NamedGroup::X25519, &client_key);
    let sh = ServerHello {
        legacy_version: 0x0303,
        random: [0x5a; 32],
        session_id: ch.session_id,
        cipher_suite: CHACHA,
        compression_method: 0,
        extensions: vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::KEY_SHARE, key_share_entry(X25519, &server_key)),
            (ext::PRE_SHARED_KEY, vec![0, 0]),
        ],
    };
    (sh, dhe)
}

/// Feeds our client (with `config`) a ServerHello edited by `edit`.
fn client_rejects_server_hello(
    config: PskClientConfig,
    edit: impl FnOnce(&mut ServerHello),
) -> (Error, Vec<u8>) {
    let (mut c, ch_msg) = start_client(config);
    let (mut sh, _) = answer(&ch_msg);
    edit(&mut sh);
    fails(&mut c, &record(HANDSHAKE, &sh.encode()))
}

struct ScriptedServer {
    transcript: Vec<u8>,
    secrets: raw::Secrets,
    /// Server handshake key.
    seal: Sealer,
    /// Client handshake key.
    open: Opener,
}

impl ScriptedServer {
    fn new(ch_msg: &[u8], sh_msg: &[u8], dhe: Option<&[u8]>) -> Self {
        let mut transcript = ch_msg.to_vec();
        transcript.extend_from_slice(sh_msg);
        let secrets = raw::handshake_secrets(&KEY, dhe, &transcript);
        Self {
            seal: Sealer::new(&secrets.server_hs),
            open: Opener::new(&secrets.client_hs),
            transcript,
            secrets,
        }
    }

    /// Protects a handshake message and adds it to the transcript.
    fn send(&mut self, message: &[u8]) -> Vec<u8> {
        self.transcript.extend_from_slice(message);
        self.seal.seal(HANDSHAKE, message)
    }

    fn finished(&self) -> Vec<u8> {
        handshake(
            hs::FINISHED,
            &raw::finished_mac(&self.secrets.server_hs, &self.transcript),
        )
    }
}

/// Our client after the scripted ServerHello and CCS: it waits for EncryptedExtensions.
fn client_awaiting_encrypted_extensions() -> (PskClientConnection, ScriptedServer) {
    let (mut c, ch_msg) = start_client(client_config(&[NamedGroup::X25519]));
    let (sh, dhe) = answer(&ch_msg);
    let sh_msg = sh.encode();
    let mut flight = record(HANDSHAKE, &sh_msg);
    flight.extend(record(CCS, &[1]));
    deliver(&mut c, &flight).unwrap();
    assert_eq!(
        parse_records(&take(&mut c)),
        [Record {
            typ: CCS,
            body: vec![1]
        }],
        "the client's middlebox-compatibility CCS"
    );
    (c, ScriptedServer::new(&ch_msg, &sh_msg, Some(&dhe)))
}

/// Our client after a complete handshake with the scripted server.
fn client_connected() -> (PskClientConnection, AppKeys) {
    let (mut c, mut s) = client_awaiting_encrypted_extensions();
    let mut flight = s.send(&ee_message(&[]));
    let fin = s.finished();
    flight.extend(s.send(&fin));
    deliver(&mut c, &flight).unwrap();
    assert!(!c.is_handshaking());
    let out = parse_records(&take(&mut c));
    assert_eq!(out.len(), 1);
    let expected = handshake(
        hs::FINISHED,
        &raw::finished_mac(&s.secrets.client_hs, &s.transcript),
    );
    assert_eq!(s.open.open(&out[0].body), (HANDSHAKE, expected));
    let (c_ap, s_ap) = raw::application_secrets(&s.secrets.master, &s.transcript);
    (c, AppKeys::new(s_ap, c_ap))
}

// =============================================================================================
// Server: the ClientHello and its PSK
// =============================================================================================

#[test]
fn scripted_client_completes_a_handshake() {
    // Control for every ClientHello mutation below: unmodified, it is accepted.
    let (mut s, mut app) = server_connected();
    assert_eq!(s.psk_identity(), Some(ID));
    server_still_works(&mut s, &mut app);
}

#[test]
fn bad_binder_is_decrypt_error() {
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    offer.binders[0][7] ^= 0x01;
    ch.set_psk_offer(&offer);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(err, Error::PskRejected(PskRejection::BadBinder));
    assert_eq!(err.alert(), Some(AlertDescription::DecryptError));
    assert_eq!(wire, plain_alert(AlertDescription::DecryptError));
}

#[test]
fn unknown_identity_is_indistinguishable_from_bad_binder() {
    let mut bad_binder = default_hello();
    let mut offer = bad_binder.psk_offer();
    offer.binders[0][0] ^= 0x80;
    bad_binder.set_psk_offer(&offer);
    let (err, wire_bad_binder) = server_rejects(&bad_binder);
    assert_matches!(err, Error::PskRejected(PskRejection::BadBinder));

    // Same key, identity unknown to the server, binder correct for that key.
    let mut unknown = default_hello();
    let mut offer = unknown.psk_offer();
    offer.identities[0].0 = b"stranger".to_vec();
    unknown.set_psk_offer(&offer);
    unknown.bind(0, &KEY, &[]);
    let (err, wire_unknown) = server_rejects(&unknown);
    assert_matches!(err, Error::PskRejected(PskRejection::UnknownIdentity));
    assert_eq!(err.alert(), Some(AlertDescription::DecryptError));

    assert_eq!(wire_unknown, plain_alert(AlertDescription::DecryptError));
    assert_eq!(wire_unknown, wire_bad_binder, "identical bytes on the wire");
}

#[test]
fn binder_longer_than_the_psk_hash_is_decrypt_error() {
    // A PskBinderEntry of 48 octets (SHA-384 length) for a SHA-256 PSK, whose first 32 octets
    // are the right HMAC: syntactically valid (<32..255>), but it does not verify.
    let mut ch = default_hello();
    ch.bind_sized(0, &KEY, &[], 48);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(err, Error::PskRejected(PskRejection::BadBinder));
    assert_eq!(wire, plain_alert(AlertDescription::DecryptError));
}

#[test]
fn binder_shorter_than_32_octets_is_decode_error() {
    // PskBinderEntry is <32..255> (RFC 8446 §4.2.11): 31 octets do not decode.
    let mut ch = default_hello();
    ch.bind_sized(0, &KEY, &[], 31);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::InvalidMessage {
            alert: AlertDescription::DecodeError,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::DecodeError));
}

#[test]
fn pre_shared_key_not_last_is_illegal_parameter() {
    let mut ch = default_hello();
    let psk_ext = ch.extensions.pop().unwrap();
    assert_eq!(psk_ext.0, ext::PRE_SHARED_KEY);
    ch.extensions.insert(0, psk_ext);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
}

#[test]
fn missing_psk_key_exchange_modes_is_missing_extension() {
    let mut ch = default_hello();
    ch.remove_ext(ext::PSK_KEY_EXCHANGE_MODES);
    ch.bind(0, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::MissingExtension,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::MissingExtension));
}

#[test]
fn identity_and_binder_counts_differ_is_illegal_parameter() {
    // More identities than binders.
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    offer.identities.push((b"second".to_vec(), 0));
    ch.set_psk_offer(&offer);
    ch.bind(0, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));

    // More binders than identities.
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    offer.binders.push(vec![0x11; 32]);
    ch.set_psk_offer(&offer);
    ch.bind(0, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
}

#[test]
fn duplicate_extension_is_illegal_parameter() {
    for typ in [ext::SUPPORTED_GROUPS, 0xfafa] {
        let mut ch = default_hello();
        let body = ch.ext(typ).map(<[u8]>::to_vec).unwrap_or_default();
        let at = ch.extensions.len() - 1;
        ch.extensions.insert(at, (typ, body.clone()));
        ch.extensions.insert(at, (typ, body));
        ch.bind(0, &KEY, &[]);
        let (err, wire) = server_rejects(&ch);
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::IllegalParameter,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    }
}

#[test]
fn zero_identities_is_decode_error() {
    // identities<7..2^16-1>: an empty list does not decode, with or without binders.
    for keep_binders in [true, false] {
        let mut ch = default_hello();
        let mut offer = ch.psk_offer();
        offer.identities.clear();
        if !keep_binders {
            offer.binders.clear();
        }
        ch.set_psk_offer(&offer);
        let (err, wire) = server_rejects(&ch);
        assert_matches!(
            err,
            Error::InvalidMessage {
                alert: AlertDescription::DecodeError,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::DecodeError));
    }
}

#[test]
fn no_tls13_in_supported_versions_is_protocol_version() {
    for versions in [None, Some(vec![0x0303]), Some(vec![0x0303, 0x0302])] {
        let mut ch = default_hello();
        match &versions {
            None => ch.remove_ext(ext::SUPPORTED_VERSIONS),
            Some(v) => ch.set_ext(ext::SUPPORTED_VERSIONS, raw::vec8(&raw::u16s(v))),
        }
        ch.bind(0, &KEY, &[]);
        let (err, wire) = server_rejects(&ch);
        assert_matches!(
            err,
            Error::PeerIncompatible {
                alert: AlertDescription::ProtocolVersion,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::ProtocolVersion));
    }
}

#[test]
fn unknown_versions_in_supported_versions_are_ignored() {
    // RFC 8446 §4.2.1: servers MUST ignore unknown versions in the list.
    let (mut ch, kx) = scripted_hello(&[NamedGroup::X25519]);
    ch.set_ext(
        ext::SUPPORTED_VERSIONS,
        raw::vec8(&raw::u16s(&[0x7a7a, 0x0305, 0x0304, 0x0303])),
    );
    ch.bind(0, &KEY, &[]);
    let (mut s, mut app) = scripted_client_handshake(&ch, kx);
    server_still_works(&mut s, &mut app);
}

#[test]
fn key_share_for_a_group_not_in_supported_groups_is_illegal_parameter() {
    let mut ch = default_hello();
    // The share is for X25519; supported_groups now names only secp256r1.
    ch.set_ext(ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&[P256])));
    ch.bind(0, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
}

#[test]
fn compression_methods_other_than_null_are_illegal_parameter() {
    for methods in [vec![0, 1], vec![1], vec![1, 0]] {
        let mut ch = default_hello();
        ch.compression_methods = methods;
        ch.bind(0, &KEY, &[]);
        let (err, wire) = server_rejects(&ch);
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::IllegalParameter,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    }
}

#[test]
fn legacy_version_ssl3_or_lower_is_protocol_version() {
    // RFC 8446 Appendix D.5: legacy_version 0x0300 or less → protocol_version.
    for v in [0x0300, 0x0200, 0x0000] {
        let mut ch = default_hello();
        ch.legacy_version = v;
        ch.bind(0, &KEY, &[]);
        let (err, wire) = server_rejects(&ch);
        assert_matches!(
            err,
            Error::PeerIncompatible {
                alert: AlertDescription::ProtocolVersion,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::ProtocolVersion));
    }
}

#[test]
fn other_legacy_versions_are_ignored_when_supported_versions_offers_tls13() {
    // RFC 8446 §4.2.1: with supported_versions present, servers MUST ignore legacy_version.
    for v in [0x0301, 0x0302, 0x0304] {
        let (mut ch, kx) = scripted_hello(&[NamedGroup::X25519]);
        ch.legacy_version = v;
        ch.bind(0, &KEY, &[]);
        let (mut s, mut app) = scripted_client_handshake(&ch, kx);
        server_still_works(&mut s, &mut app);
    }
}

#[test]
fn client_hello_without_pre_shared_key_is_handshake_failure() {
    let mut ch = default_hello();
    ch.remove_ext(ext::PRE_SHARED_KEY);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerIncompatible {
            alert: AlertDescription::HandshakeFailure,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::HandshakeFailure));
}

#[test]
fn no_common_cipher_suite_is_handshake_failure() {
    // The client offers only a suite the server is not configured for.
    let mut ch = default_hello();
    ch.cipher_suites = vec![0x1301];
    ch.bind(0, &KEY, &[]);
    let config = server_config()
        .with_cipher_suites(&[CipherSuite::TLS13_CHACHA20_POLY1305_SHA256])
        .unwrap();
    let mut s = PskServerConnection::new(Arc::new(config));
    let (err, wire) = fails(&mut s, &record(HANDSHAKE, &ch.encode()));
    assert_matches!(
        err,
        Error::PeerIncompatible {
            alert: AlertDescription::HandshakeFailure,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::HandshakeFailure));
}

// ----- early data (never accepted) -----------------------------------------------------------

/// `records` 0-RTT records of `size` octets each under the client early traffic key.
fn early_data_records(ch_msg: &[u8], records: usize, size: usize) -> Vec<u8> {
    let mut seal = Sealer::new(&raw::client_early_traffic(&KEY, ch_msg));
    let mut out = record(CCS, &[1]);
    for i in 0..records {
        out.extend(seal.seal(APP_DATA, &vec![i as u8; size]));
    }
    out
}

#[test]
fn early_data_is_ignored_and_skipped() {
    let (mut ch, kx) = scripted_hello(&[NamedGroup::X25519]);
    ch.set_ext(ext::EARLY_DATA, Vec::new());
    ch.bind(0, &KEY, &[]);
    let ch_msg = ch.encode();
    let mut flight = record(HANDSHAKE, &ch_msg);
    flight.extend(early_data_records(&ch_msg, 3, 1000));
    let mut s = server();
    deliver(&mut s, &flight).unwrap();
    let (keys, rest) = read_server_flight(&[], &ch_msg, kx, &parse_records(&take(&mut s)));
    assert!(rest.is_empty());
    let ee = raw::split_handshakes(&keys.encrypted_extensions);
    assert!(
        !ee[0][6..]
            .windows(2)
            .any(|w| w == ext::EARLY_DATA.to_be_bytes()),
        "the server must not accept early data"
    );
    let mut app = finish_client(&mut s, keys);
    assert!(
        common::read_all(&mut s).is_empty(),
        "0-RTT data never reaches the application"
    );
    server_still_works(&mut s, &mut app);
}

#[test]
fn early_data_beyond_the_skip_budget_is_bad_record_mac() {
    let (mut ch, kx) = scripted_hello(&[NamedGroup::X25519]);
    ch.set_ext(ext::EARLY_DATA, Vec::new());
    ch.bind(0, &KEY, &[]);
    let ch_msg = ch.encode();
    let mut flight = record(HANDSHAKE, &ch_msg);
    // 5 × (16384 + 17) octets of ciphertext: more than the 64 KiB the server skips.
    flight.extend(early_data_records(&ch_msg, 5, 16384));
    let mut s = server();
    let (err, wire) = fails(&mut s, &flight);
    assert_matches!(err, Error::DecryptError);
    assert_eq!(err.alert(), Some(AlertDescription::BadRecordMac));
    let (keys, rest) = read_server_flight(&[], &ch_msg, kx, &parse_records(&wire));
    let mut app = client_app_keys(&keys);
    let rest: Vec<u8> = rest.iter().flat_map(|r| record(r.typ, &r.body)).collect();
    assert_sealed_alert(&rest, &mut app.open, AlertDescription::BadRecordMac);
}

#[test]
fn early_data_after_hello_retry_request_is_skipped() {
    // RFC 8446 §4.2.10: after a HelloRetryRequest the server skips records of outer type
    // application_data (the 0-RTT data sent with ClientHello1) up to its budget.
    let groups = [NamedGroup::X25519, NamedGroup::secp256r1];
    let (mut ch1, _) = scripted_hello(&groups);
    ch1.set_ext(ext::EARLY_DATA, Vec::new());
    ch1.bind(0, &KEY, &[]);
    let ch1_msg = ch1.encode();
    let mut flight = record(HANDSHAKE, &ch1_msg);
    flight.extend(early_data_records(&ch1_msg, 3, 500));
    // A full-size protected record too (longer than any plaintext record may be).
    flight.extend(Sealer::new(&[9; 32]).seal(APP_DATA, &[0; 16384]));

    let config = server_config()
        .with_groups(&[NamedGroup::secp256r1])
        .unwrap();
    let mut s = PskServerConnection::new(Arc::new(config));
    deliver(&mut s, &flight).expect("0-RTT records after a HelloRetryRequest are skipped");
    let out = parse_records(&take(&mut s));
    let hrr = ServerHello::parse(&out[0].body);
    assert!(hrr.is_hrr());
    assert_eq!(
        out[1],
        Record {
            typ: CCS,
            body: vec![1]
        }
    );

    // ClientHello2: no early_data, a secp256r1 share, binder over the HRR transcript.
    let mut ch2 = ch1.clone();
    ch2.remove_ext(ext::EARLY_DATA);
    let kx = raw::client_share(NamedGroup::secp256r1);
    ch2.set_key_shares(&[(P256, kx.pub_key())]);
    let mut prefix = raw::message_hash(&ch1_msg);
    prefix.extend_from_slice(&out[0].body);
    ch2.bind(0, &KEY, &prefix);
    let ch2_msg = ch2.encode();
    deliver(&mut s, &record(HANDSHAKE, &ch2_msg)).unwrap();
    let (keys, rest) = read_server_flight(&prefix, &ch2_msg, kx, &parse_records(&take(&mut s)));
    assert!(rest.is_empty());
    let mut app = finish_client(&mut s, keys);
    assert!(s.had_hello_retry_request());
    server_still_works(&mut s, &mut app);
}

#[test]
fn early_data_flood_after_hello_retry_request_is_unexpected_message() {
    // Beyond the skip budget an unprotected-phase application_data record is simply out of
    // place again.
    let groups = [NamedGroup::X25519, NamedGroup::secp256r1];
    let (mut ch1, _) = scripted_hello(&groups);
    ch1.set_ext(ext::EARLY_DATA, Vec::new());
    ch1.bind(0, &KEY, &[]);
    let ch1_msg = ch1.encode();
    let mut flight = record(HANDSHAKE, &ch1_msg);
    flight.extend(early_data_records(&ch1_msg, 5, 16384));
    let config = server_config()
        .with_groups(&[NamedGroup::secp256r1])
        .unwrap();
    let mut s = PskServerConnection::new(Arc::new(config));
    let (err, wire) = fails(&mut s, &flight);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    let out = parse_records(&wire);
    assert!(ServerHello::parse(&out[0].body).is_hrr());
    assert_eq!(
        record(out[2].typ, &out[2].body),
        plain_alert(AlertDescription::UnexpectedMessage)
    );
    assert_eq!(out.len(), 3);
}

#[test]
fn application_data_after_hello_retry_request_without_early_data_is_unexpected_message() {
    // Without an early_data offer nothing is skipped.
    let groups = [NamedGroup::X25519, NamedGroup::secp256r1];
    let (ch1, _) = scripted_hello(&groups);
    let config = server_config()
        .with_groups(&[NamedGroup::secp256r1])
        .unwrap();
    let mut s = PskServerConnection::new(Arc::new(config));
    deliver(&mut s, &record(HANDSHAKE, &ch1.encode())).unwrap();
    take(&mut s);
    let (err, wire) = fails(&mut s, &record(APP_DATA, &[0x17; 40]));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::UnexpectedMessage));
}

// =============================================================================================
// Server: records
// =============================================================================================

#[test]
fn ciphertext_longer_than_2_14_plus_256_is_record_overflow() {
    for typ in [APP_DATA, HANDSHAKE] {
        let mut wire = vec![typ, 3, 3];
        wire.extend_from_slice(&(16384u16 + 256 + 1).to_be_bytes());
        wire.extend(vec![0u8; 16641]);
        let (err, out) = fails(&mut server(), &wire);
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::RecordOverflow,
                ..
            }
        );
        assert_eq!(out, plain_alert(AlertDescription::RecordOverflow));
    }
}

#[test]
fn plaintext_record_longer_than_2_14_is_record_overflow() {
    // A ClientHello-looking fragment of 2^14 + 1 octets (the message itself claims more).
    let mut body = handshake(hs::CLIENT_HELLO, &vec![0; 20000]);
    body.truncate(16385);
    let (err, out) = fails(&mut server(), &record(HANDSHAKE, &body));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::RecordOverflow,
            ..
        }
    );
    assert_eq!(out, plain_alert(AlertDescription::RecordOverflow));

    // Exactly 2^14 is fine at the record layer (the handshake message is incomplete).
    let mut s = server();
    let mut body = handshake(hs::CLIENT_HELLO, &vec![0; 20000]);
    body.truncate(16384);
    deliver(&mut s, &record(HANDSHAKE, &body)).unwrap();
}

#[test]
fn truncated_record_then_eof_is_an_error() {
    let wire = record(HANDSHAKE, &default_hello().encode());
    for cut in [1, 4, 5, 6, wire.len() - 1] {
        let mut s = server();
        deliver(&mut s, &wire[..cut]).unwrap();
        assert_eq!(s.read_tls(&mut &b""[..]).unwrap(), 0);
        let err = s.process_new_packets().unwrap_err();
        assert_matches!(
            err,
            Error::InvalidMessage {
                alert: AlertDescription::DecodeError,
                ..
            }
        );
    }
    // EOF on a record boundary during the handshake.
    let mut s = server();
    deliver(&mut s, &wire).unwrap();
    assert_eq!(s.read_tls(&mut &b""[..]).unwrap(), 0);
    let err = s.process_new_packets().unwrap_err();
    assert_matches!(err, Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn zero_length_handshake_record_is_decode_error() {
    let (err, wire) = fails(&mut server(), &record(HANDSHAKE, &[]));
    assert_matches!(
        err,
        Error::InvalidMessage {
            alert: AlertDescription::DecodeError,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::DecodeError));
}

#[test]
fn unknown_content_type_is_unexpected_message() {
    for typ in [0u8, 19, 24, 25, 0xff] {
        let (err, wire) = fails(&mut server(), &record(typ, &[1, 2, 3]));
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::UnexpectedMessage,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::UnexpectedMessage));
    }
}

#[test]
fn application_data_before_the_client_hello_is_unexpected_message() {
    let (err, wire) = fails(&mut server(), &record(APP_DATA, b"GET / HTTP/1.0\r\n\r\n"));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::UnexpectedMessage));
}

#[test]
fn change_cipher_spec_before_the_client_hello_is_unexpected_message() {
    let (err, wire) = fails(&mut server(), &record(CCS, &[1]));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::UnexpectedMessage));
}

/// The server after the scripted ClientHello: keys of its flight are known to the test.
fn server_awaiting_client_finished() -> (PskServerConnection, ClientKeys, AppKeys) {
    let (ch, kx) = scripted_hello(&[NamedGroup::X25519]);
    let ch_msg = ch.encode();
    let mut s = server();
    deliver(&mut s, &record(HANDSHAKE, &ch_msg)).unwrap();
    let (keys, rest) = read_server_flight(&[], &ch_msg, kx, &parse_records(&take(&mut s)));
    assert!(rest.is_empty());
    let app = client_app_keys(&keys);
    (s, keys, app)
}

#[test]
fn application_data_before_the_client_finished_is_unexpected_message() {
    let (mut s, mut keys, mut app) = server_awaiting_client_finished();
    let (err, wire) = fails(&mut s, &keys.seal.seal(APP_DATA, b"too early"));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    // The server already writes with its application key.
    assert_sealed_alert(&wire, &mut app.open, AlertDescription::UnexpectedMessage);
}

#[test]
fn alert_mid_handshake_is_alert_received() {
    // In the clear (the client failed before it had keys) and protected.
    let (mut s, _keys, _) = server_awaiting_client_finished();
    let (err, wire) = fails(&mut s, &plain_alert(AlertDescription::HandshakeFailure));
    assert_matches!(
        err,
        Error::AlertReceived(AlertDescription::HandshakeFailure)
    );
    assert!(wire.is_empty(), "no alert answers an alert");

    let (mut s, mut keys, _) = server_awaiting_client_finished();
    let alert = keys
        .seal
        .seal(ALERT, &[2, u8::from(AlertDescription::DecryptError)]);
    let (err, wire) = fails(&mut s, &alert);
    assert_matches!(err, Error::AlertReceived(AlertDescription::DecryptError));
    assert!(wire.is_empty());
}

#[test]
fn close_notify_during_the_handshake_fails_it() {
    // A handshake that can no longer complete must not be reported as a clean closure.
    let (mut s, _keys, _) = server_awaiting_client_finished();
    let close = record(ALERT, &[1, 0]);
    let err = deliver(&mut s, &close).unwrap_err();
    assert_matches!(err, Error::AlertReceived(AlertDescription::CloseNotify));
    assert!(s.is_handshaking());

    let (mut s, mut keys, _) = server_awaiting_client_finished();
    let err = deliver(&mut s, &keys.seal.seal(ALERT, &[1, 0])).unwrap_err();
    assert_matches!(err, Error::AlertReceived(AlertDescription::CloseNotify));

    // close_notify instead of a ServerHello.
    let (mut c, _) = start_client(client_config(&[NamedGroup::X25519]));
    let (err, wire) = fails(&mut c, &record(ALERT, &[1, 0]));
    assert_matches!(err, Error::AlertReceived(AlertDescription::CloseNotify));
    assert!(wire.is_empty());
}

#[test]
fn blocking_stream_does_not_spin_on_close_notify_during_the_handshake() {
    // The blocking adapter used to loop forever: the handshake was unfinished but the
    // connection no longer wanted to read.
    struct Peer {
        input: std::io::Cursor<Vec<u8>>,
    }
    impl Read for Peer {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Nor may it spin when used again after the failure (or after EOF mid-handshake): every
    // later handshake, read and write is an error too.
    for input in [record(ALERT, &[1, 0]), Vec::new()] {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let c =
                PskClientConnection::new(Arc::new(client_config(&[NamedGroup::X25519]))).unwrap();
            let peer = Peer {
                input: std::io::Cursor::new(input),
            };
            let mut stream = PskStream::new(c, peer);
            let results = [
                stream.handshake().map(|_| 0),
                stream.handshake().map(|_| 0),
                stream.read(&mut [0u8; 8]),
                stream.write(b"x"),
            ];
            // Closing a failed connection has nothing to do: it only flushes.
            let closed = stream.close().map_err(|e| e.to_string());
            let _ = tx.send((results.map(|r| r.map_err(|e| e.to_string())), closed));
        });
        let (results, closed) = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("PskStream returned");
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert_eq!(closed, Ok(()));
    }
}

#[test]
fn handshake_message_larger_than_the_limit_is_illegal_parameter() {
    // 65536 octets announced: over the 64 KiB limit. RFC 8446 names no alert for a local
    // size limit; OpenSSL's state machine sends illegal_parameter for an excessive message
    // size too, and so do we.
    let (err, wire) = fails(&mut server(), &record(HANDSHAKE, &[1, 0x01, 0x00, 0x00]));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    // 65535 is within the limit: the server waits for the rest.
    let mut s = server();
    deliver(&mut s, &record(HANDSHAKE, &[1, 0x00, 0xff, 0xff])).unwrap();
    assert!(!s.wants_write());
}

#[test]
fn handshake_messages_other_than_finished_before_the_client_finished_are_unexpected_message() {
    let ch_msg = default_hello().encode();
    for message in [
        ch_msg,
        handshake(hs::END_OF_EARLY_DATA, &[]),
        handshake(hs::KEY_UPDATE, &[0]),
        handshake(hs::CERTIFICATE, &[0, 0, 0, 0]),
        handshake(hs::ENCRYPTED_EXTENSIONS, &[0, 0]),
    ] {
        let (mut s, mut keys, mut app) = server_awaiting_client_finished();
        let (err, wire) = fails(&mut s, &keys.seal.seal(HANDSHAKE, &message));
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::UnexpectedMessage,
                ..
            }
        );
        assert_sealed_alert(&wire, &mut app.open, AlertDescription::UnexpectedMessage);
    }
}

#[test]
fn wrong_client_finished_is_decrypt_error_and_short_one_decode_error() {
    let (mut s, mut keys, mut app) = server_awaiting_client_finished();
    let mut verify = raw::finished_mac(&keys.secrets.client_hs, &keys.transcript);
    verify[0] ^= 1;
    let (err, wire) = fails(
        &mut s,
        &keys.seal.seal(HANDSHAKE, &handshake(hs::FINISHED, &verify)),
    );
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::DecryptError,
            ..
        }
    );
    assert_sealed_alert(&wire, &mut app.open, AlertDescription::DecryptError);

    let (mut s, mut keys, mut app) = server_awaiting_client_finished();
    let verify = raw::finished_mac(&keys.secrets.client_hs, &keys.transcript);
    let (err, wire) = fails(
        &mut s,
        &keys
            .seal
            .seal(HANDSHAKE, &handshake(hs::FINISHED, &verify[..31])),
    );
    assert_matches!(
        err,
        Error::InvalidMessage {
            alert: AlertDescription::DecodeError,
            ..
        }
    );
    assert_sealed_alert(&wire, &mut app.open, AlertDescription::DecodeError);
}

#[test]
fn invalid_client_key_share_is_illegal_parameter() {
    // An all-zero X25519 share (a low-order point: the shared secret would be zero).
    let mut ch = default_hello();
    ch.set_key_shares(&[(X25519, &[0; 32])]);
    ch.bind(0, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    // A share of the wrong length.
    let mut ch = default_hello();
    ch.set_key_shares(&[(X25519, &[9; 31])]);
    ch.bind(0, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_eq!(
        err.alert(),
        Some(AlertDescription::IllegalParameter),
        "{err:?}"
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
}

#[test]
fn identities_beyond_the_lookup_limit_are_not_tried() {
    // The server looks up at most 8 identities (default): ours in 9th place is not found, and
    // the failure is the unknown-identity one.
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    let ours = offer.identities.remove(0);
    offer.binders.clear();
    for i in 0..8 {
        offer
            .identities
            .push((format!("other-{i}").into_bytes(), 0));
        offer.binders.push(vec![0; 32]);
    }
    offer.identities.push(ours);
    offer.binders.push(vec![0; 32]);
    ch.set_psk_offer(&offer);
    ch.bind(8, &KEY, &[]);
    let (err, wire) = server_rejects(&ch);
    assert_matches!(err, Error::PskRejected(PskRejection::UnknownIdentity));
    assert_eq!(wire, plain_alert(AlertDescription::DecryptError));
    // In 8th place it is found.
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    let ours = offer.identities.remove(0);
    offer.binders.clear();
    for i in 0..7 {
        offer
            .identities
            .push((format!("other-{i}").into_bytes(), 0));
        offer.binders.push(vec![0; 32]);
    }
    offer.identities.push(ours);
    offer.binders.push(vec![0; 32]);
    ch.set_psk_offer(&offer);
    ch.bind(7, &KEY, &[]);
    let mut s = server();
    deliver(&mut s, &raw::records(HANDSHAKE, &ch.encode())).unwrap();
    assert_eq!(s.psk_identity(), Some(ID));
}

#[test]
fn very_long_identities() {
    // A 65000-octet identity (the ClientHello spans several records) is simply unknown.
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    offer.identities[0].0 = vec![b'x'; 65000];
    ch.set_psk_offer(&offer);
    ch.bind(0, &KEY, &[]);
    let (err, wire) = fails(&mut server(), &raw::records(HANDSHAKE, &ch.encode()));
    assert_matches!(err, Error::PskRejected(PskRejection::UnknownIdentity));
    assert_eq!(wire, plain_alert(AlertDescription::DecryptError));
    // Two long identities and a long suite list make the ClientHello longer than the 64 KiB
    // message limit (each vector still within its own length field).
    let mut ch = default_hello();
    let mut offer = ch.psk_offer();
    offer.identities = vec![(vec![b'x'; 32000], 0), (vec![b'y'; 32700], 0)];
    offer.binders = vec![vec![0; 32], vec![0; 32]];
    ch.set_psk_offer(&offer);
    ch.cipher_suites = vec![CHACHA; 500];
    assert!(ch.encode().len() > 4 + 0xffff);
    let (err, wire) = fails(&mut server(), &raw::records(HANDSHAKE, &ch.encode()));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
}

/// ClientHello1 (X25519 share; secp256r1 offered) to a secp256r1-only server, which answers
/// with a HelloRetryRequest. Returns the server, ClientHello1 and the HRR message.
fn server_after_hello_retry_request() -> (PskServerConnection, ClientHello, Vec<u8>, Vec<u8>) {
    let (ch1, _) = scripted_hello(&[NamedGroup::X25519, NamedGroup::secp256r1]);
    let config = server_config()
        .with_groups(&[NamedGroup::secp256r1])
        .unwrap();
    let mut s = PskServerConnection::new(Arc::new(config));
    let ch1_msg = ch1.encode();
    deliver(&mut s, &record(HANDSHAKE, &ch1_msg)).unwrap();
    let out = parse_records(&take(&mut s));
    assert!(ServerHello::parse(&out[0].body).is_hrr());
    (s, ch1, ch1_msg, out[0].body.clone())
}

/// ClientHello2 for the HRR: one secp256r1 share, edited by `edit`, bound over the HRR
/// transcript (unless `edit` re-binds itself).
fn client_hello2(
    ch1: &ClientHello,
    ch1_msg: &[u8],
    hrr: &[u8],
    edit: impl FnOnce(&mut ClientHello),
) -> (ClientHello, Box<dyn ActiveKeyExchange>, Vec<u8>) {
    let mut ch2 = ch1.clone();
    let kx = raw::client_share(NamedGroup::secp256r1);
    ch2.set_key_shares(&[(P256, kx.pub_key())]);
    edit(&mut ch2);
    let mut prefix = raw::message_hash(ch1_msg);
    prefix.extend_from_slice(hrr);
    ch2.bind(0, &KEY, &prefix);
    (ch2, kx, prefix)
}

#[test]
fn hello_retry_request_round_trip_with_the_scripted_client() {
    // Control for the ClientHello2 cases.
    let (mut s, ch1, ch1_msg, hrr) = server_after_hello_retry_request();
    let (ch2, kx, prefix) = client_hello2(&ch1, &ch1_msg, &hrr, |_| {});
    let ch2_msg = ch2.encode();
    deliver(&mut s, &record(HANDSHAKE, &ch2_msg)).unwrap();
    let (keys, _) = read_server_flight(&prefix, &ch2_msg, kx, &parse_records(&take(&mut s)));
    let mut app = finish_client(&mut s, keys);
    server_still_works(&mut s, &mut app);
}

#[test]
fn client_hello2_that_breaks_the_hello_retry_request_is_illegal_parameter() {
    let edits: [fn(&mut ClientHello); 5] = [
        // Changed random or session ID.
        |ch| ch.random[0] ^= 1,
        |ch| ch.session_id[0] ^= 1,
        // early_data after a HelloRetryRequest.
        |ch| ch.set_ext(ext::EARLY_DATA, Vec::new()),
        // The share is not (only) for the requested group.
        |ch| {
            let kx = raw::client_share(NamedGroup::X25519);
            ch.set_key_shares(&[(X25519, kx.pub_key())]);
        },
        |ch| {
            let mut shares = ch.key_shares();
            let kx = raw::client_share(NamedGroup::X25519);
            shares.push((X25519, kx.pub_key().to_vec()));
            let refs: Vec<(u16, &[u8])> = shares.iter().map(|(g, k)| (*g, k.as_slice())).collect();
            ch.set_key_shares(&refs);
        },
    ];
    for edit in edits {
        let (mut s, ch1, ch1_msg, hrr) = server_after_hello_retry_request();
        let (ch2, _, _) = client_hello2(&ch1, &ch1_msg, &hrr, edit);
        let (err, wire) = fails(&mut s, &record(HANDSHAKE, &ch2.encode()));
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::IllegalParameter,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    }
}

#[test]
fn client_hello2_that_changes_what_it_offered_is_illegal_parameter() {
    // RFC 8446 §4.1.2: ClientHello2 repeats ClientHello1 except key_share, early_data,
    // cookie (echoed only if the HRR had one), pre_shared_key and padding.
    type Edit = (fn(&mut ClientHello), &'static str);
    let edits: [Edit; 6] = [
        (|ch| ch.cipher_suites.push(0x1304), "cipher_suites"),
        (
            |ch| ch.set_ext(ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&[P256]))),
            "supported_groups",
        ),
        (
            |ch| ch.set_ext(ext::PSK_KEY_EXCHANGE_MODES, raw::vec8(&[1, 0])),
            "psk_key_exchange_modes",
        ),
        (|ch| ch.set_ext(ext::ALPN, vec16(&raw::vec8(b"h2"))), "ALPN"),
        (
            |ch| {
                let mut entry = vec![0];
                entry.extend(vec16(b"aef.example"));
                ch.set_ext(ext::SERVER_NAME, vec16(&entry));
            },
            "server_name",
        ),
        (|ch| ch.set_ext(ext::COOKIE, vec16(b"c")), "cookie"),
    ];
    for (edit, field) in edits {
        let (mut s, ch1, ch1_msg, hrr) = server_after_hello_retry_request();
        let (ch2, _, _) = client_hello2(&ch1, &ch1_msg, &hrr, edit);
        let (err, wire) = fails(&mut s, &record(HANDSHAKE, &ch2.encode()));
        match &err {
            Error::PeerMisbehaved {
                alert: AlertDescription::IllegalParameter,
                what,
            } => assert!(what.contains(field), "{field}: {what}"),
            other => panic!("{field}: {other:?}"),
        }
        assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    }
}

#[test]
fn client_hello2_binder_without_the_hello_retry_transcript_is_decrypt_error() {
    // A binder over the truncated ClientHello2 alone (as if there had been no HRR).
    let (mut s, ch1, ch1_msg, hrr) = server_after_hello_retry_request();
    let (mut ch2, _, _) = client_hello2(&ch1, &ch1_msg, &hrr, |_| {});
    ch2.bind(0, &KEY, &[]);
    let (err, wire) = fails(&mut s, &record(HANDSHAKE, &ch2.encode()));
    assert_matches!(err, Error::PskRejected(PskRejection::BadBinder));
    assert_eq!(wire, plain_alert(AlertDescription::DecryptError));
}

// ----- interleaving ------------------------------------------------------------------------

#[test]
fn records_between_handshake_fragments_are_unexpected_message() {
    let ch_msg = default_hello().encode();
    let (a, b) = ch_msg.split_at(50);
    for between in [
        record(ALERT, &[1, u8::from(AlertDescription::UserCanceled)]),
        record(ALERT, &[2, u8::from(AlertDescription::InternalError)]),
        record(CCS, &[1]),
        record(APP_DATA, &[0; 32]),
    ] {
        let mut wire = record(HANDSHAKE, a);
        wire.extend(between);
        wire.extend(record(HANDSHAKE, b));
        let (err, out) = fails(&mut server(), &wire);
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::UnexpectedMessage,
                ..
            }
        );
        assert_eq!(out, plain_alert(AlertDescription::UnexpectedMessage));
    }
    // Control: the same fragments back to back are one valid ClientHello.
    let mut wire = record(HANDSHAKE, a);
    wire.extend(record(HANDSHAKE, b));
    deliver(&mut server(), &wire).unwrap();
}

/// The ClientHello followed, in the same record, by the start of the next handshake message.
fn client_hello_spanning_key_change() -> (Vec<u8>, Box<dyn ActiveKeyExchange>, Vec<u8>) {
    let (ch, kx) = scripted_hello(&[NamedGroup::X25519]);
    let ch_msg = ch.encode();
    let mut body = ch_msg.clone();
    body.extend_from_slice(&[hs::FINISHED, 0, 0, 32]);
    (ch_msg, kx, record(HANDSHAKE, &body))
}

#[test]
fn client_hello_and_more_handshake_data_in_one_record_is_unexpected_message() {
    let (ch_msg, kx, wire) = client_hello_spanning_key_change();
    let mut s = server();
    let (err, out) = fails(&mut s, &wire);
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    // The flight was queued before the error; the alert follows it under the server's
    // application key.
    let (keys, rest) = read_server_flight(&[], &ch_msg, kx, &parse_records(&out));
    let mut app = client_app_keys(&keys);
    let rest: Vec<u8> = rest.iter().flat_map(|r| record(r.typ, &r.body)).collect();
    assert_sealed_alert(&rest, &mut app.open, AlertDescription::UnexpectedMessage);
}

#[test]
fn deferred_server_detects_handshake_data_spanning_the_key_change() {
    let (ch_msg, kx, wire) = client_hello_spanning_key_change();
    let mut s =
        PskServerConnection::new_deferred(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))));
    deliver(&mut s, &wire).unwrap();
    assert!(s.is_awaiting_psk());
    let err = s.provide_psk(Some(psk())).unwrap_err();
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    let (keys, rest) = read_server_flight(&[], &ch_msg, kx, &parse_records(&take(&mut s)));
    let mut app = client_app_keys(&keys);
    let rest: Vec<u8> = rest.iter().flat_map(|r| record(r.typ, &r.body)).collect();
    assert_sealed_alert(&rest, &mut app.open, AlertDescription::UnexpectedMessage);
}

// =============================================================================================
// Server: after the handshake
// =============================================================================================

fn server_rejects_after_handshake(
    wire: impl FnOnce(&mut AppKeys) -> Vec<u8>,
    alert: AlertDescription,
) -> Error {
    let (mut s, mut app) = server_connected();
    let wire = wire(&mut app);
    let (err, out) = fails(&mut s, &wire);
    assert_eq!(err.alert(), Some(alert), "{err:?}");
    assert_sealed_alert(&out, &mut app.open, alert);
    err
}

#[test]
fn handshake_messages_after_the_handshake_other_than_key_update_are_unexpected_message() {
    let ch_msg = default_hello().encode();
    for message in [
        ch_msg,
        handshake(hs::FINISHED, &[0; 32]),
        handshake(hs::NEW_SESSION_TICKET, &[0; 16]),
        handshake(hs::END_OF_EARLY_DATA, &[]),
        handshake(hs::CERTIFICATE, &[0, 0, 0, 0]),
        handshake(hs::ENCRYPTED_EXTENSIONS, &[0, 0]),
    ] {
        let err = server_rejects_after_handshake(
            |app| app.seal.seal(HANDSHAKE, &message),
            AlertDescription::UnexpectedMessage,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn key_update_with_an_invalid_request_is_illegal_parameter() {
    let err = server_rejects_after_handshake(
        |app| app.seal.seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[2])),
        AlertDescription::IllegalParameter,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
    let err = server_rejects_after_handshake(
        |app| {
            app.seal
                .seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[0, 0]))
        },
        AlertDescription::DecodeError,
    );
    assert_matches!(err, Error::InvalidMessage { .. });
}

#[test]
fn key_update_followed_by_data_under_the_old_key_in_one_record_is_unexpected_message() {
    let mut body = handshake(hs::KEY_UPDATE, &[0]);
    body.extend(handshake(hs::KEY_UPDATE, &[0]));
    body.truncate(body.len() - 1);
    server_rejects_after_handshake(
        |app| app.seal.seal(HANDSHAKE, &body),
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn key_update_is_answered() {
    // Control for the KeyUpdate cases: a valid update_requested KeyUpdate is followed, and
    // both directions move to the next secrets (RFC 8446 §7.2).
    let (mut s, mut app) = server_connected();
    deliver(
        &mut s,
        &app.seal.seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[1])),
    )
    .unwrap();
    assert_eq!(s.key_update_counts(), (1, 1));
    let out = parse_records(&take(&mut s));
    assert_eq!(
        app.open.open(&out[0].body),
        (HANDSHAKE, handshake(hs::KEY_UPDATE, &[0]))
    );
    let mut next = app.next();
    server_still_works(&mut s, &mut next);
}

#[test]
fn key_update_requests_to_a_silent_peer_get_one_answer() {
    // RFC 8446 §4.6.3: an implementation that receives several update_requested KeyUpdates
    // while it is silent answers them with a single update. Answering each one would let a
    // peer grow our send queue without bound while the application only reads.
    let (mut s, app) = server_connected();
    let (mut peer_secret, engine_secret) = app.secrets;
    let mut seal = app.seal;
    let mut wire = Vec::new();
    for _ in 0..100 {
        wire.extend(seal.seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[1])));
        peer_secret = raw::next_secret(&peer_secret);
        seal = Sealer::new(&peer_secret);
        // A data record keeps the post-handshake message limit from tripping.
        wire.extend(seal.seal(APP_DATA, b"x"));
    }
    deliver(&mut s, &wire).unwrap();
    assert_eq!(common::read_all(&mut s), [b'x'; 100]);
    assert_eq!(s.key_update_counts(), (1, 100));
    let out = parse_records(&take(&mut s));
    assert_eq!(out.len(), 1, "one KeyUpdate answers all the requests");
    assert_eq!(
        Opener::new(&engine_secret).open(&out[0].body),
        (HANDSHAKE, handshake(hs::KEY_UPDATE, &[0]))
    );

    // Once it has sent data under the new key, a new request gets a new answer.
    let mut engine_secret = raw::next_secret(&engine_secret);
    s.writer().write_all(b"pong").unwrap();
    deliver(
        &mut s,
        &seal.seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[1])),
    )
    .unwrap();
    assert_eq!(s.key_update_counts(), (2, 101));
    let out = parse_records(&take(&mut s));
    let mut open = Opener::new(&engine_secret);
    assert_eq!(open.open(&out[0].body), (APP_DATA, b"pong".to_vec()));
    assert_eq!(
        open.open(&out[1].body),
        (HANDSHAKE, handshake(hs::KEY_UPDATE, &[0]))
    );
    engine_secret = raw::next_secret(&engine_secret);
    s.writer().write_all(b"after").unwrap();
    let out = parse_records(&take(&mut s));
    assert_eq!(
        Opener::new(&engine_secret).open(&out[0].body),
        (APP_DATA, b"after".to_vec())
    );
}

#[test]
fn a_key_update_request_crossing_ours_is_answered() {
    // RFC 8446 §4.6.3: when both sides request an update at once, each answers the other's
    // request (the keys move by two generations).
    let (mut s, mut app) = server_connected();
    let (_, engine_secret) = app.secrets;
    s.refresh_traffic_keys().unwrap();
    deliver(
        &mut s,
        &app.seal.seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[1])),
    )
    .unwrap();
    assert_eq!(s.key_update_counts(), (2, 1));
    let out = parse_records(&take(&mut s));
    assert_eq!(
        Opener::new(&engine_secret).open(&out[0].body),
        (HANDSHAKE, handshake(hs::KEY_UPDATE, &[1]))
    );
    let next = raw::next_secret(&engine_secret);
    assert_eq!(
        Opener::new(&next).open(&out[1].body),
        (HANDSHAKE, handshake(hs::KEY_UPDATE, &[0]))
    );
}

#[test]
fn change_cipher_spec_after_the_handshake_is_unexpected_message() {
    for body in [vec![1], vec![2]] {
        server_rejects_after_handshake(|_| record(CCS, &body), AlertDescription::UnexpectedMessage);
    }
}

#[test]
fn protected_change_cipher_spec_is_unexpected_message() {
    server_rejects_after_handshake(
        |app| app.seal.seal(CCS, &[1]),
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn unprotected_records_after_the_handshake_are_unexpected_message() {
    for r in [
        record(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[0])),
        plain_alert(AlertDescription::CloseNotify),
    ] {
        server_rejects_after_handshake(|_| r.clone(), AlertDescription::UnexpectedMessage);
    }
}

#[test]
fn protected_records_with_bad_inner_content_types_are_unexpected_message() {
    for inner in [0u8, 19, 24, 0xff] {
        server_rejects_after_handshake(
            |app| app.seal.seal(inner, &[0; 8]),
            AlertDescription::UnexpectedMessage,
        );
    }
}

#[test]
fn zero_length_protected_handshake_or_alert_content_is_unexpected_message() {
    // RFC 8446 §5.4: Handshake and Alert records must not have zero-length content.
    for typ in [HANDSHAKE, ALERT] {
        server_rejects_after_handshake(
            |app| app.seal.seal(typ, &[]),
            AlertDescription::UnexpectedMessage,
        );
    }
}

#[test]
fn protected_plaintext_over_2_14_is_record_overflow() {
    server_rejects_after_handshake(
        |app| app.seal.seal(APP_DATA, &vec![0x61; 16385]),
        AlertDescription::RecordOverflow,
    );
}

#[test]
fn protected_ciphertext_over_2_14_plus_256_is_record_overflow() {
    server_rejects_after_handshake(
        |_| {
            let mut wire = vec![APP_DATA, 3, 3, 0x41, 0x01];
            wire.extend(vec![0u8; 16641]);
            wire
        },
        AlertDescription::RecordOverflow,
    );
}

#[test]
fn empty_or_short_protected_records_are_bad_record_mac() {
    // Shorter than the AEAD tag: nothing authenticates, nothing may be dropped silently.
    for len in [0usize, 1, 16] {
        let err = server_rejects_after_handshake(
            |_| record(APP_DATA, &vec![0; len]),
            AlertDescription::BadRecordMac,
        );
        assert_matches!(err, Error::DecryptError);
        let err = client_rejects_after_handshake(
            |_| record(APP_DATA, &vec![0; len]),
            AlertDescription::BadRecordMac,
        );
        assert_matches!(err, Error::DecryptError);
        client_rejects_flight(
            |_| record(APP_DATA, &vec![0; len]),
            AlertDescription::BadRecordMac,
        );
    }
}

#[test]
fn tampered_record_is_bad_record_mac() {
    let err = server_rejects_after_handshake(
        |app| {
            let mut r = app.seal.seal(APP_DATA, b"hello");
            r[7] ^= 1;
            r
        },
        AlertDescription::BadRecordMac,
    );
    assert_matches!(err, Error::DecryptError);
}

// =============================================================================================
// Client: ServerHello and HelloRetryRequest
// =============================================================================================

#[test]
fn scripted_server_completes_a_handshake() {
    // Control for every ServerHello mutation below.
    let (mut c, mut app) = client_connected();
    assert_eq!(c.psk_identity(), Some(ID));
    c.writer().write_all(b"ping").unwrap();
    let out = parse_records(&take(&mut c));
    assert_eq!(app.open.open(&out[0].body), (APP_DATA, b"ping".to_vec()));
    deliver(&mut c, &app.seal.seal(APP_DATA, b"pong")).unwrap();
    assert_eq!(common::read_all(&mut c), b"pong");
}

fn assert_client_plain_alert((err, wire): (Error, Vec<u8>), alert: AlertDescription) -> Error {
    assert_eq!(err.alert(), Some(alert), "{err:?}");
    assert_eq!(wire, plain_alert(alert));
    err
}

#[test]
fn selected_identity_out_of_range_is_illegal_parameter() {
    for index in [1u16, 0xffff] {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
                sh.set_ext(ext::PRE_SHARED_KEY, index.to_be_bytes().to_vec())
            }),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn cipher_suite_not_offered_is_illegal_parameter() {
    // The client offers only chacha; the SHA-256 AES suite and the SHA-384 suite (whose hash
    // is not the PSK's, so the client never offers it) are both refused.
    for suite in [0x1301, 0x1302, 0x00ff, 0xc02f] {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
                sh.cipher_suite = suite
            }),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn suite_hash_differs_from_the_selected_psk_is_illegal_parameter() {
    // PSKs of both hashes: the client offers suites of both hashes.
    let config = PskClientConfig::new(psk())
        .with_additional_psk(
            ExternalPsk::new(b"sha384".to_vec(), &[7; 48], PskHash::Sha384).unwrap(),
        )
        .unwrap()
        .with_groups(&[NamedGroup::X25519])
        .unwrap();
    for (suite, identity) in [(0x1302u16, 0u16), (0x1303, 1), (0x1301, 1)] {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(config.clone(), |sh| {
                sh.cipher_suite = suite;
                sh.set_ext(ext::PRE_SHARED_KEY, identity.to_be_bytes().to_vec());
            }),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
    // Control: the SHA-384 suite with the SHA-384 identity is accepted.
    let (mut c, ch_msg) = start_client(config);
    let (mut sh, _) = answer(&ch_msg);
    sh.cipher_suite = 0x1302;
    sh.set_ext(ext::PRE_SHARED_KEY, vec![0, 1]);
    deliver(&mut c, &record(HANDSHAKE, &sh.encode())).unwrap();
}

#[test]
fn session_id_echo_mismatch_is_illegal_parameter() {
    let edits: [fn(&mut ServerHello); 3] = [
        |sh| sh.session_id[0] ^= 1,
        |sh| sh.session_id.clear(),
        |sh| sh.session_id.truncate(16),
    ];
    for edit in edits {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(client_config(&[NamedGroup::X25519]), edit),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn key_share_for_a_group_we_sent_no_share_for_is_illegal_parameter() {
    // secp256r1 is offered without a share; secp384r1 is not offered at all.
    for (group, name) in [(P256, NamedGroup::secp256r1), (P384, NamedGroup::secp384r1)] {
        let key = raw::client_share(name).pub_key().to_vec();
        let err = assert_client_plain_alert(
            client_rejects_server_hello(
                client_config(&[NamedGroup::X25519, NamedGroup::secp256r1]),
                |sh| sh.set_ext(ext::KEY_SHARE, key_share_entry(group, &key)),
            ),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn server_hello_without_supported_versions_is_protocol_version() {
    let err = assert_client_plain_alert(
        client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
            sh.remove_ext(ext::SUPPORTED_VERSIONS)
        }),
        AlertDescription::ProtocolVersion,
    );
    assert_matches!(err, Error::PeerIncompatible { .. });
}

#[test]
fn server_hello_selecting_an_older_version_is_illegal_parameter() {
    // RFC 8446 §4.2.1: a version not offered or prior to TLS 1.3 → illegal_parameter.
    for v in [0x0303u16, 0x0305] {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
                sh.set_ext(ext::SUPPORTED_VERSIONS, v.to_be_bytes().to_vec())
            }),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn server_hello_legacy_version_other_than_tls12_is_protocol_version() {
    for v in [0x0300u16, 0x0301, 0x0304] {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
                sh.legacy_version = v
            }),
            AlertDescription::ProtocolVersion,
        );
        assert_matches!(err, Error::PeerIncompatible { .. });
    }
}

#[test]
fn server_hello_compression_method_is_illegal_parameter() {
    let err = assert_client_plain_alert(
        client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
            sh.compression_method = 1
        }),
        AlertDescription::IllegalParameter,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

#[test]
fn server_hello_without_pre_shared_key_is_handshake_failure() {
    let err = assert_client_plain_alert(
        client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
            sh.remove_ext(ext::PRE_SHARED_KEY)
        }),
        AlertDescription::HandshakeFailure,
    );
    assert_matches!(err, Error::PeerIncompatible { .. });
}

#[test]
fn server_hello_with_an_extension_we_did_not_offer_is_unsupported_extension() {
    let err = assert_client_plain_alert(
        client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
            sh.extensions.push((ext::ALPN, vec16(&raw::vec8(b"h2"))))
        }),
        AlertDescription::UnsupportedExtension,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

/// Our client (X25519 share, secp256r1 offered) fed the HelloRetryRequest `hrr`.
fn client_rejects_hrr(edit: impl FnOnce(&[u8], &mut ServerHello)) -> (Error, Vec<u8>) {
    let (mut c, ch_msg) = start_client(client_config(&[NamedGroup::X25519, NamedGroup::secp256r1]));
    let ch = ClientHello::parse(&ch_msg);
    let mut hrr = raw::hello_retry_request(
        &ch.session_id,
        CHACHA,
        vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::KEY_SHARE, P256.to_be_bytes().to_vec()),
        ],
    );
    edit(&ch_msg, &mut hrr);
    fails(&mut c, &record(HANDSHAKE, &hrr.encode()))
}

#[test]
fn hello_retry_request_that_changes_nothing_is_illegal_parameter() {
    let err = assert_client_plain_alert(
        client_rejects_hrr(|_, hrr| hrr.remove_ext(ext::KEY_SHARE)),
        AlertDescription::IllegalParameter,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

#[test]
fn hello_retry_request_for_a_group_we_sent_a_share_for_is_illegal_parameter() {
    let err = assert_client_plain_alert(
        client_rejects_hrr(|_, hrr| hrr.set_ext(ext::KEY_SHARE, X25519.to_be_bytes().to_vec())),
        AlertDescription::IllegalParameter,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

#[test]
fn hello_retry_request_for_a_group_we_did_not_offer_is_illegal_parameter() {
    let err = assert_client_plain_alert(
        client_rejects_hrr(|_, hrr| hrr.set_ext(ext::KEY_SHARE, P384.to_be_bytes().to_vec())),
        AlertDescription::IllegalParameter,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

#[test]
fn hello_retry_request_with_a_suite_or_session_id_we_did_not_send_is_illegal_parameter() {
    for edit in [
        (|_: &[u8], hrr: &mut ServerHello| hrr.cipher_suite = 0x1301)
            as fn(&[u8], &mut ServerHello),
        |_, hrr| hrr.session_id[3] ^= 0x40,
    ] {
        let err =
            assert_client_plain_alert(client_rejects_hrr(edit), AlertDescription::IllegalParameter);
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn second_hello_retry_request_is_unexpected_message() {
    let (mut c, ch1_msg) =
        start_client(client_config(&[NamedGroup::X25519, NamedGroup::secp256r1]));
    let ch1 = ClientHello::parse(&ch1_msg);
    let hrr = raw::hello_retry_request(
        &ch1.session_id,
        CHACHA,
        vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::KEY_SHARE, P256.to_be_bytes().to_vec()),
        ],
    );
    let hrr_msg = hrr.encode();
    deliver(&mut c, &record(HANDSHAKE, &hrr_msg)).unwrap();

    // The client's answer: CCS, then ClientHello2 with one secp256r1 share and a binder over
    // message_hash(ClientHello1) || HRR || truncated ClientHello2 (checked independently).
    let out = parse_records(&take(&mut c));
    assert_eq!(
        out[0],
        Record {
            typ: CCS,
            body: vec![1]
        }
    );
    let ch2 = ClientHello::parse(&out[1].body);
    let shares = ch2.key_shares();
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].0, P256);
    let mut prefix = raw::message_hash(&ch1_msg);
    prefix.extend_from_slice(&hrr_msg);
    let mut rebound = ch2.clone();
    rebound.bind(0, &KEY, &prefix);
    assert_eq!(rebound.encode(), out[1].body, "ClientHello2 binder");

    for second in [
        hrr.clone(),
        raw::hello_retry_request(
            &ch1.session_id,
            CHACHA,
            vec![
                (ext::SUPPORTED_VERSIONS, vec![3, 4]),
                (ext::COOKIE, vec16(b"cookie")),
            ],
        ),
    ] {
        let mut c2 = PskClientConnection::new(Arc::new(client_config(&[
            NamedGroup::X25519,
            NamedGroup::secp256r1,
        ])))
        .unwrap();
        let ch = ClientHello::parse(&parse_records(&take(&mut c2))[0].body);
        let mut first = hrr.clone();
        first.session_id = ch.session_id.clone();
        deliver(&mut c2, &record(HANDSHAKE, &first.encode())).unwrap();
        take(&mut c2);
        let mut second = second;
        second.session_id = ch.session_id.clone();
        let (err, wire) = fails(&mut c2, &record(HANDSHAKE, &second.encode()));
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::UnexpectedMessage,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::UnexpectedMessage));
    }
}

#[test]
fn hello_retry_request_cookie_is_echoed_in_client_hello2() {
    // RFC 8446 §4.2.2: the client echoes the cookie of an HRR in ClientHello2; with no
    // key_share in the HRR the client's shares stay as they were (§4.1.2).
    let cookie = b"opaque server state \x00\xff".repeat(7);
    for with_group in [None, Some(P256)] {
        let (mut c, ch1_msg) =
            start_client(client_config(&[NamedGroup::X25519, NamedGroup::secp256r1]));
        let ch1 = ClientHello::parse(&ch1_msg);
        let mut extensions = vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::COOKIE, vec16(&cookie)),
        ];
        if let Some(group) = with_group {
            extensions.push((ext::KEY_SHARE, group.to_be_bytes().to_vec()));
        }
        let hrr_msg = raw::hello_retry_request(&ch1.session_id, CHACHA, extensions).encode();
        deliver(&mut c, &record(HANDSHAKE, &hrr_msg)).unwrap();

        let out = parse_records(&take(&mut c));
        let ch2 = ClientHello::parse(&out.last().unwrap().body);
        assert_eq!(
            ch2.ext(ext::COOKIE),
            Some(&vec16(&cookie)[..]),
            "cookie echo"
        );
        let groups: Vec<u16> = ch2.key_shares().iter().map(|(g, _)| *g).collect();
        match with_group {
            Some(group) => assert_eq!(groups, [group]),
            None => assert_eq!(ch2.key_shares(), ch1.key_shares()),
        }
        assert_eq!(ch2.session_id, ch1.session_id);
        assert_eq!(ch2.random, ch1.random);
        let mut prefix = raw::message_hash(&ch1_msg);
        prefix.extend_from_slice(&hrr_msg);
        let mut rebound = ch2.clone();
        rebound.bind(0, &KEY, &prefix);
        assert_eq!(
            rebound.encode(),
            out.last().unwrap().body,
            "ClientHello2 binder"
        );
    }
}

#[test]
fn application_data_before_the_server_hello_is_unexpected_message() {
    let (mut c, _) = start_client(client_config(&[NamedGroup::X25519]));
    let (err, wire) = fails(&mut c, &record(APP_DATA, &[0; 20]));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::UnexpectedMessage));
}

#[test]
fn alert_instead_of_server_hello_is_alert_received() {
    let (mut c, _) = start_client(client_config(&[NamedGroup::X25519]));
    let (err, wire) = fails(&mut c, &plain_alert(AlertDescription::IllegalParameter));
    assert_matches!(
        err,
        Error::AlertReceived(AlertDescription::IllegalParameter)
    );
    assert!(wire.is_empty());
}

#[test]
fn truncated_server_hello_then_eof_is_an_error() {
    let (mut c, ch_msg) = start_client(client_config(&[NamedGroup::X25519]));
    let (sh, _) = answer(&ch_msg);
    let wire = record(HANDSHAKE, &sh.encode());
    deliver(&mut c, &wire[..wire.len() - 3]).unwrap();
    assert_eq!(c.read_tls(&mut &b""[..]).unwrap(), 0);
    let err = c.process_new_packets().unwrap_err();
    assert_matches!(
        err,
        Error::InvalidMessage {
            alert: AlertDescription::DecodeError,
            ..
        }
    );
}

#[test]
fn invalid_server_key_share_is_illegal_parameter() {
    for key in [vec![0u8; 32], vec![5u8; 31]] {
        let err = assert_client_plain_alert(
            client_rejects_server_hello(client_config(&[NamedGroup::X25519]), |sh| {
                sh.set_ext(ext::KEY_SHARE, key_share_entry(X25519, &key))
            }),
            AlertDescription::IllegalParameter,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn server_hello_after_hello_retry_request_must_keep_its_suite_and_group() {
    // HRR for secp256r1 with chacha; the ServerHello then switches group or suite.
    let groups = [NamedGroup::X25519, NamedGroup::secp256r1];
    let config = PskClientConfig::new(psk())
        .with_cipher_suites(&[
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS13_AES_128_GCM_SHA256,
        ])
        .unwrap()
        .with_groups(&groups)
        .unwrap();
    for (suite, group) in [
        (0x1301u16, NamedGroup::secp256r1),
        (CHACHA, NamedGroup::X25519),
    ] {
        let (mut c, ch1_msg) = start_client(config.clone());
        let ch1 = ClientHello::parse(&ch1_msg);
        let hrr = raw::hello_retry_request(
            &ch1.session_id,
            CHACHA,
            vec![
                (ext::SUPPORTED_VERSIONS, vec![3, 4]),
                (ext::KEY_SHARE, P256.to_be_bytes().to_vec()),
            ],
        );
        deliver(&mut c, &record(HANDSHAKE, &hrr.encode())).unwrap();
        let out = parse_records(&take(&mut c));
        let ch2 = ClientHello::parse(&out.last().unwrap().body);
        let client_key = &ch2.key_shares()[0].1;
        let server_key = if group == NamedGroup::secp256r1 {
            raw::server_share(group, client_key).0
        } else {
            raw::client_share(group).pub_key().to_vec()
        };
        let (mut sh, _) = answer(&ch1_msg);
        sh.cipher_suite = suite;
        sh.set_ext(
            ext::KEY_SHARE,
            key_share_entry(u16::from(group), &server_key),
        );
        let (err, wire) = fails(&mut c, &record(HANDSHAKE, &sh.encode()));
        assert_matches!(
            err,
            Error::PeerMisbehaved {
                alert: AlertDescription::IllegalParameter,
                ..
            }
        );
        assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
    }
}

#[test]
fn short_server_finished_is_decode_error() {
    client_rejects_flight(
        |s| {
            let mut w = s.send(&ee_message(&[]));
            let fin = s.finished();
            w.extend(s.send(&handshake(hs::FINISHED, &fin[4..20])));
            w
        },
        AlertDescription::DecodeError,
    );
}

// =============================================================================================
// Client: the encrypted flight
// =============================================================================================

/// Feeds our client (waiting for EncryptedExtensions) what `flight` builds; the alert it sends
/// is protected under its handshake key.
fn client_rejects_flight(
    flight: impl FnOnce(&mut ScriptedServer) -> Vec<u8>,
    alert: AlertDescription,
) -> Error {
    let (mut c, mut s) = client_awaiting_encrypted_extensions();
    let wire = flight(&mut s);
    let (err, out) = fails(&mut c, &wire);
    assert_eq!(err.alert(), Some(alert), "{err:?}");
    assert_sealed_alert(&out, &mut s.open, alert);
    err
}

#[test]
fn certificate_messages_in_a_psk_handshake_are_unexpected_message() {
    for (typ, body) in [
        (hs::CERTIFICATE, vec![0, 0, 0, 0]),
        (hs::CERTIFICATE_REQUEST, vec![0, 0, 0]),
        (hs::CERTIFICATE_VERIFY, vec![8, 4, 0, 0]),
    ] {
        // In place of the Finished, after EncryptedExtensions ...
        let err = client_rejects_flight(
            |s| {
                let mut w = s.send(&ee_message(&[]));
                w.extend(s.send(&handshake(typ, &body)));
                w
            },
            AlertDescription::UnexpectedMessage,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
        // ... and in place of EncryptedExtensions.
        client_rejects_flight(
            |s| s.send(&handshake(typ, &body)),
            AlertDescription::UnexpectedMessage,
        );
    }
}

#[test]
fn finished_without_encrypted_extensions_is_unexpected_message() {
    client_rejects_flight(
        |s| {
            let fin = s.finished();
            s.send(&fin)
        },
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn wrong_server_finished_is_decrypt_error() {
    let err = client_rejects_flight(
        |s| {
            let mut w = s.send(&ee_message(&[]));
            let mut fin = s.finished();
            fin[10] ^= 1;
            w.extend(s.send(&fin));
            w
        },
        AlertDescription::DecryptError,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

#[test]
fn application_data_before_the_server_finished_is_unexpected_message() {
    client_rejects_flight(
        |s| {
            let mut w = s.send(&ee_message(&[]));
            w.extend(s.seal.seal(APP_DATA, b"0.5-RTT too soon"));
            w
        },
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn protected_change_cipher_spec_during_the_handshake_is_unexpected_message() {
    client_rejects_flight(
        |s| s.seal.seal(CCS, &[1]),
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn change_cipher_spec_with_a_body_other_than_1_is_unexpected_message() {
    for body in [vec![2], vec![1, 1], vec![]] {
        client_rejects_flight(|_| record(CCS, &body), AlertDescription::UnexpectedMessage);
    }
}

#[test]
fn records_inside_a_split_encrypted_extensions_are_unexpected_message() {
    for between in [APP_DATA, ALERT] {
        client_rejects_flight(
            |s| {
                let ee = ee_message(&[(0xfafa, vec![0; 40])]);
                s.transcript.extend_from_slice(&ee);
                let mut w = s.seal.seal(HANDSHAKE, &ee[..10]);
                let content = if between == ALERT {
                    vec![1, 90]
                } else {
                    b"x".to_vec()
                };
                w.extend(s.seal.seal(between, &content));
                w.extend(s.seal.seal(HANDSHAKE, &ee[10..]));
                w
            },
            AlertDescription::UnexpectedMessage,
        );
    }
    // A plaintext CCS inside the split message too.
    client_rejects_flight(
        |s| {
            let ee = ee_message(&[(0xfafa, vec![0; 40])]);
            let mut w = s.seal.seal(HANDSHAKE, &ee[..10]);
            w.extend(record(CCS, &[1]));
            w.extend(s.seal.seal(HANDSHAKE, &ee[10..]));
            w
        },
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn server_hello_and_encrypted_extensions_in_one_record_is_unexpected_message() {
    let (mut c, ch_msg) = start_client(client_config(&[NamedGroup::X25519]));
    let (sh, dhe) = answer(&ch_msg);
    let sh_msg = sh.encode();
    let mut body = sh_msg.clone();
    body.extend(ee_message(&[]));
    let (err, wire) = fails(&mut c, &record(HANDSHAKE, &body));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::UnexpectedMessage,
            ..
        }
    );
    // The client had switched keys: its CCS, then the alert under its handshake key.
    let mut s = ScriptedServer::new(&ch_msg, &sh_msg, Some(&dhe));
    let records = parse_records(&wire);
    assert_eq!(
        records[0],
        Record {
            typ: CCS,
            body: vec![1]
        }
    );
    assert_sealed_alert(
        &record(records[1].typ, &records[1].body),
        &mut s.open,
        AlertDescription::UnexpectedMessage,
    );
    assert_eq!(records.len(), 2);
}

#[test]
fn early_data_in_encrypted_extensions_is_unsupported_extension() {
    // We never offer early_data; RFC 8446 §4.2: an unsolicited extension response is
    // unsupported_extension.
    let err = client_rejects_flight(
        |s| s.send(&ee_message(&[(ext::EARLY_DATA, vec![])])),
        AlertDescription::UnsupportedExtension,
    );
    assert_matches!(err, Error::PeerMisbehaved { .. });
}

#[test]
fn supported_groups_in_encrypted_extensions_to_a_psk_ke_client_is_unsupported_extension() {
    // A psk_ke-only client sends no supported_groups, so the server may not send its own
    // (RFC 8446 §4.2: only extensions the client offered may appear in the answer).
    for (ee_extensions, expect) in [
        (vec![], None),
        (
            vec![(ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&[X25519])))],
            Some(AlertDescription::UnsupportedExtension),
        ),
    ] {
        let config = client_config(&[NamedGroup::X25519])
            .with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
        let (mut c, ch_msg) = start_client(config);
        let ch = ClientHello::parse(&ch_msg);
        assert_eq!(ch.ext(ext::SUPPORTED_GROUPS), None);
        let sh_msg = ServerHello {
            legacy_version: 0x0303,
            random: [0x5a; 32],
            session_id: ch.session_id.clone(),
            cipher_suite: CHACHA,
            compression_method: 0,
            extensions: vec![
                (ext::SUPPORTED_VERSIONS, vec![3, 4]),
                (ext::PRE_SHARED_KEY, vec![0, 0]),
            ],
        }
        .encode();
        deliver(&mut c, &record(HANDSHAKE, &sh_msg)).unwrap();
        take(&mut c);
        let mut s = ScriptedServer::new(&ch_msg, &sh_msg, None);
        let mut flight = s.send(&ee_message(&ee_extensions));
        let fin = s.finished();
        flight.extend(s.send(&fin));
        match expect {
            None => {
                deliver(&mut c, &flight).unwrap();
                assert!(!c.is_handshaking(), "control: psk_ke handshake completes");
            }
            Some(alert) => {
                let (err, out) = fails(&mut c, &flight);
                assert_eq!(err.alert(), Some(alert), "{err:?}");
                assert_sealed_alert(&out, &mut s.open, alert);
            }
        }
    }
}

#[test]
fn server_hello_without_the_key_share_the_hello_retry_request_asked_for_is_illegal_parameter() {
    // A client allowing psk_ke too: after an HRR naming a group, the ServerHello must carry
    // a share for it (RFC 8446 §4.2.8), not fall back to psk_ke.
    let config = client_config(&[NamedGroup::X25519, NamedGroup::secp256r1])
        .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    let (mut c, ch1_msg) = start_client(config);
    let ch1 = ClientHello::parse(&ch1_msg);
    let hrr = raw::hello_retry_request(
        &ch1.session_id,
        CHACHA,
        vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::KEY_SHARE, P256.to_be_bytes().to_vec()),
        ],
    );
    deliver(&mut c, &record(HANDSHAKE, &hrr.encode())).unwrap();
    take(&mut c);
    let sh = ServerHello {
        legacy_version: 0x0303,
        random: [0x5a; 32],
        session_id: ch1.session_id.clone(),
        cipher_suite: CHACHA,
        compression_method: 0,
        extensions: vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::PRE_SHARED_KEY, vec![0, 0]),
        ],
    };
    let (err, wire) = fails(&mut c, &record(HANDSHAKE, &sh.encode()));
    assert_matches!(
        err,
        Error::PeerMisbehaved {
            alert: AlertDescription::IllegalParameter,
            ..
        }
    );
    assert_eq!(wire, plain_alert(AlertDescription::IllegalParameter));
}

#[test]
fn encrypted_extensions_with_unsolicited_or_misplaced_extensions() {
    // ALPN we did not offer: unsupported_extension.
    client_rejects_flight(
        |s| s.send(&ee_message(&[(ext::ALPN, vec16(&raw::vec8(b"h2")))])),
        AlertDescription::UnsupportedExtension,
    );
    // key_share (which we sent) does not belong in EncryptedExtensions: illegal_parameter.
    client_rejects_flight(
        |s| {
            s.send(&ee_message(&[(
                ext::KEY_SHARE,
                key_share_entry(X25519, &[9; 32]),
            )]))
        },
        AlertDescription::IllegalParameter,
    );
    // Duplicate extension.
    client_rejects_flight(
        |s| {
            s.send(&ee_message(&[
                (ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&[X25519]))),
                (ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&[X25519]))),
            ]))
        },
        AlertDescription::IllegalParameter,
    );
}

// =============================================================================================
// Client: after the handshake
// =============================================================================================

fn client_rejects_after_handshake(
    wire: impl FnOnce(&mut AppKeys) -> Vec<u8>,
    alert: AlertDescription,
) -> Error {
    let (mut c, mut app) = client_connected();
    let wire = wire(&mut app);
    let (err, out) = fails(&mut c, &wire);
    assert_eq!(err.alert(), Some(alert), "{err:?}");
    assert_sealed_alert(&out, &mut app.open, alert);
    err
}

#[test]
fn new_session_ticket_is_ignored() {
    // Control: a well-formed NewSessionTicket is accepted and ignored.
    let (mut c, mut app) = client_connected();
    let mut body = vec![0, 0, 0x1c, 0x20, 1, 2, 3, 4];
    body.extend(raw::vec8(&[0]));
    body.extend(vec16(b"opaque ticket"));
    body.extend(vec16(&[]));
    deliver(
        &mut c,
        &app.seal
            .seal(HANDSHAKE, &handshake(hs::NEW_SESSION_TICKET, &body)),
    )
    .unwrap();
    deliver(&mut c, &app.seal.seal(APP_DATA, b"after ticket")).unwrap();
    assert_eq!(common::read_all(&mut c), b"after ticket");
}

#[test]
fn handshake_messages_after_the_handshake_other_than_key_update_or_ticket_are_unexpected_message() {
    for (typ, body) in [
        (hs::SERVER_HELLO, vec![3, 3]),
        (hs::FINISHED, vec![0; 32]),
        (hs::ENCRYPTED_EXTENSIONS, vec![0, 0]),
        (hs::CERTIFICATE_REQUEST, vec![0, 0, 0]),
        (hs::CLIENT_HELLO, vec![3, 3]),
    ] {
        let err = client_rejects_after_handshake(
            |app| app.seal.seal(HANDSHAKE, &handshake(typ, &body)),
            AlertDescription::UnexpectedMessage,
        );
        assert_matches!(err, Error::PeerMisbehaved { .. });
    }
}

#[test]
fn client_rejects_bad_key_update_and_tickets() {
    client_rejects_after_handshake(
        |app| app.seal.seal(HANDSHAKE, &handshake(hs::KEY_UPDATE, &[7])),
        AlertDescription::IllegalParameter,
    );
    // A NewSessionTicket with an empty ticket does not decode.
    client_rejects_after_handshake(
        |app| {
            app.seal.seal(
                HANDSHAKE,
                &handshake(
                    hs::NEW_SESSION_TICKET,
                    &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                ),
            )
        },
        AlertDescription::DecodeError,
    );
}

#[test]
fn client_rejects_change_cipher_spec_after_the_handshake() {
    client_rejects_after_handshake(|_| record(CCS, &[1]), AlertDescription::UnexpectedMessage);
    client_rejects_after_handshake(
        |app| app.seal.seal(CCS, &[1]),
        AlertDescription::UnexpectedMessage,
    );
}

#[test]
fn client_record_limits_after_the_handshake() {
    client_rejects_after_handshake(
        |app| app.seal.seal(APP_DATA, &vec![1; 16385]),
        AlertDescription::RecordOverflow,
    );
    client_rejects_after_handshake(
        |_| {
            let mut wire = vec![APP_DATA, 3, 3, 0xff, 0xff];
            wire.extend(vec![0u8; 0xffff]);
            wire
        },
        AlertDescription::RecordOverflow,
    );
    client_rejects_after_handshake(
        |app| app.seal.seal(HANDSHAKE, &[]),
        AlertDescription::UnexpectedMessage,
    );
    let err = client_rejects_after_handshake(
        |app| {
            let mut r = app.seal.seal(APP_DATA, b"data");
            let last = r.len() - 1;
            r[last] ^= 0x80;
            r
        },
        AlertDescription::BadRecordMac,
    );
    assert_matches!(err, Error::DecryptError);
    // Exactly 2^14 octets of content is fine.
    let (mut c, mut app) = client_connected();
    deliver(&mut c, &app.seal.seal(APP_DATA, &vec![1; 16384])).unwrap();
    assert_eq!(common::read_all(&mut c).len(), 16384);
}
