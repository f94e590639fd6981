"""IR -> ``atproto_async/models/``: one module per lexicon document, plus package files.

Each object definition becomes a frozen, slotted, keyword-only attrs class with a straight-line
``from_dict`` (no reflection at run time: it is on the firehose hot path) and ``to_dict``.
``from_dict`` fills a mutable twin of the class and then gives it the real class
(`atproto_async._model.mutable_twin`) instead of calling attrs' ``__init__``, which costs more
than twice as much for the same instance.
Other documents' modules are bound lazily (`atproto_async._model.lazy_module`) so that loading a
record's module does not load everything it could reference.

``from_dict`` refuses ``null`` in a field the lexicon does not declare nullable (one ``is None``
test on the value read; see `_read_field` for the required scalars it leaves alone) and among an
array's items, and builds a field `records` lists as a record with ``RECORDS.from_dict`` (a
field holding one record when it is first read, `_lazy_record`). Each union is a type
alias written once per module (``PostEmbed``) with one private dispatch function
(``_post_embed``); a method's bodies are classes named after it (``GetRecordOutput``) with
``Output`` / ``Input`` kept as aliases.
"""

from __future__ import annotations

from atproto_async._codegen import layout, naming
from atproto_async._codegen.emit import (
    INDENT,
    LIBRARY,
    WIDTH,
    Origin,
    Writer,
    field_doc,
    import_order,
    literal,
    sentence,
    wrap,
)
from atproto_async._codegen.ir import (
    AliasDef,
    ArrayType,
    Document,
    Field,
    ObjectDef,
    Primitive,
    RecordValue,
    Schema,
    TokenDef,
    UnionDef,
)
from atproto_async._codegen.layout import Atom, Call, Expr, Ternary, call, flat, union
from atproto_async._codegen.types import MODELS_PACKAGE, ModuleContext, UnionFunction, describe

RUNTIME = "atproto_async._model"
# Runtime names every model module uses, and the ones it imports only when needed.
_ALWAYS = (
    "UNSET",
    "Model",
    "UnsetType",
    "invalid",
    "TWINS",
    "unknown_fields",
)
# The runtime names a model module imports only when its code uses them.
_OPTIONAL_RUNTIME = (
    "Blob",
    "UnknownMember",
    "closed_union_error",
    "dump_member",
    "keep_type",
    "null_field",
    "null_item",
    "PendingRecord",
    "lazy_records",
)


def render_models(
    schema: Schema, package: str = MODELS_PACKAGE, origin: Origin = LIBRARY
) -> dict[str, str]:
    """Return ``{path relative to the repository: source}`` for the whole models package.

    Documents of `Schema.library` are not rendered: their models are the library's.

    Args:
        schema: The parsed lexicons.
        package: The dotted name of the package to generate (tests use a scratch one).
        origin: What the files say about where they come from.
    """
    files: dict[str, str] = {}
    packages: dict[tuple[str, ...], set[str]] = {(): set()}
    for nsid in sorted(schema.documents.keys() - schema.library):
        doc = schema.documents[nsid]
        text = render_document(schema, doc, package, origin)
        files[_path(package, doc.module, is_package=False)] = text
        for i in range(len(doc.module)):
            packages.setdefault(doc.module[:i], set()).add(doc.module[i])
    for parts, children in packages.items():
        if parts:
            text = render_package(parts, sorted(children), origin)
            files[_path(package, parts, is_package=True)] = text
    root = render_root(schema, sorted(packages[()]), package, origin)
    files[_path(package, (), is_package=True)] = root
    return dict(sorted(files.items()))


def _strings(values: list[str]) -> tuple[Expr, ...]:
    return tuple(Atom(literal(v)) for v in values)


def _all(w: Writer, names: list[str]) -> None:
    """``__all__``: one name per line (an empty list on one)."""
    if not names:
        w.line("__all__ = []")
        return
    w.line("__all__ = [")
    with w.indent():
        for name in sorted(names):
            w.line(f"{literal(name)},")
    w.line("]")


def _path(package: str, parts: tuple[str, ...], *, is_package: bool) -> str:
    base = "/".join((*package.split("."), *parts))
    return f"{base}/__init__.py" if is_package else f"{base}.py"


