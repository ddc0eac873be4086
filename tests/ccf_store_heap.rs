//! The CCF key store leaves no AEFPSK in freed heap memory (issue 16 §4), and what it costs
//! in heap (issue 16 §5, an ignored measurement).
//!
//! This binary installs a global allocator that, while armed, scans every block it frees (a
//! `realloc` is an allocation, a copy and a free here, so the old block of a growing buffer is
//! scanned too) for the marks every test key starts and ends with, raw and in hex. Positive
//! controls leave key copies in freed memory the way the old code did and must be caught: they
//! prove the scan sees what it is meant to see.
//!
//! The measurement: `cargo test --all-features --release --test ccf_store_heap -- --ignored
//! --nocapture`.

// A counting global allocator is the one place a test needs `unsafe` (project rules).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls_capif::capif3::{
    AefPskSource, CcfKeyStore, InterfaceDescriptionJson, SecurityInformation, ServiceSecurity,
    SECURITY_METHOD_PSK,
};
use rustls_capif::{AefPsk, Error, ServiceApiInterface};

/// Every test key is `HEAD ‖ 16 varying octets ‖ TAIL`.
const HEAD: [u8; 8] = [0xc4, 0x9f, 0x3e, 0x71, 0xa2, 0x5d, 0x0b, 0xe8];
const TAIL: [u8; 8] = [0x5a, 0xe3, 0x17, 0xd6, 0x88, 0x2b, 0xf4, 0x09];
const HEAD_HEX: &[u8; 16] = b"c49f3e71a25d0be8";
const TAIL_HEX: &[u8; 16] = b"5ae317d6882bf409";

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Scanning;

fn holds_a_mark(block: &[u8]) -> bool {
    let has = |needle: &[u8]| block.windows(needle.len()).any(|w| w == needle);
    has(&HEAD) || has(&TAIL) || has(HEAD_HEX) || has(TAIL_HEX)
}

// SAFETY: every call is forwarded to `System` with the caller's arguments; `dealloc` only
// reads the block it is given (still allocated, `layout.size()` bytes) before freeing it.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed)
            && holds_a_mark(std::slice::from_raw_parts(ptr, layout.size()))
        {
            FOUND.fetch_add(1, Ordering::Relaxed);
        }
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    // `realloc` keeps its default: allocate, copy, `dealloc` the old block (scanned).
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// One test at a time: the scan is global.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Copies of the marks found in blocks freed while `f` runs.
fn freed_copies(f: impl FnOnce()) -> usize {
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}

fn marked_key(session: u8, interface: &ServiceApiInterface) -> AefPsk {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&HEAD);
    key[8] = session;
    for (i, b) in interface.as_bytes().iter().enumerate() {
        key[9 + i % 15] ^= b;
    }
    key[24..].copy_from_slice(&TAIL);
    AefPsk::from_bytes(key)
}

/// A CAPIF-1e session stand-in whose keys carry the marks.
struct Marked(u8);
impl AefPskSource for Marked {
    fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        Ok(marked_key(self.0, interface))
    }
}

fn interface(port: u16) -> ServiceApiInterface {
    ServiceApiInterface::parse(&format!("10.0.0.1:{}", port + 1)).unwrap()
}

fn interface_json(port: u16) -> InterfaceDescriptionJson {
    InterfaceDescriptionJson {
        ipv4_addr: Some("10.0.0.1".into()),
        port: Some(port + 1),
        security_methods: vec![SECURITY_METHOD_PSK.into()],
        ..Default::default()
    }
}

#[test]
fn the_marks_are_the_keys_hex() {
    let key = marked_key(1, &interface(1));
    let hex = key.to_authentication_info();
    assert_eq!(&hex.as_bytes()[..16], HEAD_HEX);
    assert_eq!(&hex.as_bytes()[48..], TAIL_HEX);
}

