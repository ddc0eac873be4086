//! The AEF's CAPIF-3 resolver against a CCF test server speaking TS 29.222 over mutually
//! authenticated TLS: caching, refresh on a newer key, and failing closed on every CCF fault.
#![cfg(feature = "capif3")]

mod capif3_common;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use capif3_common::*;
use pki::TestPki;
use rustls::AlertDescription;
use rustls_capif::capif3::*;
use rustls_capif::psk::{NoPskResolver, PskClientConfig, PskServerConfig};
use rustls_capif::rt::tokio::AsyncPskResolver;
use rustls_capif::{AefPsk, Error, PskAcceptor, PskConnector, ServiceApiInterface};

#[tokio::test]
async fn fetches_caches_and_refreshes() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.min_refresh_interval = Duration::ZERO).await;
    let k1 = AefPsk::from_bytes([1; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();

    assert_eq!(s.resolver.aef_psk("inv-1").await.unwrap(), Some(k1.clone()));
    assert_eq!(s.resolver.aef_psk("inv-1").await.unwrap(), Some(k1.clone()));
    assert_eq!(
        s.ccf.requests.load(Ordering::SeqCst),
        1,
        "second lookup must hit the cache"
    );

    assert_eq!(s.resolver.aef_psk("unknown-inv").await.unwrap(), None);
    let psk = s.resolver.resolve(b"inv-1").await.unwrap().unwrap();
    assert_eq!(psk.identity(), b"inv-1");

    // A newer CAPIF-1e session: refresh fetches the new key.
    let k2 = AefPsk::from_bytes([2; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k2.clone())))
        .await
        .unwrap();
    assert_eq!(
        s.resolver.aef_psk("inv-1").await.unwrap(),
        Some(k1),
        "still cached"
    );
    let fresh = s
        .resolver
        .refresh(b"inv-1")
        .expect("refresh allowed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fresh.fingerprint(),
        rustls_capif::psk::ExternalPsk::from_aef_psk("inv-1", &k2)
            .unwrap()
            .fingerprint()
    );

    // Identities that are not invoker IDs never reach the CCF.
    let before = s.ccf.requests.load(Ordering::SeqCst);
    assert!(s.resolver.resolve(b"../admin").await.unwrap().is_none());
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), before);
}

/// TS 29.222 answers errors with a TS 29.122 `ProblemDetails` (`application/problem+json`):
/// the resolver's `Accept` names both media types, and a 404 with a `ProblemDetails` body is
/// an unknown invoker (a decoy, cached), as before.
#[tokio::test]
async fn problem_details_answers_are_accepted() {
    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    assert_eq!(s.resolver.aef_psk("nobody").await.unwrap(), None);
    assert!(s.resolver.resolve(b"nobody").await.unwrap().is_some());
    assert_eq!(
        s.ccf.requests(),
        1,
        "the 404 ProblemDetails answer is cached"
    );
    let accept = s.ccf.accept.lock().unwrap().clone();
    assert_eq!(accept.len(), 1);
    let media: Vec<&str> = accept[0].split(',').map(|m| m.trim()).collect();
    assert!(
        media.contains(&"application/json") && media.contains(&"application/problem+json"),
        "Accept: {:?}",
        accept[0]
    );
}

