"""Generated endpoint coroutines, driven through a fake client (the transport seam)."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from atproto_async.api import AppNamespace, ChatNamespace, ComNamespace, ToolsNamespace
from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID
from atproto_async.models import Blob, UnknownRecord
from atproto_async.models.app.bsky.embed import images
from atproto_async.models.app.bsky.feed.post import Post
from atproto_async.models.com.atproto.repo import apply_writes

LEXICONS = Path(__file__).resolve().parents[2] / "lexicons"
ROOTS = {"com": ComNamespace, "app": AppNamespace, "chat": ChatNamespace, "tools": ToolsNamespace}


class FakeClient:
    """Records every call and answers from a table keyed by NSID."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.answers = answers or {}

    async def query(
        self,
        nsid: str,
        params: Any = None,
        *,
        headers: Any = None,
        timeout: Any = None,  # noqa: ASYNC109 - a per-call timeout is part of the contract
    ) -> Any:
        self.calls.append(
            ("query", nsid, {"params": params, "headers": headers, "timeout": timeout})
        )
        return self.answers.get(nsid)

    async def procedure(
        self,
        nsid: str,
        data: Any = None,
        *,
        params: Any = None,
        encoding: Any = None,
        headers: Any = None,
        timeout: Any = None,  # noqa: ASYNC109
    ) -> Any:
        self.calls.append(
            (
                "procedure",
                nsid,
                {
                    "data": data,
                    "params": params,
                    "encoding": encoding,
                    "headers": headers,
                    "timeout": timeout,
                },
            )
        )
        return self.answers.get(nsid)


def _snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _methods() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(LEXICONS.rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        main = doc.get("defs", {}).get("main", {})
        if main.get("type") in ("query", "procedure"):
            found.append((doc["id"], main))
    return found


METHODS = _methods()


def _endpoint(client: Any, nsid: str) -> Any:
    first, *middle, last = nsid.split(".")
    node = ROOTS[first](client)
    for part in middle:
        node = getattr(node, _snake(part))
    return getattr(node, _snake(last))


def test_every_lexicon_method_is_found() -> None:
    assert len(METHODS) > 300


@pytest.mark.parametrize(("nsid", "main"), METHODS, ids=[m[0] for m in METHODS])
def test_every_method_has_a_typed_coroutine(nsid: str, main: dict[str, Any]) -> None:
    method = _endpoint(FakeClient(), nsid)
    assert inspect.iscoroutinefunction(method)
    params = inspect.signature(method).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    names = set(params)
    assert {"headers", "timeout"} <= names
    expected = list(main.get("parameters", {}).get("properties", {}))
    body = main.get("input", {}).get("schema", {})
    if body.get("type") == "object":
        expected += list(body.get("properties", {}))
    for name in expected:
        snake = _snake(name)
        assert snake in names or snake + "_" in names, f"{nsid}: no parameter for {name!r}"
    assert nsid in (method.__doc__ or "")


async def test_query_sends_parameter_defaults_and_returns_a_model() -> None:
    client = FakeClient({"app.bsky.feed.getTimeline": {"feed": [], "cursor": "c1"}})
    out = await AppNamespace(client).bsky.feed.get_timeline(headers={"X": "1"}, timeout=5.0)
    assert out.cursor == "c1"
    assert out.feed == []
    kind, nsid, call = client.calls[0]
    assert (kind, nsid) == ("query", "app.bsky.feed.getTimeline")
    assert call == {
        "params": {"algorithm": None, "limit": 50, "cursor": None},
        "headers": {"X": "1"},
        "timeout": 5.0,
    }


async def test_required_parameters_are_required() -> None:
    feed = AppNamespace(FakeClient()).bsky.actor
    with pytest.raises(TypeError):
        await feed.get_profile()  # type: ignore[call-arg]


async def test_output_cid_links_and_bytes_are_converted_from_json() -> None:
    cid = "bafyreihbq3abfumknwsrlh6vpqf47m7pjc6uygrhpr7gkcfoxvgjvrnu6e"
    answer = {
        "cursor": "5",
        "labels": [
            {"src": "did:plc:a", "uri": "at://x", "val": "v", "cts": "t", "sig": {"$bytes": "AQI"}}
        ],
    }
    client = FakeClient({"com.atproto.label.queryLabels": answer})
    out = await ComNamespace(client).atproto.label.query_labels(uri_patterns=["at://*"])
    assert out.labels[0].sig == b"\x01\x02"
    assert client.calls[0][2]["params"]["uriPatterns"] == ["at://*"]
    upload = FakeClient(
        {
            "com.atproto.repo.uploadBlob": {
                "blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": 4}
            }
        }
    )
    result = await ComNamespace(upload).atproto.repo.upload_blob(
        data=b"\x89PNG", encoding="image/png"
    )
    assert result.blob.ref == CID.decode(cid)
    assert upload.calls[0][2]["data"] == b"\x89PNG"
    assert upload.calls[0][2]["encoding"] == "image/png"


