"""The direct reader of the usual ``#commit`` layout (stream/_commitbody.py) changes nothing.

For every frame, `read_commit_body` must either return None (the general path then decodes
the frame) or exactly the event the general path returns: on real PDS frames, on the relay
fixtures, on the live relay commits (top-level ``prev: null``, up to 42 ops), on the live
layout of ``benchmarks/make_frames.py``, on generated bodies of every shape, and on mutated
and truncated frames.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_helpers import TIME, commit_frame, post

from atproto_async.exceptions import DecodeError, StreamError
from atproto_async.ipld import CID, cid_for, cid_for_raw, encode_dag_cbor, from_json
from atproto_async.stream import Commit, decode_frame
from atproto_async.stream import frames as frames_module
from atproto_async.stream._commitbody import read_commit_body
from atproto_async.stream.framefile import read_frames

HEADER = encode_dag_cbor({"op": 1, "t": "#commit"})
LIMITS = frames_module._DEFAULT_LIMITS
CAPTURE = Path(__file__).resolve().parents[2] / "examples" / "data" / "local-pds.frames"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
RELAY_DATA = FIXTURES / "indigo" / "cmd" / "relay" / "testing" / "testdata"
LIVE_COMMITS = FIXTURES / "indigo" / "atproto" / "repo" / "testdata"
MAKE_FRAMES = Path(__file__).resolve().parents[2] / "benchmarks" / "make_frames.py"


def fast(data: bytes, collections: frozenset[str] | None = None) -> Commit | None:
    return read_commit_body(data, len(HEADER), LIMITS, collections)


def general(data: bytes, collections: frozenset[str] | None = None) -> Any:
    """The general path: cbor2 decodes header and body, then frames._commit builds."""
    return frames_module._decode_parts(data, LIMITS, collections)


def assert_same(data: bytes, *, expect_fast: bool) -> None:
    event = fast(data)
    if expect_fast:
        assert event is not None
    if event is not None:
        assert event == general(data)
        assert type(event) is Commit and event.blobs == [] and type(event.blocks) is bytes
        assert event == decode_frame(data)


def test_every_commit_of_the_local_pds_capture_is_read_directly() -> None:
    # Frames recorded from the official PDS (scripts/record-pds-capture).
    with CAPTURE.open("rb") as stream:
        commits = [m for m in read_frames(stream) if m.startswith(HEADER)]
    assert len(commits) >= 10
    for data in commits:
        assert_same(data, expect_fast=True)
        event = fast(data)
        assert event is not None  # and its records read from the same blocks as ever
        assert [op.record_data for op in event.ops] == [op.record_data for op in general(data).ops]


def test_relay_fixture_commits_agree() -> None:
    if not RELAY_DATA.is_dir():
        pytest.skip(f"relay scenarios not found at {RELAY_DATA}")
    seen = 0
    for path in sorted(RELAY_DATA.glob("*.json")):
        for message in json.loads(path.read_text())["messages"]:
            header, body = message["frame"]["header"], message["frame"]["body"]
            if header.get("t") != "#commit":
                continue
            data = encode_dag_cbor(from_json(header)) + encode_dag_cbor(from_json(body))
            assert data.startswith(HEADER)
            assert_same(data, expect_fast=True)  # these carry blobs: null, and some no prevData
            seen += 1
    assert seen > 0


def _live_commits() -> list[dict[str, Any]]:
    paths = sorted(LIVE_COMMITS.glob("firehose_commit_*.json"))
    if not paths:
        pytest.skip(f"firehose_commit_*.json not found under {LIVE_COMMITS}")
    return [from_json(json.loads(path.read_text())) for path in paths]


def test_live_relay_commits_are_read_directly() -> None:
    # Real relay frames: a top-level prev: null in its key position, no prevData, one of 42
    # ops. Their JSON form has blobs: null where the relay's cbor-gen writes []: both read.
    bodies = _live_commits()
    assert any(len(body["ops"]) > 23 for body in bodies)
    for body in bodies:
        assert "prev" in body and body["prev"] is None and "prevData" not in body
        for blobs in (None, []):
            data = HEADER + encode_dag_cbor({**body, "blobs": blobs})
            assert_same(data, expect_fast=True)
            event = fast(data)
            assert event is not None
            assert [op.record_data for op in event.ops] == [
                op.record_data for op in general(data).ops
            ]


def _make_frames() -> Any:
    if not MAKE_FRAMES.exists():  # pragma: no cover - the benchmarks ship with the sources
        pytest.skip(f"{MAKE_FRAMES} not found")
    spec = importlib.util.spec_from_file_location("make_frames_for_commitbody_tests", MAKE_FRAMES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_live_layout_is_read_directly() -> None:
    from atproto_async.ipld import decode_dag_cbor_multi, read_car

    frames = _make_frames().generate_frames(300, seed=5, layout="live")
    commits = [data for data in frames if data.startswith(HEADER)]
    with_prev_data = most_ops = 0
    for data in commits:
        body = decode_dag_cbor_multi(data, strict=False)[1]
        assert body["prev"] is None and body["blobs"] == []
        with_prev_data += "prevData" in body
        most_ops = max(most_ops, len(body["ops"]))
        assert len(read_car(body["blocks"]).blocks) >= 4  # commit, a record or not, 3+ nodes
        assert_same(data, expect_fast=True)
    assert 0 < with_prev_data < len(commits)
    assert most_ops > 23


def _link(rng: random.Random) -> CID:
    return cid_for(rng.randbytes(8))


#: One change each that takes a body out of the usual layout (the general path reads it).
VARIATIONS = (
    "long text",
    "raw link",
    "bad path",
    "blobs",
    "extra field",
    "too many ops",
    "short blocks",
    "prev link",
    "prev not null",
)

TID = "3lhhvfanmos22"
DID_PLC = "did:plc:vixizgjuwef5ovmixqxalfup"  # 32 characters, as nearly every repo


@st.composite
def commit_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A commit body of the usual layout, or one with a variation; and whether it is usual.

    Values are drawn both in the forms nearly every body has (a TID rev, a did:plc repo, a
    24-character time, a seq above 2**32, 256 to 65535 bytes of blocks: `_commitbody` reads
    them at once) and in any other form (read field by field).
    """
    rng = random.Random(draw(st.integers(0, 2**32)))
    short = st.text(max_size=60).filter(lambda t: len(t.encode()) < 256)
    ops = []
    n_ops = draw(st.integers(0, 4) | st.integers(20, 30) | st.sampled_from([42, 200]))
    op_shapes = draw(st.lists(st.integers(0, 2**16), min_size=1, max_size=4))
    for index in range(n_ops):
        op_rng = random.Random(op_shapes[index % len(op_shapes)] * 1000 + index)
        op: dict[str, Any] = {
            "action": op_rng.choice(["create", "update", "delete", "", "créer", "x" * 30]),
            "path": op_rng.choice(["app.bsky.feed.post/3kx", "é/ü", "a/" + "b" * 40]),
            "cid": op_rng.choice([None, _link(rng)]),
        }
        if op_rng.random() < 0.5:
            op["prev"] = op_rng.choice([None, _link(rng)])
        ops.append(op)
    if draw(st.booleans()):  # the forms nearly every body has
        seq = draw(st.integers(2**32, 2**63 - 1))
        repo, rev, time = DID_PLC, TID, TIME
        since = draw(st.sampled_from([None, TID]))
        blocks = draw(st.binary(min_size=256, max_size=600))
    else:  # any form (a seq beyond 2**63 - 1: see the test at the end)
        seq = draw(st.integers(0, 2**63 - 1))
        repo = draw(st.sampled_from([DID_PLC, "did:plc:abc", "did:web:example.com"]) | short)
        rev = draw(st.sampled_from([TID]) | short)
        time = draw(st.sampled_from([TIME, "2025-02-06T01:05:27.125123Z"]) | short)
        since = draw(st.none() | st.sampled_from([TID]) | short)
        blocks = draw(st.binary(min_size=24, max_size=3000) | st.just(bytes(70_000)))
    body: dict[str, Any] = {
        "seq": seq,
        "rebase": draw(st.booleans()),
        "tooBig": draw(st.booleans()),
        "repo": repo,
        "commit": _link(rng),
        "rev": rev,
        "since": since,
        "blocks": blocks,
        "ops": ops,
        "blobs": draw(st.sampled_from([[], None])),
        "time": time,
        "prevData": draw(st.sampled_from([None, _link(rng)])),
    }
    if draw(st.booleans()):
        del body["prevData"]  # older servers: still the usual layout, one entry fewer
    if draw(st.booleans()):
        body["prev"] = None  # the Go relay's deprecated field: still the usual layout
    if draw(st.booleans()):
        return body, True
    variation = draw(st.sampled_from(VARIATIONS))
    long = "x" * draw(st.integers(256, 400))
    if variation == "long text":
        body[draw(st.sampled_from(["repo", "rev", "time", "since"]))] = long
    elif variation == "raw link":
        body["ops"] = [*ops, {"action": "create", "path": "a/b", "cid": cid_for_raw(b"r")}]
    elif variation == "bad path":
        body["ops"] = [*ops, {"action": "create", "path": draw(st.sampled_from(["", "a", "/b"]))}]
        body["ops"][-1]["cid"] = None
    elif variation == "blobs":
        body["blobs"] = [_link(rng)]
    elif variation == "extra field":
        body["shiny"] = draw(st.integers(-(2**63), 2**63 - 1))
    elif variation == "too many ops":  # above the limit of 200, or above 255 (a 2-byte head)
        count = draw(st.sampled_from([201, 256]))
        body["ops"] = [{"action": "delete", "path": "a/b", "cid": None}] * count
    elif variation == "prev link":  # unused by the general path, but not the usual layout
        body["prev"] = _link(rng)
    elif variation == "prev not null":
        body["prev"] = draw(st.sampled_from([False, 0, "", []]))
    else:
        body["blocks"] = draw(st.binary(max_size=23))
    return body, False


