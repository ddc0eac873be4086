//! The API invoker's side of HTTP on CAPIF-2e (feature `hyper`): [`PskHttpsConnector`], a
//! connector for `hyper_util::client::legacy::Client`, shaped like hyper-rustls's
//! `HttpsConnector`.
//!
//! * HTTPS only: an `http://` URI is refused before any connection ([`Error::NotHttps`]).
//! * One PSK per AEF authority (`host:port`, canonical as [`ServiceApiInterface`]): an AEFPSK
//!   is derived for one AEF interface (TS 33.122 Annex A.1, P0), so a URI for any other
//!   authority is refused before any connection ([`Error::UnknownAef`]) and no key is offered
//!   to a host it was not derived for.
//! * SNI (RFC 6066) is the AEF's host name; IP addresses are not sent.
//! * HTTP/1.1 and HTTP/2 by ALPN (RFC 7301): when the AEF picks `h2` the connection is
//!   reported with `Connected::negotiated_h2`, and the client speaks HTTP/2 on it.
//! * The handshake timeout is [`PskConnector`]'s ([`DEFAULT_HANDSHAKE_TIMEOUT`]); the TCP
//!   connect timeout is the inner connector's (`HttpConnector::set_connect_timeout`).
//!
//! ```no_run
//! use http_body_util::Empty;
//! use hyper::body::Bytes;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use rustls_capif::http::client::PskHttpsConnectorBuilder;
//! use rustls_capif::psk::PskClientConfig;
//! use rustls_capif::{AefPsk, ServiceApiInterface};
//!
//! # async fn demo(aef_psk: AefPsk) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let aef = ServiceApiInterface::parse("aef.example.com:8443")?;
//! let connector = PskHttpsConnectorBuilder::new()
//!     .with_aef(&aef, PskClientConfig::for_aef("INV0001", &aef_psk)?)?
//!     .enable_all_versions()
//!     .build()?;
//! let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
//! let response = client.get("https://aef.example.com:8443/hello".parse()?).await?;
//! # Ok(()) }
//! ```

use core::fmt;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;

use crate::error::Error;
use crate::psk::{KeyExchangeMode, PskClientConfig};
use crate::rt::tokio::{ClientTlsStream, PskConnector, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::ServiceApiInterface;

/// The error type of the connector: a boxed [`Error`] (or the inner connector's error).
/// `downcast_ref::<rustls_capif::Error>()` recovers ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connection [`PskHttpsConnector`] gives hyper: CAPIF-2e TLS over the inner connector's
/// stream, adapted between hyper's and tokio's I/O traits.
pub type PskHttpsStream<IO> = TokioIo<ClientTlsStream<TokioIo<IO>>>;

/// Facts about a CAPIF-2e connection, put by hyper-util's client into the extensions of each
/// response received on it (`response.extensions().get::<PskConnectionInfo>()`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PskConnectionInfo {
    /// The ALPN protocol the AEF selected.
    pub alpn_protocol: Option<Vec<u8>>,
    /// The protocol version: TLS 1.3, or TLS 1.2 where both ends enabled it.
    pub protocol_version: Option<rustls::ProtocolVersion>,
    /// The cipher suite (TLS 1.3, or TLS 1.2 PSK).
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// The (EC)DHE group, `None` for `psk_ke`.
    pub key_exchange_group: Option<rustls::NamedGroup>,
    /// `psk_dhe_ke` or `psk_ke`.
    pub key_exchange_mode: Option<KeyExchangeMode>,
    /// The PSK identity the AEF accepted (the API invoker ID).
    pub psk_identity: Option<Vec<u8>>,
}

