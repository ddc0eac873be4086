//! Shared pieces of the PSK engine fuzz targets: fixed keys and configs, chunked feeding of a
//! connection with invariant checks, and an editable ClientHello (for the structure-aware
//! target) with an independent SHA-256 binder computation.

use std::io::Read;
use std::sync::{Arc, OnceLock};

/// The scripted-peer toolkit of the integration tests (framing, hellos, an independent
/// SHA-256 key schedule, ChaCha20-Poly1305 record protection), shared with them.
#[path = "../../tests/common/raw.rs"]
#[allow(dead_code)]
pub mod raw;

use hmac::{Hmac, Mac};
use rustls::{CipherSuite, NamedGroup};
use rustls_capif::psk::{
    ConnectionCommon, ExternalPsk, PskClientConfig, PskConnection, PskHash, PskImporter,
    PskKeyExchangeModes, PskServerConfig, PskServerConnection, StaticPskResolver,
};
use rustls_capif::Error;
use sha2::{Digest, Sha256};

/// The one identity the fuzzed server knows, and its key.
pub const IDENTITY: &[u8] = b"fuzz-invoker";
pub const KEY: [u8; 32] = [0x5e; 32];

pub fn psk() -> ExternalPsk {
    ExternalPsk::new(IDENTITY.to_vec(), &KEY, PskHash::Sha256).unwrap()
}

/// Server configurations, chosen by the input: default; secp384r1 only (our client's hello
/// then gets a HelloRetryRequest); psk_ke allowed with ALPN; one suite; RFC 9258 importer
/// only (every offered identity goes through the `ImportedIdentity` decoder); importer with
/// a context, accepting plain identities too; TLS 1.3 and TLS 1.2 with ALPN and the plain PSK
/// suites; TLS 1.2 only (the TLS 1.2 state machine, with and without the downgrade sentinel).
pub fn server_config(kind: u8) -> Arc<PskServerConfig> {
    static CONFIGS: OnceLock<Vec<Arc<PskServerConfig>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let keys: StaticPskResolver = [psk()].into_iter().collect();
        let base = PskServerConfig::new(Arc::new(keys));
        vec![
            Arc::new(base.clone()),
            Arc::new(base.clone().with_groups(&[NamedGroup::secp384r1]).unwrap()),
            Arc::new(
                base.clone()
                    .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly)
                    .with_alpn_protocols(vec![b"http/1.1".to_vec(), b"h2".to_vec()])
                    .unwrap(),
            ),
            Arc::new(
                base.clone()
                    .with_cipher_suites(&[CipherSuite::TLS13_CHACHA20_POLY1305_SHA256])
                    .unwrap(),
            ),
            Arc::new(base.clone().with_psk_importer(PskImporter::new())),
            Arc::new(
                base.clone().with_psk_importer(
                    PskImporter::new()
                        .with_context(IMPORT_CONTEXT.to_vec())
                        .unwrap()
                        .accepting_non_imported(true),
                ),
            ),
            Arc::new(
                base.clone()
                    .with_tls12(true)
                    .with_plain_psk(true)
                    .with_alpn_protocols(vec![b"http/1.1".to_vec(), b"h2".to_vec()])
                    .unwrap(),
            ),
            Arc::new(base.with_tls12(true).with_tls13(false)),
        ]
    });
    configs[usize::from(kind) % configs.len()].clone()
}

/// The RFC 9258 context of the importing configurations.
pub const IMPORT_CONTEXT: &[u8] = b"client=fuzz;server=aef";

/// The client configuration of the client target: X25519 share, secp256r1 offered (so a
/// HelloRetryRequest can name it), psk_ke allowed, ALPN and SNI, and no middlebox
/// compatibility — an empty legacy_session_id, so that a fuzzed ServerHello can echo it and
/// reach the checks behind that one.
pub fn client_config() -> Arc<PskClientConfig> {
    client_config_for(0)
}

/// The client target's configurations: `kind` odd adds an RFC 9258 importer (two imported
/// identities, SHA-256 and SHA-384, so selected_identity and the suite hash are checked
/// against imported PSKs).
pub fn client_config_for(kind: u8) -> Arc<PskClientConfig> {
    static CONFIGS: OnceLock<[Arc<PskClientConfig>; 2]> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let base = PskClientConfig::new(psk())
            .with_groups(&[NamedGroup::X25519, NamedGroup::secp256r1])
            .unwrap()
            .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly)
            .with_alpn_protocols(vec![b"h2".to_vec()])
            .unwrap()
            .with_server_name("aef.example.com")
            .unwrap()
            .with_middlebox_compat(false);
        [
            Arc::new(base.clone()),
            Arc::new(
                base.with_psk_importer(
                    PskImporter::new()
                        .with_context(IMPORT_CONTEXT.to_vec())
                        .unwrap(),
                ),
            ),
        ]
    });
    configs[usize::from(kind & 1)].clone()
}

