"""Verified sync: prove every firehose event, keep per-account state, notice what was missed.

- `verify_commit` / `verify_sync` (``verify.py``, sans-I/O): one event against the account's
  key: signature, the MST proof of every op, ``prevData`` by inverting the ops.
- `SyncVerifier` (``verifier.py``): events in stream order against per-account state: rev
  order, account status, the ``prevData`` chain (a break is a gap: resync), key rotation.
- `VerifiedSubscription` (``stream.py``): ``subscribe_repos(..., verify=True)``: verified
  events, gaps healed by fetching the repository (`Resync`), failover between relays.
- `verify_label` / `LabelVerifier` (``labels.py``): labels against their labeler's
  ``#atproto_label`` key, for ``subscribe_labels(..., verify=True)``.
- `RepoState`, `MemoryStateStore`, `SQLiteStateStore` (``state.py``): where that state lives;
  the SQLite store writes it with the stream cursors (one per relay host, and the host in use)
  in one transaction.

Layout::

    stream.py     VerifiedSubscription, Resync, fetch_repo   (network: relays, getRepo)
        |
    verifier.py   SyncVerifier, Verdict           (async: resolves keys)
        |
    verify.py     verify_commit, verify_sync      (sans-I/O, on atproto_async.repo)
    state.py      RepoState, StateStore, MemoryStateStore, SQLiteStateStore

Spec: https://atproto.com/specs/sync
"""

from __future__ import annotations

from atproto_async.sync.labels import LabelVerifier, VerifiedLabels, sign_label, verify_label
from atproto_async.sync.state import MemoryStateStore, RepoState, SQLiteStateStore, StateStore
from atproto_async.sync.stream import (
    Resync,
    VerifiedSubscription,
    fetch_latest_rev,
    fetch_repo,
)
from atproto_async.sync.verifier import REFRESH_INTERVAL, SyncVerifier, Verdict
from atproto_async.sync.verify import (
    MAX_BLOCKS_SIZE,
    MAX_OPS,
    REV_CLOCK_SKEW,
    InvalidEvent,
    SignatureMismatch,
    VerifiedCommit,
    verify_commit,
    verify_sync,
)

__all__ = [
    "MAX_BLOCKS_SIZE",
    "MAX_OPS",
    "REFRESH_INTERVAL",
    "REV_CLOCK_SKEW",
    "InvalidEvent",
    "LabelVerifier",
    "MemoryStateStore",
    "RepoState",
    "Resync",
    "SQLiteStateStore",
    "SignatureMismatch",
    "StateStore",
    "SyncVerifier",
    "Verdict",
    "VerifiedCommit",
    "VerifiedLabels",
    "VerifiedSubscription",
    "fetch_latest_rev",
    "fetch_repo",
    "sign_label",
    "verify_commit",
    "verify_label",
    "verify_sync",
]
