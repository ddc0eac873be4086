//! RFC 9258 PSK importers between our client and our server: both importing, importing
//! against plain, a server accepting both, wrong key, unknown identity, context mismatch,
//! malformed imported identities, the deferred (sans-IO async) path and the tokio acceptor
//! with an async resolver. The identities on the wire are checked byte by byte against the
//! independent vectors of `tests/data/rfc9258_vectors.py`.

mod common;

use std::ops::DerefMut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{handshake, Side};
use rustls::{AlertDescription, CipherSuite};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::*;
use rustls_capif::rt::tokio::{AsyncPskResolver, PskAcceptor, PskConnector, ResolveFuture};
use rustls_capif::Error;

/// The EPSK of the first two vectors: identity "INV0001", key 00 01 .. 1f, SHA-256.
fn epsk() -> ExternalPsk {
    let key: Vec<u8> = (0u8..32).collect();
    ExternalPsk::new(b"INV0001".to_vec(), &key, PskHash::Sha256).unwrap()
}

fn vectors() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rfc9258_vectors.json"
    ))
    .unwrap();
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn server(keys: &[ExternalPsk], importer: Option<PskImporter>) -> PskServerConfig {
    let store: StaticPskResolver = keys.iter().cloned().collect();
    let config = PskServerConfig::new(Arc::new(store));
    match importer {
        Some(i) => config.with_psk_importer(i),
        None => config,
    }
}

fn client(psk: ExternalPsk, importer: Option<PskImporter>) -> PskClientConfig {
    let config = PskClientConfig::new(psk);
    match importer {
        Some(i) => config.with_psk_importer(i),
        None => config,
    }
}

fn run(
    client: PskClientConfig,
    server: PskServerConfig,
) -> (
    PskClientConnection,
    PskServerConnection,
    Result<(), (Side, Error)>,
) {
    let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
    let mut s = PskServerConnection::new(Arc::new(server));
    let r = handshake(&mut c, &mut s);
    (c, s, r)
}

/// Runs a handshake that must fail: the server refuses the PSK with `why` and sends
/// decrypt_error, which the client reports — as for any wrong key.
fn refused(client: PskClientConfig, server: PskServerConfig, why: PskRejection) {
    let (mut c, mut s, r) = run(client, server);
    let (side, err) = r.unwrap_err();
    assert_eq!(side, Side::Server, "{err:?}");
    assert!(
        matches!(&err, Error::PskRejected(w) if *w == why),
        "server: {err:?}"
    );
    assert_eq!(err.alert(), Some(AlertDescription::DecryptError));
    common::transfer(s.deref_mut(), c.deref_mut());
    let err = c.process_new_packets().unwrap_err();
    assert!(
        matches!(err, Error::AlertReceived(AlertDescription::DecryptError)),
        "client: {err:?}"
    );
    assert_eq!(s.psk_identity(), None);
}

#[test]
fn both_sides_importing() {
    for (kdfs, suite) in [
        // Default: one imported identity per hash of the configured suites, SHA-256 first.
        (None, CipherSuite::TLS13_AES_128_GCM_SHA256),
        (
            Some(vec![TargetKdf::HkdfSha384]),
            CipherSuite::TLS13_AES_256_GCM_SHA384,
        ),
    ] {
        let mut importer = PskImporter::new();
        if let Some(k) = &kdfs {
            importer = importer.with_target_kdfs(k).unwrap();
        }
        let (c, s, r) = run(
            client(epsk(), Some(importer.clone())),
            server(&[epsk()], Some(importer)),
        );
        r.unwrap();
        // Both sides report the external identity (the API invoker ID on CAPIF-2e).
        assert_eq!(s.psk_identity(), Some(&b"INV0001"[..]));
        assert_eq!(c.psk_identity(), Some(&b"INV0001"[..]));
        assert!(s.psk_is_imported() && c.psk_is_imported());
        // An AEFPSK (SHA-256) imported for HKDF_SHA384 runs a SHA-384 suite.
        assert_eq!(s.negotiated_cipher_suite(), Some(suite), "{kdfs:?}");
    }
}

#[test]
fn client_hello_carries_the_independent_encodings() {
    let vectors = vectors();
    // The client offers both KDFs: the identities of vectors 0 and 1, in that order, each
    // followed by obfuscated_ticket_age 0 (RFC 8446 §4.2.11: external PSKs use 0).
    let importer = PskImporter::new()
        .with_target_kdfs(&[TargetKdf::HkdfSha256, TargetKdf::HkdfSha384])
        .unwrap();
    let mut c = PskClientConnection::new(Arc::new(client(epsk(), Some(importer)))).unwrap();
    let mut hello = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut hello).unwrap();
    }
    let mut want = Vec::new();
    for v in &vectors[..2] {
        assert_eq!(unhex(v["external_identity"].as_str().unwrap()), b"INV0001");
        let id = unhex(v["imported_identity"].as_str().unwrap());
        want.extend_from_slice(&(id.len() as u16).to_be_bytes());
        want.extend_from_slice(&id);
        want.extend_from_slice(&[0, 0, 0, 0]);
    }
    let ids_len = (want.len() as u16).to_be_bytes();
    let mut list = ids_len.to_vec();
    list.extend_from_slice(&want);
    assert!(
        hello.windows(list.len()).any(|w| w == list.as_slice()),
        "the ClientHello's identities differ from the independent encoding"
    );
    // Nothing of the plain identity outside the imported ones.
    assert_eq!(
        hello.windows(7).filter(|w| *w == b"INV0001").count(),
        2,
        "the plain identity must not be offered as well"
    );
}

