"""Repo paths as MST keys: their syntax, their height in the tree, their shared prefixes.

Spec: https://atproto.com/specs/repository#repo-data-structure-v3 (paths) and
https://atproto.com/specs/repository#mst-structure (heights, prefix compression)

A repo path is ``<collection>/<record-key>``; the MST stores it as its UTF-8 bytes. Paths are
ASCII today, so a key is handled as a `str` everywhere and its byte order is its string order.
"""

from __future__ import annotations

import re
from hashlib import sha256
from typing import Final

from atproto_async.exceptions import RepoError

__all__ = [
    "MAX_KEY_LENGTH",
    "common_prefix_length",
    "ensure_valid_key",
    "is_valid_key",
    "key_height",
]

#: The longest repo path accepted, in bytes (an NSID, ``/`` and a record key fit well below).
MAX_KEY_LENGTH: Final = 1024

# ``collection/rkey``: two non-empty segments of the characters record keys allow, neither of
# them ``.`` or ``..``.
_SEGMENT: Final = r"[A-Za-z0-9._~:-]+"
_KEY_RE: Final = re.compile(rf"(?!\.\.?/){_SEGMENT}/(?!\.\.?\Z){_SEGMENT}")
# The same for keys (as bytes) joined by single spaces, which no key holds: one match checks
# all the keys of an MST node (``_node._read_canonical``): 0.6 us per node of the firehose
# benchmark (``benchmarks/bench_sync.py``) instead of 0.8 for one match per key.
_KEY_IN_LIST: Final = rf"(?!\.\.?/){_SEGMENT}/(?!\.\.?(?:\x20|\Z)){_SEGMENT}"
_KEYS_RE: Final = re.compile(rf"{_KEY_IN_LIST}(?:\x20{_KEY_IN_LIST})*".encode())
_KEY_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:-/"
)


def key_height(key: str | bytes) -> int:
    """Return the MST height of a key: the leading zero bits of its SHA-256, halved (fanout 4).

    Any string or bytes is accepted (a str is hashed as UTF-8); no path rules are applied.

    Spec: https://atproto.com/specs/repository#mst-structure
    """
    digest = sha256(key.encode() if isinstance(key, str) else key).digest()
    if digest[0] >= 0x40:  # three keys in four: the first two bits are not both zero
        return 0
    return (256 - int.from_bytes(digest, "big").bit_length()) // 2


def common_prefix_length(a: str | bytes, b: str | bytes) -> int:
    """Return how many leading bytes ``a`` and ``b`` share (strings compared as UTF-8).

    This is the ``p`` of an MST entry, relative to the previous key of its node.
    """
    return _common_prefix(
        a.encode() if isinstance(a, str) else a, b.encode() if isinstance(b, str) else b
    )


def _common_prefix(a: bytes, b: bytes) -> int:
    size = min(len(a), len(b))
    if a[:size] == b[:size]:
        return size
    # The first differing byte is where the highest bit of the XOR lies.
    diff = int.from_bytes(a[:size], "big") ^ int.from_bytes(b[:size], "big")
    return size - 1 - (diff.bit_length() - 1) // 8


def is_valid_key(key: object) -> bool:
    """Whether ``key`` is a valid repo path: ``collection/rkey`` of at most `MAX_KEY_LENGTH` bytes.

    Both segments must be non-empty and use only ``A-Za-z0-9._~:-``; neither may be ``.`` or
    ``..``. The collection is not required to be an NSID here (the MST does not need it).
    """
    return type(key) is str and len(key) <= MAX_KEY_LENGTH and _KEY_RE.fullmatch(key) is not None


def _key_problem(key: object) -> str:
    """Say why ``key`` is not a valid repo path (called only once it is known not to be)."""
    if type(key) is not str:
        return f"a repo path must be a str, not {type(key).__name__}"
    shown = key if len(key) <= 80 else key[:77] + "..."
    if not key:
        return "empty repo path"
    size = len(key.encode())
    if size > MAX_KEY_LENGTH:
        return f"repo path of {size} bytes is longer than {MAX_KEY_LENGTH}"
    bad = next((char for char in key if char not in _KEY_CHARS), None)
    if bad is not None:
        return f"repo path {shown!r} contains {bad!r}; allowed are A-Za-z0-9 and ._~:-"
    segments = key.split("/")
    if len(segments) != 2:
        return f"repo path {shown!r} must be collection/rkey (exactly one '/')"
    if not all(segments):
        return f"repo path {shown!r} has an empty segment"
    return f"repo path {shown!r} has a '.' or '..' segment"


def ensure_valid_key(key: object) -> None:
    """Raise `RepoError` saying why ``key`` is not a valid repo path; see `is_valid_key`."""
    if not is_valid_key(key):
        raise RepoError(_key_problem(key))
