"""The Redis side of the fan-out: key names, the Lua scripts, and the checks made at start.

Keys (``P`` is the prefix, ``atproto`` by default; ``G`` a consumer group; ``i`` a partition)::

    P:partitions        the number of partitions, written once by the first ingester
    P:cursor            the relay seq of the last frame appended (written with the frames)
    P:stream:i          a stream per partition; each entry {seq, frame} is one relay message
    P:lease:G:i         which worker of group G serves partition i (a token; PX lease_ttl)
    P:members:G         the live workers of G (sorted set, score = lease expiry in ms)
    P:rev:G:i           with verify=True: the last acknowledged rev of each account (hash)

Every write that must be atomic is a Lua script (`APPEND`, `RENEW`, `RELEASE`, `HEARTBEAT`,
`ACK_REV`): Redis runs a script alone, so no other client sees half of it, and a script's
writes reach the append-only file together. The scripts are loaded by SHA and sent again when
Redis answers ``NOSCRIPT`` (after a restart): redis-py's ``Script`` does that.

The scripts assume a single Redis (or keys of one slot): a Redis Cluster would need hash tags.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from atproto_async.exceptions import FanoutError

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - the test extra installs redis
    raise ImportError(
        "atproto_async.fanout needs redis-py (redis>=5): pip install 'atproto-async[fanout]'"
    ) from exc

__all__ = [
    "ACK_REV",
    "APPEND",
    "HEARTBEAT",
    "RELEASE",
    "RENEW",
    "TRANSIENT",
    "FanoutError",
    "Keys",
    "ResponseError",
    "check_redis",
    "connect",
    "raise_if_cancelled",
    "redact",
]

logger = logging.getLogger("atproto_async.fanout")

#: Errors after which the same command may be sent again once Redis is back.
TRANSIENT: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


def raise_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise the cancellation of the current task if redis-py swallowed it.

    A command cancelled mid-reply has its connection torn down, and redis-py may then return
    normally or raise ``ConnectionError`` in place of the ``CancelledError``; the task's
    ``cancelling()`` count still says it was cancelled. Loops that wait on Redis call this
    after each command (and before retrying a transient error), or they would run on after
    being cancelled: the ingester, cancelled while paused for backlog, went on polling
    forever (found by its backlog test; reproduced by cancelling a paused writer 300 times).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def redact(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (for logs and reprs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def connect(url: str) -> aioredis.Redis:
    """A client for ``url`` (``redis://[:password@]host:port/db``); bytes in, bytes out."""
    return aioredis.Redis.from_url(url, decode_responses=False)


class Keys:
    """The key names of one prefix (see the module docstring)."""

    __slots__ = ("partitions", "prefix")

    def __init__(self, prefix: str, partitions: int) -> None:
        if not prefix or any(c in prefix for c in " \r\n"):
            raise ValueError(f"prefix must be a non-empty word, got {prefix!r}")
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        self.prefix = prefix
        self.partitions = partitions

    @property
    def count(self) -> str:
        return f"{self.prefix}:partitions"

    @property
    def cursor(self) -> str:
        return f"{self.prefix}:cursor"

    def stream(self, partition: int) -> str:
        return f"{self.prefix}:stream:{partition}"

    def lease(self, group: str, partition: int) -> str:
        return f"{self.prefix}:lease:{group}:{partition}"

    def members(self, group: str) -> str:
        return f"{self.prefix}:members:{group}"

    def revs(self, group: str, partition: int) -> str:
        return f"{self.prefix}:rev:{group}:{partition}"


async def check_redis(client: aioredis.Redis, keys: Keys) -> None:
    """Refuse a Redis that may evict stream entries, and a changed number of partitions.

    An eviction policy other than ``noeviction`` lets Redis drop keys (whole streams, leases)
    when memory runs short: silent loss. Changing the number of partitions under running
    workers would move accounts between partitions and break their order.

    Raises:
        FanoutError: Either problem, with how to fix it.
    """
    info: dict[str, Any] = await client.info("memory")
    policy = info.get("maxmemory_policy")
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy != "noeviction":
        raise FanoutError(
            f"Redis has maxmemory-policy {policy!r}: it may evict stream entries when memory "
            "runs short, losing events silently; set it to 'noeviction' (CONFIG SET "
            "maxmemory-policy noeviction, and in redis.conf) - the ingester's backlog limit "
            "bounds the memory the streams take"
        )
    await client.set(keys.count, keys.partitions, nx=True)
    stored = await client.get(keys.count)
    if stored is not None and int(stored) != keys.partitions:
        raise FanoutError(
            f"the streams under prefix {keys.prefix!r} were written with {int(stored)} "
            f"partitions, not {keys.partitions}: changing it would move accounts between "
            "partitions and break their order; use the same --partitions, or a new prefix"
        )


# Appends a batch of frames and moves the cursor, all or nothing. A frame whose seq is not
# above the stored cursor was appended before (a batch sent again after a lost answer, or a
# second ingester): it is skipped, so nothing is appended twice. Seqs are compared as decimal
# strings (Lua numbers are doubles: exact only up to 2**53).
# KEYS: cursor, then one stream per frame. ARGV: seq and frame of each frame, in order.
APPEND = """
local cursor = redis.call('GET', KEYS[1])
local appended = 0
for i = 2, #KEYS do
  local seq = ARGV[2 * i - 3]
  local above = (not cursor) or #seq > #cursor or (#seq == #cursor and seq > cursor)
  if above then
    redis.call('XADD', KEYS[i], '*', 'seq', seq, 'frame', ARGV[2 * i - 2])
    cursor = seq
    appended = appended + 1
  end
end
if appended > 0 then
  redis.call('SET', KEYS[1], cursor)
end
return appended
"""

# Renews the leases still held by the token; answers 1 or 0 per key.
# KEYS: lease keys. ARGV: token, ttl in ms.
RENEW = """
local held = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
"""

# Deletes the leases still held by the token. KEYS: lease keys. ARGV: token.
RELEASE = """
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return released
"""

# Marks a worker alive until now + ttl (Redis's clock: no skew between machines), forgets
# the ones whose time ran out, and answers how many are alive.
# KEYS: members. ARGV: worker name, ttl in ms, 1 to join or 0 to leave.
HEARTBEAT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
return redis.call('ZCARD', KEYS[1])
"""

# Acknowledges an entry and records the account's rev, if newer, in one step: after a crash
# either both happened or neither (the entry comes again and is compared with the old rev).
# TIDs of one length compare as strings.
# KEYS: stream, revs hash. ARGV: group, entry id, did, rev.
ACK_REV = """
local old = redis.call('HGET', KEYS[2], ARGV[3])
if (not old) or #ARGV[4] > #old or (#ARGV[4] == #old and ARGV[4] > old) then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
end
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
"""
