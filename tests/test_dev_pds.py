"""``scripts/dev-pds``: what a first run shows before the URLs and the password.

Runs with the unit tests: a fake ``npm`` and ``node`` stand in for the real ones, so nothing is
installed; the fake npm records the log level it was given and fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fake_tool(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_first_run_quiets_npm_warnings_and_says_it_installs(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "npm-loglevel"
    # npm prints ~215 EBADENGINE warnings at its default level when the Node running it is
    # older than the one the install brings: they buried the URLs and the admin password.
    _fake_tool(bin_dir, "npm", f'printf "%s" "$npm_config_loglevel" > {seen}\nexit 3')
    _fake_tool(bin_dir, "node", "echo v22.19.0")
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHON=sys.executable,
        ATPROTO_PDS_CACHE=str(tmp_path / "cache"),
    )
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "dev-pds")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1  # the fake npm failed the install
    assert seen.read_text() == "error"
    assert "installing the local PDS" in result.stdout
    assert "npm ci failed (exit 3)" in result.stderr
