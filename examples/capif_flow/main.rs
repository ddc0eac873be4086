//! CAPIF security method 1 (TLS-PSK), end to end on loopback with real TLS:
//!
//! ```text
//! cargo run --example capif_flow [-- --tls13]
//! cargo run --example capif_flow --features redis -- --redis redis://127.0.0.1:6379 [--tls13]
//! ```
//!
//! By default the CCF keeps its keys in memory (no server needed). With `--redis URL` (feature
//! `redis`), two CCF replicas share one Redis: the invoker runs CAPIF-1e with replica A, the
//! AEF asks replica B over CAPIF-3, and the newer session of step 5 is made at replica B. The
//! entries are sealed under a key-encryption key taken from `CAPIF_FLOW_KEK_HEX` (64 hex
//! digits, e.g. `export CAPIF_FLOW_KEK_HEX=$(openssl rand -hex 32)`), or generated at start
//! (then only this run's replicas can read them).
//!
//! 1. A throwaway CA issues certificates for the CCF, the AEF and an onboarded API invoker.
//! 2. The invoker runs CAPIF-1e TLS (certificates) with the CCF and calls service discovery;
//!    both sides can now derive AEFPSK (TS 33.122 Annex A.1 over TLS 1.2; `--tls13` uses this
//!    crate's TLS 1.3 exporter profile instead, which both the invoker and the CCF opt into with
//!    `Capif1eProfile::Tls13Exporter` — by default a TLS 1.3 session derives no key).
//! 3. The invoker derives AEFPSK for the AEF's interface and opens CAPIF-2e TLS 1.3 to the AEF,
//!    authenticated by the PSK alone, identity = its API invoker ID.
//! 4. The AEF, which does not know the key, asks the CCF over CAPIF-3
//!    (`trustedInvokers/{apiInvokerId}?authenticationInfo=true`, mutually authenticated HTTPS),
//!    completes the handshake and serves the API call.
//! 5. The invoker starts a newer CAPIF-1e session; the CCF replaces its key and tells the AEF
//!    (TS 29.222 `AEF_Security_API` `revoke-authorization`, mutual TLS, CCF certificate pinned):
//!    the old key is refused at once (the AEF caches keys for an hour here), the new one works.
//!
//! Keys are printed only as fingerprints. Exit code 0 on success; otherwise the failing step is
//! named and the exit code is 1.

mod flow;
mod pki;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use flow::{Log, World};

const INVOKER_ID: &str = "INV7f3a9c01";

fn log_line(role: &str, line: &str) {
    println!("[{role:<7}] {line}");
}

/// Two CCF replicas' stores on the Redis at `url`, sealed with the operator's KEK.
#[cfg(feature = "redis")]
fn redis_replicas(
    url: &str,
) -> Result<
    (
        Arc<rustls_capif::capif3::CcfKeyStore>,
        Arc<rustls_capif::capif3::CcfKeyStore>,
    ),
    String,
> {
    use rustls_capif::capif3::{
        CcfKeyStore, CcfKeyStoreConfig, KeyEncryptionKey, RedisStoreConfig,
    };
    let kek = match std::env::var("CAPIF_FLOW_KEK_HEX") {
        Ok(hex) => {
            log_line("setup", "key-encryption key from CAPIF_FLOW_KEK_HEX");
            KeyEncryptionKey::from_hex(&hex).map_err(|e| format!("CAPIF_FLOW_KEK_HEX: {e}"))?
        }
        Err(_) => {
            log_line(
                "setup",
                "key-encryption key generated for this run (set CAPIF_FLOW_KEK_HEX to supply one)",
            );
            KeyEncryptionKey::generate().map_err(|e| e.to_string())?
        }
    };
    let store = || {
        CcfKeyStore::redis(
            CcfKeyStoreConfig::default(),
            RedisStoreConfig::new(url, kek.clone()),
        )
        .map(Arc::new)
        .map_err(|e| format!("Redis store: {e}"))
    };
    Ok((store()?, store()?))
}

#[cfg(not(feature = "redis"))]
fn redis_replicas(
    _: &str,
) -> Result<
    (
        Arc<rustls_capif::capif3::CcfKeyStore>,
        Arc<rustls_capif::capif3::CcfKeyStore>,
    ),
    String,
> {
    Err("--redis needs the `redis` feature: cargo run --example capif_flow --features redis -- --redis URL".into())
}