async def test_binary_input_may_be_an_async_stream() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"

    client = FakeClient()
    stream = chunks()
    await ComNamespace(client).atproto.repo.import_repo(data=stream)
    call = client.calls[0][2]
    assert call["data"] is stream
    assert call["encoding"] == "application/vnd.ipld.car"


async def test_procedure_input_accepts_dicts_and_models() -> None:
    answer = {"uri": "at://did:plc:a/app.bsky.feed.post/1", "cid": "bafy"}
    client = FakeClient({"com.atproto.repo.createRecord": answer})
    repo = ComNamespace(client).atproto.repo
    record = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-01-01T00:00:00Z"}
    out = await repo.create_record(repo="did:plc:a", collection="app.bsky.feed.post", record=record)
    assert (out.uri, out.cid) == (answer["uri"], answer["cid"])
    await repo.create_record(
        repo="did:plc:a",
        collection="app.bsky.feed.post",
        record=Post(text="hi", created_at="2024-01-01T00:00:00Z"),
        validate=False,
    )
    first, second = (call[2] for call in client.calls)
    assert first["data"] == {
        "repo": "did:plc:a",
        "collection": "app.bsky.feed.post",
        "record": record,
    }
    assert second["data"] == {**first["data"], "validate": False}


async def test_union_inputs_get_their_type() -> None:
    client = FakeClient({"com.atproto.repo.applyWrites": {}})
    await ComNamespace(client).atproto.repo.apply_writes(
        repo="did:plc:a",
        writes=[
            apply_writes.Delete(collection="app.bsky.feed.like", rkey="3k"),
            {"$type": "com.atproto.repo.applyWrites#create", "collection": "x.y.z", "value": {}},
        ],
    )
    writes = client.calls[0][2]["data"]["writes"]
    assert writes[0] == {
        "$type": "com.atproto.repo.applyWrites#delete",
        "collection": "app.bsky.feed.like",
        "rkey": "3k",
    }
    assert writes[1]["$type"] == "com.atproto.repo.applyWrites#create"


async def test_cids_and_bytes_in_inputs_are_sent_as_json() -> None:
    cid = "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"
    image = Blob(ref=CID.decode(cid), mime_type="image/png", size=3)
    post = Post(
        text="pic",
        created_at="2024-01-01T00:00:00Z",
        embed=images.Images(images=[images.Image(image=image, alt="")]),
    )
    client = FakeClient({"com.atproto.repo.createRecord": {"uri": "at://u", "cid": "c"}})
    await ComNamespace(client).atproto.repo.create_record(
        repo="did:plc:a", collection="app.bsky.feed.post", record=post
    )
    sent = client.calls[0][2]["data"]["record"]
    assert sent["embed"] == {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "",
                "image": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": "image/png",
                    "size": 3,
                },
            }
        ],
    }
    json.dumps(client.calls[0][2]["data"])  # plain JSON all the way down


async def test_binary_output_is_bytes() -> None:
    client = FakeClient({"com.atproto.sync.getBlob": b"blob-bytes"})
    sync = ComNamespace(client).atproto.sync
    assert await sync.get_blob(did="did:plc:a", cid="bafk") == b"blob-bytes"
    client.answers["com.atproto.sync.getBlob"] = {"error": "not bytes"}
    with pytest.raises(DecodeError, match="binary"):
        await sync.get_blob(did="did:plc:a", cid="bafk")


