//! State and I/O common to both sides of a connection, in the sans-IO style of rustls:
//! [`ConnectionCommon::read_tls`] and [`ConnectionCommon::write_tls`] move TLS bytes,
//! `process_new_packets` (on the client and server types) advances the protocol, and
//! [`ConnectionCommon::reader`] / [`ConnectionCommon::writer`] carry application data.
//!
//! This module owns record dispatch (RFC 8446 §5): which content types are allowed when,
//! reassembly of handshake messages, the middlebox-compatibility ChangeCipherSpec, alerts
//! and closure (§6), and the post-handshake messages KeyUpdate and NewSessionTicket (§4.6).

use std::collections::VecDeque;
use std::io;

use rustls::crypto::cipher::{MessageDecrypter, MessageEncrypter};
use rustls::{
    AlertDescription, CipherSuite, ContentType, NamedGroup, ProtocolVersion, Tls13CipherSuite,
};

use super::codec::{self, hs, illegal, unexpected};
use super::key_schedule::{ExporterSecret, Suite, TrafficSecret};
use super::record::{self, Framer, Opened, RecordLayer, MAX_PLAINTEXT};
use super::tls12;
use crate::error::Error;

/// Default limit of buffered outgoing TLS and not-yet-sendable plaintext (as rustls).
pub(crate) const DEFAULT_BUFFER_LIMIT: usize = 64 * 1024;
/// Received plaintext beyond which `read_tls` refuses more input until the app reads (one
/// maximal record, as rustls's default).
const RECEIVED_PLAINTEXT_LIMIT: usize = MAX_PLAINTEXT;
/// Consecutive records or post-handshake messages without application data tolerated.
const MAX_RECORDS_WITHOUT_DATA: u32 = 64;
/// Dummy ChangeCipherSpec records tolerated during a handshake.
const MAX_CCS: u32 = 8;
/// Records one handshake message may span: [`FRAGMENTS_BASE`] plus one per
/// [`FRAGMENT_OCTETS`] octets of the message. Records of 32 octets or more always fit
/// (OpenSSL's `-max_send_frag 512`, RFC 6066 max_fragment_length), and so does a message of
/// up to 512 octets in single octets; a 64 KiB message in 1-octet records (400 KB on the
/// wire, 65 536 records) is refused with unexpected_message after about 2 500, so the
/// per-record cost stays a fraction of what the message itself costs (issue 10 §1).
const FRAGMENTS_BASE: usize = 512;
const FRAGMENT_OCTETS: usize = 32;
/// Octets of rejected 0-RTT records (headers included) a server skips (RFC 8446 §4.2.10).
pub(crate) const EARLY_DATA_SKIP_LIMIT: usize = 64 * 1024;

/// Which side of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client (API invoker).
    Client,
    /// The server (AEF).
    Server,
}

/// The PSK key-exchange mode a handshake used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyExchangeMode {
    /// `psk_dhe_ke`: PSK plus (EC)DHE, forward secret.
    PskDhe,
    /// `psk_ke`: PSK only, no forward secrecy.
    PskOnly,
}

/// Summary of pending work after `process_new_packets` (the accessors of rustls's
/// `IoState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoState {
    tls_bytes_to_write: usize,
    plaintext_bytes_to_read: usize,
    peer_has_closed: bool,
}

impl IoState {
    /// TLS bytes waiting to be written with `write_tls`.
    pub fn tls_bytes_to_write(&self) -> usize {
        self.tls_bytes_to_write
    }

    /// Plaintext bytes waiting to be read with `reader()`.
    pub fn plaintext_bytes_to_read(&self) -> usize {
        self.plaintext_bytes_to_read
    }

    /// Whether the peer sent close_notify.
    pub fn peer_has_closed(&self) -> bool {
        self.peer_has_closed
    }
}

/// A queue of byte chunks. Each chunk is the tail of a `Vec` from some start offset, so a
/// buffer can be queued without moving its contents (a received record's plaintext stays
/// where it was decrypted, after the record header).
#[derive(Default)]
pub(crate) struct ChunkQueue {
    /// Chunks with the offset of their first unconsumed byte.
    chunks: VecDeque<(Vec<u8>, usize)>,
    len: usize,
}

impl ChunkQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, chunk: Vec<u8>) {
        self.push_from(chunk, 0);
    }

    /// Queues `chunk[start..]`.
    pub(crate) fn push_from(&mut self, chunk: Vec<u8>, start: usize) {
        if start < chunk.len() {
            self.len += chunk.len() - start;
            self.chunks.push_back((chunk, start));
        }
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let (front, start) = &mut self.chunks[0];
            let front_left = front.len() - *start;
            if n >= front_left {
                n -= front_left;
                self.chunks.pop_front();
            } else {
                *start += n;
                n = 0;
            }
        }
    }

    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let Some((front, start)) = self.chunks.front() else {
                break;
            };
            let avail = &front[*start..];
            let n = avail.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&avail[..n]);
            done += n;
            self.consume(n);
        }
        done
    }

    pub(crate) fn write_to(&mut self, wr: &mut dyn io::Write) -> io::Result<usize> {
        if self.is_empty() {
            return Ok(0);
        }
        let mut slices = [io::IoSlice::new(&[]); 32];
        let mut count = 0;
        for (i, (chunk, start)) in self.chunks.iter().take(slices.len()).enumerate() {
            slices[i] = io::IoSlice::new(&chunk[*start..]);
            count += 1;
        }
        let n = wr.write_vectored(&slices[..count])?;
        self.consume(n);
        Ok(n)
    }

    fn take_all(&mut self) -> Vec<Vec<u8>> {
        let out = self
            .chunks
            .drain(..)
            .map(|(mut chunk, start)| {
                chunk.drain(..start);
                chunk
            })
            .collect();
        self.len = 0;
        out
    }
}

