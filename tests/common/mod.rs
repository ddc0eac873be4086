//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod peer;

use std::io::Read;
use std::ops::DerefMut;

use rustls_capif::psk::{ConnectionCommon, PskClientConnection, PskServerConnection};
use rustls_capif::Error;

pub mod raw;

/// Moves all pending TLS bytes from `from` to `to` (in one go, as one TCP read would).
pub fn transfer(from: &mut ConnectionCommon, to: &mut ConnectionCommon) -> usize {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
    }
    buf.len()
}

/// Runs the handshake in memory; returns the first error of either side.
pub fn handshake(
    client: &mut PskClientConnection,
    server: &mut PskServerConnection,
) -> Result<(), (Side, Error)> {
    for _ in 0..16 {
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            return Ok(());
        }
        transfer(client.deref_mut(), server.deref_mut());
        server
            .process_new_packets()
            .map_err(|e| (Side::Server, e))?;
        transfer(server.deref_mut(), client.deref_mut());
        client
            .process_new_packets()
            .map_err(|e| (Side::Client, e))?;
    }
    panic!("handshake did not finish in 16 round trips");
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Side {
    Client,
    Server,
}

/// Reads all available plaintext.
pub fn read_all(conn: &mut ConnectionCommon) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("read failed: {e}"),
        }
    }
    out
}
