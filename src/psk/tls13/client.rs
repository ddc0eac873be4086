//! The client state machine of a TLS 1.3 external-PSK handshake (RFC 8446 §2, §4):
//!
//! ```text
//! ClientHello (+key_share, +psk_key_exchange_modes, +pre_shared_key) ──▶
//!                               ◀── [HelloRetryRequest → CCS, ClientHello2 ──▶]
//!                               ◀── ServerHello [CCS] {EncryptedExtensions} {Finished}
//! [CCS] {Finished} ──▶
//! ```
//!
//! A PSK-only handshake has no Certificate, CertificateRequest or CertificateVerify; the
//! client aborts with `unexpected_message` if the server sends one.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use rustls::crypto::ActiveKeyExchange;
use rustls::{AlertDescription, NamedGroup, Tls13CipherSuite};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::psk::codec::{self, ext, hs, illegal, unexpected, ClientHelloParams};
use crate::psk::config::{ExternalPsk, PskClientConfig};
use crate::psk::conn::{ConnectionCommon, Handshake, IoState, KeyExchangeMode, Side};
use crate::psk::key_schedule::{EarlySecret, HandshakeSecret, Suite, TrafficSecret, Transcript};
use crate::psk::tls12::client::{Client12, Hello12};

/// A client-side TLS 1.3 external-PSK connection (sans-IO).
///
/// Drive it like a rustls connection: move bytes with `read_tls` / `write_tls`, call
/// [`process_new_packets`](Self::process_new_packets) after reading, and use `reader()` /
/// `writer()` for application data.
///
/// ```
/// use std::sync::Arc;
/// use rustls_capif::psk::*;
///
/// let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x42; 32], PskHash::Sha256).unwrap();
/// let mut client = PskClientConnection::new(Arc::new(PskClientConfig::new(psk.clone()))).unwrap();
/// let keys: StaticPskResolver = [psk].into_iter().collect();
/// let mut server = PskServerConnection::new(Arc::new(PskServerConfig::new(Arc::new(keys))));
///
/// // Shuttle bytes in memory until both sides are done.
/// while client.is_handshaking() || server.is_handshaking() {
///     let mut buf = Vec::new();
///     client.write_tls(&mut buf).unwrap();
///     server.read_tls(&mut buf.as_slice()).unwrap();
///     server.process_new_packets().unwrap();
///     let mut buf = Vec::new();
///     server.write_tls(&mut buf).unwrap();
///     client.read_tls(&mut buf.as_slice()).unwrap();
///     client.process_new_packets().unwrap();
/// }
/// assert_eq!(server.psk_identity(), Some(&b"invoker-42"[..]));
/// ```
pub struct PskClientConnection {
    core: ConnectionCommon,
    state: ClientHandshake,
}

impl PskClientConnection {
    /// Starts a handshake; the ClientHello is queued for `write_tls` at once.
    pub fn new(config: Arc<PskClientConfig>) -> Result<Self, Error> {
        let mut core = ConnectionCommon::new(Side::Client);
        let state = ClientHandshake::start(config, &mut core)?;
        Ok(Self { core, state })
    }

    /// Processes TLS bytes received with `read_tls`. On error a fatal alert is queued (send it
    /// with `write_tls`) and the connection is unusable.
    pub fn process_new_packets(&mut self) -> Result<IoState, Error> {
        self.core.process(&mut self.state)
    }

    /// The identity of the PSK the server accepted, once the handshake has completed (the
    /// server's Finished proved it holds that key; before, or after a failure, `None`). For
    /// an RFC 9258 imported PSK, the external identity.
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.state
            .accepted_identity
            .as_deref()
            .filter(|_| !self.core.is_handshaking())
    }

    /// Whether the accepted PSK was an RFC 9258 imported one (once the handshake completed).
    pub fn psk_is_imported(&self) -> bool {
        self.state.accepted_imported && self.psk_identity().is_some()
    }
}

impl Deref for PskClientConnection {
    type Target = ConnectionCommon;
    fn deref(&self) -> &ConnectionCommon {
        &self.core
    }
}

impl DerefMut for PskClientConnection {
    fn deref_mut(&mut self) -> &mut ConnectionCommon {
        &mut self.core
    }
}

impl core::fmt::Debug for PskClientConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PskClientConnection")
            .field("handshaking", &self.core.is_handshaking())
            .field("suite", &self.core.negotiated_cipher_suite())
            .finish_non_exhaustive()
    }
}

