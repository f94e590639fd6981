"""The OAuth example parses its arguments and documents itself (the flow runs in integration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "oauth_login.py"


def test_help_names_the_arguments() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "account" in out and "--allow-insecure" in out and "--logout" in out


def test_missing_arguments_are_refused() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "the following arguments are required" in result.stderr


def test_non_numeric_port_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "alice.test", "hi", "--port", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid int value" in result.stderr
