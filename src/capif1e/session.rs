//! [`Capif1eSession`]: what a finished CAPIF-1e handshake leaves for AEFPSK derivation.

use core::fmt;

use std::sync::Arc;

use rustls::crypto::tls13::OkmBlock;
use rustls::{
    ConnectionCommon, HandshakeKind, ProtocolVersion, SupportedCipherSuite, Tls13CipherSuite,
};
use zeroize::Zeroizing;

use super::keylog::{ConnectionKeyLog, ExporterSecret, MasterSecret, MASTER_SECRET_LEN};
use super::tap::{HelloTap, HelloTaps, TapState};
use crate::error::Error;
use crate::kdf::{derive_aefpsk, ServiceApiInterface};
use crate::secret::AefPsk;

/// Exporter label of this crate's TLS 1.3 profile (RFC 8446 §7.5): the Annex A.1 `Key` of a
/// TLS 1.3 CAPIF-1e session is `TLS-Exporter(TLS13_EXPORTER_LABEL, "", 32)`.
pub const TLS13_EXPORTER_LABEL: &[u8] = b"EXPORTER-3GPP-CAPIF-AEFPSK";

/// Length in octets of the TLS 1.3 exporter value used as the Annex A.1 `Key`.
pub const TLS13_EXPORTER_LEN: usize = 32;

/// The CAPIF-1e policy options shared by the invoker and CCF wrappers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) profile: Capif1eProfile,
    pub(crate) allow_empty_session_id: bool,
}

/// Which AEFPSK derivation a CAPIF-1e wrapper ([`InvokerConfig`], [`CcfConfig`]) applies:
/// TS 33.122 Annex A.1 as written (the default), or that plus this crate's TLS 1.3 profile.
///
/// Annex A.1 derives AEFPSK from a TLS 1.2 master secret and Session ID; no 3GPP text (up to
/// TS 33.122 V18.3.0) defines it for TLS 1.3. Under the default [`AnnexA1`](Self::AnnexA1),
/// a CAPIF-1e session that negotiated TLS 1.3 therefore derives nothing: it answers with
/// [`Error::Tls13NotAllowed`], whose message names the two ways out — negotiate TLS 1.2 on
/// CAPIF-1e (an invoker SDK gets a TLS 1.2-only rustls builder from
/// [`InvokerConfig::tls12_builder`]), or select [`Tls13Exporter`](Self::Tls13Exporter) on
/// **both** ends. The connection itself is never refused: it also carries the other CAPIF
/// APIs.
///
/// [`Tls13Exporter`](Self::Tls13Exporter) is this crate's own extension, not a 3GPP
/// profile: another vendor's CCF (or invoker) cannot derive its key, so only select it where
/// the CCF and the invokers all run this crate. A mismatch does not show up on CAPIF-1e; it
/// surfaces later as a CAPIF-2e handshake refused with `decrypt_error`.
///
/// ```
/// use rustls_capif::capif1e::Capif1eProfile;
/// assert_eq!(Capif1eProfile::default(), Capif1eProfile::AnnexA1);
/// ```
///
/// [`InvokerConfig`]: super::InvokerConfig
/// [`InvokerConfig::tls12_builder`]: super::InvokerConfig::tls12_builder
/// [`CcfConfig`]: super::CcfConfig
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capif1eProfile {
    /// TS 33.122 Annex A.1 as written (default): TLS 1.2 sessions derive AEFPSK from the
    /// master secret and Session ID; TLS 1.3 sessions answer [`Error::Tls13NotAllowed`].
    #[default]
    AnnexA1,
    /// Annex A.1 for TLS 1.2, and **this crate's** profile for TLS 1.3 (both ends must run
    /// it): `Key` = `TLS-Exporter(`[`TLS13_EXPORTER_LABEL`]`, "", 32)`, P1 = the
    /// `legacy_session_id` the server echoed.
    Tls13Exporter,
}

/// Where the Annex A.1 `Key` of a [`Capif1eSession`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySource {
    /// TLS 1.2: the session's 48-octet master secret, exactly as TS 33.122 Annex A.1 says.
    Tls12MasterSecret,
    /// TLS 1.3 (this crate's profile, not 3GPP's): the 32-octet TLS exporter value for
    /// [`TLS13_EXPORTER_LABEL`] with an empty context.
    Tls13Exporter,
}

