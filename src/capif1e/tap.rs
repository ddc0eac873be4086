//! Sans-IO parser for the plaintext hello messages of one direction of a TLS connection.
//!
//! rustls exposes neither the client random nor the Session ID of a connection, but both travel
//! in the clear in the first handshake flight. A [`HelloTap`] is fed a copy of the bytes one
//! side sends (the caller's transport still carries the real bytes; the tap never changes
//! them), deframes TLS records and handshake messages and keeps what CAPIF-1e needs:
//!
//! * client → server: the `ClientHello` random and offered `legacy_session_id`;
//! * server → client: the `ServerHello` random, `legacy_session_id`, cipher suite and selected
//!   protocol version (from `supported_versions` for TLS 1.3), skipping a `HelloRetryRequest`.
//!
//! As soon as it has that — or as soon as rustls would refuse the bytes — the tap stops
//! looking at bytes and becomes a pass-through that costs one branch per call.
//!
//! # What may come before the hello
//!
//! The records before a hello are not authenticated: an on-path party can insert some, and
//! rustls ignores a few of them. A handshake that rustls completes must always give the tap
//! its hello (or CAPIF-1e fails on a healthy connection), and the tap must never read a hello
//! out of bytes rustls would interpret differently. So the tap accepts and refuses exactly
//! what rustls 0.23 does before the hellos (`ConnectionCore::process_more_input`,
//! `process_msg`, `CommonState::process_alert` and its `TemperCounters`):
//!
//! * **record layer** — content types 20–24 only (an SSLv2 hello is refused); record
//!   versions 0x03XX, and the other values rustls knows (0x0002, 0xFEFF, 0xFEFD, 0xFEFC):
//!   the record header is not part of the transcript, so such a record still completes the
//!   handshake; payloads below 2^14 + 2048 octets; empty records only for application data;
//!   no other record between two fragments of a handshake message (RFC 8446 §5.1).
//! * **warning alerts** are skipped, whatever their description, up to
//!   [`HelloTap::MAX_WARNING_ALERTS`] (4, rustls's per-connection limit, as BoringSSL's);
//!   one more ends the connection. After a `HelloRetryRequest` the connection is TLS 1.3,
//!   where rustls skips only `user_canceled`. An alert record holds exactly one alert
//!   (2 octets) of level warning (1) or fatal (2).
//! * **ChangeCipherSpec**: only the TLS 1.3 middlebox-compatibility CCS after a
//!   `HelloRetryRequest` (value 1, 1 octet, at most [`HelloTap::MAX_MIDDLEBOX_CCS`] in all);
//!   before a first hello rustls refuses it.
//! * a `HelloRetryRequest` must select TLS 1.3 and end its record, as rustls requires.
//! * **refused** — a fatal alert, a warning alert over the limit (or other than
//!   `user_canceled` after a `HelloRetryRequest`), a CCS rustls does not skip, application
//!   data (even empty) and heartbeat records: rustls aborts the handshake, so the tap gives up
//!   ([`TapState::Abandoned`]). Malformed records give [`TapState::Failed`]. Either way no
//!   CAPIF-1e session comes out of the connection.
//!
//! `tests/capif1e_injected_records.rs` checks these rules against rustls itself (random
//! records inserted before the hellos: where rustls completes, both ends get the key; where it
//! refuses, the tap has given up), so a rustls release that changes them fails there.
//!
//! Every length is bounded the way rustls bounds it: record payloads below 2^14 + 2048 octets,
//! handshake messages up to 64 KiB − 1, Session IDs up to 32 octets. The tap buffers at most one
//! record header, one alert or CCS payload (2 octets) and one handshake message. Malformed,
//! truncated or oversized input gives [`Error::MalformedHello`]; the tap never panics.

use core::fmt;

use rustls::{CipherSuite, ProtocolVersion};

use crate::error::Error;

const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
const CONTENT_HEARTBEAT: u8 = 24;

const ALERT_LEVEL_WARNING: u8 = 1;
const ALERT_LEVEL_FATAL: u8 = 2;
const ALERT_USER_CANCELED: u8 = 90;

const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;

const EXTENSION_SUPPORTED_VERSIONS: u16 = 0x002b;

const RECORD_HEADER_LEN: usize = 5;
const HANDSHAKE_HEADER_LEN: usize = 4;
const RANDOM_LEN: usize = 32;

