"""The partition of an account: stable across processes, hash seeds and machines."""

from __future__ import annotations

import os
import subprocess
import sys
from hashlib import sha256

import pytest

from atproto_async.fanout import partition_of


def test_partition_is_the_first_eight_bytes_of_sha256() -> None:
    # Fixed values: a change here moves accounts between partitions of running deployments.
    assert [
        partition_of(d, 8) for d in ("did:plc:alice", "did:plc:bob", "did:web:example.com")
    ] == [
        7,
        5,
        5,
    ]
    did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    assert partition_of(did, 1000) == int.from_bytes(sha256(did.encode()).digest()[:8]) % 1000


def test_events_without_a_did_go_to_partition_zero() -> None:
    assert partition_of(None, 8) == 0


def test_every_partition_is_used_and_in_range() -> None:
    seen = {partition_of(f"did:plc:{i:024d}", 8) for i in range(200)}
    assert seen == set(range(8))
    with pytest.raises(ValueError, match="at least 1"):
        partition_of("did:plc:alice", 0)


def test_partition_does_not_depend_on_the_hash_seed() -> None:
    code = "from atproto_async.fanout import partition_of; print(partition_of('did:plc:x', 97))"
    answers = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert answers == {str(partition_of("did:plc:x", 97))}


def test_without_redis_py_the_import_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import atproto_async, atproto_async.stream\n"
        "try:\n"
        "    import atproto_async.fanout\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install 'atproto-async[fanout]'" in result.stdout


def test_the_package_and_the_stream_do_not_import_redis() -> None:
    code = "import sys, atproto_async, atproto_async.stream; print('redis' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
