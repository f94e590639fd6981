"""K-256 (secp256k1) through libsecp256k1, called directly over coincurve's cffi binding.

This is the hot path: almost every atproto repository is signed with a K-256 key, and a relay
or AppView verifies a signature per commit. Signatures stay in the 64-byte compact form the
protocol uses (``secp256k1_ecdsa_signature_parse_compact``): going through
``coincurve.PublicKey.verify`` would mean building a DER encoding per call only for the library
to parse it back. ``benchmarks/bench_crypto.py --alternatives`` measures both: 39,300 verifies/s
here against 37,600/s through coincurve's DER API (4% more; the Python around the library call
costs under 1 us of the 25 us), and 4,300/s for pyca ``cryptography`` on the same signatures.

libsecp256k1 signs low-S only and its verify refuses high-S signatures. The caller
(`PublicKey.verify`) has already refused high-S unless malleable signatures are allowed, so
every signature is normalised here and strict mode never depends on the library's rule.

The context is coincurve's global one: its randomisation happens once, at import, and the
sign and verify calls only read it, so sharing it between threads is safe.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

_CTX: Final = GLOBAL_CONTEXT.ctx
_NULL: Final = ffi.NULL
_new = ffi.new
_sha256 = hashlib.sha256
_parse_compact = lib.secp256k1_ecdsa_signature_parse_compact
_normalize = lib.secp256k1_ecdsa_signature_normalize
_verify = lib.secp256k1_ecdsa_verify


def load_point(point: bytes) -> Any:
    """Return the parsed ``secp256k1_pubkey`` of a 33- or 65-byte point, or None if off-curve."""
    handle = _new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, handle, point, len(point)):
        return None
    return handle


def serialize(handle: Any, compressed: bool) -> bytes:
    """Return the SEC1 encoding of a parsed point (33 bytes compressed, else 65)."""
    size = 33 if compressed else 65
    out = _new("unsigned char[]", size)
    out_len = _new("size_t *", size)
    flag = lib.SECP256K1_EC_COMPRESSED if compressed else lib.SECP256K1_EC_UNCOMPRESSED
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, out_len, handle, flag)
    return bytes(ffi.buffer(out, out_len[0]))


def verify(handle: Any, data: bytes | bytearray | memoryview, sig: bytes) -> bool:
    """Check a 64-byte r||s signature whose r and s are already known to be in [1, n - 1]."""
    parsed = _new("secp256k1_ecdsa_signature *")
    if not _parse_compact(_CTX, parsed, sig):
        return False
    _normalize(_CTX, parsed, parsed)  # in place: a no-op for low-S, n - s for high-S
    return bool(_verify(_CTX, parsed, _sha256(data).digest(), handle))


def load_private(secret: bytes) -> tuple[bytes, Any]:
    """Return the signer (the secret itself) and the parsed public point of a valid secret."""
    handle = _new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_create(_CTX, handle, secret):
        raise ValueError("secret out of range")  # the caller checked 0 < d < n already
    return secret, handle


def sign(signer: bytes, data: bytes | bytearray | memoryview) -> bytes:
    """Sign the sha-256 of ``data``: RFC 6979 nonce, low-S (libsecp256k1 normalises)."""
    parsed = _new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_sign(_CTX, parsed, _sha256(data).digest(), signer, _NULL, _NULL):
        raise ValueError("libsecp256k1 failed to sign")  # only for an invalid secret
    out = _new("unsigned char[64]")
    lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, out, parsed)
    return bytes(ffi.buffer(out, 64))
