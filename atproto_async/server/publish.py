"""Publishing a feed: the ``app.bsky.feed.generator`` record that makes it visible.

A feed exists for the network once the publisher's repository holds a record
``at://<publisher>/app.bsky.feed.generator/<rkey>`` naming the service DID that serves it; the
AppView then routes ``getFeed`` for that URI to the service's ``getFeedSkeleton``. The CLI's
``atproto-async feedgen publish`` / ``unpublish`` call these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from atproto_async.syntax import is_valid_did, is_valid_record_key

if TYPE_CHECKING:
    from atproto_async.xrpc import Client

__all__ = ["publish_feed", "unpublish_feed"]

COLLECTION = "app.bsky.feed.generator"


def _publisher(client: Client) -> str:
    session = client.session
    if session is None:
        raise ValueError("log in as the feed's publisher first (client.login)")
    return session.did


async def publish_feed(
    client: Client,
    rkey: str,
    *,
    service_did: str,
    display_name: str,
    description: str | None = None,
    avatar: bytes | None = None,
    avatar_type: str = "image/png",
    accepts_interactions: bool | None = None,
    video_only: bool = False,
) -> str:
    """Create or update the feed record ``rkey`` in the logged-in account's repository.

    Args:
        client: A `Client` logged in as the publisher.
        rkey: The feed's record key (its short name in the URI, e.g. ``"cats"``).
        service_did: The DID of the feed generator service that serves the feed.
        display_name: The name shown in apps (at most 24 graphemes).
        description: The text shown under the name (at most 300 graphemes).
        avatar: Image bytes (PNG or JPEG, at most 1 MB), uploaded as a blob.
        avatar_type: The avatar's MIME type.
        accepts_interactions: Declare that the feed takes "show more / less" feedback.
        video_only: Mark the feed as video content (``contentModeVideo``).

    Returns:
        The feed's AT-URI.
    """
    from atproto_async.models.app.bsky.feed.generator import Generator

    if not is_valid_record_key(rkey):
        raise ValueError(f"not a record key: {rkey!r}")
    if not is_valid_did(service_did):
        raise ValueError(f"service_did must be a DID, not {service_did!r}")
    if not display_name:
        raise ValueError("display_name is required")
    repo = _publisher(client)
    kwargs: dict[str, object] = {}
    if description is not None:
        kwargs["description"] = description
    if avatar is not None:
        uploaded = await client.com.atproto.repo.upload_blob(data=avatar, encoding=avatar_type)
        kwargs["avatar"] = uploaded.blob
    if accepts_interactions is not None:
        kwargs["accepts_interactions"] = accepts_interactions
    if video_only:
        kwargs["content_mode"] = "app.bsky.feed.defs#contentModeVideo"
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = Generator(
        did=service_did,
        display_name=display_name,
        created_at=created,
        **kwargs,  # type: ignore[arg-type]
    )
    out = await client.com.atproto.repo.put_record(
        repo=repo, collection=COLLECTION, rkey=rkey, record=record
    )
    return out.uri


async def unpublish_feed(client: Client, rkey: str) -> None:
    """Delete the feed record ``rkey`` from the logged-in account's repository (idempotent)."""
    if not is_valid_record_key(rkey):
        raise ValueError(f"not a record key: {rkey!r}")
    await client.com.atproto.repo.delete_record(
        repo=_publisher(client), collection=COLLECTION, rkey=rkey
    )
