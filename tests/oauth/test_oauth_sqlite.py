"""SQLiteSessionStore: a session store whose lock holds across processes."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from atproto_async.oauth import OAuthError, SessionStore
from atproto_async.oauth.sqlite import SQLiteSessionStore


async def test_values_round_trip_and_are_replaced_and_deleted(tmp_path: Path) -> None:
    store = SQLiteSessionStore(tmp_path / "s.db")
    assert isinstance(store, SessionStore)
    assert await store.get("did:plc:a") is None
    await store.set("did:plc:a", {"refresh_token": "r1", "n": [1, 2]})
    await store.set("did:plc:a", {"refresh_token": "r2"})
    again = SQLiteSessionStore(tmp_path / "s.db")  # another process opening the same file
    assert await again.get("did:plc:a") == {"refresh_token": "r2"}
    await again.delete("did:plc:a")
    await again.delete("did:plc:a")  # no error when absent
    assert await store.get("did:plc:a") is None
    assert (tmp_path / "s.db").stat().st_mode & 0o077 == 0  # holds secrets: owner only


async def test_lock_is_exclusive_across_store_objects_and_per_did(tmp_path: Path) -> None:
    one = SQLiteSessionStore(tmp_path / "s.db", poll=0.005)
    two = SQLiteSessionStore(tmp_path / "s.db", poll=0.005)
    order: list[str] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with one.lock("did:plc:a"):
            order.append("first in")
            entered.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with two.lock("did:plc:a"):
            order.append("second in")

    task = asyncio.create_task(first())
    await entered.wait()
    waiting = asyncio.create_task(second())
    async with two.lock("did:plc:b"):  # another account is not blocked
        order.append("other did")
    await asyncio.sleep(0.05)
    assert "second in" not in order
    release.set()
    await asyncio.gather(task, waiting)
    assert order == ["first in", "other did", "first out", "second in"]


async def test_lock_left_by_a_dead_process_expires(tmp_path: Path) -> None:
    now = [1000.0]
    store = SQLiteSessionStore(tmp_path / "s.db", lock_ttl=60, clock=lambda: now[0])
    assert store._try_lock("did:plc:a", "dead-process")
    late = SQLiteSessionStore(
        tmp_path / "s.db", lock_ttl=60, lock_timeout=0.05, poll=0.01, clock=lambda: now[0]
    )
    with pytest.raises(OAuthError) as caught:
        async with late.lock("did:plc:a"):
            pass
    assert caught.value.error == "lock_timeout"
    now[0] += 61
    async with late.lock("did:plc:a"):
        pass


async def test_lock_waits_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    marker = tmp_path / "released"
    SQLiteSessionStore(path)
    holder = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from pathlib import Path
        from atproto_async.oauth.sqlite import SQLiteSessionStore

        async def main():
            store = SQLiteSessionStore({str(path)!r})
            async with store.lock("did:plc:a"):
                print("locked", flush=True)
                await asyncio.sleep(0.5)
                Path({str(marker)!r}).write_text("x")
        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", holder, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"locked"
    store = SQLiteSessionStore(path, poll=0.01)
    async with store.lock("did:plc:a"):
        assert marker.exists()  # only after the other process let go
    assert await process.wait() == 0
