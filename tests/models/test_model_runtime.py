"""The hand-written runtime under the generated models (atproto_async._model)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from typing import Any

import attrs
import pytest

from atproto_async import _model
from atproto_async._model import (
    UNSET,
    Blob,
    RecordRegistry,
    UnknownMember,
    UnknownRecord,
    dump,
    dump_member,
    expect_bytes,
    lazy_module,
)
from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID
from atproto_async.models import RECORDS
from atproto_async.models.app.bsky.richtext.facet import Link
from atproto_async.models.com.atproto.repo.strong_ref import StrongRef

CID_TEXT = "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"


def test_unset_is_falsy_singleton_distinct_from_none() -> None:
    assert not UNSET
    assert UNSET is not None
    assert repr(UNSET) == "UNSET"
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET


def test_blob_current_form() -> None:
    data = {"$type": "blob", "ref": CID.decode(CID_TEXT), "mimeType": "image/png", "size": 3}
    blob = Blob.from_dict(data)
    assert (blob.ref, blob.mime_type, blob.size, blob.legacy) == (
        data["ref"],
        "image/png",
        3,
        False,
    )
    assert blob.to_dict() == data


def test_blob_keeps_unknown_fields() -> None:
    data = {"$type": "blob", "ref": CID.decode(CID_TEXT), "mimeType": "a/b", "size": 1, "x": 2}
    assert Blob.from_dict(data).to_dict() == data


def test_blob_legacy_form_keeps_its_cid_string() -> None:
    data = {"cid": CID_TEXT, "mimeType": "image/jpeg"}
    blob = Blob.from_dict(data)
    assert blob.legacy
    assert blob.ref == CID.decode(CID_TEXT)
    assert blob.to_dict() == data


@pytest.mark.parametrize("data", [{"mimeType": "a/b"}, "blob", {"ref": "x"}])
def test_blob_rejects_malformed_data(data: Any) -> None:
    with pytest.raises(DecodeError, match="blob"):
        Blob.from_dict(data)


def test_unknown_member_requires_a_type() -> None:
    member = UnknownMember.from_dict({"$type": "x.y.z#w", "a": 1})
    assert member.type == "x.y.z#w"
    assert member.to_dict() == {"$type": "x.y.z#w", "a": 1}
    with pytest.raises(DecodeError, match=r"\$type"):
        UnknownMember.from_dict({"a": 1})
    with pytest.raises(DecodeError, match=r"\$type"):
        UnknownMember.from_dict([1])  # type: ignore[arg-type]


def test_dump_member_adds_type_only_when_missing() -> None:
    link = Link(uri="https://x")
    assert dump_member(link) == {"$type": "app.bsky.richtext.facet#link", "uri": "https://x"}
    assert dump_member({"plain": "dict"}) == {"plain": "dict"}
    unknown = UnknownMember(type="a.b.c", data={"$type": "a.b.c", "k": 1})
    assert dump_member(unknown) == {"$type": "a.b.c", "k": 1}


def test_dump_passes_dicts_and_converts_models() -> None:
    assert dump({"a": 1}) == {"a": 1}
    assert dump(StrongRef(uri="u", cid="c")) == {"uri": "u", "cid": "c"}
    assert dump(5) == 5


def test_expect_bytes() -> None:
    assert expect_bytes("x.y.z", b"ab") == b"ab"
    with pytest.raises(DecodeError, match=r"x\.y\.z: expected a binary body, got dict"):
        expect_bytes("x.y.z", {"a": 1})


def test_registry_imports_on_first_use_and_caches() -> None:
    registry = RecordRegistry(
        {"app.bsky.feed.like": "atproto_async.models.app.bsky.feed.like:Like"}
    )
    assert "app.bsky.feed.like" in registry
    assert len(registry) == 1
    assert list(registry) == ["app.bsky.feed.like"]
    cls = registry.get("app.bsky.feed.like")
    assert cls is not None and cls.__name__ == "Like"
    assert registry.get("app.bsky.feed.like") is cls
    assert registry.get("nope.nope.nope") is None


def test_generated_registry_knows_every_record() -> None:
    assert "app.bsky.feed.post" in RECORDS
    assert "com.atproto.lexicon.schema" in RECORDS
    assert len(RECORDS) >= 20
    for record_type in RECORDS:
        cls = RECORDS.get(record_type)
        assert cls is not None and record_type == cls.LEX_TYPE
        assert attrs.has(cls)


def test_unknown_record_holds_data() -> None:
    record = UnknownRecord.from_dict({"$type": "a.b.c", "v": 1})
    assert (record.type, record.data) == ("a.b.c", {"$type": "a.b.c", "v": 1})


def test_lazy_module_replaces_itself_on_first_use() -> None:
    namespace: dict[str, Any] = {}
    namespace["mod"] = lazy_module(namespace, "mod", "json")
    assert "lazy module 'json'" in repr(namespace["mod"])
    assert namespace["mod"].dumps([1]) == "[1]"
    assert namespace["mod"] is json


def test_invalid_message_names_the_missing_key_only() -> None:
    error = _model.invalid("a.b#c", KeyError("field"))
    assert str(error) == "a.b#c: missing required field 'field'"


def test_importing_models_loads_no_model_module() -> None:
    code = (
        "import sys, json, atproto_async.models\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('atproto_async.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = json.loads(out)
    assert [m for m in loaded if m.startswith("atproto_async.models.")] == []
    assert "atproto_async.api" not in loaded


def test_one_record_loads_only_what_it_references() -> None:
    code = (
        "import sys, json\n"
        "from atproto_async.models import record_from_dict\n"
        "record_from_dict({'$type': 'app.bsky.feed.like', 'createdAt': 't',"
        " 'subject': {'uri': 'u', 'cid': 'c'}})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('atproto_async.models.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = {m for m in json.loads(out) if m.count(".") >= 5}
    assert loaded == {
        "atproto_async.models.app.bsky.feed.like",
        "atproto_async.models.com.atproto.repo.strong_ref",
    }
