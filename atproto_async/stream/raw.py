"""Raw frames: route a firehose message by its seq, DID and type without decoding its body.

A process that only forwards messages (the ``atproto_async.fanout`` ingester, a recorder, a
filter by account) needs three things from each one: its ``seq`` (for the cursor), the
account it is about (``repo`` of a ``#commit``, ``did`` of the others) and its type. Those
are read straight from the DAG-CBOR bytes by walking the items' heads (`_skip`, `_fields`):
byte and text strings are stepped over by their length, no CID or record object is built,
nothing is copied but the DID, and the walk stops as soon as ``seq`` and the DID are found
(in a commit they come before ``blocks``, most of the frame). The message itself is kept as
it arrived, in `RawFrame.data`, for `decode_frame` later. A ``#commit`` in the layout relays
and PDSes write (`_usual_commit`) is read by comparing slices, as `_commitbody` reads it; any
other body is walked item by item. On the live layout of ``benchmarks/make_frames.py`` that
costs a fifth of decoding a frame and its records (2.7 us against 13.4 us per frame on the
2-core benchmark machine; `decode_frame` alone, which defers the records, takes 4.6 us):
``benchmarks/bench_fanout.py`` measures them in one run.

The walk checks what it reads: every head it steps over lies inside the message, no
indefinite lengths (they are not DAG-CBOR), a count of items never larger than the bytes left
(no giant loop on a forged length). A message that fails raises `FrameDecodeError`; an error
frame (``op: -1``) raises `StreamError`, as `decode_frame` does. What lies after the fields
read (the rest of the body, its field types, the CAR, trailing bytes) is not checked here:
the full decoder checks it when the frame is decoded.

`RawGate` is `EventGate`'s seq logic (replay dropping, the cursor following a server whose
sequence went backwards) for raw frames; ``subscribe_repos(..., raw=True)`` runs it.

Spec: https://atproto.com/specs/event-stream#streaming-wire-protocol-v0
"""

from __future__ import annotations

import logging
from typing import Any, Final

import attrs

from atproto_async.exceptions import FrameDecodeError
from atproto_async.ipld import encode_dag_cbor
from atproto_async.ipld.cid import SHA256_LINK_HEAD, SHA256_LINK_SIZE
from atproto_async.stream._seq import SeqTracker
from atproto_async.stream.events import MAX_SEQ, Event
from atproto_async.stream.frames import _BUILDERS, DEFAULT_MAX_FRAME_SIZE, decode_frame

__all__ = ["RawFrame", "RawGate", "read_raw_frame"]

logger = logging.getLogger("atproto_async.stream")

_UINT: Final = 0
_NEGATIVE: Final = 1
_TEXT: Final = 3
_MAP: Final = 5
_from_bytes = int.from_bytes


@attrs.frozen(slots=True)
class RawFrame:
    """One event-stream message, undecoded, with what routing needs read from its bytes.

    Attributes:
        seq: The message's ``seq``; None for messages without one (``#info``).
        did: The account: ``repo`` of a ``#commit``, ``did`` of ``#identity``, ``#account``,
            ``#sync`` and the others; None when the message names none (``#info``).
        type: The header's ``t`` as sent (``#commit``); ``""`` for a frame without one.
        data: The whole message, exactly as received.
    """

    seq: int | None
    did: str | None
    type: str
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")

    def decode(self, **options: Any) -> Event:
        """Decode the message into its typed event (`decode_frame`, same ``options``)."""
        return decode_frame(self.data, **options)


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """Read the item head at ``pos``: (major type, argument, position after the head)."""
    byte = data[pos]
    info = byte & 0x1F
    if info < 24:
        return byte >> 5, info, pos + 1
    if info > 27:
        raise FrameDecodeError(
            f"indefinite length or reserved CBOR head 0x{byte:02x} at offset {pos} (not DAG-CBOR)"
        )
    size = 1 << (info - 24)
    if pos + 1 + size > len(data):
        raise IndexError(pos)
    return byte >> 5, _from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _skip(data: bytes, pos: int) -> int:
    """Step over the complete item at ``pos``, however nested; return the position after it.

    Written out rather than calling `_head` for the one-byte heads: this loop is most of the
    cost of reading a commit (its ``ops`` come before ``seq`` and ``repo``).
    """
    remaining = 1
    end = len(data)
    while remaining:
        remaining -= 1
        byte = data[pos]
        major, arg = byte >> 5, byte & 0x1F
        if arg < 24:
            pos += 1
        elif arg == 24:  # a one-byte argument: CID links (tag 42, 37 bytes), longer strings
            arg, pos = data[pos + 1], pos + 2
        else:
            major, arg, pos = _head(data, pos)
        if major == 2 or major == 3:
            pos += arg
        elif major >= 4:
            if major == 4:
                remaining += arg
            elif major == 5:
                remaining += 2 * arg
            elif major == 6:
                remaining += 1
            # Every pending item needs at least a byte: a forged count fails here, at once.
            if remaining > end - pos:
                raise FrameDecodeError("a CBOR array or map declares more items than the frame")
    if pos > end:
        raise IndexError(pos)
    return pos


