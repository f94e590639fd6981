"""Rich text for posts: mentions, links and hashtags as facets with UTF-8 byte offsets.

A post's ``facets`` point into its ``text`` by *byte* offsets of the UTF-8 encoding, not by
Python string indexes: an emoji before a link moves the link by 4 bytes but 1 character. This
module finds the spans and computes the offsets, so nobody counts bytes by hand:

- `detect_facets(text)` (sans-I/O): every mention (``@handle``), link (``https://...``, and
  bare domains such as ``example.com/page``) and hashtag (``#tag``), with byte offsets.
- `build_facets(text, resolver=None)`: the ``app.bsky.richtext.facet`` list for a record;
  mentions are resolved to DIDs through the identity resolver (unresolvable ones are left as
  plain text, as the Bluesky app does).
- `build_post(...)`: an ``app.bsky.feed.post`` record with facets, reply, quote, images (alt
  text, aspect ratio) and languages; `now()` is the current time in the atproto datetime form.

Spec: https://docs.bsky.app/docs/advanced-guides/post-richtext (facets),
https://atproto.com/specs/lexicon (app.bsky.richtext.facet)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from atproto_async.syntax import is_valid_handle

if TYPE_CHECKING:
    from atproto_async.identity.resolver import Resolver

__all__ = ["FacetSpan", "Image", "build_facets", "build_post", "detect_facets", "now"]

MENTION: Final = "app.bsky.richtext.facet#mention"
LINK: Final = "app.bsky.richtext.facet#link"
TAG: Final = "app.bsky.richtext.facet#tag"

# A mention starts the text or follows a space or "(", and is a handle (checked afterwards).
_MENTION = re.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9.-]+[a-zA-Z0-9])")
# A link: a URL with a scheme, or a bare domain with a path, both ended by whitespace.
_LINK = re.compile(
    r"(?:^|(?<=[\s(]))(?:(https?://\S+)|((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(/\S*)?)",
    re.IGNORECASE,
)
# Bare domains are only linked for these top-level domains: "file.txt" or "e.g." are not links.
_BARE_TLDS: Final = frozenset(
    [
        "com",
        "org",
        "net",
        "io",
        "dev",
        "app",
        "social",
        "co",
        "uk",
        "de",
        "fr",
        "jp",
        "edu",
        "gov",
        "me",
        "info",
        "xyz",
        "ai",
        "tv",
        "us",
        "ca",
        "au",
        "eu",
        "nl",
        "page",
        "blog",
        "news",
        "tech",
    ]
)
# A hashtag: "#" or the full-width number sign (U+FF03) after a space or the start, up to
# whitespace or an invisible separator.
_TAG = re.compile(
    r"(?:^|(?<=\s))[#\uff03]((?!\ufe0f)[^\s\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2]+)"
)
_TRAILING_PUNCTUATION = ".,;:!?\"'"
_MAX_TAG_BYTES: Final = 640


def now() -> str:
    """The current time in the atproto datetime form (``2026-12-04T10:00:00.000Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.frozen(slots=True)
class FacetSpan:
    """One detected span of rich text.

    Attributes:
        kind: ``"mention"``, ``"link"`` or ``"tag"``.
        start: UTF-8 byte offset of the first byte (``byteStart``).
        end: UTF-8 byte offset just past the span (``byteEnd``).
        value: The handle (without ``@``), the full URI (``https://`` added to bare domains),
            or the tag (without ``#``).
        text: The span as written in the text.
    """

    kind: str
    start: int
    end: int
    value: str
    text: str


def _trim_link(url: str) -> str:
    """Drop trailing punctuation, and a closing parenthesis the URL did not open."""
    while url and url[-1] in _TRAILING_PUNCTUATION:
        url = url[:-1]
    if url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1]
    return url


def detect_facets(text: str) -> list[FacetSpan]:
    """Find mentions, links and hashtags in ``text``, with UTF-8 byte offsets, in text order.

    Mentions are spans whose handle is a valid handle syntax (not resolved here). Links keep
    their scheme; bare domains (``example.com/x``) get ``https://`` and are recognised only for
    common top-level domains. Tags exclude trailing punctuation, must not be all digits and
    are at most 640 bytes. Spans never overlap (a link wins over a tag or mention inside it).
    """
    found: list[tuple[int, int, str, str]] = []  # character start, end, kind, value

    for match in _LINK.finditer(text):
        full, domain, path = match.group(1), match.group(2), match.group(3)
        if full is not None:
            url = _trim_link(full)
            if len(url) <= len("https://"):
                continue
            value = url
        else:
            if domain.rsplit(".", 1)[-1].lower() not in _BARE_TLDS:
                continue
            url = _trim_link(domain + (path or ""))
            value = "https://" + url
        start = match.start()
        found.append((start, start + len(url), "link", value))

    for match in _MENTION.finditer(text):
        handle = match.group(1)
        if not is_valid_handle(handle):
            continue
        found.append((match.start(), match.end(), "mention", handle.lower()))

    for match in _TAG.finditer(text):
        tag = match.group(1)
        while tag and tag[-1] in _TRAILING_PUNCTUATION:
            tag = tag[:-1]
        if not tag or tag.isdigit() or len(tag.encode()) > _MAX_TAG_BYTES:
            continue
        start = match.start()
        found.append((start, start + 1 + len(tag), "tag", tag))

    found.sort(key=lambda item: (item[0], item[2] != "link"))
    spans: list[FacetSpan] = []
    taken_until = -1
    for start, end, kind, value in found:
        if start < taken_until:
            continue  # inside an earlier span (a "#fragment" in a URL, say)
        taken_until = end
        byte_start = len(text[:start].encode())
        byte_end = byte_start + len(text[start:end].encode())
        spans.append(FacetSpan(kind, byte_start, byte_end, value, text[start:end]))
    return spans


