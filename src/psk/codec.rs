//! Wire encoding of the TLS 1.3 handshake messages the external-PSK engine speaks
//! (RFC 8446 §4): ClientHello, ServerHello / HelloRetryRequest, EncryptedExtensions,
//! Finished, KeyUpdate, and the extensions they carry.
//!
//! Decoding borrows from the input and checks every length against its container, so a
//! malformed message yields [`Error::InvalidMessage`] (`decode_error`) and never a panic or
//! an allocation larger than the input. Rule violations that are not encoding errors
//! (duplicate extensions, `pre_shared_key` not last, …) are reported with the alert
//! RFC 8446 names for them. Encoding never panics either: a length that does not fit its
//! prefix is reported as an error.
//!
//! Decoding a ClientHello is one pass over the message with no allocation: lists are kept
//! as validated, borrowed encodings ([`U16List`], [`KeyShares`], [`AlpnList`],
//! [`OfferedPsks`]) and walked again only by the server's single passes over them, and
//! duplicates (extension types, key-share groups) are found with a [`CodeSet`] of all
//! 2^16 code points. Nothing grows faster than the message (DESIGN §5: work before
//! authentication is linear in the ClientHello's size).

use core::ops::Range;

use rustls::AlertDescription;

use crate::error::Error;
use crate::psk::tls12::codec::{ext12, HelloExtensions12};

/// Handshake message types (RFC 8446 §4).
pub(crate) mod hs {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const END_OF_EARLY_DATA: u8 = 5;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const CERTIFICATE: u8 = 11;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
    pub const MESSAGE_HASH: u8 = 254;
}

/// Extension types (RFC 8446 §4.2, RFC 6066, RFC 7301).
pub(crate) mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const ALPN: u16 = 16;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const COOKIE: u16 = 44;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE: u16 = 51;
}

/// `ProtocolVersion` values.
pub(crate) const SSL3: u16 = 0x0300;
pub(crate) const TLS12: u16 = 0x0303;
pub(crate) const TLS13: u16 = 0x0304;

/// `PskKeyExchangeMode` values (RFC 8446 §4.2.9).
pub(crate) const PSK_KE: u8 = 0;
pub(crate) const PSK_DHE_KE: u8 = 1;

/// ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
pub(crate) const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Largest handshake message accepted, header excluded (matches rustls).
pub(crate) const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

pub(crate) fn decode_error(what: &'static str) -> Error {
    Error::InvalidMessage {
        alert: AlertDescription::DecodeError,
        what,
    }
}

pub(crate) fn illegal(what: &'static str) -> Error {
    Error::PeerMisbehaved {
        alert: AlertDescription::IllegalParameter,
        what,
    }
}

pub(crate) fn unexpected(what: &'static str) -> Error {
    Error::PeerMisbehaved {
        alert: AlertDescription::UnexpectedMessage,
        what,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A bounds-checked cursor over borrowed bytes.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        work::add(1);
        if n > self.data.len() {
            return Err(decode_error(what));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<&'a [u8; N], Error> {
        let b = self.bytes(N, what)?;
        b.try_into().map_err(|_| decode_error(what))
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.bytes(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.array::<2>(what)?;
        Ok(u16::from_be_bytes(*b))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<usize, Error> {
        let b = self.array::<3>(what)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let b = self.array::<4>(what)?;
        Ok(u32::from_be_bytes(*b))
    }

    /// A `<0..2^8-1>` vector: its bytes.
    pub(crate) fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.u8(what)?;
        self.bytes(usize::from(n), what)
    }

    /// A `<0..2^16-1>` vector: its bytes.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.u16(what)?;
        self.bytes(usize::from(n), what)
    }

    /// A `<0..2^24-1>` vector: its bytes.
    pub(crate) fn vec24(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.u24(what)?;
        self.bytes(n, what)
    }

    /// Fails with `decode_error` if bytes remain.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), Error> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(decode_error(what))
        }
    }
}

/// Work accounting for tests and fuzzing: every decoded field, list element visited, set
/// operation and hashed block adds to a per-thread counter, so a test or a fuzz target can
/// assert that the work one ClientHello causes stays within a fixed multiple of its size
/// (work that grows faster than the input shows up as a count, not as a flaky timing). In
/// normal builds the counter does not exist and [`work::add`] compiles to nothing.
pub(crate) mod work {
    #[cfg(any(test, fuzzing))]
    std::thread_local! {
        static OPS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    }

    /// Counts `n` units of work.
    #[inline(always)]
    pub(crate) fn add(n: usize) {
        #[cfg(any(test, fuzzing))]
        OPS.with(|c| c.set(c.get().saturating_add(n as u64)));
        #[cfg(not(any(test, fuzzing)))]
        let _ = n;
    }

    /// The work counted on this thread since the last call (and resets the counter).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn take() -> u64 {
        OPS.with(|c| c.replace(0))
    }
}

/// A set of 16-bit code points (extension types, groups, suites): a 2^16-bit bitmap, so
/// membership and duplicate checks are O(1) whatever the client sends. 8 KiB, on the stack.
pub(crate) struct CodeSet([u64; 1024]);

impl CodeSet {
    pub(crate) fn new() -> Self {
        Self([0; 1024])
    }

    /// Adds `v`; `false` if it was already there.
    pub(crate) fn insert(&mut self, v: u16) -> bool {
        work::add(1);
        let (word, bit) = (usize::from(v >> 6), 1u64 << (v & 63));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    pub(crate) fn contains(&self, v: u16) -> bool {
        work::add(1);
        self.0[usize::from(v >> 6)] & (1u64 << (v & 63)) != 0
    }
}

/// A validated, non-empty list of u16 values, borrowed from the message (cipher suites,
/// versions, groups). Equality is equality of the encodings, i.e. of the lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct U16List<'a>(&'a [u8]);

impl<'a> U16List<'a> {
    /// Checks a `<2..2^16-2>`-style vector body: non-empty, even length.
    pub(crate) fn parse(data: &'a [u8], what: &'static str) -> Result<Self, Error> {
        if data.is_empty() || data.len() % 2 != 0 {
            return Err(decode_error(what));
        }
        work::add(1);
        Ok(Self(data))
    }

