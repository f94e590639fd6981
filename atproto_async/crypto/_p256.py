"""P-256 (secp256r1) through pyca ``cryptography`` (OpenSSL).

Imported on the first use of a P-256 key, never by ``import atproto_async.crypto``: loading
pyca costs tens of milliseconds and most accounts sign with K-256.

OpenSSL accepts high-S signatures and may produce them, while atproto wants low-S on both
curves (https://atproto.com/specs/cryptography): the caller refuses high-S before verifying
unless malleable signatures are allowed, and `sign` replaces s with n - s when needed.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from atproto_async.crypto.curves import P256_ORDER

_CURVE: Final = ec.SECP256R1()
_ECDSA_SHA256: Final = ec.ECDSA(SHA256())
_HALF_ORDER: Final = P256_ORDER // 2
_from_bytes = int.from_bytes


def load_point(point: bytes) -> ec.EllipticCurvePublicKey | None:
    """Return the pyca public key of a 33- or 65-byte point, or None if it is off the curve."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
    except ValueError:
        return None


def serialize(handle: ec.EllipticCurvePublicKey, compressed: bool) -> bytes:
    """Return the SEC1 encoding of a public key (33 bytes compressed, else 65)."""
    fmt = PublicFormat.CompressedPoint if compressed else PublicFormat.UncompressedPoint
    return handle.public_bytes(Encoding.X962, fmt)


def verify(
    handle: ec.EllipticCurvePublicKey, data: bytes | bytearray | memoryview, sig: bytes
) -> bool:
    """Check a 64-byte r||s signature whose r and s are already known to be in [1, n - 1]."""
    der = encode_dss_signature(_from_bytes(sig[:32], "big"), _from_bytes(sig[32:], "big"))
    try:
        handle.verify(der, data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def load_private(
    secret: bytes,
) -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]:
    """Return the pyca private key and its public key for a secret already in [1, n - 1]."""
    private = ec.derive_private_key(_from_bytes(secret, "big"), _CURVE)
    return private, private.public_key()


def sign(signer: ec.EllipticCurvePrivateKey, data: bytes | bytearray | memoryview) -> bytes:
    """Sign the sha-256 of ``data`` and return r||s with s replaced by n - s when high."""
    r, s = decode_dss_signature(signer.sign(data, _ECDSA_SHA256))
    if s > _HALF_ORDER:
        s = P256_ORDER - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
