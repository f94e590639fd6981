"""Firehose decoding speed: atproto-async against plain cbor2 and the ``atproto`` package.

All measured in the same run, on three corpora, each timed on every path below:

- the ``synthetic`` layout (``make_frames.generate_frames``: mostly one-op commits whose CAR
  holds the signed commit, the record and a few small MST nodes; every body has the same
  twelve fields);
- the ``live`` layout (``generate_frames(..., layout="live")``): the bodies relays send, with
  the top-level ``prev: null``, ``prevData`` on half of them, MST proof paths of 3-5 nodes of
  up to 16 entries before the record, and a few commits of up to 50 ops;
- the four live commits of ``../shared/fixtures/indigo/atproto/repo/testdata`` (one of 42 ops),
  repeated (skipped with a note when the fixtures are absent).

Paths:

1. ``atproto-async``: ``decode_frame`` on each message, then ``op.record`` for every op (the
   record checked against its CID and decoded into its generated model); with
   ``--general-path``, the same with the direct ``#commit`` reader turned off (the general
   path alone, to keep the reader's gain measurable); without the CID check
   (``verify_records=False``); and into dicts only (``op.record_data``).
2. plain cbor2: header and body decoded with ``cbor2``, the CAR walked by hand and *every*
   block decoded with ``cbor2`` (no models, no validation) - the floor a Python decoder built
   on cbor2 can reach.
3. the ``atproto`` package (PyPI), its documented firehose path: ``Frame.from_bytes``,
   ``parse_subscribe_repos_message``, ``CAR.from_bytes``, ``models.get_or_create``. It runs in
   a subprocess with the interpreter of a separate virtualenv (``--atproto-python``, default
   ``/tmp/venv-atproto/bin/python``); skipped with a note when that is missing.
4. End to end: events per second through ``subscribe_repos`` from a local ``websockets``
   server running in another process (records not decoded: what any consumer pays).

The paths take turns, one run each per round; each figure is the best of ``--repeat`` rounds
(the machine may be busy, and a busy spell then weighs on every path alike). Usage::

    python benchmarks/bench_stream.py [--count 20000] [--repeat 5] [--general-path]
        [--corpus all|synthetic|live|live-commits] [--no-end-to-end]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cbor2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_frames import LAYOUTS, generate_frames

from atproto_async._build import describe
from atproto_async.ipld import encode_dag_cbor, from_json
from atproto_async.stream import Commit, decode_frame, subscribe_repos
from atproto_async.stream import frames as frames_module
from atproto_async.stream.framefile import encode_frames

ATPROTO_PYTHON = "/tmp/venv-atproto/bin/python"


def run_ours(frames: list[bytes]) -> None:
    for message in frames:
        event = decode_frame(message)
        if type(event) is Commit:
            for op in event.ops:
                op.record  # noqa: B018


def run_ours_unverified(frames: list[bytes]) -> None:
    for message in frames:
        event = decode_frame(message, verify_records=False)
        if type(event) is Commit:
            for op in event.ops:
                op.record  # noqa: B018


def run_ours_dicts(frames: list[bytes]) -> None:
    for message in frames:
        event = decode_frame(message)
        if type(event) is Commit:
            for op in event.ops:
                op.record_data  # noqa: B018


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def run_plain_cbor2(frames: list[bytes]) -> None:
    loads = cbor2.loads
    for message in frames:
        decoder = cbor2.CBORDecoder(io.BytesIO(message))
        header = decoder.decode()
        body = decoder.decode()
        if header.get("t") != "#commit":
            continue
        car = body["blocks"]
        size, pos = _varint(car, 0)
        loads(car[pos : pos + size])
        pos += size
        end = len(car)
        while pos < end:
            size, pos = _varint(car, pos)
            section_end = pos + size
            # CIDv1: version, codec, hash code, digest length, digest.
            cursor = pos
            for _ in range(3):
                _, cursor = _varint(car, cursor)
            length, cursor = _varint(car, cursor)
            loads(car[cursor + length : section_end])
            pos = section_end


def best_rate(function: Callable[[list[bytes]], None], frames: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function(frames)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


_ATPROTO_SCRIPT = r"""
import json, sys, time
from atproto import CAR, models, parse_subscribe_repos_message
from atproto_subscription.frames import Frame

def read(path):
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        out.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return out

