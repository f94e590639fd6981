"""A reader for the one layout that relays and PDSes give nearly every ``#commit`` body.

Decoding a commit body with cbor2 builds a dict of twelve fields (a new string per key, a
duplicate-key check per entry, a Python callback per CID link) that `frames._commit` then
takes apart again. Almost every body on the wire has the same canonical shape: a map of
twelve (or, without ``prevData``, eleven) entries whose keys come in DAG-CBOR order::

    ops rev seq repo time blobs since blocks commit rebase tooBig prevData

with each op a map of ``cid path [prev] action``, every link a DAG-CBOR sha2-256 CIDv1,
short text strings and an empty (or null) ``blobs``. `read_commit_body` reads exactly that layout
straight from the bytes, comparing the keys as bytes and building the event directly: about
a quarter of the cost of a whole frame. Anything else - another key, order, length form,
link form or value type, invalid UTF-8, a limit exceeded, trailing bytes - makes it return
None, and `frames._decode` decodes the frame the general way, which accepts every valid
encoding and names the problem of an invalid one. For every body it accepts, it returns
the event the general path returns (``tests/stream/test_stream_commitbody.py`` checks that
on real, generated and mutated frames). The few lines that read a text string are written
out at each field rather than called: a call per field would cost a tenth of the read.

Spec: https://atproto.com/specs/sync#firehose (the ``#commit`` message) and
https://ipld.io/specs/codecs/dag-cbor/spec/#strictness (key order).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Final

from atproto_async.ipld.cid import CID
from atproto_async.stream.events import MAX_SEQ, Commit, RawOp, build_commit

if TYPE_CHECKING:
    from atproto_async.stream.frames import _Limits

__all__ = ["read_commit_body"]

_new = object.__new__

#: A link as DAG-CBOR writes it: tag 42, a 37-byte string, the 0x00 prefix, then a CIDv1 with
#: the dag-cbor codec and a 32-byte sha2-256 digest (the rest of the 37 bytes).
_LINK: Final = b"\xd8\x2a\x58\x25\x00\x01\x71\x12\x20"
_NULL: Final = 0xF6

# Each key with its text-string head, as the bytes that must appear in the body.
_OPS: Final = b"\x63ops"
_OP_CID: Final = b"\x63cid"
_OP_PATH: Final = b"\x64path"
_OP_PREV: Final = b"\x64prev"
_OP_ACTION: Final = b"\x66action"
_REV: Final = b"\x63rev"
_SEQ: Final = b"\x63seq"
_REPO: Final = b"\x64repo"
_TIME: Final = b"\x64time"
_BLOBS: Final = b"\x65blobs"
_SINCE: Final = b"\x65since"
_BLOCKS: Final = b"\x66blocks"
_COMMIT: Final = b"\x66commit"
_PREV_DATA: Final = b"\x68prevData"
#: ``rebase`` and ``tooBig`` with their values, which sit next to each other.
_FLAGS: Final = {
    b"\x66rebase" + bytes([r]) + b"\x66tooBig" + bytes([t]): (r == 0xF5, t == 0xF5)
    for r in (0xF4, 0xF5)
    for t in (0xF4, 0xF5)
}


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
        head = data[p]
        if (head != 0xAC and head != 0xAB) or data[p + 1 : p + 5] != _OPS:
            return None
        with_prev_data = head == 0xAC
        p += 5
        head = data[p]
        if not 0x80 <= head <= 0x97:  # at most 23 ops (the limit is checked below)
            return None
        count = head - 0x80
        p += 1
        ops: list[RawOp] = []
        for _ in range(count):
            head = data[p]
            if (head != 0xA3 and head != 0xA4) or data[p + 1 : p + 5] != _OP_CID:
                return None
            p += 5
            if data[p] == _NULL:
                cid = None
                p += 1
            elif data[p : p + 9] == _LINK:
                cid = _new(CID)
                cid._tagged = data[p + 4 : p + 41]
                p += 41
            else:
                return None
            if data[p : p + 5] != _OP_PATH:
                return None
            p += 5
            n = data[p]  # text: the length in the head, or in the next byte
            if 0x60 <= n <= 0x77:
                end = p + n - 0x5F
                path = data[p + 1 : end].decode()
            elif n == 0x78:
                end = p + 2 + data[p + 1]
                path = data[p + 2 : end].decode()
            else:
                return None
            p = end
            prev = None
            if head == 0xA4:
                if data[p : p + 5] != _OP_PREV:
                    return None
                p += 5
                if data[p] == _NULL:
                    p += 1
                elif data[p : p + 9] == _LINK:
                    prev = _new(CID)
                    prev._tagged = data[p + 4 : p + 41]
                    p += 41
                else:
                    return None
            if data[p : p + 7] != _OP_ACTION:
                return None
            p += 7
            n = data[p]
            if 0x60 <= n <= 0x77:
                end = p + n - 0x5F
                action = data[p + 1 : end].decode()
            elif n == 0x78:
                end = p + 2 + data[p + 1]
                action = data[p + 2 : end].decode()
            else:
                return None
            p = end
            collection, slash, rkey = path.partition("/")
            if not slash or not collection or not rkey:
                return None  # the general path says what is wrong
            if collections is None or collection in collections:
                ops.append((action, path, collection, rkey, cid, prev))

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
        if size > limits.max_blocks_size:
            return None
        blocks = data[p : p + size]
        p += size

        if data[p : p + 7] != _COMMIT or data[p + 7 : p + 16] != _LINK:
            return None
        commit = _new(CID)
        commit._tagged = data[p + 11 : p + 48]
        p += 48

        flags = _FLAGS.get(data[p : p + 16])
        if flags is None:
            return None
        rebase, too_big = flags
        p += 16

        prev_data = None
        if with_prev_data:
            if data[p : p + 9] != _PREV_DATA:
                return None
            p += 9
            if data[p] == _NULL:
                p += 1
            elif data[p : p + 9] == _LINK:
                prev_data = _new(CID)
                prev_data._tagged = data[p + 4 : p + 41]
                p += 41
            else:
                return None
        # The body must end exactly here (a truncated one ends short of a key or of here).
        if p != len(data):
            return None
    except (IndexError, UnicodeDecodeError):
        return None
    if count > limits.max_ops:
        return None

    return build_commit(
        seq, repo, rev, since, commit, blocks, time, too_big, prev_data, [], rebase, ops, limits
    )
