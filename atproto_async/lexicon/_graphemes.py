"""Counting extended grapheme clusters (Unicode UAX #29) for ``minGraphemes`` / ``maxGraphemes``.

Lexicon limits the length of some strings in grapheme clusters, the "user-perceived characters"
(https://atproto.com/specs/lexicon#string): a flag is two code points, a family emoji seven, a
Hangul syllable may be three jamo, ``e`` plus a combining accent is one. The rules are those of
https://www.unicode.org/reports/tr29/#Grapheme_Cluster_Boundary_Rules (GB3-GB13, with the
Indic conjunct rule GB9c of Unicode 15.1 and later).

The standard library has no grapheme segmentation, but ``unicodedata`` has the general category,
from which almost every Grapheme_Cluster_Break value follows (Extend is Mn and Me, SpacingMark is
Mc, Control is Cc, Cf, Zl, Zp and Cs). The exceptions are the small tables below, taken from the
Unicode 17.0 data files (GraphemeBreakProperty.txt, emoji-data.txt, DerivedCoreProperties.txt):
Prepend, the marks whose break class is not the one their category suggests, the unassigned
default-ignorable code points (Control), Hangul jamo, Extended_Pictographic and the Indic
conjunct classes. Characters newer than the interpreter's ``unicodedata`` (Unicode 14.0 on
Python 3.11) and absent from the tables count as ordinary characters.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final
from unicodedata import category

__all__ = ["count_graphemes"]

# Grapheme_Cluster_Break values (low 4 bits of a property word).
_OTHER, _CR, _LF, _CONTROL, _EXTEND, _ZWJ, _RI, _PREPEND, _SPACING = range(9)
_L, _V, _T, _LV, _LVT = range(9, 14)
# Extended_Pictographic, and the Indic_Conjunct_Break values (InCB=Extend is derived).
_PICTO: Final = 16
_CONSONANT: Final = 32
_LINKER: Final = 64
_INCB_EXTEND: Final = 128


def _ranges(text: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"00A9 2194-2199 ..."``: hex code points and inclusive ranges."""
    pairs = []
    for item in text.split():
        first, _, last = item.partition("-")
        pairs.append((int(first, 16), int(last or first, 16)))
    return tuple(pairs)


_PREPEND_RANGES = _ranges(
    """
    0600-0605 06DD 070F 0890-0891 08E2 0D4E 110BD 110CD 111C2-111C3 113D1 1193F 11941
    11A84-11A89 11D46 11F02
    """
)
# Extend although not Mn/Me: Other_Grapheme_Extend (spacing marks of Unicode 16.0 included),
# ZWNJ, the emoji skin-tone modifiers and the tag characters.
_EXTEND_RANGES = _ranges(
    """
    09BE 09D7 0B3E 0B57 0BBE 0BD7 0CC0 0CC2 0CC7-0CC8 0CCA-0CCB 0CD5-0CD6 0D3E 0D57 0DCF 0DDF
    1715 1734 1B35 1B3B 1B3D 1B43 1BAA 1BF2-1BF3 200C 302E-302F A953 FF9E-FF9F 111C0 11235 1133E
    1134D 11357 114B0 114BD 115AF 116B6 11930 1193D 16FF0-16FF1 1D165-1D166 1D16D-1D172
    1F3FB-1F3FF E0020-E007F
    """
)
# SpacingMark although not Mc (or Mn before Unicode 15).
_SPACING_RANGES = _ranges(
    """
    0E33 0EB3 1171E
    """
)
# Mc that are neither SpacingMark nor Extend (Myanmar, Tai Tham, Tai Viet, Ahom).
_PLAIN_MARK_RANGES = _ranges(
    """
    102B-102C 1038 1062-1064 1067-106D 1083 1087-108C 108F 109A-109C 1A61 1A63-1A64 AA7B AA7D
    11720-11721
    """
)
# Unassigned default-ignorable code points, which are Control.
_CONTROL_RANGES = _ranges(
    """
    2065 FFF0-FFF8 E0000-E001F E0080-E00FF E01F0-E0FFF
    """
)
_HANGUL_RANGES = (
    ((0x1100, 0x115F), _L),
    ((0xA960, 0xA97C), _L),
    ((0x1160, 0x11A7), _V),
    ((0xD7B0, 0xD7C6), _V),
    ((0x11A8, 0x11FF), _T),
    ((0xD7CB, 0xD7FB), _T),
)