#[test]
fn importing_client_against_plain_server_and_back() {
    // The plain server does not know the imported identity: unknown, decrypt_error.
    refused(
        client(epsk(), Some(PskImporter::new())),
        server(&[epsk()], None),
        PskRejection::UnknownIdentity,
    );
    // A plain client against an importer-only server: the same.
    refused(
        client(epsk(), None),
        server(&[epsk()], Some(PskImporter::new())),
        PskRejection::UnknownIdentity,
    );
}

#[test]
fn server_accepting_both() {
    let both = PskImporter::new().accepting_non_imported(true);
    let (c, s, r) = run(
        client(epsk(), Some(PskImporter::new())),
        server(&[epsk()], Some(both.clone())),
    );
    r.unwrap();
    assert!(s.psk_is_imported() && c.psk_is_imported());
    assert_eq!(s.psk_identity(), Some(&b"INV0001"[..]));
    let (c, s, r) = run(client(epsk(), None), server(&[epsk()], Some(both)));
    r.unwrap();
    assert!(!s.psk_is_imported() && !c.psk_is_imported());
    assert_eq!(s.psk_identity(), Some(&b"INV0001"[..]));
}

#[test]
fn wrong_key_unknown_identity_and_other_context() {
    let wrong = ExternalPsk::new(b"INV0001".to_vec(), &[0x77; 32], PskHash::Sha256).unwrap();
    let other = ExternalPsk::new(b"INV0002".to_vec(), &[0x77; 32], PskHash::Sha256).unwrap();
    refused(
        client(epsk(), Some(PskImporter::new())),
        server(&[wrong], Some(PskImporter::new())),
        PskRejection::BadBinder,
    );
    refused(
        client(epsk(), Some(PskImporter::new())),
        server(std::slice::from_ref(&other), Some(PskImporter::new())),
        PskRejection::UnknownIdentity,
    );
    // With plain identities accepted too, an unknown imported one is still just unknown.
    refused(
        client(epsk(), Some(PskImporter::new())),
        server(
            &[other],
            Some(PskImporter::new().accepting_non_imported(true)),
        ),
        PskRejection::UnknownIdentity,
    );
    // A context the server does not use: not an identity it can know.
    let ctx = |c: &[u8]| PskImporter::new().with_context(c.to_vec()).unwrap();
    refused(
        client(epsk(), Some(ctx(b"client=a;server=b"))),
        server(&[epsk()], Some(ctx(b"client=a;server=c"))),
        PskRejection::UnknownIdentity,
    );
    let (_, s, r) = run(
        client(epsk(), Some(ctx(b"client=a;server=b"))),
        server(&[epsk()], Some(ctx(b"client=a;server=b"))),
    );
    r.unwrap();
    assert!(s.psk_is_imported());
}

/// The imported key offered as a plain PSK under the imported identity: the binder then uses
/// "ext binder", and an importing server (which checks "imp binder") refuses it. Without
/// the separate label the two would be interchangeable (RFC 9258 §5.2).
#[test]
fn imported_key_with_the_external_binder_label_is_refused() {
    let provider = rustls_capif::default_provider();
    let ipsk = import_psk(&epsk(), b"", TargetKdf::HkdfSha256, &provider).unwrap();
    // Vector 0 is this import: its identity and ipskx, as a plain PSK.
    let v = &vectors()[0];
    let identity = unhex(v["imported_identity"].as_str().unwrap());
    assert_eq!(identity, ipsk.identity());
    let ipskx = unhex(v["ipskx"].as_str().unwrap());
    let impostor = ExternalPsk::new(identity, &ipskx, PskHash::Sha256).unwrap();
    refused(
        client(impostor, None),
        server(&[epsk()], Some(PskImporter::new())),
        PskRejection::BadBinder,
    );
    // The real imported PSK, offered through `import_psk` and no client importer, works.
    let (_, s, r) = run(
        client(ipsk, None),
        server(&[epsk()], Some(PskImporter::new())),
    );
    r.unwrap();
    assert!(s.psk_is_imported());
}

