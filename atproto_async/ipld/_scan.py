"""Byte-level DAG-CBOR checks: what cbor2 does not verify, done without building values.

cbor2 decodes values but cannot say how they were written, so the strict checks (shortest
integer and length forms, integers within 64 bits, map keys as text in canonical order, no
floats or simple values) read the item heads directly:

- `is_canonical` is the hot path, run after cbor2 has accepted the bytes (so the structure is
  known to be well formed): a regular expression consumes runs of canonical item heads in C,
  and Python only skips the payloads of long strings. It answers yes or no.
- `scan` / `explain` walk item by item, run only on failure (or on bytes cbor2 never saw), and
  name the first broken rule with its offset; every length is bounded by the bytes that
  remain.

Spec: https://ipld.io/specs/codecs/dag-cbor/spec/#strictness and
https://atproto.com/specs/data-model#data-types
"""

from __future__ import annotations

import re
from typing import Final

from atproto_async.exceptions import DecodeError, caused_by
from atproto_async.ipld.cid import LINK_TAG_HEAD, SHA256_LINK_HEAD, TAGGED_SHA256_CID_SIZE

__all__ = ["explain", "is_canonical", "scan"]

_MIN_FOR_WIDTH: Final = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}
#: The largest integer argument DAG-CBOR allows: 2**63-1 for ``2**63-1``, and for ``-2**63``
#: (major type 1 stores ``-1 - n``). CBOR itself reaches 2**64-1 and -2**64.
_MAX_INT_ARGUMENT: Final = 2**63 - 1
_WIDTH: Final = {24: 1, 25: 2, 26: 4, 27: 8}
_SIMPLE_OK: Final = {20, 21, 22}
_MAJOR_NAMES: Final = (
    "unsigned integer", "negative integer", "byte string", "text string",
    "array", "map", "tag", "simple value",
)  # fmt: skip


def _fail(pos: int, message: str) -> DecodeError:
    return DecodeError(f"{message} (at byte {pos})")


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """Read one item head at ``pos``: return (major type, argument, position after the head)."""
    end = len(data)
    if pos >= end:
        raise _fail(pos, "truncated DAG-CBOR: expected another item")
    initial = data[pos]
    major = initial >> 5
    info = initial & 0x1F
    if info < 24:
        return major, info, pos + 1
    if major == 7:
        return major, info, pos + 1
    if info == 31:
        raise _fail(pos, f"indefinite-length {_MAJOR_NAMES[major]} is not allowed in DAG-CBOR")
    width = _WIDTH.get(info)
    if width is None:
        raise _fail(pos, f"reserved additional information {info} in a CBOR item head")
    if end - pos - 1 < width:
        raise _fail(pos, f"truncated DAG-CBOR: {_MAJOR_NAMES[major]} head needs {width} bytes")
    argument = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
    if argument < _MIN_FOR_WIDTH[info]:
        what = "integer" if major < 2 else ("tag" if major == 6 else "length")
        raise _fail(pos, f"non-minimal {what} encoding: {argument} written with {width} bytes")
    return major, argument, pos + 1 + width


