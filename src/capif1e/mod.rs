//! CAPIF-1e: AEFPSK from the invoker ↔ CCF TLS session, on both ends, without the
//! application ever reading a TLS secret.
//!
//! TS 33.122 Annex A.1 derives the AEFPSK that an API invoker and an AEF share on CAPIF-2e
//! from the CAPIF-1e TLS session between the invoker and the CCF:
//!
//! ```text
//! AEFPSK = KDF(Key, FC = 0x7A, P0 = service API interface, P1 = Session ID)   (TS 33.220 B.2)
//! Key    = master secret of the CAPIF-1e TLS session (48 octets in TLS 1.2)
//! P1     = Session ID of the CAPIF-1e TLS session
//! ```
//!
//! rustls exposes neither input. This module wraps the two rustls configs —
//! [`InvokerConfig`] around the invoker's `ClientConfig`, [`CcfConfig`] around the CCF's
//! `ServerConfig` — so that every connection yields a [`Capif1eSession`] that derives the
//! AEFPSK for any [`ServiceApiInterface`](crate::ServiceApiInterface). Both ends of one TLS
//! session derive the same key.
//!
//! # How the inputs are captured
//!
//! * **Secrets**: rustls reports them through the config's `KeyLog` — `CLIENT_RANDOM` (the
//!   TLS 1.2 master secret, for full and resumed handshakes, on both ends; the extended master
//!   secret when EMS is negotiated, which is the session's master secret) and `EXPORTER_SECRET`
//!   (TLS 1.3). Each connection runs on a shallow copy of the wrapped config with **its own**
//!   key log, so every captured secret belongs to that connection by construction — nothing is
//!   shared between connections or correlated after the fact. Every call is still forwarded to
//!   the key log the config had, so `SSLKEYLOGFILE` keeps working.
//! * **Session ID and randoms**: rustls does not expose them, so a [`HelloTap`] pair reads the
//!   plaintext `ClientHello` and `ServerHello` off the transport ([`TapStream`] wraps it). For
//!   TLS 1.2 the client random on the wire must equal the one rustls logged the master secret
//!   under.
//! * **Cost**: a config copy (~0.1 µs), the taps (pass-through once the hellos are seen) and a
//!   key log copy; the TLS 1.3 exporter value is only computed when an AEFPSK is derived. The
//!   `capif1e` criterion bench measures the handshake with and without the hook.
//!
//! # TLS 1.2: Session IDs and session tickets
//!
//! Annex A.1 needs a Session ID, but a TLS 1.2 server that issues an RFC 5077 session ticket
//! may leave the Session ID empty. Measured: an OpenSSL 3.0 TLS 1.2 server sends an **empty**
//! Session ID when the client offers session tickets, and a 32-octet one when it does not.
//! Therefore:
//!
//! * the invoker wrapper never offers TLS 1.2 tickets (`Tls12Resumption::SessionIdOnly`);
//!   Session-ID resumption keeps working;
//! * the CCF wrapper keeps rustls's session cache on (a rustls server sends a 32-octet Session
//!   ID only while it can cache) and turns stateless tickets off (a ticket-resumed TLS 1.2
//!   session echoes a Session ID the client made up);
//! * an empty Session ID that still arrives makes derivation fail with
//!   [`Error::EmptySessionId`], whose message says why, unless
//!   `allow_empty_session_id(true)` accepts P1 with L1 = 0.
//!
//! A handshake resumed by Session ID carries the master secret and Session ID of its full
//! handshake, so it derives the same AEFPSK.
//!
//! # TLS 1.3: refused by default, this crate's profile as an opt-in
//!
//! 3GPP has not specified AEFPSK for a TLS 1.3 CAPIF-1e session (no text up to TS 33.122
//! V18.3.0): TLS 1.3 has no exportable master secret, and its `legacy_session_id` is only a
//! compatibility echo. So, by default ([`Capif1eProfile::AnnexA1`], on both wrappers), a
//! TLS 1.3 session derives nothing and answers [`Error::Tls13NotAllowed`], a typed error whose
//! message names the two ways out:
//!
//! * negotiate **TLS 1.2** on CAPIF-1e for security method 1 — what works against any CCF. An
//!   invoker SDK gets a TLS 1.2-only rustls builder in one call,
//!   [`InvokerConfig::tls12_builder`], and continues it with its roots and client
//!   certificate;
//! * or select **this crate's profile**, [`Capif1eProfile::Tls13Exporter`], on **both** the
//!   invoker and the CCF ([`InvokerConfig::with_profile`], [`CcfConfig::with_profile`]).
//!
//! The profile is ours, not 3GPP's; another vendor's CCF cannot derive its key, which is why
//! it is never on by default (a silent mismatch would only surface as a bare `decrypt_error`
//! on CAPIF-2e):
//!
//! ```text
//! Key = TLS-Exporter(label = "EXPORTER-3GPP-CAPIF-AEFPSK", context = "" (empty), length = 32)
//! P1  = the legacy_session_id the server echoed in its ServerHello
//! ```
//!
//! The exporter master secret is captured when the handshake finishes and the exporter value
//! computed from it, exactly as rustls's `export_keying_material` would, when an AEFPSK is
//! derived.
//!
//! # When policy errors fire
//!
//! The profile and the empty-Session-ID rule are checked when an AEFPSK is derived
//! ([`Capif1eSession::derive_aef_psk`], or up front with [`Capif1eSession::check_policy`]),
//! not during the handshake: the CAPIF-1e connection also carries the other CAPIF APIs, so it
//! stays usable. Failures to *capture* the inputs (a malformed hello, a missing secret) are
//! errors of `connect` / `accept` / [`SessionCapture::session`].
//!
//! # Example
//!
//! Blocking invoker and CCF on loopback (certificates made with rcgen):
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//!
//! use rustls_capif::capif1e::{CcfConfig, InvokerConfig};
//! use rustls_capif::ServiceApiInterface;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let ca_key = rcgen::KeyPair::generate()?;
//! # let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
//! # ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
//! # let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
//! # let leaf_key = rcgen::KeyPair::generate()?;
//! # let leaf = rcgen::CertificateParams::new(vec!["ccf.example.com".to_string()])?
//! #     .signed_by(&leaf_key, &*ca)?;
//! # let cert_chain = vec![leaf.der().clone()];
//! # let private_key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into();
//! # let mut roots = rustls::RootCertStore::empty();
//! # roots.add(ca.der().clone())?;
//! let provider = rustls_capif::default_provider();
//! // CCF: any rustls ServerConfig with a certificate.
//! let ccf = CcfConfig::new(
//!     rustls::ServerConfig::builder_with_provider(provider.clone())
//!         .with_safe_default_protocol_versions()?
//!         .with_no_client_auth()
//!         .with_single_cert(cert_chain, private_key)?,
//! )?;
//! // Invoker: any rustls ClientConfig; TLS 1.2 for TS 33.122 Annex A.1 (the default
//! // profile), which works against any CCF. (A TLS 1.3 session would answer
//! // Error::Tls13NotAllowed unless both ends select Capif1eProfile::Tls13Exporter.)
//! let invoker = InvokerConfig::new(
//!     InvokerConfig::tls12_builder(provider)?
//!         .with_root_certificates(roots)
//!         .with_no_client_auth(),
//! );
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let ccf_thread = std::thread::spawn(move || -> Result<_, rustls_capif::Error> {
//!     let (tcp, _) = listener.accept()?;
//!     let (mut tls, session) = ccf.accept(tcp)?;
//!     let mut request = [0u8; 5];
//!     tls.read_exact(&mut request)?;
//!     tls.write_all(b"hello")?;
//!     Ok(session)
//! });
//!
//! let tcp = TcpStream::connect(addr)?;
//! let (mut tls, session) = invoker.connect("ccf.example.com".try_into()?, tcp)?;
//! tls.write_all(b"hello")?; // the connection carries CAPIF APIs as usual
//! let mut response = [0u8; 5];
//! tls.read_exact(&mut response)?;
//!
//! let aef = ServiceApiInterface::parse("aef.example.com:8443")?;
//! let invoker_psk = session.derive_aef_psk(&aef)?;
//! let ccf_psk = ccf_thread.join().unwrap()?.derive_aef_psk(&aef)?;
//! assert_eq!(invoker_psk, ccf_psk);
//! println!("{:?} AEFPSK fingerprint {}", session.protocol_version(), invoker_psk.fingerprint());
//! # Ok(()) }
//! ```
//!
#![cfg_attr(
    feature = "tokio",
    doc = "With tokio, use [`InvokerConnector`] and [`CcfAcceptor`] (feature `tokio`, on by default)."
)]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "With tokio, use `InvokerConnector` and `CcfAcceptor` (feature `tokio`, on by default)."
)]
//! With your own I/O loop, take a connection and its [`SessionCapture`] from
//! [`InvokerConfig::connection`] / [`CcfConfig::connection`], feed the capture the bytes each
//! side sends, and call [`SessionCapture::session`] once the handshake is done.