/// A PSK as offered: the key, a suite of its hash for the binder computation, and its early
/// secret (the binder's key now, the start of the key schedule if the server selects it).
struct Offered {
    psk: ExternalPsk,
    binder_suite: Suite,
    early: EarlySecret,
}

/// A key share sent in a ClientHello.
struct KeyShare {
    kx: Box<dyn ActiveKeyExchange>,
    /// The classical component of a hybrid share, offered as a share of its own.
    hybrid_classical: Option<NamedGroup>,
}

/// What the ClientHello offered, needed to check and use the server's answer.
struct Hello {
    random: [u8; 32],
    session_id: Vec<u8>,
    suites: Vec<&'static Tls13CipherSuite>,
    offered: Vec<Offered>,
    key_shares: Vec<KeyShare>,
    transcript: Transcript,
    /// Set after a HelloRetryRequest: the suite and group it named.
    retry: Option<(&'static Tls13CipherSuite, Option<NamedGroup>)>,
}

struct AfterServerHello {
    suite: &'static Tls13CipherSuite,
    secret: HandshakeSecret,
    client_hs: TrafficSecret,
    server_hs: TrafficSecret,
    transcript: Transcript,
}

enum State {
    ExpectServerHello(Box<Hello>),
    ExpectEncryptedExtensions(Box<AfterServerHello>),
    ExpectFinished(Box<AfterServerHello>),
    /// TLS 1.2: a TLS 1.2-only client, or a ServerHello that chose TLS 1.2.
    Tls12(Box<Client12>),
    Done,
    Failed,
}

pub(crate) struct ClientHandshake {
    config: Arc<PskClientConfig>,
    state: State,
    accepted_identity: Option<Vec<u8>>,
    accepted_imported: bool,
}

impl ClientHandshake {
    fn start(config: Arc<PskClientConfig>, core: &mut ConnectionCommon) -> Result<Self, Error> {
        let common = &config.common;
        if !common.versions.tls13 {
            if !common.versions.tls12 {
                return Err(Error::InvalidConfig("no protocol version enabled".into()));
            }
            let state = Client12::start(config.clone(), core)?;
            return Ok(Self {
                config,
                state: State::Tls12(Box::new(state)),
                accepted_identity: None,
                accepted_imported: false,
            });
        }
        // With an importer, the imported PSKs (one per EPSK and target KDF) replace the
        // plain ones (RFC 9258 §5.1).
        let imported;
        let psks = match &config.importer {
            Some(importer) => {
                imported = crate::psk::importer::import_all(
                    importer,
                    &config.psks,
                    &common.suites,
                    &common.provider,
                )?;
                &imported
            }
            None => &config.psks,
        };
        let mut offered = Vec::new();
        for psk in psks {
            let Some(suite) = common.suites_for(psk.hash()).next() else {
                return Err(Error::InvalidConfig(format!(
                    "no configured TLS 1.3 cipher suite uses the hash of PSK {:?} ({:?})",
                    String::from_utf8_lossy(psk.external_identity()),
                    psk.hash()
                )));
            };
            offered.push(Offered {
                psk: psk.clone(),
                binder_suite: Suite::of(suite),
                early: EarlySecret::of_psk(Suite::of(suite), psk),
            });
        }
        let suites: Vec<_> = common
            .suites
            .iter()
            .copied()
            .filter(|s| psks.iter().any(|p| p.hash().matches(s)))
            .collect();

        let random = random_bytes::<32>(&config)?;
        let session_id = if config.middlebox_compat {
            random_bytes::<32>(&config)?.to_vec()
        } else {
            Vec::new()
        };

        let key_shares = if common.modes.allows_dhe() {
            let first = *common
                .groups
                .first()
                .ok_or_else(|| Error::InvalidConfig("no key-exchange group".into()))?;
            vec![start_key_share(first, &common.groups)?]
        } else {
            Vec::new()
        };

        let mut hello = Hello {
            random,
            session_id,
            suites,
            offered,
            key_shares,
            transcript: Transcript::default(),
            retry: None,
        };
        let message = build_client_hello(&config, &hello, None)?;
        hello.transcript.add(&message);
        core.send_handshake(&message)?;
        core.allow_ccs();
        Ok(Self {
            config,
            state: State::ExpectServerHello(Box::new(hello)),
            accepted_identity: None,
            accepted_imported: false,
        })
    }