def _item(data: bytes, pos: int, depth: int, max_depth: int) -> int:
    """Check the item at ``pos``; return the position after it."""
    start = pos
    major, argument, pos = _head(data, pos)
    remaining = len(data) - pos
    if major < 2:
        if argument > _MAX_INT_ARGUMENT:
            value = argument if major == 0 else -1 - argument
            raise _fail(
                start,
                f"integer {value} is outside the signed 64-bit range DAG-CBOR allows "
                "(-2**63 .. 2**63-1)",
            )
        return pos
    if major < 4:
        if argument > remaining:
            raise _fail(
                start,
                f"truncated DAG-CBOR: {_MAJOR_NAMES[major]} declares {argument} bytes, "
                f"{remaining} remain",
            )
        if major == 3:
            try:
                data[pos : pos + argument].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise caused_by(_fail(start, "text string is not valid UTF-8"), exc)
        return pos + argument
    if major == 7:
        info = data[start] & 0x1F
        if info in _SIMPLE_OK:
            return pos
        if info in (25, 26, 27):
            raise _fail(start, "floats are not allowed in the atproto data model")
        if info == 23:
            raise _fail(start, "CBOR undefined is not allowed in DAG-CBOR")
        if info == 31:
            raise _fail(start, "unexpected CBOR break code")
        raise _fail(start, "CBOR simple values other than false, true and null are not allowed")
    if depth >= max_depth:
        raise _fail(start, f"DAG-CBOR nested deeper than {max_depth} levels")
    if major == 6:
        if argument != 42:
            raise _fail(start, f"CBOR tag {argument} is not allowed in DAG-CBOR (only tag 42)")
        inner = pos
        inner_major, length, content = _head(data, inner)
        if inner_major != 2:
            raise _fail(inner, "CBOR tag 42 must wrap a byte string")
        if length > len(data) - content:
            raise _fail(inner, "truncated DAG-CBOR: CID byte string runs past the end")
        if length == 0 or data[content] != 0:
            raise _fail(inner, "CBOR tag 42 byte string must start with the 0x00 prefix")
        return content + length
    if major == 4:
        if argument > remaining:
            raise _fail(start, f"array declares {argument} items, only {remaining} bytes remain")
        for _ in range(argument):
            pos = _item(data, pos, depth + 1, max_depth)
        return pos
    # major == 5: a map
    if argument * 2 > remaining:
        raise _fail(start, f"map declares {argument} entries, only {remaining} bytes remain")
    previous = b""
    for index in range(argument):
        key_start = pos
        key_major, _arg, _after = _head(data, pos)
        if key_major != 3:
            raise _fail(key_start, "DAG-CBOR map keys must be text strings")
        pos = _item(data, pos, depth + 1, max_depth)
        key = data[key_start:pos]
        if index:
            if key == previous:
                raise _fail(key_start, f"duplicate map key {_key_text(key)!r}")
            if (len(key), key) < (len(previous), previous):
                raise _fail(
                    key_start,
                    f"map key {_key_text(key)!r} is out of canonical order "
                    f"(after {_key_text(previous)!r}; keys sort by length, then bytes)",
                )
        previous = key
        pos = _item(data, pos, depth + 1, max_depth)
    return pos


def _key_text(encoded_key: bytes) -> str:
    _major, length, content = _head(encoded_key, 0)
    return encoded_key[content : content + length].decode("utf-8", "replace")[:64]


def scan(data: bytes, *, max_depth: int = 128) -> int:
    """Check that ``data`` starts with one strict DAG-CBOR item; return where the item ends.

    Raises:
        DecodeError: The first broken rule, with its byte offset.
    """
    return _item(data, 0, 0, max_depth)


def explain(data: bytes, *, max_depth: int = 128) -> str:
    """Return why ``data`` (one or more whole items) is not canonical DAG-CBOR."""
    pos = 0
    try:
        while pos < len(data):
            pos = _item(data, pos, 0, max_depth)
    except DecodeError as exc:
        return str(exc)
    return "DAG-CBOR value is not in canonical form"


def _strings(first: int, lengths: tuple[int, ...]) -> list[bytes]:
    """Alternatives for strings whose length is in the head byte: ``first + n`` then n bytes."""
    return [re.escape(bytes([first + n])) + b".{%d}+" % n for n in lengths]


#: Lengths of short text and byte strings in the order the regex tries them, commonest first
#: (measured on firehose frames and their CAR blocks: single-letter MST node keys, 3-6 letter
#: field names, 13-character TIDs, 12-byte MST key suffixes).
_TEXT_FIRST: Final = (1, 3, 4, 5, 6, 13)
_TEXT_THEN: Final = (9, 8, 7, 2)
_TEXT_REST: Final = tuple(n for n in range(1, 24) if n not in _TEXT_FIRST + _TEXT_THEN)
_BYTES_FIRST: Final = (12, 11, 10)
_BYTES_REST: Final = tuple(n for n in range(1, 24) if n not in _BYTES_FIRST)
#: Lengths of strings of 24 to 64 bytes, commonest first: DIDs (32), timestamps (24), CIDs as
#: text (59), record paths, signatures (64).
_MID_FIRST: Final = (32, 24, 59, 35, 34, 64)
_MID: Final = _MID_FIRST + tuple(n for n in range(24, 64) if n not in _MID_FIRST)


