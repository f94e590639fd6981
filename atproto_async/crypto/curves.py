"""The two curves atproto signs with, their names, and the numbers every check needs.

Spec: https://atproto.com/specs/cryptography

- ``"k256"``: secp256k1 (NIST K-256), JWT ``alg`` ``"ES256K"``, multicodec ``secp256k1-pub``.
- ``"p256"``: secp256r1 (NIST P-256), JWT ``alg`` ``"ES256"``, multicodec ``p256-pub``.

The group orders are kept as 32-byte big-endian strings as well as ints: a signature's ``r`` and
``s`` are 32-byte big-endian slices, and comparing equal-length bytes orders them as numbers, so
the range and low-S checks of every verify run without building an int.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "CURVES",
    "CURVE_FOR_JWT_ALG",
    "JWT_ALG",
    "K256",
    "K256_ORDER",
    "MULTICODEC_PREFIX",
    "P256",
    "P256_ORDER",
    "Curve",
]

#: A curve name as this package spells it.
Curve = Literal["k256", "p256"]

K256: Final = "k256"
P256: Final = "p256"
CURVES: Final[tuple[Curve, ...]] = (K256, P256)

#: Curve -> the JWT ``alg`` of its signatures (service-auth tokens name the curve this way).
JWT_ALG: Final[Mapping[str, str]] = MappingProxyType({K256: "ES256K", P256: "ES256"})
#: JWT ``alg`` -> curve.
CURVE_FOR_JWT_ALG: Final[Mapping[str, Curve]] = MappingProxyType({"ES256K": K256, "ES256": P256})

#: Curve -> multicodec of its compressed public key, as an unsigned varint: ``secp256k1-pub``
#: (0xe7) and ``p256-pub`` (0x1200). Spec: https://atproto.com/specs/cryptography#public-key-encoding
MULTICODEC_PREFIX: Final[Mapping[str, bytes]] = MappingProxyType(
    {K256: b"\xe7\x01", P256: b"\x80\x24"}
)

#: The group orders n: a signature needs 0 < r < n and 0 < s < n, and low-S means s <= n // 2.
K256_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: Curve -> (n, n // 2) as 32-byte big-endian strings, for the checks on signature slices.
ORDER_BYTES: Final[Mapping[str, tuple[bytes, bytes]]] = MappingProxyType(
    {
        K256: (K256_ORDER.to_bytes(32, "big"), (K256_ORDER // 2).to_bytes(32, "big")),
        P256: (P256_ORDER.to_bytes(32, "big"), (P256_ORDER // 2).to_bytes(32, "big")),
    }
)
