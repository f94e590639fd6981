"""MST nodes: writing the canonical block, and the node's CID.

Spec: https://atproto.com/specs/repository#mst-structure (the block's layout is in ``_node``)

Verifying a firehose commit writes back most of the nodes it read, once its ops are inverted
(``benchmarks/bench_sync.py``: 7.2 per commit), so a node made from a read one is written from
the read block. Figures are CPU time per node over that benchmark's commits:

- A node made by changing links or values (every ancestor of an edited key), or by removing one
  entry (the node of a deleted key), is written by splicing the read block at the offsets its
  reader noted (`_splice`), not rebuilt entry by entry: 1.1 us instead of 5.9 for the first,
  0.6 instead of 5.0 for the second.
- `_write` builds any other block directly: the layout is fixed, so the generic encoder's map
  sorting and type checks are not needed (tests compare the ways with the generic codec).
"""

from __future__ import annotations

from hashlib import sha256
from typing import Final

from atproto_async.ipld import CID
from atproto_async.ipld.cid import (
    LINK_TAG_HEAD,
    SHA256_LINK_HEAD,
    TAGGED_SHA256_CID_SIZE,
    cid_from_tagged,
)
from atproto_async.repo._node import (
    _LINK_ITEM_SIZE,
    _NODE_LINK_TAGGED,
    _Child,
    _Node,
    _tagged,
)
from atproto_async.repo.paths import _common_prefix

#: ``"v"`` (0x61 0x76), then the link item: how every entry ends (43 bytes).
_VALUE_FIELD_SIZE: Final = len(b"\x61v") + _LINK_ITEM_SIZE


def _head(major: int, size: int) -> bytes:
    """A CBOR item head: major type (already shifted) and argument, in shortest form."""
    if size < 24:
        return bytes((major | size,))
    if size < 0x100:
        return bytes((major | 24, size))
    if size < 0x10000:
        return bytes((major | 25,)) + size.to_bytes(2, "big")
    if size < 0x100000000:
        return bytes((major | 26,)) + size.to_bytes(4, "big")
    return bytes((major | 27,)) + size.to_bytes(8, "big")


_UINT_HEADS: Final = tuple(_head(0x00, size) for size in range(256))
_BYTES_HEADS: Final = tuple(_head(0x40, size) for size in range(256))
_ARRAY_HEADS: Final = tuple(_head(0x80, size) for size in range(256))


def _tagged_item(tagged: bytes) -> bytes:
    """DAG-CBOR of a link given as its tag-42 content."""
    if len(tagged) == TAGGED_SHA256_CID_SIZE:
        return SHA256_LINK_HEAD + tagged
    return LINK_TAG_HEAD + _head(0x40, len(tagged)) + tagged


def _link_item(cid: CID) -> bytes:
    """DAG-CBOR of a CID: tag 42 around the binary CID behind a 0x00 byte."""
    return _tagged_item(_tagged(cid))


def _child_item(child: _Child) -> bytes:
    """The ``t`` or ``l`` value for a child: null, or the link to it."""
    if child is None:
        return b"\xf6"
    if type(child) is tuple:
        return SHA256_LINK_HEAD + child[0]
    return SHA256_LINK_HEAD + _node_link(child)  # type: ignore[arg-type]


def _write(node: _Node) -> bytes:
    """The node's canonical DAG-CBOR, written directly (keys in canonical order: e, l; k p t v)."""
    children = node.children
    values = node.values
    count = len(node.keys)
    parts = [b"\xa2\x61e", _ARRAY_HEADS[count] if count < 256 else _head(0x80, count)]
    prev = b""
    for index, key in enumerate(node.keys):
        prefix = _common_prefix(prev, key)
        size = len(key) - prefix
        parts += (
            b"\xa4\x61k",
            _BYTES_HEADS[size] if size < 256 else _head(0x40, size),
            key[prefix:],
            b"\x61p",
            _UINT_HEADS[prefix] if prefix < 256 else _head(0x00, prefix),
            b"\x61t",
            _child_item(children[index + 1]),
            b"\x61v",
            _tagged_item(values[index]),
        )
        prev = key
    parts += (b"\x61l", _child_item(children[0]))
    return b"".join(parts)


