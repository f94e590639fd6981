"""atproto-async: an asyncio-first client for the AT Protocol.

The public names below load lazily (PEP 562): ``import atproto_async`` stays cheap and pulls in
neither aiohttp, websockets, cbor2 nor any generated module until a name that needs them is used.

- `Client` - the XRPC session object and root of the generated endpoints (``atproto_async.xrpc``).
- `Session` - the saved state of a logged-in account.
- The exception tree of `atproto_async.exceptions`.

Subpackages: ``ipld`` (CID, DAG-CBOR, CAR, JSON), ``syntax`` (identifier checks), ``crypto``
(did:key, signatures), ``identity`` (handle and DID resolution), ``stream`` (firehose and label
streams), ``models`` and ``api`` (generated from ``lexicons/``). None of them is imported here.
"""

from __future__ import annotations

from importlib import import_module

# Not ``from typing import TYPE_CHECKING``: importing typing costs several milliseconds, and
# type checkers treat any module-level name TYPE_CHECKING as true.
TYPE_CHECKING = False

__version__ = "0.1.0"

# Public name -> module that defines it. Looked up on first access only.
_LAZY: dict[str, str] = {
    "Client": "atproto_async.xrpc",
    "Session": "atproto_async.xrpc",
    "AtprotoError": "atproto_async.exceptions",
    "XrpcError": "atproto_async.exceptions",
    "RateLimitError": "atproto_async.exceptions",
    "AuthenticationError": "atproto_async.exceptions",
    "TransportError": "atproto_async.exceptions",
    "RequestTimeout": "atproto_async.exceptions",
    "DecodeError": "atproto_async.exceptions",
    "FrameDecodeError": "atproto_async.exceptions",
    "StreamError": "atproto_async.exceptions",
    "InvalidSyntaxError": "atproto_async.exceptions",
}

__all__ = [
    "AtprotoError",
    "AuthenticationError",
    "Client",
    "DecodeError",
    "FrameDecodeError",
    "InvalidSyntaxError",
    "RateLimitError",
    "RequestTimeout",
    "Session",
    "StreamError",
    "TransportError",
    "XrpcError",
    "__version__",
]

if TYPE_CHECKING:
    from atproto_async.exceptions import (
        AtprotoError,
        AuthenticationError,
        DecodeError,
        FrameDecodeError,
        InvalidSyntaxError,
        RateLimitError,
        RequestTimeout,
        StreamError,
        TransportError,
        XrpcError,
    )
    from atproto_async.xrpc import Client, Session


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'atproto_async' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