enum SessionKey {
    Tls12(MasterSecret),
    /// The exporter master secret; the profile's exporter value is derived from it on demand
    /// (RFC 8446 §7.5), with the negotiated suite's HKDF and hash from the rustls provider.
    Tls13 {
        exporter_secret: ExporterSecret,
        suite: &'static Tls13CipherSuite,
    },
}

/// The key inputs of one finished CAPIF-1e TLS session, ready to derive AEFPSKs.
///
/// Both ends get one — the invoker from [`InvokerConfig`], the CCF from [`CcfConfig`] — and,
/// for the same TLS session, derive the same AEFPSK for the same [`ServiceApiInterface`]:
///
/// * **TLS 1.2** — TS 33.122 Annex A.1 as written: `Key` = master secret, P1 = the Session ID
///   of the `ServerHello`. A session resumed by Session ID has the same master secret and
///   Session ID as its full handshake, so it derives the same AEFPSK.
/// * **TLS 1.3** — only with [`Capif1eProfile::Tls13Exporter`] selected on both ends (by
///   default a TLS 1.3 session answers [`Error::Tls13NotAllowed`]): this crate's profile, not
///   a 3GPP one, `Key` = `TLS-Exporter("EXPORTER-3GPP-CAPIF-AEFPSK", "", 32)`, P1 = the
///   `legacy_session_id` the server echoed. Every TLS 1.3 connection, resumed or not, has its
///   own key.
///
/// The key itself is never reachable: it is captured at handshake time (the master secret, or
/// the TLS 1.3 exporter master secret from which the exporter value is computed when an AEFPSK
/// is first derived — identical to rustls's `export_keying_material`, without putting its cost
/// on every handshake), kept in zeroize-on-drop memory, redacted in `Debug`, and only ever fed
/// to the KDF. Non-secret facts about the session (version, Session ID, handshake kind) are
/// available.
///
/// The policy options of the wrapper ([`InvokerConfig::with_profile`],
/// [`InvokerConfig::allow_empty_session_id`] and the same on [`CcfConfig`]) are applied at
/// **derivation time**: the CAPIF-1e connection also carries the other CAPIF APIs (onboarding,
/// discovery, …), so a session that cannot yield an AEFPSK does not break the connection; it
/// answers [`derive_aef_psk`](Self::derive_aef_psk) (and [`check_policy`](Self::check_policy))
/// with [`Error::Tls13NotAllowed`] or [`Error::EmptySessionId`].
///
/// [`InvokerConfig`]: super::InvokerConfig
/// [`InvokerConfig::with_profile`]: super::InvokerConfig::with_profile
/// [`InvokerConfig::allow_empty_session_id`]: super::InvokerConfig::allow_empty_session_id
/// [`CcfConfig`]: super::CcfConfig
pub struct Capif1eSession {
    key: SessionKey,
    session_id: [u8; 32],
    session_id_len: u8,
    version: ProtocolVersion,
    handshake_kind: HandshakeKind,
    policy: Policy,
}

