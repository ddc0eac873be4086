//! The tokio adapters on TLS 1.2 PSK connections: `PskConnector`/`PskAcceptor` unchanged, the
//! async resolver asked once per handshake — at the ClientKeyExchange, where TLS 1.2 carries
//! the identity — and unknown identities, wrong keys and an unreachable key store refused
//! with `decrypt_error` as on TLS 1.3.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::{AlertDescription, ProtocolVersion};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::*;
use rustls_capif::rt::tokio::{AsyncPskResolver, PskAcceptor, PskConnector, ResolveFuture};
use rustls_capif::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn key(id: &str, byte: u8) -> ExternalPsk {
    ExternalPsk::new(id.as_bytes().to_vec(), &[byte; 32], PskHash::Sha256).unwrap()
}

fn client12(psk: ExternalPsk) -> Arc<PskClientConfig> {
    Arc::new(PskClientConfig::new(psk).with_tls12(true).with_tls13(false))
}

/// A resolver that takes its time, counts calls, and can be told to fail.
#[derive(Debug)]
struct SlowStore {
    key: ExternalPsk,
    calls: AtomicUsize,
    fail: bool,
}

impl AsyncPskResolver for SlowStore {
    fn resolve<'a>(&'a self, identity: &'a [u8]) -> ResolveFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.fail {
                return Err(Error::InvalidState("key store unreachable"));
            }
            Ok((identity == self.key.identity()).then(|| self.key.clone()))
        })
    }
}

#[tokio::test]
async fn async_resolver_paths_on_tls12() {
    let k = key("invoker-7", 7);
    for (client_key, fail, expect) in [
        (k.clone(), false, None),
        (
            key("someone-else", 7),
            false,
            Some(PskRejection::UnknownIdentity),
        ),
        (key("invoker-7", 8), false, Some(PskRejection::WrongKey)),
        (k.clone(), true, Some(PskRejection::UnknownIdentity)),
    ] {
        let store = Arc::new(SlowStore {
            key: k.clone(),
            calls: AtomicUsize::new(0),
            fail,
        });
        let config = PskServerConfig::new(Arc::new(NoPskResolver)).with_tls12(true);
        let acceptor = PskAcceptor::new(Arc::new(config)).with_async_resolver(store.clone());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(a).await?;
            tls.write_all(b"welcome").await.map_err(Error::Io)?;
            tls.shutdown().await.map_err(Error::Io)?;
            Ok::<_, Error>(tls.psk_identity().map(<[u8]>::to_vec))
        });
        let connector = PskConnector::new(client12(client_key));
        let client = connector.connect(b).await;
        let server = server.await.unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
        match expect {
            None => {
                let mut tls = client.unwrap();
                assert_eq!(
                    tls.get_ref().1.protocol_version(),
                    Some(ProtocolVersion::TLSv1_2)
                );
                let mut got = Vec::new();
                tls.read_to_end(&mut got).await.unwrap();
                assert_eq!(got, b"welcome");
                assert_eq!(server.unwrap(), Some(b"invoker-7".to_vec()));
            }
            Some(reason) => {
                let err = client.unwrap_err();
                assert!(
                    matches!(err, Error::AlertReceived(AlertDescription::DecryptError)),
                    "client: {err:?}"
                );
                let err = server.unwrap_err();
                if fail {
                    assert!(
                        matches!(err, Error::InvalidState("key store unreachable")),
                        "{err:?}"
                    );
                } else {
                    assert!(
                        matches!(err, Error::PskRejected(r) if r == reason),
                        "{err:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn sync_resolver_and_mixed_versions_over_tokio() {
    let k = key("invoker-1", 1);
    let keys: StaticPskResolver = [k.clone()].into_iter().collect();
    let config = Arc::new(PskServerConfig::new(Arc::new(keys)).with_tls12(true));
    for (client, version) in [
        (client12(k.clone()), ProtocolVersion::TLSv1_2),
        (
            Arc::new(PskClientConfig::new(k.clone()).with_tls12(true)),
            ProtocolVersion::TLSv1_3,
        ),
    ] {
        let acceptor = PskAcceptor::new(config.clone());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(a).await?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(Error::Io)?;
            tls.write_all(&buf).await.map_err(Error::Io)?;
            tls.shutdown().await.map_err(Error::Io)?;
            Ok::<_, Error>(())
        });
        let mut tls = PskConnector::new(client).connect(b).await.unwrap();
        assert_eq!(tls.get_ref().1.protocol_version(), Some(version));
        tls.write_all(b"hello").await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        server.await.unwrap().unwrap();
    }
}