    fn handle_server_hello(
        &mut self,
        core: &mut ConnectionCommon,
        mut hello: Box<Hello>,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        let sh = codec::ServerHello::decode(body)?;
        if sh.legacy_version != codec::TLS12 {
            return Err(Error::PeerIncompatible {
                alert: AlertDescription::ProtocolVersion,
                what: "ServerHello.legacy_version is not 0x0303",
            });
        }
        if sh.supported_version.is_none()
            && hello.retry.is_none()
            && self.config.common.versions.tls12
        {
            // A TLS 1.2 ServerHello: the TLS 1.2 state machine goes on from our ClientHello.
            let Transcript::Buffering(client_hello) = core::mem::take(&mut hello.transcript) else {
                return Err(Error::InvalidState("ClientHello transcript already hashed"));
            };
            let (suites, _) = Client12::offer(&self.config);
            // `build_client_hello` sends ec_point_formats with any ECDHE_PSK suite.
            let sent_point_formats = suites.iter().any(|s| s.ecdhe);
            let mut tls12 = Client12::waiting(
                self.config.clone(),
                suites,
                Hello12 {
                    random: hello.random,
                    session_id: hello.session_id.clone(),
                    client_hello,
                    offered_tls13: true,
                    sent_point_formats,
                },
            );
            tls12.handle(core, message)?;
            return Ok(State::Tls12(Box::new(tls12)));
        }
        match sh.supported_version {
            Some(codec::TLS13) => {}
            Some(_) => return Err(illegal("server selected a version other than TLS 1.3")),
            None => {
                return Err(Error::PeerIncompatible {
                    alert: AlertDescription::ProtocolVersion,
                    what: "server does not speak TLS 1.3 (no supported_versions)",
                })
            }
        }
        if sh.session_id != hello.session_id.as_slice() {
            return Err(illegal(
                "legacy_session_id_echo differs from our session ID",
            ));
        }
        if sh.compression_method != 0 {
            return Err(illegal("legacy_compression_method is not 0"));
        }
        let suite = hello
            .suites
            .iter()
            .copied()
            .find(|s| u16::from(s.common.suite) == sh.cipher_suite)
            .ok_or_else(|| illegal("server selected a cipher suite we did not offer"))?;

        if sh.is_hrr() {
            return self.handle_hello_retry_request(core, hello, message, &sh, suite);
        }
        self.check_extensions(
            &sh.extension_types,
            &[ext::SUPPORTED_VERSIONS, ext::KEY_SHARE, ext::PRE_SHARED_KEY],
            "ServerHello",
        )?;

        if let Some((retry_suite, _)) = hello.retry {
            if !core::ptr::eq(retry_suite, suite) {
                return Err(illegal(
                    "ServerHello suite differs from the HelloRetryRequest's",
                ));
            }
        }
        let index = sh.selected_identity.ok_or(Error::PeerIncompatible {
            alert: AlertDescription::HandshakeFailure,
            what: "server accepted none of our PSKs (no pre_shared_key in ServerHello)",
        })?;
        let index = usize::from(index);
        let offered = hello
            .offered
            .get(index)
            .ok_or_else(|| illegal("selected_identity is out of range"))?;
        if !offered.psk.hash().matches(suite) {
            return Err(illegal("the selected suite's hash differs from the PSK's"));
        }

        let modes = self.config.common.modes;
        let (shared_secret, group, mode) = match sh.key_share {
            Some((group, server_key)) => {
                if !modes.allows_dhe() {
                    return Err(Error::PeerMisbehaved {
                        alert: AlertDescription::UnsupportedExtension,
                        what: "key_share in ServerHello but we offered psk_ke only",
                    });
                }
                if let Some((_, Some(retry_group))) = hello.retry {
                    if u16::from(retry_group) != group {
                        return Err(illegal(
                            "ServerHello group differs from the HelloRetryRequest's",
                        ));
                    }
                }
                let group = NamedGroup::from(group);
                let at = hello
                    .key_shares
                    .iter()
                    .position(|k| k.kx.group() == group || k.hybrid_classical == Some(group))
                    .ok_or_else(|| {
                        illegal("server key_share is for a group we sent no share for")
                    })?;
                let share = hello.key_shares.swap_remove(at);
                let secret = if share.kx.group() == group {
                    share.kx.complete(server_key)
                } else {
                    share.kx.complete_hybrid_component(server_key)
                }
                .map_err(|_| illegal("invalid server key share"))?;
                (Some(secret), Some(group), KeyExchangeMode::PskDhe)
            }
            None => {
                if let Some((_, Some(_))) = hello.retry {
                    return Err(illegal(
                        "ServerHello lacks the key_share the HelloRetryRequest asked for",
                    ));
                }
                if !modes.allows_psk_only() {
                    return Err(Error::PeerMisbehaved {
                        alert: AlertDescription::MissingExtension,
                        what: "ServerHello lacks key_share but we offered psk_dhe_ke only",
                    });
                }
                (None, None, KeyExchangeMode::PskOnly)
            }
        };

        let psk_suite = Suite::of(suite);
        let offered = hello.offered.swap_remove(index);
        // The early secret of the binder, unless the selected suite hashes differently from
        // the suite the binder was computed with (then the PSK's hash is ambiguous in the
        // provider: recompute with the selected suite).
        let early = if offered.early.hash_algorithm() == psk_suite.hash.algorithm() {
            offered.early
        } else {
            EarlySecret::of_psk(psk_suite, &offered.psk)
        };
        self.accepted_identity = Some(offered.psk.external_identity().to_vec());
        self.accepted_imported = offered.psk.is_imported();

        let mut transcript = core::mem::take(&mut hello.transcript);
        transcript.add(message);
        transcript.start_hash(psk_suite.hash);
        let secret = early.into_handshake_secret(shared_secret.as_ref().map(|s| s.secret_bytes()));
        let hello_hash = transcript.current_hash(psk_suite.hash);
        let (client_hs, server_hs) = secret.traffic_secrets(hello_hash.as_ref());

        core.suite = Some(suite);
        core.group = group;
        core.mode = Some(mode);
        core.set_read_key(suite, &server_hs);
        if self.config.middlebox_compat {
            core.send_ccs_once();
        }
        core.set_write_key(suite, &client_hs);

        Ok(State::ExpectEncryptedExtensions(Box::new(
            AfterServerHello {
                suite,
                secret,
                client_hs,
                server_hs,
                transcript,
            },
        )))
    }