def _splice(node: _Node, base: _Node, edit: int) -> bytes:
    """``node``'s block made from ``base``'s by replacing the link items that differ.

    Both have the same keys; ``base`` was read by `_read_canonical`, so every link item in its
    block is either null (one byte) or 41 bytes, at offsets that ``base.ends`` give. ``edit``
    is the index of the only child that differs, or -1 to compare them all.
    """
    block = base.block
    ends = base.ends
    assert block is not None and ends is not None  # what makes a node a base
    old = base.children
    new = node.children
    if edit < -1:
        return _splice_removal(node, base, block, ends, -2 - edit)
    if edit >= 0:  # the path to an edited key: one link to replace
        # ``l`` ends the block; the ``t`` of entry i - 1 comes just before its ``v`` field.
        end = len(block) if edit == 0 else ends[edit - 1] - _VALUE_FIELD_SIZE
        start = end - 1 if old[edit] is None else end - _LINK_ITEM_SIZE
        return block[:start] + _child_item(new[edit]) + block[end:]
    cuts: list[tuple[int, int, bytes]] = []
    for index, was in enumerate(old):
        child = new[index]
        if child is not was:
            end = len(block) if index == 0 else ends[index - 1] - _VALUE_FIELD_SIZE
            start = end - 1 if was is None else end - _LINK_ITEM_SIZE
            cuts.append((start, end, _child_item(child)))
    values = node.values
    if values is not base.values:
        for index, (value, was_value) in enumerate(zip(values, base.values, strict=True)):
            if value != was_value:
                end = ends[index]
                cuts.append((end - _LINK_ITEM_SIZE, end, _tagged_item(value)))
    cuts.sort()
    parts: list[bytes] = []
    pos = 0
    for start, end, item in cuts:
        parts += (block[pos:start], item)
        pos = end
    parts.append(block[pos:])
    return b"".join(parts)


def _splice_removal(node: _Node, base: _Node, block: bytes, ends: list[int], index: int) -> bytes:
    """``node``'s block made from ``base``'s, ``node`` being ``base`` less entry ``index``.

    What changes: the count; the link left of the entry (``t`` of the entry before, or ``l``),
    now to the join of the two subtrees around it; the key of the entry after, now compressed
    against the key before. Everything else is copied as is.
    """
    old = base.children
    count = len(ends)
    stop = ends[-1]  # where "l" starts
    merged = _child_item(node.children[index])
    parts = [b"\xa2\x61e", _ARRAY_HEADS[count - 1]]
    if index:
        end = ends[index - 1] - _VALUE_FIELD_SIZE  # the end of the t of the entry before
        start = end - 1 if old[index] is None else end - _LINK_ITEM_SIZE
        parts += (block[5 if block[3] == 0x98 else 4 : start], merged, block[end : ends[index - 1]])
    if index + 1 < count:
        keys = base.keys
        key = keys[index + 1]
        # No longer than the prefix the entry had (below 256: the reader's bound), the keys
        # being in order.
        prefix = _common_prefix(keys[index - 1], key) if index else 0
        size = len(key) - prefix
        end = ends[index + 1] - _VALUE_FIELD_SIZE  # the t of the entry after, and what follows
        start = end - (1 if old[index + 2] is None else _LINK_ITEM_SIZE) - 2
        parts += (
            b"\xa4\x61k",
            _BYTES_HEADS[size] if size < 256 else _head(0x40, size),
            key[prefix:],
            b"\x61p",
            _UINT_HEADS[prefix],
            block[start:stop],
        )
    parts.append(block[stop:] if index else b"\x61l" + merged)
    return b"".join(parts)


def _node_block(node: _Node) -> bytes:
    """The node's canonical DAG-CBOR (computed once)."""
    block = node.block
    if block is None:
        base = node.base
        block = node.block = _write(node) if base is None else _splice(node, *base)
    return block


def _node_link(node: _Node) -> bytes:
    """The tag-42 content of the node's CID (computed once)."""
    link = node.link
    if link is None:
        block = node.block
        if block is None:
            base = node.base
            block = node.block = _write(node) if base is None else _splice(node, *base)
        link = node.link = _NODE_LINK_TAGGED + sha256(block).digest()
    return link


def _node_cid(node: _Node) -> CID:
    return cid_from_tagged(_node_link(node))