@settings(max_examples=300, deadline=None)
@given(commit_bodies())
def test_generated_bodies_agree_with_the_general_path(case: tuple[dict[str, Any], bool]) -> None:
    body, usual = case
    data = HEADER + encode_dag_cbor(body)
    if usual:
        assert_same(data, expect_fast=True)
    else:  # outside the layout: left to the general path, which reads it or says why not
        assert fast(data) is None
        with contextlib.suppress(DecodeError):
            assert type(decode_frame(data)) is Commit


def test_collections_filter_is_applied_alike() -> None:
    data = commit_frame(
        5,
        [
            ("create", "app.bsky.feed.post/3kaaa", post("x")),
            ("create", "app.bsky.feed.like/3kbbb", {"$type": "app.bsky.feed.like"}),
        ],
        extra={"prevData": None},
    )
    only = frozenset({"app.bsky.feed.like"})
    event = fast(data, only)
    assert event is not None and [op.collection for op in event.ops] == ["app.bsky.feed.like"]
    assert event == general(data, only)


def test_limits_and_bad_paths_are_left_to_the_general_path() -> None:
    record = ("create", "app.bsky.feed.post/3kaaa", post("x"))
    data = commit_frame(5, [record] * 3, extra={"prevData": None})
    assert fast(data) is not None
    small = frames_module._Limits(max_ops=2, max_blocks_size=LIMITS.max_blocks_size)
    assert read_commit_body(data, len(HEADER), small, None) is None
    tiny = frames_module._Limits(max_ops=200, max_blocks_size=10)
    assert read_commit_body(data, len(HEADER), tiny, None) is None
    bad = commit_frame(5, [("create", "no-slash", post("x"))], extra={"prevData": None})
    assert fast(bad) is None


