"""Syntax checks and small value types for the atproto identifiers and string formats.

Every ``is_valid_*`` function takes a ``str`` and answers ``True`` or ``False``; it never raises
for a string (a non-string raises ``TypeError``). `ensure_valid` (by Lexicon format name),
`NSID.parse`, `AtUri.parse`, `parse_datetime` and `parse_language` raise `InvalidSyntaxError`
whose ``reason`` says what is wrong, for input that deserves an error rather than a boolean.

The rules follow the specs, checked against the interop vectors (``syntax/*.txt``):

- DID https://atproto.com/specs/did, handle https://atproto.com/specs/handle,
  NSID https://atproto.com/specs/nsid, AT-URI https://atproto.com/specs/at-uri-scheme
  (the restricted Lexicon form ``at://AUTHORITY[/COLLECTION[/RKEY]]``),
  record key https://atproto.com/specs/record-key, TID https://atproto.com/specs/tid.
- The Lexicon string formats ``datetime``, ``language``, ``cid``, ``uri`` and
  ``at-identifier``: https://atproto.com/specs/lexicon#string-formats

Where the vectors pin down a choice: an NSID may be 317 characters long in all, with no separate
253-character cap on its authority; a datetime must also be a real instant (no month 13), while
a language tag only needs to be well-formed (`parse_language` adds the "valid" checks).

Importing this module must stay cheap: it compiles a few regexes and imports only ``re``,
``os``, ``time`` and ``datetime`` (already loaded by `atproto_async.exceptions`).
"""

from __future__ import annotations

import os
import re
import time
from _thread import allocate_lock
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from atproto_async.exceptions import InvalidSyntaxError

__all__ = [
    "NSID",
    "AtUri",
    "LanguageTag",
    "ensure_valid",
    "is_valid",
    "is_valid_at_identifier",
    "is_valid_at_uri",
    "is_valid_cid",
    "is_valid_datetime",
    "is_valid_did",
    "is_valid_handle",
    "is_valid_language",
    "is_valid_nsid",
    "is_valid_record_key",
    "is_valid_tid",
    "is_valid_uri",
    "make_tid",
    "next_tid",
    "normalize_handle",
    "parse_datetime",
    "parse_language",
    "tid_clock_id",
    "tid_timestamp",
]

# Length limits from the specs; checked before any regex so hostile input costs O(limit).
MAX_DID_LENGTH = 2048  # "2 KB"
MAX_HANDLE_LENGTH = 253
MAX_NSID_LENGTH = 317  # 253 (authority) + 1 + 63 (name)
MAX_RECORD_KEY_LENGTH = 512
MAX_AT_URI_LENGTH = 8192  # "8 KB"
MAX_URI_LENGTH = 8192
MAX_CID_LENGTH = 256  # the Lexicon spec sets none; real CIDs are far shorter

