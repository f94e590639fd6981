"""The generator end to end: parse -> IR -> render, determinism, and the committed output."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from atproto_async._codegen.build import GENERATED_DIRS, generate, write_tree
from atproto_async._codegen.emit import MARKER
from atproto_async._codegen.ir import DefRef, ObjectDef, Primitive, RefType, UnionType
from atproto_async._codegen.parser import LexiconError, load_documents, parse
from atproto_async._codegen.render_api import render_api
from atproto_async._codegen.render_models import render_models
from atproto_async.exceptions import DecodeError
from atproto_async.ipld import from_json
from codegen.__main__ import main as codegen_main
from tests.conftest import fixture_path

ROOT = Path(__file__).resolve().parents[2]
LEXICONS = ROOT / "lexicons"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return generate(LEXICONS)


def test_committed_generated_code_is_current(generated: dict[str, str]) -> None:
    on_disk = {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for folder in GENERATED_DIRS
        for p in (ROOT / folder).rglob("*.py")
    }
    assert sorted(on_disk) == sorted(generated)
    stale = [path for path, text in generated.items() if on_disk[path] != text]
    assert stale == [], "run: python -m codegen"


def test_generation_is_deterministic(generated: dict[str, str]) -> None:
    assert generate(LEXICONS) == generated


def test_every_generated_file_is_marked(generated: dict[str, str]) -> None:
    assert all(text.startswith(MARKER + "\n") for text in generated.values())
    assert all(path.startswith(GENERATED_DIRS) for path in generated)


def test_every_generated_file_compiles(generated: dict[str, str]) -> None:
    for path, text in generated.items():
        compile(text, path, "exec")


def test_check_mode_reports_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lexicons").symlink_to(LEXICONS)
    assert codegen_main(["--check", "--root", str(tmp_path)]) == 1
    assert "missing:" in capsys.readouterr().err
    assert codegen_main(["--root", str(tmp_path)]) == 0
    assert codegen_main(["--check", "--root", str(tmp_path)]) == 0
    target = tmp_path / "atproto_async" / "models" / "app" / "bsky" / "feed" / "post.py"
    target.write_text(target.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    extra = tmp_path / "atproto_async" / "api" / "stale.py"
    extra.write_text("", encoding="utf-8")
    capsys.readouterr()
    assert codegen_main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "differs: atproto_async/models/app/bsky/feed/post.py" in err
    assert "not generated (stale): atproto_async/api/stale.py" in err
    assert codegen_main(["--root", str(tmp_path)]) == 0
    assert not extra.exists()
    assert codegen_main(["--check", "--root", str(tmp_path)]) == 0


def test_parser_builds_the_ir() -> None:
    schema = parse(load_documents(LEXICONS))
    assert len(schema.documents) == json.loads((LEXICONS / "lexicons.lock").read_text())["count"]
    post = schema.resolve(DefRef("app.bsky.feed.post", "main"))
    assert isinstance(post, ObjectDef)
    assert (post.class_name, post.record_key) == ("Post", "tid")
    fields = {f.json_name: f for f in post.fields}
    assert fields["text"].required and fields["createdAt"].py_name == "created_at"
    embed = fields["embed"].type
    assert isinstance(embed, UnionType) and not embed.closed
    assert DefRef("app.bsky.embed.images", "main") in embed.refs
    reply = fields["reply"].type
    assert isinstance(reply, RefType) and reply.target == DefRef("app.bsky.feed.post", "replyRef")
    text = fields["text"].type
    assert isinstance(text, Primitive) and ("maxGraphemes", 300) in text.limits


def _doc(defs: dict[str, Any], nsid: str = "com.example.thing") -> dict[str, Any]:
    return {"lexicon": 1, "id": nsid, "defs": defs}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_doc({"main": {"type": "weird"}}), "unsupported definition type 'weird'"),
        (
            _doc({"main": {"type": "object", "properties": {"a": {"type": "ref", "ref": "#no"}}}}),
            "reference to missing com.example.thing#no",
        ),
        (
            _doc({"main": {"type": "object", "required": ["b"], "properties": {}}}),
            "without a property",
        ),
        (
            _doc({"main": {"type": "object", "properties": {"a": {"type": "float"}}}}),
            "unsupported field type 'float'",
        ),
        ({"lexicon": 2, "id": "a.b.c", "defs": {}}, "not a lexicon v1 document"),
    ],
)
def test_parser_rejects_what_it_cannot_represent(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(LexiconError, match=message):
        parse([doc])


def test_document_and_package_clash_is_rejected() -> None:
    with pytest.raises(LexiconError, match="both a document and a package"):
        parse([_doc({}, "com.example.a"), _doc({}, "com.example.a.b")])


@pytest.fixture(scope="module")
def catalog_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The interop lexicon catalog, generated into a scratch package and imported."""
    folder = fixture_path("interop", "lexicon", "catalog")
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    usable = [d for d in docs if d["id"] != "example.lexicon.procedure"]  # refs app.bsky
    schema = parse(usable)
    files = render_models(schema, "lexcatalog_models")
    files.update(render_api(schema, "lexcatalog_api", "lexcatalog_models"))
    out = tmp_path_factory.mktemp("catalog")
    write_tree(out, files)
    sys.path.insert(0, str(out))
    try:
        models = importlib.import_module("lexcatalog_models")
        importlib.import_module("lexcatalog_api.example.lexicon")  # endpoints render and import
        yield models
    finally:
        sys.path.remove(str(out))
        for name in [
            m for m in sys.modules if m.startswith(("lexcatalog_models", "lexcatalog_api"))
        ]:
            del sys.modules[name]


