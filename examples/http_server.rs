//! An AEF as a plain hyper-util server over CAPIF-2e, with the authenticated API invoker in
//! each request's extensions, and an invoker calling it through hyper-util's pooled client
//! (`PskHttpsConnector`), HTTP/2 by ALPN.
//!
//! `cargo run --example http_server` (the key is a fixed demo key; a real AEF gets keys from
//! its CCF with `capif3::CcfKeyResolver`).

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_capif::http::client::PskHttpsConnectorBuilder;
use rustls_capif::http::ApiInvokerId;
use rustls_capif::psk::{
    ExternalPsk, PskClientConfig, PskHash, PskServerConfig, StaticPskResolver,
};
use rustls_capif::{AefPsk, PskAcceptor, ServiceApiInterface};
use tokio::net::TcpListener;

const INVOKER: &str = "INV0001";
const DEMO_KEY: &str = "6a0f2d4c8e1b3a5f7c9d0e2f4a6b8c1d3e5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b";

/// The API: a greeting for the invoker the TLS-PSK handshake authenticated.
async fn greeting(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match req.extensions().get::<ApiInvokerId>() {
        Some(invoker) => Response::new(Full::new(Bytes::from(format!(
            "hello, {invoker} ({:?})",
            req.version()
        )))),
        // Not reached: the connection's service puts the invoker in every request.
        None => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    };
    Ok(response)
}

/// Serves `greeting` over CAPIF-2e on `listener`: one task per connection, the handshake in
/// it (a silent client holds only its own task, until the acceptor's handshake timeout).
async fn serve(listener: TcpListener, acceptor: PskAcceptor) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept_invoker(tcp).await {
                Ok(tls) => tls,
                Err(e) => return eprintln!("aef: CAPIF-2e handshake from {peer} failed: {e}"),
            };
            let invoker = tls.api_invoker_id().clone();
            println!("aef: {peer} is API invoker {invoker}");
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(invoker.clone());
                greeting(req)
            });
            let served = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                eprintln!("aef: connection from {peer}: {e}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let key: AefPsk = DEMO_KEY.parse()?;

    // AEF
    let keys: StaticPskResolver = [ExternalPsk::from_hex(INVOKER, DEMO_KEY, PskHash::Sha256)?]
        .into_iter()
        .collect();
    let config = PskServerConfig::new(Arc::new(keys))
        .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, PskAcceptor::new(Arc::new(config))));

    // API invoker: the key is offered to this AEF interface only.
    let aef = ServiceApiInterface::from_ip(addr.ip(), addr.port());
    let connector = PskHttpsConnectorBuilder::new()
        .with_aef(&aef, PskClientConfig::for_aef(INVOKER, &key)?)?
        .enable_all_versions()
        .build()?;
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
    let response = client
        .get(format!("https://{aef}/greeting").parse()?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    println!("invoker: {}", String::from_utf8_lossy(&body));

    let refused = client.get("https://198.51.100.7/greeting".parse()?).await;
    if let Err(e) = refused {
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        println!(
            "invoker: another host is refused: {}",
            cause.unwrap_or_default()
        );
    }
    Ok(())
}
