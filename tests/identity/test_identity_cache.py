"""ResolutionCache: TTLs, stale-while-revalidate, merged lookups, bounds, invalidation."""

from __future__ import annotations

import asyncio

import pytest

from atproto_async.identity import IdentityError, IdentityNotFound, ResolutionCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lookups:
    """A lookup that counts its calls and answers from a script."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, str)
        return answer


def cache(clock: Clock, **kwargs: float) -> ResolutionCache[str, str]:
    args = {"fresh_ttl": 10.0, "max_ttl": 100.0, "failure_ttl": 5.0, **kwargs}
    return ResolutionCache(clock=clock, **args)  # type: ignore[arg-type]


async def test_fresh_answers_come_from_the_cache() -> None:
    clock, lookup = Clock(), Lookups("did:plc:one")
    c = cache(clock)
    assert await c.get("a", lookup) == "did:plc:one"
    clock.now += 9
    assert await c.get("a", lookup) == "did:plc:one"
    assert lookup.calls == 1
    assert (c.hits, c.misses) == (1, 1)


async def test_stale_answer_served_while_refreshing_in_the_background() -> None:
    clock, lookup = Clock(), Lookups("did:plc:old", "did:plc:new")
    c = cache(clock)
    await c.get("a", lookup)
    clock.now += 50  # stale, not expired
    assert await c.get("a", lookup) == "did:plc:old"  # served at once
    await asyncio.sleep(0)  # let the refresh run
    await asyncio.sleep(0)
    assert lookup.calls == 2
    assert await c.get("a", lookup) == "did:plc:new"
    await c.close()


async def test_expired_answer_is_looked_up_again() -> None:
    clock, lookup = Clock(), Lookups("did:plc:old", "did:plc:new")
    c = cache(clock)
    await c.get("a", lookup)
    clock.now += 101
    assert await c.get("a", lookup) == "did:plc:new"
    assert lookup.calls == 2


async def test_background_refresh_failing_keeps_the_stale_answer() -> None:
    clock = Clock()
    lookup = Lookups("did:plc:old", IdentityError("a", "PLC directory down"))
    c = cache(clock)
    await c.get("a", lookup)
    clock.now += 50
    assert await c.get("a", lookup) == "did:plc:old"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert lookup.calls == 2
    assert await c.get("a", lookup) == "did:plc:old"


async def test_background_refresh_not_found_replaces_the_answer() -> None:
    clock = Clock()
    lookup = Lookups("did:plc:old", IdentityNotFound("a", "gone"))
    c = cache(clock)
    await c.get("a", lookup)
    clock.now += 50
    await c.get("a", lookup)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    with pytest.raises(IdentityNotFound):
        await c.get("a", lookup)


async def test_failures_are_remembered_for_failure_ttl() -> None:
    clock = Clock()
    lookup = Lookups(IdentityNotFound("a", "no such handle"), "did:plc:later")
    c = cache(clock)
    with pytest.raises(IdentityNotFound):
        await c.get("a", lookup)
    with pytest.raises(IdentityNotFound, match="no such handle"):
        await c.get("a", lookup)
    assert lookup.calls == 1
    clock.now += 6
    assert await c.get("a", lookup) == "did:plc:later"


async def test_other_exceptions_are_not_cached() -> None:
    lookup = Lookups(RuntimeError("bug"), "did:plc:ok")
    c = cache(Clock())
    with pytest.raises(RuntimeError):
        await c.get("a", lookup)
    assert await c.get("a", lookup) == "did:plc:ok"


async def test_concurrent_lookups_of_one_key_are_merged() -> None:
    lookup = Lookups("did:plc:one")
    lookup.gate = asyncio.Event()
    c = cache(Clock())
    waiters = [asyncio.ensure_future(c.get("a", lookup)) for _ in range(50)]
    await asyncio.sleep(0)
    lookup.gate.set()
    assert await asyncio.gather(*waiters) == ["did:plc:one"] * 50
    assert lookup.calls == 1


async def test_a_cancelled_waiter_leaves_the_lookup_to_the_others() -> None:
    lookup = Lookups("did:plc:one")
    lookup.gate = asyncio.Event()
    c = cache(Clock())
    first = asyncio.ensure_future(c.get("a", lookup))
    second = asyncio.ensure_future(c.get("a", lookup))
    await asyncio.sleep(0)
    first.cancel()
    lookup.gate.set()
    assert await second == "did:plc:one"
    assert first.cancelled()
    assert lookup.calls == 1


async def test_size_is_bounded_least_recently_used_first() -> None:
    c: ResolutionCache[str, str] = ResolutionCache(max_size=3, clock=Clock())
    for key in "abc":
        await c.get(key, Lookups(f"did:plc:{key}"))
    await c.get("a", Lookups("unused"))  # a is now the most recent
    await c.get("d", Lookups("did:plc:d"))
    assert len(c) == 3
    assert "b" not in c
    assert all(key in c for key in "acd")


async def test_invalidate_forgets_and_drops_a_running_lookup() -> None:
    lookup = Lookups("did:plc:before", "did:plc:after")
    lookup.gate = asyncio.Event()
    c = cache(Clock())
    running = asyncio.ensure_future(c.get("a", lookup))
    await asyncio.sleep(0)
    c.invalidate("a")
    lookup.gate.set()
    assert await running == "did:plc:before"  # its caller still gets an answer
    assert "a" not in c  # but it is not stored
    assert await c.get("a", lookup) == "did:plc:after"


async def test_invalidate_value_drops_every_key_naming_it() -> None:
    c = cache(Clock())
    await c.get("a", Lookups("did:plc:x"))
    await c.get("b", Lookups("did:plc:x"))
    await c.get("c", Lookups("did:plc:y"))
    c.invalidate_value("did:plc:x")
    assert ("a" in c, "b" in c, "c" in c) == (False, False, True)


async def test_close_cancels_background_refreshes() -> None:
    clock = Clock()
    lookup = Lookups("did:plc:old", "did:plc:new")
    c = cache(clock)
    await c.get("a", lookup)
    lookup.gate = asyncio.Event()  # the refresh will hang
    clock.now += 50
    await c.get("a", lookup)
    await asyncio.sleep(0)
    await c.close()
    assert c.peek("a") == "did:plc:old"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        ResolutionCache(max_size=0)
    with pytest.raises(ValueError):
        ResolutionCache(fresh_ttl=10, max_ttl=5)
