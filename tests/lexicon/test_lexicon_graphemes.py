"""Extended grapheme clusters (atproto_async/lexicon/_graphemes.py), per Unicode UAX #29.

The ``regex`` module's ``\\X`` is an independent implementation: when it is installed, the
counts are compared on generated text and the property tables checked against its data.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.lexicon import count_graphemes
from atproto_async.lexicon._graphemes import _lookup

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f466\u200d\U0001f466"
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
GERMANY = "\U0001f1e9\U0001f1ea"


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("hello", 5),
        ("a\r\nb", 3),  # GB3: CR LF is one cluster
        ("\r\r\n\n", 3),
        ("e\u0301", 1),  # combining acute accent
        ("e\u0301\u0327\u0308x", 2),  # several marks
        ("\u1100\u1161\u11a8", 1),  # Hangul L V T jamo
        ("\uac00\u11a8", 1),  # LV syllable + T
        ("\uac01\u11a8\u11a8", 1),  # LVT + T + T
        ("\u1100\u1100\uac00", 1),  # L L LV
        ("\uac00\u1100", 2),  # LV then L: a break
        (FAMILY, 1),  # ZWJ sequence (GB11)
        (RAINBOW_FLAG, 1),
        ("\U0001f44d\U0001f3fd", 1),  # skin tone modifier
        (GERMANY, 1),  # a flag: two regional indicators (GB12)
        (GERMANY * 3, 3),
        (GERMANY + "\U0001f1e9", 2),  # an odd indicator stands alone
        ("a\u200d\U0001f308", 2),  # ZWJ after a letter does not join an emoji
        ("\u0915\u094d\u0937", 1),  # Devanagari conjunct (GB9c)
        ("\u0915\u094d\u200d\u0937", 1),
        ("\u0915\u093f", 1),  # consonant + spacing vowel sign (GB9a)
        ("\u0600\u0661", 1),  # Arabic prepended concatenation mark (GB9b)
        ("\u0e01\u0e33", 1),  # Thai SARA AM is a spacing mark
        ("a\u0000b", 3),  # controls break on both sides
        ("\ud800x", 2),  # a lone surrogate counts as a control
        ("\U000e0067\U000e0062", 1),  # tag characters are Extend: the second joins the first
    ],
)
def test_known_counts(text: str, count: int) -> None:
    assert count_graphemes(text) == count


def test_tag_sequence_flag_is_one_cluster() -> None:
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert count_graphemes(scotland) == 1
    assert count_graphemes(scotland + FAMILY + GERMANY) == 3


def _regex_module() -> Any:
    return pytest.importorskip("regex", reason="regex (an independent \\X) is not installed")


# Code points from every class the rules treat apart, plus ordinary letters.
_INTERESTING = [
    *"aZ9 .\r\n\t",
    *"\u0301\u0308\u0327\u200c\u200d\ufe0f",  # Extend, ZWNJ, ZWJ, variation selector
    *"\u0903\u093f\u0e33\u0eb3",  # SpacingMark
    *"\u0600\u06dd\U000110bd",  # Prepend
    *"\u1100\u115f\u1160\u11a7\u11a8\uac00\uac01\ud7a3",  # Hangul
    *"\u0915\u0937\u094d\u09cd\u0995\u1000\u1039\u17d2\u1780",  # InCB consonants, linkers
    *"\u00a9\u2764\U0001f308\U0001f3f3\U0001f469\U0001f466\U0001f44d\U0001f3fb\U0001f3fd",
    *"\U0001f1e6\U0001f1e9\U0001f1ea\U0001f1ff",  # regional indicators
    *"\U000e0067\U000e007f\u0000\u0085\u00ad\u2028",  # tags, controls
]
_ASSIGNED = st.characters(
    blacklist_categories=("Cs", "Cn"),  # type: ignore[arg-type]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_INTERESTING) | _ASSIGNED, max_size=16).map("".join))
def test_counts_match_regex_extended_graphemes(text: str) -> None:
    module = _regex_module()
    # The regex module may know newer characters than this Python's unicodedata.
    if any(unicodedata.category(c) == "Cn" for c in text):
        return
    assert count_graphemes(text) == len(module.findall(r"\X", text))


def test_property_tables_match_regex_for_assigned_code_points() -> None:
    module = _regex_module()
    assigned = "".join(
        chr(cp)
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn"
    )

    def having(prop: str) -> set[str]:
        return set(module.findall(rf"\p{{{prop}}}", assigned))

    names = [
        "Other", "CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend",
        "SpacingMark", "L", "V", "T", "LV", "LVT",
    ]  # fmt: skip
    expected = {char: 0 for char in assigned}
    for index, name in enumerate(names[1:], start=1):
        for char in having(f"Grapheme_Cluster_Break={name}"):
            expected[char] = index
    for bit, prop in ((16, "Extended_Pictographic"), (32, "InCB=Consonant")):
        for char in having(prop):
            expected[char] |= bit
    for bit, prop in ((64, "InCB=Linker"), (128, "InCB=Extend")):
        for char in having(prop):
            expected[char] |= bit
    wrong = [hex(ord(c)) for c, word in expected.items() if _lookup(ord(c)) != word]
    assert wrong == []
