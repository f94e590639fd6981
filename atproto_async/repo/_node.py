"""MST nodes: the in-memory form, reading a block with every check, writing the canonical block.

Spec: https://atproto.com/specs/repository#mst-structure

A block is DAG-CBOR ``{"e": [{"k", "p", "t", "v"}...], "l": CID | null}``. Reading one checks,
besides its hash: strict DAG-CBOR and exactly these fields; links to nodes in the one allowed
CID form; keys that are valid repo paths, in strictly increasing order, prefix-compressed as
far as they can be (anything else would give the same tree a second CID); every key at the
node's height and inside the range its parent leaves for it; no empty node except the root of
an empty tree, and no root that is an empty node over a subtree (the top must be trimmed).

Writing builds the bytes directly: the layout is fixed, so the generic encoder's map sorting
and type checks are not needed (a test compares both on random nodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from hashlib import sha256
from typing import Final

from atproto_async.exceptions import DecodeError, MissingBlockError, RepoError
from atproto_async.ipld import CID, decode_dag_cbor
from atproto_async.ipld.cid import cid_for_bytes
from atproto_async.repo.paths import (
    _KEY_RE,
    MAX_KEY_LENGTH,
    _common_prefix,
    _key_problem,
)

#: Binary prefix of the only CIDs allowed to link MST nodes: v1, dag-cbor, sha2-256.
_NODE_LINK_PREFIX: Final = b"\x01\x71\x12\x20"
_NODE_LINK_SIZE: Final = 36

_NODE_FIELDS: Final = frozenset(("e", "l"))
_ENTRY_FIELDS: Final = frozenset(("k", "p", "t", "v"))


class _Node:
    """One MST node: ``keys[i]`` maps to ``values[i]``; ``children[i]`` lies left of ``keys[i]``.

    ``children`` has one more item than ``keys`` (``children[0]`` is the ``l`` link). The node
    never changes once built; its encoding and CID are computed once, when first asked for.
    """

    __slots__ = ("block", "children", "cid", "height", "keys", "values")

    def __init__(
        self,
        height: int,
        keys: tuple[str, ...],
        values: tuple[CID, ...],
        children: tuple[_Child, ...],
        cid: CID | None = None,
        block: bytes | None = None,
    ) -> None:
        self.height = height
        self.keys = keys
        self.values = values
        self.children = children
        self.cid = cid
        self.block = block


class _Stub:
    """A link to a node not read yet, with what its parent requires of it.

    ``lo`` and ``hi`` bound the keys of the subtree (exclusive; None for no bound), and
    ``height`` is its height (None for a root, whose height its keys decide). The node is read
    from ``blocks`` once and kept, so every tree sharing the stub shares the work.
    """

    __slots__ = ("blocks", "cid", "height", "hi", "lo", "node")

    def __init__(
        self,
        cid: CID,
        height: int | None,
        lo: str | None,
        hi: str | None,
        blocks: Mapping[CID, bytes],
    ) -> None:
        self.cid = cid
        self.height = height
        self.lo = lo
        self.hi = hi
        self.blocks = blocks
        self.node: _Node | None = None

    def load(self) -> _Node:
        node = self.node
        if node is None:
            cid = self.cid
            block = self.blocks.get(cid)
            if block is None:
                raise MissingBlockError("MST node not found", cid)
            if type(block) is not bytes:
                block = bytes(block)
            if sha256(block).digest() != bytes(cid)[4:]:
                raise RepoError("MST node does not hash to its CID", cid)
            node = self.node = _decode_node(self, block)
        return node


_Child = _Node | _Stub | None


def _resolve(child: _Node | _Stub) -> _Node:
    return child if type(child) is _Node else child.load()  # type: ignore[union-attr]


def _check_link(link: object, cid: CID, index: int = -1) -> CID:
    """``link`` if it may link an MST node; ``index`` is the entry of a ``t`` (-1 for ``l``)."""
    if type(link) is CID:
        raw = bytes(link)
        if len(raw) == _NODE_LINK_SIZE and raw.startswith(_NODE_LINK_PREFIX):
            return link
    where = "'l'" if index < 0 else f"entry {index} 't'"
    if type(link) is not CID:
        raise RepoError(f"MST node {where} must be a CID link or null, not {link!r:.60}", cid)
    raise RepoError(
        f"MST node {where} link {link} is not a dag-cbor sha2-256 CIDv1 (spec: CID formats)", cid
    )


def _entry_problem(entry: object, prev: str) -> str:
    """Say what is wrong with the fields of an entry (called once it is known to be wrong)."""
    if type(entry) is not dict or entry.keys() != _ENTRY_FIELDS:
        return "must be a map of exactly k, p, t, v"
    prefix = entry["p"]
    if type(prefix) is not int or not 0 <= prefix <= len(prev):
        return (
            f"prefix length {prefix!r:.40} is not an integer in [0, {len(prev)}] "
            "(the previous key's length)"
        )
    if type(entry["k"]) is not bytes:
        return "'k' must be a byte string"
    return "'v' must be a CID link"


def _decode_node(stub: _Stub, block: bytes) -> _Node:
    """Read and check one node block against the place ``stub`` gives it in the tree.

    Every node of every verified firehose commit passes here, so the loop checks the usual
    case with as few operations as it can and leaves the wording of errors to helpers.
    """
    cid = stub.cid
    try:
        data = decode_dag_cbor(block)
    except DecodeError as exc:
        raise RepoError(f"MST node is not canonical DAG-CBOR: {exc}", cid) from exc
    if type(data) is not dict or data.keys() != _NODE_FIELDS:
        raise RepoError("MST node must be a map of exactly 'e' and 'l'", cid)
    entries = data["e"]
    if type(entries) is not list:
        raise RepoError("MST node 'e' must be an array", cid)
    left = data["l"]
    links: list[CID | None] = [None if left is None else _check_link(left, cid)]
    keys: list[str] = []
    values: list[CID] = []
    height = stub.height
    prev = ""
    index = 0
    try:
        for index, entry in enumerate(entries):
            if type(entry) is not dict or entry.keys() != _ENTRY_FIELDS:
                raise RepoError(f"MST entry {index} {_entry_problem(entry, prev)}", cid)
            prefix = entry["p"]
            suffix = entry["k"]
            value = entry["v"]
            if (
                type(prefix) is not int
                or not 0 <= prefix <= len(prev)
                or type(suffix) is not bytes
                or type(value) is not CID
            ):
                raise RepoError(f"MST entry {index} {_entry_problem(entry, prev)}", cid)
            right = entry["t"]
            links.append(None if right is None else _check_link(right, cid, index))
            key = prev[:prefix] + suffix.decode("ascii")
            if index and key <= prev:
                raise RepoError(f"MST keys out of order: {key!r:.80} after {prev!r:.80}", cid)
            if prefix < len(prev) and len(key) > prefix and key[prefix] == prev[prefix]:
                raise RepoError(
                    f"MST entry {index}: prefix length {prefix} is not the whole shared prefix "
                    "(non-canonical compression)",
                    cid,
                )
            if len(key) > MAX_KEY_LENGTH or _KEY_RE.fullmatch(key) is None:
                raise RepoError(f"MST entry {index}: {_key_problem(key)}", cid)
            digest = sha256(key.encode()).digest()  # the height, as in key_height
            level = (
                0 if digest[0] >= 0x40 else (256 - int.from_bytes(digest, "big").bit_length()) >> 1
            )
            if height is None:
                height = level
            elif level != height:
                raise RepoError(
                    f"MST key {key!r:.80} has height {level} but sits in a node of height {height}",
                    cid,
                )
            keys.append(key)
            values.append(value)
            prev = key
    except UnicodeDecodeError:
        raise RepoError(f"MST entry {index}: key is not a repo path (not ASCII)", cid) from None

    if keys:
        if stub.lo is not None and keys[0] <= stub.lo:
            raise RepoError(
                f"MST key {keys[0]!r:.80} is not after {stub.lo!r:.80}, the key left of "
                "its subtree",
                cid,
            )
        if stub.hi is not None and keys[-1] >= stub.hi:
            raise RepoError(
                f"MST key {keys[-1]!r:.80} is not before {stub.hi!r:.80}, the key right of "
                "its subtree",
                cid,
            )
    elif height is None:
        if left is not None:
            raise RepoError(
                "MST root is an empty node over a subtree (the tree is not trimmed)", cid
            )
        height = 0
    elif left is None:
        raise RepoError("empty MST node below the root (empty nodes must be pruned)", cid)
    assert height is not None  # set by the first key, or by the parent, or above

    count = len(keys)
    if not any(links):
        children: tuple[_Child, ...] = (None,) * (count + 1)
    elif height == 0:
        raise RepoError("MST node at height 0 links a subtree", cid)
    else:
        blocks = stub.blocks
        lows = (stub.lo, *keys)
        highs = (*keys, stub.hi)
        children = tuple(
            None if link is None else _Stub(link, height - 1, lows[i], highs[i], blocks)
            for i, link in enumerate(links)
        )
    return _Node(height, tuple(keys), tuple(values), children, cid, block)


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
_SHA256_LINK_HEAD: Final = b"\xd8\x2a\x58\x25\x00"  # tag 42, 37-byte string, multibase 0x00


def _link_item(cid: CID) -> bytes:
    """DAG-CBOR of a CID: tag 42 around the binary CID behind a 0x00 byte."""
    raw = bytes(cid)
    if len(raw) == 36:
        return _SHA256_LINK_HEAD + raw
    return b"\xd8\x2a" + _head(0x40, len(raw) + 1) + b"\x00" + raw


def _child_cid(child: _Node | _Stub) -> CID:
    if type(child) is _Stub:
        return child.cid
    return _node_cid(child)  # type: ignore[arg-type]


def _node_block(node: _Node) -> bytes:
    """The node's canonical DAG-CBOR, written directly (keys in canonical order: e, l; k p t v)."""
    block = node.block
    if block is not None:
        return block
    children = node.children
    values = node.values
    count = len(node.keys)
    parts = [b"\xa2\x61e", _ARRAY_HEADS[count] if count < 256 else _head(0x80, count)]
    prev = b""
    for index, key in enumerate(node.keys):
        raw = key.encode()
        prefix = _common_prefix(prev, raw)
        tail = raw[prefix:]
        size = len(tail)
        right = children[index + 1]
        parts += (
            b"\xa4\x61k",
            _BYTES_HEADS[size] if size < 256 else _head(0x40, size),
            tail,
            b"\x61p",
            _UINT_HEADS[prefix] if prefix < 256 else _head(0x00, prefix),
            b"\x61t\xf6" if right is None else b"\x61t" + _link_item(_child_cid(right)),
            b"\x61v",
            _link_item(values[index]),
        )
        prev = raw
    left = children[0]
    parts.append(b"\x61l\xf6" if left is None else b"\x61l" + _link_item(_child_cid(left)))
    block = node.block = b"".join(parts)
    return block


def _node_cid(node: _Node) -> CID:
    cid = node.cid
    if cid is None:
        cid = node.cid = cid_for_bytes(_node_block(node))
    return cid
