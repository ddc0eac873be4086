//! HKDF-Expand-Label (RFC 8446 §7.1) and the TLS 1.3 exporter (RFC 8446 §7.5), computed with
//! the HKDF and hash of a rustls provider. Shared by the PSK engine's key schedule and the
//! CAPIF-1e TLS 1.3 profile (which computes its exporter value from the captured exporter
//! master secret).

use rustls::crypto::hash::Hash;
use rustls::crypto::tls13::{Hkdf, HkdfExpander, OkmBlock};

use crate::error::Error;

const LABEL_PREFIX: &[u8] = b"tls13 ";

/// `HkdfLabel` (length, "tls13 " + label, context) as the slices HKDF-Expand takes.
fn with_info<R>(
    out_len: usize,
    label: &[u8],
    context: &[u8],
    f: impl FnOnce(&[&[u8]]) -> R,
) -> Result<R, Error> {
    let length = u16::try_from(out_len)
        .map_err(|_| Error::InvalidConfig("HKDF-Expand-Label output too long".into()))?
        .to_be_bytes();
    let label_len = [u8::try_from(LABEL_PREFIX.len() + label.len())
        .map_err(|_| Error::InvalidConfig("HKDF-Expand-Label label too long".into()))?];
    let context_len = [u8::try_from(context.len())
        .map_err(|_| Error::InvalidConfig("HKDF-Expand-Label context too long".into()))?];
    Ok(f(&[
        &length,
        &label_len,
        LABEL_PREFIX,
        label,
        &context_len,
        context,
    ]))
}

/// HKDF-Expand-Label(secret, label, context, out.len()) into `out`.
pub(crate) fn expand_label(
    expander: &dyn HkdfExpander,
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let len = out.len();
    with_info(len, label, context, |info| expander.expand_slice(info, out))?
        .map_err(|_| Error::InvalidConfig("HKDF-Expand output longer than 255 hash lengths".into()))
}

/// HKDF-Expand-Label with an output of one hash length (labels and contexts here are the
/// RFC's own, always within bounds).
pub(crate) fn expand_label_block(
    expander: &dyn HkdfExpander,
    label: &[u8],
    context: &[u8],
) -> OkmBlock {
    let len = expander.hash_len();
    with_info(len, label, context, |info| expander.expand_block(info))
        .unwrap_or_else(|_| expander.expand_block(&[]))
}

/// TLS-Exporter(label, context, out.len()) from the exporter master secret:
///
/// ```text
/// secret = Derive-Secret(exporter_master_secret, label, "")
/// out    = HKDF-Expand-Label(secret, "exporter", Hash(context), out.len())
/// ```
///
/// An absent context is the same as an empty one in TLS 1.3.
pub(crate) fn export(
    hkdf: &dyn Hkdf,
    hash: &dyn Hash,
    exporter_master_secret: &OkmBlock,
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    if LABEL_PREFIX.len() + label.len() > 255 {
        return Err(Error::InvalidConfig(
            "exporter label longer than 249 octets".into(),
        ));
    }
    let empty_hash = hash.hash(&[]);
    let expander = hkdf.expander_for_okm(exporter_master_secret);
    let secret = expand_label_block(expander.as_ref(), label, empty_hash.as_ref());
    let context_hash = hash.hash(context);
    let expander = hkdf.expander_for_okm(&secret);
    expand_label(expander.as_ref(), b"exporter", context_hash.as_ref(), out)
}