impl<IO: Connection> Connection for ClientTlsStream<IO> {
    /// The inner transport's facts, plus `negotiated_h2` when the AEF selected `h2`, and a
    /// [`PskConnectionInfo`] for the responses.
    fn connected(&self) -> Connected {
        let (io, conn) = self.get_ref();
        let info = PskConnectionInfo {
            alpn_protocol: conn.alpn_protocol().map(<[u8]>::to_vec),
            protocol_version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite(),
            key_exchange_group: conn.negotiated_key_exchange_group(),
            key_exchange_mode: conn.key_exchange_mode(),
            psk_identity: conn.psk_identity().map(<[u8]>::to_vec),
        };
        let connected = io.connected().extra(info);
        if conn.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

/// Builds a [`PskHttpsConnector`], like hyper-rustls's `HttpsConnectorBuilder`.
///
/// With neither [`enable_http1`](Self::enable_http1) nor
/// [`enable_http2`](Self::enable_http2), the connector offers HTTP/1.1 only. The ALPN list
/// and the server name of each AEF's config are set by the builder (any set before are
/// replaced).
#[derive(Debug)]
pub struct PskHttpsConnectorBuilder {
    aefs: HashMap<ServiceApiInterface, PskClientConfig>,
    http1: bool,
    http2: bool,
    handshake_timeout: Option<Duration>,
}

impl Default for PskHttpsConnectorBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PskHttpsConnectorBuilder {
    /// A builder with no AEF, HTTP/1.1, and [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new() -> Self {
        Self {
            aefs: HashMap::new(),
            http1: false,
            http2: false,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Uses `config` (its PSK is the AEFPSK derived for `aef`) for URIs whose authority is
    /// `aef`, and for no other. The URI's host and port (443 when absent) are compared in
    /// canonical form: `https://AEF.example.com.:8443/` matches `aef.example.com:8443`.
    ///
    /// Errors: `aef` is a raw interface (not `host:port`), or it was given already.
    pub fn with_aef(
        mut self,
        aef: &ServiceApiInterface,
        config: PskClientConfig,
    ) -> Result<Self, Error> {
        if aef.is_raw() {
            return Err(Error::InvalidConfig(format!(
                "AEF {aef} is a raw interface, not host:port: no URI can name it"
            )));
        }
        if self.aefs.insert(aef.clone(), config).is_some() {
            return Err(Error::InvalidConfig(format!(
                "two PSK configs for AEF {aef}"
            )));
        }
        Ok(self)
    }

    /// Offers HTTP/1.1 (`http/1.1`) by ALPN.
    pub fn enable_http1(mut self) -> Self {
        self.http1 = true;
        self
    }

    /// Offers HTTP/2 (`h2`) by ALPN. The client needs hyper-util's `http2` feature.
    pub fn enable_http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Offers HTTP/2 and HTTP/1.1 (preferring `h2`).
    pub fn enable_all_versions(self) -> Self {
        self.enable_http2().enable_http1()
    }

    /// Sets the handshake timeout (`None`: wait forever); see
    /// [`PskConnector::with_handshake_timeout`].
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// A connector over hyper-util's `HttpConnector` (TCP_NODELAY on, `https` URIs allowed).
    pub fn build(self) -> Result<PskHttpsConnector<HttpConnector>, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        self.wrap_connector(http)
    }

    /// A connector over `http`, a `Service<Uri>` giving hyper I/O (for example an
    /// `HttpConnector` with your resolver and timeouts; it must accept `https` URIs).
    pub fn wrap_connector<T>(self, http: T) -> Result<PskHttpsConnector<T>, Error> {
        let mut alpn = Vec::new();
        if self.http2 {
            alpn.push(b"h2".to_vec());
        }
        if self.http1 || !self.http2 {
            alpn.push(b"http/1.1".to_vec());
        }
        let mut aefs = HashMap::with_capacity(self.aefs.len());
        for (aef, config) in self.aefs {
            let config = config
                .with_alpn_protocols(alpn.clone())?
                .with_server_name(&host_of(&aef))?;
            let connector =
                PskConnector::new(Arc::new(config)).with_handshake_timeout(self.handshake_timeout);
            aefs.insert(aef, connector);
        }
        Ok(PskHttpsConnector {
            http,
            aefs: Arc::new(aefs),
        })
    }
}

/// The host of a canonical `host:port` (brackets of an IPv6 address removed).
fn host_of(aef: &ServiceApiInterface) -> String {
    let s = aef.to_string();
    let host = s.rsplit_once(':').map_or(&s[..], |(host, _)| host);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// A `tower_service::Service<Uri>` for `hyper_util::client::legacy::Client` that opens
/// CAPIF-2e (TLS 1.3 external PSK) connections to known AEFs. Built by
/// [`PskHttpsConnectorBuilder`]; see the [module docs](self).
#[derive(Clone)]
pub struct PskHttpsConnector<T = HttpConnector> {
    http: T,
    aefs: Arc<HashMap<ServiceApiInterface, PskConnector>>,
}

impl<T> fmt::Debug for PskHttpsConnector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aefs: Vec<String> = self.aefs.keys().map(ToString::to_string).collect();
        f.debug_struct("PskHttpsConnector")
            .field("aefs", &aefs)
            .finish_non_exhaustive()
    }
}

impl<T> PskHttpsConnector<T> {
    /// The PSK connector for `uri`: an `https` URI whose authority is a configured AEF.
    fn route(&self, uri: &Uri) -> Result<&PskConnector, Error> {
        match uri.scheme_str() {
            Some("https") => {}
            other => return Err(Error::NotHttps(other.unwrap_or("").to_string())),
        }
        let host = uri.host().unwrap_or("");
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(443));
        ServiceApiInterface::parse(&authority)
            .ok()
            .and_then(|aef| self.aefs.get(&aef))
            .ok_or(Error::UnknownAef(authority))
    }
}

