"""The Merkle Search Tree (MST) of a repository: repo path -> record CID, in hashed nodes.

Spec: https://atproto.com/specs/repository#mst-structure

Each key sits at a height fixed by the key alone (`key_height`: about one key in four rises a
level). A node holds the keys of one height in order, with links between and around them to
nodes one level lower, so the shape depends only on the key set: equal contents give equal root
CIDs whatever the order of the edits.

`MST` is immutable: `MST.set` and `MST.delete` return a new tree sharing every untouched node.
`MST.load` reads nodes lazily, each checked when first reached (see ``_node``). A node absent
from the block map raises `MissingBlockError` only when an operation needs it, which makes a
partial tree (a firehose commit, a ``getRecord`` proof) usable: `MST.proof_blocks` gives the
nodes that prove a key's presence or absence and that suffice to insert or delete it again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from atproto_async.exceptions import RepoError
from atproto_async.ipld import CID
from atproto_async.ipld.cid import cid_from_tagged
from atproto_async.repo._node import (
    _NODE_LINK_SIZE,
    _NODE_LINK_TAGGED,
    _Child,
    _derive,
    _load,
    _Node,
    _place,
    _resolve,
    _Stub,
    _tagged,
    _without,
)
from atproto_async.repo._write import _node_block, _node_cid, _node_link
from atproto_async.repo.paths import _key_problem, is_valid_key, key_height

__all__ = ["MST"]


def _make(
    height: int, keys: tuple[bytes, ...], values: tuple[bytes, ...], children: tuple[_Child, ...]
) -> _Node | None:
    """A node, or None when it would hold nothing at all (such nodes are pruned)."""
    if not keys and children[0] is None:
        return None
    return _Node(height, keys, values, children)


def _chain(key: bytes, value: bytes, height: int, top: int) -> _Node:
    """A node of ``height`` holding only ``key``, under empty nodes up to height ``top``."""
    node = _Node(height, (key,), (value,), (None, None))
    for level in range(height + 1, top + 1):
        node = _Node(level, (), (), (node,))
    return node


def _split(child: _Child, key: bytes) -> tuple[_Child, _Child]:
    """Split a subtree (whose keys are all lower than ``key``'s height) around ``key``."""
    if child is None:
        return None, None
    node = _resolve(child)
    keys = node.keys
    children = node.children
    index = bisect_left(keys, key)
    below, above = _split(children[index], key)
    if index == len(keys) and above is None and below is children[index]:
        return child, None  # the whole subtree sorts before the key
    if index == 0 and below is None and above is children[0]:
        return None, child
    values = node.values
    left = _make(node.height, keys[:index], values[:index], (*children[:index], below))
    right = _make(node.height, keys[index:], values[index:], (above, *children[index + 1 :]))
    return left, right


def _insert(node: _Node, key: bytes, value: bytes, height: int) -> _Node:
    """Insert or replace ``key`` in the subtree ``node`` (which is at least ``height`` high)."""
    keys = node.keys
    values = node.values
    children = node.children
    index = bisect_left(keys, key)
    if node.height == height:
        if index < len(keys) and keys[index] == key:
            if values[index] == value:
                return node
            return _derive(node, (*values[:index], value, *values[index + 1 :]), children, -1)
        left, right = _split(children[index], key)
        return _Node(
            height,
            (*keys[:index], key, *keys[index:]),
            (*values[:index], value, *values[index:]),
            (*children[:index], left, right, *children[index + 1 :]),
        )
    child = children[index]
    if child is None:
        new_child = _chain(key, value, height, node.height - 1)
    else:
        old = _resolve(child)
        new_child = _insert(old, key, value, height)
        if new_child is old:
            return node
    return _derive(node, values, (*children[:index], new_child, *children[index + 1 :]), index)


def _merge(left: _Child, right: _Child) -> _Child:
    """Join two adjacent subtrees of the same height (every key of ``left`` sorts first)."""
    if left is None:
        return right
    if right is None:
        return left
    a = _resolve(left)
    b = _resolve(right)
    middle = _merge(a.children[-1], b.children[0])
    return _Node(
        a.height, a.keys + b.keys, a.values + b.values, (*a.children[:-1], middle, *b.children[1:])
    )


def _remove(node: _Node, key: bytes) -> _Node | None:
    """Remove ``key`` from the subtree ``node``; return ``node`` itself when it is absent."""
    keys = node.keys
    children = node.children
    index = bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        values = node.values
        left = children[index]
        right = children[index + 1]
        merged = right if left is None else left if right is None else _merge(left, right)
        if merged is None and len(keys) == 1:
            return None  # nothing left (such nodes are pruned)
        return _Node(
            node.height,
            keys[:index] + keys[index + 1 :],
            values[:index] + values[index + 1 :],
            (*children[:index], merged, *children[index + 2 :]),
            base=_without(node, index),
        )
    child = children[index]
    if child is None:
        return node
    old = child if type(child) is _Node else _load(child)  # type: ignore[arg-type]
    new_child = _remove(old, key)
    if new_child is old:
        return node
    if new_child is None and not keys:
        return None  # an empty node left without its only subtree is pruned
    return _derive(node, node.values, (*children[:index], new_child, *children[index + 1 :]), index)


def _build(
    keys: list[bytes], values: list[bytes], heights: list[int], lo: int, hi: int, height: int
) -> _Node | None:
    """The subtree of ``height`` holding the sorted items ``lo:hi`` (none of them higher)."""
    if lo == hi:
        return None
    if height == 0:
        return _Node(0, tuple(keys[lo:hi]), tuple(values[lo:hi]), (None,) * (hi - lo + 1))
    here = [index for index in range(lo, hi) if heights[index] == height]
    children: list[_Child] = []
    start = lo
    for index in here:
        children.append(_build(keys, values, heights, start, index, height - 1))
        start = index + 1
    children.append(_build(keys, values, heights, start, hi, height - 1))
    return _Node(
        height,
        tuple(keys[index] for index in here),
        tuple(values[index] for index in here),
        tuple(children),
    )


# --- the tree ---------------------------------------------------------------------------------


#: The root of every empty tree: a node with no entries (nodes never change once built).
_EMPTY_ROOT: Final = _Node(0, (), (), (None,))


class MST:
    """An immutable Merkle Search Tree mapping repo paths (``collection/rkey``) to record CIDs.

    ``MST()`` is the empty tree. Build one with `MST.from_entries`, read one with `MST.load`,
    and derive new trees with `set` and `delete`; iterating yields ``(key, cid)`` in key order.
    Trees compare equal when their root CIDs are equal.
    """

    __slots__ = ("_root",)

    _root: _Node

    def __init__(self) -> None:
        """Create the empty tree (a single node with no entries)."""
        self._root = _EMPTY_ROOT

    @classmethod
    def _of(cls, root: _Node | None) -> MST:
        tree = cls()  # not object.__new__(cls): a compiled build refuses it (README)
        if root is not None:
            tree._root = root
        return tree

    @classmethod
    def from_entries(cls, entries: Mapping[str, CID] | Iterable[tuple[str, CID]]) -> MST:
        """Build the tree holding exactly ``entries``, bottom up.

        Args:
            entries: A mapping of repo path to CID, or ``(path, cid)`` pairs in any order.

        Returns:
            The tree.

        Raises:
            RepoError: A key is not a valid repo path, or a key is given twice.
            TypeError: A value is not a `CID`.
        """
        pairs = list(entries.items() if isinstance(entries, Mapping) else entries)
        for key, value in pairs:
            if not is_valid_key(key):
                raise RepoError(_key_problem(key))
            if type(value) is not CID:
                raise TypeError(f"MST values must be CIDs, not {type(value).__name__}")
        pairs.sort(key=_first)
        keys = [key.encode() for key, _ in pairs]
        for index in range(1, len(keys)):
            if keys[index] == keys[index - 1]:
                raise RepoError(f"repo path {pairs[index][0]!r} is given twice")
        heights = [key_height(key) for key in keys]
        values = [_tagged(value) for _, value in pairs]
        root = _build(keys, values, heights, 0, len(keys), max(heights, default=0))
        return cls._of(root)

    @classmethod
    def load(cls, root: CID, blocks: Mapping[CID, bytes], *, verified: bool = False) -> MST:
        """Read a tree from its root CID and a block map (a CAR's blocks, a dict).

        The root node is read and checked now; the nodes below are read when an operation
        first reaches them (`walk`, `blocks` or `validate` reach all of them). Each node is
        checked against its CID and its place in the tree, so a bad node raises `RepoError`
        from whichever call reads it.

        Args:
            root: The CID of the root node (a commit's ``data``).
            blocks: Node blocks by CID. It may hold only part of the tree; it is kept, not
                copied, and must not change while the tree is used.
            verified: Every block of ``blocks`` is known to hash to its CID (a CAR read with
                ``read_car(..., verify=True)``): nodes are not hashed again.

        Returns:
            The tree.

        Raises:
            MissingBlockError: The root block is absent.
            RepoError: The root node is invalid, or ``root`` is not a dag-cbor sha2-256 CIDv1.
            TypeError: ``root`` is not a `CID`.
        """
        if type(root) is not CID:
            raise TypeError(f"root must be a CID, not {type(root).__name__}")
        tagged = _tagged(root)
        if len(tagged) != _NODE_LINK_SIZE + 1 or not tagged.startswith(_NODE_LINK_TAGGED):
            raise RepoError(f"MST root {root} is not a dag-cbor sha2-256 CIDv1")
        return cls._of(_load((tagged, _place(None, (), None, None, blocks, verified), 0)))

    @property
    def cid(self) -> CID:
        """The root node's CID: what a commit's ``data`` names. Computed once."""
        return _node_cid(self._root)

    @property
    def height(self) -> int:
        """The height of the root node (0 for the empty tree)."""
        return self._root.height

    def get(self, key: str) -> CID | None:
        """Return the CID stored at ``key``, or None when the tree has no such key.

        Raises:
            MissingBlockError: A node on the way to the key is not in the block map.
            RepoError: A node on the way is invalid.
            TypeError: ``key`` is not a str.
        """
        if type(key) is not str:
            raise TypeError(f"MST keys are str, not {type(key).__name__}")
        raw = _key_bytes(key)
        node = self._root
        while True:
            keys = node.keys
            index = bisect_left(keys, raw)
            if index < len(keys) and keys[index] == raw:
                return cid_from_tagged(node.values[index])
            child = node.children[index]
            if child is None:
                return None
            node = child if type(child) is _Node else _load(child)  # type: ignore[arg-type]

    def __contains__(self, key: object) -> bool:
        return type(key) is str and self.get(key) is not None

    def set(self, key: str, cid: CID) -> MST:
        """Return a tree where ``key`` maps to ``cid`` (added, or replacing the old value).

        Returns ``self`` when ``key`` already maps to ``cid``.

        Raises:
            RepoError: ``key`` is not a valid repo path (see `is_valid_key`), or a node that
                must be changed is invalid.
            MissingBlockError: A node that must be changed is not in the block map.
            TypeError: ``cid`` is not a `CID`.
        """
        if not is_valid_key(key):
            raise RepoError(_key_problem(key))
        if type(cid) is not CID:
            raise TypeError(f"MST values must be CIDs, not {type(cid).__name__}")
        raw = key.encode()
        value = _tagged(cid)
        height = key_height(raw)
        root = self._root
        if not root.keys and root.children[0] is None:
            return MST._of(_chain(raw, value, height, height))
        if height > root.height:
            left, right = _split(root, raw)
            for level in range(root.height + 1, height):
                left = None if left is None else _Node(level, (), (), (left,))
                right = None if right is None else _Node(level, (), (), (right,))
            return MST._of(_Node(height, (raw,), (value,), (left, right)))
        new_root = _insert(root, raw, value, height)
        return self if new_root is root else MST._of(new_root)

    def delete(self, key: str) -> MST:
        """Return a tree without ``key``; ``self`` when the key is absent.

        Raises:
            MissingBlockError: A node that must be changed is not in the block map.
            RepoError: A node that must be changed is invalid.
        """
        root = self._root
        if type(key) is not str:
            return self
        new_root = _remove(root, _key_bytes(key))
        if new_root is root:
            return self
        while new_root is not None and not new_root.keys:  # trim empty levels off the top
            child = new_root.children[0]
            new_root = None if child is None else _resolve(child)
        return MST._of(new_root)

    def walk(self) -> Iterator[tuple[str, CID]]:
        """Yield every ``(key, cid)`` in key order, reading nodes as it reaches them.

        Raises:
            MissingBlockError: A node is not in the block map (a partial tree).
            RepoError: A node is invalid.
        """
        stack: list[tuple[_Node, int]] = []
        child: _Child = self._root
        while True:
            while child is not None:
                node = _resolve(child)
                stack.append((node, 0))
                child = node.children[0]
            if not stack:
                return
            node, index = stack.pop()
            if index < len(node.keys):
                stack.append((node, index + 1))
                yield node.keys[index].decode(), cid_from_tagged(node.values[index])
                child = node.children[index + 1]

    def __iter__(self) -> Iterator[tuple[str, CID]]:
        """Same as `walk` (a method, not an alias: a compiled build has no aliases)."""
        return self.walk()

    def validate(self) -> None:
        """Read and check every node now (loading a tree checks only the nodes it reaches).

        Raises:
            MissingBlockError: A node is not in the block map.
            RepoError: A node is invalid.
        """
        for _ in self._nodes():
            pass

    def _nodes(self) -> Iterator[_Node]:
        """Every node, parents before children."""
        pending: list[_Node | _Stub] = [self._root]
        while pending:
            node = _resolve(pending.pop())
            yield node
            pending.extend(child for child in reversed(node.children) if child is not None)

    def blocks(self) -> dict[CID, bytes]:
        """Return every node of the tree as ``{cid: block}`` (records are not included).

        Raises:
            MissingBlockError: A node is not in the block map (a partial tree).
            RepoError: A node is invalid.
        """
        return {_node_cid(node): _node_block(node) for node in self._nodes()}

    def proof(self, key: str) -> list[CID]:
        """Return the CIDs of the nodes proving ``key``'s presence or absence, root first.

        These are the nodes from the root down to the key (or down to where it would be),
        and, when it is present, the nodes along the facing edges of the subtrees on its two
        sides, which deleting it would join (the reference implementation's covering proof).
        With only these blocks a verifier can check `get` for the key and undo an insertion or
        a deletion of it (the firehose "inversion" check).

        Raises:
            MissingBlockError: A node of the proof is not in the block map.
            RepoError: A node of the proof is invalid.
        """
        return [_node_cid(node) for node in self._proof_nodes(key)]

    def proof_blocks(self, key: str) -> dict[CID, bytes]:
        """Return the blocks of `proof` as ``{cid: block}``.

        Raises:
            MissingBlockError: A node of the proof is not in the block map.
            RepoError: A node of the proof is invalid.
        """
        return {_node_cid(node): _node_block(node) for node in self._proof_nodes(key)}

    def _proof_nodes(self, key: str) -> list[_Node]:
        if type(key) is not str:
            raise TypeError(f"MST keys are str, not {type(key).__name__}")
        raw = _key_bytes(key)
        node = self._root
        found = [node]
        while True:
            keys = node.keys
            index = bisect_left(keys, raw)
            if index < len(keys) and keys[index] == raw:
                break
            child = node.children[index]
            if child is None:
                return found
            node = _resolve(child)
            found.append(node)
        # Deleting the key joins the subtrees on its two sides along their facing edges (and a
        # root left without keys gives way to what is below): both edges, down to the bottom.
        left = node.children[index]
        right = node.children[index + 1]
        while left is not None:
            below = _resolve(left)
            found.append(below)
            left = below.children[-1]
        while right is not None:
            below = _resolve(right)
            found.append(below)
            right = below.children[0]
        return found

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MST):
            return _node_link(self._root) == _node_link(other._root)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.cid)

    def __repr__(self) -> str:
        return f"<MST {self.cid} height={self._root.height}>"


def _first(pair: tuple[str, CID]) -> str:
    return pair[0]


def _key_bytes(key: str) -> bytes:
    """The bytes a key is stored as (UTF-8); any str, valid key or not, gives some bytes.

    A key that is not a valid repo path is in no tree: looking it up must give None, not an
    encoding error (hence ``surrogatepass``, which keeps UTF-8's order).
    """
    return key.encode("utf-8", "surrogatepass")
