"""com.atproto.sync.getRepo: the CAR export of a repository, read with ``read_car``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from integration_helpers import Account, post

from atproto_async.ipld import CID, decode_dag_cbor, from_json, read_car

pytestmark = pytest.mark.integration


def walk_mst(blocks: Mapping[CID, bytes], root: CID | None) -> Iterator[tuple[str, CID]]:
    """Yield (key, record CID) of a repository's Merkle search tree, in key order.

    Node layout: https://atproto.com/specs/repository#mst-structure
    """
    if root is None:
        return
    node = decode_dag_cbor(blocks[root])
    yield from walk_mst(blocks, node["l"])
    key = b""
    for entry in node["e"]:
        key = key[: entry["p"]] + entry["k"]
        yield key.decode(), entry["v"]
        yield from walk_mst(blocks, entry["t"])


async def test_get_repo_returns_a_car_whose_records_match(client: Any, account: Account) -> None:
    written: dict[str, Any] = {}
    for n in range(30):
        record = post(f"car {n}")
        out: Any = await client.procedure(
            "com.atproto.repo.createRecord",
            {"repo": account.did, "collection": "app.bsky.feed.post", "record": record},
        )
        written[out["uri"].split("/", 3)[3]] = (CID.decode(out["cid"]), record)
    profile = {"$type": "app.bsky.actor.profile", "displayName": "CAR"}
    out = await client.procedure(
        "com.atproto.repo.putRecord",
        {"repo": account.did, "collection": "app.bsky.actor.profile", "rkey": "self",
         "record": profile},
    )  # fmt: skip
    written["app.bsky.actor.profile/self"] = (CID.decode(out["cid"]), profile)

    data = await client.query("com.atproto.sync.getRepo", {"did": account.did})
    assert isinstance(data, bytes)
    car = read_car(data, verify=True)

    head: Any = await client.query("com.atproto.sync.getLatestCommit", {"did": account.did})
    assert car.roots == [CID.decode(head["cid"])]
    commit = decode_dag_cbor(car.blocks[car.roots[0]])
    assert commit["did"] == account.did
    assert commit["version"] == 3
    assert commit["rev"] == head["rev"]
    assert isinstance(commit["sig"], bytes)

    tree = dict(walk_mst(car.blocks, commit["data"]))
    assert list(tree) == sorted(tree)
    assert {key: cid for key, cid in tree.items()} == {k: c for k, (c, _) in written.items()}
    for _key, (cid, record) in written.items():
        assert decode_dag_cbor(car.blocks[cid]) == from_json(record)
