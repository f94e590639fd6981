"""`Catalog`: a set of lexicon documents, and validation of data against their definitions.

Spec: https://atproto.com/specs/lexicon
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from atproto_async._model import Model
from atproto_async.exceptions import LexiconError, LexiconValidationError
from atproto_async.lexicon._compile import Check, Compiler
from atproto_async.lexicon._schema import Document, check_document, member_type, resolve_ref
from atproto_async.lexicon._values import Invalid, describe
from atproto_async.syntax import is_valid_nsid, is_valid_record_key, is_valid_tid

# The catalog of `Catalog.shared`, made on first use.
_SHARED: dict[str, Catalog] = {}
_SHARED_LOCK = threading.Lock()

__all__ = ["Catalog"]

#: Where `Catalog.default` finds the lexicons: ``lexicons/`` at the root of the source tree.
# A wheel carries the lexicons inside the package (pyproject: force-include); a source checkout
# or an editable install reads them from the repository's lexicons/ folder.
_IN_PACKAGE = Path(__file__).resolve().parents[1] / "_lexicons"
BUNDLED = _IN_PACKAGE if _IN_PACKAGE.is_dir() else Path(__file__).resolve().parents[2] / "lexicons"


class Catalog:
    """Lexicon documents by NSID, with their definitions compiled to checks on first use.

    A catalog is immutable: `extend` returns a new one. Checks are compiled once per definition
    and kept by the catalog, so keep the catalog rather than building one per call; it is safe
    to share between threads.

    Data may be given in the data-model form (what ``decode_dag_cbor`` and ``from_json``
    return: `CID`, ``bytes``, blob maps, `Blob` models), in the JSON form (``{"$link": ...}``,
    ``{"$bytes": ...}``, as ``json.loads`` returns it), or as a generated model, which is
    checked through its ``to_dict()``. Integers must be ``int``: a JSON ``123.0`` is a float
    until `atproto_async.ipld.from_json` turns it into the data-model integer.

    Example::

        catalog = Catalog.default()
        catalog.validate_record(record)  # raises LexiconValidationError with .path
    """

    __slots__ = ("_compilers", "_defs", "_documents")

    def __init__(self, documents: Mapping[str, Document]) -> None:
        """Use `default`, `load` or `from_documents`; this takes checked `Document` objects."""
        self._documents = dict(documents)
        self._defs = {
            f"{doc.nsid}#{name}": (doc.nsid, schema)
            for doc in self._documents.values()
            for name, schema in doc.defs.items()
        }
        # Compilers for strict (index False) and legacy-blob (True) validation.
        self._compilers = (
            Compiler(self._defs, legacy_blobs=False),
            Compiler(self._defs, legacy_blobs=True),
        )

    # --- building -------------------------------------------------------------------------

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]]) -> Catalog:
        """Build a catalog from parsed lexicon documents (copied, so they may change later).

        Raises:
            LexiconError: A document breaks the Lexicon rules, or two share an ``id``.
        """
        checked: dict[str, Document] = {}
        for raw in documents:
            doc = check_document(copy.deepcopy(dict(raw)) if isinstance(raw, Mapping) else raw)
            if doc.nsid in checked:
                raise LexiconError("two documents have this id", doc.nsid)
            checked[doc.nsid] = doc
        return cls(checked)

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """Read every ``*.json`` file under the folder ``path`` (recursively) as a lexicon.

        Raises:
            LexiconError: A file is not JSON or not a valid lexicon (the message names it),
                or two files have the same ``id``.
            FileNotFoundError: ``path`` is not a folder.
        """
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"no lexicon folder at {root}")
        checked: dict[str, Document] = {}
        for file in sorted(root.rglob("*.json")):
            where = file.relative_to(root).as_posix()
            try:
                doc = check_document(json.loads(file.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:
                if isinstance(exc, LexiconError):
                    raise LexiconError(f"{where}: {exc.reason}", exc.nsid) from None
                raise LexiconError(f"{where}: not a JSON document ({exc})") from None
            if doc.nsid in checked:
                raise LexiconError(f"{where}: another file has this id", doc.nsid)
            checked[doc.nsid] = doc
        return cls(checked)

    @classmethod
    def shared(cls) -> Catalog:
        """The bundled lexicons, read on the first call and then the same object for everyone.

        A catalog is immutable and compiles each definition once, so one per process keeps
        the compiled checks warm; the client's write checks and the stream's opt-in record
        checks both use it.
        """
        catalog = _SHARED.get("default")
        if catalog is None:
            with _SHARED_LOCK:  # two threads' first calls read the folder once
                catalog = _SHARED.get("default")
                if catalog is None:
                    catalog = _SHARED["default"] = cls.default()
        return catalog

    @classmethod
    def default(cls) -> Catalog:
        """The lexicons this version was generated from (``lexicons/``, about 390 documents).

        A wheel ships them inside the package (``atproto_async/_lexicons``); a source checkout
        reads the repository's ``lexicons/``. Each call reads the folder again (some tens of
        milliseconds): keep the catalog.

        Raises:
            LexiconError: The folder is missing.
        """
        if not BUNDLED.is_dir():
            raise LexiconError(
                f"the bundled lexicons are not at {BUNDLED} (a broken install?); "
                "use Catalog.load(path) with a lexicons folder"
            )
        return cls.load(BUNDLED)

    def extend(
        self, other: Catalog | Iterable[Mapping[str, Any]], *, replace: bool = False
    ) -> Catalog:
        """Return a new catalog with the documents of this one and ``other``.

        Args:
            other: Another catalog, or parsed lexicon documents.
            replace: Let ``other`` replace documents with the same ``id`` (a newer version of a
                bundled lexicon); by default that is an error.

        Raises:
            LexiconError: A document is invalid, or an ``id`` is in both and not ``replace``.
        """
        extra = other if isinstance(other, Catalog) else Catalog.from_documents(other)
        clash = sorted(self._documents.keys() & extra._documents.keys())
        if clash and not replace:
            raise LexiconError("already in the catalog (pass replace=True to override)", clash[0])
        return Catalog({**self._documents, **extra._documents})

    # --- looking up -------------------------------------------------------------------------

    def __contains__(self, ref: object) -> bool:
        """Whether the catalog has the document ``nsid``, or the definition ``nsid#name``."""
        if not isinstance(ref, str):
            return False
        return resolve_ref(ref, "") in self._defs if "#" in ref else ref in self._documents

    def __iter__(self) -> Iterator[str]:
        """The NSIDs of the documents, sorted."""
        return iter(sorted(self._documents))

    def __len__(self) -> int:
        return len(self._documents)

    def __repr__(self) -> str:
        return f"<Catalog of {len(self._documents)} lexicons>"

    def get(self, ref: str) -> dict[str, Any] | None:
        """Return a copy of the definition ``ref`` (``nsid``, ``nsid#name``), or None."""
        entry = self._defs.get(resolve_ref(ref, ""))
        return None if entry is None else copy.deepcopy(entry[1])

    def document(self, nsid: str) -> dict[str, Any] | None:
        """Return a copy of the whole lexicon document ``nsid``, or None."""
        doc = self._documents.get(nsid)
        return None if doc is None else copy.deepcopy(doc.raw)

    def missing_refs(self) -> list[str]:
        """The references (``nsid#name``) some definition makes that the catalog lacks."""
        missing: set[str] = set()
        for nsid, schema in self._defs.values():
            for ref in _refs_in(schema):
                target = resolve_ref(ref, nsid)
                if target not in self._defs:
                    missing.add(target)
        return sorted(missing)

    # --- validating -------------------------------------------------------------------------

    def validate_record(
        self,
        data: Any,
        *,
        collection: str | None = None,
        rkey: str | None = None,
        legacy_blobs: bool = False,
    ) -> None:
        """Check a record against the lexicon its ``$type`` names.

        Args:
            data: The record (a map with ``$type``), or a generated record model.
            collection: The collection it is stored in, when known: ``$type`` must match it.
            rkey: Its record key, when known: checked against the lexicon's key type.
            legacy_blobs: Accept the legacy ``{"cid", "mimeType"}`` blob form (records of 2023).

        Raises:
            LexiconValidationError: The record does not match, or the catalog has no record
                lexicon for its ``$type``; ``path`` says where.
            LexiconError: The lexicon itself cannot be used: a reference the data reaches
                that the catalog lacks, or one to a definition of the wrong kind.
        """
        if type(data) is not dict:
            data = _record_data(data, collection)
        record_type = data.get("$type")
        try:
            found = self._compilers[legacy_blobs].records[record_type]
        except (KeyError, TypeError):
            found = self._find_record(record_type, legacy_blobs, collection)
        if collection is not None and record_type != collection:
            raise LexiconValidationError(
                f"{record_type!r} does not match the collection", path="$type", lex_type=collection
            )
        check, key_type = found
        if rkey is not None:
            _check_rkey(rkey, key_type, record_type)
        try:
            check(data)
        except Invalid as exc:
            raise _error(exc, record_type) from None
        except RecursionError:
            raise _too_deep(record_type) from None

    def validate(self, ref: str, data: Any, *, legacy_blobs: bool = False) -> None:
        """Check data against any data definition: an object, a record, a string, an array...

        Args:
            ref: The definition: ``nsid#name``, or ``nsid`` for its main definition.
            data: The value, or a generated model.
            legacy_blobs: Accept legacy blob references.

        Raises:
            LexiconValidationError: ``data`` does not match.
            LexiconError: The catalog has no such definition, or it is a query, procedure,
                subscription or permission set (use `validate_params`, `validate_input`,
                `validate_output` or `validate_message`).
        """
        full = resolve_ref(ref, "")
        check = self._compiler(legacy_blobs).named(full)
        if isinstance(data, Model):
            data = data.to_dict()
        lex_type = member_type(full)
        is_record = self._defs[full][1]["type"] == "record"
        if is_record and type(data) is dict and data.get("$type", lex_type) != lex_type:
            raise LexiconValidationError(f"must be {lex_type!r}", path="$type", lex_type=lex_type)
        _run(check, data, lex_type)

    def validate_params(self, nsid: str, params: Mapping[str, Any]) -> None:
        """Check the parameters of a query, procedure or subscription call.

        Values are typed as a client passes them (``int``, ``bool``, ``str``, lists for
        array parameters), not as query-string text. Parameters the lexicon does not declare
        are ignored.

        Raises:
            LexiconValidationError: A parameter is missing or wrong; ``path`` names it.
            LexiconError: ``nsid`` is not a method of the catalog.
        """
        self._run_part(nsid, "parameters", params, False)

    def validate_input(self, nsid: str, body: Any, *, legacy_blobs: bool = False) -> None:
        """Check the input body of a procedure (None when it declares no input).

        A body declared without a schema (binary uploads) accepts anything.

        Raises:
            LexiconValidationError: The body does not match.
            LexiconError: ``nsid`` is not a procedure of the catalog.
        """
        self._run_part(nsid, "input", body, legacy_blobs)

    def validate_output(self, nsid: str, body: Any, *, legacy_blobs: bool = False) -> None:
        """Check the output body of a query or procedure (None when it declares no output).

        Raises:
            LexiconValidationError: The body does not match.
            LexiconError: ``nsid`` is not a query or procedure of the catalog.
        """
        self._run_part(nsid, "output", body, legacy_blobs)

    def validate_message(
        self,
        nsid: str,
        body: Any,
        *,
        message_type: str | None = None,
        legacy_blobs: bool = False,
    ) -> None:
        """Check a message of a subscription against its message union.

        Args:
            nsid: The subscription, e.g. ``com.atproto.sync.subscribeRepos``.
            body: The message. On the wire its type is in the frame header, not in the body.
            message_type: The type from the frame header (``#commit``, or a full reference);
                without it ``body`` must carry ``$type``.
            legacy_blobs: Accept legacy blob references.

        Raises:
            LexiconValidationError: The message does not match.
            LexiconError: ``nsid`` is not a subscription of the catalog.
        """
        if message_type is not None:
            if isinstance(body, Model):
                body = body.to_dict()
            if type(body) is dict:
                body = {**body, "$type": member_type(resolve_ref(message_type, nsid))}
        self._run_part(nsid, "message", body, legacy_blobs)

    # --- internals -------------------------------------------------------------------------

    def _find_record(
        self, record_type: Any, legacy_blobs: bool, collection: str | None
    ) -> tuple[Check, str]:
        """The check of a record type met for the first time, or the error for a bad one."""
        if type(record_type) is not str or not record_type:
            raise LexiconValidationError(
                "a record needs a string '$type'", path="$type", lex_type=collection or ""
            )
        found = self._compiler(legacy_blobs).record(record_type)
        if found is None:
            reason = "is not a record type" if record_type in self else "has no lexicon here"
            raise LexiconValidationError(
                f"{record_type!r} {reason}", path="$type", lex_type=record_type
            )
        return found

    def _compiler(self, legacy_blobs: bool) -> Compiler:
        return self._compilers[legacy_blobs]

    def _run_part(self, nsid: str, part: str, data: Any, legacy_blobs: bool) -> None:
        full = resolve_ref(nsid, "")
        check = self._compiler(legacy_blobs).method_part(full, part)
        if isinstance(data, Model):
            data = data.to_dict()
        _run(check, data, f"{member_type(full)} {part}")


