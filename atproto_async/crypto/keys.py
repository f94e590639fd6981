"""Public keys and keypairs on the two atproto curves: sign, verify, and the did:key form.

Spec: https://atproto.com/specs/cryptography

A signature is the 64-byte compact ``r || s`` (each 32 bytes big-endian) of ECDSA over the
SHA-256 of the data. atproto accepts only low-S signatures (``s <= n / 2``) on both curves:
each signature then has a single valid encoding, so a relay cannot be handed a second, still
valid, spelling of a commit signature. `PublicKey.verify` checks length, ranges and low-S
itself, in Python on the byte slices, before any backend is called: the answer never depends
on what a library happens to accept.

Each key keeps its parsed backend object (a libsecp256k1 ``secp256k1_pubkey`` for K-256, a pyca
key for P-256), so verifying many signatures with one key parses the point once.
"""

from __future__ import annotations

import os
from typing import Any, Final, Protocol

from atproto_async._base58 import b58encode
from atproto_async.crypto import _k256
from atproto_async.crypto.curves import JWT_ALG, K256, MULTICODEC_PREFIX, ORDER_BYTES, P256, Curve
from atproto_async.exceptions import InvalidKeyError

__all__ = ["BytesLike", "Keypair", "PublicKey"]

#: What signing and verifying accept as data and signatures.
BytesLike = bytes | bytearray | memoryview

_ZERO: Final = bytes(32)
_SIGNATURE_SIZE: Final = 64
_object_new = object.__new__
_set = object.__setattr__


class _Backend(Protocol):
    """What ``_k256`` and ``_p256`` provide (modules satisfy this protocol)."""

    def load_point(self, point: bytes) -> Any: ...
    def serialize(self, handle: Any, compressed: bool) -> bytes: ...
    def verify(self, handle: Any, data: BytesLike, sig: bytes) -> bool: ...
    def load_private(self, secret: bytes) -> tuple[Any, Any]: ...
    def sign(self, signer: Any, data: BytesLike) -> bytes: ...


def _backend(curve: object) -> tuple[Curve, _Backend]:
    """The curve name and its backend; pyca is imported here, on the first P-256 key."""
    if curve == K256:
        return K256, _k256
    if curve == P256:
        from atproto_async.crypto import _p256

        return P256, _p256
    raise InvalidKeyError(f"unknown curve {curve!r:.40}: expected 'k256' or 'p256'")


