"""HTTP answers read the same way by the XRPC client and the stream's WebSocket upgrade.

Both meet XRPC error bodies (``{"error": ..., "message": ...}``) and ``Retry-After`` headers;
this module reads them once, for both, without importing aiohttp or websockets.

Spec: https://atproto.com/specs/xrpc#error-responses, RFC 9110 section 10.2.3.
"""

from __future__ import annotations

import json
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["error_fields", "parse_retry_after", "xrpc_error_body"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header: delay seconds, or an HTTP date.

    Args:
        value: The header value, or None when absent.
        now: The current POSIX time (for HTTP dates); defaults to ``time.time()``.

    Returns:
        Seconds to wait (never negative), or None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def xrpc_error_body(body: bytes | bytearray | None) -> dict[str, Any] | None:
    """The JSON object of an XRPC error body, or None when the body is not one.

    Its ``error`` and ``message`` members are the error name and text when they are strings;
    a caller reads them with `error_fields`.
    """
    if not body or bytes(body[:64]).lstrip()[:1] != b"{":
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def error_fields(parsed: dict[str, Any]) -> tuple[str | None, str | None]:
    """The ``error`` name and ``message`` of a parsed error body (None where not a string)."""
    name, text = parsed.get("error"), parsed.get("message")
    return (name if isinstance(name, str) else None, text if isinstance(text, str) else None)
