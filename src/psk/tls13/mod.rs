//! The TLS 1.3 external-PSK handshake (RFC 8446 §2.2, §4): the two state machines, and the
//! connection types that start every handshake and select the protocol version (handing a
//! TLS 1.2 peer over to [`super::tls12`]).
//!
//! | file | owns |
//! |---|---|
//! | `client.rs` | [`PskClientConnection`](crate::psk::PskClientConnection): ClientHello with binders (TLS 1.2 offered too if configured), ServerHello/HelloRetryRequest, EncryptedExtensions, Finished; a TLS 1.2 ServerHello goes to `tls12/client.rs` |
//! | `server.rs` | [`PskServerConnection`](crate::psk::PskServerConnection): ClientHello decoding, **version selection** (`tls12::server_picks_tls12`), identity and binder checks, deferred key lookup, HelloRetryRequest, the server flight; a TLS 1.2 ClientHello goes to `tls12/server.rs` |

pub(crate) mod client;
pub(crate) mod server;
