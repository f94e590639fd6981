"""Persisting a stream's cursor through a user hook, without ever making the stream wait.

A consumer that restarts must resume from the last event it finished with. Writing that seq
after every event would slow the loop down, so the hook is called at most every ``interval``
seconds, and once more when the stream closes. An async hook runs as a task (one at a time: a
call still running when the next is due is skipped, and the next one carries the newer
cursor). A failing hook is logged, never fatal: the stream itself loses nothing.
Spec: https://atproto.com/specs/event-stream#sequence-numbers
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["CursorHook"]

logger = logging.getLogger("atproto_async.stream")


class CursorHook:
    """Call ``hook(cursor)`` at most every ``interval`` seconds, sync or async.

    Args:
        hook: Any callable taking the cursor; if it returns an awaitable, that is run as a task.
        interval: Minimum seconds between two calls.
        cursor: The cursor already persisted (not reported again).
    """

    __slots__ = ("_flushed", "_hook", "_task", "due_at", "interval")

    def __init__(self, hook: Callable[[int], Any], interval: float, cursor: int | None) -> None:
        self._hook = hook
        self.interval = interval
        self._flushed = cursor
        self._task: asyncio.Future[Any] | None = None
        #: Loop time after which the next call may happen.
        self.due_at = 0.0

    def flush(self, cursor: int | None, now: float) -> None:
        """Report ``cursor`` if it is new and no earlier async call is still running."""
        if cursor is None or cursor == self._flushed:
            return
        task = self._task
        if task is not None and not task.done():
            return
        self.due_at = now + self.interval
        self._flushed = cursor
        try:
            result = self._hook(cursor)
        except Exception:
            logger.exception("on_cursor hook failed for cursor %d", cursor)
            return
        if inspect.isawaitable(result):
            self._task = asyncio.ensure_future(result)
            self._task.add_done_callback(_log_failure)

    async def close(self, cursor: int | None) -> None:
        """Wait for a running call, then report ``cursor`` one last time (awaited)."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task])
        if cursor is None or cursor == self._flushed:
            return
        self._flushed = cursor
        try:
            result = self._hook(cursor)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_cursor hook failed for cursor %d", cursor)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("on_cursor hook failed", exc_info=task.exception())
