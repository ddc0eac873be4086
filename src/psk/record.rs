//! The TLS 1.3 record layer (RFC 8446 §5): framing of incoming bytes into records, record
//! protection with the suite's AEAD from the rustls provider, and sequence numbers.
//!
//! The framer holds at most about two maximal records, so a peer cannot make it allocate
//! more; every record length is checked before anything is buffered for it.

use std::io;
use std::ops::Range;

use rustls::crypto::cipher::{
    InboundOpaqueMessage, MessageDecrypter, MessageEncrypter, OutboundChunks, OutboundPlainMessage,
};
use rustls::{AlertDescription, ContentType, ProtocolVersion};

use crate::error::Error;

/// Record header length.
pub(crate) const HEADER_LEN: usize = 5;
/// Largest TLSPlaintext.fragment / TLSInnerPlaintext content (2^14).
pub(crate) const MAX_PLAINTEXT: usize = 16384;
/// Largest TLSCiphertext.encrypted_record (2^14 + 256).
pub(crate) const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;
/// Largest record on the wire.
pub(crate) const MAX_WIRE_RECORD: usize = HEADER_LEN + MAX_CIPHERTEXT;

pub(crate) fn record_overflow(what: &'static str) -> Error {
    Error::PeerMisbehaved {
        alert: AlertDescription::RecordOverflow,
        what,
    }
}

/// A record header whose body is complete in the framer's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordHeader {
    pub(crate) typ: ContentType,
    /// legacy_record_version as received.
    pub(crate) version: u16,
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// Bytes asked for per read while the peer's records are small (handshake flights, short
/// messages); a record larger than this is read whole once its header is in.
pub(crate) const READ_SIZE: usize = 4096;

/// Splits received bytes into records.
///
/// The buffer is allocated when bytes arrive and freed once every record in it has been
/// handed out ([`Framer::release_if_empty`]), so an idle connection holds no receive buffer.
/// Reads are sized to the records the peer sends: [`READ_SIZE`] while they are small, what
/// completes the record at the front once its header is in, and a whole maximal record per
/// read while the peer sends large ones.
pub(crate) struct Framer {
    /// `buf[..filled]` are received bytes; the rest is zeroed room for the next read.
    buf: Vec<u8>,
    filled: usize,
    /// Bytes before `consumed` belong to records already handed out.
    consumed: usize,
    /// How much to ask for when no record header says more: the wire size of the last
    /// record handed out, at least [`READ_SIZE`].
    read_hint: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            filled: 0,
            consumed: 0,
            read_hint: READ_SIZE,
        }
    }
}

impl Framer {
    /// Bytes received and not yet handed out as records.
    pub(crate) fn pending(&self) -> usize {
        self.filled - self.consumed
    }

    /// Reads from `rd` into the buffer, at most what completes the next record plus one more.
    pub(crate) fn read_from(&mut self, rd: &mut dyn io::Read) -> io::Result<usize> {
        if self.consumed > 0 {
            self.buf.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        if self.filled >= MAX_WIRE_RECORD {
            return Err(io::Error::other(
                "TLS receive buffer full: call process_new_packets() before read_tls()",
            ));
        }
        // What completes the record at the front, if its header is in (lengths beyond the
        // limit are refused by `next_record`; only the read size depends on them here).
        let missing = match self.buf[..self.filled] {
            [_, _, _, hi, lo, ..] => {
                let len = usize::from(u16::from_be_bytes([hi, lo])).min(MAX_CIPHERTEXT);
                (HEADER_LEN + len).saturating_sub(self.filled)
            }
            _ => 0,
        };
        let room = 2 * MAX_WIRE_RECORD - self.filled;
        let want = missing.max(self.read_hint).min(room).min(MAX_WIRE_RECORD);
        let end = self.filled + want;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        let n = rd.read(&mut self.buf[self.filled..end])?;
        self.filled += n.min(want);
        Ok(n)
    }

    /// Frees the buffer if every received byte has been handed out.
    pub(crate) fn release_if_empty(&mut self) {
        if self.filled == self.consumed && !self.buf.is_empty() {
            self.buf = Vec::new();
            self.filled = 0;
            self.consumed = 0;
        }
    }

    /// Appends bytes directly (tests and fuzzing use this instead of `read_from`).
    #[cfg(test)]
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.truncate(self.filled);
        self.buf.extend_from_slice(data);
        self.filled = self.buf.len();
    }

