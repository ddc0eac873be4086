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
//! ## Module map
//!
//! * [`kdf`] — TS 33.220 KDF, AEFPSK (Annex A.1), the P0 encoding ([`ServiceApiInterface`]).
//! * [`secret`] — zeroized key types with redacted `Debug`.
//! * [`capif1e`] — invoker and CCF wrappers around rustls configs.
//! * [`psk`] — the sans-IO TLS 1.3 external-PSK client and server (CAPIF-2e).
//! * [`tokio`] (feature `tokio`) — `PskConnector` / `PskAcceptor`, shaped like tokio-rustls.
//!
//! ## Feature flags
//!
//! * `aws-lc-rs` (default) — rustls's aws-lc-rs crypto provider.
//! * `ring` — rustls's ring crypto provider.
//! * `tokio` (default) — async adapters.
//! * `capif3` — CAPIF-3 key delivery: [`capif3::CcfKeyResolver`] (AEF) and
//!   [`capif3::CcfKeyStore`] (CCF).
//!
//! [rustls]: https://docs.rs/rustls

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capif1e;
#[cfg(feature = "capif3")]
pub mod capif3;
pub mod error;
pub mod kdf;
pub mod psk;
pub mod secret;
mod tls13_hkdf;
#[cfg(feature = "tokio")]
pub mod tokio;

#[cfg(feature = "tokio")]
pub use crate::tokio::{PskAcceptor, PskConnector};
pub use error::Error;
pub use kdf::ServiceApiInterface;
pub use secret::{AefPsk, KeyFingerprint};

/// The crypto provider this crate uses when a config does not name one: the process default
/// if one is installed, otherwise aws-lc-rs (feature `aws-lc-rs`) or ring (feature `ring`).
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
    compile_error!("enable one crypto provider feature: `aws-lc-rs` (default) or `ring`");
}
