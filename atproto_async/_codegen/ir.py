"""The typed intermediate representation between lexicon JSON and rendered Python.

The parser (`parser`) fills these dataclasses from the documents, resolving names with
`naming`; the renderers (`render_models`, `render_api`) read them and never
look at JSON. Lexicon spec: https://atproto.com/specs/lexicon
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class DefRef:
    """A definition: document NSID plus definition name (``main`` for the main definition)."""

    nsid: str
    name: str

    @property
    def lex_type(self) -> str:
        """The ``$type`` string naming this definition in data."""
        return self.nsid if self.name == "main" else f"{self.nsid}#{self.name}"


@dataclass(frozen=True)
class Primitive:
    """string, integer, boolean, bytes, cid-link or unknown, with its constraints."""

    kind: str
    description: str = ""
    format: str | None = None
    enum: tuple[Any, ...] | None = None
    known_values: tuple[str, ...] | None = None
    const: Any = None
    default: Any = None
    limits: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class BlobType:
    """A blob reference, with the media types and size it accepts."""

    description: str = ""
    accept: tuple[str, ...] = ()
    max_size: int | None = None


@dataclass(frozen=True)
class RefType:
    """A reference to another definition (object, record, string or array definition)."""

    target: DefRef
    description: str = ""


@dataclass(frozen=True)
class RecordValue:
    """A whole record of any type (an ``unknown`` field `records` lists as a record).

    The generated model holds the record's model, picked by its ``$type`` (``RECORDS``).
    """

    description: str = ""


@dataclass(frozen=True)
class UnionType:
    """One of several object definitions, told apart by ``$type``."""

    refs: tuple[DefRef, ...]
    closed: bool
    description: str = ""
    #: The document the union is written in: its module names the union (`UnionDef`).
    owner: str = ""

    @property
    def key(self) -> tuple[tuple[DefRef, ...], bool]:
        """What makes two unions of one document the same union."""
        return (self.refs, self.closed)


@dataclass(frozen=True)
class ArrayType:
    """A list of ``items``."""

    items: LexType
    description: str = ""
    limits: tuple[tuple[str, Any], ...] = ()


LexType = Primitive | BlobType | RecordValue | RefType | UnionType | ArrayType


@dataclass(frozen=True)
class Field:
    """One property of an object, or one parameter of a method."""

    json_name: str
    py_name: str
    type: LexType
    required: bool
    nullable: bool
    description: str


@dataclass
class ObjectDef:
    """An object definition: a generated model class."""

    ref: DefRef
    class_name: str
    description: str
    fields: list[Field]
    #: Record definitions: the record key type (``tid``, ``literal:self``, ...).
    record_key: str | None = None
    #: False for method input / output bodies, which carry no ``$type``.
    has_lex_type: bool = True


@dataclass
class TokenDef:
    """A token: a named constant string value."""

    ref: DefRef
    const_name: str
    description: str


@dataclass
class AliasDef:
    """A string or array definition, used by reference as its underlying type."""

    ref: DefRef
    alias_name: str
    type: LexType
    description: str


@dataclass
class UnionDef:
    """A union as its document's module names it: a type alias, written once.

    Every field of the document with the same members (and closedness) shares it.
    """

    name: str
    union: UnionType
    #: Where it is used, for documentation: ``Class.field`` (or an alias name).
    uses: list[str] = field(default_factory=list)


@dataclass
class Body:
    """The input or output of a method."""

    encoding: str
    description: str
    #: An object schema (a generated ``<Method>Input`` / ``<Method>Output`` class), a
    #: reference, or None.
    schema: ObjectDef | RefType | None


@dataclass
class MethodDef:
    """A query or procedure."""

    ref: DefRef
    kind: str
    method_name: str
    description: str
    params: list[Field]
    input: Body | None
    output: Body | None
    errors: list[tuple[str, str]]


@dataclass
class Document:
    """One lexicon document and what it defines."""

    nsid: str
    description: str
    module: tuple[str, ...]
    objects: list[ObjectDef] = field(default_factory=list)
    tokens: list[TokenDef] = field(default_factory=list)
    aliases: list[AliasDef] = field(default_factory=list)
    #: The unions written in this document, by `UnionType.key`, in order of first use.
    unions: dict[tuple[tuple[DefRef, ...], bool], UnionDef] = field(default_factory=dict)
    method: MethodDef | None = None


@dataclass
class Schema:
    """Every document, plus an index of definitions by reference."""

    documents: dict[str, Document]
    definitions: dict[DefRef, ObjectDef | TokenDef | AliasDef | MethodDef]
    #: Documents that are only referenced, not generated: their models are the library's own
    #: (``atproto_async.models``). Set when generating a user's lexicons (`build.generate_user`).
    library: frozenset[str] = frozenset()

    def resolve(self, ref: DefRef) -> ObjectDef | TokenDef | AliasDef | MethodDef:
        """Return the definition ``ref`` names.

        Raises:
            KeyError: no such definition.
        """
        return self.definitions[ref]

    def union(self, union: UnionType) -> UnionDef:
        """Return the named definition of ``union`` (in the document that writes it)."""
        return self.documents[union.owner].unions[union.key]