def _lazy_getattr(w: Writer, children: list[str]) -> None:
    w.assign("_SUBMODULES", call("frozenset", Call("", _strings(children), tuple_display=True)))
    w.blank(2)
    w.line("def __getattr__(name: str) -> Any:")
    with w.indent():
        w.line("if name in _SUBMODULES:")
        with w.indent():
            w.line('return import_module(f"{__name__}.{name}")')
        w.line('raise AttributeError(f"module {__name__!r} has no attribute {name!r}")')


def render_package(parts: tuple[str, ...], children: list[str], origin: Origin = LIBRARY) -> str:
    w = Writer()
    w.line(origin.marker)
    w.docstring(f"Models of the ``{'.'.join(parts)}`` lexicons; submodules load on first access.")
    w.blank()
    w.line("from __future__ import annotations")
    w.blank()
    w.line("from importlib import import_module")
    w.line("from typing import Any")
    w.blank()
    _lazy_getattr(w, children)
    return w.text()


def render_root(schema: Schema, children: list[str], package: str, origin: Origin = LIBRARY) -> str:
    w = Writer()
    w.line(origin.marker)
    if origin.library:
        notes = [
            "One module per lexicon document at its NSID path (``app.bsky.feed.post`` ->",
            "``atproto_async.models.app.bsky.feed.post``), loaded on first access.",
            "`record_from_dict` builds the model of any record from its ``$type``.",
        ]
    else:
        notes = [
            "One module per lexicon document at its NSID path below this package, loaded on",
            "first access. `record_from_dict` builds the model of a record of these lexicons",
            "from its ``$type``; ``atproto_async.models.record_from_dict`` builds the others.",
        ]
    w.docstring(
        f"Models generated from the lexicons in ``{origin.source}``"
        " (https://atproto.com/specs/lexicon).",
        [("", notes)],
    )
    w.blank()
    w.line("from __future__ import annotations")
    w.blank()
    w.line("from collections.abc import Mapping")
    w.line("from importlib import import_module")
    w.line("from typing import Any, Final")
    w.blank()
    w.line("from atproto_async._model import (")
    with w.indent():
        for name in ("UNSET", "Blob", "Model", "RecordRegistry", "UnknownMember", "UnknownRecord"):
            w.line(f"{name},")
        w.line("UnsetType,")
    w.line(")")
    w.blank()
    names = ["Blob", "Model", "RECORDS", "UNSET", "UnknownMember", "UnknownRecord", "UnsetType"]
    _all(w, [*names, "record_from_dict"])
    w.blank()
    w.line("#: Every record type of the lexicons: ``$type`` -> ``module:Class``, imported on use.")
    w.line("RECORDS: Final = RecordRegistry(")
    with w.indent():
        w.line("{")
        with w.indent():
            for nsid in sorted(schema.documents.keys() - schema.library):
                doc = schema.documents[nsid]
                for obj in doc.objects:
                    if obj.record_key is not None:
                        module = ".".join((package, *doc.module))
                        target = literal(f"{module}:{obj.class_name}")
                        w.line(f"{literal(obj.ref.lex_type)}: {target},")
        w.line("}")
    w.line(")")
    w.blank(2)
    w.line("def record_from_dict(data: Mapping[str, Any]) -> Model:")
    with w.indent():
        w.docstring(
            "Build the model of a record from its data-model form, picked by ``$type``.",
            [
                ("Args", ["data: The record, as ``decode_dag_cbor`` or ``from_json`` return it."]),
                (
                    "Returns",
                    [
                        "The generated record model, or `UnknownRecord` (``.type``, ``.data``)",
                        "when the type has no lexicon here; unknown types never raise.",
                    ],
                ),
                (
                    "Raises",
                    [
                        "DecodeError: ``data`` has no string ``$type``, or does not fit its",
                        "    lexicon (a required field is missing, a value has the wrong shape).",
                    ],
                ),
            ],
        )
        w.line("return RECORDS.from_dict(data)")
    w.blank(2)
    _lazy_getattr(w, children)
    return w.text()


