"""The sans-I/O path shared by live and replayed streams: gate, replay source, cursor hook."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest
from stream_helpers import commit_frame, frame, identity_frame, post

from atproto_async.exceptions import FrameDecodeError, StreamError
from atproto_async.stream import (
    Commit,
    EventGate,
    Identity,
    Info,
    Replay,
    iter_replay,
    replay_frames,
)
from atproto_async.stream.cursorhook import CursorHook
from atproto_async.stream.framefile import encode_frames


def test_gate_drops_replayed_events_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    gate = EventGate(cursor=2)
    assert gate.feed(identity_frame(2)) is None
    assert gate.feed(identity_frame(1)) is None
    event = gate.feed(identity_frame(3))
    assert isinstance(event, Identity) and event.seq == 3
    assert gate.feed(identity_frame(3)) is None
    assert gate.cursor == 3
    assert gate.replayed == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "seq 2" in warnings[0].getMessage()


def test_gate_follows_a_seq_that_goes_backwards_on_one_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One frame with a wrong, huge seq must not make every later event a "replay".
    gate = EventGate()
    seqs = [1, 2, 2**53, 3, 4]
    events = [gate.feed(identity_frame(seq)) for seq in seqs]
    assert [event.seq for event in events if isinstance(event, Identity)] == seqs
    assert gate.cursor == 4
    assert (gate.backwards, gate.replayed) == (1, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Identity seq 3 came after seq 9007199254740992 on the same connection: the server's "
        "sequence went backwards; handing the event out, the cursor follows it"
    ]


def test_gate_drops_replays_only_at_the_start_of_a_connection() -> None:
    gate = EventGate(cursor=5)
    gate.start_connection()
    assert gate.feed(identity_frame(4)) is None  # a replay: not above the cursor
    assert gate.feed(identity_frame(5)) is None
    assert gate.feed(identity_frame(6)) is not None
    assert gate.feed(identity_frame(6)) is None  # the same event again
    gate.start_connection()
    assert gate.feed(identity_frame(6)) is None  # the next connection replays it
    assert gate.feed(identity_frame(7)) is not None
    assert gate.feed(identity_frame(2)) is not None  # backwards on that connection
    assert (gate.cursor, gate.replayed, gate.backwards) == (2, 4, 1)


def test_gate_passes_events_without_seq() -> None:
    gate = EventGate(cursor=10)
    assert gate.feed(frame("#info", {"name": "OutdatedCursor"})) == Info("OutdatedCursor")
    assert gate.cursor == 10


def test_gate_filters_move_the_cursor() -> None:
    gate = EventGate(collections=["app.bsky.feed.post"], event_types=[Commit])
    like = commit_frame(1, [("create", "app.bsky.feed.like/1", {"$type": "app.bsky.feed.like"})])
    assert gate.feed(like) is None
    assert gate.cursor == 1
    assert gate.feed(identity_frame(2)) is None
    assert gate.cursor == 2
    event = gate.feed(commit_frame(3, [("create", "app.bsky.feed.post/3", post("hi"))]))
    assert isinstance(event, Commit) and [op.rkey for op in event.ops] == ["3"]


def test_gate_raises_stream_errors_and_bad_frames() -> None:
    gate = EventGate()
    with pytest.raises(StreamError):
        gate.feed(frame("", {"error": "FutureCursor"}, op=-1))
    with pytest.raises(FrameDecodeError):
        gate.feed(b"\x00")


@pytest.mark.parametrize("cursor", [-1, True, "5", 2**63])
def test_gate_refuses_a_bad_cursor(cursor: object) -> None:
    with pytest.raises(ValueError, match="cursor"):
        EventGate(cursor=cursor)  # type: ignore[arg-type]


def _recording() -> bytes:
    return encode_frames(
        [
            identity_frame(1),
            commit_frame(2, [("create", "app.bsky.feed.post/2", post("hello", ["en"]))]),
            commit_frame(3, [("create", "app.bsky.feed.like/3", {"$type": "app.bsky.feed.like"})]),
            identity_frame(4),
        ]
    )


def test_replay_from_bytes_path_and_file_object(tmp_path: Path) -> None:
    data = _recording()
    path = tmp_path / "capture.frames"
    path.write_bytes(data)
    for source in (data, path, str(path), io.BytesIO(data)):
        assert [e.seq for e in iter_replay(source)] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_replay_cursor_and_filters() -> None:
    replay = Replay(_recording(), cursor=1, collections=["app.bsky.feed.post"])
    events = list(replay)
    assert [type(e) for e in events] == [Commit, Identity]
    assert replay.cursor == 4
    assert events[0].ops[0].record_data["text"] == "hello"  # type: ignore[union-attr,index]


async def test_replay_is_async_iterable() -> None:
    replay = replay_frames(_recording(), event_types=[Identity])
    seqs = [event.seq async for event in replay]  # type: ignore[union-attr]
    assert seqs == [1, 4]
    assert replay.cursor == 4


def test_replay_of_a_truncated_file_raises() -> None:
    data = _recording()[:-3]
    with pytest.raises(FrameDecodeError, match="truncated"):
        list(iter_replay(data))


def test_cursor_hook_reports_new_cursors_at_most_every_interval() -> None:
    seen: list[int] = []
    hook = CursorHook(seen.append, 5.0, cursor=None)
    hook.flush(None, 0.0)
    hook.flush(1, 0.0)
    assert seen == [1] and hook.due_at == 5.0
    hook.flush(1, 6.0)  # unchanged: not reported again
    hook.flush(7, 6.0)
    assert seen == [1, 7]
    asyncio.run(hook.close(9))
    assert seen == [1, 7, 9]


async def test_async_cursor_hook_never_overlaps() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def persist(cursor: int) -> None:
        started.append(cursor)
        await release.wait()

    hook = CursorHook(persist, 0.0, cursor=None)
    hook.flush(1, 0.0)
    await asyncio.sleep(0)
    hook.flush(2, 1.0)  # the first call still runs: skipped
    assert started == [1]
    release.set()
    await hook.close(3)  # waits for the running call, then reports the final cursor
    assert started == [1, 3]


async def test_failing_async_cursor_hook_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(cursor: int) -> None:
        raise OSError("disk full")

    hook = CursorHook(broken, 0.0, cursor=None)
    hook.flush(1, 0.0)
    await asyncio.sleep(0.01)
    await hook.close(2)
    messages = [r.getMessage() for r in caplog.records]
    assert any("on_cursor hook failed" in m for m in messages)
