//! A TLS 1.3 external-PSK client and server (RFC 8446) — and, opt-in, TLS 1.2 PSK (RFC 4279,
//! 5487, 5489, 7905, 8442) on the same engine — sans-IO, built only on the rustls
//! `CryptoProvider`.
//!
//! rustls has no external-PSK support (its public API cannot construct the needed session
//! state, and its server hard-codes the resumption binder label), so this module carries
//! its own handshake while taking every cryptographic primitive — HKDF, HMAC, hashes, AEAD
//! record protection, key exchange and randomness — from the configured rustls provider.
//!
//! | file | owns |
//! |---|---|
//! | `config.rs` | [`ExternalPsk`], [`PskClientConfig`], [`PskServerConfig`], [`PskResolver`] |
//! | `codec.rs` | handshake messages and extensions (RFC 8446 §4); the one ClientHello decoder of both versions |
//! | `key_schedule.rs` | key schedule, binders, Finished, KeyUpdate, exporter (§7) |
//! | `importer.rs` | RFC 9258 PSK importers: [`PskImporter`], [`ImportedIdentity`] |
//! | `record.rs` | record framing and protection (§5) |
//! | `conn.rs` | [`ConnectionCommon`]: record dispatch, alerts, app data, KeyUpdate |
//! | `tls13/` | the two TLS 1.3 handshake state machines (`client.rs` / `server.rs`), which are also the connections' entry points: [`PskClientConnection`] and [`PskServerConnection`] start every handshake, and **version selection** happens there — the client offers TLS 1.2 in its ClientHello and hands a TLS 1.2 ServerHello to `tls12/client.rs`; the server decides at the ClientHello (`tls12::server_picks_tls12`) and hands over to `tls12/server.rs` |
//! | `tls12/` | TLS 1.2 PSK: its messages (`codec.rs`), key schedule with the extended master secret (`key_schedule.rs`), its two state machines (`client.rs` / `server.rs`), suites and the version rule (`mod.rs`) |
//!
//! What the engine does:
//!
//! * `psk_dhe_ke` by default over every group the provider offers (X25519, P-256, P-384 and,
//!   with aws-lc-rs, X25519MLKEM768); `psk_ke` only when both sides opt in.
//! * The "ext binder" label; binders over the truncated ClientHello and, after a
//!   HelloRetryRequest, over the whole transcript; checked in constant time.
//! * HelloRetryRequest in both roles, middlebox-compatibility CCS and session-ID echo, ALPN,
//!   SNI, KeyUpdate (answered, initiated, and automatic before the AEAD usage limit),
//!   close_notify and truncation detection. No 0-RTT ever; NewSessionTicket is ignored.
//! * An unknown identity and a wrong key look the same on the wire (`decrypt_error`).
//! * RFC 9258 imported PSKs ("imp binder"), opt-in on either side ([`PskImporter`]).
//! * Every malformed input yields a typed [`Error`](crate::Error) carrying the RFC 8446
//!   alert that was sent, never a panic; all buffers are bounded.
//! * TLS 1.2 (`with_tls12(true)`, off by default): ECDHE_PSK with ChaCha20-Poly1305 or
//!   AES-GCM, plain PSK only with `with_plain_psk(true)`; the extended master secret required
//!   (legacy peers only with `with_extended_master_secret(Preferred)`),
//!   renegotiation refused, no resumption. A server with both versions prefers TLS 1.3 and
//!   sets the RFC 8446 §4.1.3 downgrade sentinel when it answers with TLS 1.2; a client with
//!   both checks it. [`ConnectionCommon::protocol_version`] tells which was negotiated.

mod codec;
mod config;
mod conn;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
mod importer;
mod key_schedule;
#[cfg(test)]
mod proptests;
mod record;
mod stream;
mod tls12;
mod tls13;

pub use config::{
    ExtendedMasterSecret, ExternalPsk, NoPskResolver, PskClientConfig, PskHash,
    PskKeyExchangeModes, PskResolver, PskServerConfig, StaticPskResolver,
};
pub use conn::{ConnectionCommon, IoState, KeyExchangeMode, Reader, Side, Writer};
pub use importer::{import_psk, ImportedIdentity, PskImporter, TargetKdf, TARGET_PROTOCOL_TLS13};
pub use stream::{PskConnection, PskStream};
pub use tls13::client::PskClientConnection;
pub use tls13::server::PskServerConnection;