    /// The values in order (one unit of work per value).
    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.0.chunks_exact(2).map(|c| {
            work::add(1);
            u16::from_be_bytes([c[0], c[1]])
        })
    }

    pub(crate) fn contains(&self, v: u16) -> bool {
        self.iter().any(|x| x == v)
    }

    pub(crate) fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The values as a vector (tests and fuzzing).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn to_vec(self) -> Vec<u16> {
        self.iter().collect()
    }
}

/// The client's key shares (RFC 8446 §4.2.8), validated: well-formed entries with non-empty
/// keys and no group twice. Entries are walked again with [`KeyShares::iter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyShares<'a> {
    list: &'a [u8],
    count: usize,
}

impl<'a> KeyShares<'a> {
    fn parse(list: &'a [u8]) -> Result<Self, Error> {
        let mut groups = CodeSet::new();
        let mut count = 0;
        let mut l = Reader::new(list);
        while !l.is_empty() {
            let group = l.u16("KeyShareEntry.group")?;
            let key = l.vec16("KeyShareEntry.key_exchange")?;
            if key.is_empty() {
                return Err(decode_error("empty KeyShareEntry.key_exchange"));
            }
            if !groups.insert(group) {
                // RFC 8446 §4.2.8
                return Err(illegal("two key shares for one group"));
            }
            count += 1;
        }
        Ok(Self { list, count })
    }

    /// (group, key_exchange) in the client's order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut l = Reader::new(self.list);
        core::iter::from_fn(move || {
            // Validated by `parse`: these reads cannot fail.
            let group = l.u16("KeyShareEntry.group").ok()?;
            let key = l.vec16("KeyShareEntry.key_exchange").ok()?;
            Some((group, key))
        })
    }

    #[cfg(any(test, fuzzing))]
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// The client's ALPN protocol names (RFC 7301), validated: non-empty list of non-empty names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AlpnList<'a>(&'a [u8]);

impl<'a> AlpnList<'a> {
    fn parse(list: &'a [u8]) -> Result<Self, Error> {
        let mut l = Reader::new(list);
        if l.is_empty() {
            return Err(decode_error("empty ALPN protocol list"));
        }
        while !l.is_empty() {
            if l.vec8("ALPN protocol name")?.is_empty() {
                return Err(decode_error("empty ALPN protocol name"));
            }
        }
        Ok(Self(list))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut l = Reader::new(self.0);
        core::iter::from_fn(move || l.vec8("ALPN protocol name").ok())
    }

    pub(crate) fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// One extension as it appears on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawExtension<'a> {
    pub(crate) typ: u16,
    pub(crate) body: &'a [u8],
}

/// Walks an extensions block, rejecting duplicates (`illegal_parameter`, RFC 8446 §4.2:
/// "There MUST NOT be more than one extension of the same type") in O(1) per extension.
/// `f` gets each extension and whether it is the last one.
pub(crate) fn for_each_extension<'a>(
    block: &'a [u8],
    mut f: impl FnMut(RawExtension<'a>, bool) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut r = Reader::new(block);
    let mut seen = CodeSet::new();
    while !r.is_empty() {
        let typ = r.u16("extension type")?;
        let body = r.vec16("extension body")?;
        if !seen.insert(typ) {
            return Err(illegal("duplicate extension"));
        }
        f(RawExtension { typ, body }, r.is_empty())?;
    }
    Ok(())
}

/// Splits an extensions block into extensions, rejecting duplicates (see
/// [`for_each_extension`]).
pub(crate) fn split_extensions(block: &[u8]) -> Result<Vec<RawExtension<'_>>, Error> {
    let mut out = Vec::new();
    for_each_extension(block, |e, _| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// Splits a handshake message into (type, body).
pub(crate) fn split_handshake(msg: &[u8]) -> Result<(u8, &[u8]), Error> {
    let mut r = Reader::new(msg);
    let typ = r.u8("handshake type")?;
    let body = r.vec24("handshake body")?;
    r.finish("handshake message length")?;
    Ok((typ, body))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A growable buffer with length-prefixed nesting. Lengths that do not fit their prefix set an
/// overflow flag that [`Writer::finish`] reports, so encoding never panics.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    overflow: bool,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    fn prefixed(&mut self, width: usize, max: usize, f: impl FnOnce(&mut Self)) -> &mut Self {
        let at = self.buf.len();
        self.buf.extend(core::iter::repeat_n(0, width));
        f(self);
        let len = self.buf.len() - at - width;
        if len > max {
            self.overflow = true;
        }
        let be = (len as u32).to_be_bytes();
        self.buf[at..at + width].copy_from_slice(&be[4 - width..]);
        self
    }

    pub(crate) fn vec8(&mut self, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.prefixed(1, 0xff, f)
    }

    pub(crate) fn vec16(&mut self, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.prefixed(2, 0xffff, f)
    }

    /// One extension: type and length-prefixed body.
    pub(crate) fn extension(&mut self, typ: u16, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.u16(typ).vec16(f)
    }

    /// A complete handshake message: type, 24-bit length, body.
    pub(crate) fn handshake(&mut self, typ: u8, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.u8(typ).prefixed(3, MAX_HANDSHAKE_MESSAGE, f)
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        if self.overflow {
            return Err(Error::InvalidConfig(
                "a handshake message would exceed its length field (too many or too long PSK \
                 identities, ALPN protocols or server name)"
                    .into(),
            ));
        }
        Ok(self.buf)
    }
}

