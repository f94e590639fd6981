"""``from_dict`` builds instances through mutable twins: they must match ``__init__``-built ones.

Generated ``from_dict`` methods (and `Blob.from_dict`) skip attrs' frozen ``__init__`` for speed:
they fill an instance of a twin class and then assign it the real class
(``atproto_async._model.mutable_twin``). These tests check that nothing observable changes:
every field is set as the keyword ``__init__`` would set it (``typed``, ``extra`` and `UNSET`
defaults included), and the instances stay frozen, comparable, picklable and evolvable.
"""

from __future__ import annotations

import copy
import dis
import importlib
import json
import pickle
import pkgutil
from pathlib import Path
from typing import Any, cast

import attrs
import pytest

import atproto_async.models as models_package
from atproto_async._model import TWINS, Blob, Model, UnknownMember, mutable_twin
from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, from_json
from atproto_async.models import UNSET, record_from_dict
from atproto_async.models.app.bsky.feed.get_timeline import Output as TimelineOutput
from atproto_async.models.app.bsky.feed.like import Like
from atproto_async.models.app.bsky.feed.post import Post, ReplyRef
from atproto_async.models.com.atproto.repo.strong_ref import StrongRef

DATA = Path(__file__).parent / "data"
RECORDS: list[dict[str, Any]] = from_json(
    json.loads((DATA / "records.json").read_text(encoding="utf-8"))
)
TIMELINE: dict[str, Any] = from_json(
    json.loads((DATA / "timeline.json").read_text(encoding="utf-8"))
)
BLOB_CID = "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"
REF = {"uri": "at://did:plc:abc/app.bsky.feed.post/3k", "cid": "bafyreia"}
POST: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "hello",
    "createdAt": "2024-11-25T08:00:00.000Z",
    "langs": ["en"],
    "reply": {"$type": "app.bsky.feed.post#replyRef", "root": REF, "parent": REF, "x": 1},
    "futureField": {"kept": True},
}


def rebuild(value: Any) -> Any:
    """The same value with every model rebuilt through its public keyword ``__init__``."""
    if isinstance(value, list):
        return [rebuild(v) for v in value]
    if isinstance(value, Model) and attrs.has(type(value)):
        fields = attrs.fields(cast(Any, type(value)))
        return type(value)(**{a.alias: rebuild(getattr(value, a.name)) for a in fields})
    return value


def assert_same(fast: Any, slow: Any) -> None:
    """Same class and every attrs field identical, including ``eq=False`` ones (``typed``)."""
    assert type(fast) is type(slow)
    if isinstance(fast, list):
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow, strict=True):
            assert_same(f, s)
    elif isinstance(fast, Model) and attrs.has(type(fast)):
        for a in attrs.fields(cast(Any, type(fast))):
            assert_same(getattr(fast, a.name), getattr(slow, a.name))
    else:
        assert fast == slow


@pytest.mark.parametrize("record", RECORDS, ids=[r["$type"] for r in RECORDS])
def test_records_match_init_built(record: dict[str, Any]) -> None:
    fast = record_from_dict(record)
    slow = rebuild(fast)
    assert fast == slow
    assert_same(fast, slow)
    assert repr(fast) == repr(slow)


def test_timeline_matches_init_built() -> None:
    fast = TimelineOutput.from_dict(TIMELINE)
    slow = rebuild(fast)
    assert fast == slow
    assert_same(fast, slow)


def test_post_fields_as_init_sets_them() -> None:
    post = Post.from_dict(POST)
    expected = Post(
        text="hello",
        created_at="2024-11-25T08:00:00.000Z",
        langs=["en"],
        reply=ReplyRef(
            root=StrongRef(uri=REF["uri"], cid=REF["cid"]),
            parent=StrongRef(uri=REF["uri"], cid=REF["cid"]),
            typed=True,
            extra={"x": 1},
        ),
        extra={"futureField": {"kept": True}},
    )
    assert_same(post, expected)
    assert post.entities is UNSET
    assert post.facets is UNSET
    assert post.embed is UNSET
    assert post.labels is UNSET
    assert post.tags is UNSET
    assert isinstance(post.reply, ReplyRef)
    assert post.reply.typed is True
    assert post.reply.root.typed is False
    assert post.reply.root.extra is None


