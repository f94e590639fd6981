"""Sans-I/O frame decoding: real relay messages and commits in, typed events out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stream_helpers import TIME, commit_frame, error_frame, frame, identity_frame, post

from atproto_async.exceptions import FrameDecodeError, StreamError
from atproto_async.ipld import CID, encode_dag_cbor, from_json
from atproto_async.stream import (
    Account,
    Commit,
    Handle,
    Identity,
    Info,
    Migrate,
    RepoOp,
    Sync,
    Tombstone,
    Unknown,
    decode_frame,
)

#: ``../shared/fixtures`` beside the repository (as in tests/conftest.py).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
RELAY_DATA = FIXTURES / "indigo" / "cmd" / "relay" / "testing" / "testdata"
REPO_DATA = FIXTURES / "indigo" / "atproto" / "repo" / "testdata"


def _relay_messages() -> list[Any]:
    if not RELAY_DATA.is_dir():
        return [pytest.param(None, id="relay-testdata-missing")]
    params = []
    for path in sorted(RELAY_DATA.glob("*.json")):
        for index, message in enumerate(json.loads(path.read_text())["messages"]):
            params.append(pytest.param(message["frame"], id=f"{path.stem}-{index}"))
    return params


def _commit_bodies() -> list[Any]:
    paths = sorted(REPO_DATA.glob("firehose_commit_*.json")) if REPO_DATA.is_dir() else []
    if not paths:
        return [pytest.param(None, id="firehose-commit-fixtures-missing")]
    return [pytest.param(path, id=path.stem) for path in paths]


def _encode(header: dict[str, Any], body: dict[str, Any]) -> bytes:
    return encode_dag_cbor(from_json(header)) + encode_dag_cbor(from_json(body))


@pytest.mark.parametrize("message", _relay_messages())
def test_relay_scenario_message_decodes_to_its_event(message: Any) -> None:
    if message is None:
        pytest.skip(f"relay scenarios not found at {RELAY_DATA}")
    header, body = message["header"], from_json(message["body"])
    event = decode_frame(_encode(message["header"], message["body"]))
    expected = {
        "#commit": Commit,
        "#identity": Identity,
        "#account": Account,
        "#sync": Sync,
    }[header["t"]]
    assert type(event) is expected
    assert event.seq == body["seq"]
    assert event.time == body["time"]
    if isinstance(event, Commit):
        assert event.repo == body["repo"]
        assert event.rev == body["rev"]
        assert event.since == body["since"]
        assert event.commit == body["commit"]
        assert event.too_big is body["tooBig"]
        assert event.blocks == body["blocks"]
        assert event.prev_data == body.get("prevData")
        assert [(op.action, op.path, op.cid, op.prev) for op in event.ops] == [
            (op["action"], op["path"], op.get("cid"), op.get("prev")) for op in body["ops"]
        ]
        for op in event.ops:
            assert op.uri == f"at://{body['repo']}/{op.path}"
            assert f"{op.collection}/{op.rkey}" == op.path
            data = op.record_data
            if op.action == "delete":
                assert data is None
            else:
                assert data is not None
                assert data["$type"] == op.collection
    elif isinstance(event, Sync):
        assert (event.did, event.rev, event.blocks) == (body["did"], body["rev"], body["blocks"])
    elif isinstance(event, Identity):
        assert (event.did, event.handle) == (body["did"], body.get("handle"))
    else:
        assert isinstance(event, Account)
        assert (event.did, event.active, event.status) == (
            body["did"],
            body["active"],
            body.get("status"),
        )


@pytest.mark.parametrize("path", _commit_bodies())
def test_firehose_commit_yields_its_ops_and_records(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"firehose_commit_*.json not found under {REPO_DATA}")
    body = from_json(json.loads(path.read_text()))
    event = decode_frame(encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body))
    assert isinstance(event, Commit)
    assert event.seq == body["seq"]
    assert len(event.ops) == len(body["ops"]) > 0
    assert event.car.roots[0] == body["commit"]
    for op, raw in zip(event.ops, body["ops"], strict=True):
        assert (op.action, op.path, op.cid) == (raw["action"], raw["path"], raw["cid"])
        data = op.record_data
        assert data is not None
        assert data["$type"] == op.collection
        assert "createdAt" in data


@pytest.mark.parametrize("path", _commit_bodies())
def test_firehose_commit_records_become_models(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"firehose_commit_*.json not found under {REPO_DATA}")
    models = pytest.importorskip("atproto_async.models")
    body = from_json(json.loads(path.read_text()))
    event = decode_frame(encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body))
    assert isinstance(event, Commit)
    for op in event.ops:
        record = op.record
        assert record is op.record  # decoded once, then cached
        assert not isinstance(record, models.UnknownRecord)
        assert record.to_dict()["$type"] == op.collection


def test_post_record_is_a_post_model() -> None:
    models = pytest.importorskip("atproto_async.models")
    event = decode_frame(commit_frame(1, [("create", "app.bsky.feed.post/3k", post("hi", ["en"]))]))
    assert isinstance(event, Commit)
    record = event.ops[0].record
    assert not isinstance(record, models.UnknownRecord)
    assert record.text == "hi"
    assert record.langs == ["en"]


def test_unknown_record_type_gives_an_unknown_record() -> None:
    models = pytest.importorskip("atproto_async.models")
    record = {"$type": "com.example.thing", "n": 1}
    event = decode_frame(commit_frame(1, [("create", "com.example.thing/1", record)]))
    assert isinstance(event, Commit)
    unknown = event.ops[0].record
    assert isinstance(unknown, models.UnknownRecord)
    assert unknown.type == "com.example.thing"


def test_ops_carry_path_parts_uri_and_cids() -> None:
    event = decode_frame(
        commit_frame(
            9,
            [
                ("create", "app.bsky.feed.post/3kaaa", post("new")),
                ("update", "app.bsky.actor.profile/self", {"$type": "app.bsky.actor.profile"}),
                ("delete", "app.bsky.feed.like/3kbbb", None),
            ],
            repo="did:plc:bob",
        )
    )
    assert isinstance(event, Commit)
    create, update, delete = event.ops
    assert (create.collection, create.rkey) == ("app.bsky.feed.post", "3kaaa")
    assert update.uri == "at://did:plc:bob/app.bsky.actor.profile/self"
    assert isinstance(create.cid, CID) and create.prev is None
    assert isinstance(update.prev, CID)
    assert delete.cid is None and isinstance(delete.prev, CID)
    assert delete.record_data is None
    assert update.record_data == {"$type": "app.bsky.actor.profile"}


def test_records_are_not_decoded_until_read() -> None:
    # Blocks that are not a CAR at all: decoding the frame must not look at them.
    event = decode_frame(
        commit_frame(1, [("create", "app.bsky.feed.post/1", post("x"))], extra={"blocks": b"junk"})
    )
    assert isinstance(event, Commit)
    assert event.ops[0].path == "app.bsky.feed.post/1"
    with pytest.raises(FrameDecodeError, match="not a valid CAR"):
        event.ops[0].record_data  # noqa: B018


def test_missing_block_of_a_too_big_commit_gives_none() -> None:
    path = "app.bsky.feed.post/1"
    event = decode_frame(
        commit_frame(1, [("create", path, post("x"))], too_big=True, leave_out=frozenset({path}))
    )
    assert isinstance(event, Commit)
    assert event.too_big is True
    assert event.ops[0].record_data is None
    assert event.ops[0].record is None


def test_missing_block_of_a_normal_commit_is_a_clear_error() -> None:
    path = "app.bsky.feed.post/1"
    event = decode_frame(
        commit_frame(7, [("create", path, post("x"))], leave_out=frozenset({path}))
    )
    assert isinstance(event, Commit)
    with pytest.raises(FrameDecodeError, match=r"seq 7 .*missing"):
        event.ops[0].record  # noqa: B018


def test_record_block_that_is_not_a_map_is_an_error() -> None:
    event = decode_frame(commit_frame(1, [("create", "app.bsky.feed.post/1", ["a"])]))  # type: ignore[list-item]
    assert isinstance(event, Commit)
    with pytest.raises(FrameDecodeError, match="not a map"):
        event.ops[0].record_data  # noqa: B018


def test_collections_filter_keeps_matching_ops_only() -> None:
    data = commit_frame(
        1,
        [
            ("create", "app.bsky.feed.post/1", post("x")),
            ("create", "app.bsky.feed.like/2", {"$type": "app.bsky.feed.like"}),
        ],
    )
    event = decode_frame(data, collections={"app.bsky.feed.like"})
    assert isinstance(event, Commit)
    assert [op.path for op in event.ops] == ["app.bsky.feed.like/2"]


def test_error_frame_raises_stream_error() -> None:
    with pytest.raises(StreamError) as info:
        decode_frame(error_frame("FutureCursor", "cursor in the future"))
    assert info.value.error == "FutureCursor"
    assert info.value.message == "cursor in the future"


def test_error_frame_without_message() -> None:
    with pytest.raises(StreamError) as info:
        decode_frame(error_frame("ConsumerTooSlow"))
    assert (info.value.error, info.value.message) == ("ConsumerTooSlow", None)


def test_unknown_type_gives_unknown() -> None:
    event = decode_frame(frame("#shiny", {"seq": 12, "x": b"\x01"}))
    assert event == Unknown("#shiny", {"seq": 12, "x": b"\x01"}, 1)
    assert isinstance(event, Unknown) and event.seq == 12


def test_unknown_op_gives_unknown() -> None:
    data = encode_dag_cbor({"op": 2, "t": "#later"}) + encode_dag_cbor({"a": 1})
    event = decode_frame(data)
    assert isinstance(event, Unknown)
    assert (event.type, event.op, event.seq) == ("#later", 2, None)


def test_fully_qualified_type_is_accepted() -> None:
    event = decode_frame(
        frame(
            "com.atproto.sync.subscribeRepos#identity", {"seq": 3, "did": "did:plc:a", "time": TIME}
        )
    )
    assert event == Identity(3, "did:plc:a", None, TIME)


def test_info_and_legacy_messages() -> None:
    assert decode_frame(frame("#info", {"name": "OutdatedCursor"})) == Info("OutdatedCursor")
    assert decode_frame(
        frame("#handle", {"seq": 1, "did": "did:plc:a", "handle": "a.test", "time": TIME})
    ) == Handle(1, "did:plc:a", "a.test", TIME)
    assert decode_frame(
        frame("#migrate", {"seq": 2, "did": "did:plc:a", "migrateTo": None, "time": TIME})
    ) == Migrate(2, "did:plc:a", None, TIME)
    assert decode_frame(frame("#tombstone", {"seq": 3, "did": "did:plc:a", "time": TIME})) == (
        Tombstone(3, "did:plc:a", TIME)
    )


def test_labels_become_label_models() -> None:
    pytest.importorskip("atproto_async.models.com.atproto.label.defs")
    label = {
        "ver": 1,
        "src": "did:plc:labeler",
        "uri": "at://did:plc:a/app.bsky.feed.post/1",
        "val": "spam",
        "cts": TIME,
        "sig": b"\x01\x02",
    }
    event = decode_frame(frame("#labels", {"seq": 5, "labels": [label, {**label, "neg": True}]}))
    assert event.seq == 5  # type: ignore[union-attr]
    first, second = event.labels  # type: ignore[union-attr]
    assert (first.src, first.uri, first.val, first.sig) == (
        "did:plc:labeler",
        label["uri"],
        "spam",
        b"\x01\x02",
    )
    assert second.neg is True


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "DAG-CBOR"),
        (b"\xff\xff", "DAG-CBOR"),
        (encode_dag_cbor({"op": 1, "t": "#identity"}), "1 DAG-CBOR objects"),
        (identity_frame(1) + encode_dag_cbor({}), "3 DAG-CBOR objects"),
        (encode_dag_cbor([1]) + encode_dag_cbor({}), "header is not a map"),
        (encode_dag_cbor({"t": "#identity"}) + encode_dag_cbor({}), "integer 'op'"),
        (encode_dag_cbor({"op": True, "t": "#x"}) + encode_dag_cbor({}), "integer 'op'"),
        (encode_dag_cbor({"op": 1}) + encode_dag_cbor({}), "string 't'"),
        (encode_dag_cbor({"op": 1, "t": "#identity"}) + encode_dag_cbor([]), "not a map"),
        (encode_dag_cbor({"op": -1}) + encode_dag_cbor({"message": "x"}), "error frame"),
        (frame("#identity", {"seq": "1", "did": "did:plc:a", "time": TIME}), "'seq'"),
        (frame("#identity", {"seq": 1, "time": TIME}), "'did'"),
        (frame("#account", {"seq": 1, "did": "d", "time": TIME}), "'active'"),
        (frame("#labels", {"seq": 1, "labels": {}}), "'labels'"),
        (frame("#info", {"message": "x"}), "'name'"),
        (frame("#sync", {"seq": 1, "did": "d", "rev": "r", "time": TIME, "blocks": "x"}), "bytes"),
    ],
)
def test_malformed_frames_raise_frame_decode_error(data: bytes, match: str) -> None:
    with pytest.raises(FrameDecodeError, match=match):
        decode_frame(data)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"commit": "bafy"}, "'commit' must be a CID"),
        ({"ops": {}}, "'ops' must be a list"),
        ({"ops": [1]}, "an op is not a map"),
        ({"ops": [{"action": "create", "path": 5, "cid": None}]}, "string 'action' or 'path'"),
        ({"ops": [{"action": "create", "path": "nopath", "cid": None}]}, "not <collection>/<rkey>"),
        ({"ops": [{"action": "create", "path": "a/b", "cid": "x"}]}, "CID links or null"),
        ({"tooBig": 1}, "'tooBig'"),
        ({"rebase": None}, "'rebase' must be a bool"),
        ({"seq": "1"}, "'seq' must be an integer"),
        ({"rev": 5}, "'rev' must be a str"),
        ({"time": None}, "'time' must be a str"),
        ({"repo": None}, "'repo'"),
        ({"blobs": {}}, "'blobs'"),
        ({"prevData": b"x"}, "'prevData'"),
    ],
)
def test_malformed_commit_bodies_raise_frame_decode_error(
    extra: dict[str, Any], match: str
) -> None:
    with pytest.raises(FrameDecodeError, match=match):
        decode_frame(commit_frame(4, [], extra=extra))


#: A seq written with 8 bytes, replaced in the encoded frame by the items below (which
#: `encode_dag_cbor` refuses to write or which are negative).
SEQ_PLACEHOLDER = 2**62 + 12345
SEQ_BYTES = b"\x1b" + SEQ_PLACEHOLDER.to_bytes(8, "big")
OUT_OF_RANGE_SEQS = [
    pytest.param(b"\x1b\x80" + bytes(7), id="2**63"),
    pytest.param(b"\x1b" + b"\xff" * 8, id="2**64-1"),
    pytest.param(b"\x20", id="-1"),
    pytest.param(b"\x3b\x7f" + b"\xff" * 7, id="-2**63"),
]


def _with_seq(message: bytes, seq_item: bytes) -> bytes:
    assert message.count(SEQ_BYTES) == 1
    return message.replace(SEQ_BYTES, seq_item)


def _frames_with_a_seq() -> list[Any]:
    return [
        # The layout relays write: read by the direct commit reader.
        pytest.param(commit_frame(SEQ_PLACEHOLDER, []), id="commit-usual-layout"),
        # Another key: decoded the general way.
        pytest.param(commit_frame(SEQ_PLACEHOLDER, [], extra={"x": 1}), id="commit-general"),
        pytest.param(identity_frame(SEQ_PLACEHOLDER), id="identity"),
        pytest.param(frame("#labels", {"seq": SEQ_PLACEHOLDER, "labels": []}), id="labels"),
        pytest.param(frame("#shiny", {"seq": SEQ_PLACEHOLDER}), id="unknown-type"),
        pytest.param(frame("", {"seq": SEQ_PLACEHOLDER}, op=2), id="unknown-op"),
    ]


@pytest.mark.parametrize("seq_item", OUT_OF_RANGE_SEQS)
@pytest.mark.parametrize("message", _frames_with_a_seq())
def test_seq_outside_0_to_2_63_is_a_frame_decode_error(message: bytes, seq_item: bytes) -> None:
    # Such a seq would become a cursor that drops every later event as a replay.
    with pytest.raises(FrameDecodeError, match=r"'seq' is outside 0 \.\. 2\*\*63-1"):
        decode_frame(_with_seq(message, seq_item))


@pytest.mark.parametrize("message", _frames_with_a_seq())
def test_seq_at_the_ends_of_its_range_is_accepted(message: bytes) -> None:
    for seq, item in ((2**63 - 1, b"\x1b\x7f" + b"\xff" * 7), (0, b"\x00")):
        event = decode_frame(_with_seq(message, item))
        assert event.seq == seq  # type: ignore[union-attr]


def test_frame_size_limit_is_checked_first() -> None:
    data = identity_frame(1)
    with pytest.raises(FrameDecodeError, match="above the limit"):
        decode_frame(data, max_frame_size=len(data) - 1)
    assert isinstance(decode_frame(data, max_frame_size=len(data)), Identity)


def test_ops_limit() -> None:
    records = [("create", f"app.bsky.feed.post/{i}", post(str(i))) for i in range(4)]
    data = commit_frame(1, records)
    with pytest.raises(FrameDecodeError, match="4 ops, above the limit of 3"):
        decode_frame(data, max_ops=3)
    assert len(decode_frame(data, max_ops=4).ops) == 4  # type: ignore[union-attr]


def test_blocks_size_limit() -> None:
    data = commit_frame(1, [("create", "app.bsky.feed.post/1", post("x" * 500))])
    with pytest.raises(FrameDecodeError, match=r"'blocks' has .* above the limit of 100"):
        decode_frame(data, max_blocks_size=100)


def test_optional_commit_fields_default() -> None:
    data = commit_frame(1, [], extra={"blobs": None})
    event = decode_frame(data)
    assert isinstance(event, Commit)
    assert event.blobs == [] and event.prev_data is None and event.since is None


def test_events_are_frozen() -> None:
    event = decode_frame(identity_frame(1))
    with pytest.raises(AttributeError):
        event.seq = 2  # type: ignore[misc]
    op = RepoOp("create", "a.b/c", "a.b", "c", "at://d/a.b/c", None)
    assert op.record is None


def test_import_stream_stays_light() -> None:
    code = (
        "import sys, json, atproto_async.stream\n"
        "print(json.dumps([m for m in sys.modules if m.startswith(('websockets', "
        "'atproto_async.models', 'aiohttp'))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []
