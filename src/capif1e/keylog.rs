//! A rustls [`KeyLog`] that captures TLS 1.2 master secrets for the CAPIF-1e session.
//!
//! rustls logs `CLIENT_RANDOM <client_random> <master_secret>` for every TLS 1.2 handshake,
//! full or resumed, on clients and servers (the extended master secret when EMS is in use —
//! which *is* the session's master secret). [`MasterSecretCapture`] keeps those secrets,
//! zeroized on drop, in a bounded table keyed by client random until the connection's session
//! object takes its own. Every call is also forwarded to the key log the user's config had
//! before (for example `rustls::KeyLogFile` for `SSLKEYLOGFILE`).
//!
//! The client random is chosen by the client, so on a server a hostile client could copy
//! another client's random. The table therefore keeps every secret logged under a random and
//! the taker names the one that belongs to its connection (see
//! `session::take_master_secret`, which checks each candidate against the connection's own
//! exporter). Entries whose handshake never completes are evicted oldest first.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::KeyLog;
use zeroize::Zeroizing;

/// Length of a TLS 1.2 master secret.
pub(crate) const MASTER_SECRET_LEN: usize = 48;

/// A TLS 1.2 master secret, boxed so that moves never copy it and zeroized on drop.
pub(crate) type MasterSecret = Box<Zeroizing<[u8; MASTER_SECRET_LEN]>>;

/// Default bound on master secrets waiting to be taken.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;

const LABEL: &str = "CLIENT_RANDOM";

/// The key log installed by the CAPIF-1e invoker and CCF wrappers.
pub(crate) struct MasterSecretCapture {
    forward: Arc<dyn KeyLog>,
    pending: Mutex<Pending>,
}

struct Entry {
    seq: u64,
    master_secret: MasterSecret,
}

struct Pending {
    by_random: HashMap<[u8; 32], Vec<Entry>>,
    /// Insertion order for eviction; may hold entries already taken (skipped lazily,
    /// compacted when it grows past twice the capacity).
    order: VecDeque<(u64, [u8; 32])>,
    next_seq: u64,
    live: usize,
    capacity: usize,
}

impl MasterSecretCapture {
    /// A capture that forwards every call to `forward` too.
    pub(crate) fn new(forward: Arc<dyn KeyLog>) -> Self {
        Self {
            forward,
            pending: Mutex::new(Pending {
                by_random: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 0,
                live: 0,
                capacity: DEFAULT_CAPACITY,
            }),
        }
    }

    /// Changes the bound on waiting secrets (at least 1), evicting the oldest if needed.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        let mut pending = self.lock();
        pending.capacity = capacity.max(1);
        pending.enforce_capacity();
    }

    /// Removes and returns the first secret logged under `client_random` that `belongs`
    /// accepts. Secrets it rejects stay for their own connection.
    pub(crate) fn take(
        &self,
        client_random: &[u8; 32],
        mut belongs: impl FnMut(&[u8; MASTER_SECRET_LEN]) -> bool,
    ) -> Option<MasterSecret> {
        let mut pending = self.lock();
        let candidates = pending.by_random.get_mut(client_random)?;
        let index = candidates.iter().position(|e| belongs(&e.master_secret))?;
        let entry = candidates.swap_remove(index);
        if candidates.is_empty() {
            pending.by_random.remove(client_random);
        }
        pending.live -= 1;
        Some(entry.master_secret)
    }

    /// Number of secrets waiting to be taken.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.lock().live
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // The table stays consistent even if a holder panicked: every mutation is complete
        // before any call that could panic.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pending {
    fn insert(&mut self, client_random: [u8; 32], master_secret: MasterSecret) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_random
            .entry(client_random)
            .or_default()
            .push(Entry { seq, master_secret });
        self.order.push_back((seq, client_random));
        self.live += 1;
        self.enforce_capacity();
        if self.order.len() > 2 * self.capacity + 16 {
            let by_random = &self.by_random;
            self.order.retain(|(seq, random)| {
                by_random
                    .get(random)
                    .is_some_and(|v| v.iter().any(|e| e.seq == *seq))
            });
        }
    }

    fn enforce_capacity(&mut self) {
        while self.live > self.capacity {
            let Some((seq, random)) = self.order.pop_front() else {
                break;
            };
            if let Some(candidates) = self.by_random.get_mut(&random) {
                if let Some(i) = candidates.iter().position(|e| e.seq == seq) {
                    candidates.remove(i);
                    if candidates.is_empty() {
                        self.by_random.remove(&random);
                    }
                    self.live -= 1;
                }
            }
        }
    }
}

