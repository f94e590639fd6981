"""DAG-CBOR: the binary encoding of the atproto data model, decoded strictly and fast.

DAG-CBOR is CBOR (RFC 8949) restricted so that one value has exactly one encoding: map keys
are text strings sorted by length then bytes, integers and lengths use their shortest form,
integers fit in 64 signed bits (-2**63 .. 2**63-1; CBOR itself reaches -2**64 .. 2**64-1,
and bignums are tags 2 and 3), lengths are definite, the only tag is 42 (a CID, as a byte
string with a 0x00 prefix), and the simple values are ``false``, ``true`` and ``null``.
atproto further forbids floats.
Spec: https://atproto.com/specs/data-model#data-types and
https://ipld.io/specs/codecs/dag-cbor/spec/#strictness

The engine is ``cbor2`` (>= 6, a Rust core). It checks tags (through ``semantic_decoders`` and
``tag_hook``), indefinite lengths, duplicate keys, key types (text or bytes), depth and
declared lengths against the input (a forged 2**62 length is refused without allocating).
What it does not check - floats, simple values, byte-string keys, shortest forms, integers
beyond 64 signed bits, key order, trailing bytes - is checked here:

- ``strict=False`` (the firehose path) adds only the trailing-bytes check, from the position the
  decoder stopped at. One decoder per thread is reused: building one costs as much as decoding
  a frame.
- ``strict=True`` adds an object hook that checks each map's keys (text, canonical order; a
  map shape seen before costs one set lookup) and then reads the item heads of the accepted
  bytes with a regular expression (`_scan.is_canonical`: shortest forms, integers within 64
  signed bits - a bound on the first byte of 8-byte arguments, so it costs nothing - no floats
  or simple values). Only when that fails is the input walked item by item to say precisely
  what is wrong. Re-encoding the value to compare, or running that item-by-item walk every
  time, cost several times more (``benchmarks/bench_dag_cbor.py --alternatives`` measures
  both).

Every failure is a `DecodeError`; no exception of ``cbor2`` escapes.
"""

from __future__ import annotations

import functools
import io
import threading
import types
from datetime import datetime
from typing import Any, Final, NoReturn

import cbor2

from atproto_async.exceptions import DecodeError, caused_by
from atproto_async.ipld._scan import explain, is_canonical
from atproto_async.ipld.cid import (
    CID,
    SHA256_LINK_HEAD,
    TAGGED_DAG_CBOR_SHA256_PREFIX,
    TAGGED_SHA256_CID_SIZE,
    TAGGED_SHA256_PREFIX_SIZE,
    cid_for_bytes,
    cid_from_tagged,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "cid_for",
    "decode_dag_cbor",
    "decode_dag_cbor_at",
    "decode_dag_cbor_multi",
    "encode_dag_cbor",
]

#: Deepest nesting of maps and arrays accepted (records in the wild stay far below).
DEFAULT_MAX_DEPTH: Final = 128

#: Tags that cbor2 decodes by itself (found by probing every tag below 2**16 with cbor2 6.3;
#: a test re-probes them). Each is routed to a decoder that refuses it; every other tag but 42
#: reaches ``tag_hook``, which refuses it too.
_CBOR2_BUILTIN_TAGS: Final = (
    0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004,
    43000, 55799,
)  # fmt: skip

#: The integers of the data model: signed 64 bits.
_MIN_INT: Final = -(2**63)
_MAX_INT: Final = 2**63 - 1


def _refuse_builtin_tag(tag: int) -> Any:
    # Tags 2 and 3 are how CBOR writes integers beyond 64 bits: say so.
    why = "; a bignum: DAG-CBOR integers fit in 64 bits" if tag in (2, 3) else ""

    def refuse(value: Any, immutable: bool) -> NoReturn:
        raise DecodeError(f"CBOR tag {tag} is not allowed in DAG-CBOR (only tag 42, a CID{why})")

    return refuse


def _refuse_tag(tag: Any, immutable: bool) -> NoReturn:
    raise DecodeError(f"CBOR tag {tag.tag} is not allowed in DAG-CBOR (only tag 42, a CID)")


