//! A TLS 1.2 `PskClientConnection` (its ClientHello is sent), then fed arbitrary bytes as the
//! server's flight, in arbitrary chunkings: the TLS 1.2 ServerHello, ServerKeyExchange,
//! ServerHelloDone, ChangeCipherSpec and Finished paths, HelloRequest, and the hand-over from
//! a TLS 1.3 ClientHello.
//!
//! Input: `[seed, shape, bytes...]`; bit 0 of `seed` picks a TLS 1.2-only client or one
//! offering TLS 1.3 and 1.2; `seed` and `shape` pick the chunk sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_capif::psk::PskClientConnection;
use rustls_capif_fuzz as f;

fuzz_target!(|data: &[u8]| {
    let [seed, shape, rest @ ..] = data else {
        return;
    };
    let mut c = PskClientConnection::new(f::tls12_client_config(seed & 1 == 1)).unwrap();
    f::drain(&mut c);
    let mut chunker = f::Chunker::new(*seed, *shape);
    if f::feed(&mut c, rest, &mut chunker, |_| {}).is_ok() {
        f::finish(&mut c);
    }
});
