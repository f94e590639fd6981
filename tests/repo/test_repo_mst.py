"""The MST: known root CIDs, edits, walking, loading, proofs and the commit-proof vectors."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from atproto_async.ipld import CID, decode_dag_cbor, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_raw
from atproto_async.repo import MST, MissingBlockError, RepoError, common_prefix_length, key_height
from tests.conftest import fixture_path

LEAF = CID.decode("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
EMPTY_ROOT = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"


def record(name: str) -> str:
    return f"com.example.record/{name}"


def value(n: int) -> CID:
    return cid_for_raw(n.to_bytes(4, "big"))


# Known maps shared by the reference implementations' interop tests (TypeScript and Go).
KNOWN_MAPS = [
    ([], EMPTY_ROOT),
    (["3jqfcqzm3fo2j"], "bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu"),
    (["3jqfcqzm3fx2j"], "bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai"),
    (
        ["3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm4fc2j"],
        "bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m",
    ),
]


@pytest.mark.parametrize(("names", "root"), KNOWN_MAPS)
def test_known_maps(names: list[str], root: str) -> None:
    tree = MST.from_entries({record(name): LEAF for name in names})
    assert str(tree.cid) == root
    built = MST()
    for name in reversed(names):
        built = built.set(record(name), LEAF)
    assert str(built.cid) == root
    assert built == tree


def test_empty_tree() -> None:
    tree = MST()
    assert str(tree.cid) == EMPTY_ROOT
    assert tree.height == 0
    assert list(tree) == []
    assert tree.get(record("a")) is None
    assert tree.delete(record("a")) is tree
    assert tree.blocks() == {tree.cid: b"\xa2\x61e\x80\x61l\xf6"}
    assert MST.from_entries([]) == tree


def test_trims_top_of_tree_on_delete() -> None:
    names = ["3jqfcqzm3fn2j", "3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j"]
    tree = MST.from_entries({record(name): LEAF for name in [*names, "3jqfcqzm3fu2j"]})
    assert tree.height == 1
    assert str(tree.cid) == "bafyreifnqrwbk6ffmyaz5qtujqrzf5qmxf7cbxvgzktl4e3gabuxbtatv4"
    trimmed = tree.delete(record("3jqfcqzm3fs2j"))
    assert trimmed.height == 0
    assert str(trimmed.cid) == "bafyreie4kjuxbwkhzg2i5dljaswcroeih4dgiqq6pazcmunwt2byd725vi"


def test_insertion_that_splits_two_layers_down() -> None:
    names = [
        "3fo2j",
        "3fp2j",
        "3fr2j",
        "3fs2j",
        "3ft2j",
        "3fz2j",
        "4fc2j",
        "4fd2j",
        "4ff2j",
        "4fg2j",
        "4fh2j",
    ]
    tree = MST.from_entries({record("3jqfcqzm" + name): LEAF for name in names})
    level1 = "bafyreiettyludka6fpgp33stwxfuwhkzlur6chs4d2v4nkmq2j3ogpdjem"
    assert (tree.height, str(tree.cid)) == (1, level1)
    grown = tree.set(record("3jqfcqzm3fx2j"), LEAF)
    assert grown.height == 2
    assert str(grown.cid) == "bafyreid2x5eqs4w4qxvc5jiwda4cien3gw2q6cshofxwnvv7iucrmfohpm"
    back = grown.delete(record("3jqfcqzm3fx2j"))
    assert (back.height, str(back.cid)) == (1, level1)


def test_new_layers_two_higher_than_existing() -> None:
    tree = MST.from_entries({record("3jqfcqzm3ft2j"): LEAF, record("3jqfcqzm3fz2j"): LEAF})
    level0 = "bafyreidfcktqnfmykz2ps3dbul35pepleq7kvv526g47xahuz3rqtptmky"
    level2 = "bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy"
    assert str(tree.cid) == level0
    higher = tree.set(record("3jqfcqzm3fx2j"), LEAF)
    assert str(higher.cid) == level2
    assert str(higher.delete(record("3jqfcqzm3fx2j")).cid) == level0
    both = higher.set(record("3jqfcqzm4fd2j"), LEAF)
    assert both.height == 2
    assert str(both.cid) == "bafyreig4jv3vuajbsybhyvb7gggvpwh2zszwfyttjrj6qwvcsp24h6popu"
    assert str(both.delete(record("3jqfcqzm4fd2j")).cid) == level2


def test_get_set_delete_and_immutability() -> None:
    entries = {record(f"k{n:03d}"): value(n) for n in range(100)}
    tree = MST.from_entries(entries)
    assert all(tree.get(key) == cid for key, cid in entries.items())
    assert tree.get(record("absent")) is None
    assert record("k007") in tree
    assert record("absent") not in tree
    assert 42 not in tree

    updated = tree.set(record("k007"), value(1000))
    assert updated.get(record("k007")) == value(1000)
    assert tree.get(record("k007")) == value(7)  # the original is unchanged
    assert updated.set(record("k007"), value(1000)) is updated  # no change, same tree
    assert updated.delete(record("absent")) is updated

    removed = tree.delete(record("k050"))
    assert removed.get(record("k050")) is None
    assert tree.get(record("k050")) == value(50)
    assert removed == MST.from_entries({k: v for k, v in entries.items() if k != record("k050")})


def test_unchanged_subtrees_are_shared() -> None:
    tree = MST.from_entries({record(f"k{n:04d}"): value(n) for n in range(2000)})
    before = tree.blocks()
    after = tree.set(record("k0500x"), value(1)).blocks()
    new = set(after) - set(before)
    assert 1 <= len(new) <= 2 * (tree.height + 1)  # only the path (and a split) is rewritten
    assert len(set(before) & set(after)) > len(before) - 2 * (tree.height + 1)


def test_walk_is_in_key_order() -> None:
    entries = {record(f"k{n}"): value(n) for n in range(300)}
    tree = MST.from_entries(entries)
    assert list(tree.walk()) == sorted(entries.items())
    assert list(tree) == sorted(entries.items())


def test_from_entries_accepts_pairs_and_refuses_duplicates() -> None:
    pairs = [(record("b"), value(2)), (record("a"), value(1))]
    assert MST.from_entries(pairs) == MST.from_entries(dict(pairs))
    with pytest.raises(RepoError, match="given twice"):
        MST.from_entries([(record("a"), value(1)), (record("a"), value(2))])


@pytest.mark.parametrize("key", ["", "no-slash", "a/b/c", "coll/" + "x" * 1100, "coll/sp ace"])
def test_invalid_keys_are_refused(key: str) -> None:
    with pytest.raises(RepoError):
        MST().set(key, LEAF)
    with pytest.raises(RepoError):
        MST.from_entries({key: LEAF})


def test_values_must_be_cids() -> None:
    with pytest.raises(TypeError):
        MST().set(record("a"), "bafy")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MST.from_entries({record("a"): b"\x01"})  # type: ignore[arg-type]


def test_invalid_keys_are_absent() -> None:
    tree = MST.from_entries({record("a"): LEAF})
    assert tree.get("not a key") is None
    assert tree.delete("not a key") is tree


def test_load_round_trip_is_lazy() -> None:
    entries = {record(f"k{n}"): value(n) for n in range(500)}
    tree = MST.from_entries(entries)
    blocks = tree.blocks()
    loaded = MST.load(tree.cid, blocks)
    assert loaded == tree
    assert loaded.get(record("k123")) == value(123)
    assert list(loaded) == sorted(entries.items())
    assert loaded.blocks() == blocks
    loaded.validate()
    edited = loaded.set(record("new"), LEAF).delete(record("k7"))
    assert edited == tree.set(record("new"), LEAF).delete(record("k7"))

    # Only the root is read up front: a tree whose other nodes are missing still loads.
    partial = MST.load(tree.cid, {tree.cid: blocks[tree.cid]})
    with pytest.raises(MissingBlockError) as caught:
        list(partial)
    assert caught.value.cid in blocks


def test_node_blocks_are_canonical_dag_cbor() -> None:
    tree = MST.from_entries({record(f"k{n}"): value(n) for n in range(400)})
    for block in tree.blocks().values():
        node: Any = decode_dag_cbor(block)
        assert encode_dag_cbor(node) == block
        assert set(node) == {"e", "l"}


def test_node_heights_and_prefixes() -> None:
    keys = [record(f"k{n}") for n in range(200)]
    tree = MST.from_entries(dict.fromkeys(keys, LEAF))
    for block in tree.blocks().values():
        node: Any = decode_dag_cbor(block)
        previous = b""
        heights = set()
        for entry in node["e"]:
            key = previous[: entry["p"]] + entry["k"]
            assert entry["p"] == common_prefix_length(previous, key)  # compressed all it can
            heights.add(key_height(key))
            previous = key
        assert len(heights) <= 1


def test_proof_of_presence_and_absence() -> None:
    entries = {record(f"k{n:04d}"): value(n) for n in range(1000)}
    tree = MST.from_entries(entries)
    for key in [record("k0421"), record("k0421x"), record("a"), record("z")]:
        proof = tree.proof_blocks(key)
        assert next(iter(proof)) == tree.cid
        assert list(proof) == tree.proof(key)
        partial = MST.load(tree.cid, proof)
        assert partial.get(key) == tree.get(key)
        assert len(proof) <= 3 * (tree.height + 1)


def _commit_proof_cases() -> list[dict[str, Any]]:
    path = fixture_path("interop", "firehose", "commit-proof-fixtures.json")
    cases: list[dict[str, Any]] = json.loads(path.read_text())
    return cases


def test_commit_proof_fixtures() -> None:
    for case in _commit_proof_cases():
        leaf = CID.decode(case["leafValue"])
        before = MST()
        for key in case["keys"]:
            before = before.set(key, leaf)
        assert str(before.cid) == case["rootBeforeCommit"], case["comment"]
        assert before == MST.from_entries(dict.fromkeys(case["keys"], leaf))

        after = before
        for key in case["adds"]:
            after = after.set(key, leaf)
        for key in case["dels"]:
            after = after.delete(key)
        assert str(after.cid) == case["rootAfterCommit"], case["comment"]

        proof: dict[CID, bytes] = {}
        for key in case["adds"] + case["dels"]:
            proof.update(after.proof_blocks(key))
        assert {str(cid) for cid in proof} == set(case["blocksInProof"]), case["comment"]

        # The proof alone lets a verifier undo the commit, in any order of the operations.
        undo = [("delete", key) for key in case["adds"]] + [("add", key) for key in case["dels"]]
        for order in itertools.permutations(undo):
            tree = MST.load(after.cid, proof)
            for action, key in order:
                tree = tree.delete(key) if action == "delete" else tree.set(key, leaf)
            assert tree.cid == before.cid, (case["comment"], order)


def _keys_at_height_zero(count: int) -> list[str]:
    found = []
    n = 0
    while len(found) < count:
        key = record(f"leaf{n:03d}")
        if key_height(key) == 0:
            found.append(key)
        n += 1
    return found


@pytest.mark.parametrize("size", [2, 24, 25])
def test_removing_any_entry_of_a_read_node_writes_the_canonical_block(size: int) -> None:
    # One node of ``size`` entries (24 entries take a two-byte count), read from its block;
    # each removal writes the node from the block read, which must give the canonical block.
    keys = _keys_at_height_zero(size)
    entries = {key: value(n) for n, key in enumerate(keys)}
    tree = MST.from_entries(entries)
    assert tree.height == 0
    loaded = MST.load(tree.cid, tree.blocks())
    for key in keys:
        rest = {k: v for k, v in entries.items() if k != key}
        assert loaded.delete(key).blocks() == MST.from_entries(rest).blocks()


def test_removing_a_key_joins_the_subtrees_around_it_in_a_read_tree() -> None:
    entries = {record(f"k{n:04d}"): value(n) for n in range(600)}
    tree = MST.from_entries(entries)
    loaded = MST.load(tree.cid, tree.blocks())
    high = [key for key in entries if key_height(key) >= 2][:6]
    assert high
    for key in high:
        rest = {k: v for k, v in entries.items() if k != key}
        assert loaded.delete(key).blocks() == MST.from_entries(rest).blocks()


def test_keys_that_are_no_repo_path_are_absent_whatever_their_characters() -> None:
    tree = MST.load(*_tree_and_blocks())
    for key in ["caf\u00e9/x", "\ud800/lone-surrogate", "\U0001f600"]:
        assert tree.get(key) is None
        assert key not in tree
        assert tree.delete(key) is tree
        assert tree.proof(key)[0] == tree.cid
    with pytest.raises(TypeError):
        tree.get(b"com.example.record/k1")  # type: ignore[arg-type]


def _tree_and_blocks() -> tuple[CID, dict[CID, bytes]]:
    tree = MST.from_entries({record(f"k{n}"): value(n) for n in range(50)})
    return tree.cid, tree.blocks()