def _facet(span: FacetSpan, feature: dict[str, Any]) -> dict[str, Any]:
    return {"index": {"byteStart": span.start, "byteEnd": span.end}, "features": [feature]}


async def build_facets(text: str, resolver: Resolver | None = None) -> list[dict[str, Any]]:
    """The ``facets`` of a post with ``text``.

    Args:
        text: The post's text.
        resolver: Resolves mentioned handles to DIDs. Without one, mentions are not faceted
            (a mention facet needs the DID); with one, a handle that does not resolve is left
            as plain text.

    Returns:
        ``app.bsky.richtext.facet`` objects, in text order.
    """
    from atproto_async.exceptions import IdentityError

    facets = []
    for span in detect_facets(text):
        if span.kind == "link":
            facets.append(_facet(span, {"$type": LINK, "uri": span.value}))
        elif span.kind == "tag":
            facets.append(_facet(span, {"$type": TAG, "tag": span.value}))
        elif resolver is not None:
            try:
                did = await resolver.resolve_handle(span.value)
            except IdentityError:
                continue
            facets.append(_facet(span, {"$type": MENTION, "did": did}))
    return facets


def _strong_ref(ref: Any, what: str) -> dict[str, str]:
    """``{"uri", "cid"}`` from a mapping or an object with ``uri`` and ``cid`` (a createRecord
    output, a post view)."""
    if isinstance(ref, Mapping):
        uri, cid = ref.get("uri"), ref.get("cid")
    else:
        uri, cid = getattr(ref, "uri", None), getattr(ref, "cid", None)
    if not isinstance(uri, str) or cid is None:
        raise TypeError(f"{what} must have a uri and a cid (a createRecord answer, a post view)")
    return {"uri": uri, "cid": str(cid)}


@attrs.frozen(slots=True)
class Image:
    """An image for `build_post`: the blob ``uploadBlob`` returned, its alt text and size."""

    blob: Any
    alt: str = ""
    width: int | None = None
    height: int | None = None


def _blob(blob: Any) -> Any:
    to_dict = getattr(blob, "to_dict", None)
    return to_dict() if to_dict is not None else blob


def build_post(
    text: str,
    *,
    facets: Sequence[Mapping[str, Any]] | None = None,
    reply_to: Any = None,
    root: Any = None,
    quote: Any = None,
    images: Iterable[Image] = (),
    langs: Sequence[str] | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """An ``app.bsky.feed.post`` record, ready for ``createRecord``.

    Args:
        text: The text (at most 300 graphemes).
        facets: From `build_facets` (``await build_facets(text, resolver)``).
        reply_to: The post replied to (``{"uri", "cid"}`` or an object with both).
        root: The thread's first post; defaults to ``reply_to`` (a reply to a top post).
        quote: A post to quote (embedded as a record).
        images: Up to 4 `Image` (blob, alt text, optional width and height); with ``quote``
            they are embedded together (``recordWithMedia``).
        langs: BCP-47 language tags of the text.
        created_at: Default: `now()`.
    """
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text}
    if facets:
        record["facets"] = [dict(f) for f in facets]
    if reply_to is not None:
        parent = _strong_ref(reply_to, "reply_to")
        record["reply"] = {
            "root": parent if root is None else _strong_ref(root, "root"),
            "parent": parent,
        }
    pictures = list(images)
    if len(pictures) > 4:
        raise ValueError("a post holds at most 4 images")
    media = None
    if pictures:
        items = []
        for image in pictures:
            item: dict[str, Any] = {"image": _blob(image.blob), "alt": image.alt}
            if image.width and image.height:
                item["aspectRatio"] = {"width": image.width, "height": image.height}
            items.append(item)
        media = {"$type": "app.bsky.embed.images", "images": items}
    if quote is not None:
        quoted = {"$type": "app.bsky.embed.record", "record": _strong_ref(quote, "quote")}
        if media is not None:
            record["embed"] = {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": quoted,
                "media": media,
            }
        else:
            record["embed"] = quoted
    elif media is not None:
        record["embed"] = media
    if langs:
        record["langs"] = list(langs)
    record["createdAt"] = created_at or now()
    return record
