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

The code lives in private submodules, one per concern: ``_identifiers`` (DID, handle,
at-identifier, NSID and `NSID`, record key, CID, URI, and the shared helpers), ``_aturi``
(`AtUri`), ``_datetime``, ``_language``, ``_tid``, and ``_formats`` (the checks by format
name), which alone imports the others' checks.

Importing this package must stay cheap: it compiles a few regexes and imports only ``re``,
``os``, ``time`` and ``datetime`` (already loaded by `atproto_async.exceptions`).
"""

from __future__ import annotations

from atproto_async.syntax._aturi import AtUri, is_valid_at_uri
from atproto_async.syntax._datetime import is_valid_datetime, parse_datetime
from atproto_async.syntax._formats import ensure_valid, is_valid, normalize_handle
from atproto_async.syntax._identifiers import (
    NSID,
    is_valid_at_identifier,
    is_valid_cid,
    is_valid_did,
    is_valid_handle,
    is_valid_nsid,
    is_valid_record_key,
    is_valid_uri,
)
from atproto_async.syntax._language import LanguageTag, is_valid_language, parse_language
from atproto_async.syntax._tid import (
    is_valid_tid,
    make_tid,
    next_tid,
    tid_clock_id,
    tid_timestamp,
)

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