#[tokio::test]
async fn every_ccf_fault_is_a_typed_error() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.fetch_timeout = Duration::from_millis(500)).await;
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))))
        .await
        .unwrap();
    for (behaviour, check) in [
        (
            Behaviour::ServerError,
            (|e: &KeyDeliveryError| matches!(e, KeyDeliveryError::HttpStatus(500)))
                as fn(&KeyDeliveryError) -> bool,
        ),
        // A ProblemDetails body does not make a 403 an "unknown invoker": this AEF may not ask.
        (Behaviour::Forbidden, |e| {
            matches!(e, KeyDeliveryError::HttpStatus(403))
        }),
        (Behaviour::MalformedJson, |e| {
            matches!(e, KeyDeliveryError::MalformedResponse(_))
        }),
        (Behaviour::HugeBody, |e| {
            matches!(e, KeyDeliveryError::MalformedResponse(_))
        }),
        (Behaviour::Slow, |e| {
            matches!(e, KeyDeliveryError::Timeout(_))
        }),
    ] {
        *s.ccf.behaviour.lock().unwrap() = behaviour;
        s.resolver.clear_cache();
        let err = s.resolver.aef_psk("inv-1").await.unwrap_err();
        match &err {
            Error::KeyDelivery(e) => assert!(check(e), "{behaviour:?}: {e:?}"),
            other => panic!("{behaviour:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn ccf_down_or_untrusted_fails_closed() {
    let pki = TestPki::new();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = Arc::new(pki.client_config(Some(&["aef.example"])));
    let aef = ServiceApiInterface::parse("127.0.0.1:8443").unwrap();
    let down = CcfKeyResolver::new(CcfKeyResolverConfig::new(
        format!("https://127.0.0.1:{port}"),
        tls,
        aef,
    ))
    .unwrap();
    assert!(matches!(
        down.aef_psk("inv-1").await.unwrap_err(),
        Error::KeyDelivery(KeyDeliveryError::Unreachable(_))
    ));

    // A CCF whose certificate is from another CA is not trusted.
    let s = setup(&pki, |c| {
        c.tls = Arc::new(TestPki::new().client_config(Some(&["aef.example"])))
    })
    .await;
    assert!(matches!(
        s.resolver.aef_psk("inv-1").await.unwrap_err(),
        Error::KeyDelivery(KeyDeliveryError::Unreachable(_))
    ));
}

/// The whole AEF path: acceptor + CCF resolver. A newer key is picked up, the old refused,
/// and with the CCF failing the handshake is refused with the same alert as a wrong key.
#[tokio::test]
async fn acceptor_with_ccf_resolver() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.min_refresh_interval = Duration::ZERO).await;
    let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
        .with_async_resolver(s.resolver.clone());
    let connect = |key: &AefPsk| {
        let connector =
            PskConnector::new(Arc::new(PskClientConfig::for_aef("inv-1", key).unwrap()));
        let acceptor = acceptor.clone();
        async move {
            let (a, b) = tokio::io::duplex(16 * 1024);
            let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
            let client = connector.connect(b).await.map(|_| ());
            (client, server.await.unwrap())
        }
    };
    let k1 = AefPsk::from_bytes([1; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();
    let (c, srv) = connect(&k1).await;
    c.unwrap();
    srv.unwrap();

    let k2 = AefPsk::from_bytes([2; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k2.clone())))
        .await
        .unwrap();
    let (c, srv) = connect(&k2).await;
    c.expect("new key accepted although the AEF had the old one cached");
    srv.unwrap();
    let (c, srv) = connect(&k1).await;
    assert!(matches!(
        c.unwrap_err(),
        Error::AlertReceived(AlertDescription::DecryptError)
    ));
    assert!(matches!(srv.unwrap_err(), Error::PskRejected(_)));

    *s.ccf.behaviour.lock().unwrap() = Behaviour::ServerError;
    s.resolver.clear_cache();
    let (c, srv) = connect(&k2).await;
    assert!(matches!(
        c.unwrap_err(),
        Error::AlertReceived(AlertDescription::DecryptError)
    ));
    assert!(matches!(
        srv.unwrap_err(),
        Error::KeyDelivery(KeyDeliveryError::HttpStatus(500))
    ));
}

#[tokio::test]
async fn an_invalidation_during_a_fetch_keeps_its_answer_out_of_the_cache() {
    // The AEF learns that a key changed while a fetch is under way: that fetch may carry the
    // old key, so it serves its own handshake but is not cached for the next ones.
    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))))
        .await
        .unwrap();
    *s.ccf.behaviour.lock().unwrap() = Behaviour::Slow;
    let resolver = s.resolver.clone();
    let in_flight = tokio::spawn(async move { resolver.aef_psk("inv-1").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), 1, "fetch under way");
    s.resolver.invalidate("inv-1");
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        Some(AefPsk::from_bytes([1; 32]))
    );

    *s.ccf.behaviour.lock().unwrap() = Behaviour::Normal;
    s.resolver.aef_psk("inv-1").await.unwrap();
    assert_eq!(
        s.ccf.requests.load(Ordering::SeqCst),
        2,
        "the answer of the invalidated fetch was cached"
    );
    s.resolver.aef_psk("inv-1").await.unwrap();
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), 2, "cached now");

    // Strings that are not invoker IDs never reach the CCF.
    for bad in ["..", ".", "../capif-security/v1/other", "a/b"] {
        assert_eq!(s.resolver.aef_psk(bad).await.unwrap(), None, "{bad}");
    }
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), 2);
}

