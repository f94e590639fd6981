"""The XRPC wire format, sans-I/O: parameters and bodies out, values and errors back in.

Spec: https://atproto.com/specs/xrpc (#lexicon-http-endpoints, #error-responses).
Kept apart from `Client` so the formats are tested as plain functions and the session module
holds only the session logic.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any, Final

from atproto_async.exceptions import (
    AuthenticationError,
    DecodeError,
    RateLimitError,
    XrpcError,
    xrpc_error_class,
)
from atproto_async.xrpc.retry import server_wait
from atproto_async.xrpc.transport import Body, Response

__all__ = [
    "AUTH_ERROR_NAMES",
    "decode_body",
    "encode_body",
    "encode_params",
    "error_from_response",
    "is_admin_method",
]

#: 400 error names that mean "this token cannot be used", spelled by the reference PDS.
AUTH_ERROR_NAMES: Final = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired"})
_ADMIN_METHODS: Final = frozenset(
    {"com.atproto.server.createInviteCode", "com.atproto.server.createInviteCodes"}
)
_EXCERPT = 200
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_json_loads = json.loads
_json_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def is_admin_method(nsid: str) -> bool:
    """Whether ``nsid`` takes the admin token (https://atproto.com/specs/xrpc#admin-token)."""
    return nsid.startswith("com.atproto.admin.") or nsid in _ADMIN_METHODS


def encode_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Encode query parameters the XRPC way.

    Booleans become ``true`` / ``false``, integers their decimal form, strings stay unquoted,
    lists repeat the key, None values are dropped.

    Raises:
        TypeError: A value of another type (floats and objects are not XRPC parameters).
    """
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            for item in value:
                out.append((key, _param(key, item)))
        else:
            out.append((key, _param(key, value)))
    return out


def _param(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"query parameter {key!r} cannot be {type(value).__name__}")


def encode_body(data: Any, encoding: str | None) -> tuple[Body, str | None, bool]:
    """Turn a procedure's ``data`` into ``(body, content type, replayable)``.

    JSON values are sent compact as ``application/json``; bytes and async byte streams are
    sent as they are with ``encoding`` (default ``application/octet-stream``). A stream can be
    read once, so it is not replayable.

    Raises:
        TypeError: ``data`` is not JSON-serializable.
    """
    if data is None:
        return None, encoding, True
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), encoding or "application/octet-stream", True
    if isinstance(data, AsyncIterable):
        return data, encoding or "application/octet-stream", False
    try:
        return _json_dumps(data).encode(), encoding or "application/json", True
    except (TypeError, ValueError) as exc:
        raise TypeError(f"procedure data is not JSON-serializable: {exc}") from None


def decode_body(response: Response, nsid: str) -> Any:
    """Return a 2xx answer's value: parsed JSON, ``bytes`` for other types, None when empty.

    Raises:
        DecodeError: The content type says JSON but the body is not.
    """
    body = response.body
    if not body:
        return None
    content_type = response.content_type
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return _json_loads(body)
        except ValueError:
            raise DecodeError(f"{nsid} answered invalid JSON") from None
    return body


def _excerpt(body: bytes) -> str:
    """A short, readable summary of a non-JSON error body (an HTML page from a proxy...)."""
    title = _TITLE.search(body[:4096])
    raw = title.group(1) if title else body[:4096]
    text = _SPACE.sub(" ", _TAG.sub(" ", raw.decode("utf-8", "replace"))).strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def error_from_response(
    response: Response, nsid: str, *, secrets: Iterable[str] = (), now: float | None = None
) -> XrpcError:
    """Build the exception for a non-2xx answer.

    The class follows the status (`xrpc_error_class`), except that a 400 naming a token
    problem (``ExpiredToken``...) is an `AuthenticationError`. A body that is not an XRPC error
    (HTML from a proxy, plain text) gives ``error=None`` and a short excerpt as ``message``.

    Args:
        response: The answer.
        nsid: The method called.
        secrets: Strings to mask in the message, should the server echo one.
        now: POSIX time, to turn ``RateLimit-Reset`` into a wait.
    """
    status = response.status
    body = response.body
    error: str | None = None
    message: str | None = None
    if body:
        parsed: Any = None
        if body.lstrip()[:1] == b"{":
            try:
                parsed = _json_loads(body)
            except ValueError:
                parsed = None
        if isinstance(parsed, dict):
            name, text = parsed.get("error"), parsed.get("message")
            error = name if isinstance(name, str) else None
            message = text if isinstance(text, str) else None
        else:
            message = _excerpt(body) or None
    if message:
        for secret in secrets:
            if secret and secret in message:
                message = message.replace(secret, "***")
    cls = xrpc_error_class(status)
    if status == 400 and error in AUTH_ERROR_NAMES:
        cls = AuthenticationError
    if cls is RateLimitError:
        retry_after, reset_at = server_wait(response.headers, now=now)
        return RateLimitError(
            status,
            error,
            message,
            response.headers,
            nsid=nsid,
            retry_after=retry_after,
            reset_at=reset_at,
        )
    return cls(status, error, message, response.headers, nsid=nsid)
