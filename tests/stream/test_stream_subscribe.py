"""Live subscriptions against a real local websockets server: resume, reconnect, limits."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from pathlib import Path
from typing import Any

import cbor2
import pytest
from stream_helpers import (
    TIME,
    FakeRelay,
    FakeSleep,
    commit_frame,
    drop_after,
    error_frame,
    frame,
    identity_frame,
    post,
    record_frame,
    send_then,
    serve_all,
)
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

from atproto_async.exceptions import (
    FrameDecodeError,
    NotFoundError,
    NotImplementedByServerError,
    StreamError,
    TransportError,
)
from atproto_async.ipld import encode_dag_cbor
from atproto_async.stream import (
    Commit,
    Event,
    Identity,
    Info,
    ReconnectPolicy,
    Subscription,
    stream_url,
    subscribe_labels,
    subscribe_repos,
)

NO_JITTER = ReconnectPolicy(jitter=0.0, initial_delay=1.0, factor=2.0, healthy_after=10.0)


def _frames(count: int) -> dict[int, bytes]:
    return {seq: identity_frame(seq) for seq in range(1, count + 1)}


async def _take(stream: Subscription, count: int) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(60):  # a broken stream fails the test instead of hanging it
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    return events


def _seqs(events: list[Event]) -> list[int]:
    return [event.seq for event in events]  # type: ignore[union-attr]


async def test_dropped_connection_resumes_without_gap_or_duplicate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="atproto_async.stream")
    # Each connection first resends two events the client already has, then five new ones.
    async with FakeRelay(_frames(20), [drop_after(5, replay=2)]) as relay:
        sleep = FakeSleep()
        async with subscribe_repos(relay.url, sleep=sleep, reconnect=NO_JITTER) as stream:
            events = await _take(stream, 20)
            assert stream.cursor == 20
    assert _seqs(events) == list(range(1, 21))
    assert relay.cursors == [None, 7, 12, 17]
    reconnects = [r for r in caplog.records if "reconnecting" in r.getMessage()]
    assert len(reconnects) == 3
    assert all(r.levelno == logging.INFO for r in reconnects)
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # The relay resent two events on each reconnection: one warning per connection says so.
    assert dropped == [
        f"skipped 2 events already handled (at or below the cursor {c})" for c in (7, 12, 17)
    ]


async def test_start_cursor_is_sent_and_respected() -> None:
    async with FakeRelay(_frames(10)) as relay, subscribe_repos(relay.url, cursor=6) as stream:
        events = await _take(stream, 4)
    assert _seqs(events) == [7, 8, 9, 10]
    assert relay.cursors == [6]
    assert relay.paths[0] == "/xrpc/com.atproto.sync.subscribeRepos?cursor=6"


async def test_consumer_too_slow_reconnects_from_cursor() -> None:
    first = [identity_frame(1), identity_frame(2), error_frame("ConsumerTooSlow", "too slow")]
    async with FakeRelay(_frames(6), [send_then(first), serve_all]) as relay:
        sleep = FakeSleep()
        async with subscribe_repos(relay.url, sleep=sleep) as stream:
            events = await _take(stream, 6)
    assert _seqs(events) == [1, 2, 3, 4, 5, 6]
    assert relay.cursors == [None, 2]
    assert len(sleep.delays) == 1


async def test_future_cursor_raises_stream_error() -> None:
    async with FakeRelay(
        {}, [send_then([error_frame("FutureCursor", "cursor in the future")])]
    ) as relay:
        sleep = FakeSleep()
        stream = subscribe_repos(relay.url, cursor=99, sleep=sleep)
        with pytest.raises(StreamError) as info:
            await _take(stream, 1)
    assert info.value.error == "FutureCursor"
    assert relay.cursors == [99]
    assert sleep.delays == []


async def test_outdated_cursor_info_is_yielded() -> None:
    messages = [frame("#info", {"name": "OutdatedCursor", "message": "too old"}), identity_frame(5)]
    async with (
        FakeRelay({}, [send_then(messages, then="idle")]) as relay,
        subscribe_repos(relay.url, cursor=1) as stream,
    ):
        events = await _take(stream, 2)
    assert events[0] == Info("OutdatedCursor", "too old")
    assert isinstance(events[1], Identity) and events[1].seq == 5
    assert stream.cursor == 5


async def test_idle_connection_is_dropped_and_reopened(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="atproto_async.stream")
    frames = _frames(5)
    script = [send_then([frames[1], frames[2]], then="idle"), serve_all]
    async with FakeRelay(frames, script) as relay:
        sleep = FakeSleep()
        async with subscribe_repos(relay.url, idle_timeout=0.2, sleep=sleep) as stream:
            events = await _take(stream, 5)
    assert _seqs(events) == [1, 2, 3, 4, 5]
    assert relay.cursors == [None, 2]
    assert any("no message for 0.2 s" in r.getMessage() for r in caplog.records)


async def test_time_spent_by_the_consumer_is_not_idle_time() -> None:
    async with (
        FakeRelay(_frames(3)) as relay,
        subscribe_repos(relay.url, idle_timeout=0.1) as stream,
    ):
        events = []
        async with asyncio.timeout(60):
            async for event in stream:
                events.append(event)
                await asyncio.sleep(0.3)  # a slow consumer, longer than the idle timeout
                if len(events) == 3:
                    break
    assert _seqs(events) == [1, 2, 3]
    assert relay.cursors == [None]


def _kernel_socket_buffers() -> int:
    """The most the kernel may buffer on one loopback connection (receive + send maxima)."""
    total = 0
    for name in ("tcp_rmem", "tcp_wmem"):
        try:
            total += int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
        except (OSError, IndexError, ValueError):
            total += 64 * 1024 * 1024  # unknown system: assume generous buffers
    return total


async def test_slow_consumer_keeps_memory_bounded() -> None:
    size = 200_000
    total = 5000  # about 1 GB offered, generated on the fly
    pad = b"x" * size
    bound = _kernel_socket_buffers() // size + 4 + 16  # socket buffers + max_queue + slack
    assert bound < total

    async def generate(relay: FakeRelay, ws: ServerConnection, cursor: int | None) -> None:
        for seq in range(1, total + 1):
            await ws.send(frame("#big", {"seq": seq, "pad": pad}))
            relay.sent += 1

    async with (
        FakeRelay({}, [generate]) as relay,
        subscribe_repos(relay.url, max_queue=4, idle_timeout=None) as stream,
    ):
        iterator = aiter(stream)
        first = await asyncio.wait_for(anext(iterator), 60)
        assert first.seq == 1  # type: ignore[union-attr]
        # Wait until the server cannot send any more: its sends block on a full socket.
        previous, stable = -1, 0
        for _ in range(400):
            await asyncio.sleep(0.05)
            stable = stable + 1 if relay.sent == previous else 0
            previous = relay.sent
            if stable >= 4:
                break
        assert stable >= 4, relay.sent  # the server is stuck in send, not still sending
        assert relay.sent < bound, (relay.sent, bound)
        rest = [await asyncio.wait_for(anext(iterator), 60) for _ in range(20)]
        assert [e.seq for e in rest] == list(range(2, 22))  # type: ignore[union-attr]


async def test_429_at_upgrade_honours_retry_after() -> None:
    async with FakeRelay(_frames(2)) as relay:
        calls = []

        def process_request(connection: ServerConnection, request: Any) -> Response | None:
            calls.append(request.path)
            if len(calls) == 1:
                return Response(429, "Too Many Requests", Headers({"Retry-After": "7"}), b"")
            return None

        relay.process_request = process_request
        sleep = FakeSleep()
        async with subscribe_repos(relay.url, sleep=sleep, reconnect=NO_JITTER) as stream:
            events = await _take(stream, 2)
    assert _seqs(events) == [1, 2]
    assert sleep.delays == [7.0]


async def test_501_at_upgrade_raises() -> None:
    async with FakeRelay({}) as relay:
        body = b'{"error": "MethodNotImplemented", "message": "no firehose here"}'
        relay.process_request = lambda connection, request: Response(
            501, "Not Implemented", Headers({"Content-Type": "application/json"}), body
        )
        sleep = FakeSleep()
        with pytest.raises(NotImplementedByServerError) as info:
            await _take(subscribe_repos(relay.url, sleep=sleep), 1)
    assert info.value.status == 501
    assert info.value.error == "MethodNotImplemented"
    assert sleep.delays == []


async def test_404_at_upgrade_raises() -> None:
    async with FakeRelay({}) as relay:
        relay.process_request = lambda connection, request: Response(
            404, "Not Found", Headers(), b"nope"
        )
        with pytest.raises(NotFoundError):
            await _take(subscribe_labels(relay.url, sleep=FakeSleep()), 1)


async def test_503_at_upgrade_is_retried() -> None:
    async with FakeRelay(_frames(1)) as relay:
        answers = [503, 502]

        def process_request(connection: ServerConnection, request: Any) -> Response | None:
            if answers:
                return Response(answers.pop(0), "Unavailable", Headers(), b"")
            return None

        relay.process_request = process_request
        sleep = FakeSleep()
        async with subscribe_repos(relay.url, sleep=sleep, reconnect=NO_JITTER) as stream:
            events = await _take(stream, 1)
    assert _seqs(events) == [1]
    assert sleep.delays == [1.0, 2.0]


async def test_backoff_grows_and_resets_only_after_a_healthy_connection() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    async with FakeRelay(_frames(6), [drop_after(1)]) as relay:
        sleep = FakeSleep()
        events = []
        async with subscribe_repos(
            relay.url, sleep=sleep, clock=clock, reconnect=NO_JITTER
        ) as stream:
            async with asyncio.timeout(60):
                async for event in stream:
                    events.append(event)
                    if event.seq == 4:  # type: ignore[union-attr]
                        now[0] += 60.0  # the fourth connection stays up for a minute
                    if len(events) == 6:
                        break
    assert _seqs(events) == [1, 2, 3, 4, 5, 6]
    assert sleep.delays == [1.0, 2.0, 4.0, 1.0, 2.0]


async def test_the_stream_says_while_it_is_down_and_reconnecting() -> None:
    async with FakeRelay(_frames(3), [drop_after(1)]) as relay:
        seen: list[tuple[int, str | None]] = []

        async def sleep(delay: float) -> None:  # the backoff wait: what does the stream say?
            seen.append((stream.reconnect_attempt, stream.disconnect_reason))

        stream = subscribe_repos(relay.url, reconnect=NO_JITTER, sleep=sleep)
        assert (stream.reconnect_attempt, stream.disconnect_reason) == (0, None)
        async with stream:
            events = await _take(stream, 3)
            assert stream.reconnect_attempt == 0  # connected again
    assert _seqs(events) == [1, 2, 3]
    assert [attempt for attempt, _ in seen] == [1, 2]
    assert all(reason is not None and "connection lost" in reason for _, reason in seen)


async def test_tls_to_a_server_that_does_not_speak_it_suggests_ws() -> None:
    # A local PDS answers a TLS handshake with plain HTTP: ssl raises WRONG_VERSION_NUMBER.
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportError) as info:
            await _take(subscribe_repos(f"127.0.0.1:{port}", fail_fast=True), 1)
    finally:
        server.close()
        await server.wait_closed()
    assert "SSLError" in str(info.value)
    assert f"did you mean ws://127.0.0.1:{port}?" in str(info.value)


async def test_an_upgrade_closed_without_an_answer_asks_whether_the_method_is_served() -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()  # no HTTP answer: what a PDS does for a stream it does not serve

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportError) as info:
            await _take(subscribe_labels(f"ws://127.0.0.1:{port}", fail_fast=True), 1)
    finally:
        server.close()
        await server.wait_closed()
    assert "without an HTTP answer" in str(info.value)
    assert "is com.atproto.label.subscribeLabels served there?" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_host_fails_fast_when_asked() -> None:
    url = f"ws://127.0.0.1:{_closed_port()}"
    with pytest.raises(TransportError, match="cannot open the stream") as info:
        await _take(subscribe_repos(url, fail_fast=True, sleep=FakeSleep()), 1)
    assert info.value.url is not None and info.value.url.startswith(url)


async def test_max_attempts_gives_up() -> None:
    sleep = FakeSleep()
    url = f"ws://127.0.0.1:{_closed_port()}"
    with pytest.raises(TransportError, match="giving up after 3 failed attempts"):
        await _take(subscribe_repos(url, max_attempts=3, sleep=sleep, reconnect=NO_JITTER), 1)
    assert sleep.delays == [1.0, 2.0, 4.0]


async def test_filters_apply_and_still_move_the_cursor() -> None:
    frames = {
        1: commit_frame(1, [("create", "app.bsky.feed.like/1", {"$type": "app.bsky.feed.like"})]),
        2: commit_frame(2, [("create", "app.bsky.feed.post/2", post("hello"))]),
        3: identity_frame(3),
        4: commit_frame(4, [("create", "app.bsky.feed.like/4", {"$type": "app.bsky.feed.like"})]),
    }
    script = [drop_after(4), serve_all]
    async with FakeRelay(frames, script) as relay:
        frames_seen: list[bytes] = []
        relay.frames[5] = commit_frame(5, [("create", "app.bsky.feed.post/5", post("again"))])
        async with subscribe_repos(
            relay.url,
            collections=["app.bsky.feed.post"],
            event_types=[Commit],
            sleep=FakeSleep(),
            on_message=frames_seen.append,
        ) as stream:
            events = await _take(stream, 2)
    assert _seqs(events) == [2, 5]
    assert [op.path for e in events for op in e.ops] == [  # type: ignore[union-attr]
        "app.bsky.feed.post/2",
        "app.bsky.feed.post/5",
    ]
    assert relay.cursors == [None, 4]  # filtered events 3 and 4 are not asked for again
    assert frames_seen == [frames[2], relay.frames[5]]


async def test_on_cursor_hook_gets_handled_cursors_and_a_final_flush() -> None:
    seen: list[int] = []
    async with FakeRelay(_frames(5)) as relay:
        stream = subscribe_repos(relay.url, on_cursor=seen.append, cursor_interval=0.0)
        async with stream:
            await _take(stream, 5)
    # Each call reports the last event the consumer came back from; the last one at close.
    # The 5th event was still being handled when the loop broke: at-least-once.
    assert seen == [1, 2, 3, 4]


async def test_cancelled_consumer_still_persists_its_cursor() -> None:
    seen: list[int] = []

    async def consume(stream: Subscription) -> None:
        async with stream:
            async for _ in stream:
                pass

    async with FakeRelay(_frames(3)) as relay:
        stream = subscribe_repos(relay.url, on_cursor=seen.append, cursor_interval=3600.0)
        task = asyncio.create_task(consume(stream))
        for _ in range(200):
            if stream.cursor == 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the consumer is back in recv: event 3 is handled
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seen[-1] == 3


async def test_async_on_cursor_hook_runs_without_blocking() -> None:
    seen: list[int] = []

    async def persist(cursor: int) -> None:
        await asyncio.sleep(0)
        seen.append(cursor)

    async with FakeRelay(_frames(4)) as relay:
        stream = subscribe_repos(relay.url, on_cursor=persist, cursor_interval=0.0)
        async with stream:
            async with asyncio.timeout(60):
                async for event in stream:
                    if event.seq == 4:  # type: ignore[union-attr]
                        break
                    await asyncio.sleep(0.01)
    assert seen and seen == sorted(seen)
    assert seen[-1] == 3


async def test_failing_cursor_hook_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    def broken(cursor: int) -> None:
        raise RuntimeError("disk full")

    async with (
        FakeRelay(_frames(3)) as relay,
        subscribe_repos(relay.url, on_cursor=broken, cursor_interval=0.0) as stream,
    ):
        events = await _take(stream, 3)
    assert _seqs(events) == [1, 2, 3]
    assert any("on_cursor hook failed" in r.getMessage() for r in caplog.records)


async def test_malformed_message_raises_unless_skipped() -> None:
    messages = [identity_frame(1), b"\xff\x00garbage", identity_frame(2)]
    async with FakeRelay({}, [send_then(messages, then="idle")]) as relay:
        with pytest.raises(FrameDecodeError):
            await _take(subscribe_repos(relay.url), 3)
        async with subscribe_repos(relay.url, skip_invalid=True) as stream:
            events = await _take(stream, 2)
    assert _seqs(events) == [1, 2]


async def test_a_seq_going_backwards_is_logged_and_does_not_poison_the_cursor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A frame with a wrong, huge seq: the events after it must not all be dropped as replays,
    # here or after the reconnection (which must ask for a cursor the relay knows).
    first = [identity_frame(seq) for seq in (1, 2, 2**53, 3, 4)]
    async with FakeRelay(_frames(6), [send_then(first), serve_all]) as relay:
        sleep = FakeSleep()
        async with subscribe_repos(relay.url, sleep=sleep, reconnect=NO_JITTER) as stream:
            async with asyncio.timeout(10):
                events = await _take(stream, 7)
    assert _seqs(events) == [1, 2, 2**53, 3, 4, 5, 6]
    assert relay.cursors == [None, 4]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "seq 3 came after seq 9007199254740992 on the same connection" in warnings[0]


async def test_a_seq_beyond_64_bits_raises_unless_skipped(caplog: pytest.LogCaptureFixture) -> None:
    body = {"seq": 2**64 - 1, "did": "did:plc:alice", "time": TIME}
    huge = encode_dag_cbor({"op": 1, "t": "#identity"}) + cbor2.dumps(body, canonical=True)
    messages = [identity_frame(1), huge, identity_frame(2)]
    async with FakeRelay({}, [send_then(messages, then="idle")]) as relay:
        with pytest.raises(FrameDecodeError, match=r"'seq' is outside 0 \.\. 2\*\*63-1"):
            await _take(subscribe_repos(relay.url), 3)
        async with subscribe_repos(relay.url, skip_invalid=True) as stream:
            async with asyncio.timeout(10):
                events = await _take(stream, 2)
            assert stream.cursor == 2
    assert _seqs(events) == [1, 2]
    skipped = [r for r in caplog.records if "skipped a malformed message" in r.getMessage()]
    assert len(skipped) == 1


async def test_skip_invalid_also_covers_records_read_inside_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    messages = [
        commit_frame(1, [("create", "app.bsky.feed.post/1", post("one"))]),
        record_frame(2, encode_dag_cbor({"$type": "app.bsky.feed.post"})),  # no text
        commit_frame(3, [("create", "app.bsky.feed.post/3", post("three"))]),
    ]

    async def read_records(stream: Subscription) -> list[Any]:
        records = []
        async with asyncio.timeout(10):
            async for event in stream:
                assert isinstance(event, Commit)
                records.append(event.ops[0].record)  # decoded here, after the event passed
                if event.seq == 3:
                    break
        return records

    async with FakeRelay({}, [send_then(messages, then="idle")]) as relay:
        with pytest.raises(FrameDecodeError, match="does not match its lexicon"):
            await read_records(subscribe_repos(relay.url))
        async with subscribe_repos(relay.url, skip_invalid=True) as stream:
            one, invalid, three = await read_records(stream)
    assert (one.text, invalid, three.text) == ("one", None, "three")
    skipped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(skipped) == 1
    assert (
        "skipped the invalid record at://did:plc:alice/app.bsky.feed.post/1 (seq 2)" in (skipped[0])
    )


async def test_message_over_the_size_limit_stops_the_stream() -> None:
    big = frame("#big", {"seq": 2, "pad": b"x" * 5000})
    async with FakeRelay({}, [send_then([identity_frame(1), big], then="idle")]) as relay:
        sleep = FakeSleep()
        stream = subscribe_repos(relay.url, max_frame_size=4000, sleep=sleep)
        with pytest.raises(FrameDecodeError, match="larger than max_frame_size"):
            await _take(stream, 2)
    assert stream.cursor == 1
    assert sleep.delays == []


async def test_text_message_is_a_frame_decode_error() -> None:
    async with FakeRelay({}, [send_then(["hello"], then="idle")]) as relay:  # type: ignore[list-item]
        with pytest.raises(FrameDecodeError, match="text message"):
            await _take(subscribe_repos(relay.url), 1)


async def test_iterating_again_resumes_from_the_cursor() -> None:
    async with FakeRelay(_frames(6)) as relay, subscribe_repos(relay.url) as stream:
        first = await _take(stream, 3)
        second = await _take(stream, 3)
    assert _seqs(first + second) == [1, 2, 3, 4, 5, 6]
    assert relay.cursors == [None, 3]


async def test_aclose_after_leaving_the_loop_closes_the_connection() -> None:
    async with FakeRelay(_frames(5)) as relay:
        stream = subscribe_repos(relay.url)
        events = await _take(stream, 2)
        assert relay.closed == 0  # a loop left with break keeps the connection for later
        await stream.aclose()
        for _ in range(100):
            if relay.closed:
                break
            await asyncio.sleep(0.02)
        assert relay.closed == 1
    assert _seqs(events) == [1, 2]
    assert stream.cursor == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("wss://bsky.network", "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos"),
        ("bsky.network", "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos"),
        ("https://pds.example/", "wss://pds.example/xrpc/com.atproto.sync.subscribeRepos"),
        ("ws://localhost:2583", "ws://localhost:2583/xrpc/com.atproto.sync.subscribeRepos"),
        ("http://[::1]:80", "ws://[::1]:80/xrpc/com.atproto.sync.subscribeRepos"),
        (
            "wss://x.test/xrpc/com.atproto.label.subscribeLabels?cursor=5",
            "wss://x.test/xrpc/com.atproto.label.subscribeLabels",
        ),
    ],
)
def test_stream_url(url: str, expected: str) -> None:
    assert stream_url(url, "com.atproto.sync.subscribeRepos") == expected


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ws://relay.example", "unencrypted"),
        ("ftp://relay.example", "scheme"),
        ("wss://", "no host"),
        ("wss://relay.example:port", "invalid port"),
    ],
)
def test_stream_url_refuses(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stream_url(url, "com.atproto.sync.subscribeRepos")


def test_insecure_remote_allowed_on_request() -> None:
    url = stream_url("ws://relay.example", "x.y.z", allow_insecure=True)
    assert url == "ws://relay.example/xrpc/x.y.z"


def test_reconnect_policy_delays() -> None:
    policy = ReconnectPolicy(jitter=0.0, initial_delay=0.5, factor=3.0, max_delay=10.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]
    assert policy.delay(10_000) == 10.0
    assert policy.delay(1, retry_after=30.0) == 30.0
    assert policy.delay(5, retry_after=3.0) == 10.0
    capped = ReconnectPolicy(jitter=0.0, max_retry_after=60.0)
    assert capped.delay(1, retry_after=3600.0) == 60.0


def test_reconnect_policy_jitter_stays_in_range() -> None:
    policy = ReconnectPolicy(jitter=0.5, initial_delay=4.0, rng=random.Random(1))
    delays = [policy.delay(1) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize("kwargs", [{"jitter": 2.0}, {"factor": 0.5}, {"initial_delay": -1.0}])
def test_reconnect_policy_validates(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_every_option_has_one_default_and_one_description() -> None:
    import inspect

    from atproto_async.stream.subscribe import OPTION_DEFAULTS, SubscriptionOptions

    names = set(SubscriptionOptions.__annotations__)
    assert set(OPTION_DEFAULTS) == names
    described = inspect.getdoc(Subscription) or ""
    for name in names:
        assert f"\n    {name}:" in described.replace("\n        ", "\n    "), name


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(TypeError, match="idle_timout"):
        Subscription("ws://127.0.0.1:1", "com.atproto.sync.subscribeRepos", idle_timout=5.0)  # type: ignore[call-arg]


async def test_idle_time_is_read_off_the_injected_clock() -> None:
    async def pause_then_more(relay: FakeRelay, ws: ServerConnection, cursor: int | None) -> None:
        await ws.send(relay.frames[1])
        await asyncio.sleep(1.0)  # five idle timeouts of real time...
        await ws.send(relay.frames[2])
        await ws.wait_closed()

    frozen = 1000.0  # ...but none on the stream's clock: the connection is kept
    async with (
        FakeRelay(_frames(2), [pause_then_more]) as relay,
        subscribe_repos(relay.url, idle_timeout=0.2, clock=lambda: frozen) as stream,
    ):
        events = await _take(stream, 2)
    assert _seqs(events) == [1, 2]
    assert relay.cursors == [None]
