"""``atproto-async codegen``: a user's own lexicons -> their package, used end to end.

A third-party lexicon (a record with a strong ref, a query and a procedure) is generated into a
scratch folder with the command line, imported, and used: models round-trip, reference the
library's ``com.atproto`` models, validate with a catalog that has the lexicons, and the
endpoints call a real local aiohttp server through ``atproto_async.Client``.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from atproto_async._codegen.build import generate_user
from atproto_async._codegen.parser import LexiconError
from atproto_async._model import UNSET
from atproto_async.cli import main as cli_main
from atproto_async.exceptions import DecodeError, LexiconValidationError
from atproto_async.lexicon import Catalog
from atproto_async.lexicon._catalog import BUNDLED
from atproto_async.models.com.atproto.repo.strong_ref import StrongRef
from atproto_async.xrpc import Client

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "userlex_pkg.lex"
URI = "at://did:plc:abc/app.bsky.feed.post/3k2a"
CID_TEXT = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
CREATED = "2024-11-25T08:00:00.000Z"

BOOKMARK = {
    "lexicon": 1,
    "id": "com.example.thing.bookmark",
    "defs": {
        "main": {
            "type": "record",
            "key": "tid",
            "description": "A saved post.",
            "record": {
                "type": "object",
                "required": ["subject", "createdAt"],
                "properties": {
                    "subject": {"type": "ref", "ref": "com.atproto.repo.strongRef"},
                    "note": {"type": "string", "maxGraphemes": 50, "maxLength": 500},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxLength": 3},
                    "createdAt": {"type": "string", "format": "datetime"},
                },
            },
        },
        "view": {
            "type": "object",
            "required": ["uri", "bookmark"],
            "properties": {
                "uri": {"type": "string", "format": "at-uri"},
                "bookmark": {"type": "ref", "ref": "#main"},
            },
        },
    },
}
LIST_BOOKMARKS = {
    "lexicon": 1,
    "id": "com.example.thing.listBookmarks",
    "defs": {
        "main": {
            "type": "query",
            "description": "List an account's bookmarks.",
            "parameters": {
                "type": "params",
                "required": ["actor"],
                "properties": {
                    "actor": {"type": "string", "format": "at-identifier"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                },
            },
            "output": {
                "encoding": "application/json",
                "schema": {
                    "type": "object",
                    "required": ["bookmarks"],
                    "properties": {
                        "cursor": {"type": "string"},
                        "bookmarks": {
                            "type": "array",
                            "items": {"type": "ref", "ref": "com.example.thing.bookmark#view"},
                        },
                    },
                },
            },
        }
    },
}
ADD_BOOKMARK = {
    "lexicon": 1,
    "id": "com.example.thing.addBookmark",
    "defs": {
        "main": {
            "type": "procedure",
            "description": "Save a post.",
            "input": {
                "encoding": "application/json",
                "schema": {
                    "type": "object",
                    "required": ["subject"],
                    "properties": {
                        "subject": {"type": "ref", "ref": "com.atproto.repo.strongRef"},
                        "note": {"type": "string"},
                    },
                },
            },
            "output": {
                "encoding": "application/json",
                "schema": {
                    "type": "object",
                    "required": ["uri"],
                    "properties": {"uri": {"type": "string", "format": "at-uri"}},
                },
            },
        }
    },
}


def _write_lexicons(folder: Path, *docs: dict[str, Any]) -> Path:
    for doc in docs:
        path = folder.joinpath(*doc["id"].split(".")).with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lexicon folder (with a copy of a bundled lexicon, as vendored folders have) and the
    package generated from it by the command line, importable while the tests run."""
    base = tmp_path_factory.mktemp("user")
    lexicons = _write_lexicons(base / "lexicons", BOOKMARK, LIST_BOOKMARKS, ADD_BOOKMARK)
    vendored = lexicons / "com" / "atproto" / "repo" / "strongRef.json"
    vendored.parent.mkdir(parents=True)
    shutil.copy(BUNDLED / "com" / "atproto" / "repo" / "strongRef.json", vendored)
    args = ["codegen", "--lexicons", str(lexicons), "--package", PACKAGE, "--out", str(base)]
    assert cli_main([*args]) == 0
    sys.path.insert(0, str(base))
    try:
        yield base
    finally:
        sys.path.remove(str(base))
        for name in [m for m in sys.modules if m.split(".")[0] == "userlex_pkg"]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_package_holds_only_the_users_documents(workspace: Path) -> None:
    base = workspace / "userlex_pkg" / "lex"
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*.py"))
    assert "models/com/example/thing/bookmark.py" in files
    assert "api/com/example/thing.py" in files
    assert not [f for f in files if "atproto" in f]  # the vendored strongRef is the library's
    text = (base / "models/com/example/thing/bookmark.py").read_text(encoding="utf-8")
    assert text.startswith("# generated by atproto-async codegen from lexicons/, do not edit\n")
    assert "from atproto_async._model import (" in text
    assert '"atproto_async.models.com.atproto.repo.strong_ref"' in text


