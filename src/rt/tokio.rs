//! Async adapters for tokio, shaped like tokio-rustls: [`PskConnector`] and [`PskAcceptor`]
//! run the external-PSK handshake over any `AsyncRead + AsyncWrite` transport and give back a
//! [`TlsStream`] that is itself `AsyncRead + AsyncWrite`.
//!
//! All protocol logic stays in the sans-IO [`crate::psk`] core; this module only moves bytes.
//! A server can resolve keys asynchronously ([`AsyncPskResolver`]) — the AEF asking its CCF
//! over CAPIF-3 — without blocking the runtime: the handshake pauses after the ClientHello
//! until the key is known.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rustls_capif::psk::*;
//! use rustls_capif::rt::tokio::{PskAcceptor, PskConnector};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x42; 32], PskHash::Sha256)?;
//!
//! // AEF
//! let keys: StaticPskResolver = [psk.clone()].into_iter().collect();
//! let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(keys))));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let mut tls = acceptor.accept(tcp).await?;
//!     println!("invoker {:?} connected", tls.psk_identity());
//!     tls.write_all(b"hello").await?;
//!     tls.shutdown().await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! // Invoker
//! let connector = PskConnector::new(Arc::new(PskClientConfig::new(psk)));
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:8443").await?;
//! let mut tls = connector.connect(tcp).await?;
//! let mut greeting = Vec::new();
//! tls.read_to_end(&mut greeting).await?;
//! # Ok(()) }
//! ```

use core::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Error;
use crate::psk::{
    ExternalPsk, PskClientConfig, PskClientConnection, PskConnection, PskServerConfig,
    PskServerConnection,
};

/// Default limit on how long a handshake may take before it is abandoned.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The future type an [`AsyncPskResolver`] returns.
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<ExternalPsk>, Error>> + Send + 'a>>;

/// Finds the PSK for an offered identity, possibly doing I/O.
///
/// Return `Ok(None)` for an unknown identity, and `Err` when the answer cannot be known (the
/// key store is unreachable): the handshake is then refused — fail closed — and
/// [`PskAcceptor::accept`] returns that error.
pub trait AsyncPskResolver: Send + Sync + fmt::Debug {
    /// Looks up `identity`.
    fn resolve<'a>(&'a self, identity: &'a [u8]) -> ResolveFuture<'a>;

    /// Called when the key `resolve` gave does not match the client's binder: a caching
    /// resolver may fetch a fresh key (the invoker may have a newer one). `None` (the default)
    /// means there is nothing fresher, and the handshake fails as with a wrong key.
    ///
    /// TLS 1.2 has no binder: there [`PskAcceptor`] calls this after a handshake whose key
    /// `resolve` gave failed at the client's Finished with a wrong key (once, after the alert
    /// went out), and what it fetches serves the invoker's next handshake. Rate-limit it
    /// (as `CcfKeyResolver` does): a client can fail handshakes as often as it likes.
    fn refresh<'a>(&'a self, identity: &'a [u8]) -> Option<ResolveFuture<'a>> {
        let _ = identity;
        None
    }
}

/// Client-side stream.
pub type ClientTlsStream<IO> = TlsStream<IO, PskClientConnection>;
/// Server-side stream.
pub type ServerTlsStream<IO> = TlsStream<IO, PskServerConnection>;

/// Opens CAPIF-2e connections as a client (the API invoker).
#[derive(Clone, Debug)]
pub struct PskConnector {
    config: Arc<PskClientConfig>,
    handshake_timeout: Option<Duration>,
}