/// "This invoker has no key for this AEF" is an answer, not a fault: a 404 and a
/// `ServiceSecurity` without an entry for this AEF are cached for the TTL like a key, as a
/// decoy key that `resolve` hands to the handshake (and `aef_psk` never shows).
#[tokio::test]
async fn unknown_invokers_are_cached_as_decoys() {
    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))))
        .await
        .unwrap();

    // 404.
    let decoy = s
        .resolver
        .resolve(b"nobody")
        .await
        .unwrap()
        .expect("a decoy");
    assert_eq!(decoy.identity(), b"nobody");
    assert_eq!(decoy.hash(), rustls_capif::psk::PskHash::Sha256);
    let again = s.resolver.resolve(b"nobody").await.unwrap().unwrap();
    assert_eq!(again.fingerprint(), decoy.fingerprint(), "the same decoy");
    assert_eq!(s.resolver.aef_psk("nobody").await.unwrap(), None);
    assert_eq!(s.ccf.requests(), 1, "the unknown answer was not cached");
    let other = s.resolver.resolve(b"nobody-else").await.unwrap().unwrap();
    assert_ne!(
        other.fingerprint(),
        decoy.fingerprint(),
        "decoys are random"
    );
    assert_eq!(s.ccf.requests(), 2);

    // A ServiceSecurity with no entry for this AEF: the invoker is registered elsewhere.
    *s.ccf.behaviour.lock().unwrap() = Behaviour::NoEntry;
    assert_eq!(s.resolver.aef_psk("inv-1").await.unwrap(), None);
    assert!(s.resolver.resolve(b"inv-1").await.unwrap().is_some());
    assert_eq!(s.ccf.requests(), 3, "a missing entry was not cached");

    // Faults are not answers: not cached.
    *s.ccf.behaviour.lock().unwrap() = Behaviour::ServerError;
    for _ in 0..2 {
        assert!(s.resolver.resolve(b"inv-2").await.is_err());
    }
    assert_eq!(s.ccf.requests(), 5);
}

/// Concurrent lookups of one invoker share one fetch, for a registered and an unknown
/// invoker alike.
#[tokio::test]
async fn concurrent_lookups_of_one_invoker_share_one_fetch() {
    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    *s.ccf.delay.lock().unwrap() = Duration::from_millis(300);
    let k1 = AefPsk::from_bytes([1; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();
    let lookups = (0..40).map(|i| {
        let resolver = s.resolver.clone();
        tokio::spawn(async move {
            let id: &[u8] = if i % 2 == 0 { b"inv-1" } else { b"nobody" };
            resolver.resolve(id).await.unwrap().unwrap().fingerprint()
        })
    });
    let prints: Vec<_> = futures_join(lookups).await;
    assert_eq!(s.ccf.requests(), 2, "one fetch per invoker");
    let real = rustls_capif::psk::ExternalPsk::from_aef_psk("inv-1", &k1)
        .unwrap()
        .fingerprint();
    assert!(prints.iter().step_by(2).all(|p| *p == real));
    assert!(prints.iter().skip(1).step_by(2).all(|p| *p == prints[1]));
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

/// `refresh` treats a decoy exactly as a real key: refused while the answer is younger than
/// `min_refresh_interval`, one fetch after, and the decoy kept while the CCF still says
/// unknown (as a real key stays the same).
#[tokio::test]
async fn refresh_treats_decoys_like_keys() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| {
        c.min_refresh_interval = Duration::from_millis(300)
    })
    .await;
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))))
        .await
        .unwrap();
    let mut before = Vec::new();
    for id in [&b"inv-1"[..], b"nobody"] {
        before.push(s.resolver.resolve(id).await.unwrap().unwrap().fingerprint());
        assert!(
            s.resolver.refresh(id).is_none(),
            "{id:?}: refreshed too soon"
        );
    }
    assert_eq!(s.ccf.requests(), 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    for (id, old) in [&b"inv-1"[..], b"nobody"].into_iter().zip(&before) {
        let fresh = s.resolver.refresh(id).expect("refresh allowed").await;
        assert_eq!(fresh.unwrap().unwrap().fingerprint(), *old, "{id:?}");
        assert!(
            s.resolver.refresh(id).is_none(),
            "{id:?}: throttle restarts"
        );
    }
    assert_eq!(s.ccf.requests(), 4, "one refetch each");

    // An invoker registered since its "unknown" answer was cached gets its key the same way.
    let key = AefPsk::from_bytes([9; 32]);
    s.ccf
        .store
        .register_session("nobody", Arc::new(Fixed(key.clone())))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let fresh = s
        .resolver
        .refresh(b"nobody")
        .expect("refresh allowed")
        .await;
    let real = rustls_capif::psk::ExternalPsk::from_aef_psk("nobody", &key).unwrap();
    assert_eq!(fresh.unwrap().unwrap().fingerprint(), real.fingerprint());
    assert_eq!(s.resolver.aef_psk("nobody").await.unwrap(), Some(key));
}

