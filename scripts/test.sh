#!/usr/bin/env bash
# The test command of the README: installs the real TLS peers the interop tests drive, the
# redis-server the shared CCF key store tests start (tests/capif3_redis.rs) and the OpenSSL
# headers the comparison bench package builds against, when they are missing (Debian/Ubuntu,
# with apt-get), says what it installs, then runs every test.
#
#   scripts/test.sh                 # = cargo test --all-features, after the set-up
#   scripts/test.sh --test psk_negative   # extra arguments go to cargo test
#
# Where it cannot install (no apt-get, not root and no sudo), it says so and runs the tests
# anyway: each test that needs a missing binary then fails with an install hint.
set -euo pipefail
cd "$(dirname "$0")/.."

# binary -> Debian package
declare -A peers=(
  [openssl]=openssl            # s_server / s_client: PSK interop, CAPIF-1e checks
  [gnutls-serv]=gnutls-bin     # gnutls-serv / gnutls-cli: PSK interop
  [gnutls-cli]=gnutls-bin
  [redis-server]=redis-server  # the CCF key store shared on Redis (feature redis)
)

missing=()
for bin in "${!peers[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${peers[$bin]}")
done
# The OpenSSL comparison bench (benches/compare, a workspace member that `cargo test` builds)
# links libssl through the `openssl` crate: it needs pkg-config and the OpenSSL headers.
if ! pkg-config --exists openssl 2>/dev/null; then
  missing+=(pkg-config libssl-dev)
fi
# shellcheck disable=SC2207
missing=($(printf '%s\n' "${missing[@]}" | sort -u))

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    echo "scripts/test.sh: installing the peers the tests drive: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "scripts/test.sh: cannot install ${missing[*]} here (needs apt-get and root or sudo);" \
      "the tests that drive them will fail with an install hint" >&2
  fi
fi

# The schema tests validate CAPIF bodies against the 3GPP OpenAPI files beside the repository.
if [ ! -d ../shared/spec/3gpp-rel18 ] && [ "${RUSTLS_CAPIF_SKIP_SPEC:-}" != 1 ]; then
  echo "scripts/test.sh: the 3GPP OpenAPI files are not in ../shared/spec/3gpp-rel18: the schema" \
    "tests will fail; put TS 29.222 V18.4.0 and its common data there, or set" \
    "RUSTLS_CAPIF_SKIP_SPEC=1 to skip them" >&2
fi

command -v openssl >/dev/null 2>&1 && echo "peer: $(openssl version)" >&2
command -v gnutls-cli >/dev/null 2>&1 && echo "peer: $(gnutls-cli --version | head -n 1)" >&2
command -v redis-server >/dev/null 2>&1 && echo "peer: $(redis-server --version)" >&2

exec cargo test --all-features "$@"