impl Capif1eSession {
    /// Derives the AEFPSK (TS 33.122 Annex A.1) for the AEF interface `interface`.
    ///
    /// Fails with [`Error::Tls13NotAllowed`] if the session is TLS 1.3 and the wrapper's
    /// profile is [`Capif1eProfile::AnnexA1`] (the default),
    /// and with [`Error::EmptySessionId`] if the server sent an empty Session ID and the
    /// wrapper did not allow it.
    pub fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        self.check_policy()?;
        match &self.key {
            SessionKey::Tls12(master_secret) => {
                derive_aefpsk(&master_secret[..], self.session_id(), interface)
            }
            SessionKey::Tls13 {
                exporter_secret,
                suite,
            } => {
                let key = tls13_exporter(suite, exporter_secret.as_bytes())?;
                derive_aefpsk(&key[..], self.session_id(), interface)
            }
        }
    }

    /// The Annex A.1 inputs of this session (`Key` and P1), for a CCF key store shared by
    /// replicas, which seals them. Crate-internal: applications never touch key material.
    /// Fails like [`derive_aef_psk`](Self::derive_aef_psk) when the policy forbids deriving.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn export_inputs(&self) -> Result<SessionInputs, Error> {
        self.check_policy()?;
        let mut inputs = SessionInputs {
            key: Box::new(Zeroizing::new([0; MASTER_SECRET_LEN])),
            key_len: 0,
            session_id: self.session_id,
            session_id_len: self.session_id_len,
        };
        match &self.key {
            SessionKey::Tls12(master_secret) => {
                inputs.key[..MASTER_SECRET_LEN].copy_from_slice(&master_secret[..]);
                inputs.key_len = MASTER_SECRET_LEN as u8;
            }
            SessionKey::Tls13 {
                exporter_secret,
                suite,
            } => {
                let key = tls13_exporter(suite, exporter_secret.as_bytes())?;
                inputs.key[..TLS13_EXPORTER_LEN].copy_from_slice(&key[..]);
                inputs.key_len = TLS13_EXPORTER_LEN as u8;
            }
        }
        Ok(inputs)
    }

    /// Checks, without deriving anything, whether this session may yield an AEFPSK under the
    /// wrapper's policy: the errors [`derive_aef_psk`](Self::derive_aef_psk) would give for
    /// any interface.
    pub fn check_policy(&self) -> Result<(), Error> {
        if self.policy.profile == Capif1eProfile::AnnexA1
            && self.version != ProtocolVersion::TLSv1_2
        {
            return Err(Error::Tls13NotAllowed);
        }
        if self.session_id_len == 0 && !self.policy.allow_empty_session_id {
            return Err(Error::EmptySessionId);
        }
        Ok(())
    }

    /// The profile of the wrapper that made this session (see [`Capif1eProfile`]).
    pub fn profile(&self) -> Capif1eProfile {
        self.policy.profile
    }

    /// The negotiated protocol version (`TLSv1_2` or `TLSv1_3`).
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.version
    }

    /// The Session ID used as P1: the one the server sent in its `ServerHello` (may be empty).
    pub fn session_id(&self) -> &[u8] {
        &self.session_id[..usize::from(self.session_id_len)]
    }

    /// How the TLS handshake went (full, full with HelloRetryRequest, or resumed).
    pub fn handshake_kind(&self) -> HandshakeKind {
        self.handshake_kind
    }

    /// Whether the TLS handshake resumed an earlier session.
    pub fn is_resumed(&self) -> bool {
        self.handshake_kind == HandshakeKind::Resumed
    }

    /// Where the Annex A.1 `Key` comes from (decided by the protocol version).
    pub fn key_source(&self) -> KeySource {
        match self.key {
            SessionKey::Tls12(_) => KeySource::Tls12MasterSecret,
            SessionKey::Tls13 { .. } => KeySource::Tls13Exporter,
        }
    }

    /// Builds the session of a connection whose handshake has finished from its key log
    /// capture and the taps that saw its bytes.
    pub(crate) fn capture<Data>(
        conn: &ConnectionCommon<Data>,
        taps: &HelloTaps,
        key_log: &ConnectionKeyLog,
        policy: Policy,
    ) -> Result<Self, Error> {
        if conn.is_handshaking() {
            return Err(Error::InvalidState(
                "the CAPIF-1e session is available once the TLS handshake has finished",
            ));
        }
        let handshake_kind = conn
            .handshake_kind()
            .ok_or(Error::InvalidState("rustls reports no handshake kind"))?;
        let version = conn
            .protocol_version()
            .ok_or(Error::InvalidState("rustls reports no protocol version"))?;
        let server_hello = seen(taps.server_tap(), "ServerHello")?
            .server_hello()
            .ok_or(Error::SecretsUnavailable("the ServerHello was not seen"))?;
        if server_hello.version() != version {
            return Err(Error::SecretsUnavailable(
                "the ServerHello on the wire names another protocol version than rustls negotiated",
            ));
        }

        let client_hello = seen(taps.client_tap(), "ClientHello")?
            .client_hello()
            .ok_or(Error::SecretsUnavailable("the ClientHello was not seen"))?;
        // The secret must be the one rustls logged for the ClientHello the taps saw (public
        // values: a plain comparison is fine).
        let check_random = |logged_random: &[u8; 32]| {
            if logged_random == client_hello.random() {
                Ok(())
            } else {
                Err(Error::SecretsUnavailable(
                    "the taps saw another connection's ClientHello than the one rustls logged \
                     the secret for (or TLS 1.3 Encrypted Client Hello, which hides the random \
                     and is not supported on CAPIF-1e)",
                ))
            }
        };
        let key = match (version, conn.negotiated_cipher_suite()) {
            (ProtocolVersion::TLSv1_2, Some(SupportedCipherSuite::Tls12(_))) => {
                let (logged_random, master_secret) = key_log
                    .take_master_secret()
                    .map_err(Error::SecretsUnavailable)?;
                check_random(&logged_random)?;
                SessionKey::Tls12(master_secret)
            }
            (ProtocolVersion::TLSv1_3, Some(SupportedCipherSuite::Tls13(suite))) => {
                let (logged_random, exporter_secret) = key_log
                    .take_exporter_secret()
                    .map_err(Error::SecretsUnavailable)?;
                check_random(&logged_random)?;
                SessionKey::Tls13 {
                    exporter_secret,
                    suite,
                }
            }
            _ => {
                return Err(Error::SecretsUnavailable(
                    "CAPIF-1e AEFPSK is defined for TLS 1.2 and (by this crate) TLS 1.3 only",
                ))
            }
        };

        let sid = server_hello.session_id();
        let mut session_id = [0u8; 32];
        session_id[..sid.len()].copy_from_slice(sid);
        Ok(Self {
            key,
            session_id,
            session_id_len: sid.len() as u8,
            version,
            handshake_kind,
            policy,
        })
    }
}

