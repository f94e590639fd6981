"""Typed events of ``com.atproto.sync.subscribeRepos`` and ``com.atproto.label.subscribeLabels``.

One frozen attrs class per message type of the two lexicons, plus the legacy ``#handle``,
``#migrate`` and ``#tombstone`` messages that older servers and archives still carry, and
`Unknown` for anything else, so a new message type never breaks a consumer.

Records are lazy: a `Commit` keeps its ``blocks`` (a CAR slice) as bytes, and each `RepoOp`
decodes its record from those blocks only when ``op.record`` is first read. The first record
read walks the CAR only as far as its block; later reads of the same commit share one index,
built as far as needed. Consumers that only look at ``op.collection`` or ``op.uri`` never pay
for CAR or record decoding. The firehose builds a `Commit` and its ops through their slots
(`_new_commit`, `_new_repo_op`), not attrs' ``__init__``: same instances, less time.

Specs: https://atproto.com/specs/sync#firehose and https://atproto.com/specs/event-stream
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs

from atproto_async.exceptions import DecodeError, FrameDecodeError
from atproto_async.ipld import CID, read_car
from atproto_async.ipld.car import BlockFinder, find_block
from atproto_async.ipld.dag_cbor import _decode_one

if TYPE_CHECKING:
    from atproto_async.ipld import Car

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


class _CommitBlocks:
    """The blocks of one commit, shared by its ops.

    A record read finds its block with `find_block` (the first) or a `BlockFinder` (the
    rest), which check the CAR header and read sections only as far as that block;
    ``Commit.car`` parses and checks the whole CAR.
    """

    __slots__ = ("_car", "_finder", "_looked_up", "data", "repo", "seq", "too_big")

    def __init__(self, data: bytes, seq: int, repo: str, too_big: bool) -> None:
        self.data = data
        self.seq = seq
        self.repo = repo
        self.too_big = too_big
        self._car: Car | None = None
        self._finder: BlockFinder | None = None
        self._looked_up = False

    def _invalid(self, exc: DecodeError, path: str | None = None) -> FrameDecodeError:
        reading = "" if path is None else f" (reading {path})"
        return FrameDecodeError(
            f"#commit seq {self.seq} of {self.repo}: blocks are not a valid CAR{reading}: {exc}"
        )

    @property
    def car(self) -> Car:
        car = self._car
        if car is None:
            try:
                car = read_car(self.data)
            except DecodeError as exc:
                raise self._invalid(exc) from exc
            self._car = car
        return car

    def record_data(self, cid: CID, path: str) -> Any:
        """Return the decoded record block for ``cid``, or None when a tooBig commit lacks it."""
        try:
            finder = self._finder
            if finder is not None:
                block = finder.get(cid)
            elif self._looked_up:
                finder = self._finder = BlockFinder(self.data)
                block = finder.get(cid)
            else:  # the first record of the commit, usually its only one: no index needed
                self._looked_up = True
                block = find_block(self.data, cid)
        except DecodeError as exc:
            raise self._invalid(exc, path) from exc
        if block is None:
            if self.too_big:
                # tooBig commits carry only the commit block; the consumer fetches the rest.
                return None
            raise FrameDecodeError(
                f"#commit seq {self.seq} of {self.repo}: the record block {cid} of {path} "
                "is missing from the commit's blocks"
            )
        try:
            data = _decode_one(block)
        except DecodeError as exc:
            raise FrameDecodeError(
                f"#commit seq {self.seq} of {self.repo}: record {path} is not DAG-CBOR: {exc}"
            ) from exc
        if type(data) is not dict:
            raise FrameDecodeError(
                f"#commit seq {self.seq} of {self.repo}: record {path} is not a map"
            )
        return data


@attrs.frozen(slots=True)
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
    _holder: _CommitBlocks | None = attrs.field(default=None, repr=False, eq=False)
    _record: Any = attrs.field(default=_UNREAD, init=False, repr=False, eq=False)

    @property
    def record(self) -> Any:
        """The record as its generated model (or `UnknownRecord`), decoded on first read.

        None for deletes, and for records a ``tooBig`` commit did not include (fetch those
        with ``com.atproto.sync.getRecord``).

        Raises:
            FrameDecodeError: The block is missing from a commit that is not ``tooBig``, is not
                DAG-CBOR, or does not match its lexicon.
        """
        record = self._record
        if record is not _UNREAD:
            return record
        holder = self._holder
        cid = self.cid
        if cid is None or holder is None or self.action == "delete":
            record = None
        else:
            data = holder.record_data(cid, self.path)
            if data is None:
                record = None
            else:
                record_type = data.get("$type")
                build = _RECORD_BUILDERS.get(record_type) if type(record_type) is str else None
                try:
                    record = _build_record(data) if build is None else build(data)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise FrameDecodeError(
                        f"record {self.uri} does not match its lexicon: {exc}"
                    ) from exc
        _set_record(self, record)
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
        data: dict[str, Any] | None = blocks.record_data(cid, self.path)
        return data


@attrs.frozen(slots=True)
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
    _holder: _CommitBlocks | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def car(self) -> Car:
        """The ``blocks`` parsed as a CAR (cached and shared with the ops' records).

        Raises:
            FrameDecodeError: ``blocks`` is not a valid CAR file.
        """
        holder = self._holder
        if holder is None:
            holder = _CommitBlocks(self.blocks, self.seq, self.repo, self.too_big)
            object.__setattr__(self, "_holder", holder)
        return holder.car


# A firehose commit makes one `Commit` and a `RepoOp` per op. attrs' ``__init__`` of a frozen
# class sets each field through ``object.__setattr__``; setting the slots through their
# descriptors directly builds the same instances in about two thirds of the time.
_new = object.__new__
_OP_SLOTS: Final = tuple(RepoOp.__dict__[field.name].__set__ for field in attrs.fields(RepoOp))
_COMMIT_SLOTS: Final = tuple(Commit.__dict__[field.name].__set__ for field in attrs.fields(Commit))
_set_record: Final = RepoOp.__dict__["_record"].__set__


def _new_repo_op(
    action: str,
    path: str,
    collection: str,
    rkey: str,
    uri: str,
    cid: CID | None,
    prev: CID | None,
    holder: _CommitBlocks,
) -> RepoOp:
    """``RepoOp(action, path, collection, rkey, uri, cid, prev, holder)``, built faster."""
    op = _new(RepoOp)
    s_action, s_path, s_collection, s_rkey, s_uri, s_cid, s_prev, s_holder, s_record = _OP_SLOTS
    s_action(op, action)
    s_path(op, path)
    s_collection(op, collection)
    s_rkey(op, rkey)
    s_uri(op, uri)
    s_cid(op, cid)
    s_prev(op, prev)
    s_holder(op, holder)
    s_record(op, _UNREAD)
    return op


def _new_commit(
    seq: int,
    repo: str,
    rev: str,
    since: str | None,
    commit: CID,
    ops: list[RepoOp],
    blocks: bytes,
    time: str,
    too_big: bool,
    prev_data: CID | None,
    blobs: list[CID],
    rebase: bool,
    holder: _CommitBlocks,
) -> Commit:
    """``Commit(...)`` with every field given positionally, built faster."""
    event = _new(Commit)
    (
        s_seq,
        s_repo,
        s_rev,
        s_since,
        s_commit,
        s_ops,
        s_blocks,
        s_time,
        s_too_big,
        s_prev_data,
        s_blobs,
        s_rebase,
        s_holder,
    ) = _COMMIT_SLOTS
    s_seq(event, seq)
    s_repo(event, repo)
    s_rev(event, rev)
    s_since(event, since)
    s_commit(event, commit)
    s_ops(event, ops)
    s_blocks(event, blocks)
    s_time(event, time)
    s_too_big(event, too_big)
    s_prev_data(event, prev_data)
    s_blobs(event, blobs)
    s_rebase(event, rebase)
    s_holder(event, holder)
    return event


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
