"""Pagination: cursors, bounds, dict and model pages, defensive stops."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from atproto_async.xrpc import Client, MockTransport, Response, paginate


class Pages:
    """An endpoint stand-in: answers pages from a table keyed by cursor, records the calls."""

    def __init__(self, pages: dict[str | None, dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.pages[kwargs["cursor"]]


async def collect(it: Any) -> list[Any]:
    return [item async for item in it]


async def test_follows_cursors_until_absent_and_keeps_params() -> None:
    method = Pages(
        {
            None: {"items": [1, 2], "cursor": "a"},
            "a": {"items": [3], "cursor": "b"},
            "b": {"items": [4]},
        }
    )
    assert await collect(paginate(method, "items", actor="did:x", limit=2)) == [1, 2, 3, 4]
    assert method.calls == [
        {"cursor": None, "actor": "did:x", "limit": 2},
        {"cursor": "a", "actor": "did:x", "limit": 2},
        {"cursor": "b", "actor": "did:x", "limit": 2},
    ]


async def test_stops_on_a_repeated_cursor_and_on_an_empty_page_with_the_same_cursor() -> None:
    repeating = Pages({None: {"items": [1], "cursor": "a"}, "a": {"items": [2], "cursor": "a"}})
    assert await collect(paginate(repeating, "items")) == [1, 2]
    assert len(repeating.calls) == 2
    cycle = Pages(
        {
            None: {"items": [1], "cursor": "a"},
            "a": {"items": [2], "cursor": "b"},
            "b": {"items": [], "cursor": "a"},
        }
    )
    assert await collect(paginate(cycle, "items")) == [1, 2]
    assert len(cycle.calls) == 3


async def test_empty_page_with_a_new_cursor_continues() -> None:
    method = Pages({None: {"items": [], "cursor": "a"}, "a": {"items": [1]}})
    assert await collect(paginate(method, "items")) == [1]


async def test_bounds() -> None:
    table: dict[str | None, dict[str, Any]] = {None: {"items": [0, 1, 2], "cursor": "1"}}
    for n in range(1, 10):
        table[str(n)] = {"items": [3 * n, 3 * n + 1, 3 * n + 2], "cursor": str(n + 1)}
    del table["9"]["cursor"]
    method = Pages(table)
    assert await collect(paginate(method, "items", max_items=4)) == [0, 1, 2, 3]
    assert len(method.calls) == 2
    method.calls.clear()
    assert await collect(paginate(method, "items", max_pages=2)) == [0, 1, 2, 3, 4, 5]
    assert await collect(paginate(method, "items", max_items=0)) == []
    assert await collect(paginate(method, "items", cursor="9")) == [27, 28, 29]
    with pytest.raises(ValueError, match="max_pages"):
        await collect(paginate(method, "items", max_pages=-1))


async def test_model_pages_use_attributes_and_ignore_unset_cursors() -> None:
    unset = object()

    @attrs.frozen
    class Page:
        followers: list[str]
        cursor: Any = unset

    pages = {None: Page(["a"], "c1"), "c1": Page(["b"])}

    async def method(*, cursor: str | None, actor: str) -> Page:
        return pages[cursor]

    assert await collect(paginate(method, "followers", actor="x")) == ["a", "b"]


async def test_missing_items_field_is_empty_and_a_wrong_type_is_an_error() -> None:
    assert await collect(paginate(Pages({None: {}}), "items")) == []
    with pytest.raises(TypeError, match="items"):
        await collect(paginate(Pages({None: {"items": "x"}}), "items"))


async def test_client_paginate_around_a_raw_query() -> None:
    def answer(request: Any) -> Response:
        cursor = dict(request.params).get("cursor")
        body = b'{"records":[1],"cursor":"n"}' if cursor is None else b'{"records":[2]}'
        return Response(200, {"Content-Type": "application/json"}, body)

    transport = MockTransport(answer)
    client = Client("https://pds.example.com", transport=transport)

    async def list_records(*, cursor: str | None = None, **params: Any) -> Any:
        return await client.query("com.atproto.repo.listRecords", {**params, "cursor": cursor})

    items = await collect(client.paginate(list_records, "records", repo="did:x"))
    assert items == [1, 2]
    assert [list(r.params) for r in transport.requests] == [
        [("repo", "did:x")],
        [("repo", "did:x"), ("cursor", "n")],
    ]
