"""A real Redis for the fan-out tests: ``redis-server`` on 127.0.0.1, a free port, a temp dir.

`RedisServer` starts ``redis-server`` in the foreground with its data directory in a temporary
folder (nothing saved by RDB; with ``persistent=True`` an append-only file fsynced after every
write), waits until it answers ``INFO server`` with its own PID and port (so it is ours, not
another process on the port), and stops it by PID. `kill` (SIGKILL, no shutdown save) and
`start` again on the same port and folder model a crash and a restart.

On Debian the program is in the package ``redis-server`` (``apt-get install redis-server``);
the tests skip when it is missing, and fail in CI (``CI=true``), like the DNS tests.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.conftest import find_program

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 5


class RedisUnavailable(RuntimeError):
    """redis-server is not installed here, or could not be started; the message says why."""


def find_redis_server() -> str | None:
    """Return the path of the redis-server program, or None when it is not installed."""
    return find_program("redis-server")


def unavailable_reason() -> str | None:
    """Why the Redis tests cannot run here, or None when they can."""
    if find_redis_server() is None:
        return (
            "redis-server is not installed (Debian: apt-get install redis-server); "
            "the fan-out tests run a real Redis on 127.0.0.1"
        )
    return None


def free_port() -> int:
    """A TCP port free on `HOST` just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _info(port: int, timeout: float = 0.5) -> str | None:
    """The ``INFO server`` answer of the Redis on ``HOST:port``, or None."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"INFO server\r\n")
            data = b""
            while not data.endswith(b"\r\n\r\n") and len(data) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"$"):
                    head, _, rest = data.partition(b"\r\n")
                    if len(rest) >= int(head[1:]):
                        break
    except OSError:
        return None
    return data.decode(errors="replace")


class RedisServer:
    """One redis-server process on `HOST`.

    Args:
        persistent: Keep an append-only file (``appendonly yes``, ``appendfsync always``), so
            that a restart after `kill` finds every acknowledged write.
    """

    def __init__(self, *, persistent: bool = False) -> None:
        self.persistent = persistent
        self.port: int | None = None
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("redis-server is not running")
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def log_tail(self, lines: int = 20) -> str:
        if self.directory is None or not (self.directory / "redis.log").exists():
            return ""
        text = (self.directory / "redis.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout: float = START_TIMEOUT) -> RedisServer:
        """Start redis-server (on the same port and folder as before, after `kill`).

        Raises:
            RedisUnavailable: redis-server is missing, exits, or does not answer in time.
        """
        program = find_redis_server()
        if program is None:
            raise RedisUnavailable(unavailable_reason() or "redis-server is not installed")
        if self._process is not None:
            raise RuntimeError("redis-server is already running")
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="atproto-redis-"))
            atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        for _ in range(PORT_ATTEMPTS):
            port = self.port if self.port is not None else free_port()
            if self._launch(program, port, deadline):
                self.port = port
                return self
            self._end_process(signal.SIGKILL)
            if "in use" not in self.log_tail() or time.monotonic() >= deadline:
                break
        problem = self.log_tail()
        self.stop()
        raise RedisUnavailable(
            f"redis-server exited or did not answer on {HOST} within {timeout:g} s; its log:\n"
            f"{problem}"
        )

    def _launch(self, program: str, port: int, deadline: float) -> bool:
        assert self.directory is not None
        args = [
            program,
            "--port", str(port),
            "--bind", HOST,
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--maxmemory-policy", "noeviction",
            "--logfile", "",
        ]  # fmt: skip
        with open(self.directory / "redis.log", "ab") as log:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid = self._process.pid
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            info = _info(port)
            if info and f"process_id:{pid}\r" in info and f"tcp_port:{port}\r" in info:
                return True
            time.sleep(0.01)
        return False

    def _end_process(self, how: int = signal.SIGTERM) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(how)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        """Crash the server (SIGKILL): only what reached the append-only file survives."""
        self._end_process(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server and remove its folder; safe to call twice."""
        self._end_process(signal.SIGKILL)
        self.port = None
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