/// The Annex A.1 inputs of one CAPIF-1e session, as a CCF key store shared by replicas keeps
/// them (sealed): `Key` (the TLS 1.2 master secret, or the 32-octet exporter value of this
/// crate's TLS 1.3 profile) and P1 (the Session ID). Crate-internal, zeroized on drop, redacted
/// in `Debug`; it only ever feeds the KDF or the sealing of a store entry.
///
/// Encoding (`encode` / `decode`): `key_len (1) || key || session_id_len (1) || session_id`.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct SessionInputs {
    /// Boxed: moves never copy it.
    key: Box<Zeroizing<[u8; MASTER_SECRET_LEN]>>,
    key_len: u8,
    session_id: [u8; 32],
    session_id_len: u8,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl SessionInputs {
    /// Longest encoding: a 48-octet key and a 32-octet Session ID with their lengths.
    pub(crate) const MAX_ENCODED_LEN: usize = 1 + MASTER_SECRET_LEN + 1 + 32;

    /// The AEFPSK for `interface` (TS 33.122 Annex A.1), as the session it came from derives.
    pub(crate) fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        derive_aefpsk(
            &self.key[..usize::from(self.key_len)],
            &self.session_id[..usize::from(self.session_id_len)],
            interface,
        )
    }

    /// The encoding, in a buffer sized once (no reallocation leaves a copy) and wiped on drop;
    /// `spare` octets of capacity are left for the caller (an AEAD tag).
    pub(crate) fn encode(&self, spare: usize) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(Self::MAX_ENCODED_LEN + spare));
        out.push(self.key_len);
        out.extend_from_slice(&self.key[..usize::from(self.key_len)]);
        out.push(self.session_id_len);
        out.extend_from_slice(&self.session_id[..usize::from(self.session_id_len)]);
        out
    }

    /// Parses [`encode`](Self::encode)'s output. The key is 32 or 48 octets, the Session ID
    /// at most 32, and nothing may follow. Errors never echo the input.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let (&key_len, rest) = bytes.split_first().ok_or("empty session inputs")?;
        let key_len = usize::from(key_len);
        if key_len != MASTER_SECRET_LEN && key_len != TLS13_EXPORTER_LEN {
            return Err("session inputs: the key is neither 32 nor 48 octets");
        }
        if rest.len() < key_len + 1 {
            return Err("session inputs are truncated");
        }
        let (key, rest) = rest.split_at(key_len);
        let (&sid_len, sid) = rest.split_first().ok_or("session inputs are truncated")?;
        if usize::from(sid_len) > 32 || sid.len() != usize::from(sid_len) {
            return Err("session inputs: bad Session ID length");
        }
        let mut inputs = Self {
            key: Box::new(Zeroizing::new([0; MASTER_SECRET_LEN])),
            key_len: key_len as u8,
            session_id: [0; 32],
            session_id_len: sid_len,
        };
        inputs.key[..key_len].copy_from_slice(key);
        inputs.session_id[..sid.len()].copy_from_slice(sid);
        Ok(inputs)
    }
}

