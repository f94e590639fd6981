"""Whole repositories: real exports and firehose commits, and every way a CAR can be wrong."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from atproto_async.crypto import Keypair
from atproto_async.identity import DidDocument
from atproto_async.ipld import CID, cid_for, encode_dag_cbor, read_car, write_car
from atproto_async.repo import MST, Commit, MissingBlockError, RepoError, read_repo
from tests.conftest import fixture_path

TESTDATA = ("indigo", "testing", "testdata")
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
KEYPAIR = Keypair.from_private_bytes(bytes(31) + b"\x2a", "k256")


def make_repo(count: int = 20) -> tuple[Commit, MST, dict[CID, bytes]]:
    """A small signed repository: its commit, tree and every block (commit block first)."""
    records = {}
    for n in range(count):
        block = encode_dag_cbor({"$type": "app.bsky.feed.like", "n": n})
        records[f"app.bsky.feed.like/3k{n:011d}"] = (cid_for(block), block)
    tree = MST.from_entries({path: cid for path, (cid, _) in records.items()})
    commit = Commit.sign(KEYPAIR, did=DID, data=tree.cid, rev="3kabcdefghij2")
    blocks = {commit.cid: commit.encode(), **tree.blocks()}
    blocks.update(records.values())
    return commit, tree, blocks


def test_read_a_valid_repository() -> None:
    commit, tree, blocks = make_repo()
    repo = read_repo(write_car([commit.cid], blocks), did=DID, key=KEYPAIR.public_key)
    assert repo.cid == commit.cid
    assert repo.commit == commit
    assert repo.did == DID
    assert repo.tree == tree
    assert len(repo.records) == 20
    path = "app.bsky.feed.like/3k00000000007"
    cid, block = repo.records[path]
    assert cid == cid_for(block)
    assert repo.record(path) == {"$type": "app.bsky.feed.like", "n": 7}
    with pytest.raises(KeyError):
        repo.record("app.bsky.feed.like/absent")


def test_unlinked_and_duplicate_blocks_are_ignored() -> None:
    commit, _, blocks = make_repo()
    extra = encode_dag_cbor({"unrelated": True})
    pairs = [*blocks.items(), (cid_for(extra), extra), *blocks.items()]
    repo = read_repo(write_car([commit.cid, cid_for(extra)], pairs))
    assert len(repo.records) == 20


def test_empty_repository() -> None:
    tree = MST()
    commit = Commit.sign(KEYPAIR, did=DID, data=tree.cid, rev="3kabcdefghij2")
    repo = read_repo(write_car([commit.cid], {commit.cid: commit.encode(), **tree.blocks()}))
    assert repo.records == {}
    assert repo.tree == tree


def test_wrong_did_or_key() -> None:
    commit, _, blocks = make_repo()
    car = write_car([commit.cid], blocks)
    with pytest.raises(RepoError, match="commit is for did:plc:ewvi7nxzyoun6zhxrhs64oiz, not"):
        read_repo(car, did="did:plc:someoneelse")
    other = Keypair.generate("k256").public_key
    with pytest.raises(RepoError, match="signature does not verify") as caught:
        read_repo(car, key=other)
    assert caught.value.cid == commit.cid


def test_missing_record() -> None:
    commit, tree, blocks = make_repo()
    path, cid = next(iter(tree))
    del blocks[cid]
    with pytest.raises(MissingBlockError, match=f"record '{path}' not found") as caught:
        read_repo(write_car([commit.cid], blocks))
    assert caught.value.cid == cid


def test_missing_mst_node() -> None:
    commit, tree, blocks = make_repo(200)
    node = list(tree.blocks())[-1]
    del blocks[node]
    with pytest.raises(MissingBlockError, match="MST node not found") as caught:
        read_repo(write_car([commit.cid], blocks))
    assert caught.value.cid == node


def test_missing_commit_and_no_root() -> None:
    commit, _, blocks = make_repo()
    del blocks[commit.cid]
    with pytest.raises(MissingBlockError, match="commit named by the CAR root"):
        read_repo(write_car([commit.cid], blocks))
    with pytest.raises(RepoError, match="names no root"):
        read_repo(write_car([], blocks))


def test_root_that_is_not_a_commit() -> None:
    _, tree, blocks = make_repo()
    with pytest.raises(RepoError, match="invalid commit"):
        read_repo(write_car([tree.cid], blocks))


def test_block_that_does_not_hash_to_its_cid() -> None:
    commit, tree, blocks = make_repo()
    _, cid = next(iter(tree))
    blocks[cid] = encode_dag_cbor({"$type": "app.bsky.feed.like", "n": -1})
    with pytest.raises(RepoError, match="does not hash to its CID"):
        read_repo(write_car([commit.cid], blocks))


def test_mst_node_that_does_not_hash_to_its_cid() -> None:
    # The MST is read without hashing its nodes again (the CAR reader hashed every block): a
    # node swapped for other valid bytes under its CID must still be refused.
    commit, tree, blocks = make_repo()
    other = MST.from_entries({"app.bsky.feed.like/3k00000000001": tree.cid})
    blocks[tree.cid] = other.blocks()[other.cid]
    with pytest.raises(RepoError, match="does not hash to its CID"):
        read_repo(write_car([commit.cid], blocks))


@pytest.mark.parametrize("cut", [1, 40, 400])
def test_truncated_car(cut: int) -> None:
    commit, _, blocks = make_repo()
    car = write_car([commit.cid], blocks)
    with pytest.raises(RepoError, match="invalid repository CAR"):
        read_repo(car[:-cut])


@pytest.mark.parametrize("car", [b"", b"\x00", b"\xff" * 10, b"\x05hello"])
def test_garbage_car(car: bytes) -> None:
    with pytest.raises(RepoError, match="invalid repository CAR"):
        read_repo(car)


def test_record_that_is_not_dag_cbor() -> None:
    bad = b"\xa1\x61a\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00"  # {"a": 1.0}: floats are refused
    tree = MST.from_entries({"app.bsky.feed.like/x": cid_for(bad)})
    commit = Commit.sign(KEYPAIR, did=DID, data=tree.cid, rev="3kabcdefghij2")
    blocks = {commit.cid: commit.encode(), **tree.blocks(), cid_for(bad): bad}
    repo = read_repo(write_car([commit.cid], blocks))
    with pytest.raises(RepoError, match=r"record 'app\.bsky\.feed\.like/x' is not valid DAG-CBOR"):
        repo.record("app.bsky.feed.like/x")


# --- real exports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "did", "version", "count"),
    [
        ("greenground.repo.car", "did:plc:kzcqyc3unb33eh5sxzsfs25z", 3, 2),
        ("paul_staging.repo.car", "did:plc:cmpvykrzb2l22kj4ojlv3ox4", 2, 185),
        ("divy.repo", "did:plc:fz36gecghqb353ek23nem3ca", 2, 6),
        ("fakermaker.repo.car", "did:plc:dpg45vsnuir2vqqqadsn6afg", 2, 142),
    ],
)
def test_real_exports(name: str, did: str, version: int, count: int) -> None:
    data = fixture_path(*TESTDATA, name).read_bytes()
    repo = read_repo(data, did=did)
    assert (repo.commit.version, len(repo.records)) == (version, count)
    assert repo.commit.encode() == read_car(data).blocks[repo.cid]
    assert repo.tree.cid == repo.commit.data
    for path in repo.records:
        record = repo.record(path)
        assert record["$type"] == path.split("/")[0]


def test_paul_staging_signature_with_its_did_document() -> None:
    document = json.loads(fixture_path(*TESTDATA, "paul_staging.didDoc.json").read_text())
    doc = DidDocument.from_dict(document)
    assert doc.signing_public_key is not None
    data = fixture_path(*TESTDATA, "paul_staging.repo.car").read_bytes()
    repo = read_repo(data, did=doc.did, key=doc.signing_public_key)
    assert repo.commit.verify(doc.signing_public_key)
    assert not repo.commit.verify(KEYPAIR.public_key)


def test_partial_car_is_refused() -> None:
    data = fixture_path(*TESTDATA, "repo_slice.car").read_bytes()
    with pytest.raises(MissingBlockError, match="MST node not found"):
        read_repo(data)


def _firehose_commits() -> list[dict[str, Any]]:
    folder = fixture_path("indigo", "atproto", "repo", "testdata")
    return [json.loads(path.read_text()) for path in sorted(folder.glob("firehose_commit_*.json"))]


def test_firehose_commits_resolve_their_operations() -> None:
    events = _firehose_commits()
    assert len(events) == 4
    for event in events:
        encoded = event["blocks"]["$bytes"]
        car = read_car(base64.b64decode(encoded + "=" * (-len(encoded) % 4)), verify=True)
        commit = Commit.decode(car.blocks[car.roots[0]])
        assert commit.cid == car.roots[0] == CID.decode(event["commit"]["$link"])
        assert (commit.did, commit.rev, commit.version) == (event["repo"], event["rev"], 3)
        # The commit carries the changed MST nodes: a partial tree where each op can be read.
        tree = MST.load(commit.data, car.blocks)
        for op in event["ops"]:
            expected = None if op["cid"] is None else CID.decode(op["cid"]["$link"])
            assert tree.get(op["path"]) == expected, op
