"""Runtime support for the generated models (``atproto_async.models``) and endpoints (``.api``).

The generator (``atproto_async._codegen``) writes one straight-line ``from_dict`` / ``to_dict``
pair per lexicon object; everything those methods share lives here, hand-written and small. It
is also the runtime of code generated from a user's own lexicons (``atproto-async codegen``).

- `UNSET`: the value of an optional field absent from the data. It is distinct from ``None``,
  which only nullable fields take (https://atproto.com/specs/lexicon#nullable-and-optional);
  ``from_dict`` refuses a null elsewhere with `null_field`'s error, and a null array item with
  `null_item`'s.
- `Model`: the base of every generated class (``validate()`` checks one against its lexicon),
  `Blob` (typed blob references, including the legacy ``{"cid", "mimeType"}`` form),
  `UnknownMember` (a member of an open union whose ``$type`` this version does not know) and
  `UnknownRecord` (the same for whole records).
- `RecordRegistry`: ``$type`` -> record class, importing the class's module on first use so that
  ``import atproto_async.models`` stays cheap. The generated ``RECORDS`` also builds the fields
  that hold a whole record (``getRecord``'s ``value``, a post view's ``record``), when they
  are first read (`lazy_records`).
- `TWINS`: how ``from_dict`` builds a frozen instance quickly (`mutable_twin`).
- `XrpcCaller`, `Namespace`, `dump`, `dump_member`, `expect_bytes`: what endpoint coroutines need.

Models hold data-model values (https://atproto.com/specs/data-model): `CID` objects for links and
``bytes`` for byte strings, as ``decode_dag_cbor`` and ``from_json`` return them. Data is read and
written back unchanged: fields a lexicon does not declare are kept in ``extra``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol, TypeVar, cast

import attrs

from atproto_async._twin import TwinCache, mutable_twin
from atproto_async.exceptions import DecodeError

if TYPE_CHECKING:
    from typing import Self

    from atproto_async.ipld import CID
    from atproto_async.lexicon import Catalog

__all__ = [
    "UNSET",
    "Blob",
    "Model",
    "Namespace",
    "RecordRegistry",
    "UnknownMember",
    "UnknownRecord",
    "UnsetType",
    "XrpcCaller",
    "closed_union_error",
    "dump",
    "dump_member",
    "expect_bytes",
    "invalid",
    "keep_type",
    "lazy_module",
    "TWINS",
    "mutable_twin",
    "null_field",
    "null_item",
    "PendingRecord",
    "lazy_records",
    "unknown_fields",
]


class UnsetType(enum.Enum):
    """The type of `UNSET`; an enum so that ``x is UNSET`` narrows types for mypy."""

    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"


#: An optional field that the data does not contain (``None`` means an explicit null).
UNSET: Final = UnsetType.UNSET


class Model:
    """Base of every generated model: ``from_dict`` / ``to_dict`` over data-model values.

    Generated classes are attrs classes that leave ``__eq__``, ``__hash__`` and ``__repr__`` to
    this base: attrs would compile three more methods per class at import time, and there are
    hundreds of classes. Equality and hashing follow attrs' rules (same class, fields with
    ``eq=True`` compared as a tuple); the repr leaves out `UNSET` fields.
    """

    __slots__ = ()

    #: The ``$type`` naming this lexicon definition (``nsid`` or ``nsid#name``); "" if it has none.
    LEX_TYPE: ClassVar[str] = ""
    #: A method's input or output body: ``nsid#input`` / ``nsid#output`` (it has no ``$type``).
    LEX_BODY: ClassVar[str] = ""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        get = _eq_getter(self.__class__)
        return bool(get(self) == get(other))

    def __hash__(self) -> int:
        return hash((self.__class__, _eq_getter(self.__class__)(self)))

    def __repr__(self) -> str:
        parts = []
        for a in _fields(self.__class__):
            value = getattr(self, a.name)
            if a.repr and value is not UNSET:
                parts.append(f"{a.name}={value!r}")
        return f"{self.__class__.__name__}({', '.join(parts)})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build the model from a data-model mapping (lexicon field names).

        Raises:
            DecodeError: a required field is missing or a value has the wrong shape.
        """
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Return the data-model form: lexicon field names, unknown fields included."""
        raise NotImplementedError

    def validate(self, *, catalog: Catalog | None = None, legacy_blobs: bool = False) -> None:
        """Check the model against its lexicon definition (https://atproto.com/specs/lexicon).

        ``from_dict`` checks the shape of data, not lengths, formats or union membership, and
        a model built by hand holds what it was given: this checks everything the lexicon
        says, through ``to_dict()``. A record is checked as a record (``post.validate()``), an
        object against its own definition (``app.bsky.embed.images#image``), a method's body
        against the method's input or output. The lexicon package is imported on the first
        call, not with the models.

        Args:
            catalog: The lexicons to check against; by default the bundled ones
                (`Catalog.shared`). Models generated from your own lexicons need a catalog
                that has them: ``Catalog.shared().extend(Catalog.load("lexicons"))``.
            legacy_blobs: Accept legacy ``{"cid", "mimeType"}`` blob references.

        Returns:
            None: the model matches its lexicon.

        Raises:
            LexiconValidationError: It does not; ``path`` says where (``langs[1]``).
            LexiconError: The catalog has no such definition.
            TypeError: The model has no definition of its own (an object written inline in
                another definition, a blob): check the object that holds it.
        """
        if catalog is None:
            from atproto_async.lexicon import Catalog

            catalog = Catalog.shared()
        self._check(catalog, legacy_blobs)

    def _check(self, catalog: Catalog, legacy_blobs: bool) -> None:
        """Run `validate` with a catalog: against ``LEX_TYPE``, else ``LEX_BODY``."""
        if self.LEX_TYPE:
            catalog.validate(self.LEX_TYPE, self, legacy_blobs=legacy_blobs)
        elif self.LEX_BODY:
            nsid, _, part = self.LEX_BODY.partition("#")
            check = catalog.validate_input if part == "input" else catalog.validate_output
            check(nsid, self, legacy_blobs=legacy_blobs)
        else:
            raise _no_definition(self)


def _no_definition(model: Model) -> TypeError:
    name = type(model).__name__
    return TypeError(f"{name} has no lexicon definition of its own: validate what holds it")


_EQ_GETTERS: dict[type, Callable[[Any], Any]] = {}


def _fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    """``attrs.fields`` of a generated class (typed loosely: `Model` itself is not attrs)."""
    return tuple(attrs.fields(cast(Any, cls)))


def _eq_getter(cls: type) -> Callable[[Any], Any]:
    """A getter returning the tuple of a class's fields that take part in equality."""
    getter = _EQ_GETTERS.get(cls)
    if getter is None:
        names = [a.name for a in _fields(cls) if a.eq]
        getter = _EQ_GETTERS[cls] = attrgetter(*names, "__class__")
    return getter


#: Mutable twin of each model class (`mutable_twin`), made when its ``from_dict`` first runs.
TWINS: Final[dict[type, type]] = TwinCache()


def unknown_fields(data: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    """Return the entries of ``data`` whose keys are not in ``known``, or None if there are none."""
    if data.keys() <= known:
        return None
    return {k: v for k, v in data.items() if k not in known}


def invalid(where: str, exc: Exception) -> DecodeError:
    """Describe why ``from_dict`` of ``where`` failed (a missing key, a value of the wrong shape).

    Only keys and type names go into the message, never values (they may be private).
    """
    if isinstance(exc, KeyError):
        reason = f"missing required field {exc.args[0]!r}" if exc.args else "missing field"
    else:
        reason = f"malformed data ({type(exc).__name__}: {exc})"
    return DecodeError(f"{where}: {reason}")


def null_field(where: str, field: str) -> DecodeError:
    """The error for ``null`` in a field the lexicon does not declare ``nullable``.

    ``None`` is only a value of nullable fields; an optional field the data leaves out is
    `UNSET` (https://atproto.com/specs/lexicon#nullable-and-optional). ``from_dict`` refuses a
    null anywhere else, so that a model always writes back what its lexicon allows.

    Args:
        where: The object being read (``app.bsky.feed.post``).
        field: The field's lexicon name (``langs``).
    """
    return DecodeError(f"{where}: {field}: null is not allowed")


def null_item(where: str, field: str, items: Any) -> DecodeError:
    """The error for ``null`` among the items of an array field (``langs[1]``).

    A lexicon array's items are never nullable; ``from_dict`` refuses the first null it holds
    rather than keep it, so that no model holds a ``None`` its item type says it cannot.

    Args:
        where: The object being read (``app.bsky.feed.post``).
        field: The array field's lexicon name (``langs``).
        items: The array as read (``None in items`` is true).
    """
    index = next((i for i, item in enumerate(items) if item is None), None)
    return null_field(where, field if index is None else f"{field}[{index}]")


@attrs.frozen(slots=True, kw_only=True, weakref_slot=False)
class Blob(Model):
    """A blob reference (https://atproto.com/specs/data-model#blob-type).

    The current form is ``{"$type": "blob", "ref": CID, "mimeType": str, "size": int}``. Old
    records carry the legacy form ``{"cid": str, "mimeType": str}``: it is read with ``ref``
    decoded from that string and ``size`` None, and written back in the same legacy form.

    Attributes:
        ref: The CID of the blob's bytes (raw codec).
        mime_type: The blob's media type as declared by the uploader.
        size: The length in bytes; None only for a legacy blob reference.
        extra: Fields this library does not know, kept so the data is written back unchanged.
    """

    LEX_TYPE: ClassVar[str] = "blob"

    ref: CID
    mime_type: str
    size: int | None = None
    extra: Mapping[str, Any] | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        self: Any = TWINS[cls]()  # see `mutable_twin`
        try:
            if "ref" in data:
                self.ref = data["ref"]
                self.mime_type = data["mimeType"]
                self.size = data["size"]
                self.extra = unknown_fields(data, _BLOB_KEYS)
            else:
                from atproto_async.ipld import CID

                self.ref = CID.decode(data["cid"])
                self.mime_type = data["mimeType"]
                self.size = None
                self.extra = unknown_fields(data, _LEGACY_BLOB_KEYS)
        except (KeyError, TypeError, AttributeError) as exc:
            raise invalid("blob", exc) from exc
        self.__class__ = cls
        built: Self = self
        return built

    def to_dict(self) -> dict[str, Any]:
        if self.legacy:
            d: dict[str, Any] = {"mimeType": self.mime_type}
        else:
            d = {"$type": "blob", "ref": self.ref, "mimeType": self.mime_type, "size": self.size}
        if self.extra:
            d.update(self.extra)
        return d

    @property
    def legacy(self) -> bool:
        """Whether this reference was read from the legacy ``{"cid", "mimeType"}`` form."""
        return self.size is None and self.extra is not None and "cid" in self.extra

    def _check(self, catalog: Catalog, legacy_blobs: bool) -> None:
        # A blob's limits (accept, maxSize) belong to the field that holds it.
        raise _no_definition(self)


_BLOB_KEYS: Final = frozenset(("$type", "ref", "mimeType", "size"))
# "cid" stays in ``extra``: the original string is written back byte for byte.
_LEGACY_BLOB_KEYS: Final = frozenset(("mimeType",))


@attrs.frozen(slots=True, kw_only=True, weakref_slot=False)
class UnknownMember(Model):
    """A member of an open union whose ``$type`` the lexicons of this version do not define.

    Open unions may grow (https://atproto.com/specs/lexicon#union): the raw data is kept and
    written back unchanged rather than failing the whole object.

    Attributes:
        type: The member's ``$type``.
        data: The member exactly as read.
    """

    type: str
    data: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Keep an open-union member of unknown type.

        Raises:
            DecodeError: ``data`` is not an object with a string ``$type`` (every union member
                must name its type).
        """
        t = data.get("$type") if isinstance(data, Mapping) else None
        if not isinstance(t, str):
            raise DecodeError("union member: expected an object with a string '$type'")
        return cls(type=t, data=data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def _check(self, catalog: Catalog, legacy_blobs: bool) -> None:
        # The definition its ``$type`` names, if the catalog has it (else LexiconError).
        catalog.validate(self.type, dict(self.data), legacy_blobs=legacy_blobs)


@attrs.frozen(slots=True, kw_only=True, weakref_slot=False)
class UnknownRecord(Model):
    """A record whose ``$type`` has no lexicon in this version of the library.

    Attributes:
        type: The record's ``$type`` (an NSID).
        data: The record exactly as read.
    """

    type: str
    data: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(type=str(data.get("$type", "")), data=data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def _check(self, catalog: Catalog, legacy_blobs: bool) -> None:
        # A catalog with the record's lexicon checks it; another says it has no lexicon for it.
        catalog.validate_record(dict(self.data), legacy_blobs=legacy_blobs)


class RecordRegistry:
    """Maps a record ``$type`` to its generated class, importing the module on first use.

    Args:
        records: ``$type`` -> ``"module.path:ClassName"``.
    """

    __slots__ = ("_classes", "_records")

    def __init__(self, records: Mapping[str, str]) -> None:
        self._records = records
        self._classes: dict[str, type[Model]] = {}

    def __contains__(self, record_type: object) -> bool:
        return record_type in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def get(self, record_type: str) -> type[Model] | None:
        """Return the class of a record type, or None if this version does not know it."""
        cls = self._classes.get(record_type)
        if cls is None:
            target = self._records.get(record_type)
            if target is None:
                return None
            module, _, name = target.partition(":")
            cls = self._classes[record_type] = getattr(import_module(module), name)
        return cls

    def from_dict(self, data: Mapping[str, Any]) -> Model:
        """Build the record model named by ``data["$type"]``.

        Returns:
            The generated model, or an `UnknownRecord` when the type is not known here.

        Raises:
            DecodeError: ``data`` is not an object with a string ``$type``, or it does not
                match its lexicon (a required field is missing, ...).
        """
        try:
            record_type = data["$type"]
        except (KeyError, TypeError, IndexError) as exc:
            raise DecodeError("record: expected an object with a '$type' field") from exc
        cls = self._classes.get(record_type) if isinstance(record_type, str) else None
        if cls is None:
            if not isinstance(record_type, str):
                raise DecodeError("record: '$type' must be a string")
            cls = self.get(record_type)
            if cls is None:
                return UnknownRecord(type=record_type, data=data)
        return cls.from_dict(data)


def dump_member(value: Model | Mapping[str, Any]) -> Any:
    """Return the data-model form of a union member: ``to_dict()`` plus its ``$type``.

    A mapping (an endpoint argument given as a plain dict) is returned as it is.
    """
    if not isinstance(value, Model):
        return value
    d = value.to_dict()
    if "$type" not in d and value.LEX_TYPE:
        d["$type"] = value.LEX_TYPE
    return d


_M = TypeVar("_M", bound=Model)


def keep_type(member: _M, lex_type: str) -> _M:
    """Return ``member`` remembering that its ``$type`` was spelled ``lex_type`` (``nsid#main``).

    A union member may name a main definition as ``nsid`` or ``nsid#main``; both read as the
    same class, which writes ``nsid``. The other spelling is kept in ``extra``, whose entries
    ``to_dict`` writes last, so the data is written back as it was read.
    """
    extra = dict(cast(Any, member).extra or {})
    extra["$type"] = lex_type
    return attrs.evolve(cast(Any, member), extra=extra)  # type: ignore[no-any-return]


def closed_union_error(where: str, member_type: object) -> DecodeError:
    """The error for a ``$type`` outside a closed union (https://atproto.com/specs/lexicon#union)."""
    shown = repr(member_type) if isinstance(member_type, str) else "missing"
    return DecodeError(f"{where}: $type {shown} is not a member of this closed union")


class _LazyModule:
    """Stands for a module in a generated module's globals until an attribute is first read.

    Model modules refer to each other (often in cycles); importing them eagerly would load most
    of the generated package for a single record. On first use the real module is imported and
    replaces this object in the owner's globals, so later lookups cost a plain global read.
    """

    __slots__ = ("_key", "_module", "_owner")

    def __init__(self, owner: dict[str, Any], key: str, module: str) -> None:
        self._owner = owner
        self._key = key
        self._module = module

    def __getattr__(self, name: str) -> Any:
        module = import_module(self._module)
        self._owner[self._key] = module
        return getattr(module, name)

    def __repr__(self) -> str:
        return f"<lazy module {self._module!r}>"


def lazy_module(owner: dict[str, Any], key: str, module: str) -> Any:
    """Bind ``owner[key]`` to ``module``, imported when first used (see `_LazyModule`)."""
    return _LazyModule(owner, key, module)


class PendingRecord:
    """A record's data that ``from_dict`` stored in a lazy record field (`lazy_records`).

    Never seen outside the model: the field's descriptor builds the record's model the first
    time the field is read and stores it in place of this.
    """

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data


class _LazyRecordField:
    """The descriptor of a field holding a whole record, built when first read.

    A page of feed views holds a post record in each view; most readers look at a few fields
    of some records. ``from_dict`` stores the data (`PendingRecord`) and this descriptor, which
    wraps the field's slot, builds the model on first read (``RECORDS.from_dict``) and keeps
    it. Everything reads fields through attribute access (``==``, ``hash``, ``repr``,
    ``to_dict``, pickling, ``attrs.evolve``), so nothing sees the pending data; a record that
    does not fit its lexicon raises `DecodeError` on that first read.
    """

    __slots__ = ("_registry", "_slot")

    def __init__(self, slot: Any, registry: RecordRegistry) -> None:
        self._slot = slot
        self._registry = registry

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self._slot.__get__(obj, owner)
        if value.__class__ is not PendingRecord:
            return value
        model = self._registry.from_dict(value.data)
        self._slot.__set__(obj, model)
        return model

    def __set__(self, obj: object, value: Any) -> None:
        self._slot.__set__(obj, value)

    def __delete__(self, obj: object) -> None:
        self._slot.__delete__(obj)


def lazy_records(cls: type, names: tuple[str, ...], registry: RecordRegistry) -> None:
    """Make the record fields ``names`` of the generated class ``cls`` build on first read.

    Args:
        cls: A generated (slotted attrs) model class.
        names: Its fields that hold a whole record (`PendingRecord` after ``from_dict``).
        registry: Where the record classes are found by ``$type`` (``RECORDS``).
    """
    for name in names:
        setattr(cls, name, _LazyRecordField(cls.__dict__[name], registry))


def dump(value: Any) -> Any:
    """Return the data-model form of an endpoint argument: a model's dict, else the value."""
    if isinstance(value, Model):
        return value.to_dict()
    return value


class XrpcCaller(Protocol):
    """What generated endpoints need from a client (``atproto_async.Client`` is one).

    Parameters are typed loosely on purpose: any client whose ``query`` / ``procedure`` accept
    these arguments fits, and tests pass a small fake.
    """

    async def query(
        self,
        nsid: str,
        params: Any = None,
        *,
        headers: Any = None,
        timeout: Any = None,  # noqa: ASYNC109 - a per-call timeout is part of the contract
    ) -> Any: ...

    async def procedure(
        self,
        nsid: str,
        data: Any = None,
        *,
        params: Any = None,
        encoding: Any = None,
        headers: Any = None,
        timeout: Any = None,  # noqa: ASYNC109
    ) -> Any: ...


class Namespace:
    """Base of the generated endpoint namespaces (``client.app.bsky.feed``)."""

    def __init__(self, client: XrpcCaller) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def expect_bytes(nsid: str, raw: Any) -> bytes:
    """Check that a binary-output method answered with bytes.

    Raises:
        DecodeError: the server answered with something else (a JSON body, nothing).
    """
    if isinstance(raw, bytes):
        return raw
    raise DecodeError(f"{nsid}: expected a binary body, got {type(raw).__name__}")