/// The `random` of a HelloRetryRequest: SHA-256("HelloRetryRequest"), RFC 8446 §4.1.3.
const HELLO_RETRY_REQUEST_RANDOM: [u8; RANDOM_LEN] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Which hello a [`HelloTap`] looks for, i.e. which direction of the connection it is fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelloKind {
    /// Bytes sent by the TLS client: the tap extracts the `ClientHello`.
    ClientHello,
    /// Bytes sent by the TLS server: the tap extracts the `ServerHello` (after any
    /// `HelloRetryRequest`).
    ServerHello,
}

/// Where a [`HelloTap`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TapState {
    /// Still looking for the hello: feed more bytes.
    Parsing,
    /// The hello was found; later bytes pass through unparsed.
    Complete,
    /// A well-formed record that rustls refuses before the hello arrived first (a fatal
    /// alert, one warning alert too many, application data, a heartbeat, a ChangeCipherSpec
    /// rustls does not skip — see [`HelloTap`]): rustls aborts such a handshake, so there is
    /// no hello to find on this connection; later bytes pass through unparsed.
    Abandoned,
    /// The bytes were not a well-formed TLS hello flight; later bytes pass through unparsed.
    /// The reason is the one [`Error::MalformedHello`] carries.
    Failed(&'static str),
}

/// A Session ID: at most 32 octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
struct SessionIdBuf {
    len: u8,
    bytes: [u8; 32],
}

impl SessionIdBuf {
    fn new(bytes: &[u8]) -> Option<Self> {
        let mut out = Self::default();
        out.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        out.len = bytes.len() as u8;
        Some(out)
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What a [`HelloTap`] learnt from a `ClientHello`. None of it is secret: it is sent in clear.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientHelloInfo {
    random: [u8; RANDOM_LEN],
    session_id: SessionIdBuf,
}

impl ClientHelloInfo {
    /// `ClientHello.random`: the `client_random` that correlates TLS 1.2 key log lines.
    pub fn random(&self) -> &[u8; 32] {
        &self.random
    }

    /// The `legacy_session_id` the client offered (a Session ID to resume in TLS 1.2, or a
    /// random compatibility value in TLS 1.3; may be empty).
    pub fn session_id(&self) -> &[u8] {
        self.session_id.as_slice()
    }
}

impl fmt::Debug for ClientHelloInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHelloInfo")
            .field("random", &Hex(&self.random))
            .field("session_id", &Hex(self.session_id()))
            .finish()
    }
}

/// What a [`HelloTap`] learnt from a `ServerHello`. None of it is secret: it is sent in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerHelloInfo {
    random: [u8; RANDOM_LEN],
    session_id: SessionIdBuf,
    version: ProtocolVersion,
    cipher_suite: CipherSuite,
    after_hello_retry_request: bool,
}

impl ServerHelloInfo {
    /// `ServerHello.random` (the `server_random`).
    pub fn random(&self) -> &[u8; 32] {
        &self.random
    }

    /// The Session ID the server sent: in TLS 1.2 the Session ID of the session (P1 of
    /// TS 33.122 Annex A.1; empty if the server does not cache sessions), in TLS 1.3 the echo
    /// of the client's `legacy_session_id`.
    pub fn session_id(&self) -> &[u8] {
        self.session_id.as_slice()
    }

    /// The protocol version the server selected: the `supported_versions` extension if
    /// present (TLS 1.3), `legacy_version` otherwise.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The cipher suite the server selected.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.cipher_suite
    }

    /// Whether a `HelloRetryRequest` preceded this `ServerHello`.
    pub fn after_hello_retry_request(&self) -> bool {
        self.after_hello_retry_request
    }
}

impl fmt::Debug for ServerHelloInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHelloInfo")
            .field("random", &Hex(&self.random))
            .field("session_id", &Hex(self.session_id()))
            .field("version", &self.version)
            .field("cipher_suite", &self.cipher_suite)
            .field("after_hello_retry_request", &self.after_hello_retry_request)
            .finish()
    }
}

