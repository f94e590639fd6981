"""Each validation rule of atproto_async.lexicon, with the path of the error asserted.

A small catalog declares one field per rule; every case starts from a valid record and
breaks one thing. Spec: https://atproto.com/specs/lexicon
"""

from __future__ import annotations

from typing import Any

import pytest

from atproto_async._model import Blob
from atproto_async.exceptions import LexiconError, LexiconValidationError
from atproto_async.ipld import CID, cid_for_raw, to_json
from atproto_async.lexicon import Catalog

CID_ = cid_for_raw(b"blob bytes")
LINK = CID.decode("bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq")

TEST = {
    "lexicon": 1,
    "id": "com.example.test",
    "defs": {
        "main": {
            "type": "record",
            "key": "tid",
            "record": {
                "type": "object",
                "required": ["text"],
                "nullable": ["maybe", "nullableRequired"],
                "properties": {
                    "text": {"type": "string", "maxLength": 12, "maxGraphemes": 5},
                    "short": {"type": "string", "minLength": 3, "minGraphemes": 2},
                    "count": {"type": "integer", "minimum": 1, "maximum": 10},
                    "choice": {"type": "integer", "enum": [1, 2, 3]},
                    "fixed": {"type": "integer", "const": 7},
                    "flag": {"type": "boolean", "const": True},
                    "plainFlag": {"type": "boolean"},
                    "color": {"type": "string", "enum": ["red", "green"]},
                    "known": {"type": "string", "knownValues": ["a", "b"]},
                    "literal": {"type": "string", "const": "x"},
                    "data": {"type": "bytes", "minLength": 1, "maxLength": 4},
                    "link": {"type": "cid-link"},
                    "image": {"type": "blob", "accept": ["image/*", "video/mp4"], "maxSize": 1000},
                    "anyBlob": {"type": "blob"},
                    "tags": {
                        "type": "array",
                        "minLength": 1,
                        "maxLength": 2,
                        "items": {"type": "string", "maxLength": 3},
                    },
                    "inner": {"type": "ref", "ref": "#inner"},
                    "maybe": {"type": "string"},
                    "nullableRequired": {"type": "string"},
                    "open": {"type": "union", "refs": ["#inner", "#other"]},
                    "closed": {"type": "union", "refs": ["#inner"], "closed": True},
                    "anyTyped": {"type": "union", "refs": []},
                    "extra": {"type": "unknown"},
                    "nothing": {"type": "null"},
                    "record": {"type": "ref", "ref": "com.example.other"},
                    "shared": {"type": "ref", "ref": "lex:com.example.defs#thing"},
                    "reason": {"type": "ref", "ref": "com.example.defs#reason"},
                    "tree": {"type": "ref", "ref": "#tree"},
                    "formats": {"type": "ref", "ref": "#formats"},
                },
            },
        },
        "inner": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
        "other": {"type": "object", "properties": {"b": {"type": "string"}}},
        "tree": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"type": "ref", "ref": "#tree"}},
            },
        },
        "formats": {
            "type": "object",
            "properties": {
                fmt: {"type": "string", "format": fmt}
                for fmt in (
                    "at-identifier",
                    "at-uri",
                    "cid",
                    "datetime",
                    "did",
                    "handle",
                    "language",
                    "nsid",
                    "record-key",
                    "tid",
                    "uri",
                )
            },
        },
        "flagged": {"type": "token", "description": "a token"},
    },
}
OTHER = {
    "lexicon": 1,
    "id": "com.example.other",
    "defs": {
        "main": {
            "type": "record",
            "key": "literal:self",
            "record": {"type": "object", "properties": {"n": {"type": "integer"}}},
        }
    },
}
DEFS = {
    "lexicon": 1,
    "id": "com.example.defs",
    "defs": {
        "thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
        "reason": {"type": "string", "knownValues": ["com.example.defs#spam"], "maxLength": 64},
        "list": {"type": "array", "items": {"type": "integer"}, "maxLength": 2},
    },
}
METHODS = [
    {
        "lexicon": 1,
        "id": "com.example.query",
        "defs": {
            "main": {
                "type": "query",
                "parameters": {
                    "type": "params",
                    "required": ["q"],
                    "properties": {
                        "q": {"type": "string", "maxLength": 5},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                        "flags": {"type": "array", "items": {"type": "boolean"}},
                    },
                },
                "output": {
                    "encoding": "application/json",
                    "schema": {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {"type": "array", "items": {"type": "ref", "ref": "#item"}}
                        },
                    },
                },
            },
            "item": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
        },
    },
    {
        "lexicon": 1,
        "id": "com.example.upload",
        "defs": {
            "main": {
                "type": "procedure",
                "input": {"encoding": "*/*"},
                "output": {
                    "encoding": "application/json",
                    "schema": {"type": "ref", "ref": "com.example.defs#thing"},
                },
            }
        },
    },
    {
        "lexicon": 1,
        "id": "com.example.subscribe",
        "defs": {
            "main": {
                "type": "subscription",
                "parameters": {"type": "params", "properties": {"cursor": {"type": "integer"}}},
                "message": {"schema": {"type": "union", "refs": ["#one", "#two"]}},
            },
            "one": {
                "type": "object",
                "required": ["seq"],
                "properties": {"seq": {"type": "integer"}},
            },
            "two": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    },
]

