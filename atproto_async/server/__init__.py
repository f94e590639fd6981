"""Serving atproto: inter-service auth and feed generators.

- `verify_service_jwt` / `ServiceAuthVerifier` check the tokens a PDS signs for its users when
  it calls a service on their behalf; `create_service_jwt` mints them (``auth.py``).
- `FeedGenerator` serves ``getFeedSkeleton`` / ``describeFeedGenerator`` / ``did.json`` on
  ``aiohttp.web`` and hands each feed handler a `FeedRequest` (``feedgen.py``).
- `publish_feed` / `unpublish_feed` write and delete the ``app.bsky.feed.generator`` record
  that makes a feed visible (``publish.py``).

Layout::

    feedgen.py   FeedGenerator, FeedRequest, FeedSkeleton, FeedError   (aiohttp.web)
        |
    auth.py      verify_service_jwt, ServiceAuthVerifier (token cache), create_service_jwt
        |
    _jwt.py      compact JWS split / sign, size cap; sans-I/O
    publish.py   the feed record, through a logged-in Client

``aiohttp.web`` is imported only when a feed-generator name is first used, so verifying tokens
inside another framework costs no web-server import.
Spec: https://atproto.com/specs/xrpc#inter-service-authentication-jwt
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from atproto_async.exceptions import ServiceAuthError
from atproto_async.server._jwt import MAX_TOKEN_LENGTH
from atproto_async.server.auth import (
    ServiceAuth,
    ServiceAuthVerifier,
    create_service_jwt,
    verify_service_jwt,
)

if TYPE_CHECKING:
    from atproto_async.server.feedgen import (
        FeedError,
        FeedGenerator,
        FeedHandler,
        FeedRequest,
        FeedSkeleton,
    )
    from atproto_async.server.publish import publish_feed, unpublish_feed

__all__ = [
    "MAX_TOKEN_LENGTH",
    "FeedError",
    "FeedGenerator",
    "FeedHandler",
    "FeedRequest",
    "FeedSkeleton",
    "ServiceAuth",
    "ServiceAuthError",
    "ServiceAuthVerifier",
    "create_service_jwt",
    "publish_feed",
    "unpublish_feed",
    "verify_service_jwt",
]

_LAZY = {
    "FeedError": "atproto_async.server.feedgen",
    "FeedGenerator": "atproto_async.server.feedgen",
    "FeedHandler": "atproto_async.server.feedgen",
    "FeedRequest": "atproto_async.server.feedgen",
    "FeedSkeleton": "atproto_async.server.feedgen",
    "publish_feed": "atproto_async.server.publish",
    "unpublish_feed": "atproto_async.server.publish",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'atproto_async.server' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