def _link(value: Any) -> CID:
    """Turn the content of tag 42 into a CID: the hot path of firehose decoding.

    The tag's byte string (0x00 prefix included) becomes the CID's storage as is.
    """
    try:  # a slice compared costs less than ``startswith``, which parses its arguments
        if (
            len(value) == TAGGED_SHA256_CID_SIZE
            and value[:TAGGED_SHA256_PREFIX_SIZE] == TAGGED_DAG_CBOR_SHA256_PREFIX
        ):
            return cid_from_tagged(value)
    except (TypeError, AttributeError):
        pass
    if type(value) is not bytes:
        raise DecodeError(f"CBOR tag 42 must wrap a byte string, not {type(value).__name__}")
    if value[:1] != b"\x00":
        raise DecodeError("CBOR tag 42 byte string must start with the 0x00 multibase prefix")
    return CID.from_bytes(value[1:])


# cbor2 calls a plain semantic decoder only after failing to look up attributes on it, which
# costs more than the decoding. A callable that carries cbor2's "shareable decoder" attributes
# skips that: cbor2 calls it with ``immutable`` and expects ``(container, callback)``; a
# ``dict.get`` bound in a ``functools.partial`` answers that in C.
# These attributes are private to cbor2: a cbor2 that ignores them calls the partial as a plain
# decoder, ``dict.get(<the link's bytes>, False)``, which silently gives ``False`` for every
# link. Hence the upper bound on cbor2 in pyproject.toml and `_check_link_decoder` at import.
_LINK_DECODER: Final = functools.partial(dict.get, {False: (None, _link), True: (None, _link)})
_LINK_DECODER._cbor2_name = None  # type: ignore[attr-defined]
_LINK_DECODER._cbor2_immutable = False  # type: ignore[attr-defined]

#: A DAG-CBOR link (tag 42 over a sha2-256 CIDv1 of zeros) decoded once at import.
_PROBE_LINK: Final = SHA256_LINK_HEAD + TAGGED_DAG_CBOR_SHA256_PREFIX + bytes(32)


def _check_link_decoder(decoder: Any) -> None:
    """Raise ImportError unless cbor2 turns a tag-42 link into a `CID` through ``decoder``.

    Guards the private cbor2 protocol `_LINK_DECODER` relies on (see above): without it every
    link would decode as ``False`` and nothing would fail.
    """
    try:
        value: Any = cbor2.CBORDecoder(
            io.BytesIO(_PROBE_LINK), semantic_decoders={42: decoder}
        ).decode()
    except Exception as exc:  # any failure means the protocol changed
        value = exc
    if type(value) is not CID or value._tagged != _PROBE_LINK[len(SHA256_LINK_HEAD) :]:
        import importlib.metadata  # only here: it costs more to import than this module

        try:
            version = importlib.metadata.version("cbor2")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            version = "(unknown version)"
        raise ImportError(
            "atproto_async needs a cbor2 that calls a semantic decoder carrying the private "
            "attributes '_cbor2_name' and '_cbor2_immutable' as decoder(immutable) -> "
            f"(container, callback); cbor2 {version} decoded a CID link as {value!r:.80} "
            "instead. Install a cbor2 version allowed by atproto-async's requirements "
            "(cbor2>=6.3,<7)."
        )


_check_link_decoder(_LINK_DECODER)

_SEMANTIC_DECODERS: Final[dict[int, Any]] = {
    tag: _refuse_builtin_tag(tag) for tag in _CBOR2_BUILTIN_TAGS
}
_SEMANTIC_DECODERS[42] = _LINK_DECODER

#: Key tuples of maps already found to be text keys in canonical order. Firehose and record
#: maps come in few shapes, so most maps are checked by one set lookup. Bounded in count and
#: size so hostile input cannot grow it without limit.
_CANONICAL_KEYS: Final[set[tuple[str, ...]]] = set()
_CANONICAL_KEYS_MAX_ITEMS: Final = 4096
_CANONICAL_KEYS_MAX_CHARS: Final = 512


