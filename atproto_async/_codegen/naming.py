"""Every naming rule of the generated code, in one place.

- NSID -> module path: ``app.bsky.feed.getTimeline`` -> ``app/bsky/feed/get_timeline``.
- Lexicon names (camelCase) -> Python attributes, parameters and methods (snake_case), with a
  trailing underscore for Python keywords and for names the generated code reserves.
- Definitions -> PascalCase classes; the ``main`` definition takes the NSID's last segment
  (``app.bsky.feed.post`` -> ``Post``) unless another definition of the document already has that
  name, then it is ``Main``. Tokens become UPPER_SNAKE constants.
- A method's input and output bodies are named after the method (``getRecord`` ->
  ``GetRecordInput`` / ``GetRecordOutput``); ``Input`` / ``Output`` stay as aliases of them.
- A union is a type alias named after the first field that uses it (``Post.embed`` ->
  ``PostEmbed``; the items of an array field or definition add ``Item``), and its dispatch
  function is the alias in snake_case (``_post_embed``).
- The endpoint modules import the classes they name under their own names; when two modules
  define the same name, the later one is imported as ``<Module><Name>``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

#: Attribute names every generated model defines (or inherits from ``Model``) besides its
#: fields: a lexicon field of that name gets a trailing ``_`` (``validate`` -> ``validate_``).
MODEL_RESERVED = frozenset(
    {"extra", "typed", "from_dict", "to_dict", "validate", "LEX_TYPE", "LEX_BODY"}
)
#: Builtins used in generated annotations: a field with one of these names hides the builtin
#: inside its class body, so annotations there spell it ``builtins.<name>``.
ANNOTATION_BUILTINS = frozenset({"bool", "bytes", "dict", "int", "list", "str"})
#: Keyword parameters every endpoint takes besides the lexicon's.
ENDPOINT_RESERVED = frozenset({"self", "headers", "timeout", "data", "encoding", "raw", "body"})
#: Names generated model modules import or define at module level.
MODULE_RESERVED = frozenset(
    {"Any", "Final", "Literal", "Mapping", "Self", "TYPE_CHECKING", "Model", "Blob", "CID"}
    | {"UNSET", "UnsetType", "UnknownMember", "attrs", "annotations", "RECORDS", "TWINS"}
    | {"ClassVar", "TypeAlias"}
)
#: The names a method's body classes keep as aliases, for code written before they were
#: named after the method.
BODY_ALIASES = frozenset({"Input", "Output"})

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
    if name in taken or name in MODULE_RESERVED or name in BODY_ALIASES:
        return "Main"
    return name


def def_class_name(def_name: str) -> str:
    """The class name of a non-main object definition."""
    return safe(pascal_case(def_name), MODULE_RESERVED | BODY_ALIASES | {"Main"})


def body_class_name(nsid: str, body: str) -> str:
    """The class of a method's ``Input`` / ``Output`` body: ``getRecord`` -> ``GetRecordOutput``."""
    return pascal_case(nsid.rsplit(".", 1)[-1]) + body


def union_name(hint: str, taken: Iterable[str]) -> str:
    """The type alias of a union first used at ``hint`` (``Post_embed``, ``Thing_items_item``)."""
    return safe(pascal_case(hint), MODULE_RESERVED | BODY_ALIASES | {"Main"} | set(taken))


def union_function(alias: str) -> str:
    """The private dispatch function that builds a member of the union ``alias``."""
    return "_" + snake_case(alias)


def import_alias(module: tuple[str, ...], name: str) -> str:
    """The name an endpoint module imports ``name`` under when another module's takes its own.

    ``("app", "bsky", "actor", "defs")``, ``ViewerState`` -> ``ActorDefsViewerState``.
    """
    return "".join(pascal_case(p) for p in module[-2:]) + name


def constant_name(def_name: str) -> str:
    """The constant holding a token definition's ``$type`` string."""
    return safe(snake_case(def_name).upper(), MODULE_RESERVED)


def namespace_class_name(parts: Iterable[str]) -> str:
    """``("app", "bsky", "feed")`` -> ``AppBskyFeedNamespace``."""
    return "".join(pascal_case(p) for p in parts) + "Namespace"


def method_name(nsid: str) -> str:
    """The endpoint coroutine of a query or procedure: ``getTimeline`` -> ``get_timeline``."""
    return safe(snake_case(nsid.rsplit(".", 1)[-1]))
