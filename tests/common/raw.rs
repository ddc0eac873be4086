//! A small TLS 1.3 toolkit for scripted peers and man-in-the-middle tests.
//!
//! It is deliberately independent of the engine under test: records and handshake messages
//! are framed here, ClientHello / ServerHello are parsed into editable structures that
//! re-encode with every length recomputed, and the SHA-256 key schedule (binders, handshake
//! and application secrets, Finished, KeyUpdate) is written from RFC 8446 §7 on the `hmac`
//! and `sha2` crates. Record protection uses TLS_CHACHA20_POLY1305_SHA256 from the rustls
//! provider (its 32-octet key is constructible through the public rustls API); the scripted
//! peers therefore restrict the engine to that suite.

use hmac::{Hmac, Mac};
use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, Iv, MessageDecrypter, MessageEncrypter, OutboundChunks,
    OutboundPlainMessage,
};
use rustls::crypto::{ActiveKeyExchange, SupportedKxGroup};
use rustls::{CipherSuite, ContentType, NamedGroup, ProtocolVersion, Tls13CipherSuite};
use sha2::{Digest, Sha256};

pub const CCS: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APP_DATA: u8 = 23;

/// Handshake message types.
pub mod hs {
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

/// Extension types.
pub mod ext {
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

// ----- framing -------------------------------------------------------------------------------

/// One record as seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub typ: u8,
    pub body: Vec<u8>,
}

/// Encodes one record with legacy_record_version 0x0303.
pub fn record(typ: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() <= 0xffff);
    let mut out = vec![typ, 3, 3];
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `data` as records of `typ` of at most 2^14 octets each.
pub fn records(typ: u8, data: &[u8]) -> Vec<u8> {
    data.chunks(16384).flat_map(|c| record(typ, c)).collect()
}

/// Splits bytes produced by a peer into records (panics on a malformed stream: our peers'
/// output must always frame).
pub fn parse_records(mut wire: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        assert!(wire.len() >= 5, "truncated record header in {wire:02x?}");
        assert_eq!(wire[1], 3, "record version");
        let len = usize::from(u16::from_be_bytes([wire[3], wire[4]]));
        assert!(wire.len() >= 5 + len, "truncated record body");
        out.push(Record {
            typ: wire[0],
            body: wire[5..5 + len].to_vec(),
        });
        wire = &wire[5 + len..];
    }
    out
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![typ];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// Splits concatenated handshake data into messages (header included).
pub fn split_handshakes(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 4);
        let len = usize::from(data[1]) << 16 | usize::from(data[2]) << 8 | usize::from(data[3]);
        out.push(data[..4 + len].to_vec());
        data = &data[4 + len..];
    }
    out
}

/// A plaintext fatal alert record.
pub fn plain_alert(desc: rustls::AlertDescription) -> Vec<u8> {
    record(ALERT, &[2, u8::from(desc)])
}

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        let b = self.take(2);
        u16::from_be_bytes([b[0], b[1]])
    }
    fn vec8(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.take(n)
    }
    fn vec16(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.take(n)
    }
}

pub fn vec8(b: &[u8]) -> Vec<u8> {
    assert!(b.len() <= 0xff);
    let mut out = vec![b.len() as u8];
    out.extend_from_slice(b);
    out
}

