//! I/O integrity of the adapters (issue 16): whatever the transport does — `Interrupted`,
//! `WouldBlock` (or `Pending`) at random, one byte per write, `Ok(0)` — every plaintext byte
//! arrives exactly once and in order, and no loop spins.
//!
//! The transports here are in-memory pipes with injected faults, so that a fault hits every
//! phase (handshake, bulk data, close) deterministically.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_capif::psk::*;
use rustls_capif::rt::tokio::{PskAcceptor, PskConnector};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Plaintext sent in each direction.
const BULK: usize = 10 * 1024 * 1024;

fn key() -> ExternalPsk {
    ExternalPsk::new(b"invoker-1".to_vec(), &[7; 32], PskHash::Sha256).unwrap()
}

fn client_conn() -> PskClientConnection {
    PskClientConnection::new(Arc::new(PskClientConfig::new(key()))).unwrap()
}

fn server_config() -> Arc<PskServerConfig> {
    let store: StaticPskResolver = [key()].into_iter().collect();
    Arc::new(PskServerConfig::new(Arc::new(store)))
}

/// A different byte pattern per direction, so that a reflected or duplicated block is caught.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i / 7) as u8).wrapping_mul(31) ^ (i as u8) ^ salt)
        .collect()
}

/// Small deterministic generator for the fault schedule.
struct XorShift(u64);

impl XorShift {
    fn one_in(&mut self, n: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n == 0
    }
}

// ---------------------------------------------------------------------------------------------
// A blocking in-memory pipe (one direction), bounded so that writers see back-pressure.

#[derive(Default)]
struct PipeState {
    data: VecDeque<u8>,
    closed: bool,
}

#[derive(Clone, Default)]
struct Pipe(Arc<(Mutex<PipeState>, Condvar)>);

const PIPE_CAPACITY: usize = 64 * 1024;

impl Pipe {
    fn read(&self, out: &mut [u8]) -> usize {
        let (lock, cond) = &*self.0;
        let mut st = lock.lock().unwrap();
        while st.data.is_empty() && !st.closed {
            st = cond.wait(st).unwrap();
        }
        let n = out.len().min(st.data.len());
        for (o, b) in out.iter_mut().zip(st.data.drain(..n)) {
            *o = b;
        }
        cond.notify_all();
        n
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let (lock, cond) = &*self.0;
        let mut st = lock.lock().unwrap();
        while st.data.len() >= PIPE_CAPACITY && !st.closed {
            st = cond.wait(st).unwrap();
        }
        if st.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(PIPE_CAPACITY - st.data.len());
        st.data.extend(&buf[..n]);
        cond.notify_all();
        Ok(n)
    }

    fn close(&self) {
        let (lock, cond) = &*self.0;
        lock.lock().unwrap().closed = true;
        cond.notify_all();
    }
}

/// What the transport does wrong.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `Interrupted` on the first write and the first read past every `INTERRUPT_EVERY`
    /// transport bytes, so that it strikes in the middle of the data, at whichever point the
    /// adapter happens to be (once is enough for the blocking stream; the tokio adapter has
    /// more places where it writes).
    Interrupted,
    /// `WouldBlock` on about a third of the reads and writes, without touching the pipe.
    WouldBlockAtRandom,
    /// Accepts at most one byte per write.
    OneBytePerWrite,
}

/// One end of a duplex in-memory transport with a fault schedule.
struct FaultyEnd {
    rx: Pipe,
    tx: Pipe,
    fault: Fault,
    rng: XorShift,
    written: usize,
    read: usize,
    next_write_interrupt: usize,
    next_read_interrupt: usize,
}

/// Transport bytes between two `Interrupted` errors: the first strikes well inside the data.
const INTERRUPT_EVERY: usize = 1_000_000;

fn faulty_pair(fault: Fault) -> (FaultyEnd, FaultyEnd) {
    let (a, b) = (Pipe::default(), Pipe::default());
    let seed = |s: u64| XorShift(0x9e37_79b9_7f4a_7c15 ^ s);
    (
        FaultyEnd {
            rx: a.clone(),
            tx: b.clone(),
            fault,
            rng: seed(1),
            written: 0,
            read: 0,
            next_write_interrupt: INTERRUPT_EVERY,
            next_read_interrupt: INTERRUPT_EVERY,
        },
        FaultyEnd {
            rx: b,
            tx: a,
            fault,
            rng: seed(2),
            written: 0,
            read: 0,
            next_write_interrupt: INTERRUPT_EVERY,
            next_read_interrupt: INTERRUPT_EVERY,
        },
    )
}

