"""The firehose of the real PDS: typed commits, identity and account events, cursors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from integration_helpers import Account, create_account, post, read_until, record_data, unique_name
from localpds import LocalPds

from atproto_async import Client, StreamError
from atproto_async.ipld import CID, from_json
from atproto_async.stream import Account as AccountEvent
from atproto_async.stream import Commit, Identity, subscribe_repos

pytestmark = pytest.mark.integration

POST = "app.bsky.feed.post"


def about(did: str) -> Callable[[Any], bool]:
    """Keep the events of one account (commits name it ``repo``, the others ``did``)."""
    return lambda event: getattr(event, "repo", getattr(event, "did", None)) == did


def commit_ops(events: list[Any]) -> list[Any]:
    return [op for event in events if isinstance(event, Commit) for op in event.ops]


def in_order(events: list[Any], wanted: list[Callable[[Any], bool]]) -> bool:
    """Whether events contain matches for ``wanted`` in that order (other events in between)."""
    position = 0
    for event in events:
        if position < len(wanted) and wanted[position](event):
            position += 1
    return position == len(wanted)


async def test_each_write_arrives_as_a_typed_commit(local_pds: LocalPds, client: Any) -> None:
    did = client.session.did
    stream = subscribe_repos(local_pds.ws_url, cursor=0)
    expected: list[tuple[str, str, Any, Any]] = []  # action, path, cid, record (data model)
    writes = 5
    reader = asyncio.create_task(
        read_until(stream, lambda got: len(commit_ops(got)) >= writes, keep=about(did))
    )

    text = "hello @alice.test and #atproto"
    first = post(
        text,
        facets=[
            {
                "index": {"byteStart": 6, "byteEnd": 17},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
            },
            {
                "index": {"byteStart": 22, "byteEnd": 30},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "atproto"}],
            },
        ],
    )
    out: Any = await client.procedure(
        "com.atproto.repo.createRecord", {"repo": did, "collection": POST, "record": first}
    )
    path = out["uri"].split("/", 3)[3]
    expected.append(("create", path, out["cid"], first))

    edited = post("hello, edited")
    out = await client.procedure(
        "com.atproto.repo.putRecord",
        {"repo": did, "collection": POST, "rkey": path.split("/")[1], "record": edited},
    )
    expected.append(("update", path, out["cid"], edited))

    like = {
        "$type": "app.bsky.feed.like",
        "subject": {"uri": out["uri"], "cid": out["cid"]},
        "createdAt": edited["createdAt"],
    }
    follow = {"$type": "app.bsky.graph.follow", "subject": did, "createdAt": edited["createdAt"]}
    batch: Any = await client.procedure(
        "com.atproto.repo.applyWrites",
        {
            "repo": did,
            "writes": [
                {"$type": "com.atproto.repo.applyWrites#create", "collection": c, "value": v}
                for c, v in (("app.bsky.feed.like", like), ("app.bsky.graph.follow", follow))
            ],
        },
    )
    for result, value in zip(batch["results"], (like, follow), strict=True):
        expected.append(("create", result["uri"].split("/", 3)[3], result["cid"], value))

    await client.procedure(
        "com.atproto.repo.deleteRecord",
        {"repo": did, "collection": POST, "rkey": path.split("/")[1]},
    )
    expected.append(("delete", path, None, None))

    events = await reader
    commits = [event for event in events if isinstance(event, Commit) and event.ops]
    ops = commit_ops(commits)
    assert [(op.action, op.path) for op in ops] == [(a, p) for a, p, _, _ in expected]
    for op, (action, op_path, cid, record) in zip(ops, expected, strict=True):
        assert [op.collection, op.rkey] == op_path.split("/")
        assert op.uri == f"at://{did}/{op_path}"
        if action == "delete":
            assert op.cid is None
            assert op.record is None
        else:
            assert op.cid == CID.decode(cid)
            assert record_data(op.record) == from_json(record)
    # The create and the update are typed post records.
    assert ops[0].record.text == text
    assert ops[1].record.text == "hello, edited"
    # One commit per call: applyWrites gave one commit with two ops.
    assert [len(commit.ops) for commit in commits] == [1, 1, 2, 1]
    assert all(commit.repo == did for commit in commits)
    seqs = [commit.seq for commit in commits]
    assert seqs == sorted(seqs)
    assert len({commit.rev for commit in commits}) == len(commits)


async def test_identity_and_account_events(local_pds: LocalPds, account: Account) -> None:
    stream = subscribe_repos(local_pds.ws_url, cursor=0)
    new_handle = f"{unique_name('renamed')}.test"
    wanted: list[Callable[[Any], bool]] = [
        lambda e: isinstance(e, Identity) and e.handle == new_handle,
        lambda e: isinstance(e, AccountEvent) and not e.active and e.status == "deactivated",
        lambda e: isinstance(e, AccountEvent) and e.active,
        lambda e: isinstance(e, AccountEvent) and not e.active and e.status == "takendown",
        lambda e: isinstance(e, AccountEvent) and e.active,
    ]
    reader = asyncio.create_task(
        read_until(stream, lambda got: in_order(got, wanted), keep=about(account.did))
    )
    subject = {"$type": "com.atproto.admin.defs#repoRef", "did": account.did}
    async with (
        Client(local_pds.url) as user,
        Client(local_pds.url, admin_password=local_pds.admin_password) as admin,
    ):
        await user.login(account.handle, account.password)
        await user.procedure("com.atproto.identity.updateHandle", {"handle": new_handle})
        await user.procedure("com.atproto.server.deactivateAccount", {})
        await user.procedure("com.atproto.server.activateAccount")
        await admin.procedure(
            "com.atproto.admin.updateSubjectStatus",
            {"subject": subject, "takedown": {"applied": True, "ref": "test"}},
        )
        await admin.procedure(
            "com.atproto.admin.updateSubjectStatus",
            {"subject": subject, "takedown": {"applied": False}},
        )
    events = await reader
    assert in_order(events, wanted)
    # Account creation itself came first: its identity event names the original handle.
    identities = [event for event in events if isinstance(event, Identity)]
    assert identities[0].handle == account.handle
    assert all(event.seq > 0 and event.time for event in events)


async def test_cursor_replays_the_backfill(local_pds: LocalPds, client: Any) -> None:
    did = client.session.did
    for n in range(4):
        await client.procedure(
            "com.atproto.repo.createRecord",
            {"repo": did, "collection": POST, "record": post(f"replay {n}")},
        )

    def four_posts(got: list[Any]) -> bool:
        return len(commit_ops(got)) >= 4

    full = await read_until(
        subscribe_repos(local_pds.ws_url, cursor=0), four_posts, keep=about(did)
    )
    commits = [event for event in full if isinstance(event, Commit) and event.ops]
    assert [op.record.text for op in commit_ops(commits)] == [f"replay {n}" for n in range(4)]

    # A new connection from the seq of the second post gets the third and the fourth again.
    resumed_from = commits[1].seq
    again = await read_until(
        subscribe_repos(local_pds.ws_url, cursor=resumed_from),
        lambda got: len(commit_ops(got)) >= 2,
        keep=about(did),
    )
    assert [(event.seq, event.commit) for event in again] == [
        (commit.seq, commit.commit) for commit in commits[2:]
    ]


async def test_a_subscription_resumes_from_its_own_cursor(local_pds: LocalPds, client: Any) -> None:
    did = client.session.did
    for n in range(3):
        await client.procedure(
            "com.atproto.repo.createRecord",
            {"repo": did, "collection": POST, "record": post(f"resume {n}")},
        )
    keep = about(did)
    async with subscribe_repos(local_pds.ws_url, cursor=0) as stream:
        first: list[Commit] = []
        async for event in stream:
            if isinstance(event, Commit) and keep(event) and event.ops:
                first.append(event)
                break
        assert stream.cursor == first[0].seq
        # A second ``async for`` opens a new connection from the cursor: no event is repeated.
        rest: list[Commit] = []
        async for event in stream:
            if isinstance(event, Commit) and keep(event) and event.ops:
                rest.append(event)
                if len(rest) == 2:
                    break
        assert stream.connections == 2
    texts = [op.record.text for event in first + rest for op in event.ops]
    assert texts == ["resume 0", "resume 1", "resume 2"]


async def test_future_cursor_raises_stream_error(local_pds: LocalPds) -> None:
    async def first_event() -> Any:
        async with subscribe_repos(local_pds.ws_url, cursor=10**12) as stream:
            async for event in stream:
                return event
        return None

    with pytest.raises(StreamError) as caught:
        await asyncio.wait_for(first_event(), 30)
    assert caught.value.error == "FutureCursor"


async def test_collection_filter_keeps_only_those_ops(local_pds: LocalPds) -> None:
    account = await create_account(local_pds)
    async with Client(local_pds.url) as client:
        await client.login(account.handle, account.password)
        for collection, record in (
            (
                "app.bsky.graph.follow",
                {
                    "$type": "app.bsky.graph.follow",
                    "subject": account.did,
                    "createdAt": post("")["createdAt"],
                },
            ),
            (POST, post("filtered in")),
        ):
            await client.procedure(
                "com.atproto.repo.createRecord",
                {"repo": account.did, "collection": collection, "record": record},
            )
    events = await read_until(
        subscribe_repos(local_pds.ws_url, cursor=0, collections=[POST]),
        lambda got: len(commit_ops(got)) >= 1,
        keep=about(account.did),
    )
    ops = commit_ops(events)
    assert [(op.collection, op.record.text) for op in ops] == [(POST, "filtered in")]