_EXTENDED_PICTOGRAPHIC = _ranges(
    """
    00A9 00AE 203C 2049 2122 2139 2194-2199 21A9-21AA 231A-231B 2328 23CF 23E9-23F3 23F8-23FA
    24C2 25AA-25AB 25B6 25C0 25FB-25FE 2600-2604 260E 2611 2614-2615 2618 261D 2620 2622-2623
    2626 262A 262E-262F 2638-263A 2640 2642 2648-2653 265F-2660 2663 2665-2666 2668 267B
    267E-267F 2692-2697 2699 269B-269C 26A0-26A1 26A7 26AA-26AB 26B0-26B1 26BD-26BE 26C4-26C5
    26C8 26CE-26CF 26D1 26D3-26D4 26E9-26EA 26F0-26F5 26F7-26FA 26FD 2702 2705 2708-270D 270F
    2712 2714 2716 271D 2721 2728 2733-2734 2744 2747 274C 274E 2753-2755 2757 2763-2764
    2795-2797 27A1 27B0 27BF 2934-2935 2B05-2B07 2B1B-2B1C 2B50 2B55 3030 303D 3297 3299 1F004
    1F02C-1F02F 1F094-1F09F 1F0AF-1F0B0 1F0C0 1F0CF-1F0D0 1F0F6-1F0FF 1F170-1F171 1F17E-1F17F
    1F18E 1F191-1F19A 1F1AE-1F1E5 1F201-1F20F 1F21A 1F22F 1F232-1F23A 1F23C-1F23F 1F249-1F25F
    1F266-1F321 1F324-1F393 1F396-1F397 1F399-1F39B 1F39E-1F3F0 1F3F3-1F3F5 1F3F7-1F3FA
    1F400-1F4FD 1F4FF-1F53D 1F549-1F54E 1F550-1F567 1F56F-1F570 1F573-1F57A 1F587 1F58A-1F58D
    1F590 1F595-1F596 1F5A4-1F5A5 1F5A8 1F5B1-1F5B2 1F5BC 1F5C2-1F5C4 1F5D1-1F5D3 1F5DC-1F5DE
    1F5E1 1F5E3 1F5E8 1F5EF 1F5F3 1F5FA-1F64F 1F680-1F6C5 1F6CB-1F6D2 1F6D5-1F6E5 1F6E9
    1F6EB-1F6F0 1F6F3-1F6FF 1F7DA-1F7FF 1F80C-1F80F 1F848-1F84F 1F85A-1F85F 1F888-1F88F
    1F8AE-1F8AF 1F8BC-1F8BF 1F8C2-1F8CF 1F8D9-1F8FF 1F90C-1F93A 1F93C-1F945 1F947-1F9FF
    1FA58-1FA5F 1FA6E-1FAFF 1FC00-1FFFD
    """
)

_INCB_CONSONANT = _ranges(
    """
    0915-0939 0958-095F 0978-097F 0995-09A8 09AA-09B0 09B2 09B6-09B9 09DC-09DD 09DF 09F0-09F1
    0A95-0AA8 0AAA-0AB0 0AB2-0AB3 0AB5-0AB9 0AF9 0B15-0B28 0B2A-0B30 0B32-0B33 0B35-0B39
    0B5C-0B5D 0B5F 0B71 0C15-0C28 0C2A-0C39 0C58-0C5A 0D15-0D3A 1000-102A 103F 1050-1055
    105A-105D 1061 1065-1066 106E-1070 1075-1081 108E 1780-17B3 1A20-1A54 1B0B-1B0C 1B13-1B33
    1B45-1B4C 1B83-1BA0 1BAE-1BAF 1BBB-1BBD A989-A98B A98F-A9B2 A9E0-A9E4 A9E7-A9EF A9FA-A9FE
    AA60-AA6F AA71-AA73 AA7A AA7E-AA7F AAE0-AAEA ABC0-ABDA 10A00 10A10-10A13 10A15-10A17
    10A19-10A35 11103-11126 11144 11147 11380-11389 1138B 1138E 11390-113B5 11900-11906 11909
    1190C-11913 11915-11916 11918-1192F 11A00 11A0B-11A32 11A50 11A5C-11A83 11F04-11F10
    11F12-11F33
    """
)

_INCB_LINKER = _ranges(
    """
    094D 09CD 0ACD 0B4D 0C4D 0D4D 1039 17D2 1A60 1B44 1BAB A9C0 AAF6 10A3F 11133 113D0 1193E
    11A47 11A99 11F42
    """
)