impl FaultyEnd {
    /// Whether this call fails instead of moving bytes, and with what.
    fn inject(&mut self, write: bool) -> Option<io::ErrorKind> {
        let (moved, next) = if write {
            (self.written, &mut self.next_write_interrupt)
        } else {
            (self.read, &mut self.next_read_interrupt)
        };
        match self.fault {
            Fault::Interrupted if moved > *next => {
                *next = moved + INTERRUPT_EVERY;
                Some(io::ErrorKind::Interrupted)
            }
            Fault::WouldBlockAtRandom if self.rng.one_in(3) => Some(io::ErrorKind::WouldBlock),
            _ => None,
        }
    }
}

impl Drop for FaultyEnd {
    fn drop(&mut self) {
        self.tx.close();
        self.rx.close();
    }
}

impl Read for FaultyEnd {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.inject(false) {
            return Err(kind.into());
        }
        let n = self.rx.read(out);
        self.read += n;
        Ok(n)
    }
}

impl Write for FaultyEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.inject(true) {
            return Err(kind.into());
        }
        let buf = match self.fault {
            Fault::OneBytePerWrite => &buf[..buf.len().min(1)],
            _ => buf,
        };
        let n = self.tx.write(buf)?;
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Is this error one a caller retries (as a non-blocking caller would)?
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// `write_all` that retries transient errors, as `std::io::Write` tells a caller to.
fn write_all_retrying(w: &mut impl Write, mut buf: &[u8]) {
    let mut chunk = 0;
    while !buf.is_empty() {
        // Vary the write size so that records and transport writes do not line up.
        let len = buf.len().min([16_384, 1_000, 63, 70_001][chunk % 4]);
        chunk += 1;
        match w.write(&buf[..len]) {
            Ok(0) => panic!("write accepted nothing"),
            Ok(n) => buf = &buf[n..],
            Err(e) if transient(&e) => {}
            Err(e) => panic!("write failed: {e}"),
        }
    }
    loop {
        match w.flush() {
            Ok(()) => return,
            Err(e) if transient(&e) => {}
            Err(e) => panic!("flush failed: {e}"),
        }
    }
}

/// Reads `expected.len()` bytes, retrying transient errors, and fails at the first byte that
/// differs from `expected` (a duplicated block shows up there, without waiting for the rest).
fn read_expecting(r: &mut impl Read, expected: &[u8]) {
    let len = expected.len();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let want = buf.len().min(len - at);
        match r.read(&mut buf[..want]) {
            Ok(0) => panic!("end of stream after {at} of {len} bytes"),
            Ok(n) => {
                assert!(
                    buf[..n] == expected[at..at + n],
                    "bytes {at}..{} differ from what was sent",
                    at + n
                );
                at += n;
            }
            Err(e) if transient(&e) => {}
            Err(e) => panic!("read failed after {at} of {len} bytes: {e}"),
        }
    }
}

/// Reads to the end of the stream, retrying transient errors: what arrives after the data.
fn read_rest_retrying(r: &mut impl Read) -> usize {
    let mut extra = 0;
    let mut buf = [0u8; 16_384];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return extra,
            Ok(n) => extra += n,
            Err(e) if transient(&e) => {}
            Err(e) => panic!("read failed after the data: {e}"),
        }
    }
}

fn handshake_retrying<C: PskConnection>(tls: &mut PskStream<C, FaultyEnd>) {
    loop {
        match tls.handshake() {
            Ok(()) => return,
            Err(e) if transient(&e) => {}
            Err(e) => panic!("handshake failed: {e}"),
        }
    }
}

fn close_retrying<C: PskConnection>(tls: &mut PskStream<C, FaultyEnd>) {
    loop {
        match tls.close() {
            Ok(()) => return,
            Err(e) if transient(&e) => {}
            Err(e) => panic!("close failed: {e}"),
        }
    }
}