/// Decoys are bounded apart from keys: made-up identities evict only older decoys.
#[tokio::test]
async fn decoys_are_bounded_and_never_evict_keys() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| {
        c.max_cached_keys = 2;
        c.max_cached_unknown = 3;
    })
    .await;
    for (i, id) in ["inv-1", "inv-2"].iter().enumerate() {
        let key = AefPsk::from_bytes([i as u8 + 1; 32]);
        s.ccf
            .store
            .register_session(id, Arc::new(Fixed(key)))
            .await
            .unwrap();
        s.resolver.aef_psk(id).await.unwrap().unwrap();
    }
    for i in 0..10 {
        s.resolver
            .resolve(format!("made-up-{i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(s.ccf.requests(), 12);
    let shown = format!("{:?}", s.resolver);
    assert!(
        shown.contains("cached_keys: 2, cached_unknown: 3"),
        "{shown}"
    );
    // Both keys are still cached; of the decoys, the newest three.
    s.resolver.aef_psk("inv-1").await.unwrap().unwrap();
    s.resolver.aef_psk("inv-2").await.unwrap().unwrap();
    s.resolver.resolve(b"made-up-9").await.unwrap();
    s.resolver.resolve(b"made-up-7").await.unwrap();
    assert_eq!(s.ccf.requests(), 12, "a key or a recent decoy was evicted");
    s.resolver.resolve(b"made-up-0").await.unwrap();
    assert_eq!(
        s.ccf.requests(),
        13,
        "the oldest decoy was kept past the bound"
    );
}

/// With every slot busy and the queue full, a new lookup displaces the oldest waiter
/// (which fails as Overloaded), so it never waits behind a backlog.
#[tokio::test]
async fn a_full_fetch_queue_sheds_its_oldest_waiter() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| {
        c.max_concurrent_fetches = 1;
        c.max_queued_fetches = 1;
    })
    .await;
    *s.ccf.delay.lock().unwrap() = Duration::from_millis(300);
    let spawn = |id: &'static str| {
        let resolver = s.resolver.clone();
        tokio::spawn(async move { resolver.aef_psk(id).await })
    };
    let running = spawn("a");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let oldest = spawn("b");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let newest = spawn("c");
    assert!(matches!(
        tokio::time::timeout(Duration::from_millis(100), oldest).await,
        Ok(Ok(Err(Error::KeyDelivery(KeyDeliveryError::Overloaded))))
    ));
    assert_eq!(running.await.unwrap().unwrap(), None);
    assert_eq!(newest.await.unwrap().unwrap(), None);
    assert_eq!(*s.ccf.asked.lock().unwrap(), ["a", "c"]);
}

/// A TLS 1.2 handshake `(client, server)` of `identity` with `key` against `acceptor`.
async fn tls12_handshake(
    acceptor: PskAcceptor,
    identity: &'static str,
    key: AefPsk,
) -> (Result<(), Error>, Result<(), Error>) {
    let client = PskClientConfig::for_aef(identity, &key)
        .unwrap()
        .with_tls12(true)
        .with_tls13(false);
    let connector = PskConnector::new(Arc::new(client));
    let (a, b) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
    let client = connector.connect(b).await.map(|_| ());
    (client, server.await.unwrap())
}