def run(frames):
    for message in frames:
        frame = Frame.from_bytes(message)
        event = parse_subscribe_repos_message(frame)
        if not isinstance(event, models.ComAtprotoSyncSubscribeRepos.Commit):
            continue
        car = CAR.from_bytes(event.blocks)
        for op in event.ops:
            if op.cid:
                raw = car.blocks.get(op.cid)
                if raw is not None:
                    models.get_or_create(raw, strict=False)

frames = read(sys.argv[1])
best = float("inf")
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    run(frames)
    best = min(best, time.perf_counter() - start)
print(json.dumps({"rate": len(frames) / best}))
"""


def atproto_rate(path: Path, repeat: int, python: str) -> tuple[float | None, str]:
    if not Path(python).exists():
        return None, f"skipped: {python} not found (python3 -m venv ... && pip install atproto)"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = subprocess.run(
            [python, "-W", "ignore", "-c", _ATPROTO_SCRIPT, str(path), str(repeat)],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        return None, f"failed: {result.stderr.strip().splitlines()[-1:]}"
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('atproto'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return float(json.loads(result.stdout)["rate"]), f"atproto {version}"


_SERVER_SCRIPT = r"""
import asyncio, sys
from websockets.asyncio.server import serve

def read(path):
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        out.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return out

frames = read(sys.argv[1])

async def handler(ws):
    for message in frames:
        await ws.send(message)
    await ws.wait_closed()

async def main():
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


async def _consume(url: str, count: int) -> float:
    seen = 0
    start = time.perf_counter()
    async with subscribe_repos(url, idle_timeout=30.0) as stream:
        async for _ in stream:
            seen += 1
            if seen == 1:
                start = time.perf_counter()
            if seen == count:
                break
    return (count - 1) / (time.perf_counter() - start)


def end_to_end_rate(path: Path, count: int, repeat: int) -> float:
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"ws://127.0.0.1:{port}"
        return max(asyncio.run(_consume(url, count)) for _ in range(repeat))
    finally:
        server.terminate()
        server.wait(10)


#: The live ``#commit`` bodies of the Go implementation's tests (relay frames of 2025-02-06).
LIVE_COMMITS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "indigo"
    / "atproto"
    / "repo"
    / "testdata"
)


def live_commit_frames(copies: int) -> list[bytes]:
    """The four live commits as frames, ``copies`` rounds of them (empty when files are absent).

    The JSON form shows ``blobs: null`` where the wire has ``[]`` (Go's JSON writes an empty
    slice as null, cbor-gen as an empty array): the frames are rebuilt as the relay sent them.
    Each frame gets the next ``seq`` (from the first commit's on), as a relay numbers them:
    the same bytes again would send the sequence backwards on every round.
    """
    header = encode_dag_cbor({"op": 1, "t": "#commit"})
    bodies = []
    for path in sorted(LIVE_COMMITS.glob("firehose_commit_*.json")):
        body = from_json(json.loads(path.read_text()))
        if body.get("blobs") is None:
            body["blobs"] = []
        bodies.append(body)
    if not bodies:
        return []
    first = bodies[0]["seq"]
    return [
        header + encode_dag_cbor({**body, "seq": first + index})
        for index, body in enumerate(bodies * copies)
    ]


def _never(*args: object) -> None:
    return None


@contextlib.contextmanager
def general_path_only() -> Iterator[None]:
    """Turn the direct ``#commit`` reader off: every commit body is decoded the general way."""
    saved = frames_module.read_commit_body
    frames_module.read_commit_body = _never
    try:
        yield
    finally:
        frames_module.read_commit_body = saved


def run_general(frames: list[bytes]) -> None:
    """`run_ours` with the direct ``#commit`` reader off (``--general-path``)."""
    with general_path_only():
        run_ours(frames)


