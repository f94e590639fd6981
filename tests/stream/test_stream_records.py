"""The direct reader of like, repost and follow blocks (stream/_records.py) changes nothing.

`read_usual_record` must return exactly what decoding the block gives, or None: on generated
records of the three shapes, on their variations, and on mutated blocks.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from stream_helpers import commit_frame

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import decode_dag_cbor, encode_dag_cbor
from atproto_async.models.app.bsky.feed.like import Like
from atproto_async.stream import Commit, decode_frame
from atproto_async.stream._records import read_usual_record
from atproto_async.stream.framefile import read_frames

TIME = "2025-04-01T04:01:30.384Z"
URI = "at://did:plc:abc/app.bsky.feed.post/3kaaa"
CID_TEXT = "bafyreigjtf4q7rybmxzqdaeqkalhmiwxjy4ngd2j4ryn2o2ihsmpfkdn4a"

texts = st.text(max_size=60) | st.text(min_size=200, max_size=300)


@st.composite
def usual_records(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["app.bsky.feed.like", "app.bsky.feed.repost", "follow"]))
    created = draw(st.sampled_from([TIME]) | texts)
    if kind == "follow":
        subject: Any = draw(st.sampled_from(["did:plc:abc"]) | texts)
        return {"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": created}
    ref = {
        "cid": draw(st.sampled_from([CID_TEXT]) | texts),
        "uri": draw(st.sampled_from([URI]) | texts),
    }
    return {"$type": kind, "subject": ref, "createdAt": created}


def _short(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_short(v) for v in value.values())
    return len(value.encode()) < 256


@settings(max_examples=300, deadline=None)
@given(usual_records())
def test_usual_records_read_as_decoded(record: dict[str, Any]) -> None:
    block = encode_dag_cbor(record)
    read = read_usual_record(block)
    if _short(record):
        assert read == record == decode_dag_cbor(block, strict=False)
        assert list(read) == list(decode_dag_cbor(block, strict=False))  # same key order
    else:  # a text over 255 bytes: left to the general decoder
        assert read is None


@given(usual_records(), st.sampled_from(["via", "extra", "int", "no createdAt", "post"]))
def test_variations_are_left_to_the_general_decoder(record: dict[str, Any], change: str) -> None:
    if change == "via":
        record["via"] = {"cid": CID_TEXT, "uri": URI}
    elif change == "extra":
        record["shiny"] = True
    elif change == "int":
        record["createdAt"] = 5
    elif change == "no createdAt":
        del record["createdAt"]
    else:
        record["$type"] = "app.bsky.feed.post"
    assert read_usual_record(encode_dag_cbor(record)) is None


def test_mutated_blocks_never_disagree_with_the_decoder() -> None:
    rng = random.Random(11)
    seeds = [
        encode_dag_cbor({"$type": t, "subject": {"cid": CID_TEXT, "uri": URI}, "createdAt": TIME})
        for t in ("app.bsky.feed.like", "app.bsky.feed.repost")
    ]
    seeds.append(
        encode_dag_cbor(
            {"$type": "app.bsky.graph.follow", "subject": "did:plc:x", "createdAt": TIME}
        )
    )
    read_back = 0
    for _ in range(5000):
        block = bytearray(rng.choice(seeds))
        if rng.random() < 0.3:
            del block[rng.randrange(len(block)) :]
        for _ in range(rng.randint(1, 2) if block else 0):
            block[rng.randrange(len(block))] = rng.randrange(256)
        read = read_usual_record(bytes(block))
        if read is None:
            continue
        try:
            assert read == decode_dag_cbor(bytes(block), strict=False)
        except DecodeError as exc:  # pragma: no cover - the failure to report
            raise AssertionError(f"read directly, refused by the decoder: {exc}") from exc
        read_back += 1
    assert read_back > 100  # mutations inside the texts keep the shape


def test_a_like_in_a_commit_reads_as_its_model() -> None:
    like = {
        "$type": "app.bsky.feed.like",
        "subject": {"cid": CID_TEXT, "uri": URI},
        "createdAt": TIME,
    }
    event = decode_frame(commit_frame(1, [("create", "app.bsky.feed.like/3kx", like)]))
    assert isinstance(event, Commit)
    op = event.ops[0]
    assert op.record_data == like
    assert op.record == Like.from_dict(like)
    assert op.record.subject.uri == URI


def test_likes_reposts_and_follows_of_the_local_pds_capture_are_read_directly() -> None:
    # Blocks written by the official PDS (examples/data/local-pds.frames).
    capture = Path(__file__).resolve().parents[2] / "examples" / "data" / "local-pds.frames"
    usual = {"app.bsky.feed.like", "app.bsky.feed.repost", "app.bsky.graph.follow"}
    seen = 0
    with capture.open("rb") as stream:
        for message in read_frames(stream):
            event = decode_frame(message)
            if type(event) is not Commit:
                continue
            for op in event.ops:
                if op.cid is None or op.collection not in usual:
                    continue
                block = event.car.blocks[op.cid]
                assert read_usual_record(block) == decode_dag_cbor(block, strict=False)
                assert read_usual_record(block) is not None
                seen += 1
    assert seen >= 5