def render_document(
    schema: Schema, doc: Document, package: str = MODELS_PACKAGE, origin: Origin = LIBRARY
) -> str:
    ctx = ModuleContext(schema, doc.nsid, package)
    body = Writer()
    for token in doc.tokens:
        _token(body, token)
    for alias in doc.aliases:
        _alias(body, ctx, alias)
    for union_def in doc.unions.values():
        _union_alias(body, ctx, union_def)
    body_aliases: list[tuple[str, str]] = []
    for obj in doc.objects:
        body.blank(2)
        _object(body, ctx, obj)
        if _is_body(obj):
            body_aliases.append((obj.ref.name.capitalize(), obj.class_name))
    for old, new in body_aliases:
        body.blank(2)
        body.line(f"{old} = {new}")
        body.docstring(f"The former name of `{new}`, kept so that existing imports still work.")
    for fn in list(ctx.unions.values()):
        body.blank(2)
        _union_function(body, ctx, fn)

    w = Writer()
    w.line(origin.marker)
    summary = (
        f"``{doc.nsid}``: {sentence(doc.description)}" if doc.description else f"``{doc.nsid}``."
    )
    w.docstring(
        summary,
        [("", [f"Lexicon: ``{origin.source}{doc.nsid.replace('.', '/')}.json``."])],
    )
    w.blank()
    w.line("from __future__ import annotations")
    w.blank()
    uses = ctx.names
    if "builtins" in uses:
        w.line("import builtins")
    if doc.objects or ctx.unions:
        w.line("from collections.abc import Mapping")
    typing_names = ["TYPE_CHECKING"]
    if doc.objects or "Any" in uses or ctx.unions:
        typing_names.append("Any")
    if doc.objects:
        typing_names.append("ClassVar")
    if doc.objects or doc.tokens:
        typing_names.append("Final")
    if "Literal" in uses:
        typing_names.append("Literal")
    if doc.aliases or doc.unions:
        typing_names.append("TypeAlias")
    w.line(f"from typing import {', '.join(sorted(set(typing_names), key=import_order))}")
    w.blank()
    runtime = sorted(
        {*(_ALWAYS if doc.objects else ()), *(n for n in _OPTIONAL_RUNTIME if n in uses)}
        | ({"lazy_module"} if ctx.modules else set()),
        key=import_order,
    )
    if doc.objects:
        w.line("import attrs")
        w.blank()
    if runtime:
        w.import_from(RUNTIME, runtime)
    if "RECORDS" in uses:
        w.line(f"from {package} import RECORDS")
    if runtime or "RECORDS" in uses:
        w.blank()
    w.line("if TYPE_CHECKING:")
    with w.indent():
        w.line("from typing import Self")
        if "CID" in uses:
            w.blank()
            w.line("from atproto_async.ipld import CID")
        if ctx.modules:
            w.blank()
            for name, path in sorted(ctx.modules.items()):
                parent, _, module = path.rpartition(".")
                w.import_from(parent, [f"{module} as {name}"])
    if ctx.modules:
        w.line("else:")
        with w.indent():
            for name, path in sorted(ctx.modules.items()):
                w.assign(name, call("lazy_module", "globals()", literal(name), literal(path)))
    w.blank()
    names = (
        [o.class_name for o in doc.objects]
        + [t.const_name for t in doc.tokens]
        + [a.alias_name for a in doc.aliases]
        + [u.name for u in doc.unions.values()]
        + [old for old, _ in body_aliases]
    )
    _all(w, names)
    w.blank(2 if doc.objects or ctx.unions else 1)
    w.lines(body.text().strip("\n").split("\n"))
    return w.text()


def _token(w: Writer, token: TokenDef) -> None:
    w.blank()
    w.annotated(token.const_name, Atom("Final"), Atom(literal(token.ref.lex_type)))
    w.docstring(sentence(token.description) or f"The token ``{token.ref.lex_type}``.")


def _alias(w: Writer, ctx: ModuleContext, alias: AliasDef) -> None:
    w.blank()
    annotation = literal(flat(ctx.annotation(alias.type)))
    w.annotated(alias.alias_name, Atom("TypeAlias"), Atom(annotation))
    facts = wrap(" ".join(describe(alias.type, ctx.schema)), WIDTH - 3)
    w.docstring(sentence(alias.description) or f"The type ``{alias.ref.lex_type}``.", [("", facts)])


def _union_alias(w: Writer, ctx: ModuleContext, union_def: UnionDef) -> None:
    """``PostEmbed: TypeAlias = "Images | ... | UnknownMember"``, as a string: imports nothing."""
    w.blank()
    members = ctx.union_members(union_def.union)
    operands = members.operands if isinstance(members, layout.Union) else (members,)
    w.lines(layout.string_alias(union_def.name, tuple(flat(op) for op in operands), w.level))
    facts = describe(union_def.union, ctx.schema)
    if not union_def.union.closed:
        facts.append("A member of another ``$type`` is an `UnknownMember`.")
    uses = ", ".join(f"``{use}``" for use in union_def.uses)
    w.docstring(" ".join(facts), [("", wrap(f"Used by {uses}.", WIDTH - 3) if uses else [])])


