#!/usr/bin/env bash
# Serving benchmark (BENCHMARKS.md, "Serving"): the same axum app over this crate's
# PskListener, behind stunnel (TLS 1.3 PSK, PSKsecrets) on plain TCP, and over tokio-rustls
# with an ECDSA P-256 certificate; new connections/s (one GET each) and requests/s on
# kept-alive connections, p50/p99, one load generator, one run, ratios. Loopback only.
#
#   scripts/bench-serving.sh                       # 4 rounds x 3 servers x 2 modes x 3 s (~80 s)
#   SECS=5 ROUNDS=6 CONNS=32 scripts/bench-serving.sh
#   CASES=ours,cert scripts/bench-serving.sh       # without stunnel
#
# Needs stunnel (Debian: apt-get install -y stunnel4); STUNNEL=/path/to/stunnel overrides.
# The example starts stunnel on a free loopback port and stops it when done.
set -euo pipefail
cd "$(dirname "$0")/.."
case ",${CASES:-stunnel}," in
  *,stunnel,*)
    command -v "${STUNNEL:-stunnel4}" >/dev/null ||
      { echo "stunnel is not installed (apt-get install -y stunnel4)" >&2; exit 1; }
    "${STUNNEL:-stunnel4}" -version 2>&1 | grep -m1 '^stunnel' >&2 || true ;;
esac
cargo build --release --features axum --example serve_compare
exec target/release/examples/serve_compare
