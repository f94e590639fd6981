"""The shortcuts inside verify_commit decide exactly as the plain checks they replace.

- The "rev in the future" check reads the TID's microseconds as a base-32 number instead of
  building a datetime (`tid_timestamp`): the same float, hence the same verdict, at the
  boundary too.
- Blocks are hashed while the CAR is read with the CID's digest compared as it lies, and MST
  nodes are looked up in the CAR's index directly: a forged block or a missing node is
  refused with the same reason as before.
"""

from __future__ import annotations

import random

import pytest
from sync_helpers import RepoWriter, post

from atproto_async.crypto import K256, Keypair
from atproto_async.stream import Commit, decode_frame
from atproto_async.sync import InvalidEvent, verify_commit
from atproto_async.sync.verify import _TID_DIGITS, REV_CLOCK_SKEW
from atproto_async.syntax._tid import make_tid, tid_timestamp


def test_tid_microseconds_read_as_by_tid_timestamp() -> None:
    rng = random.Random(1)
    for _ in range(20_000):
        tid = make_tid(rng.randrange(1 << 53), rng.randrange(1024))
        read = (int(tid.translate(_TID_DIGITS), 32) >> 10) / 1_000_000
        assert read == tid_timestamp(tid).timestamp()
    for tid in ("2222222222222", "jzzzzzzzzzzzz", make_tid(1_733_000_000_123_456, 7)):
        assert (int(tid.translate(_TID_DIGITS), 32) >> 10) / 1_000_000 == tid_timestamp(
            tid
        ).timestamp()


@pytest.fixture
def writer() -> RepoWriter:
    repo = RepoWriter(Keypair.generate(K256))
    repo.commit(creates={f"app.bsky.feed.post/3l2uygzaf{i:04d}": post(str(i)) for i in range(40)})
    return repo


def test_rev_at_the_skew_boundary(writer: RepoWriter) -> None:
    micros = 1_900_000_000_000_000
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0001": post("x")}, rev=make_tid(micros, 1)
    )
    event = decode_frame(frame)
    assert type(event) is Commit
    key = writer.key.public_key
    at = micros / 1_000_000 - REV_CLOCK_SKEW
    assert verify_commit(event, key, now=at).rev == event.rev  # exactly the skew ahead: taken
    with pytest.raises(InvalidEvent, match="in the future"):
        verify_commit(event, key, now=at - 0.001)


def test_a_forged_record_block_is_refused(writer: RepoWriter) -> None:
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0002": post("original")})
    event = decode_frame(frame)
    assert type(event) is Commit
    record = event.ops[0].record_data
    assert record is not None and record["text"] == "original"
    forged = frame.replace(b"original", b"ORIGINAL")
    assert forged != frame
    with pytest.raises(InvalidEvent, match=r"not a valid CAR: CAR block at offset \d+ does not"):
        verify_commit(decode_frame(forged), writer.key.public_key)  # type: ignore[arg-type]
