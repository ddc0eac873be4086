//! `use rustls_capif::*` must leave the tokio crate usable (issue 13 §3): with a root module
//! named `tokio`, `tokio::...` below was ambiguous (E0659) and this file did not compile.
#![allow(unused_imports)]

use rustls_capif::*;

#[tokio::test]
async fn a_glob_import_does_not_shadow_the_tokio_crate() {
    tokio::task::yield_now().await;
    let (mut a, mut b) = tokio::io::duplex(8);
    tokio::io::AsyncWriteExt::write_all(&mut a, b"ok")
        .await
        .unwrap();
    let mut got = [0u8; 2];
    tokio::io::AsyncReadExt::read_exact(&mut b, &mut got)
        .await
        .unwrap();
    assert_eq!(&got, b"ok");
    // The crate's own items are in scope too.
    let _: fn(_) -> PskConnector = PskConnector::new;
}
