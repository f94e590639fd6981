"""The Lexicon ``language`` format (BCP-47 / RFC 5646 tags), `LanguageTag` and `parse_language`.

Spec: https://atproto.com/specs/lexicon#string-formats
"""

from __future__ import annotations

import re

from atproto_async.exceptions import InvalidSyntaxError
from atproto_async.syntax._identifiers import _check_str

# RFC 5646 "well-formed" tags, with the primary language subtag in lowercase as atproto expects.
_LANGUAGE_RE = re.compile(
    r"""(?:
        (?P<language>[a-z]{2,3})(?P<extlang>(?:-[a-zA-Z]{3}){0,3})
        (?:-(?P<script>[a-zA-Z]{4}))?
        (?:-(?P<region>[a-zA-Z]{2}|[0-9]{3}))?
        (?P<variants>(?:-(?:[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))*)
        (?P<extensions>(?:-[0-9a-wyzA-WYZ](?:-[a-zA-Z0-9]{2,8})+)*)
        (?:-(?P<private>[xX](?:-[a-zA-Z0-9]{1,8})+))?
      | (?P<private_only>[xX](?:-[a-zA-Z0-9]{1,8})+)
    )""",
    re.VERBOSE,
)
# RFC 5646 "irregular" grandfathered tags; the "regular" ones are well-formed langtags anyway.
_IRREGULAR = (
    "en-gb-oed i-ami i-bnn i-default i-enochian i-hak i-klingon i-lux i-mingo i-navajo i-pwn "
    "i-tao i-tay i-tsu sgn-be-fr sgn-be-nl sgn-ch-de"
)
_IRREGULAR_LANGUAGE_TAGS = frozenset(_IRREGULAR.split())


def is_valid_language(s: str) -> bool:
    """Whether ``s`` is a well-formed BCP-47 language tag (Lexicon format ``language``).

    Per the Lexicon spec this is the "well-formed" check; `parse_language` also applies the
    RFC 5646 "valid" rule that no variant or extension singleton repeats.
    """
    if _LANGUAGE_RE.fullmatch(s) is not None:
        return True
    return s[:1].islower() and s.lower() in _IRREGULAR_LANGUAGE_TAGS


def _language_problem(s: str) -> str:
    return (
        "not a well-formed BCP-47 tag: expected a lowercase 2-3 letter language, "
        "then optional -Script, -REGION, -variant, -extension and -x-private subtags"
    )


# --- language -------------------------------------------------------------------------------


class LanguageTag:
    """A BCP-47 tag split into its RFC 5646 parts, from `parse_language`.

    Attributes:
        tag: The tag as given.
        language: Primary language subtag with any extlangs (``"zh-yue"``); the whole tag for
            irregular grandfathered tags; ``""`` for a private-use-only tag.
        script: e.g. ``"Latn"``, or None.
        region: e.g. ``"BR"`` or ``"419"``, or None.
        variants: Variant subtags in order.
        extensions: Singleton (lowercase) -> its subtags.
        private_use: Subtags after ``x-``.
    """

    __slots__ = ("extensions", "language", "private_use", "region", "script", "tag", "variants")

    def __init__(
        self,
        tag: str,
        language: str,
        script: str | None = None,
        region: str | None = None,
        variants: tuple[str, ...] = (),
        extensions: dict[str, tuple[str, ...]] | None = None,
        private_use: tuple[str, ...] = (),
    ) -> None:
        self.tag = tag
        self.language = language
        self.script = script
        self.region = region
        self.variants = variants
        self.extensions = extensions or {}
        self.private_use = private_use

    def __repr__(self) -> str:
        return f"LanguageTag({self.tag!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LanguageTag) and other.tag.lower() == self.tag.lower()

    def __hash__(self) -> int:
        return hash(self.tag.lower())


def parse_language(s: str) -> LanguageTag:
    """Parse a language tag, checking it is well-formed and "valid" per RFC 5646 section 2.2.9.

    Beyond `is_valid_language`, a variant or an extension singleton may not repeat
    (case-insensitively). The registry is not consulted.

    Args:
        s: e.g. ``"hy-Latn-IT-arevela"``.

    Returns:
        The parsed `LanguageTag`.

    Raises:
        InvalidSyntaxError: ``s`` is not well-formed, or repeats a variant or singleton.
        TypeError: ``s`` is not a str.
    """
    # ensure_valid("language", s) spelled out: _formats imports this module, not the reverse.
    if not is_valid_language(_check_str("language tag", s)):
        raise InvalidSyntaxError("language tag", s, _language_problem(s))
    m = _LANGUAGE_RE.fullmatch(s)
    if m is None:  # an irregular grandfathered tag
        return LanguageTag(s, s)
    private = m.group("private") or m.group("private_only")
    private_use = tuple(private.split("-")[1:]) if private else ()
    if m.group("private_only"):
        return LanguageTag(s, "", private_use=private_use)
    variants = tuple(m.group("variants").split("-")[1:])
    seen: set[str] = set()
    for variant in variants:
        if variant.lower() in seen:
            raise InvalidSyntaxError("language tag", s, f"variant {variant!r} is repeated")
        seen.add(variant.lower())
    extensions: dict[str, tuple[str, ...]] = {}
    singleton = ""
    for subtag in m.group("extensions").split("-")[1:]:
        if len(subtag) > 1:  # the regex puts a singleton first
            extensions[singleton] += (subtag,)
        elif subtag.lower() in extensions:
            reason = f"extension singleton {subtag!r} is repeated"
            raise InvalidSyntaxError("language tag", s, reason)
        else:
            singleton = subtag.lower()
            extensions[singleton] = ()
    return LanguageTag(
        s,
        m.group("language") + m.group("extlang"),
        m.group("script"),
        m.group("region"),
        variants,
        extensions,
        private_use,
    )
