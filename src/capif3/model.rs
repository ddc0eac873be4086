//! The TS 29.222 `CAPIF_Security_API` data this crate reads and writes, and the request target
//! of the CCF's `trustedInvokers` resource: `InterfaceDescription`, `SecurityMethod`,
//! `SecurityInformation`, `ServiceSecurity`, `SecurityNotification` (TS 29.222 V18.4.0 OpenAPI:
//! `TS29222_CAPIF_Security_API.yaml`, `TS29222_CAPIF_Publish_Service_API.yaml`) and the error
//! body `ProblemDetails` (TS 29.122 `TS29122_CommonData.yaml`, `application/problem+json`).
//!
//! Lenient on input, exact on output: unknown fields and unknown enumeration values are
//! tolerated when parsing (a newer CCF may send them), but serializing refuses (a serde error)
//! any value the official OpenAPI schemas would reject: an `InterfaceDescription` without
//! exactly one of `ipv4Addr`/`ipv6Addr`/`fqdn` or with an address that does not match TS
//! 29.571's patterns, a `SecurityInformation` without `prefSecurityMethods` or without exactly
//! one of `interfaceDetails`/`aefId`, a `ServiceSecurity` whose `notificationDestination` is
//! not an absolute URI. `tests/capif3_schema.rs` checks every body against the schemas.

use core::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::*;
use crate::error::Error;
use crate::kdf::{InterfaceDescription, ServiceApiInterface};
use crate::secret::AefPsk;

/// `application/problem+json`: the media type of [`ProblemDetails`] error bodies (RFC 9457,
/// TS 29.122).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A serde error for a value that the OpenAPI schema would refuse.
fn invalid_output<E: serde::ser::Error>(why: impl fmt::Display) -> E {
    E::custom(format_args!("not a valid TS 29.222 body: {why}"))
}

/// TS 29.222 `SecurityMethod` (an open enumeration: unknown values are kept as
/// [`SecurityMethod::Other`] on input and sent back unchanged).
///
/// ```
/// use rustls_capif::capif3::SecurityMethod;
/// assert_eq!(SecurityMethod::from("PSK"), SecurityMethod::Psk);
/// assert_eq!(SecurityMethod::from("QUANTUM").as_str(), "QUANTUM");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecurityMethod {
    /// `PSK`: security method 1, TLS-PSK (TS 33.122), what this crate implements.
    Psk,
    /// `PKI`: security method 2, TLS with certificates.
    Pki,
    /// `OAUTH`: security method 3, TLS with an OAuth token.
    Oauth,
    /// A value this version of TS 29.222 does not define.
    Other(String),
}

