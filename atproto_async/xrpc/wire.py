"""The XRPC wire format, sans-I/O: parameters and bodies out, values and errors back in.

Spec: https://atproto.com/specs/xrpc (#lexicon-http-endpoints, #error-responses).
Kept apart from `Client` so the formats are tested as plain functions and the session module
holds only the session logic.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from multidict import CIMultiDict

from atproto_async._httputil import error_fields, xrpc_error_body
from atproto_async.exceptions import (
    AuthenticationError,
    DecodeError,
    RateLimitError,
    XrpcError,
    xrpc_error_class,
)
from atproto_async.xrpc.retry import header, server_wait
from atproto_async.xrpc.transport import Body, Response

__all__ = [
    "AUTH_ERROR_NAMES",
    "REDACTED",
    "decode_body",
    "encode_body",
    "encode_params",
    "error_from_response",
    "is_admin_method",
    "redact_headers",
    "token_refused",
]

#: 400 error names that mean "this token cannot be used", spelled by the reference PDS.
AUTH_ERROR_NAMES: Final = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired"})
#: Error names saying the access token itself is refused: the reference PDS sends them with
#: 400, the entryway and the AppView with 401.
TOKEN_ERROR_NAMES: Final = frozenset({"ExpiredToken", "InvalidToken"})
#: The RFC 6750 (section 3.1) challenge of an OAuth resource server for a bad token.
_INVALID_TOKEN = re.compile(r'\berror\s*=\s*"?invalid_token\b', re.IGNORECASE)
_ADMIN_METHODS: Final = frozenset(
    {"com.atproto.server.createInviteCode", "com.atproto.server.createInviteCodes"}
)
#: What stands in an error's message and headers for a secret the server echoed.
REDACTED: Final = "***"
#: Response headers whose values are credentials whatever they hold. ``DPoP-Nonce`` is not
#: one: the server hands it to anyone, and an OAuth client must read it to try again.
_SECRET_HEADER_WORDS: Final = ("authorization", "cookie", "token", "secret", "password", "api-key")
_EXCERPT = 200
_EXCERPT_SCAN = 4096
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
#: How the reference PDS says it has no service to proxy a method to (no AppView, say).
_NO_SERVICE = "No service configured for "
#: For the usual namespaces: the service's DID and service id, its name, and where to call it.
_PROXY_TARGETS: Final = {
    "app.bsky.": (
        "did:web:api.bsky.app",
        "bsky_appview",
        "AppView",
        " (public data: Client('https://public.api.bsky.app'))",
    ),
    "chat.bsky.": ("did:web:api.bsky.chat", "bsky_chat", "chat service", ""),
}
_json_loads = json.loads
_json_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def is_admin_method(nsid: str) -> bool:
    """Whether ``nsid`` takes the admin token (https://atproto.com/specs/xrpc#admin-token)."""
    return nsid.startswith("com.atproto.admin.") or nsid in _ADMIN_METHODS


def token_refused(error: XrpcError) -> bool:
    """Whether an error answer says the access token is expired or invalid.

    Those are the only refusals a token refresh can cure: ``ExpiredToken`` / ``InvalidToken``
    (400 or 401), a 401 that names no error (a proxy's page), and a 401 whose
    ``WWW-Authenticate`` says ``error="invalid_token"``. Any other 401 - ``AuthRequired`` for
    a write to another account's repository, say - is about permission: a new token would be
    refused the same way, so it is raised as it is.

    Spec: https://atproto.com/specs/xrpc#authentication
    """
    if error.error in TOKEN_ERROR_NAMES:
        return error.status in (400, 401)
    if error.status != 401:
        return False
    if error.error is None:
        return True
    challenge = header(error.headers, "WWW-Authenticate")
    return challenge is not None and _INVALID_TOKEN.search(challenge) is not None


def encode_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Encode query parameters the XRPC way.

    Booleans become ``true`` / ``false``, integers their decimal form, strings stay unquoted,
    a timezone-aware ``datetime`` becomes an atproto datetime (``2024-05-01T12:00:00.000Z``),
    a `CID` its string form, lists repeat the key, None values are dropped.

    Raises:
        TypeError: A value of another type (floats and objects are not XRPC parameters), or
            a naive ``datetime``; the message names the parameter.
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
    from atproto_async.ipld import CID, to_json  # loaded by the first such parameter

    if isinstance(value, datetime):
        try:
            text: str = to_json(value)
        except TypeError as exc:
            raise TypeError(f"query parameter {key!r}: {exc}") from None
        return text
    if isinstance(value, CID):
        return str(value)
    raise TypeError(f"query parameter {key!r} cannot be {type(value).__name__}")


def encode_body(data: Any, encoding: str | None) -> tuple[Body, str | None, bool]:
    """Turn a procedure's ``data`` into ``(body, content type, replayable)``.

    JSON values are sent compact as ``application/json``; bytes and async byte streams are
    sent as they are with ``encoding`` (default ``application/octet-stream``). A stream can be
    read once, so it is not replayable. Inside a JSON value, the values users hold in place of
    data-model ones are written in their JSON form (see `atproto_async.ipld.to_json`): `CID`
    and ``bytes`` as ``$link`` / ``$bytes``, a ``datetime`` as an atproto datetime, a `Blob`
    or another generated model as its dict.

    Raises:
        TypeError: ``data`` holds a value with no JSON form (``record.embed: object of type
            Foo is not a data-model value``: the message names where).
    """
    if data is None:
        return None, encoding, True
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), encoding or "application/octet-stream", True
    if isinstance(data, AsyncIterable):
        return data, encoding or "application/octet-stream", False
    try:
        text = _json_dumps(data)
    except TypeError:
        # Something json does not know: most often a value users hold (a datetime, a Blob, a
        # CID...). Plain JSON bodies never pay for this walk.
        from atproto_async.ipld import to_json

        text = _json_dumps(to_json(data))
    except ValueError as exc:
        raise TypeError(f"procedure data is not JSON-serializable: {exc}") from None
    return text.encode(), encoding or "application/json", True


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


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _drop_cut_secret(text: str, secrets: Iterable[str]) -> str:
    """Remove a tail of ``text`` that is the start of a secret cut off by a length limit."""
    for secret in secrets:
        start = text.find(secret[0], max(len(text) - len(secret) + 1, 0))
        while start != -1:
            if secret.startswith(text[start:]):
                return text[:start]
            start = text.find(secret[0], start + 1)
    return text