/// Closure and failure state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeCipherSpec {
    /// Before the first ClientHello: a CCS is an unexpected record.
    NotYet,
    /// Between the first ClientHello and the peer's Finished: dummy CCS dropped.
    Allowed,
    /// After the peer's Finished.
    Forbidden,
}

/// Receives complete handshake messages from the record layer.
pub(crate) trait Handshake {
    /// Handles one complete handshake message (header included).
    fn handle(&mut self, core: &mut ConnectionCommon, message: &[u8]) -> Result<(), Error>;

    /// Whether processing must stop (a server waiting for a key).
    fn paused(&self) -> bool {
        false
    }

    /// The error for a record that fails to decrypt, if the handshake state gives it a
    /// meaning other than `bad_record_mac` (a TLS 1.2 server expecting the client's
    /// Finished: the client's key is wrong, `decrypt_error`).
    fn decrypt_failed(&self) -> Option<Error> {
        None
    }
}

/// Connection state shared by [`super::PskClientConnection`] and
/// [`super::PskServerConnection`] (which dereference to it).
pub struct ConnectionCommon {
    side: Side,
    framer: Framer,
    pub(crate) record: RecordLayer,
    handshake_buf: Vec<u8>,
    /// Records that contributed to the message being reassembled in `handshake_buf`.
    handshake_fragments: usize,
    sendable_tls: ChunkQueue,
    received_plaintext: ChunkQueue,
    pending_plaintext: ChunkQueue,
    buffer_limit: Option<usize>,

    handshake_complete: bool,
    may_send_app_data: bool,
    may_receive_app_data: bool,
    peer_closed: bool,
    sent_close_notify: bool,
    has_seen_eof: bool,
    failed: bool,
    ccs: ChangeCipherSpec,
    ccs_seen: u32,
    records_without_data: u32,
    read_key_changed: bool,
    sent_ccs: bool,

    pub(crate) suite: Option<&'static Tls13CipherSuite>,
    pub(crate) group: Option<NamedGroup>,
    pub(crate) mode: Option<KeyExchangeMode>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) hello_retry: bool,
    read_secret: Option<TrafficSecret>,
    write_secret: Option<TrafficSecret>,
    exporter: Option<ExporterSecret>,
    rekey_after: u64,
    key_updates_sent: u64,
    key_updates_received: u64,
    /// We answered a peer's update_requested and have sent no application data since: a
    /// further request needs no new answer (RFC 8446 §4.6.3: an implementation that receives
    /// several requests while silent responds with a single update). Our own updates
    /// (`refresh_traffic_keys`, the automatic one) do not count: a request that crosses one
    /// is still answered.
    key_update_answered: bool,
    /// TLS 1.2 was negotiated (see [`super::tls12`]).
    tls12: bool,
    tls12_suite: Option<CipherSuite>,
    /// The peer's read key, installed when its ChangeCipherSpec arrives (TLS 1.2).
    tls12_pending_read: Option<Box<dyn MessageDecrypter>>,
    tls12_exporter: Option<tls12::key_schedule::Exporter>,
}