def _ops_frame(count: int) -> bytes:
    ops = [
        {"action": "delete", "path": f"app.bsky.feed.like/{i}", "cid": None} for i in range(count)
    ]
    body = {
        "seq": 2**40, "rebase": False, "tooBig": False, "repo": DID_PLC, "commit": cid_for(b"c"),
        "rev": TID, "since": TID, "blocks": bytes(300), "ops": ops, "blobs": [], "time": TIME,
        "prev": None,
    }  # fmt: skip
    return HEADER + encode_dag_cbor(body)


@pytest.mark.parametrize("count", [0, 23, 24, 42, 200])
def test_up_to_200_ops_are_read_directly(count: int) -> None:
    # 24 or more ops take a 2-byte array head (0x98 n): the live 42-op commit has one.
    data = _ops_frame(count)
    assert_same(data, expect_fast=True)


def test_ops_above_the_limit_or_a_one_byte_count_are_left_to_the_general_path() -> None:
    with pytest.raises(DecodeError, match="201 ops, above the limit of 200"):
        decode_frame(_ops_frame(201))
    assert fast(_ops_frame(201)) is None
    roomy = frames_module._Limits(max_ops=300, max_blocks_size=LIMITS.max_blocks_size)
    event = read_commit_body(_ops_frame(255), len(HEADER), roomy, None)
    assert event is not None and len(event.ops) == 255
    assert event == frames_module._decode_parts(_ops_frame(255), roomy, None)
    wide = _ops_frame(256)  # a 3-byte array head (0x99 0x01 0x00): the general path reads it
    assert read_commit_body(wide, len(HEADER), roomy, None) is None
    assert len(frames_module._decode(wide, 10**7, roomy, None).ops) == 256  # type: ignore[union-attr]