// ---------------------------------------------------------------------------------------------
// ClientHello

/// The PSK identities and binders a client offers (RFC 8446 §4.2.11), validated (every
/// identity and binder well-formed, as many binders as identities) and kept as their
/// encodings: however many the client sends, nothing is allocated for them, and the server
/// walks only the first few it is willing to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OfferedPsks<'a> {
    identities: &'a [u8],
    binders: &'a [u8],
    count: usize,
}

impl<'a> OfferedPsks<'a> {
    fn parse(identities: &'a [u8], binders: &'a [u8]) -> Result<Self, Error> {
        let mut l = Reader::new(identities);
        let mut count = 0usize;
        while !l.is_empty() {
            let id = l.vec16("PskIdentity.identity")?;
            if id.is_empty() {
                return Err(decode_error("empty PskIdentity.identity"));
            }
            l.u32("PskIdentity.obfuscated_ticket_age")?;
            count += 1;
        }
        let mut l = Reader::new(binders);
        let mut binder_count = 0usize;
        while !l.is_empty() {
            let binder = l.vec8("PskBinderEntry")?;
            if binder.len() < 32 {
                return Err(decode_error("PskBinderEntry shorter than 32 octets"));
            }
            binder_count += 1;
        }
        if count == 0 || binder_count == 0 {
            return Err(decode_error("pre_shared_key with no identities or binders"));
        }
        if count != binder_count {
            return Err(illegal("PSK identities and binders differ in number"));
        }
        Ok(Self {
            identities,
            binders,
            count,
        })
    }

    /// (identity, obfuscated_ticket_age) in offer order.
    pub(crate) fn identities(&self) -> impl Iterator<Item = (&'a [u8], u32)> + 'a {
        let mut l = Reader::new(self.identities);
        core::iter::from_fn(move || {
            let id = l.vec16("PskIdentity.identity").ok()?;
            let age = l.u32("PskIdentity.obfuscated_ticket_age").ok()?;
            Some((id, age))
        })
    }

    /// The binders in offer order.
    pub(crate) fn binders(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut l = Reader::new(self.binders);
        core::iter::from_fn(move || l.vec8("PskBinderEntry").ok())
    }

    /// The binder of identity `index` (`index` < [`len`](Self::len)).
    pub(crate) fn binder(&self, index: usize) -> Option<&'a [u8]> {
        self.binders().nth(index)
    }

    /// Number of identities offered (equal to the number of binders).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// A decoded ClientHello, borrowing from the handshake message.
#[derive(Clone, Debug)]
pub(crate) struct ClientHello<'a> {
    pub(crate) legacy_version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: &'a [u8],
    pub(crate) cipher_suites: U16List<'a>,
    pub(crate) compression_methods: &'a [u8],
    pub(crate) server_name: Option<&'a [u8]>,
    pub(crate) supported_versions: Option<U16List<'a>>,
    pub(crate) supported_groups: Option<U16List<'a>>,
    pub(crate) key_shares: Option<KeyShares<'a>>,
    pub(crate) psk_modes: Option<&'a [u8]>,
    pub(crate) alpn: Option<AlpnList<'a>>,
    pub(crate) cookie: Option<&'a [u8]>,
    pub(crate) early_data: bool,
    pub(crate) psks: Option<OfferedPsks<'a>>,
    /// Octets of the encoded binders list (its 2-octet length included) at the end of the
    /// message: the truncated ClientHello is the message without them.
    pub(crate) binders_len: usize,
    /// extended_master_secret, renegotiation_info and ec_point_formats, captured in the same
    /// pass for a server that answers with TLS 1.2.
    pub(crate) tls12: HelloExtensions12<'a>,
}

impl<'a> ClientHello<'a> {
    /// Decodes the body of a ClientHello handshake message: one pass, no allocation.
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16("ClientHello.legacy_version")?;
        let random = *r.array::<32>("ClientHello.random")?;
        let session_id = r.vec8("ClientHello.legacy_session_id")?;
        if session_id.len() > 32 {
            return Err(decode_error("ClientHello.legacy_session_id longer than 32"));
        }
        let cipher_suites = U16List::parse(r.vec16("cipher_suites")?, "cipher_suites")?;
        let compression_methods = r.vec8("legacy_compression_methods")?;
        if compression_methods.is_empty() {
            return Err(decode_error("empty legacy_compression_methods"));
        }
        let block = if r.is_empty() {
            &[][..]
        } else {
            let block = r.vec16("ClientHello.extensions")?;
            r.finish("data after ClientHello.extensions")?;
            block
        };

