"""Frame files: recorded event-stream messages, one after another, on disk.

The format is a plain concatenation of ``[4-byte big-endian length][message bytes]`` records,
where each message is one WebSocket binary message exactly as the server sent it. It is what
``atproto-async record`` writes, what ``--replay`` reads, and what the benchmarks decode.

Sans-I/O: bytes in, frames out. A length is checked against the limit before any slicing, so a
corrupt or hostile file gives a `FrameDecodeError`, never a giant allocation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from atproto_async.exceptions import FrameDecodeError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "encode_frames", "iter_frames", "read_frames", "write_frame"]

#: The sync spec's hard maximum for one event-stream message (5 MiB).
DEFAULT_MAX_FRAME_SIZE = 5 * 1024 * 1024

_LENGTH_SIZE = 4


def iter_frames(
    data: bytes | bytearray | memoryview, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> Iterator[memoryview]:
    """Yield each recorded message of a frame file's content, without copying.

    Raises:
        FrameDecodeError: A record is truncated or longer than ``max_frame_size``.
    """
    view = memoryview(data)
    end = len(view)
    pos = 0
    while pos < end:
        if end - pos < _LENGTH_SIZE:
            raise FrameDecodeError(f"truncated frame length at offset {pos}")
        size = int.from_bytes(view[pos : pos + _LENGTH_SIZE], "big")
        if size > max_frame_size:
            raise FrameDecodeError(
                f"frame at offset {pos} declares {size} bytes, above the limit of {max_frame_size}"
            )
        pos += _LENGTH_SIZE
        if end - pos < size:
            raise FrameDecodeError(
                f"truncated frame at offset {pos - _LENGTH_SIZE}: "
                f"{size} bytes declared, {end - pos} present"
            )
        yield view[pos : pos + size]
        pos += size


def read_frames(
    stream: BinaryIO, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> Iterator[bytes]:
    """Yield each message of an open frame file, reading one record at a time."""
    offset = 0
    while True:
        head = stream.read(_LENGTH_SIZE)
        if not head:
            return
        if len(head) < _LENGTH_SIZE:
            raise FrameDecodeError(f"truncated frame length at offset {offset}")
        size = int.from_bytes(head, "big")
        if size > max_frame_size:
            raise FrameDecodeError(
                f"frame at offset {offset} declares {size} bytes, "
                f"above the limit of {max_frame_size}"
            )
        body = stream.read(size)
        if len(body) < size:
            raise FrameDecodeError(
                f"truncated frame at offset {offset}: {size} bytes declared, {len(body)} present"
            )
        offset += _LENGTH_SIZE + size
        yield body


def write_frame(stream: BinaryIO, message: bytes | bytearray | memoryview) -> None:
    """Append one message to an open frame file."""
    stream.write(len(message).to_bytes(_LENGTH_SIZE, "big"))
    stream.write(message)


def encode_frames(messages: Iterable[bytes | bytearray | memoryview]) -> bytes:
    """Return the frame-file form of ``messages``."""
    parts: list[bytes] = []
    for message in messages:
        parts.append(len(message).to_bytes(_LENGTH_SIZE, "big"))
        parts.append(bytes(message))
    return b"".join(parts)
