"""Checking one firehose event on its own: bytes in, a verdict out (sans-I/O).

`verify_commit` runs the per-event half of the sync spec's validation checklist on a
``#commit``: the CAR's single root is the commit, every block hashes to its CID, the commit
block is a valid v3 commit whose ``did`` and ``rev`` are the event's, its signature checks
against the account's key, every op is proven by the MST blocks carried in the CAR (a create or
update names the record CID the tree holds, and the record block is there; a delete's key is
absent), and inverting the ops on that partial tree gives ``prevData``. `verify_sync` does the
same for the signed commit of a ``#sync``. The per-account half (rev order, the ``prevData``
chain, account status) is `SyncVerifier`'s.

Spec: https://atproto.com/specs/sync (Commit Validation, Message Validation Checklist),
https://atproto.com/specs/repository
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from atproto_async.exceptions import DecodeError, MissingBlockError, RepoError, caused_by
from atproto_async.ipld import CID, read_car
from atproto_async.repo import MST, Commit, is_valid_key
from atproto_async.syntax import is_valid_tid

if TYPE_CHECKING:
    from atproto_async.crypto import PublicKey
    from atproto_async.stream.events import Commit as CommitEvent
    from atproto_async.stream.events import Sync as SyncEvent

__all__ = [
    "MAX_BLOCKS_SIZE",
    "MAX_OPS",
    "REV_CLOCK_SKEW",
    "InvalidEvent",
    "SignatureMismatch",
    "VerifiedCommit",
    "verify_commit",
    "verify_sync",
]

#: The ``ops`` array of ``#commit`` holds at most this many ops (the event's lexicon).
MAX_OPS: Final = 200
#: The ``blocks`` CAR of ``#commit`` is at most this long, bytes (the event's lexicon).
MAX_BLOCKS_SIZE: Final = 2_000_000
#: How far in the future a ``rev`` (a TID, a timestamp) may be before it is refused, seconds.
REV_CLOCK_SKEW: Final = 300.0


#: A TID's characters as the digits ``int(..., 32)`` reads ("2" is 0, "z" is 31).
_TID_DIGITS: Final = str.maketrans(
    "234567abcdefghijklmnopqrstuvwxyz", "0123456789abcdefghijklmnopqrstuv"
)

#: The root of the empty MST: what a repository's first commit builds on.
_EMPTY_TREE: Final = MST().cid


class InvalidEvent(RepoError):
    """An event that fails verification: forged, malformed or inconsistent. ``reason`` says how."""


class SignatureMismatch(InvalidEvent):
    """The commit's signature does not check against the key given (the key may have rotated)."""


@attrs.frozen(slots=True)
class VerifiedCommit:
    """What a verified ``#commit`` or ``#sync`` establishes about its repository.

    Attributes:
        did: The account.
        rev: The commit's revision.
        data: The MST root after the commit.
        prev_data: The MST root before the commit (``prevData``), None when the event had none.
        commit: The commit object.
    """

    did: str
    rev: str
    data: CID
    prev_data: CID | None
    commit: Commit = attrs.field(repr=False)


def _read_blocks(blocks: bytes, root: CID | None, what: str) -> tuple[CID, Mapping[CID, bytes]]:
    if len(blocks) > MAX_BLOCKS_SIZE:
        raise InvalidEvent(f"{what} blocks are {len(blocks)} bytes, above {MAX_BLOCKS_SIZE}")
    try:
        # verify=True: every block, record blocks included, must hash to its CID.
        car = read_car(blocks, verify=True)
    except DecodeError as exc:
        raise caused_by(InvalidEvent(f"{what} blocks are not a valid CAR: {exc}"), None)
    if len(car.roots) != 1:
        raise InvalidEvent(f"{what} CAR has {len(car.roots)} roots, not 1")
    if root is not None and car.roots[0] != root:
        raise InvalidEvent(f"{what} CAR root {car.roots[0]} is not the commit {root}")
    return car.roots[0], car.blocks


def _read_commit(
    blocks: Mapping[CID, bytes],
    cid: CID,
    *,
    did: str,
    rev: str,
    key: PublicKey,
    now: float | None,
    what: str,
) -> Commit:
    try:  # not blocks.get(): a Mapping's get() is one more Python call (CarBlocks)
        block = blocks[cid]
    except KeyError:
        raise caused_by(InvalidEvent(f"{what} blocks lack the commit block {cid}"), None)
    try:
        commit = Commit.decode(block)
    except RepoError as exc:
        raise caused_by(InvalidEvent(exc.reason), None)
    if commit.version != 3:
        raise InvalidEvent(f"commit version {commit.version} is not 3")
    if commit.did != did:
        raise InvalidEvent(f"the commit is signed for {commit.did}, not {did}")
    if commit.rev != rev:
        raise InvalidEvent(f"the commit's rev {commit.rev} is not the event's {rev}")
    if not is_valid_tid(rev):
        raise InvalidEvent(f"rev {rev!r} is not a TID")
    clock = time.time() if now is None else now
    # The TID's microseconds, read as a base-32 number (1.7 us through tid_timestamp and a
    # datetime, 0.3 us so; the same float as ``tid_timestamp(rev).timestamp()``).
    if (int(rev.translate(_TID_DIGITS), 32) >> 10) / 1_000_000 > clock + REV_CLOCK_SKEW:
        raise InvalidEvent(f"rev {rev} is in the future")
    if not commit.verify(key):
        raise SignatureMismatch(f"the commit signature does not check against {key.did_key()}")
    return commit