_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_DID_RE = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
# The last label (TLD) must start with a letter: it rules out IP addresses.
_HANDLE_RE = re.compile(rf"(?:{_LABEL}\.)+[a-zA-Z](?:[a-zA-Z0-9-]{{0,61}}[a-zA-Z0-9])?")
_NSID_RE = re.compile(
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"  # first authority segment (reversed TLD)
    rf"(?:\.{_LABEL})+"  # more authority segments
    r"\.[a-zA-Z][a-zA-Z0-9]{0,62}"  # the name: letters and digits, no leading digit
)
_RECORD_KEY_RE = re.compile(r"[a-zA-Z0-9_~.:-]{1,512}")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_RE = re.compile(r"[2-7a-j][2-7a-z]{12}")  # first char < 16: the top bit stays zero
_AT_URI_RE = re.compile(r"at://([^/?#]+)(?:/([^/?#]+)(?:/([^/?#]+))?)?")
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_CID_RE = re.compile(r"[a-zA-Z0-9+=]{8,256}")
# RFC 3986 scheme, then no whitespace; like the reference validator, "scheme:/" is refused.
_URI_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?://)?[^\s/][^\s]*")
# RFC 5646 "well-formed" tags, with the primary language subtag in lowercase as atproto expects.
_LANGUAGE_RE = re.compile(
    r"""(?:
        (?P<language>[a-z]{2,3})(?P<extlang>(?:-[a-zA-Z]{3}){0,3})
        (?:-(?P<script>[a-zA-Z]{4}))?
        (?:-(?P<region>[a-zA-Z]{2}|[0-9]{3}))?
        (?P<variants>(?:-(?:[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))*)
        (?P<extensions>(?:-[0-9a-wyzA-WYZ](?:-[a-zA-Z0-9]{2,8})+)*)
        (?:-(?P<private>[xX](?:-[a-zA-Z0-9]{1,8})+))?
      | (?P<private_only>[xX](?:-[a-zA-Z0-9]{1,8})+)
    )""",
    re.VERBOSE,
)
# RFC 5646 "irregular" grandfathered tags; the "regular" ones are well-formed langtags anyway.
_IRREGULAR = (
    "en-gb-oed i-ami i-bnn i-default i-enochian i-hak i-klingon i-lux i-mingo i-navajo i-pwn "
    "i-tao i-tay i-tsu sgn-be-fr sgn-be-nl sgn-ch-de"
)
_IRREGULAR_LANGUAGE_TAGS = frozenset(_IRREGULAR.split())


def is_valid_did(s: str) -> bool:
    """Whether ``s`` is a DID per the atproto DID syntax (any method, not resolved)."""
    return len(s) <= MAX_DID_LENGTH and _DID_RE.fullmatch(s) is not None


def is_valid_handle(s: str) -> bool:
    """Whether ``s`` is a syntactically valid handle (a hostname with a non-numeric TLD)."""
    return len(s) <= MAX_HANDLE_LENGTH and _HANDLE_RE.fullmatch(s) is not None


def is_valid_at_identifier(s: str) -> bool:
    """Whether ``s`` is a DID or a handle (Lexicon format ``at-identifier``)."""
    return is_valid_did(s) or is_valid_handle(s)


def is_valid_nsid(s: str) -> bool:
    """Whether ``s`` is a Namespaced Identifier such as ``app.bsky.feed.post``."""
    return len(s) <= MAX_NSID_LENGTH and _NSID_RE.fullmatch(s) is not None


def is_valid_record_key(s: str) -> bool:
    """Whether ``s`` is a record key (1-512 of ``A-Za-z0-9_~.:-``, but not ``.`` or ``..``)."""
    return _RECORD_KEY_RE.fullmatch(s) is not None and s != "." and s != ".."


def is_valid_tid(s: str) -> bool:
    """Whether ``s`` is a TID: 13 base32-sortable characters with the top bit clear."""
    return _TID_RE.fullmatch(s) is not None


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


def is_valid_datetime(s: str) -> bool:
    """Whether ``s`` is a Lexicon datetime: RFC 3339 and ISO 8601 at once, and a real instant.

    Out-of-range fields (month 13, hour 25, ...) are refused here too, since a Lexicon
    validator must refuse them; `parse_datetime` names the problem.
    """
    m = _DATETIME_RE.fullmatch(s)
    return m is not None and _datetime_problem(m) is None


def is_valid_language(s: str) -> bool:
    """Whether ``s`` is a well-formed BCP-47 language tag (Lexicon format ``language``).

    Per the Lexicon spec this is the "well-formed" check; `parse_language` also applies the
    RFC 5646 "valid" rule that no variant or extension singleton repeats.
    """
    if _LANGUAGE_RE.fullmatch(s) is not None:
        return True
    return s[:1].islower() and s.lower() in _IRREGULAR_LANGUAGE_TAGS


def is_valid_cid(s: str) -> bool:
    """Whether ``s`` looks like a string CID (syntax only; CIDv0 ``Qm...`` is refused)."""
    return _CID_RE.fullmatch(s) is not None and not s.startswith("Qm")


