"""Typed events of ``com.atproto.sync.subscribeRepos`` and ``com.atproto.label.subscribeLabels``.

One frozen attrs class per message type of the two lexicons, plus the legacy ``#handle``,
``#migrate`` and ``#tombstone`` messages that older servers and archives still carry, and
`Unknown` for anything else, so a new message type never breaks a consumer.

Records are lazy: a `Commit` keeps its ``blocks`` (a CAR slice) as bytes, and each `RepoOp`
decodes its record from those blocks only when ``op.record`` is first read. The first record
read walks the CAR only as far as its block; later reads of the same commit share one index,
built as far as needed (a commit of several ops builds it from the first read on, so that no
section is walked twice). Consumers that only look at ``op.collection`` or ``op.uri`` never pay
for CAR or record decoding. A record block is checked against its CID (sha2-256) before it is
decoded, unless the decoder was told not to (``verify_records=False``): a relay cannot swap a
record's bytes (`_commitblocks`). A record that cannot be read raises `FrameDecodeError` from
``op.record``, or, when the subscription skips invalid messages, reads as None with a warning
logged and the reason kept in ``op.record_error``. The firehose builds a `Commit` and its ops
through their slots (their mutable twins), not attrs' ``__init__``: same instances, less time.

Specs: https://atproto.com/specs/sync#firehose and https://atproto.com/specs/event-stream
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs

from atproto_async._twin import mutable_twin
from atproto_async.exceptions import FrameDecodeError
from atproto_async.ipld import CID
from atproto_async.stream._commitblocks import CommitBlocks

if TYPE_CHECKING:
    from atproto_async.ipld import Car
    from atproto_async.stream.frames import _Limits

__all__ = [
    "Account",
    "Commit",
    "Event",
    "Handle",
    "Identity",
    "Info",
    "Labels",
    "Migrate",
    "RepoOp",
    "Sync",
    "Tombstone",
    "Unknown",
]

_UNREAD: Any = object()  # marks a record that has not been decoded yet

#: The largest ``seq`` accepted. Sequence numbers are non-negative 64-bit signed integers
#: (DAG-CBOR integers; relays store them as int64): a frame whose ``seq`` lies outside
#: 0 .. 2**63-1 is malformed, and taking it would leave a cursor that no server knows.
MAX_SEQ: Final = 2**63 - 1

#: ``$type`` -> the ``from_dict`` of its generated model, filled as types are first met (the
#: generated models are large: they load on the first record read, not on import).
_RECORD_BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def _build_record(data: dict[str, Any]) -> Any:
    """``models.record_from_dict(data)``, remembering the model class of a known ``$type``."""
    from atproto_async.models import RECORDS

    record_type = data.get("$type")
    if type(record_type) is str:
        cls = RECORDS.get(record_type)
        if cls is not None:
            _RECORD_BUILDERS[record_type] = cls.from_dict
    return RECORDS.from_dict(data)


@attrs.frozen(slots=True, weakref_slot=False)
class RepoOp:
    """One record mutation of a `Commit`.

    Attributes:
        action: ``"create"``, ``"update"`` or ``"delete"`` (other values are passed through).
        path: ``<collection>/<rkey>``.
        collection: The collection NSID, e.g. ``app.bsky.feed.post``.
        rkey: The record key.
        uri: ``at://<repo>/<collection>/<rkey>``.
        cid: The new record's CID (None for deletes).
        prev: The previous record's CID for updates and deletes, when the server sends it.
    """

    action: str
    path: str
    collection: str
    rkey: str
    uri: str
    cid: CID | None
    prev: CID | None = None
    _holder: CommitBlocks | None = attrs.field(default=None, repr=False, eq=False)
    _record: Any = attrs.field(default=_UNREAD, init=False, repr=False, eq=False)

    @property
    def record(self) -> Any:
        """The record as its generated model (or `UnknownRecord`), decoded on first read.

        None for deletes, and for records a ``tooBig`` commit did not include (fetch those
        with ``com.atproto.sync.getRecord``). When the subscription skips invalid messages
        (``skip_invalid=True``), a record that cannot be read is None as well: the op and its
        commit are valid, only the record is lost. A warning is logged once and
        `record_error` says why.

        Raises:
            FrameDecodeError: Unless invalid records are skipped: the block is missing from a
                commit that is not ``tooBig``, does not hash to its CID (when checked), is not
                DAG-CBOR of the data model (e.g. holds a float), or does not match its lexicon.
        """
        record = self._record
        if record is not _UNREAD:
            return record
        holder = self._holder
        cid = self.cid
        if cid is None or holder is None or self.action == "delete":
            record = None
        else:
            try:
                data = holder.record_data(cid, self.path)
                if data is None:
                    record = None
                else:
                    record_type = data.get("$type")
                    build = _RECORD_BUILDERS.get(record_type) if type(record_type) is str else None
                    try:
                        record = _build_record(data) if build is None else build(data)
                    except (ValueError, TypeError, KeyError, AttributeError) as exc:
                        raise _mismatch(holder, cid, self.uri, exc) from exc
            except FrameDecodeError as exc:
                if not holder.limits.skip_invalid_records:
                    raise
                holder.skip(self.path, self.uri, exc)
                record = None
        _SET_RECORD(self, record)
        return record

    @property
    def record_data(self) -> dict[str, Any] | None:
        """The record as a data-model dict (no model built; not cached). None like `record`.

        Raises:
            FrameDecodeError: As for `record`.
        """
        blocks = self._holder
        cid = self.cid
        if cid is None or blocks is None or self.action == "delete":
            return None
        try:
            data: dict[str, Any] | None = blocks.record_data(cid, self.path)
        except FrameDecodeError as exc:
            if not blocks.limits.skip_invalid_records:
                raise
            blocks.skip(self.path, self.uri, exc)
            return None
        return data

    @property
    def record_error(self) -> FrameDecodeError | None:
        """Why this op's record cannot be read, or None when it can (or there is none).

        Reads the record if that was not done yet, and never raises: with invalid records
        skipped, this is the reason `record` is None.
        """
        try:
            self.record  # noqa: B018
        except FrameDecodeError as exc:
            return exc
        holder = self._holder
        return None if holder is None else holder.skipped(self.path)


def _mismatch(holder: CommitBlocks, cid: CID, uri: str, exc: Exception) -> FrameDecodeError:
    """The error for a record whose model cannot be built: the block's fault, or the lexicon's."""
    problem = holder.strict_problem(cid)
    if problem is not None:  # e.g. a simple value where the lexicon expects an object
        return FrameDecodeError(f"record {uri} is not valid DAG-CBOR: {problem}")
    return FrameDecodeError(f"record {uri} does not match its lexicon: {exc}")


@attrs.frozen(slots=True, weakref_slot=False)
class Commit:
    """``#commit``: a repository changed.

    Attributes:
        seq: The stream sequence number.
        repo: The account's DID.
        rev: The new revision (a TID).
        since: The revision of the previous commit of this repo, or None.
        commit: The CID of the commit object.
        ops: The record mutations (filtered when the subscription has ``collections``).
        blocks: The CAR slice with the commit, the changed tree nodes and the new records.
        time: When the server broadcast the event (an ISO 8601 string).
        too_big: Deprecated: the blocks were left out and must be fetched separately.
        prev_data: The MST root of the previous commit (the "inductive firehose"), or None.
        blobs: Deprecated list of blob CIDs referenced by the new records.
        rebase: Deprecated, unused.
    """

    seq: int
    repo: str
    rev: str
    since: str | None
    commit: CID
    ops: list[RepoOp]
    blocks: bytes = attrs.field(repr=False)
    time: str
    too_big: bool = False
    prev_data: CID | None = None
    blobs: list[CID] = attrs.field(factory=list, repr=False)
    rebase: bool = attrs.field(default=False, repr=False)
    _holder: CommitBlocks | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def car(self) -> Car:
        """The ``blocks`` parsed as a CAR (cached and shared with the ops' records).

        Raises:
            FrameDecodeError: ``blocks`` is not a valid CAR file.
        """
        holder = self._holder
        if holder is None:
            from atproto_async.stream.frames import _DEFAULT_LIMITS

            holder = CommitBlocks(self.blocks, self.seq, self.repo, self.too_big, _DEFAULT_LIMITS)
            object.__setattr__(self, "_holder", holder)
        return holder.car


# A firehose commit makes one `Commit` and a `RepoOp` per op. attrs' ``__init__`` of a frozen
# class sets each field through ``object.__setattr__``; `build_commit` instead fills their
# mutable twins (``_twin.mutable_twin``: same slots, plain attribute stores) and then assigns
# the real class. CPython refuses that assignment when the classes have a ``__weakref__`` slot,
# which is why `RepoOp` and `Commit` have none. Same instances, in about 40% of the time.
_RepoOpTwin: Final = mutable_twin(RepoOp)
_CommitTwin: Final = mutable_twin(Commit)

#: One op as `build_commit` takes it: action, path, collection, rkey, cid, prev.
RawOp: TypeAlias = tuple[str, str, str, str, CID | None, CID | None]


def build_commit(
    seq: int,
    repo: str,
    rev: str,
    since: str | None,
    commit: CID,
    blocks: bytes,
    time: str,
    too_big: bool,
    prev_data: CID | None,
    blobs: list[CID],
    rebase: bool,
    raw_ops: list[RawOp],
    limits: _Limits,
) -> Commit:
    """``Commit(...)`` with a `RepoOp` per entry of ``raw_ops``, from already checked values.

    The firehose's constructor (`frames._commit`, `_commitbody.read_commit_body`): every
    instance is filled on its mutable twin and then given its class, and the ops share one
    `CommitBlocks` for their records, which reads them as ``limits`` says.
    """
    holder = CommitBlocks(blocks, seq, repo, too_big, limits, len(raw_ops) > 1)
    ops: list[RepoOp] = []
    prefix = f"at://{repo}/"
    for action, path, collection, rkey, cid, prev in raw_ops:
        op: Any = _RepoOpTwin()
        op.action = action
        op.path = path
        op.collection = collection
        op.rkey = rkey
        op.uri = prefix + path
        op.cid = cid
        op.prev = prev
        op._holder = holder
        op._record = _UNREAD
        op.__class__ = RepoOp
        ops.append(op)
    event: Any = _CommitTwin()
    event.seq = seq
    event.repo = repo
    event.rev = rev
    event.since = since
    event.commit = commit
    event.ops = ops
    event.blocks = blocks
    event.time = time
    event.too_big = too_big
    event.prev_data = prev_data
    event.blobs = blobs
    event.rebase = rebase
    event._holder = holder
    event.__class__ = Commit
    return event  # type: ignore[no-any-return]


#: Caches a decoded record in its frozen `RepoOp` (the slot's own setter).
_SET_RECORD: Final = RepoOp.__dict__["_record"].__set__


@attrs.frozen(slots=True)
class Sync:
    """``#sync``: the repo jumped to a new state (``blocks`` holds just the commit block)."""

    seq: int
    did: str
    rev: str
    blocks: bytes = attrs.field(repr=False)
    time: str


@attrs.frozen(slots=True)
class Identity:
    """``#identity``: the account's handle, key or PDS may have changed; refresh caches."""

    seq: int
    did: str
    handle: str | None
    time: str


@attrs.frozen(slots=True)
class Account:
    """``#account``: the account's hosting status changed (``status`` says why when inactive)."""

    seq: int
    did: str
    active: bool
    status: str | None
    time: str


@attrs.frozen(slots=True)
class Info:
    """``#info``: an informational message, e.g. ``OutdatedCursor`` (the stream goes on)."""

    name: str
    message: str | None = None


@attrs.frozen(slots=True)
class Labels:
    """``#labels`` (``com.atproto.label.subscribeLabels``): labels and negations."""

    seq: int
    labels: list[Any]


@attrs.frozen(slots=True)
class Handle:
    """Legacy ``#handle`` (replaced by `Identity`)."""

    seq: int
    did: str
    handle: str
    time: str


@attrs.frozen(slots=True)
class Migrate:
    """Legacy ``#migrate`` (replaced by `Identity` and `Account`)."""

    seq: int
    did: str
    migrate_to: str | None
    time: str


@attrs.frozen(slots=True)
class Tombstone:
    """Legacy ``#tombstone`` (replaced by `Account` with ``status="deleted"``)."""

    seq: int
    did: str
    time: str


@attrs.frozen(slots=True)
class Unknown:
    """A message type (or frame op) this library does not know; the body is kept as decoded.

    Attributes:
        type: The header's ``t`` (empty when absent).
        body: The decoded body (data model values).
        op: The header's ``op`` (1 for messages).
    """

    type: str
    body: Mapping[str, Any]
    op: int = 1

    @property
    def seq(self) -> int | None:
        """The body's ``seq`` when it is an integer (new message types usually have one)."""
        seq = self.body.get("seq")
        return seq if type(seq) is int else None


Event: TypeAlias = (
    Commit | Sync | Identity | Account | Info | Labels | Handle | Migrate | Tombstone | Unknown
)
