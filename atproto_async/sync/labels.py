"""Label signatures: each label proven against its labeler's ``#atproto_label`` key.

A label's ``sig`` is the labeler's signature over the DAG-CBOR of the label without ``sig``;
the key is the ``#atproto_label`` verification method of the DID document of the label's
``src``. `verify_label` checks one with a given key; `LabelVerifier` finds the keys (through
the identity resolver, re-resolving once on a bad signature, for key rotation) and filters the
``#labels`` events of ``subscribe_labels(..., verify=True)``.
Spec: https://atproto.com/specs/label#signing
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from atproto_async.crypto import Keypair, PublicKey, parse_did_key
from atproto_async.exceptions import DecodeError, IdentityError, InvalidKeyError
from atproto_async.identity.cache import RefreshGate
from atproto_async.ipld import encode_dag_cbor

if TYPE_CHECKING:
    from atproto_async.identity.resolver import Resolver

__all__ = [
    "LabelVerifier",
    "VerifiedLabels",
    "sign_label",
    "unsigned_label_bytes",
    "verify_label",
]

logger = logging.getLogger("atproto_async.sync")


def _as_dict(label: Any) -> dict[str, Any]:
    if isinstance(label, Mapping):
        return dict(label)
    to_dict = getattr(label, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"a label is a mapping or a Label model, not {type(label).__name__}")
    data: dict[str, Any] = to_dict()
    return data


def unsigned_label_bytes(label: Any) -> bytes:
    """The bytes a label's signature covers: its DAG-CBOR without ``sig`` (and ``$type``)."""
    data = _as_dict(label)
    data.pop("sig", None)
    data.pop("$type", None)
    return encode_dag_cbor(data)


def sign_label(label: Mapping[str, Any], keypair: Keypair) -> dict[str, Any]:
    """Return ``label`` with ``sig`` set by ``keypair`` (a labeler's ``#atproto_label`` key)."""
    signed = dict(label)
    signed["sig"] = keypair.sign(unsigned_label_bytes(label))
    return signed


def verify_label(label: Any, key: PublicKey) -> bool:
    """Whether ``label``'s ``sig`` is ``key``'s signature of it (low-S only). Never raises
    for a malformed label: it is simply not verified."""
    try:
        data = _as_dict(label)
        sig = data.get("sig")
        if not isinstance(sig, bytes | bytearray):
            return False
        return key.verify(unsigned_label_bytes(data), bytes(sig))
    except (TypeError, DecodeError, ValueError):
        return False


class LabelVerifier:
    """Checks labels against their labelers' keys, with the resolver's cache.

    Args:
        resolver: Reads labelers' DID documents.
        on_reject: Called with ``(label, reason)`` for every label refused.
    """

    def __init__(
        self, resolver: Resolver, *, on_reject: Callable[[Any, str], None] | None = None
    ) -> None:
        self.resolver = resolver
        self.on_reject = on_reject
        #: ``accepted``, ``invalid`` (bad or missing signature), ``unresolved`` (no key).
        self.stats: Counter[str] = Counter()
        self._refresh = RefreshGate()

    async def _key(self, did: str, refresh: bool) -> PublicKey | str:
        if refresh:
            self.resolver.invalidate(did)
        try:
            doc = await self.resolver.resolve_did(did)
        except IdentityError as exc:
            return f"the labeler's DID document cannot be read: {exc.reason}"
        if doc.labeler_key is None:
            return "the labeler's DID document has no #atproto_label key"
        try:
            return parse_did_key(doc.labeler_key)
        except InvalidKeyError as exc:  # pragma: no cover - the document parsed it already
            return f"the labeler's key is unreadable: {exc}"

    async def check(self, label: Any) -> str | None:
        """None when ``label`` is signed by its ``src``'s label key, else the reason."""
        try:
            src = _as_dict(label).get("src")
        except TypeError as exc:
            return self._refuse(label, "invalid", str(exc))
        if not isinstance(src, str):
            return self._refuse(label, "invalid", "the label has no src DID")
        key = await self._key(src, refresh=False)
        if isinstance(key, str):
            return self._refuse(label, "unresolved", key)
        if verify_label(label, key):
            self.stats["accepted"] += 1
            return None
        if self._refresh.allow(src):
            fresh = await self._key(src, refresh=True)
            if isinstance(fresh, PublicKey) and fresh != key and verify_label(label, fresh):
                self.stats["accepted"] += 1
                return None
        reason = "the label signature does not check against its src's key"
        return self._refuse(label, "invalid", reason)

    def _refuse(self, label: Any, kind: str, reason: str) -> str:
        self.stats[kind] += 1
        if self.on_reject is not None:
            try:
                self.on_reject(label, reason)
            except Exception:
                logger.exception("on_reject callback failed")
        return reason

    async def filter(self, event: Any) -> Any:
        """The ``#labels`` event with only its verified labels; None when none is left.
        Other events are returned as they are."""
        labels = getattr(event, "labels", None)
        if type(event).__name__ != "Labels" or labels is None:
            return event
        kept = [label for label in labels if await self.check(label) is None]
        if not kept:
            return None
        return event if len(kept) == len(labels) else attrs.evolve(event, labels=kept)


class VerifiedLabels:
    """``subscribe_labels(..., verify=True)``: the label stream with only verified labels.

    Wraps a `Subscription`; ``#labels`` events keep only the labels whose signature checks
    against their ``src``'s ``#atproto_label`` key (an event left with none is skipped); other
    events pass. Refusals go to ``on_reject(label, reason)`` and are counted in `stats`.

    Args:
        subscription: The label stream.
        resolver: Reads labelers' DID documents (default: an `IdentityResolver`, closed with
            this object).
        on_reject: Called for every refused label.
    """

    def __init__(
        self,
        subscription: Any,
        *,
        resolver: Resolver | None = None,
        on_reject: Callable[[Any, str], None] | None = None,
    ) -> None:
        self.subscription = subscription
        self._owned = resolver is None
        if resolver is None:
            from atproto_async.identity import IdentityResolver

            resolver = IdentityResolver()
        self.verifier = LabelVerifier(resolver, on_reject=on_reject)
        self.stats = self.verifier.stats

    @property
    def cursor(self) -> int | None:
        """The seq of the last event read from the labeler."""
        cursor: int | None = self.subscription.cursor
        return cursor

    def __aiter__(self) -> VerifiedLabels:
        self._inner = self.subscription.__aiter__()
        return self

    async def __anext__(self) -> Any:
        while True:
            event = await self._inner.__anext__()
            kept = await self.verifier.filter(event)
            if kept is not None:
                return kept

    async def __aenter__(self) -> VerifiedLabels:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the stream, and the resolver if this object made it."""
        await self.subscription.aclose()
        if self._owned:
            close = getattr(self.verifier.resolver, "close", None)
            if close is not None:
                await close()