VALID: dict[str, Any] = {
    "$type": "com.example.test",
    "text": "héllo",
    "short": "abc",
    "count": 10,
    "choice": 2,
    "fixed": 7,
    "flag": True,
    "plainFlag": False,
    "color": "red",
    "known": "anything at all",
    "literal": "x",
    "data": b"\x00\x01",
    "link": LINK,
    "image": {"$type": "blob", "ref": CID_, "mimeType": "image/png", "size": 1000},
    "anyBlob": {"$type": "blob", "ref": CID_, "mimeType": "application/x-anything", "size": 9},
    "tags": ["a", "bcd"],
    "inner": {"a": 1},
    "maybe": None,
    "nullableRequired": None,
    "open": {"$type": "com.example.test#other", "b": "x"},
    "closed": {"$type": "com.example.test#inner", "a": 2},
    "anyTyped": {"$type": "org.elsewhere.thing", "whatever": [1, {"x": LINK}]},
    "extra": {"nested": {"data": b"x", "link": LINK}},
    "nothing": None,
    "record": {"$type": "com.example.other", "n": 1},
    "shared": {"id": "x"},
    "reason": "com.example.defs#spam",
    "tree": {"name": "root", "children": [{"name": "a", "children": [{"name": "b"}]}]},
    "formats": {
        "at-identifier": "alice.example.com",
        "at-uri": "at://did:plc:abc/app.bsky.feed.post/3k2yihcrp6f2c",
        "cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq",
        "datetime": "2024-02-29T23:59:59.123456+05:30",
        "did": "did:web:example.com",
        "handle": "alice.example.com",
        "language": "pt-BR",
        "nsid": "com.example.thing",
        "record-key": "self",
        "tid": "3kznmn7xqxl22",
        "uri": "https://example.com/a?b#c",
    },
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_documents([TEST, OTHER, DEFS, *METHODS])


def with_(**changes: Any) -> dict[str, Any]:
    data = dict(VALID)
    for key, value in changes.items():
        if value is _DROP:
            del data[key]
        else:
            data[key] = value
    return data


_DROP = object()


def fails(catalog: Catalog, data: Any, path: str, match: str, **kwargs: Any) -> None:
    with pytest.raises(LexiconValidationError, match=match or None) as info:
        catalog.validate_record(data, **kwargs)
    assert info.value.path == path
    assert info.value.lex_type == kwargs.get("collection", "com.example.test")


def test_the_valid_record_passes_in_both_forms(catalog: Catalog) -> None:
    catalog.validate_record(VALID)
    catalog.validate_record(to_json(VALID))
    catalog.validate_record(VALID, collection="com.example.test", rkey="3kznmn7xqxl22")


CASES = [
    # required, nullable, unknown fields
    ({"text": _DROP}, "text", "is required"),
    ({"text": None}, "text", "must be a string, not null"),
    ({"short": None}, "short", "not null"),
    ({"nothing": 0}, "nothing", "must be null, not an integer"),
    # strings: UTF-8 bytes, graphemes, const, enum
    ({"text": "é" * 7}, "text", "at most 12 bytes, has 14"),
    ({"text": "abcdef"}, "text", "at most 5 graphemes, has 6"),
    ({"short": "ab"}, "short", "at least 3 bytes, has 2"),
    ({"short": "\U0001f469\u200d\U0001f469\u200d\U0001f466"}, "short", "at least 2 graphemes"),
    ({"color": "blue"}, "color", "one of \\['green', 'red'\\]"),
    ({"literal": "y"}, "literal", "must be 'x'"),
    ({"known": 3}, "known", "must be a string, not an integer"),
    # integers and booleans
    ({"count": 0}, "count", "at least 1, got 0"),
    ({"count": 11}, "count", "at most 10, got 11"),
    ({"count": True}, "count", "must be an integer, not a boolean"),
    ({"count": 2.0}, "count", "not a float"),
    ({"choice": 4}, "choice", "one of \\[1, 2, 3\\]"),
    ({"fixed": 8}, "fixed", "must be 7"),
    ({"flag": False}, "flag", "must be true"),
    ({"plainFlag": 0}, "plainFlag", "must be a boolean"),
    # bytes and links
    ({"data": b""}, "data", "at least 1 bytes, has 0"),
    ({"data": b"12345"}, "data", "at most 4 bytes, has 5"),
    ({"data": "AAE"}, "data", "must be bytes, not a string"),
    ({"data": {"$bytes": "!!"}}, "data", "not valid bytes"),
    ({"link": str(LINK)}, "link", "must be a CID link, not a string"),
    ({"link": {"$link": "bafynotacid"}}, "link", "not a valid CID link"),
    ({"link": {"$link": str(LINK), "x": 1}}, "link", "not a valid CID link"),
    # blobs
    ({"image": {**VALID["image"], "mimeType": "text/plain"}}, "image.mimeType", "not accepted"),
    ({"image": {**VALID["image"], "size": 1001}}, "image.size", "maximum of 1000"),
    ({"image": {**VALID["image"], "size": -1}}, "image.size", "a size in bytes"),
    ({"image": {**VALID["image"], "ref": str(CID_)}}, "image.ref", "must be a CID link"),
    ({"image": {**VALID["image"], "mimeType": ""}}, "image.mimeType", "a MIME type"),
    ({"image": {"cid": str(CID_), "mimeType": "image/png"}}, "image", "legacy blob"),
    ({"image": "blob"}, "image", "must be a blob, not a string"),
    # arrays
    ({"tags": []}, "tags", "at least 1 items, has 0"),
    ({"tags": ["a", "b", "c"]}, "tags", "at most 2 items, has 3"),
    ({"tags": ["a", "toolong"]}, "tags[1]", "at most 3 bytes"),
    ({"tags": ("a",)}, "tags", "must be an array, not tuple"),
    # objects and refs
    ({"inner": {}}, "inner.a", "is required"),
    ({"inner": {"a": "1"}}, "inner.a", "must be an integer"),
    ({"inner": {"$link": str(LINK)}}, "inner", "must be an object, not a CID link"),
    ({"inner": [1]}, "inner", "must be an object, not an array"),
    ({"shared": {"id": 1}}, "shared.id", "must be a string"),
    ({"reason": "x" * 65}, "reason", "at most 64 bytes"),
    ({"record": {"n": 1}}, "record.$type", "must be 'com.example.other'"),
    (
        {"tree": {"children": [{"children": [{"name": 5}]}]}},
        "tree.children[0].children[0].name",
        "",
    ),
    # unions
    ({"open": {"b": "x"}}, "open.$type", "is required"),
    ({"open": {"$type": 5}}, "open.$type", "must be a string, not an integer"),
    ({"open": {"$type": "com.example.test#other", "b": 1}}, "open.b", "must be a string"),
    ({"open": {"$type": "com.example.test#inner"}}, "open.a", "is required"),
    ({"open": {"$type": "not a type"}}, "open.$type", "is not a type name"),
    ({"open": {"$type": "com.example.other#main"}}, "open.$type", "without '#main'"),
    ({"open": [1]}, "open", "must be an object with a '\\$type'"),
    ({"closed": {"$type": "com.example.test#other"}}, "closed.$type", "closed union"),
    ({"anyTyped": {"x": 1}}, "anyTyped.$type", "is required"),
    ({"anyTyped": {"$type": "org.x.y", "f": 1.5}}, "anyTyped.f", "not a data-model value"),
    # unknown must be an object, and its contents data-model values
    ({"extra": False}, "extra", "must be an object, not a boolean"),
    ({"extra": b"x"}, "extra", "must be an object, not bytes"),
    ({"extra": {"$bytes": "AAE"}}, "extra", "must be an object, not bytes"),
    ({"extra": {"$link": str(LINK)}}, "extra", "must be an object, not a CID link"),
    ({"extra": dict(VALID["image"])}, "extra", "not a blob"),
    ({"extra": {"a": [1, {"b": 1.5}]}}, "extra.a[1].b", "floats are not in the data model"),
    ({"extra": {"a": {"$link": "nope"}}}, "extra.a", "not a valid CID link"),
    ({"extra": {"a": {"$type": "blob", "ref": CID_, "size": 1}}}, "extra.a.mimeType", "MIME"),
    # string formats
    ({"formats": {"did": "did:Web:x"}}, "formats.did", "must be a valid did"),
    ({"formats": {"handle": "-bad.example"}}, "formats.handle", "must be a valid handle"),
    ({"formats": {"at-identifier": "x"}}, "formats.at-identifier", "valid at-identifier"),
    ({"formats": {"at-uri": "at://x/y"}}, "formats.at-uri", "must be a valid at-uri"),
    ({"formats": {"cid": "Qm"}}, "formats.cid", "must be a valid cid"),
    ({"formats": {"datetime": "2023-02-29T00:00:00Z"}}, "formats.datetime", "day 29"),
    ({"formats": {"datetime": "2024-01-01T00:00:00"}}, "formats.datetime", "timezone"),
    ({"formats": {"language": "english!"}}, "formats.language", "valid language"),
    ({"formats": {"nsid": "com.example"}}, "formats.nsid", "must be a valid nsid"),
    ({"formats": {"record-key": ".."}}, "formats.record-key", "valid record-key"),
    ({"formats": {"tid": "3kznmn7xqxl2"}}, "formats.tid", "must be a valid tid"),
    ({"formats": {"uri": "no scheme"}}, "formats.uri", "must be a valid uri"),
]


@pytest.mark.parametrize(("changes", "path", "match"), CASES, ids=[c[1] for c in CASES])
def test_each_rule_fails_with_its_path(
    catalog: Catalog, changes: dict[str, Any], path: str, match: str
) -> None:
    fails(catalog, with_(**changes), path, match)


def test_unknown_fields_are_allowed_and_known_values_stay_open(catalog: Catalog) -> None:
    catalog.validate_record(with_(somethingNew={"any": 1.5}, known="not listed"))


def test_open_union_accepts_unknown_types_and_checks_known_ones(catalog: Catalog) -> None:
    catalog.validate_record(with_(open={"$type": "org.elsewhere.thing#view", "z": [b"x"]}))
    # A type the catalog knows, though the union does not list it, is checked against it.
    catalog.validate_record(with_(open={"$type": "com.example.other", "n": 1}))
    fails(catalog, with_(open={"$type": "com.example.other", "n": "1"}), "open.n", "an integer")
    fails(catalog, with_(open={"$type": "com.example.defs#thing"}), "open.id", "is required")


def test_blob_forms(catalog: Catalog) -> None:
    model = Blob(ref=CID_, mime_type="image/jpeg", size=10)
    catalog.validate_record(with_(image=model))
    catalog.validate_record(with_(image={**VALID["image"], "ref": {"$link": str(CID_)}}))
    catalog.validate_record(
        with_(anyBlob={"$type": "blob", "ref": CID_, "mimeType": "a", "size": 0})
    )
    catalog.validate_record(with_(image={**VALID["image"], "mimeType": "video/mp4"}))
    legacy = {"cid": str(CID_), "mimeType": "image/png"}
    catalog.validate_record(with_(image=legacy), legacy_blobs=True)
    catalog.validate_record(with_(image=Blob.from_dict(legacy)), legacy_blobs=True)
    fails(catalog, with_(image=Blob.from_dict(legacy)), "image", "legacy blob")
    bad = {"cid": "nope", "mimeType": "image/png"}
    fails(catalog, with_(image=bad), "image.cid", "not a CID", legacy_blobs=True)


def test_record_type_collection_and_key(catalog: Catalog) -> None:
    fails(catalog, VALID, "$type", "does not match the collection", collection="com.example.x")
    with pytest.raises(LexiconValidationError, match="record key 'self' must be a TID"):
        catalog.validate_record(VALID, rkey="self")
    with pytest.raises(LexiconValidationError, match="not a valid record key"):
        catalog.validate_record(VALID, rkey="a/b")
    catalog.validate_record({"$type": "com.example.other"}, rkey="self")
    with pytest.raises(LexiconValidationError, match="must be 'self'"):
        catalog.validate_record({"$type": "com.example.other"}, rkey="other")


@pytest.mark.parametrize(
    ("data", "path", "match"),
    [
        ([], "", "a record must be an object, not an array"),
        ({"text": "x"}, "$type", "needs a string '\\$type'"),
        ({"$type": 3}, "$type", "needs a string"),
        ({"$type": "com.example.nothing"}, "$type", "has no lexicon here"),
        ({"$type": "com.example.defs"}, "$type", "is not a record type"),
        ({"$type": "com.example.test#inner", "a": 1}, "$type", "is not a record type"),
    ],
)
def test_what_is_not_a_record(catalog: Catalog, data: Any, path: str, match: str) -> None:
    with pytest.raises(LexiconValidationError, match=match) as info:
        catalog.validate_record(data)
    assert info.value.path == path


def test_validate_any_definition(catalog: Catalog) -> None:
    catalog.validate("com.example.test#inner", {"a": 1})
    catalog.validate("com.example.defs#list", [1, 2])
    catalog.validate("com.example.defs#reason", "anything")
    catalog.validate("com.example.test#flagged", "com.example.test#flagged")
    catalog.validate("lex:com.example.other", {"n": 2})  # a record; $type may be left out
    with pytest.raises(LexiconValidationError, match="must be the token") as info:
        catalog.validate("com.example.test#flagged", "flagged")
    assert info.value.lex_type == "com.example.test#flagged"
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate("com.example.defs#list", [1, "2"])
    assert info.value.path == "[1]"
    with pytest.raises(LexiconValidationError, match=r"must be 'com\.example\.other'"):
        catalog.validate("com.example.other", {"$type": "com.example.test"})
    with pytest.raises(LexiconError, match="no such definition"):
        catalog.validate("com.example.test#nope", {})
    with pytest.raises(LexiconError, match="is not a data type"):
        catalog.validate("com.example.query", {})


def test_params(catalog: Catalog) -> None:
    catalog.validate_params("com.example.query", {"q": "abc", "limit": 5, "flags": [True]})
    catalog.validate_params("com.example.query", {"q": "abc", "undeclared": object()})
    for params, path, match in [
        ({}, "q", "is required"),
        ({"q": "abcdef"}, "q", "at most 5 bytes"),
        ({"q": "a", "limit": 0}, "limit", "at least 1"),
        ({"q": "a", "limit": "5"}, "limit", "must be an integer, not a string"),
        ({"q": "a", "flags": [True, "no"]}, "flags[1]", "must be a boolean"),
    ]:
        with pytest.raises(LexiconValidationError, match=match) as info:
            catalog.validate_params("com.example.query", params)
        assert info.value.path == path
        assert info.value.lex_type == "com.example.query parameters"
    with pytest.raises(LexiconValidationError, match="a mapping of parameters"):
        catalog.validate_params("com.example.query", [("q", "a")])  # type: ignore[arg-type]
    catalog.validate_params("com.example.upload", {"any": 1})  # declares no parameters
    with pytest.raises(LexiconError, match="has no parameters"):
        catalog.validate_params("com.example.test", {})


def test_bodies(catalog: Catalog) -> None:
    catalog.validate_output("com.example.query", {"items": [{"n": 1}]})
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_output("com.example.query", {"items": [{"n": 1}, {}]})
    assert info.value.path == "items[1].n"
    with pytest.raises(LexiconValidationError, match="declares no input"):
        catalog.validate_input("com.example.query", {"x": 1})
    with pytest.raises(LexiconError, match="a subscription has no input"):
        catalog.validate_input("com.example.subscribe", None)
    catalog.validate_input("com.example.upload", b"any bytes at all")  # no schema: anything
    catalog.validate_output("com.example.upload", {"id": "x"})
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_output("com.example.upload", {"id": None})
    assert info.value.path == "id"


def test_subscription_messages(catalog: Catalog) -> None:
    catalog.validate_params("com.example.subscribe", {"cursor": 5})
    catalog.validate_message(
        "com.example.subscribe", {"$type": "com.example.subscribe#one", "seq": 1}
    )
    catalog.validate_message("com.example.subscribe", {"seq": 1}, message_type="#one")
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_message("com.example.subscribe", {"name": 1}, message_type="#two")
    assert info.value.path == "name"
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_message("com.example.subscribe", {"seq": 1})
    assert info.value.path == "$type"
    # An open union: a message type this version does not know passes.
    catalog.validate_message("com.example.subscribe", {"x": 1}, message_type="#three")


def test_errors_carry_structured_attributes_and_pickle(catalog: Catalog) -> None:
    import pickle

    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record(with_(tags=["a", "toolong"]))
    error = info.value
    assert isinstance(error, ValueError)
    assert str(error) == "com.example.test: tags[1]: must have at most 3 bytes, has 7 (UTF-8)"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.path, copy.lex_type) == (error.reason, error.path, error.lex_type)
    assert str(copy) == str(error)
    lexicon_error = LexiconError("bad", "com.example.x")
    assert str(pickle.loads(pickle.dumps(lexicon_error))) == "com.example.x: bad"


def test_a_post_from_the_default_catalog() -> None:
    catalog = Catalog.default()
    post = {
        "$type": "app.bsky.feed.post",
        "text": "cat pictures",
        "createdAt": "2024-11-25T08:00:00.000Z",
        "langs": ["en"],
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": "a cat",
                    "image": {"$type": "blob", "ref": CID_, "mimeType": "image/jpeg", "size": 9},
                    "aspectRatio": {"width": 4, "height": 3},
                }
            ],
        },
    }
    catalog.validate_record(post)
    image = dict(post["embed"]["images"][0])
    del image["alt"]
    broken = {**post, "embed": {**post["embed"], "images": [image]}}
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record(broken)
    assert info.value.path == "embed.images[0].alt"
    assert str(info.value) == "app.bsky.feed.post: embed.images[0].alt: is required"
    # Records given as generated models are checked through to_dict().
    from atproto_async.models.app.bsky.feed.post import Post

    catalog.validate_record(Post.from_dict(post))
    with pytest.raises(LexiconValidationError, match="#main"):
        catalog.validate_record(
            {**post, "embed": {**post["embed"], "$type": "app.bsky.embed.images#main"}}
        )
