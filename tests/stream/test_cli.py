"""The ``atproto-async`` command line: help, replay, live streams, record, errors and Ctrl-C."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from stream_helpers import (
    TIME,
    FakeRelay,
    commit_frame,
    drop_after,
    error_frame,
    frame,
    identity_frame,
    post,
    send_then,
    serve_all,
)
from websockets.datastructures import Headers
from websockets.http11 import Response

from atproto_async import cli
from atproto_async.stream import Commit, iter_replay
from atproto_async.stream.framefile import encode_frames, iter_frames

ROOT = Path(__file__).resolve().parents[2]


def _generated_frames(count: int) -> list[bytes]:
    path = ROOT / "benchmarks" / "make_frames.py"
    if not path.exists():
        return [
            commit_frame(seq, [("create", f"app.bsky.feed.post/{seq}", post("hi", ["en"]))])
            for seq in range(1, count + 1)
        ]
    spec = importlib.util.spec_from_file_location("make_frames_for_cli_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frames: list[bytes] = module.generate_frames(count, 3)
    return frames


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frames") / "frames.bin"
    path.write_bytes(encode_frames(_generated_frames(60)))
    return path


@contextmanager
def relay_in_thread(frames: dict[int, bytes], script: Any = None) -> Iterator[FakeRelay]:
    """A `FakeRelay` on its own event loop in a thread, for commands that run asyncio.run."""
    loop = asyncio.new_event_loop()
    relay = FakeRelay(frames, script)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(relay.__aenter__())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield relay
    finally:
        asyncio.run_coroutine_threadsafe(relay.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("firehose", "labels", "record"):
        assert command in out


@pytest.mark.parametrize("command", ["firehose", "labels", "record"])
def test_subcommand_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert "--limit" in capsys.readouterr().out


def test_firehose_help_describes_the_command_default_relay_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["firehose", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Stream repository events" in out
    assert "The default relay is wss://bsky.network" in out
    assert "exit status:" in out
    for code, meaning in (("130", "Ctrl-C"), ("143", "SIGTERM"), ("2", "usage error")):
        assert any(line.split()[:1] == [code] and meaning in line for line in out.splitlines()), (
            code
        )


def test_python_dash_m_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "atproto_async", "firehose", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--relay" in result.stdout and "--replay" in result.stdout


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_replay_prints_one_line_per_event(
    frames_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["firehose", "--replay", str(frames_file)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    events = list(iter_replay(frames_file))
    assert len(lines) == len(events) == 60
    for line, event in zip(lines, events, strict=True):
        assert line.startswith(f"{event.seq} #")  # type: ignore[union-attr]
        if isinstance(event, Commit):
            assert line.startswith(f"{event.seq} #commit {event.repo} ")
    assert "\r" not in captured.err  # no status line on a pipe


def test_replay_limit(frames_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["firehose", "--replay", str(frames_file), "--limit", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_replay_json_lines(frames_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["firehose", "--replay", str(frames_file), "--json", "--limit", "20"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 20
    events = list(iter_replay(frames_file))[:20]
    for row, event in zip(rows, events, strict=True):
        assert row["seq"] == event.seq  # type: ignore[union-attr]
        assert row["$type"].startswith("com.atproto.sync.subscribeRepos#")
        if isinstance(event, Commit):
            assert row["commit"] == {"$link": str(event.commit)}
            for item, op in zip(row["ops"], event.ops, strict=True):
                assert item["path"] == op.path
                if op.action != "delete":
                    assert item["record"]["$type"] == op.collection


def test_replay_collection_filter(frames_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["firehose", "--replay", str(frames_file), "--collection", "app.bsky.feed.post"]
    assert cli.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines
    for line in lines:
        assert " #commit " in line
        assert "app.bsky.feed.post/" in line


def test_replay_cursor_skips_handled_events(
    frames_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = list(iter_replay(frames_file))
    cursor = events[9].seq  # type: ignore[union-attr]
    assert cli.main(["firehose", "--replay", str(frames_file), "--cursor", str(cursor)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 50
    assert lines[0].startswith(f"{events[10].seq} ")  # type: ignore[union-attr]


def test_replay_cursor_skips_without_a_warning_per_skipped_event(
    frames_file: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    events = list(iter_replay(frames_file))
    cursor = events[29].seq  # type: ignore[union-attr]
    with caplog.at_level(logging.INFO, logger="atproto_async"):
        assert cli.main(["firehose", "--replay", str(frames_file), "--cursor", str(cursor)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [str(e.seq) for e in events[30:]]  # type: ignore[union-attr]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_collection_that_is_not_an_nsid_is_a_usage_error(
    frames_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["firehose", "--replay", str(frames_file), "--collection", "notansid"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "'notansid' is not a collection NSID" in captured.err
    assert captured.out == ""


def test_replay_of_a_missing_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["firehose", "--replay", str(tmp_path / "nope.bin")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("atproto-async: error:") and "Traceback" not in err


def test_replay_of_a_corrupt_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(b"\x00\x00\x00\x05ab")
    assert cli.main(["firehose", "--replay", str(path)]) == 1
    assert "truncated frame" in capsys.readouterr().err


def test_unreachable_host_gives_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["firehose", "--relay", f"ws://127.0.0.1:{_closed_port()}", "--limit", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot open the stream" in err
    assert "Traceback" not in err


def test_a_local_relay_without_a_scheme_suggests_ws(capsys: pytest.CaptureFixture[str]) -> None:
    # No scheme means wss://; a local server speaks plain ws:// and drops the TLS handshake.
    with relay_in_thread({1: identity_frame(1)}) as relay:
        address = relay.url.removeprefix("ws://")
        assert cli.main(["firehose", "--relay", address, "--limit", "1"]) == 1
    err = capsys.readouterr().err
    assert f"did you mean ws://{address}?" in err
    assert "Traceback" not in err


def test_a_cursor_ahead_of_the_server_says_so_instead_of_resuming_from_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    future = [error_frame("FutureCursor", "Cursor in the future.")]
    with relay_in_thread({}, [send_then(future)]) as relay:
        assert cli.main(["firehose", "--relay", relay.url, "--cursor", "999"]) == 1
    err = capsys.readouterr().err
    assert "the cursor 999 is ahead of the server's latest seq" in err
    assert "without --cursor" in err
    assert "resume with --cursor 999" not in err


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (501, "application/json", b'{"error":"MethodNotImplemented","message":"Not Implemented"}'),
        (404, "text/plain", b"Not Found"),
    ],
)
def test_labels_from_a_host_without_a_label_stream_says_where_it_is_served(
    status: int, content_type: str, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = Headers({"Content-Type": content_type})
    with relay_in_thread({}) as relay:
        relay.process_request = lambda connection, request: Response(status, "No", headers, body)
        url = relay.url
        assert cli.main(["labels", url, "--cursor", "5"]) == 1
    err = capsys.readouterr().err
    assert f"{url} does not serve com.atproto.label.subscribeLabels" in err
    assert "a labeler serves it; a PDS or a relay does not" in err
    assert "resume with" not in err


@contextmanager
def server_closing_every_upgrade() -> Iterator[str]:
    """A TCP server that reads the upgrade request and closes without answering, as the
    reference XRPC server (a PDS) does for a subscription it does not serve."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_labels_from_a_pds_that_closes_the_upgrade_says_a_labeler_serves_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with server_closing_every_upgrade() as url:
        assert cli.main(["labels", url]) == 1
    err = capsys.readouterr().err
    assert "without an HTTP answer" in err
    assert "is com.atproto.label.subscribeLabels served there?" in err
    assert "a labeler serves com.atproto.label.subscribeLabels; a PDS or a relay does not" in err