impl KeyLog for MasterSecretCapture {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == LABEL {
            if let (Ok(random), Ok(secret)) = (
                <[u8; 32]>::try_from(client_random),
                <&[u8; MASTER_SECRET_LEN]>::try_from(secret),
            ) {
                // Copied straight into its heap slot: no stack temporary holds the secret.
                let mut master_secret: MasterSecret =
                    Box::new(Zeroizing::new([0; MASTER_SECRET_LEN]));
                master_secret.copy_from_slice(secret);
                self.lock().insert(random, master_secret);
            }
        }
        self.forward.log(label, client_random, secret);
    }

    fn will_log(&self, label: &str) -> bool {
        label == LABEL || self.forward.will_log(label)
    }
}

impl fmt::Debug for MasterSecretCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self.lock();
        f.debug_struct("MasterSecretCapture")
            .field("pending", &pending.live)
            .field("capacity", &pending.capacity)
            .field("forward", &self.forward)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (label, client random, secret)
    type Line = (String, Vec<u8>, Vec<u8>);

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<Line>>);

    impl KeyLog for Recorder {
        fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
            self.0
                .lock()
                .unwrap()
                .push((label.into(), client_random.into(), secret.into()));
        }
        fn will_log(&self, label: &str) -> bool {
            label == "SERVER_TRAFFIC_SECRET_0"
        }
    }

    #[test]
    fn forwards_every_call_and_captures_only_client_random() {
        let recorder = Arc::new(Recorder::default());
        let capture = MasterSecretCapture::new(recorder.clone());
        assert!(capture.will_log("CLIENT_RANDOM"));
        assert!(capture.will_log("SERVER_TRAFFIC_SECRET_0"));
        assert!(!capture.will_log("EXPORTER_SECRET"));
        capture.log("CLIENT_RANDOM", &[1; 32], &[2; 48]);
        capture.log("SERVER_TRAFFIC_SECRET_0", &[1; 32], &[3; 32]);
        capture.log("CLIENT_RANDOM", &[1; 31], &[2; 48]); // malformed: forwarded only
        assert_eq!(recorder.0.lock().unwrap().len(), 3);
        assert_eq!(capture.pending(), 1);
        assert!(capture.take(&[1; 32], |_| false).is_none());
        assert_eq!(**capture.take(&[1; 32], |_| true).unwrap(), [2; 48]);
        assert_eq!(capture.pending(), 0);
        assert!(capture.take(&[1; 32], |_| true).is_none());
    }

    #[test]
    fn same_random_twice_the_taker_chooses() {
        let capture = MasterSecretCapture::new(Arc::new(rustls::NoKeyLog));
        capture.log("CLIENT_RANDOM", &[1; 32], &[0xaa; 48]);
        capture.log("CLIENT_RANDOM", &[1; 32], &[0xbb; 48]);
        let got = capture.take(&[1; 32], |ms| ms[0] == 0xbb).unwrap();
        assert_eq!(got[0], 0xbb);
        let got = capture.take(&[1; 32], |ms| ms[0] == 0xaa).unwrap();
        assert_eq!(got[0], 0xaa);
    }

    #[test]
    fn bounded_oldest_evicted_and_order_compacted() {
        let capture = MasterSecretCapture::new(Arc::new(rustls::NoKeyLog));
        capture.set_capacity(4);
        for i in 0..10u8 {
            capture.log("CLIENT_RANDOM", &[i; 32], &[i; 48]);
        }
        assert_eq!(capture.pending(), 4);
        assert!(capture.take(&[5; 32], |_| true).is_none());
        assert!(capture.take(&[6; 32], |_| true).is_some());
        // Many taken entries must not grow the order queue without bound.
        for i in 0..10_000u32 {
            let mut random = [0u8; 32];
            random[..4].copy_from_slice(&i.to_be_bytes());
            capture.log("CLIENT_RANDOM", &random, &[1; 48]);
            assert!(capture.take(&random, |_| true).is_some());
        }
        let pending = capture.lock();
        assert!(pending.order.len() <= 2 * pending.capacity + 16);
        assert_eq!(pending.live, 3);
        drop(pending);
        capture.set_capacity(1);
        assert_eq!(capture.pending(), 1);
        assert!(capture.take(&[9; 32], |_| true).is_some());
    }
}
