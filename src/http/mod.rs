//! HTTP on CAPIF-2e: the pieces that put hyper and axum on this crate's TLS-PSK streams.
//!
//! * [`ApiInvokerId`] — the authenticated API invoker (the CAPIF-2e PSK identity, TS 33.122
//!   §6.5.2.1), validated UTF-8, cheap to clone into request extensions.
//! * [`server::InvokerStream`] and [`PskAcceptor::accept_invoker`](crate::PskAcceptor::accept_invoker)
//!   — an accepted stream that knows its invoker, for any server (hyper, axum, your own).
//! * `server::PskListener` (feature `axum`) — an `axum::serve::Listener` over
//!   [`PskAcceptor`](crate::PskAcceptor) with concurrent, bounded handshakes.
//! * `client::PskHttpsConnector` (feature `hyper`) — the invoker's connector for
//!   `hyper_util::client::legacy::Client`: HTTPS only, HTTP/1.1 and HTTP/2 by ALPN (RFC 7301),
//!   one PSK per AEF authority, no key offered to any other host.
//!
//! reqwest (0.12 and 0.13) cannot carry this crate's TLS: its connector layers wrap reqwest's
//! own connector and must return its sealed connection type, and its TLS backends are rustls
//! certificate configs or native-tls, neither of which does TLS 1.3 external PSK. Use the
//! hyper-util client with `client::PskHttpsConnector`.

mod invoker_id;
pub use invoker_id::ApiInvokerId;

#[cfg(feature = "hyper")]
pub mod client;
pub mod server;
