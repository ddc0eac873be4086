//! Fuzzes the CAPIF-1e hello tap with arbitrary bytes in arbitrary chunkings.
//!
//! Input: byte 0 selects the direction (bit 0: 0 = ClientHello, 1 = ServerHello) and the
//! chunking (bits 1-2: whole, 1-byte, 1..=16, 1..=1024 bytes per call), byte 1 seeds the chunk
//! sizes, the rest is the byte stream. Oracles: no panic; every error is `MalformedHello` and
//! matches the tap's state; the result does not depend on the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_capif::capif1e::{HelloKind, HelloTap, TapState};
use rustls_capif::Error;

fn check(tap: &HelloTap, result: Result<(), Error>) {
    match result {
        Ok(()) => assert!(!matches!(tap.state(), TapState::Failed(_))),
        Err(Error::MalformedHello(why)) => assert_eq!(tap.state(), TapState::Failed(why)),
        Err(other) => panic!("untyped error from the tap: {other:?}"),
    }
    match tap.state() {
        TapState::Complete => {
            assert!(tap.client_hello().is_some() != tap.server_hello().is_some());
            if let Some(sh) = tap.server_hello() {
                assert!(sh.session_id().len() <= 32);
            }
            if let Some(ch) = tap.client_hello() {
                assert!(ch.session_id().len() <= 32);
            }
        }
        _ => assert!(tap.client_hello().is_none() && tap.server_hello().is_none()),
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, seed, stream @ ..] = data else {
        return;
    };
    let kind = if selector & 1 == 0 {
        HelloKind::ClientHello
    } else {
        HelloKind::ServerHello
    };

    let mut whole = HelloTap::new(kind);
    let result = whole.feed(stream);
    check(&whole, result);

    let mut chunked = HelloTap::new(kind);
    let mut state = u32::from(*seed) << 8 | 0x9d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as usize
    };
    let mut rest = stream;
    while !rest.is_empty() {
        let n = match (selector >> 1) & 3 {
            0 => rest.len(),
            1 => 1,
            2 => 1 + next() % 16,
            _ => 1 + next() % 1024,
        }
        .min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let result = chunked.feed(chunk);
        check(&chunked, result);
    }

    assert_eq!(whole.state(), chunked.state());
    assert_eq!(whole.client_hello(), chunked.client_hello());
    assert_eq!(whole.server_hello(), chunked.server_hello());
});