    /// The next complete record, if any. Its body is at `buf[start..start + len]` until the
    /// next call to `read_from` or `release_if_empty`.
    pub(crate) fn next_record(&mut self) -> Result<Option<RecordHeader>, Error> {
        let avail = &self.buf[self.consumed..self.filled];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let typ = match avail[0] {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            _ => {
                return Err(Error::PeerMisbehaved {
                    alert: AlertDescription::UnexpectedMessage,
                    what: "record of unknown content type (is the peer speaking TLS?)",
                })
            }
        };
        // legacy_record_version "MUST be ignored" (RFC 8446 §5.1) beyond a sanity check.
        if avail[1] != 0x03 {
            return Err(Error::InvalidMessage {
                alert: AlertDescription::DecodeError,
                what: "record legacy_version is not 0x03xx",
            });
        }
        let len = usize::from(u16::from_be_bytes([avail[3], avail[4]]));
        if len > MAX_CIPHERTEXT {
            return Err(record_overflow("record longer than 2^14 + 256 octets"));
        }
        if avail.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let version = u16::from_be_bytes([avail[1], avail[2]]);
        let start = self.consumed + HEADER_LEN;
        self.consumed = start + len;
        self.read_hint = (HEADER_LEN + len).max(READ_SIZE);
        Ok(Some(RecordHeader {
            typ,
            version,
            start,
            len,
        }))
    }

    pub(crate) fn body_mut(&mut self, h: &RecordHeader) -> &mut [u8] {
        &mut self.buf[h.start..h.start + h.len]
    }

    /// Bytes of a record handed out (until the next `read_from` or `release_if_empty`).
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// The bytes at `range` of the record last handed out, as `(buffer, start)` with the
    /// bytes at `buffer[start..]`. When that record ends the received data and the bytes fill
    /// at least three quarters of the buffer, the buffer itself is returned (the framer starts
    /// a new one): no copy. Otherwise they are copied out. So queued plaintext never holds
    /// more than 4/3 of its size in memory.
    pub(crate) fn take_or_copy(&mut self, range: Range<usize>) -> (Vec<u8>, usize) {
        if self.consumed == self.filled && 4 * range.len() >= 3 * self.buf.len() {
            let mut buf = core::mem::take(&mut self.buf);
            buf.truncate(range.end);
            self.filled = 0;
            self.consumed = 0;
            (buf, range.start)
        } else {
            (self.buf[range].to_vec(), 0)
        }
    }
}

/// Where `inner` lies within a buffer of `outer_len` bytes at address `outer_addr` (the
/// record body a provider decrypted in place).
pub(crate) fn range_within(
    outer_addr: usize,
    outer_len: usize,
    inner: &[u8],
) -> Result<Range<usize>, Error> {
    let start = (inner.as_ptr() as usize).wrapping_sub(outer_addr);
    if start > outer_len || inner.len() > outer_len - start {
        return Err(Error::InvalidState(
            "the crypto provider returned plaintext outside the record",
        ));
    }
    Ok(start..start + inner.len())
}

/// What decryption yielded.
pub(crate) enum Opened<'a> {
    /// A record with its inner content type and plaintext.
    Plain(ContentType, &'a [u8]),
    /// A record that failed to decrypt while skipping rejected early data.
    SkippedEarlyData,
}

/// Record protection state of one connection.
#[derive(Default)]
pub(crate) struct RecordLayer {
    encrypter: Option<Box<dyn MessageEncrypter>>,
    write_seq: u64,
    decrypter: Option<Box<dyn MessageDecrypter>>,
    read_seq: u64,
    /// Octets (record headers included) of undecryptable records still allowed while skipping
    /// rejected 0-RTT data (RFC 8446 §4.2.10); zero when not skipping.
    early_data_skip_budget: usize,
}

impl RecordLayer {
    pub(crate) fn is_decrypting(&self) -> bool {
        self.decrypter.is_some()
    }

    pub(crate) fn write_seq(&self) -> u64 {
        self.write_seq
    }

    pub(crate) fn set_encrypter(&mut self, e: Box<dyn MessageEncrypter>) {
        self.encrypter = Some(e);
        self.write_seq = 0;
    }

    pub(crate) fn set_decrypter(&mut self, d: Box<dyn MessageDecrypter>) {
        self.decrypter = Some(d);
        self.read_seq = 0;
    }

    pub(crate) fn skip_early_data(&mut self, budget: usize) {
        self.early_data_skip_budget = budget;
    }

    /// Whether a protected record of `len` octets that cannot be opened — it failed to
    /// decrypt, or arrived while no read key is installed (0-RTT data sent with a ClientHello
    /// that got a HelloRetryRequest) — is rejected early data to skip. Charges the budget
    /// with the whole record, header included, so that nothing (not even an empty record)
    /// is skipped when the budget is zero, and empty records cannot be skipped for free.
    pub(crate) fn skip_early_data_record(&mut self, len: usize) -> bool {
        let cost = HEADER_LEN + len;
        if self.early_data_skip_budget >= cost {
            self.early_data_skip_budget -= cost;
            true
        } else {
            false
        }
    }

