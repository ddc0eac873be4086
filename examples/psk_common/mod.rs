//! What the `psk_client` and `psk_server` examples share: the names `--groups` takes.

use rustls::NamedGroup;

/// `--groups LIST`: comma-separated names (x25519, secp256r1/p-256, secp384r1/p-384,
/// x25519mlkem768, ffdhe2048, ffdhe3072 — the last two need the `ffdhe` feature).
pub fn parse_groups(list: &str) -> Result<Vec<NamedGroup>, String> {
    list.split(',')
        .map(|name| match name.trim().to_ascii_lowercase().as_str() {
            "x25519" => Ok(NamedGroup::X25519),
            "secp256r1" | "p-256" | "p256" => Ok(NamedGroup::secp256r1),
            "secp384r1" | "p-384" | "p384" => Ok(NamedGroup::secp384r1),
            "x25519mlkem768" => Ok(NamedGroup::X25519MLKEM768),
            "ffdhe2048" => Ok(NamedGroup::FFDHE2048),
            "ffdhe3072" => Ok(NamedGroup::FFDHE3072),
            other => Err(format!("--groups: unknown group {other:?}")),
        })
        .collect()
}
