//! # rustls-capif
//!
//! TLS-PSK security for 3GPP CAPIF (*security method 1*, TS 33.122 clause 6.5.2.1) on top of
//! [rustls].
//!
//! ```text
//!   API invoker ───── CAPIF-1e: TLS with certificates ─────▶ CCF
//!        │   both derive AEFPSK = KDF(master secret, Session ID, AEF interface)  │
//!        │                                                                        │
//!        └── CAPIF-2e: TLS 1.3, external PSK = AEFPSK ──▶ AEF ── CAPIF-3 ─────────┘
//!                                                    "which key has this invoker?"
//! ```
//!
//! 1. The invoker and the CCF run ordinary certificate-authenticated TLS on CAPIF-1e.
//!    [`capif1e`] wraps their rustls configs so that, after the handshake, each side holds a
//!    session object that derives the AEFPSK of TS 33.122 Annex A.1 for any AEF interface —
//!    the application never reads the master secret.
//! 2. The invoker opens TLS towards the AEF on CAPIF-2e, authenticated by AEFPSK alone.
//!    rustls has no external-PSK support, so this crate carries a sans-IO TLS 1.3 external-PSK
//!    client and server built only on the rustls `CryptoProvider`.
//! 3. The AEF learns the key from the CCF over CAPIF-3 (TS 29.222 `trustedInvokers`).
//!
//! ## Quick start
//!
//! An API invoker, after its CAPIF-1e handshake with the CCF, opens CAPIF-2e to an AEF:
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn invoker(
//! #     client_config: rustls::ClientConfig,
//! #     ccf: tokio::net::TcpStream,
//! #     aef: tokio::net::TcpStream,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use rustls_capif::capif1e::{InvokerConfig, InvokerConnector};
//! use rustls_capif::psk::PskClientConfig;
//! use rustls_capif::{PskConnector, ServiceApiInterface};
//!
//! let connector = InvokerConnector::from(InvokerConfig::new(client_config));
//! let (_capif1e_tls, session) = connector.connect("ccf.example.com".try_into()?, ccf).await?;
//! let psk = session.derive_aef_psk(&ServiceApiInterface::parse("aef.example.com:8443")?)?;
//! let config = PskClientConfig::for_aef("INV7f3a9c01", &psk)?;
//! let tls = PskConnector::new(Arc::new(config)).connect(aef).await?; // AsyncRead + AsyncWrite
//! # Ok(()) }
//! ```
//!
//! The AEF side is [`rt::tokio::PskAcceptor`] with [`capif3::CcfKeyResolver`]; the CCF side is
//! [`capif1e::CcfConfig`] with [`capif3::CcfKeyStore`]. `examples/capif_flow/` runs all three
//! roles over real TLS on loopback (`cargo run --example capif_flow`).
//!
//! ## Decisions where 3GPP is silent
//!
//! * P0 is the UTF-8 `host:port` of the AEF interface, or the host alone when its
//!   `InterfaceDescription` has no port ([`ServiceApiInterface`]).
//! * TLS 1.3 on CAPIF-1e is not covered by Annex A.1: by default (on both ends) a TLS 1.3
//!   session derives nothing and answers [`Error::Tls13NotAllowed`]; this crate's TLS 1.3
//!   exporter profile is an opt-in for deployments running it on both ends
//!   ([`capif1e::Capif1eProfile`]), and [`capif1e::InvokerConfig::tls12_builder`] gives an
//!   invoker a TLS 1.2-only config for any CCF.
//! * The CAPIF-2e PSK identity is the API invoker ID; AEFPSK is bound to SHA-256.
//! * CAPIF-3 `authenticationInfo` carries AEFPSK as 64 lowercase hex digits.
//!
//! ## Module map
//!
//! * [`kdf`] — TS 33.220 KDF, AEFPSK (Annex A.1), the P0 encoding ([`ServiceApiInterface`]).
//! * [`secret`] — zeroized key types with redacted `Debug`.
//! * [`capif1e`] — invoker and CCF wrappers around rustls configs.
//! * [`psk`] — the sans-IO TLS 1.3 external-PSK client and server (CAPIF-2e).
//! * [`rt::tokio`] (feature `tokio`) — `PskConnector` / `PskAcceptor`, shaped like
//!   tokio-rustls (nested under `rt` so that `use rustls_capif::*` does not shadow the tokio
//!   crate).
//! * [`capif3`] (feature `capif3`) — the AEF's key resolver and the CCF's key store.
//! * [`http`] (feature `tokio`) — HTTP on CAPIF-2e: the invoker ID in handlers, hyper-util's
//!   client connector (feature `hyper`), an axum listener (feature `axum`).
//! * [`error`] — the one [`Error`] type; engine errors name the TLS alert sent.
//! * [`deadline`] — whole-handshake deadlines for blocking transports.
//!
//! ## Feature flags
//!
//! * `aws-lc-rs` (default) — rustls's aws-lc-rs crypto provider.
//! * `ring` — rustls's ring crypto provider.
//! * neither — bring your own provider: install it as the process default or pass it to the
//!   `with_provider` constructors.
//! * `tokio` (default) — async adapters.
//! * `capif3` (default) — CAPIF-3 key delivery: [`capif3::CcfKeyResolver`] (AEF) and
//!   [`capif3::CcfKeyStore`] (CCF). Turns on `hyper`.
//! * `redis` — a [`capif3::CcfKeyStore`] shared by CCF replicas on Redis 7 / Valkey
//!   (`CcfKeyStore::redis`), each entry sealed with AES-256-GCM under the operator's
//!   key-encryption key (the AEAD of `aws-lc-rs` or `ring`: needs one of them). Turns on
//!   `capif3`.
//! * `hyper` (with `capif3`) — `http::client::PskHttpsConnector`, a connector for
//!   `hyper_util::client::legacy::Client`.
//! * `axum` — `http::server::PskListener`, an `axum::serve::Listener` (axum 0.8).
//!
//! [rustls]: https://docs.rs/rustls
// Without the features, the links to their items point at the published docs.
#![cfg_attr(
    not(feature = "tokio"),
    doc = "[`rt::tokio`]: https://docs.rs/rustls-capif/latest/rustls_capif/rt/tokio/",
    doc = "[`http`]: https://docs.rs/rustls-capif/latest/rustls_capif/http/",
    doc = "[`rt::tokio::PskAcceptor`]: https://docs.rs/rustls-capif/latest/rustls_capif/rt/tokio/struct.PskAcceptor.html"
)]
#![cfg_attr(
    not(feature = "capif3"),
    doc = "[`capif3`]: https://docs.rs/rustls-capif/latest/rustls_capif/capif3/",
    doc = "[`capif3::CcfKeyResolver`]: https://docs.rs/rustls-capif/latest/rustls_capif/capif3/struct.CcfKeyResolver.html",
    doc = "[`capif3::CcfKeyStore`]: https://docs.rs/rustls-capif/latest/rustls_capif/capif3/struct.CcfKeyStore.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod capif1e;
