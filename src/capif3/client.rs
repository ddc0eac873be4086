//! The AEF's HTTP client for CAPIF-3 (TS 29.222 `CAPIF_Security_API`, the CCF's
//! `trustedInvokers` resource): hyper-util's pooled client over [`CcfConnector`], a connector
//! opening mutually authenticated TLS (rustls, through tokio-rustls) to the CCF of one
//! `{apiRoot}`.
//!
//! * **Keep-alive pooling**: fetches reuse idle connections (at most
//!   [`pool_max_idle`](super::CcfKeyResolverConfig::pool_max_idle) kept, each for at most
//!   [`pool_idle_timeout`](super::CcfKeyResolverConfig::pool_idle_timeout)); `pool_max_idle = 0`
//!   opens a new connection per fetch.
//! * **TLS session resumption** (RFC 8446 §2.2): every connection is made with the one
//!   `Arc<rustls::ClientConfig>` the resolver holds, so its session cache (rustls's in-memory
//!   cache unless the config says otherwise) resumes the CCF sessions of earlier connections.
//! * **HTTP/2 by ALPN** (RFC 7301, RFC 9113 §3.2): the connector offers `h2` then `http/1.1`
//!   (or `http/1.1` only); when the CCF selects `h2`, hyper-util multiplexes every fetch over
//!   that connection.
//! * **At most `max_concurrent_fetches` connections open** (the connections hold permits of a
//!   semaphore): hyper-util may go on opening a connection in the background for a request
//!   that an idle connection served meanwhile; such a connection waits for a permit (at
//!   most the fetch timeout).
//! * **One HTTP/2 connection, even from a cold start**: while no connection to the CCF has
//!   answered a request (at start, or after every pooled connection closed) and the CCF has
//!   not been seen to speak HTTP/1.1, fetches go one at a time until one has; later fetches
//!   find that connection in the pool. Without this, a burst of cold fetches would open one
//!   connection each before ALPN could tell hyper-util that one HTTP/2 connection serves them
//!   all. (If the CCF is down, fetches fail one after another, each within its timeout.)
//!
//! The number of requests in flight is bounded by the resolver's fetch slots, not here.

use core::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::resolver::ApiRoot;
use super::CcfKeyResolverConfig;

/// ALPN protocol IDs (RFC 7301 registry).
const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The ALPN list the resolver offers the CCF: `h2` then `http/1.1`, or `http/1.1` alone.
pub(super) fn alpn_protocols(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
    } else {
        vec![ALPN_HTTP11.to_vec()]
    }
}

/// The error of a connection attempt.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The pooled CAPIF-3 client of one resolver.
pub(super) struct CcfClient {
    client: Client<CcfConnector, Empty<Bytes>>,
    pool: Arc<PoolState>,
    /// Held by the one fetch that may open the first connection (see the module docs).
    first: tokio::sync::Mutex<()>,
    /// Whether fetches wait for a first connection (not when pooling is off: no connection
    /// outlives its fetch).
    gated: bool,
}

/// What the connections of a [`CcfClient`] tell it.
struct PoolState {
    /// Connections open.
    open: AtomicUsize,
    /// Some open connection has answered a request (so it sits in the pool).
    answered: AtomicBool,
    /// The last connection made speaks HTTP/1.1: a burst needs one connection per fetch
    /// anyway, and nothing waits for a first one.
    http1: AtomicBool,
    /// One permit per open connection: at most `max_concurrent_fetches` are open.
    permits: Arc<tokio::sync::Semaphore>,
}

