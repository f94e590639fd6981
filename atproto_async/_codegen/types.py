"""How lexicon types appear in generated code: annotations, conversions, documentation.

A `ModuleContext` is created per generated module; while renderers ask it for annotations and
conversion expressions (`layout` trees) it records what the module must import and
which union dispatch functions it must define. Shared by the model and endpoint renderers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atproto_async._codegen import naming
from atproto_async._codegen.emit import literal
from atproto_async._codegen.ir import (
    AliasDef,
    ArrayType,
    BlobType,
    DefRef,
    LexType,
    ObjectDef,
    Primitive,
    RecordValue,
    RefType,
    Schema,
    UnionDef,
    UnionType,
)
from atproto_async._codegen.layout import Atom, Comp, Expr, call, subscript
from atproto_async._codegen.layout import union as layout_union

MODELS_PACKAGE = "atproto_async.models"

_PRIMITIVE_ANNOTATIONS = {
    "string": "str",
    "integer": "int",
    "boolean": "bool",
    "bytes": "bytes",
    "cid-link": "CID",
    "unknown": "Any",
}


@dataclass
class UnionFunction:
    """A generated private ``_post_embed(value)`` that builds the member named by ``$type``."""

    name: str
    union: UnionDef
    where: str


@dataclass
class ModuleContext:
    """What one generated module references, collected while rendering it.

    Model modules (``nsid`` set) name other documents' classes through a private module alias
    bound lazily (``_m_app_bsky_embed_images.Image``). Endpoint modules (``nsid`` None) import
    every class they name under its own public name (`imports`).
    """

    schema: Schema
    nsid: str | None
    #: The dotted package the model modules are generated into.
    models_package: str = MODELS_PACKAGE
    #: Module aliases for other documents: alias -> dotted module path.
    modules: dict[str, str] = field(default_factory=dict)
    #: Endpoint modules: (dotted module path, name) -> the local name it is imported as.
    imports: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Names imported from typing / runtime modules that the module uses.
    names: set[str] = field(default_factory=set)
    #: The union dispatch functions the module defines, by (owner, union key).
    unions: dict[tuple[str, tuple[tuple[DefRef, ...], bool]], UnionFunction] = field(
        default_factory=dict
    )
    #: Builtin names hidden by a field of the class being rendered (see naming).
    shadowed: frozenset[str] = frozenset()

    def builtin(self, name: str) -> str:
        """The way to spell builtin ``name`` in an annotation of the current class."""
        if name in self.shadowed:
            self.names.add("builtins")
            return f"builtins.{name}"
        return name

    # -- references -------------------------------------------------------------------------

    def class_ref(self, ref: DefRef) -> str:
        """The expression naming the class of an object definition from this module."""
        target = self.schema.resolve(ref)
        assert isinstance(target, ObjectDef), ref
        return self.name_in(ref.nsid, target.class_name)

    def name_in(self, nsid: str, name: str) -> str:
        """The expression naming ``name`` defined by the module of document ``nsid``."""
        if nsid == self.nsid:
            return name
        if self.nsid is not None:
            return f"{self.module_alias(nsid)}.{name}"
        module = self.schema.documents[nsid].module
        path = self.module_path(nsid)
        local = self.imports.get((path, name))
        if local is None:
            taken = set(self.imports.values())
            local = name if name not in taken else naming.import_alias(module, name)
            self.imports[(path, name)] = local
        return local

    def module_alias(self, nsid: str) -> str:
        alias = naming.module_alias(nsid)
        self.modules[alias] = self.module_path(nsid)
        return alias

    def module_path(self, nsid: str) -> str:
        """The dotted model module of document ``nsid``: the library's for `Schema.library`."""
        package = MODELS_PACKAGE if nsid in self.schema.library else self.models_package
        return ".".join((package, *self.schema.documents[nsid].module))

    def resolve_alias(self, lex_type: LexType) -> LexType:
        """Follow references to string / array definitions down to the type they stand for."""
        while isinstance(lex_type, RefType):
            target = self.schema.resolve(lex_type.target)
            if not isinstance(target, AliasDef):
                break
            lex_type = target.type
        return lex_type

    def union_ref(self, union: UnionType) -> str:
        """The expression naming the type alias of ``union`` (in the module that writes it)."""
        return self.name_in(union.owner, self.schema.union(union).name)

    def union_function(self, union: UnionType, where: str) -> str:
        key = (union.owner, union.key)
        found = self.unions.get(key)
        if found is None:
            union_def = self.schema.union(union)
            name = naming.union_function(union_def.name)
            taken = {f.name for f in self.unions.values()}
            while name in taken:
                name += "_"
            found = self.unions[key] = UnionFunction(name, union_def, where)
        return found.name

    # -- annotations -------------------------------------------------------------------------

    def annotation(self, lex_type: LexType, *, accept_mapping: bool = False) -> Expr:
        """The annotation for a value of ``lex_type``.

        Args:
            lex_type: The lexicon type.
            accept_mapping: For endpoint arguments: objects may also be given as plain dicts,
                and lists are any sequence.
        """
        lex_type = self.resolve_alias(lex_type)
        mapping = "Mapping[str, Any]"
        if isinstance(lex_type, Primitive):
            return self.primitive_annotation(lex_type)
        if isinstance(lex_type, BlobType):
            self.names.add("Blob")
            return layout_union("Blob", mapping) if accept_mapping else Atom("Blob")
        if isinstance(lex_type, RecordValue):
            self.names.add("Model")
            return layout_union("Model", mapping) if accept_mapping else Atom("Model")
        if isinstance(lex_type, RefType):
            ref = self.class_ref(lex_type.target)
            return layout_union(ref, mapping) if accept_mapping else Atom(ref)
        if isinstance(lex_type, UnionType):
            ref = self.union_ref(lex_type)
            return layout_union(ref, mapping) if accept_mapping else Atom(ref)
        item = self.annotation(lex_type.items, accept_mapping=accept_mapping)
        if accept_mapping:
            self.names.add("Sequence")
            return subscript("Sequence", item)
        return subscript(self.builtin("list"), item)

    def union_members(self, union: UnionType) -> Expr:
        """The annotation a union's alias stands for: its members (and `UnknownMember`)."""
        members: list[Expr | str] = [self.class_ref(r) for r in union.refs]
        if not union.closed:
            self.names.add("UnknownMember")
            members.append("UnknownMember")
        return layout_union(*members)

    def primitive_annotation(self, prim: Primitive) -> Expr:
        if prim.enum is not None and prim.kind in ("string", "integer"):
            self.names.add("Literal")
            return subscript("Literal", *(literal(v) for v in prim.enum))
        annotation = _PRIMITIVE_ANNOTATIONS[prim.kind]
        if annotation in ("CID", "Any"):
            self.names.add(annotation)
        return Atom(self.builtin(annotation))

    # -- conversions -------------------------------------------------------------------------

    def from_data(self, lex_type: LexType, value: str, where: str, depth: int = 0) -> Expr | None:
        """The expression turning data-model ``value`` into the model value (None: as is)."""
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            return None
        if isinstance(lex_type, BlobType):
            self.names.add("Blob")
            return call("Blob.from_dict", value)
        if isinstance(lex_type, RecordValue):
            self.names.add("RECORDS")
            return call("RECORDS.from_dict", value)
        if isinstance(lex_type, RefType):
            return call(f"{self.class_ref(lex_type.target)}.from_dict", value)
        if isinstance(lex_type, UnionType):
            return call(self.union_function(lex_type, where), value)
        item_var = f"i{depth}"
        inner = self.from_data(lex_type.items, item_var, where, depth + 1)
        if inner is None:
            return None
        return Comp(inner, f"for {item_var} in {value}")

    def to_data(self, lex_type: LexType, value: str, depth: int = 0) -> Expr:
        """The expression turning a model value into its data-model form."""
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            return Atom(value)
        if isinstance(lex_type, BlobType | RecordValue | RefType):
            return call(f"{value}.to_dict")
        if isinstance(lex_type, UnionType):
            self.names.add("dump_member")
            return call("dump_member", value)
        item_var = f"i{depth}"
        inner = self.to_data(lex_type.items, item_var, depth + 1)
        if inner == Atom(item_var):
            return call("list", value)
        return Comp(inner, f"for {item_var} in {value}")

    def argument_to_data(self, lex_type: LexType, value: str, depth: int = 0) -> Expr:
        """Like `to_data` for endpoint arguments, which may be models or plain values."""
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            if lex_type.kind == "unknown":
                self.names.add("dump")
                return call("dump", value)
            return Atom(value)
        if isinstance(lex_type, BlobType | RecordValue | RefType):
            self.names.add("dump")
            return call("dump", value)
        if isinstance(lex_type, UnionType):
            self.names.add("dump_member")
            return call("dump_member", value)
        item_var = f"i{depth}"
        inner = self.argument_to_data(lex_type.items, item_var, depth + 1)
        if inner == Atom(item_var):
            return call("list", value)
        return Comp(inner, f"for {item_var} in {value}")


