"""XRPC: the HTTP API of atproto - `Client`, `Session`, transport, retries, pagination.

Importing this package imports aiohttp (``import atproto_async`` alone does not).

Spec: https://atproto.com/specs/xrpc
"""

from __future__ import annotations

from atproto_async.xrpc.auth import REFRESH_MARGIN, looks_like_app_password
from atproto_async.xrpc.client import Client
from atproto_async.xrpc.paginate import paginate
from atproto_async.xrpc.retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_SERVER_WAIT,
    RetryPolicy,
    backoff_delay,
    parse_ratelimit_reset,
    parse_retry_after,
)
from atproto_async.xrpc.session import Session, jwt_claims, pds_endpoint
from atproto_async.xrpc.transport import (
    DEFAULT_MAX_BINARY_SIZE,
    DEFAULT_MAX_RESPONSE_SIZE,
    AiohttpTransport,
    MockTransport,
    Request,
    Response,
    Transport,
)
from atproto_async.xrpc.wire import (
    decode_body,
    encode_body,
    encode_params,
    error_from_response,
    is_admin_method,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DEFAULT_MAX_BINARY_SIZE",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_SERVER_WAIT",
    "REFRESH_MARGIN",
    "AiohttpTransport",
    "Client",
    "MockTransport",
    "Request",
    "Response",
    "RetryPolicy",
    "Session",
    "Transport",
    "backoff_delay",
    "decode_body",
    "encode_body",
    "encode_params",
    "error_from_response",
    "is_admin_method",
    "jwt_claims",
    "looks_like_app_password",
    "paginate",
    "parse_ratelimit_reset",
    "parse_retry_after",
    "pds_endpoint",
]
