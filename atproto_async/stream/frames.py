"""Sans-I/O decoding of one event-stream message (a WebSocket binary message) into an event.

A message is two concatenated DAG-CBOR objects: a header ``{op, t}`` and a body. ``op: 1`` is a
message whose body type is named by ``t``; ``op: -1`` is an error, after which the server closes
the connection. Anything malformed raises `FrameDecodeError` (the spec says the client should
drop the connection rather than skip the frame); an unknown ``t`` or ``op`` gives `Unknown`.

Bodies are checked cheaply (required fields present, with the right types) so that the typed
events never carry surprises; records inside a commit's blocks are not touched here. Nearly
every header is the canonical ``{op: 1, t}`` of a known type: those bytes are recognised
(`_KNOWN_HEADERS`) and only the body is decoded. A ``#commit`` body in the layout relays and
PDSes write is read straight from its bytes (`_commitbody.read_commit_body`); any other frame,
or one that fails, goes through the general path, which names the problem.

Specs: https://atproto.com/specs/event-stream#streaming-wire-protocol-v0 and
https://atproto.com/specs/sync (message limits).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Final

from atproto_async.exceptions import DecodeError, FrameDecodeError, StreamError, caused_by
from atproto_async.ipld import CID, decode_dag_cbor_multi, encode_dag_cbor
from atproto_async.ipld.dag_cbor import decode_dag_cbor_at
from atproto_async.stream._commitbody import read_commit_body
from atproto_async.stream.events import (
    MAX_SEQ,
    Account,
    Commit,
    Event,
    Handle,
    Identity,
    Info,
    Labels,
    Migrate,
    RawOp,
    Sync,
    Tombstone,
    Unknown,
    build_commit,
)
from atproto_async.stream.framefile import DEFAULT_MAX_FRAME_SIZE

if TYPE_CHECKING:
    from atproto_async.lexicon import Catalog

__all__ = [
    "DEFAULT_MAX_BLOCKS_SIZE",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_OPS",
    "decode_frame",
]

#: ``maxLength`` of ``#commit.ops`` in the ``com.atproto.sync.subscribeRepos`` lexicon.
DEFAULT_MAX_OPS = 200
#: ``maxLength`` of ``#commit.blocks`` in the ``com.atproto.sync.subscribeRepos`` lexicon.
DEFAULT_MAX_BLOCKS_SIZE = 2_000_000

_BYTES = (bytes, bytearray, memoryview)


def _fail(t: str, body: dict[str, Any], problem: str) -> FrameDecodeError:
    seq = body.get("seq")
    where = f"{t} seq {seq}" if type(seq) is int else t
    return FrameDecodeError(f"{where}: {problem}")


_SEQ_OUT_OF_RANGE = "'seq' is outside 0 .. 2**63-1 (sequence numbers are 64-bit, not negative)"


def _seq(body: dict[str, Any], t: str) -> int:
    value = body.get("seq")
    if type(value) is not int:
        raise _fail(t, body, f"'seq' must be an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_SEQ:
        raise _fail(t, body, _SEQ_OUT_OF_RANGE)
    return value


def _str(body: dict[str, Any], key: str, t: str) -> str:
    value = body.get(key)
    if type(value) is not str:
        raise _fail(t, body, f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _opt_str(body: dict[str, Any], key: str, t: str) -> str | None:
    value = body.get(key)
    if value is not None and type(value) is not str:
        raise _fail(t, body, f"{key!r} must be a string or absent, got {type(value).__name__}")
    return value


def _bool(body: dict[str, Any], key: str, t: str, default: bool | None = None) -> bool:
    value = body.get(key, default)
    if type(value) is not bool:
        raise _fail(t, body, f"{key!r} must be a boolean, got {type(value).__name__}")
    return value


def _first_wrong(
    body: dict[str, Any], t: str, keys: tuple[str, ...], kind: type, optional: bool = False
) -> FrameDecodeError:
    """The error for the first of ``keys`` whose value is not a ``kind`` (the slow path)."""
    for key in keys:
        if optional and key not in body:
            continue
        value = body.get(key)
        if type(value) is not kind:
            return _fail(t, body, f"{key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return _fail(t, body, f"one of {keys} has the wrong type")  # pragma: no cover


def _blocks(body: dict[str, Any], t: str, limit: int) -> bytes:
    value = body.get("blocks")
    if not isinstance(value, _BYTES):
        raise _fail(t, body, f"'blocks' must be bytes, got {type(value).__name__}")
    if len(value) > limit:
        raise _fail(t, body, f"'blocks' has {len(value)} bytes, above the limit of {limit}")
    return value if type(value) is bytes else bytes(value)


class _Limits:
    """What one decoder accepts: the size limits, and how commits read their records.

    ``verify_records``: hash a record block and compare it with its CID before decoding it.
    ``skip_invalid_records``: a record that cannot be read gives None and a warning
    (`RepoOp.record`) instead of raising.
    ``catalog``: check each record against its lexicon as it is read (``validate_records``
    of `EventGate`); None checks nothing.
    """

    __slots__ = (
        "catalog",
        "max_blocks_size",
        "max_ops",
        "skip_invalid_records",
        "verify_records",
    )

    def __init__(
        self,
        max_ops: int,
        max_blocks_size: int,
        verify_records: bool = True,
        skip_invalid_records: bool = False,
        catalog: Catalog | None = None,
    ) -> None:
        self.max_ops = max_ops
        self.max_blocks_size = max_blocks_size
        self.verify_records = verify_records
        self.skip_invalid_records = skip_invalid_records
        self.catalog = catalog


def _commit(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Commit:
    # Bodies in the usual layout never get here (_commitbody reads them); this reads any
    # other. A well-formed body passes each check once; the helpers that name the exact
    # problem run only when a check fails.
    t = "#commit"
    get = body.get
    seq, repo, rev, time, commit = get("seq"), get("repo"), get("rev"), get("time"), get("commit")
    blocks, raw_ops, since, prev_data, blobs = (
        get("blocks"), get("ops"), get("since"), get("prevData"), get("blobs")
    )  # fmt: skip
    too_big, rebase = get("tooBig", False), get("rebase", False)
    if type(seq) is not int:
        raise _fail(t, body, "'seq' must be an integer")
    if not 0 <= seq <= MAX_SEQ:
        raise _fail(t, body, _SEQ_OUT_OF_RANGE)
    if type(repo) is not str or type(rev) is not str or type(time) is not str:
        raise _first_wrong(body, t, ("repo", "rev", "time"), str)
    if type(commit) is not CID:
        raise _fail(t, body, "'commit' must be a CID link")
    if since is not None and type(since) is not str:
        since = _opt_str(body, "since", t)
    if type(blocks) is not bytes or len(blocks) > limits.max_blocks_size:
        blocks = _blocks(body, t, limits.max_blocks_size)
    if type(too_big) is not bool or type(rebase) is not bool:
        raise _first_wrong(body, t, ("tooBig", "rebase"), bool, optional=True)
    if prev_data is not None and type(prev_data) is not CID:
        raise _fail(t, body, "'prevData' must be a CID link")
    if blobs is None:
        blobs = []
    elif type(blobs) is not list:
        raise _fail(t, body, "'blobs' must be a list")
    if type(raw_ops) is not list:
        raise _fail(t, body, "'ops' must be a list")
    if len(raw_ops) > limits.max_ops:
        raise _fail(t, body, f"{len(raw_ops)} ops, above the limit of {limits.max_ops}")
    raw_ops_checked: list[RawOp] = []
    for raw in raw_ops:
        if type(raw) is not dict:
            raise _fail(t, body, "an op is not a map")
        action, path, cid, prev = (
            raw.get("action"),
            raw.get("path"),
            raw.get("cid"),
            raw.get("prev"),
        )
        if type(action) is not str or type(path) is not str:
            raise _fail(t, body, "an op lacks a string 'action' or 'path'")
        if (cid is not None and type(cid) is not CID) or (
            prev is not None and type(prev) is not CID
        ):
            raise _fail(t, body, f"op {path!r}: 'cid' and 'prev' must be CID links or null")
        collection, slash, rkey = path.partition("/")
        if not slash or not collection or not rkey:
            raise _fail(t, body, f"op path {path!r} is not <collection>/<rkey>")
        if collections is None or collection in collections:
            raw_ops_checked.append((action, path, collection, rkey, cid, prev))
    return build_commit(
        seq, repo, rev, since, commit, blocks, time, too_big, prev_data, blobs, rebase,
        raw_ops_checked, limits,
    )  # fmt: skip


def _sync(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Sync:
    t = "#sync"
    return Sync(
        _seq(body, t),
        _str(body, "did", t),
        _str(body, "rev", t),
        _blocks(body, t, limits.max_blocks_size),
        _str(body, "time", t),
    )


def _identity(
    body: dict[str, Any], limits: _Limits, collections: Collection[str] | None
) -> Identity:
    t = "#identity"
    return Identity(
        _seq(body, t),
        _str(body, "did", t),
        _opt_str(body, "handle", t),
        _str(body, "time", t),
    )


def _account(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Account:
    t = "#account"
    return Account(
        _seq(body, t),
        _str(body, "did", t),
        _bool(body, "active", t),
        _opt_str(body, "status", t),
        _str(body, "time", t),
    )


def _info(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Info:
    return Info(_str(body, "name", "#info"), _opt_str(body, "message", "#info"))


_label_class: Any = None


def _labels(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Labels:
    global _label_class
    t = "#labels"
    seq = _seq(body, t)
    raw = body.get("labels")
    if type(raw) is not list:
        raise _fail(t, body, "'labels' must be a list")
    if _label_class is None:
        from atproto_async.models.com.atproto.label.defs import Label

        _label_class = Label
    labels = []
    for item in raw:
        if type(item) is not dict:
            raise _fail(t, body, "a label is not a map")
        try:
            labels.append(_label_class.from_dict(item))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise caused_by(
                _fail(t, body, f"a label does not match com.atproto.label.defs#label: {exc}"), exc
            )
    return Labels(seq, labels)


def _handle(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Handle:
    t = "#handle"
    return Handle(
        _seq(body, t), _str(body, "did", t), _str(body, "handle", t), _str(body, "time", t)
    )


def _migrate(body: dict[str, Any], limits: _Limits, collections: Collection[str] | None) -> Migrate:
    t = "#migrate"
    return Migrate(
        _seq(body, t),
        _str(body, "did", t),
        _opt_str(body, "migrateTo", t),
        _str(body, "time", t),
    )


def _tombstone(
    body: dict[str, Any], limits: _Limits, collections: Collection[str] | None
) -> Tombstone:
    t = "#tombstone"
    return Tombstone(_seq(body, t), _str(body, "did", t), _str(body, "time", t))


_Builder = Callable[[dict[str, Any], _Limits, Collection[str] | None], Event]

#: Message type (``t``) -> body decoder. Both the short (``#commit``) and the fully qualified
#: (``com.atproto.sync.subscribeRepos#commit``) spellings are accepted.
_BUILDERS: dict[str, _Builder] = {
    "#commit": _commit,
    "#sync": _sync,
    "#identity": _identity,
    "#account": _account,
    "#info": _info,
    "#labels": _labels,
    "#handle": _handle,
    "#migrate": _migrate,
    "#tombstone": _tombstone,
}
for _name in ("commit", "sync", "identity", "account", "info", "handle", "migrate", "tombstone"):
    _BUILDERS[f"com.atproto.sync.subscribeRepos#{_name}"] = _BUILDERS[f"#{_name}"]
for _name in ("labels", "info"):
    _BUILDERS[f"com.atproto.label.subscribeLabels#{_name}"] = _BUILDERS[f"#{_name}"]
del _name

_DEFAULT_LIMITS = _Limits(DEFAULT_MAX_OPS, DEFAULT_MAX_BLOCKS_SIZE)
_UNVERIFIED_LIMITS = _Limits(DEFAULT_MAX_OPS, DEFAULT_MAX_BLOCKS_SIZE, verify_records=False)


def _error(body: Any) -> StreamError:
    if type(body) is not dict:
        raise FrameDecodeError("error frame: the body is not a map")
    error = body.get("error")
    message = body.get("message")
    if type(error) is not str or (message is not None and type(message) is not str):
        raise FrameDecodeError(
            "error frame: 'error' must be a string, 'message' a string or absent"
        )
    return StreamError(error, message)


def _unknown(t: str, body: dict[str, Any], op: int) -> Unknown:
    # A message type this library does not know still counts for the cursor through its seq.
    seq = body.get("seq")
    if type(seq) is int and not 0 <= seq <= MAX_SEQ:
        raise _fail(t or f"frame with op {op}", body, _SEQ_OUT_OF_RANGE)
    return Unknown(t, body, op)


def _decode_parts(data: bytes, limits: _Limits, collections: Collection[str] | None) -> Event:
    """Decode any frame, header and body alike; says precisely what is wrong with a bad one."""
    try:
        parts = decode_dag_cbor_multi(data, strict=False)
    except DecodeError as exc:
        raise caused_by(FrameDecodeError(f"frame is not two DAG-CBOR objects: {exc}"), exc)
    if len(parts) != 2:
        raise FrameDecodeError(f"frame holds {len(parts)} DAG-CBOR objects instead of 2")
    header, body = parts
    if type(header) is not dict:
        raise FrameDecodeError("frame header is not a map")
    op = header.get("op")
    t = header.get("t")
    if type(op) is not int:
        raise FrameDecodeError("frame header has no integer 'op'")
    if op == 1:
        if type(t) is not str:
            raise FrameDecodeError("message frame header has no string 't'")
        if type(body) is not dict:
            raise FrameDecodeError(f"{t} body is not a map")
        builder = _BUILDERS.get(t)
        if builder is None:
            return _unknown(t, body, 1)
        return builder(body, limits, collections)
    if op == -1:
        raise _error(body)
    if type(body) is not dict:
        raise FrameDecodeError(f"frame with op {op}: body is not a map")
    return _unknown(t if type(t) is str else "", body, op)


#: The canonical encodings of ``{"op": 1, "t": <a known type>}`` (``t`` sorts first: keys
#: sort by length), the header of nearly every frame, with the builder of each. A frame that
#: starts with one needs only its body decoded: these bytes can mean nothing else.
_KNOWN_HEADERS: dict[bytes, _Builder] = {
    encode_dag_cbor({"op": 1, "t": t}): builder for t, builder in _BUILDERS.items()
}


#: The header of a ``#commit`` (97% of the firehose), compared before the head byte is read and
#: the header looked up: 1.4k instructions fewer of 62k per live-layout frame (callgrind on
#: ``decode_frame``; ``benchmarks/bench_stream.py`` measures the wall clock).
_COMMIT_HEADER: Final = encode_dag_cbor({"op": 1, "t": "#commit"})
_COMMIT_HEADER_SIZE: Final = len(_COMMIT_HEADER)


def _decode(
    data: bytes | bytearray | memoryview,
    max_frame_size: int,
    limits: _Limits,
    collections: Collection[str] | None,
) -> Event:
    if len(data) > max_frame_size:
        raise FrameDecodeError(f"frame of {len(data)} bytes is above the limit of {max_frame_size}")
    if type(data) is not bytes:
        data = bytes(data)
    # A known header is a2 61 74 <text head> <t> 62 6f 70 01, and every t is shorter than 24
    # bytes or than 256 (a one-byte length after 0x78). The length is read from the head byte;
    # looking up the bytes it spans in _KNOWN_HEADERS then checks every one of them.
    if len(data) > 4:
        builder: _Builder | None
        if data[:_COMMIT_HEADER_SIZE] == _COMMIT_HEADER:  # nearly every frame
            size, builder = _COMMIT_HEADER_SIZE, _commit
            event = read_commit_body(data, size, limits, collections)  # the usual layout
            if event is not None:
                return event
        else:
            head = data[3]
            size = head - 0x58 if 0x60 < head < 0x78 else data[4] + 9 if head == 0x78 else 0
            builder = _KNOWN_HEADERS.get(data[:size])
        if builder is not None and size < len(data):
            try:
                body = decode_dag_cbor_at(data, size)
            except DecodeError:
                pass  # decoded again below, to report the problem exactly as for any frame
            else:
                if type(body) is dict:
                    return builder(body, limits, collections)
    return _decode_parts(data, limits, collections)


def decode_frame(
    data: bytes | bytearray | memoryview,
    *,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    max_ops: int = DEFAULT_MAX_OPS,
    max_blocks_size: int = DEFAULT_MAX_BLOCKS_SIZE,
    collections: Collection[str] | None = None,
    verify_records: bool = True,
) -> Event:
    """Decode one event-stream message into its typed event.

    Records inside a commit's blocks are not decoded here: each ``op.record`` decodes on
    first read.

    Args:
        data: One WebSocket binary message, exactly as received.
        max_frame_size: Messages longer than this are refused (the sync spec's 5 MiB).
        max_ops: Commits with more ops are refused (the lexicon's 200).
        max_blocks_size: ``blocks`` longer than this are refused (the lexicon's 2,000,000).
        collections: When given, a commit keeps only the ops of these collections.
        verify_records: Check each record block against its CID (sha2-256) when the record is
            read, so that a relay cannot swap a record's bytes. ``False`` saves the hashing
            (6-9% of decoding a frame and reading its record).

    Returns:
        The event; `Unknown` for a message type or frame op this library does not know.

    Raises:
        StreamError: An error frame (``op: -1``), e.g. ``FutureCursor``.
        FrameDecodeError: Malformed framing or CBOR, a body without its required fields, a
            ``seq`` outside 0 .. 2**63-1, or a message over a limit.
    """
    if max_ops == DEFAULT_MAX_OPS and max_blocks_size == DEFAULT_MAX_BLOCKS_SIZE:
        limits = _DEFAULT_LIMITS if verify_records else _UNVERIFIED_LIMITS
    else:
        limits = _Limits(max_ops, max_blocks_size, verify_records)
    return _decode(data, max_frame_size, limits, collections)
