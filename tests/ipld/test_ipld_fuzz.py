"""Fuzzing: mutated and truncated CBOR values, frames and CARs raise only `DecodeError`.

At least 100,000 inputs per default run (set ``ATPROTO_FUZZ_SCALE`` to run more). Each input
is a valid seed (a data-model value, a firehose frame, a CAR) with a random mutation: flipped
or replaced bytes, insertions, deletions, truncation, a duplicated range, or an item head
rewritten to declare a huge length (up to 2**64 - 1), which must be refused without allocating.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import (
    CID,
    cid_for_raw,
    decode_dag_cbor,
    decode_dag_cbor_multi,
    encode_dag_cbor,
    read_car,
    write_car,
)
from atproto_async.ipld._scan import scan

#: ``../shared/fixtures`` beside the repository (official vectors; absent in a user's clone).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

ROOT = Path(__file__).resolve().parents[2]
SCALE = int(os.environ.get("ATPROTO_FUZZ_SCALE", "1"))
INPUTS_PER_RUN = 100_000 * SCALE
LINK = CID.decode("bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a")


def _generate_frames(count: int, seed: int) -> list[bytes]:
    spec = importlib.util.spec_from_file_location(
        "make_frames_for_ipld_fuzz", ROOT / "benchmarks" / "make_frames.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frames: list[bytes] = module.generate_frames(count, seed)
    return frames


def _values() -> list[bytes]:
    samples: list[Any] = [
        {"a": 1, "bb": [True, False, None], "ccc": {"d": b"\x00\x01", "e": LINK}},
        {"text": "héllo wörld 🦋", "n": -(2**63), "big": 2**63 - 1, "list": list(range(30))},
        [[[[{"deep": [LINK, LINK]}]]]],
        {"$type": "app.bsky.feed.post", "text": "x" * 300, "langs": ["en"]},
        {"blob": {"$type": "blob", "ref": cid_for_raw(b"x"), "mimeType": "a/b", "size": 70000}},
        {"k" * 30: b"\xff" * 300, "": ""},
    ]
    return [encode_dag_cbor(sample) for sample in samples]


def _cars(frames: list[bytes]) -> list[bytes]:
    cars = []
    for frame in frames[:10]:
        values = decode_dag_cbor_multi(frame)
        if "blocks" in values[1]:
            cars.append(values[1]["blocks"])
    folder = FIXTURES / "indigo" / "testing" / "testdata"
    for name in ("greenground.repo.car", "repo_slice.car", "divy.repo"):
        if (folder / name).exists():
            cars.append((folder / name).read_bytes())
    cars.append(write_car([LINK], [(LINK, b"\xa0"), (cid_for_raw(b"x"), b"x")]))
    return cars


def _forge_length(data: bytearray, rng: random.Random) -> None:
    """Rewrite some string/array/map head to declare an enormous length."""
    for _ in range(8):
        pos = rng.randrange(len(data))
        major = data[pos] >> 5
        if 2 <= major <= 5:
            length = rng.choice([2**62, 2**63, 2**64 - 1, 2**32, rng.randrange(2**40)])
            data[pos : pos + 1] = bytes([major << 5 | 27]) + length.to_bytes(8, "big")
            return
    data[:0] = b"\x5b" + (2**62).to_bytes(8, "big")


def _mutate(seed: bytes, rng: random.Random) -> bytes:
    data = bytearray(seed)
    if not data:
        return bytes(rng.randbytes(4))
    choice = rng.randrange(8)
    if choice == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 2:
        pos = rng.randrange(len(data) + 1)
        data[pos:pos] = rng.randbytes(rng.randint(1, 9))
    elif choice == 3:
        pos = rng.randrange(len(data))
        del data[pos : pos + rng.randint(1, 16)]
    elif choice == 4:
        del data[rng.randrange(len(data)) :]
    elif choice == 5:
        pos = rng.randrange(len(data))
        piece = data[pos : pos + rng.randint(1, 32)]
        insert_at = rng.randrange(len(data) + 1)
        data[insert_at:insert_at] = piece
    elif choice == 6:
        _forge_length(data, rng)
    else:
        # A mutation near the start, where the heads of the outer structure are.
        pos = rng.randrange(min(len(data), 24))
        data[pos] = rng.randrange(256)
    return bytes(data)


def _read_whole_car(data: bytes) -> None:
    car = read_car(data, verify=False)
    for cid in car.blocks:
        car.blocks[cid]
    read_car(data, verify=True)


def _decode_both(data: bytes) -> None:
    for strict in (True, False):
        with contextlib.suppress(DecodeError):
            decode_dag_cbor(data, strict=strict)


def _decode_multi_both(data: bytes) -> None:
    for strict in (True, False):
        with contextlib.suppress(DecodeError):
            decode_dag_cbor_multi(data, strict=strict)


def test_mutated_inputs_raise_only_decode_error() -> None:
    rng = random.Random(20250101)
    frames = _generate_frames(40, seed=9)
    targets: list[tuple[list[bytes], Callable[[bytes], None]]] = [
        (_values(), _decode_both),
        (frames, _decode_multi_both),
        (_cars(frames), _read_whole_car),
    ]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tried = 0
    unexpected: list[tuple[bytes, BaseException]] = []
    per_target = INPUTS_PER_RUN // len(targets) + 1
    for seeds, target in targets:
        for _ in range(per_target):
            data = _mutate(rng.choice(seeds), rng)
            tried += 1
            try:
                target(data)
            except DecodeError:
                pass
            except Exception as exc:  # collected and reported below
                unexpected.append((data, exc))
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert tried >= INPUTS_PER_RUN
    assert [repr(exc) for _data, exc in unexpected[:5]] == []
    assert rss_after - rss_before < 200_000  # KiB: no allocation driven by forged lengths


def test_truncations_of_every_length_raise_decode_error() -> None:
    frame = _generate_frames(3, seed=4)[2]
    for cut in range(len(frame)):
        for strict in (True, False):
            try:
                decode_dag_cbor_multi(frame[:cut], strict=strict)
            except DecodeError:
                continue
            # A cut right between header and body leaves one complete value: fine.
            assert cut == len(encode_dag_cbor({"op": 1, "t": "#commit"}))


def _accepted(decode: Callable[[bytes], object], data: bytes) -> bool:
    try:
        decode(data)
    except DecodeError:
        return False
    return True


def _reference_strict(data: bytes) -> None:
    """Strict acceptance by other means: cbor2's checks plus the item-by-item scanner."""
    decode_dag_cbor_multi(data, strict=False)
    pos = 0
    while pos < len(data):
        pos = scan(data[pos:]) + pos


def test_fast_strict_checks_agree_with_the_item_by_item_scanner() -> None:
    # The strict path checks heads with a regular expression and keys with a cbor2 hook; the
    # reference scanner walks every item. On mutated input both must accept the same bytes.
    rng = random.Random(7)
    seeds = _values() + _generate_frames(20, seed=5)
    disagreements = []
    for _ in range(20_000):
        data = _mutate(rng.choice(seeds), rng)
        fast = _accepted(decode_dag_cbor_multi, data)
        if fast != _accepted(_reference_strict, data):
            disagreements.append(data.hex())
    assert disagreements[:3] == []
