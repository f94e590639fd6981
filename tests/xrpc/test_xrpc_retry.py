"""Retry maths and decisions, tested directly with a fixed random source and clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.exceptions import (
    InvalidRequestError,
    NotImplementedByServerError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    ServerTimeoutError,
    TransportError,
    XrpcError,
    xrpc_error_class,
)
from atproto_async.xrpc.retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_SERVER_WAIT,
    RETRYABLE_QUERY_STATUSES,
    RetryPolicy,
    backoff_delay,
    header,
    parse_ratelimit_reset,
    parse_retry_after,
    server_wait,
)

NOW = 1_800_000_000.0
ONE = RetryPolicy(random=lambda: 1.0)  # the top of each jitter interval


def err(status: int, **headers: str) -> XrpcError:
    return xrpc_error_class(status)(status, None, None, headers)


@pytest.mark.parametrize(
    ("retry", "expected"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (500, 8.0)]
)
def test_backoff_upper_bound_doubles_up_to_the_cap(retry: int, expected: float) -> None:
    assert backoff_delay(retry, random=lambda: 1.0) == expected


def test_backoff_is_full_jitter() -> None:
    assert backoff_delay(3, random=lambda: 0.0) == 0.0
    assert backoff_delay(3, random=lambda: 0.25) == 1.0


@settings(deadline=None, max_examples=200)
@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=0.999999))
def test_backoff_stays_within_bounds(retry: int, r: float) -> None:
    delay = backoff_delay(retry, random=lambda: r)
    assert 0 <= delay < min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(retry, 64)) + 1e-9


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Wed, 15 Jan 2027 08:00:10 GMT", 10.0),
        ("Wed, 15 Jan 2027 07:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(value, now=now) == expected


def test_parse_ratelimit_reset() -> None:
    assert parse_ratelimit_reset("1800000000") == datetime.fromtimestamp(NOW, tz=UTC)
    assert parse_ratelimit_reset("later") is None
    assert parse_ratelimit_reset("1e400") is None
    assert parse_ratelimit_reset(None) is None


def test_server_wait_prefers_retry_after_and_derives_from_reset() -> None:
    reset = str(int(NOW) + 30)
    assert server_wait({"Retry-After": "5", "RateLimit-Reset": reset}, now=NOW)[0] == 5.0
    wait, reset_at = server_wait({"ratelimit-reset": reset}, now=NOW)
    assert wait == 30.0
    assert reset_at == datetime.fromtimestamp(NOW + 30, tz=UTC)
    assert server_wait({}, now=NOW) == (None, None)


def test_header_lookup_ignores_case_in_plain_dicts() -> None:
    assert header({"retry-after": "1"}, "Retry-After") == "1"
    assert header({}, "Retry-After") is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_queries_retry_on_transient_statuses(status: int) -> None:
    assert ONE.delay(err(status), 0, idempotent=True) == pytest.approx(0.5)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 501, 505, 302])
def test_queries_do_not_retry_other_statuses(status: int) -> None:
    assert ONE.delay(err(status), 0, idempotent=True) is None


def test_501_is_never_retried_even_with_retry_after() -> None:
    error = NotImplementedByServerError(501, headers={"Retry-After": "1"})
    assert ONE.delay(error, 0, idempotent=True) is None
    assert ONE.delay(error, 0, idempotent=False) is None


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_procedures_do_not_retry_ambiguous_failures(status: int) -> None:
    assert ONE.delay(err(status, **{"Retry-After": "1"}), 0, idempotent=False) is None


def test_procedures_retry_503_only_with_retry_after() -> None:
    assert ONE.delay(err(503), 0, idempotent=False) is None
    assert ONE.delay(err(503, **{"Retry-After": "2"}), 0, idempotent=False) == 2.0


def test_procedures_retry_429_when_told_when() -> None:
    assert ONE.delay(RateLimitError(429), 0, idempotent=False) is None
    assert ONE.delay(RateLimitError(429, retry_after=4.0), 0, idempotent=False) == 4.0


def test_server_wait_beyond_the_cap_gives_up_at_once() -> None:
    limited = RateLimitError(429, retry_after=MAX_SERVER_WAIT + 1)
    assert ONE.delay(limited, 0, idempotent=True) is None
    assert RetryPolicy(max_server_wait=120).delay(limited, 0, idempotent=True) == 61.0


def test_zero_server_wait_falls_back_to_backoff() -> None:
    assert ONE.delay(RateLimitError(429, retry_after=0.0), 1, idempotent=True) == pytest.approx(1.0)


def test_transport_errors() -> None:
    sent = TransportError("reset", sent=True)
    refused = TransportError("refused", sent=False)
    timeout = RequestTimeout("slow")
    assert ONE.delay(sent, 0, idempotent=True) is not None
    assert ONE.delay(timeout, 0, idempotent=True) is not None
    assert ONE.delay(sent, 0, idempotent=False) is None
    assert ONE.delay(timeout, 0, idempotent=False) is None
    assert ONE.delay(refused, 0, idempotent=False) is not None


def test_limits_and_one_shot_bodies() -> None:
    policy = RetryPolicy(max_retries=2, random=lambda: 0.5)
    error = ServerError(503)
    assert policy.delay(error, 1, idempotent=True) == 0.5
    assert policy.delay(error, 2, idempotent=True) is None
    assert policy.delay(error, 2, idempotent=True, max_retries=5) == 1.0
    assert policy.delay(error, 0, idempotent=True, max_retries=0) is None
    assert policy.delay(error, 0, idempotent=True, replayable=False) is None
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


def test_retryable_flag_of_the_error_classes() -> None:
    assert ServerError(500).retryable
    assert ServerTimeoutError(408).retryable
    assert RateLimitError(429).retryable
    assert not InvalidRequestError(400).retryable
    assert not NotImplementedByServerError(501).retryable
    assert not ServerError(505).retryable  # HTTP version not supported: the same again fails


@pytest.mark.parametrize("status", range(400, 600))
def test_policy_retries_exactly_the_errors_that_say_retryable(status: int) -> None:
    error = xrpc_error_class(status)(status, None, None, {})
    assert error.retryable == (status in RETRYABLE_QUERY_STATUSES)
    decided = RetryPolicy(random=lambda: 0.5).delay(error, 0, idempotent=True)
    assert (decided is not None) == error.retryable