def verify_commit(
    event: CommitEvent,
    key: PublicKey,
    *,
    lenient: bool = False,
    now: float | None = None,
) -> VerifiedCommit:
    """Verify a ``#commit`` event against the account's signing key.

    Args:
        event: The decoded event (`atproto_async.stream.Commit`).
        key: The account's current ``#atproto`` key.
        lenient: Accept legacy commits: no ``prevData`` (nothing to invert against) and
            updates or deletes without the op's ``prev``. The ops are still proven present.
        now: Unix time for the "rev in the future" check (default: the clock).

    Returns:
        The repository's new state.

    Raises:
        SignatureMismatch: The signature does not check against ``key``.
        InvalidEvent: Anything else is wrong; ``reason`` says what.
    """
    did = event.repo
    if event.too_big:
        raise InvalidEvent("tooBig commits carry no proof (deprecated by sync 1.1)")
    ops = event.ops
    if len(ops) > MAX_OPS:
        raise InvalidEvent(f"{len(ops)} ops, above {MAX_OPS}")
    _, blocks = _read_blocks(event.blocks, event.commit, "#commit")
    commit = _read_commit(
        blocks, event.commit, did=did, rev=event.rev, key=key, now=now, what="#commit"
    )
    prev_data = event.prev_data
    if prev_data is None:
        if event.since is None:
            # The repository's first commit: it starts from the empty tree, which is what
            # inverting its ops must give (a PDS sends no prevData there).
            prev_data = _EMPTY_TREE
        elif not lenient:
            raise InvalidEvent("the commit has no prevData (legacy; accepted only when lenient)")
    try:
        # _read_blocks hashed every block: MST.load need not hash the nodes again (0.5 us each).
        tree = MST.load(commit.data, blocks, verified=True)
        seen: set[str] = set()
        inverted = tree
        for op in ops:
            path = op.path
            if path in seen:
                raise InvalidEvent(f"two ops on {path}")
            seen.add(path)
            if not is_valid_key(path):
                raise InvalidEvent(f"op path {path!r} is not a repo path")
            found = tree.get(path)
            action = op.action
            if action == "delete":
                if op.cid is not None:
                    raise InvalidEvent(f"delete of {path} names a record CID")
                if found is not None:
                    raise InvalidEvent(f"{path} is deleted but still in the tree")
            elif action in ("create", "update"):
                if op.cid is None:
                    raise InvalidEvent(f"{action} of {path} has no record CID")
                if found != op.cid:
                    raise InvalidEvent(f"the tree holds {found} at {path}, not {op.cid}")
                if op.cid not in blocks:
                    raise InvalidEvent(f"the record block of {path} is missing")
                if action == "create" and op.prev is not None:
                    raise InvalidEvent(f"create of {path} names a previous record")
            else:
                raise InvalidEvent(f"unknown op action {action!r}")
            if prev_data is None:
                continue
            # Undo the op: what the tree held before this commit.
            if action == "create":
                inverted = inverted.delete(path)
            elif op.prev is None:
                if not lenient:
                    raise InvalidEvent(f"{action} of {path} has no prev (needed to invert it)")
                prev_data = None  # cannot invert: fall back to the legacy checks
            else:
                inverted = inverted.set(path, op.prev)
        if prev_data is not None and inverted.cid != prev_data:
            raise InvalidEvent(f"inverting the ops gives {inverted.cid}, not prevData {prev_data}")
    except MissingBlockError as exc:
        raise caused_by(InvalidEvent(f"the MST proof is incomplete: {exc.reason}"), None)
    except InvalidEvent:
        raise
    except RepoError as exc:
        raise caused_by(InvalidEvent(f"the MST proof is invalid: {exc}"), None)
    return VerifiedCommit(did, event.rev, commit.data, event.prev_data, commit)


def verify_sync(event: SyncEvent, key: PublicKey, *, now: float | None = None) -> VerifiedCommit:
    """Verify a ``#sync`` event: its CAR holds the account's signed current commit.

    Raises:
        SignatureMismatch: The signature does not check against ``key``.
        InvalidEvent: Anything else is wrong.
    """
    root, blocks = _read_blocks(event.blocks, None, "#sync")
    commit = _read_commit(
        blocks, root, did=event.did, rev=event.rev, key=key, now=now, what="#sync"
    )
    return VerifiedCommit(event.did, event.rev, commit.data, None, commit)
