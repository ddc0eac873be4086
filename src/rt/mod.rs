//! Runtime adapters: the sans-IO connections of [`crate::psk`] over an async runtime's I/O.
//!
//! Nested by runtime, as hyper-util's `rt::tokio`, so that `use rustls_capif::*` brings no
//! module named after a runtime crate into scope (a root module `tokio` made `#[tokio::main]`
//! ambiguous, E0659).
//!
//! * `tokio` (feature `tokio`) — `PskConnector` and `PskAcceptor`, shaped like tokio-rustls.

#[cfg(feature = "tokio")]
pub mod tokio;
