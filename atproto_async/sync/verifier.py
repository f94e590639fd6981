"""`SyncVerifier`: the per-account half of verified sync, over a stream of events in order.

For each event, in stream order, `SyncVerifier.check` answers a `Verdict`:

- ``#commit``: dropped when the account is inactive or the rev is not newer than the last
  verified one; verified (`verify_commit`) with the account's key from the identity resolver
  (re-resolved once on a bad signature, for key rotation, at most every `REFRESH_INTERVAL` per
  account); then its ``prevData`` must equal the stored MST root, else the repo is marked
  desynchronized and the verdict asks for a resync (a gap: events were missed).
- ``#sync``: its signed commit verified; resets the account's state (rev, root).
- ``#account``: tracked (status); ``#identity``: the resolver's cache entry is dropped.
- Everything else passes.

Nothing is silent: every verdict that is not ``ok`` has a reason, is counted in `stats`, and
goes to ``on_reject`` when one is given. Spec: https://atproto.com/specs/sync
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from atproto_async.exceptions import IdentityError
from atproto_async.identity.cache import REFRESH_INTERVAL, RefreshGate
from atproto_async.sync.state import MemoryStateStore, RepoState, StateStore
from atproto_async.sync.verify import (
    InvalidEvent,
    SignatureMismatch,
    VerifiedCommit,
    verify_commit,
    verify_sync,
)

if TYPE_CHECKING:
    from atproto_async.crypto import PublicKey
    from atproto_async.identity.resolver import Resolver

__all__ = ["REFRESH_INTERVAL", "SyncVerifier", "Verdict"]

logger = logging.getLogger("atproto_async.sync")


@attrs.frozen(slots=True)
class Verdict:
    """The outcome of checking one event.

    Attributes:
        ok: Hand the event to the consumer.
        reason: Why not, when not ``ok``.
        invalid: The event is forged or malformed (not merely stale or for an inactive account).
        resync: The account's repository must be fetched again (a gap, or it could not be
            checked); its state is marked desynchronized.
        did: The account concerned, when the event names one.
    """

    ok: bool
    reason: str | None = None
    invalid: bool = False
    resync: bool = False
    did: str | None = None


_OK: Final = Verdict(True)


class SyncVerifier:
    """Checks events in stream order against per-account state.

    Args:
        resolver: Finds accounts' signing keys (an `IdentityResolver`, whose cache matters).
        lenient: Accept legacy commits without ``prevData`` (or ops without ``prev``); the
            ops are still proven, only the chain cannot be.
        state: Where per-account state lives (default `MemoryStateStore`).
        on_reject: Called with ``(event, verdict)`` for every event not handed on.
        clock: Unix time, for the rev-in-the-future check (tests).
    """

    def __init__(
        self,
        resolver: Resolver,
        *,
        lenient: bool = False,
        state: StateStore | None = None,
        on_reject: Callable[[Any, Verdict], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.resolver = resolver
        self.lenient = lenient
        self.state: StateStore = state if state is not None else MemoryStateStore()
        self.on_reject = on_reject
        self._clock = clock
        #: Counts: ``accepted``, and one key per reason kind (``stale``, ``inactive``,
        #: ``invalid``, ``gap``, ``unresolved``, ``desynchronized``).
        self.stats: Counter[str] = Counter()
        self._refresh = RefreshGate()
        self._last_seq: int | None = None

    def reset_seq(self) -> None:
        """Forget the last seq seen: call it when the stream moves to another host (each host
        numbers its own events)."""
        self._last_seq = None

    def __repr__(self) -> str:
        return f"SyncVerifier(lenient={self.lenient}, stats={dict(self.stats)})"

    def check_seq(self, event: Any) -> Verdict | None:
        """Record the event's seq; a rejection (counted and reported) when it is not after
        the last one seen on this connection, else None."""
        seq = getattr(event, "seq", None)
        if type(seq) is not int:
            return None
        last = self._last_seq
        if last is not None and seq <= last:
            verdict = self._reject(
                getattr(event, "did", None) or getattr(event, "repo", None),
                "seq",
                f"seq {seq} is not after {last} (replayed or out of order)",
            )
            return self.reject(event, verdict)
        self._last_seq = seq
        return None

    async def check(self, event: Any, *, replay: bool = False) -> Verdict:
        """Check one event (events of one stream, in order). Never raises for bad events.

        Args:
            event: A decoded event.
            replay: The event was held back and is checked late (after a resync): its seq
                was recorded when it arrived, so the seq order is not checked again.
        """
        if not replay:
            refused = self.check_seq(event)
            if refused is not None:
                return refused
        kind = type(event).__name__
        if kind == "Commit":
            verdict = await self._commit(event)
        elif kind == "Sync":
            verdict = await self._sync(event)
        elif kind == "Account":
            self._account(event)
            verdict = _OK
        elif kind == "Identity":
            self.resolver.invalidate(event.did)
            verdict = _OK
        elif kind == "Tombstone":  # legacy: the account is gone
            self._set(event.did, active=False, status="deleted")
            verdict = _OK
        else:
            verdict = _OK
        if verdict.ok:
            self.stats["accepted"] += 1
            return verdict
        return self.reject(event, verdict)

    def reject(self, event: Any, verdict: Verdict) -> Verdict:
        """Report a rejected event to ``on_reject`` (stats are counted where it is decided)."""
        if self.on_reject is not None:
            try:
                self.on_reject(event, verdict)
            except Exception:
                logger.exception("on_reject callback failed")
        return verdict

    # -- events ---------------------------------------------------------------------------

    def _reject(self, did: str | None, why: str, reason: str, **flags: bool) -> Verdict:
        self.stats[why] += 1
        return Verdict(False, reason, did=did, **flags)

    def _set(self, did: str, **changes: Any) -> RepoState:
        old = self.state.get(did) or RepoState()
        new = attrs.evolve(old, **changes)
        self.state.put(did, new)
        return new

    def _advance(self, did: str, state: RepoState | None, verified: VerifiedCommit) -> None:
        """Store the state a verified commit leaves: its rev and root, in sync again.

        Built directly, not with `_set` (attrs.evolve): once per verified commit, 0.5 us
        less (1.05 -> 0.5 us, timeit).
        """
        if state is None:
            new = RepoState(verified.rev, verified.data)
        else:
            new = RepoState(verified.rev, verified.data, state.active, state.status, False)
        self.state.put(did, new)

    def _account(self, event: Any) -> None:
        active = bool(event.active)
        self._set(event.did, active=active, status=None if active else (event.status or "inactive"))

    async def _commit(self, event: Any) -> Verdict:
        did = event.repo
        state = self.state.get(did)
        if state is not None:
            if not state.active:
                return self._reject(did, "inactive", f"the account is {state.status}")
            if state.rev is not None and event.rev <= state.rev:
                return self._reject(did, "stale", f"rev {event.rev} is not newer than {state.rev}")
            if state.desynchronized:
                return self._reject(did, "desynchronized", "the repo awaits a resync", resync=True)
        verified = await self._verified(did, event, verify_commit)
        if isinstance(verified, Verdict):
            return verified
        if (
            state is not None
            and state.data is not None
            and verified.prev_data is not None
            and verified.prev_data != state.data
        ):
            self._set(did, desynchronized=True)
            return self._reject(
                did,
                "gap",
                f"prevData {verified.prev_data} is not the last root seen {state.data}: "
                "events were missed",
                resync=True,
            )
        self._advance(did, state, verified)
        return _OK

    async def _sync(self, event: Any) -> Verdict:
        did = event.did
        state = self.state.get(did)
        if state is not None and state.rev is not None and event.rev <= state.rev:
            return self._reject(did, "stale", f"rev {event.rev} is not newer than {state.rev}")
        verified = await self._verified(did, event, verify_sync)
        if isinstance(verified, Verdict):
            return verified
        self._advance(did, state, verified)
        return _OK

    # -- verification with key rotation ---------------------------------------------------

    async def _key(self, did: str, refresh: bool) -> PublicKey | Verdict:
        if refresh:
            self.resolver.invalidate(did)
        try:
            doc = await self.resolver.resolve_did(did)
        except IdentityError as exc:
            self._set(did, desynchronized=True)
            return self._reject(
                did, "unresolved", f"the account's key is unavailable: {exc.reason}", resync=True
            )
        key = doc.signing_public_key
        if key is None:
            return self._reject(
                did, "invalid", "the DID document has no #atproto key", invalid=True
            )
        return key

    async def _verified(
        self, did: str, event: Any, verify: Callable[..., VerifiedCommit]
    ) -> VerifiedCommit | Verdict:
        key = await self._key(did, refresh=False)
        if isinstance(key, Verdict):
            return key
        now = self._clock()
        kwargs: dict[str, Any] = {"now": now}
        if verify is verify_commit:
            kwargs["lenient"] = self.lenient
        try:
            try:
                return verify(event, key, **kwargs)
            except SignatureMismatch:
                if not self._refresh.allow(did):
                    raise
                fresh = await self._key(did, refresh=True)
                if isinstance(fresh, Verdict):
                    return fresh
                if fresh == key:
                    raise
                return verify(event, fresh, **kwargs)
        except InvalidEvent as exc:
            return self._reject(did, "invalid", exc.reason, invalid=True)
