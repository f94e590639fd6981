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


def test_gate_skips_what_the_cursor_covers_quietly_and_warns_of_duplicates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="atproto_async.stream")
    gate = EventGate(cursor=2, expect_replays=True)
    assert gate.feed(identity_frame(2)) is None
    assert gate.feed(identity_frame(1)) is None
    event = gate.feed(identity_frame(3))
    assert isinstance(event, Identity) and event.seq == 3
    assert gate.feed(identity_frame(3)) is None
    assert gate.cursor == 3
    assert gate.replayed == 3
    by_level = {
        level: [r.getMessage() for r in caplog.records if r.levelno == level]
        for level in (logging.DEBUG, logging.INFO, logging.WARNING)
    }
    # What the cursor asked to skip is expected: one line each at DEBUG, one summary at INFO.
    assert len(by_level[logging.DEBUG]) == 2 and "seq 2" in by_level[logging.DEBUG][0]
    assert by_level[logging.INFO] == ["skipped 2 events already handled (at or below the cursor 2)"]
    # The same seq twice on a live connection is the server's fault: a warning.
    assert by_level[logging.WARNING] == [
        "dropped Identity seq 3: the same seq as the event before it"
    ]


def test_replay_from_a_cursor_warns_of_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="atproto_async.stream")
    frames = encode_frames([identity_frame(seq) for seq in range(1, 501)])
    replay = Replay(frames, cursor=400)
    assert [e.seq for e in replay] == list(range(401, 501))  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "skipped 400 events already handled (at or below the cursor 400)"
    ]


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


# --- validate_records ---------------------------------------------------------------------

TID_A, TID_B, TID_C = "3jzfcijpj2z2a", "3jzfcijpj2z2b", "3jzfcijpj2z2c"


def _mixed_commit() -> bytes:
    """A commit creating an invalid post, a valid one and a record of a lexicon not bundled."""
    return commit_frame(
        7,
        [
            ("create", f"app.bsky.feed.post/{TID_A}", post("x" * 301)),  # over 300 graphemes
            ("create", f"app.bsky.feed.post/{TID_B}", post("fine")),
            ("create", f"com.example.thing/{TID_C}", {"$type": "com.example.thing", "n": 1}),
        ],
    )


def test_validated_records_that_do_not_match_are_skipped_like_unreadable_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = EventGate(validate_records=True, skip_invalid_records=True)
    event = gate.feed(_mixed_commit())
    assert isinstance(event, Commit)
    bad, good, other = event.ops
    assert bad.record is None
    assert bad.record_data is None
    error = bad.record_error
    assert isinstance(error, FrameDecodeError)
    assert str(error) == (
        f"#commit seq 7 of did:plc:alice: record app.bsky.feed.post/{TID_A} does not match its "
        "lexicon: app.bsky.feed.post: text: must have at most 300 graphemes, has 301"
    )
    assert getattr(error.__cause__, "path", None) == "text"
    assert good.record.text == "fine"
    assert good.record_error is None
    assert other.record.type == "com.example.thing"  # a lexicon the catalog lacks: passes
    skipped = [r for r in caplog.records if "skipped the invalid record" in r.getMessage()]
    assert len(skipped) == 1


def test_validated_records_that_do_not_match_raise_when_read_unless_skipped() -> None:
    gate = EventGate(validate_records=True)
    event = gate.feed(_mixed_commit())  # nothing is decoded or checked before a read
    assert isinstance(event, Commit)
    with pytest.raises(FrameDecodeError, match="does not match its lexicon"):
        event.ops[0].record  # noqa: B018
    with pytest.raises(FrameDecodeError, match="does not match its lexicon"):
        event.ops[0].record_data  # noqa: B018
    assert event.ops[1].record.text == "fine"


def test_records_are_not_validated_by_default() -> None:
    event = EventGate().feed(_mixed_commit())
    assert isinstance(event, Commit)
    assert event.ops[0].record.text == "x" * 301


def test_validation_checks_the_record_key_and_uses_the_catalog_given() -> None:
    from atproto_async.lexicon import Catalog

    thing = {
        "lexicon": 1,
        "id": "com.example.thing",
        "defs": {
            "main": {
                "type": "record",
                "key": "tid",
                "record": {"type": "object", "properties": {"n": {"type": "string"}}},
            }
        },
    }
    catalog = Catalog.default().extend([thing])
    gate = EventGate(validate_records=True, skip_invalid_records=True, catalog=catalog)
    event = gate.feed(commit_frame(1, [("create", "app.bsky.feed.post/self", post("a bad key"))]))
    assert isinstance(event, Commit)
    assert "record key 'self' must be a TID" in str(event.ops[0].record_error)
    event = gate.feed(_mixed_commit())
    assert isinstance(event, Commit)
    assert event.ops[2].record is None
    assert "n: must be a string, not an integer" in str(event.ops[2].record_error)


async def test_subscribe_repos_passes_validate_records_to_its_gate() -> None:
    from stream_helpers import FakeRelay, send_then

    from atproto_async.stream import subscribe_repos

    async with FakeRelay({}, [send_then([_mixed_commit()], then="idle")]) as relay:
        stream = subscribe_repos(relay.url, validate_records=True, skip_invalid=True)
        async with stream, asyncio.timeout(10):
            async for event in stream:
                assert isinstance(event, Commit)
                records = [op.record for op in event.ops]
                break
    assert records[0] is None
    assert records[1].text == "fine"
