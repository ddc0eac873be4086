//! The client state machine of a TLS 1.2 PSK handshake (RFC 5246 §7.3, RFC 4279 §2,
//! RFC 5489 §2):
//!
//! ```text
//! ClientHello ──▶
//!             ◀── ServerHello, [ServerKeyExchange], ServerHelloDone
//! ClientKeyExchange (psk_identity [+ ECPoint]), ChangeCipherSpec, Finished ──▶
//!             ◀── ChangeCipherSpec, Finished
//! ```
//!
//! A client with only TLS 1.2 sends a TLS 1.2 ClientHello (no supported_versions, key_share
//! or pre_shared_key); a client with both versions sends the TLS 1.3 ClientHello with the
//! TLS 1.2 suites and extensions added, and continues here when the ServerHello chooses
//! TLS 1.2 — after checking the RFC 8446 §4.1.3 downgrade sentinel. The identity sent is the
//! first configured PSK's (a CAPIF invoker has one per AEF). A Certificate or
//! CertificateRequest is refused with `unexpected_message`; a HelloRequest during the
//! handshake is ignored (RFC 5246 §7.4.1.1).

use std::sync::Arc;

use rustls::{AlertDescription, CipherSuite};
use subtle::ConstantTimeEq;

use super::codec::{self as codec12, ext12, hs12, ServerHello12};
use super::key_schedule::{premaster_secret, MasterSecret, RecordKeys};
use super::{Suite12, DOWNGRADE_TLS11, DOWNGRADE_TLS12};
use crate::error::Error;
use crate::psk::codec::{self, ext, hs, illegal, unexpected};
use crate::psk::config::{ExtendedMasterSecret, PskClientConfig};
use crate::psk::conn::{ConnectionCommon, KeyExchangeMode, Side};
use crate::psk::key_schedule::Transcript;

/// What the ClientHello offered.
pub(crate) struct Hello12 {
    pub(crate) random: [u8; 32],
    /// The legacy_session_id sent (a mixed client's random one; empty otherwise).
    pub(crate) session_id: Vec<u8>,
    /// The ClientHello message (header included), for the transcript.
    pub(crate) client_hello: Vec<u8>,
    /// Whether TLS 1.3 was offered too (then the downgrade sentinel is checked).
    pub(crate) offered_tls13: bool,
    /// Whether the ClientHello carried ec_point_formats (only then may the ServerHello,
    /// RFC 8422 §5.2, RFC 5246 §7.4.1.4).
    pub(crate) sent_point_formats: bool,
}

struct Negotiated {
    suite: Suite12,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    /// The server's ECDHE group and point, once its ServerKeyExchange has arrived.
    server_share: Option<(&'static dyn rustls::crypto::SupportedKxGroup, Vec<u8>)>,
    /// The extended master secret (else the legacy one, if the config allows it).
    ems: bool,
}

struct ExpectFinished {
    master: MasterSecret,
    transcript: Transcript,
    suite: Suite12,
    client_random: [u8; 32],
    server_random: [u8; 32],
}

enum State {
    ExpectServerHello(Box<Hello12>),
    /// After the ServerHello: ServerKeyExchange (required for ECDHE_PSK, optional for plain
    /// PSK) or ServerHelloDone.
    ExpectServerKeyExchange(Box<Negotiated>),
    ExpectServerHelloDone(Box<Negotiated>),
    ExpectFinished(Box<ExpectFinished>),
    Done,
    Failed,
}

/// The TLS 1.2 client handshake.
pub(crate) struct Client12 {
    config: Arc<PskClientConfig>,
    suites: Vec<Suite12>,
    state: State,
    accepted_identity: Option<Vec<u8>>,
}

impl Client12 {
    /// The TLS 1.2 suites and groups this config offers, as wire values.
    pub(crate) fn offer(config: &PskClientConfig) -> (Vec<Suite12>, Vec<u16>) {
        let common = &config.common;
        let suites = common.versions.suites(&common.provider);
        let groups = if suites.iter().any(|s| s.ecdhe) {
            super::groups(&common.groups)
                .iter()
                .map(|g| u16::from(g.name()))
                .collect()
        } else {
            Vec::new()
        };
        (suites, groups)
    }