use std::io::{self, Read, Write};
use std::ops::DerefMut;

use rustls::ConnectionCommon;

use crate::error::Error;

mod ccf;
mod invoker;
mod keylog;
mod session;
mod stream;
mod tap;
#[cfg(feature = "tokio")]
mod tokio_adapters;

pub use ccf::CcfConfig;
pub use invoker::InvokerConfig;
#[cfg(feature = "capif3")]
pub(crate) use session::SessionInputs;
pub use session::{
    Capif1eProfile, Capif1eSession, KeySource, SessionCapture, TLS13_EXPORTER_LABEL,
    TLS13_EXPORTER_LEN,
};
pub use stream::TapStream;
pub use tap::{ClientHelloInfo, HelloKind, HelloTap, HelloTaps, ServerHelloInfo, TapState};
#[cfg(feature = "tokio")]
pub use tokio_adapters::{CcfAcceptor, InvokerConnector};

/// Drives a blocking handshake to completion (the final flight included).
fn complete_handshake<C, Data, S>(conn: &mut C, io: &mut S) -> Result<(), Error>
where
    C: DerefMut<Target = ConnectionCommon<Data>>,
    S: Read + Write,
{
    while !handshake_step(conn, io).map_err(io_error)? {}
    Ok(())
}

/// One round of handshake I/O; `true` once the handshake is complete.
fn handshake_step<C, Data, S>(conn: &mut C, io: &mut S) -> io::Result<bool>
where
    C: DerefMut<Target = ConnectionCommon<Data>>,
    S: Read + Write,
{
    if !conn.is_handshaking() {
        return Ok(true);
    }
    let (read, written) = conn.complete_io(io)?;
    if read == 0 && written == 0 && conn.is_handshaking() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(!conn.is_handshaking())
}

/// Turns an I/O error from rustls's I/O helpers back into the rustls error it may carry.
fn io_error(err: io::Error) -> Error {
    if !err
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
    {
        return Error::Io(err);
    }
    let kind = err.kind();
    match err
        .into_inner()
        .map(|inner| inner.downcast::<rustls::Error>())
    {
        Some(Ok(tls)) => Error::Rustls(*tls),
        Some(Err(other)) => Error::Io(io::Error::new(kind, other)),
        None => Error::Io(kind.into()),
    }
}
