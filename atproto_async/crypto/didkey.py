"""The string forms of a public key: did:key, Multikey, and the legacy DID document form.

Spec: https://atproto.com/specs/cryptography#public-key-encoding and
https://atproto.com/specs/did#legacy-representation

- did:key: ``did:key:`` + Multikey.
- Multikey (``publicKeyMultibase`` of a ``Multikey`` method): ``z`` + base58btc(multicodec
  varint + 33-byte compressed point); multicodec ``0xe7`` (secp256k1-pub, bytes ``e7 01``) or
  ``0x1200`` (p256-pub, bytes ``80 24``).
- Legacy (``EcdsaSecp256k1VerificationKey2019`` / ``EcdsaSecp256r1VerificationKey2019``):
  ``z`` + base58btc of the raw point, without multicodec, compressed or uncompressed (the PLC
  directory serves uncompressed K-256 points). The curve comes from the method type.

These strings come from documents anyone can publish, so the length is capped before a single
character is decoded and every refusal is an `InvalidKeyError` saying why.
"""

from __future__ import annotations

from typing import Final

from atproto_async._base58 import b58decode
from atproto_async.crypto.curves import CURVES, MULTICODEC_PREFIX
from atproto_async.crypto.keys import BytesLike, PublicKey
from atproto_async.exceptions import InvalidKeyError

__all__ = [
    "DID_KEY_PREFIX",
    "MAX_KEY_STRING_LENGTH",
    "parse_did_key",
    "parse_legacy_multibase",
    "parse_multikey",
    "verify_signature",
]

DID_KEY_PREFIX: Final = "did:key:"

#: The longest key string read. A compressed did:key is 57 characters; the longest legitimate
#: form, a legacy uncompressed point that also carries a multicodec, about 93.
MAX_KEY_STRING_LENGTH: Final = 128

_POINT_SIZE: Final = 33