def test_top_level_prev_other_than_null_is_left_to_the_general_path() -> None:
    data = _ops_frame(1)
    null = encode_dag_cbor("prev") + b"\xf6"
    assert data.count(null) == 1
    link = data.replace(null, encode_dag_cbor("prev") + encode_dag_cbor(cid_for(b"p")))
    assert fast(link) is None
    assert decode_frame(link) == fast(data)  # the general path ignores the deprecated field


def _capture_seeds() -> list[bytes]:
    with CAPTURE.open("rb") as stream:
        return [m for m in read_frames(stream) if m.startswith(HEADER)][:6]


def _live_seeds() -> list[bytes]:
    # The live layout: prev: null, prevData or not, the usual middle read at once; and a body
    # of 42 ops whose mutations land in the ops.
    frames = _make_frames().generate_frames(40, seed=11, layout="live")
    seeds = [data for data in frames if data.startswith(HEADER)][:6]
    bodies = [body for body in _live_commits() if len(body["ops"]) > 23]
    return seeds + [HEADER + encode_dag_cbor({**body, "blobs": []}) for body in bodies]


@pytest.mark.parametrize("make_seeds", [_capture_seeds, _live_seeds], ids=["pds-capture", "live"])
def test_mutated_and_truncated_frames_never_disagree(
    make_seeds: Callable[[], list[bytes]],
) -> None:
    rng = random.Random(7)
    seeds = make_seeds()
    checked = 0
    for _ in range(4000):
        data = bytearray(rng.choice(seeds))
        # Anywhere (mostly in the blocks), or in the ops and fields before the blocks, or in
        # commit, rebase, tooBig and prevData after them.
        low, high = rng.choice(
            [(len(HEADER), len(data)), (len(HEADER), 400), (len(data) - 120, len(data))]
        )
        if rng.random() < 0.3:
            del data[rng.randrange(low, high) :]
        for _ in range(rng.randint(1, 3)):
            if len(data) > low:
                data[rng.randrange(low, min(high, len(data)))] = rng.randrange(256)
        frame = bytes(data)
        event = fast(frame)
        if event is None:
            continue
        try:
            expected = general(frame)
        except (DecodeError, StreamError) as exc:  # pragma: no cover - the failure to report
            raise AssertionError(f"read directly, refused by the general path: {exc}") from exc
        assert event == expected
        checked += 1
    assert checked > 100  # mutations inside strings and digests keep the layout


def test_a_seq_beyond_2_63_is_left_to_the_general_path() -> None:
    placeholder = (2**62 + 1).to_bytes(8, "big")
    data = commit_frame(2**62 + 1, [("create", "app.bsky.feed.post/1", post("x"))])
    assert fast(data) is not None
    top = data.replace(placeholder, b"\x7f" + b"\xff" * 7)
    assert fast(top) is not None and fast(top).seq == 2**63 - 1  # type: ignore[union-attr]
    beyond = data.replace(placeholder, b"\x80" + bytes(7))
    assert fast(beyond) is None
    with pytest.raises(DecodeError, match="'seq' is outside"):
        decode_frame(beyond)
