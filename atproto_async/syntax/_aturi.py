"""AT-URI checks and the `AtUri` type, in the restricted Lexicon form.

Spec: https://atproto.com/specs/at-uri-scheme (``at://AUTHORITY[/COLLECTION[/RKEY]]``).
"""

from __future__ import annotations

import re

from atproto_async.exceptions import InvalidSyntaxError
from atproto_async.syntax._identifiers import (
    MAX_AT_URI_LENGTH,
    _check_str,
    _did_problem,
    _handle_problem,
    _nsid_problem,
    _record_key_problem,
    is_valid_at_identifier,
    is_valid_nsid,
    is_valid_record_key,
)

_AT_URI_RE = re.compile(r"at://([^/?#]+)(?:/([^/?#]+)(?:/([^/?#]+))?)?")


def is_valid_at_uri(s: str) -> bool:
    """Whether ``s`` is an AT-URI in the restricted Lexicon form (no query, no fragment)."""
    if len(s) > MAX_AT_URI_LENGTH:
        return False
    m = _AT_URI_RE.fullmatch(s)
    if m is None:
        return False
    authority, collection, rkey = m.groups()
    return (
        is_valid_at_identifier(authority)
        and (collection is None or is_valid_nsid(collection))
        and (rkey is None or is_valid_record_key(rkey))
    )


class AtUri:
    """An AT-URI in the restricted Lexicon form ``at://AUTHORITY[/COLLECTION[/RKEY]]``.

    Immutable, hashable, equal by value; ``str(uri)`` rebuilds the text, so
    ``str(AtUri.parse(s)) == s``. Query and fragment parts are not supported by Lexicon yet,
    so they are refused. Spec: https://atproto.com/specs/at-uri-scheme

    Attributes:
        authority: The repository's DID or handle.
        collection: The collection NSID, or None.
        rkey: The record key, or None (always None when ``collection`` is).
    """

    __slots__ = ("authority", "collection", "rkey")

    authority: str
    collection: str | None
    rkey: str | None

    def __init__(
        self, authority: str, collection: str | None = None, rkey: str | None = None
    ) -> None:
        """Build an AT-URI from its parts, checking each one.

        Args:
            authority: A DID or a handle.
            collection: An NSID, or None for the whole repository.
            rkey: A record key, or None for the whole collection.

        Raises:
            InvalidSyntaxError: A part is invalid, or ``rkey`` is given without ``collection``.
        """
        text = _join_at_uri(authority, collection, rkey)
        problem = _at_uri_parts_problem(authority, collection, rkey)
        if problem is None and len(text) > MAX_AT_URI_LENGTH:
            problem = f"longer than {MAX_AT_URI_LENGTH} bytes"
        if problem is not None:
            raise InvalidSyntaxError("AT-URI", text, problem)
        object.__setattr__(self, "authority", authority)
        object.__setattr__(self, "collection", collection)
        object.__setattr__(self, "rkey", rkey)

    @classmethod
    def parse(cls, text: str) -> AtUri:
        """Parse an AT-URI string.

        Args:
            text: e.g. ``"at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a"``.

        Returns:
            The parsed `AtUri`.

        Raises:
            InvalidSyntaxError: ``text`` is not a Lexicon AT-URI; ``reason`` says why.
            TypeError: ``text`` is not a str.
        """
        if not is_valid_at_uri(_check_str("AT-URI", text)):
            raise InvalidSyntaxError("AT-URI", text, _at_uri_problem(text))
        m = _AT_URI_RE.fullmatch(text)
        assert m is not None  # checked just above
        uri = cls.__new__(cls)  # the parts are known valid: skip __init__'s checks
        for name, value in zip(cls.__slots__, m.groups(), strict=True):
            object.__setattr__(uri, name, value)
        return uri

    @property
    def did(self) -> str | None:
        """The authority if it is a DID, else None (a handle needs resolving first)."""
        return self.authority if self.authority.startswith("did:") else None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"AtUri is immutable (cannot set {name!r})")

    def __str__(self) -> str:
        return _join_at_uri(self.authority, self.collection, self.rkey)

    def __repr__(self) -> str:
        return f"AtUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AtUri):
            return NotImplemented
        return (self.authority, self.collection, self.rkey) == (
            other.authority,
            other.collection,
            other.rkey,
        )

    def __hash__(self) -> int:
        return hash((self.authority, self.collection, self.rkey))

    def __reduce__(self) -> tuple[type[AtUri], tuple[str, str | None, str | None]]:
        return (AtUri, (self.authority, self.collection, self.rkey))


def _join_at_uri(authority: str, collection: str | None, rkey: str | None) -> str:
    parts = [f"at://{authority}"]
    if collection is not None:
        parts.append(collection)
        if rkey is not None:
            parts.append(rkey)
    elif rkey is not None:
        parts.append(f"?/{rkey}")  # only shown in the error message
    return "/".join(parts)


def _at_uri_parts_problem(authority: str, collection: str | None, rkey: str | None) -> str | None:
    if not is_valid_at_identifier(authority):
        if authority.startswith("did:"):
            return f"authority is not a DID: {_did_problem(authority)}"
        return f"authority is neither a DID nor a handle: {_handle_problem(authority)}"
    if collection is not None and not is_valid_nsid(collection):
        return f"collection is not an NSID: {_nsid_problem(collection)}"
    if rkey is not None and collection is None:
        return "a record key needs a collection"
    if rkey is not None and not is_valid_record_key(rkey):
        return f"invalid record key: {_record_key_problem(rkey)}"
    return None


def _at_uri_problem(text: str) -> str:
    if len(text) > MAX_AT_URI_LENGTH:
        return f"longer than {MAX_AT_URI_LENGTH} bytes"
    if not text.startswith("at://"):
        return "must start with 'at://' (lowercase)"
    m = _AT_URI_RE.fullmatch(text)
    if m is not None:
        return _at_uri_parts_problem(*m.groups()) or ""
    rest = text[5:]
    if "#" in rest or "?" in rest:
        return "query and fragment parts are not supported in Lexicon AT-URIs"
    if "" in rest.split("/"):
        return "has an empty part (missing authority, or a double or trailing '/')"
    return "too many path segments: only /collection/rkey may follow the authority"
