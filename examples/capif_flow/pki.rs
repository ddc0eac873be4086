//! A throwaway PKI made with rcgen at start-up: a CA and leaf certificates for the CCF, the
//! AEF and the invoker. Shared by the `capif_flow` example and the tests (`#[path]`).
#![allow(dead_code)]

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate chain and its key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rustls-capif test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A leaf for `names` (DNS names or IP addresses), usable as server and client.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).unwrap();
        roots
    }

    /// A server config for `names`, requiring client certificates from this CA if asked.
    pub fn server_config(&self, names: &[&str], client_auth: bool) -> rustls::ServerConfig {
        let leaf = self.leaf(names);
        let builder = rustls::ServerConfig::builder_with_provider(rustls_capif::default_provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(self.roots()),
                rustls_capif::default_provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder.with_single_cert(leaf.chain, leaf.key).unwrap()
    }

    /// A client config trusting this CA, presenting a certificate for `client_names` if given.
    pub fn client_config(&self, client_names: Option<&[&str]>) -> rustls::ClientConfig {
        let builder = rustls::ClientConfig::builder_with_provider(rustls_capif::default_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots());
        match client_names {
            Some(names) => {
                let leaf = self.leaf(names);
                builder.with_client_auth_cert(leaf.chain, leaf.key).unwrap()
            }
            None => builder.with_no_client_auth(),
        }
    }

    /// A client config trusting this CA and presenting `leaf` (a role whose certificate the
    /// peer pins, e.g. the CCF's on the AEF's revocation endpoint).
    pub fn client_config_with(&self, leaf: &Leaf) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(rustls_capif::default_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots())
            .with_client_auth_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap()
    }
}