def _table() -> tuple[list[int], list[int], list[int]]:
    """The explicit ranges, merged into parallel sorted lists (starts, ends, property words)."""
    entries = [(r, _PREPEND) for r in _PREPEND_RANGES]
    entries += [(r, _EXTEND | _INCB_EXTEND) for r in _EXTEND_RANGES if r != (0x200C, 0x200C)]
    entries += [((0x200C, 0x200C), _EXTEND), ((0x200D, 0x200D), _ZWJ | _INCB_EXTEND)]
    entries += [(r, _SPACING) for r in _SPACING_RANGES]
    entries += [(r, _OTHER) for r in _PLAIN_MARK_RANGES]
    entries += [(r, _CONTROL) for r in _CONTROL_RANGES]
    entries += list(_HANGUL_RANGES)
    entries += [((0x1F1E6, 0x1F1FF), _RI)]
    entries += [(r, _OTHER | _PICTO) for r in _EXTENDED_PICTOGRAPHIC]
    entries += [(r, _OTHER | _CONSONANT) for r in _INCB_CONSONANT]
    entries += [(r, _EXTEND | _LINKER) for r in _INCB_LINKER]
    entries.sort()
    starts = [start for (start, _), _ in entries]
    ends = [end for (_, end), _ in entries]
    values = [value for _, value in entries]
    return starts, ends, values


_STARTS, _ENDS, _VALUES = _table()
_BY_CATEGORY: Final = {
    "Mn": _EXTEND | _INCB_EXTEND,
    "Me": _EXTEND | _INCB_EXTEND,
    "Mc": _SPACING,
    "Cc": _CONTROL,
    "Cf": _CONTROL,
    "Zl": _CONTROL,
    "Zp": _CONTROL,
    "Cs": _CONTROL,
}


def _lookup(cp: int) -> int:
    """The property word of code point ``cp``: break class, plus the picto and InCB bits."""
    if cp == 13:
        return _CR
    if cp == 10:
        return _LF
    i = bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _ENDS[i]:
        return _VALUES[i]
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    return _BY_CATEGORY.get(category(chr(cp)), _OTHER)


_LOW: Final = tuple(_lookup(cp) for cp in range(0x300))  # Latin, looked up without bisecting


def _pair_breaks() -> tuple[bool, ...]:
    """Whether GB3-GB9b and GB999 break between two classes (index ``before * 16 + after``).

    The rules that look further back (GB9c, GB11, GB12/13) are applied by `count_graphemes`.
    """
    table = []
    for before in range(16):
        for after in range(16):
            if before == _CR and after == _LF:
                brk = False  # GB3
            elif before in (_CONTROL, _CR, _LF) or after in (_CONTROL, _CR, _LF):
                brk = True  # GB4, GB5
            elif before == _L and after in (_L, _V, _LV, _LVT):
                brk = False  # GB6
            elif before in (_LV, _V) and after in (_V, _T):
                brk = False  # GB7
            elif before in (_LVT, _T) and after == _T:
                brk = False  # GB8
            else:
                # GB9 (x Extend/ZWJ), GB9a (x SpacingMark), GB9b (Prepend x), else GB999.
                brk = after not in (_EXTEND, _ZWJ, _SPACING) and before != _PREPEND
            table.append(brk)
    return tuple(table)


_BREAKS: Final = _pair_breaks()


def count_graphemes(text: str) -> int:
    """Return the number of extended grapheme clusters in ``text``.

    Args:
        text: Any string (lone surrogates count as control characters).

    Returns:
        The count, as ``maxGraphemes`` / ``minGraphemes`` of a Lexicon string measure it.
    """
    if text.isascii():
        return len(text) - text.count("\r\n")  # in ASCII only CR LF is a multi-character cluster
    breaks = _BREAKS
    words: dict[str, int] = {}  # property words of the characters seen (text repeats them)
    count = 0
    before = -1
    regional = 0  # regional indicators in a row, up to the previous character
    emoji = 0  # 1: after ExtPict Extend*; 2: after ExtPict Extend* ZWJ (GB11)
    conjunct = 0  # 1: after an InCB consonant [Extend Linker]*; 2: a linker among them (GB9c)
    for char in text:
        word = words.get(char, -1)
        if word < 0:
            cp = ord(char)
            word = words[char] = _LOW[cp] if cp < 0x300 else _lookup(cp)
        kind = word & 15
        if before < 0 or (
            breaks[before * 16 + kind]
            and not (kind == _RI and before == _RI and regional & 1)
            and not (emoji == 2 and word & _PICTO)
            and not (conjunct == 2 and word & _CONSONANT)
        ):
            count += 1
        regional = regional + 1 if kind == _RI else 0
        if word & _PICTO:
            emoji = 1
        elif emoji == 1 and kind == _ZWJ:
            emoji = 2
        elif not (emoji == 1 and kind == _EXTEND):
            emoji = 0
        if word & _CONSONANT:
            conjunct = 1
        elif conjunct and word & _LINKER:
            conjunct = 2
        elif not (conjunct and word & _INCB_EXTEND):
            conjunct = 0
        before = kind
    return count