/// A sans-IO parser that extracts the hello of one direction of a TLS connection from the
/// bytes that direction carries.
///
/// Feed it every byte the peer of that direction sends, in order and in chunks of any size
/// (records may be split across calls, several records may come in one call, a handshake
/// message may span records and a record may hold several messages). [`TapStream`] does this
/// for a `Read + Write` (or tokio) transport; with your own I/O loop, feed the bytes you pass to
/// rustls's `read_tls` and get from its `write_tls`, or use [`HelloTaps`] for both directions.
///
/// # Records before the hello
///
/// Records before a hello are unauthenticated, and an on-path party can insert some. The tap
/// skips exactly what rustls 0.23 skips there, so that a handshake rustls completes always
/// yields its hellos, and gives up where rustls aborts. It skips warning alerts (any
/// description; only `user_canceled` after a `HelloRetryRequest`), up to
/// [`MAX_WARNING_ALERTS`](Self::MAX_WARNING_ALERTS) on the connection, and, after a
/// `HelloRetryRequest`, up to [`MAX_MIDDLEBOX_CCS`](Self::MAX_MIDDLEBOX_CCS) compatibility
/// ChangeCipherSpec records; it reads records of any version rustls accepts (0x03XX, 0x0002,
/// 0xFEFF, 0xFEFD, 0xFEFC). A fatal alert, one warning too many, application data, a
/// heartbeat or another ChangeCipherSpec makes it give up ([`TapState::Abandoned`]);
/// malformed records make it fail.
///
/// ```
/// use rustls_capif::capif1e::{HelloKind, HelloTap, TapState};
///
/// // A minimal TLS 1.2 ServerHello record: 32-byte random, 32-byte Session ID, one suite.
/// let mut body = vec![0x03, 0x03];
/// body.extend_from_slice(&[0x11; 32]); // random
/// body.push(32);
/// body.extend_from_slice(&[0x22; 32]); // session id
/// body.extend_from_slice(&[0xc0, 0x2f, 0x00]); // suite, compression
/// let mut record = vec![22, 3, 3, 0, (4 + body.len()) as u8, 2, 0, 0, body.len() as u8];
/// record.extend_from_slice(&body);
///
/// let mut tap = HelloTap::new(HelloKind::ServerHello);
/// for byte in &record {
///     tap.feed(std::slice::from_ref(byte))?; // any chunking works
/// }
/// assert_eq!(tap.state(), TapState::Complete);
/// let hello = tap.server_hello().unwrap();
/// assert_eq!(hello.session_id(), &[0x22; 32]);
/// assert_eq!(hello.version(), rustls::ProtocolVersion::TLSv1_2);
///
/// // Garbage is a typed error, never a panic.
/// let mut tap = HelloTap::new(HelloKind::ServerHello);
/// assert!(matches!(tap.feed(&[22, 3, 3, 0xff, 0xff]), Err(rustls_capif::Error::MalformedHello(_))));
/// # Ok::<(), rustls_capif::Error>(())
/// ```
///
/// [`TapStream`]: super::TapStream
#[derive(Clone)]
pub struct HelloTap {
    kind: HelloKind,
    state: TapState,
    header: [u8; RECORD_HEADER_LEN],
    header_len: usize,
    record: Option<Record>,
    /// The payload of the alert (2 octets) or ChangeCipherSpec (1 octet) record being read.
    control: [u8; 2],
    control_len: usize,
    /// The handshake message being reassembled, header included.
    message: Vec<u8>,
    hello_retry_request_seen: bool,
    warning_alerts: usize,
    middlebox_ccs: usize,
    client_hello: Option<ClientHelloInfo>,
    server_hello: Option<ServerHelloInfo>,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    content_type: u8,
    remaining: usize,
}

impl HelloTap {
    /// Record payloads of this many octets or more are rejected (2^14 + 2048, the bound rustls
    /// applies before decryption).
    pub const MAX_RECORD_PAYLOAD: usize = 16_384 + 2048;

    /// Largest handshake message body accepted, in octets (rustls's bound too).
    pub const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

    /// Warning alerts skipped before the hello: rustls tolerates this many on a connection
    /// (BoringSSL's `kMaxWarningAlerts` too); the next one ends the handshake, and the tap
    /// gives up ([`TapState::Abandoned`]).
    pub const MAX_WARNING_ALERTS: usize = 4;

    /// TLS 1.3 middlebox-compatibility ChangeCipherSpec records rustls skips on a connection
    /// (one after each `ClientHello`); the next one ends the handshake.
    pub const MAX_MIDDLEBOX_CCS: usize = 2;

    /// A tap looking for the given hello.
    pub fn new(kind: HelloKind) -> Self {
        Self {
            kind,
            state: TapState::Parsing,
            header: [0; RECORD_HEADER_LEN],
            header_len: 0,
            record: None,
            control: [0; 2],
            control_len: 0,
            message: Vec::new(),
            hello_retry_request_seen: false,
            warning_alerts: 0,
            middlebox_ccs: 0,
            client_hello: None,
            server_hello: None,
        }
    }

    /// Which hello this tap looks for.
    pub fn kind(&self) -> HelloKind {
        self.kind
    }

