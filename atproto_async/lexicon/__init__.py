"""Validation of records, XRPC bodies and parameters, and messages against lexicon documents.

Sans-I/O, like ``ipld``: data in, None or an exception out. A `Catalog` holds lexicon documents
(the bundled ones, a folder, or documents given as JSON) and compiles each definition into
checking closures the first time it is used. Errors say where::

    catalog = Catalog.default()
    catalog.validate_record(post)
    # LexiconValidationError: app.bsky.feed.post: embed.images[0].alt: is required

Everything in https://atproto.com/specs/lexicon is checked: all field types, every string
format (with the ``syntax`` checks), lengths in UTF-8 bytes and in grapheme clusters
(`count_graphemes`), ``const`` / ``enum`` (``knownValues`` stay open), open and closed unions,
references across documents, blobs (``accept``, ``maxSize``), ``nullable`` and ``required``.

Where the spec leaves a choice, this follows the reference validators: fields a lexicon does
not declare are allowed; ``$type`` naming a main definition must be the bare NSID (``#main`` is
refused); a member of an open union that the union does not list must name a type (an NSID,
optionally ``#name``) and is checked against that definition when the catalog has it, else only
against the data-model rules; ``accept`` MIME patterns match case-sensitively; legacy blobs
(``{"cid", "mimeType"}``) pass only with ``legacy_blobs=True``.

The code: ``_schema`` (the rules a lexicon document follows), ``_compile`` (definitions into
checks), ``_values`` (what the checks share), ``_graphemes`` and ``_catalog`` (`Catalog`).
Not imported by ``import atproto_async``: import this package when you need it.
"""

from __future__ import annotations

from atproto_async.exceptions import LexiconError, LexiconValidationError
from atproto_async.lexicon._catalog import Catalog
from atproto_async.lexicon._graphemes import count_graphemes

__all__ = ["Catalog", "LexiconError", "LexiconValidationError", "count_graphemes"]
