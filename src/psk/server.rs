//! The server state machine of a TLS 1.3 external-PSK handshake (RFC 8446 §2, §4).
//!
//! The server picks the first offered identity its resolver knows (and whose hash a common
//! suite uses), verifies that identity's binder in constant time, and answers with
//! `ServerHello [CCS] {EncryptedExtensions} {Finished}`. An unknown identity is checked
//! against a random key, so it fails exactly like a wrong key: same work, same
//! `decrypt_error` alert.
//!
//! Keys can come from a synchronous [`PskResolver`](super::PskResolver) in the config, or —
//! for keys that need I/O — the connection can pause after the ClientHello
//! ([`PskServerConnection::new_deferred`]) until the application supplies the key.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use rustls::{AlertDescription, Tls13CipherSuite};
use subtle::ConstantTimeEq;

use super::codec::{self, hs, illegal, unexpected};
use super::config::{ExternalPsk, PskServerConfig};
use super::conn::{
    ConnectionCommon, Handshake, IoState, KeyExchangeMode, Side, EARLY_DATA_SKIP_LIMIT,
};
use super::key_schedule::{EarlySecret, Suite, TrafficSecret, Transcript};
use crate::error::{Error, PskRejection};

/// A server-side TLS 1.3 external-PSK connection (sans-IO). See
/// [`PskClientConnection`](super::PskClientConnection) for how to drive it.
pub struct PskServerConnection {
    core: ConnectionCommon,
    state: ServerHandshake,
}

impl PskServerConnection {
    /// A connection that finds keys through the config's resolver.
    pub fn new(config: Arc<PskServerConfig>) -> Self {
        Self::with_key_source(config, KeySource::Resolver)
    }

    /// A connection that stops after the ClientHello until [`provide_psk`](Self::provide_psk)
    /// is called: for key stores that need I/O (e.g. an AEF asking its CCF over CAPIF-3).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use rustls_capif::psk::*;
    /// # let psk = ExternalPsk::new(b"id".to_vec(), &[1; 32], PskHash::Sha256).unwrap();
    /// # let mut client = PskClientConnection::new(Arc::new(PskClientConfig::new(psk.clone()))).unwrap();
    /// let config = Arc::new(PskServerConfig::new(Arc::new(NoPskResolver)));
    /// let mut server = PskServerConnection::new_deferred(config);
    /// # let mut buf = Vec::new(); client.write_tls(&mut buf).unwrap();
    /// # server.read_tls(&mut buf.as_slice()).unwrap();
    /// server.process_new_packets().unwrap();
    /// let wanted: Vec<Vec<u8>> = server.offered_psk_identities().unwrap().to_vec();
    /// // ... look the key up asynchronously ...
    /// # let found = Some(psk);
    /// server.provide_psk(found).unwrap();
    /// # assert!(server.wants_write());
    /// ```
    pub fn new_deferred(config: Arc<PskServerConfig>) -> Self {
        Self::with_key_source(config, KeySource::Deferred)
    }

    fn with_key_source(config: Arc<PskServerConfig>, keys: KeySource) -> Self {
        Self {
            core: ConnectionCommon::new(Side::Server),
            state: ServerHandshake {
                config,
                keys,
                state: State::ExpectClientHello(None),
                identity: None,
                server_name: None,
            },
        }
    }

    /// Processes TLS bytes received with `read_tls`. On error a fatal alert is queued (send it
    /// with `write_tls`) and the connection is unusable.
    pub fn process_new_packets(&mut self) -> Result<IoState, Error> {
        self.core.process(&mut self.state)
    }

    /// The identities the client offered, while a deferred connection waits for a key.
    pub fn offered_psk_identities(&self) -> Option<&[Vec<u8>]> {
        match &self.state.state {
            State::AwaitingKey(w) => Some(&w.identities),
            _ => None,
        }
    }

    /// Whether a deferred connection waits for [`provide_psk`](Self::provide_psk).
    pub fn is_awaiting_psk(&self) -> bool {
        matches!(self.state.state, State::AwaitingKey(_))
    }

