//! A per-connection rustls [`KeyLog`] that captures the secrets a CAPIF-1e session needs.
//!
//! rustls logs, through the config's key log:
//!
//! * `CLIENT_RANDOM <client_random> <master_secret>` for every TLS 1.2 handshake, full or
//!   resumed, on clients and servers (the extended master secret when EMS is in use — which
//!   *is* the session's master secret);
//! * `EXPORTER_SECRET <client_random> <exporter_master_secret>` for every TLS 1.3 handshake,
//!   when the key log says it wants it.
//!
//! The invoker and CCF wrappers give **every connection its own** [`ConnectionKeyLog`] (in a
//! shallow clone of the rustls config, ~100 ns), so a captured secret belongs to that
//! connection by construction: no table shared between connections, no correlation, nothing to
//! evict. Each label has one slot; a second line for the same label means the config was used
//! for more than one connection, and the capture refuses to hand out either secret. Every call
//! is also forwarded, as rustls would have made it, to the key log the user's config had (for
//! example `rustls::KeyLogFile` for `SSLKEYLOGFILE`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustls::KeyLog;
use zeroize::Zeroizing;

const CLIENT_RANDOM: &str = "CLIENT_RANDOM";
const EXPORTER_SECRET: &str = "EXPORTER_SECRET";

/// Length of a TLS 1.2 master secret.
pub(crate) const MASTER_SECRET_LEN: usize = 48;

/// Longest TLS 1.3 secret (SHA-512 would be 64; rustls suites use 32 or 48).
pub(crate) const MAX_SECRET_LEN: usize = 64;

/// A TLS 1.2 master secret, boxed so that moves never copy it, zeroized on drop.
pub(crate) type MasterSecret = Box<Zeroizing<[u8; MASTER_SECRET_LEN]>>;

/// A TLS 1.3 exporter master secret, boxed and zeroized on drop.
pub(crate) struct ExporterSecret {
    bytes: Box<Zeroizing<[u8; MAX_SECRET_LEN]>>,
    len: usize,
}

impl ExporterSecret {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What a slot holds.
enum Slot<T> {
    Empty,
    /// The secret and the client random it was logged under.
    Captured([u8; 32], T),
    /// More than one line arrived: the config served several connections.
    Ambiguous,
}

impl<T> Slot<T> {
    fn put(&mut self, client_random: [u8; 32], secret: T) {
        *self = match self {
            Self::Empty => Self::Captured(client_random, secret),
            _ => Self::Ambiguous,
        };
    }

    fn take(&mut self) -> Result<([u8; 32], T), &'static str> {
        match std::mem::replace(self, Self::Empty) {
            Self::Captured(random, secret) => Ok((random, secret)),
            Self::Empty => Err(
                "rustls logged no secret for this connection (was the connection built from \
                 another config, or its key_log replaced?)",
            ),
            Self::Ambiguous => {
                *self = Self::Ambiguous;
                Err("the per-connection config was used for more than one connection")
            }
        }
    }
}

/// The key log of one CAPIF-1e connection.
pub(crate) struct ConnectionKeyLog {
    forward: Arc<dyn KeyLog>,
    master_secret: Mutex<Slot<MasterSecret>>,
    exporter_secret: Mutex<Slot<ExporterSecret>>,
}

impl ConnectionKeyLog {
    /// A capture that forwards every call to `forward` too.
    pub(crate) fn new(forward: Arc<dyn KeyLog>) -> Self {
        Self {
            forward,
            master_secret: Mutex::new(Slot::Empty),
            exporter_secret: Mutex::new(Slot::Empty),
        }
    }

