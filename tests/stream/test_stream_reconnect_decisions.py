"""The reconnect decision, tested as the pure function it is (no sockets, no clock)."""

from __future__ import annotations

import random

import pytest

from atproto_async.stream.reconnect import Reconnect, ReconnectPolicy, next_reconnect

POLICY = ReconnectPolicy(initial_delay=1.0, max_delay=60.0, jitter=0.0, healthy_after=60.0)


def decide(failures: int, **overrides: object) -> Reconnect:
    options: dict[str, object] = {
        "connected_for": None,
        "retry_after": None,
        "reason": "connection lost",
        "fail_fast": False,
        "ever_connected": True,
        "max_attempts": None,
    }
    options.update(overrides)
    return next_reconnect(POLICY, failures, **options)  # type: ignore[arg-type]


def test_failures_back_off_exponentially_up_to_the_ceiling() -> None:
    delays = []
    failures = 0
    for _ in range(9):
        decision = decide(failures)
        failures = decision.failures
        delays.append(decision.delay)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_healthy_connection_resets_the_count_a_short_one_does_not() -> None:
    assert decide(5, connected_for=60.0) == Reconnect(1, 1.0)
    assert decide(5, connected_for=59.9) == Reconnect(6, 32.0)


def test_retry_after_is_honoured_up_to_its_ceiling() -> None:
    assert decide(0, retry_after=30.0).delay == 30.0
    assert decide(0, retry_after=10_000.0).delay == POLICY.max_retry_after
    assert decide(3, retry_after=0.5).delay == 8.0  # the backoff is longer: it wins


def test_fail_fast_gives_up_only_before_any_connection() -> None:
    first = decide(0, fail_fast=True, ever_connected=False, reason="refused")
    assert first == Reconnect(1, None, "cannot open the stream: refused")
    assert decide(0, fail_fast=True, ever_connected=True).delay == 1.0
    assert decide(0, fail_fast=True, ever_connected=False, connected_for=1.0).delay == 1.0


@pytest.mark.parametrize("max_attempts", [0, 1, 3])
def test_max_attempts_bounds_the_attempts_in_a_row(max_attempts: int) -> None:
    failures, given_up = 0, None
    for _ in range(max_attempts + 1):
        decision = decide(failures, max_attempts=max_attempts)
        failures, given_up = decision.failures, decision.give_up
        if decision.delay is None:
            break
    assert failures == max_attempts + 1
    assert given_up == f"giving up after {max_attempts} failed attempts: connection lost"


def test_jitter_stays_within_its_band() -> None:
    policy = ReconnectPolicy(initial_delay=4.0, jitter=0.5, rng=random.Random(7))
    for _ in range(200):
        delay = next_reconnect(
            policy, 0, connected_for=None, retry_after=None, reason="x", fail_fast=False,
            ever_connected=True, max_attempts=None,
        ).delay  # fmt: skip
        assert delay is not None and 2.0 <= delay <= 4.0
