"""Fields that hold a whole record (``getRecord``, ``listRecords``, views): typed, lossless.

The lexicons declare these fields ``unknown``; ``_codegen.records`` lists the ones that hold
records, and the models build them with ``RECORDS.from_dict`` as the firehose does: a field
holding one record builds it when first read (a page of feed views holds one in each view).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import attrs
import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import from_json, to_json
from atproto_async.models import Model, UnknownRecord, record_from_dict
from atproto_async.models.app.bsky.embed.record import ViewRecord
from atproto_async.models.app.bsky.feed.defs import PostView
from atproto_async.models.app.bsky.feed.like import Like
from atproto_async.models.app.bsky.feed.post import Post
from atproto_async.models.com.atproto.repo import apply_writes
from atproto_async.models.com.atproto.repo.get_record import GetRecordOutput
from atproto_async.models.com.atproto.repo.list_records import ListRecordsOutput
from atproto_async.models.com.atproto.repo.strong_ref import StrongRef
from atproto_async.models.tools.ozone.setting.defs import Option

DATA = Path(__file__).parent / "data"
RECORDS = from_json(json.loads((DATA / "records.json").read_text(encoding="utf-8")))
POST = RECORDS[0]
UNKNOWN = next(r for r in RECORDS if r["$type"] == "com.example.unknown.record")
URI = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l6oveex3ii2l"
CID = "bafyreia3fvc2mqyhz3bkmmexvnvfhyrypvtrjkmtwg3xnjykllhhj7omfa"


def test_get_record_value_is_the_record_model() -> None:
    raw = {"uri": URI, "cid": CID, "value": POST}
    out = GetRecordOutput.from_dict(raw)
    assert isinstance(out.value, Post)
    assert out.value == record_from_dict(POST)
    assert out.to_dict() == raw
    assert to_json(out.to_dict()) == to_json(raw)


def test_get_record_of_an_unknown_type_is_an_unknown_record() -> None:
    raw = {"uri": "at://did:plc:a/com.example.unknown.record/1", "value": UNKNOWN}
    out = GetRecordOutput.from_dict(raw)
    assert isinstance(out.value, UnknownRecord)
    assert out.value.type == "com.example.unknown.record"
    assert out.to_dict() == raw


def test_list_records_values_are_typed_and_written_back_unchanged() -> None:
    raw = {
        "cursor": "3l6",
        "records": [
            {"uri": f"at://did:plc:a/{r['$type']}/{i}", "cid": CID, "value": r}
            for i, r in enumerate(RECORDS)
        ],
    }
    out = ListRecordsOutput.from_dict(raw)
    kinds = [type(r.value).__name__ for r in out.records]
    assert kinds[:5] == ["Post", "Post", "Post", "Profile", "Like"]
    assert kinds[-1] == "UnknownRecord"
    assert all(isinstance(r.value, Model) for r in out.records)
    assert out.to_dict() == raw
    assert to_json(out.to_dict()) == to_json(raw)


def test_embedded_record_view_value_is_typed() -> None:
    like = next(r for r in RECORDS if r["$type"] == "app.bsky.feed.like")
    raw = {
        "$type": "app.bsky.embed.record#viewRecord",
        "uri": URI,
        "cid": CID,
        "author": {"did": "did:plc:a", "handle": "a.test"},
        "value": like,
        "indexedAt": "2024-11-25T08:00:00.000Z",
    }
    view = ViewRecord.from_dict(raw)
    assert isinstance(view.value, Like)
    assert view.to_dict() == raw


def test_record_written_from_a_model_into_an_input_object() -> None:
    like = Like(subject=StrongRef(uri=URI, cid=CID), created_at="2024-11-25T08:00:00.000Z")
    create = apply_writes.Create(collection="app.bsky.feed.like", value=like)
    data = create.to_dict()
    assert data["value"] == like.to_dict()
    json.dumps(to_json(data))  # plain data all the way down
    assert apply_writes.Create.from_dict(data) == create


VIEW = {
    "uri": URI,
    "cid": CID,
    "author": {"did": "did:plc:a", "handle": "a.test"},
    "indexedAt": "2024-11-25T08:00:00.000Z",
}


def test_a_record_field_needs_a_record_when_it_is_read() -> None:
    assert isinstance(PostView.from_dict({**VIEW, "record": POST}).record, Post)
    no_type = PostView.from_dict({**VIEW, "record": {"text": "no type"}})
    with pytest.raises(DecodeError, match=r"\$type"):
        _ = no_type.record
    broken = PostView.from_dict({**VIEW, "record": {"$type": "app.bsky.feed.post", "text": "x"}})
    with pytest.raises(DecodeError, match=r"app\.bsky\.feed\.post: missing required field"):
        _ = broken.record
    with pytest.raises(DecodeError, match=r"postView: record: null is not allowed"):
        PostView.from_dict({**VIEW, "record": None})  # null is still refused at once


def test_a_record_field_is_built_once_when_first_read(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = Post.from_dict

    def counting(cls: type[Post], data: Any) -> Post:
        built.append(data["$type"])
        return real(data)

    monkeypatch.setattr(Post, "from_dict", classmethod(counting))
    view = PostView.from_dict({**VIEW, "record": POST})
    assert built == []
    assert view.record is view.record
    assert built == ["app.bsky.feed.post"]


def test_a_lazy_record_field_behaves_like_a_built_one() -> None:
    lazy = PostView.from_dict({**VIEW, "record": POST})
    built = PostView.from_dict({**VIEW, "record": POST})
    _ = built.record
    eager = attrs.evolve(built, record=record_from_dict(POST))
    assert lazy == built == eager
    assert PostView.from_dict({**VIEW, "record": POST}).to_dict() == {**VIEW, "record": POST}
    assert "record=Post(" in repr(PostView.from_dict({**VIEW, "record": POST}))
    assert pickle.loads(pickle.dumps(PostView.from_dict({**VIEW, "record": POST}))) == eager
    assert attrs.evolve(lazy, cid="x").record == record_from_dict(POST)
    assert GetRecordOutput(uri=URI, value=record_from_dict(POST)).value == record_from_dict(POST)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lazy.record = record_from_dict(POST)  # type: ignore[misc]


def test_unknown_fields_that_are_not_records_stay_plain_values() -> None:
    # A moderation setting's value is any JSON value, not a record (atproto_async._codegen.records).
    data: dict[str, Any] = {
        "key": "tools.ozone.setting.client.x",
        "did": "did:plc:a",
        "value": "plain",
        "scope": "instance",
        "createdBy": "did:plc:a",
        "lastUpdatedBy": "did:plc:a",
    }
    assert Option.from_dict(data).value == "plain"
    assert Option.from_dict(data).to_dict() == data