def describe(lex_type: LexType, schema: Schema) -> list[str]:
    """Short facts about a type for docstrings: format, values, limits, default."""
    facts: list[str] = []
    if isinstance(lex_type, RefType):
        facts.append(f"A ``{lex_type.target.lex_type}``.")
        target = schema.resolve(lex_type.target)
        if isinstance(target, AliasDef):
            facts.extend(describe(target.type, schema))
        return facts
    if isinstance(lex_type, ArrayType):
        facts.extend(_limits(lex_type.limits))
        inner = describe(lex_type.items, schema)
        if inner:
            facts.append("Items: " + " ".join(inner))
        return facts
    if isinstance(lex_type, RecordValue):
        facts.append(
            "A record: its model, picked by ``$type`` (`UnknownRecord` for a type without a"
            " lexicon here)."
        )
        return facts
    if isinstance(lex_type, BlobType):
        if lex_type.accept:
            facts.append("Accepts " + ", ".join(lex_type.accept) + ".")
        if lex_type.max_size is not None:
            facts.append(f"At most {lex_type.max_size} bytes.")
        return facts
    if isinstance(lex_type, UnionType):
        kind = "closed union" if lex_type.closed else "open union"
        members = ", ".join(f"``{r.lex_type}``" for r in lex_type.refs)
        facts.append(f"One of {members} ({kind}).")
        return facts
    if isinstance(lex_type, Primitive):
        if lex_type.format:
            facts.append(f"Format: {lex_type.format}.")
        if lex_type.known_values:
            values = ", ".join(f"``{v}``" for v in lex_type.known_values)
            facts.append(f"Known values: {values}.")
        if lex_type.const is not None:
            facts.append(f"Always ``{literal(lex_type.const)}``.")
        facts.extend(_limits(lex_type.limits))
        if lex_type.default is not None:
            facts.append(f"Default: ``{literal(lex_type.default)}``.")
    return facts


def _limits(limits: tuple[tuple[str, object], ...]) -> list[str]:
    if not limits:
        return []
    return ["Limits: " + ", ".join(f"{k} {v}" for k, v in limits) + "."]
