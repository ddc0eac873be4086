//! Issue 16 §4, resolver part: growing the `CcfKeyResolver` cache leaves no copy of a cached
//! AEFPSK in freed heap memory (a map storing keys inline frees its old tables, key bytes
//! and all, when it grows).
//!
//! A global allocator scans every block freed while armed for the key's 32 octets; a
//! positive control (a plain `Vec` holding the key, freed unwiped) proves the scan works.
#![cfg(feature = "capif3")]

mod capif3_common;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use capif3_common::*;
use pki::TestPki;
use rustls_capif::rt::tokio::AsyncPskResolver;

/// The victim's AEFPSK: 32 octets found nowhere else. A `static`, only ever borrowed: a
/// `const` would be copied onto the stack wherever it is used, and from there into heap
/// blocks built on the stack.
static KEY: [u8; 32] = *b"VICTIM-AEFPSK-0123456789abcdefXY";

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);

struct Scanning;

fn contains_key(block: &[u8]) -> bool {
    block.len() >= KEY.len()
        && (0..=block.len() - KEY.len())
            .any(|i| block[i] == KEY[0] && block[i..i + KEY.len()] == KEY[..])
}

// SAFETY: forwards to the system allocator. `dealloc` reads the `layout.size()` octets of
// the block it is given, which it owns until it frees them; octets never written read as
// whatever the allocator left there, which is exactly what this test-only scan looks at.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if contains_key(block) {
                FOUND.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The CCF's answer: the victim's key, a distinct key for each filler invoker.
fn answer(invoker_id: &str) -> Option<String> {
    let key = match invoker_id {
        "victim" => hex(&KEY),
        other => {
            let n: u32 = other.strip_prefix("filler-")?.parse().ok()?;
            hex(&[n.to_le_bytes(); 8].concat())
        }
    };
    Some(format!(
        r#"{{"securityInfo":[{{"interfaceDetails":{{"ipv4Addr":"127.0.0.1","port":8443}},"prefSecurityMethods":["PSK"],"selSecurityMethod":"PSK","authenticationInfo":"{key}"}}],"notificationDestination":"https://invoker.example/capif-security-notifications"}}"#
    ))
}

#[tokio::test(flavor = "current_thread")]
async fn a_growing_key_cache_leaves_no_key_in_freed_memory() {
    // Positive control: an unwiped copy is found.
    ARMED.store(true, Ordering::SeqCst);
    drop(std::hint::black_box(KEY.to_vec()));
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(FOUND.swap(0, Ordering::SeqCst), 1, "the scan does not work");

    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    *s.ccf.custom.lock().unwrap() = Some(answer);

    ARMED.store(true, Ordering::SeqCst);
    // (No fingerprint of the key here: hashing it leaves copies on the stack.)
    assert!(s.resolver.resolve(b"victim").await.unwrap().is_some());
    // Several rehashes of the cache with the victim's key in it.
    for i in 0..300 {
        let id = format!("filler-{i}");
        assert!(s.resolver.resolve(id.as_bytes()).await.unwrap().is_some());
    }
    assert!(s.resolver.resolve(b"victim").await.unwrap().is_some());
    ARMED.store(false, Ordering::SeqCst);

    assert_eq!(s.ccf.requests(), 301, "the victim's key left the cache");
    assert_eq!(
        FOUND.load(Ordering::SeqCst),
        0,
        "freed blocks held the victim's AEFPSK"
    );
}