    /// While waiting for a key: whether `psk` matches the binder the client sent for its
    /// identity, checked without committing to it. A key cache uses this to notice a stale
    /// entry (the invoker has a newer AEFPSK) and fetch again before
    /// [`provide_psk`](Self::provide_psk).
    pub fn offered_psk_matches(&self, psk: &ExternalPsk) -> bool {
        let State::AwaitingKey(waiting) = &self.state.state else {
            return false;
        };
        let message = &waiting.client_hello;
        let Ok((_, body)) = codec::split_handshake(message) else {
            return false;
        };
        let Ok(ch) = codec::ClientHello::decode(body) else {
            return false;
        };
        let Some(offered) = ch.psks.as_ref() else {
            return false;
        };
        let Some(index) = offered
            .identities
            .iter()
            .position(|(id, _)| *id == psk.identity())
        else {
            return false;
        };
        let suite = match &waiting.retry {
            Some(r) => Some(r.suite).filter(|s| psk.hash().matches(s)),
            None => self.state.config.common.suites_for(psk.hash()).next(),
        };
        let Some(suite) = suite else {
            return false;
        };
        let truncated = &message[..message.len() - ch.binders_len];
        let prefix = waiting.retry.as_ref().map(|r| &r.transcript);
        binder_matches(
            offered.binders[index],
            psk.secret(),
            suite,
            prefix,
            truncated,
        )
        .is_some()
    }

    /// Supplies the key for one of the offered identities (`None`: none is known, which fails
    /// the handshake exactly like a wrong key), and continues the handshake. Call
    /// `process_new_packets` afterwards for any records that arrived meanwhile.
    pub fn provide_psk(&mut self, psk: Option<ExternalPsk>) -> Result<IoState, Error> {
        let State::AwaitingKey(waiting) = core::mem::replace(&mut self.state.state, State::Failed)
        else {
            return Err(Error::InvalidState(
                "the connection is not waiting for a PSK",
            ));
        };
        self.state.keys = KeySource::Provided(psk);
        self.state.state = State::ExpectClientHello(waiting.retry);
        let client_hello = waiting.client_hello;
        if let Err(e) = self.core.resume_handshake(&mut self.state, &client_hello) {
            return Err(self.core.fail(e));
        }
        self.process_new_packets()
    }

    /// The identity of the PSK that authenticated the client (once the ClientHello has been
    /// accepted; the handshake is authenticated when it completes).
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.state.identity.as_deref()
    }

    /// The server name (SNI) the client sent.
    pub fn server_name(&self) -> Option<&str> {
        self.state.server_name.as_deref()
    }
}

impl Deref for PskServerConnection {
    type Target = ConnectionCommon;
    fn deref(&self) -> &ConnectionCommon {
        &self.core
    }
}

impl DerefMut for PskServerConnection {
    fn deref_mut(&mut self) -> &mut ConnectionCommon {
        &mut self.core
    }
}

impl core::fmt::Debug for PskServerConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PskServerConnection")
            .field("handshaking", &self.core.is_handshaking())
            .field(
                "psk_identity",
                &self.psk_identity().map(String::from_utf8_lossy),
            )
            .field("suite", &self.core.negotiated_cipher_suite())
            .finish_non_exhaustive()
    }
}

/// Where the server's keys come from.
enum KeySource {
    Resolver,
    Deferred,
    Provided(Option<ExternalPsk>),
}

/// What a HelloRetryRequest committed the server to.
struct Retry {
    suite: &'static Tls13CipherSuite,
    group: &'static dyn rustls::crypto::SupportedKxGroup,
    hello1: HelloInvariants,
    transcript: Transcript,
}

/// The parts of ClientHello1 that ClientHello2 must repeat (RFC 8446 §4.1.2: only key_share,
/// early_data, cookie, pre_shared_key and padding may change, and only as the HRR asks).
struct HelloInvariants {
    session_id: Vec<u8>,
    random: [u8; 32],
    cipher_suites: Vec<u16>,
    supported_groups: Option<Vec<u16>>,
    psk_modes: Option<Vec<u8>>,
    alpn: Option<Vec<Vec<u8>>>,
    server_name: Option<Vec<u8>>,
}

impl HelloInvariants {
    fn of(ch: &codec::ClientHello<'_>) -> Self {
        Self {
            session_id: ch.session_id.to_vec(),
            random: ch.random,
            cipher_suites: ch.cipher_suites.clone(),
            supported_groups: ch.supported_groups.clone(),
            psk_modes: ch.psk_modes.map(<[u8]>::to_vec),
            alpn: ch
                .alpn
                .as_ref()
                .map(|list| list.iter().map(|p| p.to_vec()).collect()),
            server_name: ch.server_name.map(<[u8]>::to_vec),
        }
    }

