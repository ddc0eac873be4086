//! The server state machine of a TLS 1.2 PSK handshake (RFC 5246 §7.3, RFC 4279 §2,
//! RFC 5489 §2):
//!
//! ```text
//! ClientHello ──▶
//!             ◀── ServerHello, [ServerKeyExchange (ECDHE_PSK)], ServerHelloDone
//! ClientKeyExchange (psk_identity [+ ECPoint]), ChangeCipherSpec, Finished ──▶
//!             ◀── ChangeCipherSpec, Finished
//! ```
//!
//! The identity arrives in the ClientKeyExchange, so that is where the key is resolved (or,
//! for a deferred connection, where the handshake pauses). An unknown identity goes on with a
//! random key of an AEFPSK's length (RFC 4279 §2 allows it): the same ECDH, PRF and AEAD work
//! as a wrong key, and the same `decrypt_error` when the client's Finished cannot be opened
//! or does not verify.

use std::sync::Arc;

use rustls::crypto::cipher::MessageEncrypter;
use rustls::crypto::{ActiveKeyExchange, SupportedKxGroup};
use rustls::{AlertDescription, CipherSuite};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::codec::{self as codec12, hs12, RENEGOTIATION_SCSV};
use super::key_schedule::{premaster_secret, MasterSecret, RecordKeys};
use super::{Suite12, DOWNGRADE_TLS12};
use crate::error::{Error, PskRejection};
use crate::psk::codec::{self, hs, unexpected, ClientHello};
use crate::psk::config::{ExtendedMasterSecret, ExternalPsk, PskServerConfig};
use crate::psk::conn::{ConnectionCommon, KeyExchangeMode, Side};
use crate::psk::key_schedule::Transcript;

/// Length of the random key an unknown identity is given: an AEFPSK's.
const DECOY_LEN: usize = 32;

/// After the ServerHelloDone.
struct Negotiated {
    suite: Suite12,
    kx: Option<Box<dyn ActiveKeyExchange>>,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    /// The extended master secret (else the legacy one, if the config allows it).
    ems: bool,
}

/// A deferred connection's ClientKeyExchange while the application looks the key up.
struct AwaitingKey {
    negotiated: Negotiated,
    /// The ClientKeyExchange message (header included).
    message: Vec<u8>,
    identities: [Vec<u8>; 1],
}

struct ExpectFinished {
    master: MasterSecret,
    transcript: Transcript,
    suite: Suite12,
    encrypter: Box<dyn MessageEncrypter>,
    /// Why the client's Finished will fail, if it is known to fail (an unknown identity).
    rejection: Option<PskRejection>,
    client_random: [u8; 32],
    server_random: [u8; 32],
}

enum State {
    ExpectClientKeyExchange(Box<Negotiated>),
    AwaitingKey(Box<AwaitingKey>),
    ExpectFinished(Box<ExpectFinished>),
    Done,
    Failed,
}

/// The TLS 1.2 server handshake, once a ClientHello chose TLS 1.2.
pub(crate) struct Server12 {
    config: Arc<PskServerConfig>,
    /// Keys come from the application (`provide_psk`) rather than the config's resolver.
    deferred: bool,
    provided: Option<Option<ExternalPsk>>,
    state: State,
    identity: Option<Vec<u8>>,
}

