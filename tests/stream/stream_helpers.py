"""Helpers for the stream tests: frame builders and a scriptable local relay on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve

from atproto_async.ipld import CID, cid_for, encode_dag_cbor, write_car

TIME = "2025-04-01T04:01:30.384Z"


def frame(t: str, body: dict[str, Any], op: int = 1) -> bytes:
    """Encode one event-stream message: header then body."""
    header: dict[str, Any] = {"op": op, "t": t} if op == 1 else {"op": op}
    return encode_dag_cbor(header) + encode_dag_cbor(body)


def identity_frame(seq: int, did: str = "did:plc:alice") -> bytes:
    return frame("#identity", {"seq": seq, "did": did, "time": TIME})


def error_frame(error: str, message: str | None = None) -> bytes:
    body: dict[str, Any] = {"error": error}
    if message is not None:
        body["message"] = message
    return frame("", body, op=-1)


Behaviour = Callable[["FakeRelay", ServerConnection, int | None], Awaitable[None]]


class FakeRelay:
    """A real ``websockets`` server on 127.0.0.1 that serves numbered frames.

    ``frames`` maps seq -> message. Each connection runs the next behaviour of ``script``
    (the last one repeats); by default every frame above the requested cursor is sent and
    the connection stays open.
    """

    def __init__(self, frames: dict[int, bytes], script: list[Behaviour] | None = None) -> None:
        self.frames = dict(sorted(frames.items()))
        self.script = script or [serve_all]
        self.cursors: list[int | None] = []
        self.paths: list[str] = []
        self.server: Server | None = None
        self.sent = 0
        self.closed = 0
        self.process_request: Callable[..., Any] | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def after(self, cursor: int | None) -> list[tuple[int, bytes]]:
        return [(s, f) for s, f in self.frames.items() if cursor is None or s > cursor]

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        path = ws.request.path
        self.paths.append(path)
        values = parse_qs(urlsplit(path).query).get("cursor")
        cursor = int(values[0]) if values else None
        self.cursors.append(cursor)
        behaviour = self.script[min(len(self.cursors), len(self.script)) - 1]
        try:
            await behaviour(self, ws, cursor)
        finally:
            self.closed += 1

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.process_request is not None:
            return self.process_request(connection, request)
        return None

    async def __aenter__(self) -> FakeRelay:
        self.server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            max_queue=None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def serve_all(relay: FakeRelay, ws: ServerConnection, cursor: int | None) -> None:
    """Send every frame above the cursor, then keep the connection open."""
    for _, message in relay.after(cursor):
        await ws.send(message)
        relay.sent += 1
    await ws.wait_closed()


def drop_after(count: int, replay: int = 0) -> Behaviour:
    """Send ``replay`` already-seen frames, then ``count`` new ones, then cut the TCP connection."""

    async def behaviour(relay: FakeRelay, ws: ServerConnection, cursor: int | None) -> None:
        seqs = list(relay.frames)
        start = (
            0 if cursor is None else next((i for i, s in enumerate(seqs) if s > cursor), len(seqs))
        )
        start = max(0, start - replay)
        for seq in seqs[start : start + replay + count]:
            await ws.send(relay.frames[seq])
            relay.sent += 1
        # Let the client read what was sent before the connection goes away.
        await asyncio.sleep(0.05)
        ws.transport.abort()

    return behaviour


def send_then(messages: list[bytes], then: str = "close") -> Behaviour:
    """Send ``messages`` verbatim; then ``"close"`` (closing handshake) or ``"idle"`` (silence)."""

    async def behaviour(relay: FakeRelay, ws: ServerConnection, cursor: int | None) -> None:
        for message in messages:
            await ws.send(message)
            relay.sent += 1
        if then == "idle":
            await ws.wait_closed()
        else:
            await ws.close()

    return behaviour


class FakeSleep:
    """An injected ``sleep`` that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def commit_frame(
    seq: int,
    records: list[tuple[str, str, dict[str, Any] | None]],
    *,
    repo: str = "did:plc:alice",
    too_big: bool = False,
    leave_out: frozenset[str] = frozenset(),
    extra: dict[str, Any] | None = None,
) -> bytes:
    """A ``#commit`` whose CAR holds a commit block and the records of ``records``.

    ``records`` holds ``(action, path, record)``; deletes pass None. Paths in ``leave_out`` get
    an op but no block (as in a ``tooBig`` commit).
    """
    commit_block = encode_dag_cbor({"did": repo, "rev": "3lmxjza3nva27", "version": 3})
    commit_cid = cid_for(commit_block)
    blocks: dict[CID, bytes] = {commit_cid: commit_block}
    ops = []
    for action, path, record in records:
        op: dict[str, Any] = {"action": action, "path": path, "cid": None}
        if record is not None:
            block = encode_dag_cbor(record)
            cid = cid_for(block)
            op["cid"] = cid
            if path not in leave_out:
                blocks[cid] = block
        if action != "create":
            op["prev"] = cid_for({"old": path})
        ops.append(op)
    body: dict[str, Any] = {
        "seq": seq,
        "rebase": False,
        "tooBig": too_big,
        "repo": repo,
        "commit": commit_cid,
        "rev": "3lmxjza3nva27",
        "since": None,
        "blocks": write_car([commit_cid], blocks),
        "ops": ops,
        "blobs": [],
        "time": TIME,
    }
    body.update(extra or {})
    return frame("#commit", body)


def record_frame(
    seq: int, block: bytes, *, cid: CID | None = None, path: str = "app.bsky.feed.post/1"
) -> bytes:
    """A ``#commit`` creating one record whose block holds exactly ``block`` (any bytes).

    The op and the CAR name the block ``cid`` (by default the block's own CID).
    """
    commit_block = encode_dag_cbor({"did": "did:plc:alice", "rev": "3lmxjza3nva27", "version": 3})
    commit_cid = cid_for(commit_block)
    cid = cid_for(block) if cid is None else cid
    body: dict[str, Any] = {
        "seq": seq,
        "rebase": False,
        "tooBig": False,
        "repo": "did:plc:alice",
        "commit": commit_cid,
        "rev": "3lmxjza3nva27",
        "since": None,
        "blocks": write_car([commit_cid], [(commit_cid, commit_block), (cid, block)]),
        "ops": [{"action": "create", "path": path, "cid": cid}],
        "blobs": [],
        "time": TIME,
    }
    return frame("#commit", body)


def post(text: str, langs: list[str] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": TIME,
    }
    if langs is not None:
        record["langs"] = langs
    return record
