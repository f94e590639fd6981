"""Event streams: ``com.atproto.sync.subscribeRepos`` and ``com.atproto.label.subscribeLabels``.

- Sans-I/O: `decode_frame` turns one WebSocket message into a typed event (`Commit`, `Sync`,
  `Identity`, `Account`, `Info`, `Labels`, legacy `Handle` / `Migrate` / `Tombstone`, or
  `Unknown`); `EventGate` adds replay dropping, filters and the cursor.
- Live: `subscribe_repos` / `subscribe_labels` return a reconnecting `Subscription`
  (``async for``); it loads ``websockets`` only when first used.
- Recorded: `replay_frames` / `iter_replay` read a frame file through the same path.
- Raw: `read_raw_frame` reads only a message's seq, DID and type (`RawFrame`), for forwarding;
  ``subscribe_repos(..., raw=True)`` hands those out (`RawSubscription`).

Specs: https://atproto.com/specs/event-stream and https://atproto.com/specs/sync
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from atproto_async.stream.events import (
    Account,
    Commit,
    Event,
    Handle,
    Identity,
    Info,
    Labels,
    Migrate,
    RepoOp,
    Sync,
    Tombstone,
    Unknown,
)
from atproto_async.stream.frames import (
    DEFAULT_MAX_BLOCKS_SIZE,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_OPS,
    decode_frame,
)
from atproto_async.stream.gate import EventGate
from atproto_async.stream.raw import RawFrame, RawGate, read_raw_frame
from atproto_async.stream.reconnect import ReconnectPolicy
from atproto_async.stream.replay import Replay, iter_replay, replay_frames
from atproto_async.stream.urls import stream_url

__all__ = [
    "DEFAULT_MAX_BLOCKS_SIZE",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_OPS",
    "SUBSCRIBE_LABELS",
    "SUBSCRIBE_REPOS",
    "Account",
    "Commit",
    "Event",
    "EventGate",
    "Handle",
    "Identity",
    "Info",
    "Labels",
    "Migrate",
    "RawFrame",
    "RawGate",
    "RawSubscription",
    "ReconnectPolicy",
    "RepoOp",
    "Replay",
    "Subscription",
    "Sync",
    "Tombstone",
    "Unknown",
    "decode_frame",
    "iter_replay",
    "read_raw_frame",
    "replay_frames",
    "stream_url",
    "subscribe_labels",
    "subscribe_repos",
]

# Names of the WebSocket layer, loaded on first access so that sans-I/O users never import
# websockets.
_LAZY = frozenset(
    {
        "SUBSCRIBE_LABELS",
        "SUBSCRIBE_REPOS",
        "RawSubscription",
        "Subscription",
        "subscribe_labels",
        "subscribe_repos",
    }
)

if TYPE_CHECKING:
    from atproto_async.stream.subscribe import (
        SUBSCRIBE_LABELS,
        SUBSCRIBE_REPOS,
        RawSubscription,
        Subscription,
        subscribe_labels,
        subscribe_repos,
    )


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'atproto_async.stream' has no attribute {name!r}")
    value = getattr(import_module("atproto_async.stream.subscribe"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
