"""Fixtures for the fan-out tests: a real redis-server per test, and recorded firehose frames.

redis-server comes from ``redis_server.py`` beside this file. When it is not installed the
Redis tests skip with the reason; in CI (``CI=true``) that is a failure instead, since CI must
run them (``.ci/run`` installs the Debian package).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis_server import RedisServer, RedisUnavailable, unavailable_reason

from tests.conftest import require_server

ROOT = Path(__file__).resolve().parents[2]


def _server(persistent: bool) -> Iterator[RedisServer]:
    require_server(unavailable_reason(), "the fan-out tests")
    server = RedisServer(persistent=persistent)
    try:
        server.start()
    except RedisUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on 127.0.0.1 (no persistence); ``.url`` to connect."""
    yield from _server(persistent=False)


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    """A fresh redis-server with ``appendonly yes`` and ``appendfsync always``."""
    yield from _server(persistent=True)


_clients: list[aioredis.Redis] = []


def open_client(url: str) -> aioredis.Redis:
    """A redis-py client for the test, closed after it even when it fails."""
    client = aioredis.Redis.from_url(url)
    _clients.append(client)
    return client


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _clients:
        await _clients.pop().aclose()


@cache
def generated_frames(count: int, layout: str, seed: int) -> tuple[bytes, ...]:
    """``count`` frames of ``benchmarks/make_frames.py``."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from make_frames import generate_frames
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return tuple(generate_frames(count, seed=seed, layout=layout))


def live_frames(count: int) -> tuple[bytes, ...]:
    """``count`` frames in the live layout (the relays' own; seed 7)."""
    return generated_frames(count, "live", 7)


def synthetic_frames() -> list[bytes]:
    """300 frames in the synthetic layout (seed 5)."""
    return list(generated_frames(300, "synthetic", 5))


def recorded_frames() -> list[bytes]:
    """The frames of ``examples/data/local-pds.frames`` (a real PDS's stream)."""
    from atproto_async.stream.framefile import iter_frames

    data = (ROOT / "examples" / "data" / "local-pds.frames").read_bytes()
    return [bytes(frame) for frame in iter_frames(data)]
