"""The JSON form of the data model and its validity rules (atproto_async/ipld/data_json.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, from_json, to_json, validate_data_model

#: ``../shared/fixtures`` beside the repository (official vectors; absent in a user's clone).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

DATA_MODEL = FIXTURES / "interop" / "data-model"
LINK_TEXT = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
LINK = CID.decode(LINK_TEXT)


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
        ((1,), "tuple"),
        ({1: 2}, "keys must be str"),
    ],
)
def test_to_json_rejects_non_data_model_values(value: Any, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        to_json(value)


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
