"""Import cost of ``atproto_async.syntax``, from ``python -X importtime``.

Run: ``python benchmarks/bench_import.py [--runs N] [--module NAME]``.

Each run is a fresh interpreter. Bytecode goes to a temporary ``PYTHONPYCACHEPREFIX`` (warmed by
one untimed run) so the figures match an installed package, even where the environment sets
``PYTHONDONTWRITEBYTECODE``. The baseline, measured in the same run, is the stdlib modules the
package itself needs (``re``, ``datetime``, ``typing``, ``importlib``): the ratio says what the
package adds on top of them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

BASELINE = "import re, datetime, typing, importlib, collections.abc, types"


def importtime(code: str, env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    """Run ``code`` under ``-X importtime``; return (depth, self_us, cumulative_us, module)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, raw_name = line[len("import time:") :].split("|")
        depth = (len(raw_name) - len(raw_name.lstrip()) - 1) // 2
        rows.append((depth, int(self_us), int(cumulative_us), raw_name.strip()))
    return rows


def total_us(rows: list[tuple[int, int, int, str]]) -> int:
    """Cumulative microseconds of the top-level imports (what the ``-c`` code triggered)."""
    return sum(cumulative for depth, _, cumulative, _ in rows if depth == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--module", default="atproto_async.syntax")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atproto-importtime-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        code = f"import {args.module}"
        importtime(code, env)  # warm the bytecode cache
        ours, base, own_self = [], [], []
        for _ in range(args.runs):
            base.append(total_us(importtime(BASELINE, env)))
            rows = importtime(code, env)
            ours.append(total_us(rows))
            own_self.append(sum(s for _, s, _, n in rows if n.startswith("atproto_async")))
    med_ours, med_base = statistics.median(ours), statistics.median(base)
    print(f"runs: {args.runs} (medians, microseconds)")
    print(f"import {args.module}: {med_ours:,.0f} us cumulative")
    print(f"  self time of atproto_async.* modules: {statistics.median(own_self):,.0f} us")
    print(f"baseline ({BASELINE}): {med_base:,.0f} us")
    print(f"ratio: {med_ours / med_base:.2f}x the baseline; adds {med_ours - med_base:,.0f} us")


if __name__ == "__main__":
    main()
