"""The fast paths of frame decoding (atproto_async/stream/frames.py, events.py) change nothing.

A frame whose header is a known canonical ``{op: 1, t}`` has only its body decoded; commits
and ops are built without attrs' ``__init__``; a record is found by walking the CAR only as
far as its block. Every result and every error must be what the general path gives.
"""

from __future__ import annotations

import random
from typing import Any

import attrs
import cbor2
import pytest
from stream_helpers import TIME, commit_frame, frame, post

from atproto_async.exceptions import FrameDecodeError, StreamError
from atproto_async.ipld import CID, cid_for, decode_dag_cbor, encode_dag_cbor, read_car, write_car
from atproto_async.stream import Account, Commit, Identity, RepoOp, Sync, Unknown, decode_frame

LABEL = {
    "ver": 1,
    "src": "did:plc:labeler",
    "uri": "at://did:plc:a/app.bsky.feed.post/1",
    "val": "spam",
    "cts": TIME,
}
BODIES: dict[str, dict[str, Any]] = {
    "#identity": {"seq": 1, "did": "did:plc:a", "time": TIME, "handle": "a.test"},
    "#account": {"seq": 2, "did": "did:plc:a", "time": TIME, "active": False, "status": "x"},
    "#sync": {"seq": 3, "did": "did:plc:a", "rev": "r", "time": TIME, "blocks": b"\x01"},
    "#info": {"name": "OutdatedCursor", "message": "m"},
    "#labels": {"seq": 4, "labels": [LABEL]},
    "#tombstone": {"seq": 5, "did": "did:plc:a", "time": TIME},
    "com.atproto.sync.subscribeRepos#identity": {"seq": 6, "did": "did:plc:b", "time": TIME},
    "#shiny": {"seq": 7, "x": [1]},
}


def _reordered_header(data: bytes, t: str) -> bytes:
    """The same frame with its header keys in the other order (valid, but not canonical)."""
    header = encode_dag_cbor({"op": 1, "t": t})
    assert data.startswith(header)
    return cbor2.dumps({"op": 1, "t": t}) + data[len(header) :]


@pytest.mark.parametrize("t", list(BODIES))
def test_known_and_unknown_headers_decode_as_the_general_path_does(t: str) -> None:
    data = frame(t, BODIES[t])
    other = _reordered_header(data, t)
    assert other != data
    assert decode_frame(data) == decode_frame(other)
    assert decode_frame(memoryview(data)) == decode_frame(bytearray(data))


def test_commit_built_fast_equals_one_built_by_attrs() -> None:
    data = commit_frame(
        9,
        [
            ("create", "app.bsky.feed.post/3kaaa", post("new")),
            ("update", "app.bsky.actor.profile/self", {"$type": "app.bsky.actor.profile"}),
            ("delete", "app.bsky.feed.like/3kbbb", None),
        ],
        extra={"prevData": cid_for(b"p"), "since": "3kzzz", "blobs": [cid_for(b"b")]},
    )
    event = decode_frame(data)
    slow = decode_frame(_reordered_header(data, "#commit"))
    assert isinstance(event, Commit) and isinstance(slow, Commit)
    rebuilt = Commit(**{f.alias: getattr(event, f.name) for f in attrs.fields(Commit)})
    assert event == rebuilt == slow
    assert repr(event) == repr(rebuilt)
    for op in event.ops:
        again = RepoOp(op.action, op.path, op.collection, op.rkey, op.uri, op.cid, op.prev)
        assert op == again and repr(op) == repr(again) and hash(op) == hash(again)
    assert type(event) is Commit and all(type(op) is RepoOp for op in event.ops)
    assert attrs.evolve(event, seq=10).seq == 10
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.seq = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.ops[0].cid = None  # type: ignore[misc]


def test_commit_bodies_with_and_without_optional_fields_decode_alike() -> None:
    # Relays write all twelve fields (read directly, see _commitbody); other servers may leave
    # the optional ones out, and ops may lack "cid" (the general path). Same events either way.
    full = {"since": None, "tooBig": False, "rebase": False, "prevData": None, "blobs": []}
    data = commit_frame(4, [("create", "app.bsky.feed.post/3kaaa", post("x"))], extra=full)
    body = decode_dag_cbor(data[len(encode_dag_cbor({"op": 1, "t": "#commit"})) :])
    assert set(body) >= set(full) and len(body) == 12
    sparse = {k: v for k, v in body.items() if k not in full}
    sparse["ops"] = [{k: v for k, v in op.items() if k != "cid"} for op in body["ops"]]
    sparse["ops"].append({"action": "delete", "path": "app.bsky.feed.like/3kbbb"})
    event = decode_frame(data)
    other = decode_frame(frame("#commit", sparse))
    assert isinstance(event, Commit) and isinstance(other, Commit)
    assert attrs.evolve(event, ops=[]) == attrs.evolve(other, ops=[])
    assert [(op.action, op.path, op.cid) for op in other.ops] == [
        ("create", "app.bsky.feed.post/3kaaa", None),
        ("delete", "app.bsky.feed.like/3kbbb", None),
    ]
    assert event.ops[0].record.text == "x"
    assert other.ops[0].record is None  # no cid: nothing to read