def _field_annotation(ctx: ModuleContext, f: Field) -> tuple[Expr, Expr | None]:
    """A field's annotation and default (None: the field is required)."""
    operands: list[Expr | str] = [ctx.annotation(f.type)]
    if f.nullable:
        operands.append("None")
    if not f.required:
        operands.append("UnsetType")
    return union(*operands), None if f.required else Atom("UNSET")


def _field_prose(ctx: ModuleContext, f: Field) -> str:
    parts = [sentence(f.description or getattr(f.type, "description", ""))]
    parts.extend(describe(f.type, ctx.schema))
    if _lazy_record(ctx, f):
        parts.append("Built when first read (a record that does not fit raises DecodeError then).")
    if f.nullable:
        parts.append("May be None (null).")
    if not f.required:
        parts.append("UNSET when absent.")
    return " ".join(p.strip() for p in parts if p.strip())


def _object(w: Writer, ctx: ModuleContext, obj: ObjectDef) -> None:
    ctx.shadowed = frozenset(f.py_name for f in obj.fields) & naming.ANNOTATION_BUILTINS
    try:
        _object_class(w, ctx, obj)
    finally:
        ctx.shadowed = frozenset()


def _is_body(obj: ObjectDef) -> bool:
    """Whether ``obj`` is a method's input or output body (see `parser`)."""
    return not obj.has_lex_type and obj.ref.name in ("input", "output")


def _has_typed_flag(obj: ObjectDef) -> bool:
    """Objects that may appear with a ``$type`` (not records, which always write theirs)."""
    return obj.has_lex_type and obj.record_key is None


def _object_class(w: Writer, ctx: ModuleContext, obj: ObjectDef) -> None:
    where = obj.ref.lex_type
    keys_const = f"_{_const_stem(obj)}_KEYS"
    width = WIDTH - len(INDENT)
    attributes: list[str] = []
    annotations = [(f, _field_annotation(ctx, f)) for f in obj.fields]
    for f in obj.fields:
        attributes.extend(field_doc(f.py_name, _field_prose(ctx, f) or "(No description.)", width))
    if _has_typed_flag(obj):
        attributes.extend(
            field_doc(
                "typed",
                "Whether `to_dict` writes ``$type`` (the data had one; union members always do).",
                width,
            )
        )
    attributes.extend(field_doc("extra", "Fields the lexicon does not define, as read.", width))
    notes = []
    if obj.record_key is not None:
        notes.append(f"Record (``$type`` ``{obj.ref.lex_type}``), key ``{obj.record_key}``.")
    elif obj.has_lex_type:
        notes.append(f"``$type``: ``{obj.ref.lex_type}``.")
    elif obj.ref.name in ("input", "output"):
        notes.append(f"The {obj.ref.name} body of ``{obj.ref.nsid}``.")
    else:
        notes.append(f"An object written inline in ``{obj.ref.nsid}`` (no ``$type``).")

    # __eq__, __hash__ and __repr__ come from Model (see atproto_async._model): cheaper imports.
    w.statement(
        "@",
        call(
            "attrs.frozen",
            *(
                f"{k}={v}"
                for k, v in (
                    ("slots", True),
                    ("kw_only", True),
                    ("weakref_slot", False),
                    ("eq", False),
                    ("repr", False),
                    ("match_args", False),
                )
            ),
        ),
    )
    w.line(f"class {obj.class_name}(Model):")
    with w.indent():
        summary = sentence(obj.description) or f"The ``{obj.ref.lex_type}`` object."
        w.docstring(summary, [("", notes), ("Attributes", attributes)])
        w.blank()
        if obj.has_lex_type:
            w.annotated("LEX_TYPE", Atom("ClassVar[str]"), Atom(literal(obj.ref.lex_type)))
            w.blank()
        elif _is_body(obj):
            # What Model.validate checks a method's body against (nsid#input / nsid#output).
            w.annotated("LEX_BODY", Atom("ClassVar[str]"), Atom(literal(obj.ref.lex_type)))
            w.blank()
        for f, (annotation, default) in annotations:
            w.annotated(f.py_name, annotation, default)
        if _has_typed_flag(obj):
            w.annotated(
                "typed",
                Atom(ctx.builtin("bool")),
                call("attrs.field", "default=False", "eq=False", "repr=False"),
            )
        w.annotated(
            "extra",
            Atom("Mapping[str, Any] | None"),
            call("attrs.field", "default=None", "repr=False"),
        )
        w.blank()
        _from_dict(w, ctx, obj, where, keys_const)
        w.blank()
        _to_dict(w, ctx, obj)
    w.blank(2)
    keys = (["$type"] if obj.has_lex_type else []) + [f.json_name for f in obj.fields]
    w.annotated(
        keys_const,
        Atom("Final[frozenset[str]]"),
        call("frozenset", Call("", _strings(keys), tuple_display=True)),
    )
    lazy = [f.py_name for f in obj.fields if _lazy_record(ctx, f)]
    if lazy:
        ctx.names.update(("lazy_records", "RECORDS"))
        names = Call("", _strings(lazy), tuple_display=True)
        w.statement("", call("lazy_records", obj.class_name, names, "RECORDS"))


