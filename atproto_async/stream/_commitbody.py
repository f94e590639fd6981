"""A reader for the one layout that relays and PDSes give nearly every ``#commit`` body.

Decoding a commit body with cbor2 builds a dict of a dozen fields (a new string per key, a
duplicate-key check per entry, a Python callback per CID link) that `frames._commit` then
takes apart again. Almost every body on the wire has the same canonical shape: a map of
eleven to thirteen entries whose keys come in DAG-CBOR order::

    ops rev seq [prev] repo time blobs since blocks commit rebase tooBig [prevData]

where ``prev`` is the deprecated field the Go relay still writes as null (indigo's cbor-gen
struct; the PDS leaves it out) and ``prevData`` is present on sync 1.1 commits only. Each op
is a map of ``cid path [prev] action``, up to 255 of them (more than 23 take a two-byte array
head; the limit of 200 is checked first); every link is a DAG-CBOR sha2-256 CIDv1, text
strings are short, ``blobs`` is empty (or null). `read_commit_body` reads exactly that layout
straight from the bytes, comparing the keys as bytes and building the event directly. Anything
else - another key, order, length form, link form or value type (a ``prev`` that is not null),
invalid UTF-8, a limit exceeded, trailing bytes - makes it return None, and `frames._decode`
decodes the frame the general way, which accepts every valid encoding and names the problem of
an invalid one. For every body it accepts, it returns the event the general path returns
(``tests/stream/test_stream_commitbody.py`` checks that on real, generated and mutated frames,
including the live relay commits and the live layout of ``benchmarks/make_frames.py``).

What it saves, measured with ``python benchmarks/bench_stream.py --general-path --repeat 7``
(which also times the general path alone, this reader turned off) on the 2-core benchmark
machine, ``decode_frame`` and then ``op.record`` for every op, in one run: on the live layout
77,900 frames/s against 66,100 (1.18x), on the synthetic layout 98,300 against 80,900
(1.22x). Before this reader took the live layout (it missed every live frame for its
``prev: null``), the live layout ran at 56,300 frames/s where it now runs at 76,000 (one
session, back to back). Wall-clock figures on that shared machine move by 10-20% between
runs; instruction counts (callgrind) do not: per live frame, 61k for ``decode_frame`` against
96k on the general path (196k against 229k with the records read as models).

The few lines that read a text string are written out at each field rather than called: a
call per field would cost a tenth of the read. The fields between ``rev`` and the head of
``blocks`` are matched at once by a regular expression when they have their usual forms
(`_USUAL_MIDDLE`), and an op's ``cid`` key and link head, and its ``action`` key and value, are
compared in one slice each: that takes 18k instructions fewer per live frame than reading
every key and head on its own (62k against 80k for ``decode_frame``, callgrind).

Spec: https://atproto.com/specs/sync#firehose (the ``#commit`` message) and
https://ipld.io/specs/codecs/dag-cbor/spec/#strictness (key order).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Final

from atproto_async.ipld.cid import (
    SHA256_LINK_HEAD,
    TAGGED_DAG_CBOR_SHA256_PREFIX,
    TAGGED_SHA256_CID_SIZE,
    cid_from_tagged,
)
from atproto_async.stream.events import MAX_SEQ, Commit, RawOp, build_commit

if TYPE_CHECKING:
    from atproto_async.stream.frames import _Limits

__all__ = ["read_commit_body"]

#: A link as DAG-CBOR writes it: tag 42, a 37-byte string, the 0x00 prefix, then a CIDv1 with
#: the dag-cbor codec and a 32-byte sha2-256 digest (the rest of the 37 bytes).
_LINK: Final = SHA256_LINK_HEAD + TAGGED_DAG_CBOR_SHA256_PREFIX
_NULL: Final = 0xF6

# Each key with its text-string head, as the bytes that must appear in the body.
_OPS: Final = b"\x63ops"
_OP_PATH: Final = b"\x64path"
#: ``prev`` of an op, and the deprecated top-level ``prev`` of the body.
_PREV: Final = b"\x64prev"
_PREV_NULL: Final = _PREV + b"\xf6"
_OP_ACTION: Final = b"\x66action"
_REV: Final = b"\x63rev"
_SEQ: Final = b"\x63seq"
_REPO: Final = b"\x64repo"
_TIME: Final = b"\x64time"
_BLOBS: Final = b"\x65blobs"
_SINCE: Final = b"\x65since"
_BLOCKS: Final = b"\x66blocks"
# Keys with the start of their value, compared at once: the op's ``cid`` (after the map head),
# its ``action`` (nearly always one of three), ``commit`` and ``prevData``.
_OP_CID: Final = b"\x63cid"
_OP_CID_LINK: Final = _OP_CID + _LINK
_OP_CID_NULL: Final = _OP_CID + b"\xf6"
_ACTIONS: Final = {
    _OP_ACTION + b"\x66" + action.encode(): action for action in ("create", "update", "delete")
}
_COMMIT: Final = b"\x66commit"
_COMMIT_LINK: Final = _COMMIT + _LINK
_PREV_DATA: Final = b"\x68prevData"
_PREV_DATA_LINK: Final = _PREV_DATA + _LINK
_PREV_DATA_NULL: Final = _PREV_DATA + b"\xf6"

# Offsets of each link, counted from the first byte of the key before it (the op's ``cid``
# key comes after the op's map head: one byte more): where the bytes compared with the key
# and `_LINK` end (``_MATCHED``), and where the tag-42 content, which becomes the CID's
# storage, starts and ends. The figures are those of the usual layout.
_LINK_AFTER: Final = len(SHA256_LINK_HEAD)
_OP_CID_MATCHED: Final = 1 + len(_OP_CID_LINK)  # 14
_OP_CID_START: Final = 1 + len(_OP_CID) + _LINK_AFTER  # 9
_OP_CID_END: Final = _OP_CID_START + TAGGED_SHA256_CID_SIZE  # 46
_PREV_MATCHED: Final = len(_PREV) + len(_LINK)  # 14
_PREV_START: Final = len(_PREV) + _LINK_AFTER  # 9
_PREV_END: Final = _PREV_START + TAGGED_SHA256_CID_SIZE  # 46
_COMMIT_MATCHED: Final = len(_COMMIT_LINK)  # 16
_COMMIT_START: Final = len(_COMMIT) + _LINK_AFTER  # 11
_COMMIT_END: Final = _COMMIT_START + TAGGED_SHA256_CID_SIZE  # 48
_PREV_DATA_MATCHED: Final = len(_PREV_DATA_LINK)  # 18
_PREV_DATA_START: Final = len(_PREV_DATA) + _LINK_AFTER  # 13
_PREV_DATA_END: Final = _PREV_DATA_START + TAGGED_SHA256_CID_SIZE  # 50
#: ``rebase`` and ``tooBig`` with their values, which sit next to each other.
_FLAGS: Final = {
    b"\x66rebase" + bytes([r]) + b"\x66tooBig" + bytes([t]): (r == 0xF5, t == 0xF5)
    for r in (0xF4, 0xF5)
    for t in (0xF4, 0xF5)
}
#: Where the flags end, counted as `_COMMIT_END` (they follow the ``commit`` link).
_FLAGS_END: Final = _COMMIT_END + len(next(iter(_FLAGS)))  # 64
#: ``rev`` to the head of ``blocks`` as nearly every body writes them, matched at once: a TID
#: rev, a seq above 2**32 (below 2**63), the Go relay's ``prev: null`` or nothing, a did:plc
#: repo, a time with milliseconds, blobs empty (or null), since a TID or null, and 256 to
#: 65535 bytes of blocks. Any other form is read field by field (`_read_middle`). The match
#: and its groups take 0.6 us where reading the same fields one by one takes 1.3 us (timeit
#: on a live-layout frame of ``benchmarks/make_frames.py``).
_USUAL_MIDDLE: Final = re.compile(
    rb"\x63rev\x6d(.{13})"
    rb"\x63seq\x1b([\x00-\x7f].{7})"
    rb"(\x64prev\xf6)?"
    rb"\x64repo\x78\x20(.{32})"
    rb"\x64time\x78\x18(.{24})"
    rb"\x65blobs[\x80\xf6]"
    rb"\x65since(?:\xf6|\x6d(.{13}))"
    rb"\x66blocks\x59(..)",
    re.DOTALL,
).match


def read_commit_body(
    data: bytes, p: int, limits: _Limits, collections: Collection[str] | None
) -> Commit | None:
    """Build the `Commit` of the body ``data[p:]``, or return None if it has another layout.

    Text strings are read when their head holds the length or one more byte does (up to 255
    bytes); longer ones, like every other variation, take the general path.

    Args:
        data: The whole frame.
        p: Where the body starts (just after the ``#commit`` header).
        limits: The frame limits; a body over one is left to the general path, which raises.
        collections: As for `frames._commit`: keep only the ops of these collections.
    """
    try:
        # 11 entries, one more for ``prev: null`` and one more for ``prevData``: 11 to 13.
        entries = data[p] - 0xA0
        if not 11 <= entries <= 13 or data[p + 1 : p + 5] != _OPS:
            return None
        count = data[p + 5] - 0x80  # up to 23 ops in the head, up to 255 in one more byte
        if 0 <= count <= 23:
            p += 6
        elif count == 24:
            count = data[p + 6]
            p += 7
        else:
            return None
        if count > limits.max_ops:
            return None  # the general path names the problem
        ops: list[RawOp] = []
        for _ in range(count):
            head = data[p]  # three entries, or four with prev
            if head != 0xA3 and head != 0xA4:
                return None
            if data[p + 1 : p + _OP_CID_MATCHED] == _OP_CID_LINK:
                cid = cid_from_tagged(data[p + _OP_CID_START : p + _OP_CID_END])
                p += _OP_CID_END
            elif data[p + 1 : p + 6] == _OP_CID_NULL:
                cid = None
                p += 6
            else:
                return None
            if data[p : p + 5] != _OP_PATH:
                return None
            n = data[p + 5]  # text: the length in the head, or in the next byte
            if 0x60 <= n <= 0x77:
                end = p + n - 0x5A
                path = data[p + 6 : end].decode()
            elif n == 0x78:
                end = p + 7 + data[p + 6]
                path = data[p + 7 : end].decode()
            else:
                return None
            p = end
            prev = None
            if head == 0xA4:
                if data[p : p + 5] != _PREV:
                    return None
                if data[p + 5] == _NULL:
                    p += 6
                elif data[p + 5 : p + _PREV_MATCHED] == _LINK:
                    prev = cid_from_tagged(data[p + _PREV_START : p + _PREV_END])
                    p += _PREV_END
                else:
                    return None
            action = _ACTIONS.get(data[p : p + 14])
            if action is not None:
                p += 14
            else:  # another action: read as any text
                if data[p : p + 7] != _OP_ACTION:
                    return None
                n = data[p + 7]
                if 0x60 <= n <= 0x77:
                    end = p + n - 0x58
                    action = data[p + 8 : end].decode()
                elif n == 0x78:
                    end = p + 9 + data[p + 8]
                    action = data[p + 9 : end].decode()
                else:
                    return None
                p = end
            collection, slash, rkey = path.partition("/")
            if not slash or not collection or not rkey:
                return None  # the general path says what is wrong
            if collections is None or collection in collections:
                ops.append((action, path, collection, rkey, cid, prev))

        match = _USUAL_MIDDLE(data, p)
        if match is not None:
            rev, seq_bytes, prev_null, repo, time, since, size_bytes = match.groups()
            rev = rev.decode()
            seq = int.from_bytes(seq_bytes, "big")
            if prev_null is not None:
                entries -= 1
            repo = repo.decode()
            time = time.decode()
            if since is not None:
                since = since.decode()
            size = int.from_bytes(size_bytes, "big")
            p = match.end()
        else:
            middle = _read_middle(data, p)
            if middle is None:
                return None
            rev, seq, prev_null, repo, time, since, size, p = middle
            if prev_null:
                entries -= 1
        if size > limits.max_blocks_size:
            return None
        blocks = data[p : p + size]
        p += size

        if data[p : p + _COMMIT_MATCHED] != _COMMIT_LINK:
            return None
        commit = cid_from_tagged(data[p + _COMMIT_START : p + _COMMIT_END])
        flags = _FLAGS.get(data[p + _COMMIT_END : p + _FLAGS_END])
        if flags is None:
            return None
        rebase, too_big = flags
        p += _FLAGS_END

        prev_data = None
        if entries == 12:  # the last entry left: prevData
            if data[p : p + _PREV_DATA_MATCHED] == _PREV_DATA_LINK:
                prev_data = cid_from_tagged(data[p + _PREV_DATA_START : p + _PREV_DATA_END])
                p += _PREV_DATA_END
            elif data[p : p + 10] == _PREV_DATA_NULL:
                p += 10
            else:
                return None
        elif entries != 11:
            return None
        # The body must end exactly here (a truncated one ends short of a key or of here).
        if p != len(data):
            return None
    except (IndexError, UnicodeDecodeError):
        return None

    return build_commit(
        seq, repo, rev, since, commit, blocks, time, too_big, prev_data, [], rebase, ops, limits
    )


def _read_middle(
    data: bytes, p: int
) -> tuple[str, int, bool, str, str, str | None, int, int] | None:
    """Read ``rev`` to the head of ``blocks`` in any of the forms `_USUAL_MIDDLE` does not take.

    Returns:
        rev, seq, whether a ``prev: null`` was there, repo, time, since, the size of the
        blocks and where they start; or None for another layout.

    Raises:
        IndexError, UnicodeDecodeError: A truncated body, or invalid UTF-8.
    """
    if data[p : p + 4] != _REV:
        return None
    p += 4
    n = data[p]
    if 0x60 <= n <= 0x77:
        end = p + n - 0x5F
        rev = data[p + 1 : end].decode()
    elif n == 0x78:
        end = p + 2 + data[p + 1]
        rev = data[p + 2 : end].decode()
    else:
        return None
    p = end

    if data[p : p + 4] != _SEQ:
        return None
    p += 4
    n = data[p]  # an unsigned integer, in any of its lengths
    if n < 0x18:
        seq = n
        p += 1
    elif n == 0x1A:
        seq = int.from_bytes(data[p + 1 : p + 5], "big")
        p += 5
    elif n == 0x1B:
        seq = int.from_bytes(data[p + 1 : p + 9], "big")
        if seq > MAX_SEQ:
            return None  # the general path names the problem
        p += 9
    elif n == 0x19:
        seq = int.from_bytes(data[p + 1 : p + 3], "big")
        p += 3
    elif n == 0x18:
        seq = data[p + 1]
        p += 2
    else:
        return None

    prev_null = data[p : p + 6] == _PREV_NULL  # deprecated, written as null by the Go relay
    if prev_null:
        p += 6
    if data[p : p + 5] != _REPO:
        return None
    p += 5
    n = data[p]
    if 0x60 <= n <= 0x77:
        end = p + n - 0x5F
        repo = data[p + 1 : end].decode()
    elif n == 0x78:
        end = p + 2 + data[p + 1]
        repo = data[p + 2 : end].decode()
    else:
        return None
    p = end

    if data[p : p + 5] != _TIME:
        return None
    p += 5
    n = data[p]
    if 0x60 <= n <= 0x77:
        end = p + n - 0x5F
        time = data[p + 1 : end].decode()
    elif n == 0x78:
        end = p + 2 + data[p + 1]
        time = data[p + 2 : end].decode()
    else:
        return None
    p = end

    # blobs (deprecated): empty, or null as some relays write it; then since
    if data[p : p + 6] != _BLOBS or data[p + 7 : p + 13] != _SINCE:
        return None
    if data[p + 6] != 0x80 and data[p + 6] != _NULL:
        return None
    p += 13
    n = data[p]
    since: str | None
    if n == _NULL:
        since = None
        p += 1
    elif 0x60 <= n <= 0x77:
        end = p + n - 0x5F
        since = data[p + 1 : end].decode()
        p = end
    elif n == 0x78:
        end = p + 2 + data[p + 1]
        since = data[p + 2 : end].decode()
        p = end
    else:
        return None

    if data[p : p + 7] != _BLOCKS:
        return None
    p += 7
    n = data[p]  # a byte string of 2 KB or so: a 2- or 4-byte length, or 1 byte
    if n == 0x59:
        size = (data[p + 1] << 8) | data[p + 2]
        p += 3
    elif n == 0x5A:
        size = int.from_bytes(data[p + 1 : p + 5], "big")
        p += 5
    elif n == 0x58:
        size = data[p + 1]
        p += 2
    else:
        return None
    return rev, seq, prev_null, repo, time, since, size, p
