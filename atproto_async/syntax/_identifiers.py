"""DID, handle, at-identifier, NSID, record key, CID and URI checks, and the `NSID` type.

Also `_check_str`, the argument check every ``syntax`` submodule shares. Specs:
https://atproto.com/specs/did, https://atproto.com/specs/handle, https://atproto.com/specs/nsid,
https://atproto.com/specs/record-key, and the ``cid``, ``uri`` and ``at-identifier`` formats of
https://atproto.com/specs/lexicon#string-formats
"""

from __future__ import annotations

import re

from atproto_async.exceptions import InvalidSyntaxError

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
_CID_RE = re.compile(r"[a-zA-Z0-9+=]{8,256}")
# RFC 3986 scheme, then no whitespace; like the reference validator, "scheme:/" is refused.
_URI_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?://)?[^\s/][^\s]*")


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


def is_valid_cid(s: str) -> bool:
    """Whether ``s`` looks like a string CID (syntax only; CIDv0 ``Qm...`` is refused)."""
    return _CID_RE.fullmatch(s) is not None and not s.startswith("Qm")


def is_valid_uri(s: str) -> bool:
    """Whether ``s`` is a URI with a scheme and no whitespace, at most 8 KB (format ``uri``)."""
    if len(s) > MAX_URI_LENGTH or _URI_RE.fullmatch(s) is None:
        return False
    return s.isascii() or len(s.encode("utf-8", "surrogatepass")) <= MAX_URI_LENGTH


# --- why a check failed: the reasons ensure_valid and the parsers raise with ----------------


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
