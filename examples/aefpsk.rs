//! Operator tool: compute an AEFPSK (TS 33.122 Annex A.1) from CAPIF-1e session values.
//!
//! ```text
//! cargo run --example aefpsk -- --master-secret HEX --session-id HEX --interface HOST:PORT
//! AEFPSK <64 lowercase hex digits>
//! ```
//!
//! The master secret and Session ID come from, e.g., `openssl s_server -www` status pages,
//! `openssl sess_id -text`, or a key log file. An empty `--session-id ""` gives L1 = 0.

use std::process::ExitCode;

use rustls_capif::kdf::derive_aefpsk;
use rustls_capif::secret::decode_hex;
use rustls_capif::ServiceApiInterface;

const USAGE: &str = "usage: aefpsk --master-secret HEX --session-id HEX --interface HOST:PORT";

fn run() -> Result<String, String> {
    let mut master_secret = None;
    let mut session_id = None;
    let mut interface = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--master-secret" => &mut master_secret,
            "--session-id" => &mut session_id,
            "--interface" => &mut interface,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        };
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        *slot = Some(value);
    }
    let master_secret = master_secret.ok_or_else(|| format!("missing --master-secret; {USAGE}"))?;
    let session_id = session_id.ok_or_else(|| format!("missing --session-id; {USAGE}"))?;
    let interface = interface.ok_or_else(|| format!("missing --interface; {USAGE}"))?;

    let ms = decode_hex(&master_secret).map_err(|e| format!("--master-secret: {e}"))?;
    if ms.is_empty() {
        return Err("--master-secret: empty".to_string());
    }
    let sid = decode_hex(&session_id).map_err(|e| format!("--session-id: {e}"))?;
    let interface =
        ServiceApiInterface::parse(&interface).map_err(|e| format!("--interface: {e}"))?;
    let psk = derive_aefpsk(&ms, &sid, &interface).map_err(|e| e.to_string())?;
    Ok(format!("AEFPSK {}", &*psk.to_authentication_info()))
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
