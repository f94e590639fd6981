"""Raw frames: seq, DID and type read from the bytes agree with the full decoder."""

from __future__ import annotations

import asyncio
import random

import cbor2
import pytest
from conftest import live_frames, recorded_frames, synthetic_frames

from atproto_async.exceptions import FrameDecodeError, StreamError
from atproto_async.ipld import encode_dag_cbor
from atproto_async.stream import (
    RawFrame,
    RawGate,
    RawSubscription,
    Unknown,
    decode_frame,
    read_raw_frame,
    subscribe_repos,
)
from atproto_async.stream.raw import _COMMIT_HEADER, _COMMIT_HEADER_SIZE, _fields, _usual_commit
from tests.stream.stream_helpers import FakeRelay, error_frame, frame, identity_frame


def _expected(message: bytes) -> tuple[int | None, str | None]:
    event = decode_frame(message)
    if isinstance(event, Unknown):  # a type this library does not know: routed by its body
        return event.body.get("seq"), event.body.get("repo", event.body.get("did"))
    did = getattr(event, "repo", None) or getattr(event, "did", None)
    return getattr(event, "seq", None), did


@pytest.mark.parametrize("source", ["recorded", "live", "synthetic"])
def test_raw_frame_agrees_with_the_decoder(source: str) -> None:
    frames = {
        "recorded": recorded_frames,
        "live": lambda: list(live_frames(600)),
        "synthetic": synthetic_frames,
    }[source]()
    for message in frames:
        raw = read_raw_frame(message)
        assert (raw.seq, raw.did) == _expected(message)
        assert raw.type == "#" + type(decode_frame(message)).__name__.lower()
        assert raw.data == message
        assert raw.decode() == decode_frame(message)


def test_the_usual_commit_layout_and_the_general_walk_agree() -> None:
    # Every commit is read once by slices (_usual_commit) and once item by item (_fields).
    frames = [*recorded_frames(), *live_frames(600), *synthetic_frames()]
    commits = [m for m in frames if m[:_COMMIT_HEADER_SIZE] == _COMMIT_HEADER]
    usual = 0
    for message in commits:
        fast = _usual_commit(message, _COMMIT_HEADER_SIZE)
        fields, _ = _fields(message, _COMMIT_HEADER_SIZE, frozenset({b"seq", b"repo"}), 2)
        if fast is not None:
            usual += 1
            assert fast == (fields[b"seq"], fields[b"repo"])
    assert usual >= len(commits) * 0.9  # relays' layout: nearly all take the fast path
    # A commit in another layout (keys in another order, not canonical) takes the walk.
    body = cbor2.dumps({"repo": "did:plc:other", "seq": 12, "ops": [], "rev": "x"})
    odd = read_raw_frame(_COMMIT_HEADER + body)
    assert (odd.seq, odd.did) == (12, "did:plc:other")


def test_frames_without_an_account() -> None:
    info = read_raw_frame(frame("#info", {"name": "OutdatedCursor"}))
    assert (info.seq, info.did, info.type) == (None, None, "#info")
    unknown = read_raw_frame(frame("#future", {"seq": 9, "x": [1, {"y": b"z"}]}))
    assert (unknown.seq, unknown.did, unknown.type) == (9, None, "#future")
    qualified = frame("com.atproto.sync.subscribeRepos#identity", {"seq": 4, "did": "did:x:y"})
    assert read_raw_frame(qualified).type == "com.atproto.sync.subscribeRepos#identity"


def test_repr_hides_the_bytes() -> None:
    raw = read_raw_frame(identity_frame(1))
    assert "bytes>" in repr(raw) and "\\x" not in repr(raw)


