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
//!
//! The number of requests in flight is bounded by the resolver's fetch slots, not here.

use core::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
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
pub(super) type CcfClient = Client<CcfConnector, Empty<Bytes>>;

/// Builds the pooled client for `config` (whose `tls` already carries the ALPN list).
pub(super) fn ccf_client(config: &CcfKeyResolverConfig, root: &ApiRoot) -> CcfClient {
    let connector = CcfConnector {
        tls: tokio_rustls::TlsConnector::from(Arc::clone(&config.tls)),
        root: Arc::new(root.clone()),
    };
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(config.pool_max_idle)
        .pool_idle_timeout(config.pool_idle_timeout)
        .build(connector)
}

/// A `tower_service::Service<Uri>` for hyper-util's client: TCP to the CCF of the
/// `{apiRoot}` (TCP_NODELAY), then TLS with the resolver's rustls config. It connects to that
/// CCF only: a URI naming another authority is refused.
#[derive(Clone)]
pub(super) struct CcfConnector {
    tls: tokio_rustls::TlsConnector,
    root: Arc<ApiRoot>,
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
            let tcp = TcpStream::connect((root.host.as_str(), root.port))
                .await
                .map_err(|e| format!("connect {}: {e}", root.authority))?;
            // Requests are small and answered at once: no Nagle delay on them.
            let _ = tcp.set_nodelay(true);
            let tls = (this.tls.connect(root.server_name.clone(), tcp).await)
                .map_err(|e| format!("TLS with {}: {e}", root.authority))?;
            Ok(TokioIo::new(CcfStream(tls)))
        })
    }
}

/// A TLS connection to the CCF, as the pooled client holds it.
pub(super) struct CcfStream(tokio_rustls::client::TlsStream<TcpStream>);

impl Connection for CcfStream {
    /// Reports `negotiated_h2` when the CCF selected `h2` by ALPN: the client then speaks
    /// HTTP/2 on this connection and shares it among fetches.
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.0.get_ref().1.alpn_protocol() == Some(ALPN_H2) {
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
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for CcfStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
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