class PublicKey:
    """A public key on K-256 or P-256, compared and hashed by ``(curve, compressed)``.

    Build one with `PublicKey.from_bytes` (a raw point) or `parse_did_key` /
    `parse_multikey` / `parse_legacy_multibase` (the string forms). Instances are immutable.

    Attributes:
        curve: ``"k256"`` or ``"p256"``.
        compressed: The 33-byte compressed point (the form did:key and Multikey carry).
    """

    __slots__ = ("_backend", "_handle", "_limits", "_multikey", "compressed", "curve")

    curve: Curve
    compressed: bytes
    _backend: _Backend
    _handle: Any
    _limits: tuple[bytes, bytes]
    _multikey: str

    def __init__(self, point: BytesLike, curve: str) -> None:
        """Read a raw SEC1 point (same as `PublicKey.from_bytes`)."""
        name, backend = _backend(curve)
        if not isinstance(point, bytes | bytearray | memoryview):
            raise InvalidKeyError(f"a {name} point must be bytes, not {type(point).__name__}")
        point = bytes(point)
        size = len(point)
        if size == 33:
            if point[0] not in (2, 3):
                raise InvalidKeyError(
                    f"invalid {name} point: a compressed point starts with 0x02 or 0x03, "
                    f"not 0x{point[0]:02x}"
                )
        elif size == 65:
            if point[0] != 4:
                raise InvalidKeyError(
                    f"invalid {name} point: an uncompressed point starts with 0x04, "
                    f"not 0x{point[0]:02x}"
                )
        else:
            raise InvalidKeyError(
                f"invalid {name} point: expected 33 bytes (compressed) or 65 (uncompressed), "
                f"got {size}"
            )
        handle = backend.load_point(point)
        if handle is None:
            raise InvalidKeyError(f"invalid {name} point: not on the curve")
        # Re-encoded even when given compressed, so equal keys always have equal bytes.
        self._init(name, backend, handle, backend.serialize(handle, True))

    def _init(self, curve: Curve, backend: _Backend, handle: Any, compressed: bytes) -> None:
        _set(self, "curve", curve)
        _set(self, "compressed", compressed)
        _set(self, "_backend", backend)
        _set(self, "_handle", handle)
        _set(self, "_limits", ORDER_BYTES[curve])

    @classmethod
    def from_bytes(cls, point: BytesLike, curve: str) -> PublicKey:
        """Read a raw SEC1 point: compressed (33 bytes) or uncompressed (65 bytes).

        The legacy DID document key types carry such raw points, uncompressed as often as not.

        Args:
            point: ``0x02``/``0x03`` then x, or ``0x04`` then x and y.
            curve: ``"k256"`` or ``"p256"``.

        Returns:
            The key; `compressed` is the 33-byte form whichever form was given.

        Raises:
            InvalidKeyError: Unknown curve, wrong length or prefix byte, or a point that is not
                on the curve.
        """
        return cls(point, curve)

    def verify(self, data: BytesLike, sig: BytesLike, *, allow_malleable: bool = False) -> bool:
        """Whether ``sig`` is this key's signature of ``data``.

        Spec: https://atproto.com/specs/cryptography (low-S only). The reference
        implementation accepts high-S signatures for service-auth JWTs alone, hence the flag.

        Args:
            data: The signed bytes (hashed here with SHA-256).
            sig: The 64-byte compact ``r || s`` signature.
            allow_malleable: Also accept a high-S signature (``s > n / 2``).

        Returns:
            True for a valid signature. False for a wrong one and for a malformed one: not
            bytes-like, not 64 bytes, r or s zero or not below the group order n, or high-S
            without ``allow_malleable``. Never raises for a bad signature.

        Raises:
            TypeError: ``data`` is not bytes-like (a programming error, not a bad signature).
        """
        if type(sig) is not bytes:
            if not isinstance(sig, bytearray | memoryview):
                return False
            sig = bytes(sig)
        if len(sig) != _SIGNATURE_SIZE:
            return False
        order, half = self._limits
        if not _ZERO < sig[:32] < order:
            return False
        s = sig[32:]
        if not (_ZERO < s <= half or (allow_malleable and half < s < order)):
            return False
        return self._backend.verify(self._handle, data, sig)

    def multikey(self) -> str:
        """The Multikey ``publicKeyMultibase``: ``z`` + base58btc(multicodec + compressed).

        Spec: https://atproto.com/specs/cryptography#public-key-encoding
        """
        try:
            return self._multikey
        except AttributeError:
            pass
        text = "z" + b58encode(MULTICODEC_PREFIX[self.curve] + self.compressed)
        _set(self, "_multikey", text)
        return text

    def did_key(self) -> str:
        """The ``did:key:z...`` form, as DID documents and PLC operations name signing keys."""
        return "did:key:" + self.multikey()

    def uncompressed(self) -> bytes:
        """The 65-byte uncompressed point (``0x04 || x || y``), as legacy documents carry it."""
        return self._backend.serialize(self._handle, False)

    @property
    def jwt_alg(self) -> str:
        """The JWT ``alg`` of this key's signatures: ``"ES256K"`` or ``"ES256"``."""
        return JWT_ALG[self.curve]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PublicKey):
            return self.curve == other.curve and self.compressed == other.compressed
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.curve, self.compressed))

    def __repr__(self) -> str:
        return f"PublicKey({self.did_key()!r})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PublicKey is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PublicKey is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (PublicKey, (self.compressed, self.curve))

    def __copy__(self) -> PublicKey:
        return self

    def __deepcopy__(self, memo: object) -> PublicKey:
        return self


