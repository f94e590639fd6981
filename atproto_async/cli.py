"""The ``atproto-async`` command: watch, record and replay event streams from a terminal.

::

    atproto-async firehose [--relay URL] [--cursor N] [--collection NSID ...] [--limit N] [--json]
    atproto-async firehose --replay FILE [...]
    atproto-async labels URL [--cursor N] [--limit N] [--json]
    atproto-async record URL FILE [--cursor N] [--limit N]
    atproto-async resolve HANDLE_OR_DID [--json] [--plc URL] [--nameserver HOST:PORT] [--insecure]
    atproto-async feedgen publish RKEY --handle H --service-did DID --name NAME [...]
    atproto-async feedgen unpublish RKEY --handle H [--pds URL]
    atproto-async codegen --lexicons DIR --package PKG [--out DIR] [--check]
    atproto-async ingest --relay URL --redis URL [--partitions N]
    atproto-async work --redis URL --group G [--name N] [--handler module:function]

One line per event on stdout (``--json``: JSON lines). Ctrl-C, and SIGTERM (what systemd and
``docker stop`` send), stop cleanly and print the cursor to resume from on stderr. On a
terminal, stderr also carries a live status line (events per second, seq, lag behind the
events' ``time``, or that the stream is down and being reconnected); never when stderr is a
pipe or a file.
``resolve`` prints who an account is: DID, handle (verified both ways, or marked unverified),
PDS and signing key. ``feedgen publish`` writes (or updates) the ``app.bsky.feed.generator``
record that makes a feed served by a feed generator visible, and prints its URI; ``unpublish``
deletes it. The password comes from ``$ATPROTO_PASSWORD`` or a prompt, never from the command
line (where ``ps`` would show it).

Exit status: 0 done, 1 stream, network or resolution error, 2 usage error, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM; 128 + 15, as shells report it: a systemd unit that should
count a stop as a success says ``SuccessExitStatus=143``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from atproto_async import __version__
from atproto_async.exceptions import (
    AtprotoError,
    FrameDecodeError,
    StreamError,
    TransportError,
    XrpcError,
)
from atproto_async.ipld import to_json
from atproto_async.stream.events import (
    Account,
    Commit,
    Event,
    Handle,
    Identity,
    Info,
    Labels,
    Migrate,
    Sync,
    Tombstone,
    Unknown,
)
from atproto_async.stream.framefile import write_frame
from atproto_async.stream.urls import SUBSCRIBE_LABELS, SUBSCRIBE_REPOS
from atproto_async.syntax import is_valid_nsid

if TYPE_CHECKING:
    pass

__all__ = ["main"]

_REPOS = SUBSCRIBE_REPOS
_LABELS = SUBSCRIBE_LABELS
_STATUS_EVERY = 0.5  # seconds between two redraws of the status line
_DEFAULT_RELAY = "wss://bsky.network"
_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT
_TERMINATED = 143  # SIGTERM (systemd, docker stop): 128 + SIGTERM
_EXIT_STATUS = """\
exit status:
  0    done (--limit reached, or the end of a --replay file)
  1    stream, network or decoding error
  2    usage error
  130  interrupted (Ctrl-C); the cursor to resume from is printed on stderr
  143  terminated (SIGTERM, as sent by systemd and docker stop); the cursor is printed too
"""
_FIREHOSE_HELP = f"""\
Stream repository events (com.atproto.sync.subscribeRepos) from a relay or a PDS: one line
per event on stdout (--json: JSON lines), or replay a file written by `atproto-async record`.
The default relay is {_DEFAULT_RELAY}."""
_FIREHOSE_EPILOG = f"""\
A URL without a scheme means wss://; a local PDS speaks plain ws:// (--relay
ws://127.0.0.1:2583). Resume after a stop with the --cursor printed on stderr.

