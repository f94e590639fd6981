"""Signed commits: the top block of a repository, naming its MST root, signed by the account.

Spec: https://atproto.com/specs/repository#commit-objects

A v3 commit is ``{did, version: 3, data, rev, prev, sig}``; ``prev`` must be present even when
null. Version 2 (still found in old exports) has no ``rev`` requirement. The signature is the
account key's 64-byte low-S ECDSA ``r || s`` over the SHA-256 of the commit's DAG-CBOR without
``sig``; the key is not in the commit, it comes from the account's DID document.

The unsigned bytes are written directly, in canonical field order (did, rev, sig, data, prev,
version), instead of through the generic encoder. A commit read with `Commit.decode` was checked
to be canonical, so writing its fields back gives exactly the bytes that were signed.

Every verified firehose event reads one commit: `Commit.decode` first tries the usual v3 layout
(sha2-256 links) with a regular expression that accepts only its canonical bytes, and keeps the
signed bytes, which are the block less its ``sig`` field (`_read_v3`); any other block goes
through the strict decoder, which also words the errors. On the commits of
``benchmarks/bench_sync.py``: 2.3 us instead of 5.0 to decode, and `Commit.verify` spares the
1.3 us of writing the signed bytes again.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import attrs

from atproto_async.exceptions import DecodeError, RepoError, caused_by
from atproto_async.ipld import CID, decode_dag_cbor, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_bytes, cid_from_tagged
from atproto_async.repo._node import _NODE_LINK_PATTERN, _NODE_LINK_PREFIX, _NODE_LINK_SIZE
from atproto_async.repo._write import _head, _link_item
from atproto_async.syntax import is_valid_did, is_valid_tid, next_tid

if TYPE_CHECKING:
    from atproto_async.crypto import Keypair, PublicKey

__all__ = ["REPO_VERSION", "Commit"]

#: The repository format version written by `Commit.sign`.
REPO_VERSION: Final = 3

_SIGNATURE_SIZE: Final = 64
_V3_FIELDS: Final = frozenset(("did", "version", "data", "rev", "prev", "sig"))
_V2_REQUIRED: Final = frozenset(("did", "version", "data", "prev", "sig"))

# A v3 commit in canonical DAG-CBOR after its did: rev (13 bytes), a 64-byte sig, data and prev
# as sha2-256 dag-cbor links (prev may be null), version 3. Groups: rev, sig, data, prev.
_V3_AFTER_DID: Final = re.compile(
    rb"\x63rev\x6d(.{13})\x63sig\x58\x40(.{64})"
    rb"\x64data" + _NODE_LINK_PATTERN + rb"\x64prev(?:\xf6|" + _NODE_LINK_PATTERN + rb")"
    rb"\x67version\x03",
    re.DOTALL,
)
_SIG_FIELD_HEAD: Final = 6  # "sig" and the head of its 64 bytes


def _text(value: str) -> bytes:
    raw = value.encode()
    return _head(0x60, len(raw)) + raw


@attrs.frozen(kw_only=True)
class Commit:
    """A repository commit: who (``did``), which tree (``data``), when (``rev``), signed.

    Build one with `Commit.sign` or read one with `Commit.decode`; the constructor does not
    check its arguments.

    Attributes:
        did: The account's DID.
        version: The repository format version: 3, or 2 for old commits.
        data: The CID of the MST root.
        rev: The revision, a TID that grows with every commit; None only in a v2 commit
            without one.
        prev: The previous commit's CID; virtually always None in v3.
        sig: The 64-byte signature.
    """

    did: str
    version: int
    data: CID
    rev: str | None
    prev: CID | None = None
    sig: bytes
    # The signed bytes when known (a decoded commit): not part of the value.
    _unsigned: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @classmethod
    def decode(cls, block: bytes | bytearray | memoryview) -> Commit:
        """Read and check a commit block.

        Args:
            block: The commit's DAG-CBOR bytes.

        Returns:
            The commit.

        Raises:
            RepoError: Not strict DAG-CBOR, not a map, an unsupported version, a field
                missing, unknown or of the wrong type, a DID or TID that is not one, a link
                not in the dag-cbor sha2-256 CIDv1 form, a signature that is not 64 bytes.
        """
        if type(block) is not bytes:
            block = bytes(block)
        commit = _read_v3(cls, block)
        if commit is not None:
            return commit
        try:
            value = decode_dag_cbor(block)
        except DecodeError as exc:
            raise caused_by(
                RepoError(f"commit is not canonical DAG-CBOR: {exc}", cid_for_bytes(block)), exc
            )
        problem = _problem(value)
        if problem is not None:
            raise RepoError(f"invalid commit: {problem}", cid_for_bytes(block))
        return cls(
            did=value["did"],
            version=value["version"],
            data=value["data"],
            rev=value.get("rev"),
            prev=value["prev"],
            sig=value["sig"],
        )

    @classmethod
    def sign(
        cls,
        keypair: Keypair,
        *,
        did: str,
        data: CID,
        rev: str | None = None,
        prev: CID | None = None,
    ) -> Commit:
        """Create a v3 commit of ``data`` and sign it.

        Args:
            keypair: The account's signing key (the ``#atproto`` key of its DID document).
            did: The account's DID.
            data: The CID of the MST root (`MST.cid`).
            rev: The revision; a new TID from this process's clock when omitted.
            prev: The previous commit, if it is to be named (it is normally left out).

        Returns:
            The signed commit.

        Raises:
            RepoError: ``did`` is not a DID or ``rev`` not a TID.
            TypeError: ``data`` or ``prev`` is not a `CID`.
        """
        if rev is None:
            rev = next_tid()
        if type(data) is not CID or (prev is not None and type(prev) is not CID):
            raise TypeError("data and prev must be CIDs")
        unsigned = cls(did=did, version=REPO_VERSION, data=data, rev=rev, prev=prev, sig=b"")
        problem = _problem(unsigned._fields(signed=False), signed=False)
        if problem is not None:
            raise RepoError(f"cannot sign commit: {problem}")
        return attrs.evolve(unsigned, sig=keypair.sign(unsigned.unsigned_bytes()))

    def _fields(self, *, signed: bool) -> dict[str, Any]:
        # Read untyped: a Commit may hold values of any type (encode_dag_cbor refuses what is
        # not data), and a compiled build checks the annotated type of what `self.x` reads.
        me: Any = self
        fields: dict[str, Any] = {"did": me.did, "version": me.version, "data": me.data}
        fields["prev"] = me.prev
        if me.rev is not None:
            fields["rev"] = me.rev
        if signed:
            fields["sig"] = me.sig
        return fields

    def _encode(self, *, signed: bool) -> bytes:
        me: Any = self  # untyped, as in _fields: the types are checked just below
        did, rev, sig, version = me.did, me.rev, me.sig, me.version
        data, prev = me.data, me.prev
        if not (
            type(did) is str
            and (rev is None or type(rev) is str)
            and type(sig) is bytes
            and type(version) is int
            and 0 <= version < 2**64
            and type(data) is CID
            and (prev is None or type(prev) is CID)
        ):
            return encode_dag_cbor(self._fields(signed=signed))  # refuses what is not data
        parts = [_head(0xA0, 4 + signed + (rev is not None)), b"\x63did", _text(did)]
        if rev is not None:
            parts += (b"\x63rev", _text(rev))
        if signed:
            parts += (b"\x63sig", _head(0x40, len(sig)), sig)
        parts += (b"\x64data", _link_item(data), b"\x64prev")
        parts.append(b"\xf6" if prev is None else _link_item(prev))
        parts += (b"\x67version", _head(0, version))
        return b"".join(parts)

    def unsigned_bytes(self) -> bytes:
        """The DAG-CBOR of the commit without ``sig``: the bytes that are signed."""
        unsigned = self._unsigned
        return self._encode(signed=False) if unsigned is None else unsigned

    def encode(self) -> bytes:
        """The commit's block: its DAG-CBOR with ``sig``."""
        return self._encode(signed=True)

    @property
    def cid(self) -> CID:
        """The CID of the commit's block (what a CAR root and a firehose event name)."""
        return cid_for_bytes(self.encode())

    def verify(self, public_key: PublicKey) -> bool:
        """Whether ``sig`` is ``public_key``'s signature of this commit (low-S only).

        Args:
            public_key: The account's signing key, from its DID document.

        Returns:
            True for a valid signature; False otherwise, also for a malformed one.
        """
        return public_key.verify(self.unsigned_bytes(), self.sig)