/// The client sends `BULK` bytes, the server checks them and sends `BULK` back; each side then
/// reads to close_notify and must find nothing more.
fn blocking_exchange(fault: Fault) {
    let (client_io, server_io) = faulty_pair(fault);
    let to_server = pattern(BULK, 0x11);
    let to_client = pattern(BULK, 0x5a);

    let (expect, reply) = (to_server.clone(), to_client.clone());
    let server = std::thread::spawn(move || {
        let mut tls = PskStream::new(PskServerConnection::new(server_config()), server_io);
        handshake_retrying(&mut tls);
        read_expecting(&mut tls, &expect);
        write_all_retrying(&mut tls, &reply);
        close_retrying(&mut tls);
        read_rest_retrying(&mut tls)
    });

    let mut tls = PskStream::new(client_conn(), client_io);
    handshake_retrying(&mut tls);
    write_all_retrying(&mut tls, &to_server);
    read_expecting(&mut tls, &to_client);
    let client_extra = read_rest_retrying(&mut tls);
    close_retrying(&mut tls);
    drop(tls);
    let server_extra = server.join().expect("server thread");
    assert_eq!(
        (client_extra, server_extra),
        (0, 0),
        "{fault:?}: bytes arrived more than once"
    );
}

#[test]
fn blocking_stream_interrupted() {
    blocking_exchange(Fault::Interrupted);
}

#[test]
fn blocking_stream_would_block_at_random() {
    blocking_exchange(Fault::WouldBlockAtRandom);
}

#[test]
fn blocking_stream_one_byte_per_write() {
    blocking_exchange(Fault::OneBytePerWrite);
}

/// A transport that takes nothing: `write` returns `Ok(0)` forever.
struct WritesNothing;