def bench_corpus(
    name: str, frames: list[bytes], args: argparse.Namespace
) -> dict[str, float | None]:
    """Time every path on ``frames``, print the table, and return the figures."""
    events = [decode_frame(message) for message in frames]
    commits = [event for event in events if type(event) is Commit]
    ops = sum(len(event.ops) for event in commits)
    size = sum(map(len, frames)) / len(frames)
    print(
        f"\n== {name}: {len(frames)} frames ({len(commits)} commits, {ops} ops), "
        f"{size:,.0f} bytes on average"
    )

    paths: dict[str, Callable[[list[bytes]], None]] = {"ours": run_ours}
    if args.general_path:
        paths["general"] = run_general
    paths |= {
        "unverified": run_ours_unverified,
        "dicts": run_ours_dicts,
        "plain": run_plain_cbor2,
    }
    # The paths take turns, one run each per round, so that a busy spell of the machine
    # weighs on all of them alike; the best run of each is kept.
    best = dict.fromkeys(paths, 0.0)
    atproto: float | None = None
    note = ""
    fd, temp = tempfile.mkstemp(suffix=".frames")
    os.close(fd)
    path = Path(temp)
    try:
        path.write_bytes(encode_frames(frames))
        for round_ in range(args.repeat):
            for key, function in paths.items():
                best[key] = max(best[key], best_rate(function, frames, 1))
            if round_ == 0 or atproto is not None:
                rate, note = atproto_rate(path, 1, args.atproto_python)
                atproto = None if rate is None else max(rate, atproto or 0.0)
        e2e = (
            None if args.no_end_to_end else end_to_end_rate(path, len(frames), min(args.repeat, 3))
        )
    finally:
        path.unlink()
    ours, unverified, dicts, plain = best["ours"], best["unverified"], best["dicts"], best["plain"]
    general = best.get("general")
    version = getattr(cbor2, "__version__", "")
    rows: list[tuple[str, float | None, str]] = [
        ("atproto-async: decode_frame + op.record (models)", ours, ""),
        ("atproto-async: the same, general path only", general, "--general-path"),
        ("atproto-async: the same, verify_records=False", unverified, ""),
        ("atproto-async: decode_frame + op.record_data (dicts)", dicts, ""),
        ("plain cbor2: frame + every CAR block", plain, f"cbor2 {version}".strip()),
        ("atproto (PyPI): Frame/parse/CAR/get_or_create", atproto, note),
    ]
    if general is None:
        del rows[1]

    print(f"{'path':<55} {'frames/s':>12}  note")
    for label, rate, row_note in rows:
        shown = f"{rate:>12,.0f}" if rate is not None else f"{'-':>12}"
        print(f"{label:<55} {shown}  {row_note}")
    print(f"ours / plain cbor2: {ours / plain:.2f}x (target >= 0.5x)")
    print(f"cost of checking record blocks against their CIDs: {1 - ours / unverified:.1%}")
    if general is not None:
        print(f"direct #commit reader / general path: {ours / general:.2f}x")
    if atproto is not None:
        print(f"ours / atproto:     {ours / atproto:.2f}x (target >= 4x)")
    if e2e is not None:
        print(f"end to end through subscribe_repos: {e2e:,.0f} events/s (target >= 30,000)")
    return {
        "ours": ours,
        "ours_general_path": general,
        "ours_unverified": unverified,
        "ours_dicts": dicts,
        "plain_cbor2": plain,
        "atproto": atproto,
        "ours_over_atproto": None if atproto is None else ours / atproto,
        "end_to_end": e2e,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="frames per generated corpus")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best is kept)")
    parser.add_argument("--atproto-python", default=ATPROTO_PYTHON, help="interpreter with atproto")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the websocket runs")
    parser.add_argument(
        "--general-path",
        action="store_true",
        help="also time decode_frame + op.record with the direct #commit reader off",
    )
    parser.add_argument(
        "--corpus",
        choices=("all", *LAYOUTS, "live-commits"),
        default="all",
        help="which corpus to time (default: all three, in this run)",
    )
    args = parser.parse_args(argv)
    build = describe()
    print(f"atproto-async build: {build}")
    if args.general_path and build != "pure Python":
        # A compiled frames.py calls the direct reader natively: it cannot be swapped out.
        parser.error("--general-path times the pure-Python build only (pip install -e .)")

    corpora: list[tuple[str, list[bytes]]] = []
    for layout in LAYOUTS:
        if args.corpus in ("all", layout):
            corpora.append((f"{layout} layout", generate_frames(args.count, 1, layout)))
    if args.corpus in ("all", "live-commits"):
        live = live_commit_frames(max(1, args.count // 40))
        if live:
            corpora.append(("the four live commits (fixtures, repeated)", live))
        else:
            print(f"skipped the live commits: none found under {LIVE_COMMITS}")
    summary = {name: bench_corpus(name, frames, args) for name, frames in corpora}
    print(
        "\n"
        + json.dumps(
            {
                name: {
                    k: (round(v, 2) if k.endswith("atproto") else round(v)) if v else v
                    for k, v in figures.items()
                }
                for name, figures in summary.items()
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
