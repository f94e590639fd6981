"""examples/data/local-pds.frames: the firehose capture recorded from the local PDS.

Recorded by scripts/record-pds-capture; it lets the README's main job run offline. These
checks run with the unit tests (no PDS needed).
"""

from __future__ import annotations

from pathlib import Path

from atproto_async.ipld import CID
from atproto_async.stream import Account, Commit, Identity, Sync, decode_frame
from atproto_async.stream.framefile import iter_frames

CAPTURE = Path(__file__).resolve().parents[2] / "examples" / "data" / "local-pds.frames"


def events() -> list[object]:
    return [decode_frame(bytes(message)) for message in iter_frames(CAPTURE.read_bytes())]


def test_capture_is_small_and_every_frame_decodes() -> None:
    assert CAPTURE.stat().st_size < 200_000
    decoded = events()
    assert 20 <= len(decoded) <= 200
    seqs = [event.seq for event in decoded]  # type: ignore[attr-defined]
    assert seqs == list(range(1, len(decoded) + 1))
    assert {type(event) for event in decoded} == {Commit, Identity, Account, Sync}


def test_capture_holds_the_typical_activity() -> None:
    decoded = events()
    ops = [op for event in decoded if isinstance(event, Commit) for op in event.ops]
    assert {op.action for op in ops} == {"create", "update", "delete"}
    collections = {op.collection for op in ops}
    assert collections >= {
        "app.bsky.actor.profile",
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.feed.repost",
        "app.bsky.graph.follow",
    }
    posts = [op.record.to_dict() for op in ops if op.collection == "app.bsky.feed.post" and op.cid]
    features = {
        f["$type"] for p in posts for facet in p.get("facets", []) for f in facet["features"]
    }
    assert features == {
        "app.bsky.richtext.facet#mention",
        "app.bsky.richtext.facet#link",
        "app.bsky.richtext.facet#tag",
    }
    images = [p["embed"]["images"][0]["image"] for p in posts if "embed" in p]
    assert images
    assert isinstance(images[0]["ref"], CID)
    assert any("reply" in p for p in posts)
    for op in ops:
        assert (op.record is None) == (op.action == "delete")

    handles = [event.handle for event in decoded if isinstance(event, Identity)]
    assert "robert.test" in handles
    statuses = [(e.active, e.status) for e in decoded if isinstance(e, Account)]
    assert (False, "deactivated") in statuses
    assert (False, "takendown") in statuses
