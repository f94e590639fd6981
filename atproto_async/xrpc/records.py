"""Records checked against their lexicons before a write leaves the client.

``createRecord``, ``putRecord`` and ``applyWrites`` (its creates and updates) carry records
that the PDS validates against the lexicon of their collection - but only after the request
was sent, and with a terse error. `check_writes` runs the same checks here, with
`atproto_async.lexicon.Catalog`, so that a broken record is refused before anything is sent,
with the path of the problem (``app.bsky.feed.post: record.embed.images[0].alt: is required``).

It follows the PDS's rules for the request's ``validate`` field
(https://atproto.com/specs/xrpc, ``com.atproto.repo.createRecord``): ``false`` skips the check,
and a collection the catalog does not know (a third-party lexicon) is left to the server. A
record without ``$type`` is checked as the collection's type, which the PDS fills in.

The bundled catalog is read once per process, on the first checked write (some tens of
milliseconds), and shared by every client: a client that never writes never reads it.
Spec: https://atproto.com/specs/lexicon
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from atproto_async.exceptions import LexiconValidationError

if TYPE_CHECKING:
    from atproto_async.lexicon import Catalog

__all__ = ["WRITE_METHODS", "check_writes", "default_catalog"]

CREATE_RECORD: Final = "com.atproto.repo.createRecord"
PUT_RECORD: Final = "com.atproto.repo.putRecord"
APPLY_WRITES: Final = "com.atproto.repo.applyWrites"
#: The procedures whose records are checked before they are sent.
WRITE_METHODS: Final = frozenset({CREATE_RECORD, PUT_RECORD, APPLY_WRITES})
#: The ``applyWrites`` operations that carry a record (in ``value``).
_RECORD_WRITES: Final = frozenset(
    {"com.atproto.repo.applyWrites#create", "com.atproto.repo.applyWrites#update"}
)


def default_catalog() -> Catalog:
    """The bundled lexicons (`Catalog.shared`): read on the first checked write, then shared."""
    from atproto_async.lexicon import Catalog

    return Catalog.shared()


def check_writes(catalog: Catalog, nsid: str, body: Any) -> None:
    """Check the records of a ``createRecord``, ``putRecord`` or ``applyWrites`` body.

    Args:
        catalog: The lexicons to check against.
        nsid: One of `WRITE_METHODS`.
        body: The request body as sent (its JSON form, as ``json.loads`` reads it back).

    Raises:
        LexiconValidationError: A record does not match the lexicon of its collection;
            ``path`` is where in the body (``record.text``, ``writes[1].value.createdAt``).
        LexiconError: The catalog cannot check the record (a reference it lacks).
    """
    if not isinstance(body, Mapping) or body.get("validate") is False:
        return
    if nsid != APPLY_WRITES:
        _check(catalog, body.get("collection"), body.get("rkey"), body.get("record"), "record")
        return
    writes = body.get("writes")
    if not isinstance(writes, list):
        return
    for index, write in enumerate(writes):
        if isinstance(write, Mapping) and write.get("$type") in _RECORD_WRITES:
            where = f"writes[{index}].value"
            _check(catalog, write.get("collection"), write.get("rkey"), write.get("value"), where)


def _check(catalog: Catalog, collection: Any, rkey: Any, record: Any, where: str) -> None:
    """Check one record, when the catalog knows its collection."""
    if type(collection) is not str or collection not in catalog:
        return  # a third-party lexicon (or a malformed call): the server decides
    if isinstance(record, Mapping) and "$type" not in record:
        record = {**record, "$type": collection}  # as the PDS fills it in
    try:
        catalog.validate_record(
            record, collection=collection, rkey=rkey if type(rkey) is str else None
        )
    except LexiconValidationError as exc:
        path = f"{where}.{exc.path}" if exc.path else where
        raise LexiconValidationError(exc.reason, path=path, lex_type=exc.lex_type) from None
