//! The AEF's side of HTTP on CAPIF-2e: accepted streams that know their API invoker
//! ([`InvokerStream`]), and (feature `axum`) `PskListener`, an `axum::serve::Listener` over
//! [`PskAcceptor`] that runs TLS-PSK handshakes concurrently.
//!
//! The invoker is the PSK identity the handshake authenticated (TS 33.122 §6.5.2.1: the AEF
//! authenticates the invoker by AEFPSK alone); [`InvokerStream::api_invoker_id`] gives it
//! without a fallible step, because [`PskAcceptor::accept_invoker`] validates it once.
//!
//! With axum, a handler takes it as `ConnectInfo<ApiInvokerId>` (or `ConnectInfo<PskAddr>`
//! for the peer address too):
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn demo(acceptor: rustls_capif::PskAcceptor) -> std::io::Result<()> {
//! use axum::extract::ConnectInfo;
//! use axum::{routing::get, Router};
//! use rustls_capif::http::server::PskListener;
//! use rustls_capif::http::ApiInvokerId;
//!
//! async fn hello(ConnectInfo(invoker): ConnectInfo<ApiInvokerId>) -> String {
//!     format!("hello, {invoker}")
//! }
//!
//! let app = Router::new().route("/hello", get(hello));
//! let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! let listener = PskListener::new(tcp, acceptor);
//! axum::serve(listener, app.into_make_service_with_connect_info::<ApiInvokerId>()).await?;
//! # Ok(()) }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ApiInvokerId;
use crate::error::Error;
use crate::rt::tokio::{PskAcceptor, ServerTlsStream};

/// A CAPIF-2e server stream whose PSK identity has been validated as an [`ApiInvokerId`].
/// `AsyncRead + AsyncWrite` like the [`ServerTlsStream`] it wraps.
#[derive(Debug)]
pub struct InvokerStream<IO> {
    inner: ServerTlsStream<IO>,
    api_invoker_id: ApiInvokerId,
}

impl<IO> InvokerStream<IO> {
    /// The API invoker this connection was authenticated as.
    pub fn api_invoker_id(&self) -> &ApiInvokerId {
        &self.api_invoker_id
    }

    /// The TLS stream (transport and connection state).
    pub fn get_ref(&self) -> &ServerTlsStream<IO> {
        &self.inner
    }

    /// The TLS stream, mutably.
    pub fn get_mut(&mut self) -> &mut ServerTlsStream<IO> {
        &mut self.inner
    }

    /// The TLS stream.
    pub fn into_inner(self) -> ServerTlsStream<IO> {
        self.inner
    }
}

impl PskAcceptor {
    /// [`accept`](Self::accept), then validates the authenticated PSK identity as an API
    /// invoker ID (UTF-8): the stream then answers
    /// [`api_invoker_id`](InvokerStream::api_invoker_id) infallibly.
    ///
    /// A connection whose identity is not one ([`Error::InvalidInvokerId`]) is dropped; in the
    /// CAPIF profile no key exists for such an identity, so only a non-CAPIF resolver can let
    /// one through.
    pub async fn accept_invoker<IO>(&self, io: IO) -> Result<InvokerStream<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let inner = self.accept(io).await?;
        let identity = inner.psk_identity().ok_or(Error::InvalidState(
            "a completed PSK handshake without an identity",
        ))?;
        let api_invoker_id = ApiInvokerId::try_from(identity)?;
        Ok(InvokerStream {
            inner,
            api_invoker_id,
        })
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for InvokerStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for InvokerStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(feature = "axum")]
pub use self::listener::{PskAddr, PskListener, DEFAULT_MAX_HANDSHAKES};

#[cfg(feature = "axum")]
mod listener {
    use core::fmt;
    use std::future::{poll_fn, Future};
    use std::io;
    use std::net::SocketAddr;
    use std::task::Poll;

    use ::tokio::net::TcpListener;
    use ::tokio::task::{JoinError, JoinSet};
    use axum::extract::connect_info::Connected;
    use axum::serve::{IncomingStream, Listener};

    use super::InvokerStream;
    use crate::error::Error;
    use crate::http::ApiInvokerId;
    use crate::rt::tokio::PskAcceptor;

    /// Default bound on TLS-PSK handshakes in flight in a [`PskListener`].
    pub const DEFAULT_MAX_HANDSHAKES: usize = 512;

    /// The address type of a [`PskListener`]: the peer's address and the API invoker.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct PskAddr<A = SocketAddr> {
        addr: A,
        api_invoker_id: Option<ApiInvokerId>,
    }

    impl<A> PskAddr<A> {
        /// The peer's address (for [`Listener::local_addr`], the local one).
        pub fn addr(&self) -> &A {
            &self.addr
        }

        /// The authenticated API invoker: always present for an accepted connection, `None`
        /// only for [`Listener::local_addr`]. `ConnectInfo<ApiInvokerId>` has no `Option`.
        pub fn api_invoker_id(&self) -> Option<&ApiInvokerId> {
            self.api_invoker_id.as_ref()
        }
    }

    type Accepted<L> = (
        InvokerStream<<L as Listener>::Io>,
        PskAddr<<L as Listener>::Addr>,
    );

    /// An `axum::serve::Listener` that accepts CAPIF-2e (TLS-PSK) connections.
    ///
    /// `accept` never waits on one client's handshake: each runs in its own task, with the
    /// [`PskAcceptor`]'s handshake timeout (keep one: without it a silent client holds its
    /// slot for good), and at most [`with_max_handshakes`](Self::with_max_handshakes) of them
    /// at once; beyond that new connections wait in the kernel's backlog. A failed handshake
    /// is logged (`log` crate: `debug`, or `warn` when the AEF could not get a key from its
    /// CCF) and the listener goes on; it is never returned to the server.
    ///
    /// Dropping the listener cancels the handshakes in flight.
    pub struct PskListener<L: Listener = TcpListener> {
        inner: L,
        acceptor: PskAcceptor,
        max_handshakes: usize,
        handshakes: JoinSet<Option<Accepted<L>>>,
    }

    impl<L: Listener> fmt::Debug for PskListener<L> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("PskListener")
                .field("acceptor", &self.acceptor)
                .field("max_handshakes", &self.max_handshakes)
                .field("handshakes_in_flight", &self.handshakes.len())
                .finish_non_exhaustive()
        }
    }

    impl<L: Listener> PskListener<L> {
        /// TLS-PSK over `inner` (a `tokio::net::TcpListener`, or any axum listener), with
        /// [`DEFAULT_MAX_HANDSHAKES`].
        pub fn new(inner: L, acceptor: PskAcceptor) -> Self {
            Self {
                inner,
                acceptor,
                max_handshakes: DEFAULT_MAX_HANDSHAKES,
                handshakes: JoinSet::new(),
            }
        }

        /// Sets the bound on handshakes in flight (at least 1).
        pub fn with_max_handshakes(mut self, max: usize) -> Self {
            self.max_handshakes = max.max(1);
            self
        }

        /// The listener inside.
        pub fn get_ref(&self) -> &L {
            &self.inner
        }
    }

    // Lives for one poll; boxing the accepted stream would cost an allocation per connection.
    #[allow(clippy::large_enum_variant)]
    enum Event<L: Listener> {
        Connection(L::Io, L::Addr),
        Handshake(Result<Option<Accepted<L>>, JoinError>),
    }

    impl<L> Listener for PskListener<L>
    where
        L: Listener,
        L::Addr: fmt::Debug + 'static,
    {
        type Io = InvokerStream<L::Io>;
        type Addr = PskAddr<L::Addr>;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                let Self {
                    inner,
                    handshakes,
                    max_handshakes,
                    ..
                } = self;
                let event = {
                    // Cancel-safe: a dropped `accept` loses no connection (the inner accept
                    // is cancel-safe as axum requires; finished handshakes stay in the set).
                    let mut connection = std::pin::pin!(inner.accept());
                    poll_fn(|cx| {
                        if let Poll::Ready(Some(done)) = handshakes.poll_join_next(cx) {
                            return Poll::Ready(Event::<L>::Handshake(done));
                        }
                        if handshakes.len() < *max_handshakes {
                            if let Poll::Ready((io, addr)) = connection.as_mut().poll(cx) {
                                return Poll::Ready(Event::Connection(io, addr));
                            }
                        }
                        Poll::Pending
                    })
                    .await
                };
                match event {
                    Event::Connection(io, addr) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes
                            .spawn(async move { handshake(acceptor, io, addr).await });
                    }
                    Event::Handshake(Ok(Some(accepted))) => return accepted,
                    Event::Handshake(Ok(None)) => {}
                    Event::Handshake(Err(e)) => {
                        if e.is_panic() {
                            log::warn!("CAPIF-2e handshake task panicked: {e}");
                        }
                    }
                }
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(PskAddr {
                addr: self.inner.local_addr()?,
                api_invoker_id: None,
            })
        }
    }

    async fn handshake<IO, A>(
        acceptor: PskAcceptor,
        io: IO,
        addr: A,
    ) -> Option<(InvokerStream<IO>, PskAddr<A>)>
    where
        IO: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin,
        A: fmt::Debug,
    {
        match acceptor.accept_invoker(io).await {
            Ok(stream) => {
                let api_invoker_id = Some(stream.api_invoker_id().clone());
                Some((
                    stream,
                    PskAddr {
                        addr,
                        api_invoker_id,
                    },
                ))
            }
            Err(e) => {
                if is_key_delivery(&e) {
                    log::warn!("CAPIF-2e handshake from {addr:?} refused: {e}");
                } else {
                    log::debug!("CAPIF-2e handshake from {addr:?} failed: {e}");
                }
                None
            }
        }
    }

    /// The AEF could not get the key (CAPIF-3): worth an operator's attention.
    fn is_key_delivery(e: &Error) -> bool {
        #[cfg(feature = "capif3")]
        if matches!(e, Error::KeyDelivery(_)) {
            return true;
        }
        let _ = e;
        false
    }

    impl<L> Connected<IncomingStream<'_, PskListener<L>>> for ApiInvokerId
    where
        L: Listener,
        L::Addr: fmt::Debug + 'static,
    {
        fn connect_info(stream: IncomingStream<'_, PskListener<L>>) -> Self {
            stream.io().api_invoker_id().clone()
        }
    }

    impl<L> Connected<IncomingStream<'_, PskListener<L>>> for PskAddr<L::Addr>
    where
        L: Listener,
        L::Addr: Clone + Sync + fmt::Debug + 'static,
    {
        fn connect_info(stream: IncomingStream<'_, PskListener<L>>) -> Self {
            stream.remote_addr().clone()
        }
    }
}
