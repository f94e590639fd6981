"""The sans-I/O path every received message takes: decode, drop replays, filter, track the cursor.

Live subscriptions and recorded-file replay feed their messages through the same `EventGate`,
so a consumer tested on a recording sees exactly what it will see live.

Sequence numbers only go up on one stream. After a reconnect a server may resend events the
consumer already has, so at the start of a connection an event whose ``seq`` is not above the
cursor is dropped. Each one is logged at DEBUG level and their number once, when the first
new event arrives: at INFO when resent events are expected (a recorded file replayed from a
cursor holds everything before it), else as one warning per connection (a live server asked
for events after the cursor should not resend). An event that repeats the seq just before it
on a live connection is dropped too, with a warning.
Once an event of a connection has passed, a lower seq on that same connection cannot be a
replay: the server's sequence went backwards (a relay that reset its sequence, or an earlier
frame that carried a wrong seq). That event is handed out with a warning and the cursor
follows the server down to it, since the server knows only its own sequence: keeping the
higher cursor would drop every later event as a replay, and ask for it again after every
reconnect. Filtered-out events still move the cursor: they count as handled, and a reconnect
does not ask for them again.
Spec: https://atproto.com/specs/event-stream#sequence-numbers
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from atproto_async.stream._seq import SeqTracker
from atproto_async.stream.events import Commit, Event
from atproto_async.stream.frames import (
    DEFAULT_MAX_BLOCKS_SIZE,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_OPS,
    _decode,
    _Limits,
)

if TYPE_CHECKING:
    from atproto_async.lexicon import Catalog

__all__ = ["EventGate"]

logger = logging.getLogger("atproto_async.stream")


class EventGate(SeqTracker):
    """Turn raw messages into the events a consumer should see, and remember the cursor.

    Args:
        cursor: The last seq already handled; events at or below it are dropped.
        collections: Keep only commit ops of these collections (commits left without ops
            are dropped); other event types are not affected.
        event_types: Keep only events of these classes (e.g. ``{Commit, Identity}``).
        max_frame_size: See `decode_frame`.
        max_ops: See `decode_frame`.
        max_blocks_size: See `decode_frame`.
        verify_records: See `decode_frame`.
        skip_invalid_records: A commit's record that cannot be read (``op.record``) gives None
            with a logged warning instead of raising `FrameDecodeError`.
        validate_records: Check each record against its lexicon when ``op.record`` (or
            ``op.record_data``) reads it; one that does not match is treated like a record
            that cannot be read (`FrameDecodeError`, or None and ``op.record_error`` with
            ``skip_invalid_records``). Records of collections the catalog does not know pass.
        catalog: The lexicons of ``validate_records``: by default the bundled ones, read on
            the first gate that validates and shared by all of them.
        expect_replays: Events at or below the cursor are expected (a recorded file): their
            number is logged at INFO rather than as a warning.

    Attributes:
        cursor: The seq of the last event that passed (handed out or filtered out).
        replayed: How many events were dropped for a seq not above the cursor.
        backwards: How many times the seq went down on one connection (each logged).
    """

    __slots__ = ("_collections", "_limits", "_max_frame_size", "_types")

    def __init__(
        self,
        *,
        cursor: int | None = None,
        collections: Iterable[str] | None = None,
        event_types: Iterable[type[Event]] | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_ops: int = DEFAULT_MAX_OPS,
        max_blocks_size: int = DEFAULT_MAX_BLOCKS_SIZE,
        verify_records: bool = True,
        skip_invalid_records: bool = False,
        validate_records: bool = False,
        catalog: Catalog | None = None,
        expect_replays: bool = False,
    ) -> None:
        super().__init__(cursor, expect_replays=expect_replays)
        self._collections: Collection[str] | None = (
            None if collections is None else frozenset(collections)
        )
        self._types: Collection[type[Event]] | None = (
            None if event_types is None else frozenset(event_types)
        )
        self._max_frame_size = max_frame_size
        self._limits = _Limits(
            max_ops,
            max_blocks_size,
            verify_records,
            skip_invalid_records,
            # Records are checked where they are read (CommitBlocks.record_data), so that
            # validation costs nothing until op.record is read.
            catalog=(_default_catalog() if catalog is None else catalog)
            if validate_records
            else None,
        )

    def feed(self, message: bytes | bytearray | memoryview) -> Event | None:
        """Decode one message; return its event, or None when it is a replay or filtered out.

        Raises:
            StreamError: The message is an error frame.
            FrameDecodeError: The message is malformed or over a limit.
        """
        event = _decode(message, self._max_frame_size, self._limits, self._collections)
        seq = getattr(event, "seq", None)
        if seq is not None and not self.admit(seq, type(event).__name__):
            return None
        types = self._types
        if types is not None and type(event) not in types:
            return None
        if self._collections is not None and type(event) is Commit and not event.ops:
            return None
        return event


def _default_catalog() -> Catalog:
    """The bundled lexicons (`Catalog.shared`), read once per process on first use."""
    from atproto_async.lexicon import Catalog

    return Catalog.shared()
