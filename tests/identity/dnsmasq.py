"""A real DNS server for the identity tests: dnsmasq on 127.0.0.1, serving fixed TXT records.

`Dnsmasq` writes the records into a config file in a temporary directory, starts dnsmasq in
the foreground on a free port (UDP and TCP), waits until it answers a real query for its own
probe record, and stops it by PID. dnsmasq answers:

- the TXT records it was given, each one a sequence of strings, as many records per name as
  listed (an answer over 512 bytes is truncated over UDP, and the client asks again over TCP);
- NOERROR with no answer for a ``host_records`` name (it has an A record, no TXT);
- NXDOMAIN for any other name under ``local_domains`` (``test`` by default);
- REFUSED for every name outside them (there is no upstream server).

dnsmasq cannot be made to answer SERVFAIL on demand, nor to send garbage; the tests use a small
asyncio UDP server for those.

On Debian the program is in the package ``dnsmasq-base`` (``apt-get install dnsmasq-base``),
installed as ``/usr/sbin/dnsmasq``, which is looked for even when ``/usr/sbin`` is not on PATH.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query

from tests.conftest import find_program

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 5
PROBE_TIMEOUT = 0.2
MAX_STRING_BYTES = 255  # one TXT character-string (RFC 1035 section 3.3.14)
PROBE_NAME = "_probe.dnsmasq.invalid"  # answered with a per-instance token, to find our server

_NAME_RE = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}", re.ASCII)

#: name -> its TXT records, each record the strings it is made of.
TxtRecords = Mapping[str, Sequence[Sequence[str]]]


class DnsmasqUnavailable(RuntimeError):
    """dnsmasq is not installed here, or could not be started; the message says why."""


def find_dnsmasq() -> str | None:
    """Return the path of the dnsmasq program, or None when it is not installed."""
    return find_program("dnsmasq")


def unavailable_reason() -> str | None:
    """Why the DNS tests cannot run here, or None when they can."""
    if find_dnsmasq() is None:
        return (
            "dnsmasq is not installed (Debian: apt-get install dnsmasq-base); "
            "the DNS tests run a real dnsmasq on 127.0.0.1"
        )
    return None


def config_text(
    records: TxtRecords, *, local_domains: Iterable[str], host_records: Iterable[str]
) -> str:
    """The dnsmasq config file serving ``records``; refuses what it cannot write faithfully.

    Every string is written in double quotes, so commas and spaces are kept. dnsmasq's own
    escapes inside quotes are irregular, so ``"`` and ``\\`` are refused rather than escaped.
    """
    lines = [f"local=/{_checked_name(domain)}/" for domain in local_domains]
    lines += [f"host-record={_checked_name(name)},{HOST}" for name in host_records]
    for name, name_records in records.items():
        _checked_name(name)
        for record in name_records:
            if not record:
                raise ValueError(f"a TXT record for {name} needs at least one string")
            strings = ",".join(f'"{_checked_string(name, text)}"' for text in record)
            lines.append(f"txt-record={name},{strings}")
    return "\n".join(lines) + "\n"


def _checked_name(name: str) -> str:
    if _NAME_RE.fullmatch(name) is None or len(name) > 253:
        raise ValueError(f"not a DNS name dnsmasq can serve here: {name!r}")
    return name


def _checked_string(name: str, text: str) -> str:
    if '"' in text or "\\" in text or not text.isprintable():
        raise ValueError(f"TXT string for {name} has a quote, backslash or control: {text!r}")
    if len(text.encode()) > MAX_STRING_BYTES:
        raise ValueError(f"TXT string for {name} is over {MAX_STRING_BYTES} bytes: {text!r}")
    return text


def free_port() -> int:
    """A port free for both UDP and TCP on `HOST` just now (dnsmasq needs both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise DnsmasqUnavailable(f"no port free for both UDP and TCP on {HOST}")


def serves(port: int, token: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the DNS server on ``HOST:port`` is the one whose probe record holds ``token``.

    Any answer would prove that *a* server listens; the token proves it is ours, not another
    process that holds the same UDP port (dnsmasq sets ``SO_REUSEADDR``).
    """
    query = dns.message.make_query(PROBE_NAME, "TXT")
    try:
        response = dns.query.udp(query, HOST, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return False
    return any(token.encode() in rdata.to_wire() for rrset in response.answer for rdata in rrset)


class Dnsmasq:
    """One dnsmasq process on `HOST`, serving ``records``.

    Args:
        records: name -> TXT records (each a sequence of strings), e.g.
            ``{"_atproto.alice.test": [["did=did:plc:..."]]}``.
        local_domains: Domains answered from local data only: NXDOMAIN for unknown names.
        host_records: Names given an A record (``127.0.0.1``) and no TXT record.
    """

    def __init__(
        self,
        records: TxtRecords,
        *,
        local_domains: Sequence[str] = ("test",),
        host_records: Sequence[str] = (),
    ) -> None:
        self.records = records
        self._token = secrets.token_hex(8)
        self.config = config_text(records, local_domains=local_domains, host_records=host_records)
        self.config += f'txt-record={PROBE_NAME},"{self._token}"\n'
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None

    @property
    def nameservers(self) -> list[tuple[str, int]]:
        """``[(HOST, port)]``, what the resolvers under test are given."""
        if self.port is None:
            raise RuntimeError("dnsmasq is not running")
        return [(HOST, self.port)]

    def log_tail(self, lines: int = 20) -> str:
        """The end of dnsmasq's own log (its stderr), for error messages."""
        if self._directory is None:
            return ""
        log = self._directory / "dnsmasq.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = START_TIMEOUT) -> Dnsmasq:
        """Start dnsmasq and return once it answers queries.

        Raises:
            DnsmasqUnavailable: dnsmasq is missing, exits, or does not answer within
                ``timeout`` seconds (after `PORT_ATTEMPTS` ports, when the port was taken).
        """
        program = find_dnsmasq()
        if program is None:
            raise DnsmasqUnavailable(unavailable_reason() or "dnsmasq is not installed")
        if self._process is not None:
            raise RuntimeError("dnsmasq is already running")
        self._directory = Path(tempfile.mkdtemp(prefix="atproto-dnsmasq-"))
        (self._directory / "dnsmasq.conf").write_text(self.config, encoding="utf-8")
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        problem = ""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            if self._launch(program, port, deadline):
                self.port = port
                return self
            problem = self.log_tail()
            self._end_process()
            if "in use" not in problem or time.monotonic() >= deadline:
                break
        self.stop()
        raise DnsmasqUnavailable(
            f"dnsmasq exited or did not answer on {HOST} within {timeout:g} s; its log:\n{problem}"
        )

    def _launch(self, program: str, port: int, deadline: float) -> bool:
        """Run dnsmasq on ``port``; whether it answers before ``deadline``."""
        assert self._directory is not None
        args = [
            program,
            "--keep-in-foreground",  # no fork: the PID we hold is the server
            f"--conf-file={self._directory / 'dnsmasq.conf'}",
            "--no-resolv",  # no upstream servers: names outside local_domains are REFUSED
            "--no-hosts",
            "--no-poll",
            f"--port={port}",
            f"--listen-address={HOST}",
            "--bind-interfaces",
            "--pid-file",  # no PID file
            "--log-facility=-",  # log to stderr (our file), not syslog
        ]
        if os.geteuid() == 0:
            args.append("--user=root")  # stay root rather than rely on a "nobody" user
        with open(self._directory / "dnsmasq.log", "wb") as log:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if serves(port, self._token):
                return True
            time.sleep(0.02)
        return False

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop dnsmasq (TERM, then KILL) and remove its directory; safe to call twice."""
        self._end_process()
        self.port = None
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Dnsmasq:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