impl fmt::Debug for SessionInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionInputs([redacted])")
    }
}

impl fmt::Debug for Capif1eSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capif1eSession")
            .field("version", &self.version)
            .field("handshake_kind", &self.handshake_kind)
            .field("key_source", &self.key_source())
            .field("key", &"[redacted]")
            .field(
                "session_id",
                &crate::secret::encode_hex(self.session_id()).as_str(),
            )
            .finish()
    }
}

/// The tap of `what`, unless it failed or gave up before seeing the hello.
fn seen<'a>(tap: &'a HelloTap, what: &'static str) -> Result<&'a HelloTap, Error> {
    match tap.state() {
        TapState::Failed(why) => Err(Error::MalformedHello(why)),
        TapState::Complete => Ok(tap),
        TapState::Abandoned => Err(Error::SecretsUnavailable(match what {
            "ClientHello" => {
                "a record that ends the handshake (fatal alert, too many warning alerts, \
                 application data, …) came before the ClientHello"
            }
            _ => {
                "a record that ends the handshake (fatal alert, too many warning alerts, \
                 application data, …) came before the ServerHello"
            }
        })),
        _ => Err(Error::SecretsUnavailable(match what {
            "ClientHello" => {
                "the ClientHello was not seen: the connection's bytes must pass through the taps \
                 (TapStream) from the first byte"
            }
            _ => {
                "the ServerHello was not seen: the connection's bytes must pass through the taps \
                 (TapStream) from the first byte"
            }
        })),
    }
}

/// `TLS-Exporter(TLS13_EXPORTER_LABEL, "", 32)` (RFC 8446 §7.5) from the exporter master
/// secret, with the suite's HKDF and hash from the rustls provider — the same computation as
/// rustls's `export_keying_material` (the integration tests compare the two):
///
/// ```text
/// secret   = HKDF-Expand-Label(exporter_master_secret, label, Hash(""), Hash.length)
/// exporter = HKDF-Expand-Label(secret, "exporter", Hash(context = ""), 32)
/// ```
fn tls13_exporter(
    suite: &Tls13CipherSuite,
    exporter_master_secret: &[u8],
) -> Result<Zeroizing<[u8; TLS13_EXPORTER_LEN]>, Error> {
    let mut out = Zeroizing::new([0u8; TLS13_EXPORTER_LEN]);
    crate::tls13_hkdf::export(
        suite.hkdf_provider,
        suite.common.hash_provider,
        &OkmBlock::new(exporter_master_secret),
        TLS13_EXPORTER_LABEL,
        &[],
        &mut out[..],
    )?;
    Ok(out)
}