async fn run(tls13: bool, redis: Option<String>) -> Result<String, String> {
    let log: Log = Arc::new(log_line);
    log_line(
        "setup",
        "throwaway CA and certificates for CCF, AEF and invoker (rcgen)",
    );
    let replicas = match &redis {
        Some(url) => Some(redis_replicas(url).map_err(|e| format!("step 1 (Redis): {e}"))?),
        None => None,
    };
    let world = World::start_with(
        INVOKER_ID,
        tls13,
        Duration::from_secs(3600),
        log.clone(),
        replicas,
    )
    .await
    .map_err(|e| format!("step 1 (start CCF and AEF): {e}"))?;
    if let Some(b) = &world.replica {
        log_line(
            "ccf",
            &format!(
                "two CCF replicas share the Redis at {}: replica A (CAPIF-1e {}), replica B \
                 (CAPIF-1e {}, CAPIF-3 {}, the one the AEF asks)",
                redis.as_deref().unwrap_or(""),
                world.ccf.capif1e,
                b.capif1e,
                b.capif3_api_root
            ),
        );
    }
    log_line(
        "ccf",
        &format!(
            "CAPIF-1e on {}, CAPIF-3 apiRoot {}",
            world.ccf.capif1e, world.ccf.capif3_api_root
        ),
    );
    log_line(
        "aef",
        &format!(
            "CAPIF-2e (TLS-PSK) API on {}; AEF_Security_API apiRoot {} (mutual TLS, CCF only)",
            world.aef.addr, world.revocation.api_root
        ),
    );

    let invoker = &world.invoker;
    let discovery = invoker
        .discover(world.ccf.capif1e)
        .await
        .map_err(|e| format!("step 2 (CAPIF-1e with the CCF): {e}"))?;
    log_line(
        "invoker",
        &format!(
            "CAPIF-1e TLS with the CCF done ({:?}, Session ID {} octets); discovered AEF at {}",
            discovery.session.protocol_version(),
            discovery.session.session_id().len(),
            discovery.aef
        ),
    );

    let psk = discovery
        .session
        .derive_aef_psk(&discovery.aef)
        .map_err(|e| format!("step 3 (derive AEFPSK): {e}"))?;
    log_line(
        "invoker",
        &format!(
            "derived AEFPSK for {} (fingerprint {})",
            discovery.aef,
            psk.fingerprint()
        ),
    );

    let (params, body) = invoker
        .call_aef(discovery.aef_addr, &psk)
        .await
        .map_err(|e| format!("step 4 (CAPIF-2e TLS-PSK with the AEF): {e}"))?;
    log_line(
        "invoker",
        &format!("CAPIF-2e TLS-PSK handshake done ({params})"),
    );
    log_line("invoker", &format!("GET {} -> 200 {body}", flow::API_PATH));

    // The CCF's copy of the key, as it went to the AEF over CAPIF-3 (replica B's, with Redis).
    let ccf_key = world
        .capif3_ccf()
        .store
        .aef_psk(INVOKER_ID, &discovery.aef)
        .await
        .map_err(|e| format!("step 5 (compare keys): {e}"))?
        .ok_or("step 5 (compare keys): the CCF has no key for the invoker")?;
    if ccf_key != psk {
        return Err("step 5 (compare keys): the CCF's AEFPSK differs from the invoker's".into());
    }
    if !body.contains(INVOKER_ID) {
        return Err("step 5 (check the API answer): it does not name the invoker".into());
    }

    // A newer CAPIF-1e session (at replica B, with Redis): the CCF replaces the key and
    // notifies the AEF at once.
    let newer = invoker
        .restarted()
        .discover(world.capif3_ccf().capif1e)
        .await
        .map_err(|e| format!("step 6 (newer CAPIF-1e session): {e}"))?;
    let new_psk = newer
        .session
        .derive_aef_psk(&newer.aef)
        .map_err(|e| format!("step 6 (derive the new AEFPSK): {e}"))?;
    log_line(
        "invoker",
        &format!(
            "newer CAPIF-1e session; new AEFPSK fingerprint {}",
            new_psk.fingerprint()
        ),
    );
    let start = std::time::Instant::now();
    let refused = loop {
        match invoker.call_aef(discovery.aef_addr, &psk).await {
            Err(e) => break e,
            Ok(_) if start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Ok(_) => {
                return Err(
                    "step 6 (revocation): the AEF still accepts the replaced key after 5 s".into(),
                )
            }
        }
    };
    log_line(
        "invoker",
        &format!(
            "old AEFPSK refused by the AEF {} ms after the newer session (key cache TTL 1 h): {refused}",
            start.elapsed().as_millis()
        ),
    );
    invoker
        .call_aef(newer.aef_addr, &new_psk)
        .await
        .map_err(|e| format!("step 6 (CAPIF-2e with the new key): {e}"))?;
    log_line("invoker", "new AEFPSK accepted by the AEF");
    Ok(format!(
        "CAPIF method 1 flow OK: invoker {INVOKER_ID} called the AEF over TLS-PSK; AEFPSK {} identical at invoker, CCF and AEF; replaced key revoked at the AEF at once",
        psk.fingerprint()
    ))
}

fn main() -> ExitCode {
    let (mut tls13, mut redis) = (false, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls13" => tls13 = true,
            "--redis" => match args.next() {
                Some(url) => redis = Some(url),
                None => {
                    eprintln!("error: --redis needs a URL (redis://127.0.0.1:6379)");
                    return ExitCode::FAILURE;
                }
            },
            other => {
                eprintln!(
                    "error: unknown argument {other:?}; usage: capif_flow [--tls13] [--redis redis://HOST:PORT]"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("RESULT: FAILED: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(tls13, redis)) {
        Ok(summary) => {
            println!("RESULT: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("RESULT: FAILED at {e}");
            ExitCode::FAILURE
        }
    }
}
