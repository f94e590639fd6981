"""The wire format as plain functions: parameters, bodies, answers and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from atproto_async._model import Blob
from atproto_async.exceptions import (
    AuthenticationError,
    DecodeError,
    ForbiddenError,
    InvalidRequestError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    XrpcError,
)
from atproto_async.ipld import cid_for_raw
from atproto_async.xrpc.transport import Response
from atproto_async.xrpc.wire import (
    decode_body,
    encode_body,
    encode_params,
    error_from_response,
    is_admin_method,
    token_refused,
)

JSON = {"Content-Type": "application/json"}


class Foo:
    """Not a data-model value."""


def test_encode_params() -> None:
    assert encode_params({"a": "x", "b": True, "c": False, "d": 0, "e": None, "f": ["1", 2]}) == [
        ("a", "x"),
        ("b", "true"),
        ("c", "false"),
        ("d", "0"),
        ("f", "1"),
        ("f", "2"),
    ]
    assert encode_params({"q": '"quoted"'}) == [("q", '"quoted"')]
    assert encode_params({"l": []}) == []
    with pytest.raises(TypeError, match="'f'"):
        encode_params({"f": [object()]})


async def test_encode_body() -> None:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield b"x"

    assert encode_body(None, None) == (None, None, True)
    assert encode_body({"a": [1, "é"]}, None) == (
        '{"a":[1,"é"]}'.encode(),
        "application/json",
        True,
    )
    assert encode_body(bytearray(b"ab"), "image/png") == (b"ab", "image/png", True)
    assert encode_body(memoryview(b"ab"), None) == (b"ab", "application/octet-stream", True)
    chunks = stream()
    assert encode_body(chunks, "video/mp4") == (chunks, "video/mp4", False)
    await chunks.aclose()
    with pytest.raises(TypeError, match=r"^x: object of type set is not a data-model value"):
        encode_body({"x": {1, 2}}, None)


def test_encode_body_writes_the_values_users_hold_in_their_json_form() -> None:
    link = cid_for_raw(b"png")
    blob = Blob(ref=link, mime_type="image/png", size=3)
    data = {
        "record": {
            "createdAt": datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))),
            "image": blob,
            "ref": link,
            "raw": b"\x01",
        }
    }
    body, content_type, replayable = encode_body(data, None)
    assert (content_type, replayable) == ("application/json", True)
    assert json.loads(body) == {
        "record": {
            "createdAt": "2024-05-01T12:00:00.000Z",
            "image": {
                "$type": "blob",
                "ref": {"$link": str(link)},
                "mimeType": "image/png",
                "size": 3,
            },
            "ref": {"$link": str(link)},
            "raw": {"$bytes": "AQ"},
        }
    }
    # A model as the whole body, too.
    assert json.loads(encode_body(blob, None)[0])["ref"] == {"$link": str(link)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"record": {"embed": {"images": [{"image": Foo()}]}}},
            "record.embed.images[0].image: object of type Foo is not a data-model value",
        ),
        (
            {"record": {"createdAt": datetime(2024, 5, 1)}, "at": datetime.now(UTC)},
            "record.createdAt: naive datetime (no tzinfo): atproto datetimes need a time zone, "
            "e.g. datetime.now(UTC) or value.replace(tzinfo=UTC)",
        ),
    ],
)
def test_encode_body_names_where_a_value_has_no_json_form(data: Any, message: str) -> None:
    with pytest.raises(TypeError) as caught:
        encode_body(data, None)
    assert str(caught.value) == message


def test_encode_params_takes_datetimes_and_cids() -> None:
    link = cid_for_raw(b"png")
    since = datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert encode_params({"since": since, "cid": link, "cids": [link]}) == [
        ("since", "2024-05-01T12:00:00.000Z"),
        ("cid", str(link)),
        ("cids", str(link)),
    ]
    with pytest.raises(TypeError, match=r"^query parameter 'until': naive datetime"):
        encode_params({"until": datetime(2024, 5, 1)})


def test_decode_body() -> None:
    assert decode_body(Response(200, JSON, b'{"a":1}'), "m") == {"a": 1}
    assert decode_body(Response(200, {"Content-Type": "application/ld+json"}, b"[]"), "m") == []
    assert decode_body(Response(200, {"Content-Type": "image/png"}, b"\x89P"), "m") == b"\x89P"
    assert decode_body(Response(200, JSON, b""), "m") is None
    assert decode_body(Response(204), "m") is None
    with pytest.raises(DecodeError, match="m answered invalid JSON"):
        decode_body(Response(200, JSON, b"{"), "m")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (500, ServerError),
        (418, XrpcError),
    ],
)
def test_error_classes_follow_the_status(status: int, cls: type[XrpcError]) -> None:
    error = error_from_response(Response(status, JSON, b'{"error":"X"}'), "m")
    assert type(error) is cls
    assert (error.status, error.error, error.nsid) == (status, "X", "m")


@pytest.mark.parametrize("name", ["ExpiredToken", "InvalidToken"])
def test_token_errors_are_authentication_errors(name: str) -> None:
    error = error_from_response(Response(400, JSON, b'{"error":"%s"}' % name.encode()), "m")
    assert isinstance(error, AuthenticationError)
    assert isinstance(error, InvalidRequestError)


def test_non_xrpc_bodies_give_an_excerpt() -> None:
    long_text = ("word " * 100).encode()
    error = error_from_response(Response(500, {"Content-Type": "text/plain"}, long_text), "m")
    assert error.error is None
    assert error.message is not None
    assert len(error.message) == 200
    assert error.message.endswith("...")
    html = b"<html><body><h1>Service</h1>\n<p>Unavailable</p></body></html>"
    assert error_from_response(Response(503, {}, html), "m").message == "Service Unavailable"
    junk = error_from_response(Response(502, JSON, b'{"error": 5, "message": ["x"]}'), "m")
    assert (junk.error, junk.message) == (None, None)
    broken = error_from_response(Response(502, JSON, b"{not json"), "m")
    assert broken.message == "{not json"


def test_echoed_secrets_are_masked() -> None:
    body = b'{"error":"InvalidToken","message":"bad token eyJsecret"}'
    error = error_from_response(Response(400, JSON, body), "m", secrets=["eyJsecret", ""])
    assert error.message == "bad token ***"
    assert "eyJsecret" not in str(error)


@pytest.mark.parametrize("offset", [190, 197, 199])
def test_a_secret_cut_by_the_excerpt_length_does_not_show_in_part(offset: int) -> None:
    secret = "hunter2-hunter2-hunter2"
    body = ("x" * offset + secret + " and more").encode()
    error = error_from_response(Response(500, {}, body), "m", secrets=[secret])
    assert error.message is not None
    assert "hunter" not in error.message
    assert error.message.startswith("x" * 190)


def test_a_secret_cut_by_the_scanned_window_does_not_show_in_part() -> None:
    secret = "hunter2-hunter2-hunter2"
    body = ("Error" + "<b></b>" * 584 + secret + "tail").encode()  # crosses byte 4096
    error = error_from_response(Response(500, {}, body), "m", secrets=[secret])
    assert error.message == "Error"  # not "Error hun"


def test_credential_headers_are_masked_and_echoed_secrets_too() -> None:
    headers = {
        **JSON,
        "Set-Cookie": "a=b",
        "Proxy-Authorization": "Basic x",
        "X-Access-Token": "t",
        "Link": "<https://x.example/?t=eyJsecret>",
    }
    error = error_from_response(Response(401, headers, b"{}"), "m", secrets=["eyJsecret"])
    assert dict(error.headers) == {
        **JSON,
        "Set-Cookie": "***",
        "Proxy-Authorization": "***",
        "X-Access-Token": "***",
        "Link": "<https://x.example/?t=***>",
    }


@pytest.mark.parametrize(
    ("status", "name", "challenge", "refused"),
    [
        (400, "ExpiredToken", None, True),
        (401, "ExpiredToken", None, True),
        (400, "InvalidToken", None, True),
        (401, "InvalidToken", None, True),
        (401, None, None, True),
        (401, "AuthRequired", 'DPoP error="invalid_token", error_description="x"', True),
        (401, "AuthRequired", "Bearer error=invalid_token", True),
        (401, "AuthRequired", 'Bearer error="insufficient_scope"', False),
        (401, "AuthRequired", None, False),
        (401, "AuthMissing", None, False),
        (400, None, None, False),
        (400, "AuthRequired", None, False),
        (403, "InvalidToken", None, False),
    ],
)
def test_token_refused(status: int, name: str | None, challenge: str | None, refused: bool) -> None:
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    assert token_refused(XrpcError(status, name, None, headers)) is refused


def test_rate_limit_fields() -> None:
    headers = {**JSON, "RateLimit-Reset": "1800000030", "RateLimit-Limit": "3000"}
    error = error_from_response(Response(429, headers, b"{}"), "m", now=1_800_000_000)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 30
    assert error.reset_at == datetime.fromtimestamp(1_800_000_030, tz=UTC)
    assert "retry after 30.0 s" in str(error)


def test_admin_methods() -> None:
    assert is_admin_method("com.atproto.admin.getAccountInfo")
    assert is_admin_method("com.atproto.server.createInviteCodes")
    assert not is_admin_method("com.atproto.server.createSession")
    assert not is_admin_method("com.atproto.administrator.x")
