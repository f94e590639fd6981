"""Signing keys of atproto: K-256 and P-256 ECDSA, low-S, and the did:key string forms.

Spec: https://atproto.com/specs/cryptography

- `Keypair.generate` / `Keypair.from_private_bytes` make a signing key; `Keypair.sign` returns
  the 64-byte ``r || s`` over SHA-256, always low-S.
- `parse_did_key`, `parse_multikey` and `parse_legacy_multibase` read the string forms found in
  DID documents and PLC operations into a `PublicKey`; `PublicKey.verify` checks a signature
  (False, never an exception, for a bad one). `verify_signature` does both in one call.
- Unreadable keys raise `InvalidKeyError` with the reason.

Layout, each module importing only those below it::

    didkey.py     did:key / Multikey / legacy strings -> PublicKey, verify_signature
        |
    keys.py       PublicKey, Keypair: length, range and low-S checks, did:key encoding
        |
        +-- _k256.py   libsecp256k1 over coincurve's cffi binding (the fast, common path)
        +-- _p256.py   pyca cryptography, imported on the first P-256 key only
        |
    curves.py     curve names, group orders, multicodecs, JWT algs
    (base58btc comes from ``atproto_async._base58``, shared with ``ipld``)

Sans-I/O, like ``ipld``: bytes and strings in, values out. No module-level state besides
constants; a key keeps its parsed backend object, so hold on to `PublicKey` objects (the
identity cache does) to verify many signatures cheaply.
"""

from __future__ import annotations

from atproto_async.crypto.curves import (
    CURVE_FOR_JWT_ALG,
    CURVES,
    JWT_ALG,
    K256,
    K256_ORDER,
    MULTICODEC_PREFIX,
    P256,
    P256_ORDER,
    Curve,
)
from atproto_async.crypto.didkey import (
    DID_KEY_PREFIX,
    MAX_KEY_STRING_LENGTH,
    parse_did_key,
    parse_legacy_multibase,
    parse_multikey,
    verify_signature,
)
from atproto_async.crypto.keys import BytesLike, Keypair, PublicKey
from atproto_async.exceptions import InvalidKeyError

__all__ = [
    "CURVES",
    "CURVE_FOR_JWT_ALG",
    "DID_KEY_PREFIX",
    "JWT_ALG",
    "K256",
    "K256_ORDER",
    "MAX_KEY_STRING_LENGTH",
    "MULTICODEC_PREFIX",
    "P256",
    "P256_ORDER",
    "BytesLike",
    "Curve",
    "InvalidKeyError",
    "Keypair",
    "PublicKey",
    "parse_did_key",
    "parse_legacy_multibase",
    "parse_multikey",
    "verify_signature",
]