def test_status_line_shows_that_the_stream_is_reconnecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(cli, "_STATUS_EVERY", 0.05)
    frames = {seq: identity_frame(seq) for seq in (1, 2)}
    # The first connection is cut after one event; the reconnection waits the backoff delay,
    # during which no event redraws the line.
    with relay_in_thread(frames, [drop_after(1), serve_all]) as relay:
        assert cli.main(["firehose", "--relay", relay.url, "--limit", "2"]) == 0
        assert relay.cursors == [None, 1]
    assert capsys.readouterr().out.splitlines()[-1].startswith("2 #identity")
    status = terminal.getvalue()
    assert "stream down, reconnecting (attempt 1)" in status
    assert "connection lost" in status
    assert status.endswith("\r\x1b[Kstopped; resume with --cursor 2\n")  # cleared first


def test_insecure_remote_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["firehose", "--relay", "ws://relay.example"]) == 2
    assert "unencrypted" in capsys.readouterr().err


def test_live_firehose_with_limit(capsys: pytest.CaptureFixture[str]) -> None:
    frames = {seq: identity_frame(seq) for seq in range(1, 11)}
    with relay_in_thread(frames) as relay:
        assert cli.main(["firehose", "--relay", relay.url, "--limit", "3", "--cursor", "4"]) == 0
        assert relay.cursors == [4]
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "5 #identity did:plc:alice handle=None",
        "6 #identity did:plc:alice handle=None",
        "7 #identity did:plc:alice handle=None",
    ]
    assert "resume with --cursor 7" in captured.err


