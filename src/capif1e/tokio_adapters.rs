//! tokio adapters (feature `tokio`): CAPIF-1e over tokio-rustls.

use core::fmt;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use super::ccf::CcfConfig;
use super::invoker::InvokerConfig;
use super::io_error;
use super::session::Capif1eSession;
use super::stream::TapStream;
use crate::error::Error;
use crate::rt::tokio::{with_timeout, DEFAULT_HANDSHAKE_TIMEOUT};

/// The invoker's asynchronous CAPIF-1e connector: a `tokio_rustls::TlsConnector` for an
/// [`InvokerConfig`] that also hands back the [`Capif1eSession`].
///
/// ```
/// # async fn example(
/// #     invoker: rustls_capif::capif1e::InvokerConfig,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use rustls_capif::capif1e::InvokerConnector;
/// use rustls_capif::ServiceApiInterface;
/// use tokio::io::AsyncWriteExt;
///
/// let connector = InvokerConnector::from(invoker);
/// let tcp = tokio::net::TcpStream::connect("ccf.example.com:443").await?;
/// let name = "ccf.example.com".try_into()?;
/// let (mut tls, session) = connector.connect(name, tcp).await?;
/// tls.write_all(b"GET /service-apis/v1/allServiceAPIs HTTP/1.1\r\n...").await?;
/// let psk = session.derive_aef_psk(&ServiceApiInterface::parse("aef.example.com:8443")?)?;
/// # drop(psk); Ok(()) }
/// ```
///
/// The handshake is bounded by [`DEFAULT_HANDSHAKE_TIMEOUT`] unless
/// [`with_handshake_timeout`](Self::with_handshake_timeout) says otherwise (tokio-rustls has
/// no limit; the PSK adapters of this crate have the same default).
#[derive(Clone)]
pub struct InvokerConnector {
    config: InvokerConfig,
    handshake_timeout: Option<Duration>,
}

impl InvokerConnector {
    /// A connector for `config`, with [`DEFAULT_HANDSHAKE_TIMEOUT`].
    ///
    /// The timeout uses `tokio::time`: run the handshakes in a runtime with the time driver
    /// (`enable_time` / `enable_all`), or turn the timeout off with `with_handshake_timeout(None)`.
    pub fn new(config: InvokerConfig) -> Self {
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

    /// The invoker configuration.
    pub fn config(&self) -> &InvokerConfig {
        &self.config
    }

    /// Runs the TLS handshake over `io` and returns the tokio-rustls stream (over a
    /// [`TapStream`]) and the CAPIF-1e session.
    pub async fn connect<IO>(
        &self,
        server_name: ServerName<'static>,
        io: IO,
    ) -> Result<(client::TlsStream<TapStream<IO>>, Capif1eSession), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (config, capture) = self.config.connection_config();
        let handshake = async {
            TlsConnector::from(config)
                .connect(server_name, TapStream::client(io))
                .await
                .map_err(io_error)
        };
        let stream = with_timeout(self.handshake_timeout, handshake).await?;
        let (io, conn) = stream.get_ref();
        let session = capture.session_with_taps(conn, io.taps())?;
        Ok((stream, session))
    }
}

impl From<InvokerConfig> for InvokerConnector {
    fn from(config: InvokerConfig) -> Self {
        Self::new(config)
    }
}

impl fmt::Debug for InvokerConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvokerConnector")
            .field("config", &self.config)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// The CCF's asynchronous CAPIF-1e acceptor: a `tokio_rustls::TlsAcceptor` for a
/// [`CcfConfig`] that also hands back the [`Capif1eSession`].
///
/// ```
/// # async fn example(ccf: rustls_capif::capif1e::CcfConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use rustls_capif::capif1e::CcfAcceptor;
///
/// let acceptor = CcfAcceptor::from(ccf);
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let acceptor = acceptor.clone();
///     tokio::spawn(async move {
///         if let Ok((tls, session)) = acceptor.accept(tcp).await {
///             // serve CAPIF APIs over `tls`; keep `session` to answer CAPIF-3 key requests
///             # drop((tls, session));
///         }
///     });
/// }
/// # }
/// ```
///
/// The handshake is bounded by [`DEFAULT_HANDSHAKE_TIMEOUT`] unless
/// [`with_handshake_timeout`](Self::with_handshake_timeout) says otherwise, so a client that
/// connects and stays silent does not hold the CCF's resources (tokio-rustls has no limit).
#[derive(Clone)]
pub struct CcfAcceptor {
    config: CcfConfig,
    handshake_timeout: Option<Duration>,
}

impl CcfAcceptor {
    /// An acceptor for `config`, with [`DEFAULT_HANDSHAKE_TIMEOUT`].
    ///
    /// The timeout uses `tokio::time`: run the handshakes in a runtime with the time driver
    /// (`enable_time` / `enable_all`), or turn the timeout off with `with_handshake_timeout(None)`.
    pub fn new(config: CcfConfig) -> Self {
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

    /// The CCF configuration.
    pub fn config(&self) -> &CcfConfig {
        &self.config
    }

    /// Runs the TLS handshake over `io` and returns the tokio-rustls stream (over a
    /// [`TapStream`]) and the CAPIF-1e session.
    pub async fn accept<IO>(
        &self,
        io: IO,
    ) -> Result<(server::TlsStream<TapStream<IO>>, Capif1eSession), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (config, capture) = self.config.connection_config();
        let handshake = async {
            TlsAcceptor::from(config)
                .accept(TapStream::server(io))
                .await
                .map_err(io_error)
        };
        let stream = with_timeout(self.handshake_timeout, handshake).await?;
        let (io, conn) = stream.get_ref();
        let session = capture.session_with_taps(conn, io.taps())?;
        Ok((stream, session))
    }
}

impl From<CcfConfig> for CcfAcceptor {
    fn from(config: CcfConfig) -> Self {
        Self::new(config)
    }
}

impl fmt::Debug for CcfAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcfAcceptor")
            .field("config", &self.config)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}