def _check_map_keys(value: Any, immutable: bool) -> Any:
    """cbor2 object hook of strict decoding: keys must be text, sorted by length then bytes."""
    keys = tuple(value)
    if keys in _CANONICAL_KEYS:
        return value
    previous = b""
    for key in keys:
        if type(key) is not str:
            raise DecodeError(f"DAG-CBOR map keys must be text strings, got {key!r:.40}")
        encoded = key.encode("utf-8")
        if len(encoded) < len(previous) or (len(encoded) == len(previous) and encoded < previous):
            raise DecodeError(
                f"map key {key[:64]!r} is out of canonical order (after "
                f"{previous.decode()[:64]!r}; keys sort by length, then bytes)"
            )
        previous = encoded
    if (
        len(_CANONICAL_KEYS) < _CANONICAL_KEYS_MAX_ITEMS
        and sum(map(len, keys)) <= _CANONICAL_KEYS_MAX_CHARS
    ):
        _CANONICAL_KEYS.add(keys)
    return value


_local = threading.local()


class _Reader:
    """One thread's decoder and the file object it reads from, both reused for every call.

    Building a decoder costs as much as decoding a frame, and handing it a new file object
    costs three method calls; instead the one ``io.BytesIO`` is re-initialised on the new
    bytes (which it shares, no copy), and the decoder keeps its bound ``read``.
    """

    __slots__ = ("decode", "decoder", "fp", "load", "seek", "tell")

    def __init__(self, strict: bool) -> None:
        self.fp = fp = io.BytesIO()
        self.decoder = decoder = cbor2.CBORDecoder(
            fp,
            tag_hook=_refuse_tag,
            object_hook=_check_map_keys if strict else None,
            semantic_decoders=_SEMANTIC_DECODERS,
            max_depth=DEFAULT_MAX_DEPTH,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        )
        self.load = types.MethodType(io.BytesIO.__init__, fp)
        self.seek = fp.seek
        self.tell = fp.tell
        self.decode = decoder.decode

    def reset(self) -> None:
        """Drop the bytes of the last call and any read-ahead the decoder kept after a failure."""
        self.load(b"")
        self.decoder.fp = self.fp


def _reader(strict: bool) -> _Reader:
    reader = _Reader(strict)
    if strict:
        _local.strict = reader
    else:
        _local.fast = reader
    return reader