impl SecurityMethod {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Psk => SECURITY_METHOD_PSK,
            Self::Pki => "PKI",
            Self::Oauth => "OAUTH",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for SecurityMethod {
    fn from(value: &str) -> Self {
        match value {
            SECURITY_METHOD_PSK => Self::Psk,
            "PKI" => Self::Pki,
            "OAUTH" => Self::Oauth,
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<String> for SecurityMethod {
    fn from(value: String) -> Self {
        Self::from(value.as_str())
    }
}

impl fmt::Display for SecurityMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SecurityMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SecurityMethod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// TS 29.222 `InterfaceDescription` (CAPIF_Publish_Service_API): exactly one of `ipv4Addr`,
/// `ipv6Addr`, `fqdn`, and an optional `port`.
///
/// Parsing accepts what [`ServiceApiInterface`] accepts (e.g. `localhost`, mixed-notation
/// IPv6), so that P0 can be computed from any CCF's or AEF's description. Serializing is
/// exact, otherwise it fails: `fqdn` must match TS 29.571's `Fqdn` pattern (at least two
/// labels, a top-level label of 2 to 63 letters, no `_`), and the addresses must be the text
/// TS 29.122 describes (its schema leaves them plain strings), checked as TS 29.571's
/// patterns would: `ipv4Addr` a dotted quad, `ipv6Addr` the RFC 5952 §4 form in lowercase
/// hex, never the §5 mixed notation. [`to_wire`](Self::to_wire) gives the form this crate sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceDescriptionJson {
    /// `ipv4Addr`
    #[serde(default)]
    pub ipv4_addr: Option<String>,
    /// `ipv6Addr`
    #[serde(default)]
    pub ipv6_addr: Option<String>,
    /// `fqdn`
    #[serde(default)]
    pub fqdn: Option<String>,
    /// `port`
    #[serde(default)]
    pub port: Option<u16>,
    /// `apiPrefix`
    #[serde(default)]
    pub api_prefix: Option<String>,
    /// `securityMethods` (omitted from JSON when empty: the schema wants at least one)
    #[serde(default)]
    pub security_methods: Vec<SecurityMethod>,
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

    /// This description as this crate sends it in a body: `ipv6Addr` in the RFC 5952 §4 hex
    /// form TS 29.571 requires (so `::FFFF:192.0.2.1` becomes `::ffff:c000:201`; P0 is the
    /// same), everything else unchanged. [`Error::InvalidInterface`] if it still is not a
    /// valid TS 29.222 `InterfaceDescription`, for example an `fqdn` that P0 accepts but TS
    /// 29.571's `Fqdn` pattern refuses (a single label such as `localhost`, or a `_`): such an
    /// interface can be used for P0 but cannot be named in a body.
    pub fn to_wire(&self) -> Result<Self, Error> {
        let mut wire = self.clone();
        if let Some(v6) = &self.ipv6_addr {
            let addr: std::net::Ipv6Addr = v6.parse().map_err(|_| {
                Error::InvalidInterface(format!("ipv6Addr {v6:?} is not an IPv6 address"))
            })?;
            let canonical = ServiceApiInterface::from_ip_host(addr.into());
            wire.ipv6_addr = canonical.host().map(str::to_string);
        }
        wire.check_wire().map_err(Error::InvalidInterface)?;
        Ok(wire)
    }

    /// Why this is not a valid TS 29.222 `InterfaceDescription` as it stands.
    fn check_wire(&self) -> Result<(), String> {
        match (&self.ipv4_addr, &self.ipv6_addr, &self.fqdn) {
            (Some(v4), None, None) => {
                let ok = v4
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|a| a.to_string() == *v4);
                ok.then_some(())
                    .ok_or_else(|| format!("ipv4Addr {v4:?} is not a TS 29.571 Ipv4Addr"))
            }
            (None, Some(v6), None) => {
                let canonical = v6
                    .parse::<std::net::Ipv6Addr>()
                    .ok()
                    .map(|a| ServiceApiInterface::from_ip_host(a.into()));
                let ok = canonical.as_ref().and_then(|c| c.host()) == Some(v6.as_str());
                ok.then_some(()).ok_or_else(|| {
                    format!("ipv6Addr {v6:?} is not in the RFC 5952 hex form of TS 29.571 Ipv6Addr")
                })
            }
            (None, None, Some(fqdn)) => is_ts29571_fqdn(fqdn).then_some(()).ok_or_else(|| {
                format!(
                    "fqdn {fqdn:?} is not a TS 29.571 Fqdn (two or more labels of letters, digits \
                     and '-', a top-level label of 2 to 63 letters, 4 to 253 characters)"
                )
            }),
            _ => {
                Err("an InterfaceDescription needs exactly one of ipv4Addr, ipv6Addr, fqdn".into())
            }
        }
    }
}

/// TS 29.571 `Fqdn`: `^([0-9A-Za-z]([-0-9A-Za-z]{0,61}[0-9A-Za-z])?\.)+[A-Za-z]{2,63}\.?$`,
/// 4 to 253 characters.
fn is_ts29571_fqdn(fqdn: &str) -> bool {
    if !(4..=253).contains(&fqdn.len()) {
        return false;
    }
    let name = fqdn.strip_suffix('.').unwrap_or(fqdn);
    let Some((labels, top)) = name.rsplit_once('.') else {
        return false; // a single label
    };
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (2..=63).contains(&top.len())
        && top.bytes().all(|b| b.is_ascii_alphabetic())
        && labels.split('.').all(label_ok)
}

/// The JSON form of an [`InterfaceDescriptionJson`] that passed its checks.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InterfaceDescriptionWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4_addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6_addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fqdn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    security_methods: &'a [SecurityMethod],
}

impl Serialize for InterfaceDescriptionJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.check_wire().map_err(invalid_output)?;
        InterfaceDescriptionWire {
            ipv4_addr: self.ipv4_addr.as_deref(),
            ipv6_addr: self.ipv6_addr.as_deref(),
            fqdn: self.fqdn.as_deref(),
            port: self.port,
            api_prefix: self.api_prefix.as_deref(),
            security_methods: &self.security_methods,
        }
        .serialize(serializer)
    }
}

