"""Repositories, sans-I/O: the Merkle Search Tree, signed commits, and repository CAR files.

Spec: https://atproto.com/specs/repository

Bytes in, values out, like ``ipld``: nothing here touches the network. Layout, each module
importing only those above it in this list::

    paths.py        repo paths as MST keys: syntax, height (`key_height`), shared prefixes
    _node.py        MST nodes: the in-memory form, reading a block with every check
    _write.py       MST nodes: writing the canonical block (splicing the one read), the CID
    mst.py          `MST`: immutable tree; get / set / delete, walk, proofs, lazy loading
    commit.py       `Commit`: decode, encode, sign, verify
    repository.py   `read_repo`: a whole CAR export, every block and rule checked

Every problem with repository data raises `RepoError` (`MissingBlockError` for an absent
block), a ``ValueError``; bad bytes never surface as a KeyError, IndexError or CBOR error.
"""

from __future__ import annotations

from atproto_async.exceptions import MissingBlockError, RepoError
from atproto_async.repo.commit import REPO_VERSION, Commit
from atproto_async.repo.mst import MST
from atproto_async.repo.paths import (
    MAX_KEY_LENGTH,
    common_prefix_length,
    ensure_valid_key,
    is_valid_key,
    key_height,
)
from atproto_async.repo.repository import Repository, read_repo

__all__ = [
    "MAX_KEY_LENGTH",
    "MST",
    "REPO_VERSION",
    "Commit",
    "MissingBlockError",
    "RepoError",
    "Repository",
    "common_prefix_length",
    "ensure_valid_key",
    "is_valid_key",
    "key_height",
    "read_repo",
]
