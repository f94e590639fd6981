"""The exception tree: inheritance, structured attributes and messages."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from atproto_async.exceptions import (
    AtprotoError,
    AuthenticationError,
    DecodeError,
    FrameDecodeError,
    InvalidRequestError,
    InvalidSyntaxError,
    NotImplementedByServerError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    ServerTimeoutError,
    StreamError,
    TransportError,
    XrpcError,
    xrpc_error_class,
)


def test_tree() -> None:
    assert issubclass(XrpcError, AtprotoError)
    assert issubclass(RateLimitError, XrpcError)
    assert issubclass(AuthenticationError, XrpcError)
    assert issubclass(RequestTimeout, TransportError)
    assert issubclass(TransportError, AtprotoError)
    assert issubclass(FrameDecodeError, DecodeError)
    assert issubclass(DecodeError, ValueError)
    assert issubclass(InvalidSyntaxError, ValueError)
    assert issubclass(StreamError, AtprotoError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (408, ServerTimeoutError),
        (418, XrpcError),
        (429, RateLimitError),
        (500, ServerError),
        (501, NotImplementedByServerError),
        (502, ServerError),
        (599, ServerError),
    ],
)
def test_class_by_status(status: int, cls: type[XrpcError]) -> None:
    assert xrpc_error_class(status) is cls


def test_xrpc_error_message_is_built_from_attributes() -> None:
    exc = InvalidRequestError(
        400, "InvalidSwap", "Record was at bafy", {"Content-Type": "json"}, nsid="com.atproto.x"
    )
    assert str(exc) == "HTTP 400 from com.atproto.x: InvalidSwap - Record was at bafy"
    assert exc.headers["Content-Type"] == "json"
    with pytest.raises(TypeError):
        exc.headers["x"] = "y"  # type: ignore[index]


def test_retryable_flags() -> None:
    assert ServerError(503).retryable
    assert RateLimitError().retryable
    assert not NotImplementedByServerError(501).retryable
    assert not InvalidRequestError(400).retryable


def test_rate_limit_error_attributes() -> None:
    reset = datetime(2026, 1, 1, tzinfo=UTC)
    exc = RateLimitError(retry_after=12.5, reset_at=reset)
    assert exc.status == 429
    assert exc.retry_after == 12.5
    assert exc.reset_at == reset
    assert "retry after 12.5 s" in str(exc)


@pytest.mark.parametrize(
    "exc",
    [
        RateLimitError(retry_after=3.0, headers={"a": "b"}, nsid="x.y.z"),
        ServerError(502, None, "<html>", {}),
        StreamError("FutureCursor", "Cursor in the future"),
        InvalidSyntaxError("DID", "did:bad", "method must be lowercase"),
    ],
)
def test_pickle_round_trip(exc: Exception) -> None:
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)


def test_stream_and_syntax_errors() -> None:
    exc = StreamError("FutureCursor", "Cursor in the future")
    assert (exc.error, exc.message) == ("FutureCursor", "Cursor in the future")
    assert str(StreamError("ConsumerTooSlow")) == "ConsumerTooSlow"
    err = InvalidSyntaxError("handle", "x" * 300, "too long")
    assert len(str(err)) < 140
    assert err.reason == "too long"


def test_caused_by_chains_as_raise_from_does() -> None:
    import traceback

    from atproto_async.exceptions import DecodeError, caused_by

    def hide() -> None:
        try:
            {}["key"]
        except KeyError:
            raise caused_by(DecodeError("bad"), None)  # noqa: B904 (this is the `from`)

    def keep() -> None:
        try:
            {}["key"]
        except KeyError as exc:
            raise caused_by(DecodeError("bad"), exc)  # noqa: B904

    with pytest.raises(DecodeError) as hidden:
        hide()
    assert hidden.value.__cause__ is None and hidden.value.__suppress_context__
    shown = "".join(traceback.format_exception(hidden.value))
    assert "KeyError" not in shown
    with pytest.raises(DecodeError) as kept:
        keep()
    assert isinstance(kept.value.__cause__, KeyError)
    assert "direct cause" in "".join(traceback.format_exception(kept.value))