/// TS 29.222 `SecurityInformation`: names the AEF by `interfaceDetails` **or**
/// `aefId` (the schema's `oneOf`), with `prefSecurityMethods` (at least one, required).
/// Parsing tolerates either, both or none (the resolver then simply finds no entry);
/// serializing requires exactly one and a non-empty `prefSecurityMethods`.
/// `authenticationInfo` is zeroized on drop and redacted in `Debug`.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityInformation {
    /// `interfaceDetails`
    #[serde(default)]
    pub interface_details: Option<InterfaceDescriptionJson>,
    /// `aefId`
    #[serde(default)]
    pub aef_id: Option<String>,
    /// `prefSecurityMethods`
    #[serde(default)]
    pub pref_security_methods: Vec<SecurityMethod>,
    /// `selSecurityMethod`
    #[serde(default)]
    pub sel_security_method: Option<SecurityMethod>,
    /// `authenticationInfo`: the AEFPSK as lowercase hex (this crate's encoding), zeroized
    /// wherever the value goes.
    #[serde(default)]
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityInformationWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    interface_details: Option<&'a InterfaceDescriptionJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aef_id: Option<&'a str>,
    pref_security_methods: &'a [SecurityMethod],
    #[serde(skip_serializing_if = "Option::is_none")]
    sel_security_method: Option<&'a SecurityMethod>,
    /// Borrowed: the key's hex goes straight into the serializer's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    authentication_info: Option<&'a str>,
}

impl Serialize for SecurityInformation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.interface_details.is_some() == self.aef_id.is_some() {
            return Err(invalid_output(
                "a SecurityInformation needs exactly one of interfaceDetails, aefId",
            ));
        }
        if self.pref_security_methods.is_empty() {
            return Err(invalid_output(
                "a SecurityInformation needs at least one prefSecurityMethods value",
            ));
        }
        SecurityInformationWire {
            interface_details: self.interface_details.as_ref(),
            aef_id: self.aef_id.as_deref(),
            pref_security_methods: &self.pref_security_methods,
            sel_security_method: self.sel_security_method.as_ref(),
            authentication_info: self.authentication_info.as_deref().map(String::as_str),
        }
        .serialize(serializer)
    }
}

/// TS 29.222 `ServiceSecurity`. `notificationDestination` is required by the
/// schema; parsing tolerates its absence (empty string), serializing requires an absolute
/// URI (RFC 3986 §4.3: a scheme, `:`, and no space or control character).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSecurity {
    /// `securityInfo`
    pub security_info: Vec<SecurityInformation>,
    /// `notificationDestination`: where the CCF sends the invoker's security notifications
    /// (the URI the invoker gave when it created the resource).
    #[serde(default)]
    pub notification_destination: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSecurityWire<'a> {
    security_info: &'a [SecurityInformation],
    notification_destination: &'a str,
}