def test_error_frame_raises_stream_error() -> None:
    with pytest.raises(StreamError) as info:
        read_raw_frame(error_frame("FutureCursor", "ahead"))
    assert info.value.error == "FutureCursor"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (b"", "ends inside"),
        (encode_dag_cbor({"op": 1}) + encode_dag_cbor({"seq": 1}), "no string 't'"),
        (encode_dag_cbor({"t": "#x"}) + encode_dag_cbor({"seq": 1}), "no integer 'op'"),
        (encode_dag_cbor({"op": 1, "t": "#identity"}), "no body"),
        (frame("#identity", {"seq": -1, "did": "did:x:y"}), "'seq'"),
        (frame("#identity", {"seq": "1", "did": "did:x:y"}), "'seq'"),
        (frame("#identity", {"seq": 1, "did": 5}), "DID"),
        (frame("#commit", {"seq": 1, "repo": None}), "DID"),
        (encode_dag_cbor({"op": 1, "t": "#commit"}) + b"\xa1\x63ops\x9f", "indefinite"),
        # An array claiming 2**32 items in a few bytes fails at once, without looping.
        (encode_dag_cbor({"op": 1, "t": "#commit"}) + b"\xa1\x63ops\x9a\xff\xff\xff\xff", "items"),
        (encode_dag_cbor({"op": 1, "t": "#commit"}) + b"\xa1\x63ops\x5a\xff\xff\xff\xff", "ends"),
    ],
)
def test_malformed_frames_are_refused(message: bytes, problem: str) -> None:
    with pytest.raises(FrameDecodeError, match=problem):
        read_raw_frame(message)


def test_truncated_and_mutated_frames_fail_cleanly_or_agree() -> None:
    rng = random.Random(3)
    for message in live_frames(600) * 3:
        cut = message[: rng.randrange(len(message))]
        mutated = bytearray(message)
        mutated[rng.randrange(min(len(message), 400))] ^= 1 << rng.randrange(8)
        for data in (cut, bytes(mutated)):
            try:
                raw = read_raw_frame(data)
            except (FrameDecodeError, StreamError):
                continue
            assert isinstance(raw, RawFrame)
            try:
                expected = _expected(data)
            except (FrameDecodeError, StreamError):
                continue  # the rest of the frame is broken: the worker's decoder says so
            assert (raw.seq, raw.did) == expected


def test_oversized_frame_is_refused() -> None:
    with pytest.raises(FrameDecodeError, match="above the limit"):
        read_raw_frame(identity_frame(1), max_frame_size=10)


def test_gate_drops_replays_and_follows_a_sequence_going_back() -> None:
    gate = RawGate(cursor=2)
    gate.start_connection()
    assert gate.feed(identity_frame(2)) is None  # a replay at the start of a connection
    assert [gate.feed(identity_frame(s)).seq for s in (3, 4)] == [3, 4]  # type: ignore[union-attr]
    assert gate.feed(identity_frame(4)) is None  # the same seq again
    assert gate.feed(identity_frame(1)) is not None  # backwards mid-connection: followed
    assert (gate.cursor, gate.replayed, gate.backwards) == (1, 2, 1)
    with pytest.raises(ValueError, match="cursor"):
        RawGate(cursor=-1)


async def test_subscribe_raw_hands_out_frames_and_resumes() -> None:
    frames = {seq: identity_frame(seq, f"did:plc:{seq % 3}") for seq in range(1, 11)}
    frames[11] = frame("#info", {"name": "OutdatedCursor"})
    async with FakeRelay(frames) as relay:
        stream = subscribe_repos(relay.url, raw=True, cursor=4)
        assert isinstance(stream, RawSubscription)
        got: list[RawFrame] = []
        async with asyncio.timeout(30), stream:
            async for raw in stream:
                got.append(raw)
                if raw.type == "#info":
                    break
        assert [f.seq for f in got] == [5, 6, 7, 8, 9, 10, None]
        assert got[0].did == "did:plc:2" and got[0].data == frames[5]
        assert stream.cursor == 10
        assert relay.cursors == [4]
        assert "RawSubscription" in repr(stream)


def test_raw_refuses_options_that_need_decoding() -> None:
    with pytest.raises(ValueError, match="collections"):
        subscribe_repos("ws://127.0.0.1:1", raw=True, collections=["app.bsky.feed.post"])
    with pytest.raises(ValueError, match="exclude"):
        subscribe_repos("ws://127.0.0.1:1", raw=True, verify=True)  # type: ignore[call-overload]
