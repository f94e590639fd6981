"""The direct reader of the usual ``#commit`` layout (stream/_commitbody.py) changes nothing.

For every frame, `read_commit_body` must either return None (the general path then decodes
the frame) or exactly the event the general path returns: on real PDS frames, on the relay
fixtures, on generated bodies of every shape, and on mutated and truncated frames.
"""

from __future__ import annotations

import contextlib
import json
import random
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


def _link(rng: random.Random) -> CID:
    return cid_for(rng.randbytes(8))


#: One change each that takes a body out of the usual layout (the general path reads it).
VARIATIONS = (
    "long text",
    "raw link",
    "bad path",
    "blobs",
    "extra field",
    "many ops",
    "short blocks",
)


@st.composite
def commit_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A commit body of the usual layout, or one with a variation; and whether it is usual."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    short = st.text(max_size=60).filter(lambda t: len(t.encode()) < 256)
    ops = []
    for _ in range(draw(st.integers(0, 4))):
        op: dict[str, Any] = {
            "action": draw(st.sampled_from(["create", "update", "delete"]) | short),
            "path": draw(st.sampled_from(["app.bsky.feed.post/3kx", "é/ü"])),
            "cid": draw(st.sampled_from([None, _link(rng)])),
        }
        if draw(st.booleans()):
            op["prev"] = draw(st.sampled_from([None, _link(rng)]))
        ops.append(op)
    body: dict[str, Any] = {
        "seq": draw(st.integers(0, 2**63 - 1)),  # beyond: see the test at the end
        "rebase": draw(st.booleans()),
        "tooBig": draw(st.booleans()),
        "repo": draw(st.sampled_from(["did:plc:abc"]) | short),
        "commit": _link(rng),
        "rev": draw(short),
        "since": draw(st.none() | short),
        "blocks": draw(st.binary(min_size=24, max_size=3000) | st.just(bytes(70_000))),
        "ops": ops,
        "blobs": draw(st.sampled_from([[], None])),
        "time": draw(st.sampled_from([TIME]) | short),
        "prevData": draw(st.sampled_from([None, _link(rng)])),
    }
    if draw(st.booleans()):
        del body["prevData"]  # older servers: still the usual layout, one entry fewer
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
    elif variation == "many ops":
        body["ops"] = [{"action": "delete", "path": "a/b", "cid": None}] * 24
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


def test_mutated_and_truncated_frames_never_disagree() -> None:
    rng = random.Random(7)
    with CAPTURE.open("rb") as stream:
        seeds = [m for m in read_frames(stream) if m.startswith(HEADER)][:6]
    checked = 0
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        if rng.random() < 0.3:
            del data[rng.randrange(len(HEADER), len(data)) :]
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(HEADER), len(data))] = rng.randrange(256)
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