def _excerpt(body: bytes, secrets: Iterable[str]) -> str:
    """A short, readable summary of a non-JSON error body (an HTML page from a proxy...).

    Secrets are masked before anything is cut, so no part of one survives a cut.
    """
    head = body[:_EXCERPT_SCAN]
    title = _TITLE.search(head)
    raw = title.group(1) if title else head
    text = _redact(raw.decode("utf-8", "replace"), secrets)
    if not title and len(body) > _EXCERPT_SCAN:  # cut: mind a secret cut in two
        text = _drop_cut_secret(text.rstrip("\ufffd"), secrets)
    text = _redact(_SPACE.sub(" ", _TAG.sub(" ", text)).strip(), secrets)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _no_service_hint(nsid: str) -> str:
    """What to do when a PDS has no service for ``nsid`` (a local PDS has no AppView)."""
    for prefix, (did, service_id, name, direct) in _PROXY_TARGETS.items():
        if nsid.startswith(prefix):
            return (
                f"this server has no {name} to forward {prefix}* to: call it through one with "
                f"service proxying, client.with_proxy({did!r}, {service_id!r}), or call the "
                f"{name} directly{direct}"
            )
    return (
        "this server knows no service to forward the method to: name one with service "
        "proxying, client.with_proxy(did, service_id), or call that service directly"
    )


def _is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered == "dpop" or any(word in lowered for word in _SECRET_HEADER_WORDS)


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> CIMultiDict[str]:
    """Return a copy of ``headers`` safe to keep in an exception.

    Credential headers (``Authorization``, ``Set-Cookie``, ``DPoP``, ``*-Token``...) are
    replaced by `REDACTED` whatever they hold; in the others, each secret is masked.
    """
    secrets = [secret for secret in secrets if secret]
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        out.add(name, REDACTED if _is_secret_header(name) else _redact(value, secrets))
    return out


def error_from_response(
    response: Response, nsid: str, *, secrets: Iterable[str] = (), now: float | None = None
) -> XrpcError:
    """Build the exception for a non-2xx answer.

    The class follows the status (`xrpc_error_class`), except that a 400 naming a token
    problem (``ExpiredToken``...) is an `AuthenticationError`. A body that is not an XRPC error
    (HTML from a proxy, plain text) gives ``error=None`` and a short excerpt as ``message``.
    Secrets the server echoes are masked in the message and the headers (see
    `redact_headers`), so that neither ``str(error)`` nor ``error.headers`` shows one. A PDS
    that cannot forward the method ("No service configured for app.bsky...", a PDS without an
    AppView) gets a hint appended to ``message``: service proxying or calling the service.

    Args:
        response: The answer.
        nsid: The method called.
        secrets: Strings to mask (passwords, tokens), should the server echo one.
        now: POSIX time, to turn ``RateLimit-Reset`` into a wait.
    """
    secrets = [secret for secret in secrets if secret]
    status = response.status
    body = response.body
    error: str | None = None
    message: str | None = None
    if body:
        parsed = xrpc_error_body(body)
        if parsed is not None:
            name, text = error_fields(parsed)
            error = _redact(name, secrets) if name is not None else None
            message = _redact(text, secrets) if text is not None else None
        else:
            message = _excerpt(body, secrets) or None
    if message is not None and message.startswith(_NO_SERVICE):
        message = f"{message} ({_no_service_hint(nsid)})"
    headers = redact_headers(response.headers, secrets)
    cls = xrpc_error_class(status)
    if status == 400 and error in AUTH_ERROR_NAMES:
        cls = AuthenticationError
    if cls is RateLimitError:
        retry_after, reset_at = server_wait(headers, now=now)
        return RateLimitError(
            status,
            error,
            message,
            headers,
            nsid=nsid,
            retry_after=retry_after,
            reset_at=reset_at,
        )
    return cls(status, error, message, headers, nsid=nsid)