{_EXIT_STATUS}"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atproto-async",
        description="Watch, record and replay AT Protocol event streams.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log reconnections and warnings (INFO)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    firehose = commands.add_parser(
        "firehose",
        help="stream repository events (com.atproto.sync.subscribeRepos)",
        description=_FIREHOSE_HELP,
        epilog=_FIREHOSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    firehose.add_argument(
        "--relay",
        action="append",
        metavar="URL",
        help=f"relay or PDS URL (default {_DEFAULT_RELAY}); with --verify, repeat it to fail "
        "over between relays",
    )
    firehose.add_argument(
        "--verify",
        action="store_true",
        help="prove every event (signatures, MST proofs, prevData chain), heal gaps from the "
        "account's PDS; forged or malformed events are printed on stderr (all drops with -v)",
    )
    firehose.add_argument(
        "--state",
        metavar="FILE",
        help="with --verify: keep the per-account state and the cursors (one per relay, and the "
        "relay in use) in this SQLite file (resumes from it)",
    )
    firehose.add_argument(
        "--lenient", action="store_true", help="with --verify: accept legacy commits"
    )
    firehose.add_argument(
        "--plc",
        default="https://plc.directory",
        metavar="URL",
        help="with --verify: PLC directory for signing keys",
    )
    firehose.add_argument(
        "--collection",
        action="append",
        type=_collection,
        metavar="NSID",
        help="keep only commits, and only their ops of this collection (repeatable)",
    )
    firehose.add_argument(
        "--replay", metavar="FILE", help="read a recorded frame file instead of the network"
    )
    _common(firehose)

    labels = commands.add_parser(
        "labels",
        help="stream labels from a labeler (com.atproto.label.subscribeLabels)",
        description="Stream labels from a labeler (com.atproto.label.subscribeLabels): one "
        "line per event on stdout. A labeler serves this stream; a PDS or a relay does not.",
        epilog=_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    labels.add_argument("url", metavar="URL", help="labeler service URL")
    labels.add_argument(
        "--verify",
        action="store_true",
        help="only labels signed by their labeler's key; refusals are printed on stderr",
    )
    _common(labels)

    record = commands.add_parser(
        "record",
        help="write the raw frames of a stream to a file",
        description="Write the raw frames of a repository event stream to a file, for "
        "`atproto-async firehose --replay FILE`.",
        epilog=_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument("url", metavar="URL", help="relay, PDS or full /xrpc/<nsid> URL")
    record.add_argument("file", metavar="FILE", help="output frame file (overwritten)")
    record.add_argument("--cursor", type=int, metavar="N", help="resume after this seq")
    record.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    record.add_argument("--insecure", action="store_true", help="allow ws:// to remote hosts")

    resolve = commands.add_parser(
        "resolve", help="resolve a handle or DID: DID, verified handle, PDS, signing key"
    )
    resolve.add_argument("identifier", metavar="HANDLE_OR_DID")
    resolve.add_argument("--json", action="store_true", help="print one JSON object")
    resolve.add_argument(
        "--plc", default="https://plc.directory", metavar="URL", help="PLC directory"
    )
    resolve.add_argument(
        "--nameserver",
        action="append",
        metavar="HOST:PORT",
        help="send DNS queries there instead of the system's resolver (repeatable)",
    )
    resolve.add_argument(
        "--insecure",
        action="store_true",
        help="allow http:// and loopback or private hosts (local development only)",
    )

    feedgen = commands.add_parser("feedgen", help="publish or unpublish a feed's record")
    actions = feedgen.add_subparsers(dest="feedgen_command", metavar="ACTION", required=True)
    publish = actions.add_parser("publish", help="create or update the feed record, print its URI")
    unpublish = actions.add_parser("unpublish", help="delete the feed record")
    for sub in (publish, unpublish):
        sub.add_argument("rkey", metavar="RKEY", help="the feed's record key (its short name)")
        sub.add_argument("--handle", required=True, help="the publishing account")
        sub.add_argument(
            "--pds", metavar="URL", help="the account's PDS (default: found from the handle)"
        )
    publish.add_argument(
        "--service-did", required=True, metavar="DID", help="the feed generator's DID"
    )
    publish.add_argument("--name", required=True, help="display name (at most 24 graphemes)")
    publish.add_argument("--description", help="description (at most 300 graphemes)")
    publish.add_argument("--avatar", metavar="FILE", help="a PNG or JPEG image")
    _codegen_parser(commands)
    _fanout_parsers(commands)
    return parser


_CODEGEN_HELP = """\
Generate models and endpoints for your own lexicons into a package of yours: the models go to
PKG.models (one module per lexicon document at its NSID path), the endpoints to PKG.api
(PKG.api.ComNamespace(client).example.thing.get_thing(...)). The generated code imports its
runtime from atproto_async; references to com.atproto.*, app.bsky.* and the other lexicons
shipped with atproto_async use atproto_async.models, and copies of them in DIR are skipped."""
_CODEGEN_EPILOG = """\
example: atproto-async codegen --lexicons lexicons --package mypkg.lex --out src
  writes src/mypkg/lex/models/ and src/mypkg/lex/api/ (stale files there are removed) and
  src/mypkg/lex/__init__.py if it is missing. Run it again after changing a lexicon; --check
  in CI fails (exit status 1) when the files on disk are out of date."""


def _codegen_parser(commands: Any) -> None:
    codegen = commands.add_parser(
        "codegen",
        help="generate models and endpoints for your own lexicons",
        description=_CODEGEN_HELP,
        epilog=_CODEGEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    codegen.add_argument(
        "--lexicons", required=True, type=Path, metavar="DIR", help="folder of lexicon JSON files"
    )
    codegen.add_argument(
        "--package", required=True, metavar="PKG", help="dotted package to generate (mypkg.lex)"
    )
    codegen.add_argument(
        "--out",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="folder the package path starts from, a sys.path entry (default: .)",
    )
    codegen.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files are out of date"
    )


_FANOUT_EPILOG = """\
One ingester per relay; any number of workers per group, on any number of machines, all
against the same Redis (maxmemory-policy noeviction) and the same --partitions. Each partition
is served by one live worker of a group, in order; a dead worker's partitions move to the
others after --lease-ttl seconds. See "When one machine is not enough" in the README."""


def _fanout_parsers(commands: Any) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="read a relay into Redis streams, partitioned by account (scale-out)",
        description="Read a relay's repository events (raw, undecoded) and append each to the "
        "Redis stream of its account's partition, with the relay cursor; a restart resumes "
        "from it.",
        epilog=_FANOUT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("--relay", default=_DEFAULT_RELAY, metavar="URL", help="relay or PDS URL")
    ingest.add_argument("--max-backlog", type=int, default=100_000, metavar="N", help=(
        "pause reading the relay while a partition holds N unacknowledged entries"
    ))  # fmt: skip
    ingest.add_argument("--insecure", action="store_true", help="allow ws:// to remote hosts")
    work = commands.add_parser(
        "work",
        help="handle the events of the partitions this worker holds (scale-out)",
        description="Serve a share of the partitions written by `atproto-async ingest`: print "
        "each event like `firehose` does, or run a handler (module:function, sync or async) "
        "on it; an event is acknowledged once printed or handled.",
        epilog=_FANOUT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    work.add_argument("--group", required=True, metavar="G", help="consumer group")
    work.add_argument(
        "--name", metavar="N", help="this worker's name in the group (default: host-pid)"
    )
    work.add_argument(
        "--handler",
        metavar="MODULE:FUNCTION",
        help="call this function with each event (sync or async) instead of printing it",
    )
    work.add_argument(
        "--lease-ttl", type=float, default=10.0, metavar="S", help="seconds before a silent "
        "worker's partitions move (default 10)"
    )  # fmt: skip
    work.add_argument(
        "--verify", action="store_true", help="skip commits whose rev is not newer than the "
        "last one handled for the account (re-deliveries after a failover)"
    )  # fmt: skip
    work.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    work.add_argument("--json", action="store_true", help="print JSON lines")
    for parser in (ingest, work):
        parser.add_argument(
            "--redis",
            required=True,
            metavar="URL",
            help="redis://[:password@]host:port/db (the password is never printed)",
        )
        parser.add_argument(
            "--partitions", type=int, default=8, metavar="N", help="number of partitions (8)"
        )
        parser.add_argument(
            "--prefix", default="atproto", metavar="P", help="prefix of the Redis keys"
        )


def _load_handler(spec: str) -> Any:
    """The function named by ``module:function`` (the module is imported)."""
    module_name, sep, function_name = spec.partition(":")
    if not sep or not module_name or not function_name:
        raise ValueError(f"--handler must be module:function, not {spec!r}")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--handler {spec}: cannot import {module_name!r}: {exc}") from None
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise ValueError(f"--handler {spec}: {module_name} has no function {function_name!r}")
    return handler


def _codegen(args: argparse.Namespace) -> int:
    from atproto_async._codegen.command import run

    return run(args.lexicons, args.package, args.out, check=args.check)


def _password() -> str:
    password = os.environ.get("ATPROTO_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise ValueError("set ATPROTO_PASSWORD (an app password) or run on a terminal")
    import getpass

    return getpass.getpass("app password: ")


def _collection(value: str) -> str:
    if not is_valid_nsid(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a collection NSID (e.g. app.bsky.feed.post)"
        )
    return value


def _nameserver(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--nameserver must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cursor", type=int, metavar="N", help="resume after this seq")
    parser.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--insecure", action="store_true", help="allow ws:// to remote hosts")


def _ops_text(event: Commit) -> str:
    return ", ".join(f"{op.action} {op.path}" for op in event.ops) or "(no ops)"


def _label_text(label: Any) -> str:
    neg = " (negation)" if getattr(label, "neg", False) is True else ""
    return f"{label.val} on {label.uri} by {label.src}{neg}"


def event_text(event: Event) -> str:
    """Return the one-line text form of an event."""
    if type(event).__name__ == "Resync":  # from --verify: a repository fetched again
        resync: Any = event
        return (
            f"- #resync {resync.did} rev={resync.rev} records={len(resync.repo.records)} "
            f"({resync.reason})"
        )
    match event:
        case Commit():
            return f"{event.seq} #commit {event.repo} rev={event.rev} {_ops_text(event)}"
        case Identity():
            return f"{event.seq} #identity {event.did} handle={event.handle}"
        case Account():
            status = f" status={event.status}" if event.status else ""
            return f"{event.seq} #account {event.did} active={str(event.active).lower()}{status}"
        case Sync():
            return f"{event.seq} #sync {event.did} rev={event.rev}"
        case Labels():
            return f"{event.seq} #labels " + "; ".join(_label_text(lb) for lb in event.labels)
        case Info():
            return f"- #info {event.name}" + (f": {event.message}" if event.message else "")
        case Handle():
            return f"{event.seq} #handle {event.did} handle={event.handle}"
        case Migrate():
            return f"{event.seq} #migrate {event.did} to={event.migrate_to}"
        case Tombstone():
            return f"{event.seq} #tombstone {event.did}"
        case Unknown():
            seq = event.seq if event.seq is not None else "-"
            return f"{seq} {event.type or '(no type)'} (unknown, op {event.op})"
    raise TypeError(f"not an event: {event!r}")  # pragma: no cover


def event_json(event: Event, nsid: str = _REPOS) -> dict[str, Any]:
    """Return the JSON form of an event (records decoded, CIDs as ``$link``, no raw blocks)."""
    data: dict[str, Any]
    if type(event).__name__ == "Resync":
        resync: Any = event
        return {
            "$type": "resync",
            "did": resync.did,
            "rev": resync.rev,
            "data": to_json(resync.data),
            "reason": resync.reason,
            "records": {path: to_json(cid) for path, cid in resync.records.items()},
        }
    match event:
        case Commit():
            ops = []
            for op in event.ops:
                item: dict[str, Any] = {"action": op.action, "path": op.path, "cid": op.cid}
                if op.prev is not None:
                    item["prev"] = op.prev
                try:
                    record = op.record_data
                except FrameDecodeError as exc:
                    item["recordError"] = str(exc)
                else:
                    if record is not None:
                        item["record"] = record
                ops.append(item)
            data = {
                "$type": f"{_REPOS}#commit",
                "seq": event.seq,
                "repo": event.repo,
                "rev": event.rev,
                "since": event.since,
                "commit": event.commit,
                "time": event.time,
                "tooBig": event.too_big,
                "ops": ops,
            }
            if event.prev_data is not None:
                data["prevData"] = event.prev_data
        case Identity():
            data = {"$type": f"{_REPOS}#identity", "seq": event.seq, "did": event.did}
            if event.handle is not None:
                data["handle"] = event.handle
            data["time"] = event.time
        case Account():
            data = {"$type": f"{_REPOS}#account", "seq": event.seq, "did": event.did}
            data["active"] = event.active
            if event.status is not None:
                data["status"] = event.status
            data["time"] = event.time
        case Sync():
            data = {"$type": f"{_REPOS}#sync", "seq": event.seq, "did": event.did}
            data.update(rev=event.rev, time=event.time)
        case Labels():
            data = {"$type": f"{_LABELS}#labels", "seq": event.seq}
            data["labels"] = [label.to_dict() for label in event.labels]
        case Info():
            data = {"$type": f"{nsid}#info", "name": event.name}
            if event.message is not None:
                data["message"] = event.message
        case Handle():
            data = {"$type": f"{_REPOS}#handle", "seq": event.seq, "did": event.did}
            data.update(handle=event.handle, time=event.time)
        case Migrate():
            data = {"$type": f"{_REPOS}#migrate", "seq": event.seq, "did": event.did}
            data.update(migrateTo=event.migrate_to, time=event.time)
        case Tombstone():
            data = {"$type": f"{_REPOS}#tombstone", "seq": event.seq, "did": event.did}
            data["time"] = event.time
        case Unknown():
            data = {"$type": event.type, **event.body}
    result: dict[str, Any] = to_json(data)
    return result


def _commits_only(args: argparse.Namespace) -> list[type[Event]] | None:
    # With --collection the user asked for records; identity and account events are noise.
    return [Commit] if args.collection else None


class _Status:
    """The live status line on stderr: events/s, seq and lag, or that the stream is down.

    A no-op when stderr is no TTY. Events redraw it (`update`); a timer redraws it while no
    event arrives (`link`), so that a stream being reconnected does not look merely quiet.
    """

    def __init__(self, err: TextIO, out: TextIO) -> None:
        self.enabled = _isatty(err)
        self._clear_before_output = self.enabled and _isatty(out)
        self._err = err
        self._drawn = False
        self._down = False
        self._count = 0
        self._last_count = 0
        self._last_at = time.monotonic()

    def before_output(self) -> None:
        if self._drawn and self._clear_before_output:
            self._err.write("\r\x1b[K")
            self._err.flush()
            self._drawn = False

    def update(self, event: Event | None, cursor: int | None) -> None:
        self._count += 1
        if not self.enabled:
            return
        self._down = False
        now = time.monotonic()
        elapsed = now - self._last_at
        if elapsed < _STATUS_EVERY:
            return
        rate = (self._count - self._last_count) / elapsed
        self._last_at, self._last_count = now, self._count
        text = f"{rate:,.0f} events/s  seq {cursor if cursor is not None else '-'}"
        stamp = getattr(event, "time", None)
        if isinstance(stamp, str):
            try:
                lag = time.time() - datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                pass
            else:
                text += f"  lag {lag:,.1f} s"
        self._draw(text)

    def link(self, attempt: int, reason: str | None, cursor: int | None) -> None:
        """Show the connection state: down and reconnecting (``attempt`` > 0), or back up."""
        if not self.enabled:
            return
        seq = cursor if cursor is not None else "-"
        if attempt > 0:
            why = f"  ({_shorten(reason)})" if reason else ""
            self._draw(f"stream down, reconnecting (attempt {attempt})\u2026  seq {seq}{why}")
            self._down = True
        elif self._down:
            self._draw(f"reconnected, waiting for events  seq {seq}")
            self._down = False

    def _draw(self, text: str) -> None:
        self._err.write(f"\r\x1b[K{text}")
        self._err.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self._err.write("\r\x1b[K")
            self._err.flush()
            self._drawn = False


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _open_capture(path: Path) -> BinaryIO:
    return path.open("wb")


class _Terminated(Exception):
    """SIGTERM arrived: the command was stopped, as Ctrl-C stops it."""


class _Runner:
    """Runs one command; keeps the live subscription so that Ctrl-C can report its cursor."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        # Subscription, Replay, or with --verify a VerifiedSubscription / VerifiedLabels.
        self.stream: Any = None  # once open
        self.status = _Status(err, out)
        self._floor: int | None = None  # --replay --cursor: the cursor asked for

    def cursor(self) -> int | None:
        cursor: int | None = None if self.stream is None else self.stream.cursor
        if self._floor is not None and (cursor is None or cursor < self._floor):
            return self._floor  # stopped while still skipping up to the cursor
        return cursor

    def resume_hint(self) -> str | None:
        """How to pick up where this run stopped, None when it read nothing to resume from.

        ``--cursor`` applies to the first ``--relay``: after a failover of ``--verify``, the
        seq is another relay's, so the hint names that relay; with ``--state`` the file keeps
        every relay's cursor and the one in use, so the same ``--state`` is the way back.
        """
        args = self.args
        state = getattr(args, "state", None)
        if state and getattr(args, "verify", False):
            return f"resume with --state {state}"
        cursor = self.cursor()
        if cursor is None:
            return None
        urls = getattr(self.stream, "urls", None)
        url = getattr(self.stream, "url", None)
        if urls is not None and len(urls) > 1 and url != urls[0]:
            return f"resume with --relay {url} --cursor {cursor}"
        return f"resume with --cursor {cursor}"

    async def run_until_stopped(self) -> int:
        """Run the command; SIGTERM cancels it like Ctrl-C does, so that it ends cleanly.

        Raises:
            _Terminated: SIGTERM arrived (after the stream was closed).
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        terminated = False
        previous = signal.getsignal(signal.SIGTERM)  # restored after (main() may be embedded)

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, terminate)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            installed = False
        else:
            installed = True
        try:
            return await self.run()
        except asyncio.CancelledError:
            if terminated:
                raise _Terminated from None
            raise
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGTERM)
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)

    def _subscription(self) -> Any:
        """The live `Subscription`, if the stream is (or wraps, as VerifiedLabels does) one."""
        return getattr(self.stream, "subscription", self.stream)

    def _link(self) -> tuple[int, str | None]:
        """The stream's connection state: (reconnection attempt, why it went down)."""
        stream = self._subscription()
        return getattr(stream, "reconnect_attempt", 0), getattr(stream, "disconnect_reason", None)

    async def _watch_link(self) -> None:
        while True:
            await asyncio.sleep(max(_STATUS_EVERY, 0.05))
            self.status.link(*self._link(), self.cursor())

    @contextlib.contextmanager
    def _link_status(self) -> Iterator[None]:
        """Redraw the status line on a timer while iterating: a stream that is down sends
        no event that would redraw it."""
        watcher = asyncio.create_task(self._watch_link()) if self.status.enabled else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()

    def explain(self, exc: AtprotoError | OSError) -> tuple[str, bool]:
        """Return the message for an error that ended the command, and whether resuming from
        the cursor makes sense after it."""
        args = self.args
        if isinstance(exc, StreamError) and exc.error == "FutureCursor":
            return (
                f"{exc} - the cursor {self.cursor()} is ahead of the server's latest seq (a "
                "cursor from another host, or a server that was reset); run again without "
                "--cursor to start from the live stream (its first event shows the latest seq)",
                False,
            )
        if (
            isinstance(exc, XrpcError)
            and exc.nsid in (_REPOS, _LABELS)
            and (exc.status in (404, 501) or exc.error == "MethodNotImplemented")
        ):
            url = getattr(args, "url", None) or (args.relay or [_DEFAULT_RELAY])[0]
            who = (
                "a labeler serves it; a PDS or a relay does not"
                if exc.nsid == _LABELS
                else "a relay or a PDS serves it; an AppView or a labeler does not"
            )
            return f"{url} does not serve {exc.nsid} ({exc}): {who}", False
        if (
            isinstance(exc, TransportError)
            and args.command == "labels"
            and getattr(self._subscription(), "connections", 0) == 0
        ):
            # Never connected: a PDS, say, closes the upgrade of a stream it does not serve.
            return f"{exc} - a labeler serves {_LABELS}; a PDS or a relay does not", True
        return str(exc), True

    async def run(self) -> int:
        args = self.args
        if args.command == "record":
            return await self._record()
        if args.command == "resolve":
            return await self._resolve()
        if args.command == "feedgen":
            return await self._feedgen()
        if args.command == "ingest":
            return await self._ingest()
        if args.command == "work":
            return await self._work()
        if args.command == "firehose" and args.replay:
            from atproto_async.stream.replay import replay_frames

            self.stream = replay_frames(
                args.replay, collections=args.collection, event_types=_commits_only(args)
            )
            if args.cursor is None:
                return await self._print(self.stream, _REPOS)
            # Skipping up to the cursor is what was asked: done here, as the gate would warn
            # about every event at or below a cursor (a replay, on a live stream).
            self._floor = args.cursor
            return await self._print(_after(self.stream, args.cursor), _REPOS)
        from atproto_async.stream.subscribe import subscribe_labels, subscribe_repos

        if args.command == "labels":
            if args.verify:
                self.stream = subscribe_labels(
                    args.url,
                    cursor=args.cursor,
                    fail_fast=True,
                    allow_insecure=args.insecure,
                    verify=True,
                    on_reject=lambda label, why: self._refused(getattr(label, "src", "?"), why),
                )
            else:
                self.stream = subscribe_labels(
                    args.url, cursor=args.cursor, fail_fast=True, allow_insecure=args.insecure
                )
            nsid = _LABELS
        elif args.verify:
            self.stream = self._verified_stream()
            nsid = _REPOS
        else:
            relays = args.relay or [_DEFAULT_RELAY]
            if len(relays) > 1:
                raise ValueError("several --relay URLs need --verify")
            if args.state:
                raise ValueError("--state needs --verify")
            self.stream = subscribe_repos(
                relays[0],
                cursor=args.cursor,
                collections=args.collection,
                event_types=_commits_only(args),
                fail_fast=True,
                allow_insecure=args.insecure,
            )
            nsid = _REPOS
        async with self.stream:
            code = await self._print(self.stream, nsid)
        hint = self.resume_hint()
        self.err.write(f"stopped; {hint}\n" if hint else "stopped\n")
        return code

    def _refused(self, who: object, why: str | None) -> None:
        self.status.before_output()
        self.err.write(f"refused: {who}: {why}\n")

    def _verified_stream(self) -> Any:
        from atproto_async.identity import IdentityResolver
        from atproto_async.stream.subscribe import subscribe_repos
        from atproto_async.sync import SQLiteStateStore

        args = self.args
        relays = args.relay or [_DEFAULT_RELAY]
        resolver = IdentityResolver(plc_url=args.plc, allow_insecure=args.insecure)
        state = SQLiteStateStore(args.state) if args.state else None
        event_types: list[Any] | None = _commits_only(args)
        if event_types is not None:
            from atproto_async.sync import Resync

            event_types = [*event_types, Resync]
        return subscribe_repos(
            relays if len(relays) > 1 else relays[0],
            cursor=args.cursor,
            verify=True,
            resolver=resolver,
            state=state,
            lenient=args.lenient,
            collections=args.collection,
            event_types=event_types,
            fail_fast=True,
            allow_insecure=args.insecure,
            on_reject=lambda event, verdict: (
                self._refused(f"{getattr(event, 'seq', '-')} {verdict.did}", verdict.reason)
                # Forged or malformed events always; stale or held-back ones (replays,
                # inactive accounts, gaps being healed) only with --verbose.
                if verdict.invalid or args.verbose
                else None
            ),
        )

    async def _print(self, events: AsyncIterable[Event], nsid: str) -> int:
        args = self.args
        limit = args.limit
        out = self.out
        status = self.status
        count = 0
        if limit is not None and limit <= 0:
            return 0
        with self._link_status():
            async for event in events:
                if args.json:
                    line = json.dumps(
                        event_json(event, nsid), ensure_ascii=False, separators=(",", ":")
                    )
                else:
                    line = event_text(event)
                status.before_output()
                out.write(line + "\n")
                count += 1
                status.update(event, self.cursor())
                if limit is not None and count >= limit:
                    break
        status.clear()
        out.flush()
        return 0

    async def _record(self) -> int:
        from atproto_async.stream.subscribe import SUBSCRIBE_REPOS, Subscription

        args = self.args
        path = Path(args.file)
        count = 0
        # Frames are appended synchronously from the receive loop: local buffered writes are
        # far cheaper than a thread hop per message.
        with _open_capture(path) as file:
            self.stream = Subscription(
                args.url,
                SUBSCRIBE_REPOS,
                cursor=args.cursor,
                fail_fast=True,
                allow_insecure=args.insecure,
                on_message=lambda message: write_frame(file, message),
            )
            async with self.stream:
                if args.limit is None or args.limit > 0:
                    with self._link_status():
                        async for event in self.stream:
                            count += 1
                            self.status.update(event, self.cursor())
                            if args.limit is not None and count >= args.limit:
                                break
            self.status.clear()
        self.err.write(f"recorded {count} events to {path}; resume with --cursor {self.cursor()}\n")
        return 0

    async def _resolve(self) -> int:
        from atproto_async.identity import IdentityResolver

        args = self.args
        nameservers = [_nameserver(v) for v in args.nameserver] if args.nameserver else None
        async with IdentityResolver(
            plc_url=args.plc, nameservers=nameservers, allow_insecure=args.insecure
        ) as resolver:
            ident = await resolver.resolve(args.identifier)
        if args.json:
            fields = {
                "did": ident.did,
                "handle": ident.handle,
                "claimedHandle": ident.claimed_handle,
                "pds": ident.pds,
                "signingKey": ident.signing_key,
            }
            self.out.write(json.dumps(fields, ensure_ascii=False) + "\n")
            return 0
        if ident.handle is not None:
            handle = f"{ident.handle} (verified both ways)"
        elif ident.claimed_handle is not None:
            handle = f"{ident.claimed_handle} (UNVERIFIED: it does not resolve back to the DID)"
        else:
            handle = "(none)"
        for name, value in (
            ("did", ident.did),
            ("handle", handle),
            ("pds", ident.pds or "(none)"),
            ("signing key", ident.signing_key or "(none)"),
        ):
            self.out.write(f"{name + ':':<13}{value}\n")
        return 0

    async def _feedgen(self) -> int:
        from atproto_async.server.publish import publish_feed, unpublish_feed
        from atproto_async.xrpc import Client

        args = self.args
        password = _password()
        avatar = None
        avatar_type = "image/png"
        if args.feedgen_command == "publish" and args.avatar:
            avatar = await asyncio.to_thread(Path(args.avatar).read_bytes)
            if avatar[:3] == b"\xff\xd8\xff":
                avatar_type = "image/jpeg"
        async with Client(args.pds) as client:
            await client.login(args.handle, password)
            if args.feedgen_command == "publish":
                uri = await publish_feed(
                    client,
                    args.rkey,
                    service_did=args.service_did,
                    display_name=args.name,
                    description=args.description,
                    avatar=avatar,
                    avatar_type=avatar_type,
                )
                self.out.write(uri + "\n")
            else:
                await unpublish_feed(client, args.rkey)
                self.err.write(f"deleted feed record {args.rkey}\n")
        return 0

    async def _ingest(self) -> int:
        from atproto_async.fanout import Ingester

        args = self.args
        ingester = Ingester(
            args.relay,
            args.redis,
            partitions=args.partitions,
            prefix=args.prefix,
            max_backlog=args.max_backlog,
            fail_fast=True,
            allow_insecure=args.insecure,
        )
        watcher = asyncio.create_task(self._ingest_status(ingester))
        try:
            await ingester.run()
        finally:
            watcher.cancel()
            self.status.clear()
        return 0

    async def _ingest_status(self, ingester: Any) -> None:
        """The status line of ``ingest``: frames/s and cursor, the relay link, or a pause."""
        status = self.status
        if not status.enabled:
            return
        last, last_at = ingester.appended, time.monotonic()
        while True:
            await asyncio.sleep(_STATUS_EVERY)
            stream = ingester.subscription
            attempt = getattr(stream, "reconnect_attempt", 0)
            if attempt:
                status.link(attempt, getattr(stream, "disconnect_reason", None), ingester.cursor)
                continue
            now = time.monotonic()
            rate = (ingester.appended - last) / (now - last_at)
            last, last_at = ingester.appended, now
            text = f"{rate:,.0f} events/s  seq {ingester.cursor}  appended {ingester.appended:,}"
            if ingester.paused is not None:
                text += (
                    f"  PAUSED: partition {ingester.paused} holds "
                    f"{ingester.backlog[ingester.paused]:,} unacknowledged (workers behind)"
                )
            status._draw(text)

    async def _work(self) -> int:
        import inspect
        import socket

        from atproto_async.fanout import Worker

        args = self.args
        handler = _load_handler(args.handler) if args.handler else None
        limit = args.limit
        if limit is not None and limit <= 0:
            return 0
        out, status, count = self.out, self.status, 0
        worker = Worker(
            args.redis,
            group=args.group,
            name=args.name or f"{socket.gethostname()}-{os.getpid()}",
            partitions=args.partitions,
            prefix=args.prefix,
            lease_ttl=args.lease_ttl,
            verify=args.verify,
        )
        async with worker:
            async for event in worker:
                if handler is not None:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                else:
                    line = (
                        json.dumps(event_json(event), ensure_ascii=False, separators=(",", ":"))
                        if args.json
                        else event_text(event)
                    )
                    status.before_output()
                    out.write(line + "\n")
                count += 1
                status.update(event, getattr(event, "seq", None))
                if limit is not None and count >= limit:
                    break
        status.clear()
        out.flush()
        self.err.write(
            f"worker {worker.name}: {count} events handled, {worker.duplicates} duplicates "
            f"and {worker.malformed} malformed entries skipped\n"
        )
        return 0


async def _after(events: AsyncIterable[Event], cursor: int) -> AsyncIterator[Event]:
    """Skip the events up to the first one above ``cursor`` (events without a seq pass)."""
    skipping = True
    async for event in events:
        if skipping:
            seq = getattr(event, "seq", None)
            if seq is not None and seq <= cursor:
                continue
            skipping = seq is None
        yield event


def _stopped(runner: _Runner, how: str) -> None:
    runner.status.clear()
    hint = runner.resume_hint()
    sys.stderr.write(f"{how}; {hint}\n" if hint else f"{how}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``atproto-async`` command line.

    Args:
        argv: The arguments (without the program name); ``sys.argv[1:]`` when None.

    Returns:
        The exit status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "codegen":
        return _codegen(args)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    runner = _Runner(args, sys.stdout, sys.stderr)
    try:
        return asyncio.run(runner.run_until_stopped())
    except KeyboardInterrupt:
        _stopped(runner, "interrupted")
        return _INTERRUPTED
    except _Terminated:
        _stopped(runner, "terminated")
        return _TERMINATED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly like other Unix tools, and point
        # stdout at /dev/null so that the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (AtprotoError, OSError) as exc:
        runner.status.clear()
        message, resumable = runner.explain(exc)
        resume = runner.resume_hint() if resumable else None
        hint = f" ({resume})" if resume else ""
        sys.stderr.write(f"atproto-async: error: {message}{hint}\n")
        return 1
    except ValueError as exc:
        sys.stderr.write(f"atproto-async: error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
