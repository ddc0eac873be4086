//! The protected phase of both state machines. A scripted peer (the test toolkit in
//! `tests/common/raw.rs`: independent key schedule, ChaCha20-Poly1305 records) runs a real
//! handshake with our client or our server up to the point where it holds valid traffic keys
//! — after the ServerHello / server flight, or after the whole handshake — and then sends
//! fuzzer-chosen frames *under those keys*: arbitrary handshake messages (EncryptedExtensions,
//! Finished, KeyUpdate, tickets, anything), fragments, records of any inner content type,
//! alerts, application data, tampered and unprotected records. Arbitrary bytes could never
//! get past the AEAD; this target does.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rustls::{CipherSuite, NamedGroup};
use rustls_capif::psk::{PskClientConfig, PskClientConnection, PskServerConnection};
use rustls_capif_fuzz as f;

use f::raw::{self, ext, handshake, hs, parse_records, record, ClientHello};

#[derive(Arbitrary, Debug)]
struct Input {
    /// The engine under test is the server (else the client).
    server_side: bool,
    /// Finish the handshake before the frames (else they go under the handshake keys).
    complete: bool,
    shape: u8,
    frames: Vec<Frame>,
}

#[derive(Arbitrary, Debug)]
enum Frame {
    Handshake { typ: u8, body: Vec<u8> },
    Fragments { data: Vec<u8>, split: u16 },
    Sealed { inner: u8, content: Vec<u8> },
    AppData(Vec<u8>),
    Alert { level: u8, desc: u8 },
    KeyUpdate { request: bool },
    Finished { flip: Option<u8> },
    EncryptedExtensions(Vec<(u16, Vec<u8>)>),
    Plain { typ: u8, body: Vec<u8> },
    Tampered { content: Vec<u8>, at: u16 },
}

/// The scripted peer's sending side.
struct Peer {
    seal: raw::Sealer,
    secret: [u8; 32],
    /// Base key for the Finished the peer would send now.
    finished_base: [u8; 32],
    transcript: Vec<u8>,
}

impl Peer {
    fn new(secret: [u8; 32], transcript: Vec<u8>) -> Self {
        Self {
            seal: raw::Sealer::new(&secret),
            secret,
            finished_base: secret,
            transcript,
        }
    }

    fn switch(&mut self, secret: [u8; 32]) {
        self.seal = raw::Sealer::new(&secret);
        self.secret = secret;
    }

    fn handshake(&mut self, message: &[u8]) -> Vec<u8> {
        self.transcript.extend_from_slice(message);
        self.seal.seal(raw::HANDSHAKE, message)
    }

    fn frame(&mut self, frame: Frame) -> Vec<u8> {
        match frame {
            Frame::Handshake { typ, body } => self.handshake(&handshake(typ, &body)),
            Frame::Fragments { data, split } => {
                let at = usize::from(split) % (data.len() + 1);
                let mut out = self.seal.seal(raw::HANDSHAKE, &data[..at]);
                out.extend(self.seal.seal(raw::HANDSHAKE, &data[at..]));
                out
            }
            Frame::Sealed { inner, content } => self.seal.seal(inner, &content),
            Frame::AppData(data) => self.seal.seal(raw::APP_DATA, &data),
            Frame::Alert { level, desc } => self.seal.seal(raw::ALERT, &[level, desc]),
            Frame::KeyUpdate { request } => {
                let out = self.seal.seal(
                    raw::HANDSHAKE,
                    &handshake(hs::KEY_UPDATE, &[u8::from(request)]),
                );
                self.switch(raw::next_secret(&self.secret));
                out
            }
            Frame::Finished { flip } => {
                let mut mac = raw::finished_mac(&self.finished_base, &self.transcript);
                if let Some(x) = flip {
                    mac[usize::from(x) % 32] ^= x | 1;
                }
                self.handshake(&handshake(hs::FINISHED, &mac))
            }
            Frame::EncryptedExtensions(exts) => self.handshake(&handshake(
                hs::ENCRYPTED_EXTENSIONS,
                &raw::encode_extensions(&exts),
            )),
            Frame::Plain { typ, body } => record(typ, &body[..body.len().min(0xffff)]),
            Frame::Tampered { content, at } => {
                let mut r = self.seal.seal(raw::APP_DATA, &content);
                let i = 5 + usize::from(at) % (r.len() - 5);
                r[i] ^= 0x01;
                r
            }
        }
    }
}

fn client_config() -> Arc<PskClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<PskClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                PskClientConfig::new(f::psk())
                    .with_cipher_suites(&[CipherSuite::TLS13_CHACHA20_POLY1305_SHA256])
                    .unwrap()
                    .with_groups(&[NamedGroup::X25519])
                    .unwrap(),
            )
        })
        .clone()
}

fn key_share_entry(group: u16, key: &[u8]) -> Vec<u8> {
    let mut out = group.to_be_bytes().to_vec();
    out.extend_from_slice(&raw::vec16(key));
    out
}

