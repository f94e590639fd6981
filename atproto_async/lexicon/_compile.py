"""Lexicon definitions compiled into checking closures, once per definition and catalog.

A check is a function of one value that returns None or raises `Invalid`. Everything a schema
says is read when the check is built: which constraints apply, the format function, the field
table of an object, the member table of a union, the target of a reference. Checking data is
then a walk over the data only, with no schema JSON in sight. Paths are not built while all is
well: an `Invalid` collects its path segments on the way out of the nested checks.

Data may be in the data-model form (`CID` objects, ``bytes``, blob maps, as ``decode_dag_cbor``
and ``from_json`` return them, or `Blob` models) or in the JSON form (``{"$link": ...}``,
``{"$bytes": ...}``), even both in one value. Spec: https://atproto.com/specs/lexicon
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from atproto_async._model import Blob
from atproto_async.exceptions import DecodeError, LexiconError
from atproto_async.ipld import CID
from atproto_async.lexicon._graphemes import count_graphemes
from atproto_async.lexicon._schema import STRING_FORMATS, member_type, resolve_ref
from atproto_async.lexicon._values import (
    Invalid,
    check_data_model,
    format_problem,
    json_bytes,
    json_link,
    looks_like_type,
    type_error,
)
from atproto_async.syntax import (
    is_valid_at_identifier,
    is_valid_at_uri,
    is_valid_cid,
    is_valid_datetime,
    is_valid_did,
    is_valid_handle,
    is_valid_language,
    is_valid_nsid,
    is_valid_record_key,
    is_valid_tid,
    is_valid_uri,
)

__all__ = ["Check", "Compiler"]

Check = Callable[[Any], None]

_FORMAT_CHECKS: Final[dict[str, Callable[[str], bool]]] = {
    "at-identifier": is_valid_at_identifier,
    "at-uri": is_valid_at_uri,
    "cid": is_valid_cid,
    "datetime": is_valid_datetime,
    "did": is_valid_did,
    "handle": is_valid_handle,
    "language": is_valid_language,
    "nsid": is_valid_nsid,
    "record-key": is_valid_record_key,
    "tid": is_valid_tid,
    "uri": is_valid_uri,
}
assert _FORMAT_CHECKS.keys() == STRING_FORMATS

# Fast paths for the costliest formats: a full match here implies the syntax check passes
# (each pattern is a strict subset of its format, as the tests check), and covers what real
# data holds: UTC datetimes, AT-URIs of DIDs. Anything else goes to the syntax check.
_FAST_FORMATS: Final[dict[str, Callable[[str], object]]] = {
    "datetime": re.compile(
        r"[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
        r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
        r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,32})?Z"
    ).fullmatch,
    "at-uri": re.compile(
        r"at://did:[a-z]{1,32}:[a-zA-Z0-9._:%-]{0,256}[a-zA-Z0-9._-]"
        r"(?:/(?:[a-z][a-z0-9]{0,30}\.){2,8}[a-zA-Z][a-zA-Z0-9]{0,62}"
        r"(?:/[a-zA-Z0-9_~:-][a-zA-Z0-9._~:-]{0,63})?)?"
    ).fullmatch,
}

_NO_LIMIT: Final = 2**63  # the maximum of a length no schema sets
_STRING_LIMITS: Final = ("minLength", "maxLength", "minGraphemes", "maxGraphemes")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_DATA_TYPES: Final = frozenset(("object", "record"))
_NOT_DATA: Final = frozenset(("query", "procedure", "subscription", "permission-set"))


def _nothing(value: Any) -> None:
    """The check of a body declared without a schema (a blob upload, a CAR file): any value."""


class Compiler:
    """Builds and caches the checks of one catalog's definitions.

    Args:
        defs: ``nsid#name`` -> (the document's NSID, the definition's JSON), already checked
            by `check_document`.
        legacy_blobs: Accept the legacy ``{"cid", "mimeType"}`` blob form.
    """

    def __init__(self, defs: Mapping[str, tuple[str, dict[str, Any]]], *, legacy_blobs: bool):
        self._defs = defs
        self._legacy_blobs = legacy_blobs
        self._done: dict[str, Check] = {}
        # Definitions being compiled: references back to them (cycles) go through this cell.
        self._pending: dict[str, list[Check]] = {}
        self._members: dict[str, Check | None] = {}
        self.records: dict[str, tuple[Check, str]] = {}
        self._lock = threading.RLock()
        self._builders: dict[str, Callable[[dict[str, Any], str], Check]] = {
            "null": self._null,
            "boolean": self._boolean,
            "integer": self._integer,
            "string": self._string,
            "bytes": self._bytes,
            "cid-link": self._cid_link,
            "blob": self._blob,
            "array": self._array,
            "object": self._object,
            "ref": self._ref,
            "union": self._union,
            "unknown": self._unknown,
        }

    # --- entry points (each cached) -------------------------------------------------------

    def named(self, full: str) -> Check:
        """The check of a named data definition (``nsid#name``).

        Raises:
            LexiconError: The catalog has no such definition, or it is not a data type.
        """
        check = self._done.get(full)
        if check is None:
            with self._lock:
                check = self._done.get(full) or self._build_named(full)
        return check

    def record(self, record_type: str) -> tuple[Check, str] | None:
        """The check and record key type of a record ``$type``; None if it names no record."""
        found = self.records.get(record_type)
        if found is None:
            entry = self._defs.get(f"{record_type}#main")
            if entry is None or entry[1]["type"] != "record":
                return None
            found = self.records[record_type] = (self.named(f"{record_type}#main"), entry[1]["key"])
        return found

    def method_part(self, full: str, part: str) -> Check:
        """The check of a method's ``parameters``, ``input``, ``output`` or ``message``."""
        key = f"{full}>{part}"
        check = self._done.get(key)
        if check is None:
            with self._lock:
                check = self._done.get(key)
                if check is None:
                    check = self._done[key] = self._build_part(full, part)
        return check

    def member(self, type_name: str) -> Check | None:
        """The check of an open-union member not listed in its union, if the catalog knows it."""
        try:
            return self._members[type_name]
        except KeyError:
            pass
        full = type_name if "#" in type_name else f"{type_name}#main"
        entry = self._defs.get(full)
        check = self.named(full) if entry and entry[1]["type"] in _DATA_TYPES else None
        self._members[type_name] = check
        return check

    # --- named definitions and references ---------------------------------------------------

    def _build_named(self, full: str) -> Check:
        entry = self._defs.get(full)
        if entry is None:
            raise LexiconError("the catalog has no such definition", full)
        nsid, schema = entry
        kind = schema["type"]
        if kind in _NOT_DATA:
            raise LexiconError(f"a {kind} is not a data type; validate its parts instead", full)
        cell: list[Check] = []
        self._pending[full] = cell
        try:
            if kind == "record":
                check = self._object(schema["record"], nsid)
            elif kind == "token":
                check = self._token(member_type(full))
            else:
                check = self._builders[kind](schema, nsid)
        except LexiconError as exc:
            cell.append(_raiser(exc))  # checks built meanwhile may hold this cell
            raise
        finally:
            del self._pending[full]
        cell.append(check)
        self._done[full] = check
        return check

    def _target(self, full: str) -> Check:
        """The check of a referenced definition, indirect while that one is being compiled."""
        check = self._done.get(full)
        if check is not None:
            return check
        cell = self._pending.get(full)
        if cell is None:
            return self._build_named(full)

        def late(value: Any) -> None:
            cell[0](value)

        return late

    def _ref(self, schema: dict[str, Any], nsid: str) -> Check:
        full = resolve_ref(schema["ref"], nsid)
        entry = self._defs.get(full)
        if entry is None:
            return _missing(full, nsid)
        kind = entry[1]["type"]
        if kind == "token" or kind in _NOT_DATA:
            raise LexiconError(f"a ref cannot point to the {kind} {full}", nsid)
        check = self._target(full)
        if kind != "record":
            return check
        record_type = member_type(full)

        def record_ref(value: Any) -> None:
            if type(value) is dict and value.get("$type") != record_type:
                raise Invalid(f"must be {record_type!r} (a record names its type)", "$type")
            check(value)

        return record_ref

    def _build_part(self, full: str, part: str) -> Check:
        entry = self._defs.get(full)
        if entry is None:
            raise LexiconError("the catalog has no such definition", full)
        nsid, schema = entry
        wanted = {"parameters": "query procedure subscription", "message": "subscription"}
        if schema["type"] not in wanted.get(part, "query procedure").split():
            raise LexiconError(f"a {schema['type']} has no {part}", full)
        if part == "parameters":
            return self._params(schema.get("parameters") or {}, nsid)
        if part == "message":
            return self._field(schema["message"]["schema"], nsid)
        body = schema.get(part)
        if body is None:
            return _absent(part)
        return _nothing if body.get("schema") is None else self._field(body["schema"], nsid)

    def _field(self, schema: dict[str, Any], nsid: str) -> Check:
        return self._builders[schema["type"]](schema, nsid)

    # --- containers --------------------------------------------------------------------------

    def _object(self, schema: dict[str, Any], nsid: str) -> Check:
        nullable = frozenset(schema.get("nullable", ()))
        fields: dict[str, Check] = {}
        for name, prop in schema.get("properties", {}).items():
            check = self._field(prop, nsid)
            fields[name] = _allow_null(check) if name in nullable else check
        return _object_check(fields, tuple(schema.get("required", ())))

    def _params(self, schema: dict[str, Any], nsid: str) -> Check:
        fields = {name: self._field(p, nsid) for name, p in schema.get("properties", {}).items()}
        required = tuple(schema.get("required", ()))
        get = fields.get

        def check_params(value: Any) -> None:
            if not isinstance(value, Mapping):
                raise type_error("a mapping of parameters", value)
            for name in required:
                if name not in value:
                    raise Invalid("is required", name)
            name = ""
            try:
                for name, item in value.items():
                    check = get(name)
                    if check is not None:
                        check(item)
            except Invalid as exc:
                exc.parts.append(name)
                raise

        return check_params

    def _array(self, schema: dict[str, Any], nsid: str) -> Check:
        items = self._field(schema["items"], nsid)
        low, high = schema.get("minLength", 0), schema.get("maxLength", _NO_LIMIT)

        def check_array(value: Any) -> None:
            if type(value) is not list:
                raise type_error("an array", value)
            if not low <= len(value) <= high:
                raise Invalid(_count_problem(len(value), low, high, "item"))
            item = None
            try:
                for item in value:
                    items(item)
            except Invalid as exc:
                exc.parts.append(_index_of(value, item))
                raise

        return check_array

    def _union(self, schema: dict[str, Any], nsid: str) -> Check:
        members: dict[str, Check] = {}
        for ref in schema["refs"]:
            full = resolve_ref(ref, nsid)
            entry = self._defs.get(full)
            if entry is None:
                members[member_type(full)] = _missing(full, nsid)
                continue
            if entry[1]["type"] not in _DATA_TYPES:
                raise LexiconError(f"union member {full} is a {entry[1]['type']}", nsid)
            members[member_type(full)] = self._target(full)
        closed = bool(schema.get("closed"))
        listed = ", ".join(sorted(members)) or "none"
        get: Callable[[Any], Check | None] = members.get
        member = self.member

        def check_union(value: Any) -> None:
            if type(value) is not dict:
                raise type_error("an object with a '$type' (a union member)", value)
            name: Any = value.get("$type")
            try:
                check = get(name)
            except TypeError:  # an unhashable $type
                check = None
            if check is None:
                check = _unlisted(name, closed, listed, member)
                if check is None:
                    check_data_model(value)
                    return
            check(value)

        return check_union

    def _unknown(self, schema: dict[str, Any], nsid: str) -> Check:
        def check_unknown(value: Any) -> None:
            if type(value) is not dict or "$link" in value or "$bytes" in value:
                raise type_error("an object", value)
            if value.get("$type") == "blob":
                raise Invalid("must be an object, not a blob")
            check_data_model(value)

        return check_unknown

    # --- concrete types ------------------------------------------------------------------------

    def _null(self, schema: dict[str, Any], nsid: str) -> Check:
        def check_null(value: Any) -> None:
            if value is not None:
                raise type_error("null", value)

        return check_null

    def _token(self, name: str) -> Check:
        def check_token(value: Any) -> None:
            if value != name or type(value) is not str:
                raise Invalid(f"must be the token {name!r}")

        return check_token

    def _boolean(self, schema: dict[str, Any], nsid: str) -> Check:
        const = schema.get("const")

        def check_boolean(value: Any) -> None:
            if type(value) is not bool:
                raise type_error("a boolean", value)
            if const is not None and value is not const:
                raise Invalid(f"must be {str(const).lower()}")

        return check_boolean

    def _integer(self, schema: dict[str, Any], nsid: str) -> Check:
        # Data-model integers are 64-bit signed: those are the bounds when the schema sets none.
        low, high = schema.get("minimum", _INT64_MIN), schema.get("maximum", _INT64_MAX)
        const = schema.get("const")
        enum = frozenset(schema["enum"]) if "enum" in schema else None

        def check_integer(value: Any) -> None:
            if type(value) is not int:
                raise type_error("an integer", value)
            if not low <= value <= high:
                raise Invalid(_range_problem(value, low, high))

        if const is None and enum is None:
            return check_integer

        def check_integer_value(value: Any) -> None:
            check_integer(value)
            if const is not None and value != const:
                raise Invalid(f"must be {const}, got {value}")
            if enum is not None and value not in enum:
                raise Invalid(f"must be one of {sorted(enum)}, got {value}")

        return check_integer_value

    def _string(self, schema: dict[str, Any], nsid: str) -> Check:
        fmt: str = schema.get("format", "")
        valid = _FORMAT_CHECKS.get(fmt, _any_string)
        fast = _FAST_FORMATS.get(fmt) or _no_match
        const = schema.get("const")
        enum = frozenset(schema["enum"]) if "enum" in schema else None
        min_len, max_len = schema.get("minLength", 0), schema.get("maxLength", _NO_LIMIT)
        min_g, max_g = schema.get("minGraphemes", 0), schema.get("maxGraphemes", _NO_LIMIT)
        # A string of n code points has n to 4n UTF-8 bytes and at most n graphemes: only
        # strings near a limit are encoded or segmented.
        quick_max = max_len // 4

        def check_string(value: Any) -> None:
            if type(value) is not str:
                raise type_error("a string", value)
            size = len(value)
            if not min_len <= size <= quick_max:
                _check_utf8(value, min_len, max_len)
            if size > max_g or min_g:
                _check_graphemes(value, min_g, max_g)
            if fmt and fast(value) is None and not valid(value):
                raise Invalid(f"must be a valid {fmt}: {format_problem(fmt, value)}")
            if const is not None and value != const:
                raise Invalid(f"must be {const!r}")
            if enum is not None and value not in enum:
                raise Invalid(f"must be one of {sorted(enum)}")

        def check_sized(value: Any) -> None:
            if type(value) is not str:
                raise type_error("a string", value)
            size = len(value)
            if not min_len <= size <= quick_max:
                _check_utf8(value, min_len, max_len)
            if size > max_g or min_g:
                _check_graphemes(value, min_g, max_g)

        def check_format(value: Any) -> None:
            if type(value) is not str:
                raise type_error("a string", value)
            if not valid(value):
                raise Invalid(f"must be a valid {fmt}: {format_problem(fmt, value)}")

        def check_fast_format(value: Any) -> None:
            if type(value) is not str:
                raise type_error("a string", value)
            if fast(value) is None and not valid(value):
                raise Invalid(f"must be a valid {fmt}: {format_problem(fmt, value)}")

        def check_plain(value: Any) -> None:
            if type(value) is not str:
                raise type_error("a string", value)

        limited = any(key in schema for key in _STRING_LIMITS)
        if const is not None or enum is not None or (limited and fmt):
            return check_string
        if limited:
            return check_sized
        if fmt in _FAST_FORMATS:
            return check_fast_format
        return check_format if fmt else check_plain

    def _bytes(self, schema: dict[str, Any], nsid: str) -> Check:
        low, high = schema.get("minLength", 0), schema.get("maxLength", _NO_LIMIT)

        def check_bytes(value: Any) -> None:
            if type(value) is not bytes:
                value = json_bytes(value)
            if not low <= len(value) <= high:
                raise Invalid(_count_problem(len(value), low, high, "byte"))

        return check_bytes

    def _cid_link(self, schema: dict[str, Any], nsid: str) -> Check:
        def check_cid_link(value: Any) -> None:
            if type(value) is not CID:
                json_link(value)

        return check_cid_link

    def _blob(self, schema: dict[str, Any], nsid: str) -> Check:
        accept = schema.get("accept")
        every = accept is None or "*/*" in accept
        exact = frozenset(p for p in accept or () if not p.endswith("/*"))
        prefixes = tuple(p[:-1] for p in accept or () if p.endswith("/*"))
        max_size, legacy = schema.get("maxSize"), self._legacy_blobs
        shown = ", ".join(accept or ())

        def check_blob(value: Any) -> None:
            if type(value) is dict and value.get("$type") == "blob":
                mime, size = value.get("mimeType"), value.get("size")
                if type(value.get("ref")) is not CID:
                    json_link(value.get("ref"), "ref")
                if type(size) is not int or size < 0:
                    raise type_error("a size in bytes", size, "size")
                if type(mime) is not str or not mime:
                    raise type_error("a MIME type", mime, "mimeType")
            else:
                mime, size = _other_blob(value, legacy)
            if not every and mime not in exact and not mime.startswith(prefixes):
                raise Invalid(f"type {mime!r} is not accepted ({shown})", "mimeType")
            if max_size is not None and size is not None and size > max_size:
                raise Invalid(f"{size} bytes is more than the maximum of {max_size}", "size")

        return check_blob


def _object_check(fields: dict[str, Check], required: tuple[str, ...]) -> Check:
    # Required fields are read directly (a missing one is a KeyError); the data's other keys
    # are looked up among the optional fields only when the data has any besides $type.
    # Keys no property declares are unknown fields, allowed (spec: "Lexicon Evolution").
    required_checks = tuple((name, fields[name]) for name in required)
    count = len(required_checks)
    get = {name: c for name, c in fields.items() if name not in required}.get

    def check_object(value: Any) -> None:
        if type(value) is not dict:
            raise type_error("an object", value)
        for name, check in required_checks:
            try:
                item = value[name]
            except KeyError:
                raise _missing_field(value, name) from None
            try:
                check(item)
            except Invalid as exc:
                exc.parts.append(name)
                raise
        extra = len(value) - count
        if extra and (extra > 1 or "$type" not in value):
            for name, item in value.items():
                optional = get(name)
                if optional is not None:
                    try:
                        optional(item)
                    except Invalid as exc:
                        exc.parts.append(name)
                        raise
                elif name == "$link" or name == "$bytes":
                    raise type_error("an object", value)

    def check_required_only(value: Any) -> None:
        if type(value) is not dict:
            raise type_error("an object", value)
        for name, check in required_checks:
            try:
                item = value[name]
            except KeyError:
                raise _missing_field(value, name) from None
            try:
                check(item)
            except Invalid as exc:
                exc.parts.append(name)
                raise
        if len(value) > count and ("$link" in value or "$bytes" in value):
            raise type_error("an object", value)

    return check_object if len(fields) > count else check_required_only


def _missing_field(value: dict[str, Any], name: str) -> Invalid:
    """A required field is absent: say so, unless the map is a JSON link or bytes."""
    if "$link" in value or "$bytes" in value:
        return type_error("an object", value)
    return Invalid("is required", name)


def _allow_null(check: Check) -> Check:
    def nullable(value: Any) -> None:
        if value is not None:
            check(value)

    return nullable


def _unlisted(name: Any, closed: bool, listed: str, member: Callable[[str], Check | None]) -> Any:
    """The check for a union member whose ``$type`` the union does not list, or None."""
    if name is None:
        raise Invalid("is required (a union member names its type)", "$type")
    if type(name) is not str:
        raise type_error("a string", name, "$type")
    if name.endswith("#main"):
        raise Invalid(f"{name!r} must be written without '#main'", "$type")
    if closed:
        raise Invalid(f"{name!r} is not a member of this closed union ({listed})", "$type")
    if not looks_like_type(name):
        raise Invalid(f"{name!r} is not a type name (an NSID with an optional #name)", "$type")
    return member(name)


def _other_blob(value: Any, legacy: bool) -> tuple[str, int | None]:
    """Check a `Blob` model or a legacy ``{"cid", "mimeType"}`` map; return its type and size."""
    mime: Any
    if isinstance(value, Blob):
        mime, size = value.mime_type, value.size
        if size is None and not legacy:
            raise Invalid("is a legacy blob reference ({'cid', 'mimeType'}), not accepted here")
    elif type(value) is dict and "cid" in value and "$type" not in value:
        if not legacy:
            raise Invalid("is a legacy blob reference ({'cid', 'mimeType'}), not accepted here")
        ref, mime, size = value["cid"], value.get("mimeType"), None
        if type(ref) is not str:
            raise type_error("a CID string", ref, "cid")
        try:
            CID.decode(ref)
        except DecodeError as exc:
            raise Invalid(f"is not a CID: {exc}", "cid") from None
    else:
        raise type_error("a blob", value)
    if type(mime) is not str or not mime:
        raise type_error("a MIME type", mime, "mimeType")
    return mime, size


def _check_utf8(value: str, low: int, high: int) -> None:
    size = len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if not low <= size <= high:
        raise Invalid(_count_problem(size, low, high, "byte") + " (UTF-8)")


def _check_graphemes(value: str, low: int, high: int) -> None:
    size = count_graphemes(value)
    if not low <= size <= high:
        raise Invalid(_count_problem(size, low, high, "grapheme"))


def _no_match(value: str) -> None:
    """The fast path of formats that have none."""


def _any_string(value: str) -> bool:
    """The format check of strings without a format."""
    return True


def _index_of(items: list[Any], item: Any) -> int:
    """The index of the first failing ``item`` (identical items fail alike, so the first)."""
    return next(index for index, other in enumerate(items) if other is item)


def _range_problem(value: int, low: int, high: int) -> str:
    if value < low:
        return f"must be at least {low}, got {value}"
    return f"must be at most {high}, got {value}"


def _count_problem(size: int, low: int, high: int, unit: str) -> str:
    if size < low:
        return f"must have at least {low} {unit}s, has {size}"
    return f"must have at most {high} {unit}s, has {size}"


def _missing(full: str, nsid: str) -> Check:
    """The check of a reference the catalog cannot resolve: fails when data reaches it."""
    error = LexiconError(f"reference to {full}, which the catalog does not have", nsid)
    return _raiser(error)


def _raiser(error: LexiconError) -> Check:
    def fail(value: Any) -> None:
        raise error

    return fail


def _absent(part: str) -> Check:
    def check_absent(value: Any) -> None:
        if value is not None:
            raise Invalid(f"this method declares no {part}")

    return check_absent