        let mut ch = ClientHello {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            server_name: None,
            supported_versions: None,
            supported_groups: None,
            key_shares: None,
            psk_modes: None,
            alpn: None,
            cookie: None,
            early_data: false,
            psks: None,
            binders_len: 0,
            tls12: HelloExtensions12::default(),
        };
        for_each_extension(block, |e, last| ch.extension(e, last))?;
        Ok(ch)
    }

    fn extension(&mut self, e: RawExtension<'a>, last: bool) -> Result<(), Error> {
        let mut b = Reader::new(e.body);
        match e.typ {
            ext::SERVER_NAME => {
                let list = b.vec16("server_name list")?;
                b.finish("server_name")?;
                let mut l = Reader::new(list);
                let mut host = None;
                if l.is_empty() {
                    return Err(decode_error("empty server_name list"));
                }
                while !l.is_empty() {
                    let name_type = l.u8("server_name type")?;
                    let name = l.vec16("server_name")?;
                    if name_type == 0 {
                        if host.is_some() {
                            return Err(illegal("two host_name entries in server_name"));
                        }
                        if name.is_empty() {
                            return Err(decode_error("empty host_name"));
                        }
                        host = Some(name);
                    }
                }
                self.server_name = host;
            }
            ext::SUPPORTED_VERSIONS => {
                let list = b.vec8("supported_versions")?;
                b.finish("supported_versions")?;
                self.supported_versions = Some(U16List::parse(list, "supported_versions")?);
            }
            ext::SUPPORTED_GROUPS => {
                let list = b.vec16("supported_groups")?;
                b.finish("supported_groups")?;
                self.supported_groups = Some(U16List::parse(list, "supported_groups")?);
            }
            ext::KEY_SHARE => {
                let list = b.vec16("key_share client_shares")?;
                b.finish("key_share")?;
                self.key_shares = Some(KeyShares::parse(list)?);
            }
            ext::PSK_KEY_EXCHANGE_MODES => {
                let modes = b.vec8("psk_key_exchange_modes")?;
                b.finish("psk_key_exchange_modes")?;
                if modes.is_empty() {
                    return Err(decode_error("empty psk_key_exchange_modes"));
                }
                self.psk_modes = Some(modes);
            }
            ext::ALPN => {
                let list = b.vec16("ALPN protocol list")?;
                b.finish("ALPN")?;
                self.alpn = Some(AlpnList::parse(list)?);
            }
            ext::COOKIE => {
                let cookie = b.vec16("cookie")?;
                b.finish("cookie")?;
                if cookie.is_empty() {
                    return Err(decode_error("empty cookie"));
                }
                self.cookie = Some(cookie);
            }
            ext::EARLY_DATA => {
                b.finish("early_data in ClientHello must be empty")?;
                self.early_data = true;
            }
            ext::PRE_SHARED_KEY => {
                if !last {
                    return Err(illegal("pre_shared_key is not the last extension"));
                }
                let ids = b.vec16("PreSharedKeyExtension.identities")?;
                let binders_at = b.remaining();
                let binders = b.vec16("PreSharedKeyExtension.binders")?;
                b.finish("pre_shared_key")?;
                self.binders_len = binders_at;
                self.psks = Some(OfferedPsks::parse(ids, binders)?);
            }
            ext12::EXTENDED_MASTER_SECRET | ext12::RENEGOTIATION_INFO | ext12::EC_POINT_FORMATS => {
                self.tls12.extension(e.typ, e.body)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A decoded ClientHello kept without its borrow: where each field lies in the handshake
/// message. A server that pauses after the ClientHello (waiting for a key from I/O) keeps
/// the message and this, and gets the decoded form back with [`ClientHelloSpans::view`]
/// without decoding again.
#[derive(Clone, Debug)]
pub(crate) struct ClientHelloSpans {
    legacy_version: u16,
    random: [u8; 32],
    session_id: Range<usize>,
    cipher_suites: Range<usize>,
    compression_methods: Range<usize>,
    server_name: Option<Range<usize>>,
    supported_versions: Option<Range<usize>>,
    supported_groups: Option<Range<usize>>,
    key_shares: Option<(Range<usize>, usize)>,
    psk_modes: Option<Range<usize>>,
    alpn: Option<Range<usize>>,
    cookie: Option<Range<usize>>,
    early_data: bool,
    psks: Option<(Range<usize>, Range<usize>, usize)>,
    binders_len: usize,
    extended_master_secret: bool,
    renegotiation_info: Option<Range<usize>>,
    ec_point_formats: Option<Range<usize>>,
}

/// Where `part` (a sub-slice of `whole`) lies in `whole`.
fn span(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if start > whole.len() || part.len() > whole.len() - start {
        // Unreachable for slices decoded from `whole`; an empty span keeps it harmless.
        return 0..0;
    }
    start..start + part.len()
}

impl ClientHello<'_> {
    /// The positions of this hello's fields in `message`, the buffer it was decoded from.
    pub(crate) fn spans(&self, message: &[u8]) -> ClientHelloSpans {
        let at = |part: &[u8]| span(message, part);
        ClientHelloSpans {
            legacy_version: self.legacy_version,
            random: self.random,
            session_id: at(self.session_id),
            cipher_suites: at(self.cipher_suites.0),
            compression_methods: at(self.compression_methods),
            server_name: self.server_name.map(at),
            supported_versions: self.supported_versions.map(|l| at(l.0)),
            supported_groups: self.supported_groups.map(|l| at(l.0)),
            key_shares: self.key_shares.map(|k| (at(k.list), k.count)),
            psk_modes: self.psk_modes.map(at),
            alpn: self.alpn.map(|l| at(l.0)),
            cookie: self.cookie.map(at),
            early_data: self.early_data,
            psks: self
                .psks
                .map(|p| (at(p.identities), at(p.binders), p.count)),
            binders_len: self.binders_len,
            extended_master_secret: self.tls12.extended_master_secret,
            renegotiation_info: self.tls12.renegotiation_info.map(at),
            ec_point_formats: self.tls12.ec_point_formats.map(at),
        }
    }
}

impl ClientHelloSpans {
    /// The decoded hello again, borrowing from `message` (the buffer given to
    /// [`ClientHello::spans`]): slicing only, no decoding.
    pub(crate) fn view<'a>(&self, message: &'a [u8]) -> ClientHello<'a> {
        let at = |r: &Range<usize>| message.get(r.clone()).unwrap_or_default();
        ClientHello {
            legacy_version: self.legacy_version,
            random: self.random,
            session_id: at(&self.session_id),
            cipher_suites: U16List(at(&self.cipher_suites)),
            compression_methods: at(&self.compression_methods),
            server_name: self.server_name.as_ref().map(at),
            supported_versions: self.supported_versions.as_ref().map(|r| U16List(at(r))),
            supported_groups: self.supported_groups.as_ref().map(|r| U16List(at(r))),
            key_shares: self.key_shares.as_ref().map(|(r, count)| KeyShares {
                list: at(r),
                count: *count,
            }),
            psk_modes: self.psk_modes.as_ref().map(at),
            alpn: self.alpn.as_ref().map(|r| AlpnList(at(r))),
            cookie: self.cookie.as_ref().map(at),
            early_data: self.early_data,
            psks: self.psks.as_ref().map(|(ids, binders, count)| OfferedPsks {
                identities: at(ids),
                binders: at(binders),
                count: *count,
            }),
            binders_len: self.binders_len,
            tls12: HelloExtensions12 {
                extended_master_secret: self.extended_master_secret,
                renegotiation_info: self.renegotiation_info.as_ref().map(at),
                ec_point_formats: self.ec_point_formats.as_ref().map(at),
            },
        }
    }
}