def test_a_record_model_round_trips_and_uses_the_library_strong_ref(workspace: Path) -> None:
    bookmark_module = _module("models.com.example.thing.bookmark")
    subject = StrongRef(uri=URI, cid=CID_TEXT)
    bookmark = bookmark_module.Bookmark(subject=subject, tags=["a", "b"], created_at=CREATED)
    data = bookmark.to_dict()
    assert data == {
        "$type": "com.example.thing.bookmark",
        "subject": {"uri": URI, "cid": CID_TEXT},
        "tags": ["a", "b"],
        "createdAt": CREATED,
    }
    again = bookmark_module.Bookmark.from_dict(data)
    assert again == bookmark
    assert type(again.subject) is StrongRef
    assert _module("models").record_from_dict(data) == bookmark
    assert _module("models").RECORDS.get("com.example.thing.bookmark") is bookmark_module.Bookmark


def test_user_models_validate_with_a_catalog_that_has_their_lexicons(workspace: Path) -> None:
    catalog = Catalog.shared().extend(Catalog.load(workspace / "lexicons"), replace=True)
    bookmark_module = _module("models.com.example.thing.bookmark")
    subject = StrongRef(uri=URI, cid=CID_TEXT)
    ok = bookmark_module.Bookmark(subject=subject, created_at=CREATED)
    assert ok.validate(catalog=catalog) is None
    with pytest.raises(LexiconValidationError) as info:
        bookmark_module.Bookmark(subject=subject, tags=["a"] * 4, created_at=CREATED).validate(
            catalog=catalog
        )
    assert (info.value.lex_type, info.value.path) == ("com.example.thing.bookmark", "tags")


async def test_generated_endpoints_call_a_local_server(workspace: Path) -> None:
    seen: list[tuple[str, Any]] = []

    async def list_bookmarks(request: web.Request) -> web.Response:
        seen.append(("query", sorted(request.query.items())))
        record = {"$type": "com.example.thing.bookmark", "subject": {"uri": URI, "cid": CID_TEXT}}
        view = {"uri": URI, "bookmark": {**record, "createdAt": CREATED}}
        return web.json_response({"bookmarks": [view], "cursor": "next"})

    async def add_bookmark(request: web.Request) -> web.Response:
        seen.append(("procedure", await request.json()))
        return web.json_response({"uri": URI})

    app = web.Application()
    app.router.add_get("/xrpc/com.example.thing.listBookmarks", list_bookmarks)
    app.router.add_post("/xrpc/com.example.thing.addBookmark", add_bookmark)
    api = _module("api")
    async with (
        TestServer(app, host="127.0.0.1") as server,
        Client(f"http://127.0.0.1:{server.port}") as client,
    ):
        thing = api.ComNamespace(client).example.thing
        page = await thing.list_bookmarks(actor="alice.test", limit=10)
        added = await thing.add_bookmark(
            subject=StrongRef(uri=URI, cid=CID_TEXT), note="read later"
        )
    assert seen == [
        ("query", [("actor", "alice.test"), ("limit", "10")]),
        ("procedure", {"subject": {"uri": URI, "cid": CID_TEXT}, "note": "read later"}),
    ]
    assert page.cursor == "next"
    assert page.bookmarks[0].bookmark.subject == StrongRef(uri=URI, cid=CID_TEXT)
    assert (
        type(page.bookmarks[0].bookmark).__module__
        == f"{PACKAGE}.models.com.example.thing.bookmark"
    )
    assert added.uri == URI


