"""Verified commits per second beside plain decoding, on frames laid out as relays send them.

The frames are written here the way a PDS writes them (sync 1.1): ``--repos`` accounts with
their own K-256 keys and ``--records`` records each (so MST proof paths are 4-6 nodes deep),
and a stream of commits round-robin over them: mostly one create (posts, likes, follows with
the fields real clients write), some updates and deletes, 3% of commits with 2-50 ops; every
commit signed, with ``prevData``, ``prev`` on updates and deletes, a top-level ``prev: null``,
and a CAR holding the commit, the record blocks and the proof nodes of each op.

Measured in the same run, best CPU time of ``--rounds`` interleaved rounds:

1. ``decode``: `decode_frame` (the stream's decoder, records left unread);
2. ``verify``: `decode_frame` + `verify_commit` with the account's parsed key (sans-I/O);
3. ``verifier``: `decode_frame` + `SyncVerifier.check` (identity cache hit, rev order,
   ``prevData`` chain), what ``subscribe_repos(verify=True)`` runs per event.

Targets (issue 13): at least 10,000 verified commits/s on one core; verification costing at
most 5x plain decoding. Measured (one core, default corpus): decode 5.5 us; verify 300 us per
commit before the MST and commit readers worked on the bytes, 158-165 us after (about 6,200
commits/s, x29 of decode). Blocks hashed against their CIDs as they lie, key heights
remembered and nodes looked up in the CAR's index: 150-152 us (about 6,600 commits/s, x26-27
of decode) where the version before ran at 162-165 us (x29-30) on the same machine, three
runs of each interleaved.

What the readers remember between commits (the heights of MST keys met lately) is emptied
before every round: each round is then one pass over a stream where every commit comes once.

``--breakdown`` also times the steps of `verify_commit` one by one (same corpus, events decoded
beforehand): reading the CAR with every block hashed (11 us; 18-19 before), decoding the commit
(3.6), checking its signature (27-28: libsecp256k1 itself), reading the MST nodes the ops reach
with their checks and looking the ops up (53-55: 7.6 nodes; 57 before), inverting the ops and
hashing the changed nodes (31-33).

``--compare-node DIR`` runs the verification of ``@atproto/sync`` 0.4.11 (its Firehose's
``parseCommitAuthenticated``: signature and MST proofs, no ``prevData`` inversion) on the same
frames (`bench_sync_node.mjs`; DIR holds ``npm install @atproto/sync@0.4.11``, which needs
Node >= 22: ``--node``). Measured on 1,500 commits, best of 3 rounds: 2,074 us per commit
there against 159 us for ``verify`` here (x13 as fast, with the inversion on top). Usage::

    python benchmarks/bench_sync.py [--repos 20] [--records 3000] [--commits 3000] [--rounds 5]
                                    [--breakdown] [--compare-node DIR [--node PATH]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atproto_async._build import describe
from atproto_async.crypto import K256, Keypair
from atproto_async.identity import StaticIdentityResolver
from atproto_async.ipld import CID, cid_for, encode_dag_cbor, read_car, write_car
from atproto_async.repo import MST, Commit, _node
from atproto_async.stream import decode_frame
from atproto_async.sync import SyncVerifier, verify_commit
from atproto_async.syntax._tid import make_tid

WORDS = [
    "the",
    "a",
    "cat",
    "sat",
    "on",
    "mat",
    "python",
    "atproto",
    "relay",
    "firehose",
    "feed",
    "bluesky",
    "post",
    "like",
]


class Account:
    def __init__(self, index: int, records: int, rng: random.Random) -> None:
        self.key = Keypair.from_private_bytes(rng.randbytes(31) + b"\x01", K256)
        self.did = f"did:plc:{index:024d}"
        self.clock = 1_733_000_000_000_000 + index
        self.rng = rng
        entries = {}
        for _ in range(records):
            path, record = self.new_record()
            entries[path] = cid_for(record)
        self.tree = MST.from_entries(entries)
        self.paths = sorted(entries)

    def rev(self) -> str:
        self.clock += 1_000_000
        return make_tid(self.clock, 3)

    def new_record(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        self.clock += 1
        rkey = make_tid(self.clock, rng.randrange(1024))
        kind = rng.random()
        now = "2026-12-04T10:00:00.000Z"
        if kind < 0.45:
            subject = {"uri": f"at://{self.did}/app.bsky.feed.post/{rkey}", "cid": str(cid_for({}))}
            return f"app.bsky.feed.like/{rkey}", {
                "$type": "app.bsky.feed.like",
                "subject": subject,
                "createdAt": now,
            }
        if kind < 0.6:
            return f"app.bsky.graph.follow/{rkey}", {
                "$type": "app.bsky.graph.follow",
                "subject": f"did:plc:{rng.randrange(10**20):024d}",
                "createdAt": now,
            }
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 40)))
        post: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": now}
        if rng.random() < 0.7:
            post["langs"] = ["en"]
        return f"app.bsky.feed.post/{rkey}", post

    def commit(self, seq: int) -> bytes:
        rng = self.rng
        before = self.tree
        tree = before
        roll = rng.random()
        count = 1 if roll < 0.97 else rng.randrange(2, 51)  # ~3% multi-op commits
        ops: list[dict[str, Any]] = []
        records: dict[CID, bytes] = {}
        touched: set[str] = set()
        for _ in range(count):
            action = rng.random()
            if action < 0.85 or len(self.paths) < 10:
                path, record = self.new_record()
                cid = cid_for(record)
                records[cid] = encode_dag_cbor(record)
                ops.append({"action": "create", "path": path, "cid": cid})
                tree = tree.set(path, cid)
                self.paths.append(path)
            else:
                path = self.paths.pop(rng.randrange(len(self.paths)))
                if path in touched:
                    continue
                prev = tree.get(path)
                if action < 0.93:
                    record = {"$type": "app.bsky.feed.post", "text": "edited", "createdAt": "x"}
                    cid = cid_for(record)
                    records[cid] = encode_dag_cbor(record)
                    ops.append({"action": "update", "path": path, "cid": cid, "prev": prev})
                    tree = tree.set(path, cid)
                    self.paths.append(path)
                else:
                    ops.append({"action": "delete", "path": path, "cid": None, "prev": prev})
                    tree = tree.delete(path)
            touched.add(ops[-1]["path"])
        rev = self.rev()
        signed = Commit.sign(self.key, did=self.did, data=tree.cid, rev=rev)
        blocks: dict[CID, bytes] = {signed.cid: signed.encode()}
        blocks.update(records)
        for op in ops:
            blocks.update(tree.proof_blocks(op["path"]))
        self.tree = tree
        body = {
            "seq": seq,
            "repo": self.did,
            "rev": rev,
            "since": None,
            "commit": signed.cid,
            "ops": ops,
            "blocks": write_car([signed.cid], blocks.items()),
            "blobs": [],
            "time": "2026-12-04T10:00:00.000Z",
            "tooBig": False,
            "rebase": False,
            "prev": None,  # live frames still carry it
            "prevData": before.cid,
        }
        return encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body)

    def document(self) -> dict[str, Any]:
        return {
            "id": self.did,
            "verificationMethod": [
                {
                    "id": f"{self.did}#atproto",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": self.key.public_key.multikey(),
                }
            ],
        }


def make_corpus(repos: int, records: int, commits: int, seed: int) -> tuple[list[bytes], Any]:
    rng = random.Random(seed)
    accounts = [Account(i, records, rng) for i in range(repos)]
    frames = [accounts[n % repos].commit(n + 1) for n in range(commits)]
    resolver = StaticIdentityResolver(a.document() for a in accounts)
    return frames, resolver


def run(frames: list[bytes], resolver: Any, rounds: int) -> dict[str, float]:
    keys = {}

    async def prepare() -> None:
        for frame in frames[: len(frames)]:
            event = decode_frame(frame)
            if event.repo not in keys:
                keys[event.repo] = (await resolver.resolve_did(event.repo)).signing_public_key

    asyncio.run(prepare())

    def decode() -> None:
        for frame in frames:
            decode_frame(frame)

    def verify() -> None:
        for frame in frames:
            event = decode_frame(frame)
            verify_commit(event, keys[event.repo])

    def verifier() -> None:
        async def go() -> None:
            v = SyncVerifier(resolver)
            for frame in frames:
                verdict = await v.check(decode_frame(frame))
                if not verdict.ok:
                    raise AssertionError(verdict)

        asyncio.run(go())

    ways: dict[str, Callable[[], None]] = {"decode": decode, "verify": verify, "verifier": verifier}
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, way in ways.items():
            _forget()
            start = time.process_time()
            way()
            best[name] = min(best[name], time.process_time() - start)
    return best


def _forget() -> None:
    """Empty what the readers remember between commits (the heights of MST keys met lately).

    Every round runs over the same commits: without this, the rounds after the first would
    find every key remembered, which a stream, where each commit comes once, never does.
    """
    _node._HEIGHTS.clear()


def breakdown(frames: list[bytes], resolver: Any, rounds: int) -> dict[str, float]:
    """Best CPU time of each step of `verify_commit` over the corpus, seconds (see above)."""
    events = [decode_frame(frame) for frame in frames]
    keys = {
        did: asyncio.run(resolver.resolve_did(did)).signing_public_key
        for did in {event.repo for event in events}
    }
    steps = []
    for event in events:
        car = read_car(event.blocks, verify=True)
        steps.append((event, car.blocks, Commit.decode(car.blocks[event.commit])))

    def read_cars() -> None:
        for event, _, _ in steps:
            read_car(event.blocks, verify=True)

    def decode_commits() -> None:
        for event, blocks, _ in steps:
            Commit.decode(blocks[event.commit])

    def signatures() -> None:
        for event, _, commit in steps:
            commit.verify(keys[event.repo])

    def trees(invert: bool) -> None:
        for event, blocks, commit in steps:
            tree = MST.load(commit.data, blocks, verified=True)
            inverted = tree
            for op in event.ops:
                tree.get(op.path)
                if invert:  # as verify_commit undoes them: creates deleted, the rest set back
                    path = op.path
                    inverted = (
                        inverted.delete(path) if op.prev is None else inverted.set(path, op.prev)
                    )
            if invert:
                inverted.cid  # noqa: B018 (computing it is the point)

    ways: dict[str, Callable[[], None]] = {
        "read_car": read_cars,
        "commit": decode_commits,
        "signature": signatures,
        "mst read": lambda: trees(False),
        "mst read+invert": lambda: trees(True),
    }
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, way in ways.items():
            _forget()
            start = time.process_time()
            way()
            best[name] = min(best[name], time.process_time() - start)
    best["mst invert"] = best.pop("mst read+invert") - best["mst read"]
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="also time each verify step")
    parser.add_argument(
        "--compare-node",
        metavar="DIR",
        type=Path,
        help="also run @atproto/sync's verification on the same frames (DIR: an npm install "
        "of @atproto/sync; see bench_sync_node.mjs)",
    )
    parser.add_argument("--node", default="node", help="the Node.js to run it with")
    args = parser.parse_args(argv)
    frames, resolver = make_corpus(args.repos, args.records, args.commits, args.seed)
    ops = sum(len(decode_frame(f).ops) for f in frames)
    size = sum(len(f) for f in frames) / len(frames)
    print(
        f"{len(frames)} commits ({ops} ops) over {args.repos} repos of ~{args.records} records; "
        f"mean frame {size:.0f} bytes; build: {describe()}"
    )
    best = run(frames, resolver, args.rounds)
    base = best["decode"]
    for name, seconds in best.items():
        rate = len(frames) / seconds
        print(
            f"{name:<9} {rate:>9.0f} commits/s  {seconds / len(frames) * 1e6:7.1f} us  "
            f"x{seconds / base:.2f} of decode"
        )
    if args.breakdown:
        for name, seconds in breakdown(frames, resolver, args.rounds).items():
            print(f"  {name:<11} {seconds / len(frames) * 1e6:7.1f} us")
    if args.compare_node is not None:
        node = compare_node(frames, resolver, args.compare_node, args.node, args.rounds)
        ours = best["verify"] / len(frames) * 1e6
        speedup = node["verify_us"] / ours
        print(
            f"@atproto/sync {node['verify_us']:7.1f} us per commit (signature and proofs, "
            f"{node['node']}; its decode {node['decode_us']:.1f} us): verify here is "
            f"x{speedup:.2f} as fast, and also inverts every commit to its prevData"
        )
    return 0


def compare_node(
    frames: list[bytes], resolver: Any, directory: Path, node: str, rounds: int
) -> dict[str, Any]:
    """Run bench_sync_node.mjs from ``directory`` (where @atproto/sync is installed)."""
    if not (directory / "node_modules" / "@atproto" / "sync").is_dir():
        raise SystemExit(f"no @atproto/sync in {directory}: npm install @atproto/sync@0.4.11 there")
    keys = {}
    for frame in frames:
        did = decode_frame(frame).repo
        if did not in keys:
            keys[did] = asyncio.run(resolver.resolve_did(did)).signing_key
    with tempfile.TemporaryDirectory() as tmp:
        frames_path, keys_path = Path(tmp) / "frames", Path(tmp) / "keys.json"
        frames_path.write_bytes(b"".join(len(f).to_bytes(4, "big") + f for f in frames))
        keys_path.write_text(json.dumps(keys))
        script = directory / "bench_sync_node.mjs"  # ESM resolves packages next to the script
        shutil.copyfile(Path(__file__).with_name("bench_sync_node.mjs"), script)
        out = subprocess.run(
            [node, str(script), str(frames_path), str(keys_path), str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if result["commits"] != len(frames):
        raise SystemExit(f"node saw {result['commits']} commits of {len(frames)}")
    return result


if __name__ == "__main__":
    sys.exit(main())
