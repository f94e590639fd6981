"""Fuzz: hostile frames raise only FrameDecodeError or StreamError, even when records are read."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_helpers import TIME, commit_frame, error_frame, frame, identity_frame, post

from atproto_async.exceptions import FrameDecodeError, StreamError
from atproto_async.ipld import encode_dag_cbor
from atproto_async.stream import Commit, Labels, decode_frame, iter_replay
from atproto_async.stream.framefile import encode_frames

LABEL = {
    "ver": 1,
    "src": "did:plc:labeler",
    "uri": "at://did:plc:a/app.bsky.feed.post/1",
    "val": "spam",
    "cts": TIME,
}

SEEDS = [
    identity_frame(1),
    commit_frame(
        2,
        [
            ("create", "app.bsky.feed.post/3kaaa", post("hello world", ["en"])),
            ("update", "app.bsky.actor.profile/self", {"$type": "app.bsky.actor.profile"}),
            ("delete", "app.bsky.feed.like/3kbbb", None),
        ],
    ),
    commit_frame(3, [("create", "app.bsky.feed.like/1", {"$type": "app.bsky.feed.like"})]),
    frame(
        "#account",
        {"seq": 4, "did": "did:plc:a", "active": False, "status": "deleted", "time": TIME},
    ),
    frame("#labels", {"seq": 5, "labels": [LABEL]}),
    frame("#info", {"name": "OutdatedCursor"}),
    error_frame("FutureCursor", "nope"),
]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _consume(data: bytes) -> None:
    """Decode a frame and touch everything lazy; only the two stream errors may escape."""
    try:
        event = decode_frame(data)
        if isinstance(event, Commit):
            for op in event.ops:
                _ = op.record
                _ = op.record_data
            _ = event.car.roots
        elif isinstance(event, Labels):
            _ = [label.val for label in event.labels]
    except (FrameDecodeError, StreamError):
        pass


@SETTINGS
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
)
def test_mutated_frames_raise_only_stream_errors(seed: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    _consume(bytes(data))


@SETTINGS
@given(seed=st.sampled_from(SEEDS), cut=st.integers(min_value=0))
def test_truncated_frames_raise_only_stream_errors(seed: bytes, cut: int) -> None:
    _consume(seed[: cut % len(seed)])


@SETTINGS
@given(seed=st.sampled_from(SEEDS), where=st.integers(min_value=0), junk=st.binary(max_size=16))
def test_spliced_frames_raise_only_stream_errors(seed: bytes, where: int, junk: bytes) -> None:
    where %= len(seed) + 1
    _consume(seed[:where] + junk + seed[where:])


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["seq", "did", "repo", "rev", "since", "time", "commit", "ops", "blocks", "tooBig",
     "blobs", "prevData", "handle", "active", "status", "labels", "name", "message", "error"]
)  # fmt: skip


@SETTINGS
@given(
    t=st.sampled_from(
        [
            "#commit",
            "#sync",
            "#identity",
            "#account",
            "#info",
            "#labels",
            "#handle",
            "#migrate",
            "#tombstone",
            "#other",
        ]
    ),
    op=st.sampled_from([1, 1, 1, -1, 0, 7]),
    body=st.dictionaries(_keys, _values, max_size=8),
)
def test_well_formed_cbor_with_wrong_shapes(t: str, op: int, body: dict[str, Any]) -> None:
    _consume(encode_dag_cbor({"op": op, "t": t}) + encode_dag_cbor(body))


@SETTINGS
@given(cut=st.integers(min_value=0), flip=st.tuples(st.integers(min_value=0), st.integers(0, 255)))
def test_corrupt_frame_files_raise_only_stream_errors(cut: int, flip: tuple[int, int]) -> None:
    data = bytearray(encode_frames(SEEDS[:-1]))
    data[flip[0] % len(data)] = flip[1]
    try:
        for event in iter_replay(bytes(data[: cut % (len(data) + 1)])):
            if isinstance(event, Commit):
                for op in event.ops:
                    _ = op.record
    except (FrameDecodeError, StreamError):
        pass