    fn handle_hello_retry_request(
        &mut self,
        core: &mut ConnectionCommon,
        mut hello: Box<Hello>,
        message: &[u8],
        hrr: &codec::ServerHello<'_>,
        suite: &'static Tls13CipherSuite,
    ) -> Result<State, Error> {
        if hello.retry.is_some() {
            return Err(unexpected("second HelloRetryRequest"));
        }
        self.check_extensions(
            &hrr.extension_types,
            &[ext::SUPPORTED_VERSIONS, ext::KEY_SHARE, ext::COOKIE],
            "HelloRetryRequest",
        )?;
        if hrr.key_share.is_none() && hrr.cookie.is_none() {
            return Err(illegal(
                "HelloRetryRequest would not change the ClientHello",
            ));
        }
        let common = &self.config.common;
        let new_group = match hrr.key_share {
            Some((group, _)) => {
                let group = NamedGroup::from(group);
                let kx_group = common
                    .groups
                    .iter()
                    .copied()
                    .find(|g| g.name() == group)
                    .ok_or_else(|| {
                        illegal("HelloRetryRequest selected a group we did not offer")
                    })?;
                if !common.modes.allows_dhe() {
                    return Err(illegal("HelloRetryRequest asks for a key share in psk_ke"));
                }
                if hello
                    .key_shares
                    .iter()
                    .any(|k| k.kx.group() == group || k.hybrid_classical == Some(group))
                {
                    return Err(illegal(
                        "HelloRetryRequest selected a group we sent a share for",
                    ));
                }
                Some(kx_group)
            }
            None => None,
        };

        // RFC 8446 §4.4.1: ClientHello1 is replaced by message_hash in the transcript.
        let hash = suite.common.hash_provider;
        let ch1_hash = hello.transcript.current_hash(hash);
        let mut transcript = Transcript::default();
        transcript.add(&codec::message_hash(ch1_hash.as_ref()));
        transcript.add(message);
        transcript.start_hash(hash);
        hello.transcript = transcript;

        // Only PSKs usable with the selected suite stay (§4.1.4).
        hello.offered.retain(|o| o.psk.hash().matches(suite));
        if hello.offered.is_empty() {
            return Err(illegal(
                "HelloRetryRequest suite hash matches none of our PSKs",
            ));
        }
        if let Some(group) = new_group {
            hello.key_shares = vec![KeyShare {
                kx: group.start().map_err(Error::Rustls)?,
                hybrid_classical: None,
            }];
        }
        hello.retry = Some((suite, new_group.map(|g| g.name())));
        core.hello_retry = true;

        let ch2 = build_client_hello(&self.config, &hello, hrr.cookie)?;
        hello.transcript.add(&ch2);
        if self.config.middlebox_compat {
            core.send_ccs_once();
        }
        core.send_handshake(&ch2)?;
        Ok(State::ExpectServerHello(hello))
    }

