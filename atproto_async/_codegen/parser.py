"""Lexicon JSON documents -> the typed IR of `ir`.

Follows https://atproto.com/specs/lexicon: a document has an ``id`` (NSID) and ``defs``; a
reference is ``nsid#name``, ``#name`` (same document) or ``nsid`` (its ``main``), optionally
prefixed with ``lex:``. Anything the generator does not understand stops it with `LexiconError`
naming the document and definition, so new lexicon features are never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from atproto_async._codegen import naming, records
from atproto_async._codegen.ir import (
    AliasDef,
    ArrayType,
    BlobType,
    Body,
    DefRef,
    Document,
    Field,
    LexType,
    MethodDef,
    ObjectDef,
    Primitive,
    RecordValue,
    RefType,
    Schema,
    TokenDef,
    UnionDef,
    UnionType,
)

PRIMITIVES = frozenset({"string", "integer", "boolean", "bytes", "cid-link", "unknown"})
_LIMIT_KEYS = (
    "minLength",
    "maxLength",
    "minGraphemes",
    "maxGraphemes",
    "minimum",
    "maximum",
)


class LexiconError(Exception):
    """A lexicon document the generator cannot represent."""


def load_documents(root: Path) -> list[dict[str, Any]]:
    """Read every ``*.json`` lexicon document under ``root``, sorted by NSID.

    Raises:
        LexiconError: a file is not a JSON object (the message names the file).
    """
    docs = []
    for path in sorted(root.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LexiconError(f"{path.relative_to(root)}: not a JSON document ({exc})") from None
        if not isinstance(doc, dict):
            raise LexiconError(f"{path.relative_to(root)}: not a lexicon document")
        docs.append(doc)
    return sorted(docs, key=lambda d: str(d.get("id")))


def parse_ref(ref: str, context_nsid: str) -> DefRef:
    """Resolve a reference string as written in ``context_nsid``."""
    if ref.startswith("lex:"):
        ref = ref[4:]
    nsid, _, name = ref.partition("#")
    return DefRef(nsid or context_nsid, name or "main")


def _limits(schema: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, schema[k]) for k in _LIMIT_KEYS if k in schema)


class _Parser:
    def __init__(self, raw_docs: Iterable[Mapping[str, Any]]) -> None:
        self.raw = list(raw_docs)
        self.definitions: dict[DefRef, ObjectDef | TokenDef | AliasDef | MethodDef] = {}
        #: The document being parsed and its class names (inline objects add to both).
        self.current: Document | None = None
        self.class_names: set[str] = set()
        #: The unions met in the current document: key -> (name hint, uses), in order.
        self.union_uses: dict[tuple[tuple[DefRef, ...], bool], tuple[str, list[str]]] = {}

    def fail(self, where: DefRef, message: str) -> LexiconError:
        return LexiconError(f"{where.lex_type}: {message}")

    def parse(self) -> Schema:
        documents: dict[str, Document] = {}
        modules: dict[tuple[str, ...], str] = {}
        for raw in self.raw:
            nsid = raw.get("id")
            if not isinstance(nsid, str) or raw.get("lexicon") != 1:
                raise LexiconError(f"not a lexicon v1 document: id={nsid!r}")
            if nsid in documents:
                raise LexiconError(f"{nsid}: defined twice")
            doc = self.document(nsid, raw)
            if doc.module in modules:
                raise LexiconError(f"{nsid} and {modules[doc.module]} map to the same module")
            modules[doc.module] = nsid
            documents[nsid] = doc
        for module in modules:
            for i in range(1, len(module)):
                if module[:i] in modules:
                    raise LexiconError(f"{modules[module[:i]]} is both a document and a package")
        schema = Schema(documents=documents, definitions=self.definitions)
        self.check_refs(schema)
        return schema

    def document(self, nsid: str, raw: Mapping[str, Any]) -> Document:
        defs: Mapping[str, Any] = raw.get("defs", {})
        doc = Document(
            nsid=nsid,
            description=str(raw.get("description", "")),
            module=naming.module_parts(nsid),
        )
        other_names = [n for n in defs if n != "main"]
        class_names = self.class_names = set()
        self.union_uses = {}
        self.current = doc
        for name, schema in defs.items():
            ref = DefRef(nsid, name)
            kind = schema.get("type")
            if kind in ("object", "record"):
                if name == "main":
                    class_name = naming.main_class_name(nsid, other_names)
                else:
                    class_name = naming.def_class_name(name)
                if class_name in class_names:
                    raise self.fail(ref, f"class name {class_name} is taken")
                class_names.add(class_name)
                obj_schema = schema["record"] if kind == "record" else schema
                if kind == "record" and obj_schema.get("type") != "object":
                    raise self.fail(ref, "a record's schema must be an object")
                obj = self.object(ref, class_name, obj_schema, str(schema.get("description", "")))
                if kind == "record":
                    obj.record_key = str(schema.get("key", "any"))
                doc.objects.append(obj)
                self.definitions[ref] = obj
            elif kind == "token":
                token = TokenDef(
                    ref, naming.constant_name(name), str(schema.get("description", ""))
                )
                doc.tokens.append(token)
                self.definitions[ref] = token
            elif kind in ("string", "array"):
                alias_name = naming.def_class_name(
                    nsid.rsplit(".", 1)[-1] if name == "main" else name
                )
                if alias_name in class_names:
                    raise self.fail(ref, f"type alias name {alias_name} is taken")
                class_names.add(alias_name)
                alias = AliasDef(
                    ref,
                    alias_name,
                    self.type(ref, schema, name, alias_name),
                    str(schema.get("description", "")),
                )
                doc.aliases.append(alias)
                self.definitions[ref] = alias
            elif kind in ("query", "procedure"):
                if name != "main":
                    raise self.fail(ref, f"a {kind} must be the main definition")
                doc.method = self.method(ref, kind, schema, doc)
                self.definitions[ref] = doc.method
            elif kind in ("subscription", "permission-set"):
                # Event streams are decoded by atproto_async.stream (their message objects are
                # ordinary object definitions of the same document); permission sets describe
                # OAuth scopes and define no data.
                continue
            else:
                raise self.fail(ref, f"unsupported definition type {kind!r}")
        self.name_unions(doc)
        return doc

    def name_unions(self, doc: Document) -> None:
        """Name each distinct union of ``doc`` after its first use, clear of the class names."""
        taken = set(self.class_names)
        for key, (hint, uses) in self.union_uses.items():
            name = naming.union_name(hint, taken)
            taken.add(name)
            refs, closed = key
            doc.unions[key] = UnionDef(name, UnionType(refs, closed, owner=doc.nsid), uses)

    def object(
        self,
        ref: DefRef,
        class_name: str,
        schema: Mapping[str, Any],
        description: str,
        *,
        has_lex_type: bool = True,
    ) -> ObjectDef:
        if schema.get("type") != "object":
            raise self.fail(ref, f"expected an object schema, got {schema.get('type')!r}")
        props: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        nullable = set(schema.get("nullable", ()))
        unknown = (required | nullable) - set(props)
        if unknown:
            raise self.fail(ref, f"required/nullable names without a property: {sorted(unknown)}")
        py_names = naming.unique_names(props, naming.snake_case, naming.MODEL_RESERVED)
        fields = [
            Field(
                json_name=json_name,
                py_name=py_name,
                type=self.field_type(ref, class_name, json_name, py_name, prop),
                required=json_name in required,
                nullable=json_name in nullable,
                description=str(prop.get("description", "")),
            )
            for (json_name, prop), py_name in zip(props.items(), py_names, strict=True)
        ]
        return ObjectDef(
            ref=ref,
            class_name=class_name,
            description=description or str(schema.get("description", "")),
            fields=fields,
            has_lex_type=has_lex_type,
        )

    def field_type(
        self, ref: DefRef, class_name: str, json_name: str, py_name: str, prop: Mapping[str, Any]
    ) -> LexType:
        """The type of an object's property; ``unknown`` becomes a record where listed."""
        lex_type = self.type(ref, prop, f"{class_name}_{json_name}", f"{class_name}.{py_name}")
        if (ref.lex_type, json_name) not in records.RECORD_FIELDS:
            return lex_type
        item = lex_type.items if isinstance(lex_type, ArrayType) else lex_type
        if not (isinstance(item, Primitive) and item.kind == "unknown"):
            raise self.fail(ref, f"{json_name!r} is listed as a record field but is not unknown")
        record = RecordValue(item.description)
        if isinstance(lex_type, ArrayType):
            return ArrayType(record, lex_type.description, lex_type.limits)
        return record

    def type(
        self, where: DefRef, schema: Mapping[str, Any], name_hint: str = "", use: str = ""
    ) -> LexType:
        """The type of a property, a parameter or a string / array definition.

        Args:
            where: The definition being parsed (for errors and names).
            schema: The type's schema.
            name_hint: What an inline object or a union is named after (``Post_embed``).
            use: How documentation names the place (``Post.embed``).
        """
        kind = schema.get("type")
        description = str(schema.get("description", ""))
        if kind == "object" and name_hint:
            return self.inline_object(where, schema, name_hint, description)
        if kind in PRIMITIVES:
            enum = schema.get("enum")
            known = schema.get("knownValues")
            return Primitive(
                kind=str(kind),
                description=description,
                format=schema.get("format"),
                enum=tuple(enum) if enum is not None else None,
                known_values=tuple(known) if known is not None else None,
                const=schema.get("const"),
                default=schema.get("default"),
                limits=_limits(schema),
            )
        if kind == "blob":
            return BlobType(
                description=description,
                accept=tuple(schema.get("accept", ())),
                max_size=schema.get("maxSize"),
            )
        if kind == "ref":
            return RefType(parse_ref(schema["ref"], where.nsid), description)
        if kind == "union":
            refs = tuple(parse_ref(r, where.nsid) for r in schema.get("refs", ()))
            union = UnionType(refs, bool(schema.get("closed", False)), description, where.nsid)
            _, uses = self.union_uses.setdefault(union.key, (name_hint or where.name, []))
            if use and use not in uses:
                uses.append(use)
            return union
        if kind == "array":
            items = self.type(where, schema["items"], name_hint and f"{name_hint}_item", use)
            return ArrayType(items, description, _limits(schema))
        raise self.fail(where, f"unsupported field type {kind!r}")

    def inline_object(
        self, where: DefRef, schema: Mapping[str, Any], name_hint: str, description: str
    ) -> RefType:
        """An object written inside a property: a class of its own, named after the property."""
        class_name = naming.def_class_name(name_hint)
        if class_name in self.class_names or self.current is None:
            raise self.fail(where, f"class name {class_name} of an inline object is taken")
        self.class_names.add(class_name)
        ref = DefRef(where.nsid, f"{where.name}.{name_hint}")
        obj = self.object(ref, class_name, schema, description, has_lex_type=False)
        self.current.objects.append(obj)
        self.definitions[ref] = obj
        return RefType(ref, description)

    def method(self, ref: DefRef, kind: str, schema: Mapping[str, Any], doc: Document) -> MethodDef:
        params_schema: Mapping[str, Any] = schema.get("parameters") or {}
        props: Mapping[str, Any] = params_schema.get("properties", {})
        required = set(params_schema.get("required", ()))
        py_names = naming.unique_names(props, naming.snake_case, naming.ENDPOINT_RESERVED)
        params = []
        for (json_name, prop), py_name in zip(props.items(), py_names, strict=True):
            lex_type = self.type(ref, prop, f"{py_name}_param")
            item = lex_type.items if isinstance(lex_type, ArrayType) else lex_type
            if not isinstance(item, Primitive) or item.kind not in ("string", "integer", "boolean"):
                raise self.fail(ref, f"parameter {json_name!r} is not a string/integer/boolean")
            description = str(prop.get("description", ""))
            params.append(
                Field(json_name, py_name, lex_type, json_name in required, False, description)
            )
        errors = [(str(e["name"]), str(e.get("description", ""))) for e in schema.get("errors", ())]
        return MethodDef(
            ref=ref,
            kind=kind,
            method_name=naming.method_name(ref.nsid),
            description=str(schema.get("description", "")),
            params=params,
            input=self.body(ref, "Input", schema.get("input"), doc),
            output=self.body(ref, "Output", schema.get("output"), doc),
            errors=errors,
        )

    def body(
        self, ref: DefRef, which: str, schema: Mapping[str, Any] | None, doc: Document
    ) -> Body | None:
        """The ``Input`` or ``Output`` (``which``) of a method."""
        if schema is None:
            return None
        encoding = str(schema.get("encoding", ""))
        body_schema = schema.get("schema")
        description = str(schema.get("description", ""))
        if body_schema is None:
            return Body(encoding, description, None)
        if encoding != "application/json":
            raise self.fail(ref, f"a schema for a non-JSON {which.lower()} ({encoding})")
        kind = body_schema.get("type")
        if kind == "ref":
            return Body(encoding, description, RefType(parse_ref(body_schema["ref"], ref.nsid)))
        class_name = naming.body_class_name(ref.nsid, which)
        if class_name in self.class_names:
            raise self.fail(ref, f"class name {class_name} of the {which.lower()} is taken")
        self.class_names.add(class_name)
        obj = self.object(
            DefRef(ref.nsid, which.lower()),
            class_name,
            body_schema,
            description,
            has_lex_type=False,
        )
        doc.objects.append(obj)
        return Body(encoding, description, obj)

    def check_refs(self, schema: Schema) -> None:
        """Fail on a reference to a missing definition, or one of the wrong kind."""

        def check(where: DefRef, lex_type: LexType) -> None:
            if isinstance(lex_type, ArrayType):
                check(where, lex_type.items)
            elif isinstance(lex_type, RefType | UnionType):
                targets = lex_type.refs if isinstance(lex_type, UnionType) else (lex_type.target,)
                for target in targets:
                    found = schema.definitions.get(target)
                    if found is None:
                        raise self.fail(where, f"reference to missing {target.lex_type}")
                    if isinstance(lex_type, UnionType) and not isinstance(found, ObjectDef):
                        raise self.fail(where, f"union member {target.lex_type} is not an object")
                    if not isinstance(found, ObjectDef | AliasDef):
                        raise self.fail(where, f"{target.lex_type} cannot be used as a type")

        for doc in schema.documents.values():
            for obj in doc.objects:
                for f in obj.fields:
                    check(obj.ref, f.type)
            for alias in doc.aliases:
                check(alias.ref, alias.type)
            if doc.method is not None:
                for body in (doc.method.input, doc.method.output):
                    if body is not None and isinstance(body.schema, RefType):
                        check(doc.method.ref, body.schema)
                        if not isinstance(schema.resolve(body.schema.target), ObjectDef):
                            raise self.fail(doc.method.ref, "a body must reference an object")


def parse(raw_docs: Iterable[Mapping[str, Any]], library: Iterable[str] = ()) -> Schema:
    """Parse lexicon documents into the IR.

    Args:
        raw_docs: Every document, including those only referenced.
        library: The NSIDs of the documents whose models ``atproto_async.models`` already has:
            they are parsed (references to them resolve) but not generated again.

    Raises:
        LexiconError: a document uses something the generator cannot represent.
    """
    schema = _Parser(raw_docs).parse()
    schema.library = frozenset(library) & schema.documents.keys()
    return schema
