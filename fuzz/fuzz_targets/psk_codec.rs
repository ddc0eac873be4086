//! The handshake codec (private to the engine) through its `cfg(fuzzing)` entry point:
//! ClientHello, ServerHello/HelloRetryRequest, EncryptedExtensions, handshake framing,
//! KeyUpdate/NewSessionTicket and extension blocks, and the TLS 1.2 messages (ServerHello,
//! ServerKeyExchange, ClientKeyExchange, Finished, the TLS 1.2 hello extensions, and the
//! TLS 1.2 client's ClientHello), with decode → encode → decode checks. The first input
//! octet selects the decoder (table in `psk::fuzzing::codec`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rustls_capif::psk::fuzzing::codec(data);
});