/// What a client puts in its ClientHello. Binders are left as zeros of the right lengths,
/// to be filled in by [`fill_binders`] once the truncated transcript is known.
pub(crate) struct ClientHelloParams<'a> {
    pub(crate) random: &'a [u8; 32],
    pub(crate) session_id: &'a [u8],
    pub(crate) cipher_suites: &'a [u16],
    pub(crate) server_name: Option<&'a str>,
    pub(crate) supported_groups: &'a [u16],
    pub(crate) key_shares: &'a [(u16, &'a [u8])],
    pub(crate) psk_modes: &'a [u8],
    pub(crate) alpn: &'a [Vec<u8>],
    pub(crate) cookie: Option<&'a [u8]>,
    /// (identity, binder length) per offered PSK.
    pub(crate) psks: &'a [(&'a [u8], usize)],
    /// TLS 1.2 offered too (`Some(ecdhe)`): 1.2 in supported_versions and the TLS 1.2
    /// extensions (ec_point_formats if ECDHE_PSK suites are offered).
    pub(crate) tls12: Option<bool>,
}

/// Encodes a ClientHello handshake message (header included) with zeroed binders and returns
/// it with the length of the binders list (to truncate for the binder computation).
pub(crate) fn encode_client_hello(p: &ClientHelloParams<'_>) -> Result<(Vec<u8>, usize), Error> {
    let mut binders_len = 2;
    for (_, len) in p.psks {
        binders_len += 1 + len;
    }
    let mut w = Writer::new();
    w.handshake(hs::CLIENT_HELLO, |w| {
        w.u16(TLS12).bytes(p.random);
        w.vec8(|w| {
            w.bytes(p.session_id);
        });
        w.vec16(|w| {
            for s in p.cipher_suites {
                w.u16(*s);
            }
        });
        w.vec8(|w| {
            w.u8(0);
        });
        w.vec16(|w| {
            w.extension(ext::SUPPORTED_VERSIONS, |w| {
                w.vec8(|w| {
                    w.u16(TLS13);
                    if p.tls12.is_some() {
                        w.u16(TLS12);
                    }
                });
            });
            if let Some(ecdhe) = p.tls12 {
                super::tls12::codec::extensions_12(w, ecdhe, true);
            }
            if let Some(name) = p.server_name {
                w.extension(ext::SERVER_NAME, |w| {
                    w.vec16(|w| {
                        w.u8(0).vec16(|w| {
                            w.bytes(name.as_bytes());
                        });
                    });
                });
            }
            if !p.supported_groups.is_empty() {
                w.extension(ext::SUPPORTED_GROUPS, |w| {
                    w.vec16(|w| {
                        for g in p.supported_groups {
                            w.u16(*g);
                        }
                    });
                });
            }
            if !p.supported_groups.is_empty() {
                w.extension(ext::KEY_SHARE, |w| {
                    w.vec16(|w| {
                        for (group, key) in p.key_shares {
                            w.u16(*group).vec16(|w| {
                                w.bytes(key);
                            });
                        }
                    });
                });
            }
            if !p.alpn.is_empty() {
                w.extension(ext::ALPN, |w| {
                    w.vec16(|w| {
                        for proto in p.alpn {
                            w.vec8(|w| {
                                w.bytes(proto);
                            });
                        }
                    });
                });
            }
            if let Some(cookie) = p.cookie {
                w.extension(ext::COOKIE, |w| {
                    w.vec16(|w| {
                        w.bytes(cookie);
                    });
                });
            }
            w.extension(ext::PSK_KEY_EXCHANGE_MODES, |w| {
                w.vec8(|w| {
                    w.bytes(p.psk_modes);
                });
            });
            // pre_shared_key MUST be last (RFC 8446 §4.2.11).
            w.extension(ext::PRE_SHARED_KEY, |w| {
                w.vec16(|w| {
                    for (identity, _) in p.psks {
                        // External PSKs: obfuscated_ticket_age SHOULD be 0 (§4.2.11).
                        w.vec16(|w| {
                            w.bytes(identity);
                        })
                        .u32(0);
                    }
                });
                w.vec16(|w| {
                    for (_, len) in p.psks {
                        w.vec8(|w| {
                            w.bytes(&[0u8; 64][..*len]);
                        });
                    }
                });
            });
        });
    });
    Ok((w.finish()?, binders_len))
}

/// Writes `binders` (in offer order) into the binders list at the end of an encoded
/// ClientHello produced by [`encode_client_hello`].
pub(crate) fn fill_binders(client_hello: &mut [u8], binders_len: usize, binders: &[&[u8]]) {
    let start = client_hello.len() - binders_len + 2;
    let mut at = start;
    for b in binders {
        client_hello[at] = b.len() as u8;
        client_hello[at + 1..at + 1 + b.len()].copy_from_slice(b);
        at += 1 + b.len();
    }
    debug_assert_eq!(at, client_hello.len());
}

// ---------------------------------------------------------------------------------------------
// ServerHello / HelloRetryRequest

