//! The API invoker ID as the AEF sees it: the PSK identity a CAPIF-2e handshake authenticated.

use core::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::psk::ExternalPsk;

/// The API invoker ID a CAPIF-2e connection was authenticated with: the PSK identity
/// (TS 33.122 §6.5.2.1, this crate's CAPIF profile; TS 29.222 `apiInvokerId`).
///
/// Valid UTF-8 of 1 to 65535 octets; cloning is cheap (shared). `Display` prints the ID as
/// is, `Debug` quotes and escapes it (safe for logs).
///
/// ```
/// use rustls_capif::http::ApiInvokerId;
/// let id: ApiInvokerId = "INV0001".parse()?;
/// assert_eq!(id.as_str(), "INV0001");
/// assert!(ApiInvokerId::try_from(&b"\xff\xfe"[..]).is_err());
/// # Ok::<(), rustls_capif::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiInvokerId(Arc<str>);

impl ApiInvokerId {
    /// Validates `id`: non-empty, at most 65535 octets (a PSK identity).
    pub fn new(id: &str) -> Result<Self, Error> {
        if id.is_empty() {
            return Err(Error::InvalidInvokerId("empty"));
        }
        if id.len() > ExternalPsk::MAX_IDENTITY_LEN {
            return Err(Error::InvalidInvokerId("longer than 65535 octets"));
        }
        Ok(Self(Arc::from(id)))
    }

    /// The ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ID as the PSK identity octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl TryFrom<&[u8]> for ApiInvokerId {
    type Error = Error;

    /// Validates a PSK identity as an API invoker ID (UTF-8).
    fn try_from(identity: &[u8]) -> Result<Self, Error> {
        let id = core::str::from_utf8(identity)
            .map_err(|_| Error::InvalidInvokerId("not valid UTF-8"))?;
        Self::new(id)
    }
}

impl core::str::FromStr for ApiInvokerId {
    type Err = Error;

    fn from_str(id: &str) -> Result<Self, Error> {
        Self::new(id)
    }
}

impl AsRef<str> for ApiInvokerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiInvokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ApiInvokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiInvokerId({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(
            ApiInvokerId::try_from(&b"INV0001"[..]).unwrap().as_bytes(),
            b"INV0001"
        );
        assert!(ApiInvokerId::try_from(&b""[..]).is_err());
        assert!(ApiInvokerId::try_from(&b"INV\xc3"[..]).is_err());
        assert!(ApiInvokerId::new(&"a".repeat(65_536)).is_err());
        assert!(ApiInvokerId::new(&"a".repeat(65_535)).is_ok());
        let id = ApiInvokerId::new("in\nv").unwrap();
        assert_eq!(format!("{id:?}"), r#"ApiInvokerId("in\nv")"#);
    }
}
