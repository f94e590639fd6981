"""Export the lexicon documents of ``@atproto/api`` from npm into ``lexicons/``.

The lexicons are the schema of every record and XRPC method (https://atproto.com/specs/lexicon).
The reference TypeScript package ``@atproto/api`` ships all of them as the array ``schemas`` in its
main module, so this script:

1. asks npm for the newest version (or takes ``--version``),
2. installs exactly that version into a temporary folder (``npm install --ignore-scripts``),
3. runs node to print ``JSON.stringify(require('@atproto/api').schemas)``,
4. writes each document to ``lexicons/<nsid path>.json`` (indent 2, keys in source order, trailing
   newline), removing documents that are no longer exported,
5. records the package, version and a sha256 per file in ``lexicons/lexicons.lock``.

The documents are committed, so building or using the library needs nothing but Python; run this
script (it needs node and npm) only to move to a newer lexicon set, then ``python -m codegen``.

Usage: ``python scripts/update_lexicons.py [--version X.Y.Z] [--lexicons DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@atproto/api"
ROOT = Path(__file__).resolve().parents[1]
LOCK_NAME = "lexicons.lock"


def newest_version(package: str) -> str:
    """Return the version the npm registry tags as ``latest`` for ``package``."""
    out = subprocess.run(
        ["npm", "view", package, "version"], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def export_schemas(package: str, version: str) -> list[dict[str, Any]]:
    """Install ``package@version`` into a temporary folder and return its ``schemas`` array."""
    with tempfile.TemporaryDirectory(prefix="lexicons-") as tmp:
        subprocess.run(["npm", "init", "-y"], cwd=tmp, check=True, capture_output=True, text=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--save-exact",
                f"{package}@{version}",
            ],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        script = f"process.stdout.write(JSON.stringify(require({json.dumps(package)}).schemas))"
        out = subprocess.run(
            ["node", "-e", script], cwd=tmp, check=True, capture_output=True, text=True
        )
    schemas = json.loads(out.stdout)
    if not isinstance(schemas, list) or not all(isinstance(d, dict) for d in schemas):
        raise SystemExit(f"{package}@{version}: 'schemas' is not an array of lexicon documents")
    return schemas


def document_path(lexicons: Path, nsid: str) -> Path:
    """Where the document of ``nsid`` goes: ``com.atproto.repo.x`` -> ``com/atproto/repo/x.json``"""
    parts = nsid.split(".")
    if len(parts) < 3 or not all(p and "/" not in p and p not in (".", "..") for p in parts):
        raise SystemExit(f"refusing to write a document with id {nsid!r}")
    return lexicons.joinpath(*parts[:-1], parts[-1] + ".json")


def render(document: dict[str, Any]) -> bytes:
    """Format one document: indent 2, source key order, non-ASCII kept, trailing newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_lexicons(
    lexicons: Path, package: str, version: str, schemas: list[dict[str, Any]]
) -> int:
    """Write every document and the lock file; delete documents no longer exported."""
    files: dict[str, str] = {}
    for document in schemas:
        nsid = document.get("id")
        if not isinstance(nsid, str):
            raise SystemExit(f"a document has no string 'id': {str(document)[:200]}")
        path = document_path(lexicons, nsid)
        rel = path.relative_to(lexicons).as_posix()
        if rel in files:
            raise SystemExit(f"two documents share the id {nsid!r}")
        data = render(document)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        files[rel] = hashlib.sha256(data).hexdigest()
    for stale in sorted(lexicons.rglob("*.json")):
        if stale.relative_to(lexicons).as_posix() not in files:
            stale.unlink()
    for folder in sorted((p for p in lexicons.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    lock = {
        "package": package,
        "version": version,
        "count": len(files),
        "files": dict(sorted(files.items())),
    }
    (lexicons / LOCK_NAME).write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help=f"{PACKAGE} version (default: newest on npm)")
    parser.add_argument("--lexicons", type=Path, default=ROOT / "lexicons", help="output folder")
    args = parser.parse_args(argv)
    version = args.version or newest_version(PACKAGE)
    schemas = export_schemas(PACKAGE, version)
    args.lexicons.mkdir(parents=True, exist_ok=True)
    count = write_lexicons(args.lexicons, PACKAGE, version, schemas)
    print(f"wrote {count} lexicon documents from {PACKAGE}@{version} to {args.lexicons}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