impl Server12 {
    /// Answers `ch` (already decoded by the TLS 1.3 server, which chose TLS 1.2) with
    /// ServerHello, ServerKeyExchange and ServerHelloDone.
    pub(crate) fn start(
        config: Arc<PskServerConfig>,
        deferred: bool,
        core: &mut ConnectionCommon,
        message: &[u8],
        ch: &ClientHello<'_>,
    ) -> Result<Self, Error> {
        // Captured by the shared decoder in its one pass over the extensions.
        let exts = &ch.tls12;
        if !ch.compression_methods.contains(&0) {
            return Err(handshake_failure("client does not offer null compression"));
        }
        // RFC 5746 §3.6: an initial handshake's renegotiation_info must be empty; a client
        // with neither it nor the SCSV does not support secure renegotiation (refused).
        match exts.renegotiation_info {
            Some([]) => {}
            Some(_) => return Err(handshake_failure("renegotiation_info is not empty")),
            None if ch.cipher_suites.contains(RENEGOTIATION_SCSV) => {}
            None => {
                return Err(handshake_failure(
                    "client does not support secure renegotiation (RFC 5746)",
                ))
            }
        }
        // RFC 7627 §5.3: we abort rather than fall back to the legacy master secret, unless
        // the config lets legacy peers in.
        let ems = exts.extended_master_secret;
        if !ems && config.common.versions.ems == ExtendedMasterSecret::Required {
            return Err(handshake_failure(
                "client does not offer the extended master secret (RFC 7627)",
            ));
        }

        let common = &config.common;
        let groups = super::groups(&common.groups);
        let group = pick_group(ch, &groups).filter(|_| exts.allows_uncompressed());
        let suite = pick_suite(
            ch,
            &common.versions.suites(&common.provider),
            group.is_some(),
        )
        .ok_or_else(|| handshake_failure("no TLS 1.2 PSK cipher suite in common"))?;
        let group = group.filter(|_| suite.ecdhe);
        let alpn = select_alpn(ch, &common.alpn_protocols)?;

        let mut server_random = [0u8; 32];
        common
            .provider
            .secure_random
            .fill(&mut server_random)
            .map_err(|_| Error::Rustls(rustls::Error::FailedToGetRandomBytes))?;
        if common.versions.tls13 {
            // RFC 8446 §4.1.3: a TLS 1.3 server negotiating TLS 1.2 says so.
            server_random[24..].copy_from_slice(&DOWNGRADE_TLS12);
        }
        let server_hello = codec12::encode_server_hello(&codec12::ServerHelloParams12 {
            random: &server_random,
            cipher_suite: suite.code,
            ecdhe: suite.ecdhe,
            // RFC 7627 §5.2: echoed only if the client sent it.
            ems,
            alpn: alpn.as_deref(),
        })?;
        let kx = match group {
            Some(g) => Some(g.start().map_err(Error::Rustls)?),
            None => None,
        };
        let ske = kx
            .as_ref()
            .map(|kx| {
                codec12::encode_server_key_exchange(Some((u16::from(kx.group()), kx.pub_key())))
            })
            .transpose()?;
        let done = codec12::encode_server_hello_done();

        let mut transcript = Transcript::default();
        transcript.start_hash(suite.hash());
        transcript.add(message);
        for m in [Some(&server_hello[..]), ske.as_deref(), Some(&done[..])]
            .into_iter()
            .flatten()
        {
            transcript.add(m);
            core.send_handshake(m)?;
        }
        core.set_tls12(
            CipherSuite::from(suite.code),
            group.map(|g| g.name()),
            if suite.ecdhe {
                KeyExchangeMode::PskDhe
            } else {
                KeyExchangeMode::PskOnly
            },
        );
        core.alpn = alpn;
        Ok(Self {
            config,
            deferred,
            provided: None,
            state: State::ExpectClientKeyExchange(Box::new(Negotiated {
                suite,
                kx,
                transcript,
                client_random: ch.random,
                server_random,
                ems,
            })),
            identity: None,
        })
    }

