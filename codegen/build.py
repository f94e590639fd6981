"""Run the whole pipeline and write its output: lexicons -> IR -> ``{path: source}`` -> files."""

from __future__ import annotations

from pathlib import Path

from codegen.parser import load_documents, parse
from codegen.render_api import render_api
from codegen.render_models import render_models

#: The directories that hold generated code only (relative to the repository root).
GENERATED_DIRS = ("atproto_async/models", "atproto_async/api")


def generate(lexicons: Path) -> dict[str, str]:
    """Return every generated file as ``{path relative to the repository: source text}``."""
    schema = parse(load_documents(lexicons))
    files = render_models(schema)
    files.update(render_api(schema))
    return dict(sorted(files.items()))


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``root``; delete other ``.py`` files of the generated directories."""
    for rel, text in files.items():
        path = root / rel
        data = text.encode("utf-8")
        if path.exists() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for folder in GENERATED_DIRS:
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            if path.relative_to(root).as_posix() not in files:
                path.unlink()
        for directory in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
            if directory.name == "__pycache__":
                continue
            if not any(p for p in directory.iterdir() if p.name != "__pycache__"):
                for cache in directory.glob("__pycache__"):
                    for f in cache.iterdir():
                        f.unlink()
                    cache.rmdir()
                directory.rmdir()
