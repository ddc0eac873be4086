//! The API invoker's side of CAPIF-1e: a wrapper around a rustls [`ClientConfig`].

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::{Resumption, Tls12Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ConfigBuilder, StreamOwned, WantsVerifier};

use super::complete_handshake;
use super::keylog::ConnectionKeyLog;
use super::session::{Capif1eProfile, Capif1eSession, Policy, SessionCapture};
use super::stream::TapStream;
use crate::error::Error;

/// The API invoker's CAPIF-1e TLS client configuration: a rustls [`ClientConfig`] prepared so
/// that every connection yields a [`Capif1eSession`].
///
/// [`InvokerConfig::new`] changes the given config in exactly two ways and leaves everything
/// else (roots, client certificate, versions, suites, ALPN, session store…) as it was:
///
/// * each connection gets a shallow copy of the config whose `key_log` captures that
///   connection's secrets for its session object and forwards every call to the key log the
///   config had (e.g. `rustls::KeyLogFile`); the copies share the session store, verifier and
///   everything else behind `Arc`s, so resumption works across connections;
/// * TLS 1.2 session tickets are no longer offered (`Tls12Resumption::SessionIdOnly`):
///   a server that gets a ticket request may answer with an **empty** Session ID (OpenSSL 3.0
///   does), which leaves TS 33.122 Annex A.1 without its P1. Session-ID resumption keeps
///   working (and yields the AEFPSK of the full handshake); if the config had TLS 1.2
///   resumption disabled, it stays disabled.
///
/// Connect with [`connect`](Self::connect) (blocking), `InvokerConnector` (tokio, feature
/// `tokio`), or your own I/O loop with [`connection`](Self::connection) and the
/// [`SessionCapture`] it returns.
///
/// The type is cheap to clone; clones share the rustls config.
#[derive(Clone, Debug)]
pub struct InvokerConfig {
    config: Arc<ClientConfig>,
    policy: Policy,
}

impl InvokerConfig {
    /// Wraps `config` (see the type documentation for the two changes made to it).
    pub fn new(mut config: ClientConfig) -> Self {
        if !tls12_resumption_disabled(&config.resumption) {
            config.resumption = config
                .resumption
                .clone()
                .tls12_resumption(Tls12Resumption::SessionIdOnly);
        }
        Self {
            config: Arc::new(config),
            policy: Policy::default(),
        }
    }

    /// A rustls `ClientConfig` builder for CAPIF-1e restricted to **TLS 1.2**: what an invoker
    /// needs for CAPIF security method 1 against any CCF that follows TS 33.122 Annex A.1,
    /// whatever profile the CCF runs and whichever TLS versions it offers.
    ///
    /// It is `ClientConfig::builder_with_provider(provider).with_protocol_versions(&[TLS12])`,
    /// so it goes on like any rustls builder (roots or verifier, client certificate); pass the
    /// result to [`InvokerConfig::new`]. Fails with [`Error::Rustls`] if `provider` has no
    /// TLS 1.2 cipher suite or key exchange group.
    ///
    /// ```
    /// # fn main() -> Result<(), rustls_capif::Error> {
    /// use rustls_capif::capif1e::InvokerConfig;
    ///
    /// # let roots = rustls::RootCertStore::empty();
    /// let invoker = InvokerConfig::new(
    ///     InvokerConfig::tls12_builder(rustls_capif::default_provider())?
    ///         .with_root_certificates(roots)
    ///         .with_no_client_auth(), // or .with_client_auth_cert(chain, key)?
    /// );
    /// # drop(invoker); Ok(()) }
    /// ```
    pub fn tls12_builder(
        provider: Arc<CryptoProvider>,
    ) -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, Error> {
        Ok(ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?)
    }