    /// A TLS 1.2-only client: sends its ClientHello.
    pub(crate) fn start(
        config: Arc<PskClientConfig>,
        core: &mut ConnectionCommon,
    ) -> Result<Self, Error> {
        let (suites, groups) = Self::offer(&config);
        if suites.is_empty() {
            return Err(Error::InvalidConfig(
                "no TLS 1.2 PSK cipher suite is enabled or available".into(),
            ));
        }
        let mut random = [0u8; 32];
        config
            .common
            .provider
            .secure_random
            .fill(&mut random)
            .map_err(|_| Error::Rustls(rustls::Error::FailedToGetRandomBytes))?;
        let codes: Vec<u16> = suites.iter().map(|s| s.code).collect();
        let client_hello = codec12::encode_client_hello(&codec12::ClientHello12 {
            random: &random,
            cipher_suites: &codes,
            server_name: config.server_name.as_deref(),
            groups: &groups,
            alpn: &config.common.alpn_protocols,
        })?;
        core.send_handshake(&client_hello)?;
        Ok(Self::waiting(
            config,
            suites,
            Hello12 {
                random,
                session_id: Vec::new(),
                client_hello,
                offered_tls13: false,
                // `encode_client_hello` sends it with supported_groups.
                sent_point_formats: !groups.is_empty(),
            },
        ))
    }

    /// A client waiting for the ServerHello to `hello` (a mixed client hands over here).
    pub(crate) fn waiting(
        config: Arc<PskClientConfig>,
        suites: Vec<Suite12>,
        hello: Hello12,
    ) -> Self {
        Self {
            config,
            suites,
            state: State::ExpectServerHello(Box::new(hello)),
            accepted_identity: None,
        }
    }

    /// The identity the server accepted (its Finished verified).
    pub(crate) fn accepted_identity(&self) -> Option<&[u8]> {
        self.accepted_identity.as_deref()
    }

    pub(crate) fn handle(
        &mut self,
        core: &mut ConnectionCommon,
        message: &[u8],
    ) -> Result<(), Error> {
        let (typ, body) = codec::split_handshake(message)?;
        if typ == hs12::HELLO_REQUEST {
            // RFC 5246 §7.4.1.1: ignored while negotiating; not part of the transcript.
            if !body.is_empty() {
                return Err(codec::decode_error("HelloRequest with a body"));
            }
            return Ok(());
        }
        let state = core::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, typ) {
            (State::ExpectServerHello(hello), hs::SERVER_HELLO) => {
                self.handle_server_hello(core, *hello, message, body)?
            }
            (State::ExpectServerKeyExchange(mut n), hs12::SERVER_KEY_EXCHANGE) => {
                let share = codec12::decode_server_key_exchange(body, n.suite.ecdhe)?;
                if let Some((group, point)) = share {
                    let ours = super::groups(&self.config.common.groups);
                    let group = ours
                        .into_iter()
                        .find(|g| u16::from(g.name()) == group)
                        .ok_or_else(|| {
                            illegal("ServerKeyExchange names a group we did not offer")
                        })?;
                    n.server_share = Some((group, point.to_vec()));
                }
                n.transcript.add(message);
                State::ExpectServerHelloDone(n)
            }
            (State::ExpectServerKeyExchange(n), hs12::SERVER_HELLO_DONE) if !n.suite.ecdhe => {
                self.handle_server_hello_done(core, *n, message, body)?
            }
            (State::ExpectServerHelloDone(n), hs12::SERVER_HELLO_DONE) => {
                self.handle_server_hello_done(core, *n, message, body)?
            }
            (State::ExpectFinished(st), hs::FINISHED) => self.handle_finished(core, *st, body)?,
            (
                State::ExpectServerKeyExchange(_) | State::ExpectServerHelloDone(_),
                hs::CERTIFICATE | hs::CERTIFICATE_REQUEST,
            ) => return Err(unexpected("certificate message in a PSK handshake")),
            (State::Failed, _) => {
                return Err(Error::InvalidState("the handshake has already failed"))
            }
            _ => return Err(unexpected("handshake message not expected in this state")),
        };
        Ok(())
    }

