"""Official and real-world data against atproto_async.lexicon.

The interop vectors (``interop/lexicon``): lexicon documents valid and invalid, and record data
valid and invalid against ``catalog/``. Then real records: the live firehose commits of indigo,
the local PDS capture of ``examples/data``, and whole repositories exported by indigo, which
are old enough to hold legacy blobs and record types since removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import LexiconError, LexiconValidationError
from atproto_async.ipld import decode_dag_cbor, from_json, read_car
from atproto_async.lexicon import Catalog
from atproto_async.stream import Commit, decode_frame
from atproto_async.stream.framefile import iter_frames
from tests.conftest import FIXTURES, fixture_path

LEXICON = FIXTURES / "interop" / "lexicon"
CAPTURE = Path(__file__).resolve().parents[2] / "examples" / "data" / "local-pds.frames"


def _vectors(name: str) -> list[Any]:
    path = LEXICON / name
    if not path.exists():
        return [pytest.param(None, id="vectors-absent")]
    cases = json.loads(path.read_text(encoding="utf-8"))
    return [pytest.param(case, id=f"{i}-{case['name']}") for i, case in enumerate(cases)]


@pytest.fixture(scope="module")
def interop() -> Catalog:
    return Catalog.load(fixture_path("interop", "lexicon", "catalog"))


@pytest.fixture(scope="module")
def default() -> Catalog:
    return Catalog.default()


def _need(case: Any, name: str) -> Any:
    if case is None:
        fixture_path("interop", "lexicon", name)  # skips with the reason
    return case


@pytest.mark.parametrize("case", _vectors("lexicon-valid.json"))
def test_valid_lexicons_load(case: Any) -> None:
    case = _need(case, "lexicon-valid.json")
    catalog = Catalog.from_documents([case["lexicon"]])
    assert case["lexicon"]["id"] in catalog


@pytest.mark.parametrize("case", _vectors("lexicon-invalid.json"))
def test_invalid_lexicons_raise(case: Any) -> None:
    case = _need(case, "lexicon-invalid.json")
    with pytest.raises(LexiconError):
        Catalog.from_documents([case["lexicon"]])


@pytest.mark.parametrize("case", _vectors("record-data-valid.json"))
def test_valid_records_pass_in_both_forms(interop: Catalog, case: Any) -> None:
    case = _need(case, "record-data-valid.json")
    interop.validate_record(case["data"], rkey=case["rkey"])  # JSON form, as read
    interop.validate_record(from_json(case["data"]), rkey=case["rkey"])  # data-model form


@pytest.mark.parametrize("case", _vectors("record-data-invalid.json"))
def test_invalid_records_fail_in_both_forms(interop: Catalog, case: Any) -> None:
    case = _need(case, "record-data-invalid.json")
    with pytest.raises(LexiconValidationError):
        interop.validate_record(case["data"])
    try:
        data = from_json(case["data"])
    except ValueError:
        return  # not even a data-model value (e.g. "$bytes" that is not base64)
    with pytest.raises(LexiconValidationError):
        interop.validate_record(data)


def test_all_fifty_invalid_records_are_refused(interop: Catalog) -> None:
    cases = json.loads(fixture_path("interop", "lexicon", "record-data-invalid.json").read_text())
    refused = 0
    for case in cases:
        try:
            interop.validate_record(case["data"])
        except LexiconValidationError:
            refused += 1
    assert refused == len(cases) == 50


def test_interop_catalog_refers_to_one_lexicon_it_lacks(interop: Catalog) -> None:
    assert interop.missing_refs() == ["app.bsky.actor.defs#preferences"]
    with pytest.raises(LexiconError, match=r"app\.bsky\.actor\.defs#preferences"):
        interop.validate_input("example.lexicon.procedure", {"preferences": []})
    interop.validate_output("example.lexicon.procedure", {"array": [1, 2], "object": {"a": 1}})


def test_indigo_catalog_loads_and_checks_methods() -> None:
    catalog = Catalog.load(fixture_path("indigo", "atproto", "lexicon", "testdata", "catalog"))
    catalog.validate_params("example.lexicon.minimal.query", {})
    catalog.validate_output("example.lexicon.minimal.query", None)
    with pytest.raises(LexiconValidationError, match="declares no output"):
        catalog.validate_output("example.lexicon.minimal.query", {"a": 1})
    catalog.validate_input("example.lexicon.minimal.procedure", {"anything": True})
    with pytest.raises(LexiconValidationError, match="must be an object"):
        catalog.validate_input("example.lexicon.minimal.procedure", [1])


def test_default_catalog_resolves_every_reference(default: Catalog) -> None:
    assert len(default) > 300
    assert default.missing_refs() == []


def _records_in(blocks: bytes) -> list[dict[str, Any]]:
    car = read_car(blocks)
    found = []
    for cid, block in car.blocks.items():
        if cid.codec == 0x71:
            value = decode_dag_cbor(block)
            if isinstance(value, dict) and isinstance(value.get("$type"), str):
                found.append(value)
    return found


def test_live_firehose_records_validate(default: Catalog) -> None:
    folder = fixture_path("indigo", "atproto", "repo", "testdata")
    checked = 0
    for path in sorted(folder.glob("firehose_commit_*.json")):
        body = from_json(json.loads(path.read_text(encoding="utf-8")))
        car = read_car(body["blocks"])
        for op in body["ops"]:
            if op["action"] == "delete" or op["cid"] not in car.blocks:
                continue
            collection, rkey = op["path"].split("/")
            record = decode_dag_cbor(car.blocks[op["cid"]])
            default.validate_record(record, collection=collection, rkey=rkey)
            checked += 1
        for record in _records_in(body["blocks"]):
            default.validate_record(record)
    assert checked >= 40


def test_local_pds_capture_records_validate(default: Catalog) -> None:
    checked = 0
    for message in iter_frames(CAPTURE.read_bytes()):
        event = decode_frame(bytes(message))
        if not isinstance(event, Commit):
            continue
        car = read_car(event.blocks)
        for op in event.ops:
            if op.cid is None or op.cid not in car.blocks:
                continue
            record = decode_dag_cbor(car.blocks[op.cid])
            default.validate_record(record, collection=op.collection, rkey=op.rkey)
            checked += 1
    assert checked >= 10


def test_old_repositories_validate_with_legacy_blobs(default: Catalog) -> None:
    folder = fixture_path("indigo", "testing", "testdata")
    # Record types and shapes of 2022-23 that the current lexicons no longer have.
    retired = {"app.bsky.feed.vote", "app.bsky.graph.confirmation", "app.bsky.system.declaration"}
    legacy = passed = 0
    for path in sorted([*folder.glob("*.car"), *folder.glob("*.repo")]):
        for record in _records_in(path.read_bytes()):
            try:
                default.validate_record(record)
            except LexiconValidationError as exc:
                if "legacy blob" in exc.reason:
                    legacy += 1
            try:
                default.validate_record(record, legacy_blobs=True)
                passed += 1
            except LexiconValidationError as exc:
                old_follow = record["$type"] == "app.bsky.graph.follow" and exc.path == "subject"
                assert record["$type"] in retired or old_follow, exc
    assert legacy > 10
    assert passed > 300