impl CcfClient {
    /// The pooled client for `config` (whose `tls` already carries the ALPN list).
    pub(super) fn new(config: &CcfKeyResolverConfig, root: &ApiRoot) -> Self {
        let pool = Arc::new(PoolState {
            open: AtomicUsize::new(0),
            answered: AtomicBool::new(false),
            http1: AtomicBool::new(false),
            permits: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_fetches.max(1),
            )),
        });
        let connector = CcfConnector {
            tls: tokio_rustls::TlsConnector::from(Arc::clone(&config.tls)),
            root: Arc::new(root.clone()),
            pool: Arc::clone(&pool),
            wait: config.fetch_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(config.pool_max_idle)
            .pool_idle_timeout(config.pool_idle_timeout)
            .build(connector);
        Self {
            client,
            pool,
            first: tokio::sync::Mutex::new(()),
            gated: config.pool_max_idle > 0,
        }
    }

    /// Sends `request` (an absolute `https` URI of the CCF) on a pooled connection, or a new
    /// one; while no connection has answered yet, one request at a time.
    pub(super) async fn request(
        &self,
        request: hyper::Request<Empty<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        let answered = || self.pool.answered.load(Ordering::Acquire);
        let http1 = self.pool.http1.load(Ordering::Acquire);
        let _first = if self.gated && !http1 && !answered() {
            let guard = self.first.lock().await;
            // Another fetch may have opened the connection while this one waited.
            (!answered()).then_some(guard)
        } else {
            None
        };
        let response = self.client.request(request).await?;
        self.pool.answered.store(true, Ordering::Release);
        Ok(response)
    }
}

/// A `tower_service::Service<Uri>` for hyper-util's client: TCP to the CCF of the
/// `{apiRoot}` (TCP_NODELAY), then TLS with the resolver's rustls config. It connects to that
/// CCF only: a URI naming another authority is refused.
#[derive(Clone)]
pub(super) struct CcfConnector {
    tls: tokio_rustls::TlsConnector,
    root: Arc<ApiRoot>,
    pool: Arc<PoolState>,
    /// The longest wait for a connection slot (the fetch timeout).
    wait: std::time::Duration,
}

impl fmt::Debug for CcfConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcfConnector")
            .field("authority", &self.root.authority)
            .finish_non_exhaustive()
    }
}

impl tower_service::Service<Uri> for CcfConnector {
    type Response = TokioIo<CcfStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let root = &this.root;
            if uri.authority().map(|a| a.as_str()) != Some(root.authority.as_str()) {
                return Err(format!("not the CCF's authority {}", root.authority).into());
            }
            // Each fetch in flight holds at most one connection, so when all permits are
            // taken some connection is idle or about to be: hyper-util hands it to the
            // waiting request, and this connect, left to finish in the background, gives up
            // after the fetch timeout unless a connection closes before.
            let permits = Arc::clone(&this.pool.permits);
            let permit = tokio::time::timeout(this.wait, permits.acquire_owned())
                .await
                .map_err(|_| "no connection slot free")?
                .map_err(|_| "the CCF client is closed")?;
            let tcp = TcpStream::connect((root.host.as_str(), root.port))
                .await
                .map_err(|e| format!("connect {}: {e}", root.authority))?;
            // Requests are small and answered at once: no Nagle delay on them.
            let _ = tcp.set_nodelay(true);
            let tls = (this.tls.connect(root.server_name.clone(), tcp).await)
                .map_err(|e| format!("TLS with {}: {e}", root.authority))?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
            this.pool.http1.store(!h2, Ordering::Release);
            this.pool.open.fetch_add(1, Ordering::AcqRel);
            Ok(TokioIo::new(CcfStream {
                tls,
                pool: Arc::clone(&this.pool),
                _permit: permit,
            }))
        })
    }
}

/// A TLS connection to the CCF, as the pooled client holds it.
pub(super) struct CcfStream {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    pool: Arc<PoolState>,
    /// Released when the connection closes.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for CcfStream {
    /// When the last open connection closes, the next fetches wait for a first one again.
    fn drop(&mut self) {
        if self.pool.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.pool.answered.store(false, Ordering::Release);
        }
    }
}

impl Connection for CcfStream {
    /// Reports `negotiated_h2` when the CCF selected `h2` by ALPN: the client then speaks
    /// HTTP/2 on this connection and shares it among fetches.
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.tls.get_ref().1.alpn_protocol() == Some(ALPN_H2) {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl AsyncRead for CcfStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for CcfStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
}

/// An error of the pooled client as one line: its message and those of its sources (the
/// connector's and hyper's say what failed: connect, TLS, HTTP).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
