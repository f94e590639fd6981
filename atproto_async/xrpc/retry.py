"""When to try an XRPC call again, and how long to wait first.

All retry maths lives here, as plain functions of their inputs (the random source and the
clock are parameters), so it is tested directly and the session only asks `RetryPolicy.delay`.

The rules (https://atproto.com/specs/xrpc#summary-of-http-status-codes and
#usage-and-implementation-guidelines - "limited retries, and randomized exponential backoff"):

- Queries (GET) are idempotent: retried on 408, 429, 500, 502, 503, 504, on connection errors
  and on timeouts.
- Procedures (POST) may mutate state, so they are retried only when the server cannot have
  processed them: the connection was refused before anything was sent, a 429 (the rate limiter
  answered instead of the method) that says when to come back, or a 503 with ``Retry-After``.
- 501 is never retried; nor is a request whose body was a one-shot stream.
- The wait is exponential backoff with full jitter (``uniform(0, min(cap, base * 2**n))``),
  unless the server named one with ``Retry-After`` (seconds or an HTTP date) or
  ``RateLimit-Reset`` (epoch seconds). A server wait longer than `MAX_SERVER_WAIT` is not
  honoured by sleeping: the error is raised at once so the caller can decide.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import attrs

from atproto_async._httputil import parse_retry_after
from atproto_async.exceptions import AtprotoError, RateLimitError, TransportError, XrpcError

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_SERVER_WAIT",
    "RETRYABLE_QUERY_STATUSES",
    "RetryPolicy",
    "backoff_delay",
    "header",
    "parse_ratelimit_reset",
    "parse_retry_after",
    "server_wait",
]

#: Seconds allowed for one attempt unless the client or the call says otherwise.
DEFAULT_TIMEOUT = 30.0
#: Retries after the first attempt, unless the client or the call says otherwise.
DEFAULT_MAX_RETRIES = 3
#: Upper bound of the first backoff interval, in seconds; doubled on every retry.
BACKOFF_BASE = 0.5
#: Largest backoff interval, in seconds.
BACKOFF_CAP = 8.0
#: Longest server-requested wait (Retry-After / RateLimit-Reset) honoured by sleeping.
MAX_SERVER_WAIT = 60.0
#: Statuses after which an idempotent request (a query) may be sent again: those whose error
#: class says ``retryable`` (``atproto_async.exceptions``), listed here for reference.
RETRYABLE_QUERY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up by name, ignoring case even in a plain dict (error headers are one)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def backoff_delay(
    retry: int,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    random: Callable[[], float] = _random.random,
) -> float:
    """Return the wait before retry number ``retry`` (0 for the first retry), full jitter.

    Full jitter spreads clients that failed together over the whole interval, which is what
    keeps a recovering server from being hit by synchronized waves.

    Args:
        retry: How many retries were made before this one.
        base: Upper bound of the first interval.
        cap: Largest interval.
        random: Source of uniform floats in [0, 1).

    Returns:
        Seconds to wait, in ``[0, min(cap, base * 2**retry))``.
    """
    # min() before the power would overflow: 2**1100 is fine for ints, not for floats.
    ceiling = cap if retry >= 64 else min(cap, base * (1 << retry))
    return random() * ceiling


def parse_ratelimit_reset(value: str | None) -> datetime | None:
    """Read a ``RateLimit-Reset`` header as sent by atproto services: POSIX seconds.

    Returns:
        The reset time (UTC), or None when absent or unreadable.
    """
    if not value:
        return None
    try:
        return datetime.fromtimestamp(float(value.strip()), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def server_wait(
    headers: Mapping[str, str], *, now: float | None = None
) -> tuple[float | None, datetime | None]:
    """Return what the server asked for: ``(seconds to wait, rate-limit reset time)``.

    ``Retry-After`` wins; otherwise the wait is derived from ``RateLimit-Reset``.
    """
    current = time.time() if now is None else now
    retry_after = parse_retry_after(header(headers, "Retry-After"), now=current)
    reset_at = parse_ratelimit_reset(header(headers, "RateLimit-Reset"))
    if retry_after is None and reset_at is not None:
        retry_after = max(reset_at.timestamp() - current, 0.0)
    return retry_after, reset_at


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries. Pass one to ``Client(retry_policy=...)`` to tune it.

    Attributes:
        max_retries: Retries after the first attempt (a call may override it).
        backoff_base: Upper bound of the first backoff interval (seconds).
        backoff_cap: Largest backoff interval (seconds).
        max_server_wait: Longest ``Retry-After`` / ``RateLimit-Reset`` wait honoured; beyond
            it the `RateLimitError` (or other error) is raised at once.
        random: Source of uniform floats in [0, 1) (tests make it deterministic).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP
    max_server_wait: float = MAX_SERVER_WAIT
    random: Callable[[], float] = _random.random

    def __attrs_post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {self.max_retries}")

    def delay(
        self,
        error: AtprotoError,
        retry: int,
        *,
        idempotent: bool,
        replayable: bool = True,
        max_retries: int | None = None,
    ) -> float | None:
        """Decide whether to retry after ``error``, and how long to wait first.

        Args:
            error: What the last attempt ended with (`XrpcError` or `TransportError`).
            retry: How many retries were already made.
            idempotent: True for queries (GET), False for procedures (POST).
            replayable: False when the body was a one-shot stream.
            max_retries: This call's limit, or None for the policy's.

        Returns:
            Seconds to wait before the next attempt, or None to give up and raise ``error``.
        """
        limit = self.max_retries if max_retries is None else max_retries
        if retry >= limit or not replayable:
            return None
        if isinstance(error, TransportError):
            if idempotent or not error.sent:
                return self._backoff(retry)
            return None
        if not isinstance(error, XrpcError):
            return None
        status = error.status
        if not error.retryable:
            return None  # 501, 505..., and every 4xx but 408 / 429 land here
        wait = error.retry_after if isinstance(error, RateLimitError) else None
        if wait is None and status in (429, 503):
            wait = parse_retry_after(header(error.headers, "Retry-After"))
        if not idempotent:
            # Only answers that prove the method did not run may be replayed.
            if wait is None or status not in (429, 503):
                return None
            if status == 503 and header(error.headers, "Retry-After") is None:
                return None
        if wait is None:
            return self._backoff(retry)
        if wait > self.max_server_wait:
            return None
        return wait if wait > 0 else self._backoff(retry)

    def _backoff(self, retry: int) -> float:
        return backoff_delay(
            retry, base=self.backoff_base, cap=self.backoff_cap, random=self.random
        )
