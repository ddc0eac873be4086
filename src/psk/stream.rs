//! Blocking `std::io` adapter: a PSK connection and its transport as one `Read + Write`
//! stream, like rustls's `StreamOwned`.

use std::io::{self, Read, Write};
use std::ops::DerefMut;

use super::conn::{ConnectionCommon, IoState};
use super::{PskClientConnection, PskServerConnection};
use crate::error::Error;

/// Either side of an external-PSK connection: [`PskClientConnection`] or
/// [`PskServerConnection`]. Sealed: the adapters rely on its two implementations only.
pub trait PskConnection: DerefMut<Target = ConnectionCommon> + sealed::Sealed {
    /// Processes received TLS bytes (see the client and server types).
    fn process_new_packets(&mut self) -> Result<IoState, Error>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::PskClientConnection {}
    impl Sealed for super::PskServerConnection {}
}

impl PskConnection for PskClientConnection {
    fn process_new_packets(&mut self) -> Result<IoState, Error> {
        PskClientConnection::process_new_packets(self)
    }
}

impl PskConnection for PskServerConnection {
    fn process_new_packets(&mut self) -> Result<IoState, Error> {
        PskServerConnection::process_new_packets(self)
    }
}

/// A PSK connection over a blocking transport `T`, readable and writable as plaintext.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use std::sync::Arc;
/// use rustls_capif::psk::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x42; 32], PskHash::Sha256)?;
/// let conn = PskClientConnection::new(Arc::new(PskClientConfig::new(psk)))?;
/// let mut tls = PskStream::new(conn, TcpStream::connect("127.0.0.1:4433")?);
/// tls.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
/// let mut response = Vec::new();
/// tls.read_to_end(&mut response)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PskStream<C: PskConnection, T: Read + Write> {
    /// The connection.
    pub conn: C,
    /// The transport.
    pub sock: T,
}

impl<C: PskConnection, T: Read + Write> PskStream<C, T> {
    /// Pairs a connection with its transport.
    pub fn new(conn: C, sock: T) -> Self {
        Self { conn, sock }
    }

    /// Drives the handshake to completion.
    pub fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.complete_io()?;
        }
        self.flush_tls()
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.sock
    }

    /// The transport, mutably (reading or writing it directly corrupts the TLS stream).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.sock
    }

    /// The connection and the transport.
    pub fn into_inner(self) -> (C, T) {
        (self.conn, self.sock)
    }

    /// Sends close_notify and flushes it. During the handshake, completes the handshake
    /// first (close_notify follows it and the data written before), which waits for the
    /// peer; after a failed handshake there is nothing to close and it only flushes.
    pub fn close(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        if self.conn.is_handshaking() && self.conn.wants_read() {
            self.handshake()?;
        }
        self.flush_tls()
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        self.sock.flush()
    }

    /// One round of I/O: write what is pending, read once if wanted, process.
    /// Returns the number of TLS bytes read (0 at end of stream).
    fn complete_io(&mut self) -> io::Result<usize> {
        self.flush_tls()?;
        if !self.conn.wants_read() {
            if self.conn.is_handshaking() {
                // Failed, or the peer went away: the handshake can never complete.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the TLS handshake failed or the peer closed the connection",
                ));
            }
            return Ok(0);
        }
        let n = loop {
            match self.conn.read_tls(&mut self.sock) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if let Err(e) = self.conn.process_new_packets() {
            // Try to tell the peer why (the alert is queued).
            let _ = self.flush_tls();
            return Err(e.into());
        }
        self.flush_tls()?;
        Ok(n)
    }
}

impl<C: PskConnection, T: Read + Write> Read for PskStream<C, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.handshake()?;
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.complete_io()?;
                }
                other => return other,
            }
        }
    }
}

impl<C: PskConnection, T: Read + Write> Write for PskStream<C, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handshake()?;
        loop {
            let n = self.conn.writer().write(buf)?;
            if n > 0 || buf.is_empty() || !self.conn.wants_write() {
                // Written, or no room even with nothing queued (a zero buffer limit): Ok(0).
                // Best effort: push it out now.
                while self.conn.wants_write() {
                    self.conn.write_tls(&mut self.sock)?;
                }
                return Ok(n);
            }
            self.flush_tls()?;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}
