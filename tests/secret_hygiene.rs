//! No key material in `Debug`, `Display`, error text or log lines — checked by running real
//! handshakes (successful and failing) with every log record captured at trace level, and
//! scanning everything printable for the keys in hex and as raw bytes.

mod common;

use std::fmt::Write as _;
use std::ops::DerefMut;
use std::sync::{Arc, Mutex, OnceLock};

use rustls_capif::psk::*;
use rustls_capif::{AefPsk, ServiceApiInterface};

/// A logger that keeps every record.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

fn logger() -> &'static Capture {
    static LOGGER: OnceLock<&'static Capture> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        capture
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Fails if `text` shows `key` in hex (either case), as a Rust byte list, or raw.
fn assert_clean(what: &str, text: &str, key: &[u8]) {
    let h = hex(key);
    let list = format!("{:?}", key);
    let list_inner = &list[1..list.len() - 1];
    // 8 octets in a row are enough to count as a leak.
    let needles = [
        h[..16].to_string(),
        h[..16].to_uppercase(),
        list_inner
            .split(", ")
            .take(8)
            .collect::<Vec<_>>()
            .join(", "),
    ];
    for n in needles {
        assert!(
            !text.contains(&n),
            "{what} leaks key material ({n}): {text}"
        );
    }
    assert!(
        !text.as_bytes().windows(8).any(|w| w == &key[..8]),
        "{what} contains raw key bytes"
    );
}

fn key(seed: u8) -> [u8; 32] {
    core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7) | 1)
}

#[test]
fn keys_never_reach_debug_errors_or_logs() {
    let log = logger();
    let good = key(3);
    let wrong = key(5);
    let identity = b"invoker-1".to_vec();
    let server_psk = ExternalPsk::new(identity.clone(), &good, PskHash::Sha256).unwrap();
    let store: StaticPskResolver = [server_psk.clone()].into_iter().collect();
    let server_config = Arc::new(PskServerConfig::new(Arc::new(store)));

    let mut printed = Vec::new();
    // Secrets the engine derived in the successful handshake, seen through the exporter (a
    // value of the key schedule that must not be printed either).
    let mut exported = [0u8; 32];
    for client_key in [good, wrong] {
        let client_psk = ExternalPsk::new(identity.clone(), &client_key, PskHash::Sha256).unwrap();
        let config = Arc::new(PskClientConfig::new(client_psk.clone()));
        let mut c = PskClientConnection::new(config.clone()).unwrap();
        let mut s = PskServerConnection::new(server_config.clone());
        let outcome = common::handshake(&mut c, &mut s);
        if outcome.is_ok() {
            c.export_keying_material(&mut exported, b"hygiene", None)
                .unwrap();
        }
        if let Err((_, e)) = &outcome {
            printed.push(format!("{e} / {e:?}"));
            common::transfer(s.deref_mut(), c.deref_mut());
            if let Err(e) = c.process_new_packets() {
                printed.push(format!("{e} / {e:?}"));
            }
        }
        printed.push(format!(
            "{client_psk:?} {config:?} {server_config:?} {c:?} {s:?}"
        ));
    }

    let aef = AefPsk::from_bytes(good);
    printed.push(format!("{aef:?} {}", aef.fingerprint()));
    let derived = rustls_capif::kdf::derive_aefpsk(
        &good,
        &[1; 32],
        &ServiceApiInterface::parse("a.example:1").unwrap(),
    )
    .unwrap();
    printed.push(format!("{derived:?}"));
    printed.push(
        AefPsk::from_authentication_info(&format!("{}zz", &hex(&good)[..62]))
            .unwrap_err()
            .to_string(),
    );
    let info = rustls_capif::capif3::SecurityInformation {
        authentication_info: Some(zeroize::Zeroizing::new(hex(&good))),
        ..Default::default()
    };
    printed.push(format!("{info:?}"));

    let logs = log.0.lock().unwrap().join("\n");
    assert!(
        logs.contains("sending fatal alert DecryptError"),
        "the failure was not logged: {logs}"
    );
    assert_ne!(exported, [0; 32], "the good key's handshake completed");
    for (what, text) in [("printed values", printed.join("\n")), ("log", logs)] {
        assert_clean(what, &text, &good);
        assert_clean(what, &text, &wrong);
        assert_clean(what, &text, derived.secret_bytes());
        assert_clean(what, &text, &exported);
    }
}
