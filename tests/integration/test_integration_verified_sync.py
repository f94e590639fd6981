"""Verified sync against the real PDS, through a hostile relay in between.

A WebSocket proxy stands between the PDS's firehose and the consumer and, for one account,
forges a commit signature, swaps a record block's bytes and drops commits. The consumer
(`VerifiedSubscription`) must reject the forgeries, notice the gaps, heal them from the PDS with
``getRepo``, and end up holding exactly the records ``listRecords`` shows. Also: every commit of
an honest session verifies; a consumer killed mid-stream resumes on its SQLite state with no
gap and no duplicate; two relays (two proxies), one killed, fail over without loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from integration_helpers import post
from localpds import LocalPds
from websockets.asyncio.server import ServerConnection, serve

from atproto_async.identity import IdentityResolver
from atproto_async.ipld import CID, decode_dag_cbor, encode_dag_cbor, read_car, write_car
from atproto_async.ipld.dag_cbor import cid_for, decode_dag_cbor_multi
from atproto_async.stream import Commit
from atproto_async.sync import Resync, SQLiteStateStore, VerifiedSubscription

pytestmark = pytest.mark.integration

POST = "app.bsky.feed.post"
WAIT = 45.0


class Proxy:
    """A relay in the middle: forwards the PDS's frames, altering some commits.

    A commit whose created post's text starts with ``FORGE``, ``SWAP`` or ``DROP`` gets its
    signature replaced, a record block's bytes replaced under its CID, or is not forwarded.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.done: list[str] = []
        self.server: Any = None
        self.connections: set[ServerConnection] = set()

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def alter(self, message: bytes) -> bytes | None:
        header, body = decode_dag_cbor_multi(message)
        if header.get("t") != "#commit":
            return message
        car = read_car(body["blocks"])
        blocks = {cid: car.blocks[cid] for cid in car.blocks}
        action = None
        for op in body["ops"]:
            if op["action"] == "create" and op["cid"] in blocks:
                text = decode_dag_cbor(blocks[op["cid"]]).get("text", "")
                action = next((a for a in ("FORGE", "SWAP", "DROP") if text.startswith(a)), None)
        if action is None:
            return message
        self.done.append(action)
        if action == "DROP":
            return None
        if action == "FORGE":
            commit = decode_dag_cbor(blocks.pop(body["commit"]))
            commit["sig"] = os.urandom(64)
            body["commit"] = cid_for(commit)
            blocks = {body["commit"]: encode_dag_cbor(commit), **blocks}
        else:
            cid = next(op["cid"] for op in body["ops"] if op["cid"] is not None)
            blocks[cid] = encode_dag_cbor(post("words the author never wrote"))
        body["blocks"] = write_car([body["commit"]], blocks.items())
        return encode_dag_cbor(header) + encode_dag_cbor(body)

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.connections.add(ws)

        async def pump(up: Any) -> None:
            async for message in up:
                assert isinstance(message, bytes)
                altered = self.alter(message)
                if altered is not None:
                    await ws.send(altered)

        try:
            async with websockets.connect(self.upstream + ws.request.path, max_size=None) as up:
                # Until either side goes away: a closed consumer must not leave the upstream
                # connection (and this handler) waiting for the next PDS event forever.
                tasks = {asyncio.ensure_future(pump(up)), asyncio.ensure_future(ws.wait_closed())}
                try:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.connections.discard(ws)

    async def __aenter__(self) -> Proxy:
        self.server = await serve(self.handler, "127.0.0.1", 0, max_size=None, compression=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()

    async def kill(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()


@pytest.fixture
async def resolver(local_pds: LocalPds) -> AsyncIterator[IdentityResolver]:
    async with IdentityResolver(plc_url=local_pds.plc_url, allow_insecure=True) as r:
        yield r


class Mirror:
    """What a consumer builds from verified events: the record set of one account."""

    def __init__(self, did: str) -> None:
        self.did = did
        self.records: dict[str, CID] = {}
        self.events: list[Any] = []

    def apply(self, event: Any) -> None:
        self.events.append(event)
        if isinstance(event, Resync) and event.did == self.did:
            self.records = {p: c for p, c in event.records.items() if p.startswith(POST)}
        elif isinstance(event, Commit) and event.repo == self.did:
            for op in event.ops:
                if op.collection != POST:
                    continue
                if op.action == "delete":
                    self.records.pop(op.path, None)
                else:
                    assert op.cid is not None
                    self.records[op.path] = op.cid


async def listed(client: Any, did: str) -> dict[str, CID]:
    out = await client.com.atproto.repo.list_records(repo=did, collection=POST, limit=100)
    return {r.uri.split("/", 3)[3]: CID.decode(r.cid) for r in out.records}


async def follow(
    stream: VerifiedSubscription, mirror: Mirror, done: Callable[[], Any], within: float = WAIT
) -> None:
    async def go() -> None:
        async for event in stream:
            mirror.apply(event)
            if await done():
                return

    await asyncio.wait_for(go(), within)


async def write_posts(client: Any, did: str, count: int, tag: str) -> list[str]:
    uris = []
    for n in range(count):
        out = await client.com.atproto.repo.create_record(
            repo=did, collection=POST, record=post(f"{tag} {n}")
        )
        uris.append(out.uri)
    return uris


async def test_honest_session_verifies_every_commit(
    local_pds: LocalPds, client: Any, resolver: IdentityResolver
) -> None:
    did = client.session.did
    uris = await write_posts(client, did, 4, "honest")
    await client.com.atproto.repo.delete_record(
        repo=did, collection=POST, rkey=uris[0].rsplit("/", 1)[1]
    )
    rejected: list[Any] = []
    mirror = Mirror(did)
    stream = VerifiedSubscription(
        local_pds.ws_url,
        resolver=resolver,
        cursor=0,
        allow_insecure=True,
        on_reject=lambda e, v: rejected.append((e, v)),
    )
    want = await listed(client, did)

    async def done() -> bool:
        return mirror.records == want

    async with stream:
        await follow(stream, mirror, done)
    ours = [v for e, v in rejected if v.did == did]
    assert not [v for v in ours if v.invalid], ours
    assert sum(isinstance(e, Commit) and e.repo == did for e in mirror.events) >= 5


async def test_forged_swapped_and_dropped_commits(
    local_pds: LocalPds, client: Any, resolver: IdentityResolver
) -> None:
    did = client.session.did
    rejected: list[Any] = []
    mirror = Mirror(did)
    async with Proxy(local_pds.ws_url) as proxy:
        stream = VerifiedSubscription(
            proxy.url,
            resolver=resolver,
            cursor=0,
            allow_insecure=True,
            on_reject=lambda e, v: rejected.append(v),
        )
        async with stream:
            # Each phase alters one commit in the middle, then checks that the consumer holds
            # exactly what the PDS lists (the altered commit's successor reveals the gap).
            for phase, marker in enumerate(["SWAP", "FORGE", "DROP"]):
                await write_posts(client, did, 1, f"before {phase}")
                await write_posts(client, did, 1, f"{marker} {phase}")
                await write_posts(client, did, 2, f"after {phase}")
                want = await listed(client, did)

                async def done() -> bool:
                    return mirror.records == want and not stream._pending  # noqa: B023

                await follow(stream, mirror, done)
    assert proxy.done == ["SWAP", "FORGE", "DROP"]
    ours = [v for v in rejected if v.did == did]
    invalid = [v.reason or "" for v in ours if v.invalid]
    assert len(invalid) == 2, ours
    assert "not a valid CAR" in invalid[0]  # the swapped record block fails its hash
    assert "signature" in invalid[1]
    assert stream.stats["gap"] >= 3 and stream.stats["resyncs"] >= 3
    resyncs = [e for e in mirror.events if isinstance(e, Resync) and e.did == did]
    assert len(resyncs) >= 3
    # Nothing altered reached the consumer.
    texts = [
        op.record_data.get("text")
        for e in mirror.events
        if isinstance(e, Commit) and e.repo == did
        for op in e.ops
        if op.action == "create"
    ]
    assert not [t for t in texts if t.split(" ")[0] in ("SWAP", "FORGE", "DROP")]
    assert "words the author never wrote" not in texts


async def test_restart_on_sqlite_state_no_gap_no_duplicate(
    local_pds: LocalPds, client: Any, resolver: IdentityResolver, tmp_path: Any
) -> None:
    did = client.session.did
    path = str(tmp_path / "state.sqlite")
    await write_posts(client, did, 3, "before")
    seqs: list[int] = []
    mirror = Mirror(did)

    def run(store: SQLiteStateStore, cursor: int | None) -> VerifiedSubscription:
        return VerifiedSubscription(
            local_pds.ws_url, resolver=resolver, state=store, cursor=cursor, allow_insecure=True
        )

    store = SQLiteStateStore(path)
    stream = run(store, 0)
    first = await listed(client, did)

    async def first_done() -> bool:
        return mirror.records == first

    async with stream:
        await follow(stream, mirror, first_done)
        seqs += [e.seq for e in mirror.events if isinstance(e, Commit)]
    store.close()  # the consumer stops (its state was flushed with the cursor on close)

    await write_posts(client, did, 3, "while down")
    store = SQLiteStateStore(path)
    stream = run(store, None)  # resumes from the stored cursor
    want = await listed(client, did)
    start = len(mirror.events)

    async def done() -> bool:
        return mirror.records == want

    async with stream:
        await follow(stream, mirror, done)
    store.close()
    later = [e.seq for e in mirror.events[start:] if isinstance(e, Commit)]
    assert later and min(later) > max(seqs)  # nothing repeated
    assert len(set(seqs + later)) == len(seqs + later)
    assert not any(isinstance(e, Resync) and e.did == did for e in mirror.events[start:])


async def test_failover_between_two_relays(
    local_pds: LocalPds, client: Any, resolver: IdentityResolver
) -> None:
    did = client.session.did
    async with Proxy(local_pds.ws_url) as first, Proxy(local_pds.ws_url) as second:
        mirror = Mirror(did)
        stream = VerifiedSubscription(
            [first.url, second.url],
            resolver=resolver,
            cursor=0,
            allow_insecure=True,
            max_attempts=1,
        )
        await write_posts(client, did, 3, "one")
        want = await listed(client, did)

        async def done_one() -> bool:
            return mirror.records == want

        async with stream:
            await follow(stream, mirror, done_one)
            await first.kill()
            for ws in list(first.connections):
                ws.transport.abort()
            await write_posts(client, did, 3, "two")
            want = await listed(client, did)
            await follow(stream, mirror, done_one)
        assert stream.url == second.url
        assert stream.stats["failovers"] >= 1
        # The posts made while no relay was followed came back through the failover check:
        # the account was active just before, its PDS was ahead, it was fetched again.
        assert stream.stats["reconciled"] >= 1
        assert any(isinstance(e, Resync) and e.did == did for e in mirror.events)