/// Public state only: no key material, no buffered data.
impl core::fmt::Debug for ConnectionCommon {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnectionCommon")
            .field("side", &self.side)
            .field("handshaking", &!self.handshake_complete)
            .field("suite", &self.negotiated_cipher_suite())
            .field("group", &self.group)
            .field("mode", &self.mode)
            .field("peer_closed", &self.peer_closed)
            .field("sent_close_notify", &self.sent_close_notify)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl ConnectionCommon {
    pub(crate) fn new(side: Side) -> Self {
        Self {
            side,
            framer: Framer::default(),
            record: RecordLayer::default(),
            handshake_buf: Vec::new(),
            handshake_fragments: 0,
            sendable_tls: ChunkQueue::default(),
            received_plaintext: ChunkQueue::default(),
            pending_plaintext: ChunkQueue::default(),
            buffer_limit: Some(DEFAULT_BUFFER_LIMIT),
            handshake_complete: false,
            may_send_app_data: false,
            may_receive_app_data: false,
            peer_closed: false,
            sent_close_notify: false,
            has_seen_eof: false,
            failed: false,
            ccs: ChangeCipherSpec::NotYet,
            ccs_seen: 0,
            records_without_data: 0,
            read_key_changed: false,
            sent_ccs: false,
            suite: None,
            group: None,
            mode: None,
            alpn: None,
            hello_retry: false,
            read_secret: None,
            write_secret: None,
            exporter: None,
            rekey_after: u64::MAX,
            key_updates_sent: 0,
            key_updates_received: 0,
            key_update_answered: false,
            tls12: false,
            tls12_suite: None,
            tls12_pending_read: None,
            tls12_exporter: None,
        }
    }

    // ----- public API ----------------------------------------------------------------------

    /// Which side this connection is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Reads TLS bytes from `rd`. Returns 0 at end of stream (then `process_new_packets`
    /// reports truncation if the peer had not sent close_notify). Reads are bounded: at most
    /// about two maximal records are buffered.
    pub fn read_tls(&mut self, rd: &mut dyn io::Read) -> io::Result<usize> {
        if self.received_plaintext.len() > RECEIVED_PLAINTEXT_LIMIT {
            return Err(io::Error::other(
                "received plaintext buffer full: read application data first",
            ));
        }
        let n = self.framer.read_from(rd)?;
        if n == 0 {
            self.has_seen_eof = true;
        }
        Ok(n)
    }

    /// Writes buffered TLS bytes to `wr`.
    pub fn write_tls(&mut self, wr: &mut dyn io::Write) -> io::Result<usize> {
        self.sendable_tls.write_to(wr)
    }

    /// Whether the connection wants more TLS input.
    pub fn wants_read(&self) -> bool {
        !self.failed
            && !self.peer_closed
            && !self.has_seen_eof
            && self.received_plaintext.is_empty()
    }

    /// Whether TLS bytes are waiting to be written.
    pub fn wants_write(&self) -> bool {
        !self.sendable_tls.is_empty()
    }

    /// Whether the handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        !self.handshake_complete
    }

    /// Plaintext bytes received and not yet read.
    #[cfg(feature = "tokio")]
    pub(crate) fn buffered_plaintext(&self) -> usize {
        self.received_plaintext.len()
    }

