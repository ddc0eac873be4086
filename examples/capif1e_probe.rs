//! Operator tool: connect to a CAPIF-1e server as an API invoker and show the AEFPSK this
//! crate derives for an AEF interface.
//!
//! ```text
//! cargo run --example capif1e_probe -- --connect HOST:PORT --server-name NAME --ca CA.pem \
//!     --interface HOST:PORT [--tls12|--tls13] [--tls13-exporter-profile] [--show-psk] \
//!     [--print-response]
//! protocol TLSv1.2
//! AEFPSK-fingerprint 1f0c9a5e77d2b3c4        (or, with --show-psk: AEFPSK <64 hex digits>)
//! ```
//!
//! It sends `GET / HTTP/1.0` and, with `--print-response`, prints what the server answered
//! (`openssl s_server -www` answers with a status page showing the Session-ID and Master-Key,
//! so the printed AEFPSK can be checked with the `aefpsk` example). Any failure prints one
//! line `error: ...` on stderr and exits with status 1.
//!
//! The probe follows TS 33.122 Annex A.1 (the crate's default profile): if the server
//! negotiates TLS 1.3, no AEFPSK is defined and the probe fails with that error. Use `--tls12`,
//! or `--tls13-exporter-profile` for a CCF that runs this crate's TLS 1.3 exporter profile.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ProtocolVersion, RootCertStore};
use rustls_capif::capif1e::{Capif1eProfile, InvokerConfig};
use rustls_capif::ServiceApiInterface;

const USAGE: &str = "usage: capif1e_probe --connect HOST:PORT --server-name NAME --ca CA.pem \
                     --interface HOST:PORT [--tls12|--tls13] [--tls13-exporter-profile] \
                     [--show-psk] [--print-response]";

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_RESPONSE: usize = 1 << 20;

#[derive(Default)]
struct Args {
    connect: Option<String>,
    server_name: Option<String>,
    ca: Option<String>,
    interface: Option<String>,
    tls12: bool,
    tls13: bool,
    exporter_profile: bool,
    show_psk: bool,
    print_response: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--connect" => &mut a.connect,
            "--server-name" => &mut a.server_name,
            "--ca" => &mut a.ca,
            "--interface" => &mut a.interface,
            "--tls12" => {
                a.tls12 = true;
                continue;
            }
            "--tls13" => {
                a.tls13 = true;
                continue;
            }
            "--tls13-exporter-profile" => {
                a.exporter_profile = true;
                continue;
            }
            "--show-psk" => {
                a.show_psk = true;
                continue;
            }
            "--print-response" => {
                a.print_response = true;
                continue;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        };
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        *slot = Some(value);
    }
    if a.tls12 && a.tls13 {
        return Err(format!("--tls12 and --tls13 exclude each other; {USAGE}"));
    }
    Ok(a)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let need = |v: Option<String>, flag: &str| v.ok_or_else(|| format!("missing {flag}; {USAGE}"));
    let connect = need(args.connect, "--connect")?;
    let server_name = need(args.server_name, "--server-name")?;
    let ca = need(args.ca, "--ca")?;
    let interface = need(args.interface, "--interface")?;

    let interface =
        ServiceApiInterface::parse(&interface).map_err(|e| format!("--interface: {e}"))?;
    let server_name = ServerName::try_from(server_name)
        .map_err(|e| format!("--server-name: not a DNS name or IP address ({e})"))?;

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca).map_err(|e| format!("--ca {ca}: {e}"))? {
        let cert = cert.map_err(|e| format!("--ca {ca}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--ca {ca}: unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--ca {ca}: no certificates in the file"));
    }

    let versions: &[&'static rustls::SupportedProtocolVersion] = if args.tls12 {
        &[&rustls::version::TLS12]
    } else if args.tls13 {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let config = rustls::ClientConfig::builder_with_provider(rustls_capif::default_provider())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth();
    let profile = if args.exporter_profile {
        Capif1eProfile::Tls13Exporter
    } else {
        Capif1eProfile::AnnexA1
    };
    let invoker = InvokerConfig::new(config).with_profile(profile);

    let addr = connect
        .to_socket_addrs()
        .map_err(|e| format!("--connect {connect}: {e}"))?
        .next()
        .ok_or_else(|| format!("--connect {connect}: no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    tcp.set_read_timeout(Some(TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("socket: {e}"))?;

    let (mut tls, session) = invoker
        .connect(server_name, tcp)
        .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
    let psk = session
        .derive_aef_psk(&interface)
        .map_err(|e| format!("AEFPSK: {e}"))?;

    tls.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .and_then(|()| tls.flush())
        .map_err(|e| format!("sending the request: {e}"))?;
    let response = read_response(&mut tls).map_err(|e| format!("reading the response: {e}"))?;

    let mut out = io::stdout().lock();
    let version = match session.protocol_version() {
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        other => format!("{other:?}"),
    };
    let result = (|| {
        writeln!(out, "protocol {version}")?;
        if args.show_psk {
            writeln!(out, "AEFPSK {}", &*psk.to_authentication_info())?;
        } else {
            writeln!(out, "AEFPSK-fingerprint {}", psk.fingerprint())?;
        }
        if args.print_response {
            out.write_all(&response)?;
        }
        out.flush()
    })();
    result.map_err(|e| format!("writing the output: {e}"))
}

/// Reads the response until the server closes; a close without close_notify is accepted once
/// something was received (many HTTP/1.0 servers just close).
fn read_response(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(response),
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.len() > MAX_RESPONSE {
                    return Err(io::Error::other("response larger than 1 MiB"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !response.is_empty() => {
                return Ok(response)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the error text holds.
            eprintln!("error: {}", e.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
