"""``atproto-async ingest`` and ``atproto-async work``: printing, handlers, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from conftest import live_frames
from redis_server import RedisServer

from atproto_async.cli import event_text
from atproto_async.fanout import partition_of
from atproto_async.stream import decode_frame, read_raw_frame

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atproto_async", *args],
        env={**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fill(url: str, count: int, partitions: int = 2) -> list[bytes]:
    """Append ``count`` frames as the ingester would (without a relay)."""
    frames = list(live_frames(count))
    client = redis.Redis.from_url(url)
    client.set("atproto:partitions", partitions)
    for message in frames:
        raw = read_raw_frame(message)
        stream = f"atproto:stream:{partition_of(raw.did, partitions)}"
        client.xadd(stream, {"seq": raw.seq or 0, "frame": message})
    client.close()
    return frames


def test_work_prints_events_like_firehose(redis_server: RedisServer) -> None:
    frames = fill(redis_server.url, 30)
    result = cli(
        "work", "--redis", redis_server.url, "--group", "g", "--partitions", "2", "--limit", "30"
    )
    assert result.returncode == 0, result.stderr
    expected = {event_text(decode_frame(m)) for m in frames}
    assert set(result.stdout.splitlines()) == expected
    assert "30 events handled" in result.stderr


def test_work_runs_a_handler(redis_server: RedisServer, tmp_path: Path) -> None:
    frames = fill(redis_server.url, 12)
    out = tmp_path / "handled.txt"
    result = cli(
        "work", "--redis", redis_server.url, "--group", "g", "--partitions", "2",
        "--limit", "12", "--handler", "fanout_handler:record", "--name", "box-1",
        FANOUT_OUT=str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    seqs = sorted(int(line.split()[1]) for line in out.read_text().splitlines())
    assert seqs == sorted(read_raw_frame(m).seq or 0 for m in frames)


@pytest.mark.parametrize(
    ("handler", "problem"),
    [("nocolon", "module:function"), ("no_such_module_x:f", "cannot import"), ("os:nope", "nope")],
)
def test_work_refuses_a_bad_handler(handler: str, problem: str) -> None:
    result = cli("work", "--redis", "redis://127.0.0.1:1/0", "--group", "g", "--handler", handler)
    assert result.returncode == 2
    assert problem in result.stderr


def test_ingest_refuses_an_evicting_redis_without_showing_the_password(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("requirepass", "s3cret")
    client.close()
    url = redis_server.url.replace("redis://", "redis://:s3cret@")
    result = cli("-v", "ingest", "--relay", "ws://127.0.0.1:9", "--redis", url)
    assert result.returncode == 1
    assert "noeviction" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_help_names_both_commands() -> None:
    result = cli("--help")
    assert "ingest" in result.stdout and "work" in result.stdout


async def test_ingest_status_line_shows_rate_and_a_pause() -> None:
    import argparse
    import asyncio
    import io
    from types import SimpleNamespace

    from atproto_async.cli import _Runner

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    runner = _Runner(argparse.Namespace(), Terminal(), err)
    ingester = SimpleNamespace(
        appended=10, cursor=42, paused=3, backlog=[0, 0, 0, 500], subscription=None
    )
    task = asyncio.create_task(runner._ingest_status(ingester))
    await asyncio.sleep(0.7)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert "seq 42" in err.getvalue()
    assert "PAUSED: partition 3 holds 500 unacknowledged" in err.getvalue()