/// A decoded ServerHello or HelloRetryRequest.
#[derive(Debug)]
pub(crate) struct ServerHello<'a> {
    pub(crate) legacy_version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: &'a [u8],
    pub(crate) cipher_suite: u16,
    pub(crate) compression_method: u8,
    pub(crate) supported_version: Option<u16>,
    /// ServerHello: (group, key_exchange). HelloRetryRequest: (selected_group, empty).
    pub(crate) key_share: Option<(u16, &'a [u8])>,
    pub(crate) selected_identity: Option<u16>,
    pub(crate) cookie: Option<&'a [u8]>,
    /// Types of all extensions present, for "not offered / not allowed here" checks.
    pub(crate) extension_types: Vec<u16>,
}

impl<'a> ServerHello<'a> {
    pub(crate) fn is_hrr(&self) -> bool {
        self.random == HRR_RANDOM
    }

    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16("ServerHello.legacy_version")?;
        let random = *r.array::<32>("ServerHello.random")?;
        let session_id = r.vec8("ServerHello.legacy_session_id_echo")?;
        if session_id.len() > 32 {
            return Err(decode_error("legacy_session_id_echo longer than 32"));
        }
        let cipher_suite = r.u16("ServerHello.cipher_suite")?;
        let compression_method = r.u8("ServerHello.legacy_compression_method")?;
        let extensions = if r.is_empty() {
            Vec::new()
        } else {
            let block = r.vec16("ServerHello.extensions")?;
            r.finish("data after ServerHello.extensions")?;
            split_extensions(block)?
        };
        let is_hrr = random == HRR_RANDOM;
        let mut sh = ServerHello {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            supported_version: None,
            key_share: None,
            selected_identity: None,
            cookie: None,
            extension_types: extensions.iter().map(|e| e.typ).collect(),
        };
        for e in &extensions {
            let mut b = Reader::new(e.body);
            match e.typ {
                ext::SUPPORTED_VERSIONS => {
                    sh.supported_version = Some(b.u16("selected_version")?);
                    b.finish("supported_versions")?;
                }
                ext::KEY_SHARE if is_hrr => {
                    sh.key_share = Some((b.u16("selected_group")?, &[][..]));
                    b.finish("HelloRetryRequest key_share")?;
                }
                ext::KEY_SHARE => {
                    let group = b.u16("KeyShareEntry.group")?;
                    let key = b.vec16("KeyShareEntry.key_exchange")?;
                    b.finish("ServerHello key_share")?;
                    if key.is_empty() {
                        return Err(decode_error("empty server key_exchange"));
                    }
                    sh.key_share = Some((group, key));
                }
                ext::PRE_SHARED_KEY => {
                    sh.selected_identity = Some(b.u16("selected_identity")?);
                    b.finish("ServerHello pre_shared_key")?;
                }
                ext::COOKIE => {
                    let cookie = b.vec16("cookie")?;
                    b.finish("cookie")?;
                    if cookie.is_empty() {
                        return Err(decode_error("empty cookie"));
                    }
                    sh.cookie = Some(cookie);
                }
                _ => {}
            }
        }
        Ok(sh)
    }
}

/// What a server puts in its ServerHello.
pub(crate) struct ServerHelloParams<'a> {
    pub(crate) random: &'a [u8; 32],
    pub(crate) session_id: &'a [u8],
    pub(crate) cipher_suite: u16,
    pub(crate) key_share: Option<(u16, &'a [u8])>,
    pub(crate) selected_identity: u16,
}

pub(crate) fn encode_server_hello(p: &ServerHelloParams<'_>) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs::SERVER_HELLO, |w| {
        w.u16(TLS12).bytes(p.random);
        w.vec8(|w| {
            w.bytes(p.session_id);
        });
        w.u16(p.cipher_suite).u8(0);
        w.vec16(|w| {
            w.extension(ext::SUPPORTED_VERSIONS, |w| {
                w.u16(TLS13);
            });
            if let Some((group, key)) = p.key_share {
                w.extension(ext::KEY_SHARE, |w| {
                    w.u16(group).vec16(|w| {
                        w.bytes(key);
                    });
                });
            }
            w.extension(ext::PRE_SHARED_KEY, |w| {
                w.u16(p.selected_identity);
            });
        });
    });
    w.finish()
}

pub(crate) fn encode_hello_retry_request(
    session_id: &[u8],
    cipher_suite: u16,
    selected_group: u16,
) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs::SERVER_HELLO, |w| {
        w.u16(TLS12).bytes(&HRR_RANDOM);
        w.vec8(|w| {
            w.bytes(session_id);
        });
        w.u16(cipher_suite).u8(0);
        w.vec16(|w| {
            w.extension(ext::SUPPORTED_VERSIONS, |w| {
                w.u16(TLS13);
            });
            w.extension(ext::KEY_SHARE, |w| {
                w.u16(selected_group);
            });
        });
    });
    w.finish()
}

// ---------------------------------------------------------------------------------------------
// EncryptedExtensions

/// A decoded EncryptedExtensions message.
#[derive(Debug, Default)]
pub(crate) struct EncryptedExtensions<'a> {
    pub(crate) alpn: Option<&'a [u8]>,
    pub(crate) server_name_ack: bool,
    pub(crate) extension_types: Vec<u16>,
}

impl<'a> EncryptedExtensions<'a> {
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let block = r.vec16("EncryptedExtensions.extensions")?;
        r.finish("data after EncryptedExtensions")?;
        let extensions = split_extensions(block)?;
        let mut ee = EncryptedExtensions {
            extension_types: extensions.iter().map(|e| e.typ).collect(),
            ..Default::default()
        };
        for e in &extensions {
            let mut b = Reader::new(e.body);
            match e.typ {
                ext::ALPN => {
                    let list = b.vec16("ALPN protocol list")?;
                    b.finish("ALPN")?;
                    let mut l = Reader::new(list);
                    let proto = l.vec8("ALPN protocol")?;
                    if !l.is_empty() {
                        return Err(illegal("server selected more than one ALPN protocol"));
                    }
                    if proto.is_empty() {
                        return Err(decode_error("empty ALPN protocol"));
                    }
                    ee.alpn = Some(proto);
                }
                ext::SERVER_NAME => {
                    b.finish("server_name in EncryptedExtensions must be empty")?;
                    ee.server_name_ack = true;
                }
                // Everything else (early_data included: we never offer it) is judged by the
                // client against what it sent.
                _ => {}
            }
        }
        Ok(ee)
    }
}