def _fields(
    data: bytes, pos: int, wanted: frozenset[bytes], enough: int
) -> tuple[dict[bytes, Any], int]:
    """Read the map at ``pos``, keeping the integer or text values of the ``wanted`` keys.

    Stops after ``enough`` of them were found (the rest of the map is not read). Returns the
    values (None for a wanted key whose value has another type: the full decoder names it)
    and the position reached.
    """
    major, count, pos = _head(data, pos)
    if major != _MAP:
        raise FrameDecodeError(f"expected a CBOR map at offset {pos}")
    found: dict[bytes, Any] = {}
    for _ in range(count):
        byte = data[pos]
        if 0x60 <= byte < 0x78:  # a short text key: nearly all of them
            size, pos = byte - 0x60, pos + 1
        else:
            major, size, pos = _head(data, pos)
            if major != _TEXT:
                raise FrameDecodeError(f"a map key is not a text string (offset {pos})")
        key = data[pos : pos + size]
        pos += size
        if key not in wanted:
            pos = _skip(data, pos)
            continue
        major, arg, after = _head(data, pos)
        if major == _UINT:
            found[key] = arg
        elif major == _NEGATIVE:
            found[key] = -1 - arg
        elif major == _TEXT:
            if after + arg > len(data):
                raise IndexError(after)
            try:
                found[key] = data[after : after + arg].decode()
            except UnicodeDecodeError as exc:
                raise FrameDecodeError(f"a CBOR text string is not UTF-8: {exc}") from None
            after += arg
        else:
            found[key] = None
            after = _skip(data, pos)
        pos = after
        if len(found) >= enough:
            break
    return found, pos


_HEADER_KEYS: Final = frozenset({b"op", b"t"})
_BODY_KEYS: Final = frozenset({b"seq", b"did", b"repo"})
#: Encoded ``{"op": 1, "t": <known type>}`` -> the type: nearly every header is one of these.
_KNOWN_HEADERS: Final = {encode_dag_cbor({"op": 1, "t": t}): t for t in _BUILDERS}
_HEADER_SIZES: Final = sorted({len(header) for header in _KNOWN_HEADERS})
_COMMIT_HEADER: Final = encode_dag_cbor({"op": 1, "t": "#commit"})
_COMMIT_HEADER_SIZE: Final = len(_COMMIT_HEADER)


_LINK_HEAD_SIZE: Final = len(SHA256_LINK_HEAD)


def _link_end(data: bytes, pos: int) -> int:
    """Where a link or a null at ``pos`` ends; -1 when it is neither in its usual form."""
    if data[pos : pos + _LINK_HEAD_SIZE] == SHA256_LINK_HEAD:  # a sha2-256 CIDv1
        return pos + SHA256_LINK_SIZE
    return pos + 1 if data[pos] == 0xF6 else -1


def _text_end(data: bytes, pos: int) -> int:
    """Where a text string of under 256 bytes at ``pos`` ends; -1 when it is not one."""
    head = data[pos]
    if 0x60 <= head < 0x78:
        return pos + 1 + head - 0x60
    return pos + 2 + data[pos + 1] if head == 0x78 else -1


def _usual_commit(data: bytes, pos: int) -> tuple[int, str] | None:
    """seq and repo of a ``#commit`` body in the layout relays and PDSes write, or None.

    The keys come in DAG-CBOR order (``ops rev seq [prev] repo ...``, as `_commitbody`
    describes), and each op is ``{cid, path, [prev], action}``: this steps over the ops by
    comparing slices rather than walking every head. Anything else gives None, and the body
    is walked item by item instead (`_fields`), which accepts any layout.
    """
    if data[pos] not in (0xAB, 0xAC, 0xAD) or data[pos + 1 : pos + 5] != b"\x63ops":
        return None
    pos += 5
    head = data[pos]
    if 0x80 <= head < 0x98:
        count, pos = head - 0x80, pos + 1
    elif head == 0x98:
        count, pos = data[pos + 1], pos + 2
    else:
        return None
    for _ in range(count):
        entries = data[pos]
        if (entries != 0xA3 and entries != 0xA4) or data[pos + 1 : pos + 5] != b"\x63cid":
            return None
        pos = _link_end(data, pos + 5)
        if pos < 0 or data[pos : pos + 5] != b"\x64path":
            return None
        pos = _text_end(data, pos + 5)
        if pos < 0:
            return None
        if entries == 0xA4:
            if data[pos : pos + 5] != b"\x64prev":
                return None
            pos = _link_end(data, pos + 5)
            if pos < 0:
                return None
        if data[pos : pos + 7] != b"\x66action":
            return None
        pos = _text_end(data, pos + 7)
        if pos < 0:
            return None
    if data[pos : pos + 4] != b"\x63rev":
        return None
    pos = _text_end(data, pos + 4)
    if pos < 0 or data[pos : pos + 4] != b"\x63seq":
        return None
    major, seq, pos = _head(data, pos + 4)
    if major != _UINT:
        return None
    if data[pos : pos + 6] == b"\x64prev\xf6":
        pos += 6
    if data[pos : pos + 5] != b"\x64repo":
        return None
    start = pos + 5
    end = _text_end(data, start)
    if end < 0 or end > len(data):
        return None
    try:
        return seq, data[start + (1 if data[start] < 0x78 else 2) : end].decode()
    except UnicodeDecodeError:
        return None