    /// Reader of received application data.
    ///
    /// `read` returns `Ok(0)` after the peer's close_notify, `ErrorKind::UnexpectedEof` if the
    /// transport ended without one (a truncation attack or a crashed peer), and
    /// `ErrorKind::WouldBlock` when no data is buffered.
    pub fn reader(&mut self) -> Reader<'_> {
        Reader { core: self }
    }

    /// Writer of application data. Data written before the handshake completes is buffered
    /// (up to the buffer limit) and sent once it has.
    pub fn writer(&mut self) -> Writer<'_> {
        Writer { core: self }
    }

    /// Sets the limit on buffered outgoing data (`None`: unlimited). Default 64 KiB.
    pub fn set_buffer_limit(&mut self, limit: Option<usize>) {
        self.buffer_limit = limit;
    }

    /// Queues a close_notify alert after the application data written so far; the writer
    /// accepts nothing more. During the handshake the alert is queued when the handshake
    /// completes, after the data buffered until then (nothing written is lost, and no
    /// handshake message follows the alert); nothing is sent if the handshake never
    /// completes (abandoning a handshake is closing the transport).
    pub fn send_close_notify(&mut self) {
        if self.sent_close_notify || self.failed {
            return;
        }
        self.sent_close_notify = true;
        if self.handshake_complete {
            self.queue_close_notify();
        }
    }

    fn queue_close_notify(&mut self) {
        self.flush_pending_plaintext();
        let _ = self.send_alert_record(AlertDescription::CloseNotify, false);
    }

    /// The negotiated cipher suite.
    pub fn negotiated_cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.suite.map(|s| s.common.suite).or(self.tls12_suite)
    }

    /// The negotiated protocol version (`None` until the ServerHello is sent or received).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        if self.tls12 {
            Some(ProtocolVersion::TLSv1_2)
        } else {
            self.suite.map(|_| ProtocolVersion::TLSv1_3)
        }
    }

    /// The negotiated key-exchange group (`None` before the ServerHello and for `psk_ke`).
    pub fn negotiated_key_exchange_group(&self) -> Option<NamedGroup> {
        self.group
    }

    /// The PSK key-exchange mode in use.
    pub fn key_exchange_mode(&self) -> Option<KeyExchangeMode> {
        self.mode
    }

    /// The negotiated ALPN protocol.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Whether the handshake went through a HelloRetryRequest.
    pub fn had_hello_retry_request(&self) -> bool {
        self.hello_retry
    }

    /// KeyUpdates sent and received so far (including automatic ones before the AEAD limit).
    pub fn key_update_counts(&self) -> (u64, u64) {
        (self.key_updates_sent, self.key_updates_received)
    }

    /// RFC 8446 §7.5 exporter (RFC 5705 on a TLS 1.2 connection): fills `output` and gives it
    /// back, like rustls's method of the same name. `context: None` and `Some(&[])` are the
    /// same in TLS 1.3, different in TLS 1.2.
    pub fn export_keying_material<T: AsMut<[u8]>>(
        &self,
        mut output: T,
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<T, Error> {
        // The server has the exporter secret once it sends its Finished, but the client is
        // authenticated only by its Finished: export only after the whole handshake (as rustls).
        if let Some(exporter) = self
            .tls12_exporter
            .as_ref()
            .filter(|_| self.handshake_complete)
        {
            exporter.export(label, context, output.as_mut())?;
            return Ok(output);
        }
        let exporter = self
            .exporter
            .as_ref()
            .filter(|_| self.handshake_complete)
            .ok_or(Error::InvalidState(
                "keying material can be exported only after the handshake",
            ))?;
        exporter.export(label, context.unwrap_or(&[]), output.as_mut())?;
        Ok(output)
    }

    /// Sends a KeyUpdate asking the peer to update its keys too, and switches to new
    /// sending keys (RFC 8446 §4.6.3).
    /// TLS 1.2 has no KeyUpdate: there this is an `InvalidState` error.
    pub fn refresh_traffic_keys(&mut self) -> Result<(), Error> {
        if self.tls12 {
            return Err(Error::InvalidState("TLS 1.2 has no KeyUpdate"));
        }
        if !self.handshake_complete || self.sent_close_notify || self.failed {
            return Err(Error::InvalidState(
                "keys can be updated only on an open, established connection",
            ));
        }
        self.send_key_update(true)
    }

    // ----- record processing -------------------------------------------------------------------

    pub(crate) fn process(&mut self, hs: &mut dyn Handshake) -> Result<IoState, Error> {
        if self.failed {
            return Err(Error::InvalidState("the connection has already failed"));
        }
        match self.process_records(hs) {
            Ok(()) => Ok(self.io_state()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Marks the connection failed and queues the alert that `e` calls for.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        if !self.failed {
            self.failed = true;
            match e.alert() {
                Some(alert) => {
                    log::debug!("{:?}: {e}; sending fatal alert {alert:?}", self.side);
                    let _ = self.send_alert_record(alert, true);
                }
                None => log::debug!("{:?}: {e}", self.side),
            }
        }
        e
    }

    fn io_state(&self) -> IoState {
        IoState {
            tls_bytes_to_write: self.sendable_tls.len(),
            plaintext_bytes_to_read: self.received_plaintext.len(),
            peer_has_closed: self.peer_closed,
        }
    }

    fn process_records(&mut self, hs: &mut dyn Handshake) -> Result<(), Error> {
        while !hs.paused() && !self.peer_closed {
            let Some(header) = self.framer.next_record()? else {
                break;
            };
            self.process_record(header, hs)?;
        }
        // Keep no receive buffer while there is nothing in it (idle connections).
        self.framer.release_if_empty();
        if self.has_seen_eof && !self.peer_closed && self.framer.pending() > 0 && !hs.paused() {
            return Err(Error::InvalidMessage {
                alert: AlertDescription::DecodeError,
                what: "connection closed in the middle of a record",
            });
        }
        if self.has_seen_eof && !self.handshake_complete && !self.peer_closed && !hs.paused() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection during the handshake",
            )));
        }
        Ok(())
    }

    fn process_record(
        &mut self,
        header: record::RecordHeader,
        hs: &mut dyn Handshake,
    ) -> Result<(), Error> {
        // RFC 8446 §5: records with keys in place are protected, except the dummy CCS and
        // (before the peer has switched) alerts.
        let outer = header.typ;
        if outer == ContentType::ChangeCipherSpec {
            let body = self.framer.body_mut(&header).to_vec();
            return self.handle_ccs(&body);
        }
        if !self.record.is_decrypting() {
            if outer == ContentType::ApplicationData {
                // Protected (up to 2^14 + 256 octets): only 0-RTT data of a ClientHello
                // answered with a HelloRetryRequest is skipped here (§4.2.10).
                if self.record.skip_early_data_record(header.len) {
                    return Ok(());
                }
                return Err(unexpected("application data before the handshake keys"));
            }
            if header.len > MAX_PLAINTEXT {
                return Err(record::record_overflow("plaintext record longer than 2^14"));
            }
            codec::work::add(1);
            let body = header.start..header.start + header.len;
            return match outer {
                ContentType::Handshake => self.handle_handshake_record(body, hs),
                ContentType::Alert => {
                    let body = self.framer.bytes(body).to_vec();
                    self.handle_alert(&body)
                }
                _ => Err(unexpected("record of unexpected content type")),
            };
        }
        match outer {
            ContentType::ApplicationData => {}
            // TLS 1.2 protects every record under its own content type (RFC 5246 §6.2.3).
            ContentType::Handshake | ContentType::Alert if self.tls12 => {}
            ContentType::Alert if !self.handshake_complete => {
                // The peer failed before it had our keys; its alert is in the clear.
                let body = self.framer.body_mut(&header).to_vec();
                return match self.handle_alert(&body) {
                    Ok(()) => Err(unexpected("unprotected warning alert")),
                    e => e,
                };
            }
            _ => return Err(unexpected("unprotected record after keys were established")),
        }
        let body = self.framer.body_mut(&header);
        let body_at = body.as_ptr() as usize;
        let opened = match self.record.open(header.version, outer, body) {
            Err(Error::DecryptError) => {
                return Err(hs.decrypt_failed().unwrap_or(Error::DecryptError))
            }
            other => other?,
        };
        let (typ, plain) = match opened {
            // The provider decrypts in place: the plaintext lies within the record body.
            Opened::Plain(typ, plain) => (typ, record::range_within(body_at, header.len, plain)?),
            Opened::SkippedEarlyData => return Ok(()),
        };
        let plain = header.start + plain.start..header.start + plain.end;
        if plain.is_empty() && matches!(typ, ContentType::Handshake | ContentType::Alert) {
            // RFC 8446 §5.4: zero-length Handshake or Alert content is unexpected_message.
            return Err(unexpected("empty protected handshake or alert record"));
        }
        match typ {
            ContentType::Handshake => self.handle_handshake_record(plain, hs),
            ContentType::Alert => {
                let data = self.framer.bytes(plain).to_vec();
                self.handle_alert(&data)
            }
            ContentType::ApplicationData => {
                // Application data is queued without a copy when it fills most of the
                // receive buffer and nothing follows it there: the buffer becomes the chunk.
                let (buffer, start) = self.framer.take_or_copy(plain);
                self.handle_app_data(buffer, start)
            }
            _ => Err(unexpected("record of unknown inner content type")),
        }
    }

    fn handle_ccs(&mut self, body: &[u8]) -> Result<(), Error> {
        if self.tls12 {
            return self.handle_tls12_ccs(body);
        }
        if self.ccs != ChangeCipherSpec::Allowed {
            return Err(unexpected("change_cipher_spec outside the handshake"));
        }
        if body != [0x01] {
            return Err(unexpected("change_cipher_spec body is not 0x01"));
        }
        if !self.handshake_buf.is_empty() {
            return Err(unexpected("change_cipher_spec inside a handshake message"));
        }
        self.ccs_seen += 1;
        if self.ccs_seen > MAX_CCS {
            return Err(unexpected("too many change_cipher_spec records"));
        }
        Ok(())
    }

    /// TLS 1.2 ChangeCipherSpec (RFC 5246 §7.1): exactly once, between the peer's key
    /// exchange and its Finished, on a message boundary; it switches to the staged read key.
    fn handle_tls12_ccs(&mut self, body: &[u8]) -> Result<(), Error> {
        if body != [0x01] {
            return Err(unexpected("change_cipher_spec body is not 0x01"));
        }
        if !self.handshake_buf.is_empty() {
            return Err(unexpected("change_cipher_spec inside a handshake message"));
        }
        let decrypter = self
            .tls12_pending_read
            .take()
            .ok_or_else(|| unexpected("change_cipher_spec before the key exchange or twice"))?;
        self.record.set_decrypter(decrypter);
        Ok(())
    }

    fn handle_alert(&mut self, body: &[u8]) -> Result<(), Error> {
        if !self.handshake_buf.is_empty() {
            return Err(unexpected("alert inside a handshake message"));
        }
        let [_level, desc] = body else {
            return Err(codec::decode_error(
                "alert record is not one two-octet alert",
            ));
        };
        let desc = AlertDescription::from(*desc);
        match desc {
            // Closure once the peer is authenticated. Before that a close_notify ends a
            // handshake that can no longer complete: a failure, not a clean end of stream
            // (as rustls does; an unauthenticated close_notify must not look like EOF).
            AlertDescription::CloseNotify if self.may_receive_app_data => {
                self.peer_closed = true;
                Ok(())
            }
            // RFC 8446 §6.1: user_canceled is followed by close_notify.
            AlertDescription::UserCanceled => {
                self.count_record_without_data()?;
                log::debug!("peer sent user_canceled");
                Ok(())
            }
            // §6: all other alerts are errors, whatever their level.
            other => Err(Error::AlertReceived(other)),
        }
    }

    /// Queues `buffer[start..]`, received application data.
    fn handle_app_data(&mut self, buffer: Vec<u8>, start: usize) -> Result<(), Error> {
        if !self.handshake_buf.is_empty() {
            return Err(unexpected("application data inside a handshake message"));
        }
        if !self.may_receive_app_data {
            return Err(unexpected(
                "application data before the handshake completed",
            ));
        }
        if buffer.len() == start {
            self.count_record_without_data()?;
        } else {
            self.records_without_data = 0;
        }
        self.received_plaintext.push_from(buffer, start);
        Ok(())
    }

    fn count_record_without_data(&mut self) -> Result<(), Error> {
        self.records_without_data += 1;
        if self.records_without_data > MAX_RECORDS_WITHOUT_DATA {
            return Err(unexpected("too many records without application data"));
        }
        Ok(())
    }

    /// Handshake content at `range` of the framer's buffer (a plaintext record's body, or a
    /// decrypted record's plaintext), appended to the message being reassembled.
    fn handle_handshake_record(
        &mut self,
        range: core::ops::Range<usize>,
        hs: &mut dyn Handshake,
    ) -> Result<(), Error> {
        if range.is_empty() {
            return Err(codec::decode_error("empty handshake record"));
        }
        if self.handshake_buf.is_empty() {
            self.handshake_fragments = 0;
        }
        self.handshake_fragments += 1;
        self.handshake_buf
            .extend_from_slice(self.framer.bytes(range));
        loop {
            let fragments_allowed = match self.handshake_buf.get(..4) {
                Some(header) => {
                    FRAGMENTS_BASE
                        + (usize::from(header[1]) << 16
                            | usize::from(header[2]) << 8
                            | usize::from(header[3]))
                            / FRAGMENT_OCTETS
                }
                None => FRAGMENTS_BASE,
            };
            if self.handshake_fragments > fragments_allowed {
                return Err(unexpected(
                    "handshake message fragmented into too many small records",
                ));
            }
            if self.handshake_buf.len() < 4 {
                return Ok(());
            }
            let len = usize::from(self.handshake_buf[1]) << 16
                | usize::from(self.handshake_buf[2]) << 8
                | usize::from(self.handshake_buf[3]);
            if len > codec::MAX_HANDSHAKE_MESSAGE {
                return Err(illegal("handshake message too large"));
            }
            if self.handshake_buf.len() < 4 + len {
                return Ok(());
            }
            // The next message starts in the record that completed this one.
            self.handshake_fragments = 1;
            let message: Vec<u8> = if self.handshake_buf.len() == 4 + len {
                core::mem::take(&mut self.handshake_buf)
            } else {
                self.handshake_buf.drain(..4 + len).collect()
            };
            self.read_key_changed = false;
            if self.handshake_complete {
                self.handle_post_handshake(&message)?;
            } else {
                hs.handle(self, &message)?;
            }
            self.check_key_change_boundary()?;
            if hs.paused() {
                return Ok(());
            }
        }
    }

    /// RFC 8446 §5.1: handshake messages must not span a key change, so nothing may be left
    /// over once the message that changed the read key has been handled.
    fn check_key_change_boundary(&self) -> Result<(), Error> {
        if self.read_key_changed && !self.handshake_buf.is_empty() {
            return Err(unexpected("handshake data spanning a key change"));
        }
        Ok(())
    }

    /// Runs `step` — the state machine going on with a handshake message outside record
    /// processing (a deferred server resuming with its buffered ClientHello) — under the same
    /// key-change rule as messages taken from records: bytes that arrived after it in the
    /// same record must not survive the read-key change it causes.
    pub(crate) fn resume_handshake(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.read_key_changed = false;
        step(self)?;
        self.check_key_change_boundary()
    }

    fn handle_post_handshake(&mut self, message: &[u8]) -> Result<(), Error> {
        let (typ, body) = codec::split_handshake(message)?;
        self.count_record_without_data()?;
        if self.tls12 {
            return self.handle_tls12_post_handshake(typ, body);
        }
        match (typ, self.side) {
            (hs::KEY_UPDATE, _) => {
                let update_requested = codec::decode_key_update(body)?;
                let (suite, secret) = match (self.suite, self.read_secret.as_ref()) {
                    (Some(suite), Some(secret)) => (suite, secret),
                    _ => return Err(Error::InvalidState("no traffic secret")),
                };
                let next = secret.next(Suite::of(suite));
                self.record.set_decrypter(next.decrypter(suite));
                self.read_secret = Some(next);
                self.read_key_changed = true;
                self.key_updates_received += 1;
                if update_requested && !self.sent_close_notify && !self.key_update_answered {
                    self.send_key_update(false)?;
                    self.key_update_answered = true;
                }
                Ok(())
            }
            (hs::NEW_SESSION_TICKET, Side::Client) => {
                // No resumption for external-PSK connections: check and ignore.
                codec::check_new_session_ticket(body)
            }
            _ => Err(unexpected("handshake message after the handshake")),
        }
    }

    /// TLS 1.2 after the handshake: renegotiation is refused (RFC 5746 §4.2, §4.4; RFC 5246
    /// §7.2.2) with a `no_renegotiation` warning — the client's answer to a HelloRequest, the
    /// server's to a new ClientHello; anything else is unexpected.
    fn handle_tls12_post_handshake(&mut self, typ: u8, body: &[u8]) -> Result<(), Error> {
        match (typ, self.side) {
            (tls12::codec::hs12::HELLO_REQUEST, Side::Client) if body.is_empty() => {}
            (tls12::codec::hs12::HELLO_REQUEST, Side::Client) => {
                return Err(codec::decode_error("HelloRequest with a body"))
            }
            (hs::CLIENT_HELLO, Side::Server) => {}
            _ => return Err(unexpected("handshake message after the handshake")),
        }
        log::debug!("{:?}: renegotiation refused", self.side);
        if !self.sent_close_notify {
            self.send_alert_record(AlertDescription::NoRenegotiation, false)?;
        }
        Ok(())
    }

    // ----- sending ---------------------------------------------------------------------------------

    /// Queues one or more records of `typ` carrying `data` under the current write key.
    fn send_records(&mut self, typ: ContentType, data: &[u8]) -> Result<(), Error> {
        for chunk in data.chunks(MAX_PLAINTEXT) {
            let record = self.record.seal(typ, chunk)?;
            self.sendable_tls.push(record);
        }
        if data.is_empty() {
            let record = self.record.seal(typ, &[])?;
            self.sendable_tls.push(record);
        }
        Ok(())
    }

    pub(crate) fn send_handshake(&mut self, message: &[u8]) -> Result<(), Error> {
        self.send_records(ContentType::Handshake, message)
    }

    /// Sends the middlebox-compatibility ChangeCipherSpec once (RFC 8446 Appendix D.4).
    pub(crate) fn send_ccs_once(&mut self) {
        if !self.sent_ccs {
            self.sent_ccs = true;
            self.sendable_tls.push(vec![20, 3, 3, 0, 1, 1]);
        }
    }

    fn send_alert_record(&mut self, desc: AlertDescription, fatal: bool) -> Result<(), Error> {
        let level = if fatal { 2 } else { 1 };
        self.send_records(ContentType::Alert, &[level, u8::from(desc)])
    }

    fn send_key_update(&mut self, request_peer_update: bool) -> Result<(), Error> {
        let (suite, secret) = match (self.suite, self.write_secret.as_ref()) {
            (Some(suite), Some(secret)) => (suite, secret),
            _ => return Err(Error::InvalidState("no traffic secret")),
        };
        let next = secret.next(Suite::of(suite));
        self.send_handshake(&codec::encode_key_update(request_peer_update))?;
        self.record.set_encrypter(next.encrypter(suite));
        self.write_secret = Some(next);
        self.key_updates_sent += 1;
        Ok(())
    }

    fn send_app_data(&mut self, data: &[u8]) -> Result<usize, Error> {
        if self.sent_close_notify || self.failed {
            return Err(Error::InvalidState("the connection is closed for sending"));
        }
        let room = match self.buffer_limit {
            Some(limit) => {
                let used = self.sendable_tls.len() + self.pending_plaintext.len();
                limit.saturating_sub(used)
            }
            None => usize::MAX,
        };
        let data = &data[..data.len().min(room)];
        if data.is_empty() {
            return Ok(0);
        }
        if !self.may_send_app_data {
            self.pending_plaintext.push(data.to_vec());
            return Ok(data.len());
        }
        self.seal_app_data(data)?;
        Ok(data.len())
    }

    fn seal_app_data(&mut self, data: &[u8]) -> Result<(), Error> {
        for chunk in data.chunks(MAX_PLAINTEXT) {
            if self.record.write_seq() >= self.rekey_after && self.tls12 {
                // No KeyUpdate in TLS 1.2: close before the AEAD limit (as rustls does).
                self.sent_close_notify = true;
                self.send_alert_record(AlertDescription::CloseNotify, false)?;
                return Err(Error::InvalidState(
                    "the TLS 1.2 connection reached its AEAD record limit and was closed",
                ));
            }
            if self.record.write_seq() >= self.rekey_after {
                self.send_key_update(false)?;
            }
            let record = self.record.seal(ContentType::ApplicationData, chunk)?;
            self.sendable_tls.push(record);
            self.key_update_answered = false;
        }
        Ok(())
    }

    fn flush_pending_plaintext(&mut self) {
        if !self.may_send_app_data {
            return;
        }
        for chunk in self.pending_plaintext.take_all() {
            if self.seal_app_data(&chunk).is_err() {
                break;
            }
        }
    }

    // ----- hooks for the handshake state machines ------------------------------------------------

    /// The first ClientHello was sent (client) or received (server): a dummy CCS may follow.
    pub(crate) fn allow_ccs(&mut self) {
        if self.ccs == ChangeCipherSpec::NotYet {
            self.ccs = ChangeCipherSpec::Allowed;
        }
    }

    /// Installs a handshake or application read key.
    pub(crate) fn set_read_key(
        &mut self,
        suite: &'static Tls13CipherSuite,
        secret: &TrafficSecret,
    ) {
        self.record.set_decrypter(secret.decrypter(suite));
        self.read_key_changed = true;
    }

    /// Installs a handshake or application write key.
    pub(crate) fn set_write_key(
        &mut self,
        suite: &'static Tls13CipherSuite,
        secret: &TrafficSecret,
    ) {
        self.record.set_encrypter(secret.encrypter(suite));
    }

    /// The peer's Finished has been verified: application keys for reading.
    pub(crate) fn start_reading_app_data(
        &mut self,
        suite: &'static Tls13CipherSuite,
        secret: TrafficSecret,
    ) {
        self.set_read_key(suite, &secret);
        self.read_secret = Some(secret);
        self.ccs = ChangeCipherSpec::Forbidden;
        self.may_receive_app_data = true;
    }

    /// Application keys for writing; buffered plaintext is sent once the handshake completes.
    pub(crate) fn start_writing_app_data(
        &mut self,
        suite: &'static Tls13CipherSuite,
        secret: TrafficSecret,
        rekey_after: u64,
    ) {
        self.set_write_key(suite, &secret);
        self.write_secret = Some(secret);
        self.rekey_after = rekey_after;
    }

    /// TLS 1.2 was negotiated: the suite, group and mode, for the accessors.
    pub(crate) fn set_tls12(
        &mut self,
        suite: CipherSuite,
        group: Option<NamedGroup>,
        mode: KeyExchangeMode,
    ) {
        self.tls12 = true;
        self.tls12_suite = Some(suite);
        self.group = group;
        self.mode = Some(mode);
    }

    /// The peer's TLS 1.2 write key, installed by its ChangeCipherSpec.
    pub(crate) fn stage_tls12_read_key(&mut self, decrypter: Box<dyn MessageDecrypter>) {
        self.tls12_pending_read = Some(decrypter);
    }

    /// Our TLS 1.2 write key (after our ChangeCipherSpec), used for at most `limit` records.
    pub(crate) fn set_tls12_write_key(&mut self, encrypter: Box<dyn MessageEncrypter>, limit: u64) {
        self.record.set_encrypter(encrypter);
        self.rekey_after = limit;
    }

    /// The peer's TLS 1.2 Finished has been verified.
    pub(crate) fn start_reading_tls12_app_data(&mut self) {
        self.ccs = ChangeCipherSpec::Forbidden;
        self.may_receive_app_data = true;
    }

    pub(crate) fn set_tls12_exporter(&mut self, exporter: tls12::key_schedule::Exporter) {
        self.tls12_exporter = Some(exporter);
    }

    pub(crate) fn set_exporter(&mut self, exporter: ExporterSecret) {
        self.exporter = Some(exporter);
    }

    /// Both Finished messages are done.
    pub(crate) fn complete_handshake(&mut self) {
        log::debug!(
            "{:?}: handshake complete ({:?}, {:?}, {:?})",
            self.side,
            self.negotiated_cipher_suite(),
            self.group,
            self.mode
        );
        self.handshake_complete = true;
        self.may_send_app_data = true;
        if self.sent_close_notify {
            // Closed during the handshake (send_close_notify): now the alert can follow.
            self.queue_close_notify();
        } else {
            self.flush_pending_plaintext();
        }
    }
}

