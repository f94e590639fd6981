"""Blobs against the real PDS: upload an image, reference it from a post, fetch it back."""

from __future__ import annotations

from typing import Any

import pytest
from integration_helpers import Account, post, tiny_png

from atproto_async.ipld import CID, cid_for_raw

pytestmark = pytest.mark.integration


async def test_upload_post_with_image_and_get_blob(client: Any, account: Account) -> None:
    image = tiny_png(3, 2)
    uploaded: Any = await client.procedure(
        "com.atproto.repo.uploadBlob", data=image, encoding="image/png"
    )
    blob = uploaded["blob"]
    assert blob["$type"] == "blob"
    assert blob["mimeType"] == "image/png"
    assert blob["size"] == len(image)
    # The blob's CID is the raw-codec CID of the bytes.
    assert CID.decode(blob["ref"]["$link"]) == cid_for_raw(image)

    record = post(
        "a picture",
        embed={
            "$type": "app.bsky.embed.images",
            "images": [
                {"alt": "pink pixels", "image": blob, "aspectRatio": {"width": 3, "height": 2}}
            ],
        },
    )
    created: Any = await client.procedure(
        "com.atproto.repo.createRecord",
        {"repo": account.did, "collection": "app.bsky.feed.post", "record": record},
    )
    got: Any = await client.query(
        "com.atproto.repo.getRecord",
        {
            "repo": account.did,
            "collection": "app.bsky.feed.post",
            "rkey": created["uri"].rsplit("/", 1)[1],
        },
    )
    assert got["value"]["embed"]["images"][0]["image"] == blob

    fetched = await client.query(
        "com.atproto.sync.getBlob", {"did": account.did, "cid": blob["ref"]["$link"]}
    )
    assert fetched == image

    listed: Any = await client.query("com.atproto.sync.listBlobs", {"did": account.did})
    assert listed["cids"] == [blob["ref"]["$link"]]


async def test_upload_blob_streams_an_async_iterable(client: Any, account: Account) -> None:
    image = tiny_png(16, 16, (10, 200, 10))

    async def chunks() -> Any:
        for start in range(0, len(image), 7):
            yield image[start : start + 7]

    uploaded: Any = await client.procedure(
        "com.atproto.repo.uploadBlob", data=chunks(), encoding="image/png"
    )
    assert uploaded["blob"]["size"] == len(image)
    assert CID.decode(uploaded["blob"]["ref"]["$link"]) == cid_for_raw(image)
