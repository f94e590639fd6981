"""Write a file of realistic synthetic firehose frames, for benchmarks and replay tests.

Each frame is one ``com.atproto.sync.subscribeRepos`` message as a relay sends it: a DAG-CBOR
header ``{"op": 1, "t": "#commit"}`` followed by a DAG-CBOR body. Commit bodies carry a CAR
with the signed commit block, a few MST node blocks and the record blocks (posts, likes,
follows, reposts with the fields real clients write); most commits have one op, some several,
and a few frames are ``#identity`` / ``#account`` events. Output is deterministic for a seed.
Spec: https://atproto.com/specs/sync#firehose

Two layouts (``--layout``):

- ``synthetic`` (the default, unchanged since the first benchmark): every body has the same
  twelve fields (``prevData`` always set, ``blobs`` empty), the CAR holds the commit block,
  the records, then 2-4 small MST nodes, and commits have 1-6 ops.
- ``live``: the layout of the frames relays actually send, as in the live commits of
  ``indigo/atproto/repo/testdata/firehose_commit_*.json`` and the official PDS capture
  ``examples/data/local-pds.frames``. Bodies carry the deprecated top-level ``prev: null``
  that the relay's Go struct writes (indigo ``SyncSubscribeRepos_Commit``, cbor-gen: a nil
  pointer is written as null; a nil ``blobs`` slice as an empty array, though the JSON form
  of the fixtures shows ``null``); ``prevData`` is set on about half of them (sync 1.1, whose
  update and delete ops also carry ``prev``) and absent on the rest; ``since`` is null on a
  few. Keys are in DAG-CBOR order, as both cbor-gen and the PDS write them. The CAR holds
  the MST proof path first (3-5 prefix-compressed nodes of up to 16 entries, root first,
  linked to each other), then the records, then the commit block - the PDS's order; about
  one CAR in four is shuffled, as the live relay frames are. Most commits have one op, about
  8% have 2-6 and about 2% have 7-50 (batch follows and likes; the live fixtures include one
  of 42); profile updates join the mix of records.

The file format is ``atproto_async.stream.framefile`` (``[4-byte big-endian length][message]``).

Usage::

    python benchmarks/make_frames.py frames.bin --count 20000 [--seed 1] [--layout live]

Other code can import `generate_frames` (``benchmarks/`` is not a package: put the folder on
``sys.path`` or load the file by path).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from atproto_async.ipld import CID, cid_for, cid_for_raw, encode_dag_cbor, write_car
from atproto_async.stream.framefile import encode_frames

__all__ = ["LAYOUTS", "generate_frames", "main"]

#: The layouts `generate_frames` writes (see the module docstring).
LAYOUTS = ("synthetic", "live")

_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_VOCABULARY = (
    "the a to and of is in it that for you this on with my be just so but not have are was "
    "what like me all about one at if people they do can we your good get now out time day "
    "really know think new love see more how today going back still much great here bluesky "
    "post thread art photo music game coffee morning night weekend city rain sun cat dog "
    "book movie show team work code python rust open source release launch update finally"
)
_WORDS = tuple(_VOCABULARY.split())
_EXTRA_WORDS = ("日本語", "こんにちは", "café", "naïve", "🦋", "🎉", "😂", "❤️", "✨", "🔥")
_LANGS = (["en"], ["en"], ["en"], ["ja"], ["pt"], ["de"], ["en", "es"], ["fr"])
_COLLECTIONS = (
    ("app.bsky.feed.like", 50),
    ("app.bsky.feed.post", 18),
    ("app.bsky.graph.follow", 14),
    ("app.bsky.feed.repost", 12),
    ("delete", 6),
)
#: The live layout adds profile updates (``app.bsky.actor.profile/self``).
_LIVE_COLLECTIONS = (*_COLLECTIONS, ("update", 2))
_PROFILE = "app.bsky.actor.profile"


def _tid(micros: int, clock: int) -> str:
    value = (micros << 10) | (clock & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_B32_SORTABLE[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def _did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(_B32_SORTABLE) for _ in range(24))


def _fake_cid(rng: random.Random, codec: int = 0x71) -> CID:
    return CID.from_bytes(bytes([1, codec, 0x12, 0x20]) + rng.randbytes(32))


def _datetime(micros: int) -> str:
    seconds, rest = divmod(micros, 1_000_000)
    days, day_seconds = divmod(seconds, 86400)
    # 2025-01-01 is day 20089 after the epoch; keep dates inside that year for simplicity.
    day_of_year = (days - 20089) % 365
    month, day = divmod(day_of_year, 28)
    hours, minutes = divmod(day_seconds // 60, 60)
    return (
        f"2025-{month % 12 + 1:02d}-{day + 1:02d}T{hours:02d}:{minutes:02d}:"
        f"{day_seconds % 60:02d}.{rest // 1000:03d}Z"
    )


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.micros = 1_736_000_000_000_000 + seed
        self.seq = 5_000_000_000
        self.dids = [_did(self.rng) for _ in range(500)]

    def tick(self) -> int:
        self.micros += self.rng.randint(50, 3000)
        self.seq += 1
        return self.micros

    def text(self) -> str:
        rng = self.rng
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 40))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(_EXTRA_WORDS))
        return " ".join(words)[:300]

    def strong_ref(self) -> dict[str, Any]:
        did = self.rng.choice(self.dids)
        rkey = _tid(self.micros - self.rng.randint(1, 10**10), self.rng.randrange(1024))
        return {
            "cid": str(_fake_cid(self.rng)),
            "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        }

    def post(self, created_at: str) -> dict[str, Any]:
        rng = self.rng
        text = self.text()
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "langs": rng.choice(_LANGS),
            "createdAt": created_at,
        }
        if rng.random() < 0.2:
            url = f"https://example.com/{rng.choice(_WORDS)}/{rng.randrange(10**6)}"
            start = len(text.encode()) + 1
            record["text"] = f"{text} {url}"
            record["facets"] = [
                {
                    "index": {"byteStart": start, "byteEnd": start + len(url)},
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
                }
            ]
        if rng.random() < 0.35:
            root = self.strong_ref()
            parent = root if rng.random() < 0.5 else self.strong_ref()
            record["reply"] = {"root": root, "parent": parent}
        if rng.random() < 0.15:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [
                    {
                        "alt": "",
                        "image": {
                            "$type": "blob",
                            "ref": cid_for_raw(rng.randbytes(16)),
                            "mimeType": "image/jpeg",
                            "size": rng.randint(20_000, 900_000),
                        },
                        "aspectRatio": {"width": 2000, "height": rng.choice((1500, 2000, 1125))},
                    }
                ],
            }
        return record

    def record(self, collection: str, created_at: str) -> dict[str, Any]:
        if collection == "app.bsky.feed.post":
            return self.post(created_at)
        if collection == "app.bsky.graph.follow":
            return {
                "$type": collection,
                "subject": self.rng.choice(self.dids),
                "createdAt": created_at,
            }
        return {"$type": collection, "subject": self.strong_ref(), "createdAt": created_at}

    def mst_node(self, leaf: CID | None, path: str) -> dict[str, Any]:
        rng = self.rng
        entries = []
        for index in range(rng.randint(2, 8)):
            value = leaf if leaf is not None and index == 0 else _fake_cid(rng)
            tree = _fake_cid(rng) if rng.random() < 0.3 else None
            key = path if index == 0 else f"{rng.randrange(10**6):06d}{rng.randrange(10**6)}"
            entries.append(
                {"k": key.encode(), "p": rng.randint(0, 20) if index else 0, "t": tree, "v": value}
            )
        return {"e": entries, "l": _fake_cid(rng) if rng.random() < 0.5 else None}

    def commit(self) -> bytes:
        rng = self.rng
        micros = self.tick()
        did = rng.choice(self.dids)
        rev = _tid(micros, rng.randrange(1024))
        n_ops = 1 if rng.random() < 0.9 else rng.randint(2, 6)
        ops: list[dict[str, Any]] = []
        blocks: list[tuple[CID, bytes]] = []
        names = [name for name, _ in _COLLECTIONS]
        weights = [weight for _, weight in _COLLECTIONS]
        for _ in range(n_ops):
            kind = rng.choices(names, weights)[0]
            rkey = _tid(micros - rng.randint(0, 10**6), rng.randrange(1024))
            if kind == "delete":
                collection = rng.choice(names[:4])
                ops.append({"cid": None, "path": f"{collection}/{rkey}", "action": "delete"})
                continue
            block = encode_dag_cbor(self.record(kind, _datetime(micros)))
            cid = cid_for(block)
            blocks.append((cid, block))
            ops.append({"cid": cid, "path": f"{kind}/{rkey}", "action": "create"})
        leaf = blocks[0][0] if blocks else None
        for depth in range(rng.randint(2, 4)):
            node = encode_dag_cbor(self.mst_node(leaf if depth == 0 else None, ops[0]["path"]))
            blocks.append((cid_for(node), node))
        data_root = blocks[-1][0]
        commit = {
            "did": did,
            "rev": rev,
            "sig": rng.randbytes(64),
            "data": data_root,
            "prev": None,
            "version": 3,
        }
        commit_block = encode_dag_cbor(commit)
        commit_cid = cid_for(commit_block)
        car = write_car([commit_cid], [(commit_cid, commit_block), *blocks])
        body = {
            "seq": self.seq,
            "rebase": False,
            "tooBig": False,
            "repo": did,
            "commit": commit_cid,
            "rev": rev,
            "since": _tid(micros - rng.randint(10**6, 10**10), rng.randrange(1024)),
            "blocks": car,
            "ops": ops,
            "blobs": [],
            "time": _datetime(micros),
            "prevData": _fake_cid(rng),
        }
        return encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body)

    def profile(self) -> dict[str, Any]:
        rng = self.rng
        record: dict[str, Any] = {
            "$type": _PROFILE,
            "displayName": " ".join(rng.choice(_WORDS) for _ in range(2)),
            "description": self.text()[:200],
        }
        if rng.random() < 0.7:
            record["avatar"] = {
                "$type": "blob",
                "ref": cid_for_raw(rng.randbytes(16)),
                "mimeType": "image/jpeg",
                "size": rng.randint(20_000, 900_000),
            }
        return record

    def mst_keys(self, count: int, micros: int, include: str | None) -> list[str]:
        """``count`` sorted record paths near ``micros``, one of them ``include`` if given."""
        rng = self.rng
        names = [name for name, _ in _COLLECTIONS[:4]]
        keys = {include} if include is not None else set()
        while len(keys) < count:
            ago = rng.randint(0, 10**12)
            keys.add(f"{rng.choice(names)}/{_tid(micros - ago, rng.randrange(1024))}")
        return sorted(keys)

    def live_mst_node(
        self, keys: list[str], values: dict[str, CID], child: CID | None, leaf: bool
    ) -> bytes:
        """One MST node as a PDS writes it: keys prefix-compressed, ``child`` linked in."""
        rng = self.rng
        entries: list[dict[str, Any]] = []
        previous = b""
        for key in keys:
            raw = key.encode()
            shared = 0
            while shared < min(len(raw), len(previous)) and raw[shared] == previous[shared]:
                shared += 1
            entries.append(
                {
                    "k": raw[shared:],
                    "p": shared,
                    "t": None if leaf or rng.random() < 0.5 else _fake_cid(rng),
                    "v": values.get(key) or _fake_cid(rng),
                }
            )
            previous = raw
        node: dict[str, Any] = {"e": entries, "l": None}
        if not leaf:
            node["l"] = _fake_cid(rng) if rng.random() < 0.5 else None
        if child is not None:
            at = rng.randrange(len(entries) + 1)
            if at == 0:
                node["l"] = child
            else:
                entries[at - 1]["t"] = child
        return encode_dag_cbor(node)

    def live_mst_proof(
        self, path: str, values: dict[str, CID], micros: int
    ) -> list[tuple[CID, bytes]]:
        """The proof of ``path``: 3-5 nodes of up to 16 entries, root first, each linked on."""
        rng = self.rng
        nodes: list[tuple[CID, bytes]] = []
        child: CID | None = None
        depth = rng.randint(3, 5)
        for level in range(depth):  # from the leaf up
            leaf = level == 0
            if not leaf and rng.random() < 0.15:
                keys: list[str] = []  # an empty node on the way up: only its left link
            else:
                keys = self.mst_keys(rng.randint(1, 16), micros, path if leaf else None)
            block = self.live_mst_node(keys, values, child, leaf)
            child = cid_for(block)
            nodes.append((child, block))
        nodes.reverse()
        return nodes

    def live_commit(self) -> bytes:
        rng = self.rng
        micros = self.tick()
        did = rng.choice(self.dids)
        rev = _tid(micros, rng.randrange(1024))
        sync11 = rng.random() < 0.5  # prevData on the commit, prev on update and delete ops
        roll = rng.random()
        n_ops = 1 if roll < 0.9 else rng.randint(2, 6) if roll < 0.98 else rng.randint(7, 50)
        names = [name for name, _ in _LIVE_COLLECTIONS]
        weights = [weight for _, weight in _LIVE_COLLECTIONS]
        batch = rng.choice(("app.bsky.graph.follow", "app.bsky.feed.like")) if n_ops > 6 else None
        ops: list[dict[str, Any]] = []
        records: list[tuple[CID, bytes]] = []
        values: dict[str, CID] = {}
        for index in range(n_ops):
            kind = batch or rng.choices(names, weights)[0]
            rkey = _tid(micros - index - rng.randint(0, 10**6), rng.randrange(1024))
            op: dict[str, Any]
            if kind == "delete":
                collection = rng.choice(names[:4])
                op = {"cid": None, "path": f"{collection}/{rkey}", "action": "delete"}
            else:
                if kind == "update":
                    path, block = f"{_PROFILE}/self", encode_dag_cbor(self.profile())
                else:
                    path, block = (
                        f"{kind}/{rkey}",
                        encode_dag_cbor(self.record(kind, _datetime(micros))),
                    )
                cid = cid_for(block)
                records.append((cid, block))
                values[path] = cid
                op = {
                    "cid": cid,
                    "path": path,
                    "action": "update" if kind == "update" else "create",
                }
            if sync11 and op["action"] != "create":
                op["prev"] = _fake_cid(rng)
            ops.append(op)
        nodes = self.live_mst_proof(ops[0]["path"], values, micros)
        for extra in range(0, n_ops - 1, 3):  # further leaves for the other ops' paths
            paths = [op["path"] for op in ops[1 + extra : 4 + extra]]
            keys = sorted({*paths, *self.mst_keys(rng.randint(1, 4), micros, None)})
            block = self.live_mst_node(keys, values, None, leaf=True)
            nodes.append((cid_for(block), block))
        commit = {
            "did": did,
            "rev": rev,
            "sig": rng.randbytes(64),
            "data": nodes[0][0],
            "prev": None,
            "version": 3,
        }
        commit_block = encode_dag_cbor(commit)
        commit_cid = cid_for(commit_block)
        sections = [*nodes, *records, (commit_cid, commit_block)]
        if rng.random() < 0.25:
            rng.shuffle(sections)
        body: dict[str, Any] = {
            "seq": self.seq,
            "rebase": False,
            "tooBig": False,
            "repo": did,
            "commit": commit_cid,
            "rev": rev,
            "since": None
            if rng.random() < 0.05
            else _tid(micros - rng.randint(10**6, 10**10), rng.randrange(1024)),
            "blocks": write_car([commit_cid], sections),
            "ops": ops,
            "blobs": [],
            "time": _datetime(micros),
            "prev": None,
        }
        if sync11:
            body["prevData"] = _fake_cid(rng)
        return encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body)

    def identity_or_account(self) -> bytes:
        micros = self.tick()
        did = self.rng.choice(self.dids)
        if self.rng.random() < 0.5:
            handle = f"{self.rng.choice(_WORDS)}{self.rng.randrange(1000)}.bsky.social"
            body = {"seq": self.seq, "did": did, "time": _datetime(micros), "handle": handle}
            header = {"op": 1, "t": "#identity"}
        else:
            body = {"seq": self.seq, "did": did, "time": _datetime(micros), "active": True}
            header = {"op": 1, "t": "#account"}
        return encode_dag_cbor(header) + encode_dag_cbor(body)


def generate_frames(count: int, seed: int = 0, layout: str = "synthetic") -> list[bytes]:
    """Return ``count`` firehose messages (header + body bytes each), deterministic per seed.

    About 97% are ``#commit`` events; the rest ``#identity`` and ``#account``. ``layout`` is
    one of `LAYOUTS` (see the module docstring).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    generator = _Generator(seed)
    commit = generator.live_commit if layout == "live" else generator.commit
    frames = []
    for _ in range(count):
        if generator.rng.random() < 0.03:
            frames.append(generator.identity_or_account())
        else:
            frames.append(commit())
    return frames


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write ``--count`` frames to ``OUT`` in frame-file format."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="frame file to write")
    parser.add_argument("--count", type=int, default=20_000, help="number of frames")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="synthetic", help="body and CAR layout (see above)"
    )
    args = parser.parse_args(argv)
    data = encode_frames(generate_frames(args.count, args.seed, args.layout))
    args.out.write_bytes(data)
    print(f"wrote {args.count} {args.layout} frames, {len(data)} bytes, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