    pub(crate) fn handle(
        &mut self,
        core: &mut ConnectionCommon,
        message: &[u8],
    ) -> Result<(), Error> {
        let (typ, body) = codec::split_handshake(message)?;
        let state = core::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, typ) {
            (State::ExpectClientKeyExchange(n), hs12::CLIENT_KEY_EXCHANGE) => {
                self.handle_client_key_exchange(core, *n, message, body)?
            }
            (State::ExpectFinished(st), hs::FINISHED) => {
                self.handle_finished(core, *st, message, body)?
            }
            (State::Failed, _) => {
                return Err(Error::InvalidState("the handshake has already failed"))
            }
            (State::ExpectClientKeyExchange(_), hs::CERTIFICATE) => {
                return Err(unexpected("client Certificate in a PSK handshake"))
            }
            _ => return Err(unexpected("handshake message not expected in this state")),
        };
        Ok(())
    }

    fn handle_client_key_exchange(
        &mut self,
        core: &mut ConnectionCommon,
        negotiated: Negotiated,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        let (identity, _point) = codec12::decode_client_key_exchange(body, negotiated.suite.ecdhe)?;
        self.identity = Some(identity.to_vec());
        if self.deferred && self.provided.is_none() {
            return Ok(State::AwaitingKey(Box::new(AwaitingKey {
                identities: [identity.to_vec()],
                message: message.to_vec(),
                negotiated,
            })));
        }
        self.finish_key_exchange(core, negotiated, message)
    }

    /// With the key looked up (or not): premaster, extended master secret, record keys.
    fn finish_key_exchange(
        &mut self,
        core: &mut ConnectionCommon,
        negotiated: Negotiated,
        message: &[u8],
    ) -> Result<State, Error> {
        let Negotiated {
            suite,
            kx,
            mut transcript,
            client_random,
            server_random,
            ems,
        } = negotiated;
        let (_, body) = codec::split_handshake(message)?;
        let (identity, point) = codec12::decode_client_key_exchange(body, suite.ecdhe)?;
        let psk = match self.provided.take() {
            Some(Some(p)) if p.identity() == identity => Some(p),
            Some(_) => None,
            None => self.config.resolver.resolve(identity),
        };
        // Drawn whether or not it is used, so a known identity costs the same.
        let mut decoy = Zeroizing::new([0u8; DECOY_LEN]);
        let _ = self
            .config
            .common
            .provider
            .secure_random
            .fill(&mut decoy[..]);
        let (secret, rejection) = match &psk {
            Some(p) => (p.secret(), None),
            None => (&decoy[..], Some(PskRejection::UnknownIdentity)),
        };
        let shared = match (kx, point) {
            (Some(kx), Some(point)) => Some(
                kx.complete_for_tls_version(point, &rustls::version::TLS12)
                    .map_err(|_| codec::illegal("invalid client ECDH public value"))?,
            ),
            (None, None) => None,
            _ => return Err(Error::InvalidState("key exchange does not match the suite")),
        };
        let premaster = premaster_secret(shared.as_ref().map(|s| s.secret_bytes()), secret);
        transcript.add(message);
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
            Side::Server,
            &client_random,
            &server_random,
            &self.config.common.provider,
        )?;
        core.stage_tls12_read_key(decrypter);
        Ok(State::ExpectFinished(Box::new(ExpectFinished {
            master,
            transcript,
            suite,
            encrypter,
            rejection,
            client_random,
            server_random,
        })))
    }

    fn handle_finished(
        &mut self,
        core: &mut ConnectionCommon,
        st: ExpectFinished,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        if !core.record.is_decrypting() {
            return Err(unexpected("Finished before ChangeCipherSpec"));
        }
        let expected = st.master.verify_data(
            Side::Client,
            st.transcript.current_hash(st.suite.hash()).as_ref(),
        );
        let ok = body.len() == expected.len() && bool::from(body.ct_eq(&expected));
        if let Some(reason) = st.rejection {
            return Err(Error::PskRejected(reason));
        }
        if !ok {
            return Err(Error::PskRejected(PskRejection::WrongKey));
        }
        let ExpectFinished {
            master,
            mut transcript,
            suite,
            encrypter,
            client_random,
            server_random,
            ..
        } = st;
        transcript.add(message);
        let verify =
            master.verify_data(Side::Server, transcript.current_hash(suite.hash()).as_ref());
        core.start_reading_tls12_app_data();
        core.send_ccs_once();
        let limit = suite.record_limit(self.config.common.max_records_per_key);
        core.set_tls12_write_key(encrypter, limit);
        core.send_handshake(&codec12::encode_finished(&verify))?;
        core.set_tls12_exporter(master.into_exporter(client_random, server_random));
        core.complete_handshake();
        Ok(State::Done)
    }

    /// Whether a deferred connection waits for its key.
    pub(crate) fn is_awaiting_key(&self) -> bool {
        matches!(self.state, State::AwaitingKey(_))
    }

    /// The identity of the ClientKeyExchange a deferred connection waits for.
    pub(crate) fn awaited_identities(&self) -> Option<&[Vec<u8>]> {
        match &self.state {
            State::AwaitingKey(w) => Some(&w.identities),
            _ => None,
        }
    }

    /// Continues a deferred connection with the application's key (`None`: unknown).
    pub(crate) fn provide_psk(
        &mut self,
        core: &mut ConnectionCommon,
        psk: Option<ExternalPsk>,
    ) -> Result<(), Error> {
        let State::AwaitingKey(waiting) = core::mem::replace(&mut self.state, State::Failed) else {
            return Err(Error::InvalidState(
                "the connection is not waiting for a PSK",
            ));
        };
        self.provided = Some(psk);
        let AwaitingKey {
            negotiated,
            message,
            ..
        } = *waiting;
        self.state = self.finish_key_exchange(core, negotiated, &message)?;
        Ok(())
    }

    /// The identity the client sent in its ClientKeyExchange.
    pub(crate) fn identity(&self) -> Option<&[u8]> {
        self.identity.as_deref()
    }

    /// What a record that fails to decrypt means: while the client's Finished is expected,
    /// the client holds another key (or the identity is unknown) — `decrypt_error`, as RFC
    /// 4279 §2 asks, the same for both.
    pub(crate) fn decrypt_failed(&self) -> Option<Error> {
        match &self.state {
            State::ExpectFinished(st) => Some(Error::PskRejected(
                st.rejection.unwrap_or(PskRejection::WrongKey),
            )),
            _ => None,
        }
    }
}