pub(crate) fn encode_encrypted_extensions(
    alpn: Option<&[u8]>,
    server_name_ack: bool,
) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs::ENCRYPTED_EXTENSIONS, |w| {
        w.vec16(|w| {
            if server_name_ack {
                w.extension(ext::SERVER_NAME, |_| {});
            }
            if let Some(proto) = alpn {
                w.extension(ext::ALPN, |w| {
                    w.vec16(|w| {
                        w.vec8(|w| {
                            w.bytes(proto);
                        });
                    });
                });
            }
        });
    });
    w.finish()
}

// ---------------------------------------------------------------------------------------------
// Finished, KeyUpdate, message_hash

pub(crate) fn encode_finished(verify_data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + verify_data.len());
    out.push(hs::FINISHED);
    out.extend_from_slice(&(verify_data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(verify_data);
    out
}

/// `KeyUpdateRequest` values (RFC 8446 §4.6.3).
pub(crate) const UPDATE_NOT_REQUESTED: u8 = 0;
pub(crate) const UPDATE_REQUESTED: u8 = 1;

pub(crate) fn encode_key_update(request_peer_update: bool) -> [u8; 5] {
    let v = if request_peer_update {
        UPDATE_REQUESTED
    } else {
        UPDATE_NOT_REQUESTED
    };
    [hs::KEY_UPDATE, 0, 0, 1, v]
}

/// Decodes a KeyUpdate body: `Ok(true)` if the peer requests an update of our keys.
pub(crate) fn decode_key_update(body: &[u8]) -> Result<bool, Error> {
    match body {
        [UPDATE_NOT_REQUESTED] => Ok(false),
        [UPDATE_REQUESTED] => Ok(true),
        [_] => Err(illegal("KeyUpdate request_update is neither 0 nor 1")),
        _ => Err(decode_error("KeyUpdate body is not one octet")),
    }
}

/// Checks the structure of a NewSessionTicket (which the client then ignores).
pub(crate) fn check_new_session_ticket(body: &[u8]) -> Result<(), Error> {
    let mut r = Reader::new(body);
    r.u32("ticket_lifetime")?;
    r.u32("ticket_age_add")?;
    r.vec8("ticket_nonce")?;
    let ticket = r.vec16("ticket")?;
    if ticket.is_empty() {
        return Err(decode_error("empty ticket"));
    }
    r.vec16("NewSessionTicket.extensions")?;
    r.finish("data after NewSessionTicket")
}

/// The synthetic `message_hash` handshake message that replaces ClientHello1 in the transcript
/// after a HelloRetryRequest (RFC 8446 §4.4.1).
pub(crate) fn message_hash(ch1_hash: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + ch1_hash.len());
    out.extend_from_slice(&[hs::MESSAGE_HASH, 0, 0, ch1_hash.len() as u8]);
    out.extend_from_slice(ch1_hash);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_client_hello() -> Vec<u8> {
        let random = [7u8; 32];
        let alpn = vec![b"h2".to_vec()];
        let (mut msg, binders_len) = encode_client_hello(&ClientHelloParams {
            random: &random,
            session_id: &[9u8; 32],
            cipher_suites: &[0x1301, 0x1303],
            server_name: Some("aef.example.com"),
            supported_groups: &[0x001d, 0x0017],
            key_shares: &[(0x001d, &[1u8; 32])],
            psk_modes: &[PSK_DHE_KE],
            alpn: &alpn,
            cookie: None,
            psks: &[(b"invoker-1", 32), (b"invoker-2", 48)],
            tls12: None,
        })
        .unwrap();
        fill_binders(&mut msg, binders_len, &[&[0xaa; 32], &[0xbb; 48]]);
        msg
    }

    #[test]
    fn client_hello_round_trip() {
        let msg = sample_client_hello();
        let (typ, body) = split_handshake(&msg).unwrap();
        assert_eq!(typ, hs::CLIENT_HELLO);
        let ch = ClientHello::decode(body).unwrap();
        assert_eq!(ch.legacy_version, TLS12);
        assert_eq!(ch.random, [7u8; 32]);
        assert_eq!(ch.session_id, &[9u8; 32]);
        assert_eq!(ch.cipher_suites.to_vec(), vec![0x1301, 0x1303]);
        assert_eq!(ch.server_name, Some(&b"aef.example.com"[..]));
        assert_eq!(
            ch.supported_versions.map(U16List::to_vec),
            Some(vec![TLS13])
        );
        assert_eq!(
            ch.supported_groups.map(U16List::to_vec),
            Some(vec![0x001d, 0x0017])
        );
        let shares: Vec<_> = ch.key_shares.unwrap().iter().collect();
        assert_eq!(shares, vec![(0x001d, &[1u8; 32][..])]);
        assert_eq!(ch.psk_modes, Some(&[PSK_DHE_KE][..]));
        assert_eq!(
            ch.alpn.map(|a| a.iter().collect::<Vec<_>>()),
            Some(vec![&b"h2"[..]])
        );
        let psks = ch.psks.unwrap();
        assert_eq!(psks.len(), 2);
        assert_eq!(
            psks.identities().collect::<Vec<_>>(),
            vec![(&b"invoker-1"[..], 0), (&b"invoker-2"[..], 0)]
        );
        assert_eq!(
            psks.binders().collect::<Vec<_>>(),
            vec![&[0xaa; 32][..], &[0xbb; 48][..]]
        );
        assert_eq!(psks.binder(1), Some(&[0xbb; 48][..]));
        // binders list: 2 + (1 + 32) + (1 + 48)
        assert_eq!(ch.binders_len, 2 + 33 + 49);
        assert_eq!(&msg[msg.len() - ch.binders_len..][..2], &[0, 82]);
    }

    #[test]
    fn client_hello_rejects_psk_not_last_and_duplicates() {
        let msg = sample_client_hello();
        let (_, body) = split_handshake(&msg).unwrap();
        // Append a dummy extension after pre_shared_key by rewriting the extensions block.
        let ext_block_at = 2 + 32 + 1 + 32 + 2 + 4 + 2;
        let mut b = body[..ext_block_at].to_vec();
        let old_len = u16::from_be_bytes([body[ext_block_at], body[ext_block_at + 1]]);
        b.extend_from_slice(&(old_len + 4).to_be_bytes());
        b.extend_from_slice(&body[ext_block_at + 2..]);
        // (An unknown type: renegotiation_info, 0xff01, is decoded since both versions share
        // this decoder, and an empty body is not a valid one — see below.)
        b.extend_from_slice(&[0xfe, 0x01, 0, 0]);
        let err = ClientHello::decode(&b).unwrap_err();
        assert_eq!(
            err.alert(),
            Some(AlertDescription::IllegalParameter),
            "{err}"
        );

        // Two identical extensions ahead of the original ones (pre_shared_key still last).
        let mut dup = body[..ext_block_at].to_vec();
        dup.extend_from_slice(&(old_len + 8).to_be_bytes());
        dup.extend_from_slice(&[0xfe, 0x01, 0, 0, 0xfe, 0x01, 0, 0]);
        dup.extend_from_slice(&body[ext_block_at + 2..]);
        match ClientHello::decode(&dup) {
            Err(Error::PeerMisbehaved {
                alert: AlertDescription::IllegalParameter,
                what,
            }) => assert!(what.contains("duplicate"), "{what}"),
            other => panic!("{other:?}"),
        }

        // The TLS 1.2 extensions are decoded in the same pass, for either version: a
        // malformed one (renegotiation_info without its length octet) is a decode_error, as
        // in rustls.
        let mut bad = body[..ext_block_at].to_vec();
        bad.extend_from_slice(&(old_len + 4).to_be_bytes());
        bad.extend_from_slice(&[0xff, 0x01, 0, 0]);
        bad.extend_from_slice(&body[ext_block_at + 2..]);
        let err = ClientHello::decode(&bad).unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::DecodeError), "{err}");
    }

    #[test]
    fn every_truncation_of_client_hello_is_a_decode_error() {
        let msg = sample_client_hello();
        let (_, body) = split_handshake(&msg).unwrap();
        // Cutting right before the extensions block leaves a valid extension-less hello.
        let no_extensions = 2 + 32 + 1 + 32 + 2 + 4 + 2;
        for n in 0..body.len() {
            match ClientHello::decode(&body[..n]) {
                Ok(ch) => assert!(n == no_extensions && ch.psks.is_none(), "accepted at {n}"),
                Err(err) => assert!(err.alert().is_some(), "truncated at {n}: {err}"),
            }
        }
    }

    #[test]
    fn server_hello_round_trip_and_hrr() {
        let msg = encode_server_hello(&ServerHelloParams {
            random: &[3u8; 32],
            session_id: &[1, 2, 3],
            cipher_suite: 0x1301,
            key_share: Some((0x001d, &[5u8; 32])),
            selected_identity: 1,
        })
        .unwrap();
        let (typ, body) = split_handshake(&msg).unwrap();
        assert_eq!(typ, hs::SERVER_HELLO);
        let sh = ServerHello::decode(body).unwrap();
        assert!(!sh.is_hrr());
        assert_eq!(sh.session_id, &[1, 2, 3]);
        assert_eq!(sh.cipher_suite, 0x1301);
        assert_eq!(sh.supported_version, Some(TLS13));
        assert_eq!(sh.key_share, Some((0x001d, &[5u8; 32][..])));
        assert_eq!(sh.selected_identity, Some(1));

        let hrr = encode_hello_retry_request(&[1, 2, 3], 0x1302, 0x0018).unwrap();
        let (_, body) = split_handshake(&hrr).unwrap();
        let h = ServerHello::decode(body).unwrap();
        assert!(h.is_hrr());
        assert_eq!(h.key_share, Some((0x0018, &[][..])));
        assert_eq!(h.selected_identity, None);
    }

    #[test]
    fn encrypted_extensions_round_trip() {
        let msg = encode_encrypted_extensions(Some(b"http/1.1"), true).unwrap();
        let (typ, body) = split_handshake(&msg).unwrap();
        assert_eq!(typ, hs::ENCRYPTED_EXTENSIONS);
        let ee = EncryptedExtensions::decode(body).unwrap();
        assert_eq!(ee.alpn, Some(&b"http/1.1"[..]));
        assert!(ee.server_name_ack);
    }

    #[test]
    fn key_update_codes() {
        let m = encode_key_update(true);
        let (typ, body) = split_handshake(&m).unwrap();
        assert_eq!(typ, hs::KEY_UPDATE);
        assert!(decode_key_update(body).unwrap());
        assert!(!decode_key_update(&[0]).unwrap());
        assert_eq!(
            decode_key_update(&[2]).unwrap_err().alert(),
            Some(AlertDescription::IllegalParameter)
        );
        assert_eq!(
            decode_key_update(&[]).unwrap_err().alert(),
            Some(AlertDescription::DecodeError)
        );
    }

    #[test]
    fn writer_reports_overflow_instead_of_panicking() {
        let mut w = Writer::new();
        w.vec8(|w| {
            w.bytes(&[0u8; 300]);
        });
        assert!(w.finish().is_err());
    }
}