def _cases(name: str, keep: Callable[[Any], bool] = lambda case: True) -> list[Any]:
    path = ROOT.parent / "shared" / "fixtures" / "interop" / "lexicon" / name
    if not path.exists():
        return [pytest.param(None, id="fixtures-absent")]
    cases = json.loads(path.read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["name"]) for c in cases if keep(c)]


@pytest.mark.parametrize("case", _cases("record-data-valid.json"))
def test_catalog_valid_records_round_trip(catalog_models: Any, case: Any) -> None:
    if case is None:
        pytest.skip("interop fixtures not found")
    data = from_json(case["data"])
    record = catalog_models.record_from_dict(data)
    assert type(record).__name__ == "Record"
    assert record.to_dict() == data


# Invalid records whose fault is structural (a missing field, an object of the wrong shape, a
# union member without or outside its types); value checks (formats, ranges) are not the models'
# job: no per-field validation runs on the hot path.
STRUCTURAL = {
    "missing required field",
    "invalid blob field",
    "object wrong data type",
    "invalid token ref type",
    "invalid ref value",
    "open union wrong data type",
    "open union missing $type",
    "out of closed union",
}


def _structural(case: Any) -> bool:
    if case["name"] == "union inner invalid":
        return "closedUnion" in case["data"]  # the other one has a wrong value type inside
    return case["name"] in STRUCTURAL


@pytest.mark.parametrize("case", _cases("record-data-invalid.json", _structural))
def test_catalog_structurally_invalid_records_are_rejected(catalog_models: Any, case: Any) -> None:
    if case is None:
        pytest.skip("interop fixtures not found")
    with pytest.raises(DecodeError):
        catalog_models.record_from_dict(from_json(case["data"]))


# -- issue 15: typed record values, readable names, formatted output ---------------------------


def _unknown_fields(schema: Any) -> list[tuple[str, str, Any]]:
    """(definition, property, IR type) of every property whose lexicon type is unknown."""
    found = []
    for nsid in sorted(schema.documents):
        doc = json.loads((LEXICONS / (nsid.replace(".", "/") + ".json")).read_text())
        for def_name, definition in doc["defs"].items():
            bodies = [(def_name, definition)]
            if definition.get("type") in ("query", "procedure"):
                bodies = [
                    (which, definition[which]["schema"])
                    for which in ("input", "output")
                    if definition.get(which, {}).get("schema", {}).get("type") == "object"
                ]
            elif definition.get("type") == "record":
                bodies = [(def_name, definition["record"])]
            for name, body in bodies:
                where = nsid if name == "main" else f"{nsid}#{name}"
                for prop, prop_schema in body.get("properties", {}).items():
                    items = prop_schema.get("items", {})
                    if "unknown" in (prop_schema.get("type"), items.get("type")):
                        found.append((where, prop, prop_schema))
    return found


def test_record_fields_are_classified_and_typed_as_records() -> None:
    from atproto_async._codegen.ir import ArrayType, RecordValue
    from atproto_async._codegen.records import NOT_RECORDS, RECORD_FIELDS, looks_like_record

    schema = parse(load_documents(LEXICONS))
    unknown = _unknown_fields(schema)
    seen = {(where, prop) for where, prop, _ in unknown}
    assert seen >= RECORD_FIELDS, "a listed record field is gone from the lexicons"
    assert seen >= NOT_RECORDS
    unclassified = [
        (where, prop)
        for where, prop, _ in unknown
        if looks_like_record(prop) and (where, prop) not in RECORD_FIELDS | NOT_RECORDS
    ]
    assert unclassified == [], "decide in _codegen/records.py whether these hold records"

    def field_type(where: str, prop: str) -> Any:
        nsid, _, name = where.partition("#")
        doc = schema.documents[nsid]
        (obj,) = [o for o in doc.objects if o.ref.name == (name or "main")]
        (found,) = [f.type for f in obj.fields if f.json_name == prop]
        return found.items if isinstance(found, ArrayType) else found

    assert all(isinstance(field_type(*entry), RecordValue) for entry in RECORD_FIELDS)
    assert not any(isinstance(field_type(*entry), RecordValue) for entry in NOT_RECORDS)


