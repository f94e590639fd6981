"""A ``--handler`` for the worker processes of the failover tests.

Each handled event is appended as one line ``<pid> <seq> <did>`` to the file named by
``$FANOUT_OUT``, with a single unbuffered ``write`` on a file opened with O_APPEND: lines
from several processes interleave whole, in the order they were handled, and a line written
before a ``kill -9`` is never lost in a buffer. ``$FANOUT_DELAY`` seconds of ``asyncio.sleep``
per event model a handler doing I/O.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

_fd: int | None = None


async def record(event: Any) -> None:
    global _fd
    if _fd is None:
        _fd = os.open(os.environ["FANOUT_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    did = getattr(event, "repo", None) or getattr(event, "did", None)
    os.write(_fd, f"{os.getpid()} {event.seq} {did}\n".encode())
    delay = float(os.environ.get("FANOUT_DELAY", "0"))
    if delay:
        await asyncio.sleep(delay)
