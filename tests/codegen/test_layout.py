"""The layout of generated expressions (``_codegen.layout``): what ``ruff format`` would write.

Each case is checked against the expected lines, and against ruff itself when it is installed
(the whole generated tree is checked in test_generator).
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest

from atproto_async._codegen import layout
from atproto_async._codegen.layout import Atom, Call, Comp, Pair, Ternary, call, subscript, union

LONG = "_m_tools_ozone_moderation_defs.ModEventViewDetail"


def _ruff_keeps(source: str) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        return
    out = subprocess.run(
        [ruff, "format", "--isolated", "--line-length", "100", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == source


def _check(lines: list[str], expected: str, level: int = 0) -> None:
    assert lines == textwrap.dedent(expected).strip("\n").split("\n")
    body = "\n".join(lines) + "\n"
    # Nested blocks give ruff the same indentation.
    blocks = ["def f():\n", *["if x:\n"] * (level - 1)] if level else []
    head = "".join(layout.INDENT * i + block for i, block in enumerate(blocks))
    _ruff_keeps(head + textwrap.indent(body, layout.INDENT * level))


def test_a_line_that_fits_stays_whole() -> None:
    lines = layout.statement("x = ", call("f", "a", "b"), "", 0, assign=True)
    _check(lines, "x = f(a, b)")


def test_an_assigned_call_is_parenthesized_when_its_head_does_not_fit() -> None:
    value = call(f"{LONG}XXXXXXXXXXXXXXXXXX.from_dict", "v")
    lines = layout.statement("self.subject_status = ", value, "", 1, assign=True)
    _check(
        lines,
        f"""
        self.subject_status = (
            {LONG}XXXXXXXXXXXXXXXXXX.from_dict(v)
        )
        """,
        level=1,
    )


def test_a_call_is_split_in_its_own_brackets() -> None:
    keys = Call("", tuple(Atom(f'"key{i}"') for i in range(10)), tuple_display=True)
    lines = layout.statement("_KEYS: Final = ", call("frozenset", keys), "", 0, assign=True)
    _check(
        lines,
        """
        _KEYS: Final = frozenset(
            ("key0", "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8", "key9")
        )
        """,
    )
    where = '"chat.bsky.moderation.subscribeModEvents#eventGroupChatJoinRequestApproved"'
    raising = call("invalid", where, "e")
    lines = layout.statement("raise ", raising, " from exc", 2, assign=False)
    _check(
        lines,
        """
        raise invalid(
            "chat.bsky.moderation.subscribeModEvents#eventGroupChatJoinRequestApproved", e
        ) from exc
        """,
        level=2,
    )


def test_a_display_is_split_one_item_per_line() -> None:
    entries = tuple(Pair(f'"field{i}"', Atom(f"self.field_number_{i}")) for i in range(4))
    lines = layout.annotated("d", Atom("dict[str, Any]"), Call("", entries, "{}"), 1)
    _check(
        lines,
        """
        d: dict[str, Any] = {
            "field0": self.field_number_0,
            "field1": self.field_number_1,
            "field2": self.field_number_2,
            "field3": self.field_number_3,
        }
        """,
        level=1,
    )


def test_a_ternary_is_split_before_if_and_else() -> None:
    convert = Comp(call(f"{LONG}.from_dict", "i0"), "for i0 in v")
    lines = layout.statement(
        "self.subject_statuses = ",
        Ternary(Atom("v"), Atom("v is UNSET"), convert),
        "",
        3,
        assign=True,
    )
    _check(
        lines,
        f"""
        self.subject_statuses = (
            v
            if v is UNSET
            else [{LONG}.from_dict(i0) for i0 in v]
        )
        """,
        level=3,
    )


def test_a_long_annotation_is_parenthesized_or_split_at_its_bars() -> None:
    annotation = union(subscript("list", f"{LONG}XXXXXXXXXXXXXXXXXXXXXXXXXX"), "UnsetType")
    lines = layout.annotated("items", annotation, Atom("UNSET"), 1)
    _check(
        lines,
        f"""
        items: (
            list[{LONG}XXXXXXXXXXXXXXXXXXXXXXXXXX]
            | UnsetType
        ) = UNSET
        """,
        level=1,
    )


def test_a_long_string_alias_is_one_operand_per_line() -> None:
    operands = tuple(f"_m_app_bsky_embed_{n}.{n.title()}" for n in ("images", "video", "record"))
    one = layout.string_alias("Embed", operands[:1], 0)
    _check(one, f'Embed: TypeAlias = "{operands[0]}"')
    lines = layout.string_alias("PostEmbedWithAVeryLongName", (*operands, "UnknownMember"), 0)
    _check(
        lines,
        """
        PostEmbedWithAVeryLongName: TypeAlias = (
            "_m_app_bsky_embed_images.Images"
            " | _m_app_bsky_embed_video.Video"
            " | _m_app_bsky_embed_record.Record"
            " | UnknownMember"
        )
        """,
    )


@pytest.mark.parametrize("level", [0, 2])
def test_a_parameter_with_a_long_literal(level: int) -> None:
    values = tuple(f'"value{i}LongerThanUsual"' for i in range(5))
    lines = layout.parameter("sort_field", subscript("Literal", *values), '"value0"', level)
    assert lines[0] == "sort_field: Literal["
    assert lines[-1] == '] = "value0",'
    assert all(len(layout.INDENT * level + line) <= layout.WIDTH for line in lines)
