"""verify_commit / verify_sync and SyncVerifier on frames written like a PDS writes them.

Every check of the sync spec's list gets a frame that breaks exactly that check.
"""

from __future__ import annotations

from typing import Any

import pytest
from sync_helpers import RepoWriter, post

from atproto_async.crypto import K256, P256, Keypair
from atproto_async.identity import StaticIdentityResolver
from atproto_async.ipld import cid_for
from atproto_async.stream import decode_frame
from atproto_async.sync import (
    InvalidEvent,
    MemoryStateStore,
    SignatureMismatch,
    SyncVerifier,
    verify_commit,
    verify_sync,
)


@pytest.fixture(params=[K256, P256])
def writer(request: pytest.FixtureRequest) -> RepoWriter:
    repo = RepoWriter(Keypair.generate(request.param))
    # A repository with some history, so that proofs run several nodes deep.
    repo.commit(creates={f"app.bsky.feed.post/3l2uygzaf{i:04d}": post(str(i)) for i in range(300)})
    return repo


def check(frame: bytes, writer: RepoWriter, **kwargs: Any) -> Any:
    return verify_commit(decode_frame(frame), writer.key.public_key, **kwargs)


def refused(frame: bytes, writer: RepoWriter, needle: str, **kwargs: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        check(frame, writer, **kwargs)
    assert needle in info.value.reason, info.value.reason
    return info.value


def test_creates_updates_deletes_verify_and_invert_to_prev_data(writer: RepoWriter) -> None:
    before = writer.tree.cid
    frame = writer.commit(
        creates={"app.bsky.feed.like/3l2uygzaq0001": {"$type": "app.bsky.feed.like", "n": 1}},
        updates={"app.bsky.feed.post/3l2uygzaf0007": post("edited")},
        deletes=["app.bsky.feed.post/3l2uygzaf0100", "app.bsky.feed.post/3l2uygzaf0200"],
    )
    verified = check(frame, writer)
    assert (verified.prev_data, verified.data) == (before, writer.tree.cid)
    assert verified.did == writer.did


def test_a_fifty_op_commit_verifies(writer: RepoWriter) -> None:
    creates = {f"app.bsky.graph.follow/3l2uygzb{i:05d}": post(str(i)) for i in range(50)}
    assert check(writer.commit(creates=creates), writer).data == writer.tree.cid


def test_forged_signature(writer: RepoWriter) -> None:
    other = Keypair.generate(writer.key.curve)
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0002": post("x")}, signer=other)
    with pytest.raises(SignatureMismatch):
        check(frame, writer)


def test_swapped_record_block(writer: RepoWriter) -> None:
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0003": post("real")}, swap_record=post("forged")
    )
    refused(frame, writer, "not a valid CAR")


def test_missing_record_block(writer: RepoWriter) -> None:
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0004": post("x")}, drop_records=True
    )
    refused(frame, writer, "record block")


def test_missing_proof(writer: RepoWriter) -> None:
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0005": post("x")}, drop_proof=True)
    refused(frame, writer, "MST proof is incomplete")


def test_wrong_prev_data(writer: RepoWriter) -> None:
    wrong = cid_for({"not": "the root"})
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0006": post("x")}, prev_data=wrong)
    refused(frame, writer, "inverting the ops")


def test_op_not_in_the_tree(writer: RepoWriter) -> None:
    ghost = {"action": "create", "path": "app.bsky.feed.post/3l2uygzaq9999", "cid": cid_for({})}
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0007": post("x")}, extra_ops=[ghost]
    )
    refused(frame, writer, "the tree holds None")


def test_delete_of_a_key_still_present(writer: RepoWriter) -> None:
    lie = {"action": "delete", "path": "app.bsky.feed.post/3l2uygzaf0001", "cid": None}
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0008": post("x")}, extra_ops=[lie])
    refused(frame, writer, "still in the tree")


def test_two_ops_on_one_path(writer: RepoWriter) -> None:
    path = "app.bsky.feed.post/3l2uygzaq0009"
    again = {"action": "create", "path": path, "cid": None}
    frame = writer.commit(creates={path: post("x")}, extra_ops=[again])
    refused(frame, writer, "two ops")


def test_commit_of_another_account_or_rev(writer: RepoWriter) -> None:
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0010": post("x")},
        commit_did="did:plc:someoneelse2222222222222",
    )
    refused(frame, writer, "signed for")


def test_rev_in_the_future(writer: RepoWriter) -> None:
    from atproto_async.syntax._tid import make_tid

    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0011": post("x")},
        rev=make_tid(4_000_000_000 * 10**6, 1),
    )
    refused(frame, writer, "in the future")


def test_car_root_must_be_the_commit(writer: RepoWriter) -> None:
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0012": post("x")}, root=cid_for({"a": 1})
    )
    refused(frame, writer, "is not the commit")


def test_legacy_commit_needs_lenient(writer: RepoWriter) -> None:
    frame = writer.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0013": post("x")}, no_prev_data=True
    )
    refused(frame, writer, "prevData")
    assert check(frame, writer, lenient=True).prev_data is None


def test_too_big_is_refused(writer: RepoWriter) -> None:
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0014": post("x")}, too_big=True)
    refused(frame, writer, "tooBig")


def test_sync_event(writer: RepoWriter) -> None:
    event = decode_frame(writer.sync_frame())
    assert verify_sync(event, writer.key.public_key).data == writer.tree.cid
    with pytest.raises(SignatureMismatch):
        verify_sync(event, Keypair.generate(writer.key.curve).public_key)