def _const_stem(obj: ObjectDef) -> str:
    return naming.snake_case(obj.class_name).upper()


def _read_field(w: Writer, ctx: ModuleContext, f: Field, where: str) -> None:
    """Store one field on ``self`` (the twin), refusing null where the lexicon does not allow it.

    A field that is not nullable costs one ``is None`` test on the value read (an absent
    optional field reads `UNSET`, which passes; one that needs converting is tested only when
    it is there). A required scalar (string, integer, boolean,
    bytes, cid-link, unknown) is the exception: it is stored as read, as a scalar of another
    wrong type is (the models check the shape of the data, not scalar types; the lexicon
    validator does), and written back unchanged. Testing those too would cost about 4% of
    ``from_dict`` on posts (benchmarks/bench_models.py): they are most of the fields read.

    The items of an array are never nullable: an array that is there costs one ``None in v``
    more (`_refuse_null_items`), and a null item is refused with its index (``langs[1]``).
    """
    key = literal(f.json_name)
    source = f"data[{key}]" if f.required else f"get({key}, UNSET)"
    convert = ctx.from_data(f.type, "v", where)
    if _lazy_record(ctx, f):
        ctx.names.add("PendingRecord")
        convert = call("PendingRecord", "v")
    target = f"self.{f.py_name}"
    array = isinstance(ctx.resolve_alias(f.type), ArrayType)
    if f.nullable and array:
        absent = "is not None" if f.required else "is not UNSET and v is not None"
        w.line(f"if (v := {source}) {absent}:")
        with w.indent():
            _refuse_null_items(w, ctx, where, key)
            if convert is not None:
                w.assign("v", convert)
        w.assign(target, Atom("v"))
        return
    if f.nullable:
        if convert is None:
            w.assign(target, Atom(source))
        elif f.required:
            w.assign(target, Ternary(Atom("None"), Atom(f"(v := {source}) is None"), convert))
        else:
            test = f"(v := {source}) is UNSET or v is None"
            w.assign(target, Ternary(Atom("v"), Atom(test), convert))
        return
    if f.required and isinstance(ctx.resolve_alias(f.type), Primitive):
        w.assign(target, Atom(source))
        return
    ctx.names.add("null_field")
    refuse = call("null_field", literal(where), key)
    if (convert is not None or array) and not f.required:
        # Tested only when the field is there: an absent field costs what it did without.
        w.line(f"if (v := {source}) is not UNSET:")
        with w.indent():
            w.line("if v is None:")
            with w.indent():
                w.statement("raise ", refuse)
            if array:
                _refuse_null_items(w, ctx, where, key)
            if convert is not None:
                w.assign("v", convert)
        w.assign(target, Atom("v"))
        return
    w.line(f"if (v := {source}) is None:")
    with w.indent():
        w.statement("raise ", refuse)
    if array:
        _refuse_null_items(w, ctx, where, key)
    w.assign(target, convert or Atom("v"))


def _lazy_record(ctx: ModuleContext, f: Field) -> bool:
    """Whether ``f`` holds one whole record, built when first read (``_model.lazy_records``).

    A list response (a timeline, ``listRecords``) holds one in each item; building them all
    up front cost about 40% of decoding a timeline page (benchmarks/bench_models.py).
    """
    return isinstance(ctx.resolve_alias(f.type), RecordValue)


def _refuse_null_items(w: Writer, ctx: ModuleContext, where: str, key: str) -> None:
    """``if None in v: raise null_item(...)``: ``v`` is an array field's value, read."""
    ctx.names.add("null_item")
    w.line("if None in v:")
    with w.indent():
        w.statement("raise ", call("null_item", literal(where), key, "v"))


