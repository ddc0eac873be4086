//! Key-exchange groups the rustls providers lack, as rustls [`SupportedKxGroup`]s, so that the
//! PSK engine (and rustls itself) can use them like any provider group.
//!
//! | file | owns |
//! |---|---|
//! | `ffdhe.rs` | RFC 7919 finite-field Diffie-Hellman: `ffdhe::FFDHE2048`, `ffdhe::FFDHE3072` (feature `ffdhe`) |
//!
//! [`SupportedKxGroup`]: rustls::crypto::SupportedKxGroup

#[cfg(feature = "ffdhe")]
pub mod ffdhe;