fn handshake_failure(what: &'static str) -> Error {
    Error::PeerIncompatible {
        alert: AlertDescription::HandshakeFailure,
        what,
    }
}

/// Our most preferred group the client lists (one pass over its list); without
/// supported_groups, our first (RFC 8422 §4 lets the server choose).
fn pick_group(
    ch: &ClientHello<'_>,
    ours: &[&'static dyn SupportedKxGroup],
) -> Option<&'static dyn SupportedKxGroup> {
    let codes: Vec<u16> = ours.iter().map(|g| u16::from(g.name())).collect();
    match &ch.supported_groups {
        None => ours.first().copied(),
        Some(list) => list
            .iter()
            .filter_map(|g| {
                codec::work::add(codes.len());
                codes.iter().position(|c| *c == g)
            })
            .min()
            .map(|i| ours[i]),
    }
}

/// Our most preferred suite the client offers (one pass over its list); ECDHE suites only
/// with a common group.
fn pick_suite(ch: &ClientHello<'_>, ours: &[Suite12], have_group: bool) -> Option<Suite12> {
    ch.cipher_suites
        .iter()
        .filter_map(|c| {
            codec::work::add(ours.len());
            ours.iter()
                .position(|s| s.code == c && (have_group || !s.ecdhe))
        })
        .min()
        .map(|i| ours[i])
}

/// ALPN (RFC 7301 §3.2): our most preferred protocol the client offers.
fn select_alpn(ch: &ClientHello<'_>, ours: &[Vec<u8>]) -> Result<Option<Vec<u8>>, Error> {
    match (&ch.alpn, ours.is_empty()) {
        (Some(offered), false) => offered
            .iter()
            .filter_map(|p| {
                codec::work::add(ours.len());
                ours.iter().position(|o| o.as_slice() == p)
            })
            .min()
            .map(|i| Some(ours[i].clone()))
            .ok_or(Error::PeerIncompatible {
                alert: AlertDescription::NoApplicationProtocol,
                what: "no common ALPN protocol",
            }),
        _ => Ok(None),
    }
}