    /// Checks ClientHello2 against ClientHello1 (illegal_parameter on any change).
    fn check(&self, ch2: &codec::ClientHello<'_>) -> Result<(), Error> {
        let same_alpn = match (&self.alpn, &ch2.alpn) {
            (None, None) => true,
            (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a == b),
            _ => false,
        };
        let checks = [
            (
                ch2.session_id == self.session_id.as_slice(),
                "ClientHello2 changed legacy_session_id",
            ),
            (ch2.random == self.random, "ClientHello2 changed random"),
            (
                ch2.cipher_suites == self.cipher_suites,
                "ClientHello2 changed cipher_suites",
            ),
            (
                ch2.supported_groups == self.supported_groups,
                "ClientHello2 changed supported_groups",
            ),
            (
                ch2.psk_modes == self.psk_modes.as_deref(),
                "ClientHello2 changed psk_key_exchange_modes",
            ),
            (same_alpn, "ClientHello2 changed the ALPN protocols"),
            (
                ch2.server_name == self.server_name.as_deref(),
                "ClientHello2 changed server_name",
            ),
            (
                ch2.cookie.is_none(),
                "ClientHello2 carries a cookie the server never sent",
            ),
            (
                !ch2.early_data,
                "early_data in the ClientHello after a HelloRetryRequest",
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(illegal(what)),
            None => Ok(()),
        }
    }
}

struct AwaitingKey {
    client_hello: Vec<u8>,
    identities: Vec<Vec<u8>>,
    retry: Option<Box<Retry>>,
}

struct ExpectFinished {
    suite: &'static Tls13CipherSuite,
    client_hs: TrafficSecret,
    client_ap: TrafficSecret,
    transcript: Transcript,
}

enum State {
    ExpectClientHello(Option<Box<Retry>>),
    AwaitingKey(Box<AwaitingKey>),
    ExpectFinished(Box<ExpectFinished>),
    Done,
    Failed,
}

pub(crate) struct ServerHandshake {
    config: Arc<PskServerConfig>,
    keys: KeySource,
    state: State,
    identity: Option<Vec<u8>>,
    server_name: Option<String>,
}

/// The outcome of PSK selection.
struct Chosen {
    index: usize,
    psk: ExternalPsk,
    suite: &'static Tls13CipherSuite,
}

impl ServerHandshake {
    fn handle_client_hello(
        &mut self,
        core: &mut ConnectionCommon,
        retry: Option<Box<Retry>>,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        let ch = codec::ClientHello::decode(body)?;
        core.allow_ccs();
        // Records of rejected 0-RTT data are skipped only until the next ClientHello.
        core.record.skip_early_data(0);

        // Version: TLS 1.3 only, through supported_versions; legacy_version is then ignored
        // (RFC 8446 §4.2.1) except that SSL 3.0 or lower is refused (Appendix D.5).
        let offers_tls13 = ch
            .supported_versions
            .as_ref()
            .is_some_and(|v| v.contains(&codec::TLS13));
        if !offers_tls13 || ch.legacy_version <= codec::SSL3 {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::ProtocolVersion,
                what: "client does not offer TLS 1.3",
            });
        }
        if ch.compression_methods != [0] {
            return Err(illegal("legacy_compression_methods is not exactly [null]"));
        }
        // No suite in common at all says nothing about the offered identities: answer it as
        // such (handshake_failure) instead of letting PSK selection find no usable key.
        let suites = &self.config.common.suites;
        if !suites
            .iter()
            .any(|s| ch.cipher_suites.contains(&u16::from(s.common.suite)))
        {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::HandshakeFailure,
                what: "no TLS 1.3 cipher suite in common",
            });
        }
        let Some(offered) = ch.psks.as_ref() else {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::HandshakeFailure,
                what: "client offered no PSK (certificate handshakes are not supported)",
            });
        };
        let Some(modes) = ch.psk_modes else {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::MissingExtension,
                what: "pre_shared_key without psk_key_exchange_modes",
            });
        };
        if ch.key_shares.is_some() != ch.supported_groups.is_some() {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::MissingExtension,
                what: "key_share and supported_groups must come together",
            });
        }
        if let (Some(shares), Some(groups)) = (&ch.key_shares, &ch.supported_groups) {
            if shares.iter().any(|(g, _)| !groups.contains(g)) {
                return Err(illegal("key share for a group not in supported_groups"));
            }
        }
        if let Some(r) = &retry {
            r.hello1.check(&ch)?;
        }
        self.server_name = match ch.server_name {
            None => None,
            Some(name) => {
                let name = core::str::from_utf8(name)
                    .ok()
                    .filter(|n| rustls_pki_types::DnsName::try_from(*n).is_ok())
                    .ok_or_else(|| illegal("server_name is not a DNS host name"))?;
                Some(name.to_ascii_lowercase())
            }
        };

        // A deferred connection stops here until the application has looked the key up.
        if matches!(self.keys, KeySource::Deferred) {
            let max = self.config.max_identities_tried;
            return Ok(State::AwaitingKey(Box::new(AwaitingKey {
                client_hello: message.to_vec(),
                identities: offered
                    .identities
                    .iter()
                    .take(max)
                    .map(|(id, _)| id.to_vec())
                    .collect(),
                retry,
            })));
        }

        let common = &self.config.common;
        let client_dhe = modes.contains(&codec::PSK_DHE_KE);
        let client_ke = modes.contains(&codec::PSK_KE);
        let (retry, prefix) = match retry {
            Some(r) => {
                let Retry {
                    suite,
                    group,
                    transcript,
                    ..
                } = *r;
                (Some((suite, group)), Some(transcript))
            }
            None => (None, None),
        };

        // PSK selection (the suite follows from the PSK's hash), then its binder.
        let chosen = self.choose_psk(&ch, retry.map(|(suite, _)| suite));
        let truncated = &message[..message.len() - ch.binders_len];
        let (chosen, early) = self.verify_binder(&ch, chosen, prefix.as_ref(), truncated)?;

        // Key-exchange mode and group.
        let mut dhe = None;
        if client_dhe && common.modes.allows_dhe() {
            let client_groups = ch.supported_groups.as_deref().unwrap_or(&[]);
            let shares = ch.key_shares.as_deref().unwrap_or(&[]);
            if let Some((_, group)) = retry {
                match shares {
                    [(g, key)] if *g == u16::from(group.name()) => dhe = Some((group, *key)),
                    _ => {
                        return Err(illegal(
                            "ClientHello2 lacks exactly one share for the requested group",
                        ))
                    }
                }
            } else if let Some((group, key)) = common.groups.iter().find_map(|g| {
                shares
                    .iter()
                    .find(|(name, _)| *name == u16::from(g.name()))
                    .map(|(_, key)| (*g, *key))
            }) {
                dhe = Some((group, key));
            } else if let Some(group) = common
                .groups
                .iter()
                .find(|g| client_groups.contains(&u16::from(g.name())))
            {
                // A common group without a share: ask for one (HelloRetryRequest).
                return self.send_hello_retry_request(core, &ch, message, chosen.suite, *group);
            }
        }
        if dhe.is_none() && !(client_ke && common.modes.allows_psk_only()) {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::HandshakeFailure,
                what: "no common PSK key-exchange mode and group",
            });
        }

        // ALPN (RFC 7301 §3.2).
        let alpn = match (&ch.alpn, common.alpn_protocols.is_empty()) {
            (Some(offered), false) => Some(
                common
                    .alpn_protocols
                    .iter()
                    .find(|p| offered.contains(&p.as_slice()))
                    .cloned()
                    .ok_or(Error::PeerIncompatible {
                        alert: AlertDescription::NoApplicationProtocol,
                        what: "no common ALPN protocol",
                    })?,
            ),
            _ => None,
        };

        // ServerHello.
        let suite = chosen.suite;
        let psk_suite = Suite::of(suite);
        let (shared_secret, server_share) = match dhe {
            Some((group, client_key)) => {
                let done = group
                    .start_and_complete(client_key)
                    .map_err(|_| illegal("invalid client key share"))?;
                (Some(done.secret), Some((group.name(), done.pub_key)))
            }
            None => (None, None),
        };
        let mut random = [0u8; 32];
        common
            .provider
            .secure_random
            .fill(&mut random)
            .map_err(|_| Error::Rustls(rustls::Error::FailedToGetRandomBytes))?;
        let server_hello = codec::encode_server_hello(&codec::ServerHelloParams {
            random: &random,
            session_id: ch.session_id,
            cipher_suite: u16::from(suite.common.suite),
            key_share: server_share
                .as_ref()
                .map(|(g, k)| (u16::from(*g), k.as_slice())),
            selected_identity: chosen.index as u16,
        })?;

        let mut transcript = prefix.unwrap_or_default();
        transcript.add(message);
        transcript.add(&server_hello);
        transcript.start_hash(psk_suite.hash);

        // The early secret the binder was verified with (same PSK, same suite).
        let secret = early.into_handshake_secret(shared_secret.as_ref().map(|s| s.secret_bytes()));
        let hello_hash = transcript.current_hash(psk_suite.hash);
        let (client_hs, server_hs) = secret.traffic_secrets(hello_hash.as_ref());

        core.suite = Some(suite);
        core.group = server_share.as_ref().map(|(g, _)| *g);
        core.mode = Some(if dhe.is_some() {
            KeyExchangeMode::PskDhe
        } else {
            KeyExchangeMode::PskOnly
        });
        core.alpn = alpn.clone();
        self.identity = Some(chosen.psk.identity().to_vec());

        core.send_handshake(&server_hello)?;
        if !ch.session_id.is_empty() {
            core.send_ccs_once();
        }
        core.set_write_key(suite, &server_hs);
        core.set_read_key(suite, &client_hs);
        if ch.early_data {
            // We never accept 0-RTT: skip what the client sent under early keys (§4.2.10).
            core.record.skip_early_data(EARLY_DATA_SKIP_LIMIT);
        }

        let ee = codec::encode_encrypted_extensions(alpn.as_deref(), self.server_name.is_some())?;
        transcript.add(&ee);
        core.send_handshake(&ee)?;

        let verify_data =
            server_hs.verify_data(psk_suite, transcript.current_hash(psk_suite.hash).as_ref());
        let finished = codec::encode_finished(&verify_data);
        transcript.add(&finished);
        core.send_handshake(&finished)?;

        let master = secret.into_master_secret();
        let (client_ap, server_ap, exporter) =
            master.application_secrets(transcript.current_hash(psk_suite.hash).as_ref());
        core.start_writing_app_data(suite, server_ap, common.rekey_after(suite));
        core.set_exporter(exporter);

        Ok(State::ExpectFinished(Box::new(ExpectFinished {
            suite,
            client_hs,
            client_ap,
            transcript,
        })))
    }

    /// The first offered identity that resolves to a key whose hash a common suite uses.
    fn choose_psk(
        &self,
        ch: &codec::ClientHello<'_>,
        retry_suite: Option<&'static Tls13CipherSuite>,
    ) -> Option<Chosen> {
        let offered = ch.psks.as_ref()?;
        let common = &self.config.common;
        for (index, (identity, _age)) in offered
            .identities
            .iter()
            .enumerate()
            .take(self.config.max_identities_tried)
        {
            let psk = match &self.keys {
                KeySource::Resolver => self.config.resolver.resolve(identity),
                KeySource::Provided(Some(p)) if p.identity() == *identity => Some(p.clone()),
                _ => None,
            };
            let Some(psk) = psk else { continue };
            let suite = match retry_suite {
                Some(s) => Some(s).filter(|s| psk.hash().matches(s)),
                None => common
                    .suites_for(psk.hash())
                    .find(|s| ch.cipher_suites.contains(&u16::from(s.common.suite))),
            };
            if let Some(suite) = suite {
                return Some(Chosen { index, psk, suite });
            }
        }
        None
    }

    /// Verifies the chosen identity's binder in constant time. Without a known identity the
    /// first binder is checked against a random key, so both failures take the same path.
    fn verify_binder(
        &self,
        ch: &codec::ClientHello<'_>,
        chosen: Option<Chosen>,
        prefix: Option<&Transcript>,
        truncated: &[u8],
    ) -> Result<(Chosen, EarlySecret), Error> {
        let offered = ch
            .psks
            .as_ref()
            .ok_or(Error::InvalidState("no PSK offered"))?;
        let (index, secret, suite) = match &chosen {
            Some(c) => (c.index, c.psk.secret().to_vec(), c.suite),
            None => {
                let suite = self
                    .config
                    .common
                    .suites
                    .first()
                    .copied()
                    .ok_or(Error::InvalidState("no cipher suite configured"))?;
                let mut decoy = vec![0u8; 32];
                let _ = self.config.common.provider.secure_random.fill(&mut decoy);
                (0, decoy, suite)
            }
        };
        let secret = zeroize::Zeroizing::new(secret);
        let early = binder_matches(offered.binders[index], &secret, suite, prefix, truncated);
        match (chosen, early) {
            (Some(c), Some(early)) => Ok((c, early)),
            (Some(_), None) => Err(Error::PskRejected(PskRejection::BadBinder)),
            (None, _) => Err(Error::PskRejected(PskRejection::UnknownIdentity)),
        }
    }

    fn send_hello_retry_request(
        &mut self,
        core: &mut ConnectionCommon,
        ch: &codec::ClientHello<'_>,
        message: &[u8],
        suite: &'static Tls13CipherSuite,
        group: &'static dyn rustls::crypto::SupportedKxGroup,
    ) -> Result<State, Error> {
        let hash = suite.common.hash_provider;
        let hrr = codec::encode_hello_retry_request(
            ch.session_id,
            u16::from(suite.common.suite),
            u16::from(group.name()),
        )?;
        let mut transcript = Transcript::default();
        transcript.add(&codec::message_hash(hash.hash(message).as_ref()));
        transcript.add(&hrr);
        transcript.start_hash(hash);
        core.send_handshake(&hrr)?;
        core.hello_retry = true;
        if ch.early_data {
            // The client may already have sent 0-RTT data, which nobody can decrypt now: skip
            // records of outer type application_data until ClientHello2 (RFC 8446 §4.2.10).
            core.record.skip_early_data(EARLY_DATA_SKIP_LIMIT);
        }
        if !ch.session_id.is_empty() {
            core.send_ccs_once();
        }
        Ok(State::ExpectClientHello(Some(Box::new(Retry {
            suite,
            group,
            hello1: HelloInvariants::of(ch),
            transcript,
        }))))
    }

    fn handle_finished(
        &mut self,
        core: &mut ConnectionCommon,
        st: ExpectFinished,
        body: &[u8],
    ) -> Result<State, Error> {
        let suite = Suite::of(st.suite);
        let expected = st
            .client_hs
            .verify_data(suite, st.transcript.current_hash(suite.hash).as_ref());
        if body.len() != expected.len() {
            return Err(codec::decode_error("Finished of the wrong length"));
        }
        if !bool::from(body.ct_eq(&expected)) {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::DecryptError,
                what: "client Finished does not verify",
            });
        }
        core.start_reading_app_data(st.suite, st.client_ap);
        core.complete_handshake();
        Ok(State::Done)
    }
}