fn tls12_acceptor(resolver: Arc<CcfKeyResolver>) -> PskAcceptor {
    let config = PskServerConfig::new(Arc::new(NoPskResolver)).with_tls12(true);
    PskAcceptor::new(Arc::new(config)).with_async_resolver(resolver)
}

/// TLS 1.2 has no binder, so a stale cached key shows only at the client's Finished: that
/// failed handshake makes the acceptor refresh the identity, and the invoker's next TLS 1.2
/// handshake succeeds (instead of failing until the TTL runs out).
#[tokio::test]
async fn tls12_wrong_key_refreshes_a_stale_cached_key() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.min_refresh_interval = Duration::ZERO).await;
    let acceptor = tls12_acceptor(s.resolver.clone());
    let k1 = AefPsk::from_bytes([1; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();
    let (c, srv) = tls12_handshake(acceptor.clone(), "inv-1", k1.clone()).await;
    c.unwrap();
    srv.unwrap();
    assert_eq!(s.ccf.requests(), 1);

    // A newer CAPIF-1e session: the AEF still has k1 cached.
    let k2 = AefPsk::from_bytes([2; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k2.clone())))
        .await
        .unwrap();
    let (c, srv) = tls12_handshake(acceptor.clone(), "inv-1", k2.clone()).await;
    assert!(
        matches!(
            c.unwrap_err(),
            Error::AlertReceived(AlertDescription::DecryptError)
        ),
        "the stale key fails this handshake"
    );
    assert!(matches!(
        srv.unwrap_err(),
        Error::PskRejected(rustls_capif::error::PskRejection::WrongKey)
    ));
    assert_eq!(s.ccf.requests(), 2, "one refresh after the failure");
    let (c, srv) = tls12_handshake(acceptor.clone(), "inv-1", k2.clone()).await;
    c.expect("the next TLS 1.2 handshake finds the fresh key");
    srv.unwrap();
    assert_eq!(s.ccf.requests(), 2, "served from the refreshed cache");
}

/// A flood of wrong-key TLS 1.2 handshakes costs the CCF no more than the TLS 1.3 refresh
/// does: at most one refetch per identity per `min_refresh_interval`, a registered invoker
/// and a decoy alike, and nothing for an identity that is not an invoker ID.
#[tokio::test]
async fn tls12_wrong_key_floods_refresh_within_the_rate_limit() {
    const INTERVAL: Duration = Duration::from_millis(200);
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.min_refresh_interval = INTERVAL).await;
    let acceptor = tls12_acceptor(s.resolver.clone());
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))))
        .await
        .unwrap();
    let wrong = AefPsk::from_bytes([9; 32]);
    for identity in ["inv-1", "nobody", "../admin"] {
        let before = s.ccf.requests();
        let start = std::time::Instant::now();
        let mut handshakes = 0;
        while start.elapsed() < Duration::from_millis(900) {
            let round: Vec<_> = (0..8)
                .map(|_| tokio::spawn(tls12_handshake(acceptor.clone(), identity, wrong.clone())))
                .collect();
            for (c, srv) in futures_join(round.into_iter()).await {
                assert!(c.is_err() && srv.is_err(), "{identity}: wrong key accepted");
                handshakes += 1;
            }
        }
        let elapsed = start.elapsed();
        let fetched = s.ccf.requests() - before;
        // The first lookup, then one refetch per started interval.
        let bound = if identity == "../admin" {
            0
        } else {
            1 + (elapsed.as_millis() / INTERVAL.as_millis()) as usize + 1
        };
        assert!(
            fetched <= bound,
            "{identity}: {fetched} CCF requests for {handshakes} handshakes in {elapsed:?}"
        );
        assert!(handshakes >= 16, "{identity}: only {handshakes} handshakes");
        if identity != "../admin" {
            // And the refresh does happen, for both: a registered invoker's is what heals a
            // stale key, and a decoy must cost the same.
            assert!(fetched >= 2, "{identity}: never refreshed ({fetched})");
        }
    }
}