/// The client configurations of the TLS 1.2 client target: TLS 1.2 only with the plain PSK
/// suites allowed, or TLS 1.3 and 1.2 (the TLS 1.3 hello, handed over to the TLS 1.2 state
/// machine by a TLS 1.2 ServerHello, downgrade sentinel checked); both with ALPN and SNI.
pub fn tls12_client_config(mixed: bool) -> Arc<PskClientConfig> {
    static CONFIGS: OnceLock<[Arc<PskClientConfig>; 2]> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let base = PskClientConfig::new(psk())
            .with_tls12(true)
            .with_alpn_protocols(vec![b"h2".to_vec()])
            .unwrap()
            .with_server_name("aef.example.com")
            .unwrap();
        [
            Arc::new(base.clone().with_tls13(false).with_plain_psk(true)),
            Arc::new(base.with_middlebox_compat(false)),
        ]
    });
    configs[usize::from(mixed)].clone()
}

/// Chunk sizes from a small deterministic generator: the input picks seed and maximum.
pub struct Chunker {
    state: u32,
    max: usize,
}

impl Chunker {
    pub fn new(seed: u8, shape: u8) -> Self {
        const MAX: [usize; 7] = [1, 3, 16, 100, 1500, 17000, 70000];
        Self {
            state: 0x9e37_79b9 ^ u32::from(seed) << 8 ^ u32::from(shape),
            max: MAX[usize::from(shape) % MAX.len()],
        }
    }

    fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + self.state as usize % self.max
    }
}

/// Everything the connection queued for the wire.
pub fn drain(conn: &mut ConnectionCommon) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Feeds `data` in chunks, processing after each read, and returns what the connection
/// wrote meanwhile. On the first error, checks that the connection stays failed and
/// reports it.
pub fn feed<C: PskConnection>(
    conn: &mut C,
    data: &[u8],
    chunker: &mut Chunker,
    mut after_process: impl FnMut(&mut C),
) -> Result<Vec<u8>, Error> {
    let mut written = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = chunker.next().min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut rd = chunk;
        let mut stalled = false;
        while !rd.is_empty() {
            match conn.read_tls(&mut rd) {
                Ok(_) => stalled = false,
                // Still full after processing and reading (a paused connection): stop.
                Err(_) if stalled => return Ok(written),
                Err(_) => {
                    // Unread application data holds input back, as in a real application.
                    stalled = true;
                    read_plaintext(conn);
                }
            }
            if let Err(e) = conn.process_new_packets() {
                check_failed(conn, &e);
                return Err(e);
            }
            after_process(conn);
            written.extend(drain(conn));
        }
    }
    Ok(written)
}

/// Reads (and drops) the application data the connection has buffered.
fn read_plaintext<C: PskConnection>(conn: &mut C) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.reader().read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Signals end of stream and processes.
pub fn finish<C: PskConnection>(conn: &mut C) {
    read_plaintext(conn);
    if conn.read_tls(&mut &[][..]).is_ok() {
        if let Err(e) = conn.process_new_packets() {
            check_failed(conn, &e);
        }
    }
    drain(conn);
}

/// Invariants of a failed connection.
pub fn check_failed<C: PskConnection>(conn: &mut C, err: &Error) {
    assert!(!err.to_string().is_empty());
    assert!(
        conn.process_new_packets().is_err(),
        "a failed connection must stay failed"
    );
    let _ = drain(conn);
    assert!(
        std::io::Write::write(&mut conn.writer(), b"x").is_err(),
        "a failed connection must not send application data"
    );
}

/// Continues a deferred server with the key if our identity was offered.
pub fn provide_if_waiting(s: &mut PskServerConnection) {
    if !s.is_awaiting_psk() {
        return;
    }
    let known = s
        .offered_psk_identities()
        .is_some_and(|ids| ids.iter().any(|id| id == IDENTITY));
    if let Err(e) = s.provide_psk(known.then(psk)) {
        assert!(!e.to_string().is_empty());
        assert!(s.process_new_packets().is_err());
    }
}

// ----- an editable ClientHello ---------------------------------------------------------------

/// Identities and binders of a pre_shared_key extension.
pub type PskOffer = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// A ClientHello parsed into fields that re-encode with every length recomputed.
#[derive(Clone, Debug)]
pub struct Hello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u8>,
    pub compression_methods: Vec<u8>,
    pub extensions: Vec<(u16, Vec<u8>)>,
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (a, b) = data.split_at(n);
    *data = b;
    Some(a)
}

fn vec8<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = usize::from(take(data, 1)?[0]);
    take(data, n)
}