impl Serialize for ServiceSecurity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !is_absolute_uri(&self.notification_destination) {
            return Err(invalid_output(
                "notificationDestination must be an absolute URI",
            ));
        }
        ServiceSecurityWire {
            security_info: &self.security_info,
            notification_destination: &self.notification_destination,
        }
        .serialize(serializer)
    }
}

/// An absolute URI in the sense this crate checks on output: `scheme ":" rest` (RFC 3986
/// §3.1 scheme, non-empty rest) without spaces, controls or characters RFC 3986 never allows.
pub(super) fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && rest.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                )
        })
}

/// TS 29.222 `Cause` of a [`SecurityNotification`] (an open enumeration).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationCause {
    /// `OVERLIMIT_USAGE`: the invoker used the service API beyond its limit.
    OverlimitUsage,
    /// `UNEXPECTED_REASON`: any other reason.
    UnexpectedReason,
    /// A value this version of TS 29.222 does not define.
    Other(String),
}

impl RevocationCause {
    /// The value as it appears in JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Self::OverlimitUsage => "OVERLIMIT_USAGE",
            Self::UnexpectedReason => "UNEXPECTED_REASON",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for RevocationCause {
    fn from(value: &str) -> Self {
        match value {
            "OVERLIMIT_USAGE" => Self::OverlimitUsage,
            "UNEXPECTED_REASON" => Self::UnexpectedReason,
            other => Self::Other(other.to_string()),
        }
    }
}

impl Serialize for RevocationCause {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RevocationCause {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::from(s.as_str()))
    }
}

/// TS 29.222 `SecurityNotification`: the CCF tells that an invoker's
/// authorization to some service APIs is revoked (carried by the AEF_Security_API's
/// `revoke-authorization` and by the CCF's notifications to the invoker). Serializing
/// requires at least one `apiIds` value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityNotification {
    /// `apiInvokerId`
    pub api_invoker_id: String,
    /// `aefId`
    #[serde(default)]
    pub aef_id: Option<String>,
    /// `apiIds`
    #[serde(default)]
    pub api_ids: Vec<String>,
    /// `cause`
    pub cause: RevocationCause,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityNotificationWire<'a> {
    api_invoker_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aef_id: Option<&'a str>,
    api_ids: &'a [String],
    cause: &'a RevocationCause,
}

impl Serialize for SecurityNotification {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.api_ids.is_empty() {
            return Err(invalid_output(
                "a SecurityNotification needs at least one apiIds value",
            ));
        }
        SecurityNotificationWire {
            api_invoker_id: &self.api_invoker_id,
            aef_id: self.aef_id.as_deref(),
            api_ids: &self.api_ids,
            cause: &self.cause,
        }
        .serialize(serializer)
    }
}

/// TS 29.122 `ProblemDetails` (RFC 9457): the body of every CAPIF error answer, sent as
/// [`PROBLEM_JSON`]. Every field is optional.
///
/// ```
/// use rustls_capif::capif3::ProblemDetails;
/// let body = ProblemDetails::new(404, "Not Found", "no such API invoker").to_json();
/// assert_eq!(body, br#"{"title":"Not Found","status":404,"detail":"no such API invoker"}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetails {
    /// `type`: a URI naming the problem type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// `title`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `status`: the HTTP status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `detail`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `instance`: a URI naming this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `cause`: a machine-readable application error cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// `invalidParams`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
}

/// TS 29.122 `InvalidParam`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidParam {
    /// `param`: the attribute (a JSON Pointer) or header name.
    pub param: String,
    /// `reason`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ProblemDetails {
    /// A problem with an HTTP status, its title and a human-readable detail.
    pub fn new(status: u16, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            title: Some(title.into()),
            detail: Some(detail.into()),
            ..Self::default()
        }
    }

    /// The same problem with a machine-readable `cause`.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // Only strings and an integer: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
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
            if *method != SecurityMethod::Psk {
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
