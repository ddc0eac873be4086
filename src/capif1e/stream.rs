//! [`TapStream`]: a transport wrapper that shows the hello records to a pair of [`HelloTaps`].

use std::io::{self, IoSlice, Read, Write};

use super::tap::HelloTaps;

/// Which end of the TLS connection a [`TapStream`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// A transport wrapper that copies the first flights of a TLS connection into [`HelloTaps`],
/// so that the CAPIF-1e session can read the client random and the Session ID.
///
/// It passes every byte through unchanged and adds no buffering: reads and writes go straight
/// to the inner transport; only the bytes the inner transport actually accepted or produced
/// are shown to the taps. Once both hellos are found, the overhead is one branch per call.
///
/// It implements [`std::io::Read`] and [`std::io::Write`] (for `rustls::StreamOwned`) and,
/// with the `tokio` feature, `tokio::io::AsyncRead` and `AsyncWrite` (for tokio-rustls).
///
/// ```
/// use std::io::{Cursor, Read};
/// use rustls_capif::capif1e::TapStream;
///
/// // The server side: reads carry the ClientHello.
/// let mut tap = TapStream::server(Cursor::new(vec![21, 3, 3, 0, 2, 2, 40])); // an alert
/// let mut buf = [0u8; 16];
/// assert_eq!(tap.read(&mut buf).unwrap(), 7);
/// assert!(tap.taps().client_hello().is_none());
/// assert!(tap.taps().client_tap().is_passthrough());
/// ```
#[derive(Debug)]
pub struct TapStream<S> {
    inner: S,
    taps: HelloTaps,
    role: Role,
}

impl<S> TapStream<S> {
    /// Wraps the transport of a TLS **client** (the CAPIF-1e invoker): what it writes is the
    /// client → server direction, what it reads the server → client direction.
    pub fn client(inner: S) -> Self {
        Self {
            inner,
            taps: HelloTaps::new(),
            role: Role::Client,
        }
    }

    /// Wraps the transport of a TLS **server** (the CCF): what it reads is the client → server
    /// direction, what it writes the server → client direction.
    pub fn server(inner: S) -> Self {
        Self {
            inner,
            taps: HelloTaps::new(),
            role: Role::Server,
        }
    }

    /// The taps, with what they have seen so far.
    pub fn taps(&self) -> &HelloTaps {
        &self.taps
    }

    /// The inner transport.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner transport, mutably.
    ///
    /// Bytes read from or written to it directly bypass the taps; during the handshake that
    /// would make the CAPIF-1e session unavailable.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner transport.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn observe_read(&mut self, bytes: &[u8]) {
        // Tap errors are sticky and reported when the session is built; the transport itself
        // is never disturbed by them.
        let _ = match self.role {
            Role::Client => self.taps.server_sent(bytes),
            Role::Server => self.taps.client_sent(bytes),
        };
    }

    fn observe_written(&mut self, bytes: &[u8]) {
        let _ = match self.role {
            Role::Client => self.taps.client_sent(bytes),
            Role::Server => self.taps.server_sent(bytes),
        };
    }

    fn observe_written_vectored(&mut self, bufs: &[IoSlice<'_>], mut n: usize) {
        for buf in bufs {
            if n == 0 || self.taps.is_passthrough() {
                break;
            }
            let take = buf.len().min(n);
            self.observe_written(&buf[..take]);
            n -= take;
        }
    }
}

impl<S: crate::deadline::TransportTimeouts> crate::deadline::TransportTimeouts for TapStream<S> {
    fn timeouts(&self) -> io::Result<(Option<std::time::Duration>, Option<std::time::Duration>)> {
        self.inner.timeouts()
    }

    fn set_timeouts(
        &mut self,
        read: Option<std::time::Duration>,
        write: Option<std::time::Duration>,
    ) -> io::Result<()> {
        self.inner.set_timeouts(read, write)
    }
}

impl<S: Read> Read for TapStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe_read(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Write for TapStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.observe_written(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = self.inner.write_vectored(bufs)?;
        self.observe_written_vectored(bufs, n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(feature = "tokio")]
mod tokio_io {
    use std::io::{self, IoSlice};
    use std::pin::Pin;
    use std::task::{ready, Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use super::TapStream;

    impl<S: AsyncRead + Unpin> AsyncRead for TapStream<S> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            this.observe_read(&buf.filled()[before..]);
            Poll::Ready(Ok(()))
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for TapStream<S> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
            this.observe_written(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
            this.observe_written_vectored(bufs, n);
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport that accepts at most `max` bytes per write and reads from a script.
    struct Trickle {
        max: usize,
        written: Vec<u8>,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_accepted_bytes_reach_the_tap() {
        // A fatal alert record: the client tap gives up once it has seen the whole record.
        let alert = [21u8, 3, 3, 0, 2, 2, 40];
        let mut s = TapStream::client(Trickle {
            max: 3,
            written: Vec::new(),
        });
        assert_eq!(s.write(&alert).unwrap(), 3);
        let bufs = [IoSlice::new(&alert[3..6]), IoSlice::new(&alert[6..])];
        assert_eq!(s.write_vectored(&bufs).unwrap(), 3);
        // Six bytes accepted: the alert's level is in, its description is not.
        assert!(!s.taps().client_tap().is_passthrough());
        assert_eq!(s.write(&alert[6..]).unwrap(), 1);
        assert!(s.taps().client_tap().is_passthrough());
        assert_eq!(s.get_ref().written, alert);
        assert!(s.taps().server_tap().state() == super::super::TapState::Parsing);
    }
}