@pytest.mark.parametrize(
    "data",
    [
        {"$type": "blob", "ref": CID.decode(BLOB_CID), "mimeType": "image/png", "size": 3},
        {"cid": BLOB_CID, "mimeType": "image/png"},
    ],
    ids=["blob", "legacy-blob"],
)
def test_blob_matches_init_built(data: dict[str, Any]) -> None:
    blob = Blob.from_dict(data)
    assert_same(blob, rebuild(blob))
    assert pickle.loads(pickle.dumps(blob)) == blob
    assert blob.to_dict() == data


def test_fast_built_instances_are_frozen() -> None:
    post = Post.from_dict(POST)
    reply: Any = post.reply
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        post.text = "x"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del post.text
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        reply.typed = False
    assert post.text == "hello"


def test_fast_built_instances_pickle_and_copy_round_trip() -> None:
    post = Post.from_dict(POST)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(post, protocol))
        assert again == post
        assert_same(again, post)
    assert_same(copy.copy(post), post)
    assert_same(copy.deepcopy(post), post)
    timeline = TimelineOutput.from_dict(TIMELINE)
    assert_same(pickle.loads(pickle.dumps(timeline)), timeline)


def test_fast_built_instances_evolve() -> None:
    post = Post.from_dict(POST)
    changed = attrs.evolve(post, text="changed")
    assert changed.text == "changed"
    assert changed.reply == post.reply
    assert changed.extra == post.extra
    assert changed.tags is UNSET
    assert changed != post
    assert attrs.evolve(post) == post


def test_fast_built_instances_hash_like_init_built() -> None:
    like = Like.from_dict({"$type": "app.bsky.feed.like", "subject": REF, "createdAt": "t"})
    same = Like(subject=StrongRef(uri=REF["uri"], cid=REF["cid"]), created_at="t")
    assert like == same
    assert hash(like) == hash(same)
    assert {like, same} == {like}


def test_missing_and_malformed_fields_still_raise_decode_errors() -> None:
    with pytest.raises(
        DecodeError, match=r"^app\.bsky\.feed\.post: missing required field 'text'$"
    ):
        Post.from_dict({"createdAt": "t"})
    with pytest.raises(
        DecodeError, match=r"^com\.atproto\.repo\.strongRef: missing required field 'cid'$"
    ):
        Post.from_dict({**POST, "reply": {"root": REF, "parent": {"uri": "at://x"}}})
    with pytest.raises(
        DecodeError, match=r"^app\.bsky\.feed\.post: malformed data \(AttributeError"
    ):
        Post.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match=r"^union member: expected an object"):
        Post.from_dict({**POST, "embed": {"no": "type"}})


def test_subclass_without_new_fields_builds_itself() -> None:
    class MyPost(Post):
        __slots__ = ()

    post = MyPost.from_dict(POST)
    assert type(post) is MyPost
    assert post.text == "hello"
    assert post.reply == Post.from_dict(POST).reply


def _generated_classes() -> list[Any]:
    found: list[Any] = []
    for info in pkgutil.walk_packages(models_package.__path__, models_package.__name__ + "."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Model) and attrs.has(value):
                found.append(value)
    return found


def test_every_generated_from_dict_sets_every_field_in_order() -> None:
    # from_dict stores every attrs field on the twin, in attrs.fields order (so a missing key
    # is reported for the same field as the keyword __init__ would); a field left out would
    # leave its slot empty.
    classes = _generated_classes()
    assert len(classes) > 500
    for cls in classes:
        code = cls.from_dict.__func__.__code__
        stored = [
            i.argval
            for i in dis.get_instructions(code)
            if i.opname == "STORE_ATTR" and i.argval != "__class__"
        ]
        assert stored == [a.name for a in attrs.fields(cls)], cls.__qualname__


def test_twins_of_generated_classes_are_siblings_and_others_subclasses() -> None:
    twin = mutable_twin(Post)
    assert not issubclass(twin, Post) and twin.__slots__ == Post.__slots__
    assert TWINS[Post] is TWINS[Post]

    @attrs.frozen(slots=True)  # a __weakref__ slot: CPython refuses a sibling's __class__
    class Weak(Model):
        a: int

    weak_twin = mutable_twin(Weak)
    assert issubclass(weak_twin, Weak)
    instance: Any = object.__new__(weak_twin)
    instance.a = 1
    instance.__class__ = Weak
    assert instance == Weak(a=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        instance.a = 2


def test_unknown_member_is_kept_unchanged() -> None:
    post = Post.from_dict({**POST, "embed": {"$type": "x.y.z", "a": 1}})
    assert post.embed == UnknownMember(type="x.y.z", data={"$type": "x.y.z", "a": 1})
