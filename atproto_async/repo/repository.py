"""Whole repositories from CAR files: the export of ``com.atproto.sync.getRepo``, checked.

Spec: https://atproto.com/specs/repository#car-file-serialization

`read_repo` checks everything a full export promises: every block hashes to its CID, the first
root is a valid commit (of the expected DID, signed by the expected key when one is given), the
MST under it is complete and valid, and every record it names is present. Blocks that nothing
links to are ignored, as the spec asks. Records stay as bytes until `Repository.record` decodes
one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from atproto_async.exceptions import DecodeError, MissingBlockError, RepoError
from atproto_async.ipld import CID, decode_dag_cbor, read_car
from atproto_async.repo.commit import Commit
from atproto_async.repo.mst import MST

if TYPE_CHECKING:
    from atproto_async.crypto import PublicKey

__all__ = ["Repository", "read_repo"]


@attrs.frozen(kw_only=True)
class Repository:
    """A repository read and checked by `read_repo`.

    Attributes:
        cid: The CID of the commit block (the CAR's first root).
        commit: The signed commit.
        tree: The MST the commit names (``commit.data``), fully read.
        records: Every record, by repo path: ``(cid, block)``, the block still encoded.
    """

    cid: CID
    commit: Commit
    tree: MST
    records: Mapping[str, tuple[CID, bytes]]

    @property
    def did(self) -> str:
        """The account's DID, from the commit."""
        return self.commit.did

    def record(self, path: str) -> Any:
        """Decode the record at ``path`` (strict DAG-CBOR).

        Raises:
            KeyError: The repository has no record at ``path``.
            RepoError: The record block is not valid DAG-CBOR.
        """
        cid, block = self.records[path]
        try:
            return decode_dag_cbor(block)
        except DecodeError as exc:
            raise RepoError(f"record {path!r} is not valid DAG-CBOR: {exc}", cid) from exc


def read_repo(
    car: bytes | bytearray | memoryview,
    *,
    did: str | None = None,
    key: PublicKey | None = None,
) -> Repository:
    """Read a whole repository from a CAR file and check it.

    Args:
        car: The CAR bytes, e.g. the body of ``com.atproto.sync.getRepo``.
        did: When given, the commit must be this account's.
        key: When given, the commit signature must verify with this key (the ``#atproto``
            key of the account's DID document).

    Returns:
        The commit, the tree and the records.

    Raises:
        MissingBlockError: The commit, an MST node or a record is not in the CAR.
        RepoError: The CAR is malformed, a block does not hash to its CID, the commit or an
            MST node is invalid, or the commit is for another DID or signed by another key.
    """
    try:
        parsed = read_car(car, verify=True)
    except DecodeError as exc:
        raise RepoError(f"invalid repository CAR: {exc}") from exc
    if not parsed.roots:
        raise RepoError("repository CAR names no root (the commit)")
    root = parsed.roots[0]
    blocks = parsed.blocks
    block = blocks.get(root)
    if block is None:
        raise MissingBlockError("commit named by the CAR root not found", root)
    commit = Commit.decode(block)
    if did is not None and commit.did != did:
        raise RepoError(f"commit is for {commit.did}, not {did}", root)
    if key is not None and not commit.verify(key):
        raise RepoError(f"commit signature does not verify with {key.did_key()}", root)
    tree = MST.load(commit.data, blocks, verified=True)  # read_car hashed every block
    records: dict[str, tuple[CID, bytes]] = {}
    for path, cid in tree.walk():
        record = blocks.get(cid)
        if record is None:
            raise MissingBlockError(f"record {path!r} not found", cid)
        records[path] = (cid, record)
    return Repository(cid=root, commit=commit, tree=tree, records=MappingProxyType(records))
