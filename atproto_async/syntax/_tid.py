"""TIDs: the check, encoding and decoding, and a per-process monotonic generator.

Spec: https://atproto.com/specs/tid
"""

from __future__ import annotations

import os
import re
import time
from _thread import allocate_lock
from datetime import UTC, datetime, timedelta

from atproto_async.exceptions import InvalidSyntaxError
from atproto_async.syntax._identifiers import _check_str

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_RE = re.compile(r"[2-7a-j][2-7a-z]{12}")  # first char < 16: the top bit stays zero


def is_valid_tid(s: str) -> bool:
    """Whether ``s`` is a TID: 13 base32-sortable characters with the top bit clear."""
    return _TID_RE.fullmatch(s) is not None


def _tid_problem(s: str) -> str:
    if len(s) != 13:
        return f"must be 13 characters, not {len(s)}"
    bad = next((ch for ch in s if ch not in _TID_ALPHABET), None)
    if bad is not None:
        return f"contains {bad!r}; allowed are {_TID_ALPHABET!r} (lowercase)"
    return f"first character {s[0]!r} overflows 64 bits; it must be one of 234567a-j"


# --- TID ------------------------------------------------------------------------------------

_TID_VALUES = {ch: i for i, ch in enumerate(_TID_ALPHABET)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLOCK_ID = int.from_bytes(os.urandom(2), "big") & 0x3FF  # random per process, as specified
_tid_lock = allocate_lock()
_last_tid_us = 0


def make_tid(timestamp_us: int, clock_id: int) -> str:
    """Encode a TID from its two fields.

    Spec: https://atproto.com/specs/tid (64-bit integer: top bit 0, 53 bits of microseconds
    since the UNIX epoch, 10 bits of clock id; base32-sortable, 13 characters).

    Args:
        timestamp_us: Microseconds since 1970-01-01 UTC, ``0 <= timestamp_us < 2**53``.
        clock_id: ``0 <= clock_id < 1024``.

    Returns:
        The 13-character TID.

    Raises:
        ValueError: A field is out of range.
    """
    if not 0 <= timestamp_us < 1 << 53:
        raise ValueError(f"TID timestamp must be in [0, 2**53) microseconds, not {timestamp_us}")
    if not 0 <= clock_id < 1 << 10:
        raise ValueError(f"TID clock id must be in [0, 1024), not {clock_id}")
    n = timestamp_us << 10 | clock_id
    chars = [_TID_ALPHABET[(n >> shift) & 31] for shift in range(60, -1, -5)]
    return "".join(chars)


def _tid_int(tid: str) -> int:
    # ensure_valid("tid", tid) spelled out: _formats imports this module, not the reverse.
    if not is_valid_tid(_check_str("TID", tid)):
        raise InvalidSyntaxError("TID", tid, _tid_problem(tid))
    n = 0
    for ch in tid:
        n = n << 5 | _TID_VALUES[ch]
    return n


def _clock_us() -> int:
    return time.time_ns() // 1000


def next_tid() -> str:
    """Return a new TID for this process, e.g. as the record key of a new record.

    TIDs from one process strictly increase: when the clock goes back, or two calls land in
    the same microsecond, the timestamp is bumped past the last one handed out. Thread-safe.

    Returns:
        A 13-character TID with this process's random clock id.
    """
    global _last_tid_us
    now = _clock_us()
    with _tid_lock:
        us = now if now > _last_tid_us else _last_tid_us + 1
        _last_tid_us = us
    return make_tid(us, _CLOCK_ID)


def tid_timestamp(tid: str) -> datetime:
    """Return the time a TID encodes, as an aware UTC datetime.

    Args:
        tid: A TID.

    Returns:
        The timestamp (microsecond precision).

    Raises:
        InvalidSyntaxError: ``tid`` is not a TID.
        TypeError: ``tid`` is not a str.
    """
    return _EPOCH + timedelta(microseconds=_tid_int(tid) >> 10)


def tid_clock_id(tid: str) -> int:
    """Return the 10-bit clock id of a TID.

    Args:
        tid: A TID.

    Returns:
        The clock id, ``0 <= id < 1024``.

    Raises:
        InvalidSyntaxError: ``tid`` is not a TID.
        TypeError: ``tid`` is not a str.
    """
    return _tid_int(tid) & 0x3FF
