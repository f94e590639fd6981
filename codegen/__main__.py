"""``python -m codegen [--check]``: regenerate the models and endpoints from ``lexicons/``.

Without options the generated directories are rewritten (stale files removed). With ``--check``
nothing is written: the output is generated in memory and compared with the files on disk, and
the exit status is 1 when anything differs, is missing or is extra (CI runs this).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atproto_async._codegen.build import GENERATED_DIRS, compare, generate, write_tree

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    files = generate(args.root / "lexicons")
    if not args.check:
        write_tree(args.root, files)
        print(f"generated {len(files)} files from {args.root / 'lexicons'}")
        return 0
    problems = compare(args.root, files, GENERATED_DIRS)
    if problems:
        print("generated code is out of date; run: python -m codegen", file=sys.stderr)
        for problem in problems[:50]:
            print("  " + problem, file=sys.stderr)
        if len(problems) > 50:
            print(f"  ... and {len(problems) - 50} more", file=sys.stderr)
        return 1
    print(f"generated code is current ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
