"""Reading lexicon documents: the rules a schema itself must follow, checked once on loading.

A document is ``{"lexicon": 1, "id": NSID, "defs": {name: definition}}``. Each definition is
checked recursively here, so that compiling it later (`_compile`) can trust its shape: the types
of the constraint fields, ``min <= max``, known string formats, ``required`` and ``nullable``
naming declared properties, which types may be named definitions, which only ``main``.
References between definitions are resolved later, when a catalog compiles them.
Spec: https://atproto.com/specs/lexicon#lexicon-files
"""

from __future__ import annotations

from typing import Any, Final

from atproto_async.exceptions import LexiconError
from atproto_async.syntax import is_valid_did, is_valid_language, is_valid_nsid, is_valid_record_key

__all__ = ["STRING_FORMATS", "Document", "check_document", "member_type", "resolve_ref"]

#: The ``format`` values of a ``string`` (https://atproto.com/specs/lexicon#string-formats).
STRING_FORMATS: Final = frozenset(
    [
        "at-identifier",
        "at-uri",
        "cid",
        "datetime",
        "did",
        "handle",
        "language",
        "nsid",
        "record-key",
        "tid",
        "uri",
    ]
)

_PRIMARY: Final = frozenset(["record", "query", "procedure", "subscription", "permission-set"])
_CONCRETE: Final = frozenset(
    ["null", "boolean", "integer", "string", "bytes", "cid-link", "blob", "array", "object"]
)
# Types a definition under ``defs`` may have: sub-types, ref, union and unknown may not be.
_NAMED: Final = _PRIMARY | _CONCRETE | {"token"}
# Types a property, an array item or a body schema may have.
_FIELD: Final = _CONCRETE | {"ref", "union", "unknown"}
_PARAM: Final = frozenset(("boolean", "integer", "string"))
_BODY: Final = frozenset(("object", "ref", "union"))

# The optional fields of each field type, with the Python types their values must have.
_INT: Final = (int,)
_CONSTRAINTS: Final[dict[str, dict[str, tuple[type, ...]]]] = {
    "boolean": {"default": (bool,), "const": (bool,)},
    "integer": {
        "minimum": _INT,
        "maximum": _INT,
        "enum": (list,),
        "default": _INT,
        "const": _INT,
    },
    "string": {
        "format": (str,),
        "minLength": _INT,
        "maxLength": _INT,
        "minGraphemes": _INT,
        "maxGraphemes": _INT,
        "knownValues": (list,),
        "enum": (list,),
        "default": (str,),
        "const": (str,),
    },
    "bytes": {"minLength": _INT, "maxLength": _INT},
    "array": {"minLength": _INT, "maxLength": _INT},
    "blob": {"accept": (list,), "maxSize": _INT},
    "union": {"closed": (bool,)},
}


class Document:
    """A checked lexicon document: its NSID and its definitions (the JSON, as read)."""

    __slots__ = ("defs", "nsid", "raw")

    def __init__(self, nsid: str, defs: dict[str, dict[str, Any]], raw: dict[str, Any]) -> None:
        self.nsid = nsid
        self.defs = defs
        self.raw = raw


def resolve_ref(ref: str, base: str) -> str:
    """Return the full ``nsid#name`` a reference written in document ``base`` stands for.

    ``#name`` is local, a bare NSID means its ``main``, and the ``lex:`` prefix some exporters
    write is dropped.
    """
    if ref.startswith("lex:"):
        ref = ref[4:]
    nsid, _, name = ref.partition("#")
    return f"{nsid or base}#{name or 'main'}"


def member_type(full_ref: str) -> str:
    """The ``$type`` that data of definition ``nsid#name`` carries (``nsid`` alone for main)."""
    return full_ref[:-5] if full_ref.endswith("#main") else full_ref


def check_document(doc: Any) -> Document:
    """Check one lexicon document and return it with its definitions.

    Args:
        doc: A parsed lexicon JSON document.

    Returns:
        The checked document (sharing the given dictionaries: copy them first if needed).

    Raises:
        LexiconError: The document breaks a rule; ``nsid`` and ``reason`` say where and which.
    """
    if not isinstance(doc, dict):
        raise LexiconError(f"a lexicon document must be an object, not {type(doc).__name__}")
    nsid = doc.get("id")
    if not isinstance(nsid, str) or not is_valid_nsid(nsid):
        raise LexiconError(f"'id' must be an NSID, got {nsid!r}"[:200])
    version = doc.get("lexicon")
    if type(version) is not int or version != 1:
        raise LexiconError(f"'lexicon' must be the integer 1, got {version!r}"[:200], nsid)
    defs = doc.get("defs")
    if not isinstance(defs, dict) or not defs:
        raise LexiconError("'defs' must be an object with at least one definition", nsid)
    for key in ("description",):
        if key in doc and not isinstance(doc[key], str):
            raise LexiconError(f"'{key}' must be a string", nsid)
    for name, definition in defs.items():
        if not isinstance(name, str) or not name or "#" in name or "." in name:
            raise LexiconError(f"invalid definition name {name!r}", nsid)
        _Checker(f"{nsid}#{name}").named(name, definition)
    return Document(nsid, defs, doc)