def is_valid_uri(s: str) -> bool:
    """Whether ``s`` is a URI with a scheme and no whitespace, at most 8 KB (format ``uri``)."""
    if len(s) > MAX_URI_LENGTH or _URI_RE.fullmatch(s) is None:
        return False
    return s.isascii() or len(s.encode("utf-8", "surrogatepass")) <= MAX_URI_LENGTH


# --- the same checks by Lexicon format name, raising with the reason ------------------------


def _check_str(kind: str, s: object) -> str:
    if not isinstance(s, str):
        raise TypeError(f"{kind} must be a str, not {type(s).__name__}")
    return s


def _bad_char(s: str, allowed: str) -> str | None:
    for ch in s:
        if not (ch.isascii() and (ch.isalnum() or ch in allowed)):
            return ch
    return None


def _did_problem(s: str) -> str:
    if len(s) > MAX_DID_LENGTH:
        return f"longer than {MAX_DID_LENGTH} characters"
    if not s.startswith("did:"):
        return "must start with 'did:' (lowercase)"
    parts = s.split(":", 2)
    if len(parts) < 3 or not parts[2]:
        return "must have a method and an identifier: did:<method>:<identifier>"
    if not (parts[1].isascii() and parts[1].isalpha() and parts[1].islower()):
        return f"method {parts[1]!r} must be lowercase ASCII letters"
    bad = _bad_char(parts[2], "._:%-")
    if bad is not None:
        return f"identifier contains {bad!r}; allowed are ASCII letters, digits and . _ : % -"
    return "must not end with ':' or '%'"


def _label_problem(label: str, what: str) -> str | None:
    if not label:
        return "has an empty label (a leading, trailing or double dot)"
    if len(label) > 63:
        return f"{what} {label[:20]!r}... is longer than 63 characters"
    bad = _bad_char(label, "-")
    if bad is not None:
        return f"contains {bad!r}; allowed are ASCII letters, digits, '-' and '.'"
    if label[0] == "-" or label[-1] == "-":
        return f"{what} {label!r} starts or ends with '-'"
    return None


def _handle_problem(s: str) -> str:
    if len(s) > MAX_HANDLE_LENGTH:
        return f"longer than {MAX_HANDLE_LENGTH} characters"
    labels = s.split(".")
    if len(labels) < 2:
        return "needs at least two labels, like 'name.example.com'"
    for label in labels:
        problem = _label_problem(label, "label")
        if problem is not None:
            return problem
    return f"the top-level domain {labels[-1]!r} must start with a letter"


def _at_identifier_problem(s: str) -> str:
    problem = _did_problem(s) if s.startswith("did:") else _handle_problem(s)
    return f"neither a DID nor a handle: {problem}"


def _nsid_problem(s: str) -> str:
    if len(s) > MAX_NSID_LENGTH:
        return f"longer than {MAX_NSID_LENGTH} characters"
    segments = s.split(".")
    if len(segments) < 3:
        return "needs at least three segments: a reversed domain and a name"
    *authority, name = segments
    for segment in authority:
        problem = _label_problem(segment, "segment")
        if problem is not None:
            return problem
    if authority[0][0].isdigit():
        return f"the first segment {authority[0]!r} must not start with a digit"
    if not name:
        return "the name (last segment) is empty"
    if len(name) > 63:
        return "the name (last segment) is longer than 63 characters"
    if not (name.isascii() and name.isalnum()):
        return f"the name {name!r} may only contain ASCII letters and digits"
    return f"the name {name!r} must start with a letter"


def _record_key_problem(s: str) -> str:
    if not s:
        return "is empty"
    if len(s) > MAX_RECORD_KEY_LENGTH:
        return f"longer than {MAX_RECORD_KEY_LENGTH} characters"
    if s in (".", ".."):
        return "'.' and '..' are not allowed"
    bad = _bad_char(s, "_~.:-")
    return f"contains {bad!r}; allowed are ASCII letters, digits and _ ~ . : -"


