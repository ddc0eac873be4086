//! [`Capif1eSession`]: what a finished CAPIF-1e handshake leaves for AEFPSK derivation.

use core::fmt;

use rustls::{ConnectionCommon, HandshakeKind, ProtocolVersion, SupportedCipherSuite};
use zeroize::Zeroizing;

use super::keylog::{MasterSecret, MasterSecretCapture, MASTER_SECRET_LEN};
use super::tap::{HelloTap, HelloTaps, TapState};
use crate::error::Error;
use crate::kdf::{derive_aefpsk, ServiceApiInterface};
use crate::secret::AefPsk;

/// Exporter label of this crate's TLS 1.3 profile (RFC 8446 §7.5): the Annex A.1 `Key` of a
/// TLS 1.3 CAPIF-1e session is `TLS-Exporter(TLS13_EXPORTER_LABEL, "", 32)`.
pub const TLS13_EXPORTER_LABEL: &[u8] = b"EXPORTER-3GPP-CAPIF-AEFPSK";

/// Length in octets of the TLS 1.3 exporter value used as the Annex A.1 `Key`.
pub const TLS13_EXPORTER_LEN: usize = 32;

/// Exporter label used only inside this process to check that a logged master secret belongs
/// to the connection at hand (never sent, never used as a key).
const MASTER_SECRET_CHECK_LABEL: &[u8] = b"EXPORTER-rustls-capif master secret check";

/// The CAPIF-1e policy options shared by the invoker and CCF wrappers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) strict_annex_a1: bool,
    pub(crate) allow_empty_session_id: bool,
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
    Tls13(Box<Zeroizing<[u8; TLS13_EXPORTER_LEN]>>),
}

/// The key inputs of one finished CAPIF-1e TLS session, ready to derive AEFPSKs.
///
/// Both ends get one — the invoker from [`InvokerConfig`], the CCF from [`CcfConfig`] — and,
/// for the same TLS session, derive the same AEFPSK for the same [`ServiceApiInterface`]:
///
/// * **TLS 1.2** — TS 33.122 Annex A.1 as written: `Key` = master secret, P1 = the Session ID
///   of the `ServerHello`. A session resumed by Session ID has the same master secret and
///   Session ID as its full handshake, so it derives the same AEFPSK.
/// * **TLS 1.3** — this crate's profile (3GPP has not specified one): `Key` =
///   `TLS-Exporter("EXPORTER-3GPP-CAPIF-AEFPSK", "", 32)`, P1 = the `legacy_session_id` the
///   server echoed. Every TLS 1.3 connection, resumed or not, has its own key.
///
/// The key itself is never reachable: it is captured at handshake time, kept in zeroize-on-drop
/// memory, redacted in `Debug`, and only ever fed to the KDF. Non-secret facts about the
/// session (version, Session ID, handshake kind) are available.
///
/// The policy options of the wrapper ([`InvokerConfig::strict_annex_a1`],
/// [`InvokerConfig::allow_empty_session_id`] and the same on [`CcfConfig`]) are applied at
/// **derivation time**: the CAPIF-1e connection also carries the other CAPIF APIs (onboarding,
/// discovery, …), so a session that cannot yield an AEFPSK does not break the connection; it
/// answers [`derive_aef_psk`](Self::derive_aef_psk) (and [`check_policy`](Self::check_policy))
/// with [`Error::Tls13NotAllowed`] or [`Error::EmptySessionId`].
///
/// [`InvokerConfig`]: super::InvokerConfig
/// [`InvokerConfig::strict_annex_a1`]: super::InvokerConfig::strict_annex_a1
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
    /// Fails with [`Error::Tls13NotAllowed`] if strict mode is on and the session is TLS 1.3,
    /// and with [`Error::EmptySessionId`] if the server sent an empty Session ID and the
    /// wrapper did not allow it.
    pub fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        self.check_policy()?;
        derive_aefpsk(self.key_bytes(), self.session_id(), interface)
    }

    /// Checks, without deriving anything, whether this session may yield an AEFPSK under the
    /// wrapper's policy: the errors [`derive_aef_psk`](Self::derive_aef_psk) would give for
    /// any interface.
    pub fn check_policy(&self) -> Result<(), Error> {
        if self.policy.strict_annex_a1 && self.version != ProtocolVersion::TLSv1_2 {
            return Err(Error::Tls13NotAllowed);
        }
        if self.session_id_len == 0 && !self.policy.allow_empty_session_id {
            return Err(Error::EmptySessionId);
        }
        Ok(())
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
            SessionKey::Tls13(_) => KeySource::Tls13Exporter,
        }
    }

    fn key_bytes(&self) -> &[u8] {
        match &self.key {
            SessionKey::Tls12(ms) => &ms[..],
            SessionKey::Tls13(ekm) => &ekm[..],
        }
    }

    /// Captures the session of a connection whose handshake has finished.
    pub(crate) fn capture<Data>(
        conn: &ConnectionCommon<Data>,
        taps: &HelloTaps,
        master_secrets: &MasterSecretCapture,
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

        let key = match version {
            ProtocolVersion::TLSv1_2 => {
                let client_hello = seen(taps.client_tap(), "ClientHello")?
                    .client_hello()
                    .ok_or(Error::SecretsUnavailable("the ClientHello was not seen"))?;
                SessionKey::Tls12(take_master_secret(
                    conn,
                    client_hello.random(),
                    server_hello.random(),
                    master_secrets,
                )?)
            }
            ProtocolVersion::TLSv1_3 => {
                let mut ekm = Box::new(Zeroizing::new([0u8; TLS13_EXPORTER_LEN]));
                conn.export_keying_material(&mut ekm[..], TLS13_EXPORTER_LABEL, Some(b""))?;
                SessionKey::Tls13(ekm)
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
            "ClientHello" => "a non-handshake record came before the ClientHello",
            _ => "a non-handshake record came before the ServerHello",
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

/// Takes the master secret rustls logged for this connection.
///
/// Candidates are looked up by client random and each is checked against the connection:
/// `PRF(candidate, label, client_random || server_random)` computed with the negotiated
/// suite's PRF from the rustls provider must equal rustls's own exporter output for the same
/// label. This binds the secret to this very connection (a hostile client reusing another
/// client's random cannot substitute its own master secret) and also proves that the tapped
/// randoms are the ones rustls used.
fn take_master_secret<Data>(
    conn: &ConnectionCommon<Data>,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    master_secrets: &MasterSecretCapture,
) -> Result<MasterSecret, Error> {
    let Some(SupportedCipherSuite::Tls12(suite)) = conn.negotiated_cipher_suite() else {
        return Err(Error::SecretsUnavailable(
            "rustls negotiated TLS 1.2 without a TLS 1.2 cipher suite",
        ));
    };
    let mut expected = Zeroizing::new([0u8; 32]);
    conn.export_keying_material(&mut expected[..], MASTER_SECRET_CHECK_LABEL, None)?;
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(client_random);
    seed[32..].copy_from_slice(server_random);
    master_secrets
        .take(client_random, |candidate: &[u8; MASTER_SECRET_LEN]| {
            let mut check = Zeroizing::new([0u8; 32]);
            suite.prf_provider.for_secret(
                &mut check[..],
                candidate,
                MASTER_SECRET_CHECK_LABEL,
                &seed,
            );
            constant_time_eq(&check[..], &expected[..])
        })
        .ok_or(Error::SecretsUnavailable(
            "no TLS 1.2 master secret was logged for this connection (was the config's key_log \
             replaced after wrapping, or evicted by many unfinished handshakes?)",
        ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
