"""MST nodes: the in-memory form, and reading a block with every check.

Spec: https://atproto.com/specs/repository#mst-structure

A block is DAG-CBOR ``{"e": [{"k", "p", "t", "v"}...], "l": CID | null}``. Reading one checks,
besides its hash: strict DAG-CBOR and exactly these fields; links to nodes in the one allowed
CID form; keys that are valid repo paths, in strictly increasing order, prefix-compressed as
far as they can be (anything else would give the same tree a second CID); every key at the
node's height and inside the range its parent leaves for it; no empty node except the root of
an empty tree, and no root that is an empty node over a subtree (the top must be trimmed).

Every node of every verified firehose commit is read here (``benchmarks/bench_sync.py``: 7.6
nodes per commit, mostly of 4 entries, then 7.2 written back by ``_write`` once the commit is
inverted), so reading works on the bytes. Figures are CPU time per node over the nodes of that
benchmark's commits:

- `_read_canonical` reads the usual block - sha2-256 links, keys and prefixes below 256 bytes -
  with a regular expression that accepts only the canonical bytes of that layout; Python then
  checks order and prefix compression entry by entry, and key syntax and heights for all the
  keys of the node at once. Anything it does not accept goes to `_read_checked` (strict
  DAG-CBOR through cbor2, then the same rules one by one), which reads the rarer forms and
  words the errors. A node is read, checked and linked in 7.0 us instead of 20 (7.5 when its
  block is hashed too: `MST.load` skips that for blocks already verified); about 0.5 us less
  since the heights of keys met lately are remembered (`_HEIGHTS`: most keys of a node were
  in the nodes the same account's previous commits carried) and a CAR's nodes are looked up
  in its index directly (``tests/repo/test_repo_read_cache.py`` reads nodes and trees both
  ways). The reading loop keeps to what mypyc compiles natively (typed rows, ``list.append``,
  heads read by index, no ``itemgetter`` maps), which CPython runs faster too: MST read per
  commit of ``bench_sync.py --breakdown`` 35.6 -> 28.2 us compiled, 49.7 -> 41.9 us pure
  (best of 3, 2026-12-04; callgrind figures at `_read_canonical`).
- Keys are kept as their bytes and values as the content of their tag 42 (``0x00`` + binary
  CID), as the block has them: nothing is converted on the way in, and a `CID` is made only
  for a value asked for. The reader notes where each entry ends, for ``_write`` to splice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from hashlib import sha256
from typing import Final

from atproto_async.exceptions import DecodeError, MissingBlockError, RepoError, caused_by
from atproto_async.ipld import CID, decode_dag_cbor
from atproto_async.ipld.car import CarBlocks
from atproto_async.ipld.cid import (
    CODEC_DAG_CBOR,
    CODEC_RAW,
    DAG_CBOR_SHA256_PREFIX,
    LINK_MULTIBASE,
    SHA256_CID_SIZE,
    SHA256_DIGEST_SIZE,
    SHA256_LINK_HEAD,
    SHA256_LINK_SIZE,
    SHA256_MULTIHASH_HEAD,
    TAGGED_DAG_CBOR_SHA256_PREFIX,
    cid_from_tagged,
)
from atproto_async.repo.paths import (
    _KEY_RE,
    _KEYS_RE,
    MAX_KEY_LENGTH,
    _key_problem,
)

#: Binary prefix of the only CIDs allowed to link MST nodes: v1, dag-cbor, sha2-256.
_NODE_LINK_PREFIX: Final = DAG_CBOR_SHA256_PREFIX
_NODE_LINK_SIZE: Final = SHA256_CID_SIZE
#: The content of tag 42 for such a CID, less the digest: multibase 0x00, then the prefix.
_NODE_LINK_TAGGED: Final = TAGGED_DAG_CBOR_SHA256_PREFIX
#: The DAG-CBOR of such a link: tag 42, the head of a 37-byte string, 0x00, the CID.
_LINK_ITEM_SIZE: Final = SHA256_LINK_SIZE

_NODE_FIELDS: Final = frozenset(("e", "l"))
_ENTRY_FIELDS: Final = frozenset(("k", "p", "t", "v"))


def _tagged(cid: CID) -> bytes:
    """The content of tag 42 for ``cid``: ``0x00`` + its binary form (without a copy)."""
    return cid._tagged


class _Node:
    """One MST node: ``keys[i]`` maps to ``values[i]``; ``children[i]`` lies left of ``keys[i]``.

    Keys are UTF-8 bytes, values and ``link`` (the node's own CID) tag-42 contents (see the
    module docstring). ``children`` has one more item than ``keys`` (``children[0]`` is the
    ``l`` link). The node never changes once built; its block and CID are computed once, when
    first asked for.

    ``ends`` holds where each entry ends in ``block`` when the canonical reader read it.
    ``base`` is ``(node, edit)`` for a node made from such a node, whose block is then
    ``node``'s block with a few pieces replaced (see `_splice`): with the same keys, only
    links or values changed, ``edit`` being the index of the one child that changed, or -1
    when values or several children may have; or, ``edit`` being ``-2 - i``, with entry ``i``
    removed and the two subtrees around it joined.
    """

    __slots__ = ("base", "block", "children", "ends", "height", "keys", "link", "values")

    def __init__(
        self,
        height: int,
        keys: tuple[bytes, ...],
        values: tuple[bytes, ...],
        children: tuple[_Child, ...],
        link: bytes | None = None,
        block: bytes | None = None,
        ends: list[int] | None = None,
        base: tuple[_Node, int] | None = None,
    ) -> None:
        self.height = height
        self.keys = keys
        self.values = values
        self.children = children
        self.link = link
        self.block = block
        self.ends = ends
        self.base = base


def _derive(
    node: _Node, values: tuple[bytes, ...], children: tuple[_Child, ...], edit: int
) -> _Node:
    """``node`` with new values or children (``edit``: the one child changed, or -1)."""
    if node.ends is not None:
        base: tuple[_Node, int] | None = (node, edit if values is node.values else -1)
    else:
        base = node.base
        if base is not None:  # same keys as its base: splice what differs from it
            base = (base[0], -1) if base[1] >= -1 else None
    return _Node(node.height, node.keys, values, children, None, None, None, base)


def _without(node: _Node, index: int) -> tuple[_Node, int] | None:
    """The ``base`` of ``node`` less its entry ``index`` (see `_Node`)."""
    return None if node.ends is None else (node, -2 - index)


#: Where the links of one parent lead: ``(height, keys, lo, hi, blocks, verified, loaded)``.
#: A linked node has that height (None for a root, whose height its keys decide) and its keys
#: lie strictly between ``keys[i - 1]`` and ``keys[i]``, ``i`` being the link's index, ``lo``
#: and ``hi`` (the parent's own bounds, None for none) standing for ``keys[-1]`` and
#: ``keys[len(keys)]``; ``verified`` says that ``blocks`` were checked to hash to their CIDs (a
#: CAR read with ``verify=True``), so they are not hashed again; ``loaded[i]`` keeps the node
#: once read, so every tree sharing the link shares the work. The parent's keys (its node's
#: tuple), not two tuples of the bounds of each link built for every inner node read: 1% (pure)
#: and 2.5% (compiled) fewer instructions per commit read (callgrind, see `_read_canonical`).
_Place = tuple[
    int | None,
    tuple[bytes, ...],
    bytes | None,
    bytes | None,
    Mapping[CID, bytes],
    bool,
    list["_Node | None"],
]
#: A link to a node not read yet: ``(tagged, place, index)``, the tag-42 content of the link and
#: its place. A tuple, not a class: a node read makes one per link, and a tuple display costs a
#: fraction of a call to a class (callgrind: 4,400 instructions less per node read, 4%).
_Stub = tuple[bytes, _Place, int]
_Child = _Node | _Stub | None


def _place(
    height: int | None,
    keys: tuple[bytes, ...],
    lo: bytes | None,
    hi: bytes | None,
    blocks: Mapping[CID, bytes],
    verified: bool,
) -> _Place:
    return height, keys, lo, hi, blocks, verified, [None] * (len(keys) + 1)


def _load(stub: _Stub) -> _Node:
    """The node a link leads to, read (and checked) on first use."""
    tagged, place, index = stub
    loaded = place[6]
    node = loaded[index]
    if node is None:
        node = loaded[index] = _read_node(tagged, place, index)
    return node


def _resolve(child: _Node | _Stub) -> _Node:
    return child if type(child) is _Node else _load(child)  # type: ignore[arg-type]


# --- reading ----------------------------------------------------------------------------------

#: A link to a node (tag 42 over a dag-cbor sha2-256 CIDv1), its tag-42 content as a group.
_NODE_LINK_PATTERN: Final = (
    re.escape(SHA256_LINK_HEAD)
    + b"("
    + re.escape(TAGGED_DAG_CBOR_SHA256_PREFIX)
    + b".{%d})" % SHA256_DIGEST_SIZE
)
#: A link to a record: the same with the dag-cbor or the raw codec.
_VALUE_LINK_PATTERN: Final = (
    re.escape(SHA256_LINK_HEAD)
    + b"("
    + re.escape(LINK_MULTIBASE + b"\x01")  # CID version 1
    + b"["
    + re.escape(bytes((CODEC_RAW, CODEC_DAG_CBOR)))
    + b"]"
    + re.escape(SHA256_MULTIHASH_HEAD)
    + b".{%d})" % SHA256_DIGEST_SIZE
)

# One entry in canonical bytes, sha2-256 links only: {"k": bytes, "p": uint, "t": link | null,
# "v": link}, keys and prefix lengths below 256, key bytes from the repo path alphabet. The
# groups: the entry, k head, k (1-255 bytes: `_HEADS` has a head for each), p head, t (tag-42
# content, b"" for null), v. The key bytes cannot run into what follows: "p" (0x61 0x70) is
# followed by a byte below 0x19, which no key byte is, so the split is unique. findall()
# returns all the entries in one call; a scanner matching entry after entry (contiguous by
# construction) cost as much (callgrind).
_ENTRY_RE: Final = re.compile(
    rb"(\xa4\x61k([\x40-\x57]|\x58[\x18-\xff])([A-Za-z0-9._~:/-]{1,255})"
    rb"\x61p([\x00-\x17]|\x18[\x18-\xff])"
    rb"\x61t(?:\xf6|" + _NODE_LINK_PATTERN + rb")"
    rb"\x61v" + _VALUE_LINK_PATTERN + rb")",
    re.DOTALL,
)
#: A block's ``"l": link`` to a node up to the digest (the block's last 32 bytes), and where the
#: link's tag-42 content starts in it. Checked with startswith() rather than a regular
#: expression's fullmatch() and a group: 0.7% (pure) and 1.7% (compiled) fewer instructions
#: per commit read (callgrind, see `_read_canonical`).
_LEFT_LINK: Final = b"\x61l" + SHA256_LINK_HEAD + _NODE_LINK_TAGGED
_LEFT_LINK_CONTENT: Final = 2 + len(SHA256_LINK_HEAD)
#: The canonical head of a byte string of each length below 256, indexed by the length. Keys
#: are checked against it, and prefix lengths read as the last byte of their head, rather than
#: both heads looked up in dicts, which hashed each new 1-2 byte string: 2% (pure) and 4%
#: (compiled) fewer instructions per commit read (callgrind, see `_read_canonical`).
_HEADS: Final = (
    *(bytes((0x40 | n,)) for n in range(24)),
    *(bytes((0x58, n)) for n in range(24, 256)),
)

# A key is at height h when its SHA-256 has 2h or 2h + 1 leading zero bits: when the digest,
# read as a 32-byte big-endian number, lies in [_LOWEST[h], _ABOVE[h]) (`_level` computes h;
# the tests hold the two to each other).
_LOWEST: Final = tuple((1 << (254 - 2 * h)).to_bytes(32, "big") for h in range(32))
_ABOVE: Final = (b"\xff" * 33, *((1 << (256 - 2 * h)).to_bytes(32, "big") for h in range(1, 32)))


#: Valid keys (bytes) -> their height, for the keys of nodes read lately. A node's keys are
#: nearly all in the nodes next to it, which the same account's next commits carry again:
#: 83% of the keys read verifying ``benchmarks/bench_sync.py``'s commits (20 accounts) were
#: read before in the same pass, and a key found here needs neither its syntax checked nor
#: hashing: MST read 57 us per commit down to 53-55 on that stream read once
#: (``bench_sync.py --breakdown``, which empties this before every round). Over 1,000
#: accounts committing 3 times each, few keys come back: 1-2% less time. A pure memo, not
#: state: only keys that passed `_KEYS_RE` are stored, and a height is a function of the
#: key, so an entry cannot go stale. Bounded: emptied when it holds `_HEIGHTS_LIMIT` keys
#: (about 7 MB then).
_HEIGHTS: Final[dict[bytes, int]] = {}
_HEIGHTS_LIMIT: Final = 1 << 16


def _level(digest: bytes) -> int:
    """The height of a key of SHA-256 ``digest`` (see `paths.key_height`)."""
    if digest[0] >= 0x40:  # three keys in four
        return 0
    return (256 - int.from_bytes(digest, "big").bit_length()) >> 1


def _read_canonical(
    block: bytes, height: int | None
) -> tuple[list[bytes], tuple[bytes, ...], list[bytes | None], int | None, list[int]] | None:
    """Read a node block in the usual canonical layout; None for anything else.

    Returns keys, values, links (``l`` first; null as None or ``b""``), the height (``height``,
    or that of the keys when None; None for an empty root) and where each entry ends. A block
    is accepted only when it is exactly the canonical DAG-CBOR of a node with valid keys in
    order, fully prefix-compressed, all at that height: it is then what `_read_checked` would
    read, and the caller checks the rest (bounds, empty nodes, links below height 0) as for it.
    """
    if not block.startswith(b"\xa2\x61e") or len(block) < 7:
        return None
    count = block[3] ^ 0x80
    pos = 4
    if count >= 24:
        if count != 24 or block[4] < 24:
            return None
        count = block[4]
        pos = 5
    stop = len(block) - 3
    if block.endswith(b"\x61l\xf6"):
        left = None
    else:
        stop -= _LINK_ITEM_SIZE - 1
        if stop < pos or not block.startswith(_LEFT_LINK, stop):
            return None
        left = block[stop + _LEFT_LINK_CONTENT :]
    # findall may skip bytes between matches: the entries must add up to the bytes up to "l".
    # Rows typed, and lists appended to in the loop (not bound appends, nor map(itemgetter)
    # and map(_HEIGHTS.get) afterwards): mypyc then unpacks rows and appends natively, and
    # CPython 3.11 specializes list.append. Callgrind, MST read of ``bench_sync.py``'s
    # corpus (20 repos, 600 commits, `_HEIGHTS` empty first), instructions per commit:
    # compiled 502k -> 406k (typed rows 476k, `_HEADS` 458k), pure 669k -> 615k.
    rows: list[tuple[bytes, bytes, bytes, bytes, bytes, bytes]] = _ENTRY_RE.findall(
        block, pos, stop
    )
    if len(rows) != count:
        return None
    keys: list[bytes] = []
    values: list[bytes] = []
    links: list[bytes | None] = [left]
    levels: list[int | None] = []
    ends: list[int] = []
    prev = b""
    end = pos
    for entry, size, suffix, head, right, value in rows:
        if size != _HEADS[len(suffix)]:
            return None
        prefix = head[-1]  # the uint, in the head's one byte or after its 0x18
        if prefix < len(prev):
            # The key's first new byte must sort after the previous key's byte there: the key
            # is greater, and the prefix length is the whole shared prefix (not shorter).
            if suffix[0] <= prev[prefix]:
                return None
        elif prefix > len(prev):
            return None
        prev = prev[:prefix] + suffix
        keys.append(prev)
        levels.append(_HEIGHTS.get(prev))
        values.append(value)
        links.append(right)
        end += len(entry)
        ends.append(end)
    if end != stop:
        return None
    if not keys:
        return keys, (), links, height, ends
    if None in levels:  # a key not seen lately: check them all, and remember their heights
        # No key holds a space (see _ENTRY_RE), nor is longer than 510 bytes (two heads
        # below 256).
        if _KEYS_RE.fullmatch(b" ".join(keys)) is None:
            return None
        heights = [_level(sha256(key).digest()) for key in keys]
        if len(_HEIGHTS) > _HEIGHTS_LIMIT:
            _HEIGHTS.clear()
        _HEIGHTS.update(zip(keys, heights, strict=True))
        levels[:] = heights
    if height is None:
        height = levels[0]
        assert height is not None  # every key has its height by now
    if height >= 32 or levels.count(height) != len(levels):
        return None
    return keys, tuple(values), links, height, ends


def _check_link(link: object, cid: CID, index: int = -1) -> bytes:
    """The tag-42 content of ``link`` if it may link an MST node (``index``: entry of a ``t``)."""
    if type(link) is CID:
        tagged = _tagged(link)
        if len(tagged) == _NODE_LINK_SIZE + 1 and tagged.startswith(_NODE_LINK_TAGGED):
            return tagged
    where = "'l'" if index < 0 else f"entry {index} 't'"
    if type(link) is not CID:
        raise RepoError(f"MST node {where} must be a CID link or null, not {link!r:.60}", cid)
    raise RepoError(
        f"MST node {where} link {link} is not a dag-cbor sha2-256 CIDv1 (spec: CID formats)", cid
    )


def _entry_problem(entry: object, prev: bytes) -> str:
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


def _show(key: bytes) -> str:
    """A key for an error message (keys are checked to be ASCII before any message shows one)."""
    return repr(key.decode())[:80]


def _read_checked(
    block: bytes, cid: CID, height: int | None
) -> tuple[list[bytes], tuple[bytes, ...], list[bytes | None], int | None]:
    """Read any node block through the strict DAG-CBOR decoder, checking each rule in turn.

    Returns what `_read_canonical` returns, less ``ends``; raises `RepoError` naming the first
    broken rule.
    """
    try:
        data = decode_dag_cbor(block)
    except DecodeError as exc:
        raise caused_by(RepoError(f"MST node is not canonical DAG-CBOR: {exc}", cid), exc)
    if type(data) is not dict or data.keys() != _NODE_FIELDS:
        raise RepoError("MST node must be a map of exactly 'e' and 'l'", cid)
    entries = data["e"]
    if type(entries) is not list:
        raise RepoError("MST node 'e' must be an array", cid)
    left = data["l"]
    links: list[bytes | None] = [None if left is None else _check_link(left, cid)]
    keys: list[bytes] = []
    values: list[bytes] = []
    prev = b""
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
        if not suffix.isascii():
            raise RepoError(f"MST entry {index}: key is not a repo path (not ASCII)", cid)
        key = prev[:prefix] + suffix
        if index and key <= prev:
            raise RepoError(f"MST keys out of order: {_show(key)} after {_show(prev)}", cid)
        if prefix < len(prev) and len(key) > prefix and key[prefix] == prev[prefix]:
            raise RepoError(
                f"MST entry {index}: prefix length {prefix} is not the whole shared prefix "
                "(non-canonical compression)",
                cid,
            )
        text = key.decode()
        if len(key) > MAX_KEY_LENGTH or _KEY_RE.fullmatch(text) is None:
            raise RepoError(f"MST entry {index}: {_key_problem(text)}", cid)
        level = _level(sha256(key).digest())
        if height is None:
            height = level
        elif level != height:
            raise RepoError(
                f"MST key {_show(key)} has height {level} but sits in a node of height {height}",
                cid,
            )
        keys.append(key)
        values.append(_tagged(value))
        prev = key
    return keys, tuple(values), links, height


def _read_node(tagged: bytes, place: _Place, index: int) -> _Node:
    """Read and check the node ``tagged`` links to, at the ``index``-th link of ``place``."""
    height, bounds, lo, hi, blocks, verified, _ = place
    if type(blocks) is CarBlocks:
        # A CAR's blocks (every verified commit's) are looked up in its index directly, and
        # the CID object is made only for an error: 0.15 us less per node, about 1 us per
        # commit of ``benchmarks/bench_sync.py`` (timeit on its nodes).
        span = blocks._index.get(tagged[1:])
        if span is None:
            raise MissingBlockError("MST node not found", cid_from_tagged(tagged))
        block = blocks._data[span[0] : span[1]]
    else:
        try:  # not blocks.get(): a Mapping's get() is one more Python call
            block = blocks[cid_from_tagged(tagged)]
        except KeyError:
            raise caused_by(MissingBlockError("MST node not found", cid_from_tagged(tagged)), None)
        if type(block) is not bytes:
            block = bytes(block)
    if not verified and sha256(block).digest() != tagged[5:]:
        raise RepoError("MST node does not hash to its CID", cid_from_tagged(tagged))
    found = _read_canonical(block, height)
    if found is None:
        keys, values, links, height = _read_checked(block, cid_from_tagged(tagged), height)
        ends = None
    else:
        keys, values, links, height, ends = found
    if index:
        lo = bounds[index - 1]
    if index < len(bounds):
        hi = bounds[index]
    if keys:
        if lo is not None and keys[0] <= lo:
            raise RepoError(
                f"MST key {_show(keys[0])} is not after {_show(lo)}, the key left of its subtree",
                cid_from_tagged(tagged),
            )
        if hi is not None and keys[-1] >= hi:
            raise RepoError(
                f"MST key {_show(keys[-1])} is not before {_show(hi)}, the key right of its "
                "subtree",
                cid_from_tagged(tagged),
            )
    elif height is None:
        if links[0]:
            raise RepoError(
                "MST root is an empty node over a subtree (the tree is not trimmed)",
                cid_from_tagged(tagged),
            )
        height = 0
    elif not links[0]:
        raise RepoError(
            "empty MST node below the root (empty nodes must be pruned)", cid_from_tagged(tagged)
        )
    assert height is not None  # set by the first key, or by the parent, or above

    shared = tuple(keys)
    if not any(links):
        children: tuple[_Child, ...] = (None,) * len(links)
    elif height == 0:
        raise RepoError("MST node at height 0 links a subtree", cid_from_tagged(tagged))
    else:
        below = _place(height - 1, shared, lo, hi, blocks, verified)
        children = tuple([(link, below, i) if link else None for i, link in enumerate(links)])
    return _Node(height, shared, values, children, tagged, block, ends)
