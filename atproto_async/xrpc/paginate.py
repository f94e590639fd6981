"""Walking every page of a cursor-paginated call.

The first request carries no cursor; each next one repeats the parameters with the cursor of
the previous answer, until an answer has no cursor
(https://atproto.com/specs/xrpc#cursors-and-pagination). The spec leaves open what an empty
page with a cursor, or a repeated cursor, means; both would loop forever if trusted, so the walk
also stops when a cursor comes back a second time, and it can be bounded by items or pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

__all__ = ["paginate"]


def _field(page: Any, name: str) -> Any:
    if isinstance(page, Mapping):
        return page.get(name)
    return getattr(page, name, None)


async def paginate(
    method: Callable[..., Awaitable[Any]],
    items: str,
    /,
    *,
    max_items: int | None = None,
    max_pages: int | None = None,
    **params: Any,
) -> AsyncIterator[Any]:
    """Yield every item of every page of a cursor-paginated call.

    Args:
        method: An async callable taking ``cursor=`` (None for the first page) plus ``params``,
            and returning a page: a generated output model or a JSON dict.
        items: Name of the list field of a page (an attribute of models, a key of dicts).
        max_items: Stop after this many items (None: no bound).
        max_pages: Stop after this many requests (None: no bound).
        **params: Passed unchanged to every call (a ``cursor`` here starts mid-way).

    Yields:
        The items, in page order.

    Raises:
        ValueError: A bound is negative.
        TypeError: A page's ``items`` field is not a list.
    """
    for name, bound in (("max_items", max_items), ("max_pages", max_pages)):
        if bound is not None and bound < 0:
            raise ValueError(f"{name} must be >= 0, not {bound}")
    cursor = params.pop("cursor", None)
    seen: set[str] = set()
    pages = 0
    left = max_items
    while (max_pages is None or pages < max_pages) and (left is None or left > 0):
        page = await method(cursor=cursor, **params)
        pages += 1
        batch = _field(page, items)
        if batch is None:
            batch = []
        elif not isinstance(batch, list | tuple):
            raise TypeError(f"page field {items!r} is {type(batch).__name__}, not a list")
        for item in batch if left is None else batch[:left]:
            yield item
        if left is not None:
            left -= min(left, len(batch))
        if cursor is not None:
            seen.add(cursor)
        nxt = _field(page, "cursor")
        if not isinstance(nxt, str) or not nxt or nxt in seen:
            return  # no cursor (or UNSET on a model), or one already followed
        cursor = nxt
