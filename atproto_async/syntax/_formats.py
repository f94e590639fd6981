"""The checks by Lexicon format name: `ensure_valid`, `is_valid`, and `normalize_handle`.

It sits on top of the other ``syntax`` submodules, which never import it: the table below
needs all of them. Spec: https://atproto.com/specs/lexicon#string-formats
"""

from __future__ import annotations

from collections.abc import Callable

from atproto_async.exceptions import InvalidSyntaxError
from atproto_async.syntax._aturi import _at_uri_problem, is_valid_at_uri
from atproto_async.syntax._datetime import _datetime_check_problem, is_valid_datetime
from atproto_async.syntax._identifiers import (
    _at_identifier_problem,
    _check_str,
    _cid_problem,
    _did_problem,
    _handle_problem,
    _nsid_problem,
    _record_key_problem,
    _uri_problem,
    is_valid_at_identifier,
    is_valid_cid,
    is_valid_did,
    is_valid_handle,
    is_valid_nsid,
    is_valid_record_key,
    is_valid_uri,
)
from atproto_async.syntax._language import _language_problem, is_valid_language
from atproto_async.syntax._tid import _tid_problem, is_valid_tid


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
