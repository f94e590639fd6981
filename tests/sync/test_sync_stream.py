"""VerifiedSubscription over real WebSocket relays and a real getRepo server on loopback.

Frames are written like a PDS writes them (`RepoWriter`); the relays are `FakeRelay`
(a ``websockets`` server); resyncs fetch the CAR from an ``aiohttp`` server found through
the account's DID document.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import Any

import pytest
from aiohttp import web
from sync_helpers import RepoWriter, post

from atproto_async.crypto import K256, Keypair
from atproto_async.exceptions import StreamError
from atproto_async.identity import StaticIdentityResolver
from atproto_async.stream import Commit
from atproto_async.stream.reconnect import ReconnectPolicy
from atproto_async.stream.urls import SUBSCRIBE_REPOS, stream_url
from atproto_async.sync import MemoryStateStore, Resync, SQLiteStateStore, VerifiedSubscription
from tests.stream.stream_helpers import FakeRelay, drop_after, error_frame, serve_all

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


async def test_each_relay_keeps_its_own_cursor(world: Any) -> None:
    # Seqs do not carry across hosts: after a failover to relay B, B's seqs are stored as B's,
    # never as A's, or a restart would resume relay A from a number that is B's.
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
        host_a, host_b = stream.hosts
        assert host_a == stream_url(a.url, SUBSCRIBE_REPOS)  # keyed by the normalized URL
        async with stream:
            await collect(stream, 3)
            stream.flush()
            assert (state.cursor, state.active_host) == (102, host_a)
            a.server.close()  # type: ignore[union-attr]
            await a.server.wait_closed()  # type: ignore[union-attr]
            await collect(stream, 5)
            # (B serves the same frames under its own keys; their seqs run on to 107.)
            assert stream.url == b.url and stream.cursor == 107
            stream.flush()
    assert state.cursor_for(host_a) == 102  # relay A's last cursor, not one of B's
    assert state.cursor_for(host_b) == 107
    assert state.active_host == host_b and state.cursor == 107
    assert len(state) > 0  # the verified state itself was flushed


# -- per-host cursors ---------------------------------------------------------------------
#
# These relays are closer to real ones than ``serve_all``: without a cursor they start at
# their live tail (``head``: the last seq already behind it), and they can go down (answer
# 503 at the upgrade) and come back.

FAST = ReconnectPolicy(initial_delay=0.01, max_delay=0.02)


class Switch:
    """Takes a relay down (503 at the upgrade) and up again."""

    def __init__(self, relay: FakeRelay) -> None:
        self.down = False
        relay.process_request = self

    def __call__(self, connection: Any, request: Any) -> Any:
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down\n") if self.down else None


def live(head: int | None, count: int | None = None, then: Callable[[], None] | None = None) -> Any:
    """Send the frames after the cursor (no cursor: after ``head``); after ``count`` of them,
    call ``then`` (e.g. take this relay down) and cut the connection."""

    async def behaviour(relay: FakeRelay, ws: Any, cursor: int | None) -> None:
        floor = cursor if cursor is not None else head
        todo = [(s, f) for s, f in relay.frames.items() if floor is None or s > floor]
        for _, message in todo[:count]:
            await ws.send(message)
            relay.sent += 1
        if count is None:
            await ws.wait_closed()
            return
        await asyncio.sleep(0.05)  # let the client read what was sent
        if then is not None:
            then()
        ws.transport.abort()

    return behaviour


def renumbered(frames: list[bytes], start: int) -> dict[int, bytes]:
    """The same commits as another relay serves them: numbered by it, from ``start``."""
    from atproto_async.ipld import decode_dag_cbor, encode_dag_cbor

    header = encode_dag_cbor({"op": 1, "t": "#commit"})
    out = {}
    for n, message in enumerate(frames):
        assert message.startswith(header)
        body = decode_dag_cbor(message[len(header) :])
        out[start + n] = header + encode_dag_cbor({**body, "seq": start + n})
    return out


def commits(events: list[Any]) -> list[int]:
    assert not any(isinstance(e, Resync) for e in events)  # nothing was missed
    return [e.seq for e in events]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_restart_after_failover_resumes_the_relay_in_use_at_its_cursor(
    world: Any, tmp_path: Any, kind: str
) -> None:
    writers, _, resolver = world
    frames = traffic(writers, 10)
    path = str(tmp_path / "state.sqlite")

    def open_state() -> MemoryStateStore | SQLiteStateStore:
        return SQLiteStateStore(path) if kind == "sqlite" else memory

    memory = MemoryStateStore()
    a_relay = FakeRelay(numbered(frames))
    a_switch = Switch(a_relay)
    a_relay.script = [live(None, 3, then=lambda: setattr(a_switch, "down", True)), serve_all]
    b_frames = renumbered(frames, 1000)  # the same events, B's seqs
    async with a_relay as a, FakeRelay(b_frames, [live(head=1001)]) as b:
        urls = [a.url, b.url]
        options: dict[str, Any] = {"max_attempts": 1, "reconnect": FAST}
        state = open_state()
        stream = VerifiedSubscription(
            urls, resolver=resolver, allow_insecure=True, state=state, **options
        )
        async with stream:  # A: 100-102, then it goes down; B from its live tail (1002 on)
            first = await collect(stream, 6)
        if isinstance(state, SQLiteStateStore):
            state.close()
        assert commits(first) == [100, 101, 102, 1003, 1004, 1005]  # 1002 was seen as 102
        a_switch.down = False  # A is back, but B was in use: the restart resumes B
        seen_by_a = len(a.cursors)
        state = open_state()
        assert state.active_host == stream.hosts[1] and state.cursor == 1005
        stream = VerifiedSubscription(
            urls, resolver=resolver, allow_insecure=True, state=state, **options
        )
        async with stream:
            rest = await collect(stream, 4)
        if isinstance(state, SQLiteStateStore):
            state.close()
    assert b.cursors == [None, 1005]
    assert len(a.cursors) == seen_by_a  # A was not asked
    assert commits(rest) == [1006, 1007, 1008, 1009]  # no gap, no duplicate
    assert stream.stats["failovers"] == 0


async def test_failing_back_resumes_the_first_relay_at_its_own_cursor(world: Any) -> None:
    writers, _, resolver = world
    frames = traffic(writers, 10)
    a_relay = FakeRelay(numbered(frames))
    b_relay = FakeRelay(renumbered(frames, 1000))
    a_switch, b_switch = Switch(a_relay), Switch(b_relay)

    def a_fails() -> None:
        a_switch.down = True

    def b_fails() -> None:  # ... and A is back
        b_switch.down, a_switch.down = True, False

    # A's live tail is far ahead by then: resuming it from there would miss 106 and 107.
    a_relay.script = [live(None, 3, then=a_fails), live(head=107)]
    b_relay.script = [live(head=1001, count=4, then=b_fails)]
    state = MemoryStateStore()
    async with a_relay as a, b_relay as b:
        stream = VerifiedSubscription(
            [a.url, b.url],
            resolver=resolver,
            allow_insecure=True,
            state=state,
            max_attempts=1,
            reconnect=FAST,
        )
        async with stream:
            events = await collect(stream, 10)
            assert stream.url == a.url
    assert a.cursors == [None, 102] and b.cursors == [None]
    assert commits(events) == [100, 101, 102, 1003, 1004, 1005, 106, 107, 108, 109]
    assert stream.stats["failovers"] == 2 and stream.stats["stale"] == 4  # 1002, 103-105
    host_a, host_b = stream.hosts
    assert (state.cursor_for(host_a), state.cursor_for(host_b)) == (109, 1005)
    assert state.active_host == host_a


async def test_a_stored_cursor_ahead_of_the_host_falls_back_to_its_live_tail(world: Any) -> None:
    """Relay B was reset: it answers ``FutureCursor`` to the cursor stored for it. The stream
    reads B from its live tail instead of failing over to A, and back, forever."""
    writers, _, resolver = world
    frames = traffic(writers, 10)

    async def reset_relay(relay: FakeRelay, ws: Any, cursor: int | None) -> None:
        if cursor is not None and cursor > max(relay.frames):
            await ws.send(error_frame("FutureCursor", "cursor in the future"))
            await ws.close()
            return
        await live(head=1001)(relay, ws, cursor)

    a_relay = FakeRelay(numbered(frames))
    a_switch = Switch(a_relay)
    a_relay.script = [live(None, 3, then=lambda: setattr(a_switch, "down", True))]
    async with (
        a_relay as a,
        FakeRelay(renumbered(frames, 1000), [reset_relay]) as b,
    ):
        urls = [a.url, b.url]
        state = MemoryStateStore()
        host_a, host_b = stream_url(a.url, SUBSCRIBE_REPOS), stream_url(b.url, SUBSCRIBE_REPOS)
        state.flush_cursors({host_b: 5000}, active=host_a)  # B's seqs before its reset
        options: dict[str, Any] = {"max_attempts": 1, "reconnect": FAST}
        stream = VerifiedSubscription(
            urls, resolver=resolver, allow_insecure=True, state=state, **options
        )
        async with stream:  # on failover: B from 5000, refused, then from its live tail
            events = await collect(stream, 6)
        assert b.cursors == [5000, None] and len(a.cursors) == 1
        assert commits(events) == [100, 101, 102, 1003, 1004, 1005]
        assert stream.stats["future_cursor"] == 1 and stream.stats["failovers"] == 1
        assert (state.active_host, state.cursor_for(host_b)) == (host_b, 1005)

        # A restart on B alone, with B's cursor ahead again: the same, not an error.
        state.flush_cursors({host_b: 6000}, active=host_b)
        stream = VerifiedSubscription(b.url, resolver=resolver, allow_insecure=True, state=state)
        async with stream:
            assert commits(await collect(stream, 4)) == [1006, 1007, 1008, 1009]
        assert b.cursors[2:] == [6000, None]
        # A cursor the caller gives is theirs: its FutureCursor is raised, as before.
        stream = VerifiedSubscription(
            b.url, resolver=resolver, allow_insecure=True, state=state, cursor=7000
        )
        async with stream:
            with pytest.raises(StreamError, match="FutureCursor"):
                await collect(stream, 1)


async def test_a_state_file_from_before_per_host_cursors_resumes_the_first_url(
    world: Any, tmp_path: Any
) -> None:
    import sqlite3

    writers, _, resolver = world
    frames = numbered(traffic(writers, 6))
    path = str(tmp_path / "old.sqlite")
    async with FakeRelay(frames) as relay:
        store = SQLiteStateStore(path)
        stream = VerifiedSubscription(
            relay.url, resolver=resolver, allow_insecure=True, state=store
        )
        async with stream:
            first = await collect(stream, 3)
        store.close()
        # Rewrite the cursor as the single-cursor schema held it.
        db = sqlite3.connect(path)
        with db:
            db.execute("DROP TABLE sync_cursors")
            db.execute("DROP TABLE sync_active_host")
            db.execute("CREATE TABLE sync_cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
            db.execute("INSERT INTO sync_cursor VALUES ('default', ?)", (first[-1].seq,))
        db.close()
        store = SQLiteStateStore(path)
        stream = VerifiedSubscription(
            [relay.url, "ws://127.0.0.1:1"], resolver=resolver, allow_insecure=True, state=store
        )
        async with stream:
            rest = await collect(stream, 3)
        assert store.cursor_for(None) is None  # now the first URL's, by name
        assert store.cursor_for(stream.hosts[0]) == max(frames)
        store.close()
    assert relay.cursors[-1] == first[-1].seq
    assert commits(first + rest) == sorted(frames)