/// Our client facing the scripted server. Returns `None` if the setup itself fails.
fn client_side(input: Input) -> Option<()> {
    let mut c = PskClientConnection::new(client_config()).ok()?;
    let ch_msg = parse_records(&f::drain(&mut c)).remove(0).body;
    let ch = ClientHello::parse(&ch_msg);
    let (_, client_key) = ch.key_shares().into_iter().find(|(g, _)| *g == 0x001d)?;
    let (server_key, dhe) = raw::server_share(NamedGroup::X25519, &client_key);
    let sh = raw::ServerHello {
        legacy_version: 0x0303,
        random: [0x5a; 32],
        session_id: ch.session_id.clone(),
        cipher_suite: 0x1303,
        compression_method: 0,
        extensions: vec![
            (ext::SUPPORTED_VERSIONS, vec![3, 4]),
            (ext::KEY_SHARE, key_share_entry(0x001d, &server_key)),
            (ext::PRE_SHARED_KEY, vec![0, 0]),
        ],
    };
    let sh_msg = sh.encode();
    let mut transcript = ch_msg.clone();
    transcript.extend_from_slice(&sh_msg);
    let secrets = raw::handshake_secrets(&f::KEY, Some(&dhe), &transcript);
    let mut wire = record(raw::HANDSHAKE, &sh_msg);
    wire.extend(record(raw::CCS, &[1]));
    let mut peer = Peer::new(secrets.server_hs, transcript);
    if input.complete {
        wire.extend(peer.handshake(&handshake(hs::ENCRYPTED_EXTENSIONS, &[0, 0])));
        let fin = handshake(
            hs::FINISHED,
            &raw::finished_mac(&secrets.server_hs, &peer.transcript),
        );
        wire.extend(peer.handshake(&fin));
    }
    let mut chunker = f::Chunker::new(input.shape, input.shape >> 4);
    f::feed(&mut c, &wire, &mut chunker, |_| {}).ok()?;
    if input.complete {
        assert!(!c.is_handshaking(), "the scripted handshake completes");
        let (_, s_ap) = raw::application_secrets(&secrets.master, &peer.transcript);
        peer.switch(s_ap);
    }
    for frame in input.frames.into_iter().take(32) {
        let wire = peer.frame(frame);
        f::feed(&mut c, &wire, &mut chunker, |_| {}).ok()?;
    }
    f::finish(&mut c);
    Some(())
}

/// Our server facing the scripted client.
fn server_side(input: Input) -> Option<()> {
    let mut template = PskClientConnection::new(client_config()).ok()?;
    let ch_msg = parse_records(&f::drain(&mut template)).remove(0).body;
    let mut ch = ClientHello::parse(&ch_msg);
    let kx = raw::client_share(NamedGroup::X25519);
    ch.set_key_shares(&[(0x001d, kx.pub_key())]);
    ch.bind(0, &f::KEY, &[]);
    let ch_msg = ch.encode();

    let mut s = PskServerConnection::new(f::server_config(0));
    let mut chunker = f::Chunker::new(input.shape, input.shape >> 4);
    let out = f::feed(
        &mut s,
        &record(raw::HANDSHAKE, &ch_msg),
        &mut chunker,
        |_| {},
    )
    .ok()?;
    let records = parse_records(&out);
    let sh_msg = records.first()?.body.clone();
    let sh = raw::ServerHello::parse(&sh_msg);
    let (_, server_key) = sh.key_share();
    let dhe = kx.complete(&server_key).ok()?;
    let mut transcript = ch_msg.clone();
    transcript.extend_from_slice(&sh_msg);
    let secrets = raw::handshake_secrets(&f::KEY, Some(dhe.secret_bytes()), &transcript);
    let mut open = raw::Opener::new(&secrets.server_hs);
    for r in records.iter().skip(1).filter(|r| r.typ == raw::APP_DATA) {
        let (_, content) = open.open(&r.body);
        transcript.extend_from_slice(&content);
    }
    let mut peer = Peer::new(secrets.client_hs, transcript);
    if input.complete {
        let (c_ap, _) = raw::application_secrets(&secrets.master, &peer.transcript);
        let fin = handshake(
            hs::FINISHED,
            &raw::finished_mac(&secrets.client_hs, &peer.transcript),
        );
        let wire = peer.handshake(&fin);
        f::feed(&mut s, &wire, &mut chunker, |_| {}).ok()?;
        assert!(!s.is_handshaking(), "the scripted handshake completes");
        peer.switch(c_ap);
    }
    for frame in input.frames.into_iter().take(32) {
        let wire = peer.frame(frame);
        f::feed(&mut s, &wire, &mut chunker, |_| {}).ok()?;
    }
    f::finish(&mut s);
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut arbitrary::Unstructured::new(data)) else {
        return;
    };
    if input.server_side {
        server_side(input);
    } else {
        client_side(input);
    }
});
