"""``Model.validate()``: a generated model checked against its lexicon (atproto_async._model).

``from_dict`` checks the shape of data; ``validate`` checks what the lexicon says (lengths,
formats, union members), with the shared bundled catalog or one given.
Spec: https://atproto.com/specs/lexicon
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from atproto_async.exceptions import LexiconError, LexiconValidationError
from atproto_async.ipld import CID
from atproto_async.lexicon import Catalog
from atproto_async.models import Blob, UnknownMember, UnknownRecord, record_from_dict
from atproto_async.models.app.bsky.embed.defs import AspectRatio
from atproto_async.models.app.bsky.embed.images import Image, Images
from atproto_async.models.app.bsky.feed.post import Post
from atproto_async.models.com.atproto.repo.create_record import CreateRecordInput
from atproto_async.models.com.atproto.repo.get_record import GetRecordOutput
from atproto_async.models.com.atproto.repo.strong_ref import StrongRef

CREATED = "2024-11-25T08:00:00.000Z"
URI = "at://did:plc:a/app.bsky.feed.post/3k"
CID_TEXT = "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"


def _image(**changes: Any) -> Image:
    blob = Blob(ref=CID.decode(CID_TEXT), mime_type="image/png", size=10)
    return Image(**{"alt": "a cat", "image": blob, **changes})


def _post(**changes: Any) -> Post:
    return Post(**{"text": "hello", "created_at": CREATED, **changes})


def _path_of(model: Any, **kwargs: Any) -> str:
    with pytest.raises(LexiconValidationError) as info:
        model.validate(**kwargs)
    return info.value.path


def test_a_valid_post_passes_and_validate_returns_none() -> None:
    post = _post(langs=["en", "pt-BR"], embed=Images(images=[_image()]))
    assert post.validate() is None


def test_a_post_read_with_from_dict_validates() -> None:
    data = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": CREATED, "langs": ["en"]}
    assert record_from_dict(data).validate() is None


@pytest.mark.parametrize(
    ("post", "path", "reason"),
    [
        (_post(text="x" * 3001), "text", "at most 3000 bytes"),
        (_post(text="🐈" * 301), "text", "at most 300 graphemes"),
        (_post(text="e\u0301" * 301), "text", "at most 300 graphemes"),
        (_post(langs=["en", "not a language"]), "langs[1]", "valid language"),
        (_post(langs=["en"] * 4), "langs", "at most 3"),
        (_post(created_at="yesterday"), "createdAt", "datetime"),
    ],
)
def test_an_invalid_field_fails_with_its_path(post: Post, path: str, reason: str) -> None:
    with pytest.raises(LexiconValidationError) as info:
        post.validate()
    assert (info.value.path, info.value.lex_type) == (path, "app.bsky.feed.post")
    assert reason in info.value.reason


def test_a_wrong_embed_member_fails_with_its_path() -> None:
    not_a_type = UnknownMember(type="not a type", data={"$type": "not a type"})
    assert _path_of(_post(embed=not_a_type)) == "embed.$type"
    # An open union takes another object definition, which is then checked as that one.
    image_alone = UnknownMember(
        type="app.bsky.embed.images#image", data={"$type": "app.bsky.embed.images#image"}
    )
    assert _path_of(_post(embed=image_alone)) == "embed.image"
    assert _path_of(_post(embed=Images(images=[_image()] * 5))) == "embed.images"
    deep = _post(embed=Images(images=[_image(), _image(alt=7)]))
    assert _path_of(deep) == "embed.images[1].alt"


def test_an_object_definition_validates_against_its_def() -> None:
    assert _image().validate() is None
    assert _image(aspect_ratio=AspectRatio(width=4, height=3)).validate() is None
    with pytest.raises(LexiconValidationError) as info:
        _image(aspect_ratio=AspectRatio(width=0, height=3)).validate()
    assert (info.value.lex_type, info.value.path) == (
        "app.bsky.embed.images#image",
        "aspectRatio.width",
    )
    assert StrongRef(uri=URI, cid=CID_TEXT).validate() is None
    assert _path_of(StrongRef(uri="not a uri", cid=CID_TEXT)) == "uri"


def test_a_method_body_validates_against_the_method() -> None:
    body = CreateRecordInput(repo="did:plc:a", collection="app.bsky.feed.post", record=_post())
    assert body.validate() is None
    assert _path_of(CreateRecordInput(repo="did:plc:a", collection="no", record=_post())) == (
        "collection"
    )
    output = GetRecordOutput(uri=URI, value=_post())
    assert output.validate() is None
    assert _path_of(GetRecordOutput(uri="nope", value=_post())) == "uri"


def test_a_field_named_validate_is_renamed_so_the_method_stays() -> None:
    body = CreateRecordInput.from_dict(
        {"repo": "did:plc:a", "collection": "app.bsky.feed.post", "validate": False, "record": {}}
        | {"record": {"$type": "app.bsky.feed.post", "text": "", "createdAt": CREATED}}
    )
    assert body.validate_ is False
    assert body.to_dict()["validate"] is False
    assert body.validate() is None


def test_an_explicit_catalog_is_used() -> None:
    doc = {
        "lexicon": 1,
        "id": "com.atproto.repo.strongRef",
        "defs": {
            "main": {
                "type": "object",
                "required": ["uri"],
                "properties": {"uri": {"type": "string", "maxLength": 3}},
            }
        },
    }
    small = Catalog.from_documents([doc])
    assert _path_of(StrongRef(uri=URI, cid=CID_TEXT), catalog=small) == "uri"
    with pytest.raises(LexiconError, match=r"app\.bsky\.feed\.post"):
        _post().validate(catalog=small)


def test_unknown_records_and_members_validate_against_what_they_name() -> None:
    data = {"$type": "com.example.thing", "n": 1}
    with pytest.raises(LexiconValidationError, match="has no lexicon here"):
        UnknownRecord(type="com.example.thing", data=data).validate()
    doc = {
        "lexicon": 1,
        "id": "com.example.thing",
        "defs": {
            "main": {
                "type": "record",
                "key": "tid",
                "record": {"type": "object", "properties": {"n": {"type": "string"}}},
            }
        },
    }
    catalog = Catalog.from_documents([doc])
    assert _path_of(UnknownRecord(type="com.example.thing", data=data), catalog=catalog) == "n"
    assert (
        UnknownRecord(type="com.example.thing", data={**data, "n": "1"}).validate(catalog=catalog)
        is None
    )
    assert _path_of(UnknownMember(type="com.example.thing", data=data), catalog=catalog) == "n"


def test_a_blob_has_no_definition_of_its_own() -> None:
    with pytest.raises(TypeError, match="Blob has no lexicon definition of its own"):
        Blob(ref=CID.decode(CID_TEXT), mime_type="image/png", size=1).validate()


def test_legacy_blobs_pass_only_when_asked() -> None:
    legacy = Blob.from_dict({"cid": CID_TEXT, "mimeType": "image/png"})
    image = _image(image=legacy)
    with pytest.raises(LexiconValidationError):
        image.validate()
    assert image.validate(legacy_blobs=True) is None


def test_importing_and_building_models_does_not_import_the_lexicon_package() -> None:
    code = (
        "import sys\n"
        "from atproto_async.models.app.bsky.feed.post import Post\n"
        "Post(text='a', created_at='2024-11-25T08:00:00.000Z')\n"
        "assert 'atproto_async.lexicon' not in sys.modules, 'imported eagerly'\n"
        "Post(text='a', created_at='2024-11-25T08:00:00.000Z').validate()\n"
        "assert 'atproto_async.lexicon' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
