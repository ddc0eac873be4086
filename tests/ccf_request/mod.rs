//! One request to a CCF's CAPIF-3 API over mutually authenticated HTTPS, as an AEF makes it:
//! for the tests that check what a CCF answers on the wire. (Each test binary declares
//! `mod pki`.)
#![allow(dead_code)]

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

use crate::pki::TestPki;

/// One request over mutually authenticated HTTPS: status, content type, body.
pub async fn request(
    pki: &TestPki,
    api_root: &str,
    method: hyper::Method,
    target: &str,
) -> (u16, String, Vec<u8>) {
    let addr = api_root.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = Arc::new(pki.client_config(Some(&["aef.example"])));
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", addr)
        .header("accept", "application/json, application/problem+json")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, body.to_vec())
}
