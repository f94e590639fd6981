"""examples/post.py: --help works, and it logs in and posts against a local fake PDS."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web
from xrpc_fakes import DID, HANDLE, PASSWORD, FakePds

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "post.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_post", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_works() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"], capture_output=True, text=True, check=True
    )
    assert "--service" in out.stdout
    assert "ATPROTO_PASSWORD" in out.stdout


def test_missing_credentials_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATPROTO_HANDLE", raising=False)
    monkeypatch.delenv("ATPROTO_PASSWORD", raising=False)
    with pytest.raises(SystemExit) as caught:
        load_example().parse_args(["hi"])
    assert caught.value.code == 2


@pytest.fixture
async def pds() -> AsyncIterator[FakePds]:
    fake = FakePds()
    created: list[dict[str, object]] = []

    async def create_record(request: web.Request) -> web.Response:
        refused = fake.check_access(request)
        if refused is not None:
            return refused
        created.append(await request.json())
        return web.json_response({"uri": f"at://{DID}/app.bsky.feed.post/3k", "cid": "bafyrei"})

    fake.routes["com.atproto.repo.createRecord"] = create_record
    fake.created = created  # type: ignore[attr-defined]
    await fake.start()
    yield fake
    await fake.stop()


async def test_posts_through_the_pds(pds: FakePds) -> None:
    example = load_example()
    args = example.parse_args(
        ["--service", pds.url, "--handle", HANDLE, "--password", PASSWORD, "--lang", "en", "hi"]
    )
    out = await example.post(args)
    assert out == {"uri": f"at://{DID}/app.bsky.feed.post/3k", "cid": "bafyrei"}
    [body] = pds.created  # type: ignore[attr-defined]
    assert body["repo"] == DID
    assert body["record"]["text"] == "hi"
    assert body["record"]["langs"] == ["en"]
    assert body["record"]["createdAt"].endswith("Z")
    assert pds.hits["com.atproto.server.deleteSession"] == 1
