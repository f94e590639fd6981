"""Property tests for atproto_async.lexicon: limits, fast paths, hostile data, both data forms."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atproto_async.exceptions import LexiconValidationError
from atproto_async.ipld import cid_for_raw, to_json
from atproto_async.lexicon import Catalog, count_graphemes
from atproto_async.lexicon._compile import _FAST_FORMATS
from atproto_async.syntax import is_valid

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LIMITS = {
    "lexicon": 1,
    "id": "com.example.limits",
    "defs": {
        "bytes": {"type": "string", "minLength": 2, "maxLength": 9},
        "graphemes": {"type": "string", "minGraphemes": 2, "maxGraphemes": 4},
    },
}


@pytest.fixture(scope="module")
def limits() -> Catalog:
    return Catalog.from_documents([LIMITS])


@pytest.fixture(scope="module")
def default() -> Catalog:
    return Catalog.default()


def _passes(catalog: Catalog, ref: str, value: Any) -> bool:
    try:
        catalog.validate(ref, value)
    except LexiconValidationError:
        return False
    return True


texts = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\u0301\u200d\U0001f469\r\n"),
    max_size=12,
)


@SETTINGS
@given(texts)
def test_length_limits_count_utf8_bytes_and_graphemes(limits: Catalog, text: str) -> None:
    size = len(text.encode("utf-8"))
    assert _passes(limits, "com.example.limits#bytes", text) == (2 <= size <= 9)
    clusters = count_graphemes(text)
    assert _passes(limits, "com.example.limits#graphemes", text) == (2 <= clusters <= 4)


@pytest.mark.parametrize("fmt", sorted(_FAST_FORMATS))
def test_fast_format_paths_accept_only_valid_strings(fmt: str) -> None:
    pattern = _FAST_FORMATS[fmt].__self__.pattern  # type: ignore[attr-defined]

    @SETTINGS
    @given(st.from_regex(pattern, fullmatch=True))
    def check(value: str) -> None:
        assert is_valid(fmt, value), value

    check()


cids = st.builds(cid_for_raw, st.binary(max_size=8))
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8)
values = st.recursive(
    scalars | cids | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["$type", "a", "$link", "text", "ref"]), children, max_size=4
        )
    ),
    max_leaves=12,
)
POST: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "hello",
    "createdAt": "2024-11-25T08:00:00.000Z",
    "langs": ["en"],
    "facets": [
        {
            "index": {"byteStart": 0, "byteEnd": 5},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "hello"}],
        }
    ],
    "embed": {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "",
                "image": {
                    "$type": "blob",
                    "ref": cid_for_raw(b"x"),
                    "mimeType": "image/png",
                    "size": 1,
                },
            }
        ],
    },
}
PATHS = [
    ("text",),
    ("createdAt",),
    ("langs",),
    ("langs", 0),
    ("facets", 0, "index"),
    ("facets", 0, "index", "byteEnd"),
    ("facets", 0, "features", 0),
    ("facets", 0, "features", 0, "$type"),
    ("embed",),
    ("embed", "images", 0, "image"),
    ("embed", "images", 0, "image", "ref"),
    ("embed", "images", 0, "alt"),
    ("reply",),
    ("labels",),
]


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``data`` with the value at ``path`` replaced (or added, for a missing last key)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = list(data) if isinstance(data, list) else dict(data)
    current = copy[head] if isinstance(copy, list) else copy.get(head)
    copy[head] = _replace(current, rest, value)
    return copy


@SETTINGS
@given(st.sampled_from(PATHS), values)
def test_any_value_anywhere_passes_or_fails_cleanly(
    default: Catalog, path: tuple[Any, ...], value: Any
) -> None:
    data = _replace(POST, path, value)
    try:
        default.validate_record(data)
    except LexiconValidationError as exc:
        assert str(exc).startswith("app.bsky.feed.post: ")
    else:
        # What passes in the data-model form passes in the JSON form too.
        if not _has_float(data):
            default.validate_record(to_json(data))


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def test_deep_data_fails_cleanly(default: Catalog) -> None:
    deep: Any = {"$type": "org.example.deep"}
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(LexiconValidationError, match="nested deeper"):
        default.validate_record({**POST, "embed": {"$type": "org.example.x", "d": deep}})