def _tid_problem(s: str) -> str:
    if len(s) != 13:
        return f"must be 13 characters, not {len(s)}"
    bad = next((ch for ch in s if ch not in _TID_ALPHABET), None)
    if bad is not None:
        return f"contains {bad!r}; allowed are {_TID_ALPHABET!r} (lowercase)"
    return f"first character {s[0]!r} overflows 64 bits; it must be one of 234567a-j"


def _language_problem(s: str) -> str:
    return (
        "not a well-formed BCP-47 tag: expected a lowercase 2-3 letter language, "
        "then optional -Script, -REGION, -variant, -extension and -x-private subtags"
    )


def _cid_problem(s: str) -> str:
    if s.startswith("Qm"):
        return "CIDv0 ('Qm...') is not allowed; use a CIDv1 string"
    return "must be 8-256 characters of ASCII letters, digits, '+' and '='"


def _uri_problem(s: str) -> str:
    if len(s) > MAX_URI_LENGTH or len(s.encode("utf-8", "surrogatepass")) > MAX_URI_LENGTH:
        return f"longer than {MAX_URI_LENGTH} bytes"
    if any(ch.isspace() for ch in s):
        return "contains whitespace"
    return "must be 'scheme:rest' with a scheme of letters, digits, '+', '-' or '.'"


def ensure_valid(fmt: str, s: str) -> str:
    """Check ``s`` against a Lexicon string format, raising with the reason when it fails.

    Args:
        fmt: The Lexicon format name: ``did``, ``handle``, ``at-identifier``, ``nsid``,
            ``at-uri``, ``record-key``, ``tid``, ``datetime``, ``language``, ``cid`` or ``uri``.
        s: The string to check.

    Returns:
        ``s`` unchanged.

    Raises:
        InvalidSyntaxError: ``s`` does not follow the format; ``reason`` says what is wrong.
        TypeError: ``s`` is not a str.
        ValueError: ``fmt`` is not a known format.
    """
    entry = _FORMATS.get(fmt)
    if entry is None:
        raise ValueError(f"unknown Lexicon string format {fmt!r}")
    kind, check, problem = entry
    if check(_check_str(kind, s)):
        return s
    raise InvalidSyntaxError(kind, s, problem(s))


def is_valid(fmt: str, s: str) -> bool:
    """Whether ``s`` follows a Lexicon string format: the `ensure_valid` check as a boolean.

    Args:
        fmt: The Lexicon format name, as for `ensure_valid`.
        s: The string to check.

    Returns:
        True if ``s`` follows the format.

    Raises:
        TypeError: ``s`` is not a str.
        ValueError: ``fmt`` is not a known format.
    """
    entry = _FORMATS.get(fmt)
    if entry is None:
        raise ValueError(f"unknown Lexicon string format {fmt!r}")
    return entry[1](s)


def normalize_handle(s: str) -> str:
    """Return a valid handle in its normal (lowercase) form; handles compare case-insensitively.

    Args:
        s: The handle, in any case.

    Returns:
        The handle in lowercase.

    Raises:
        InvalidSyntaxError: ``s`` is not a handle.
        TypeError: ``s`` is not a str.
    """
    return ensure_valid("handle", s).lower()


# --- value types ----------------------------------------------------------------------------