    /// Takes the TLS 1.2 master secret and the client random it was logged under.
    pub(crate) fn take_master_secret(&self) -> Result<([u8; 32], MasterSecret), &'static str> {
        lock(&self.master_secret).take()
    }

    /// Takes the TLS 1.3 exporter master secret.
    pub(crate) fn take_exporter_secret(&self) -> Result<([u8; 32], ExporterSecret), &'static str> {
        lock(&self.exporter_secret).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Slots are replaced whole; a panic elsewhere cannot leave one half-written.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyLog for ConnectionKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if let Ok(random) = <[u8; 32]>::try_from(client_random) {
            match label {
                CLIENT_RANDOM if secret.len() == MASTER_SECRET_LEN => {
                    // Copied straight into its heap slot: no stack temporary holds it.
                    let mut ms: MasterSecret = Box::new(Zeroizing::new([0; MASTER_SECRET_LEN]));
                    ms.copy_from_slice(secret);
                    lock(&self.master_secret).put(random, ms);
                }
                EXPORTER_SECRET if secret.len() <= MAX_SECRET_LEN => {
                    let mut bytes = Box::new(Zeroizing::new([0; MAX_SECRET_LEN]));
                    bytes[..secret.len()].copy_from_slice(secret);
                    let len = secret.len();
                    lock(&self.exporter_secret).put(random, ExporterSecret { bytes, len });
                }
                _ => {}
            }
        }
        // Forward exactly the calls the original key log would have received: rustls logs
        // CLIENT_RANDOM without asking `will_log`, every other label only if it wants it.
        if label == CLIENT_RANDOM || self.forward.will_log(label) {
            self.forward.log(label, client_random, secret);
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT_RANDOM || label == EXPORTER_SECRET || self.forward.will_log(label)
    }
}

impl fmt::Debug for ConnectionKeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn state<T>(slot: &Mutex<Slot<T>>) -> &'static str {
            match *lock(slot) {
                Slot::Empty => "empty",
                Slot::Captured(..) => "captured",
                Slot::Ambiguous => "ambiguous",
            }
        }
        f.debug_struct("ConnectionKeyLog")
            .field("master_secret", &state(&self.master_secret))
            .field("exporter_secret", &state(&self.exporter_secret))
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
    fn forwards_what_the_original_would_get_and_captures_its_labels() {
        let recorder = Arc::new(Recorder::default());
        let capture = ConnectionKeyLog::new(recorder.clone());
        assert!(capture.will_log("CLIENT_RANDOM"));
        assert!(capture.will_log("EXPORTER_SECRET"));
        assert!(capture.will_log("SERVER_TRAFFIC_SECRET_0"));
        assert!(!capture.will_log("CLIENT_HANDSHAKE_TRAFFIC_SECRET"));
        capture.log("CLIENT_RANDOM", &[1; 32], &[2; 48]);
        capture.log("SERVER_TRAFFIC_SECRET_0", &[1; 32], &[3; 32]);
        capture.log("EXPORTER_SECRET", &[1; 32], &[4; 48]);
        capture.log("CLIENT_RANDOM", &[1; 31], &[2; 48]); // malformed: forwarded only
        let labels: Vec<_> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.0.clone())
            .collect();
        assert_eq!(
            labels,
            ["CLIENT_RANDOM", "SERVER_TRAFFIC_SECRET_0", "CLIENT_RANDOM"],
            "EXPORTER_SECRET is not forwarded to a key log that does not want it"
        );
        let (random, ms) = capture.take_master_secret().unwrap();
        assert_eq!((random, **ms), ([1; 32], [2; 48]));
        assert!(capture.take_master_secret().is_err(), "taken once");
        assert_eq!(
            capture.take_exporter_secret().unwrap().1.as_bytes(),
            &[4; 48]
        );
        assert!(format!("{capture:?}").contains("empty"));
    }

    #[test]
    fn a_second_line_makes_the_capture_ambiguous_for_good() {
        let capture = ConnectionKeyLog::new(Arc::new(rustls::NoKeyLog));
        capture.log("CLIENT_RANDOM", &[1; 32], &[0xaa; 48]);
        capture.log("CLIENT_RANDOM", &[2; 32], &[0xbb; 48]);
        let err = capture.take_master_secret().unwrap_err();
        assert!(err.contains("more than one connection"), "{err}");
        assert!(capture.take_master_secret().is_err());
        capture.log("EXPORTER_SECRET", &[1; 32], &[1; 32]);
        capture.log("EXPORTER_SECRET", &[1; 32], &[1; 32]);
        assert!(capture.take_exporter_secret().is_err());
        let dbg = format!("{capture:?}");
        assert!(dbg.contains("ambiguous") && !dbg.contains("170"), "{dbg}");
    }
}
