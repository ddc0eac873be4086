//! Blocking `std::io` adapter: a PSK connection and its transport as one `Read + Write`
//! stream, like rustls's `StreamOwned`.

use std::io::{self, Read, Write};
use std::ops::DerefMut;
use std::time::Duration;

use super::conn::{ConnectionCommon, IoState};
use super::{PskClientConnection, PskServerConnection};
use crate::deadline::{run_within, TransportTimeouts};
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
    ///
    /// This has no time limit of its own: a transport read timeout bounds each read, not the
    /// handshake, so a server facing untrusted peers should use
    /// [`handshake_within`](Self::handshake_within) instead.
    pub fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.complete_io()?;
        }
        self.flush_tls()
    }

    /// Drives the handshake to completion within `limit` for the whole handshake, however
    /// the peer paces its bytes; fails with [`io::ErrorKind::TimedOut`] when it runs out.
    ///
    /// Before every read and write the transport's timeouts are set to the time left, and
    /// they are restored when the handshake ends (see [`crate::deadline`]). For blocking
    /// transports only (a non-blocking one makes this poll until the limit).
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use rustls_capif::psk::*;
    ///
    /// # fn serve(config: Arc<PskServerConfig>) -> std::io::Result<()> {
    /// let listener = TcpListener::bind("127.0.0.1:8443")?;
    /// let (tcp, _) = listener.accept()?;
    /// let mut tls = PskStream::new(PskServerConnection::new(config), tcp);
    /// tls.handshake_within(Duration::from_secs(10))?; // a slow-loris client is cut off
    /// # Ok(()) }
    /// ```
    pub fn handshake_within(&mut self, limit: Duration) -> io::Result<()>
    where
        T: TransportTimeouts,
    {
        run_within(
            self,
            limit,
            |s| &mut s.sock,
            |s, deadline| {
                let mut sock = deadline.guard(&mut s.sock);
                if s.conn.is_handshaking() {
                    complete_io(&mut s.conn, &mut sock)?;
                    Ok(false)
                } else {
                    flush_tls(&mut s.conn, &mut sock)?;
                    Ok(true)
                }
            },
        )
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
        flush_tls(&mut self.conn, &mut self.sock)
    }

    fn write_queued_tls(&mut self) -> io::Result<()> {
        write_queued_tls(&mut self.conn, &mut self.sock)
    }

    fn complete_io(&mut self) -> io::Result<usize> {
        complete_io(&mut self.conn, &mut self.sock)
    }
}

/// Writes every queued TLS byte to the transport, then flushes it.
fn flush_tls<C: PskConnection>(conn: &mut C, sock: &mut impl Write) -> io::Result<()> {
    write_queued_tls(conn, sock)?;
    sock.flush()
}

/// Writes every queued TLS byte to the transport. `Interrupted` is retried; a transport that
/// accepts nothing (`Ok(0)`) is `WriteZero`, never a spin.
fn write_queued_tls<C: PskConnection>(conn: &mut C, sock: &mut impl Write) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One round of I/O: write what is pending, read once if wanted, process.
/// Returns the number of TLS bytes read (0 at end of stream).
fn complete_io<C: PskConnection>(
    conn: &mut C,
    sock: &mut (impl Read + Write),
) -> io::Result<usize> {
    flush_tls(conn, sock)?;
    if !conn.wants_read() {
        if conn.is_handshaking() {
            // Failed, or the peer went away: the handshake can never complete.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the TLS handshake failed or the peer closed the connection",
            ));
        }
        return Ok(0);
    }
    let n = loop {
        match conn.read_tls(sock) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    if let Err(e) = conn.process_new_packets() {
        // Try to tell the peer why (the alert is queued).
        let _ = flush_tls(conn, sock);
        return Err(e.into());
    }
    flush_tls(conn, sock)?;
    Ok(n)
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
    /// Seals `buf` (up to the buffer limit) and pushes it towards the transport.
    ///
    /// Once bytes are accepted, `write` reports them as written: pushing them out is best
    /// effort, and a transport error at that point (`WouldBlock`, `Interrupted` or a broken
    /// transport) is reported by the next call instead (the bytes stay queued and go out with
    /// the next write or flush). An error therefore always means that nothing of `buf` was
    /// taken, so retrying it, as `std::io::Write` says to, never sends anything twice.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handshake()?;
        loop {
            let n = self.conn.writer().write(buf)?;
            if n > 0 || buf.is_empty() || !self.conn.wants_write() {
                // Taken, or no room even with nothing queued (a zero buffer limit): Ok(0).
                let _ = self.write_queued_tls();
                return Ok(n);
            }
            // Nothing taken yet: make room. An error here loses nothing.
            self.flush_tls()?;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}
