"""Shared test helpers: where the outside test vectors live."""

from __future__ import annotations

import os
import shutil
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


#: Where Debian puts server programs, not always on PATH (dnsmasq, redis-server).
SBIN_DIRECTORIES = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin")


def find_program(name: str) -> str | None:
    """The path of the program ``name`` on PATH or in `SBIN_DIRECTORIES`, or None."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN_DIRECTORIES))


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``): a missing server is then a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_server(reason: str | None, what: str) -> None:
    """Skip the test when ``reason`` says a server is unavailable; in CI, fail instead."""
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI must run {what}, but {reason}", pytrace=False)
    pytest.skip(reason)
