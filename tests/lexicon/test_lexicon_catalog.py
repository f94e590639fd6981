"""Building and querying a Catalog (atproto_async/lexicon/_catalog.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import LexiconError, LexiconValidationError
from atproto_async.lexicon import Catalog
from atproto_async.lexicon._catalog import BUNDLED

ROOT = Path(__file__).resolve().parents[2]


def note(nsid: str, text_type: str = "string") -> dict[str, Any]:
    return {
        "lexicon": 1,
        "id": nsid,
        "defs": {
            "main": {
                "type": "record",
                "key": "any",
                "record": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {"text": {"type": text_type}},
                },
            }
        },
    }


def test_default_reads_the_bundled_lexicons() -> None:
    # A checkout reads lexicons/ itself; an installed wheel (the compiled build's test run)
    # the copy it ships, which must be the same.
    if BUNDLED != ROOT / "lexicons":
        assert BUNDLED.name == "_lexicons"
        shipped = (BUNDLED / "lexicons.lock").read_bytes()
        assert shipped == (ROOT / "lexicons" / "lexicons.lock").read_bytes()
    catalog = Catalog.default()
    locked = json.loads((BUNDLED / "lexicons.lock").read_text(encoding="utf-8"))
    assert len(catalog) == locked["count"]
    assert "app.bsky.feed.post" in catalog
    assert "app.bsky.feed.post#replyRef" in catalog
    assert "app.bsky.feed.post#nope" not in catalog
    assert "app.bsky.nope" not in catalog
    assert 3 not in catalog
    post = catalog.get("app.bsky.feed.post")
    assert post is not None and post["type"] == "record" and post["key"] == "tid"
    assert catalog.get("lex:app.bsky.feed.post#main") == post
    assert catalog.get("app.bsky.nope") is None
    assert catalog.document("app.bsky.nope") is None
    assert repr(catalog) == f"<Catalog of {len(catalog)} lexicons>"


def test_get_returns_copies() -> None:
    catalog = Catalog.default()
    definition = catalog.get("app.bsky.feed.like")
    assert definition is not None
    definition["record"]["required"] = []
    with pytest.raises(LexiconValidationError, match="is required"):
        catalog.validate_record({"$type": "app.bsky.feed.like"})


def test_load_reads_folders_recursively(tmp_path: Path) -> None:
    (tmp_path / "com" / "example").mkdir(parents=True)
    (tmp_path / "com" / "example" / "note.json").write_text(json.dumps(note("com.example.note")))
    (tmp_path / "top.json").write_text(json.dumps(note("com.example.top")))
    (tmp_path / "README.md").write_text("not a lexicon")
    catalog = Catalog.load(tmp_path)
    assert list(catalog) == ["com.example.note", "com.example.top"]
    catalog.validate_record({"$type": "com.example.note", "text": "hi"})


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", r"bad\.json: not a JSON document"),
        (b"\xff\xfe", r"bad\.json: not a JSON document"),
        (json.dumps({"lexicon": 1, "id": "com.example.bad", "defs": {}}), r"bad\.json: 'defs'"),
    ],
)
def test_load_names_the_bad_file(tmp_path: Path, content: str | bytes, match: str) -> None:
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(LexiconError, match=match):
        Catalog.load(tmp_path)


def test_load_refuses_duplicates_and_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(note("com.example.note")))
    (tmp_path / "b.json").write_text(json.dumps(note("com.example.note")))
    with pytest.raises(LexiconError, match="another file has this id"):
        Catalog.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        Catalog.load(tmp_path / "nowhere")
    with pytest.raises(LexiconError, match="two documents have this id"):
        Catalog.from_documents([note("com.example.note"), note("com.example.note")])


def test_extend_adds_and_replaces() -> None:
    base = Catalog.from_documents([note("com.example.note")])
    extended = base.extend([note("com.example.other")])
    assert list(extended) == ["com.example.note", "com.example.other"]
    assert list(base) == ["com.example.note"]  # catalogs are immutable
    with pytest.raises(LexiconError, match="already in the catalog") as info:
        base.extend([note("com.example.note", "integer")])
    assert info.value.nsid == "com.example.note"
    replaced = base.extend(
        Catalog.from_documents([note("com.example.note", "integer")]), replace=True
    )
    replaced.validate_record({"$type": "com.example.note", "text": 1})
    with pytest.raises(LexiconValidationError):
        replaced.validate_record({"$type": "com.example.note", "text": "hi"})
    base.validate_record({"$type": "com.example.note", "text": "hi"})


def test_user_lexicons_can_refer_to_the_default_ones() -> None:
    mine = {
        "lexicon": 1,
        "id": "com.example.bookmark",
        "defs": {
            "main": {
                "type": "record",
                "key": "tid",
                "record": {
                    "type": "object",
                    "required": ["subject", "createdAt"],
                    "properties": {
                        "subject": {"type": "ref", "ref": "com.atproto.repo.strongRef"},
                        "createdAt": {"type": "string", "format": "datetime"},
                    },
                },
            }
        },
    }
    catalog = Catalog.default().extend([mine])
    subject = {
        "uri": "at://did:plc:abc/app.bsky.feed.post/3k2yihcrp6f2c",
        "cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq",
    }
    record = {
        "$type": "com.example.bookmark",
        "subject": subject,
        "createdAt": "2024-01-01T00:00:00Z",
    }
    catalog.validate_record(record)
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record({**record, "subject": {**subject, "uri": "https://x"}})
    assert info.value.path == "subject.uri"


def test_one_catalog_is_safe_to_share_between_threads() -> None:
    catalog = Catalog.default()  # nothing compiled yet: the threads race to compile
    subject = {"uri": "at://did:plc:abc/app.bsky.feed.post/3k2yihcrp6f2c", "cid": "bafyreiaa"}
    record = {"$type": "app.bsky.feed.like", "subject": subject}
    record["createdAt"] = "2024-01-01T00:00:00Z"
    thread_view = {"$type": "app.bsky.feed.defs#notFoundPost", "uri": subject["uri"]}
    thread_view["notFound"] = True
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                catalog.validate_record(record)
                catalog.validate_output("app.bsky.feed.getPostThread", {"thread": thread_view})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_import_atproto_async_does_not_load_the_validator() -> None:
    code = (
        "import sys, atproto_async; "
        "print(any(m.startswith('atproto_async.lexicon') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
