//! The server state machine of a TLS 1.3 external-PSK handshake (RFC 8446 §2, §4).
//!
//! The server picks the first offered identity its resolver knows (and whose hash a common
//! suite uses), verifies that identity's binder in constant time, and answers with
//! `ServerHello [CCS] {EncryptedExtensions} {Finished}`.
//!
//! An unknown identity fails exactly like a wrong key (DESIGN §5): the first
//! `max_identities_tried` identities are always all looked up, and exactly one binder is
//! computed over the truncated ClientHello — the chosen key's, or, with no known identity, a
//! random key's of the hash the first binder's length names (an AEFPSK's SHA-256 for 32
//! octets) — so the resolver work, the hash work and the `decrypt_error` alert are the same.
//! Identities beyond `max_identities_tried` are ignored (RFC 8446 §4.2.11 leaves the choice to
//! the server); key shares for groups we do not use are checked for form only.
//!
//! Work before authentication is linear in the ClientHello's size: it is decoded once (a
//! deferred connection keeps the message and the decoded fields' positions, and does not
//! decode it again), and each client list is walked once, each entry looked up among our few
//! configured suites, groups or ALPN names or in a 2^16-bit set — no pairwise scans.
//!
//! Keys can come from a synchronous [`PskResolver`](crate::psk::PskResolver) in the config, or —
//! for keys that need I/O — the connection can pause after the ClientHello
//! ([`PskServerConnection::new_deferred`]) until the application supplies the key.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use rustls::{AlertDescription, Tls13CipherSuite};
use subtle::ConstantTimeEq;

use crate::error::{Error, PskRejection};
use crate::psk::codec::{self, hs, illegal, unexpected};
use crate::psk::config::{ExternalPsk, PskHash, PskServerConfig};
use crate::psk::conn::{
    ConnectionCommon, Handshake, IoState, KeyExchangeMode, Side, EARLY_DATA_SKIP_LIMIT,
};
use crate::psk::importer::{import_with_identity, Interpretation, TargetKdf};
use crate::psk::key_schedule::{EarlySecret, Suite, TrafficSecret, Transcript};
use crate::psk::tls12::{self, server::Server12};

