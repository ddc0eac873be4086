#!/usr/bin/env bash
# Instruction counts (callgrind) per handshake and per 16 KiB record for the cases of
# benches/psk.rs: reproducible on a loaded machine, where wall-clock figures drift.
#
#   scripts/bench-callgrind.sh                 # every case
#   scripts/bench-callgrind.sh psk_ke psk_dhe_ke
#   KEEP=/tmp/cg scripts/bench-callgrind.sh    # keep callgrind.out.<case> for callgrind_annotate
#
# Each case runs ITERS iterations (after a warm-up) inside `psk::measured_loop`, the only code
# callgrind counts (--toggle-collect), so setup and the warm-up are excluded.
# Note: valgrind hides SHA-NI and some other CPU extensions from aws-lc, which then takes its
# AVX code paths; counts weigh SHA-256 and X25519 more heavily than the real CPU does.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

bin=$(cargo bench --bench psk --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*psk-[0-9a-f]*\)).*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "could not find the bench binary" >&2; exit 1; }

handshakes=(psk_dhe_ke psk_ke rustls_ecdsa_p256 openssl_psk_dhe_ke)
bulk=(bulk_aes128gcm_ours bulk_aes128gcm_rustls bulk_chacha20poly1305_ours bulk_chacha20poly1305_rustls)
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("${handshakes[@]}" "${bulk[@]}")

out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"
declare -A ir
for c in "${cases[@]}"; do
  case $c in bulk_*) iters=${ITERS:-200} ;; *) iters=${ITERS:-50} ;; esac
  collected=$(PSK_BENCH_CASE=$c PSK_BENCH_ITERS=$iters valgrind --tool=callgrind \
      --toggle-collect='*measured_loop*' --callgrind-out-file="$out/callgrind.out.$c" "$bin" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  ir[$c]=$((collected / iters))
  printf '%-30s %12d Ir per iteration (%d iterations)\n' "$c" "${ir[$c]}" "$iters"
done

ratio() { # base / x: how many times cheaper x is
  if [ -n "${ir[$1]:-}" ] && [ -n "${ir[$2]:-}" ]; then
    awk -v a="${ir[$1]}" -v b="${ir[$2]}" -v l="$3" 'BEGIN { printf "  %-44s %6.2fx\n", l, a / b }'
  fi
}
echo "ratios (instructions):"
ratio rustls_ecdsa_p256 psk_dhe_ke "psk_dhe_ke vs rustls_ecdsa_p256"
ratio openssl_psk_dhe_ke psk_dhe_ke "psk_dhe_ke vs openssl_psk_dhe_ke"
ratio rustls_ecdsa_p256 psk_ke "psk_ke vs rustls_ecdsa_p256"
ratio openssl_psk_dhe_ke psk_ke "psk_ke vs openssl_psk_dhe_ke"
ratio bulk_aes128gcm_rustls bulk_aes128gcm_ours "bulk aes128gcm ours vs rustls"
ratio bulk_chacha20poly1305_rustls bulk_chacha20poly1305_ours "bulk chacha20poly1305 ours vs rustls"
[ -n "${KEEP:-}" ] || rm -rf "$out"