def _read_v3(cls: type[Commit], block: bytes) -> Commit | None:
    """Read a v3 commit in the usual canonical layout, keeping its signed bytes; None otherwise.

    Accepts only what the strict path accepts: the bytes are the canonical encoding of exactly
    these fields, and the did and rev are checked as there.
    """
    if not block.startswith(b"\xa6\x63did") or len(block) < 8:
        return None
    size = block[5] - 0x60  # the did's text head: 0x60 + length, or 0x78 and the length
    start = 6
    if not 0 <= size < 24:
        if size != 24 or block[6] < 24:
            return None
        size = block[6]
        start = 7
    end = start + size
    found = _V3_AFTER_DID.fullmatch(block, end)
    if found is None:
        return None
    did = block[start:end]
    rev, sig, data, prev = found.groups()
    if not (did.isascii() and rev.isascii()):
        return None
    did_text = did.decode()
    rev_text = rev.decode()
    if not (is_valid_did(did_text) and is_valid_tid(rev_text)):
        return None
    commit = cls(
        did=did_text,
        version=3,
        data=cid_from_tagged(data),
        rev=rev_text,
        prev=None if prev is None else cid_from_tagged(prev),
        sig=sig,
    )
    sig_start = found.start(2) - _SIG_FIELD_HEAD
    unsigned = b"\xa5" + block[1:sig_start] + block[found.end(2) :]  # five fields, not six
    object.__setattr__(commit, "_unsigned", unsigned)
    return commit


