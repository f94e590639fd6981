"""Which ``unknown`` lexicon fields hold a whole record: the generator types those as records.

The lexicons write a record embedded in other data (``com.atproto.repo.getRecord#output.value``,
``app.bsky.feed.defs#postView.record``, ...) as ``type: unknown``, which on its own says nothing:
the same type holds DID documents, PLC operations and free-form metadata. Nothing in the
schema tells them apart (most record fields have no description), so the rule is an explicit
list, reviewed by hand: a field is listed when the method or view carries a repository record
there, ``$type`` included, as the lexicon's own documentation and the reference implementation
say. A listed field is decoded with ``RECORDS.from_dict`` (the record's generated model, or
`UnknownRecord` for a type this version does not know, as the firehose gives records) and written
back with ``to_dict``, unchanged.

`NOT_RECORDS` lists the ``unknown`` fields whose name looks like a record's but that hold
something else; ``tests/codegen`` fails when a lexicon update brings an ``unknown`` field named
``record`` / ``value`` / ``...Records`` that is in neither list, so that someone decides.
Entries are ``(definition, property)``: the definition as ``nsid#name`` (``nsid`` for ``main``;
``nsid#input`` / ``nsid#output`` for a method's body). For an array the items are records.
"""

from __future__ import annotations

from typing import Final

#: ``unknown`` fields (or arrays of ``unknown``) that hold records.
RECORD_FIELDS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        # Repository reads and writes: the record itself.
        ("com.atproto.repo.getRecord#output", "value"),
        ("com.atproto.repo.listRecords#record", "value"),
        ("com.atproto.repo.createRecord#input", "record"),
        ("com.atproto.repo.putRecord#input", "record"),
        ("com.atproto.repo.applyWrites#create", "value"),
        ("com.atproto.repo.applyWrites#update", "value"),
        # App views: the record a view was built from.
        ("app.bsky.actor.defs#statusView", "record"),
        ("app.bsky.embed.record#viewRecord", "value"),
        ("app.bsky.embed.getEmbedExternalView#output", "associatedRecords"),
        ("app.bsky.feed.defs#postView", "record"),
        ("app.bsky.feed.defs#threadgateView", "record"),
        ("app.bsky.graph.defs#starterPackView", "record"),
        ("app.bsky.graph.defs#starterPackViewBasic", "record"),
        ("app.bsky.notification.listNotifications#notification", "record"),
        # Moderation views: the reviewed record, and an account's records (its profile).
        ("com.atproto.admin.defs#accountView", "relatedRecords"),
        ("tools.ozone.moderation.defs#recordView", "value"),
        ("tools.ozone.moderation.defs#recordViewDetail", "value"),
        ("tools.ozone.moderation.defs#repoView", "relatedRecords"),
        ("tools.ozone.moderation.defs#repoViewDetail", "relatedRecords"),
    }
)

#: ``unknown`` fields named like a record's that are not records.
NOT_RECORDS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        # A moderation setting's value: any JSON value (often a string or a number).
        ("tools.ozone.setting.defs#option", "value"),
        ("tools.ozone.setting.upsertOption#input", "value"),
    }
)


def looks_like_record(json_name: str) -> bool:
    """Whether an ``unknown`` field's name suggests a record (it must then be in a list)."""
    return json_name in ("record", "value") or json_name.endswith("Records")