# -- the verifier: chain, gaps, order, status -------------------------------------------------


def verifier_for(writer: RepoWriter, **kwargs: Any) -> SyncVerifier:
    return SyncVerifier(StaticIdentityResolver([writer.document()]), **kwargs)


async def test_a_missed_commit_is_a_gap(writer: RepoWriter) -> None:
    verifier = verifier_for(writer)
    first = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0020": post("a")})
    assert (await verifier.check(decode_frame(first))).ok
    writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0021": post("b")})  # never delivered
    third = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0022": post("c")})
    verdict = await verifier.check(decode_frame(third))
    assert not verdict.ok and verdict.resync and not verdict.invalid
    assert "missed" in (verdict.reason or "")
    assert verifier.state.get(writer.did).desynchronized  # type: ignore[union-attr]
    # Until a resync, the repo's events are held back, not applied on a broken chain.
    fourth = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0023": post("d")})
    assert (await verifier.check(decode_frame(fourth))).resync
    # A #sync re-establishes the state; the chain continues from it.
    assert (await verifier.check(decode_frame(writer.sync_frame()))).ok
    fifth = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0024": post("e")})
    assert (await verifier.check(decode_frame(fifth))).ok
    assert verifier.stats["gap"] == 1 and verifier.stats["desynchronized"] == 1


async def test_replayed_and_reordered_commits_are_dropped(writer: RepoWriter) -> None:
    verifier = verifier_for(writer)
    first = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0030": post("a")})
    second = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0031": post("b")})
    assert (await verifier.check(decode_frame(first))).ok
    assert (await verifier.check(decode_frame(second))).ok
    verifier.reset_seq()  # as after a failover: another relay replays what we have seen
    for frame in (first, second):
        verdict = await verifier.check(decode_frame(frame))
        assert not verdict.ok and "not newer" in (verdict.reason or "")
    assert verifier.stats["stale"] == 2


async def test_inactive_accounts_are_dropped_until_reactivated(writer: RepoWriter) -> None:
    from atproto_async.ipld import encode_dag_cbor

    def account(active: bool, status: str | None, seq: int) -> Any:
        body: dict[str, Any] = {"seq": seq, "did": writer.did, "active": active, "time": "x"}
        if status:
            body["status"] = status
        return decode_frame(encode_dag_cbor({"op": 1, "t": "#account"}) + encode_dag_cbor(body))

    seen: list[Any] = []
    verifier = verifier_for(writer, on_reject=lambda event, verdict: seen.append(verdict))
    assert (await verifier.check(account(False, "takendown", 1000))).ok
    writer.seq = 1000
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0040": post("a")}, keep=False)
    verdict = await verifier.check(decode_frame(frame))
    assert not verdict.ok and "takendown" in (verdict.reason or "")
    assert seen == [verdict]
    assert (await verifier.check(account(True, None, 2000))).ok
    writer.seq = 2000
    again = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0041": post("a")})
    assert (await verifier.check(decode_frame(again))).ok


async def test_state_survives_in_sqlite(writer: RepoWriter, tmp_path: Any) -> None:
    from atproto_async.sync import SQLiteStateStore

    path = str(tmp_path / "sync.sqlite")
    store = SQLiteStateStore(path)
    verifier = verifier_for(writer, state=store)
    frame = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0050": post("a")})
    assert (await verifier.check(decode_frame(frame))).ok
    store.flush(cursor=writer.seq)
    store.close()

    reopened = SQLiteStateStore(path)
    assert reopened.cursor == writer.seq
    state = reopened.get(writer.did)
    assert state is not None and state.data == writer.tree.cid
    verifier = verifier_for(writer, state=reopened)
    assert not (await verifier.check(decode_frame(frame))).ok  # replay after restart: dropped
    nxt = writer.commit(creates={"app.bsky.feed.post/3l2uygzaq0051": post("b")})
    assert (await verifier.check(decode_frame(nxt))).ok  # the chain continues across restarts
    reopened.close()


def test_unflushed_state_is_not_durable(tmp_path: Any) -> None:
    from atproto_async.sync import RepoState, SQLiteStateStore

    path = str(tmp_path / "s.sqlite")
    store = SQLiteStateStore(path)
    store.put("did:plc:a", RepoState(rev="3l2uygzaq0001"))
    assert store.get("did:plc:a") is not None  # visible before the flush
    store.close()
    assert SQLiteStateStore(path).get("did:plc:a") is None


def test_memory_store() -> None:
    store = MemoryStateStore()
    store.flush(5)
    assert store.cursor == 5 and len(store) == 0


def test_first_commit_builds_on_the_empty_tree() -> None:
    """A repository's first commit (``since`` null) carries no prevData: it must start from the
    empty tree, which inverting its ops has to give."""
    fresh = RepoWriter(Keypair.generate(K256))
    frame = fresh.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0060": post("hi")}, no_prev_data=True
    )
    assert check(frame, fresh).prev_data is None
    # A commit claiming to be first over a tree that was not empty is refused.
    older = RepoWriter(Keypair.generate(K256))
    older.commit(creates={"app.bsky.feed.post/3l2uygzaq0061": post("a")})
    lie = older.commit(
        creates={"app.bsky.feed.post/3l2uygzaq0062": post("b")}, no_prev_data=True, since=None
    )
    refused(lie, older, "inverting the ops")
