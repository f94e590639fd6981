"""Generated models: ``from_dict`` rates and the import cost of the generated code.

Run: ``python benchmarks/bench_models.py [--repeat N] [--runs N]``.

Part 1, ``from_dict`` per second (CPU time of this process, best of ``--repeat`` interleaved
rounds) of typical records (a post with facets, reply, embed and self-labels; a like; a profile)
and of a timeline page of feed views (items/s), also with every post's record read (a field
holding a whole record is built when first read). The baseline, measured in the same run, is a
plain recursive copy of the same data (``_copy``): the least Python work that visits every value.
The ratio says how much dearer building typed models is than touching the data at all.

Part 2, import time (fresh interpreters, median of ``--runs``; bytecode in a warmed temporary
``PYTHONPYCACHEPREFIX`` so figures match an installed package even where the environment sets
``PYTHONDONTWRITEBYTECODE``). Each line is next to its baseline from the same run:

(a) ``import atproto_async`` vs a bare interpreter (target: adds < 15 ms);
(b) ``Client(...)`` built and ``client.app.bsky.feed`` touched vs ``import aiohttp`` alone
    (target: adds < 60 ms);
(c) every module of ``atproto_async.models`` and ``atproto_async.api`` (484 modules, 777 attrs
    classes) vs ``import aiohttp`` for scale (no target: nobody loads them all, but it stays
    well under a second).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from atproto_async.ipld import from_json
from atproto_async.models import record_from_dict
from atproto_async.models.app.bsky.feed.get_timeline import Output as TimelineOutput

DATA = Path(__file__).resolve().parents[1] / "tests" / "models" / "data"

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
    "reply": {
        "root": {"uri": "at://did:plc:abc/app.bsky.feed.post/3k", "cid": "bafyreia"},
        "parent": {"uri": "at://did:plc:abc/app.bsky.feed.post/3l", "cid": "bafyreib"},
    },
    "embed": {
        "$type": "app.bsky.embed.external",
        "external": {"uri": "https://atproto.com", "title": "AT Protocol", "description": "d"},
    },
    "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]},
}
LIKE: dict[str, Any] = {
    "$type": "app.bsky.feed.like",
    "subject": {"uri": "at://did:plc:abc/app.bsky.feed.post/3k", "cid": "bafyreia"},
    "createdAt": "2024-11-25T08:00:00.000Z",
}


def _copy(value: Any) -> Any:
    """The baseline: rebuild every dict and list of ``value`` (what any decoding must touch)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _timeline_read(data: Any) -> Any:
    """A timeline page decoded, then every post's record read (records are built on first read)."""
    page = TimelineOutput.from_dict(data)
    for item in page.feed:
        _ = item.post.record
    return page


def _best(fn: Callable[[], object], number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return time.process_time() - start


def bench_from_dict(repeat: int) -> None:
    records = json.loads((DATA / "records.json").read_text(encoding="utf-8"))
    profile = from_json(next(r for r in records if r["$type"] == "app.bsky.actor.profile"))
    timeline = from_json(json.loads((DATA / "timeline.json").read_text(encoding="utf-8")))
    items = len(timeline["feed"])
    cases: list[tuple[str, Any, Callable[[Any], object], int, int]] = [
        ("post (facets, reply, embed, labels)", POST, record_from_dict, 20_000, 1),
        ("like", LIKE, record_from_dict, 50_000, 1),
        ("profile record", profile, record_from_dict, 50_000, 1),
        ("timeline page (feed views)", timeline, TimelineOutput.from_dict, 2_000, items),
        ("timeline page, every record read", timeline, _timeline_read, 2_000, items),
    ]
    print("from_dict (CPU time, best of", repeat, "rounds)")
    print(f"  {'data':38} {'models/s':>12} {'copy/s':>12} {'ratio':>7}")
    for label, data, build, number, per in cases:
        assert build(data).to_dict() == data  # type: ignore[attr-defined]
        model_times, copy_times = [], []
        for _ in range(repeat):
            model_times.append(_best(partial(build, data), number))
            copy_times.append(_best(partial(_copy, data), number))
        model_rate = number * per / min(model_times)
        copy_rate = number * per / min(copy_times)
        unit = "items" if per > 1 else "records"
        print(
            f"  {label:38} {model_rate:12,.0f} {copy_rate:12,.0f} {copy_rate / model_rate:6.2f}x"
            f"  ({unit}/s)"
        )


CHILD = """
import time, sys
t0 = time.perf_counter()
{code}
t1 = time.perf_counter()
sys.stdout.write(str((t1 - t0) * 1000))
"""

ALL_GENERATED = """
import pkgutil, importlib, atproto_async.models as m, atproto_async.api as a
for pkg in (m, a):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
"""

CLIENT = """
from atproto_async import Client
client = Client("https://bsky.social")
client.app.bsky.feed
"""


def _run(code: str, env: dict[str, str]) -> float:
    """Milliseconds ``code`` takes to run in a fresh interpreter (start-up excluded)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(code=code)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out)


def bench_imports(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        pairs = [
            ("(a) import atproto_async", "import atproto_async", "pass", 15.0),
            ("(b) Client + client.app.bsky.feed", CLIENT, "import aiohttp", 60.0),
            ("(c) every generated module", ALL_GENERATED, "import aiohttp", None),
        ]
        for _, code, base, _ in pairs:  # warm the bytecode cache
            _run(code, env)
            _run(base, env)
        print(f"\nimport time (median of {runs} fresh interpreters, warm bytecode)")
        print(f"  {'what':36} {'ms':>8} {'baseline':>20} {'ms':>8} {'added':>8} {'target':>8}")
        for label, code, base, target in pairs:
            times, base_times = [], []
            for _ in range(runs):  # interleaved, so load changes hit both alike
                times.append(_run(code, env))
                base_times.append(_run(base, env))
            ms, base_ms = statistics.median(times), statistics.median(base_times)
            goal = f"< {target:.0f}" if target is not None else "-"
            shown = "bare interpreter" if base == "pass" else base
            print(
                f"  {label:36} {ms:8.1f} {shown:>20} {base_ms:8.1f} {ms - base_ms:8.1f} {goal:>8}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="from_dict rounds")
    parser.add_argument("--runs", type=int, default=7, help="interpreters per import figure")
    args = parser.parse_args(argv)
    bench_from_dict(args.repeat)
    bench_imports(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
