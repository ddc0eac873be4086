//! Whole-handshake deadlines for blocking transports.
//!
//! A read timeout on a socket bounds one read, not a handshake: a peer that sends one byte
//! just before each timeout holds the connection for as long as it likes. The blocking
//! handshakes of this crate ([`PskStream::handshake_within`](crate::psk::PskStream::handshake_within),
//! [`CcfConfig::accept_within`](crate::capif1e::CcfConfig::accept_within)) take a limit for the
//! whole handshake instead: before every read and write they set the transport's timeouts to
//! the time left, and give up with [`io::ErrorKind::TimedOut`] once it has run out. The
//! transport's own timeouts are put back afterwards.
//!
//! The transport has to let its timeouts be set: [`TransportTimeouts`] is implemented for
//! [`TcpStream`] (and `&TcpStream`) and, on Unix, [`UnixStream`](std::os::unix::net::UnixStream), and can be
//! implemented for any other blocking transport. (The tokio adapters have their own deadline,
//! `with_handshake_timeout`, on by default.)

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A blocking transport whose read and write timeouts can be set, like [`TcpStream`].
///
/// A read or write that times out must fail with [`io::ErrorKind::WouldBlock`] or
/// [`io::ErrorKind::TimedOut`] (the socket types return the former on Unix, the latter on
/// Windows).
pub trait TransportTimeouts {
    /// The current read and write timeouts (`None`: blocking without limit).
    fn timeouts(&self) -> io::Result<(Option<Duration>, Option<Duration>)>;

    /// Sets the read and write timeouts. `Some` values are never zero here.
    fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()>;
}

impl TransportTimeouts for TcpStream {
    fn timeouts(&self) -> io::Result<(Option<Duration>, Option<Duration>)> {
        Ok((self.read_timeout()?, self.write_timeout()?))
    }

    fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

impl TransportTimeouts for &TcpStream {
    fn timeouts(&self) -> io::Result<(Option<Duration>, Option<Duration>)> {
        Ok((self.read_timeout()?, self.write_timeout()?))
    }

    fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

#[cfg(unix)]
impl TransportTimeouts for std::os::unix::net::UnixStream {
    fn timeouts(&self) -> io::Result<(Option<Duration>, Option<Duration>)> {
        Ok((self.read_timeout()?, self.write_timeout()?))
    }

    fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

impl<T: TransportTimeouts + ?Sized> TransportTimeouts for &mut T {
    fn timeouts(&self) -> io::Result<(Option<Duration>, Option<Duration>)> {
        (**self).timeouts()
    }

    fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        (**self).set_timeouts(read, write)
    }
}

/// The end of a handshake's time, and what it does to the transport.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    limit: Duration,
}

impl Deadline {
    /// A deadline `limit` from now (a limit too large to represent never runs out).
    pub(crate) fn after(limit: Duration) -> Self {
        Self {
            at: Instant::now().checked_add(limit),
            limit,
        }
    }

    fn left(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn expired(&self) -> bool {
        self.left().is_some_and(|left| left.is_zero())
    }

    /// The error a handshake that ran out of time ends with.
    pub(crate) fn timed_out(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the TLS handshake did not complete within {:?}", self.limit),
        )
    }

    /// Sets the transport's timeouts to the time left; `TimedOut` when none is.
    pub(crate) fn arm(&self, sock: &mut (impl TransportTimeouts + ?Sized)) -> io::Result<()> {
        match self.left() {
            Some(left) if left.is_zero() => Err(self.timed_out()),
            Some(left) => sock.set_timeouts(Some(left), Some(left)),
            None => sock.set_timeouts(None, None),
        }
    }

    /// Whether `err`, from an I/O step, means "try again": a transport timeout that struck
    /// before the deadline (which then arms the transport again). A timeout at or past the
    /// deadline becomes [`Deadline::timed_out`]; any other error stays as it is.
    pub(crate) fn classify(&self, err: io::Error) -> Result<(), io::Error> {
        let timeout_like = matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        match (timeout_like, self.expired()) {
            (true, true) => Err(self.timed_out()),
            (true, false) => Ok(()),
            (false, _) => Err(err),
        }
    }
}

/// Runs `step` until it says it is done, within `limit`, and restores `sock`'s timeouts at
/// the end. `step` does its I/O through [`Deadline::guard`], so that every single read and
/// write is bounded by the time left (an I/O loop inside `step`, such as rustls's
/// `complete_io`, cannot outlast the deadline).
///
/// `sock` gives access to the transport inside `state` (the transport is usually a field of
/// the stream that `step` drives).
pub(crate) fn run_within<S, T>(
    state: &mut S,
    limit: Duration,
    sock: fn(&mut S) -> &mut T,
    mut step: impl FnMut(&mut S, &Deadline) -> io::Result<bool>,
) -> io::Result<()>
where
    T: TransportTimeouts + ?Sized,
{
    let deadline = Deadline::after(limit);
    let saved = sock(state).timeouts()?;
    let result = loop {
        if deadline.expired() {
            break Err(deadline.timed_out());
        }
        match step(state, &deadline) {
            Ok(true) => break Ok(()),
            Ok(false) => {}
            Err(e) => {
                if let Err(e) = deadline.classify(e) {
                    break Err(e);
                }
            }
        }
    };
    let restored = sock(state).set_timeouts(saved.0, saved.1);
    result.and(restored)
}

/// A transport whose every read and write is bounded by a [`Deadline`].
#[derive(Debug)]
pub(crate) struct Guarded<'a, T: ?Sized> {
    io: &'a mut T,
    deadline: Deadline,
}

impl Deadline {
    /// `io`, with the time left set as its timeouts before each read and write.
    pub(crate) fn guard<'a, T: ?Sized>(&self, io: &'a mut T) -> Guarded<'a, T> {
        Guarded {
            io,
            deadline: *self,
        }
    }
}

impl<T: Read + TransportTimeouts + ?Sized> Read for Guarded<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.deadline.arm(self.io)?;
        self.io.read(buf)
    }
}

impl<T: Write + TransportTimeouts + ?Sized> Write for Guarded<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.deadline.arm(self.io)?;
        self.io.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.deadline.arm(self.io)?;
        self.io.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.deadline.arm(self.io)?;
        self.io.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_before_the_deadline_are_retried_and_after_it_are_fatal() {
        let d = Deadline::after(Duration::from_secs(3600));
        assert!(d.classify(io::ErrorKind::WouldBlock.into()).is_ok());
        assert!(d.classify(io::ErrorKind::TimedOut.into()).is_ok());
        let other = d
            .classify(io::ErrorKind::ConnectionReset.into())
            .unwrap_err();
        assert_eq!(other.kind(), io::ErrorKind::ConnectionReset);

        let d = Deadline::after(Duration::ZERO);
        let e = d.classify(io::ErrorKind::WouldBlock.into()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("did not complete within"));
    }

    #[test]
    fn an_unrepresentable_limit_never_expires() {
        let d = Deadline::after(Duration::MAX);
        assert!(!d.expired());
        assert!(d.classify(io::ErrorKind::WouldBlock.into()).is_ok());
    }
}
