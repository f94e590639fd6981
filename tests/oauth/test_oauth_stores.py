"""The in-memory state and session stores: expiry, single use, caps and per-account locks."""

from __future__ import annotations

import asyncio

from atproto_async.oauth import MemorySessionStore, MemoryStateStore, SessionStore, StateStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_stores_satisfy_their_protocols() -> None:
    assert isinstance(MemoryStateStore(), StateStore)
    assert isinstance(MemorySessionStore(), SessionStore)


async def test_state_is_given_out_once() -> None:
    store = MemoryStateStore()
    await store.set("s", {"verifier": "v"})
    assert await store.pop("s") == {"verifier": "v"}
    assert await store.pop("s") is None
    assert await store.pop("never") is None


async def test_state_expires_after_its_ttl() -> None:
    clock = Clock()
    store = MemoryStateStore(ttl=60, clock=clock)
    await store.set("a", {"n": 1})
    await store.set("b", {"n": 2})
    clock.now += 59.9
    assert await store.pop("a") == {"n": 1}
    clock.now += 0.1
    assert await store.pop("b") is None  # exactly at the deadline: gone


async def test_expired_states_are_dropped_when_new_ones_arrive() -> None:
    clock = Clock()
    store = MemoryStateStore(ttl=10, clock=clock)
    for i in range(5):
        await store.set(f"old{i}", {})
    clock.now += 11
    await store.set("new", {})
    assert len(store) == 1
    assert await store.pop("new") == {}


async def test_state_store_is_capped_oldest_first() -> None:
    store = MemoryStateStore(max_size=3, clock=Clock())
    for i in range(10):
        await store.set(f"s{i}", {"i": i})
    assert len(store) == 3
    assert await store.pop("s6") is None
    assert await store.pop("s9") == {"i": 9}


async def test_state_store_repr_shows_no_values() -> None:
    store = MemoryStateStore()
    await store.set("the-state", {"verifier": "secret-verifier"})
    assert "secret-verifier" not in repr(store) and "the-state" not in repr(store)


async def test_session_store_keeps_copies() -> None:
    store = MemorySessionStore()
    value = {"access_token": "a"}
    await store.set("did:plc:a", value)
    value["access_token"] = "changed"
    got = await store.get("did:plc:a")
    assert got == {"access_token": "a"}
    assert got is not None
    got["access_token"] = "changed too"
    assert await store.get("did:plc:a") == {"access_token": "a"}
    await store.delete("did:plc:a")
    await store.delete("did:plc:a")  # no error when absent
    assert await store.get("did:plc:a") is None
    assert "access_token" not in repr(store)


async def test_session_lock_is_exclusive_per_did() -> None:
    store = MemorySessionStore()
    inside: list[str] = []
    most = 0
    release = asyncio.Event()

    async def hold(name: str) -> None:
        nonlocal most
        async with store.lock("did:plc:a"):
            inside.append(name)
            most = max(most, len(inside))
            await release.wait()
            inside.remove(name)

    tasks = [asyncio.create_task(hold(f"t{i}")) for i in range(5)]
    await asyncio.sleep(0)
    assert inside == ["t0"]
    release.set()
    await asyncio.gather(*tasks)
    assert most == 1 and inside == []


async def test_session_locks_of_different_dids_are_independent() -> None:
    store = MemorySessionStore()
    async with store.lock("did:plc:a"):
        # Would wait forever if the lock were shared.
        await asyncio.wait_for(_take(store, "did:plc:b"), timeout=5)


async def _take(store: MemorySessionStore, did: str) -> None:
    async with store.lock(did):
        pass


async def test_session_lock_is_released_after_an_error() -> None:
    store = MemorySessionStore()
    try:
        async with store.lock("did:plc:a"):
            raise RuntimeError("refresh failed")
    except RuntimeError:
        pass
    await asyncio.wait_for(_take(store, "did:plc:a"), timeout=5)


async def test_lock_table_does_not_grow() -> None:
    store = MemorySessionStore()
    for i in range(100):
        await _take(store, f"did:plc:{i}")
    release = asyncio.Event()

    async def hold() -> None:
        async with store.lock("did:plc:x"):
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    # No public view of the lock table: its size is the only way to see it was emptied.
    assert len(store._locks) == 0


async def test_cancelled_waiter_leaves_no_lock_behind() -> None:
    store = MemorySessionStore()
    async with store.lock("did:plc:a"):
        waiter = asyncio.create_task(_take(store, "did:plc:a"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    assert len(store._locks) == 0
    await asyncio.wait_for(_take(store, "did:plc:a"), timeout=5)
