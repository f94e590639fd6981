"""Repository records against the real PDS: create, get, list, put, delete, applyWrites, swaps."""

from __future__ import annotations

from typing import Any

import pytest
from integration_helpers import Account, post, record_data

from atproto_async import XrpcError
from atproto_async.ipld import CID

pytestmark = pytest.mark.integration

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"


def rkey_of(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


async def test_create_get_put_delete(client: Any, account: Account) -> None:
    repo = client.com.atproto.repo
    record = post("first post", langs=["en"])
    created = await repo.create_record(repo=account.did, collection=POST, record=record)
    assert created.uri.startswith(f"at://{account.did}/{POST}/")
    assert isinstance(created.cid, str | CID)

    got = await repo.get_record(repo=account.did, collection=POST, rkey=rkey_of(created.uri))
    assert got.uri == created.uri
    assert str(got.cid) == str(created.cid)
    assert record_data(got.value) == record

    edited = post("first post, edited")
    put = await repo.put_record(
        repo=account.did, collection=POST, rkey=rkey_of(created.uri), record=edited
    )
    assert put.uri == created.uri
    assert str(put.cid) != str(created.cid)
    raw: Any = await client.query(
        "com.atproto.repo.getRecord",
        {"repo": account.did, "collection": POST, "rkey": rkey_of(created.uri)},
    )
    assert raw["value"] == edited

    await repo.delete_record(repo=account.did, collection=POST, rkey=rkey_of(created.uri))
    with pytest.raises(XrpcError) as caught:
        await client.query(
            "com.atproto.repo.getRecord",
            {"repo": account.did, "collection": POST, "rkey": rkey_of(created.uri)},
        )
    assert caught.value.status == 400
    assert caught.value.error == "RecordNotFound"


async def test_put_record_with_a_chosen_key(client: Any, account: Account) -> None:
    profile = {"$type": "app.bsky.actor.profile", "displayName": "Tester", "description": "hi"}
    out = await client.com.atproto.repo.put_record(
        repo=account.did, collection="app.bsky.actor.profile", rkey="self", record=profile
    )
    assert out.uri == f"at://{account.did}/app.bsky.actor.profile/self"
    raw: Any = await client.query(
        "com.atproto.repo.getRecord",
        {"repo": account.did, "collection": "app.bsky.actor.profile", "rkey": "self"},
    )
    assert raw["value"] == profile


async def test_list_records_paginates_over_more_than_250(client: Any, account: Account) -> None:
    total = 260
    written: set[str] = set()
    for start in range(0, total, 130):  # applyWrites takes at most 200 writes per call
        writes = [
            {
                "$type": "com.atproto.repo.applyWrites#create",
                "collection": POST,
                "value": post(f"post {n}"),
            }
            for n in range(start, min(start + 130, total))
        ]
        out: Any = await client.procedure(
            "com.atproto.repo.applyWrites", {"repo": account.did, "writes": writes}
        )
        written.update(result["uri"] for result in out["results"])
    assert len(written) == total

    pages: list[int] = []

    async def page(**params: Any) -> Any:
        result = await client.com.atproto.repo.list_records(**params)
        pages.append(len(result.records))
        return result

    listed = [
        item.uri
        async for item in client.paginate(
            page, "records", repo=account.did, collection=POST, limit=100
        )
    ]
    assert len(listed) == total
    assert set(listed) == written
    assert pages[:3] == [100, 100, 60]

    # The raw form: a lambda around client.query, dict pages.
    texts = [
        item["value"]["text"]
        async for item in client.paginate(
            lambda **p: client.query("com.atproto.repo.listRecords", p),
            "records",
            repo=account.did,
            collection=POST,
            limit=50,
        )
    ]
    assert sorted(texts) == sorted(f"post {n}" for n in range(total))

    capped = [
        item
        async for item in client.paginate(
            page, "records", max_items=7, repo=account.did, collection=POST, limit=5
        )
    ]
    assert len(capped) == 7


async def test_apply_writes_creates_updates_and_deletes_in_one_commit(
    client: Any, account: Account
) -> None:
    keep = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=post("to update")
    )
    drop = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=post("to delete")
    )
    like = {
        "$type": LIKE,
        "subject": {"uri": keep.uri, "cid": str(keep.cid)},
        "createdAt": post("")["createdAt"],
    }
    updated = post("updated")
    out: Any = await client.procedure(
        "com.atproto.repo.applyWrites",
        {
            "repo": account.did,
            "writes": [
                {"$type": "com.atproto.repo.applyWrites#create", "collection": LIKE, "value": like},
                {
                    "$type": "com.atproto.repo.applyWrites#update",
                    "collection": POST,
                    "rkey": rkey_of(keep.uri),
                    "value": updated,
                },
                {
                    "$type": "com.atproto.repo.applyWrites#delete",
                    "collection": POST,
                    "rkey": rkey_of(drop.uri),
                },
            ],
        },
    )
    kinds = [result["$type"] for result in out["results"]]
    assert kinds == [
        "com.atproto.repo.applyWrites#createResult",
        "com.atproto.repo.applyWrites#updateResult",
        "com.atproto.repo.applyWrites#deleteResult",
    ]
    assert "commit" in out

    listed: Any = await client.query(
        "com.atproto.repo.listRecords", {"repo": account.did, "collection": POST}
    )
    assert [(r["uri"], r["value"]) for r in listed["records"]] == [(keep.uri, updated)]
    likes: Any = await client.query(
        "com.atproto.repo.listRecords", {"repo": account.did, "collection": LIKE}
    )
    assert [r["value"] for r in likes["records"]] == [like]


async def test_stale_swap_commit_raises_invalid_swap(client: Any, account: Account) -> None:
    head: Any = await client.query("com.atproto.sync.getLatestCommit", {"did": account.did})
    await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=post("moves the head")
    )
    with pytest.raises(XrpcError) as caught:
        await client.procedure(
            "com.atproto.repo.createRecord",
            {
                "repo": account.did,
                "collection": POST,
                "record": post("must not land"),
                "swapCommit": head["cid"],
            },
        )
    assert caught.value.status == 400
    assert caught.value.error == "InvalidSwap"

    with pytest.raises(XrpcError) as generated:
        await client.com.atproto.repo.create_record(
            repo=account.did,
            collection=POST,
            record=post("must not land either"),
            swap_commit=head["cid"],
        )
    assert generated.value.error == "InvalidSwap"

    listed: Any = await client.query(
        "com.atproto.repo.listRecords", {"repo": account.did, "collection": POST}
    )
    assert [r["value"]["text"] for r in listed["records"]] == ["moves the head"]


async def test_stale_swap_record_raises_invalid_swap(client: Any, account: Account) -> None:
    first = await client.com.atproto.repo.put_record(
        repo=account.did, collection=POST, rkey="3kfixedkey222", record=post("v1")
    )
    await client.com.atproto.repo.put_record(
        repo=account.did, collection=POST, rkey="3kfixedkey222", record=post("v2")
    )
    with pytest.raises(XrpcError) as caught:
        await client.procedure(
            "com.atproto.repo.putRecord",
            {
                "repo": account.did,
                "collection": POST,
                "rkey": "3kfixedkey222",
                "record": post("v3"),
                "swapRecord": str(first.cid),
            },
        )
    assert caught.value.error == "InvalidSwap"