def test_a_record_field_that_is_not_unknown_is_an_error() -> None:
    doc = _doc(
        {
            "main": {
                "type": "query",
                "output": {
                    "encoding": "application/json",
                    "schema": {"type": "object", "properties": {"value": {"type": "string"}}},
                },
            }
        },
        "com.atproto.repo.getRecord",
    )
    with pytest.raises(LexiconError, match="listed as a record field but is not unknown"):
        parse([doc])


def test_method_bodies_are_named_after_the_method_with_the_old_names_kept() -> None:
    from atproto_async.models.app.bsky.feed import get_timeline
    from atproto_async.models.com.atproto.repo import create_record, get_record

    assert get_record.Output is get_record.GetRecordOutput
    assert create_record.Input is create_record.CreateRecordInput
    assert create_record.Output is create_record.CreateRecordOutput
    assert get_timeline.Output.__name__ == "GetTimelineOutput"
    schema = parse(load_documents(LEXICONS))
    for doc in schema.documents.values():
        for obj in doc.objects:
            if obj.ref.name in ("input", "output") and not obj.has_lex_type:
                method = doc.nsid.rsplit(".", 1)[-1]
                assert obj.class_name == method[0].upper() + method[1:] + obj.ref.name.title()


def test_each_union_is_one_named_alias_per_module(generated: dict[str, str]) -> None:
    from atproto_async.models.app.bsky.feed import defs, post

    assert post.Post.__annotations__["embed"] == "PostEmbed | UnsetType"
    assert "| UnknownMember" in post.PostEmbed
    assert defs.ReplyRef.__annotations__["root"] == "ReplyRefRoot"
    assert defs.ReplyRef.__annotations__["parent"] == "ReplyRefRoot"  # the same union
    assert "Used by ``ReplyRef.root``, ``ReplyRef.parent``." in generated[
        "atproto_async/models/app/bsky/feed/defs.py"
    ].replace("\n", " ")
    for path, text in generated.items():
        assert not re.search(r"\b_union_\d", text), path
        aliases = re.findall(r"^(\w+): TypeAlias = ", text, flags=re.M)
        assert len(aliases) == len(set(aliases)), path


def test_endpoint_modules_name_models_by_their_public_names(generated: dict[str, str]) -> None:
    api = {p: t for p, t in generated.items() if p.startswith("atproto_async/api/")}
    assert api
    for path, text in api.items():
        assert "_m_" not in text, path
    repo = api["atproto_async/api/com/atproto/repo.py"]
    assert ") -> GetRecordOutput:" in repo
    assert "writes: Sequence[ApplyWritesInputWritesItem | Mapping[str, Any]]," in repo
    assert "record: Model | Mapping[str, Any]," in repo


def test_generated_code_is_formatted_as_ruff_formats_it(
    generated: dict[str, str], tmp_path: Path
) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    write_tree(tmp_path, generated)
    # The project's settings, applied to the generated directories it excludes from its own
    # runs: directories named on the command line are checked all the same.
    result = subprocess.run(
        [ruff, "format", "--check", "--config", str(ROOT / "pyproject.toml"), *GENERATED_DIRS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{len(generated)} files already formatted" in result.stdout + result.stderr


def test_endpoint_imports_of_clashing_names_get_module_prefixes() -> None:
    thing = {"thing": {"type": "object", "properties": {"x": {"type": "string"}}}}
    method = {
        "main": {
            "type": "procedure",
            "input": {
                "encoding": "application/json",
                "schema": {
                    "type": "object",
                    "properties": {
                        "a": {"type": "ref", "ref": "com.example.a.defs#thing"},
                        "b": {"type": "ref", "ref": "com.example.b.defs#thing"},
                    },
                },
            },
        }
    }
    schema = parse(
        [
            _doc(thing, "com.example.a.defs"),
            _doc(thing, "com.example.b.defs"),
            _doc(method, "com.example.ns.putThings"),
        ]
    )
    text = render_api(schema, "scratch_api", "scratch_models")["scratch_api/com/example/ns.py"]
    assert "from scratch_models.com.example.a.defs import Thing\n" in text
    assert "from scratch_models.com.example.b.defs import Thing as BDefsThing\n" in text
    assert "a: Thing | Mapping[str, Any] | None = None," in text
    assert "b: BDefsThing | Mapping[str, Any] | None = None," in text
    compile(text, "ns.py", "exec")