/// Whether `binder` is the binder of `secret` over the truncated ClientHello (after `prefix`,
/// the HelloRetryRequest transcript), compared in constant time; if so, the early secret it
/// was computed with, which the key schedule goes on from.
fn binder_matches(
    binder: &[u8],
    secret: &[u8],
    suite: &'static Tls13CipherSuite,
    prefix: Option<&Transcript>,
    truncated: &[u8],
) -> Option<EarlySecret> {
    let s = Suite::of(suite);
    let th = match prefix {
        Some(t) => t.hash_with(s.hash, truncated),
        None => s.hash.hash(truncated),
    };
    let early = EarlySecret::new(s, secret);
    let expected = early.binder(th.as_ref());
    let ok = binder.len() == expected.len() && bool::from(binder.ct_eq(&expected));
    ok.then_some(early)
}

impl Handshake for ServerHandshake {
    fn handle(&mut self, core: &mut ConnectionCommon, message: &[u8]) -> Result<(), Error> {
        let (typ, body) = codec::split_handshake(message)?;
        let state = core::mem::replace(&mut self.state, State::Failed);
        let next = match (state, typ) {
            (State::ExpectClientHello(retry), hs::CLIENT_HELLO) => {
                self.handle_client_hello(core, retry, message, body)
            }
            (State::ExpectFinished(st), hs::FINISHED) => self.handle_finished(core, *st, body),
            (State::ExpectFinished(_), hs::END_OF_EARLY_DATA) => Err(unexpected(
                "EndOfEarlyData although early data was not accepted",
            )),
            (State::Failed, _) => Err(Error::InvalidState("the handshake has already failed")),
            _ => Err(unexpected("handshake message not expected in this state")),
        }?;
        self.state = next;
        Ok(())
    }

    fn paused(&self) -> bool {
        matches!(self.state, State::AwaitingKey(_))
    }
}
