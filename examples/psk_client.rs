//! CAPIF-2e client tool: a TLS 1.3 external-PSK client, or with `--tls12` a TLS 1.2 PSK client.
//!
//! ```text
//! cargo run --example psk_client -- --connect HOST:PORT --identity ID --psk HEX [--sha384] [--psk-ke]
//!     [--tls12] [--plain-psk] [--import] [--groups x25519,ffdhe2048]
//! ```
//!
//! `--tls12` offers TLS 1.2 only (ECDHE_PSK suites); `--plain-psk` adds the RFC 5487 plain
//! PSK suites (no forward secrecy).
//!
//! Sends `GET / HTTP/1.0`, prints the response, then the negotiated suite and group. Exits
//! non-zero with the error on any failure. Works against `openssl s_server -psk` and
//! `gnutls-serv --pskpasswd` as well as `psk_server`. `--import` offers RFC 9258 imported
//! identities of the key (empty context, HKDF_SHA256 and HKDF_SHA384) instead of the plain
//! one; only `psk_server --import` knows them (no OpenSSL or GnuTLS release installed here
//! speaks RFC 9258). `--groups` restricts and orders the key-exchange groups
//! (comma-separated; `ffdhe2048` and `ffdhe3072` with the `ffdhe` feature); the first gets
//! the key share.

#[path = "psk_common/mod.rs"]
mod psk_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls_capif::psk::{
    ExternalPsk, PskClientConfig, PskClientConnection, PskHash, PskImporter, PskKeyExchangeModes,
    PskStream,
};
use rustls_capif::secret::decode_hex;

const USAGE: &str = "usage: psk_client --connect HOST:PORT --identity ID --psk HEX [--sha384] \
                     [--psk-ke] [--tls12] [--plain-psk] [--import] [--groups LIST]";

fn run() -> Result<(), String> {
    let (mut connect, mut identity, mut key) = (None, None, None);
    let (mut sha384, mut psk_ke, mut import) = (false, false, false);
    let (mut tls12, mut plain_psk) = (false, false);
    let mut groups = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connect" => connect = args.next(),
            "--identity" => identity = args.next(),
            "--psk" => key = args.next(),
            "--sha384" => sha384 = true,
            "--psk-ke" => psk_ke = true,
            "--import" => import = true,
            "--groups" => groups = Some(args.next().ok_or("--groups needs a list")?),
            "--tls12" => tls12 = true,
            "--plain-psk" => plain_psk = true,
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let connect = connect.ok_or(format!("missing --connect; {USAGE}"))?;
    let identity = identity.ok_or(format!("missing --identity; {USAGE}"))?;
    let key = decode_hex(&key.ok_or(format!("missing --psk; {USAGE}"))?)
        .map_err(|e| format!("--psk: {e}"))?;
    let hash = if sha384 {
        PskHash::Sha384
    } else {
        PskHash::Sha256
    };
    let psk = ExternalPsk::new(identity.into_bytes(), &key, hash).map_err(|e| e.to_string())?;
    let mut config = PskClientConfig::new(psk);
    if psk_ke {
        config = config.with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    }
    if import {
        config = config.with_psk_importer(PskImporter::new());
    }
    if let Some(list) = groups {
        // A key share is sent for the first group; the others are offered for a retry.
        config = config
            .with_groups(&psk_common::parse_groups(&list)?)
            .map_err(|e| e.to_string())?;
    }
    if tls12 {
        config = config.with_tls12(true).with_tls13(false);
    }
    config = config.with_plain_psk(plain_psk);
    let host = connect.rsplit_once(':').map_or("", |(h, _)| h);
    if !host.is_empty() && !host.starts_with('[') {
        config = config.with_server_name(host).map_err(|e| e.to_string())?;
    }

    let tcp = TcpStream::connect(&connect).map_err(|e| format!("connect {connect}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30))).ok();
    tcp.set_nodelay(true).ok();
    let conn = PskClientConnection::new(Arc::new(config)).map_err(|e| e.to_string())?;
    let mut tls = PskStream::new(conn, tcp);
    tls.handshake().map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // Some servers (openssl s_server -www) close without close_notify after HTTP/1.0.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
            eprintln!("note: server closed without close_notify");
        }
        Err(e) => return Err(format!("read: {e}")),
    }
    print!("{}", String::from_utf8_lossy(&response));
    println!();
    println!(
        "version: {:?}",
        tls.conn.protocol_version().ok_or("no version")?
    );
    println!(
        "suite: {:?}",
        tls.conn.negotiated_cipher_suite().ok_or("no suite")?
    );
    match tls.conn.negotiated_key_exchange_group() {
        Some(g) => println!("group: {g:?}"),
        None => println!("group: none (psk_ke)"),
    }
    let _ = tls.close();
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