    /// Extensions in a server message must be allowed there and answer ones we sent.
    fn check_extensions(&self, present: &[u16], allowed: &[u16], _what: &str) -> Result<(), Error> {
        let sent = self.sent_extensions();
        for typ in present {
            if allowed.contains(typ) {
                continue;
            }
            if sent.contains(typ) {
                return Err(illegal("extension not allowed in this server message"));
            }
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::UnsupportedExtension,
                what: "server sent an extension we did not offer",
            });
        }
        Ok(())
    }

    fn sent_extensions(&self) -> Vec<u16> {
        let mut sent = vec![
            ext::SUPPORTED_VERSIONS,
            ext::PSK_KEY_EXCHANGE_MODES,
            ext::PRE_SHARED_KEY,
        ];
        if self.config.common.modes.allows_dhe() {
            sent.extend([ext::SUPPORTED_GROUPS, ext::KEY_SHARE]);
        }
        if self.config.server_name.is_some() {
            sent.push(ext::SERVER_NAME);
        }
        if !self.config.common.alpn_protocols.is_empty() {
            sent.push(ext::ALPN);
        }
        sent
    }

    fn handle_encrypted_extensions(
        &mut self,
        core: &mut ConnectionCommon,
        mut st: Box<AfterServerHello>,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        let ee = codec::EncryptedExtensions::decode(body)?;
        // early_data (never offered) is not allowed: check_extensions answers it with
        // unsupported_extension like any unsolicited extension (RFC 8446 §4.2).
        // supported_groups (the server's preference, RFC 8446 §4.2.7) only if we sent ours.
        let mut allowed = Vec::new();
        if self.config.common.modes.allows_dhe() {
            allowed.push(ext::SUPPORTED_GROUPS);
        }
        if self.config.server_name.is_some() {
            allowed.push(ext::SERVER_NAME);
        }
        if !self.config.common.alpn_protocols.is_empty() {
            allowed.push(ext::ALPN);
        }
        self.check_extensions(&ee.extension_types, &allowed, "EncryptedExtensions")?;
        if let Some(proto) = ee.alpn {
            if !self.config.common.alpn_protocols.iter().any(|p| p == proto) {
                return Err(illegal("server selected an ALPN protocol we did not offer"));
            }
            core.alpn = Some(proto.to_vec());
        }
        st.transcript.add(message);
        Ok(State::ExpectFinished(st))
    }

    fn handle_finished(
        &mut self,
        core: &mut ConnectionCommon,
        mut st: Box<AfterServerHello>,
        message: &[u8],
        body: &[u8],
    ) -> Result<State, Error> {
        let suite = Suite::of(st.suite);
        let expected = st
            .server_hs
            .verify_data(suite, st.transcript.current_hash(suite.hash).as_ref());
        if body.len() != expected.len() {
            return Err(codec::decode_error("Finished of the wrong length"));
        }
        if !bool::from(body.ct_eq(&expected)) {
            return Err(Error::PeerMisbehaved {
                alert: AlertDescription::DecryptError,
                what: "server Finished does not verify",
            });
        }
        st.transcript.add(message);
        let handshake_hash = st.transcript.current_hash(suite.hash);
        let AfterServerHello {
            suite: cipher_suite,
            secret,
            client_hs,
            transcript,
            ..
        } = *st;
        let master = secret.into_master_secret();
        let (client_ap, server_ap, exporter) = master.application_secrets(handshake_hash.as_ref());
        core.start_reading_app_data(cipher_suite, server_ap);

        let verify_data =
            client_hs.verify_data(suite, transcript.current_hash(suite.hash).as_ref());
        core.send_handshake(&codec::encode_finished(&verify_data))?;
        let rekey_after = self.config.common.rekey_after(cipher_suite);
        core.start_writing_app_data(cipher_suite, client_ap, rekey_after);
        core.set_exporter(exporter);
        core.complete_handshake();
        Ok(State::Done)
    }
}

