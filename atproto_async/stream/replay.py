"""Replay a recorded event stream: the frames of a file, through the live decoding path.

``atproto-async record URL FILE`` writes every message it receives as
``[4-byte big-endian length][message]`` (see `atproto_async.stream.framefile`). Replaying such a
file feeds each message through the same `EventGate` a live `Subscription` uses - same
decoding, limits, replay dropping and filters - so a consumer can be tested on recorded traffic
without a network.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TypedDict, Unpack

from atproto_async.stream.events import Event
from atproto_async.stream.framefile import DEFAULT_MAX_FRAME_SIZE, iter_frames, read_frames
from atproto_async.stream.frames import DEFAULT_MAX_BLOCKS_SIZE, DEFAULT_MAX_OPS
from atproto_async.stream.gate import EventGate

__all__ = ["Replay", "ReplayOptions", "iter_replay", "replay_frames"]

#: Events handed out between two yields to the event loop while replaying.
_YIELD_EVERY = 256

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


def _messages(source: Source, max_frame_size: int) -> Iterator[bytes | memoryview]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield from iter_frames(source, max_frame_size=max_frame_size)
    elif isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as stream:
            yield from read_frames(stream, max_frame_size=max_frame_size)
    else:
        yield from read_frames(source, max_frame_size=max_frame_size)


class Replay:
    """A recorded stream: iterate it with ``async for`` (or plain ``for``); ``.cursor`` follows.

    Args:
        source: A path, the file's bytes, or a binary file object.
        cursor: Skip events up to and including this seq.
        collections: As for `subscribe_repos`.
        event_types: As for `subscribe_repos`.
        max_frame_size: See `decode_frame`.
        max_ops: See `decode_frame`.
        max_blocks_size: See `decode_frame`.
        verify_records: See `decode_frame`.

    The file counts as one connection: a seq that goes down is logged and followed, as live
    (see `EventGate`). Iterating raises `FrameDecodeError` for a malformed file or message,
    `StreamError` for an error frame, and `OSError` when the file cannot be read.
    """

    def __init__(
        self,
        source: Source,
        *,
        cursor: int | None = None,
        collections: Iterable[str] | None = None,
        event_types: Iterable[type[Event]] | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_ops: int = DEFAULT_MAX_OPS,
        max_blocks_size: int = DEFAULT_MAX_BLOCKS_SIZE,
        verify_records: bool = True,
    ) -> None:
        self._source = source
        self._max_frame_size = max_frame_size
        self._gate = EventGate(
            cursor=cursor,
            collections=collections,
            event_types=event_types,
            max_frame_size=max_frame_size,
            max_ops=max_ops,
            max_blocks_size=max_blocks_size,
            verify_records=verify_records,
            expect_replays=True,  # the file holds everything before the cursor
        )

    @property
    def cursor(self) -> int | None:
        """The seq of the last event handed out or filtered out (like `Subscription.cursor`)."""
        return self._gate.cursor

    def __iter__(self) -> Iterator[Event]:
        feed = self._gate.feed
        for message in _messages(self._source, self._max_frame_size):
            event = feed(message)
            if event is not None:
                yield event

    async def __aiter__(self) -> AsyncIterator[Event]:
        for count, event in enumerate(self, start=1):
            yield event
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other tasks run during a long replay


class ReplayOptions(TypedDict, total=False):
    """The keyword options of `Replay`, for the functions that pass them on."""

    cursor: int | None
    collections: Iterable[str] | None
    event_types: Iterable[type[Event]] | None
    max_frame_size: int
    max_ops: int
    max_blocks_size: int
    verify_records: bool


def replay_frames(source: Source, **options: Unpack[ReplayOptions]) -> Replay:
    """Replay a frame file like a live subscription: ``async for event in replay_frames(path)``.

    Args:
        source: A path, the file's bytes, or a binary file object.
        **options: The keyword arguments of `Replay` (cursor, filters, limits).

    Returns:
        A `Replay` (async and sync iterable, with ``.cursor``).
    """
    return Replay(source, **options)


def iter_replay(source: Source, **options: Unpack[ReplayOptions]) -> Iterator[Event]:
    """Yield the events of a frame file synchronously (same arguments as `replay_frames`).

    Raises:
        FrameDecodeError: The file or a message in it is malformed.
        StreamError: The file holds an error frame.
        OSError: The file cannot be read.
    """
    return iter(Replay(source, **options))
