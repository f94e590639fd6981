"""Every naming rule of the generated code, in one place.

- NSID -> module path: ``app.bsky.feed.getTimeline`` -> ``app/bsky/feed/get_timeline``.
- Lexicon names (camelCase) -> Python attributes, parameters and methods (snake_case), with a
  trailing underscore for Python keywords and for names the generated code reserves.
- Definitions -> PascalCase classes; the ``main`` definition takes the NSID's last segment
  (``app.bsky.feed.post`` -> ``Post``) unless another definition of the document already has that
  name, then it is ``Main``. Tokens become UPPER_SNAKE constants.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

#: Attribute names every generated model defines besides its fields.
MODEL_RESERVED = frozenset({"extra", "typed", "from_dict", "to_dict", "LEX_TYPE"})
#: Builtins used in generated annotations: a field with one of these names hides the builtin
#: inside its class body, so annotations there spell it ``builtins.<name>``.
ANNOTATION_BUILTINS = frozenset({"bool", "bytes", "dict", "int", "list", "str"})
#: Keyword parameters every endpoint takes besides the lexicon's.
ENDPOINT_RESERVED = frozenset({"self", "headers", "timeout", "data", "encoding", "raw", "body"})
#: Names generated model modules import or define at module level.
MODULE_RESERVED = frozenset(
    {"Any", "Final", "Literal", "Mapping", "Self", "TYPE_CHECKING", "Model", "Blob", "CID"}
    | {"UNSET", "UnsetType", "UnknownMember", "attrs", "annotations"}
)

_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD = re.compile(r"([a-z0-9])([A-Z])")
_NOT_IDENT = re.compile(r"[^0-9a-zA-Z_]")


def snake_case(name: str) -> str:
    """camelCase -> snake_case: ``createdAt`` -> ``created_at``, ``pdsURL`` -> ``pds_url``."""
    name = _NOT_IDENT.sub("_", name)
    name = _ACRONYM.sub(r"\1_\2", name)
    name = _WORD.sub(r"\1_\2", name)
    return name.lower()


def pascal_case(name: str) -> str:
    """``replyRef`` -> ``ReplyRef``, ``get-thing`` -> ``GetThing`` (other case kept)."""
    parts = [p for p in _NOT_IDENT.sub("_", name).split("_") if p]
    return "".join(p[0].upper() + p[1:] for p in parts)


def safe(name: str, reserved: Iterable[str] = ()) -> str:
    """Append ``_`` to Python keywords, reserved names and names starting with a digit."""
    if name[:1].isdigit():
        name = "_" + name
    while keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in reserved:
        name += "_"
    return name


def unique_names(names: Iterable[str], convert: object, reserved: Iterable[str] = ()) -> list[str]:
    """Convert ``names`` in order, adding ``_`` until each result is unique and not reserved."""
    assert callable(convert)
    taken = set(reserved)
    out: list[str] = []
    for name in names:
        candidate = safe(convert(name), taken)
        taken.add(candidate)
        out.append(candidate)
    return out


def module_parts(nsid: str) -> tuple[str, ...]:
    """The module path of a lexicon document below the generated package."""
    return tuple(safe(snake_case(part)) for part in nsid.split("."))


def module_alias(nsid: str) -> str:
    """The private name a generated module binds another document's module to."""
    return "_m_" + "_".join(module_parts(nsid))


def main_class_name(nsid: str, other_def_names: Iterable[str]) -> str:
    """The class name of a document's ``main`` definition."""
    name = pascal_case(nsid.rsplit(".", 1)[-1])
    taken = {pascal_case(n) for n in other_def_names}
    if name in taken or name in MODULE_RESERVED or name in ("Input", "Output"):
        return "Main"
    return name


def def_class_name(def_name: str) -> str:
    """The class name of a non-main object definition."""
    return safe(pascal_case(def_name), MODULE_RESERVED | {"Input", "Output", "Main"})


def constant_name(def_name: str) -> str:
    """The constant holding a token definition's ``$type`` string."""
    return safe(snake_case(def_name).upper(), MODULE_RESERVED)


def namespace_class_name(parts: Iterable[str]) -> str:
    """``("app", "bsky", "feed")`` -> ``AppBskyFeedNamespace``."""
    return "".join(pascal_case(p) for p in parts) + "Namespace"


def method_name(nsid: str) -> str:
    """The endpoint coroutine of a query or procedure: ``getTimeline`` -> ``get_timeline``."""
    return safe(snake_case(nsid.rsplit(".", 1)[-1]))