class _Checker:
    """Checks the definitions of one named definition; errors name it and the place within."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def fail(self, where: str, reason: str) -> LexiconError:
        return LexiconError(f"{where}: {reason}" if where else reason, self.ref)

    def named(self, name: str, schema: Any) -> None:
        kind = self.kind(schema, "")
        if kind not in _NAMED:
            raise self.fail("", f"type {kind!r} cannot be a named definition")
        if kind in _PRIMARY and name != "main":
            raise self.fail("", f"a {kind} definition must be named 'main'")
        if kind == "record":
            self.record(schema)
        elif kind in ("query", "procedure", "subscription"):
            self.method(schema, kind)
        elif kind == "permission-set":
            self.permission_set(schema)
        elif kind != "token":
            self.field(schema, "")

    def kind(self, schema: Any, where: str) -> str:
        if not isinstance(schema, dict):
            raise self.fail(where, "a schema must be an object")
        kind = schema.get("type")
        if not isinstance(kind, str):
            raise self.fail(where, "a schema needs a string 'type'")
        if "description" in schema and not isinstance(schema["description"], str):
            raise self.fail(where, "'description' must be a string")
        return kind

    def field(self, schema: Any, where: str, allowed: frozenset[str] = _FIELD) -> None:
        kind = self.kind(schema, where)
        if kind not in allowed:
            raise self.fail(where, f"type {kind!r} is not allowed here")
        for key, types in _CONSTRAINTS.get(kind, {}).items():
            if key in schema:
                value = schema[key]
                is_bool = type(value) is bool
                if is_bool != (types == (bool,)) or not isinstance(value, types):
                    raise self.fail(where, f"'{key}' must be of type {types[0].__name__}")
        if "default" in schema and "const" in schema:
            raise self.fail(where, "'default' and 'const' are mutually exclusive")
        for low, high in (("minLength", "maxLength"), ("minGraphemes", "maxGraphemes")):
            for key in (low, high):
                if schema.get(key, 0) < 0:
                    raise self.fail(where, f"'{key}' must not be negative")
            if low in schema and high in schema and schema[low] > schema[high]:
                raise self.fail(where, f"'{low}' is greater than '{high}'")
        if kind == "integer":
            self.integer(schema, where)
        elif kind == "string":
            self.string(schema, where)
        elif kind == "blob":
            self.blob(schema, where)
        elif kind == "array":
            self.field(schema.get("items"), f"{where}.items".lstrip("."))
        elif kind == "object":
            self.properties(schema, where, nullable=True)
        elif kind == "ref":
            self.ref_string(schema.get("ref"), f"{where}.ref".lstrip("."))
        elif kind == "union":
            refs = schema.get("refs")
            if not isinstance(refs, list):
                raise self.fail(where, "'refs' must be an array of references")
            for ref in refs:
                self.ref_string(ref, f"{where}.refs".lstrip("."))
            if not refs and schema.get("closed"):
                raise self.fail(where, "a closed union needs at least one reference")

    def integer(self, schema: dict[str, Any], where: str) -> None:
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None and low > high:
            raise self.fail(where, "'minimum' is greater than 'maximum'")
        if any(type(v) is not int for v in schema.get("enum", ())):
            raise self.fail(where, "'enum' must hold integers")

    def string(self, schema: dict[str, Any], where: str) -> None:
        fmt = schema.get("format")
        if fmt is not None and fmt not in STRING_FORMATS:
            raise self.fail(where, f"unknown string format {fmt!r}")
        for key in ("enum", "knownValues"):
            if any(not isinstance(v, str) for v in schema.get(key, ())):
                raise self.fail(where, f"'{key}' must hold strings")

    def blob(self, schema: dict[str, Any], where: str) -> None:
        # "*/*", "type/*" or "type/subtype": no partial globs (spec: #blob).
        for pattern in schema.get("accept", ()):
            kind, slash, sub = pattern.partition("/") if isinstance(pattern, str) else ("", "", "")
            plain = "*" not in kind and (sub == "*" or "*" not in sub)
            if not (slash and kind and sub and "/" not in sub and (plain or pattern == "*/*")):
                raise self.fail(where, f"invalid MIME type pattern in 'accept': {pattern!r}")
        if schema.get("maxSize", 1) <= 0:
            raise self.fail(where, "'maxSize' must be positive")

    def properties(self, schema: dict[str, Any], where: str, *, nullable: bool) -> None:
        props = schema.get("properties", {})
        if not isinstance(props, dict):
            raise self.fail(where, "'properties' must be an object")
        names = ("required", "nullable") if nullable else ("required",)
        for key in names:
            listed = schema.get(key, [])
            if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
                raise self.fail(where, f"'{key}' must be an array of strings")
            for name in listed:
                if name not in props:
                    raise self.fail(where, f"{key} property {name!r} is not declared")
        allowed = _FIELD if nullable else _PARAM | {"array"}
        for name, prop in props.items():
            at = f"{where}.{name}".lstrip(".")
            if not name:
                raise self.fail(where, "property names must not be empty")
            self.field(prop, at, allowed)
            if not nullable and prop["type"] == "array":
                self.field(prop["items"], f"{at}.items", _PARAM)

    def ref_string(self, ref: Any, where: str) -> None:
        if not isinstance(ref, str):
            raise self.fail(where, "a reference must be a string")
        nsid, _, name = (ref[4:] if ref.startswith("lex:") else ref).partition("#")
        if (nsid and not is_valid_nsid(nsid)) or (not nsid and not name) or "#" in name:
            raise self.fail(where, f"invalid reference {ref!r}")

    def record(self, schema: dict[str, Any]) -> None:
        key = schema.get("key")
        literal = key[8:] if isinstance(key, str) and key.startswith("literal:") else None
        if key not in ("tid", "nsid", "any") and not (literal and is_valid_record_key(literal)):
            raise self.fail("key", f"invalid record key type {key!r}")
        record = schema.get("record")
        if self.kind(record, "record") != "object":
            raise self.fail("record", "a record's 'record' must be an object schema")
        self.field(record, "record")

    def method(self, schema: dict[str, Any], kind: str) -> None:
        params = schema.get("parameters")
        if params is not None:
            if self.kind(params, "parameters") != "params":
                raise self.fail("parameters", "must be a params schema")
            self.properties(params, "parameters", nullable=False)
        bodies = {"query": ("output",), "procedure": ("input", "output")}.get(kind, ())
        for key in ("input", "output", "message"):
            if key in schema and key not in bodies and (key, kind) != ("message", "subscription"):
                raise self.fail(key, f"a {kind} cannot have '{key}'")
        for key in bodies:
            body = schema.get(key)
            if body is None:
                continue
            if not isinstance(body, dict) or not isinstance(body.get("encoding"), str):
                raise self.fail(key, "a body needs a string 'encoding'")
            if body.get("schema") is not None:
                self.field(body["schema"], f"{key}.schema", _BODY)
        if kind == "subscription":
            message = schema.get("message")
            if not isinstance(message, dict) or message.get("schema") is None:
                raise self.fail("message", "a subscription needs a message schema")
            self.field(message["schema"], "message.schema", frozenset(("union",)))
        errors = schema.get("errors", [])
        if not isinstance(errors, list) or not all(
            isinstance(e, dict) and _error_name(e.get("name")) for e in errors
        ):
            raise self.fail("errors", "must be an array of objects with a 'name' (no spaces)")

    def permission_set(self, schema: dict[str, Any]) -> None:
        for key in ("title:lang", "detail:lang"):
            langs = schema.get(key, {})
            if not isinstance(langs, dict) or not all(
                isinstance(k, str) and is_valid_language(k) and isinstance(v, str)
                for k, v in langs.items()
            ):
                raise self.fail(key, "must map language tags to strings")
        permissions = schema.get("permissions")
        if not isinstance(permissions, list):
            raise self.fail("permissions", "must be an array of permissions")
        for index, permission in enumerate(permissions):
            self.permission(permission, f"permissions[{index}]")

    def permission(self, schema: Any, where: str) -> None:
        if self.kind(schema, where) != "permission" or not isinstance(schema.get("resource"), str):
            raise self.fail(where, "must be a permission with a string 'resource'")
        # Resources other than repo and rpc are ignored in lexicons (spec: #permission).
        if schema["resource"] == "repo":
            collections = schema.get("collection")
            if not _nsid_list(collections, wildcard=True):
                raise self.fail(where, "a repo permission needs a 'collection' array of NSIDs")
            actions = schema.get("action", [])
            if not isinstance(actions, list) or any(
                a not in ("create", "update", "delete") for a in actions
            ):
                raise self.fail(where, "'action' must list create, update or delete")
        elif schema["resource"] == "rpc":
            if not _nsid_list(schema.get("lxm"), wildcard=True):
                raise self.fail(where, "an rpc permission needs an 'lxm' array of NSIDs")
            aud, inherit = schema.get("aud"), schema.get("inheritAud", False) is True
            if (aud is None) == (not inherit):
                raise self.fail(where, "an rpc permission needs either 'aud' or 'inheritAud'")
            if aud == "*" and "*" in schema["lxm"]:
                raise self.fail(where, "'aud' and 'lxm' cannot both be '*'")
            if aud not in (None, "*") and not _service_ref(aud):
                raise self.fail(where, "'aud' must be '*' or a service reference (did#id)")


def _nsid_list(value: Any, *, wildcard: bool) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and (is_valid_nsid(v) or (wildcard and v == "*")) for v in value)
    )


def _service_ref(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    did, _, name = value.partition("#")
    return bool(name) and is_valid_did(did)


def _error_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)