pub fn vec16(b: &[u8]) -> Vec<u8> {
    assert!(b.len() <= 0xffff);
    let mut out = (b.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

pub fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn parse_extensions(block: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut r = Rd(block);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let typ = r.u16();
        out.push((typ, r.vec16().to_vec()));
    }
    out
}

pub fn encode_extensions(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (typ, body) in extensions {
        block.extend_from_slice(&typ.to_be_bytes());
        block.extend_from_slice(&vec16(body));
    }
    vec16(&block)
}

/// An editable extension list (shared by both hellos).
pub trait Extensions {
    fn extensions(&self) -> &Vec<(u16, Vec<u8>)>;
    fn extensions_mut(&mut self) -> &mut Vec<(u16, Vec<u8>)>;

    fn ext(&self, typ: u16) -> Option<&[u8]> {
        self.extensions()
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, b)| b.as_slice())
    }

    /// Replaces the body of `typ`, or inserts it before pre_shared_key (or at the end).
    fn set_ext(&mut self, typ: u16, body: Vec<u8>) {
        let list = self.extensions_mut();
        if let Some(e) = list.iter_mut().find(|(t, _)| *t == typ) {
            e.1 = body;
            return;
        }
        let at = list
            .iter()
            .position(|(t, _)| *t == ext::PRE_SHARED_KEY)
            .unwrap_or(list.len());
        list.insert(at, (typ, body));
    }

    fn remove_ext(&mut self, typ: u16) {
        self.extensions_mut().retain(|(t, _)| *t != typ);
    }
}

/// A ClientHello, editable and re-encodable.
#[derive(Clone, Debug)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    pub extensions: Vec<(u16, Vec<u8>)>,
}

impl Extensions for ClientHello {
    fn extensions(&self) -> &Vec<(u16, Vec<u8>)> {
        &self.extensions
    }
    fn extensions_mut(&mut self) -> &mut Vec<(u16, Vec<u8>)> {
        &mut self.extensions
    }
}

impl ClientHello {
    /// Parses a ClientHello handshake message (header included).
    pub fn parse(message: &[u8]) -> Self {
        assert_eq!(message[0], hs::CLIENT_HELLO);
        let mut r = Rd(&message[4..]);
        let legacy_version = r.u16();
        let random = r.take(32).try_into().unwrap();
        let session_id = r.vec8().to_vec();
        let cipher_suites = r
            .vec16()
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let compression_methods = r.vec8().to_vec();
        let extensions = parse_extensions(r.vec16());
        assert!(r.0.is_empty());
        Self {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = self.legacy_version.to_be_bytes().to_vec();
        body.extend_from_slice(&self.random);
        body.extend_from_slice(&vec8(&self.session_id));
        body.extend_from_slice(&vec16(&u16s(&self.cipher_suites)));
        body.extend_from_slice(&vec8(&self.compression_methods));
        body.extend_from_slice(&encode_extensions(&self.extensions));
        handshake(hs::CLIENT_HELLO, &body)
    }

    pub fn psk_offer(&self) -> PskOffer {
        PskOffer::parse(self.ext(ext::PRE_SHARED_KEY).expect("pre_shared_key"))
    }

    pub fn set_psk_offer(&mut self, offer: &PskOffer) {
        self.set_ext(ext::PRE_SHARED_KEY, offer.encode());
    }

    /// The client key shares (group, key_exchange).
    pub fn key_shares(&self) -> Vec<(u16, Vec<u8>)> {
        let mut r = Rd(self.ext(ext::KEY_SHARE).expect("key_share"));
        let mut list = Rd(r.vec16());
        let mut out = Vec::new();
        while !list.0.is_empty() {
            let g = list.u16();
            out.push((g, list.vec16().to_vec()));
        }
        out
    }

    pub fn set_key_shares(&mut self, shares: &[(u16, &[u8])]) {
        let mut list = Vec::new();
        for (g, k) in shares {
            list.extend_from_slice(&g.to_be_bytes());
            list.extend_from_slice(&vec16(k));
        }
        self.set_ext(ext::KEY_SHARE, vec16(&list));
    }

    /// Octets of the binders list (length prefix included) at the end of the encoding.
    pub fn binders_len(&self) -> usize {
        let last = self.extensions.last().expect("extensions");
        assert_eq!(last.0, ext::PRE_SHARED_KEY, "pre_shared_key must be last");
        2 + self
            .psk_offer()
            .binders
            .iter()
            .map(|b| 1 + b.len())
            .sum::<usize>()
    }

    /// Recomputes the binder of offered identity `index` with the SHA-256 external PSK `psk`,
    /// over `prefix` (the transcript before this ClientHello: empty, or message_hash + HRR)
    /// and the truncated ClientHello.
    pub fn bind(&mut self, index: usize, psk: &[u8], prefix: &[u8]) {
        self.bind_sized(index, psk, prefix, 32);
    }

    /// Like [`bind`](Self::bind), but the binder entry is `len` octets: the correct 32-octet
    /// HMAC (computed over a truncated ClientHello whose lengths account for `len`), cut
    /// short or followed by zeros.
    pub fn bind_sized(&mut self, index: usize, psk: &[u8], prefix: &[u8], len: usize) {
        let mut offer = self.psk_offer();
        offer.binders[index] = vec![0; len];
        self.set_psk_offer(&offer);
        let encoded = self.encode();
        let truncated = &encoded[..encoded.len() - self.binders_len()];
        let mut transcript = prefix.to_vec();
        transcript.extend_from_slice(truncated);
        let mut entry = binder(psk, &transcript).to_vec();
        entry.resize(len, 0);
        offer.binders[index] = entry;
        self.set_psk_offer(&offer);
    }
}

/// The pre_shared_key extension of a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PskOffer {
    pub identities: Vec<(Vec<u8>, u32)>,
    pub binders: Vec<Vec<u8>>,
}

