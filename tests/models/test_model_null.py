"""``null`` only where the lexicon says ``nullable``: refused by ``from_dict``, naming the field.

Before, ``from_dict`` kept the ``None`` and the model failed later (``to_dict`` raised
``TypeError`` on ``langs: null``) or held ``None`` where its type says it cannot. A required
scalar is the one exception (see ``_read_field`` in atproto_async._codegen.render_models): it is
stored as read, like a scalar of another wrong type, and written back unchanged.
Spec: https://atproto.com/specs/lexicon#nullable-and-optional
"""

from __future__ import annotations

from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.models import record_from_dict
from atproto_async.models.com.atproto.repo.get_record import GetRecordOutput
from atproto_async.models.com.atproto.repo.put_record import PutRecordInput
from atproto_async.models.com.atproto.sync.subscribe_repos import RepoOp

POST: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "hello",
    "createdAt": "2024-11-25T08:00:00.000Z",
}
REF = {"uri": "at://did:plc:a/app.bsky.feed.post/3k", "cid": "bafyreia"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # optional primitive array (to_dict used to raise TypeError on it), optional scalar
        ({**POST, "langs": None}, "app.bsky.feed.post: langs: null is not allowed"),
        ({**POST, "tags": None}, "app.bsky.feed.post: tags: null is not allowed"),
        # optional reference, union, array of objects
        ({**POST, "reply": None}, "app.bsky.feed.post: reply: null is not allowed"),
        ({**POST, "embed": None}, "app.bsky.feed.post: embed: null is not allowed"),
        ({**POST, "facets": None}, "app.bsky.feed.post: facets: null is not allowed"),
        # a required reference, one object down
        (
            {**POST, "reply": {"root": None, "parent": REF}},
            "app.bsky.feed.post#replyRef: root: null is not allowed",
        ),
        # required array and reference in an array item
        (
            {**POST, "facets": [{"index": {"byteStart": 0, "byteEnd": 1}, "features": None}]},
            "app.bsky.richtext.facet: features: null is not allowed",
        ),
        (
            {**POST, "facets": [{"index": None, "features": []}]},
            "app.bsky.richtext.facet: index: null is not allowed",
        ),
    ],
)
def test_null_in_a_field_that_is_not_nullable_is_refused(data: Any, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        record_from_dict(data)
    assert str(info.value) == message


def test_null_in_a_method_body_names_the_body() -> None:
    raw = {"uri": "at://did:plc:a/app.bsky.feed.post/3k", "cid": None, "value": POST}
    with pytest.raises(DecodeError, match=r"^com\.atproto\.repo\.getRecord#output: cid: null"):
        GetRecordOutput.from_dict(raw)
    with pytest.raises(DecodeError, match=r"getRecord#output: value: null is not allowed"):
        GetRecordOutput.from_dict({**raw, "cid": "bafyreia", "value": None})


def test_nullable_fields_take_null_and_write_it_back() -> None:
    op = {"action": "delete", "path": "app.bsky.feed.post/3k", "cid": None}
    assert RepoOp.from_dict(op).cid is None
    assert RepoOp.from_dict(op).to_dict() == op
    body = {
        "repo": "did:plc:a",
        "collection": "app.bsky.feed.post",
        "rkey": "3k",
        "record": POST,
        "swapRecord": None,
    }
    assert PutRecordInput.from_dict(body).swap_record is None
    assert PutRecordInput.from_dict(body).to_dict() == body


def test_null_in_a_required_scalar_is_kept_as_read() -> None:
    data = {**POST, "text": None}
    post = record_from_dict(data)
    assert post.text is None
    assert post.to_dict() == data


def test_null_in_an_unknown_field_is_kept() -> None:
    data = {**POST, "futureField": None}
    post = record_from_dict(data)
    assert post.extra == {"futureField": None}
    assert post.to_dict() == data


def test_the_error_does_not_repeat_values() -> None:
    secret = "hunter2-secret-value"
    with pytest.raises(DecodeError) as info:
        record_from_dict({**POST, "text": secret, "langs": None})  # text before langs
    assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # an array of strings (stored as read before: to_dict wrote the null back)
        ({**POST, "langs": ["en", None]}, "app.bsky.feed.post: langs[1]: null is not allowed"),
        ({**POST, "tags": [None]}, "app.bsky.feed.post: tags[0]: null is not allowed"),
        # an array of objects, and a required array one object down
        ({**POST, "facets": [None]}, "app.bsky.feed.post: facets[0]: null is not allowed"),
        (
            {**POST, "facets": [{"index": {"byteStart": 0, "byteEnd": 1}, "features": [None]}]},
            "app.bsky.richtext.facet: features[0]: null is not allowed",
        ),
        # an array inside a union member
        (
            {**POST, "embed": {"$type": "app.bsky.embed.images", "images": [None]}},
            "app.bsky.embed.images: images[0]: null is not allowed",
        ),
    ],
)
def test_null_item_in_an_array_is_refused_with_its_index(data: Any, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        record_from_dict(data)
    assert str(info.value) == message


def test_null_item_in_a_record_held_by_a_body_is_refused_when_it_is_read() -> None:
    # The record a body holds is built when first read (lazy record fields).
    output = GetRecordOutput.from_dict(
        {"uri": "at://did:plc:a/x/y", "value": {**POST, "langs": [None]}}
    )
    with pytest.raises(DecodeError) as info:
        _ = output.value
    assert str(info.value) == "app.bsky.feed.post: langs[0]: null is not allowed"


def test_arrays_without_null_items_are_kept_as_read() -> None:
    data = {**POST, "langs": ["en", "pt"], "tags": []}
    post = record_from_dict(data)
    assert post.langs == ["en", "pt"]
    assert post.to_dict() == data


def test_null_item_error_names_the_first_null() -> None:
    from atproto_async._model import null_item

    error = null_item("app.bsky.feed.post", "langs", ["en", "de", None, None])
    assert str(error) == "app.bsky.feed.post: langs[2]: null is not allowed"
