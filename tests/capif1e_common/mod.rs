//! Test support shared by the integration tests: certificates (rcgen), rustls configs, an
//! independent key log, wire recording and a parser for the Session ID that does not use the
//! crate's tap, a temp dir, and in-memory handshakes.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

pub const SERVER_NAME: &str = "localhost";

/// A CA and a server certificate for `localhost` / 127.0.0.1 signed by it.
pub struct Pki {
    pub ca_der: CertificateDer<'static>,
    pub ca_pem: String,
    pub leaf_der: CertificateDer<'static>,
    pub leaf_pem: String,
    pub leaf_key_der: Vec<u8>,
    pub leaf_key_pem: String,
}

impl Pki {
    pub fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rustls-capif test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf =
            rcgen::CertificateParams::new(vec![SERVER_NAME.to_string(), "127.0.0.1".to_string()])
                .unwrap()
                .signed_by(&leaf_key, &*ca)
                .unwrap();
        Self {
            ca_der: ca.der().clone(),
            ca_pem: ca.pem(),
            leaf_der: leaf.der().clone(),
            leaf_pem: leaf.pem(),
            leaf_key_der: leaf_key.serialize_der(),
            leaf_key_pem: leaf_key.serialize_pem(),
        }
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        roots
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.leaf_key_der.clone()).into()
    }
}

pub fn versions(v: Version) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match v {
        Version::Tls12 => &TLS12,
        Version::Tls13 => &TLS13,
        Version::Both => rustls::ALL_VERSIONS,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
    Both,
}

pub fn client_config(pki: &Pki, v: Version) -> ClientConfig {
    ClientConfig::builder_with_provider(rustls_capif::default_provider())
        .with_protocol_versions(versions(v))
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth()
}

pub fn server_config(pki: &Pki, v: Version) -> ServerConfig {
    ServerConfig::builder_with_provider(rustls_capif::default_provider())
        .with_protocol_versions(versions(v))
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf_der.clone()], pki.key())
        .unwrap()
}

/// A key log written by the test: what rustls itself logged, untouched by the crate.
/// (label, client random, secret)
pub type KeyLogLine = (String, Vec<u8>, Vec<u8>);

#[derive(Debug, Default)]
pub struct RecordingKeyLog(Mutex<Vec<KeyLogLine>>);

impl RecordingKeyLog {
    /// The master secret rustls logged under `CLIENT_RANDOM`s (the `n`th one).
    pub fn client_random_lines(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(label, _, _)| label == "CLIENT_RANDOM")
            .map(|(_, cr, ms)| (cr.clone(), ms.clone()))
            .collect()
    }

    pub fn labels(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(l, _, _)| l.clone())
            .collect()
    }
}

impl rustls::KeyLog for RecordingKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push((label.to_string(), client_random.to_vec(), secret.to_vec()));
    }
}

/// A transport that records the first bytes written through it.
pub struct Recording<S> {
    pub inner: S,
    pub written: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recording<S> {
    pub fn new(inner: S) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                inner,
                written: written.clone(),
            },
            written,
        )
    }
}

impl<S: Read> Read for Recording<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Recording<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut w = self.written.lock().unwrap();
        if w.len() < 65_536 {
            w.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The Session ID of the hello at the start of `flight`, read at fixed offsets (independent of
/// the crate's tap): record header (5), handshake header (4), version (2), random (32),
/// session id length (1), session id. Works for rustls flights, whose first record starts with
/// the whole hello.
pub fn session_id_at_fixed_offset(flight: &[u8]) -> Vec<u8> {
    assert_eq!(flight[0], 22, "not a handshake record");
    assert!(flight[5] == 1 || flight[5] == 2, "not a hello");
    let len = usize::from(flight[5 + 4 + 2 + 32]);
    flight[5 + 4 + 2 + 32 + 1..][..len].to_vec()
}

/// The random of the hello at the start of `flight`, read at fixed offsets.
pub fn random_at_fixed_offset(flight: &[u8]) -> [u8; 32] {
    flight[5 + 4 + 2..][..32].try_into().unwrap()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "rustls-capif-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one direction of an in-memory handshake carried.
#[derive(Default)]
pub struct Wire {
    pub client_to_server: Vec<u8>,
    pub server_to_client: Vec<u8>,
}

/// Runs a handshake between `client` and `server` in memory, moving at most `chunk` bytes per
/// step (so records and messages get split), and records every byte of both directions.
pub fn handshake_in_memory(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    chunk: usize,
) -> Wire {
    let mut wire = Wire::default();
    let mut rounds = 0;
    while client.is_handshaking()
        || server.is_handshaking()
        || client.wants_write()
        || server.wants_write()
    {
        rounds += 1;
        assert!(rounds < 100_000, "handshake does not progress");
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        for part in buf.chunks(chunk) {
            wire.client_to_server.extend_from_slice(part);
            let mut rd = part;
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets().unwrap();
            }
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        for part in buf.chunks(chunk) {
            wire.server_to_client.extend_from_slice(part);
            let mut rd = part;
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets().unwrap();
            }
        }
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            break;
        }
    }
    wire
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

mod tokio_recording {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use super::Recording;

    impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let res = Pin::new(&mut this.inner).poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = res {
                let mut w = this.written.lock().unwrap();
                if w.len() < 65_536 {
                    w.extend_from_slice(&buf[..n]);
                }
            }
            res
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }
    }
}
