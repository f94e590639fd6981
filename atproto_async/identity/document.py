"""DID documents as atproto reads them: handle, PDS, signing key, labeler, services.

Sans-I/O: `DidDocument.from_dict` takes the parsed JSON of a document and checks the parts
atproto relies on, raising `IdentityError` with the reason for a malformed one. The signing
key reads the same whichever form the document uses (``Multikey``, or the legacy
``EcdsaSecp256k1VerificationKey2019`` / ``EcdsaSecp256r1VerificationKey2019`` with a raw,
possibly uncompressed point): it comes out as one compressed ``did:key``.

Spec: https://atproto.com/specs/did#did-documents
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from atproto_async.crypto import PublicKey, parse_legacy_multibase, parse_multikey
from atproto_async.exceptions import IdentityError, InvalidKeyError
from atproto_async.syntax import is_valid_did, is_valid_handle

__all__ = ["MAX_DID_LENGTH", "DidDocument"]

#: The longest DID accepted (https://atproto.com/specs/did: "2 KB").
MAX_DID_LENGTH: Final = 2048

#: Verification method type -> how its ``publicKeyMultibase`` is read.
_LEGACY_KEY_TYPES: Final = {
    "EcdsaSecp256k1VerificationKey2019": "k256",
    "EcdsaSecp256r1VerificationKey2019": "p256",
}


def _list_of_dicts(doc: Mapping[str, Any], name: str, did: str) -> list[Mapping[str, Any]]:
    value = doc.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise IdentityError(did, f"malformed DID document: {name} is not a list of objects")
    return value


def _fragment_of(entry_id: object, did: str) -> str | None:
    """The fragment of ``#name`` or ``<did>#name`` (an id naming another DID counts for none)."""
    if not isinstance(entry_id, str):
        return None
    owner, sep, fragment = entry_id.partition("#")
    if not sep or (owner and owner != did):
        return None
    return fragment


def _read_key(method: Mapping[str, Any], did: str, fragment: str) -> PublicKey:
    kind = method.get("type")
    value = method.get("publicKeyMultibase")
    if not isinstance(value, str):
        raise IdentityError(did, f"#{fragment} key has no publicKeyMultibase string")
    try:
        if kind == "Multikey":
            return parse_multikey(value)
        curve = _LEGACY_KEY_TYPES.get(kind) if isinstance(kind, str) else None
        if curve is None:
            raise IdentityError(did, f"#{fragment} key has an unsupported type {kind!r:.60}")
        return parse_legacy_multibase(value, curve)
    except InvalidKeyError as exc:
        raise IdentityError(did, f"#{fragment} key cannot be read: {exc}") from None


def _http_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else None."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return value


