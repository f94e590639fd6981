"""Rich text: spans and UTF-8 byte offsets on emoji, CJK and combining text; facets; posts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atproto_async.identity import StaticIdentityResolver
from atproto_async.richtext import Image, build_facets, build_post, detect_facets, now
from atproto_async.syntax import is_valid_datetime

ALICE = "did:plc:alice7zzzzzzzzzzzzzzzzzzzz"


def spans(text: str) -> list[tuple[str, str, str]]:
    """(kind, value, the bytes the offsets select) for each span."""
    raw = text.encode()
    return [(s.kind, s.value, raw[s.start : s.end].decode()) for s in detect_facets(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @alice.test!", [("mention", "alice.test", "@alice.test")]),
        ("👩‍👩‍👧 @alice.test", [("mention", "alice.test", "@alice.test")]),
        (
            "日本語テキスト https://例え.jp/ok #日本",
            [("link", "https://例え.jp/ok", "https://例え.jp/ok"), ("tag", "日本", "#日本")],
        ),
        ("e\u0301e\u0301 #café", [("tag", "café", "#café")]),
        ("🇫🇷🇩🇪 see example.com/page.", [("link", "https://example.com/page", "example.com/page")]),
        ("(https://x.org/a_(b)) end", [("link", "https://x.org/a_(b)", "https://x.org/a_(b)")]),
        ("https://e.com/#frag", [("link", "https://e.com/#frag", "https://e.com/#frag")]),
        ("#123 #a1 \uff03full", [("tag", "a1", "#a1"), ("tag", "full", "\uff03full")]),
        ("e.g. file.txt x@alice.test @notahandle", []),
        ("ping @Alice.Test.", [("mention", "alice.test", "@Alice.Test")]),
    ],
)
def test_spans_and_byte_offsets(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert spans(text) == expected


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(["@alice.test", "https://example.com/x", "#tag"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
)
def test_offsets_select_the_span_whatever_precedes_it(before: str, span: str, after: str) -> None:
    text = f"{before} {span} {after}"
    raw = text.encode()
    found = detect_facets(text)
    for s in found:  # every span's byte offsets select exactly its text
        assert raw[s.start : s.end].decode() == s.text
    # The planted span is found, starting where it was planted (its end may run on into
    # ``after`` for a link or tag, which end at whitespace).
    planted = len(f"{before} ".encode())
    assert any(s.start == planted for s in found), (text, found)


async def test_facets_resolve_mentions_and_skip_unknown_handles() -> None:
    doc = {"id": ALICE, "alsoKnownAs": ["at://alice.test"]}
    resolver = StaticIdentityResolver([doc])
    text = "@alice.test meet @nobody.test at https://example.com #party"
    facets = await build_facets(text, resolver)
    assert [f["features"][0]["$type"].rsplit("#", 1)[1] for f in facets] == [
        "mention",
        "link",
        "tag",
    ]
    assert facets[0]["features"][0]["did"] == ALICE
    assert facets[0]["index"] == {"byteStart": 0, "byteEnd": 11}
    # Without a resolver a mention cannot name its DID: it stays plain text.
    assert len(await build_facets(text)) == 2


def test_build_post_is_a_valid_record() -> None:
    from atproto_async.lexicon import Catalog

    blob: dict[str, Any] = {
        "$type": "blob",
        "ref": {"$link": "bafkreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454"},
        "mimeType": "image/png",
        "size": 1234,
    }
    parent = {
        "uri": f"at://{ALICE}/app.bsky.feed.post/3l2uygzaf5q2b",
        "cid": "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454",
    }
    record = build_post(
        "a reply with a quote and an image",
        reply_to=parent,
        quote=parent,
        images=[Image(blob, alt="a cat", width=640, height=480)],
        langs=["en"],
    )
    assert record["reply"] == {"root": parent, "parent": parent}
    assert record["embed"]["$type"] == "app.bsky.embed.recordWithMedia"
    assert record["embed"]["media"]["images"][0]["aspectRatio"] == {"width": 640, "height": 480}
    from atproto_async.ipld import from_json

    Catalog.default().validate_record(from_json(record))
    with pytest.raises(ValueError, match="4 images"):
        build_post("x", images=[Image(blob)] * 5)
    with pytest.raises(TypeError, match="uri and a cid"):
        build_post("x", reply_to={"uri": parent["uri"]})


def test_now_is_an_atproto_datetime() -> None:
    assert is_valid_datetime(now())
    assert now().endswith("Z")
