"""Expressions as small trees, laid out on lines the way ``ruff format`` lays them out.

Renderers build the expressions they emit from these nodes (never by editing code text) and hand
them to `emit.Writer`, which places them with `statement`. The layout follows ruff's
(Black-compatible) style for the few shapes the generator writes, so that the generated code is
already formatted: a line that fits stays whole; otherwise an assignment's call or ternary is
parenthesized, a call is split inside its own brackets (its arguments on one line if they fit,
else one per line with a trailing comma), a list, tuple or dict display is split one item per
line, a ternary is split before ``if`` and ``else`` and a union before each ``|``.
``tests/codegen`` checks the whole generated tree against ``ruff format``.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 100
INDENT = "    "


@dataclass(frozen=True)
class Atom:
    """Code that is never split: a name, a literal, a short comparison."""

    text: str


@dataclass(frozen=True)
class Call:
    """``head(items)``; with ``brackets="[]"`` a subscript, with ``head=""`` a display."""

    head: str
    items: tuple[Expr, ...]
    brackets: str = "()"
    #: A one-element tuple display needs its comma.
    tuple_display: bool = False


@dataclass(frozen=True)
class Comp:
    """A list comprehension ``[elt clause]`` (``clause`` is ``for x in y``)."""

    elt: Expr
    clause: str


@dataclass(frozen=True)
class Ternary:
    """``body if test else orelse``."""

    body: Expr
    test: Expr
    orelse: Expr


@dataclass(frozen=True)
class Union:
    """Type operands joined by ``|``."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Pair:
    """A dict display entry ``key: value``."""

    key: str
    value: Expr


Expr = Atom | Call | Comp | Ternary | Union | Pair


def atom(text: str) -> Atom:
    return Atom(text)


def call(head: str, *items: Expr | str) -> Call:
    """``head(items)``, strings taken as atoms."""
    return Call(head, tuple(Atom(i) if isinstance(i, str) else i for i in items))


def subscript(head: str, *items: Expr | str) -> Call:
    """``head[items]``, strings taken as atoms."""
    return Call(head, tuple(Atom(i) if isinstance(i, str) else i for i in items), "[]")


def union(*operands: Expr | str) -> Expr:
    """``a | b | ...`` flattened (nested unions are spliced in); one operand stands alone."""
    flat: list[Expr] = []
    for op in operands:
        node = Atom(op) if isinstance(op, str) else op
        flat.extend(node.operands if isinstance(node, Union) else (node,))
    return flat[0] if len(flat) == 1 else Union(tuple(flat))


def flat(expr: Expr) -> str:
    """The expression on one line."""
    if isinstance(expr, Atom):
        return expr.text
    if isinstance(expr, Call):
        inner = ", ".join(flat(i) for i in expr.items)
        if expr.tuple_display and len(expr.items) == 1:
            inner += ","
        return f"{expr.head}{expr.brackets[0]}{inner}{expr.brackets[1]}"
    if isinstance(expr, Comp):
        return f"[{flat(expr.elt)} {expr.clause}]"
    if isinstance(expr, Ternary):
        return f"{flat(expr.body)} if {flat(expr.test)} else {flat(expr.orelse)}"
    if isinstance(expr, Union):
        return " | ".join(flat(op) for op in expr.operands)
    return f"{expr.key}: {flat(expr.value)}"


def _fits(text: str, level: int) -> bool:
    return len(INDENT * level) + len(text) <= WIDTH


def _at(level: int, lines: list[str]) -> list[str]:
    """Lines as (relative indentation, text) are stored with their indentation as text."""
    return [INDENT * level + line if line else line for line in lines]


def statement(prefix: str, expr: Expr, suffix: str, level: int, *, assign: bool) -> list[str]:
    """Lines (indented relative to ``level``) of ``prefix + expr + suffix``.

    Args:
        prefix: What precedes the expression (``x = ``, ``return ``, ``@``).
        expr: The expression.
        suffix: What follows it (`` from exc``, ``:``).
        level: The indentation level of the statement (for the line width).
        assign: The expression is the value of an assignment. A call is then split inside its
            own brackets only if its head and its arguments (on one line) fit; otherwise it is
            parenthesized whole when that fits, as is a name. A string is parenthesized even
            when that does not make it fit.
    """
    whole = prefix + flat(expr) + suffix
    if _fits(whole, level):
        return [whole]
    if isinstance(expr, Call) and expr.head and assign:
        head = f"{prefix}{expr.head}{expr.brackets[0]}"
        inner = ", ".join(flat(i) for i in expr.items)
        own = _fits(head, level) and _fits(inner, level + 1)
        if not own and _fits(flat(expr), level + 1):
            return [prefix + "(", INDENT + flat(expr), ")" + suffix]
    if isinstance(expr, Call | Comp):
        return _split_brackets(prefix, expr, suffix, level)
    if isinstance(expr, Ternary | Union):
        return [prefix + "(", *_at(1, _parts(expr, level + 1)), ")" + suffix]
    if assign and (flat(expr).startswith('"') or _fits(flat(expr), level + 1)):
        return [prefix + "(", INDENT + flat(expr), ")" + suffix]
    return [whole]


