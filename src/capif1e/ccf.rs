//! The CCF's side of CAPIF-1e: a wrapper around a rustls [`ServerConfig`].

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::server::ProducesTickets;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::complete_handshake;
use super::keylog::MasterSecretCapture;
use super::session::{Capif1eSession, Policy};
use super::stream::TapStream;
use super::tap::HelloTaps;
use crate::error::Error;

/// The CCF's CAPIF-1e TLS server configuration: a rustls [`ServerConfig`] prepared so that
/// every connection yields a [`Capif1eSession`].
///
/// [`CcfConfig::new`] checks and changes the given config as follows and leaves everything
/// else (certificates, client authentication, versions, suites, ALPN…) as it was:
///
/// * its `session_storage` must be able to cache sessions (rustls's default in-memory cache
///   can): a rustls TLS 1.2 server sends a 32-octet Session ID only then, and without one
///   TS 33.122 Annex A.1 has no P1. A config whose storage cannot cache is refused with
///   [`Error::InvalidConfig`];
/// * stateless session tickets are turned off (the `ticketer` is replaced by one that never
///   issues tickets). In TLS 1.2 a ticket-resumed handshake echoes a Session ID the *client*
///   made up, not the one of the full handshake, so invoker and CCF would derive a key that
///   differs from the session's original AEFPSK. TLS 1.2 Session-ID resumption and TLS 1.3
///   resumption (stateful, through `session_storage`) keep working;
/// * its `key_log` becomes a capture that keeps TLS 1.2 master secrets for the session object
///   and forwards every call to the key log the config had.
///
/// Accept with [`accept`](Self::accept) (blocking), `CcfAcceptor` (tokio, feature `tokio`),
/// or your own I/O loop with [`HelloTaps`] and [`session`](Self::session).
///
/// The type is cheap to clone; clones share the rustls config and the secret capture.
#[derive(Clone, Debug)]
pub struct CcfConfig {
    config: Arc<ServerConfig>,
    capture: Arc<MasterSecretCapture>,
    policy: Policy,
}

impl CcfConfig {
    /// Wraps `config` (see the type documentation for the checks and changes).
    pub fn new(mut config: ServerConfig) -> Result<Self, Error> {
        if !config.session_storage.can_cache() {
            return Err(Error::InvalidConfig(
                "the CCF's rustls session_storage cannot cache sessions, so its TLS 1.2 \
                 ServerHello would carry an empty Session ID (no P1 for TS 33.122 Annex A.1); \
                 keep rustls's default ServerSessionMemoryCache or another caching store"
                    .to_string(),
            ));
        }
        if config.ticketer.enabled() {
            log::debug!("CAPIF-1e CCF: turning off stateless session tickets");
            config.ticketer = Arc::new(NoTickets);
        }
        let capture = Arc::new(MasterSecretCapture::new(config.key_log.clone()));
        config.key_log = capture.clone();
        Ok(Self {
            config: Arc::new(config),
            capture,
            policy: Policy::default(),
        })
    }

    /// Strict TS 33.122 Annex A.1 mode (default off): sessions that negotiated TLS 1.3 refuse
    /// to derive an AEFPSK with [`Error::Tls13NotAllowed`]. The connection itself is not
    /// refused (it may carry other CAPIF APIs); restrict the rustls config to TLS 1.2 to
    /// refuse it.
    pub fn strict_annex_a1(mut self, strict: bool) -> Self {
        self.policy.strict_annex_a1 = strict;
        self
    }

    /// Accept an empty Session ID (P1 with L1 = 0) instead of failing derivation with
    /// [`Error::EmptySessionId`] (default: not accepted). A `CcfConfig` always sends a Session
    /// ID in full TLS 1.2 handshakes; this matters for TLS 1.3 clients that send an empty
    /// `legacy_session_id`. Both ends must agree on it.
    pub fn allow_empty_session_id(mut self, allow: bool) -> Self {
        self.policy.allow_empty_session_id = allow;
        self
    }

    /// Bound on TLS 1.2 master secrets kept for handshakes that have not finished yet (default
    /// 1024, minimum 1); the oldest are dropped first. Each takes about 100 octets.
    pub fn max_pending_master_secrets(self, max: usize) -> Self {
        self.capture.set_capacity(max);
        self
    }

    /// The wrapped rustls config, for building connections yourself (then feed a
    /// [`HelloTaps`] and call [`session`](Self::session)).
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Accepts a connection over the **blocking** transport `io`: runs the TLS handshake to
    /// completion and returns the TLS stream and the CAPIF-1e session.
    pub fn accept<S: Read + Write>(
        &self,
        io: S,
    ) -> Result<(StreamOwned<ServerConnection, TapStream<S>>, Capif1eSession), Error> {
        let mut conn = ServerConnection::new(self.config.clone())?;
        let mut io = TapStream::server(io);
        complete_handshake(&mut conn, &mut io)?;
        let session = self.session(&conn, io.taps())?;
        Ok((StreamOwned::new(conn, io), session))
    }

    /// Builds the CAPIF-1e session of a connection made with [`server_config`](Self::server_config)
    /// whose handshake has finished; `taps` must have seen every byte the connection exchanged.
    ///
    /// Fails with [`Error::MalformedHello`] or [`Error::SecretsUnavailable`] if the key inputs
    /// could not be captured, and [`Error::InvalidState`] while still handshaking.
    pub fn session(
        &self,
        conn: &ServerConnection,
        taps: &HelloTaps,
    ) -> Result<Capif1eSession, Error> {
        Capif1eSession::capture(conn, taps, &self.capture, self.policy)
    }
}

/// A ticketer that never issues tickets (rustls's own is private).
#[derive(Debug)]
struct NoTickets;

impl ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}