impl<T> tower_service::Service<Uri> for PskHttpsConnector<T>
where
    T: tower_service::Service<Uri>,
    T::Response: Read + Write + Connection + Unpin + Send + 'static,
    T::Future: Send + 'static,
    T::Error: Into<BoxError>,
{
    type Response = PskHttpsStream<T::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // Refused before the inner connector is asked: no TCP connection, no ClientHello.
        let connector = match self.route(&uri) {
            Ok(connector) => connector.clone(),
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let io = connecting.await.map_err(Into::into)?;
            let tls = connector.connect(TokioIo::new(io)).await?;
            Ok(TokioIo::new(tls))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psk::{ExternalPsk, PskHash};

    fn connector(aef: &str) -> PskHttpsConnector {
        let psk = ExternalPsk::new(b"INV1".to_vec(), &[1; 32], PskHash::Sha256).unwrap();
        PskHttpsConnectorBuilder::new()
            .with_aef(
                &ServiceApiInterface::parse(aef).unwrap(),
                PskClientConfig::new(psk),
            )
            .unwrap()
            .build()
            .unwrap()
    }

    #[test]
    fn routes_by_canonical_authority() {
        let c = connector("aef.example.com:443");
        for ok in [
            "https://aef.example.com/x",
            "https://AEF.Example.COM.:443/",
            "https://aef.example.com:443",
        ] {
            assert!(c.route(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for (bad, want) in [
            ("https://aef.example.com:8443/", "aef.example.com:8443"),
            ("https://other.example.com/", "other.example.com:443"),
            ("https://127.0.0.1/", "127.0.0.1:443"),
        ] {
            match c.route(&bad.parse().unwrap()) {
                Err(Error::UnknownAef(a)) => assert_eq!(a, want),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            c.route(&"http://aef.example.com:443/".parse().unwrap()),
            Err(Error::NotHttps(s)) if s == "http"
        ));
        let v6 = connector("[2001:db8::1]:8443");
        assert!(v6
            .route(&"https://[2001:0db8:0::1]:8443/".parse().unwrap())
            .is_ok());
        assert_eq!(
            host_of(&ServiceApiInterface::parse("[::1]:1").unwrap()),
            "::1"
        );
    }

    #[test]
    fn builder_refuses_duplicates_and_raw_interfaces() {
        let psk = ExternalPsk::new(b"INV1".to_vec(), &[1; 32], PskHash::Sha256).unwrap();
        let aef = ServiceApiInterface::parse("aef.example.com:443").unwrap();
        let b = PskHttpsConnectorBuilder::new()
            .with_aef(&aef, PskClientConfig::new(psk.clone()))
            .unwrap();
        assert!(b.with_aef(&aef, PskClientConfig::new(psk.clone())).is_err());
        let raw = ServiceApiInterface::from_raw(b"opaque".to_vec()).unwrap();
        assert!(PskHttpsConnectorBuilder::new()
            .with_aef(&raw, PskClientConfig::new(psk))
            .is_err());
    }
}