@pytest.mark.parametrize(
    ("suffix", "match"),
    [
        (b"", "1 DAG-CBOR objects"),
        (encode_dag_cbor([1]), "#identity body is not a map"),
        (encode_dag_cbor(BODIES["#identity"]) + b"\x00", "3 DAG-CBOR objects"),
        (encode_dag_cbor(BODIES["#identity"])[:-2], "not two DAG-CBOR objects"),
        (b"\xd8\x2b\x40", "not two DAG-CBOR objects.*tag 43"),
        (encode_dag_cbor({"seq": 1, "did": 5, "time": TIME}), "'did' must be a string"),
    ],
)
def test_errors_after_a_known_header_are_those_of_the_general_path(
    suffix: bytes, match: str
) -> None:
    header = encode_dag_cbor({"op": 1, "t": "#identity"})
    with pytest.raises(FrameDecodeError, match=match):
        decode_frame(header + suffix)
    with pytest.raises(FrameDecodeError, match=match):
        decode_frame(cbor2.dumps({"op": 1, "t": "#identity"}) + suffix)


def test_records_of_a_multi_op_commit_read_in_any_order() -> None:
    records = [(f"app.bsky.feed.post/{i}", post(f"text {i}")) for i in range(6)]
    data = commit_frame(3, [("create", path, record) for path, record in records])
    for seed in range(4):
        event = decode_frame(data)
        assert isinstance(event, Commit)
        ops = list(event.ops)
        random.Random(seed).shuffle(ops)
        for op in ops:
            assert op.record_data == dict(records)[op.path]
            assert op.record.text == dict(records)[op.path]["text"]
        assert event.car.blocks[event.ops[0].cid] == encode_dag_cbor(records[0][1])  # type: ignore[index]


def _commit_with_car(car: bytes, cid: CID) -> bytes:
    ops = [{"action": "create", "path": "app.bsky.feed.post/1", "cid": cid}]
    return commit_frame(1, [], extra={"blocks": car, "ops": ops})


def test_a_bad_section_before_the_record_is_a_clear_error() -> None:
    block = encode_dag_cbor(post("x"))
    cid = cid_for(block)
    header = write_car([cid], [])
    car = header + b"\x05\x02\x71\x12\x20\x00" + write_car([cid], [(cid, block)])[len(header) :]
    event = decode_frame(_commit_with_car(car, cid))
    assert isinstance(event, Commit)
    with pytest.raises(
        FrameDecodeError,
        match=r"seq 1 .*not a valid CAR \(reading app.bsky.feed.post/1\).*version 2",
    ):
        event.ops[0].record  # noqa: B018
    with pytest.raises(FrameDecodeError, match="not a valid CAR"):
        event.car  # noqa: B018


def test_the_first_of_two_blocks_with_the_record_cid_is_read() -> None:
    block = encode_dag_cbor(post("first"))
    cid = cid_for(block)
    car = write_car([cid], [(cid, block), (cid, encode_dag_cbor(post("second")))])
    event = decode_frame(_commit_with_car(car, cid))
    assert isinstance(event, Commit)
    assert event.ops[0].record_data == post("first")
    assert read_car(car).blocks[cid] == block


def test_record_type_that_is_not_a_string_does_not_match_its_lexicon() -> None:
    pytest.importorskip("atproto_async.models")
    event = decode_frame(commit_frame(1, [("create", "a.b.c/1", {"$type": ["x"]})]))
    assert isinstance(event, Commit)
    with pytest.raises(FrameDecodeError, match=r"does not match its lexicon.*\$type"):
        event.ops[0].record  # noqa: B018


def test_unknown_then_known_record_types_build_their_models() -> None:
    models = pytest.importorskip("atproto_async.models")
    data = commit_frame(
        1,
        [
            ("create", "com.example.thing/1", {"$type": "com.example.thing", "n": 1}),
            ("create", "app.bsky.feed.like/2", {"$type": "app.bsky.feed.like"}),
            ("create", "app.bsky.feed.post/3", post("hello")),
            ("create", "app.bsky.feed.post/4", post("again")),
        ],
    )
    event = decode_frame(data)
    assert isinstance(event, Commit)
    thing, like, first, second = event.ops
    assert isinstance(thing.record, models.UnknownRecord)
    with pytest.raises(FrameDecodeError, match="does not match its lexicon"):
        like.record  # noqa: B018
    assert (first.record.text, second.record.text) == ("hello", "again")
    assert first.record is first.record


def test_other_events_from_relay_like_frames() -> None:
    assert isinstance(decode_frame(frame("#identity", BODIES["#identity"])), Identity)
    assert isinstance(decode_frame(frame("#account", BODIES["#account"])), Account)
    assert isinstance(decode_frame(frame("#sync", BODIES["#sync"])), Sync)
    assert isinstance(decode_frame(frame("#shiny", BODIES["#shiny"])), Unknown)


def _outcome(decode: Any, data: bytes) -> tuple[str, str]:
    try:
        return "event", repr(decode(data))
    except (FrameDecodeError, StreamError) as exc:
        return type(exc).__name__, str(exc)


def test_mutated_frames_decode_as_the_general_path_does() -> None:
    from atproto_async.stream.frames import _DEFAULT_LIMITS, _decode_parts

    def general(data: bytes) -> Any:
        return _decode_parts(data, _DEFAULT_LIMITS, None)

    rng = random.Random(5)
    seeds = [
        commit_frame(1, [("create", "app.bsky.feed.post/1", post("x"))]),
        commit_frame(2, [("delete", "app.bsky.feed.like/2", None)], extra={"since": "3k"}),
        frame("#identity", BODIES["#identity"]),
        frame("#account", BODIES["#account"]),
    ]
    for seed in seeds:
        for _ in range(150):
            data = bytearray(seed)
            position = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[position] = rng.randrange(256)
            else:
                del data[position:]
            assert _outcome(decode_frame, bytes(data)) == _outcome(general, bytes(data))