def _record_data(data: Any, collection: str | None) -> dict[str, Any]:
    """The map of a record given as a model; an error for anything else."""
    if isinstance(data, Model):
        record: dict[str, Any] = data.to_dict()
        return record
    if isinstance(data, dict):
        return data
    raise LexiconValidationError(
        f"a record must be an object, not {describe(data)}", lex_type=collection or ""
    )


def _run(check: Check, data: Any, lex_type: str) -> None:
    try:
        check(data)
    except Invalid as exc:
        raise _error(exc, lex_type) from None
    except RecursionError:
        raise _too_deep(lex_type) from None


def _error(exc: Invalid, lex_type: str) -> LexiconValidationError:
    return LexiconValidationError(exc.reason, path=exc.path(), lex_type=lex_type)


def _too_deep(lex_type: str) -> LexiconValidationError:
    return LexiconValidationError("the data is nested too deeply", lex_type=lex_type)


def _check_rkey(rkey: str, key_type: str, record_type: str) -> None:
    """Check a record key against the record's ``key`` (https://atproto.com/specs/record-key)."""
    if not isinstance(rkey, str) or not is_valid_record_key(rkey):
        problem = "is not a valid record key"
    elif key_type == "tid" and not is_valid_tid(rkey):
        problem = "must be a TID"
    elif key_type == "nsid" and not is_valid_nsid(rkey):
        problem = "must be an NSID"
    elif key_type.startswith("literal:") and rkey != key_type[8:]:
        problem = f"must be {key_type[8:]!r}"
    else:
        return
    raise LexiconValidationError(f"record key {rkey!r} {problem}"[:200], lex_type=record_type)


def _refs_in(schema: Any) -> Iterator[str]:
    """Every reference string a definition makes, at any depth."""
    if isinstance(schema, dict):
        if schema.get("type") == "ref" and isinstance(schema.get("ref"), str):
            yield schema["ref"]
        elif schema.get("type") == "union" and isinstance(schema.get("refs"), list):
            yield from schema["refs"]
        for value in schema.values():
            if isinstance(value, dict | list):
                yield from _refs_in(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs_in(item)