impl PskOffer {
    pub fn parse(body: &[u8]) -> Self {
        let mut r = Rd(body);
        let mut ids = Rd(r.vec16());
        let mut binders = Rd(r.vec16());
        let mut identities = Vec::new();
        while !ids.0.is_empty() {
            let id = ids.vec16().to_vec();
            let age = u32::from_be_bytes(ids.take(4).try_into().unwrap());
            identities.push((id, age));
        }
        let mut list = Vec::new();
        while !binders.0.is_empty() {
            list.push(binders.vec8().to_vec());
        }
        Self {
            identities,
            binders: list,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut ids = Vec::new();
        for (id, age) in &self.identities {
            ids.extend_from_slice(&vec16(id));
            ids.extend_from_slice(&age.to_be_bytes());
        }
        let mut binders = Vec::new();
        for b in &self.binders {
            binders.extend_from_slice(&vec8(b));
        }
        let mut out = vec16(&ids);
        out.extend_from_slice(&vec16(&binders));
        out
    }
}

/// A ServerHello or HelloRetryRequest, editable and re-encodable.
#[derive(Clone, Debug)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub compression_method: u8,
    pub extensions: Vec<(u16, Vec<u8>)>,
}

impl Extensions for ServerHello {
    fn extensions(&self) -> &Vec<(u16, Vec<u8>)> {
        &self.extensions
    }
    fn extensions_mut(&mut self) -> &mut Vec<(u16, Vec<u8>)> {
        &mut self.extensions
    }
}