/// Reads received application data; see [`ConnectionCommon::reader`].
pub struct Reader<'a> {
    core: &'a mut ConnectionCommon,
}

impl core::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("buffered", &self.core.received_plaintext.len())
            .finish()
    }
}

impl io::Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.core.received_plaintext.read(buf);
        if n > 0 {
            return Ok(n);
        }
        if self.core.peer_closed {
            return Ok(0);
        }
        if self.core.has_seen_eof {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection without sending TLS close_notify",
            ));
        }
        if self.core.failed {
            return Err(io::Error::other("the TLS connection has failed"));
        }
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Writes application data; see [`ConnectionCommon::writer`].
pub struct Writer<'a> {
    core: &'a mut ConnectionCommon,
}

impl core::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("may_send", &self.core.may_send_app_data)
            .finish_non_exhaustive()
    }
}

impl io::Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.core.send_app_data(buf).map_err(io::Error::from)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_queue_reads_across_chunks() {
        let mut q = ChunkQueue::default();
        q.push(b"hello ".to_vec());
        q.push(Vec::new());
        q.push(b"world".to_vec());
        assert_eq!(q.len(), 11);
        let mut out = [0u8; 4];
        assert_eq!(q.read(&mut out), 4);
        assert_eq!(&out, b"hell");
        let mut out = [0u8; 16];
        assert_eq!(q.read(&mut out), 7);
        assert_eq!(&out[..7], b"o world");
        assert!(q.is_empty());
    }

    #[test]
    fn chunk_queue_chunks_with_start_offsets() {
        let mut q = ChunkQueue::default();
        q.push_from(b"hdr:abc".to_vec(), 4);
        q.push_from(b"xyz".to_vec(), 3);
        q.push_from(b"..de".to_vec(), 2);
        assert_eq!(q.len(), 5);
        let mut out = [0u8; 4];
        assert_eq!(q.read(&mut out[..2]), 2);
        assert_eq!(&out[..2], b"ab");
        assert_eq!(q.take_all(), [b"c".to_vec(), b"de".to_vec()]);
        assert!(q.is_empty());
    }

    #[test]
    fn chunk_queue_partial_writes() {
        struct Trickle(Vec<u8>);
        impl io::Write for Trickle {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                let n = b.len().min(3);
                self.0.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut q = ChunkQueue::default();
        q.push(b"abcdefg".to_vec());
        q.push(b"hij".to_vec());
        let mut w = Trickle(Vec::new());
        while !q.is_empty() {
            q.write_to(&mut w).unwrap();
        }
        assert_eq!(w.0, b"abcdefghij");
    }
}
