"""Firehose decoding speed: atproto-async against plain cbor2 and the ``atproto`` package.

All measured in the same run, on the same realistic frames (``make_frames.generate_frames``:
mostly one-op commits whose CAR holds the signed commit, several MST nodes and the record):

1. ``atproto-async``: ``decode_frame`` on each message, then ``op.record`` for every op (the
   record checked against its CID and decoded into its generated model); also without the
   CID check (``verify_records=False``), and into dicts only (``op.record_data``).
2. plain cbor2: header and body decoded with ``cbor2``, the CAR walked by hand and *every*
   block decoded with ``cbor2`` (no models, no validation) - the floor a Python decoder built
   on cbor2 can reach.
3. the ``atproto`` package (PyPI), its documented firehose path: ``Frame.from_bytes``,
   ``parse_subscribe_repos_message``, ``CAR.from_bytes``, ``models.get_or_create``. It runs in
   a subprocess with the interpreter of a separate virtualenv (``--atproto-python``, default
   ``/tmp/venv-atproto/bin/python``); skipped with a note when that is missing.
4. End to end: events per second through ``subscribe_repos`` from a local ``websockets``
   server running in another process (records not decoded: what any consumer pays).

Each figure is the best of ``--repeat`` runs (the machine may be busy). Usage::

    python benchmarks/bench_stream.py [--count 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_frames import generate_frames

from atproto_async.stream import Commit, decode_frame, subscribe_repos
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="frames to decode")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best is kept)")
    parser.add_argument("--atproto-python", default=ATPROTO_PYTHON, help="interpreter with atproto")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the websocket run")
    args = parser.parse_args(argv)

    frames = generate_frames(args.count, seed=1)
    commits = sum(1 for message in frames if type(decode_frame(message)) is Commit)
    size = sum(map(len, frames)) / len(frames)
    print(f"{len(frames)} frames ({commits} commits), {size:,.0f} bytes on average")

    rows: list[tuple[str, float | None, str]] = []
    ours = best_rate(run_ours, frames, args.repeat)
    rows.append(("atproto-async: decode_frame + op.record (models)", ours, ""))
    unverified = best_rate(run_ours_unverified, frames, args.repeat)
    rows.append(("atproto-async: the same, verify_records=False", unverified, ""))
    rows.append(
        (
            "atproto-async: decode_frame + op.record_data (dicts)",
            best_rate(run_ours_dicts, frames, args.repeat),
            "",
        )
    )
    plain = best_rate(run_plain_cbor2, frames, args.repeat)
    rows.append(
        (
            "plain cbor2: frame + every CAR block",
            plain,
            f"cbor2 {cbor2.__version__}" if hasattr(cbor2, "__version__") else "",
        )
    )

    fd, name = tempfile.mkstemp(suffix=".frames")
    os.close(fd)
    path = Path(name)
    try:
        path.write_bytes(encode_frames(frames))
        atproto, note = atproto_rate(path, args.repeat, args.atproto_python)
        rows.append(("atproto (PyPI): Frame/parse/CAR/get_or_create", atproto, note))
        e2e = (
            None if args.no_end_to_end else end_to_end_rate(path, len(frames), min(args.repeat, 3))
        )
    finally:
        path.unlink()

    print(f"\n{'path':<55} {'frames/s':>12}  note")
    for label, rate, note in rows:
        shown = f"{rate:>12,.0f}" if rate is not None else f"{'-':>12}"
        print(f"{label:<55} {shown}  {note}")
    print(f"\nours / plain cbor2: {ours / plain:.2f}x (target >= 0.5x)")
    print(f"cost of checking record blocks against their CIDs: {1 - ours / unverified:.1%}")
    if atproto is not None:
        print(f"ours / atproto:     {ours / atproto:.2f}x (target >= 3x)")
    if e2e is not None:
        print(f"end to end through subscribe_repos: {e2e:,.0f} events/s (target >= 30,000)")
    summary: dict[str, Any] = {
        "ours": ours,
        "ours_unverified": unverified,
        "plain_cbor2": plain,
        "atproto": atproto,
        "end_to_end": e2e,
    }
    print(json.dumps({k: (round(v) if v else v) for k, v in summary.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