def _map_error(exc: BaseException) -> DecodeError:
    """Turn a cbor2 (or other) exception into a `DecodeError` with the most precise message."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DecodeError):
            return DecodeError(str(cause))
        cause = cause.__cause__
    message = str(exc) or type(exc).__name__
    if isinstance(exc, cbor2.CBORDecodeEOF | EOFError):
        return DecodeError(f"truncated DAG-CBOR: {message}")
    for fragment, meaning in _CBOR2_MESSAGES:
        if fragment in message:
            return DecodeError(f"{meaning} ({message})")
    return DecodeError(f"invalid DAG-CBOR: {message}")


# cbor2 reports some rule breaks only through its message text; say them in DAG-CBOR terms.
_CBOR2_MESSAGES: Final = (
    ("map key must be", "DAG-CBOR map keys must be text strings"),
    ("indefinite length", "indefinite-length items are not allowed in DAG-CBOR"),
    ("Duplicate map key", "duplicate map key"),
    ("nesting depth", f"DAG-CBOR nested deeper than {DEFAULT_MAX_DEPTH} levels"),
    ("text string", "text string is not valid UTF-8"),
)


#: Buffers above this size are released from the per-thread reader after use; smaller ones
#: stay referenced until the next call, which saves resetting the reader on the hot path.
_RELEASE_ABOVE: Final = 64 * 1024


def _fail(reader: _Reader, exc: BaseException) -> NoReturn:
    """Reset ``reader`` after a failed decode and raise: a `DecodeError`, or ``exc`` itself.

    Even an interrupt must not leave read-ahead bytes behind for the next call.
    """
    reader.reset()
    if isinstance(exc, Exception) and not isinstance(exc, DecodeError):
        raise caused_by(_map_error(exc), exc)
    raise exc


def decode_dag_cbor_at(data: bytes, start: int = 0, *, strict: bool = False) -> Any:
    """Decode the one value of ``data[start:]``, which must end exactly at the end of ``data``.

    The package's own entry to the decoder, for the firehose hot path (a frame body, a record
    block), where every call layer and allocation shows in frames per second: ``data`` must
    already be ``bytes`` (nothing is converted or copied), and decoding starts at ``start``
    without slicing, so `decode_frame` passes the end of a header it recognised. The checks
    are those of `decode_dag_cbor` with the same ``strict``, whose default here is the fast
    one. Not part of the public API (`decode_dag_cbor` is).

    Raises:
        DecodeError: ``data[start:]`` is not one (strict) DAG-CBOR value.
    """
    try:
        reader = _local.strict if strict else _local.fast
    except AttributeError:
        reader = _reader(strict)
    reader.load(data)
    if start:
        reader.seek(start)
    try:
        value = reader.decode()
        end = reader.tell()
    except BaseException as exc:  # cbor2 raises CBORDecodeError, its hooks may raise more
        _fail(reader, exc)
    size = len(data)
    if size > _RELEASE_ABOVE:
        reader.reset()
    if end != size:
        raise DecodeError(f"trailing bytes after the DAG-CBOR value: {size - end} at offset {end}")
    if strict and not is_canonical(data, start, size):
        raise DecodeError(explain(data[start:]))
    return value


def _decode_all(data: bytes, strict: bool) -> list[Any]:
    """Decode the values of ``data``, one after another until its end."""
    try:
        reader = _local.strict if strict else _local.fast
    except AttributeError:
        reader = _reader(strict)
    reader.load(data)
    decode = reader.decode
    size = len(data)
    try:
        values = [decode()]
        end = reader.tell()
        while end < size:
            values.append(decode())
            end = reader.tell()
    except BaseException as exc:  # cbor2 raises CBORDecodeError, its hooks may raise more
        _fail(reader, exc)
    if size > _RELEASE_ABOVE:
        reader.reset()
    # The heads of all values at once: the check does not need the boundaries between them.
    if strict and not is_canonical(data, 0, size):
        raise DecodeError(explain(data))
    return values


def decode_dag_cbor(data: bytes | bytearray | memoryview, *, strict: bool = True) -> Any:
    """Decode exactly one DAG-CBOR value.

    Args:
        data: The encoded bytes; all of them must belong to the one value.
        strict: Check everything the spec requires, also the absence of floats and simple
            values, shortest integer and length forms, integers within 64 signed bits
            (-2**63 .. 2**63-1) and map key order. ``False`` is the firehose fast path: it
            still refuses other tags (bignums too), indefinite lengths, duplicate keys, keys
            that are neither text nor byte strings, excessive depth and trailing bytes
            (byte-string keys, floats, simple values and integers beyond 64 signed bits
            pass).

    Returns:
        The value: dict, list, str, bytes, int, bool, None, and `CID` for links.

    Raises:
        DecodeError: ``data`` is not (strict) DAG-CBOR.
    """
    if type(data) is not bytes:
        data = bytes(data)
    return decode_dag_cbor_at(data, 0, strict=strict)


def decode_dag_cbor_multi(
    data: bytes | bytearray | memoryview, *, strict: bool = True
) -> list[Any]:
    """Decode every DAG-CBOR value of a concatenation (a firehose frame is header + body).

    One decoder reads the values one after another from the same buffer and reports where
    each ended, so no value is sliced out first (a ``memoryview`` or ``bytearray`` argument is
    copied once into ``bytes``, which cbor2 needs).

    Args:
        data: One or more encoded values back to back, nothing else.
        strict: As for `decode_dag_cbor`, applied to each value.

    Returns:
        The values in order.

    Raises:
        DecodeError: A value is not (strict) DAG-CBOR, or ``data`` is empty.
    """
    if type(data) is not bytes:
        data = bytes(data)
    return _decode_all(data, strict)


def _encode_link(encoder: Any, cid: CID) -> None:
    encoder.encode_semantic(42, cid._tagged)


def _refuse_float(encoder: Any, value: float) -> NoReturn:
    raise DecodeError(f"floats are not allowed in the atproto data model (found {value!r})")


_ENCODERS: Final[dict[type, Any]] = {CID: _encode_link, float: _refuse_float}


def encode_dag_cbor(value: Any) -> bytes:
    """Encode a data-model value as canonical DAG-CBOR: equal values give equal bytes.

    Args:
        value: dict (text keys), list, str, bytes, int (64-bit), bool, None, or `CID`; or, as
            for `to_json`, a timezone-aware ``datetime``, a `Blob` or another generated model
            in place of its data-model form.

    Returns:
        The encoded bytes.

    Raises:
        DecodeError: ``value`` holds something the data model forbids (a float, a tuple, a
            non-text key, an integer beyond 64 bits, a naive ``datetime``, ...).
            (`DecodeError` is a `ValueError`.)
    """
    try:
        _check_encodable(value, 0)
    except _Held:
        value = _plain_value(value)
        _check_encodable(value, 0)
    try:
        return bytes(cbor2.dumps(value, canonical=True, encoders=_ENCODERS))
    except DecodeError:
        raise
    except Exception as exc:
        raise caused_by(DecodeError(f"cannot encode value as DAG-CBOR: {exc}"), exc)


class _Held(Exception):
    """Internal: the value holds a ``datetime`` or a model, to be replaced before encoding."""


def _plain_value(value: Any, depth: int = 0) -> Any:
    """``value`` with its datetimes and models in their data-model form (the slow path)."""
    kind = type(value)
    if depth > DEFAULT_MAX_DEPTH:
        return value  # refused by _check_encodable
    if kind is dict:
        return {key: _plain_value(item, depth + 1) for key, item in value.items()}
    if kind is list:
        return [_plain_value(item, depth + 1) for item in value]
    if isinstance(value, datetime) or _is_model(value):
        from atproto_async.ipld.data_json import _NotData, _plain

        try:
            return _plain_value(_plain(value), depth)
        except _NotData as exc:
            raise caused_by(DecodeError(exc.reason), None)
    return value


def _check_encodable(value: Any, depth: int) -> None:
    kind = type(value)
    if kind is str or kind is bytes or kind is bool or value is None or kind is CID:
        return
    if kind is int:
        if not _MIN_INT <= value <= _MAX_INT:
            shown = value if value.bit_length() <= 128 else f"of {value.bit_length()} bits"
            raise DecodeError(
                f"integer {shown} does not fit in 64 bits (DAG-CBOR integers are -2**63 .. 2**63-1)"
            )
        return
    if depth >= DEFAULT_MAX_DEPTH:
        raise DecodeError(f"value nested deeper than {DEFAULT_MAX_DEPTH} levels")
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise DecodeError(f"map keys must be str, got {type(key).__name__}")
            _check_encodable(item, depth + 1)
        return
    if kind is list:
        for item in value:
            _check_encodable(item, depth + 1)
        return
    if kind is float:
        raise DecodeError(f"floats are not allowed in the atproto data model (found {value!r})")
    if isinstance(value, datetime) or _is_model(value):
        raise _Held
    raise DecodeError(f"{kind.__name__} is not a data-model type")


def _is_model(value: Any) -> bool:
    from atproto_async._model import Model  # not at import: ipld is below the models

    return isinstance(value, Model)


def cid_for(value: Any) -> CID:
    """Return the CID (v1, dag-cbor, sha2-256) of a value or of its DAG-CBOR bytes.

    Args:
        value: A data-model value, or ``bytes`` that are already its DAG-CBOR encoding.

    Returns:
        The CID of the encoded block.

    Raises:
        DecodeError: ``value`` cannot be encoded.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return cid_for_bytes(value)
    return cid_for_bytes(encode_dag_cbor(value))