def annotated(name: str, annotation: Expr, value: Expr | None, level: int) -> list[str]:
    """Lines of ``name: annotation = value`` (an attribute or constant declaration)."""
    tail = "" if value is None else f" = {flat(value)}"
    whole = f"{name}: {flat(annotation)}{tail}"
    if _fits(whole, level):
        return [whole]
    if value is not None and _fits(f"{name}: {flat(annotation)} = (", level):
        return statement(f"{name}: {flat(annotation)} = ", value, "", level, assign=True)
    if isinstance(annotation, Union):
        return [f"{name}: (", *_at(1, _parts(annotation, level + 1)), ")" + tail]
    return _item(f"{name}: ", annotation, tail, level)


def _parts(expr: Expr, level: int) -> list[str]:
    """The inside of parentheses: the expression whole if it fits, else split at operators."""
    if _fits(flat(expr), level):
        return [flat(expr)]
    if isinstance(expr, Ternary):
        return [
            *_item("", expr.body, "", level),
            *_item("if ", expr.test, "", level),
            *_item("else ", expr.orelse, "", level),
        ]
    if isinstance(expr, Union):
        lines = _item("", expr.operands[0], "", level)
        for op in expr.operands[1:]:
            lines.extend(_item("| ", op, "", level))
        return lines
    return _item("", expr, "", level)


def _item(prefix: str, expr: Expr, suffix: str, level: int) -> list[str]:
    """An expression inside brackets or parentheses: split further without new parentheses."""
    whole = prefix + flat(expr) + suffix
    if _fits(whole, level):
        return [whole]
    if isinstance(expr, Call | Comp):
        return _split_brackets(prefix, expr, suffix, level)
    if isinstance(expr, Pair):
        return _item(f"{prefix}{expr.key}: ", expr.value, suffix, level)
    if isinstance(expr, Ternary | Union):
        lines = _parts(expr, level)
        return [prefix + lines[0], *lines[1:-1], lines[-1] + suffix] if len(lines) > 1 else [whole]
    return [whole]


def _split_brackets(prefix: str, expr: Call | Comp, suffix: str, level: int) -> list[str]:
    if isinstance(expr, Comp):
        inner = f"{flat(expr.elt)} {expr.clause}"
        if _fits(inner, level + 1):
            body = [inner]
        else:
            body = [*_item("", expr.elt, "", level + 1), expr.clause]
        return [prefix + "[", *_at(1, body), "]" + suffix]
    opening, closing = expr.brackets[0], expr.brackets[1]
    items = expr.items
    inner = ", ".join(flat(i) for i in items)
    if not expr.head:  # a display: one item per line, always with a trailing comma
        body = [line for i in items for line in _item("", i, ",", level + 1)]
    elif len(items) == 1:
        body = _item("", items[0], "", level + 1)
    elif _fits(inner, level + 1):
        body = [inner]
    else:
        body = [line for i in items for line in _item("", i, ",", level + 1)]
    return [f"{prefix}{expr.head}{opening}", *_at(1, body), closing + suffix]


def string_alias(name: str, operands: tuple[str, ...], level: int) -> list[str]:
    """Lines of ``name: TypeAlias = "a | b | ..."`` (a union as a string: nothing is imported).

    A string too long even in parentheses becomes an implicit concatenation, one operand per
    line (``"a"`` then ``" | b"``), which ruff keeps as it is.
    """
    text = '"' + " | ".join(operands) + '"'
    whole = f"{name}: TypeAlias = {text}"
    if _fits(whole, level):
        return [whole]
    if _fits(text, level + 1):
        return [f"{name}: TypeAlias = (", INDENT + text, ")"]
    parts = [f'"{operands[0]}"', *(f'" | {op}"' for op in operands[1:])]
    return [f"{name}: TypeAlias = (", *(INDENT + p for p in parts), ")"]


def parameter(name: str, annotation: Expr, default: str | None, level: int) -> list[str]:
    """Lines of one parameter of a function split one parameter per line (trailing comma)."""
    suffix = "," if default is None else f" = {default},"
    return _item(f"{name}: ", annotation, suffix, level)
