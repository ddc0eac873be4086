//! The TLS 1.3 record layer (RFC 8446 §5): framing of incoming bytes into records, record
//! protection with the suite's AEAD from the rustls provider, and sequence numbers.
//!
//! The framer holds at most about two maximal records, so a peer cannot make it allocate
//! more; every record length is checked before anything is buffered for it.

use std::io;

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
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// Splits received bytes into records.
#[derive(Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Bytes before `consumed` belong to records already handed out.
    consumed: usize,
}

impl Framer {
    /// Bytes received and not yet handed out as records.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// Reads from `rd` into the buffer, at most what completes the next record plus one more.
    pub(crate) fn read_from(&mut self, rd: &mut dyn io::Read) -> io::Result<usize> {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        if self.buf.len() >= MAX_WIRE_RECORD {
            return Err(io::Error::other(
                "TLS receive buffer full: call process_new_packets() before read_tls()",
            ));
        }
        let room = 2 * MAX_WIRE_RECORD - self.buf.len();
        let want = room.min(MAX_WIRE_RECORD);
        let at = self.buf.len();
        self.buf.resize(at + want, 0);
        let result = rd.read(&mut self.buf[at..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(at + n.min(want));
        result
    }

    /// Appends bytes directly (tests and fuzzing use this instead of `read_from`).
    #[cfg(test)]
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete record, if any. Its body is at `buf[start..start + len]` until the
    /// next call to `read_from`.
    pub(crate) fn next_record(&mut self) -> Result<Option<RecordHeader>, Error> {
        let avail = &self.buf[self.consumed..];
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
        let start = self.consumed + HEADER_LEN;
        self.consumed = start + len;
        Ok(Some(RecordHeader { typ, start, len }))
    }

    pub(crate) fn body_mut(&mut self, h: &RecordHeader) -> &mut [u8] {
        &mut self.buf[h.start..h.start + h.len]
    }
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

    /// Appends one record of `typ` carrying `payload` (at most 2^14 octets) to `out`.
    pub(crate) fn seal(
        &mut self,
        typ: ContentType,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        debug_assert!(payload.len() <= MAX_PLAINTEXT);
        match &mut self.encrypter {
            None => {
                out.push(u8::from(typ));
                // legacy_record_version: 0x0301 is allowed for the first ClientHello, 0x0303
                // works everywhere and is what OpenSSL and rustls send after it.
                out.extend_from_slice(&[0x03, 0x03]);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                out.extend_from_slice(payload);
                Ok(())
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
                out.extend_from_slice(&sealed.encode());
                Ok(())
            }
        }
    }

    /// Opens a protected record in place. The caller has checked the outer type is
    /// application_data.
    pub(crate) fn open<'a>(&mut self, body: &'a mut [u8]) -> Result<Opened<'a>, Error> {
        let dec = self
            .decrypter
            .as_mut()
            .ok_or(Error::InvalidState("no decryption key"))?;
        if self.read_seq == u64::MAX {
            return Err(Error::InvalidState("record sequence number exhausted"));
        }
        let len = body.len();
        let msg =
            InboundOpaqueMessage::new(ContentType::ApplicationData, ProtocolVersion::TLSv1_2, body);
        match dec.decrypt(msg, self.read_seq) {
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
    fn framer_read_is_bounded() {
        let mut f = Framer::default();
        let mut src = io::repeat(22);
        let mut total = 0;
        while let Ok(n) = f.read_from(&mut src) {
            total += n;
            assert!(total <= 2 * MAX_WIRE_RECORD);
        }
        assert!(f.pending() <= 2 * MAX_WIRE_RECORD);
    }
}