    fn handle_server_hello(
        &mut self,
        core: &mut ConnectionCommon,
        hello: Hello12,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        let sh = ServerHello12::decode(body)?;
        if sh.legacy_version != codec::TLS12 {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::ProtocolVersion,
                what: "server chose a version other than TLS 1.2 or 1.3",
            });
        }
        // RFC 8446 §4.1.3: a TLS 1.3 client receiving a ServerHello of TLS 1.2 or below MUST
        // check that the last 8 octets are neither of the two sentinels.
        let tail = &sh.random[24..];
        if hello.offered_tls13 && (tail == DOWNGRADE_TLS12 || tail == DOWNGRADE_TLS11) {
            return Err(illegal(
                "TLS 1.2 ServerHello with the TLS 1.3 downgrade sentinel (RFC 8446 §4.1.3)",
            ));
        }
        if !hello.session_id.is_empty() && sh.session_id == hello.session_id.as_slice() {
            return Err(illegal("server resumes a session we never had"));
        }
        if sh.compression_method != 0 {
            return Err(illegal("compression_method is not null"));
        }
        let suite = *self
            .suites
            .iter()
            .find(|s| s.code == sh.cipher_suite)
            .ok_or_else(|| illegal("server selected a cipher suite we did not offer"))?;
        let mut allowed = vec![ext12::EXTENDED_MASTER_SECRET, ext12::RENEGOTIATION_INFO];
        if hello.sent_point_formats {
            allowed.push(ext12::EC_POINT_FORMATS);
        }
        if self.config.server_name.is_some() {
            allowed.push(ext::SERVER_NAME);
        }
        if !self.config.common.alpn_protocols.is_empty() {
            allowed.push(ext::ALPN);
        }
        if sh.extension_types.iter().any(|t| !allowed.contains(t)) {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::UnsupportedExtension,
                what: "server sent an extension we did not offer",
            });
        }
        // RFC 5746 §3.4: present and empty on an initial handshake; we refuse servers
        // without secure renegotiation (RFC 5746 §4.1 lets a client do so).
        match sh.extensions.renegotiation_info {
            Some([]) => {}
            Some(_) => return Err(handshake_failure("renegotiation_info is not empty")),
            None => {
                return Err(handshake_failure(
                    "server does not support secure renegotiation (RFC 5746)",
                ))
            }
        }
        // RFC 7627 §5.3: abort rather than use the legacy master secret, unless the config
        // lets legacy peers in.
        let ems = sh.extensions.extended_master_secret;
        if !ems && self.config.common.versions.ems == ExtendedMasterSecret::Required {
            return Err(handshake_failure(
                "server does not use the extended master secret (RFC 7627)",
            ));
        }
        if suite.ecdhe && !sh.extensions.allows_uncompressed() {
            return Err(illegal("server does not accept uncompressed EC points"));
        }
        if let Some(proto) = sh.alpn {
            if !self.config.common.alpn_protocols.iter().any(|p| p == proto) {
                return Err(illegal("server selected an ALPN protocol we did not offer"));
            }
            core.alpn = Some(proto.to_vec());
        }

        let mut transcript = Transcript::default();
        transcript.start_hash(suite.hash());
        transcript.add(&hello.client_hello);
        transcript.add(message);
        core.set_tls12(
            CipherSuite::from(suite.code),
            None,
            if suite.ecdhe {
                KeyExchangeMode::PskDhe
            } else {
                KeyExchangeMode::PskOnly
            },
        );
        Ok(State::ExpectServerKeyExchange(Box::new(Negotiated {
            suite,
            transcript,
            client_random: hello.random,
            server_random: sh.random,
            server_share: None,
            ems,
        })))
    }

    fn handle_server_hello_done(
        &mut self,
        core: &mut ConnectionCommon,
        n: Negotiated,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        if !body.is_empty() {
            return Err(codec::decode_error("ServerHelloDone with a body"));
        }
        let Negotiated {
            suite,
            mut transcript,
            client_random,
            server_random,
            server_share,
            ems,
        } = n;
        transcript.add(message);
        let psk = self
            .config
            .psks
            .first()
            .ok_or(Error::InvalidState("no PSK configured"))?;

        let (shared, our_point, group) = match server_share {
            Some((group, server_point)) => {
                let kx = group.start().map_err(Error::Rustls)?;
                let point = kx.pub_key().to_vec();
                let shared = kx
                    .complete_for_tls_version(&server_point, &rustls::version::TLS12)
                    .map_err(|_| illegal("invalid server ECDH public value"))?;
                (Some(shared), Some(point), Some(group.name()))
            }
            None if suite.ecdhe => return Err(Error::InvalidState("ECDHE suite without a share")),
            None => (None, None, None),
        };
        core.group = group;
        let premaster = premaster_secret(shared.as_ref().map(|s| s.secret_bytes()), psk.secret());
        let cke = codec12::encode_client_key_exchange(psk.identity(), our_point.as_deref())?;
        transcript.add(&cke);
        core.send_handshake(&cke)?;

        let session_hash = transcript.current_hash(suite.hash());
        let master = MasterSecret::derive(
            ems,
            suite.base,
            &premaster,
            session_hash.as_ref(),
            (&client_random, &server_random),
        );
        let RecordKeys {
            encrypter,
            decrypter,
        } = master.record_keys(
            Side::Client,
            &client_random,
            &server_random,
            &self.config.common.provider,
        )?;
        let verify =
            master.verify_data(Side::Client, transcript.current_hash(suite.hash()).as_ref());
        let finished = codec12::encode_finished(&verify);
        transcript.add(&finished);
        core.send_ccs_once();
        let limit = suite.record_limit(self.config.common.max_records_per_key);
        core.set_tls12_write_key(encrypter, limit);
        core.send_handshake(&finished)?;
        core.stage_tls12_read_key(decrypter);
        self.accepted_identity = None;
        Ok(State::ExpectFinished(Box::new(ExpectFinished {
            master,
            transcript,
            suite,
            client_random,
            server_random,
        })))
    }

    fn handle_finished(
        &mut self,
        core: &mut ConnectionCommon,
        st: ExpectFinished,
        body: &[u8],
    ) -> Result<State, Error> {
        if !core.record.is_decrypting() {
            return Err(unexpected("Finished before ChangeCipherSpec"));
        }
        let expected = st.master.verify_data(
            Side::Server,
            st.transcript.current_hash(st.suite.hash()).as_ref(),
        );
        if body.len() != expected.len() {
            return Err(codec::decode_error("Finished of the wrong length"));
        }
        if !bool::from(body.ct_eq(&expected)) {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::DecryptError,
                what: "server Finished does not verify",
            });
        }
        self.accepted_identity = self.config.psks.first().map(|p| p.identity().to_vec());
        core.start_reading_tls12_app_data();
        core.set_tls12_exporter(st.master.into_exporter(st.client_random, st.server_random));
        core.complete_handshake();
        Ok(State::Done)
    }
}

fn handshake_failure(what: &'static str) -> Error {
    Error::PeerIncompatible {
        alert: AlertDescription::HandshakeFailure,
        what,
    }
}
