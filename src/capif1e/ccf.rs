//! The CCF's side of CAPIF-1e: a wrapper around a rustls [`ServerConfig`].

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::server::ProducesTickets;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::keylog::ConnectionKeyLog;
use super::session::{Capif1eProfile, Capif1eSession, Policy, SessionCapture};
use super::stream::TapStream;
use super::{complete_handshake, handshake_step, io_error};
use crate::deadline::{run_within, TransportTimeouts};
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
/// * each connection gets a shallow copy of the config whose `key_log` captures that
///   connection's secrets for its session object and forwards every call to the key log the
///   config had; the copies share the session cache and everything else behind `Arc`s.
///
/// Accept with [`accept`](Self::accept) (blocking), `CcfAcceptor` (tokio, feature `tokio`),
/// or your own I/O loop with [`connection`](Self::connection) and the [`SessionCapture`] it
/// returns.
///
/// The type is cheap to clone; clones share the rustls config.
#[derive(Clone, Debug)]
pub struct CcfConfig {
    config: Arc<ServerConfig>,
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
        Ok(Self {
            config: Arc::new(config),
            policy: Policy::default(),
        })
    }

    /// Selects the CAPIF-1e profile (default [`Capif1eProfile::AnnexA1`]: TS 33.122 Annex A.1
    /// as written, so a TLS 1.3 session answers [`Error::Tls13NotAllowed`] at derivation
    /// time). [`Capif1eProfile::Tls13Exporter`] adds this crate's TLS 1.3 exporter profile;
    /// select it only if the invokers runs this crate with the same profile, or the keys will
    /// differ. The connection itself is never refused (it may carry other CAPIF APIs).
    pub fn with_profile(mut self, profile: Capif1eProfile) -> Self {
        self.policy.profile = profile;
        self
    }

    /// The selected CAPIF-1e profile.
    pub fn profile(&self) -> Capif1eProfile {
        self.policy.profile
    }

    /// Accept an empty Session ID (P1 with L1 = 0) instead of failing derivation with
    /// [`Error::EmptySessionId`] (default: not accepted). A `CcfConfig` sends a Session ID in
    /// full TLS 1.2 handshakes, except to a client that offers a session ticket (rustls then
    /// allocates none, even though this config cannot decrypt the ticket; the invoker wrapper
    /// never offers one, other TLS stacks may); it also matters for TLS 1.3 clients that send
    /// an empty `legacy_session_id`. Both ends must agree on it.
    pub fn allow_empty_session_id(mut self, allow: bool) -> Self {
        self.policy.allow_empty_session_id = allow;
        self
    }

    /// A rustls config for **one** connection, and the capture that will yield its session.
    ///
    /// Use it where rustls wants a config (for example `rustls::server::Accepted::
    /// into_connection` or tokio-rustls); for a `ServerConnection`,
    /// [`connection`](Self::connection) is shorter. Each config must serve a single
    /// connection: a second one makes both sessions unavailable (never wrong).
    pub fn connection_config(&self) -> (Arc<ServerConfig>, SessionCapture) {
        let key_log = Arc::new(ConnectionKeyLog::new(self.config.key_log.clone()));
        let mut config = (*self.config).clone();
        config.key_log = key_log.clone();
        (Arc::new(config), SessionCapture::new(key_log, self.policy))
    }

    /// A new rustls server connection and the capture that will yield its session (feed it
    /// the connection's bytes; see [`SessionCapture`]).
    pub fn connection(&self) -> Result<(ServerConnection, SessionCapture), Error> {
        let (config, capture) = self.connection_config();
        Ok((ServerConnection::new(config)?, capture))
    }

    /// Accepts a connection over the **blocking** transport `io`: runs the TLS handshake to
    /// completion and returns the TLS stream and the CAPIF-1e session.
    pub fn accept<S: Read + Write>(
        &self,
        io: S,
    ) -> Result<(StreamOwned<ServerConnection, TapStream<S>>, Capif1eSession), Error> {
        let (mut conn, capture) = self.connection()?;
        let mut io = TapStream::server(io);
        complete_handshake(&mut conn, &mut io)?;
        let session = capture.session_with_taps(&conn, io.taps())?;
        Ok((StreamOwned::new(conn, io), session))
    }

    /// Like [`accept`](Self::accept), with a limit on the whole handshake, however the client
    /// paces its bytes ([`Error::HandshakeTimeout`] when it runs out). The transport's
    /// timeouts are set to the time left before every read and write and restored at the end
    /// (see [`crate::deadline`]). A CCF facing untrusted clients on blocking I/O uses this.
    pub fn accept_within<S: Read + Write + TransportTimeouts>(
        &self,
        io: S,
        limit: Duration,
    ) -> Result<(StreamOwned<ServerConnection, TapStream<S>>, Capif1eSession), Error> {
        let (conn, capture) = self.connection()?;
        let mut state = (conn, TapStream::server(io));
        run_within(
            &mut state,
            limit,
            |s| &mut s.1,
            |s, deadline| handshake_step(&mut s.0, &mut deadline.guard(&mut s.1)),
        )
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => Error::HandshakeTimeout,
            _ => io_error(e),
        })?;
        let (conn, io) = state;
        let session = capture.session_with_taps(&conn, io.taps())?;
        Ok((StreamOwned::new(conn, io), session))
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
