"""``atproto-async codegen``: generate models and endpoints for a user's own lexicons.

The command line (`atproto_async.cli`) parses the options and calls `run`; everything else is
here. Without ``--check`` the package's ``models/`` and ``api/`` folders are rewritten (stale
files removed) and an ``__init__.py`` is created for the package itself if it has none (an
existing one is never touched). With ``--check`` nothing is written: the exit status is 1 when
the files on disk differ from what the lexicons generate (for a CI step).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from atproto_async._codegen.build import compare, generate_user, user_dirs, write_tree
from atproto_async._codegen.parser import LexiconError

__all__ = ["run"]

_INIT = '"""Models (``.models``) and endpoints (``.api``) generated from lexicons."""\n'


def _library_lexicons() -> Path:
    from atproto_async.lexicon._catalog import BUNDLED

    return BUNDLED


def run(
    lexicons: Path,
    package: str,
    out: Path,
    *,
    check: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Generate (or with ``check`` compare) the code of ``lexicons`` for ``package`` under ``out``.

    Args:
        lexicons: The folder of the user's lexicon documents.
        package: The dotted package to generate (``mypkg.lex``: ``mypkg.lex.models``, ...).
        out: The folder the package path starts from (a ``sys.path`` entry, such as ``src``).
        check: Only compare with the files on disk.
        stdout: Where the summary goes (``sys.stdout`` by default).
        stderr: Where errors go (``sys.stderr`` by default).

    Returns:
        The exit status: 0 done (or current), 1 out of date or the lexicons cannot be
        generated, 2 the lexicon folder does not exist.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if not lexicons.is_dir():
        stderr.write(f"atproto-async codegen: error: no lexicon folder at {lexicons}\n")
        return 2
    library = _library_lexicons()
    try:
        files = generate_user(lexicons, package, library)
    except (LexiconError, ValueError, KeyError) as exc:
        stderr.write(f"atproto-async codegen: error: {exc}\n")
        return 1
    dirs = user_dirs(package)
    if check:
        problems = compare(out, files, dirs)
        if problems:
            stderr.write("generated code is out of date; run atproto-async codegen again\n")
            for problem in problems[:50]:
                stderr.write(f"  {problem}\n")
            if len(problems) > 50:
                stderr.write(f"  ... and {len(problems) - 50} more\n")
            return 1
        stdout.write(f"generated code is current ({len(files)} files)\n")
        return 0
    write_tree(out, files, dirs)
    init = out / package.replace(".", "/") / "__init__.py"
    if not init.exists():
        init.write_text(_INIT, encoding="utf-8")
    stdout.write(f"generated {len(files)} files for {package} in {out}\n")
    return 0
