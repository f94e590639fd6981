"""Lexicon validation: ``Catalog.validate_record`` rates against building the generated model.

Run: ``python benchmarks/bench_lexicon.py [--repeat N]``.

Records per second (CPU time of this process, best of ``--repeat`` interleaved rounds) for
``catalog.validate_record(record)`` and, in the same run, for ``from_dict`` of the generated
model of the same data (``atproto_async.models``). Target: validating a typical post costs no
more than building its model (ratio <= 1.00).

The records: a typical ``app.bsky.feed.post`` (text, three facets, ``langs``, an images embed
with alt text and aspect ratio, ``createdAt``), the same post in the JSON form (``$link``
instead of a CID, as ``json.loads`` gives it; the model cannot read that form, so its baseline
is the data-model post), a reply post with a record embed (strong refs: AT-URIs and CIDs), a
like and a profile. Then the one-time costs: `Catalog.default` (reading the ~390 bundled
documents) and compiling the post's checks on first use.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from atproto_async.ipld import CID, to_json
from atproto_async.lexicon import Catalog
from atproto_async.models import record_from_dict

IMAGE = CID.decode("bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy")
POST_CID = "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"
POST: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "hello @alice.test, see https://atproto.com #atproto",
    "createdAt": "2024-11-25T08:00:00.000Z",
    "langs": ["en"],
    "facets": [
        {
            "index": {"byteStart": 6, "byteEnd": 17},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:abc"}],
        },
        {
            "index": {"byteStart": 23, "byteEnd": 42},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://atproto.com"}],
        },
        {
            "index": {"byteStart": 43, "byteEnd": 51},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "atproto"}],
        },
    ],
    "embed": {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "a cat on a keyboard",
                "image": {"$type": "blob", "ref": IMAGE, "mimeType": "image/jpeg", "size": 123456},
                "aspectRatio": {"width": 800, "height": 600},
            }
        ],
    },
}
_REF = {"uri": "at://did:plc:abc/app.bsky.feed.post/3k2yihcrp6f2c", "cid": POST_CID}
REPLY: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "quoting this, in reply",
    "createdAt": "2024-11-25T08:01:00.000Z",
    "reply": {"root": _REF, "parent": _REF},
    "embed": {"$type": "app.bsky.embed.record", "record": _REF},
}
LIKE: dict[str, Any] = {
    "$type": "app.bsky.feed.like",
    "subject": _REF,
    "createdAt": "2024-11-25T08:00:00.000Z",
}
PROFILE: dict[str, Any] = {
    "$type": "app.bsky.actor.profile",
    "displayName": "Alice",
    "description": "Writes about protocols.",
    "avatar": {"$type": "blob", "ref": IMAGE, "mimeType": "image/png", "size": 4096},
    "createdAt": "2024-11-25T08:00:00.000Z",
}


def _cpu(fn: Callable[[], object], number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return time.process_time() - start


def bench_validate(catalog: Catalog, repeat: int) -> None:
    cases: list[tuple[str, Any, Any, int]] = [
        ("post (facets, langs, images embed)", POST, POST, 20_000),
        ("  same post, JSON form", to_json(POST), POST, 20_000),
        ("reply post with record embed", REPLY, REPLY, 20_000),
        ("like", LIKE, LIKE, 50_000),
        ("profile", PROFILE, PROFILE, 50_000),
    ]
    print(f"validate_record vs from_dict (CPU time, best of {repeat} rounds)")
    print(f"  {'record':36} {'validate/s':>12} {'from_dict/s':>12} {'ratio':>7}")
    for label, data, model_data, number in cases:
        catalog.validate_record(data)
        record_from_dict(model_data)
        check_times, model_times = [], []
        for _ in range(repeat):  # interleaved, so load changes hit both alike
            check_times.append(_cpu(partial(catalog.validate_record, data), number))
            model_times.append(_cpu(partial(record_from_dict, model_data), number))
        check_rate = number / min(check_times)
        model_rate = number / min(model_times)
        print(
            f"  {label:36} {check_rate:12,.0f} {model_rate:12,.0f} {model_rate / check_rate:6.2f}x"
        )
    print("  (ratio = validation time / model-building time; target <= 1.00 for the post)")


def bench_setup() -> None:
    start = time.perf_counter()
    catalog = Catalog.default()
    loaded = time.perf_counter()
    catalog.validate_record(POST)
    compiled = time.perf_counter()
    print("\none-time costs (wall clock)")
    print(f"  Catalog.default() ({len(catalog)} documents){'':10} {(loaded - start) * 1e3:8.1f} ms")
    print(f"  first validate_record of a post (compiles){'':4} {(compiled - loaded) * 1e3:8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args(argv)
    bench_validate(Catalog.default(), args.repeat)
    bench_setup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