class DidDocument:
    """The parts of a DID document atproto uses, checked on construction.

    Attributes:
        did: The document's ``id``.
        also_known_as: Every ``alsoKnownAs`` entry, in order.
        handle: The handle claimed by the first ``at://`` entry of ``alsoKnownAs``, lower
            case; None when there is none or it is not a valid handle. A claim only: the
            handle is the account's once it resolves back to ``did`` (see
            `IdentityResolver.resolve`).
        pds: The ``#atproto_pds`` service endpoint (the account's PDS), or None.
        signing_key: The ``#atproto`` key as a compressed ``did:key``, or None.
        signing_public_key: The same key, parsed (for verifying many signatures).
        labeler_key: The ``#atproto_label`` key as a compressed ``did:key``, or None.
        labeler: The ``#atproto_labeler`` service endpoint, or None.
        raw: The document as given (read-only).
    """

    __slots__ = (
        "also_known_as",
        "did",
        "handle",
        "labeler",
        "labeler_key",
        "pds",
        "raw",
        "signing_key",
        "signing_public_key",
    )

    def __init__(self, raw: Mapping[str, Any]) -> None:
        did = raw.get("id")
        if not isinstance(did, str) or len(did) > MAX_DID_LENGTH or not is_valid_did(did):
            raise IdentityError(
                did if isinstance(did, str) else "<document>",
                "malformed DID document: id is not a DID",
            )
        self.did = did
        self.raw: Mapping[str, Any] = MappingProxyType(dict(raw))
        aka = raw.get("alsoKnownAs")
        if aka is None:
            aka = []
        if not isinstance(aka, list) or not all(isinstance(item, str) for item in aka):
            raise IdentityError(did, "malformed DID document: alsoKnownAs is not a list of strings")
        self.also_known_as: tuple[str, ...] = tuple(aka)
        self.handle = self._claimed_handle()

        keys: dict[str, Mapping[str, Any]] = {}
        for method in _list_of_dicts(raw, "verificationMethod", did):
            fragment = _fragment_of(method.get("id"), did)
            if fragment is not None:
                keys.setdefault(fragment, method)  # the first entry of an id counts
        signing = keys.get("atproto")
        self.signing_public_key = None if signing is None else _read_key(signing, did, "atproto")
        self.signing_key = (
            None if self.signing_public_key is None else self.signing_public_key.did_key()
        )
        label = keys.get("atproto_label")
        self.labeler_key = (
            None if label is None else _read_key(label, did, "atproto_label").did_key()
        )

        services: dict[str, Mapping[str, Any]] = {}
        for entry in _list_of_dicts(raw, "service", did):
            fragment = _fragment_of(entry.get("id"), did)
            if fragment is not None:
                services.setdefault(fragment, entry)
        self.pds = self._endpoint(services, "atproto_pds", "AtprotoPersonalDataServer")
        self.labeler = self._endpoint(services, "atproto_labeler", "AtprotoLabeler")

    @classmethod
    def from_dict(cls, doc: object) -> DidDocument:
        """Read a DID document (the JSON object, parsed).

        Args:
            doc: The document.

        Returns:
            The document, its atproto parts checked.

        Raises:
            IdentityError: ``doc`` is not an object, its ``id`` is not a DID, a list field is
                malformed, the ``#atproto`` or ``#atproto_label`` key cannot be read, or the
                ``#atproto_pds`` / ``#atproto_labeler`` endpoint is not an http(s) URL.
        """
        if not isinstance(doc, Mapping):
            raise IdentityError("<document>", "a DID document must be a JSON object")
        return cls(doc)

    def _claimed_handle(self) -> str | None:
        for entry in self.also_known_as:
            if entry.startswith("at://"):
                handle = entry[5:]
                return handle.lower() if is_valid_handle(handle) else None
        return None

    def _endpoint(
        self, services: Mapping[str, Mapping[str, Any]], fragment: str, kind: str
    ) -> str | None:
        entry = services.get(fragment)
        if entry is None or entry.get("type") != kind:
            return None
        endpoint = _http_url(entry.get("serviceEndpoint"))
        if endpoint is None:
            raise IdentityError(self.did, f"#{fragment} service endpoint is not an http(s) URL")
        return endpoint

    def service(self, fragment: str) -> str | None:
        """The endpoint URL of a service entry, by its fragment.

        Args:
            fragment: ``"bsky_fg"`` or ``"#bsky_fg"``.

        Returns:
            The ``serviceEndpoint`` if the entry exists and is an http(s) URL, else None.
        """
        fragment = fragment.removeprefix("#")
        for entry in _list_of_dicts(self.raw, "service", self.did):
            if _fragment_of(entry.get("id"), self.did) == fragment:
                return _http_url(entry.get("serviceEndpoint"))
        return None

    def to_dict(self) -> dict[str, Any]:
        """The document as it was given."""
        return dict(self.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DidDocument):
            return NotImplemented
        return self.raw == other.raw

    def __hash__(self) -> int:
        return hash(self.did)

    def __repr__(self) -> str:
        return f"DidDocument({self.did!r}, handle={self.handle!r}, pds={self.pds!r})"
