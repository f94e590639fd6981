"""Shared test helpers: where the outside test vectors live."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``../shared/fixtures`` beside the repository: official vectors, never copied into the repo.
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    """Return a path under the shared fixtures, skipping the test when it is absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test vectors not found at {path} (they live in ../shared/fixtures)")
    return path
