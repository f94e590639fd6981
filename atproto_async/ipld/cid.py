"""Content identifiers (CIDs): the hash links of the atproto data model.

A CID names a block by its hash: ``<version><codec><multihash>``, every number an unsigned
varint, the multihash itself ``<hash code><digest length><digest>``. atproto writes CIDv1 with
the ``dag-cbor`` (0x71) or ``raw`` (0x55) codec and sha2-256 (0x12); CIDv0 (a bare sha2-256
multihash, ``Qm...`` in base58btc) is still read.
Spec: https://atproto.com/specs/data-model#link-and-cid-formats

Why not ``multiformats.CID``: a firehose frame carries several CIDs, and that library validates
every argument of every call at run time, which costs more than decoding the whole frame. This
module keeps the binary form as the identity (hash, equality) and builds the string form only
when asked, once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Final

from atproto_async._base58 import b58decode, b58encode
from atproto_async.exceptions import DecodeError
from atproto_async.ipld._varint import encode_varint, read_varint

__all__ = [
    "CID",
    "CODEC_DAG_CBOR",
    "CODEC_RAW",
    "HASH_SHA2_256",
    "cid_for_bytes",
    "cid_for_raw",
]

#: Multicodec codes used by atproto.
CODEC_DAG_CBOR: Final = 0x71
CODEC_RAW: Final = 0x55
HASH_SHA2_256: Final = 0x12

#: A CID longer than this is refused (a sha2-512 CIDv1 is 70 bytes).
MAX_CID_SIZE: Final = 256

# The bytes of nearly every link atproto writes: a sha2-256 CIDv1, dag-cbor (commits, MST
# nodes, records) or raw (blobs), and that CID as a DAG-CBOR link. This module is the one
# place they are spelled; the fast readers (CAR sections, MST nodes, commits, firehose bodies)
# compare slices against these constants or compile them into their regular expressions, and
# ``tests/ipld/test_cid_layout.py`` holds them to what the encoder writes.
# Spec: https://atproto.com/specs/data-model#link-and-cid-formats and
# https://ipld.io/specs/codecs/dag-cbor/spec/#links

#: The size of a sha2-256 digest, the last bytes of each of these CIDs.
SHA256_DIGEST_SIZE: Final = 32
#: A sha2-256 multihash less its digest: the hash code (0x12) and the digest length (32).
SHA256_MULTIHASH_HEAD: Final = bytes((HASH_SHA2_256, SHA256_DIGEST_SIZE))
#: A dag-cbor sha2-256 CIDv1 less its digest: version 1, codec 0x71, the multihash head.
DAG_CBOR_SHA256_PREFIX: Final = bytes((1, CODEC_DAG_CBOR)) + SHA256_MULTIHASH_HEAD
#: A raw sha2-256 CIDv1 (a blob) less its digest: version 1, codec 0x55, the multihash head.
RAW_SHA256_PREFIX: Final = bytes((1, CODEC_RAW)) + SHA256_MULTIHASH_HEAD
#: Both prefixes, as ``bytes.startswith`` takes them.
SHA256_CID_PREFIXES: Final = (DAG_CBOR_SHA256_PREFIX, RAW_SHA256_PREFIX)
#: The binary size of either CID: 4 bytes of prefix, 32 of digest.
SHA256_CID_SIZE: Final = len(DAG_CBOR_SHA256_PREFIX) + SHA256_DIGEST_SIZE

#: The content of DAG-CBOR tag 42 is the binary CID behind this multibase prefix ("identity").
LINK_MULTIBASE: Final = b"\x00"
#: Tag-42 content of a dag-cbor sha2-256 CIDv1 less its digest (``CID._tagged`` starts so).
TAGGED_DAG_CBOR_SHA256_PREFIX: Final = LINK_MULTIBASE + DAG_CBOR_SHA256_PREFIX
#: Tag-42 content of a raw sha2-256 CIDv1 less its digest.
TAGGED_RAW_SHA256_PREFIX: Final = LINK_MULTIBASE + RAW_SHA256_PREFIX
#: The size of either tagged prefix: the digest follows it.
TAGGED_SHA256_PREFIX_SIZE: Final = len(TAGGED_DAG_CBOR_SHA256_PREFIX)
#: The size of the tag-42 content of either CID: 37.
TAGGED_SHA256_CID_SIZE: Final = len(LINK_MULTIBASE) + SHA256_CID_SIZE

#: DAG-CBOR head of tag 42, the CID tag (major type 6, argument 42 in one byte).
LINK_TAG_HEAD: Final = b"\xd8\x2a"
#: How a link to a sha2-256 CIDv1 starts in DAG-CBOR: tag 42, then the head of a byte string
#: of 37 bytes (major type 2, one-byte length); the tag-42 content follows.
SHA256_LINK_HEAD: Final = LINK_TAG_HEAD + bytes((0x58, TAGGED_SHA256_CID_SIZE))
#: The DAG-CBOR size of such a link: head and content, 41 bytes.
SHA256_LINK_SIZE: Final = len(SHA256_LINK_HEAD) + TAGGED_SHA256_CID_SIZE


# base32 (RFC 4648, lowercase, no padding), the string form of CIDv1. The stdlib codec is
# written in Python and builds padded upper case, so both directions go through ints: decoding
# maps the alphabet onto int()'s base-32 digits (anything else onto "!", which int() refuses);
# encoding reads 10 bits at a time through a 1024-entry table of character pairs.
_B32_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"
_B32_TO_INT_DIGITS: Final = {
    code: "0123456789abcdefghijklmnopqrstuv"[_B32_ALPHABET.index(chr(code))]
    if chr(code) in _B32_ALPHABET
    else "!"
    for code in range(128)
}
_B32_PAIRS: Final = [first + second for first in _B32_ALPHABET for second in _B32_ALPHABET]


def _b32encode(data: bytes) -> str:
    """Lowercase unpadded base32 of ``data``."""
    chars = (len(data) * 8 + 4) // 5
    number = int.from_bytes(data, "big") << (chars * 5 - len(data) * 8)
    odd = chars & 1
    number <<= 5 * odd
    pairs = _B32_PAIRS
    text = "".join(
        [pairs[(number >> shift) & 1023] for shift in range((chars + odd - 2) * 5, -1, -10)]
    )
    return text[:-1] if odd else text


def _b32decode(text: str) -> bytes:
    """Bytes of lowercase unpadded base32 ``text``; refuses any other spelling of them."""
    if not text:
        return b""
    size = len(text) * 5 // 8
    extra = len(text) * 5 - size * 8
    if not text.isascii() or extra > 4:
        raise DecodeError(f"invalid CID: {text[:80]!r} is not base32")
    try:
        number = int(text.translate(_B32_TO_INT_DIGITS), 32)
    except ValueError:
        raise DecodeError(f"invalid CID: {text[:80]!r} is not base32") from None
    if number & ((1 << extra) - 1):
        raise DecodeError(f"invalid CID: {text[:80]!r} is not in canonical form")
    return (number >> extra).to_bytes(size, "big")


def _validate(raw: bytes) -> None:
    """Check that ``raw`` is a whole binary CID (v0 or v1) and nothing else."""
    size = len(raw)
    if size > MAX_CID_SIZE:
        raise DecodeError(f"invalid CID: {size} bytes, above the limit of {MAX_CID_SIZE}")
    if size == 34 and raw[0] == HASH_SHA2_256 and raw[1] == 32:
        return  # CIDv0: a bare sha2-256 multihash
    version, pos = read_varint(raw, 0, "version", "CID")
    if version != 1:
        raise DecodeError(f"invalid CID: unsupported version {version}")
    _codec, pos = read_varint(raw, pos, "codec", "CID")
    _code, pos = read_varint(raw, pos, "multihash code", "CID")
    length, pos = read_varint(raw, pos, "digest length", "CID")
    if size - pos != length:
        raise DecodeError(
            f"invalid CID: multihash declares a {length}-byte digest, {size - pos} bytes present"
        )


def _b58decode(text: str) -> bytes:
    try:
        return b58decode(text)
    except ValueError as exc:
        raise DecodeError(f"invalid CID: {exc}") from None


def _decode_multibase(text: str) -> bytes:
    """Return the binary CID spelled by ``text`` (multibase, or a bare CIDv0)."""
    if len(text) > 2 * MAX_CID_SIZE:
        raise DecodeError(f"invalid CID: string of {len(text)} characters is too long")
    if len(text) == 46 and text.startswith("Qm"):
        return _b58decode(text)
    if not text:
        raise DecodeError("invalid CID: empty string")
    prefix, body = text[0], text[1:]
    try:
        if prefix == "b":
            return _b32decode(body)
        if prefix == "B":
            return _b32decode(body.lower())
        if prefix == "z":
            return _b58decode(body)
        if prefix in "fF":
            return bytes.fromhex(body)
        if prefix in "mu":
            if "=" in body:
                raise DecodeError("invalid CID: base64 multibase must not be padded")
            body += "=" * (-len(body) % 4)
            if prefix == "m":
                return base64.b64decode(body, validate=True)
            return base64.urlsafe_b64decode(body)
    except (binascii.Error, ValueError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(f"invalid CID: {text[:80]!r} is not valid multibase ({exc})") from exc
    raise DecodeError(f"invalid CID: unsupported multibase prefix {prefix!r}")


class CID:
    """A content identifier, compared and hashed by its binary form.

    Create one with `CID.decode` (a string or the binary form) or `CID.from_bytes`; `str()`
    gives the canonical string (base32 ``b...`` for CIDv1, base58btc ``Qm...`` for CIDv0) and
    `bytes()` the binary form. Treat instances as immutable: they are hashed by value.
    """

    # ``_tagged`` is the binary CID behind the 0x00 prefix, exactly as DAG-CBOR tag 42 holds it:
    # readers store the tag's byte string as is, without a copy, through `cid_from_tagged`
    # (outside this module, nothing else sets it). ``_str`` is set lazily.
    __slots__ = ("_str", "_tagged")

    _tagged: bytes
    _str: str

    def __init__(self, raw: bytes | bytearray | memoryview) -> None:
        """Wrap the binary form ``raw`` after checking it (same as `CID.from_bytes`)."""
        raw = bytes(raw)
        _validate(raw)
        self._tagged = LINK_MULTIBASE + raw

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | memoryview) -> CID:
        """Return the CID whose binary form is ``raw``.

        The common sha2-256 CIDv1 is recognised by its prefix without parsing varints, which
        keeps this cheap enough for hot loops.

        Raises:
            DecodeError: ``raw`` is not exactly one binary CID.
        """
        if type(raw) is not bytes:
            raw = bytes(raw)
        if not (len(raw) == SHA256_CID_SIZE and raw.startswith(SHA256_CID_PREFIXES)):
            _validate(raw)
        cid = _object_new(cls)
        cid._tagged = LINK_MULTIBASE + raw
        return cid

    @classmethod
    def decode(cls, value: str | bytes | bytearray | memoryview) -> CID:
        """Parse a CID from its string (multibase, or ``Qm...``) or binary form.

        Raises:
            DecodeError: ``value`` is not a valid CID.
        """
        if isinstance(value, str):
            cid = cls.from_bytes(_decode_multibase(value))
            if value[0] == "b" and cid.version == 1:
                cid._str = value  # canonical: _b32decode refuses every other spelling
            elif value[0] in "bQ" and str(cid) != value:
                raise DecodeError(f"invalid CID: {value[:80]!r} is not in canonical form")
            return cid
        if isinstance(value, bytes | bytearray | memoryview):
            return cls.from_bytes(value)
        raise DecodeError(f"invalid CID: expected str or bytes, got {type(value).__name__}")

    @property
    def version(self) -> int:
        """The CID version: 0 or 1."""
        tagged = self._tagged
        return 0 if len(tagged) == 35 and tagged[1] == HASH_SHA2_256 else 1

    @property
    def codec(self) -> int:
        """The multicodec code of the content (0x71 dag-cbor, 0x55 raw, 0x70 dag-pb for v0)."""
        if self.version == 0:
            return 0x70
        return read_varint(self._tagged, 2, "codec", "CID")[0]

    @property
    def multihash(self) -> bytes:
        """The multihash: hash code, digest length and digest."""
        if self.version == 0:
            return self._tagged[1:]
        return self._tagged[read_varint(self._tagged, 2, "codec", "CID")[1] :]

    @property
    def hash_code(self) -> int:
        """The multihash function code (0x12 for sha2-256)."""
        return read_varint(self.multihash, 0, "multihash code", "CID")[0]

    @property
    def digest(self) -> bytes:
        """The raw hash digest."""
        multihash = self.multihash
        pos = read_varint(multihash, 0, "multihash code", "CID")[1]
        pos = read_varint(multihash, pos, "digest length", "CID")[1]
        return multihash[pos:]

    def __bytes__(self) -> bytes:
        return self._tagged[1:]

    def __str__(self) -> str:
        try:
            return self._str
        except AttributeError:
            pass
        raw = self._tagged[1:]
        text = b58encode(raw) if self.version == 0 else "b" + _b32encode(raw)
        self._str = text
        return text

    def encode(self) -> str:
        """Return the canonical string form (same as ``str(cid)``)."""
        return str(self)

    def __repr__(self) -> str:
        return f"CID({str(self)!r})"

    def __hash__(self) -> int:
        return hash(self._tagged)

    def __eq__(self, other: object) -> bool:
        if type(other) is CID:
            return self._tagged == other._tagged
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if type(other) is CID:
            return self._tagged != other._tagged
        return NotImplemented

    def __reduce__(self) -> tuple[Any, ...]:
        return (CID, (self._tagged[1:],))

    def verify(self, data: bytes | bytearray | memoryview) -> bool:
        """Whether ``data`` hashes to this CID (sha2-256 only; other hashes give False)."""
        multihash = self.multihash
        if multihash[:2] != SHA256_MULTIHASH_HEAD:
            return False
        return hashlib.sha256(data).digest() == multihash[2:]


_object_new = object.__new__


def cid_from_tagged(tagged: bytes) -> CID:
    """The `CID` whose tag-42 content (``0x00`` + binary CID) is ``tagged``, known valid.

    The one way a CID is made from bytes a reader has already checked - a DAG-CBOR link, an
    MST entry, a link in a firehose body matched against `SHA256_LINK_HEAD` and a tagged
    prefix: nothing is parsed or copied, ``tagged`` becomes the CID's storage as it is (a
    slice of the frame or block it was read from). Given anything else, the CID is invalid
    and compares unequal to every valid one. Internal to the package: callers outside it use
    `CID.from_bytes`, which checks.
    """
    cid = _object_new(CID)
    cid._tagged = tagged
    return cid


def _cid_from_raw(raw: bytes) -> CID:
    """A CID for a binary form the caller has already checked (the CAR reader): no parsing."""
    cid = _object_new(CID)
    cid._tagged = LINK_MULTIBASE + raw
    return cid


def cid_for_bytes(data: bytes | bytearray | memoryview, codec: int = CODEC_DAG_CBOR) -> CID:
    """Return the sha2-256 CIDv1 of ``data`` with the given codec (dag-cbor by default)."""
    if codec == CODEC_DAG_CBOR:
        prefix = DAG_CBOR_SHA256_PREFIX
    elif codec == CODEC_RAW:
        prefix = RAW_SHA256_PREFIX
    else:
        prefix = b"\x01" + encode_varint(codec) + SHA256_MULTIHASH_HEAD
    return CID.from_bytes(prefix + hashlib.sha256(data).digest())


def cid_for_raw(data: bytes | bytearray | memoryview) -> CID:
    """Return the CID of a blob: CIDv1, ``raw`` codec, sha2-256.

    Spec: https://atproto.com/specs/data-model#blob-type
    """
    return cid_for_bytes(data, CODEC_RAW)