/// The scan finds a key left in a freed `Vec`, in the old blocks of a growing JSON buffer
/// (what `service_security_json` did) and in the old tables of a growing map of keys (what
/// the store's per-invoker map did): proof that the checks below can fail.
#[test]
fn positive_controls_are_found() {
    let _one = exclusive();
    let key = marked_key(1, &interface(1));
    assert_eq!(
        freed_copies(|| drop(key.secret_bytes().to_vec())),
        1,
        "a key in a freed Vec"
    );
    assert_eq!(
        freed_copies(|| drop(key.to_authentication_info())),
        0,
        "a zeroizing string must not count"
    );

    let json_growth = freed_copies(|| {
        let security = ServiceSecurity {
            security_info: (0..8)
                .map(|port| SecurityInformation {
                    interface_details: Some(interface_json(port)),
                    authentication_info: Some(marked_key(1, &interface(port)).to_authentication_info()),
                    ..Default::default()
                })
                .collect(),
            notification_destination: String::new(),
        };
        let json = zeroize::Zeroizing::new(serde_json::to_vec(&security).unwrap());
        drop(json);
    });
    assert!(json_growth > 0, "JSON growth left no copy: the scan is blind");

    let map_growth = freed_copies(|| {
        let mut map = HashMap::new();
        for port in 0..64 {
            map.insert(interface(port), marked_key(1, &interface(port)));
        }
        drop(map);
    });
    assert!(map_growth > 0, "map growth left no copy: the scan is blind");
}

/// Many sessions, many interfaces per invoker (the maps grow and the per-invoker cap evicts),
/// the CAPIF-3 body, replacement, removal, dropping the store: no key copy is freed unwiped.
#[test]
fn derived_keys_leave_no_copy_in_freed_memory() {
    let _one = exclusive();
    let found = freed_copies(|| {
        let store = CcfKeyStore::default();
        for session in 0..48u8 {
            let id = format!("inv-{}", session % 32);
            store.register_session(&id, Arc::new(Marked(session)));
            for port in 0..40 {
                let psk = store.aef_psk(&id, &interface(port)).unwrap().unwrap();
                assert_eq!(psk, marked_key(session, &interface(port)));
            }
        }
        assert!(store.remove("inv-3"));
        drop(store);
    });
    assert_eq!(found, 0, "freed blocks held {found} copies of an AEFPSK");
}

/// `service_security_json` for up to 64 interfaces: the body holds the keys in hex and is
/// zeroized, and so is every block it went through while it grew.
#[test]
fn service_security_json_leaves_no_copy_in_freed_memory() {
    let _one = exclusive();
    let store = CcfKeyStore::default();
    store.register_session("inv-1", Arc::new(Marked(7)));
    for count in [1u16, 2, 5, 16, 64] {
        let interfaces: Vec<_> = (0..count).map(interface_json).collect();
        let found = freed_copies(|| {
            let json = store
                .service_security_json("inv-1", &interfaces, true)
                .unwrap()
                .unwrap();
            let hex = marked_key(7, &interface(count - 1)).to_authentication_info();
            assert!(json.windows(64).any(|w| w == hex.as_bytes()));
            drop(json);
        });
        assert_eq!(found, 0, "{count} interfaces: {found} copies in freed blocks");
    }
}

fn heap_added(f: impl FnOnce() -> CcfKeyStore) -> (isize, CcfKeyStore) {
    let before = LIVE.load(Ordering::SeqCst);
    let store = f();
    (LIVE.load(Ordering::SeqCst) - before, store)
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The two figures of issue 16 §5: heap added by 200,000 invokers (one derived key each), and
/// by 50,000 interfaces of one invoker, with the default limits.
#[test]
#[ignore = "measurement: run with --ignored --nocapture"]
fn heap_added_by_many_invokers_and_many_interfaces() {
    let _one = exclusive();
    let ids: Vec<String> = (0..200_000).map(|i| format!("invoker-{i:06}")).collect();
    let aef = interface(443);
    let source: Arc<dyn AefPskSource> = Arc::new(Marked(1));
    let (added, store) = heap_added(|| {
        let store = CcfKeyStore::default();
        for id in &ids {
            store.register_session(id, source.clone());
            store.aef_psk(id, &aef).unwrap().unwrap();
        }
        store
    });
    println!(
        "200,000 invokers, one key each: {:.1} MiB added ({store:?})",
        mib(added)
    );
    drop(store);

    let interfaces: Vec<_> = (0..50_000u32)
        .map(|i| ServiceApiInterface::parse(&format!("10.{}.{}.1:443", i / 256, i % 256)).unwrap())
        .collect();
    let (added, store) = heap_added(|| {
        let store = CcfKeyStore::default();
        store.register_session("inv-1", source.clone());
        for i in &interfaces {
            store.aef_psk("inv-1", i).unwrap().unwrap();
        }
        store
    });
    println!(
        "one invoker, 50,000 interfaces: {:.2} MiB added",
        mib(added)
    );
    drop(store);
}
