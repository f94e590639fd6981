"""How lexicon types appear in generated code: annotations, conversions, documentation.

A `ModuleContext` is created per generated module; while renderers ask it for annotations and
conversion expressions it records what the module must import and which union dispatch
functions it must define. Shared by the model and endpoint renderers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codegen import naming
from codegen.emit import literal
from codegen.ir import (
    AliasDef,
    ArrayType,
    BlobType,
    DefRef,
    LexType,
    ObjectDef,
    Primitive,
    RefType,
    Schema,
    UnionType,
)

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
    """A generated ``_union_N(value)`` that builds the member named by ``$type``."""

    name: str
    union: UnionType
    where: str


@dataclass
class ModuleContext:
    """What one generated module references, collected while rendering it."""

    schema: Schema
    nsid: str | None
    #: The dotted package the model modules are generated into.
    models_package: str = MODELS_PACKAGE
    #: Module aliases for other documents: alias -> dotted module path.
    modules: dict[str, str] = field(default_factory=dict)
    #: Names imported from typing / runtime modules that the module uses.
    names: set[str] = field(default_factory=set)
    unions: dict[tuple[tuple[DefRef, ...], bool], UnionFunction] = field(default_factory=dict)
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
        if ref.nsid == self.nsid:
            return target.class_name
        return f"{self.module_alias(ref.nsid)}.{target.class_name}"

    def module_alias(self, nsid: str) -> str:
        alias = naming.module_alias(nsid)
        path = ".".join((self.models_package, *self.schema.documents[nsid].module))
        self.modules[alias] = path
        return alias

    def resolve_alias(self, lex_type: LexType) -> LexType:
        """Follow references to string / array definitions down to the type they stand for."""
        while isinstance(lex_type, RefType):
            target = self.schema.resolve(lex_type.target)
            if not isinstance(target, AliasDef):
                break
            lex_type = target.type
        return lex_type

    def union_function(self, union: UnionType, where: str) -> str:
        key = (union.refs, union.closed)
        found = self.unions.get(key)
        if found is None:
            found = self.unions[key] = UnionFunction(f"_union_{len(self.unions)}", union, where)
        return found.name

    # -- annotations -------------------------------------------------------------------------

    def annotation(self, lex_type: LexType, *, accept_mapping: bool = False) -> str:
        """The annotation for a value of ``lex_type``.

        Args:
            lex_type: The lexicon type.
            accept_mapping: For endpoint arguments: objects may also be given as plain dicts,
                and lists are any sequence.
        """
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            return self.primitive_annotation(lex_type)
        if isinstance(lex_type, BlobType):
            self.names.add("Blob")
            return "Blob | Mapping[str, Any]" if accept_mapping else "Blob"
        if isinstance(lex_type, RefType):
            ref = self.class_ref(lex_type.target)
            return f"{ref} | Mapping[str, Any]" if accept_mapping else ref
        if isinstance(lex_type, UnionType):
            members = [self.class_ref(r) for r in lex_type.refs]
            if accept_mapping:
                members.append("Mapping[str, Any]")
            elif not lex_type.closed:
                self.names.add("UnknownMember")
                members.append("UnknownMember")
            return " | ".join(members)
        item = self.annotation(lex_type.items, accept_mapping=accept_mapping)
        if accept_mapping:
            self.names.add("Sequence")
            return f"Sequence[{item}]"
        return f"{self.builtin('list')}[{item}]"

    def primitive_annotation(self, prim: Primitive) -> str:
        if prim.enum is not None and prim.kind in ("string", "integer"):
            self.names.add("Literal")
            return f"Literal[{', '.join(literal(v) for v in prim.enum)}]"
        annotation = _PRIMITIVE_ANNOTATIONS[prim.kind]
        if annotation in ("CID", "Any"):
            self.names.add(annotation)
        return self.builtin(annotation)

    # -- conversions -------------------------------------------------------------------------

    def from_data(self, lex_type: LexType, value: str, where: str, depth: int = 0) -> str | None:
        """The expression turning data-model ``value`` into the model value (None: as is)."""
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            return None
        if isinstance(lex_type, BlobType):
            self.names.add("Blob")
            return f"Blob.from_dict({value})"
        if isinstance(lex_type, RefType):
            return f"{self.class_ref(lex_type.target)}.from_dict({value})"
        if isinstance(lex_type, UnionType):
            return f"{self.union_function(lex_type, where)}({value})"
        item_var = f"i{depth}"
        inner = self.from_data(lex_type.items, item_var, where, depth + 1)
        if inner is None:
            return None
        return f"[{inner} for {item_var} in {value}]"

    def to_data(self, lex_type: LexType, value: str, depth: int = 0) -> str:
        """The expression turning a model value into its data-model form."""
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            return value
        if isinstance(lex_type, BlobType | RefType):
            return f"{value}.to_dict()"
        if isinstance(lex_type, UnionType):
            self.names.add("dump_member")
            return f"dump_member({value})"
        item_var = f"i{depth}"
        inner = self.to_data(lex_type.items, item_var, depth + 1)
        if inner == item_var:
            return f"list({value})"
        return f"[{inner} for {item_var} in {value}]"

    def argument_to_data(self, lex_type: LexType, value: str, depth: int = 0) -> str:
        """Like `to_data` for endpoint arguments, which may be models or plain values."""
        lex_type = self.resolve_alias(lex_type)
        if isinstance(lex_type, Primitive):
            if lex_type.kind == "unknown":
                self.names.add("dump")
                return f"dump({value})"
            return value
        if isinstance(lex_type, BlobType | RefType):
            self.names.add("dump")
            return f"dump({value})"
        if isinstance(lex_type, UnionType):
            self.names.add("dump_member")
            return f"dump_member({value})"
        item_var = f"i{depth}"
        inner = self.argument_to_data(lex_type.items, item_var, depth + 1)
        if inner == item_var:
            return f"list({value})"
        return f"[{inner} for {item_var} in {value}]"


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