def test_check_mode_reports_stale_files_and_writing_fixes_them(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "src"
    args = ["codegen", "--lexicons", str(workspace / "lexicons"), "--package", "other.lex"]
    args += ["--out", str(out)]
    assert cli_main([*args, "--check"]) == 1
    assert "missing: other/lex/models/__init__.py" in capsys.readouterr().err
    assert cli_main(args) == 0
    assert cli_main([*args, "--check"]) == 0
    stale = out / "other" / "lex" / "api" / "stale.py"
    stale.write_text("", encoding="utf-8")
    assert cli_main([*args, "--check"]) == 1
    assert "not generated (stale): other/lex/api/stale.py" in capsys.readouterr().err
    assert cli_main(args) == 0
    assert not stale.exists()


def test_an_existing_package_init_is_never_overwritten(workspace: Path, tmp_path: Path) -> None:
    init = tmp_path / "mine" / "__init__.py"
    init.parent.mkdir()
    init.write_text("VALUE = 1\n", encoding="utf-8")
    args = ["codegen", "--lexicons", str(workspace / "lexicons"), "--package", "mine"]
    assert cli_main([*args, "--out", str(tmp_path)]) == 0
    assert init.read_text(encoding="utf-8") == "VALUE = 1\n"
    assert (tmp_path / "mine" / "models" / "__init__.py").is_file()


def test_generated_user_code_is_formatted_as_ruff_formats_it(workspace: Path) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [ruff, "format", "--check", "--config", str(ROOT / "pyproject.toml"), "userlex_pkg"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("package", "message"),
    [
        ("my-pkg.lex", "not a dotted Python package name"),
        ("mypkg.class", "not a dotted Python package name"),
        ("atproto_async.mine", "not inside atproto_async"),
    ],
)
def test_bad_package_names_are_refused(tmp_path: Path, package: str, message: str) -> None:
    lexicons = _write_lexicons(tmp_path, BOOKMARK)
    with pytest.raises(LexiconError, match=message):
        generate_user(lexicons, package, BUNDLED)


def test_a_folder_of_bundled_lexicons_only_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "lexicons" / "com" / "atproto" / "repo"
    folder.mkdir(parents=True)
    shutil.copy(BUNDLED / "com" / "atproto" / "repo" / "strongRef.json", folder)
    with pytest.raises(LexiconError, match="no lexicon documents of your own"):
        generate_user(tmp_path / "lexicons", "mypkg", BUNDLED)


def test_errors_are_reported_with_an_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {**BOOKMARK, "defs": {"main": {"type": "ref", "ref": "com.example.nowhere"}}}
    lexicons = _write_lexicons(tmp_path / "lexicons", broken)
    args = ["codegen", "--lexicons", str(lexicons), "--package", "mypkg", "--out", str(tmp_path)]
    assert cli_main(args) == 1
    assert "atproto-async codegen: error: com.example.thing.bookmark" in capsys.readouterr().err
    missing = ["codegen", "--lexicons", str(tmp_path / "absent"), "--package", "mypkg"]
    assert cli_main(missing) == 2
    assert "no lexicon folder" in capsys.readouterr().err


def test_nullable_arrays_take_null_but_not_null_items(tmp_path: Path) -> None:
    doc = {
        "lexicon": 1,
        "id": "com.example.nulls.thing",
        "defs": {
            "main": {
                "type": "object",
                "required": ["need"],
                "nullable": ["need", "maybe"],
                "properties": {
                    "need": {"type": "array", "items": {"type": "string"}},
                    "maybe": {"type": "array", "items": {"type": "ref", "ref": "#item"}},
                },
            },
            "item": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
    lexicons = _write_lexicons(tmp_path / "lexicons", doc)
    files = generate_user(lexicons, "nullpkg", BUNDLED)
    namespace: dict[str, Any] = {"__name__": "nullpkg.models.com.example.nulls.thing"}
    exec(compile(files["nullpkg/models/com/example/nulls/thing.py"], "thing.py", "exec"), namespace)
    thing = namespace["Thing"]
    assert thing.from_dict({"need": None, "maybe": None}).to_dict() == {
        "need": None,
        "maybe": None,
    }
    built = thing.from_dict({"need": ["a"], "maybe": [{"n": 1}]})
    assert built.maybe[0].n == 1
    assert thing.from_dict({"need": []}).maybe is UNSET
    with pytest.raises(DecodeError, match=r"^com\.example\.nulls\.thing: need\[1\]: null is not"):
        thing.from_dict({"need": ["a", None]})
    with pytest.raises(DecodeError, match=r"^com\.example\.nulls\.thing: maybe\[0\]: null is not"):
        thing.from_dict({"need": None, "maybe": [None]})


def test_a_file_that_is_not_json_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lexicons = _write_lexicons(tmp_path / "lexicons", BOOKMARK)
    (lexicons / "com" / "broken.json").write_text("{not json", encoding="utf-8")
    args = ["codegen", "--lexicons", str(lexicons), "--package", "mypkg", "--out", str(tmp_path)]
    assert cli_main(args) == 1
    assert "error: com/broken.json: not a JSON document" in capsys.readouterr().err
    assert not (tmp_path / "mypkg").exists()
