"""The rules a lexicon document must follow (atproto_async/lexicon/_schema.py), via Catalog.

Spec: https://atproto.com/specs/lexicon#lexicon-files
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from atproto_async.exceptions import LexiconError
from atproto_async.lexicon import Catalog


def doc(defs: dict[str, Any], nsid: str = "com.example.schema") -> dict[str, Any]:
    return {"lexicon": 1, "id": nsid, "defs": defs}


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def record(**properties: Any) -> dict[str, Any]:
    return {"type": "record", "key": "tid", "record": obj(**properties)}


def test_a_document_with_every_kind_of_definition_loads() -> None:
    catalog = Catalog.from_documents(
        [
            doc(
                {
                    "main": record(a={"type": "integer"}),
                    "view": obj(
                        n={"type": "null"},
                        s={"type": "string", "format": "did", "default": "did:web:a.b"},
                        b={"type": "blob", "accept": ["*/*", "image/*", "video/mp4"]},
                        u={"type": "union", "refs": [], "closed": False},
                        r={"type": "ref", "ref": "lex:com.example.schema#view"},
                        k={"type": "unknown"},
                    ),
                    "token": {"type": "token"},
                    "names": {"type": "array", "items": {"type": "string"}},
                    "word": {"type": "string", "knownValues": ["com.example.schema#token"]},
                    "flag": {"type": "boolean"},
                    "n": {"type": "integer"},
                    "raw": {"type": "bytes"},
                    "link": {"type": "cid-link"},
                    "file": {"type": "blob"},
                    "nil": {"type": "null"},
                }
            ),
            doc(
                {
                    "main": {
                        "type": "subscription",
                        "parameters": {"type": "params", "properties": {}},
                        "message": {"schema": {"type": "union", "refs": ["#m"]}},
                        "errors": [{"name": "FutureCursor"}],
                    },
                    "m": obj(),
                },
                "com.example.sub",
            ),
        ]
    )
    assert list(catalog) == ["com.example.schema", "com.example.sub"]


INVALID: list[tuple[str, Any, str]] = [
    ("not an object", [], "must be an object"),
    ("lexicon 2", {"lexicon": 2, "id": "com.example.x", "defs": {"a": {"type": "token"}}}, "1"),
    (
        "lexicon true",
        {"lexicon": True, "id": "com.example.x", "defs": {"a": {"type": "token"}}},
        "1",
    ),
    ("no defs", {"lexicon": 1, "id": "com.example.x", "defs": {}}, "at least one"),
    ("bad id", {"lexicon": 1, "id": "example", "defs": {"a": {"type": "token"}}}, "NSID"),
    ("bad def name", doc({"a#b": {"type": "token"}}), "invalid definition name"),
    ("no type", doc({"a": {"description": "x"}}), "needs a string 'type'"),
    ("unknown type", doc({"a": {"type": "float"}}), "cannot be a named definition"),
    ("named params", doc({"a": {"type": "params", "properties": {}}}), "named definition"),
    ("named union", doc({"a": {"type": "union", "refs": []}}), "named definition"),
    ("primary not main", doc({"a": {"type": "query"}}), "must be named 'main'"),
    ("bad record key", doc({"main": {**record(), "key": "uuid"}}), "record key type"),
    ("bad literal key", doc({"main": {**record(), "key": "literal:.."}}), "record key type"),
    ("record not object", doc({"main": {**record(), "record": {"type": "string"}}}), "object"),
    ("required undeclared", doc({"a": {**obj(), "required": ["x"]}}), "not declared"),
    ("nullable undeclared", doc({"a": {**obj(), "nullable": ["x"]}}), "not declared"),
    ("property type", doc({"a": obj(x={"type": "token"})}), "not allowed here"),
    ("min > max", doc({"a": {"type": "string", "minLength": 3, "maxLength": 2}}), "greater"),
    ("graphemes", doc({"a": {"type": "string", "minGraphemes": 3, "maxGraphemes": 2}}), "greater"),
    ("negative", doc({"a": {"type": "bytes", "maxLength": -1}}), "negative"),
    ("int range", doc({"a": {"type": "integer", "minimum": 3, "maximum": 2}}), "greater"),
    ("int as bool", doc({"a": {"type": "integer", "minimum": True}}), "must be of type int"),
    ("bool as int", doc({"a": {"type": "boolean", "const": 1}}), "must be of type bool"),
    ("enum type", doc({"a": {"type": "integer", "enum": ["x"]}}), "integers"),
    ("default and const", doc({"a": {"type": "integer", "default": 1, "const": 1}}), "exclusive"),
    ("unknown format", doc({"a": {"type": "string", "format": "email"}}), "unknown string format"),
    ("partial glob", doc({"a": {"type": "blob", "accept": ["text/ht*"]}}), "MIME type pattern"),
    ("lone glob", doc({"a": {"type": "blob", "accept": ["*"]}}), "MIME type pattern"),
    ("star type", doc({"a": {"type": "blob", "accept": ["*/png"]}}), "MIME type pattern"),
    ("max size", doc({"a": {"type": "blob", "maxSize": 0}}), "positive"),
    ("empty closed", doc({"a": obj(u={"type": "union", "refs": [], "closed": True})}), "closed"),
    ("bad ref", doc({"a": obj(r={"type": "ref", "ref": "not an nsid"})}), "invalid reference"),
    ("ref type", doc({"a": obj(r={"type": "ref", "ref": 3})}), "must be a string"),
    ("array items", doc({"a": {"type": "array", "items": {"type": "query"}}}), "not allowed"),
    ("params object", doc({"main": {"type": "query", "parameters": obj()}}), "params schema"),
    (
        "params field",
        doc(
            {
                "main": {
                    "type": "query",
                    "parameters": {"type": "params", "properties": {"o": obj()}},
                }
            }
        ),
        "not allowed here",
    ),
    (
        "params array of objects",
        doc(
            {
                "main": {
                    "type": "query",
                    "parameters": {
                        "type": "params",
                        "properties": {"a": {"type": "array", "items": obj()}},
                    },
                }
            }
        ),
        "not allowed here",
    ),
    ("query input", doc({"main": {"type": "query", "input": {"encoding": "a/b"}}}), "cannot have"),
    ("no encoding", doc({"main": {"type": "procedure", "output": {}}}), "encoding"),
    (
        "body schema",
        doc(
            {"main": {"type": "query", "output": {"encoding": "a/b", "schema": {"type": "string"}}}}
        ),
        "not allowed here",
    ),
    ("no message", doc({"main": {"type": "subscription"}}), "message schema"),
    (
        "message not union",
        doc({"main": {"type": "subscription", "message": {"schema": obj()}}}),
        "not allowed here",
    ),
    ("error name", doc({"main": {"type": "query", "errors": [{"name": "Bad Name"}]}}), "errors"),
    ("permissions", doc({"main": {"type": "permission-set"}}), "permissions"),
    (
        "repo permission",
        doc(
            {
                "main": {
                    "type": "permission-set",
                    "permissions": [{"type": "permission", "resource": "repo", "collection": []}],
                }
            }
        ),
        "collection",
    ),
    (
        "rpc permission aud",
        doc(
            {
                "main": {
                    "type": "permission-set",
                    "permissions": [{"type": "permission", "resource": "rpc", "lxm": ["a.b.c"]}],
                }
            }
        ),
        "'aud' or 'inheritAud'",
    ),
    (
        "title langs",
        doc({"main": {"type": "permission-set", "permissions": [], "title:lang": {"!": "x"}}}),
        "language",
    ),
]


@pytest.mark.parametrize(
    ("document", "match"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_documents_raise(document: Any, match: str) -> None:
    with pytest.raises(LexiconError, match=match):
        Catalog.from_documents([document])


def test_the_error_names_the_definition_and_place() -> None:
    with pytest.raises(LexiconError) as info:
        Catalog.from_documents([doc({"main": record(bad={"type": "string", "format": "x"})})])
    assert info.value.nsid == "com.example.schema#main"
    assert info.value.reason == "record.bad: unknown string format 'x'"


def test_references_are_checked_when_compiled() -> None:
    catalog = Catalog.from_documents(
        [
            doc(
                {
                    "main": record(t={"type": "ref", "ref": "#tok"}),
                    "tok": {"type": "token"},
                    "holder": obj(u={"type": "union", "refs": ["#tok"]}),
                }
            )
        ]
    )
    with pytest.raises(LexiconError, match="a ref cannot point to the token"):
        catalog.validate_record({"$type": "com.example.schema"})
    with pytest.raises(LexiconError, match=r"union member com\.example\.schema#tok is a token"):
        catalog.validate("com.example.schema#holder", {})


def test_documents_are_copied() -> None:
    original = doc({"main": record(a={"type": "integer"})})
    kept = copy.deepcopy(original)
    catalog = Catalog.from_documents([original])
    original["defs"]["main"]["record"]["properties"]["a"]["type"] = "string"
    assert catalog.document("com.example.schema") == kept
    catalog.validate_record({"$type": "com.example.schema", "a": 1})
