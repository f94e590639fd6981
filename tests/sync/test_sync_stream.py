"""VerifiedSubscription over real WebSocket relays and a real getRepo server on loopback.

Frames are written like a PDS writes them (`RepoWriter`); the relays are `FakeRelay`
(a ``websockets`` server); resyncs fetch the CAR from an ``aiohttp`` server found through
the account's DID document.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sync_helpers import RepoWriter, post

from atproto_async.crypto import K256, Keypair
from atproto_async.identity import StaticIdentityResolver
from atproto_async.stream import Commit
from atproto_async.sync import MemoryStateStore, Resync, SQLiteStateStore, VerifiedSubscription
from tests.stream.stream_helpers import FakeRelay, drop_after, serve_all

DIDS = ["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]


class Pds:
    """``com.atproto.sync.getRepo`` for the writers, on 127.0.0.1."""

    def __init__(self, writers: list[RepoWriter]) -> None:
        self.writers = {w.did: w for w in writers}
        self.requests: list[str] = []
        self.fail = 0

    async def get_repo(self, request: web.Request) -> web.Response:
        did = request.query["did"]
        self.requests.append(did)
        if self.fail:
            self.fail -= 1
            return web.json_response({"error": "InternalServerError"}, status=500)
        return web.Response(body=self.writers[did].car(), content_type="application/vnd.ipld.car")

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_get("/xrpc/com.atproto.sync.getRepo", self.get_repo)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def world() -> AsyncIterator[tuple[list[RepoWriter], Pds, StaticIdentityResolver]]:
    writers = [RepoWriter(Keypair.generate(K256), did) for did in DIDS]
    for w in writers:  # some history: the relay starts after it
        w.commit(creates={f"app.bsky.feed.post/3l2uygzaf{i:04d}": post(str(i)) for i in range(50)})
    pds = Pds(writers)
    async with pds as url:
        yield writers, pds, StaticIdentityResolver(w.document(url) for w in writers)


def numbered(frames: list[bytes]) -> dict[int, bytes]:
    from atproto_async.stream import decode_frame

    return {decode_frame(f).seq: f for f in frames}


def traffic(writers: list[RepoWriter], count: int, start: int = 100) -> list[bytes]:
    """``count`` commits alternating between the writers, with increasing seqs."""
    frames = []
    for n in range(count):
        w = writers[n % len(writers)]
        w.seq = start + n - 1
        frames.append(w.commit(creates={f"app.bsky.feed.like/3l2uygzb{start + n:04d}": post("l")}))
    return frames


async def collect(stream: VerifiedSubscription, count: int) -> list[Any]:
    out: list[Any] = []

    async def go() -> None:
        async for event in stream:
            out.append(event)
            if len(out) >= count:
                return

    await asyncio.wait_for(go(), 20)
    return out


async def test_first_sight_gap_heals_with_a_resync(world: Any) -> None:
    """A consumer with no state meets each repo mid-history: the first commit verifies (its
    proof is self-contained); a dropped commit later is a gap, healed from the PDS."""
    writers, pds, resolver = world
    frames = traffic(writers, 6)
    del frames[2]  # writer 0's second commit never reaches the relay
    rejected: list[Any] = []
    async with FakeRelay(numbered(frames)) as relay:
        stream = VerifiedSubscription(
            relay.url,
            resolver=resolver,
            allow_insecure=True,
            on_reject=lambda e, v: rejected.append(v),
        )
        async with stream:
            events = await collect(stream, 5)
    # seq 100 (w0), 101 (w1), [102 (w0) lost], 103 (w1), 104 (w0): a gap, held while w0 is
    # fetched, then dropped as not newer than the fetched revision; 105 (w1) flows meanwhile.
    assert [e.seq for e in events if isinstance(e, Commit)] == [100, 101, 103, 105]
    assert sum(isinstance(e, Resync) for e in events) == 1
    resync = next(e for e in events if isinstance(e, Resync))
    assert resync.did == writers[0].did
    assert pds.requests == [writers[0].did]
    assert stream.stats["gap"] == 1 and stream.stats["resyncs"] == 1
    # The resync's record set is the PDS's at that moment: everything written so far by w0.
    assert set(resync.records) <= set(writers[0].paths())
    assert "app.bsky.feed.like/3l2uygzb0102" in resync.records  # the dropped commit's record
    assert resync.rev == writers[0].last_commit.rev
    assert [v.reason.split(":")[0].split(" ")[0] for v in rejected] == ["prevData", "rev"]


async def test_forged_commit_is_dropped_and_reported(world: Any) -> None:
    writers, _, resolver = world
    w = writers[0]
    w.seq = 99
    good = w.commit(creates={"app.bsky.feed.post/3l2uygzc0001": post("ok")})
    forged = w.commit(
        creates={"app.bsky.feed.post/3l2uygzc0002": post("evil")},
        signer=Keypair.generate(K256),
        keep=False,
    )
    after = w.commit(creates={"app.bsky.feed.post/3l2uygzc0003": post("ok")})
    rejected: list[Any] = []
    async with FakeRelay(numbered([good, forged, after])) as relay:
        stream = VerifiedSubscription(
            relay.url,
            resolver=resolver,
            allow_insecure=True,
            on_reject=lambda e, v: rejected.append(v),
        )
        async with stream:
            events = await collect(stream, 2)
    assert [e.ops[0].path for e in events] == [
        "app.bsky.feed.post/3l2uygzc0001",
        "app.bsky.feed.post/3l2uygzc0003",
    ]
    assert len(rejected) == 1 and rejected[0].invalid
    assert "signature" in rejected[0].reason


async def test_failover_to_a_second_relay_loses_nothing(world: Any) -> None:
    writers, _, resolver = world
    frames = traffic(writers, 8)
    # Relay A sends the first 3 commits, then dies for good. Relay B numbers its events
    # differently (another host) and still has the last 6.
    a_frames = numbered(frames[:3])
    b_frames = {1000 + i: f for i, f in enumerate(frames[2:])}
    async with FakeRelay(a_frames, [drop_after(3)]) as a, FakeRelay(b_frames, [serve_all]) as b:
        url_a = a.url
        stream = VerifiedSubscription(
            [url_a, b.url],
            resolver=resolver,
            allow_insecure=True,
            max_attempts=1,
            reconnect=None,
        )
        async with stream:
            first = await collect(stream, 3)
            a.server.close()  # type: ignore[union-attr]
            await a.server.wait_closed()  # type: ignore[union-attr]
            rest = await collect(stream, 5)
    paths = [e.ops[0].path for e in first + rest]
    expected = [f"app.bsky.feed.like/3l2uygzb{100 + n:04d}" for n in range(8)]
    assert paths == expected  # each once: B's replay of frame 3 was dropped by rev
    assert stream.stats["failovers"] >= 1
    assert stream.stats["stale"] == 1


async def test_restart_on_sqlite_state(world: Any, tmp_path: Any) -> None:
    writers, _, resolver = world
    frames = numbered(traffic(writers, 6))
    path = str(tmp_path / "state.sqlite")
    async with FakeRelay(frames) as relay:
        store = SQLiteStateStore(path)
        stream = VerifiedSubscription(
            relay.url, resolver=resolver, allow_insecure=True, state=store
        )
        async with stream:
            first = await collect(stream, 3)
        store.close()
        store = SQLiteStateStore(path)
        assert store.cursor == first[-1].seq
        stream = VerifiedSubscription(
            relay.url, resolver=resolver, allow_insecure=True, state=store
        )
        async with stream:
            rest = await collect(stream, 3)
        store.close()
    assert relay.cursors[-1] == first[-1].seq  # resumed from the stored cursor
    assert [e.seq for e in first + rest] == sorted(frames)  # no gap, no duplicate


async def test_subscribe_repos_verify_true_is_the_verified_stream(world: Any) -> None:
    from atproto_async.stream import subscribe_repos

    writers, _, resolver = world
    frames = numbered(traffic(writers, 4))
    async with FakeRelay(frames) as relay:
        stream = subscribe_repos(relay.url, verify=True, resolver=resolver, allow_insecure=True)
        assert isinstance(stream, VerifiedSubscription)
        async with stream:
            events = await collect(stream, 4)
    assert [e.seq for e in events] == sorted(frames)
    with pytest.raises(ValueError, match="verify=True"):
        subscribe_repos(["ws://127.0.0.1:1", "ws://127.0.0.1:2"])


async def test_subscribe_labels_verify_true_drops_forged_labels() -> None:
    from atproto_async.ipld import encode_dag_cbor
    from atproto_async.stream import subscribe_labels
    from atproto_async.sync import sign_label

    labeler = "did:plc:labeler2222222222222222"
    key = Keypair.generate(K256)
    doc = {
        "id": labeler,
        "verificationMethod": [
            {
                "id": f"{labeler}#atproto_label",
                "type": "Multikey",
                "controller": labeler,
                "publicKeyMultibase": key.public_key.multikey(),
            }
        ],
    }

    def label(val: str, signer: Keypair) -> dict[str, Any]:
        return sign_label(
            {
                "ver": 1,
                "src": labeler,
                "uri": f"at://{DIDS[0]}/app.bsky.feed.post/3l2uygzaf0001",
                "val": val,
                "cts": "2026-12-04T00:00:00.000Z",
            },
            signer,
        )

    def frame(seq: int, labels: list[dict[str, Any]]) -> bytes:
        return encode_dag_cbor({"op": 1, "t": "#labels"}) + encode_dag_cbor(
            {"seq": seq, "labels": labels}
        )

    forger = Keypair.generate(K256)
    frames = {
        1: frame(1, [label("spam", key), label("forged", forger)]),
        2: frame(2, [label("forged-only", forger)]),
        3: frame(3, [label("nudity", key)]),
    }
    refused: list[str] = []
    async with FakeRelay(frames) as relay:
        stream = subscribe_labels(
            relay.url,
            verify=True,
            resolver=StaticIdentityResolver([doc]),
            on_reject=lambda lab, why: refused.append(why),
        )
        async with stream:
            got = await collect(stream, 2)  # type: ignore[arg-type]
    assert [[lab.val for lab in e.labels] for e in got] == [["spam"], ["nudity"]]
    assert [e.seq for e in got] == [1, 3]
    assert len(refused) == 2


async def test_exactly_once_with_the_consumers_own_transaction(world: Any, tmp_path: Any) -> None:
    """The consumer writes its rows on the store's connection and calls ``flush`` after each
    event: state, cursor and its rows commit together, so a crash between an event's write and
    its flush loses nothing and repeats nothing."""
    import sqlite3

    writers, _, resolver = world
    frames = numbered(traffic(writers, 8))
    path = str(tmp_path / "app.sqlite")

    def open_app() -> tuple[sqlite3.Connection, SQLiteStateStore]:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE IF NOT EXISTS seen (seq INTEGER PRIMARY KEY, path TEXT)")
        return conn, SQLiteStateStore(connection=conn)

    async with FakeRelay(frames) as relay:
        conn, store = open_app()
        stream = VerifiedSubscription(
            relay.url, resolver=resolver, allow_insecure=True, state=store, flush_interval=None
        )
        handled = 0
        async for event in stream:
            conn.execute("INSERT INTO seen VALUES (?, ?)", (event.seq, event.ops[0].path))
            handled += 1
            if handled == 5:
                break  # crash: the fifth event's row and state were never committed
            stream.flush()
        # No aclose, no flush: the process dies here. The connection goes away uncommitted.
        await stream._upstream.aclose()  # type: ignore[union-attr]
        conn.close()

        conn, store = open_app()
        assert store.cursor == sorted(frames)[3]
        stream = VerifiedSubscription(
            relay.url, resolver=resolver, allow_insecure=True, state=store, flush_interval=None
        )
        async for event in stream:
            conn.execute("INSERT INTO seen VALUES (?, ?)", (event.seq, event.ops[0].path))
            stream.flush()
            if event.seq == max(frames):
                break
        await stream.aclose()
        rows = conn.execute("SELECT seq FROM seen ORDER BY seq").fetchall()
        conn.close()
    assert [r[0] for r in rows] == sorted(frames)  # every event once: no gap, no duplicate


async def test_fetch_repo_refuses_what_a_hostile_document_or_pds_gives(world: Any) -> None:
    """The DID document and the PDS are network data: private addresses, another account's
    repository, or a repository signed by another key are all refused."""
    from atproto_async.exceptions import RepoError, TransportError
    from atproto_async.sync import fetch_latest_rev, fetch_repo

    writers, pds, resolver = world
    did = writers[0].did
    # The document names a loopback PDS: refused unless the caller allows insecure hosts.
    with pytest.raises(TransportError, match="loopback address"):
        await fetch_repo(did, resolver)
    with pytest.raises(TransportError):
        await fetch_latest_rev(did, resolver)
    assert pds.requests == []  # nothing reached the server
    assert (await fetch_repo(did, resolver, allow_insecure=True)).did == did
    # The PDS answers with the other account's repository.
    pds.writers[did] = writers[1]
    with pytest.raises(RepoError, match="not " + did):
        await fetch_repo(did, resolver, allow_insecure=True)
    # The PDS answers with a repository signed by a key the document does not name.
    impostor = RepoWriter(Keypair.generate(K256), did)
    impostor.commit(creates={"app.bsky.feed.post/3l2uygzaf0001": post("not theirs")})
    pds.writers[did] = impostor
    with pytest.raises(RepoError, match="signature"):
        await fetch_repo(did, resolver, allow_insecure=True)


def test_refresh_gate_allows_one_refresh_per_interval_and_stays_bounded() -> None:
    from atproto_async.identity.cache import RefreshGate

    now = [0.0]
    gate = RefreshGate(interval=30, max_size=2, clock=lambda: now[0])
    assert gate.allow("did:plc:a")
    assert not gate.allow("did:plc:a")
    now[0] = 29.9
    assert not gate.allow("did:plc:a")
    now[0] = 30.0
    assert gate.allow("did:plc:a")
    assert gate.allow("did:plc:b")
    assert gate.allow("did:plc:c")  # evicts the least recently refreshed, did:plc:a
    assert gate.allow("did:plc:a")
    assert not gate.allow("did:plc:c")


async def test_link_state_is_the_live_subscriptions(world: Any) -> None:
    # The CLI's status line (and a user's health check) reads reconnect_attempt and
    # disconnect_reason: a verified stream has them, from the subscription it reads.
    writers, _, resolver = world
    frames = traffic(writers, 4)
    async with FakeRelay(numbered(frames), [drop_after(2)]) as relay:
        stream = VerifiedSubscription(relay.url, resolver=resolver, allow_insecure=True)
        assert (stream.reconnect_attempt, stream.disconnect_reason) == (0, None)
        async with stream:
            events = await collect(stream, 3)
            assert stream.subscription is not None
            assert stream.subscription.url.startswith(relay.url)
            assert stream.reconnect_attempt == stream.subscription.reconnect_attempt
            assert stream.disconnect_reason == stream.subscription.disconnect_reason
            # The relay dropped the connection after 2 events: the third came after a reconnect.
            assert len(relay.cursors) >= 2
    assert [e.seq for e in events] == [100, 101, 102]


async def test_cursor_of_another_relay_is_never_stored(world: Any) -> None:
    # Seqs do not carry across hosts: after a failover to relay B, B's seqs must not become
    # the stored cursor, or a restart would resume relay A from a number that is B's.
    writers, _, resolver = world
    frames = traffic(writers, 8)
    a_frames = numbered(frames[:3])  # seqs 100-102
    b_frames = {5000 + i: f for i, f in enumerate(frames[2:])}
    state = MemoryStateStore()
    async with FakeRelay(a_frames, [drop_after(3)]) as a, FakeRelay(b_frames, [serve_all]) as b:
        stream = VerifiedSubscription(
            [a.url, b.url],
            resolver=resolver,
            state=state,
            allow_insecure=True,
            max_attempts=1,
            reconnect=None,
        )
        async with stream:
            await collect(stream, 3)
            stream.flush()
            assert state.cursor == 102
            a.server.close()  # type: ignore[union-attr]
            await a.server.wait_closed()  # type: ignore[union-attr]
            await collect(stream, 5)
            # (B serves the same frames under its own keys; their seqs run on to 107.)
            assert stream.url == b.url and stream.cursor == 107
            stream.flush()
    assert state.cursor == 102  # relay A's last cursor, not one of B's
    assert len(state) > 0  # the verified state itself was flushed