impl PskConnector {
    /// A connector using `config` and [`DEFAULT_HANDSHAKE_TIMEOUT`].
    ///
    /// The timeout uses `tokio::time`: run the handshakes in a runtime with the time driver
    /// (`enable_time` / `enable_all`), or turn the timeout off with `with_handshake_timeout(None)`.
    pub fn new(config: Arc<PskClientConfig>) -> Self {
        Self {
            config,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Sets the handshake timeout (`None`: wait forever).
    ///
    /// A timeout needs the tokio time driver: the handshake panics in a runtime built
    /// without it (`Builder::enable_time` or `enable_all`), as `tokio::time` does.
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Runs the handshake over `io`.
    pub async fn connect<IO>(&self, io: IO) -> Result<ClientTlsStream<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = PskClientConnection::new(self.config.clone())?;
        let mut stream = TlsStream::new(io, conn);
        with_timeout(self.handshake_timeout, stream.handshake()).await?;
        Ok(stream)
    }
}

impl From<Arc<PskClientConfig>> for PskConnector {
    fn from(config: Arc<PskClientConfig>) -> Self {
        Self::new(config)
    }
}

/// Accepts CAPIF-2e connections as a server (the AEF).
#[derive(Clone, Debug)]
pub struct PskAcceptor {
    config: Arc<PskServerConfig>,
    resolver: Option<Arc<dyn AsyncPskResolver>>,
    handshake_timeout: Option<Duration>,
}

impl PskAcceptor {
    /// An acceptor finding keys through the config's (synchronous) resolver, with
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    ///
    /// The timeout uses `tokio::time`: run the handshakes in a runtime with the time driver
    /// (`enable_time` / `enable_all`), or turn the timeout off with `with_handshake_timeout(None)`.
    pub fn new(config: Arc<PskServerConfig>) -> Self {
        Self {
            config,
            resolver: None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Finds keys through `resolver` instead, awaiting it after the ClientHello.
    ///
    /// The resolver is asked about one identity per handshake: the first one the client
    /// offers (the others are treated as unknown). A key store behind it (the CCF, for
    /// `capif3::CcfKeyResolver`) therefore sees at most one lookup,
    /// plus at most one [`refresh`](AsyncPskResolver::refresh), per handshake, however many
    /// identities a ClientHello carries.
    pub fn with_async_resolver(mut self, resolver: Arc<dyn AsyncPskResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Sets the handshake timeout (`None`: wait forever). The default,
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`], keeps a silent peer from holding a connection.
    ///
    /// A timeout needs the tokio time driver: the handshake panics in a runtime built
    /// without it (`Builder::enable_time` or `enable_all`), as `tokio::time` does.
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Runs the handshake over `io`.
    pub async fn accept<IO>(&self, io: IO) -> Result<ServerTlsStream<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = match self.resolver {
            Some(_) => PskServerConnection::new_deferred(self.config.clone()),
            None => PskServerConnection::new(self.config.clone()),
        };
        let mut stream = TlsStream::new(io, conn);
        let mut resolved = None;
        let result = with_timeout(
            self.handshake_timeout,
            self.drive(&mut stream, &mut resolved),
        )
        .await;
        if let Err(e) = result {
            self.refresh_after_tls12_failure(&mut stream, resolved, &e)
                .await;
            return Err(e);
        }
        Ok(stream)
    }

    /// TLS 1.2 has no binder: a stale cached key (the invoker has a newer AEFPSK) shows only
    /// as a wrong key at the client's Finished, after the handshake is lost. So when a TLS 1.2
    /// handshake whose key came from the async resolver fails that way, the resolver is asked
    /// to [`refresh`](AsyncPskResolver::refresh) that identity — once, after the alert is
    /// sent — and the invoker's next handshake finds the fresh key. This is the TLS 1.3
    /// binder-mismatch refresh one handshake later, under the same rate limit the resolver
    /// applies (`CcfKeyResolverConfig::min_refresh_interval`); an identity the resolver did
    /// not know (`None`) is never refreshed.
    async fn refresh_after_tls12_failure<IO>(
        &self,
        stream: &mut ServerTlsStream<IO>,
        resolved: Option<Vec<u8>>,
        error: &Error,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (Some(resolver), Some(identity)) = (&self.resolver, resolved) else {
            return;
        };
        if !stream.conn.provided_key_may_be_stale(error) {
            return;
        }
        // The alert first: the client's failure must not wait for the key store. Both steps
        // share one more `handshake_timeout`, so a failed TLS 1.2 handshake holds its slot for
        // at most twice the timeout in all.
        let flush_then_refresh = async {
            // A client already gone does not make the cached key any less stale.
            let _ = std::future::poll_fn(|cx| stream.poll_flush_tls(cx)).await;
            if let Some(fresh) = resolver.refresh(&identity) {
                // The answer is for the next handshake (the resolver caches it); this one has
                // failed whatever it says.
                fresh.await?;
            }
            Ok(())
        };
        let _ = with_timeout(self.handshake_timeout, flush_then_refresh).await;
    }

    /// Drives a server handshake; `resolved` is set to the identity the async resolver gave a
    /// key for.
    async fn drive<IO>(
        &self,
        stream: &mut ServerTlsStream<IO>,
        resolved: &mut Option<Vec<u8>>,
    ) -> Result<(), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            std::future::poll_fn(|cx| stream.poll_handshake(cx, |c| c.is_awaiting_psk())).await?;
            if !stream.conn.is_awaiting_psk() {
                return Ok(());
            }
            let resolver = self.resolver.as_ref().ok_or(Error::InvalidState(
                "deferred connection without a resolver",
            ))?;
            // One key lookup per handshake (see `psk_identity_to_resolve`).
            let first = stream.conn.psk_identity_to_resolve().map(<[u8]>::to_vec);
            let (found, failure) = match first {
                Some(identity) => {
                    match Self::lookup(resolver.as_ref(), &stream.conn, &identity).await {
                        Ok(psk) => {
                            if psk.is_some() {
                                *resolved = Some(identity);
                            }
                            (psk, None)
                        }
                        Err(e) => (None, Some(e)),
                    }
                }
                None => (None, None),
            };
            let provided = match failure {
                None => stream.conn.provide_psk(found).map(|_| ()),
                Some(_) => Err(stream.conn.refuse_psk()),
            };
            if let Err(refused) = provided {
                // Tell the peer (the alert is queued), then report the first cause.
                let _ = std::future::poll_fn(|cx| stream.poll_flush_tls(cx)).await;
                return Err(failure.unwrap_or(refused));
            }
        }
    }
}

impl PskAcceptor {
    /// Resolves one identity, refreshing once if the resolved key does not match the binder.
    async fn lookup(
        resolver: &dyn AsyncPskResolver,
        conn: &PskServerConnection,
        identity: &[u8],
    ) -> Result<Option<ExternalPsk>, Error> {
        let psk = match resolver.resolve(identity).await? {
            Some(psk) if psk.identity() == identity => psk,
            _ => return Ok(None),
        };
        if conn.offered_psk_matches(&psk) {
            return Ok(Some(psk));
        }
        match resolver.refresh(identity) {
            Some(fresh) => Ok(fresh.await?.filter(|p| p.identity() == identity)),
            // Keep the stale key: the handshake then fails as with any wrong key.
            None => Ok(Some(psk)),
        }
    }
}

impl From<Arc<PskServerConfig>> for PskAcceptor {
    fn from(config: Arc<PskServerConfig>) -> Self {
        Self::new(config)
    }
}

/// Runs `fut` within `limit` (`Error::HandshakeTimeout` when it runs out).
pub(crate) async fn with_timeout<T, F: Future<Output = Result<T, Error>>>(
    limit: Option<Duration>,
    fut: F,
) -> Result<T, Error> {
    match limit {
        Some(limit) => ::tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| Error::HandshakeTimeout)?,
        None => fut.await,
    }
}

/// An established (or establishing) PSK connection over an async transport.
pub struct TlsStream<IO, C> {
    io: IO,
    conn: C,
    close_notify_queued: bool,
}

impl<IO, C> TlsStream<IO, C> {
    /// The transport and the connection.
    pub fn get_ref(&self) -> (&IO, &C) {
        (&self.io, &self.conn)
    }

    /// The transport and the connection, mutably.
    pub fn get_mut(&mut self) -> (&mut IO, &mut C) {
        (&mut self.io, &mut self.conn)
    }

    /// The transport and the connection.
    pub fn into_inner(self) -> (IO, C) {
        (self.io, self.conn)
    }
}

impl<IO> ServerTlsStream<IO> {
    /// The authenticated PSK identity (the API invoker ID on CAPIF-2e).
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.conn.psk_identity()
    }
}

impl<IO> ClientTlsStream<IO> {
    /// The identity of the PSK the server accepted (of those the client offered).
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.conn.psk_identity()
    }
}

impl<IO, C: fmt::Debug> fmt::Debug for TlsStream<IO, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<IO, C> TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: PskConnection,
{
    fn new(io: IO, conn: C) -> Self {
        Self {
            io,
            conn,
            close_notify_queued: false,
        }
    }

    async fn handshake(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_handshake(cx, |_| false)).await
    }

    /// Drives the handshake until it completes or `pause` says to stop.
    fn poll_handshake(
        &mut self,
        cx: &mut Context<'_>,
        pause: impl Fn(&C) -> bool,
    ) -> Poll<Result<(), Error>> {
        loop {
            // Flushed too: a buffered transport must not hold a flight back.
            match self.poll_flush_tls(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
            if !self.conn.is_handshaking() || pause(&self.conn) {
                return Poll::Ready(Ok(()));
            }
            match self.poll_read_tls(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the connection during the handshake",
                    ))))
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(ReadError::Tls(e))) => {
                    // Last try to send the alert, without masking the error.
                    let _ = self.poll_flush_tls(cx);
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Err(ReadError::Io(e))) => return Poll::Ready(Err(Error::Io(e))),
            }
        }
    }

    /// Reads once from the transport and processes what arrived.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, ReadError>> {
        let mut reader = SyncReader {
            io: &mut self.io,
            cx,
        };
        let n = loop {
            match self.conn.read_tls(&mut reader) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(ReadError::Io(e))),
            }
        };
        match self.conn.process_new_packets() {
            Ok(_) => Poll::Ready(Ok(n)),
            Err(e) => Poll::Ready(Err(ReadError::Tls(e))),
        }
    }

    /// Writes all pending TLS bytes and flushes the transport.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_write_tls(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.io).poll_flush(cx),
            other => other,
        }
    }

    /// Writes all pending TLS bytes; `Pending` if the transport is not ready for all of them.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut writer = SyncWriter {
                io: &mut self.io,
                cx,
            };
            match self.conn.write_tls(&mut writer) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

enum ReadError {
    Io(io::Error),
    Tls(Error),
}

impl<IO, C> AsyncRead for TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: PskConnection + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Only as much of the caller's buffer as there is plaintext (at least one byte, for
            // the reader's EOF and WouldBlock answers) is initialized: zeroing all of a large
            // uninitialized buffer (hyper hands over 8 KiB and more) on every poll costs more
            // than a small request's decryption.
            let want = this.conn.buffered_plaintext().max(1);
            match this
                .conn
                .reader()
                .read(buf.initialize_unfilled_to(want.min(buf.remaining())))
            {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            match this.poll_read_tls(cx) {
                Poll::Pending => return Poll::Pending,
                // Anything this queued (a KeyUpdate answer) goes out with the next write or
                // flush: writing from the read path would steal the writer's wakeup.
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(ReadError::Io(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Err(ReadError::Tls(e))) => {
                    let _ = this.poll_flush_tls(cx);
                    return Poll::Ready(Err(e.into()));
                }
            }
        }
    }
}

impl<IO, C> AsyncWrite for TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: PskConnection + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let n = this.conn.writer().write(buf)?;
            if n == 0 && !buf.is_empty() && this.conn.wants_write() {
                // Buffers are full: make room first. (With nothing queued and still no room,
                // a zero buffer limit, the answer is Ok(0).)
                match this.poll_write_tls(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            // Taken: the bytes are ours to deliver, and the caller must hear so even if the
            // push below fails (a retried write would send them twice). Pushing them out now
            // is best effort; a transport error surfaces on the next write, flush or shutdown.
            let _ = this.poll_write_tls(cx);
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_tls(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_notify_queued {
            this.conn.send_close_notify();
            this.close_notify_queued = true;
        }
        match this.poll_write_tls(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}

/// `std::io::Read` over an `AsyncRead` in a poll context (Pending becomes WouldBlock).
struct SyncReader<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncRead + Unpin> Read for SyncReader<'_, '_, IO> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(out);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// `std::io::Write` over an `AsyncWrite` in a poll context (Pending becomes WouldBlock).
struct SyncWriter<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncWrite + Unpin> Write for SyncWriter<'_, '_, IO> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, data) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}