def _token_pattern() -> re.Pattern[bytes]:
    """Compile the regular expression that consumes a run of canonical item heads.

    CBOR is a prefix code, so from an item boundary the tokens are unique; each alternative
    below accepts one head in its shortest form (plus the payload of short strings), so a
    non-minimal head, a float or another simple value simply ends the run.

    The rest is speed, measured on firehose frames and their blocks (``re`` of CPython 3.11):
    every alternative reads a head by its first bytes, so two never disagree on where an item
    ends and their order does not change what matches; the engine rejects an alternative on
    its first byte in about 1.5 ns while entering one costs ten times that, so common items
    come first. Fixed-size runs are possessive (``.{n}+``): the same bytes, without the
    backtracking point a plain ``.{n}`` sets up, which made the whole pass a tenth faster.
    """
    # Text and byte strings of rarer lengths, and tag 42 over a CID of another size than 37
    # bytes (its byte string is then the next token).
    rare = [*_strings(0x60, _TEXT_REST), re.escape(LINK_TAG_HEAD), *_strings(0x40, _BYTES_REST)]
    rare_first = bytes(
        [0x60 + n for n in _TEXT_REST] + [LINK_TAG_HEAD[0]] + [0x40 + n for n in _BYTES_REST]
    )
    alternatives = [
        # One-byte items: small integers, empty strings, small array and map heads, false,
        # true, null.
        rb"[\x00-\x17\x20-\x37\x40\x60\x80-\x97\xa0-\xb7\xf4-\xf6]",
        *_strings(0x60, _TEXT_FIRST),
        # A CID link of 37 bytes (CIDv1 sha2-256 with the 0x00 prefix): the tag head and the
        # byte string head in their shortest forms. cbor2 and `_link` have checked the content.
        re.escape(SHA256_LINK_HEAD) + b".{%d}+" % TAGGED_SHA256_CID_SIZE,
        *_strings(0x60, _TEXT_THEN),
        # Strings of 24 to 64 bytes, the two commonest (DIDs, timestamps) outside the group.
        rb"\x78\x20.{32}+",
        rb"\x78\x18.{24}+",
        rb"[\x58\x78](?:" + b"|".join(_strings(0, _MID)) + rb")",
        *_strings(0x40, _BYTES_FIRST),
        # Integers, array and map lengths with 8, 1, 2 and 4 argument bytes, each minimal
        # (8 first: firehose sequence numbers are past 2**32). An 8-byte argument stays below
        # 2**63: integers must fit in 64 signed bits (lengths that large cannot occur).
        rb"[\x1b\x3b\x9b\xbb](?:\x00\x00\x00[\x01-\xff]|\x00\x00[\x01-\xff].|\x00[\x01-\xff]..|[\x01-\x7f]...).{4}+",
        rb"[\x18\x38\x98\xb8][\x18-\xff]",
        rb"[\x19\x39\x99\xb9][\x01-\xff].",
        rb"[\x1a\x3a\x9a\xba](?:[\x01-\xff].|\x00[\x01-\xff])..",
        # Rare items behind one look at their first byte, so that the end of a run (the end of
        # the input, or a long string for Python to skip) costs one step for all of them.
        rb"(?=[" + re.escape(rare_first) + rb"])(?:" + b"|".join(rare) + rb")",
    ]
    return re.compile(rb"(?:" + b"|".join(alternatives) + rb")*+", re.DOTALL)


_TOKENS: Final = _token_pattern()
_MINIMUM_LENGTH: Final = {0x58: (1, 24), 0x5A: (4, 0x10000), 0x5B: (8, 2**32)}


def is_canonical(data: bytes, start: int, end: int) -> bool:
    """Whether the well-formed CBOR item ``data[start:end]`` has only canonical heads.

    For bytes cbor2 has already decoded (so the structure and lengths are known to be sound):
    checks shortest integer and length forms, integers within -2**63 .. 2**63-1, and the
    absence of floats, simple values other than false / true / null, and tags other than 42.
    Map keys (text, in canonical order) are checked on the decoded maps. A regular expression
    consumes runs of ordinary items in C; Python steps in only to skip strings of more than 64
    bytes (a frame's CAR, a long text).
    """
    match = _TOKENS.match
    pos = start
    while True:
        pos = match(data, pos, end).end()  # type: ignore[union-attr]  # ``*+`` always matches
        if pos >= end:
            return pos == end
        initial = data[pos] & 0xDF  # byte and text strings alike
        if initial == 0x59:  # a 2-byte length, as for a frame's blocks: minimal from 256 on
            high = data[pos + 1]
            if not high:
                return False
            pos += 3 + (high << 8 | data[pos + 2])
        else:
            width_minimum = _MINIMUM_LENGTH.get(initial)
            if width_minimum is None:
                return False
            width, minimum = width_minimum
            length = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
            if length < minimum:
                return False
            pos += 1 + width + length
        if pos > end:  # cbor2 has checked the lengths; this only keeps the promise above
            return False