def _checked(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidKeyError(f"a {what} must be a str, not {type(value).__name__}")
    if len(value) > MAX_KEY_STRING_LENGTH:
        raise InvalidKeyError(
            f"invalid {what}: {len(value)} characters is too long (at most {MAX_KEY_STRING_LENGTH})"
        )
    return value


def _multibase(text: str, what: str) -> bytes:
    """The bytes of a base58btc multibase string (``z...``)."""
    if not text:
        raise InvalidKeyError(f"invalid {what}: empty string")
    if text[0] != "z":
        raise InvalidKeyError(
            f"invalid {what}: multibase prefix {text[0]!r} is not base58btc ('z')"
        )
    if len(text) == 1:
        raise InvalidKeyError(f"invalid {what}: empty base58btc payload")
    try:
        return b58decode(text[1:])
    except ValueError as exc:
        raise InvalidKeyError(f"invalid {what}: {exc}") from None


def _codec_name(raw: bytes) -> str:
    """The leading varint of ``raw`` in hex, for an error message."""
    code = 0
    for shift, byte in enumerate(raw[:4]):
        code |= (byte & 0x7F) << (7 * shift)
        if byte < 0x80:
            return f"0x{code:x}"
    return "(unterminated varint)"


def _from_multicodec(text: str, what: str) -> PublicKey:
    raw = _multibase(text, what)
    for curve, prefix in MULTICODEC_PREFIX.items():
        if raw.startswith(prefix):
            point = raw[len(prefix) :]
            if len(point) != _POINT_SIZE:
                raise InvalidKeyError(
                    f"invalid {what}: a {curve} key holds a {_POINT_SIZE}-byte compressed point, "
                    f"got {len(point)} bytes"
                )
            try:
                return PublicKey(point, curve)
            except InvalidKeyError as exc:
                raise InvalidKeyError(f"invalid {what}: {exc}") from None
    raise InvalidKeyError(
        f"invalid {what}: unknown multicodec {_codec_name(raw)} "
        "(expected 0xe7 secp256k1-pub or 0x1200 p256-pub)"
    )


def parse_did_key(value: str) -> PublicKey:
    """Read a ``did:key:z...`` (or a bare Multikey ``z...``) naming a K-256 or P-256 key.

    Args:
        value: The did:key string.

    Returns:
        The public key, curve taken from the multicodec.

    Raises:
        InvalidKeyError: Not a str, longer than `MAX_KEY_STRING_LENGTH`, a DID of another
            method, a multibase other than base58btc, a bad base58 character, an unknown
            multicodec, a point that is not 33 bytes, or a point not on the curve.
    """
    text = _checked(value, "did:key")
    if text.startswith(DID_KEY_PREFIX):
        text = text[len(DID_KEY_PREFIX) :]
    elif text.startswith("did:"):
        raise InvalidKeyError(f"invalid did:key: {text[:40]!r} is not a did:key DID")
    return _from_multicodec(text, "did:key")


def parse_multikey(value: str) -> PublicKey:
    """Read the ``publicKeyMultibase`` of a ``Multikey`` verification method (``z...``).

    Args:
        value: The Multikey string (no ``did:key:`` prefix).

    Returns:
        The public key.

    Raises:
        InvalidKeyError: As for `parse_did_key`, and for a value that starts with ``did:``.
    """
    text = _checked(value, "Multikey")
    if text.startswith("did:"):
        raise InvalidKeyError("invalid Multikey: a Multikey is the bare 'z...' value, not a DID")
    return _from_multicodec(text, "Multikey")


def parse_legacy_multibase(value: str, curve: str) -> PublicKey:
    """Read the ``publicKeyMultibase`` of a legacy ``EcdsaSecp256*VerificationKey2019`` method.

    The value is base58btc of the raw point, compressed (33 bytes) or uncompressed (65), with
    no multicodec; a value that does carry the multicodec of ``curve`` is tolerated too.

    Args:
        value: The ``z...`` string.
        curve: ``"k256"`` for ``EcdsaSecp256k1VerificationKey2019``, ``"p256"`` for
            ``EcdsaSecp256r1VerificationKey2019``.

    Returns:
        The public key (`PublicKey.compressed` is the compressed point either way).

    Raises:
        InvalidKeyError: Unknown curve, not a str, too long, not base58btc multibase, the
            multicodec of the other curve, a wrong point length or prefix, or off the curve.
    """
    if curve not in CURVES:
        raise InvalidKeyError(f"unknown curve {curve!r:.40}: expected 'k256' or 'p256'")
    what = "legacy publicKeyMultibase"
    raw = _multibase(_checked(value, what), what)
    for name, prefix in MULTICODEC_PREFIX.items():
        if raw.startswith(prefix):  # a raw point starts with 0x02, 0x03 or 0x04: no clash
            if name != curve:
                raise InvalidKeyError(
                    f"invalid {what}: the multicodec names {name}, the method type {curve}"
                )
            raw = raw[len(prefix) :]
    try:
        return PublicKey(raw, curve)
    except InvalidKeyError as exc:
        raise InvalidKeyError(f"invalid {what}: {exc}") from None


def verify_signature(
    did_key: str, data: BytesLike, sig: BytesLike, *, allow_malleable: bool = False
) -> bool:
    """Whether ``sig`` is a valid signature of ``data`` by the key ``did_key`` names.

    A convenience for one-off checks: it parses the did:key on every call. To verify many
    signatures with one key, keep the `PublicKey` from `parse_did_key` and call its `verify`.

    Args:
        did_key: The signer's ``did:key:z...`` (or bare Multikey).
        data: The signed bytes.
        sig: The 64-byte compact ``r || s`` signature.
        allow_malleable: Also accept a high-S signature.

    Returns:
        As `PublicKey.verify`: False for a wrong or malformed signature.

    Raises:
        InvalidKeyError: ``did_key`` cannot be read.
    """
    return parse_did_key(did_key).verify(data, sig, allow_malleable=allow_malleable)