def _link_problem(name: str, value: object, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if type(value) is not CID:
        return f"{name} must be a CID link{' or null' if nullable else ''}"
    raw = bytes(value)
    if len(raw) != _NODE_LINK_SIZE or not raw.startswith(_NODE_LINK_PREFIX):
        return f"{name} link {value} is not a dag-cbor sha2-256 CIDv1"
    return None


def _problem(value: object, *, signed: bool = True) -> str | None:
    """What is wrong with a decoded commit (unsigned: one without ``sig``), or None."""
    if type(value) is not dict:
        return "not a map"
    version = value.get("version")
    if type(version) is not int or version not in (2, 3):
        return f"unsupported version {version!r:.20} (expected 3, or 2 for old commits)"
    fields = value.keys()
    required = _V3_FIELDS if version == 3 else _V2_REQUIRED
    if not signed:
        required = required - {"sig"}
    missing = required.difference(fields)  # (a compiled build reads `-` as frozenset's)
    if missing:
        return f"missing field {', '.join(sorted(missing))}"
    unknown = fields - _V3_FIELDS
    if unknown:
        return f"unknown field {', '.join(sorted(repr(name)[:40] for name in unknown))}"
    did = value["did"]
    if type(did) is not str or not is_valid_did(did):
        return f"did {did!r:.80} is not a DID"
    rev = value.get("rev")
    if (rev is not None or version == 3) and (type(rev) is not str or not is_valid_tid(rev)):
        return f"rev {rev!r:.40} is not a TID"
    problem = _link_problem("data", value["data"], False) or _link_problem(
        "prev", value["prev"], True
    )
    if problem is not None:
        return problem
    sig = value.get("sig", b"\x00" * _SIGNATURE_SIZE)
    if type(sig) is not bytes or len(sig) != _SIGNATURE_SIZE:
        return f"sig must be {_SIGNATURE_SIZE} bytes"
    return None
