"""The README's main job against the real PDS: ``atproto-async firehose --relay ws://...``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import post, read_until
from localpds import LocalPds

from atproto_async.models.app.bsky.feed.generator import Generator
from atproto_async.stream import Commit, subscribe_repos

pytestmark = pytest.mark.integration


def command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m atproto_async``."""
    script = Path(sys.executable).with_name("atproto-async")
    if script.exists():
        return [str(script)]
    found = shutil.which("atproto-async")
    return [found] if found else [sys.executable, "-m", "atproto_async"]


async def run_cli(
    *args: str, feed: Any = None, within: float = 60, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run the CLI to completion; ``feed`` (a coroutine function) runs while it reads."""
    process = await asyncio.create_subprocess_exec(
        *command(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
    feeder = asyncio.create_task(feed()) if feed else None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if feeder is not None:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_firehose_command_streams_live_events(local_pds: LocalPds, client: Any) -> None:
    did = client.session.did

    async def keep_posting() -> None:
        # The command starts with live events: post until it has seen enough of them.
        for n in range(200):
            await client.procedure(
                "com.atproto.repo.createRecord",
                {"repo": did, "collection": "app.bsky.feed.post", "record": post(f"live {n}")},
            )
            await asyncio.sleep(0.25)

    code, out, err = await run_cli(
        "firehose", "--relay", local_pds.ws_url, "--limit", "3", feed=keep_posting
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert "#commit" in line
        assert did in line
        assert "create app.bsky.feed.post/" in line


async def test_firehose_command_json_from_a_cursor(local_pds: LocalPds, client: Any) -> None:
    did = client.session.did
    record = post("json line")
    await client.procedure(
        "com.atproto.repo.createRecord",
        {"repo": did, "collection": "app.bsky.feed.post", "record": record},
    )
    # Find the seq of that commit, then ask the command for the event right after seq - 1.
    events = await read_until(
        subscribe_repos(local_pds.ws_url, cursor=0),
        lambda got: any(isinstance(e, Commit) and e.ops for e in got),
        keep=lambda event: getattr(event, "repo", None) == did,
    )
    seq = events[-1].seq
    code, out, err = await run_cli(
        "firehose", "--relay", local_pds.ws_url, "--cursor", str(seq - 1), "--limit", "1", "--json"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert (event["$type"], event["seq"], event["repo"]) == (
        "com.atproto.sync.subscribeRepos#commit",
        seq,
        did,
    )
    [op] = event["ops"]
    assert op["action"] == "create"
    assert op["record"] == record
    assert set(op["cid"]) == {"$link"}


async def test_feedgen_publish_and_unpublish(
    local_pds: LocalPds, client: Any, account: Any
) -> None:
    from atproto_async.exceptions import XrpcError

    base = ("--handle", account.handle, "--pds", local_pds.url)
    code, out, err = await run_cli(
        "feedgen", "publish", "cats", *base, "--service-did", "did:web:feeds.test", "--name", "Cats"
    )
    assert code == 2 and "ATPROTO_PASSWORD" in err  # no password on the command line, no tty
    env = {"ATPROTO_PASSWORD": account.password}
    code, out, err = await run_cli(
        "feedgen",
        "publish",
        "cats",
        *base,
        "--service-did",
        "did:web:feeds.test",
        "--name",
        "Cats",
        "--description",
        "Only cats",
        env=env,
    )
    assert code == 0, err
    uri = f"at://{account.did}/app.bsky.feed.generator/cats"
    assert out.strip() == uri
    assert account.password not in out + err
    got = await client.com.atproto.repo.get_record(
        repo=account.did, collection="app.bsky.feed.generator", rkey="cats"
    )
    assert got.uri == uri
    assert isinstance(got.value, Generator)  # the record's model
    record = got.value.to_dict()
    assert record["$type"] == "app.bsky.feed.generator"
    assert record["did"] == "did:web:feeds.test"
    assert (record["displayName"], record["description"]) == ("Cats", "Only cats")

    code, out, err = await run_cli("feedgen", "unpublish", "cats", *base, env=env)
    assert code == 0, err
    with pytest.raises(XrpcError) as info:
        await client.com.atproto.repo.get_record(
            repo=account.did, collection="app.bsky.feed.generator", rkey="cats"
        )
    assert info.value.error == "RecordNotFound"


async def test_firehose_verify_command(local_pds: LocalPds, client: Any) -> None:
    """``firehose --verify``: a real session's posts printed, nothing refused (SIGTERM ends it)."""
    did = client.session.did
    for n in range(3):
        await client.com.atproto.repo.create_record(
            repo=did, collection="app.bsky.feed.post", record=post(f"verified {n}")
        )
    process = await asyncio.create_subprocess_exec(
        *command(),
        "firehose",
        "--relay",
        local_pds.ws_url,
        "--verify",
        "--plc",
        local_pds.plc_url,
        "--insecure",
        "--cursor",
        "0",
        "--collection",
        "app.bsky.feed.post",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    mine = []
    try:
        async with asyncio.timeout(30):
            while len(mine) < 3:
                line = await process.stdout.readline()
                assert line, (await process.stderr.read()).decode()
                event = json.loads(line)
                if event.get("repo") == did:
                    mine.append(event)
    finally:
        process.terminate()
        await process.wait()
    err = (await process.stderr.read()).decode()
    assert "refused" not in err, err
    assert [e["ops"][0]["record"]["text"] for e in mine] == [f"verified {n}" for n in range(3)]