    /// One record of `typ` carrying `payload` (at most 2^14 octets), as sent on the wire.
    /// A protected record is the provider's buffer itself: sealed in place, not copied.
    pub(crate) fn seal(&mut self, typ: ContentType, payload: &[u8]) -> Result<Vec<u8>, Error> {
        debug_assert!(payload.len() <= MAX_PLAINTEXT);
        match &mut self.encrypter {
            None => {
                let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
                out.push(u8::from(typ));
                // legacy_record_version: 0x0301 is allowed for the first ClientHello, 0x0303
                // works everywhere and is what OpenSSL and rustls send after it.
                out.extend_from_slice(&[0x03, 0x03]);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                out.extend_from_slice(payload);
                Ok(out)
            }
            Some(enc) => {
                if self.write_seq == u64::MAX {
                    return Err(Error::InvalidState("record sequence number exhausted"));
                }
                let msg = OutboundPlainMessage {
                    typ,
                    version: ProtocolVersion::TLSv1_2,
                    payload: OutboundChunks::Single(payload),
                };
                let sealed = enc.encrypt(msg, self.write_seq)?;
                self.write_seq += 1;
                Ok(sealed.encode())
            }
        }
    }

    /// Opens a protected record in place. `version` is the legacy_record_version received
    /// with it, `outer` its content type (application_data in TLS 1.3; in TLS 1.2 the real
    /// type, part of the additional data, RFC 5246 §6.2.3.3).
    pub(crate) fn open<'a>(
        &mut self,
        version: u16,
        outer: ContentType,
        body: &'a mut [u8],
    ) -> Result<Opened<'a>, Error> {
        let dec = self
            .decrypter
            .as_mut()
            .ok_or(Error::InvalidState("no decryption key"))?;
        if self.read_seq == u64::MAX {
            return Err(Error::InvalidState("record sequence number exhausted"));
        }
        let len = body.len();
        let msg = InboundOpaqueMessage::new(outer, ProtocolVersion::TLSv1_2, body);
        // The AEAD's additional data is the record header as received (RFC 8446 §5.2); the
        // provider builds it with 0x0303, so any other version would fail authentication.
        let opened = if version == 0x0303 {
            dec.decrypt(msg, self.read_seq)
        } else {
            Err(rustls::Error::DecryptError)
        };
        match opened {
            Ok(plain) => {
                self.read_seq += 1;
                self.early_data_skip_budget = 0;
                Ok(Opened::Plain(plain.typ, plain.payload))
            }
            Err(rustls::Error::DecryptError) if self.skip_early_data_record(len) => {
                Ok(Opened::SkippedEarlyData)
            }
            Err(rustls::Error::DecryptError) => Err(Error::DecryptError),
            Err(rustls::Error::PeerSentOversizedRecord) => Err(record_overflow(
                "TLSInnerPlaintext longer than 2^14 + 1 octets",
            )),
            Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::IllegalMiddleboxChangeCipherSpec,
            )) => Err(Error::PeerMisbehaved {
                alert: AlertDescription::UnexpectedMessage,
                what: "protected change_cipher_spec record",
            }),
            Err(rustls::Error::PeerMisbehaved(_)) => Err(Error::PeerMisbehaved {
                alert: AlertDescription::UnexpectedMessage,
                what: "TLSInnerPlaintext has no non-zero content type",
            }),
            Err(other) => Err(Error::Rustls(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_splits_and_bounds_records() {
        let mut f = Framer::default();
        f.push(&[22, 3, 3, 0, 2, 0xaa]);
        assert!(f.next_record().unwrap().is_none());
        f.push(&[0xbb, 23, 3, 3, 0, 0]);
        let h = f.next_record().unwrap().unwrap();
        assert_eq!((h.typ, h.len), (ContentType::Handshake, 2));
        assert_eq!(f.body_mut(&h), &[0xaa, 0xbb]);
        let h = f.next_record().unwrap().unwrap();
        assert_eq!((h.typ, h.len), (ContentType::ApplicationData, 0));
        assert!(f.next_record().unwrap().is_none());

        let mut f = Framer::default();
        f.push(&[23, 3, 3, 0x41, 0x01]);
        assert_eq!(
            f.next_record().unwrap_err().alert(),
            Some(AlertDescription::RecordOverflow)
        );
        let mut f = Framer::default();
        f.push(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            f.next_record().unwrap_err().alert(),
            Some(AlertDescription::UnexpectedMessage)
        );
    }

    #[test]
    fn framer_sizes_reads_to_records_and_frees_when_drained() {
        /// Serves `data`, recording how much each read asked for.
        struct Source {
            data: Vec<u8>,
            at: usize,
            asked: Vec<usize>,
        }
        impl io::Read for Source {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.asked.push(buf.len());
                let n = buf.len().min(self.data.len() - self.at);
                buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
                self.at += n;
                Ok(n)
            }
        }
        let mut data = vec![22, 3, 3, 0, 3, 1, 2, 3];
        for _ in 0..2 {
            data.extend_from_slice(&[23, 3, 3, 0x40, 0]);
            data.resize(data.len() + MAX_PLAINTEXT, 0x5a);
        }
        let mut src = Source {
            data,
            at: 0,
            asked: Vec::new(),
        };
        let mut f = Framer::default();

        // A small record: one small read, and no buffer kept once it is handed out.
        f.read_from(&mut src).unwrap();
        assert_eq!(src.asked, [READ_SIZE]);
        let h = f.next_record().unwrap().unwrap();
        assert_eq!((h.typ, h.len), (ContentType::Handshake, 3));
        // The next record's first bytes are still here: nothing is freed yet.
        assert!(f.next_record().unwrap().is_none());
        f.release_if_empty();
        assert_eq!(f.buf.len(), READ_SIZE);
        // Its header is in: the next read asks for exactly the rest of it.
        f.read_from(&mut src).unwrap();
        assert_eq!(src.asked[1], HEADER_LEN + MAX_PLAINTEXT - (READ_SIZE - 8));
        let h = f.next_record().unwrap().unwrap();
        assert_eq!(h.len, MAX_PLAINTEXT);
        f.release_if_empty();
        assert_eq!(f.buf.capacity(), 0);
        // The peer sends large records: a whole one is asked for at once.
        f.read_from(&mut src).unwrap();
        assert_eq!(src.asked[2], HEADER_LEN + MAX_PLAINTEXT);
        assert_eq!(f.next_record().unwrap().unwrap().len, MAX_PLAINTEXT);
        f.release_if_empty();
        assert_eq!((f.buf.capacity(), f.pending()), (0, 0));
    }

    #[test]
    fn framer_hands_over_its_buffer_only_for_the_last_large_record() {
        let mut f = Framer::default();
        f.push(&[23, 3, 3, 0, 2, 0xaa, 0xbb, 23, 3, 3, 0, 4, 1, 2, 3, 4]);
        // Not the last record: copied out.
        let h = f.next_record().unwrap().unwrap();
        let (buf, start) = f.take_or_copy(h.start..h.start + h.len);
        assert_eq!((&buf[start..], f.pending()), (&[0xaa, 0xbb][..], 9));
        // The last record, but less than three quarters of the buffer: copied out.
        let h = f.next_record().unwrap().unwrap();
        let (buf, start) = f.take_or_copy(h.start + 1..h.start + 3);
        assert_eq!((&buf[start..], f.buf.len()), (&[2, 3][..], 16));

        let mut f = Framer::default();
        let body: Vec<u8> = (0..20).collect();
        f.push(&[23, 3, 3, 0, 20]);
        f.push(&body);
        let h = f.next_record().unwrap().unwrap();
        // (Decrypted in place: the plaintext is the body less the content type and tag.)
        // 15 of 25 octets: copied out.
        let (buf, start) = f.take_or_copy(h.start..h.start + 15);
        assert_eq!((&buf[start..], start, f.buf.len()), (&body[..15], 0, 25));
        // 19 of 25 octets: the buffer itself.
        let (buf, start) = f.take_or_copy(h.start..h.start + 19);
        assert_eq!((&buf[start..], start), (&body[..19], HEADER_LEN));
        assert_eq!((f.buf.capacity(), f.pending()), (0, 0));
        assert!(f.next_record().unwrap().is_none());
        f.push(&[21, 3, 3, 0, 2, 1, 0]);
        assert_eq!(f.next_record().unwrap().unwrap().typ, ContentType::Alert);
    }

    #[test]
    fn range_within_checks_bounds() {
        let outer = [0u8; 8];
        let at = outer.as_ptr() as usize;
        assert_eq!(range_within(at, 8, &outer[2..5]).unwrap(), 2..5);
        assert_eq!(range_within(at, 8, &outer[8..]).unwrap(), 8..8);
        assert!(range_within(at, 4, &outer[2..5]).is_err());
        assert!(range_within(at + 1, 8, &outer[..1]).is_err());
    }

    #[test]
    fn framer_read_is_bounded() {
        let mut f = Framer::default();
        let mut src = io::repeat(22);
        let mut total = 0;
        let err = loop {
            match f.read_from(&mut src) {
                Ok(n) => total += n,
                Err(e) => break e,
            }
            assert!(total <= 2 * MAX_WIRE_RECORD);
        };
        // It did buffer a whole record's worth before refusing, and says why.
        assert!(total >= MAX_WIRE_RECORD, "{total}");
        assert!(err.to_string().contains("receive buffer full"), "{err}");
        assert!(f.pending() <= 2 * MAX_WIRE_RECORD);
    }
}
