"""scripts/update_lexicons.py without the network: layout, formatting and the lock file."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "update_lexicons", ROOT / "scripts" / "update_lexicons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


update = _script()

DOCS = [
    {"lexicon": 1, "id": "com.example.b.thing", "defs": {"main": {"type": "token"}}},
    {"lexicon": 1, "id": "com.example.a", "description": "é", "defs": {}},
]


def test_documents_go_to_their_nsid_paths(tmp_path: Path) -> None:
    assert update.document_path(tmp_path, "com.atproto.repo.createRecord") == (
        tmp_path / "com" / "atproto" / "repo" / "createRecord.json"
    )
    with pytest.raises(SystemExit):
        update.document_path(tmp_path, "com..x")
    with pytest.raises(SystemExit):
        update.document_path(tmp_path, "a.b")


def test_write_lexicons_formats_and_locks(tmp_path: Path) -> None:
    stale = tmp_path / "com" / "old" / "gone.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}", encoding="utf-8")
    assert update.write_lexicons(tmp_path, "@atproto/api", "9.9.9", DOCS) == 2
    written = (tmp_path / "com" / "example" / "b" / "thing.json").read_text(encoding="utf-8")
    assert written == json.dumps(DOCS[0], indent=2) + "\n"
    assert (tmp_path / "com" / "example" / "a.json").read_text(encoding="utf-8").count("é") == 1
    assert not stale.exists() and not stale.parent.exists()
    lock = json.loads((tmp_path / "lexicons.lock").read_text(encoding="utf-8"))
    assert (lock["package"], lock["version"], lock["count"]) == ("@atproto/api", "9.9.9", 2)
    assert list(lock["files"]) == ["com/example/a.json", "com/example/b/thing.json"]


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        update.write_lexicons(tmp_path, "p", "1", [DOCS[0], DOCS[0]])


def test_committed_lexicons_match_their_lock() -> None:
    lexicons = ROOT / "lexicons"
    lock = json.loads((lexicons / "lexicons.lock").read_text(encoding="utf-8"))
    assert lock["package"] == "@atproto/api"
    on_disk = sorted(p.relative_to(lexicons).as_posix() for p in lexicons.rglob("*.json"))
    assert on_disk == sorted(lock["files"])
    assert lock["count"] == len(on_disk) > 380
    for rel, digest in lock["files"].items():
        assert hashlib.sha256((lexicons / rel).read_bytes()).hexdigest() == digest, rel
