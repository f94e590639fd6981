"""The JSON form of the data model and its validity rules (atproto_async/ipld/data_json.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from atproto_async._model import Blob
from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, from_json, to_json, validate_data_model
from atproto_async.syntax import is_valid_datetime

#: ``../shared/fixtures`` beside the repository (official vectors; absent in a user's clone).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

DATA_MODEL = FIXTURES / "interop" / "data-model"
LINK_TEXT = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
LINK = CID.decode(LINK_TEXT)


def model_class(lex_type: str) -> Any:
    """The generated class of ``lex_type``, found by its ``$type`` (not by its Python name)."""
    module = import_module("atproto_async.models." + lex_type.partition("#")[0])
    return next(c for c in vars(module).values() if getattr(c, "LEX_TYPE", None) == lex_type)


def _cases(name: str) -> list[Any]:
    path = DATA_MODEL / name
    if not path.exists():
        return [pytest.param(None, id="fixtures-absent")]
    return [pytest.param(case, id=case["note"]) for case in json.loads(path.read_text())]


@pytest.mark.parametrize("case", _cases("data-model-valid.json"))
def test_interop_valid_values_are_accepted(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.skip(f"test vectors not found under {FIXTURES}")
    validate_data_model(from_json(case["json"]))


@pytest.mark.parametrize("case", _cases("data-model-invalid.json"))
def test_interop_invalid_values_are_rejected(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.skip(f"test vectors not found under {FIXTURES}")
    with pytest.raises(DecodeError):
        validate_data_model(from_json(case["json"]))


def test_links_bytes_and_blobs_convert_both_ways() -> None:
    json_value = {
        "link": {"$link": LINK_TEXT},
        "bytes": {"$bytes": "AQID"},
        "odd": {"$bytes": "AQ"},
        "blob": {
            "$type": "blob",
            "ref": {"$link": LINK_TEXT},
            "mimeType": "image/png",
            "size": 3,
        },
        "list": [1, "a", None, True, [{"$link": LINK_TEXT}]],
    }
    value = from_json(json_value)
    assert value == {
        "link": LINK,
        "bytes": b"\x01\x02\x03",
        "odd": b"\x01",
        "blob": {"$type": "blob", "ref": LINK, "mimeType": "image/png", "size": 3},
        "list": [1, "a", None, True, [LINK]],
    }
    validate_data_model(value)
    assert to_json(value) == json_value


def test_bytes_are_written_without_padding() -> None:
    assert to_json(b"\x01") == {"$bytes": "AQ"}
    assert to_json(b"") == {"$bytes": ""}
    assert from_json({"$bytes": ""}) == b""


def test_integral_floats_read_as_integers() -> None:
    assert from_json({"a": 123.0}) == {"a": 123}
    assert type(from_json(5.0)) is int


@pytest.mark.parametrize(
    ("json_value", "fragment"),
    [
        ({"$link": LINK_TEXT, "x": 1}, "no other keys"),
        ({"$link": 5}, "must be a string"),
        ({"$link": "nope"}, "invalid CID"),
        ({"$bytes": "AQID", "x": 1}, "no other keys"),
        ({"$bytes": None}, "must be a string"),
        ({"$bytes": "A!=="}, "not valid base64"),
        (1.5, "floats"),
        ({"a": object()}, "not a JSON type"),
    ],
)
def test_from_json_rejects_malformed_values(json_value: Any, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        from_json(json_value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (1.5, "floats"),
        ((1,), r"object of type tuple is not a data-model value \(use a list\)"),
        ({1: 2}, "keys must be str"),
        ({"a": [{"b": {1, 2}}]}, r"^a\[0\]\.b: object of type set is not a data-model value"),
        ([datetime(2024, 5, 1)], r"^\[0\]: naive datetime \(no tzinfo\)"),
    ],
)
def test_to_json_rejects_non_data_model_values_with_a_type_error(value: Any, fragment: str) -> None:
    with pytest.raises(TypeError, match=fragment):
        to_json(value)


class Foo:
    pass


def test_to_json_names_the_path_of_a_value_outside_the_data_model() -> None:
    record = {"embed": {"images": [{"alt": "", "image": Foo()}]}}
    with pytest.raises(TypeError) as caught:
        to_json({"repo": "did:plc:alice", "record": record})
    assert str(caught.value) == (
        "record.embed.images[0].image: object of type Foo is not a data-model value"
    )


def test_to_json_still_refuses_excessive_depth_as_a_decode_error() -> None:
    value: Any = 1
    for _ in range(200):
        value = [value]
    with pytest.raises(DecodeError, match="deeper"):
        to_json(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "2024-05-01T12:00:00.000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC), "2024-05-01T12:00:00.123Z"),
        # Another offset is converted to UTC; the written form always ends in Z.
        (
            datetime(2024, 5, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            "2024-04-30T22:30:00.000Z",
        ),
        (datetime(2024, 5, 1, 8, tzinfo=timezone(timedelta(hours=-5))), "2024-05-01T13:00:00.000Z"),
        (datetime(5, 1, 2, tzinfo=UTC), "0005-01-02T00:00:00.000Z"),
    ],
)
def test_datetimes_are_written_in_the_atproto_datetime_form(value: datetime, text: str) -> None:
    assert to_json({"createdAt": value}) == {"createdAt": text}
    assert is_valid_datetime(text)


def test_a_naive_datetime_is_refused_not_guessed() -> None:
    with pytest.raises(
        TypeError, match=r"^record\.createdAt: naive datetime.*datetime\.now\(UTC\)"
    ):
        to_json({"record": {"createdAt": datetime(2024, 5, 1, 12)}})


def test_blobs_and_models_are_written_in_their_json_form() -> None:
    blob = Blob(ref=LINK, mime_type="image/png", size=3)
    json_blob = {"$type": "blob", "ref": {"$link": LINK_TEXT}, "mimeType": "image/png", "size": 3}
    assert to_json(blob) == json_blob
    assert to_json({"images": [{"image": blob, "alt": ""}]}) == {
        "images": [{"image": json_blob, "alt": ""}]
    }
    # The JSON form reads back as the data-model form the Blob model is built from.
    assert Blob.from_dict(from_json(to_json(blob))) == blob
    # A legacy reference is written back in its legacy form, without "$type".
    legacy = Blob.from_dict({"cid": LINK_TEXT, "mimeType": "image/jpeg"})
    assert to_json(legacy) == {"cid": LINK_TEXT, "mimeType": "image/jpeg"}


def test_a_model_is_written_with_its_type_so_it_fits_an_open_union() -> None:
    external = model_class("app.bsky.embed.external#external")
    embed = model_class("app.bsky.embed.external")(
        external=external(uri="https://example.com", title="t", description="d")
    )
    assert to_json({"embed": embed}) == {
        "embed": {
            "$type": "app.bsky.embed.external",
            "external": {"uri": "https://example.com", "title": "t", "description": "d"},
        }
    }


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([], "must be an object"),
        ({"a": 2**53}, "safe range"),
        ({"a": -(2**53)}, "safe range"),
        ({"a": [{"b": 1.5}]}, r"\$\.a\[0\]\.b: floats"),
        ({"$type": ""}, "non-empty string"),
        ({"$type": None}, "non-empty string"),
        ({"$link": "x"}, "reserved"),
        ({"$bytes": "x"}, "reserved"),
        ({"b": {"$type": "blob", "ref": "x", "mimeType": "a/b", "size": 1}}, "CID 'ref'"),
        ({"b": {"$type": "blob", "ref": LINK, "mimeType": "", "size": 1}}, "mimeType"),
        ({"b": {"$type": "blob", "ref": LINK, "mimeType": "a/b"}}, "integer 'size'"),
        ({1: 1}, "keys must be strings"),
        ({"a": (1,)}, "tuple"),
    ],
)
def test_validate_data_model_names_the_broken_rule(value: Any, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        validate_data_model(value)


def test_validate_accepts_safe_integer_extremes_and_non_object_when_asked() -> None:
    validate_data_model({"a": 2**53 - 1, "b": -(2**53 - 1)})
    validate_data_model([1, "x"], require_object=False)