impl ServerHello {
    pub fn parse(message: &[u8]) -> Self {
        assert_eq!(message[0], hs::SERVER_HELLO);
        let mut r = Rd(&message[4..]);
        let legacy_version = r.u16();
        let random = r.take(32).try_into().unwrap();
        let session_id = r.vec8().to_vec();
        let cipher_suite = r.u16();
        let compression_method = r.u8();
        let extensions = parse_extensions(r.vec16());
        Self {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = self.legacy_version.to_be_bytes().to_vec();
        body.extend_from_slice(&self.random);
        body.extend_from_slice(&vec8(&self.session_id));
        body.extend_from_slice(&self.cipher_suite.to_be_bytes());
        body.push(self.compression_method);
        body.extend_from_slice(&encode_extensions(&self.extensions));
        handshake(hs::SERVER_HELLO, &body)
    }

    pub fn is_hrr(&self) -> bool {
        self.random == hrr_random()
    }

    /// The server key share (group, key_exchange).
    pub fn key_share(&self) -> (u16, Vec<u8>) {
        let mut r = Rd(self.ext(ext::KEY_SHARE).expect("key_share"));
        let g = r.u16();
        (g, r.vec16().to_vec())
    }
}

/// ServerHello.random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (§4.1.3).
pub fn hrr_random() -> [u8; 32] {
    sha256(b"HelloRetryRequest")
}

/// A HelloRetryRequest echoing `session_id`, with the given extensions.
pub fn hello_retry_request(
    session_id: &[u8],
    suite: u16,
    extensions: Vec<(u16, Vec<u8>)>,
) -> ServerHello {
    ServerHello {
        legacy_version: 0x0303,
        random: hrr_random(),
        session_id: session_id.to_vec(),
        cipher_suite: suite,
        compression_method: 0,
        extensions,
    }
}

// ----- SHA-256 key schedule (RFC 8446 §7.1) --------------------------------------------------

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

pub fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
    hmac(salt, ikm)
}

pub fn hkdf_expand_label(secret: &[u8], label: &str, context: &[u8], len: usize) -> Vec<u8> {
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push((6 + label.len()) as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label.as_bytes());
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    let mut out = Vec::new();
    let mut t = Vec::new();
    let mut i = 1u8;
    while out.len() < len {
        let mut input = t.clone();
        input.extend_from_slice(&info);
        input.push(i);
        t = hmac(secret, &input).to_vec();
        out.extend_from_slice(&t);
        i += 1;
    }
    out.truncate(len);
    out
}

/// Derive-Secret(secret, label, messages).
pub fn derive_secret(secret: &[u8], label: &str, messages: &[u8]) -> [u8; 32] {
    hkdf_expand_label(secret, label, &sha256(messages), 32)
        .try_into()
        .unwrap()
}

pub fn early_secret(psk: &[u8]) -> [u8; 32] {
    hkdf_extract(&[0; 32], psk)
}

/// HMAC(finished_key(base), Transcript-Hash(messages)).
pub fn finished_mac(base: &[u8], messages: &[u8]) -> [u8; 32] {
    let key = hkdf_expand_label(base, "finished", b"", 32);
    hmac(&key, &sha256(messages))
}

/// The binder of an external SHA-256 PSK over `transcript` (ending in a truncated ClientHello).
pub fn binder(psk: &[u8], transcript: &[u8]) -> [u8; 32] {
    let binder_key = derive_secret(&early_secret(psk), "ext binder", b"");
    finished_mac(&binder_key, transcript)
}

/// client_early_traffic_secret over the ClientHello.
pub fn client_early_traffic(psk: &[u8], client_hello: &[u8]) -> [u8; 32] {
    derive_secret(&early_secret(psk), "c e traffic", client_hello)
}

/// The message_hash message that replaces ClientHello1 after a HelloRetryRequest.
pub fn message_hash(client_hello1: &[u8]) -> Vec<u8> {
    handshake(hs::MESSAGE_HASH, &sha256(client_hello1))
}

/// Handshake traffic secrets and the master secret.
#[derive(Clone)]
pub struct Secrets {
    pub client_hs: [u8; 32],
    pub server_hs: [u8; 32],
    pub master: [u8; 32],
}

/// Key schedule from the PSK, the (EC)DHE secret (`None`: psk_ke) and the transcript
/// ClientHello..ServerHello.
pub fn handshake_secrets(psk: &[u8], dhe: Option<&[u8]>, hello_transcript: &[u8]) -> Secrets {
    let derived = derive_secret(&early_secret(psk), "derived", b"");
    let hs = hkdf_extract(&derived, dhe.unwrap_or(&[0; 32]));
    let derived = derive_secret(&hs, "derived", b"");
    Secrets {
        client_hs: derive_secret(&hs, "c hs traffic", hello_transcript),
        server_hs: derive_secret(&hs, "s hs traffic", hello_transcript),
        master: hkdf_extract(&derived, &[0; 32]),
    }
}