fn vec16<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let b = take(data, 2)?;
    take(data, usize::from(u16::from_be_bytes([b[0], b[1]])))
}

pub fn put_vec8(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b.len().min(0xff) as u8);
    out.extend_from_slice(&b[..b.len().min(0xff)]);
}

pub fn put_vec16(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len().min(0xffff) as u16).to_be_bytes());
    out.extend_from_slice(&b[..b.len().min(0xffff)]);
}

impl Hello {
    pub fn ext(&self, typ: u16) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, b)| b.as_slice())
    }

    /// (identities, binders) of a well-formed pre_shared_key extension.
    pub fn psk_offer(&self) -> Option<PskOffer> {
        let mut d = self.ext(41)?;
        let mut ids = vec16(&mut d)?;
        let mut list = vec16(&mut d)?;
        let mut identities = Vec::new();
        while !ids.is_empty() {
            identities.push(vec16(&mut ids)?.to_vec());
            take(&mut ids, 4)?;
        }
        let mut binders = Vec::new();
        while !list.is_empty() {
            binders.push(vec8(&mut list)?.to_vec());
        }
        Some((identities, binders))
    }

    /// Groups of a well-formed key_share extension.
    pub fn key_share_groups(&self) -> Option<Vec<u16>> {
        let mut d = self.ext(51)?;
        let mut list = vec16(&mut d)?;
        let mut groups = Vec::new();
        while !list.is_empty() {
            let g = take(&mut list, 2)?;
            groups.push(u16::from_be_bytes([g[0], g[1]]));
            vec16(&mut list)?;
        }
        Some(groups)
    }

    /// A u16 list extension body with a `width`-octet length prefix.
    pub fn u16_ext(&self, typ: u16, width: usize) -> Option<Vec<u16>> {
        let mut d = self.ext(typ)?;
        let list = if width == 1 {
            vec8(&mut d)?
        } else {
            vec16(&mut d)?
        };
        Some(
            list.chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        )
    }

    /// Parses a ClientHello handshake message (header included).
    pub fn parse(message: &[u8]) -> Option<Self> {
        let mut d = message.get(4..)?;
        let v = take(&mut d, 2)?;
        let legacy_version = u16::from_be_bytes([v[0], v[1]]);
        let random = take(&mut d, 32)?.try_into().ok()?;
        let session_id = vec8(&mut d)?.to_vec();
        let cipher_suites = vec16(&mut d)?.to_vec();
        let compression_methods = vec8(&mut d)?.to_vec();
        let mut block = vec16(&mut d)?;
        let mut extensions = Vec::new();
        while !block.is_empty() {
            let t = take(&mut block, 2)?;
            extensions.push((
                u16::from_be_bytes([t[0], t[1]]),
                vec16(&mut block)?.to_vec(),
            ));
        }
        Some(Self {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = self.legacy_version.to_be_bytes().to_vec();
        body.extend_from_slice(&self.random);
        put_vec8(&mut body, &self.session_id);
        put_vec16(&mut body, &self.cipher_suites);
        put_vec8(&mut body, &self.compression_methods);
        let mut block = Vec::new();
        for (typ, ext) in &self.extensions {
            block.extend_from_slice(&typ.to_be_bytes());
            put_vec16(&mut block, ext);
        }
        put_vec16(&mut body, &block);
        let mut out = vec![1];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&body);
        out
    }

    /// Rewrites binder `index` of a well-formed trailing pre_shared_key extension so that it
    /// verifies for KEY over `prefix` and the truncated hello. Returns false if the
    /// extension is absent, not last, malformed, or has no such binder.
    pub fn rebind(&mut self, index: usize, prefix: &[u8]) -> bool {
        let Some((41, body)) = self.extensions.last() else {
            return false;
        };
        let mut d = body.as_slice();
        let Some(ids) = vec16(&mut d) else {
            return false;
        };
        let ids = ids.to_vec();
        let Some(mut list) = vec16(&mut d) else {
            return false;
        };
        if !d.is_empty() {
            return false;
        }
        let mut binders = Vec::new();
        while !list.is_empty() {
            match vec8(&mut list) {
                Some(b) => binders.push(b.to_vec()),
                None => return false,
            }
        }
        if index >= binders.len() {
            return false;
        }
        binders[index] = vec![0; 32];
        let encode_ext = |binders: &[Vec<u8>]| {
            let mut ext = Vec::new();
            put_vec16(&mut ext, &ids);
            let mut list = Vec::new();
            for b in binders {
                put_vec8(&mut list, b);
            }
            put_vec16(&mut ext, &list);
            ext
        };
        let last = self.extensions.len() - 1;
        self.extensions[last].1 = encode_ext(&binders);
        let binders_len = 2 + binders.iter().map(|b| 1 + b.len()).sum::<usize>();
        let encoded = self.encode();
        let Some(truncated) = encoded.len().checked_sub(binders_len) else {
            return false;
        };
        let mut transcript = prefix.to_vec();
        transcript.extend_from_slice(&encoded[..truncated]);
        binders[index] = binder(&KEY, &transcript).to_vec();
        self.extensions[last].1 = encode_ext(&binders);
        true
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

fn expand_label(secret: &[u8], label: &str, context: &[u8]) -> [u8; 32] {
    let mut info = 32u16.to_be_bytes().to_vec();
    info.push((6 + label.len()) as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label.as_bytes());
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    info.push(1);
    hmac_sha256(secret, &info)
}

/// The "ext binder" binder of a SHA-256 external PSK over `transcript` (RFC 8446 §4.2.11.2).
pub fn binder(psk: &[u8], transcript: &[u8]) -> [u8; 32] {
    let early = hmac_sha256(&[0; 32], psk);
    let binder_key = expand_label(&early, "ext binder", &Sha256::digest(b""));
    let finished_key = expand_label(&binder_key, "finished", b"");
    hmac_sha256(&finished_key, &Sha256::digest(transcript))
}

/// The message_hash message replacing ClientHello1 after a HelloRetryRequest.
pub fn message_hash(client_hello1: &[u8]) -> Vec<u8> {
    let mut out = vec![254, 0, 0, 32];
    out.extend_from_slice(&Sha256::digest(client_hello1));
    out
}

/// Frames `data` as records of `typ`, fragment sizes from `sizes` (cycled; 0 → 1).
pub fn records(typ: u8, data: &[u8], sizes: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    loop {
        let want = sizes
            .get(i % sizes.len().max(1))
            .map_or(usize::MAX, |s| usize::from(*s).max(1));
        let n = want.min(rest.len()).min(16384);
        out.extend_from_slice(&[typ, 3, 3]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        i += 1;
        if rest.is_empty() {
            return out;
        }
    }
}

/// The handshake messages in the plaintext handshake records at the start of `wire`.
pub fn plaintext_handshake_messages(mut wire: &[u8]) -> Vec<Vec<u8>> {
    let mut data = Vec::new();
    while wire.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([wire[3], wire[4]]));
        if wire.len() < 5 + len {
            break;
        }
        if wire[0] == 22 {
            data.extend_from_slice(&wire[5..5 + len]);
        } else if wire[0] != 20 {
            break;
        }
        wire = &wire[5 + len..];
    }
    let mut out = Vec::new();
    let mut d = data.as_slice();
    while d.len() >= 4 {
        let len = usize::from(d[1]) << 16 | usize::from(d[2]) << 8 | usize::from(d[3]);
        if d.len() < 4 + len {
            break;
        }
        out.push(d[..4 + len].to_vec());
        d = &d[4 + len..];
    }
    out
}

/// The group a HelloRetryRequest message asks for.
pub fn hrr_selected_group(message: &[u8]) -> Option<u16> {
    let mut d = message.get(4 + 2 + 32..)?;
    vec8(&mut d)?;
    take(&mut d, 3)?;
    let mut block = vec16(&mut d)?;
    while !block.is_empty() {
        let t = take(&mut block, 2)?;
        let body = vec16(&mut block)?;
        if u16::from_be_bytes([t[0], t[1]]) == 51 && body.len() == 2 {
            return Some(u16::from_be_bytes([body[0], body[1]]));
        }
    }
    None
}

/// A valid public key share of `group` (one per group and process).
pub fn key_share_for(group: u16) -> Option<Vec<u8>> {
    type Shares = std::sync::Mutex<Vec<(u16, Vec<u8>)>>;
    static SHARES: OnceLock<Shares> = OnceLock::new();
    let shares = SHARES.get_or_init(Default::default);
    let mut shares = shares.lock().unwrap();
    if let Some((_, k)) = shares.iter().find(|(g, _)| *g == group) {
        return Some(k.clone());
    }
    let kx = rustls_capif::default_provider()
        .kx_groups
        .iter()
        .find(|g| u16::from(g.name()) == group)?
        .start()
        .ok()?;
    let key = kx.pub_key().to_vec();
    shares.push((group, key.clone()));
    Some(key)
}

/// Sets the key_share extension of `h` to one share.
pub fn set_single_share(h: &mut Hello, group: u16, key: &[u8]) {
    let mut list = group.to_be_bytes().to_vec();
    put_vec16(&mut list, key);
    let mut body = Vec::new();
    put_vec16(&mut body, &list);
    if let Some(e) = h.extensions.iter_mut().find(|(t, _)| *t == 51) {
        e.1 = body;
    }
}
