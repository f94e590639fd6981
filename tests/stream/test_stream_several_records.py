"""A commit of several ops indexes its CAR on the first record read, with the same answers.

`build_commit` tells the ops' shared `CommitBlocks` when there is more than one op: the first
record read then indexes the sections it walks (`BlockFinder`) instead of walking them without
storing anything (`find_block`) and walking them again for the second record. Here the records
of the same commits are read both ways, in the same order, on the live layout of
``benchmarks/make_frames.py`` and on the same CARs mutated, truncated and with a block
swapped: every record, and every error, must be the same.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import FrameDecodeError
from atproto_async.ipld import cid_for, decode_dag_cbor, encode_dag_cbor, write_car
from atproto_async.stream import Commit, decode_frame
from atproto_async.stream import frames as frames_module
from atproto_async.stream._commitblocks import CommitBlocks

MAKE_FRAMES = Path(__file__).resolve().parents[2] / "benchmarks" / "make_frames.py"


def _live_commits(count: int, seed: int) -> list[Commit]:
    if not MAKE_FRAMES.exists():  # pragma: no cover - the benchmarks ship with the sources
        pytest.skip(f"{MAKE_FRAMES} not found")
    spec = importlib.util.spec_from_file_location("make_frames_for_several_tests", MAKE_FRAMES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    events = [decode_frame(data) for data in module.generate_frames(count, seed, layout="live")]
    return [event for event in events if type(event) is Commit and len(event.ops) > 1]


def _read_all(commit: Commit, blocks: bytes, several: bool, verify: bool = True) -> list[Any]:
    limits = frames_module._DEFAULT_LIMITS if verify else frames_module._UNVERIFIED_LIMITS
    holder = CommitBlocks(blocks, commit.seq, commit.repo, commit.too_big, limits, several)
    found: list[Any] = []
    for op in commit.ops:
        if op.cid is None:
            continue
        try:
            found.append(("ok", holder.record_data(op.cid, op.path)))
        except FrameDecodeError as exc:
            found.append(("error", str(exc)))
    return found


def test_records_of_live_commits_read_alike() -> None:
    commits = _live_commits(1500, seed=3)
    assert len(commits) > 100
    for commit in commits:
        expected = _read_all(commit, commit.blocks, several=False)
        assert _read_all(commit, commit.blocks, several=True) == expected
        assert [op.record_data for op in commit.ops if op.cid is not None] == [
            value for _, value in expected
        ]


@pytest.mark.parametrize("verify", [True, False])
def test_records_of_broken_cars_read_alike(verify: bool) -> None:
    rng = random.Random(5)
    commits = _live_commits(600, seed=4)
    errors = 0
    for _ in range(1500):
        commit = rng.choice(commits)
        blocks = bytearray(commit.blocks)
        if rng.random() < 0.3:
            del blocks[rng.randrange(59, len(blocks)) :]
        for _ in range(rng.randint(1, 3)):
            if len(blocks) > 59:
                blocks[rng.randrange(59, len(blocks))] = rng.randrange(256)
        expected = _read_all(commit, bytes(blocks), several=False, verify=verify)
        assert _read_all(commit, bytes(blocks), several=True, verify=verify) == expected
        errors += any(kind == "error" for kind, _ in expected)
    assert errors > 200


def test_a_swapped_record_block_is_refused_alike() -> None:
    like = encode_dag_cbor({"$type": "app.bsky.feed.like", "subject": "x", "createdAt": "y"})
    follow = encode_dag_cbor({"$type": "app.bsky.graph.follow", "subject": "z", "createdAt": "y"})
    commit_block = encode_dag_cbor({"did": "did:plc:alice", "version": 3})
    # The like's CID over the follow's bytes: a relay swapping a record.
    car = write_car(
        [cid_for(commit_block)],
        [(cid_for(commit_block), commit_block), (cid_for(like), follow), (cid_for(follow), follow)],
    )
    body = {
        "seq": 1,
        "rebase": False,
        "tooBig": False,
        "repo": "did:plc:alice",
        "commit": cid_for(commit_block),
        "rev": "3lmxjza3nva27",
        "since": None,
        "blocks": car,
        "ops": [
            {"action": "create", "path": "app.bsky.feed.like/1", "cid": cid_for(like)},
            {"action": "create", "path": "app.bsky.graph.follow/1", "cid": cid_for(follow)},
        ],
        "blobs": [],
        "time": "2026-12-04T10:00:00.000Z",
    }
    commit = decode_frame(encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body))
    assert type(commit) is Commit
    expected = _read_all(commit, car, several=False)
    assert _read_all(commit, car, several=True) == expected
    assert expected[0][0] == "error" and "does not hash to its CID" in expected[0][1]
    assert expected[1] == ("ok", decode_dag_cbor(follow))
    with pytest.raises(FrameDecodeError, match="does not hash to its CID"):
        commit.ops[0].record  # noqa: B018
    assert commit.ops[1].record.subject == "z"
