"""Scale-out: the firehose partitioned by account across processes and machines, on Redis.

One `Ingester` reads the relay in raw mode (``subscribe_repos(..., raw=True)``: seq, DID and
type only) and appends each frame to one of N Redis streams, chosen by a stable hash of the
account's DID (`partition_of`), with the relay cursor in the same atomic step. Any number of
`Worker` s, on any number of machines, share the streams through a consumer group: each
partition is leased to exactly one live worker, which decodes the frames and hands out typed
events exactly as `subscribe_repos` does, in order, acknowledging each when the loop asks for
the next. A dead worker's partitions, with their unacknowledged entries, move to live workers
after ``lease_ttl``::

    relay -> Ingester --P:stream:0..N-1--> Worker (group G) x M machines -> your handler

Needs redis-py (``pip install 'atproto-async[fanout]'``) and a Redis with
``maxmemory-policy noeviction`` (checked). ``import atproto_async`` never imports redis; this
package does, and raises ImportError with the install command when it is missing.
Design and Redis keys: ``ingester.py``, ``worker.py`` and ``_redis.py``.
"""

from __future__ import annotations

from atproto_async.fanout._partition import partition_of
from atproto_async.fanout._redis import FanoutError
from atproto_async.fanout.ingester import Ingester
from atproto_async.fanout.worker import Worker

__all__ = ["FanoutError", "Ingester", "Worker", "partition_of"]