class NSID:
    """A parsed NSID: ``NSID.parse("app.bsky.feed.post")``.

    Immutable, hashable, equal by its string; ``str(nsid)`` gives the original text back.
    Spec: https://atproto.com/specs/nsid

    Attributes:
        segments: All period-separated segments, in order.
        authority: The domain authority in normal (not reversed) order: ``"feed.bsky.app"``.
        name: The last segment: ``"post"``.
    """

    __slots__ = ("_text", "authority", "name", "segments")

    segments: tuple[str, ...]
    authority: str
    name: str
    _text: str

    def __init__(self, text: str) -> None:
        if not is_valid_nsid(_check_str("NSID", text)):
            raise InvalidSyntaxError("NSID", text, _nsid_problem(text))
        segments = tuple(text.split("."))
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "authority", ".".join(reversed(segments[:-1])))
        object.__setattr__(self, "name", segments[-1])

    @classmethod
    def parse(cls, text: str) -> NSID:
        """Parse an NSID.

        Args:
            text: The NSID, e.g. ``"com.atproto.repo.createRecord"``.

        Returns:
            The parsed `NSID`.

        Raises:
            InvalidSyntaxError: ``text`` is not an NSID; ``reason`` says why.
            TypeError: ``text`` is not a str.
        """
        return cls(text)

    @classmethod
    def from_parts(cls, authority: str, name: str) -> NSID:
        """Build an NSID from a domain authority in normal order and a name.

        Args:
            authority: The domain, e.g. ``"feed.bsky.app"``.
            name: The name, e.g. ``"post"``.

        Returns:
            The `NSID` (here ``app.bsky.feed.post``).

        Raises:
            InvalidSyntaxError: The parts do not make a valid NSID.
        """
        return cls(".".join([*reversed(authority.split(".")), name]))

    def normalized(self) -> NSID:
        """Return the normal form: the authority in lowercase, the name unchanged."""
        return NSID(".".join([*(s.lower() for s in self.segments[:-1]), self.name]))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"NSID is immutable (cannot set {name!r})")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"NSID({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NSID) and other._text == self._text

    def __hash__(self) -> int:
        return hash(("NSID", self._text))

    def __reduce__(self) -> tuple[type[NSID], tuple[str]]:
        return (NSID, (self._text,))


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


# --- datetime -------------------------------------------------------------------------------

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _datetime_problem(m: re.Match[str]) -> str | None:
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    tz = m.group(8)
    if not 1 <= month <= 12:
        return f"month {month:02d} is out of range"
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= days:
        return f"day {day:02d} is out of range for {year:04d}-{month:02d}"
    if hour > 23 or minute > 59 or second > 59:
        return f"time {hour:02d}:{minute:02d}:{second:02d} is out of range"
    offset = 0
    if tz != "Z":
        if tz == "-00:00":
            return "offset -00:00 is not allowed (RFC 3339 'unknown offset'); use Z"
        tz_hours, tz_minutes = int(tz[1:3]), int(tz[4:6])
        if tz_hours > 23 or tz_minutes > 59:
            return f"offset {tz} is out of range"
        offset = (tz_hours * 60 + tz_minutes) * (1 if tz[0] == "+" else -1)
    if (year, month, day) == (0, 1, 1) and hour * 60 + minute - offset < 0:
        return "normalizes to a time before year 0000"
    return None


def parse_datetime(s: str) -> datetime:
    """Parse a Lexicon datetime into a timezone-aware `datetime`.

    The offset is kept (``Z`` gives UTC); digits past microseconds are dropped.
    Spec: https://atproto.com/specs/lexicon#datetime

    Args:
        s: e.g. ``"1985-04-12T23:20:50.123Z"``.

    Returns:
        The aware datetime.

    Raises:
        InvalidSyntaxError: ``s`` is not a valid datetime, or lies outside what `datetime`
            can hold (year 0000 is valid atproto but not a Python year).
        TypeError: ``s`` is not a str.
    """
    m = _DATETIME_RE.fullmatch(_check_str("datetime", s))
    if m is None:
        raise InvalidSyntaxError("datetime", s, _datetime_shape_problem(s))
    problem = _datetime_problem(m)
    if problem is not None:
        raise InvalidSyntaxError("datetime", s, problem)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year == 0:
        raise InvalidSyntaxError("datetime", s, "year 0000 is outside Python's datetime range")
    micro = int((m.group(7) or "").ljust(6, "0")[:6])
    tz = m.group(8)
    if tz == "Z":
        tzinfo = UTC
    else:
        delta = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        tzinfo = timezone(delta if tz[0] == "+" else -delta)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tzinfo)


