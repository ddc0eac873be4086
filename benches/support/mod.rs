//! What the CAPIF-3 benches share: a CCF stand-in on a thread of its own, its CPU clock, and
//! the keys and percentiles they use.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rustls_capif::AefPsk;

use crate::capif3_common::{start_ccf, Ccf};
use crate::pki::TestPki;

/// The AEFPSK of bench invoker `i` (distinct per invoker).
pub fn key(i: usize) -> AefPsk {
    let mut bytes = [7u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
    AefPsk::from_bytes(bytes)
}

/// The invoker ID of bench invoker `i`.
pub fn invoker(i: usize) -> String {
    format!("inv-{i}")
}

/// CPU time (ns) the thread `task` (a `/proc/self/task/TID` path) has run.
pub fn thread_cpu_ns(task: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("{task}/schedstat")).expect("schedstat");
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

/// Starts a CCF on its own thread (a current-thread tokio runtime, so that all of its work
/// runs there); returns it, its apiRoot and its thread's `/proc` path.
pub fn ccf_thread(pki: &Arc<TestPki>, alpn: &[&[u8]]) -> (Arc<Ccf>, String, String) {
    let aef = rustls_capif::capif3::InterfaceDescriptionJson {
        ipv4_addr: Some("127.0.0.1".into()),
        port: Some(8443),
        ..Default::default()
    };
    let ccf = Arc::new(Ccf::new(aef, alpn));
    let (tx, rx) = std::sync::mpsc::channel();
    let (pki, serving) = (Arc::clone(pki), ccf.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let root = start_ccf(&pki, serving).await;
            let me = std::fs::read_link("/proc/thread-self").unwrap();
            let tid = me.file_name().unwrap().to_string_lossy().to_string();
            tx.send((root, format!("/proc/self/task/{tid}"))).unwrap();
            std::future::pending::<()>().await
        })
    });
    let (root, task) = rx.recv().unwrap();
    (ccf, root, task)
}

/// The `p` quantile (0..=1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
