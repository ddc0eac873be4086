//! Arbitrary bytes, in arbitrary chunkings, fed to a `PskServerConnection` whose resolver
//! knows one identity.
//!
//! Input: `[flags, shape, bytes...]`. Bit 0 of `flags` selects deferred key lookup (the key
//! is then provided if the identity was offered), bits 1-3 one of six server
//! configurations (two with an RFC 9258 importer, two with TLS 1.2: see `f::server_config`); `flags` and `shape` seed the chunk sizes (1 octet up to 70000).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_capif::psk::PskServerConnection;
use rustls_capif_fuzz as f;

fuzz_target!(|data: &[u8]| {
    let [flags, shape, rest @ ..] = data else {
        return;
    };
    let config = f::server_config(flags >> 1);
    let mut s = if flags & 1 == 1 {
        PskServerConnection::new_deferred(config)
    } else {
        PskServerConnection::new(config)
    };
    let mut chunker = f::Chunker::new(*flags, *shape);
    if f::feed(&mut s, rest, &mut chunker, f::provide_if_waiting).is_ok() {
        f::finish(&mut s);
    }
});