def _public_key(curve: Curve, backend: _Backend, handle: Any) -> PublicKey:
    """A PublicKey for a point the backend derived itself (no parsing, no checks)."""
    key: PublicKey = _object_new(PublicKey)
    key._init(curve, backend, handle, backend.serialize(handle, True))
    return key


class Keypair:
    """A private key that signs atproto data, with its `public_key`.

    ``repr()`` and ``str()`` show the curve and the did:key only; the private key leaves the
    object only through `private_bytes`. Pickling is refused for the same reason: export the
    bytes explicitly and keep them somewhere meant for secrets.
    """

    __slots__ = ("_backend", "_secret", "_signer", "public_key")

    public_key: PublicKey
    _backend: _Backend
    _secret: bytes
    _signer: Any

    def __init__(self, raw: BytesLike, curve: str) -> None:
        """Load a 32-byte private scalar (same as `Keypair.from_private_bytes`)."""
        name, backend = _backend(curve)
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise InvalidKeyError(f"a {name} private key must be bytes, not {type(raw).__name__}")
        secret = bytes(raw)
        if len(secret) != 32:
            raise InvalidKeyError(f"a {name} private key is 32 bytes, got {len(secret)}")
        if not _ZERO < secret < ORDER_BYTES[name][0]:
            raise InvalidKeyError(f"a {name} private key must be in [1, n - 1]")
        signer, handle = backend.load_private(secret)
        _set(self, "_backend", backend)
        _set(self, "_secret", secret)
        _set(self, "_signer", signer)
        _set(self, "public_key", _public_key(name, backend, handle))

    @classmethod
    def generate(cls, curve: str) -> Keypair:
        """Create a new random keypair.

        Args:
            curve: ``"k256"`` (what PDSes use for repository signing keys) or ``"p256"``
                (what OAuth and WebCrypto clients use).

        Raises:
            InvalidKeyError: Unknown curve.
        """
        name, _ = _backend(curve)
        order = ORDER_BYTES[name][0]
        while True:  # rejection sampling: a draw falls outside [1, n - 1] about once in 2**32
            secret = os.urandom(32)  # what secrets.token_bytes does, without importing it
            if _ZERO < secret < order:
                return cls(secret, name)

    @classmethod
    def from_private_bytes(cls, raw: BytesLike, curve: str) -> Keypair:
        """Load a private key from its 32-byte big-endian scalar d.

        Args:
            raw: The scalar; 0 < d < n.
            curve: ``"k256"`` or ``"p256"``.

        Raises:
            InvalidKeyError: Unknown curve, not 32 bytes, or d out of range. The message never
                repeats the bytes.
        """
        return cls(raw, curve)

    @property
    def curve(self) -> Curve:
        """``"k256"`` or ``"p256"``."""
        return self.public_key.curve

    def did_key(self) -> str:
        """The public key's ``did:key:z...`` form."""
        return self.public_key.did_key()

    def sign(self, data: BytesLike) -> bytes:
        """Sign ``data``: ECDSA over its SHA-256, 64-byte ``r || s``, always low-S.

        Spec: https://atproto.com/specs/cryptography. K-256 nonces are deterministic
        (RFC 6979, libsecp256k1); P-256 nonces are random (OpenSSL), so signing the same data
        twice gives different, equally valid signatures.

        Args:
            data: The bytes to sign (an unsigned commit, a JWT's ``header.payload``).

        Returns:
            The 64-byte signature.
        """
        return self._backend.sign(self._signer, data)

    def private_bytes(self) -> bytes:
        """Export the 32-byte private scalar. Treat the result as a secret."""
        return self._secret

    def __repr__(self) -> str:
        return f"Keypair(curve={self.curve!r}, did_key={self.did_key()!r})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Keypair is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Keypair is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Keypair is not pickled; export private_bytes() explicitly")

    def __copy__(self) -> Keypair:
        return self

    def __deepcopy__(self, memo: object) -> Keypair:
        return self