impl Read for WritesNothing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for WritesNothing {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Ok(0)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` on a thread and fails the test if it does not return within 10 s (a spin).
fn within_10s<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the stream kept looping on a transport that accepts nothing")
}

#[test]
fn blocking_stream_write_zero_is_an_error_not_a_spin() {
    let kinds = within_10s(|| {
        let mut tls = PskStream::new(client_conn(), WritesNothing);
        let handshake = tls.handshake().unwrap_err().kind();
        let write = tls.write(b"hello").unwrap_err().kind();
        let flush = tls.flush().unwrap_err().kind();
        let close = tls.close().unwrap_err().kind();
        [handshake, write, flush, close]
    });
    assert_eq!(kinds, [io::ErrorKind::WriteZero; 4]);
}

// ---------------------------------------------------------------------------------------------
// The tokio adapters over an in-memory duplex with the same faults (`Pending` for
// `WouldBlock`, with an immediate wake-up).

struct AsyncFaulty {
    inner: tokio::io::DuplexStream,
    fault: Fault,
    rng: XorShift,
    written: usize,
    read: usize,
    next_write_interrupt: usize,
    next_read_interrupt: usize,
}

impl AsyncFaulty {
    fn new(inner: tokio::io::DuplexStream, fault: Fault, seed: u64) -> Self {
        Self {
            inner,
            fault,
            rng: XorShift(0x2545_f491_4f6c_dd1d ^ seed),
            written: 0,
            read: 0,
            next_write_interrupt: INTERRUPT_EVERY,
            next_read_interrupt: INTERRUPT_EVERY,
        }
    }

    /// `Some(Poll)` when this call fails or stalls instead of moving bytes.
    fn inject<T>(&mut self, write: bool, cx: &mut Context<'_>) -> Option<Poll<io::Result<T>>> {
        let (moved, next) = if write {
            (self.written, &mut self.next_write_interrupt)
        } else {
            (self.read, &mut self.next_read_interrupt)
        };
        match self.fault {
            Fault::Interrupted if moved > *next => {
                *next = moved + INTERRUPT_EVERY;
                Some(Poll::Ready(Err(io::ErrorKind::Interrupted.into())))
            }
            Fault::WouldBlockAtRandom if self.rng.one_in(3) => {
                cx.waker().wake_by_ref();
                Some(Poll::Pending)
            }
            _ => None,
        }
    }
}

impl AsyncRead for AsyncFaulty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(p) = this.inject(false, cx) {
            return p;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.read += buf.filled().len() - before;
        polled
    }
}

impl AsyncWrite for AsyncFaulty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(p) = this.inject(true, cx) {
            return p;
        }
        let buf = match this.fault {
            Fault::OneBytePerWrite => &buf[..buf.len().min(1)],
            _ => buf,
        };
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.written += n;
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

fn async_transient(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

async fn async_write_all_retrying(w: &mut (impl AsyncWrite + Unpin), mut buf: &[u8]) {
    let mut chunk = 0;
    while !buf.is_empty() {
        let len = buf.len().min([16_384, 1_000, 63, 70_001][chunk % 4]);
        chunk += 1;
        match w.write(&buf[..len]).await {
            Ok(0) => panic!("write accepted nothing"),
            Ok(n) => buf = &buf[n..],
            Err(e) if async_transient(&e) => {}
            Err(e) => panic!("write failed: {e}"),
        }
    }
    loop {
        match w.flush().await {
            Ok(()) => return,
            Err(e) if async_transient(&e) => {}
            Err(e) => panic!("flush failed: {e}"),
        }
    }
}

async fn async_read_expecting(r: &mut (impl AsyncRead + Unpin), expected: &[u8]) {
    let len = expected.len();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let want = buf.len().min(len - at);
        match r.read(&mut buf[..want]).await {
            Ok(0) => panic!("end of stream after {at} of {len} bytes"),
            Ok(n) => {
                assert!(
                    buf[..n] == expected[at..at + n],
                    "bytes {at}..{} differ from what was sent",
                    at + n
                );
                at += n;
            }
            Err(e) if async_transient(&e) => {}
            Err(e) => panic!("read failed after {at} of {len} bytes: {e}"),
        }
    }
}

async fn async_read_rest_retrying(r: &mut (impl AsyncRead + Unpin)) -> usize {
    let mut extra = 0;
    let mut buf = [0u8; 16_384];
    loop {
        match r.read(&mut buf).await {
            Ok(0) => return extra,
            Ok(n) => extra += n,
            Err(e) if async_transient(&e) => {}
            Err(e) => panic!("read failed after the data: {e}"),
        }
    }
}

async fn async_shutdown_retrying(w: &mut (impl AsyncWrite + Unpin)) {
    loop {
        match w.shutdown().await {
            Ok(()) => return,
            Err(e) if async_transient(&e) => {}
            Err(e) => panic!("shutdown failed: {e}"),
        }
    }
}

async fn tokio_exchange(fault: Fault) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client_io = AsyncFaulty::new(a, fault, 1);
    let server_io = AsyncFaulty::new(b, fault, 2);
    let to_server = pattern(BULK, 0x22);
    let to_client = pattern(BULK, 0x6b);

    // The handshake itself does not retry a transient error: Interrupted strikes inside the
    // bulk data, well past the handshake flights.
    let acceptor = PskAcceptor::new(server_config());
    let (expect, reply) = (to_server.clone(), to_client.clone());
    let server = tokio::spawn(async move {
        let mut tls = acceptor.accept(server_io).await.expect("accept");
        async_read_expecting(&mut tls, &expect).await;
        async_write_all_retrying(&mut tls, &reply).await;
        async_shutdown_retrying(&mut tls).await;
        async_read_rest_retrying(&mut tls).await
    });

    let connector = PskConnector::new(Arc::new(PskClientConfig::new(key())));
    let mut tls = connector.connect(client_io).await.expect("connect");
    async_write_all_retrying(&mut tls, &to_server).await;
    async_read_expecting(&mut tls, &to_client).await;
    let client_extra = async_read_rest_retrying(&mut tls).await;
    async_shutdown_retrying(&mut tls).await;
    drop(tls);
    let server_extra = server.await.expect("server task");
    assert_eq!(
        (client_extra, server_extra),
        (0, 0),
        "{fault:?}: bytes arrived more than once"
    );
}

#[tokio::test]
async fn tokio_stream_interrupted() {
    tokio_exchange(Fault::Interrupted).await;
}

#[tokio::test]
async fn tokio_stream_pending_at_random() {
    tokio_exchange(Fault::WouldBlockAtRandom).await;
}

#[tokio::test]
async fn tokio_stream_one_byte_per_write() {
    tokio_exchange(Fault::OneBytePerWrite).await;
}
