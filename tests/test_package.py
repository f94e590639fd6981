"""The package's import surface: lazy, cheap, and complete."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import atproto_async
from atproto_async import exceptions

HEAVY = (
    "aiohttp",
    "websockets",
    "cbor2",
    "multiformats",
    "atproto_async.models",
    "atproto_async.api",
)


def test_import_loads_no_heavy_module() -> None:
    code = "import sys, json, atproto_async\nprint(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = json.loads(out)
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []


def test_version_is_a_string() -> None:
    assert isinstance(atproto_async.__version__, str)
    assert atproto_async.__version__.count(".") >= 2


@pytest.mark.parametrize("name", [n for n in atproto_async.__all__ if n != "__version__"])
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(atproto_async, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        atproto_async.no_such_name  # noqa: B018


def test_exceptions_are_the_same_objects_at_top_level() -> None:
    assert atproto_async.XrpcError is exceptions.XrpcError
    assert atproto_async.FrameDecodeError is exceptions.FrameDecodeError