def _datetime_shape_problem(s: str) -> str:
    if s != s.strip():
        return "has leading or trailing whitespace"
    if s.endswith("z") or "t" in s[8:12]:
        return "'T' and 'Z' must be uppercase"
    if s.endswith("-00:00"):
        return "offset -00:00 is not allowed (RFC 3339 'unknown offset'); use Z"
    if not (s.endswith("Z") or s[-6:-5] in ("+", "-")):
        return "needs a timezone: 'Z' or '+HH:MM' / '-HH:MM'"
    return "must look like 1985-04-12T23:20:50.123Z (4-digit year, 2-digit fields, seconds)"


# --- language -------------------------------------------------------------------------------


class LanguageTag:
    """A BCP-47 tag split into its RFC 5646 parts, from `parse_language`.

    Attributes:
        tag: The tag as given.
        language: Primary language subtag with any extlangs (``"zh-yue"``); the whole tag for
            irregular grandfathered tags; ``""`` for a private-use-only tag.
        script: e.g. ``"Latn"``, or None.
        region: e.g. ``"BR"`` or ``"419"``, or None.
        variants: Variant subtags in order.
        extensions: Singleton (lowercase) -> its subtags.
        private_use: Subtags after ``x-``.
    """

    __slots__ = ("extensions", "language", "private_use", "region", "script", "tag", "variants")

    def __init__(
        self,
        tag: str,
        language: str,
        script: str | None = None,
        region: str | None = None,
        variants: tuple[str, ...] = (),
        extensions: dict[str, tuple[str, ...]] | None = None,
        private_use: tuple[str, ...] = (),
    ) -> None:
        self.tag = tag
        self.language = language
        self.script = script
        self.region = region
        self.variants = variants
        self.extensions = extensions or {}
        self.private_use = private_use

    def __repr__(self) -> str:
        return f"LanguageTag({self.tag!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LanguageTag) and other.tag.lower() == self.tag.lower()

    def __hash__(self) -> int:
        return hash(self.tag.lower())


def parse_language(s: str) -> LanguageTag:
    """Parse a language tag, checking it is well-formed and "valid" per RFC 5646 section 2.2.9.

    Beyond `is_valid_language`, a variant or an extension singleton may not repeat
    (case-insensitively). The registry is not consulted.

    Args:
        s: e.g. ``"hy-Latn-IT-arevela"``.

    Returns:
        The parsed `LanguageTag`.

    Raises:
        InvalidSyntaxError: ``s`` is not well-formed, or repeats a variant or singleton.
        TypeError: ``s`` is not a str.
    """
    ensure_valid("language", s)
    m = _LANGUAGE_RE.fullmatch(s)
    if m is None:  # an irregular grandfathered tag
        return LanguageTag(s, s)
    private = m.group("private") or m.group("private_only")
    private_use = tuple(private.split("-")[1:]) if private else ()
    if m.group("private_only"):
        return LanguageTag(s, "", private_use=private_use)
    variants = tuple(m.group("variants").split("-")[1:])
    seen: set[str] = set()
    for variant in variants:
        if variant.lower() in seen:
            raise InvalidSyntaxError("language tag", s, f"variant {variant!r} is repeated")
        seen.add(variant.lower())
    extensions: dict[str, tuple[str, ...]] = {}
    singleton = ""
    for subtag in m.group("extensions").split("-")[1:]:
        if len(subtag) > 1:  # the regex puts a singleton first
            extensions[singleton] += (subtag,)
        elif subtag.lower() in extensions:
            reason = f"extension singleton {subtag!r} is repeated"
            raise InvalidSyntaxError("language tag", s, reason)
        else:
            singleton = subtag.lower()
            extensions[singleton] = ()
    return LanguageTag(
        s,
        m.group("language") + m.group("extlang"),
        m.group("script"),
        m.group("region"),
        variants,
        extensions,
        private_use,
    )


# --- TID ------------------------------------------------------------------------------------

