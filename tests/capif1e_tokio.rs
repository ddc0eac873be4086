//! CAPIF-1e over tokio (tokio-rustls): the same guarantees as the blocking API.
#![cfg(feature = "tokio")]

mod capif1e_common;

use std::sync::Arc;

use capif1e_common::{
    client_config, random_at_fixed_offset, server_config, session_id_at_fixed_offset, Pki,
    Recording, RecordingKeyLog, Version, SERVER_NAME,
};
use rustls::pki_types::ServerName;
use rustls::{HandshakeKind, ProtocolVersion};
use rustls_capif::capif1e::{
    Capif1eProfile, Capif1eSession, CcfAcceptor, CcfConfig, InvokerConfig, InvokerConnector,
};
use rustls_capif::kdf::derive_aefpsk;
use rustls_capif::{Error, ServiceApiInterface};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn aef() -> ServiceApiInterface {
    ServiceApiInterface::parse("aef.example.com:8443").unwrap()
}

struct Outcome {
    invoker: Capif1eSession,
    ccf: Capif1eSession,
    client_kind: HandshakeKind,
    version: ProtocolVersion,
    client_flight: Vec<u8>,
    server_flight: Vec<u8>,
    server_exporter: [u8; 32],
}

async fn connect(connector: &InvokerConnector, acceptor: &CcfAcceptor) -> Outcome {
    let (client_io, server_io) = tokio::io::duplex(4096);
    let acceptor = acceptor.clone();
    let server = tokio::spawn(async move {
        let (rec, written) = Recording::new(server_io);
        let (mut tls, session) = acceptor.accept(rec).await.unwrap();
        let mut ping = [0u8; 4];
        tls.read_exact(&mut ping).await.unwrap();
        assert_eq!(&ping, b"ping");
        tls.write_all(b"pong").await.unwrap();
        tls.flush().await.unwrap();
        let exporter = tls
            .get_ref()
            .1
            .export_keying_material([0u8; 32], b"EXPORTER-3GPP-CAPIF-AEFPSK", Some(b""))
            .unwrap();
        let flight = written.lock().unwrap().clone();
        (session, flight, exporter, tls)
    });
    let (rec, written) = Recording::new(client_io);
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let (mut tls, invoker) = connector.connect(name, rec).await.unwrap();
    tls.write_all(b"ping").await.unwrap();
    tls.flush().await.unwrap();
    let mut pong = [0u8; 4];
    tls.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"pong");
    let (ccf, server_flight, server_exporter, _server_tls) = server.await.unwrap();
    let (_, conn) = tls.get_ref();
    let client_flight = written.lock().unwrap().clone();
    Outcome {
        invoker,
        ccf,
        client_kind: conn.handshake_kind().unwrap(),
        version: conn.protocol_version().unwrap(),
        client_flight,
        server_flight,
        server_exporter,
    }
}

/// A connector and an acceptor with the same CAPIF-1e `profile` on both ends.
fn pair(
    pki: &Pki,
    v: Version,
    log: &Arc<RecordingKeyLog>,
    profile: Capif1eProfile,
) -> (InvokerConnector, CcfAcceptor) {
    let mut sc = server_config(pki, Version::Both);
    sc.key_log = log.clone();
    (
        InvokerConnector::from(InvokerConfig::new(client_config(pki, v)).with_profile(profile)),
        CcfAcceptor::from(CcfConfig::new(sc).unwrap().with_profile(profile)),
    )
}

#[tokio::test]
async fn tls12_tokio_both_ends_derive_the_annex_a1_key_and_resume_to_it() {
    let pki = Pki::new();
    let log = Arc::new(RecordingKeyLog::default());
    let (connector, acceptor) = pair(&pki, Version::Tls12, &log, Capif1eProfile::AnnexA1);
    let full = connect(&connector, &acceptor).await;
    assert_eq!(full.version, ProtocolVersion::TLSv1_2);
    let sid = session_id_at_fixed_offset(&full.server_flight);
    assert_eq!(sid.len(), 32);
    let random = random_at_fixed_offset(&full.client_flight);
    let ms = log
        .client_random_lines()
        .into_iter()
        .find(|(cr, _)| cr[..] == random[..])
        .expect("rustls logged the master secret")
        .1;
    let expected = derive_aefpsk(&ms, &sid, &aef()).unwrap();
    assert_eq!(full.invoker.derive_aef_psk(&aef()).unwrap(), expected);
    assert_eq!(full.ccf.derive_aef_psk(&aef()).unwrap(), expected);

    let resumed = connect(&connector, &acceptor).await;
    assert_eq!(resumed.client_kind, HandshakeKind::Resumed);
    assert!(resumed.ccf.is_resumed());
    assert_eq!(resumed.invoker.derive_aef_psk(&aef()).unwrap(), expected);
    assert_eq!(resumed.ccf.derive_aef_psk(&aef()).unwrap(), expected);
}

