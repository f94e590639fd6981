"""Which partition an account's events go to: a stable hash of the DID, the same everywhere.

Python's ``hash`` of a string changes from one process to the next (``PYTHONHASHSEED``), so
it cannot route across machines. The partition is the first 8 bytes of the DID's SHA-256,
big-endian, modulo the number of partitions: every process of every version computes the same
one, and every event of an account - ``#commit``, ``#sync``, ``#identity``, ``#account`` -
lands in the one partition, in the relay's order. Events that name no account (an unknown
type without a DID) go to partition 0, so that they are kept too.
"""

from __future__ import annotations

from hashlib import sha256

__all__ = ["partition_of"]


def partition_of(did: str | None, partitions: int) -> int:
    """Return the partition (0 .. ``partitions`` - 1) of an account.

    Args:
        did: The account's DID; None for an event that names none (partition 0).
        partitions: How many partitions there are (at least 1).

    Raises:
        ValueError: ``partitions`` is below 1.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    if did is None:
        return 0
    return int.from_bytes(sha256(did.encode()).digest()[:8], "big") % partitions