_TID_VALUES = {ch: i for i, ch in enumerate(_TID_ALPHABET)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLOCK_ID = int.from_bytes(os.urandom(2), "big") & 0x3FF  # random per process, as specified
_tid_lock = allocate_lock()
_last_tid_us = 0


def make_tid(timestamp_us: int, clock_id: int) -> str:
    """Encode a TID from its two fields.

    Spec: https://atproto.com/specs/tid (64-bit integer: top bit 0, 53 bits of microseconds
    since the UNIX epoch, 10 bits of clock id; base32-sortable, 13 characters).

    Args:
        timestamp_us: Microseconds since 1970-01-01 UTC, ``0 <= timestamp_us < 2**53``.
        clock_id: ``0 <= clock_id < 1024``.

    Returns:
        The 13-character TID.

    Raises:
        ValueError: A field is out of range.
    """
    if not 0 <= timestamp_us < 1 << 53:
        raise ValueError(f"TID timestamp must be in [0, 2**53) microseconds, not {timestamp_us}")
    if not 0 <= clock_id < 1 << 10:
        raise ValueError(f"TID clock id must be in [0, 1024), not {clock_id}")
    n = timestamp_us << 10 | clock_id
    chars = [_TID_ALPHABET[(n >> shift) & 31] for shift in range(60, -1, -5)]
    return "".join(chars)


def _tid_int(tid: str) -> int:
    ensure_valid("tid", tid)
    n = 0
    for ch in tid:
        n = n << 5 | _TID_VALUES[ch]
    return n


def _clock_us() -> int:
    return time.time_ns() // 1000


def next_tid() -> str:
    """Return a new TID for this process, e.g. as the record key of a new record.

    TIDs from one process strictly increase: when the clock goes back, or two calls land in
    the same microsecond, the timestamp is bumped past the last one handed out. Thread-safe.

    Returns:
        A 13-character TID with this process's random clock id.
    """
    global _last_tid_us
    now = _clock_us()
    with _tid_lock:
        us = now if now > _last_tid_us else _last_tid_us + 1
        _last_tid_us = us
    return make_tid(us, _CLOCK_ID)


def tid_timestamp(tid: str) -> datetime:
    """Return the time a TID encodes, as an aware UTC datetime.

    Args:
        tid: A TID.

    Returns:
        The timestamp (microsecond precision).

    Raises:
        InvalidSyntaxError: ``tid`` is not a TID.
        TypeError: ``tid`` is not a str.
    """
    return _EPOCH + timedelta(microseconds=_tid_int(tid) >> 10)


def tid_clock_id(tid: str) -> int:
    """Return the 10-bit clock id of a TID.

    Args:
        tid: A TID.

    Returns:
        The clock id, ``0 <= id < 1024``.

    Raises:
        InvalidSyntaxError: ``tid`` is not a TID.
        TypeError: ``tid`` is not a str.
    """
    return _tid_int(tid) & 0x3FF


def _datetime_check_problem(s: str) -> str:
    m = _DATETIME_RE.fullmatch(s)
    return _datetime_shape_problem(s) if m is None else (_datetime_problem(m) or "")


# Lexicon format name -> (kind shown in errors, check, reason of a failed check).
_FORMATS: dict[str, tuple[str, Callable[[str], bool], Callable[[str], str]]] = {
    "did": ("DID", is_valid_did, _did_problem),
    "handle": ("handle", is_valid_handle, _handle_problem),
    "at-identifier": ("at-identifier", is_valid_at_identifier, _at_identifier_problem),
    "nsid": ("NSID", is_valid_nsid, _nsid_problem),
    "at-uri": ("AT-URI", is_valid_at_uri, _at_uri_problem),
    "record-key": ("record key", is_valid_record_key, _record_key_problem),
    "tid": ("TID", is_valid_tid, _tid_problem),
    "datetime": ("datetime", is_valid_datetime, _datetime_check_problem),
    "language": ("language tag", is_valid_language, _language_problem),
    "cid": ("CID", is_valid_cid, _cid_problem),
    "uri": ("URI", is_valid_uri, _uri_problem),
}