#[cfg(feature = "capif3")]
pub mod capif3;
pub mod deadline;
pub mod error;
#[cfg(feature = "tokio")]
pub mod http;
pub mod kdf;
pub mod kx;
pub mod psk;
pub mod rt;
pub mod secret;
mod tls13_hkdf;

#[cfg(feature = "tokio")]
pub use crate::rt::tokio::{PskAcceptor, PskConnector};
pub use error::Error;
/// The rustls this crate was built against (build `ClientConfig`s for CAPIF-1e with it).
pub use rustls;

// The README's code compiles as doctests.
#[cfg(all(doctest, feature = "capif3"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use kdf::ServiceApiInterface;
pub use secret::{AefPsk, KeyFingerprint};

/// The crypto provider this crate uses when a config does not name one: the process default
/// if one is installed, otherwise aws-lc-rs (feature `aws-lc-rs`) or ring (feature `ring`).
///
/// # Panics
///
/// Only in a build with neither provider feature (for an application that brings its own
/// provider) when no process-default provider has been installed, as rustls's own config
/// builders do. Install one with `CryptoProvider::install_default`, or use the
/// `with_provider` constructors, which never call this.
pub fn default_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    if let Some(p) = rustls::crypto::CryptoProvider::get_default() {
        return p.clone();
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    {
        std::sync::Arc::new(rustls::crypto::ring::default_provider())
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    {
        // Like rustls's own builders: a build without a provider feature relies on the
        // application installing one (a FIPS or third-party provider, for instance).
        panic!(
            "rustls-capif was built without the `aws-lc-rs` or `ring` feature and no process-default \
             CryptoProvider is installed: call rustls::crypto::CryptoProvider::install_default \
             first, or pass a provider to the `with_provider` constructors"
        )
    }
}