/// The CAPIF-1e capture of one connection in progress: its own key log and its hello taps.
///
/// Get one with a connection from [`InvokerConfig::connection`] / [`CcfConfig::connection`]
/// (or a config from `connection_config`) when you drive rustls with your own I/O loop; the
/// blocking and tokio APIs use it internally. Feed it every byte the connection exchanges,
/// then, once the handshake has finished, turn it into the [`Capif1eSession`]:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let ca_key = rcgen::KeyPair::generate()?;
/// # let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
/// # ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// # let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
/// # let leaf_key = rcgen::KeyPair::generate()?;
/// # let leaf = rcgen::CertificateParams::new(vec!["ccf.example.com".to_string()])?
/// #     .signed_by(&leaf_key, &*ca)?;
/// # let private_key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(ca.der().clone())?;
/// # let provider = rustls_capif::default_provider();
/// # let ccf = rustls_capif::capif1e::CcfConfig::new(
/// #     rustls::ServerConfig::builder_with_provider(provider.clone())
/// #         .with_safe_default_protocol_versions()?
/// #         .with_no_client_auth()
/// #         .with_single_cert(vec![leaf.der().clone()], private_key)?,
/// # )?;
/// # let invoker = rustls_capif::capif1e::InvokerConfig::new(
/// #     rustls_capif::capif1e::InvokerConfig::tls12_builder(provider)?
/// #         .with_root_certificates(roots)
/// #         .with_no_client_auth(),
/// # );
/// use rustls_capif::ServiceApiInterface;
///
/// let (mut client, mut client_capture) = invoker.connection("ccf.example.com".try_into()?)?;
/// let (mut server, mut server_capture) = ccf.connection()?;
/// // Your I/O loop: here both ends in memory.
/// let mut wire = Vec::new();
/// while client.is_handshaking() || server.is_handshaking() {
///     wire.clear();
///     client.write_tls(&mut wire)?;
///     client_capture.client_sent(&wire)?; // the invoker's own view
///     server_capture.client_sent(&wire)?; // the CCF's own view
///     let mut rd = &wire[..];
///     while !rd.is_empty() {
///         server.read_tls(&mut rd)?;
///         server.process_new_packets()?;
///     }
///     wire.clear();
///     server.write_tls(&mut wire)?;
///     server_capture.server_sent(&wire)?;
///     client_capture.server_sent(&wire)?;
///     let mut rd = &wire[..];
///     while !rd.is_empty() {
///         client.read_tls(&mut rd)?;
///         client.process_new_packets()?;
///     }
/// }
/// let aef = ServiceApiInterface::parse("aef.example.com:8443")?;
/// let invoker_psk = client_capture.session(&client)?.derive_aef_psk(&aef)?;
/// let ccf_psk = server_capture.session(&server)?.derive_aef_psk(&aef)?;
/// assert_eq!(invoker_psk, ccf_psk);
/// # Ok(()) }
/// ```
///
/// [`InvokerConfig::connection`]: super::InvokerConfig::connection
/// [`CcfConfig::connection`]: super::CcfConfig::connection
#[derive(Debug)]
pub struct SessionCapture {
    key_log: Arc<ConnectionKeyLog>,
    taps: HelloTaps,
    policy: Policy,
}

impl SessionCapture {
    pub(crate) fn new(key_log: Arc<ConnectionKeyLog>, policy: Policy) -> Self {
        Self {
            key_log,
            taps: HelloTaps::new(),
            policy,
        }
    }

    /// Feeds bytes the TLS client sent (see [`HelloTap::feed`]).
    pub fn client_sent(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.taps.client_sent(bytes)
    }

    /// Feeds bytes the TLS server sent (see [`HelloTap::feed`]).
    pub fn server_sent(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.taps.server_sent(bytes)
    }

    /// The hello taps, with what they have seen.
    pub fn taps(&self) -> &HelloTaps {
        &self.taps
    }

    /// The CAPIF-1e session of `conn`, the connection this capture was created with, once its
    /// handshake has finished.
    ///
    /// Fails with [`Error::InvalidState`] while still handshaking, and with
    /// [`Error::MalformedHello`] or [`Error::SecretsUnavailable`] if the inputs could not be
    /// captured (bytes not fed, another connection's bytes or config, a config used for
    /// several connections).
    pub fn session<Data>(self, conn: &ConnectionCommon<Data>) -> Result<Capif1eSession, Error> {
        Capif1eSession::capture(conn, &self.taps, &self.key_log, self.policy)
    }

    /// Like [`session`](Self::session), with the connection's bytes seen by other taps — for
    /// example a [`TapStream`] around the transport of your own I/O loop — instead of the ones
    /// fed through [`client_sent`](Self::client_sent) / [`server_sent`](Self::server_sent).
    /// `taps` must belong to the same connection as this capture.
    ///
    /// [`TapStream`]: super::TapStream
    pub fn session_with_taps<Data>(
        self,
        conn: &ConnectionCommon<Data>,
        taps: &HelloTaps,
    ) -> Result<Capif1eSession, Error> {
        Capif1eSession::capture(conn, taps, &self.key_log, self.policy)
    }
}