async def test_procedure_without_output_returns_none() -> None:
    client = FakeClient({"app.bsky.actor.putPreferences": None})
    assert await AppNamespace(client).bsky.actor.put_preferences(preferences=[]) is None


def test_declared_errors_are_named_in_the_docstring() -> None:
    method = ComNamespace(FakeClient()).atproto.repo.create_record
    assert "InvalidSwap" in (method.__doc__ or "")


def test_namespaces_are_cached_per_instance() -> None:
    app = AppNamespace(FakeClient())
    assert app.bsky.feed is app.bsky.feed
    assert "AppBskyFeedNamespace" in repr(app.bsky.feed)


def test_touching_a_namespace_loads_only_that_namespace() -> None:
    code = (
        "import sys, json\n"
        "from atproto_async.api import AppNamespace\n"
        "AppNamespace(object()).bsky.feed\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('atproto_async.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = json.loads(out)
    assert [m for m in loaded if m.startswith("atproto_async.api")] == [
        "atproto_async.api",
        "atproto_async.api.app",
        "atproto_async.api.app.bsky",
        "atproto_async.api.app.bsky.feed",
    ]
    assert [m for m in loaded if m.startswith("atproto_async.models")] == []


async def test_generated_endpoints_paginate() -> None:
    from atproto_async.xrpc.paginate import paginate

    def page(cursor: str | None, handles: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": {"did": "did:plc:s", "handle": "s.test"},
            "follows": [{"did": f"did:plc:{h}", "handle": h} for h in handles],
        }
        if cursor:
            out["cursor"] = cursor
        return out

    pages = iter([page("c1", ["a.test", "b.test"]), page(None, ["c.test"])])

    class Pager(FakeClient):
        async def query(self, nsid: str, params: Any = None, **kwargs: Any) -> Any:
            await super().query(nsid, params, **kwargs)
            return next(pages)

    client = Pager()
    graph = AppNamespace(client).bsky.graph
    handles = [p.handle async for p in paginate(graph.get_follows, "follows", actor="s.test")]
    assert handles == ["a.test", "b.test", "c.test"]
    assert [c[2]["params"]["cursor"] for c in client.calls] == [None, "c1"]
    assert all(c[2]["params"]["limit"] == 50 for c in client.calls)


async def test_get_record_and_list_records_give_record_models() -> None:
    post = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-01-01T00:00:00Z"}
    other = {"$type": "com.example.thing", "x": 1}
    uri = "at://did:plc:a/app.bsky.feed.post/1"
    client = FakeClient(
        {
            "com.atproto.repo.getRecord": {"uri": uri, "value": post},
            "com.atproto.repo.listRecords": {
                "records": [
                    {"uri": uri, "cid": "bafy", "value": post},
                    {"uri": "at://did:plc:a/com.example.thing/2", "cid": "bafy", "value": other},
                ]
            },
        }
    )
    repo = ComNamespace(client).atproto.repo
    got = await repo.get_record(repo="did:plc:a", collection="app.bsky.feed.post", rkey="1")
    assert got.value == Post(text="hi", created_at="2024-01-01T00:00:00Z")
    listed = await repo.list_records(repo="did:plc:a", collection="app.bsky.feed.post")
    assert isinstance(listed.records[0].value, Post)
    assert isinstance(listed.records[1].value, UnknownRecord)
    assert listed.records[1].value.to_dict() == other


def test_signatures_name_models_publicly() -> None:
    repo = ComNamespace(FakeClient()).atproto.repo
    get_record = inspect.signature(repo.get_record)
    assert get_record.return_annotation == "GetRecordOutput"
    create = inspect.signature(repo.create_record)
    assert create.parameters["record"].annotation == "Model | Mapping[str, Any]"
    assert create.return_annotation == "CreateRecordOutput"
    writes = inspect.signature(repo.apply_writes).parameters["writes"].annotation
    assert writes == "Sequence[ApplyWritesInputWritesItem | Mapping[str, Any]]"
    timeline = inspect.signature(AppNamespace(FakeClient()).bsky.feed.get_timeline)
    assert timeline.return_annotation == "GetTimelineOutput"