    /// Selects the CAPIF-1e profile (default [`Capif1eProfile::AnnexA1`]: TS 33.122 Annex A.1
    /// as written, so a TLS 1.3 session answers [`Error::Tls13NotAllowed`] at derivation
    /// time). [`Capif1eProfile::Tls13Exporter`] adds this crate's TLS 1.3 exporter profile;
    /// select it only if the CCF runs this crate with the same profile, or the keys will
    /// differ. The connection itself is never refused (it may carry other CAPIF APIs).
    pub fn with_profile(mut self, profile: Capif1eProfile) -> Self {
        self.policy.profile = profile;
        self
    }

    /// The selected CAPIF-1e profile.
    pub fn profile(&self) -> Capif1eProfile {
        self.policy.profile
    }

    /// Accept an empty Session ID from the CCF (P1 with L1 = 0) instead of failing derivation
    /// with [`Error::EmptySessionId`] (default: not accepted). Both ends must agree on this.
    pub fn allow_empty_session_id(mut self, allow: bool) -> Self {
        self.policy.allow_empty_session_id = allow;
        self
    }

    /// A rustls config for **one** connection, and the capture that will yield its session.
    ///
    /// Use it where rustls wants a config (for example tokio-rustls or `rustls::quic`); for a
    /// `ClientConnection`, [`connection`](Self::connection) is shorter. Each config must serve a
    /// single connection: a second one makes both sessions unavailable (never wrong).
    pub fn connection_config(&self) -> (Arc<ClientConfig>, SessionCapture) {
        let key_log = Arc::new(ConnectionKeyLog::new(self.config.key_log.clone()));
        let mut config = (*self.config).clone();
        config.key_log = key_log.clone();
        (Arc::new(config), SessionCapture::new(key_log, self.policy))
    }

    /// A new rustls client connection to `server_name` and the capture that will yield its
    /// session (feed it the connection's bytes; see [`SessionCapture`]).
    pub fn connection(
        &self,
        server_name: ServerName<'static>,
    ) -> Result<(ClientConnection, SessionCapture), Error> {
        let (config, capture) = self.connection_config();
        Ok((ClientConnection::new(config, server_name)?, capture))
    }

    /// Connects over the **blocking** transport `io`: runs the TLS handshake to completion and
    /// returns the TLS stream and the CAPIF-1e session.
    ///
    /// The stream is a plain `rustls::StreamOwned`; the transport inside it is wrapped in a
    /// [`TapStream`] (`stream.get_ref()` / `stream.sock.into_inner()` reach it).
    pub fn connect<S: Read + Write>(
        &self,
        server_name: ServerName<'static>,
        io: S,
    ) -> Result<(StreamOwned<ClientConnection, TapStream<S>>, Capif1eSession), Error> {
        let (mut conn, capture) = self.connection(server_name)?;
        let mut io = TapStream::client(io);
        complete_handshake(&mut conn, &mut io)?;
        let session = capture.session_with_taps(&conn, io.taps())?;
        Ok((StreamOwned::new(conn, io), session))
    }
}

/// Whether TLS 1.2 resumption is switched off in `resumption`.
///
/// rustls keeps the TLS 1.2 mode private; its derived `Debug` output is the only way to read
/// it. A unit test pins the format, so a rustls change shows up in CI, and the fallback (not
/// detected) only means TLS 1.2 Session-ID resumption gets enabled.
fn tls12_resumption_disabled(resumption: &Resumption) -> bool {
    format!("{resumption:?}").ends_with("tls12_resumption: Disabled }")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_disabled_tls12_resumption() {
        assert!(tls12_resumption_disabled(&Resumption::disabled()));
        assert!(tls12_resumption_disabled(
            &Resumption::default().tls12_resumption(Tls12Resumption::Disabled)
        ));
        assert!(!tls12_resumption_disabled(&Resumption::default()));
        assert!(!tls12_resumption_disabled(
            &Resumption::in_memory_sessions(8).tls12_resumption(Tls12Resumption::SessionIdOnly)
        ));
        // What InvokerConfig::new produces from the default, as rustls prints it.
        let fixed = Resumption::default().tls12_resumption(Tls12Resumption::SessionIdOnly);
        assert!(format!("{fixed:?}").ends_with("tls12_resumption: SessionIdOnly }"));
    }
}
