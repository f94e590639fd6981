"""The sequence rules of one stream: the cursor, replays dropped, a server that goes backwards.

Shared by `EventGate` (decoded events) and `RawGate` (raw frames), so that both drop and log
the same way. Sequence numbers only go up on one stream. After a reconnect a server may resend
events the consumer already has, so at the start of a connection an event whose ``seq`` is
not above the cursor is dropped: each at DEBUG level, and their number in one line when the
first new event arrives (INFO when resent events are expected, as in a recorded file replayed
from a cursor; else one WARNING per connection). On a live connection an event repeating the
seq before it is dropped with a warning; a lower seq is the server's sequence going backwards
(a relay that reset it, or an earlier frame with a wrong seq): the event is handed out with a
warning and the cursor follows it down, since the server knows only its own sequence.
Spec: https://atproto.com/specs/event-stream#sequence-numbers
"""

from __future__ import annotations

import logging

from atproto_async.stream.events import MAX_SEQ

__all__ = ["SeqTracker"]

logger = logging.getLogger("atproto_async.stream")


class SeqTracker:
    """The cursor of one stream and the decision, seq by seq, to hand a message out or not.

    Args:
        cursor: The last seq already handled; messages at or below it are dropped.
        expect_replays: Messages at or below the cursor are expected (a recorded file): their
            number is logged at INFO rather than as a warning.

    Attributes:
        cursor: The seq of the last message that passed.
        replayed: How many messages were dropped for a seq not above the cursor.
        backwards: How many times the seq went down on one connection (each logged).
    """

    __slots__ = ("_live", "_skip_level", "_skipped", "backwards", "cursor", "replayed")

    #: What the messages are called in log lines.
    noun = "event"

    def __init__(self, cursor: int | None = None, *, expect_replays: bool = False) -> None:
        if cursor is not None and (type(cursor) is not int or not 0 <= cursor <= MAX_SEQ):
            raise ValueError(f"cursor must be an integer from 0 to 2**63-1, got {cursor!r}")
        self.cursor = cursor
        self.replayed = 0
        self.backwards = 0
        #: Whether a message of the current connection has passed (see `start_connection`).
        self._live = False
        #: Messages dropped at the start of this connection, not yet reported.
        self._skipped = 0
        self._skip_level = logging.INFO if expect_replays else logging.WARNING

    def start_connection(self) -> None:
        """Note that a new connection begins: its first messages may replay handled ones."""
        self._live = False

    def admit(self, seq: int, kind: str) -> bool:
        """Whether the message ``seq`` (of type ``kind``) is handed out; the cursor follows."""
        last = self.cursor
        if last is not None and seq <= last:
            if not self._live:
                self.replayed += 1
                self._skipped += 1
                logger.debug("skipped %s seq %d: not above the cursor %d", kind, seq, last)
                return False
            if seq == last:
                self.replayed += 1
                logger.warning(
                    "dropped %s seq %d: the same seq as the %s before it", kind, seq, self.noun
                )
                return False
            self.backwards += 1
            logger.warning(
                "%s seq %d came after seq %d on the same connection: the server's sequence "
                "went backwards; handing the %s out, the cursor follows it",
                kind,
                seq,
                last,
                self.noun,
            )
        if self._skipped:
            logger.log(
                self._skip_level,
                "skipped %d %ss already handled (at or below the cursor %d)",
                self._skipped,
                self.noun,
                last,
            )
            self._skipped = 0
        self.cursor = seq
        self._live = True
        return True
