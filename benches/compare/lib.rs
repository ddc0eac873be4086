//! Empty: this package only carries the `psk` bench (see `Cargo.toml`).