/// A server-side TLS 1.3 external-PSK connection (sans-IO). See
/// [`PskClientConnection`](crate::psk::PskClientConnection) for how to drive it.
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
    /// A TLS 1.2 connection stops after the ClientKeyExchange instead, which is where TLS 1.2
    /// carries the identity (the server's first flight goes out before any lookup).
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
        let import_kdfs = config
            .importer
            .as_ref()
            .map(|i| i.target_kdfs(&config.common.suites))
            .unwrap_or_default();
        Self {
            core: ConnectionCommon::new(Side::Server),
            state: ServerHandshake {
                config,
                keys,
                state: State::ExpectClientHello(None),
                identity: None,
                imported: false,
                server_name: None,
                import_kdfs,
            },
        }
    }

    /// Processes TLS bytes received with `read_tls`. On error a fatal alert is queued (send it
    /// with `write_tls`) and the connection is unusable.
    pub fn process_new_packets(&mut self) -> Result<IoState, Error> {
        self.core.process(&mut self.state)
    }

    /// The identities the client offered, while a deferred connection waits for a key. With
    /// an importer ([`PskServerConfig::with_psk_importer`](crate::psk::PskServerConfig::with_psk_importer)),
    /// the external identities of the acceptable imported identities (and the plain ones if
    /// accepted): the identities to look a key up for. (TLS 1.2: the identity of the
    /// ClientKeyExchange, where a TLS 1.2 connection waits.)
    pub fn offered_psk_identities(&self) -> Option<&[Vec<u8>]> {
        match &self.state.state {
            State::AwaitingKey(w) => Some(&w.identities),
            State::Tls12(h) => h.awaited_identities(),
            _ => None,
        }
    }

    /// The one identity to look a key up for, while a deferred connection waits for a key: the
    /// first of [`offered_psk_identities`](Self::offered_psk_identities).
    ///
    /// This is the crate's pre-authentication policy for deferred lookups (what
    /// `PskAcceptor` (feature `tokio`) does; a sans-IO caller should do the same): one key
    /// lookup per handshake, whatever the client offers, so that a ClientHello with many
    /// made-up identities costs the key store (a CCF over CAPIF-3, say) no more than one with a
    /// single identity. RFC 8446 §4.2.11 lets the server choose among the offered PSKs, and a
    /// CAPIF invoker offers one (its API invoker ID), so nothing is lost; a client whose first
    /// identity is not known fails exactly like a wrong key.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use rustls_capif::psk::*;
    /// # fn lookup(_: &[u8]) -> Option<ExternalPsk> { None }
    /// # fn demo(conn: &mut PskServerConnection) -> Result<(), rustls_capif::Error> {
    /// if conn.is_awaiting_psk() {
    ///     let psk = conn.psk_identity_to_resolve().and_then(lookup);
    ///     conn.provide_psk(psk)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn psk_identity_to_resolve(&self) -> Option<&[u8]> {
        self.offered_psk_identities()?.first().map(Vec::as_slice)
    }

    /// Refuses the handshake of a deferred connection whose key could not be looked up (the key
    /// store is unreachable: fail closed), at once and with the alert an unknown identity
    /// gets (`decrypt_error`), in TLS 1.3 and TLS 1.2 alike. (Given `None`,
    /// [`provide_psk`](Self::provide_psk) on TLS 1.2 goes on with a random key until the
    /// client's Finished, which hides an unknown identity; a failed lookup is the server's own
    /// failure and has nothing to hide.) Returns the error to report; not waiting for a key,
    /// [`Error::InvalidState`].
    pub fn refuse_psk(&mut self) -> Error {
        if !self.is_awaiting_psk() {
            return Error::InvalidState("refuse_psk without a deferred key lookup");
        }
        self.core
            .fail(Error::PskRejected(PskRejection::UnknownIdentity))
    }

    /// Whether `error`, the failure of this connection's handshake, says that the key given to
    /// [`provide_psk`](Self::provide_psk) may be stale (the invoker has a newer one): a TLS 1.2
    /// handshake whose client Finished did not verify under it. TLS 1.2 has no binder, so
    /// this is the first sign; a caching key store should then fetch that identity's key again
    /// (rate-limited) for the client's next handshake. TLS 1.3 tells before the handshake
    /// fails ([`offered_psk_matches`](Self::offered_psk_matches)), so this is `false` there.
    pub fn provided_key_may_be_stale(&self, error: &Error) -> bool {
        matches!(error, Error::PskRejected(PskRejection::WrongKey))
            && self.core.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2)
    }

    /// Whether a deferred connection waits for [`provide_psk`](Self::provide_psk).
    pub fn is_awaiting_psk(&self) -> bool {
        self.state.paused()
    }

    /// While waiting for a key: whether `psk` matches the binder the client sent for its
    /// identity, checked without committing to it. A key cache uses this to notice a stale
    /// entry (the invoker has a newer AEFPSK) and fetch again before
    /// [`provide_psk`](Self::provide_psk).
    ///
    /// TLS 1.2 has no binder: nothing proves the client's key before its Finished, so a TLS
    /// 1.2 connection answers `true` for a key of the awaited identity (a stale key then
    /// fails the handshake like any wrong key).
    pub fn offered_psk_matches(&self, psk: &ExternalPsk) -> bool {
        if let State::Tls12(h) = &self.state.state {
            return h
                .awaited_identities()
                .is_some_and(|ids| ids.iter().any(|id| id == psk.identity()));
        }
        let State::AwaitingKey(waiting) = &self.state.state else {
            return false;
        };
        let message = &waiting.client_hello;
        let ch = waiting.hello.view(message);
        let Some(offered) = ch.psks.as_ref() else {
            return false;
        };
        let hs = &self.state;
        let Some((index, psk)) = offered
            .identities()
            .take(hs.config.max_identities_tried)
            .enumerate()
            .find_map(|(i, (id, _))| {
                let how = hs.interpret(id)?;
                (how.lookup_name() == psk.identity()).then(|| (i, hs.effective_psk(psk, how, id)))
            })
        else {
            return false;
        };
        let Some(psk) = psk else {
            return false;
        };
        let Some(suite) = self.state.suite_for(
            psk.hash(),
            waiting.offered_suites,
            waiting.retry.as_ref().map(|r| r.suite),
        ) else {
            return false;
        };
        let Some(binder) = offered.binder(index) else {
            return false;
        };
        let truncated = &message[..message.len() - ch.binders_len];
        let prefix = waiting.retry.as_ref().map(|r| &r.transcript);
        binder_matches(binder, &psk, suite, prefix, truncated).is_some()
    }

    /// Supplies the key for one of the offered identities (`None`: none is known, which fails
    /// the handshake exactly like a wrong key), and continues the handshake with the
    /// ClientHello decoded when it arrived. Call `process_new_packets` afterwards for any
    /// records that arrived meanwhile.
    pub fn provide_psk(&mut self, psk: Option<ExternalPsk>) -> Result<IoState, Error> {
        if let State::Tls12(h) = &mut self.state.state {
            if h.is_awaiting_key() {
                let resumed = self.core.resume_handshake(|core| h.provide_psk(core, psk));
                if let Err(e) = resumed {
                    self.state.state = State::Failed;
                    return Err(self.core.fail(e));
                }
                return self.process_new_packets();
            }
        }
        let State::AwaitingKey(waiting) = core::mem::replace(&mut self.state.state, State::Failed)
        else {
            return Err(Error::InvalidState(
                "the connection is not waiting for a PSK",
            ));
        };
        self.state.keys = KeySource::Provided(psk);
        let AwaitingKey {
            client_hello,
            hello,
            offered_suites,
            retry,
            ..
        } = *waiting;
        let ch = hello.view(&client_hello);
        let hs = &mut self.state;
        let resumed = self.core.resume_handshake(|core| {
            hs.state = hs.answer_client_hello(core, retry, &client_hello, &ch, offered_suites)?;
            Ok(())
        });
        if let Err(e) = resumed {
            return Err(self.core.fail(e));
        }
        self.process_new_packets()
    }

    /// The identity of the PSK that authenticated the client (once the ClientHello has been
    /// accepted; the handshake is authenticated when it completes). For an RFC 9258 imported
    /// PSK, the external identity (the one the resolver was asked about).
    pub fn psk_identity(&self) -> Option<&[u8]> {
        match &self.state.state {
            State::Tls12(h) => h.identity(),
            _ => self.state.identity.as_deref(),
        }
    }

    /// Whether the accepted PSK is an RFC 9258 imported one.
    pub fn psk_is_imported(&self) -> bool {
        self.state.imported && self.state.identity.is_some()
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
/// early_data, cookie, pre_shared_key and padding may change, and only as the HRR asks), as
/// their encodings: each check is one comparison of octet strings.
struct HelloInvariants {
    session_id: Vec<u8>,
    random: [u8; 32],
    cipher_suites: Vec<u8>,
    supported_groups: Option<Vec<u8>>,
    psk_modes: Option<Vec<u8>>,
    alpn: Option<Vec<u8>>,
    server_name: Option<Vec<u8>>,
}

impl HelloInvariants {
    fn of(ch: &codec::ClientHello<'_>) -> Self {
        Self {
            session_id: ch.session_id.to_vec(),
            random: ch.random,
            cipher_suites: ch.cipher_suites.as_bytes().to_vec(),
            supported_groups: ch.supported_groups.map(|g| g.as_bytes().to_vec()),
            psk_modes: ch.psk_modes.map(<[u8]>::to_vec),
            alpn: ch.alpn.map(|a| a.as_bytes().to_vec()),
            server_name: ch.server_name.map(<[u8]>::to_vec),
        }
    }

    /// Checks ClientHello2 against ClientHello1 (illegal_parameter on any change).
    fn check(&self, ch2: &codec::ClientHello<'_>) -> Result<(), Error> {
        let checks = [
            (
                ch2.session_id == self.session_id.as_slice(),
                "ClientHello2 changed legacy_session_id",
            ),
            (ch2.random == self.random, "ClientHello2 changed random"),
            (
                ch2.cipher_suites.as_bytes() == self.cipher_suites.as_slice(),
                "ClientHello2 changed cipher_suites",
            ),
            (
                ch2.supported_groups.map(|g| g.as_bytes()) == self.supported_groups.as_deref(),
                "ClientHello2 changed supported_groups",
            ),
            (
                ch2.psk_modes == self.psk_modes.as_deref(),
                "ClientHello2 changed psk_key_exchange_modes",
            ),
            (
                ch2.alpn.map(|a| a.as_bytes()) == self.alpn.as_deref(),
                "ClientHello2 changed the ALPN protocols",
            ),
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

/// A deferred connection's ClientHello while the application looks its key up: the message
/// and where its fields lie (decoded once, when it arrived).
struct AwaitingKey {
    client_hello: Vec<u8>,
    hello: codec::ClientHelloSpans,
    offered_suites: SuiteSet,
    identities: Vec<Vec<u8>>,
    retry: Option<Box<Retry>>,
}

/// Which of the configured suites (by index in the config, the first 64) the client offers.
type SuiteSet = u64;

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
    /// The ClientHello chose TLS 1.2: the rest is [`Server12`]'s.
    Tls12(Box<Server12>),
    Done,
    Failed,
}

pub(crate) struct ServerHandshake {
    config: Arc<PskServerConfig>,
    keys: KeySource,
    state: State,
    identity: Option<Vec<u8>>,
    imported: bool,
    server_name: Option<String>,
    /// The target KDFs an importing server accepts (empty without an importer).
    import_kdfs: Vec<TargetKdf>,
}

/// The outcome of PSK selection.
struct Chosen {
    index: usize,
    psk: ExternalPsk,
    suite: &'static Tls13CipherSuite,
}

impl ServerHandshake {
    /// Decodes the ClientHello (the only time it is decoded), checks everything that does not
    /// depend on a key, and either answers it or — deferred — waits for the key.
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
        // TLS 1.2 (when enabled) if the client offers it and not TLS 1.3 we speak.
        let versions = &self.config.common.versions;
        if retry.is_none()
            && ch.legacy_version > codec::SSL3
            && tls12::server_picks_tls12(&ch, versions)
        {
            self.server_name = server_name_of(&ch)?;
            let deferred = matches!(self.keys, KeySource::Deferred);
            let h = Server12::start(self.config.clone(), deferred, core, message, &ch)?;
            return Ok(State::Tls12(Box::new(h)));
        }
        let offers_tls13 = ch
            .supported_versions
            .as_ref()
            .is_some_and(|v| v.contains(codec::TLS13));
        if !offers_tls13 || !versions.tls13 || ch.legacy_version <= codec::SSL3 {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::ProtocolVersion,
                what: "client does not offer a protocol version we have enabled",
            });
        }
        if ch.compression_methods != [0] {
            return Err(illegal("legacy_compression_methods is not exactly [null]"));
        }
        // No suite in common at all says nothing about the offered identities: answer it as
        // such (handshake_failure) instead of letting PSK selection find no usable key.
        let offered_suites = self.offered_suites(&ch);
        if offered_suites == 0 {
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
        if ch.psk_modes.is_none() {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::MissingExtension,
                what: "pre_shared_key without psk_key_exchange_modes",
            });
        }
        if ch.key_shares.is_some() != ch.supported_groups.is_some() {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::MissingExtension,
                what: "key_share and supported_groups must come together",
            });
        }
        if let (Some(shares), Some(groups)) = (&ch.key_shares, &ch.supported_groups) {
            // One pass over each list (RFC 8446 §4.2.8: a share's group must be offered).
            let mut offered_groups = codec::CodeSet::new();
            for g in groups.iter() {
                offered_groups.insert(g);
            }
            if shares.iter().any(|(g, _)| !offered_groups.contains(g)) {
                return Err(illegal("key share for a group not in supported_groups"));
            }
        }
        if let Some(r) = &retry {
            r.hello1.check(&ch)?;
        }
        self.server_name = server_name_of(&ch)?;

        // A deferred connection stops here until the application has looked the key up; it
        // keeps the message and where the decoded fields lie in it.
        if matches!(self.keys, KeySource::Deferred) {
            let max = self.config.max_identities_tried;
            return Ok(State::AwaitingKey(Box::new(AwaitingKey {
                client_hello: message.to_vec(),
                hello: ch.spans(message),
                offered_suites,
                identities: offered
                    .identities()
                    .take(max)
                    .filter_map(|(id, _)| self.interpret(id))
                    .map(|how| how.lookup_name().to_vec())
                    .collect(),
                retry,
            })));
        }
        self.answer_client_hello(core, retry, message, &ch, offered_suites)
    }

    /// Which configured suites the client offers: one pass over its list.
    fn offered_suites(&self, ch: &codec::ClientHello<'_>) -> SuiteSet {
        // Our code points, converted once (not once per client entry).
        let ours: Vec<u16> = self
            .config
            .common
            .suites
            .iter()
            .map(|s| u16::from(s.common.suite))
            .collect();
        let mut set: SuiteSet = 0;
        for v in ch.cipher_suites.iter() {
            codec::work::add(ours.len());
            if let Some(i) = ours.iter().position(|s| *s == v) {
                if i < 64 {
                    set |= 1 << i;
                }
            }
        }
        set
    }

    /// The suite a key of `hash` uses: the HelloRetryRequest's, or our first configured one
    /// of that hash that the client offers.
    fn suite_for(
        &self,
        hash: PskHash,
        offered_suites: SuiteSet,
        retry_suite: Option<&'static Tls13CipherSuite>,
    ) -> Option<&'static Tls13CipherSuite> {
        match retry_suite {
            Some(s) => Some(s).filter(|s| hash.matches(s)),
            None => self
                .config
                .common
                .suites
                .iter()
                .enumerate()
                .find(|(i, s)| *i < 64 && offered_suites & (1 << i) != 0 && hash.matches(s))
                .map(|(_, s)| *s),
        }
    }

    /// Everything after the key-independent checks: PSK selection and binder, key exchange,
    /// and the server's flight.
    fn answer_client_hello(
        &mut self,
        core: &mut ConnectionCommon,
        retry: Option<Box<Retry>>,
        message: &[u8],
        ch: &codec::ClientHello<'_>,
        offered_suites: SuiteSet,
    ) -> Result<State, Error> {
        let modes = ch.psk_modes.unwrap_or_default();
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
        let retry_suite = retry.map(|(suite, _)| suite);
        let chosen = self.choose_psk(ch, offered_suites, retry_suite);
        let truncated = &message[..message.len() - ch.binders_len];
        let (chosen, early) = self.verify_binder(
            ch,
            chosen,
            offered_suites,
            retry_suite,
            prefix.as_ref(),
            truncated,
        )?;

        // Key-exchange mode and group: one pass over the client's shares (and, failing that,
        // over its groups), each entry looked up among our few configured groups.
        let mut dhe = None;
        if client_dhe && common.modes.allows_dhe() {
            let ours = &common.groups;
            // Our code points, converted once (not once per client entry).
            let codes: Vec<u16> = ours.iter().map(|g| u16::from(g.name())).collect();
            let our_index = |name: u16| {
                codec::work::add(codes.len());
                codes.iter().position(|c| *c == name)
            };
            if let Some((_, group)) = retry {
                let mut shares = ch.key_shares.iter().flat_map(|k| k.iter());
                match (shares.next(), shares.next()) {
                    (Some((g, key)), None) if g == u16::from(group.name()) => {
                        dhe = Some((group, key))
                    }
                    _ => {
                        return Err(illegal(
                            "ClientHello2 lacks exactly one share for the requested group",
                        ))
                    }
                }
            } else {
                let mut best: Option<(usize, &[u8])> = None;
                for (name, key) in ch.key_shares.iter().flat_map(|k| k.iter()) {
                    if let Some(i) = our_index(name) {
                        if best.is_none_or(|(b, _)| i < b) {
                            best = Some((i, key));
                        }
                    }
                }
                if let Some((i, key)) = best {
                    dhe = Some((ours[i], key));
                } else {
                    let best_group = ch
                        .supported_groups
                        .iter()
                        .flat_map(|g| g.iter())
                        .filter_map(our_index)
                        .min();
                    if let Some(i) = best_group {
                        // A common group without a share: ask for one (HelloRetryRequest).
                        let (suite, group) = (chosen.suite, ours[i]);
                        return self.send_hello_retry_request(core, ch, message, suite, group);
                    }
                }
            }
        }
        if dhe.is_none() && !(client_ke && common.modes.allows_psk_only()) {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::HandshakeFailure,
                what: "no common PSK key-exchange mode and group",
            });
        }

        // ALPN (RFC 7301 §3.2): our most preferred protocol the client offers, in one pass.
        let alpn = match (&ch.alpn, common.alpn_protocols.is_empty()) {
            (Some(offered), false) => {
                let ours = &common.alpn_protocols;
                let best = offered
                    .iter()
                    .filter_map(|p| {
                        codec::work::add(ours.len());
                        ours.iter().position(|o| o.as_slice() == p)
                    })
                    .min();
                Some(
                    best.map(|i| ours[i].clone())
                        .ok_or(Error::PeerIncompatible {
                            alert: AlertDescription::NoApplicationProtocol,
                            what: "no common ALPN protocol",
                        })?,
                )
            }
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
        self.identity = Some(chosen.psk.external_identity().to_vec());
        self.imported = chosen.psk.is_imported();

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
    ///
    /// The first `max_identities_tried` identities are all looked up, whichever of them (if
    /// any) is known: the resolver's work does not depend on where a known identity is
    /// (DESIGN §5). Identities beyond that number are ignored (RFC 8446 §4.2.11 lets the
    /// server choose; they were only checked for well-formedness by the decoder).
    fn choose_psk(
        &self,
        ch: &codec::ClientHello<'_>,
        offered_suites: SuiteSet,
        retry_suite: Option<&'static Tls13CipherSuite>,
    ) -> Option<Chosen> {
        let offered = ch.psks.as_ref()?;
        let mut chosen = None;
        for (index, (identity, _age)) in offered
            .identities()
            .enumerate()
            .take(self.config.max_identities_tried)
        {
            let Some(how) = self.interpret(identity) else {
                continue;
            };
            let name = how.lookup_name();
            let psk = match &self.keys {
                KeySource::Resolver => self.config.resolver.resolve(name),
                KeySource::Provided(Some(p)) if p.identity() == name => Some(p.clone()),
                _ => None,
            };
            let Some(psk) = psk else { continue };
            if chosen.is_some() {
                continue;
            }
            let Some(psk) = self.effective_psk(&psk, how, identity) else {
                continue;
            };
            if let Some(suite) = self.suite_for(psk.hash(), offered_suites, retry_suite) {
                chosen = Some(Chosen { index, psk, suite });
            }
        }
        chosen
    }

    /// How an offered identity is read: plain without an importer, else as the importer
    /// says (`None`: not an identity this server can know).
    fn interpret<'a>(&self, identity: &'a [u8]) -> Option<Interpretation<'a>> {
        match &self.config.importer {
            None => Some(Interpretation::Plain(identity)),
            Some(importer) => importer.interpret(identity, &self.import_kdfs),
        }
    }

    /// The PSK the handshake uses for a resolved key: the key itself for a plain identity,
    /// the RFC 9258 import of it for an imported one (`None` if it cannot be imported).
    fn effective_psk(
        &self,
        resolved: &ExternalPsk,
        how: Interpretation<'_>,
        offered_identity: &[u8],
    ) -> Option<ExternalPsk> {
        match how {
            Interpretation::Plain(_) => Some(resolved.clone()),
            Interpretation::Imported { kdf, .. } => import_with_identity(
                resolved,
                offered_identity.to_vec(),
                kdf,
                &self.config.common.provider,
            )
            .ok(),
        }
    }

    /// Verifies the chosen identity's binder in constant time. Without a known identity the
    /// first binder is checked against a random key of the hash that binder's length names
    /// (SHA-384 for 48 octets, else SHA-256 — an AEFPSK's), with the suite a real key of that
    /// hash would get: one binder computation over the same transcript either way, so an
    /// unknown identity fails exactly like a wrong key, in work as on the wire.
    fn verify_binder(
        &self,
        ch: &codec::ClientHello<'_>,
        chosen: Option<Chosen>,
        offered_suites: SuiteSet,
        retry_suite: Option<&'static Tls13CipherSuite>,
        prefix: Option<&Transcript>,
        truncated: &[u8],
    ) -> Result<(Chosen, EarlySecret), Error> {
        let offered = ch
            .psks
            .as_ref()
            .ok_or(Error::InvalidState("no PSK offered"))?;
        // Drawn whether or not it is used, so a known identity costs the same.
        let mut decoy = zeroize::Zeroizing::new([0u8; 48]);
        let _ = self
            .config
            .common
            .provider
            .secure_random
            .fill(&mut decoy[..]);
        let decoy_psk;
        let (index, psk, suite) = match &chosen {
            Some(c) => (c.index, &c.psk, c.suite),
            None => {
                let hash = match offered.binder(0).map(<[u8]>::len) {
                    Some(48) => PskHash::Sha384,
                    _ => PskHash::Sha256,
                };
                let suite = self
                    .suite_for(hash, offered_suites, retry_suite)
                    .or(retry_suite)
                    .or_else(|| self.config.common.suites.first().copied())
                    .ok_or(Error::InvalidState("no cipher suite configured"))?;
                let decoy_key = ExternalPsk::new(b"-".to_vec(), &decoy[..hash.output_len()], hash)?;
                // An identity read as imported costs a known one an import: so does the decoy.
                let first = offered.identities().next().map(|(id, _)| id);
                decoy_psk = match first.and_then(|id| Some((id, self.interpret(id)?))) {
                    Some((id, how @ Interpretation::Imported { .. })) => {
                        let epsk = ExternalPsk::new(
                            how.lookup_name().to_vec(),
                            &decoy[..32],
                            PskHash::Sha256,
                        )?;
                        self.effective_psk(&epsk, how, id).unwrap_or(decoy_key)
                    }
                    _ => decoy_key,
                };
                (0, &decoy_psk, suite)
            }
        };
        let binder = offered
            .binder(index)
            .ok_or(Error::InvalidState("no binder for the chosen identity"))?;
        let early = binder_matches(binder, psk, suite, prefix, truncated);
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

/// The DNS host name of the ClientHello's server_name extension, lowercased.
fn server_name_of(ch: &codec::ClientHello<'_>) -> Result<Option<String>, Error> {
    Ok(match ch.server_name {
        None => None,
        Some(name) => {
            let name = core::str::from_utf8(name)
                .ok()
                .filter(|n| rustls_pki_types::DnsName::try_from(*n).is_ok())
                .ok_or_else(|| illegal("server_name is not a DNS host name"))?;
            Some(name.to_ascii_lowercase())
        }
    })
}

/// Whether `binder` is the binder of `secret` over the truncated ClientHello (after `prefix`,
/// the HelloRetryRequest transcript), compared in constant time; if so, the early secret it
/// was computed with, which the key schedule goes on from.
fn binder_matches(
    binder: &[u8],
    psk: &ExternalPsk,
    suite: &'static Tls13CipherSuite,
    prefix: Option<&Transcript>,
    truncated: &[u8],
) -> Option<EarlySecret> {
    let s = Suite::of(suite);
    codec::work::add(truncated.len() / 64 + 1);
    let th = match prefix {
        Some(t) => t.hash_with(s.hash, truncated),
        None => s.hash.hash(truncated),
    };
    let early = EarlySecret::of_psk(s, psk);
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
            (State::Tls12(mut h), _) => h.handle(core, message).map(|()| State::Tls12(h)),
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
        match &self.state {
            State::AwaitingKey(_) => true,
            State::Tls12(h) => h.is_awaiting_key(),
            _ => false,
        }
    }

    fn decrypt_failed(&self) -> Option<Error> {
        match &self.state {
            State::Tls12(h) => h.decrypt_failed(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Work per ClientHello (issue 10 §1), counted with `codec::work` rather than timed: every
    //! maximal hostile shape must stay within a fixed multiple of its size, and a deferred
    //! connection must not decode its ClientHello again.

    use super::*;
    use crate::psk::fuzzing::work_budget;
    use crate::psk::StaticPskResolver;
    use codec::{ext, Writer};

    const BODY_LEN: usize = 0xffff;

    fn config() -> Arc<PskServerConfig> {
        let known = ExternalPsk::new(b"invoker-1".to_vec(), &[0x42; 32], PskHash::Sha256).unwrap();
        let keys: StaticPskResolver = [known].into_iter().collect();
        Arc::new(PskServerConfig::new(Arc::new(keys)))
    }

    #[derive(Clone, Copy, Debug)]
    enum Shape {
        Padding,
        KeyShares,
        Groups,
        Identities,
        Extensions,
        Suites,
        Alpn,
    }

    /// A ClientHello message of exactly `BODY_LEN` octets of body: `shape` fills most of it,
    /// one padding extension the rest. The identities are unknown to the server.
    fn client_hello(shape: Shape) -> Vec<u8> {
        let build = |fill: usize| {
            let n = fill;
            let mut w = Writer::new();
            w.handshake(hs::CLIENT_HELLO, |w| {
                w.u16(codec::TLS12).bytes(&[7; 32]);
                w.vec8(|w| {
                    w.bytes(&[1; 32]);
                });
                w.vec16(|w| {
                    if let Shape::Suites = shape {
                        for i in 0..n {
                            w.u16(0x2000 + i as u16);
                        }
                    }
                    w.u16(0x1301).u16(0x1302).u16(0x1303);
                });
                w.vec8(|w| {
                    w.u8(0);
                });
                w.vec16(|w| {
                    w.extension(ext::SUPPORTED_VERSIONS, |w| {
                        w.vec8(|w| {
                            w.u16(codec::TLS13);
                        });
                    });
                    let groups = if let Shape::KeyShares | Shape::Groups = shape {
                        n
                    } else {
                        0
                    };
                    w.extension(ext::SUPPORTED_GROUPS, |w| {
                        w.vec16(|w| {
                            for i in 0..groups {
                                w.u16(0x2000 + i as u16);
                            }
                            w.u16(0x001d);
                        });
                    });
                    w.extension(ext::KEY_SHARE, |w| {
                        w.vec16(|w| {
                            if let Shape::KeyShares = shape {
                                for i in 0..n {
                                    w.u16(0x2000 + i as u16).vec16(|w| {
                                        w.u8(1);
                                    });
                                }
                            }
                            w.u16(0x001d).vec16(|w| {
                                w.bytes(&[9; 32]);
                            });
                        });
                    });
                    if let Shape::Alpn = shape {
                        w.extension(ext::ALPN, |w| {
                            w.vec16(|w| {
                                for i in 0..n {
                                    w.vec8(|w| {
                                        w.u8(i as u8 | 1);
                                    });
                                }
                            });
                        });
                    }
                    if let Shape::Extensions = shape {
                        for i in 0..n {
                            w.extension(0x2000 + i as u16, |_| {});
                        }
                    }
                    w.extension(ext::PSK_KEY_EXCHANGE_MODES, |w| {
                        w.vec8(|w| {
                            w.u8(codec::PSK_DHE_KE);
                        });
                    });
                    if let Shape::Padding = shape {
                        w.extension(21, |w| {
                            w.bytes(&vec![0; n]);
                        });
                    }
                    w.extension(ext::PRE_SHARED_KEY, |w| {
                        let ids = if let Shape::Identities = shape { n } else { 1 };
                        w.vec16(|w| {
                            for i in 0..ids {
                                w.vec16(|w| {
                                    w.bytes(b"unknown-").u32(i as u32);
                                })
                                .u32(0);
                            }
                        });
                        w.vec16(|w| {
                            for _ in 0..ids {
                                w.vec8(|w| {
                                    w.bytes(&[0xab; 32]);
                                });
                            }
                        });
                    });
                });
            });
            w.finish().ok()
        };
        // The largest fill that fits.
        let (mut lo, mut hi) = (0usize, BODY_LEN);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if build(mid).is_some_and(|m| m.len() <= 4 + BODY_LEN) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let message = build(lo).unwrap();
        assert!(
            message.len() > 4 + BODY_LEN - 64,
            "{shape:?}: {}",
            message.len()
        );
        message
    }

    /// `message` as plaintext handshake records of at most `fragment` octets.
    fn records(message: &[u8], fragment: usize) -> Vec<u8> {
        message
            .chunks(fragment)
            .flat_map(|c| {
                let mut r = vec![22, 3, 3];
                r.extend_from_slice(&(c.len() as u16).to_be_bytes());
                r.extend_from_slice(c);
                r
            })
            .collect()
    }

    /// Feeds `wire` to `server` and returns the error it ends with.
    fn run(server: &mut PskServerConnection, mut wire: &[u8]) -> Result<IoState, Error> {
        loop {
            if !wire.is_empty() {
                server.read_tls(&mut wire).unwrap();
            }
            let state = server.process_new_packets();
            if state.is_err() || wire.is_empty() {
                return state;
            }
        }
    }

    #[test]
    fn hostile_client_hellos_cost_work_linear_in_their_size() {
        let config = config();
        for shape in [
            Shape::Padding,
            Shape::KeyShares,
            Shape::Groups,
            Shape::Identities,
            Shape::Extensions,
            Shape::Suites,
            Shape::Alpn,
        ] {
            let wire = records(&client_hello(shape), 16384);
            let mut server = PskServerConnection::new(config.clone());
            codec::work::take();
            let err = run(&mut server, &wire).unwrap_err();
            let work = codec::work::take();
            assert_eq!(
                err.alert(),
                Some(AlertDescription::DecryptError),
                "{shape:?}: {err}"
            );
            assert!(
                work <= work_budget(wire.len()),
                "{shape:?}: {work} units of work for {} octets (budget {})",
                wire.len(),
                work_budget(wire.len())
            );
        }
    }

    #[test]
    fn deep_fragmentation_is_refused_early_and_moderate_fragmentation_accepted() {
        let config = config();
        let message = client_hello(Shape::Padding);
        // One-octet records of a 64 KiB message: refused long before the message is complete.
        let wire = records(&message, 1);
        let mut server = PskServerConnection::new(config.clone());
        codec::work::take();
        let err = run(&mut server, &wire).unwrap_err();
        assert_eq!(
            err.alert(),
            Some(AlertDescription::UnexpectedMessage),
            "{err}"
        );
        assert!(codec::work::take() <= work_budget(message.len()));
        // 32-octet records of the same message reach the binder check (decrypt_error).
        let mut server = PskServerConnection::new(config.clone());
        let err = run(&mut server, &records(&message, 32)).unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::DecryptError), "{err}");
        // A small ClientHello may come one octet per record.
        let psk = ExternalPsk::new(b"invoker-1".to_vec(), &[0x42; 32], PskHash::Sha256).unwrap();
        let mut client = crate::psk::PskClientConnection::new(Arc::new(
            crate::psk::PskClientConfig::new(psk)
                .with_groups(&[rustls::NamedGroup::X25519])
                .unwrap(),
        ))
        .unwrap();
        let mut hello = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut hello).unwrap();
        }
        let mut server = PskServerConnection::new(config);
        run(&mut server, &records(&hello[5..], 1)).unwrap();
        assert!(server.wants_write(), "the server answered");
        assert_eq!(server.psk_identity(), Some(&b"invoker-1"[..]));
    }

    /// A TLS 1.2 ClientHello (no supported_versions) with `junk` unknown extensions besides
    /// the ones a TLS 1.2 PSK server needs.
    fn tls12_client_hello(junk: usize) -> Vec<u8> {
        let mut w = Writer::new();
        w.handshake(hs::CLIENT_HELLO, |w| {
            w.u16(codec::TLS12).bytes(&[7; 32]);
            w.vec8(|_| {});
            w.vec16(|w| {
                w.u16(0xccac);
            });
            w.vec8(|w| {
                w.u8(0);
            });
            w.vec16(|w| {
                w.extension(ext::SUPPORTED_GROUPS, |w| {
                    w.vec16(|w| {
                        w.u16(0x001d);
                    });
                });
                for i in 0..junk {
                    w.extension(0x2000 + i as u16, |_| {});
                }
                crate::psk::tls12::codec::extensions_12(w, true, true);
            });
        });
        w.finish().unwrap()
    }

    /// The TLS 1.2 server reads extended_master_secret, renegotiation_info and
    /// ec_point_formats from the one decoding pass over the ClientHello: answering a hello
    /// with thousands of extensions costs little more than decoding it once (a second walk
    /// over the block would double it), and stays within the work budget.
    #[test]
    fn a_tls12_server_walks_the_client_hello_extensions_once() {
        let message = tls12_client_hello(16_000);
        assert!(message.len() > 60_000);
        let (_, body) = codec::split_handshake(&message).unwrap();
        codec::work::take();
        let ch = codec::ClientHello::decode(body).unwrap();
        let decode_work = codec::work::take();
        assert!(ch.tls12.extended_master_secret);

        let config =
            Arc::new(PskServerConfig::new(Arc::new(StaticPskResolver::default())).with_tls12(true));
        let mut server = PskServerConnection::new(config);
        let wire = records(&message, 16384);
        codec::work::take();
        run(&mut server, &wire).unwrap();
        let server_work = codec::work::take();
        assert_eq!(
            server.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        assert!(server.wants_write(), "the server answered");
        assert!(
            server_work * 10 <= decode_work * 13,
            "server {server_work} vs one decode {decode_work} units"
        );
        assert!(server_work <= work_budget(wire.len()));
    }

    #[test]
    fn a_deferred_connection_decodes_its_client_hello_once() {
        let message = client_hello(Shape::Extensions);
        let wire = records(&message, 16384);
        let mut sync = PskServerConnection::new(config());
        codec::work::take();
        let _ = run(&mut sync, &wire);
        let sync_work = codec::work::take();

        let mut deferred = PskServerConnection::new_deferred(config());
        run(&mut deferred, &wire).unwrap();
        assert!(deferred.is_awaiting_psk());
        let unknown = ExternalPsk::new(b"unknown-x".to_vec(), &[1; 32], PskHash::Sha256).unwrap();
        assert!(!deferred.offered_psk_matches(&unknown));
        let err = deferred.provide_psk(None).unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::DecryptError), "{err}");
        let deferred_work = codec::work::take();
        // Decoding this hello is most of the work: a second decode would double it.
        assert!(
            deferred_work * 10 <= sync_work * 13,
            "deferred {deferred_work} vs sync {sync_work} units"
        );
    }
}