def _from_dict(w: Writer, ctx: ModuleContext, obj: ObjectDef, where: str, keys_const: str) -> None:
    # Every field is stored on the mutable twin in order, as attrs' __init__ would set them
    # (defaults included), so a missing key is reported for the same field as a keyword call
    # would; then the instance becomes the real, frozen class (see _model.mutable_twin).
    w.line("@classmethod")
    w.line("def from_dict(cls, data: Mapping[str, Any]) -> Self:")
    with w.indent():
        w.line("self: Any = TWINS[cls]()")
        w.line("try:")
        with w.indent():
            if any(not f.required for f in obj.fields):
                w.line("get = data.get")
            for f in obj.fields:
                _read_field(w, ctx, f, where)
            if _has_typed_flag(obj):
                w.line('self.typed = "$type" in data')
            # frozenset.issuperset(data) reads the keys without making a keys view (faster); it
            # needs a mapping, which reading the fields above has checked (data.get / data[...]).
            if obj.fields:
                known = f"{keys_const}.issuperset(data)"
            else:
                known = f"data.keys() <= {keys_const}"
            unknown = call("unknown_fields", "data", keys_const)
            w.assign("self.extra", Ternary(Atom("None"), Atom(known), unknown))
        w.line("except (KeyError, TypeError, AttributeError) as exc:")
        with w.indent():
            w.statement("raise ", call("invalid", literal(where), "exc"), " from exc")
        w.line("self.__class__ = cls")
        w.line("built: Self = self")
        w.line("return built")


def _to_dict(w: Writer, ctx: ModuleContext, obj: ObjectDef) -> None:
    dict_type = f"{ctx.builtin('dict')}[str, Any]"
    w.line(f"def to_dict(self) -> {dict_type}:")
    with w.indent():
        entries: list[Expr] = []
        if obj.record_key is not None:
            entries.append(layout.Pair('"$type"', Atom(literal(obj.ref.lex_type))))
        later: list[Field] = []
        for f in obj.fields:
            if f.required and not f.nullable:
                value = ctx.to_data(f.type, "self." + f.py_name)
                entries.append(layout.Pair(literal(f.json_name), value))
            else:
                later.append(f)
        w.annotated("d", Atom(dict_type), Call("", tuple(entries), "{}"))
        for f in later:
            var = f"v_{f.py_name}"
            convert = ctx.to_data(f.type, var)
            if f.nullable and convert != Atom(var):
                convert = Ternary(Atom("None"), Atom(f"{var} is None"), convert)
            w.line(f"{var} = self.{f.py_name}")
            target = f"d[{literal(f.json_name)}]"
            if f.required:
                w.assign(target, convert)
            else:
                w.line(f"if {var} is not UNSET:")
                with w.indent():
                    w.assign(target, convert)
        if _has_typed_flag(obj):
            w.line("if self.typed:")
            with w.indent():
                w.line(f'd["$type"] = {literal(obj.ref.lex_type)}')
        w.line("if self.extra:")
        with w.indent():
            w.line("d.update(self.extra)")
        w.line("return d")


def _union_function(w: Writer, ctx: ModuleContext, fn: UnionFunction) -> None:
    union_type = fn.union.union
    result = ctx.union_ref(union_type)
    header = f"def {fn.name}(value: Mapping[str, Any]) -> {result}:"
    if w.fits(header):
        w.line(header)
    else:
        w.line(f"def {fn.name}(")
        with w.indent():
            w.line("value: Mapping[str, Any],")
        w.line(f") -> {result}:")
    members = [ctx.class_ref(r) for r in union_type.refs]
    with w.indent():
        w.line('t = value.get("$type")')
        for ref, member in zip(union_type.refs, members, strict=True):
            w.line(f"if t == {literal(ref.lex_type)}:")
            with w.indent():
                w.statement("return ", call(f"{member}.from_dict", "value"))
            if ref.name == "main":
                # The same type spelled nsid#main: kept, so that it is written back unchanged.
                ctx.names.add("keep_type")
                w.line(f"if t == {literal(ref.lex_type + '#main')}:")
                with w.indent():
                    built = call(f"{member}.from_dict", "value")
                    w.statement("return ", call("keep_type", built, "t"))
        if union_type.closed:
            ctx.names.add("closed_union_error")
            w.statement("raise ", call("closed_union_error", literal(fn.where), "t"))
        else:
            ctx.names.add("UnknownMember")
            w.line("return UnknownMember.from_dict(value)")
