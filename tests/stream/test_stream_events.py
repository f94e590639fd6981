"""Reading a commit's records (atproto_async/stream/events.py): CID check, data model, skipping.

Records are decoded lazily, when ``op.record`` (or ``op.record_data``) is first read. Before
that, the block is checked against its CID (unless ``verify_records=False``); a block that is
not DAG-CBOR of the data model - a float above all - is refused with that reason; and when the
decoder skips invalid records (what ``skip_invalid=True`` of a subscription asks), a record
that cannot be read is None, with one warning and the reason in ``op.record_error``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cbor2
import pytest
from stream_helpers import TIME, commit_frame, post, record_frame

from atproto_async.exceptions import FrameDecodeError
from atproto_async.ipld import CID, cid_for, cid_for_raw, decode_dag_cbor, encode_dag_cbor
from atproto_async.stream import Commit, EventGate, RepoOp, decode_frame, iter_replay
from atproto_async.stream.framefile import encode_frames


def _op(message: bytes, **options: Any) -> RepoOp:
    event = decode_frame(message, **options)
    assert isinstance(event, Commit)
    return event.ops[0]


def _raw(value: Any) -> bytes:
    """CBOR that `encode_dag_cbor` refuses to write (floats, undefined), in canonical order."""
    return cbor2.dumps(value, canonical=True)


POST_WITH_FLOATS = [
    pytest.param({**post("x"), "score": 1.5}, id="extra-field"),  # read as a Post before
    pytest.param({**post("x"), "embed": 0.1}, id="union-member"),
    pytest.param({**post("x"), "langs": ["en", 2.5]}, id="in-a-list"),
    pytest.param({"$type": "com.example.thing", "n": 1.0}, id="unknown-type"),
    pytest.param(1.5, id="the-whole-block"),
]


@pytest.mark.parametrize("record", POST_WITH_FLOATS)
def test_a_record_holding_a_float_is_refused_with_that_reason(record: Any) -> None:
    op = _op(record_frame(1, _raw(record)))
    with pytest.raises(FrameDecodeError, match="floats are not allowed in the atproto data model"):
        op.record  # noqa: B018
    with pytest.raises(FrameDecodeError, match="floats are not allowed in the atproto data model"):
        op.record_data  # noqa: B018


def test_a_simple_value_where_the_lexicon_expects_an_object_is_named() -> None:
    block = _raw({**post("x"), "embed": cbor2.undefined})
    op = _op(record_frame(1, block))
    with pytest.raises(FrameDecodeError, match="is not valid DAG-CBOR: CBOR undefined"):
        op.record  # noqa: B018


def test_a_float_head_byte_inside_a_link_is_not_a_float() -> None:
    # A blob whose CID digest holds 0xf9: the bytes are read in full and found canonical.
    ref = next(
        cid for n in range(10_000) if b"\xf9" in bytes(cid := cid_for_raw(n.to_bytes(4, "big")))
    )
    image = {"$type": "blob", "ref": ref, "mimeType": "image/jpeg", "size": 1000}
    record = {
        **post("x"),
        "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": image}]},
    }
    op = _op(record_frame(1, encode_dag_cbor(record)))
    assert op.record_data == record
    assert op.record.embed.images[0].image.ref == ref


def test_a_record_block_swapped_by_the_relay_is_refused() -> None:
    # The op and the CAR name the CID of one post; the block holds another.
    block = encode_dag_cbor(post("the real post"))
    swapped = record_frame(1, encode_dag_cbor(post("something else")), cid=cid_for(block))
    op = _op(swapped)
    with pytest.raises(FrameDecodeError, match=r"post/1: the block does not hash to its CID"):
        op.record  # noqa: B018
    assert op.record_error is not None
    assert _op(swapped, verify_records=False).record.text == "something else"


def test_a_swapped_like_is_refused_before_the_direct_reader() -> None:
    like = {
        "$type": "app.bsky.feed.like",
        "subject": {"cid": str(cid_for(b"p")), "uri": "at://did:plc:b/app.bsky.feed.post/1"},
        "createdAt": TIME,
    }
    other = {**like, "createdAt": "2020-01-01T00:00:00.000Z"}
    swapped = record_frame(
        1, encode_dag_cbor(other), cid=cid_for(like), path="app.bsky.feed.like/1"
    )
    with pytest.raises(FrameDecodeError, match="does not hash to its CID"):
        _op(swapped).record_data  # noqa: B018
    assert _op(swapped, verify_records=False).record_data == other


def test_a_record_cid_that_is_not_sha256_cannot_be_checked() -> None:
    block = encode_dag_cbor(post("x"))
    sha512 = CID.from_bytes(b"\x01\x71\x13\x40" + bytes(64))
    message = record_frame(1, block, cid=sha512)
    with pytest.raises(FrameDecodeError, match=r"not sha2-256.*verify_records=False"):
        _op(message).record  # noqa: B018
    assert _op(message, verify_records=False).record.text == "x"


def test_gate_and_replay_pass_the_cid_check_option_on() -> None:
    block = encode_dag_cbor(post("real"))
    swapped = record_frame(1, encode_dag_cbor(post("fake")), cid=cid_for(block))
    event = EventGate(verify_records=False).feed(swapped)
    assert isinstance(event, Commit) and event.ops[0].record.text == "fake"
    checked = EventGate().feed(swapped)
    assert isinstance(checked, Commit) and checked.ops[0].record_error is not None
    (replayed,) = iter_replay(encode_frames([swapped]), verify_records=False)
    assert isinstance(replayed, Commit) and replayed.ops[0].record.text == "fake"


INVALID_BLOCKS = [
    pytest.param(encode_dag_cbor({"$type": "app.bsky.feed.like"}), "match its lexicon", id="lex"),
    pytest.param(b"\xa1\x61a", "not DAG-CBOR", id="truncated"),
    pytest.param(_raw({**post("x"), "n": 1.5}), "floats are not allowed", id="float"),
    pytest.param(encode_dag_cbor([1]), "not a map", id="not-a-map"),
]


@pytest.mark.parametrize(("block", "reason"), INVALID_BLOCKS)
def test_skipped_invalid_record_is_none_with_its_reason_and_one_warning(
    block: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = EventGate(skip_invalid_records=True)
    event = gate.feed(record_frame(7, block, path="app.bsky.feed.like/1"))
    assert isinstance(event, Commit)
    op = event.ops[0]
    assert op.record is None
    assert op.record is None  # cached
    if "lexicon" in reason:  # the data model is fine, only the model cannot be built
        assert op.record_data == decode_dag_cbor(block)
    else:
        assert op.record_data is None
    error = op.record_error
    assert isinstance(error, FrameDecodeError)
    assert reason in str(error)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped the invalid record at://did:plc:alice/app.bsky.feed.like/1 (seq 7)" in (
        warnings[0].getMessage()
    )
    assert reason in warnings[0].getMessage()


def test_without_skipping_an_invalid_record_raises_and_record_error_says_why() -> None:
    op = _op(record_frame(1, b"\xa1\x61a"))
    with pytest.raises(FrameDecodeError, match="not DAG-CBOR"):
        op.record  # noqa: B018
    error = op.record_error
    assert isinstance(error, FrameDecodeError) and "not DAG-CBOR" in str(error)


def test_valid_records_have_no_error_and_deletes_none() -> None:
    event = EventGate(skip_invalid_records=True).feed(
        commit_frame(
            1,
            [
                ("create", "app.bsky.feed.post/1", post("ok")),
                ("delete", "app.bsky.feed.post/2", None),
            ],
        )
    )
    assert isinstance(event, Commit)
    created, deleted = event.ops
    assert created.record.text == "ok" and created.record_error is None
    assert deleted.record is None and deleted.record_error is None


def test_every_record_of_the_local_pds_capture_passes_the_cid_check() -> None:
    capture = Path(__file__).resolve().parents[2] / "examples" / "data" / "local-pds.frames"
    ops = [op for event in iter_replay(capture) if isinstance(event, Commit) for op in event.ops]
    created = [op for op in ops if op.cid is not None]
    assert len(created) >= 10
    assert [op.record_error for op in created] == [None] * len(created)
