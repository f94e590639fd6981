"""Which build of the package is running: pure Python, or with its hot modules compiled.

The modules below - the firehose's frame, CAR and record readers, and the MST and commit code
that verified sync runs per event - can be compiled to C extensions by mypyc when a wheel is
built with ``HATCH_BUILD_HOOK_ENABLE_MYPYC=1`` (the hook is configured in ``pyproject.toml``,
whose ``include`` list must name the same files; ``tests/test_build.py`` holds the two to each
other). The sources are the same; compiled, they run 1.5-2x faster (same machine, same run,
2026-12-04):

- ``benchmarks/bench_stream.py``, live layout, every op's record read as a model: 77k frames/s
  (2.98x the ``atproto`` package) pure, 123k (4.67x) compiled; synthetic layout 3.16x and
  5.07x;
- ``benchmarks/bench_sync.py``: ``verify_commit`` 127 us per commit pure, 76 us compiled
  (13.1k commits/s; ``SyncVerifier.check`` 78 us, 12.8k/s): MST read 39 -> 26 us, inversion
  28 -> 12 us, decode 5.2 -> 2.7 us; the signature, 24.5 us, is libsecp256k1's either way.
  This machine's speed drifts by up to 25% over an hour: compare builds within one run.

Both builds pass the same tests (``.ci/run`` runs the unit tests on each). Code in these
modules keeps to what mypyc compiles faithfully: the README's "The compiled build" lists the
few Python features to avoid there.
"""

from __future__ import annotations

import importlib
import importlib.machinery
from typing import Final

__all__ = ["COMPILED_MODULES", "compiled_modules", "describe"]

#: The modules a compiled build compiles (in ``pyproject.toml``'s mypyc ``include`` too).
COMPILED_MODULES: Final = (
    "atproto_async.ipld._scan",
    "atproto_async.ipld._varint",
    "atproto_async.ipld.car",
    "atproto_async.ipld.dag_cbor",
    "atproto_async.repo._node",
    "atproto_async.repo._write",
    "atproto_async.repo.commit",
    "atproto_async.repo.mst",
    "atproto_async.repo.paths",
    "atproto_async.stream._commitblocks",
    "atproto_async.stream._commitbody",
    "atproto_async.stream._records",
    "atproto_async.stream.frames",
    "atproto_async.sync.verifier",
    "atproto_async.sync.verify",
)


def compiled_modules() -> list[str]:
    """The modules of `COMPILED_MODULES` running as compiled extensions (imports them all)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [
        name
        for name in COMPILED_MODULES
        if (getattr(importlib.import_module(name), "__file__", None) or "").endswith(suffixes)
    ]


def describe() -> str:
    """One line for benchmarks and ``--version``: which build this is."""
    found = compiled_modules()
    if not found:
        return "pure Python"
    if len(found) == len(COMPILED_MODULES):
        return f"compiled by mypyc ({len(found)} modules)"
    return f"partly compiled by mypyc ({len(found)} of {len(COMPILED_MODULES)} modules)"