impl Handshake for ClientHandshake {
    fn handle(&mut self, core: &mut ConnectionCommon, message: &[u8]) -> Result<(), Error> {
        let (typ, body) = codec::split_handshake(message)?;
        let state = core::mem::replace(&mut self.state, State::Failed);
        let next = match (state, typ) {
            (State::ExpectServerHello(hello), hs::SERVER_HELLO) => {
                self.handle_server_hello(core, hello, message, body)
            }
            (State::ExpectEncryptedExtensions(st), hs::ENCRYPTED_EXTENSIONS) => {
                self.handle_encrypted_extensions(core, st, message, body)
            }
            (State::ExpectFinished(st), hs::FINISHED) => {
                self.handle_finished(core, st, message, body)
            }
            (State::Tls12(mut h), _) => {
                let handled = h.handle(core, message);
                self.accepted_identity = h.accepted_identity().map(<[u8]>::to_vec);
                handled.map(|()| State::Tls12(h))
            }
            (
                State::ExpectFinished(_),
                hs::CERTIFICATE | hs::CERTIFICATE_REQUEST | hs::CERTIFICATE_VERIFY,
            ) => Err(unexpected("certificate message in a PSK-only handshake")),
            (State::Failed, _) => Err(Error::InvalidState("the handshake has already failed")),
            _ => Err(unexpected("handshake message not expected in this state")),
        }?;
        self.state = next;
        Ok(())
    }
}

fn random_bytes<const N: usize>(config: &PskClientConfig) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    config
        .common
        .provider
        .secure_random
        .fill(&mut out)
        .map_err(|_| Error::Rustls(rustls::Error::FailedToGetRandomBytes))?;
    Ok(out)
}

fn start_key_share(
    group: &'static dyn rustls::crypto::SupportedKxGroup,
    all: &[&'static dyn rustls::crypto::SupportedKxGroup],
) -> Result<KeyShare, Error> {
    let kx = group.start().map_err(Error::Rustls)?;
    // A hybrid group's classical part doubles as a second share (as rustls does), so a
    // server without the hybrid group needs no HelloRetryRequest.
    let hybrid_classical = kx
        .hybrid_component()
        .map(|(g, _)| g)
        .filter(|g| all.iter().any(|x| x.name() == *g));
    Ok(KeyShare {
        kx,
        hybrid_classical,
    })
}

/// Encodes a ClientHello for `hello` and fills in the binders.
fn build_client_hello(
    config: &PskClientConfig,
    hello: &Hello,
    cookie: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let common = &config.common;
    let mut suites: Vec<u16> = hello
        .suites
        .iter()
        .map(|s| u16::from(s.common.suite))
        .collect();
    // With TLS 1.2 on too: its suites after ours, and its extensions (RFC 8446 §4.1.2 lets
    // one ClientHello offer both).
    let tls12 = common.versions.tls12;
    let mut tls12_ecdhe = false;
    if tls12 {
        let (tls12_suites, _) = Client12::offer(config);
        tls12_ecdhe = tls12_suites.iter().any(|s| s.ecdhe);
        suites.extend(tls12_suites.iter().map(|s| s.code));
    }
    let groups: Vec<u16> = if common.modes.allows_dhe() {
        common.groups.iter().map(|g| u16::from(g.name())).collect()
    } else {
        Vec::new()
    };
    let mut shares: Vec<(u16, &[u8])> = Vec::new();
    for k in &hello.key_shares {
        shares.push((u16::from(k.kx.group()), k.kx.pub_key()));
        if let (Some(g), Some((_, key))) = (k.hybrid_classical, k.kx.hybrid_component()) {
            shares.push((u16::from(g), key));
        }
    }
    let psks: Vec<(&[u8], usize)> = hello
        .offered
        .iter()
        .map(|o| (o.psk.identity(), o.psk.hash().output_len()))
        .collect();
    let (mut message, binders_len) = codec::encode_client_hello(&ClientHelloParams {
        random: &hello.random,
        session_id: &hello.session_id,
        cipher_suites: &suites,
        server_name: config.server_name.as_deref(),
        supported_groups: &groups,
        key_shares: &shares,
        psk_modes: common.modes.wire(),
        alpn: &common.alpn_protocols,
        cookie,
        psks: &psks,
        tls12: tls12.then_some(tls12_ecdhe),
    })?;
    let truncated = &message[..message.len() - binders_len];
    let binders: Vec<Vec<u8>> = hello
        .offered
        .iter()
        .map(|o| {
            let th = hello.transcript.hash_with(o.binder_suite.hash, truncated);
            o.early.binder(th.as_ref())
        })
        .collect();
    let refs: Vec<&[u8]> = binders.iter().map(|b| b.as_slice()).collect();
    codec::fill_binders(&mut message, binders_len, &refs);
    Ok(message)
}