#[test]
fn malformed_imported_identities_are_unknown_identities() {
    let good = unhex(vectors()[0]["imported_identity"].as_str().unwrap());
    let mut cases: Vec<Vec<u8>> = (1..good.len()).map(|n| good[..n].to_vec()).collect();
    for extra in [&[0u8][..], &[0, 0], &[1, 2, 3, 4, 5]] {
        let mut long = good.clone();
        long.extend_from_slice(extra);
        cases.push(long);
    }
    cases.push(vec![0, 0, 0, 0, 3, 4, 0, 1]); // zero-length external identity
    cases.push(vec![0xff, 0xff, 0, 0, 3, 4, 0, 1]); // external identity past the end
    cases.push(vec![
        0, 7, b'I', b'N', b'V', b'0', b'0', b'0', b'1', 0xff, 0xff, 3, 4, 0, 1,
    ]);
    for importer in [
        PskImporter::new(),
        PskImporter::new().accepting_non_imported(true),
    ] {
        for id in &cases {
            // The client offers the malformed identity as a plain PSK with the right key.
            let psk = ExternalPsk::new(id.clone(), &(0u8..32).collect::<Vec<_>>(), PskHash::Sha256)
                .unwrap();
            refused(
                client(psk, None),
                server(&[epsk()], Some(importer.clone())),
                PskRejection::UnknownIdentity,
            );
        }
    }
}

#[test]
fn deferred_server_asks_for_the_external_identity() {
    let importer = PskImporter::new();
    for (provided, ok) in [
        (epsk(), true),
        (
            ExternalPsk::new(b"INV0001".to_vec(), &[9; 32], PskHash::Sha256).unwrap(),
            false,
        ),
    ] {
        let mut c = PskClientConnection::new(Arc::new(client(
            epsk(),
            Some(
                importer
                    .clone()
                    .with_target_kdfs(&[TargetKdf::HkdfSha384, TargetKdf::HkdfSha256])
                    .unwrap(),
            ),
        )))
        .unwrap();
        let config =
            PskServerConfig::new(Arc::new(NoPskResolver)).with_psk_importer(importer.clone());
        let mut s = PskServerConnection::new_deferred(Arc::new(config));
        common::transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        assert!(s.is_awaiting_psk());
        // One imported identity per KDF, both naming the same external identity.
        assert_eq!(
            s.offered_psk_identities().unwrap(),
            &[b"INV0001".to_vec(), b"INV0001".to_vec()]
        );
        assert_eq!(s.offered_psk_matches(&provided), ok);
        let r = s.provide_psk(Some(provided));
        if ok {
            r.unwrap();
            handshake(&mut c, &mut s).unwrap();
            assert_eq!(s.psk_identity(), Some(&b"INV0001"[..]));
            assert!(s.psk_is_imported());
            // The first offered KDF, SHA-384, was chosen.
            assert_eq!(
                s.negotiated_cipher_suite(),
                Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
            );
        } else {
            let err = r.unwrap_err();
            assert!(
                matches!(err, Error::PskRejected(PskRejection::BadBinder)),
                "{err:?}"
            );
        }
    }
}

/// An async key store (like `capif3::CcfKeyResolver`) that counts lookups.
#[derive(Debug)]
struct Store {
    key: ExternalPsk,
    asked: std::sync::Mutex<Vec<Vec<u8>>>,
    calls: AtomicUsize,
}

impl AsyncPskResolver for Store {
    fn resolve<'a>(&'a self, identity: &'a [u8]) -> ResolveFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.asked.lock().unwrap().push(identity.to_vec());
            Ok((identity == self.key.identity()).then(|| self.key.clone()))
        })
    }
}

#[tokio::test]
async fn tokio_acceptor_with_async_resolver() {
    let store = Arc::new(Store {
        key: epsk(),
        asked: Default::default(),
        calls: AtomicUsize::new(0),
    });
    let config =
        PskServerConfig::new(Arc::new(NoPskResolver)).with_psk_importer(PskImporter::new());
    let acceptor = PskAcceptor::new(Arc::new(config)).with_async_resolver(store.clone());
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let tls = acceptor.accept(a).await?;
        Ok::<_, Error>((
            tls.psk_identity().map(<[u8]>::to_vec),
            tls.get_ref().1.psk_is_imported(),
        ))
    });
    let connector = PskConnector::new(Arc::new(client(epsk(), Some(PskImporter::new()))));
    let tls = connector.connect(b).await.unwrap();
    assert_eq!(tls.psk_identity(), Some(&b"INV0001"[..]));
    let (identity, imported) = server.await.unwrap().unwrap();
    assert_eq!(identity.as_deref(), Some(&b"INV0001"[..]));
    assert!(imported);
    // One lookup, for the external identity (not the ImportedIdentity encoding).
    assert_eq!(store.calls.load(Ordering::SeqCst), 1);
    assert_eq!(*store.asked.lock().unwrap(), vec![b"INV0001".to_vec()]);
}
