"""When to reconnect a dropped event stream: exponential backoff with jitter, in one place.

A relay that drops every consumer at once (a deploy, an overload) must not be hammered by all of
them reconnecting in the same instant, hence the jitter; and a stream that keeps failing right
after connecting must keep backing off, hence the attempt counter is reset only after a
connection stayed healthy for `ReconnectPolicy.healthy_after` seconds.
Spec: https://atproto.com/specs/event-stream#sequence-numbers (resuming with a cursor).
"""

from __future__ import annotations

import random

import attrs

__all__ = [
    "Reconnect",
    "next_reconnect",
    "DEFAULT_HEALTHY_AFTER",
    "DEFAULT_INITIAL_DELAY",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MAX_RETRY_AFTER",
    "ReconnectPolicy",
]

#: Delay before the first reconnection attempt, in seconds.
DEFAULT_INITIAL_DELAY = 1.0
#: Ceiling of the exponential backoff, in seconds.
DEFAULT_MAX_DELAY = 60.0
#: A connection that lasted this long (seconds) resets the backoff.
DEFAULT_HEALTHY_AFTER = 60.0
#: Ceiling on an HTTP 429 ``Retry-After`` honoured at the upgrade, in seconds.
DEFAULT_MAX_RETRY_AFTER = 600.0


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How long to wait before reconnection attempt ``n`` (1 for the first).

    The delay is ``min(max_delay, initial_delay * factor ** (n - 1))``, scaled by a random factor
    in ``[1 - jitter, 1]`` ("equal jitter" for ``jitter=0.5``).

    Attributes:
        initial_delay: Delay before the first attempt.
        factor: Growth of the delay from one attempt to the next.
        max_delay: Ceiling of the delay.
        jitter: Fraction of the delay that is randomised (0 disables jitter).
        healthy_after: Seconds a connection must last for the attempt counter to reset.
        max_retry_after: Ceiling on a server's ``Retry-After``.
        rng: Source of randomness (inject a seeded ``random.Random`` in tests).
    """

    initial_delay: float = DEFAULT_INITIAL_DELAY
    factor: float = 2.0
    max_delay: float = DEFAULT_MAX_DELAY
    jitter: float = 0.5
    healthy_after: float = DEFAULT_HEALTHY_AFTER
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise ValueError("delays must be >= 0 and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the seconds to wait before reconnection attempt ``attempt`` (1-based).

        Args:
            attempt: How many attempts in a row have failed, including the one just lost.
            retry_after: The server's ``Retry-After`` (seconds), honoured up to
                ``max_retry_after`` when it is longer than the backoff.

        Returns:
            The delay in seconds.
        """
        exponent = max(attempt - 1, 0)
        # Cap the exponent so that large attempt counts cannot overflow a float.
        base = min(self.max_delay, self.initial_delay * self.factor ** min(exponent, 64))
        if self.jitter:
            base *= 1 - self.jitter * self.rng.random()
        if retry_after is not None and retry_after > base:
            return min(retry_after, self.max_retry_after)
        return base


@attrs.frozen
class Reconnect:
    """What to do after a connection ended: wait ``delay`` seconds, or give up.

    Attributes:
        failures: Failed attempts in a row, counting the one just ended (the next attempt's
            number, as `Subscription.reconnect_attempt` shows it).
        delay: Seconds to wait before the next attempt; None means give up.
        give_up: Why the stream stops (for the error raised), when ``delay`` is None.
    """

    failures: int
    delay: float | None
    give_up: str | None = None


def next_reconnect(
    policy: ReconnectPolicy,
    failures: int,
    *,
    connected_for: float | None,
    retry_after: float | None,
    reason: str,
    fail_fast: bool,
    ever_connected: bool,
    max_attempts: int | None,
) -> Reconnect:
    """Decide, without I/O, whether and when a stream whose connection ended reconnects.

    Args:
        policy: The backoff.
        failures: Failed attempts in a row before this one.
        connected_for: Seconds the connection that just ended was open; None if it never
            opened. One open for ``policy.healthy_after`` or longer resets the count.
        retry_after: The server's ``Retry-After`` (seconds), if it sent one.
        reason: Why the connection ended, for the give-up message.
        fail_fast: Give up when the very first connection cannot be opened.
        ever_connected: Whether any connection of this stream was ever opened.
        max_attempts: Attempts allowed in a row (None: no limit).
    """
    if connected_for is not None and connected_for >= policy.healthy_after:
        failures = 0
    failures += 1
    if connected_for is None and fail_fast and not ever_connected:
        return Reconnect(failures, None, f"cannot open the stream: {reason}")
    if max_attempts is not None and failures > max_attempts:
        return Reconnect(
            failures, None, f"giving up after {failures - 1} failed attempts: {reason}"
        )
    return Reconnect(failures, policy.delay(failures, retry_after))