def _known_header(message: bytes) -> tuple[str | None, int]:
    """The type of a canonical ``{op: 1, t}`` header of a known type, and where it ends."""
    for size in _HEADER_SIZES:
        t = _KNOWN_HEADERS.get(message[:size])
        if t is not None:
            return t, size
    return None, 0


def read_raw_frame(
    data: bytes | bytearray | memoryview, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> RawFrame:
    """Read the seq, DID and type of one message without decoding its body.

    Args:
        data: One WebSocket binary message, exactly as received.
        max_frame_size: Messages longer than this are refused.

    Returns:
        The `RawFrame` (its ``data`` is the message as ``bytes``).

    Raises:
        StreamError: An error frame (``op: -1``).
        FrameDecodeError: Not two well-formed DAG-CBOR items, a ``seq`` that is not an integer
            from 0 to 2**63-1, a DID that is not a string, or a message over the limit.
    """
    if len(data) > max_frame_size:
        raise FrameDecodeError(f"frame of {len(data)} bytes is above the limit of {max_frame_size}")
    message = data if type(data) is bytes else bytes(data)
    try:
        return _read(message, max_frame_size)
    except IndexError:
        raise FrameDecodeError(
            f"frame of {len(message)} bytes ends inside a CBOR item: not two DAG-CBOR objects"
        ) from None


def _read(message: bytes, max_frame_size: int) -> RawFrame:
    if message[:_COMMIT_HEADER_SIZE] == _COMMIT_HEADER:  # nearly every frame
        usual = _usual_commit(message, _COMMIT_HEADER_SIZE)
        if usual is not None and usual[0] <= MAX_SEQ:
            return RawFrame(usual[0], usual[1], "#commit", message)
        t: str | None = "#commit"
        pos = _COMMIT_HEADER_SIZE
    else:
        t, pos = _known_header(message)
    if t is None:
        header, pos = _fields(message, 0, _HEADER_KEYS, 2)
        op = header.get(b"op")
        if type(op) is not int:
            raise FrameDecodeError("frame header has no integer 'op'")
        if op == -1:
            decode_frame(message, max_frame_size=max_frame_size)  # raises the StreamError
            raise FrameDecodeError("error frame could not be read")  # pragma: no cover
        value = header.get(b"t")
        t = value if type(value) is str else ""
        if op == 1 and not t:
            raise FrameDecodeError("message frame header has no string 't'")
    if pos >= len(message):
        raise FrameDecodeError("frame has a header and no body")
    # A body names its account once: seq and one of repo / did make two fields found.
    body, _ = _fields(message, pos, _BODY_KEYS, 2)
    seq = body.get(b"seq")
    if b"seq" in body and (type(seq) is not int or not 0 <= seq <= MAX_SEQ):
        raise FrameDecodeError(f"{t}: 'seq' must be an integer from 0 to 2**63-1")
    did = body.get(b"repo") if b"repo" in body else body.get(b"did")
    if (b"repo" in body or b"did" in body) and type(did) is not str:
        raise FrameDecodeError(f"{t} seq {seq}: the DID ('repo' or 'did') must be a string")
    return RawFrame(seq, did, t, message)


class RawGate(SeqTracker):
    """`EventGate`'s replay dropping and cursor for raw frames (no filters: nothing is decoded).

    Args:
        cursor: The last seq already handled; frames at or below it are dropped.
        max_frame_size: See `read_raw_frame`.

    Attributes:
        cursor: The seq of the last frame that passed.
        replayed: How many frames were dropped for a seq not above the cursor.
        backwards: How many times the seq went down on one connection (each logged).
    """

    __slots__ = ("_max_frame_size",)
    noun = "frame"

    def __init__(
        self, *, cursor: int | None = None, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    ) -> None:
        super().__init__(cursor)
        self._max_frame_size = max_frame_size

    def feed(self, message: bytes | bytearray | memoryview) -> RawFrame | None:
        """Read one message; return its frame, or None when it replays a handled one.

        Raises:
            StreamError: The message is an error frame.
            FrameDecodeError: The message is malformed or over the limit.
        """
        frame = read_raw_frame(message, max_frame_size=self._max_frame_size)
        seq = frame.seq
        if seq is not None and not self.admit(seq, frame.type):
            return None
        return frame
        last = self.cursor
        if last is not None and seq <= last:
            if seq == last or not self._live:
                self.replayed += 1
                logger.warning(
                    "dropped %s seq %d: not above the cursor %d (already handed out)",
                    frame.type,
                    seq,
                    last,
                )
                return None
            self.backwards += 1
            logger.warning(
                "%s seq %d came after seq %d on the same connection: the server's sequence "
                "went backwards; handing the frame out, the cursor follows it",
                frame.type,
                seq,
                last,
            )
        self.cursor = seq
        self._live = True
        return frame