/// (client, server) application traffic secrets over ClientHello..server Finished.
pub fn application_secrets(master: &[u8], transcript: &[u8]) -> ([u8; 32], [u8; 32]) {
    (
        derive_secret(master, "c ap traffic", transcript),
        derive_secret(master, "s ap traffic", transcript),
    )
}

/// application_traffic_secret_N+1.
pub fn next_secret(secret: &[u8]) -> [u8; 32] {
    hkdf_expand_label(secret, "traffic upd", b"", 32)
        .try_into()
        .unwrap()
}

// ----- record protection ---------------------------------------------------------------------

pub fn chacha20_suite() -> &'static Tls13CipherSuite {
    rustls_capif::default_provider()
        .cipher_suites
        .iter()
        .find_map(|s| match s {
            rustls::SupportedCipherSuite::Tls13(s)
                if s.common.suite == CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 =>
            {
                Some(*s)
            }
            _ => None,
        })
        .expect("provider has TLS_CHACHA20_POLY1305_SHA256")
}

fn key_and_iv(secret: &[u8]) -> (AeadKey, Iv) {
    let key: [u8; 32] = hkdf_expand_label(secret, "key", b"", 32)
        .try_into()
        .unwrap();
    let iv: [u8; 12] = hkdf_expand_label(secret, "iv", b"", 12).try_into().unwrap();
    (AeadKey::from(key), Iv::new(iv))
}

/// Protects records under one traffic secret (TLS_CHACHA20_POLY1305_SHA256).
pub struct Sealer {
    enc: Box<dyn MessageEncrypter>,
    seq: u64,
}

impl Sealer {
    pub fn new(secret: &[u8]) -> Self {
        let (key, iv) = key_and_iv(secret);
        Self {
            enc: chacha20_suite().aead_alg.encrypter(key, iv),
            seq: 0,
        }
    }

    /// One protected record with inner content type `inner` (any byte, even invalid ones).
    pub fn seal(&mut self, inner: u8, content: &[u8]) -> Vec<u8> {
        let msg = OutboundPlainMessage {
            typ: ContentType::from(inner),
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(content),
        };
        let sealed = self.enc.encrypt(msg, self.seq).unwrap();
        self.seq += 1;
        sealed.encode()
    }
}

/// Removes protection from records under one traffic secret.
pub struct Opener {
    dec: Box<dyn MessageDecrypter>,
    seq: u64,
}

impl Opener {
    pub fn new(secret: &[u8]) -> Self {
        let (key, iv) = key_and_iv(secret);
        Self {
            dec: chacha20_suite().aead_alg.decrypter(key, iv),
            seq: 0,
        }
    }

    /// (inner content type, content) of a protected record body.
    pub fn open(&mut self, body: &[u8]) -> (u8, Vec<u8>) {
        let mut body = body.to_vec();
        let msg = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut body,
        );
        let plain = self.dec.decrypt(msg, self.seq).expect("record decrypts");
        self.seq += 1;
        (u8::from(plain.typ), plain.payload.to_vec())
    }
}

// ----- key exchange --------------------------------------------------------------------------

pub fn kx_group(name: NamedGroup) -> &'static dyn SupportedKxGroup {
    *rustls_capif::default_provider()
        .kx_groups
        .iter()
        .find(|g| g.name() == name)
        .expect("provider has the group")
}

/// A fresh client key share of `group`.
pub fn client_share(group: NamedGroup) -> Box<dyn ActiveKeyExchange> {
    kx_group(group).start().unwrap()
}

/// The server's answer to the client share `client_key`: (server key_exchange, shared secret).
pub fn server_share(group: NamedGroup, client_key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let done = kx_group(group).start_and_complete(client_key).unwrap();
    (done.pub_key, done.secret.secret_bytes().to_vec())
}
