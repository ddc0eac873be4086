#!/usr/bin/env python3
"""Independent RFC 9258 (PSK importer) test vectors, Python stdlib only (hmac, hashlib).

Regenerate with:  python3 tests/data/rfc9258_vectors.py > tests/data/rfc9258_vectors.json

Written from the RFC text, not from the crate's code:
  ImportedIdentity = u16 len || external_identity || u16 len || context
                     || u16 target_protocol || u16 target_kdf                  (RFC 9258 5.1)
  epskx = HKDF-Extract(0, epsk)                          with the EPSK's hash
  ipskx = HKDF-Expand-Label(epskx, "derived psk", Hash(ImportedIdentity), L)  (EPSK's hash,
          L = output length of target_kdf: 32 for HKDF_SHA256 (1), 48 for HKDF_SHA384 (2))
  early      = HKDF-Extract(0, ipskx)                    with the target KDF's hash
  binder_key = Derive-Secret(early, "imp binder", "")                        (RFC 9258 5.2)
  binder     = HMAC(HKDF-Expand-Label(binder_key, "finished", "", Hash.len),
                    Transcript-Hash(truncated ClientHello))                   (RFC 8446 4.2.11.2)
For the binder the "truncated ClientHello" is the fixed string in `transcript` below.
"""
import hashlib
import hmac
import json

HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384}
KDFS = {1: "sha256", 2: "sha384"}


def extract(h, salt, ikm):
    if not salt:
        salt = bytes(h().digest_size)
    return hmac.new(salt, ikm, h).digest()


def expand(h, prk, info, n):
    out, block, i = b"", b"", 1
    while len(out) < n:
        block = hmac.new(prk, block + info + bytes([i]), h).digest()
        out += block
        i += 1
    return out[:n]


def expand_label(h, secret, label, context, n):
    full = b"tls13 " + label
    info = n.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return expand(h, secret, info, n)


def imported_identity(external_identity, context, target_protocol, target_kdf):
    return (len(external_identity).to_bytes(2, "big") + external_identity
            + len(context).to_bytes(2, "big") + context
            + target_protocol.to_bytes(2, "big") + target_kdf.to_bytes(2, "big"))


def vector(name, external_identity, epsk, epsk_hash, context, target_kdf, transcript):
    he = HASHES[epsk_hash]
    ht = HASHES[KDFS[target_kdf]]
    ident = imported_identity(external_identity, context, 0x0304, target_kdf)
    epskx = extract(he, None, epsk)
    ipskx = expand_label(he, epskx, b"derived psk", he(ident).digest(), ht().digest_size)
    early = extract(ht, None, ipskx)
    binder_key = expand_label(ht, early, b"imp binder", ht(b"").digest(), ht().digest_size)
    finished_key = expand_label(ht, binder_key, b"finished", b"", ht().digest_size)
    binder = hmac.new(finished_key, ht(transcript).digest(), ht).digest()
    return {
        "name": name,
        "external_identity": external_identity.hex(),
        "epsk": epsk.hex(),
        "epsk_hash": epsk_hash,
        "context": context.hex(),
        "target_kdf": target_kdf,
        "transcript": transcript.hex(),
        "imported_identity": ident.hex(),
        "ipskx": ipskx.hex(),
        "binder_key": binder_key.hex(),
        "binder": binder.hex(),
    }


T = b"truncated ClientHello stand-in"
VECTORS = [
    vector("aefpsk-sha256-to-sha256", b"INV0001", bytes(range(32)), "sha256", b"", 1, T),
    vector("aefpsk-sha256-to-sha384", b"INV0001", bytes(range(32)), "sha256", b"", 2, T),
    vector("sha384-epsk-with-context", b"client-7", bytes([0x0B] * 48), "sha384",
           b"client=inv7;server=aef1", 1, T),
]

if __name__ == "__main__":
    print(json.dumps(VECTORS, indent=2))
