"""The local-PDS harness itself: pinning, cache key, token patch, skip/fail rules, loopback.

All but the last test run with the unit tests (no PDS needed); they prove that a machine
without node/npm gets a skip with the reason, and CI a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import localpds
import pytest
from localpds import LocalPds, PdsUnavailable

ROOT = Path(__file__).resolve().parents[2]


def test_packages_are_pinned_exactly_and_locked() -> None:
    package = json.loads((localpds.PDS_SOURCE / "package.json").read_text())
    lock = json.loads((localpds.PDS_SOURCE / "package-lock.json").read_text())
    pinned = {**package["dependencies"], **package.get("optionalDependencies", {})}
    assert pinned["@atproto/pds"] == "0.5.35"
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in pinned.values())
    root = lock["packages"][""]
    assert {**root["dependencies"], **root.get("optionalDependencies", {})} == pinned
    for name, version in pinned.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_install_lives_outside_the_repository_keyed_by_the_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ATPROTO_PDS_CACHE", raising=False)
    default = localpds.install_dir()
    assert ROOT not in default.parents
    assert default.name == f"pds-{localpds.install_key()}"
    assert re.fullmatch(r"[0-9a-f]{16}", localpds.install_key())

    monkeypatch.setenv("ATPROTO_PDS_CACHE", str(tmp_path))
    assert localpds.install_dir().parent == tmp_path
    assert not localpds.is_installed()


def _fake_auth_js(tmp_path: Path, text: str) -> Path:
    path = tmp_path / localpds.AUTH_JS
    path.parent.mkdir(parents=True)
    path.write_text(text)
    oauth = tmp_path / localpds.OAUTH_CONSTANTS_JS
    oauth.parent.mkdir(parents=True)
    oauth.write_text("const MINUTE = 60e3;\nexport const TOKEN_MAX_AGE = 60 * MINUTE;\n")
    return path


def test_token_patch_is_idempotent_and_keeps_the_defaults(tmp_path: Path) -> None:
    original = (
        "const { expiresIn = '120mins', } = opts;\n"
        "const { jti = getRefreshTokenId(), expiresIn = '90days', } = opts;\n"
    )
    path = _fake_auth_js(tmp_path, original)
    localpds.patch_token_lifetimes(tmp_path)
    once = path.read_text()
    localpds.patch_token_lifetimes(tmp_path)
    assert path.read_text() == once
    assert "process.env.PDS_TEST_ACCESS_TTL || '120mins'" in once
    assert "process.env.PDS_TEST_REFRESH_TTL || '90days'" in once
    oauth = (tmp_path / localpds.OAUTH_CONSTANTS_JS).read_text()
    assert "Number(process.env.PDS_TEST_OAUTH_TOKEN_TTL_MS) || 60 * MINUTE" in oauth


def test_token_patch_refuses_an_unknown_file(tmp_path: Path) -> None:
    _fake_auth_js(tmp_path, "export const createAccessToken = () => {}\n")
    with pytest.raises(PdsUnavailable, match="120mins"):
        localpds.patch_token_lifetimes(tmp_path)


def test_missing_node_and_npm_are_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("ATPROTO_PDS_CACHE", str(tmp_path))
    reason = localpds.unavailable_reason()
    assert reason is not None
    assert "node and npm" in reason
    with pytest.raises(PdsUnavailable, match="node and npm"):
        localpds.install()


def test_missing_install_names_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if localpds.missing_tools() is not None:
        pytest.skip("node/npm absent here: covered by the test above")
    monkeypatch.setenv("ATPROTO_PDS_CACHE", str(tmp_path))
    reason = localpds.unavailable_reason()
    assert reason is not None
    assert "scripts/dev-pds" in reason
    assert str(tmp_path) in reason


def _run_one_integration_test(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "integration",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests/integration/test_integration_session.py::test_handle_resolves_to_the_new_did",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ci", [None, "true"])
def test_integration_tests_skip_outside_ci_and_fail_in_ci(tmp_path: Path, ci: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # no node, no npm
    if ci:
        env["CI"] = ci
    result = _run_one_integration_test(env)
    if ci:
        assert result.returncode == 1, result.stdout
        assert "CI must run the integration tests" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "1 skipped" in result.stdout
        assert "node and npm are needed" in result.stdout


def _listening_addresses(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.integration
def test_servers_listen_on_loopback_only(local_pds: LocalPds) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")
    for port in (local_pds.pds_port, local_pds.plc_port):
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
