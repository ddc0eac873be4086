//! A `PskClientConnection` started normally (its ClientHello is sent), then fed arbitrary
//! bytes as the server's flight, in arbitrary chunkings.
//!
//! Input: `[seed, shape, bytes...]`; `seed` and `shape` pick the chunk sizes, and bit 7 of
//! `seed` a client with an RFC 9258 importer (`f::client_config_for`). The client
//! sends an empty legacy_session_id (no middlebox compatibility), so a fuzzed ServerHello
//! can get past the echo check to the suite, PSK, key-share and HelloRetryRequest logic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_capif::psk::PskClientConnection;
use rustls_capif_fuzz as f;

fuzz_target!(|data: &[u8]| {
    let [seed, shape, rest @ ..] = data else {
        return;
    };
    let mut c = PskClientConnection::new(f::client_config_for(seed >> 7)).unwrap();
    f::drain(&mut c);
    let mut chunker = f::Chunker::new(*seed, *shape);
    if f::feed(&mut c, rest, &mut chunker, |_| {}).is_ok() {
        f::finish(&mut c);
    }
});