#[tokio::test]
async fn tls13_tokio_both_ends_derive_the_exporter_profile_key() {
    let pki = Pki::new();
    let log = Arc::new(RecordingKeyLog::default());
    let (connector, acceptor) = pair(&pki, Version::Tls13, &log, Capif1eProfile::Tls13Exporter);
    let o = connect(&connector, &acceptor).await;
    assert_eq!(o.version, ProtocolVersion::TLSv1_3);
    let echoed = session_id_at_fixed_offset(&o.server_flight);
    assert_eq!(echoed, session_id_at_fixed_offset(&o.client_flight));
    let expected = derive_aefpsk(&o.server_exporter, &echoed, &aef()).unwrap();
    assert_eq!(o.invoker.derive_aef_psk(&aef()).unwrap(), expected);
    assert_eq!(o.ccf.derive_aef_psk(&aef()).unwrap(), expected);
    let other = connect(&connector, &acceptor).await;
    assert_ne!(other.invoker.derive_aef_psk(&aef()).unwrap(), expected);
}

#[tokio::test]
async fn tokio_default_profile_refuses_tls13_on_both_ends() {
    let pki = Pki::new();
    let connector = InvokerConnector::from(InvokerConfig::new(client_config(&pki, Version::Both)));
    let acceptor = CcfAcceptor::from(CcfConfig::new(server_config(&pki, Version::Both)).unwrap());
    let o = connect(&connector, &acceptor).await;
    assert!(matches!(
        o.invoker.derive_aef_psk(&aef()),
        Err(Error::Tls13NotAllowed)
    ));
    assert!(matches!(o.ccf.check_policy(), Err(Error::Tls13NotAllowed)));
    assert!(matches!(
        o.ccf.derive_aef_psk(&aef()),
        Err(Error::Tls13NotAllowed)
    ));
}

#[tokio::test]
async fn tokio_handshake_failure_is_the_rustls_error() {
    let pki = Pki::new();
    let other = Pki::new(); // the invoker trusts another CA
    let connector =
        InvokerConnector::from(InvokerConfig::new(client_config(&other, Version::Both)));
    let acceptor = CcfAcceptor::from(CcfConfig::new(server_config(&pki, Version::Both)).unwrap());
    let (client_io, server_io) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move { acceptor.accept(server_io).await.map(|_| ()) });
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let err = connector.connect(name, client_io).await.unwrap_err();
    assert!(
        matches!(err, Error::Rustls(rustls::Error::InvalidCertificate(_))),
        "{err:?}"
    );
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn silent_peers_are_cut_off_by_the_handshake_timeout() {
    // Both ends have a handshake timeout by default (a CCF must not be held by clients that
    // connect and say nothing); here a short one against peers that never speak.
    let pki = Pki::new();
    let log = Arc::new(RecordingKeyLog::default());
    let (connector, acceptor) = pair(&pki, Version::Both, &log, Capif1eProfile::AnnexA1);
    let limit = Some(std::time::Duration::from_millis(200));
    let (acceptor, connector) = (
        acceptor.with_handshake_timeout(limit),
        connector.with_handshake_timeout(limit),
    );
    let (server_io, _silent_client) = tokio::io::duplex(4096);
    let err = acceptor.accept(server_io).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::HandshakeTimeout), "{err:?}");
    let (client_io, _silent_server) = tokio::io::duplex(4096);
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let err = connector
        .connect(name, client_io)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, Error::HandshakeTimeout), "{err:?}");
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::TimedOut
    );
}
