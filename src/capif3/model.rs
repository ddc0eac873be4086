//! The TS 29.222 `CAPIF_Security_API` data this crate reads and writes (`InterfaceDescription`,
//! `SecurityInformation`, `ServiceSecurity`), and the request target of the CCF's
//! `trustedInvokers` resource.

use core::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::*;
use crate::error::Error;
use crate::kdf::{InterfaceDescription, ServiceApiInterface};
use crate::secret::AefPsk;

/// TS 29.222 `InterfaceDescription`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceDescriptionJson {
    /// `ipv4Addr`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_addr: Option<String>,
    /// `ipv6Addr`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_addr: Option<String>,
    /// `fqdn`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// `port`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `apiPrefix`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_prefix: Option<String>,
    /// `securityMethods`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_methods: Vec<String>,
}

impl InterfaceDescriptionJson {
    /// The canonical P0 of this interface.
    pub fn service_api_interface(&self) -> Result<ServiceApiInterface, Error> {
        ServiceApiInterface::from_interface_description(&InterfaceDescription {
            ipv4_addr: self.ipv4_addr.as_deref(),
            ipv6_addr: self.ipv6_addr.as_deref(),
            fqdn: self.fqdn.as_deref(),
            port: self.port,
        })
    }
}

/// TS 29.222 `SecurityInformation`. `authenticationInfo` is zeroized on drop and redacted
/// in `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityInformation {
    /// `interfaceDetails`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_details: Option<InterfaceDescriptionJson>,
    /// `aefId`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aef_id: Option<String>,
    /// `prefSecurityMethods`
    #[serde(default)]
    pub pref_security_methods: Vec<String>,
    /// `selSecurityMethod`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sel_security_method: Option<String>,
    /// `authenticationInfo`: the AEFPSK as lowercase hex (this crate's encoding), zeroized
    /// wherever the value goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_info: Option<Zeroizing<String>>,
}

impl fmt::Debug for SecurityInformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityInformation")
            .field("interface_details", &self.interface_details)
            .field("aef_id", &self.aef_id)
            .field("pref_security_methods", &self.pref_security_methods)
            .field("sel_security_method", &self.sel_security_method)
            .field(
                "authentication_info",
                &self.authentication_info.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// TS 29.222 `ServiceSecurity`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSecurity {
    /// `securityInfo`
    pub security_info: Vec<SecurityInformation>,
    /// `notificationDestination`
    #[serde(default)]
    pub notification_destination: String,
}

impl ServiceSecurity {
    /// The AEFPSK of the entry for `interface` (or `aef_id`).
    pub fn aef_psk_for(
        &self,
        interface: &ServiceApiInterface,
        aef_id: Option<&str>,
    ) -> Result<AefPsk, KeyDeliveryError> {
        let entry = self
            .entry_for(interface, aef_id)
            .ok_or(KeyDeliveryError::NoEntryForInterface)?;
        if let Some(method) = &entry.sel_security_method {
            if method != SECURITY_METHOD_PSK {
                return Err(KeyDeliveryError::NoKey("selSecurityMethod is not PSK"));
            }
        }
        entry.aef_psk()
    }

    /// The entry for this AEF, in this order:
    ///
    /// 1. `interfaceDetails` whose P0 is this exact interface (compared as P0 octets, so an
    ///    interface made with `ServiceApiInterface::from_raw` matches too);
    /// 2. `interfaceDetails` without a `port` (TS 29.222 makes it optional) for this
    ///    interface's host: it names the AEF's host on any port, and its key is derived with
    ///    the host-only P0 by both the CCF and the invoker (see [`crate::kdf`]);
    /// 3. `aefId` equal to `aef_id` (an entry may name the AEF only by its aefId).
    pub(super) fn entry_for(
        &self,
        interface: &ServiceApiInterface,
        aef_id: Option<&str>,
    ) -> Option<&SecurityInformation> {
        let p0 = |e: &SecurityInformation| {
            e.interface_details
                .as_ref()
                .and_then(|d| d.service_api_interface().ok())
        };
        let by_interface =
            |e: &&SecurityInformation| p0(e).is_some_and(|i| i.as_bytes() == interface.as_bytes());
        let host_only = interface.without_port();
        let by_host = |e: &&SecurityInformation| {
            host_only.as_ref().is_some_and(|host| {
                p0(e).is_some_and(|i| i.port().is_none() && i.as_bytes() == host.as_bytes())
            })
        };
        let by_id = |e: &&SecurityInformation| aef_id.is_some() && e.aef_id.as_deref() == aef_id;
        (self.security_info.iter().find(by_interface))
            .or_else(|| self.security_info.iter().find(by_host))
            .or_else(|| self.security_info.iter().find(by_id))
    }
}

impl SecurityInformation {
    /// The AEFPSK in `authenticationInfo`.
    pub(super) fn aef_psk(&self) -> Result<AefPsk, KeyDeliveryError> {
        let info = self
            .authentication_info
            .as_deref()
            .ok_or(KeyDeliveryError::NoKey("no authenticationInfo"))?;
        AefPsk::from_authentication_info(info)
            .map_err(|_| KeyDeliveryError::NoKey("authenticationInfo is not 64 hex digits"))
    }
}

/// A parsed `GET {prefix}/capif-security/v1/trustedInvokers/{apiInvokerId}` request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedInvokersRequest {
    /// `apiInvokerId` from the path.
    pub api_invoker_id: String,
    /// The `authenticationInfo` query parameter.
    pub authentication_info: bool,
}

impl TrustedInvokersRequest {
    /// Parses a request target (path and query). `None` if it is not this resource or the
    /// invoker ID is not made of URI unreserved characters.
    ///
    /// ```
    /// use rustls_capif::capif3::TrustedInvokersRequest;
    /// let r = TrustedInvokersRequest::parse(
    ///     "/capif-security/v1/trustedInvokers/inv-1?authenticationInfo=true").unwrap();
    /// assert_eq!(r.api_invoker_id, "inv-1");
    /// assert!(r.authentication_info);
    /// ```
    pub fn parse(target: &str) -> Option<Self> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (_, id) = path.rsplit_once("/capif-security/v1/trustedInvokers/")?;
        let id = invoker_id_from_identity(id.as_bytes())?;
        let authentication_info = query.split('&').any(|kv| kv == "authenticationInfo=true");
        Some(Self {
            api_invoker_id: id.to_string(),
            authentication_info,
        })
    }
}
