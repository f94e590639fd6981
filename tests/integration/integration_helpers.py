"""Helpers shared by the integration tests (accounts, records, firehose reading).

Only the library's public API is used here, as a user would.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import struct
import zlib
from collections.abc import AsyncIterable, Callable
from datetime import UTC, datetime
from typing import Any

from localpds import LocalPds

#: Access-token lifetime the PDS is started with: short, so refresh paths run for real (the
#: client refreshes a quarter of the lifetime before ``exp``, and on ExpiredToken).
ACCESS_TTL_SECONDS = 12
#: OAuth access-token lifetime the PDS is started with (the released one is 60 minutes).
OAUTH_TOKEN_TTL_SECONDS = 6

_counter = itertools.count()


def unique_name(prefix: str = "u") -> str:
    """A handle label that no other test (or earlier run in this session) used."""
    return f"{prefix}{next(_counter)}x{secrets.token_hex(3)}"


def now() -> str:
    """The current time as an atproto datetime string."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Account:
    """A freshly created account: handle, DID, password."""

    def __init__(self, handle: str, did: str, password: str) -> None:
        self.handle = handle
        self.did = did
        self.password = password

    def __repr__(self) -> str:
        return f"Account({self.handle!r}, {self.did!r})"


async def create_account(pds: LocalPds, prefix: str = "u") -> Account:
    """Create an account on the local PDS with the raw ``createAccount`` procedure."""
    from atproto_async import Client

    name = unique_name(prefix)
    handle = f"{name}.test"
    password = secrets.token_urlsafe(12)
    async with Client(pds.url) as client:
        out: Any = await client.procedure(
            "com.atproto.server.createAccount",
            {"handle": handle, "email": f"{name}@example.com", "password": password},
        )
    return Account(handle, out["did"], password)


def post(text: str, **extra: Any) -> dict[str, Any]:
    """An ``app.bsky.feed.post`` record."""
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": now(), **extra}


def record_data(record: Any) -> Any:
    """The data-model dict of a record as the library hands it out (model or UnknownRecord)."""
    if hasattr(record, "to_dict"):
        return record.to_dict()
    if hasattr(record, "data"):
        return record.data
    return record


def tiny_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 90)) -> bytes:
    """A valid PNG image (the PDS sniffs uploads, so image blobs must be real images)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def close_stream(stream: Any) -> None:
    """Close a stream object or async iterator if it can be closed."""
    for name in ("aclose", "close"):
        closer = getattr(stream, name, None)
        if closer is not None:
            result = closer()
            if asyncio.iscoroutine(result):
                await result
            return


async def read_until(
    stream: AsyncIterable[Any],
    done: Callable[[list[Any]], bool],
    *,
    keep: Callable[[Any], bool] = lambda event: True,
    within: float = 30.0,
) -> list[Any]:
    """Collect the events ``keep`` accepts until ``done(collected)`` is true, then close.

    Raises:
        TimeoutError: ``done`` did not become true in time (the message lists what came).
    """
    collected: list[Any] = []

    async def consume() -> None:
        async for event in stream:
            if keep(event):
                collected.append(event)
                if done(collected):
                    return

    try:
        await asyncio.wait_for(consume(), within)
    except TimeoutError:
        raise TimeoutError(f"stream ended the wait with only {collected!r}") from None
    finally:
        await close_stream(stream)
    return collected