def test_labels_json(capsys: pytest.CaptureFixture[str]) -> None:
    label = {
        "ver": 1,
        "src": "did:plc:labeler",
        "uri": "at://did:plc:a/app.bsky.feed.post/1",
        "val": "spam",
        "cts": TIME,
    }
    frames = {1: frame("#labels", {"seq": 1, "labels": [label]})}
    with relay_in_thread(frames) as relay:
        assert cli.main(["labels", relay.url, "--json", "--limit", "1"]) == 0
        assert relay.paths[0] == "/xrpc/com.atproto.label.subscribeLabels"
    row = json.loads(capsys.readouterr().out)
    assert row["$type"] == "com.atproto.label.subscribeLabels#labels"
    assert row["labels"][0]["val"] == "spam"


def test_record_then_replay_gives_the_same_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The generator numbers its own seqs; key the relay by them.
    frames = {_seq_of(message): message for message in _generated_frames(8)}
    out = tmp_path / "capture.bin"
    with relay_in_thread(frames) as relay:
        assert cli.main(["record", relay.url, str(out), "--limit", "5"]) == 0
    assert "recorded 5 events" in capsys.readouterr().err
    recorded = [bytes(message) for message in iter_frames(out.read_bytes())]
    assert recorded == list(frames.values())[:5]
    assert cli.main(["firehose", "--replay", str(out)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5


def _seq_of(message: bytes) -> int:
    (event,) = iter_replay(encode_frames([message]))
    seq: int = event.seq  # type: ignore[union-attr]
    return seq


def test_status_line_on_a_terminal(
    frames_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(cli, "_STATUS_EVERY", 0.0)
    assert cli.main(["firehose", "--replay", str(frames_file), "--limit", "10"]) == 0
    status = terminal.getvalue()
    assert "events/s" in status and "seq" in status and "lag" in status
    assert status.endswith("\r\x1b[K")  # the line is cleared at the end


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_stop_signal_prints_the_cursor_to_resume_from(
    signum: signal.Signals, code: int, word: str
) -> None:
    # SIGTERM is what systemd and ``docker stop`` send: it must not lose the cursor either.
    messages = [identity_frame(seq) for seq in range(1, 4)]
    with relay_in_thread({}, [send_then(messages, then="idle")]) as relay:
        process = subprocess.Popen(
            [sys.executable, "-m", "atproto_async", "firehose", "--relay", relay.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            stdout = process.stdout
            assert stdout is not None
            lines: list[str] = []
            # Read in a thread so that a command that prints nothing fails the test, not hangs it.
            reader = threading.Thread(
                target=lambda: lines.extend(stdout.readline() for _ in range(3)), daemon=True
            )
            reader.start()
            reader.join(60)
            assert len(lines) == 3
            process.send_signal(signum)
            _out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    assert process.returncode == code
    assert f"{word}; resume with --cursor 3" in err
    assert "Traceback" not in err


def test_example_firehose_langs(frames_file: Path, tmp_path: Path) -> None:
    script = ROOT / "examples" / "firehose_langs.py"
    if not script.exists():
        pytest.skip("examples/firehose_langs.py is missing")
    cursor_file = tmp_path / "cursor.txt"
    args = [sys.executable, str(script), "--replay", str(frames_file)]
    result = subprocess.run(
        [*args, "--cursor-file", str(cursor_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "en" in result.stdout
    last = list(iter_replay(frames_file))[-1].seq  # type: ignore[union-attr]
    assert cursor_file.read_text().strip() == str(last)
    help_result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert help_result.returncode == 0 and "--cursor-file" in help_result.stdout


def test_the_resume_hint_names_what_resumes_this_run() -> None:
    from types import SimpleNamespace

    from atproto_async.cli import _Runner

    def hint(stream: Any, **args: Any) -> str | None:
        runner = _Runner(SimpleNamespace(**args), io.StringIO(), io.StringIO())
        runner.stream = stream
        return runner.resume_hint()

    urls = ["ws://127.0.0.1:1", "ws://127.0.0.1:2"]
    first = SimpleNamespace(cursor=7, url=urls[0], urls=urls)
    second = SimpleNamespace(cursor=9, url=urls[1], urls=urls)
    plain = SimpleNamespace(cursor=7, url=urls[0])
    assert hint(plain, verify=False) == "resume with --cursor 7"
    assert hint(first, verify=True, state=None) == "resume with --cursor 7"
    # After a failover the seq is the second relay's: --cursor alone would go to the first.
    assert hint(second, verify=True, state=None) == f"resume with --relay {urls[1]} --cursor 9"
    # A state file keeps every relay's cursor and the relay in use.
    assert hint(second, verify=True, state="s.db") == "resume with --state s.db"
    assert hint(SimpleNamespace(cursor=None, url=urls[0]), verify=False) is None