    /// Feeds the next bytes of this direction of the connection.
    ///
    /// Returns [`Error::MalformedHello`] if these (or earlier) bytes are not a well-formed hello
    /// flight; once failed, the tap stays failed and returns the same error from every call.
    /// After the hello is found, or the tap gives up, further bytes are ignored in O(1).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.state == TapState::Parsing {
            if let Err(why) = self.parse(bytes) {
                self.finish(TapState::Failed(why));
            }
        }
        match self.state {
            TapState::Failed(why) => Err(Error::MalformedHello(why)),
            _ => Ok(()),
        }
    }

    /// Where the tap stands.
    pub fn state(&self) -> TapState {
        self.state
    }

    /// Whether the tap no longer looks at the bytes it is fed (complete, abandoned or failed).
    pub fn is_passthrough(&self) -> bool {
        self.state != TapState::Parsing
    }

    /// The `ClientHello` found, if this is a [`HelloKind::ClientHello`] tap that found it.
    pub fn client_hello(&self) -> Option<&ClientHelloInfo> {
        self.client_hello.as_ref()
    }

    /// The `ServerHello` found, if this is a [`HelloKind::ServerHello`] tap that found it.
    pub fn server_hello(&self) -> Option<&ServerHelloInfo> {
        self.server_hello.as_ref()
    }

    /// The error the tap failed with, if it failed.
    pub fn error(&self) -> Option<Error> {
        match self.state {
            TapState::Failed(why) => Some(Error::MalformedHello(why)),
            _ => None,
        }
    }

    fn finish(&mut self, state: TapState) {
        self.state = state;
        self.record = None;
        self.message = Vec::new();
    }

    fn parse(&mut self, mut data: &[u8]) -> Result<(), &'static str> {
        while !data.is_empty() && self.state == TapState::Parsing {
            match &mut self.record {
                None => {
                    let n = (RECORD_HEADER_LEN - self.header_len).min(data.len());
                    self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
                    self.header_len += n;
                    data = &data[n..];
                    self.check_header_prefix()?;
                    if self.header_len == RECORD_HEADER_LEN {
                        self.header_len = 0;
                        self.start_record()?;
                    }
                }
                Some(record) => {
                    let n = record.remaining.min(data.len());
                    let (payload, rest) = data.split_at(n);
                    data = rest;
                    record.remaining -= n;
                    let content_type = record.content_type;
                    if record.remaining == 0 {
                        self.record = None;
                    }
                    if content_type == CONTENT_HANDSHAKE {
                        self.handshake_payload(payload)?;
                    } else {
                        // An alert or CCS record: start_record bounded it to 2 octets.
                        let end = self.control_len + payload.len();
                        self.control[self.control_len..end].copy_from_slice(payload);
                        self.control_len = end;
                        if self.record.is_none() {
                            self.complete_control_record(content_type)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the part of a record header received so far, as early as rustls's deframer
    /// does: the content type at the first octet, the version at the third.
    fn check_header_prefix(&self) -> Result<(), &'static str> {
        let [content_type, major, minor, ..] = self.header;
        if self.header_len >= 1
            && !(CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&content_type)
        {
            return Err("unknown TLS record content type");
        }
        if self.header_len >= 3 && !record_version_accepted(u16::from_be_bytes([major, minor])) {
            return Err("TLS record version is neither 3.x nor another version rustls accepts");
        }
        Ok(())
    }

    /// Checks a complete record header (whose type and version `check_header_prefix`
    /// accepted) the way rustls's deframer and record processing do.
    fn start_record(&mut self) -> Result<(), &'static str> {
        let [content_type, _, _, len_hi, len_lo] = self.header;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if len == 0 && content_type != CONTENT_APPLICATION_DATA {
            return Err("empty TLS record that is not application data");
        }
        if len >= Self::MAX_RECORD_PAYLOAD {
            return Err("TLS record payload of 2^14 + 2048 octets or more");
        }
        if content_type != CONTENT_HANDSHAKE && !self.message.is_empty() {
            // RFC 8446 §5.1; rustls: MessageInterleavedWithHandshakeMessage.
            return Err("a non-handshake record inside a fragmented handshake message");
        }
        match content_type {
            CONTENT_HANDSHAKE => {}
            CONTENT_ALERT if len != 2 => return Err("alert record that is not one 2-octet alert"),
            CONTENT_ALERT => {}
            // RFC 8446 §5 and D.4: a TLS 1.3 client skips a compatibility CCS after its
            // first ClientHello; before the HelloRetryRequest rustls has not negotiated TLS
            // 1.3 and refuses it, as does a server before the first ClientHello.
            CONTENT_CHANGE_CIPHER_SPEC if self.hello_retry_request_seen => {
                if len != 1 {
                    return Err("ChangeCipherSpec record that is not 1 octet");
                }
            }
            _ => {
                // A CCS rustls does not skip, application data (empty or not), heartbeat.
                self.finish(TapState::Abandoned);
                return Ok(());
            }
        }
        self.control_len = 0;
        self.record = Some(Record {
            content_type,
            remaining: len,
        });
        Ok(())
    }

    /// A complete alert or ChangeCipherSpec record before the hello: skipped if rustls skips
    /// it (see the module documentation), otherwise the tap gives up or fails as rustls does.
    fn complete_control_record(&mut self, content_type: u8) -> Result<(), &'static str> {
        let [first, second] = self.control;
        if content_type == CONTENT_CHANGE_CIPHER_SPEC {
            if first != 1 {
                return Err("ChangeCipherSpec record whose value is not 1");
            }
            if self.middlebox_ccs == Self::MAX_MIDDLEBOX_CCS {
                self.finish(TapState::Abandoned);
            } else {
                self.middlebox_ccs += 1;
            }
            return Ok(());
        }
        let (level, description) = (first, second);
        match level {
            ALERT_LEVEL_WARNING => {
                if self.warning_alerts == Self::MAX_WARNING_ALERTS {
                    self.finish(TapState::Abandoned);
                    return Ok(());
                }
                self.warning_alerts += 1;
                // After a HelloRetryRequest rustls has negotiated TLS 1.3, where it skips only
                // user_canceled (RFC 8446 §6: all other alerts are fatal).
                if self.hello_retry_request_seen && description != ALERT_USER_CANCELED {
                    self.finish(TapState::Abandoned);
                }
            }
            ALERT_LEVEL_FATAL => self.finish(TapState::Abandoned),
            _ => return Err("alert of unknown level"),
        }
        Ok(())
    }

    fn handshake_payload(&mut self, mut payload: &[u8]) -> Result<(), &'static str> {
        while !payload.is_empty() {
            if self.message.len() < HANDSHAKE_HEADER_LEN {
                let n = (HANDSHAKE_HEADER_LEN - self.message.len()).min(payload.len());
                self.message.extend_from_slice(&payload[..n]);
                payload = &payload[n..];
                if self.message.len() < HANDSHAKE_HEADER_LEN {
                    return Ok(());
                }
                let body_len = self.start_message()?;
                self.message.reserve_exact(body_len);
            }
            let total = HANDSHAKE_HEADER_LEN + message_body_len(&self.message);
            let n = (total - self.message.len()).min(payload.len());
            self.message.extend_from_slice(&payload[..n]);
            payload = &payload[n..];
            if self.message.len() == total {
                let ends_record = payload.is_empty() && self.record.is_none();
                self.complete_message(ends_record)?;
                if self.state != TapState::Parsing {
                    return Ok(());
                }
                self.message.clear();
            }
        }
        Ok(())
    }

    /// Checks a complete handshake message header; returns the body length.
    fn start_message(&self) -> Result<usize, &'static str> {
        let expected = match self.kind {
            HelloKind::ClientHello => HANDSHAKE_CLIENT_HELLO,
            HelloKind::ServerHello => HANDSHAKE_SERVER_HELLO,
        };
        if self.message[0] != expected {
            return Err(match self.kind {
                HelloKind::ClientHello => {
                    "the client's first handshake message is not a ClientHello"
                }
                HelloKind::ServerHello => {
                    "the server's first handshake message is not a ServerHello"
                }
            });
        }
        let body_len = message_body_len(&self.message);
        if body_len > Self::MAX_HANDSHAKE_MESSAGE {
            return Err("handshake message longer than 65535 octets");
        }
        Ok(body_len)
    }

    /// A complete hello; `ends_record` says whether it ended its record.
    fn complete_message(&mut self, ends_record: bool) -> Result<(), &'static str> {
        let body = &self.message[HANDSHAKE_HEADER_LEN..];
        match self.kind {
            HelloKind::ClientHello => {
                let hello = parse_client_hello(body)?;
                self.client_hello = Some(hello);
                self.finish(TapState::Complete);
            }
            HelloKind::ServerHello => {
                let mut hello = parse_server_hello(body)?;
                if hello.random == HELLO_RETRY_REQUEST_RANDOM {
                    if self.hello_retry_request_seen {
                        return Err("a second HelloRetryRequest");
                    }
                    // rustls: IllegalHelloRetryRequestWithUnsupportedVersion, and
                    // KeyEpochWithPendingFragment (check_aligned_handshake).
                    if hello.version != ProtocolVersion::TLSv1_3 {
                        return Err("HelloRetryRequest that does not select TLS 1.3");
                    }
                    if !ends_record {
                        return Err("HelloRetryRequest that does not end its record");
                    }
                    self.hello_retry_request_seen = true;
                } else {
                    hello.after_hello_retry_request = self.hello_retry_request_seen;
                    self.server_hello = Some(hello);
                    self.finish(TapState::Complete);
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for HelloTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelloTap")
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("client_hello", &self.client_hello)
            .field("server_hello", &self.server_hello)
            .finish_non_exhaustive()
    }
}

/// The two [`HelloTap`]s of one connection: one fed what the client sends, one fed what the
/// server sends. The CAPIF-1e session is built from them; [`TapStream`] and
/// [`SessionCapture`] each keep one.
///
/// Feed it every byte the client sent (what its `write_tls` produced, or what the server's
/// `read_tls` consumed) through [`client_sent`](Self::client_sent), and every byte of the
/// other direction through [`server_sent`](Self::server_sent).
///
/// [`TapStream`]: super::TapStream
/// [`SessionCapture`]: super::SessionCapture
#[derive(Clone, Debug)]
pub struct HelloTaps {
    client: HelloTap,
    server: HelloTap,
}

impl HelloTaps {
    /// Taps for a new connection.
    pub fn new() -> Self {
        Self {
            client: HelloTap::new(HelloKind::ClientHello),
            server: HelloTap::new(HelloKind::ServerHello),
        }
    }

    /// Feeds bytes the TLS client sent (see [`HelloTap::feed`]).
    pub fn client_sent(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.client.feed(bytes)
    }

    /// Feeds bytes the TLS server sent (see [`HelloTap::feed`]).
    pub fn server_sent(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.server.feed(bytes)
    }

    /// The tap of the client → server direction.
    pub fn client_tap(&self) -> &HelloTap {
        &self.client
    }

    /// The tap of the server → client direction.
    pub fn server_tap(&self) -> &HelloTap {
        &self.server
    }

    /// The `ClientHello`, once seen.
    pub fn client_hello(&self) -> Option<&ClientHelloInfo> {
        self.client.client_hello()
    }

    /// The `ServerHello` (after any `HelloRetryRequest`), once seen.
    pub fn server_hello(&self) -> Option<&ServerHelloInfo> {
        self.server.server_hello()
    }

    /// Whether both taps have stopped looking at bytes.
    pub fn is_passthrough(&self) -> bool {
        self.client.is_passthrough() && self.server.is_passthrough()
    }
}

impl Default for HelloTaps {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether rustls's deframer accepts this record version: 0x03XX, or another version it
/// knows (`ProtocolVersion::{SSLv2, DTLSv1_0, DTLSv1_2, DTLSv1_3}`). The record version is not
/// part of the handshake transcript.
fn record_version_accepted(version: u16) -> bool {
    version >> 8 == 3 || matches!(version, 0x0002 | 0xfeff | 0xfefd | 0xfefc)
}

fn message_body_len(message: &[u8]) -> usize {
    usize::from(message[1]) << 16 | usize::from(message[2]) << 8 | usize::from(message[3])
}

/// A bounds-checked reader over a handshake message body.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], &'static str> {
        if n > self.rest.len() {
            return Err(what);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, &'static str> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, &'static str> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn random(&mut self, what: &'static str) -> Result<[u8; RANDOM_LEN], &'static str> {
        let mut out = [0; RANDOM_LEN];
        out.copy_from_slice(self.take(RANDOM_LEN, what)?);
        Ok(out)
    }

    fn session_id(&mut self, what: &'static str) -> Result<SessionIdBuf, &'static str> {
        let len = usize::from(self.u8(what)?);
        if len > 32 {
            return Err("Session ID longer than 32 octets");
        }
        SessionIdBuf::new(self.take(len, what)?).ok_or("Session ID longer than 32 octets")
    }

    /// Walks the optional extensions block, which must end exactly at the end of the message.
    fn extensions(
        mut self,
        what: &'static str,
        mut each: impl FnMut(u16, &'a [u8]) -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        if self.rest.is_empty() {
            return Ok(()); // no extensions block at all (allowed before TLS 1.3)
        }
        let len = usize::from(self.u16(what)?);
        if len != self.rest.len() {
            return Err("hello extensions length does not match the message length");
        }
        while !self.rest.is_empty() {
            let typ = self.u16(what)?;
            let len = usize::from(self.u16(what)?);
            let data = self.take(len, "hello extension longer than its extensions block")?;
            each(typ, data)?;
        }
        Ok(())
    }
}

fn parse_client_hello(body: &[u8]) -> Result<ClientHelloInfo, &'static str> {
    const TRUNCATED: &str = "truncated ClientHello";
    let mut c = Cursor { rest: body };
    c.u16(TRUNCATED)?; // legacy_version
    let random = c.random(TRUNCATED)?;
    let session_id = c.session_id(TRUNCATED)?;
    let suites_len = usize::from(c.u16(TRUNCATED)?);
    if suites_len % 2 != 0 {
        return Err("ClientHello cipher_suites length is odd");
    }
    c.take(suites_len, TRUNCATED)?;
    let compression_len = usize::from(c.u8(TRUNCATED)?);
    c.take(compression_len, TRUNCATED)?;
    c.extensions(TRUNCATED, |_, _| Ok(()))?;
    Ok(ClientHelloInfo { random, session_id })
}

fn parse_server_hello(body: &[u8]) -> Result<ServerHelloInfo, &'static str> {
    const TRUNCATED: &str = "truncated ServerHello";
    let mut c = Cursor { rest: body };
    let legacy_version = c.u16(TRUNCATED)?;
    let random = c.random(TRUNCATED)?;
    let session_id = c.session_id(TRUNCATED)?;
    let cipher_suite = c.u16(TRUNCATED)?;
    c.u8(TRUNCATED)?; // legacy_compression_method
    let mut version = legacy_version;
    let mut seen_supported_versions = false;
    c.extensions(TRUNCATED, |typ, data| {
        if typ == EXTENSION_SUPPORTED_VERSIONS {
            if seen_supported_versions {
                return Err("ServerHello carries supported_versions twice");
            }
            seen_supported_versions = true;
            let selected: [u8; 2] = data
                .try_into()
                .map_err(|_| "ServerHello supported_versions is not 2 octets")?;
            version = u16::from_be_bytes(selected);
        }
        Ok(())
    })?;
    Ok(ServerHelloInfo {
        random,
        session_id,
        version: ProtocolVersion::from(version),
        cipher_suite: CipherSuite::from(cipher_suite),
        after_hello_retry_request: false,
    })
}

struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![content_type, 3, 3];
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len() as u32;
        let mut out = vec![typ, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        out.extend_from_slice(body);
        out
    }

    fn server_hello_body(random: [u8; 32], sid: &[u8], exts: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(sid.len() as u8);
        b.extend_from_slice(sid);
        b.extend_from_slice(&[0x13, 0x01, 0]);
        if !exts.is_empty() {
            let mut block = Vec::new();
            for (typ, data) in exts {
                block.extend_from_slice(&typ.to_be_bytes());
                block.extend_from_slice(&(data.len() as u16).to_be_bytes());
                block.extend_from_slice(data);
            }
            b.extend_from_slice(&(block.len() as u16).to_be_bytes());
            b.extend_from_slice(&block);
        }
        b
    }

    fn client_hello_body(random: [u8; 32], sid: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(sid.len() as u8);
        b.extend_from_slice(sid);
        b.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        b.extend_from_slice(&[0, 4, 0, 0x17, 0, 0]); // extended_master_secret
        b
    }

    #[test]
    fn client_hello_any_chunking() {
        let rec = record(22, &handshake(1, &client_hello_body([7; 32], &[9; 32])));
        for chunk in 1..=rec.len() {
            let mut tap = HelloTap::new(HelloKind::ClientHello);
            for part in rec.chunks(chunk) {
                tap.feed(part).unwrap();
            }
            assert_eq!(tap.state(), TapState::Complete, "chunk {chunk}");
            let ch = tap.client_hello().unwrap();
            assert_eq!(ch.random(), &[7; 32]);
            assert_eq!(ch.session_id(), &[9; 32]);
        }
    }

    #[test]
    fn message_spanning_records_and_hrr_then_ccs_then_server_hello() {
        let supported_13: &[u8] = &[3, 4];
        let hrr = handshake(
            2,
            &server_hello_body(
                HELLO_RETRY_REQUEST_RANDOM,
                &[1; 32],
                &[(0x2b, supported_13)],
            ),
        );
        let sh = handshake(
            2,
            &server_hello_body([5; 32], &[1; 32], &[(0x2b, supported_13)]),
        );
        let mut wire = record(22, &hrr);
        wire.extend(record(20, &[1]));
        // The real ServerHello split over three records.
        for part in sh.chunks(sh.len() / 3 + 1) {
            wire.extend(record(22, part));
        }
        wire.extend(record(23, &[0xee; 40]));
        let mut tap = HelloTap::new(HelloKind::ServerHello);
        tap.feed(&wire).unwrap();
        let hello = tap.server_hello().unwrap();
        assert_eq!(hello.random(), &[5; 32]);
        assert_eq!(hello.version(), ProtocolVersion::TLSv1_3);
        assert!(hello.after_hello_retry_request());
        assert_eq!(hello.cipher_suite(), CipherSuite::TLS13_AES_128_GCM_SHA256);
    }

    #[test]
    fn several_messages_in_one_record() {
        let mut payload = handshake(2, &server_hello_body([3; 32], &[4; 32], &[]));
        payload.extend(handshake(11, &[0; 100])); // Certificate, not parsed
        let mut tap = HelloTap::new(HelloKind::ServerHello);
        tap.feed(&record(22, &payload)).unwrap();
        assert_eq!(tap.state(), TapState::Complete);
        assert_eq!(
            tap.server_hello().unwrap().version(),
            ProtocolVersion::TLSv1_2
        );
        // Pass-through afterwards, even for garbage.
        tap.feed(&[0xff; 10]).unwrap();
        assert_eq!(tap.state(), TapState::Complete);
    }

    #[test]
    fn non_handshake_record_first_abandons() {
        let mut tap = HelloTap::new(HelloKind::ServerHello);
        tap.feed(&record(21, &[2, 40])).unwrap();
        assert_eq!(tap.state(), TapState::Abandoned);
        assert!(tap.server_hello().is_none());
        let mut tap = HelloTap::new(HelloKind::ClientHello);
        tap.feed(&record(20, &[1])).unwrap();
        assert_eq!(tap.state(), TapState::Abandoned);
    }

    #[test]
    fn errors_are_sticky_and_typed() {
        let mut tap = HelloTap::new(HelloKind::ClientHello);
        let err = tap.feed(&record(22, &handshake(2, &[0; 40]))).unwrap_err();
        assert!(matches!(err, Error::MalformedHello(_)), "{err}");
        assert!(matches!(tap.state(), TapState::Failed(_)));
        assert!(tap.feed(&[]).is_err());
        assert!(tap.error().is_some());
    }

    #[test]
    fn warning_alerts_before_the_hello_are_skipped_up_to_rustls_limit_in_any_chunking() {
        let ch = record(22, &handshake(1, &client_hello_body([7; 32], &[9; 32])));
        let warnings =
            |n: usize| -> Vec<u8> { (0..n).flat_map(|_| record(21, &[1, 100])).collect() };
        for (n, want) in [
            (0, TapState::Complete),
            (HelloTap::MAX_WARNING_ALERTS, TapState::Complete),
            (HelloTap::MAX_WARNING_ALERTS + 1, TapState::Abandoned),
        ] {
            let wire = [warnings(n), ch.clone()].concat();
            for chunk in 1..=wire.len() {
                let mut tap = HelloTap::new(HelloKind::ClientHello);
                for part in wire.chunks(chunk) {
                    tap.feed(part).unwrap();
                }
                assert_eq!(tap.state(), want, "{n} warnings, chunk {chunk}");
                if want == TapState::Complete {
                    assert_eq!(tap.client_hello().unwrap().random(), &[7; 32]);
                }
            }
        }
    }

    #[test]
    fn alert_payload_is_buffered_in_two_octets_only() {
        // The level arrives, the tap waits for the description; nothing else is buffered.
        let mut tap = HelloTap::new(HelloKind::ServerHello);
        tap.feed(&[21, 3, 3, 0, 2, 1]).unwrap();
        assert_eq!(tap.state(), TapState::Parsing);
        assert!(tap.message.capacity() == 0 && tap.control_len == 1);
        tap.feed(&[90]).unwrap();
        assert_eq!((tap.state(), tap.warning_alerts), (TapState::Parsing, 1));
        tap.feed(&[21, 3, 3, 0, 2, 2, 40]).unwrap();
        assert_eq!(tap.state(), TapState::Abandoned);
    }

    #[test]
    fn second_hrr_is_rejected() {
        let hrr = handshake(
            2,
            &server_hello_body(HELLO_RETRY_REQUEST_RANDOM, &[], &[(0x2b, &[3, 4])]),
        );
        let mut wire = record(22, &hrr);
        wire.extend(record(22, &hrr));
        let mut tap = HelloTap::new(HelloKind::ServerHello);
        assert_eq!(
            tap.feed(&wire).unwrap_err().to_string(),
            Error::MalformedHello("a second HelloRetryRequest").to_string()
        );
    }
}
