"""Generated models on real-shaped data: read, typed access, and written back unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, decode_dag_cbor, from_json, read_car, to_json
from atproto_async.models import UNSET, Blob, UnknownMember, UnknownRecord, record_from_dict
from atproto_async.models.app.bsky.actor.defs import ProfileViewDetailed
from atproto_async.models.app.bsky.embed import external, images, record_with_media
from atproto_async.models.app.bsky.feed import defs as feed_defs
from atproto_async.models.app.bsky.feed.get_timeline import Output as TimelineOutput
from atproto_async.models.app.bsky.feed.post import Post, ReplyRef
from atproto_async.models.app.bsky.richtext.facet import ByteSlice, Facet, Mention
from atproto_async.models.com.atproto.label.defs import Label, SelfLabel, SelfLabels
from atproto_async.models.com.atproto.repo.strong_ref import StrongRef
from tests.conftest import fixture_path

DATA = Path(__file__).parent / "data"


def load(name: str) -> Any:
    return from_json(json.loads((DATA / name).read_text(encoding="utf-8")))


RECORDS = load("records.json")


@pytest.mark.parametrize("record", RECORDS, ids=[r["$type"] for r in RECORDS])
def test_record_round_trip(record: dict[str, Any]) -> None:
    model = record_from_dict(record)
    assert model.to_dict() == record
    # The JSON form survives too (CIDs back to $link, bytes to $bytes).
    assert to_json(model.to_dict()) == to_json(record)


def test_timeline_round_trip_keeps_unknown_members_and_fields() -> None:
    raw = load("timeline.json")
    out = TimelineOutput.from_dict(raw)
    assert out.to_dict() == raw
    first, second, future, odd_reason = out.feed

    assert isinstance(first.post.embed, external.View)
    assert first.post.embed.external.title == "AT Protocol"
    assert first.post.like_count == 215
    assert first.post.author.handle == "atproto.com"
    assert first.post.author.associated is not UNSET
    assert first.post.labels is not UNSET
    label = first.post.labels[0]
    assert isinstance(label, Label)
    assert isinstance(label.sig, bytes)
    assert label.ver == 1

    embed = second.post.embed
    assert isinstance(embed, record_with_media.View)
    assert isinstance(embed.media, images.View)
    assert embed.media.images[0].aspect_ratio is not UNSET
    assert isinstance(second.reason, feed_defs.ReasonRepost)
    assert isinstance(second.reply, feed_defs.ReplyRef)
    assert isinstance(second.reply.root, feed_defs.NotFoundPost)
    assert isinstance(second.reply.parent, feed_defs.BlockedPost)
    assert second.post.author.extra == {"futureAuthorField": {"x": [1, 2]}}

    assert isinstance(future.post.embed, UnknownMember)
    assert future.post.embed.type == "app.bsky.embed.hologram#view"
    assert future.post.extra == {"futurePostField": True}
    assert isinstance(future.reason, feed_defs.ReasonPin)
    assert isinstance(odd_reason.reason, UnknownMember)


def test_timeline_record_field_is_the_record_model() -> None:
    raw = load("timeline.json")
    out = TimelineOutput.from_dict(raw)
    post = out.feed[0].post.record
    assert isinstance(post, Post)
    assert post.facets is not UNSET
    assert post.embed is not UNSET
    assert post == record_from_dict(raw["feed"][0]["post"]["record"])
    assert out.to_dict() == raw


def test_profile_view_round_trip() -> None:
    raw = load("profile.json")
    profile = ProfileViewDetailed.from_dict(raw)
    assert profile.to_dict() == raw
    assert profile.followers_count == 31000000
    assert profile.viewer is not UNSET
    assert profile.viewer.known_followers is not UNSET
    assert [f.handle for f in profile.viewer.known_followers.followers] == [
        "alice.test",
        "bob.test",
    ]
    assert profile.pinned_post == StrongRef(
        uri="at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l6oveex3ii2l",
        cid="bafyreia3fvc2mqyhz3bkmmexvnvfhyrypvtrjkmtwg3xnjykllhhj7omfa",
    )


def test_post_fields_are_typed_and_snake_case() -> None:
    post = record_from_dict(RECORDS[0])
    assert isinstance(post, Post)
    assert post.created_at == "2024-11-25T08:00:00.000Z"
    assert post.reply is UNSET
    assert post.facets is not UNSET
    facet = post.facets[0]
    assert facet.index == ByteSlice(byte_start=22, byte_end=33)
    assert facet.features == [Mention(did="did:plc:44ybard66vv44zksje25o7dz")]
    assert isinstance(post.embed, images.Images)
    blob = post.embed.images[0].image
    assert isinstance(blob, Blob)
    assert isinstance(blob.ref, CID)
    assert (blob.mime_type, blob.size, blob.legacy) == ("image/png", 1234, False)


def test_legacy_blob_is_read_and_written_back_in_its_form() -> None:
    post = record_from_dict(RECORDS[2])
    assert isinstance(post, Post)
    assert isinstance(post.embed, images.Images)
    blob = post.embed.images[0].image
    assert blob.legacy
    assert blob.size is None
    assert str(blob.ref) == "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"
    assert blob.to_dict() == RECORDS[2]["embed"]["images"][0]["image"]


def test_built_post_serialises_with_types() -> None:
    ref = StrongRef(uri="at://did:plc:x/app.bsky.feed.post/1", cid="bafyrei")
    post = Post(
        text="hi @a",
        created_at="2024-01-01T00:00:00Z",
        reply=ReplyRef(root=ref, parent=ref),
        facets=[
            Facet(index=ByteSlice(byte_start=3, byte_end=5), features=[Mention(did="did:plc:a")])
        ],
        labels=SelfLabels(values=[SelfLabel(val="nudity")]),
    )
    assert post.to_dict() == {
        "$type": "app.bsky.feed.post",
        "text": "hi @a",
        "createdAt": "2024-01-01T00:00:00Z",
        "reply": {"root": ref.to_dict(), "parent": ref.to_dict()},
        "facets": [
            {
                "index": {"byteStart": 3, "byteEnd": 5},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:a"}],
            }
        ],
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]},
    }
    assert record_from_dict(post.to_dict()) == post


def test_models_are_frozen_and_keyword_only() -> None:
    ref = StrongRef(uri="at://x", cid="c")
    with pytest.raises(AttributeError):
        ref.uri = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        StrongRef("at://x", "c")  # type: ignore[misc]


def test_equality_ignores_type_marker_but_not_unknown_fields() -> None:
    a = Mention.from_dict({"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:a"})
    assert a == Mention(did="did:plc:a")
    assert a.typed and not Mention(did="did:plc:a").typed
    assert hash(a) == hash(Mention(did="did:plc:a"))
    assert Mention.from_dict({"did": "did:plc:a", "x": 1}) != Mention(did="did:plc:a")
    assert "UNSET" not in repr(StrongRef(uri="u", cid="c"))
    assert repr(Label(src="did:plc:a", uri="at://u", val="x", cts="t")) == (
        "Label(src='did:plc:a', uri='at://u', val='x', cts='t')"
    )


def test_label_model_has_the_contract_fields() -> None:
    label = Label.from_dict(
        {
            "ver": 1,
            "src": "did:plc:a",
            "uri": "at://did:plc:b",
            "val": "spam",
            "neg": True,
            "cts": "2024-01-01T00:00:00Z",
            "exp": "2025-01-01T00:00:00Z",
            "sig": b"\x01\x02",
        }
    )
    assert (label.src, label.uri, label.val, label.neg, label.sig) == (
        "did:plc:a",
        "at://did:plc:b",
        "spam",
        True,
        b"\x01\x02",
    )
    assert label.cid is UNSET
    assert label.ver == 1


def test_unknown_record_type_never_raises() -> None:
    data = {"$type": "com.example.thing", "x": 1}
    record = record_from_dict(data)
    assert record == UnknownRecord(type="com.example.thing", data=data)
    assert record.to_dict() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"$type": "app.bsky.feed.post", "text": "no date"}, "missing required field 'createdAt'"),
        ({"text": "x"}, "'\\$type'"),
        ("not a record", "'\\$type'"),
        ({"$type": 5}, "must be a string"),
        (
            {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "t", "reply": "nope"},
            "app.bsky.feed.post#replyRef: malformed",
        ),
        (
            {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "t", "embed": {"a": 1}},
            "union member",
        ),
    ],
)
def test_bad_records_get_a_clear_error(data: Any, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        record_from_dict(data)


def test_errors_do_not_leak_values() -> None:
    secret = "hunter2-secret-value"
    with pytest.raises(DecodeError) as info:
        record_from_dict({"$type": "app.bsky.feed.post", "text": secret, "reply": secret})
    assert secret not in str(info.value)


def test_indigo_feed_post_cbor_round_trips() -> None:
    raw = fixture_path("indigo", "atproto", "atdata", "testdata", "feedpost_record.cbor")
    data = decode_dag_cbor(raw.read_bytes())
    post = record_from_dict(data)
    assert isinstance(post, Post)
    assert post.to_dict() == data


def _firehose_records() -> list[Any]:
    folder = fixture_path("indigo", "atproto", "repo", "testdata")
    records = []
    for path in sorted(folder.glob("firehose_commit_*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        car = read_car(from_json(body["blocks"]))
        for block in car.blocks.values():
            value = decode_dag_cbor(block)
            if isinstance(value, dict) and isinstance(value.get("$type"), str):
                records.append(value)
    return records


def test_live_firehose_records_round_trip() -> None:
    records = _firehose_records()
    assert records
    for data in records:
        model = record_from_dict(data)
        assert model.to_dict() == data


@pytest.mark.parametrize("spelling", ["app.bsky.embed.external", "app.bsky.embed.external#main"])
def test_union_member_type_is_written_back_as_spelled(spelling: str) -> None:
    # nsid and nsid#main name the same main definition; either spelling must come back as read.
    embed = {
        "$type": spelling,
        "external": {"uri": "https://example.com", "title": "t", "description": "d"},
    }
    data = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2024-01-01T00:00:00Z"}
    post = Post.from_dict({**data, "embed": embed})
    assert isinstance(post.embed, external.Main)
    assert post.embed.external.uri == "https://example.com"
    assert post.to_dict() == {**data, "embed": embed}
    assert Post.from_dict(post.to_dict()) == post
