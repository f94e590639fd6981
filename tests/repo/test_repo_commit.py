"""Commits: signing, verifying (low-S only), decoding with precise errors, exact encoding."""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.crypto import K256_ORDER, P256, Keypair
from atproto_async.ipld import CID, cid_for, decode_dag_cbor, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_raw
from atproto_async.repo import MST, Commit, RepoError
from atproto_async.repo.commit import _problem, _read_v3
from atproto_async.syntax import is_valid_tid

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
REV = "3jzfcijpj2z2a"
DATA = MST().cid
KEYPAIR = Keypair.from_private_bytes(bytes(31) + b"\x07", "k256")


def fields(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "did": DID,
        "version": 3,
        "data": DATA,
        "rev": REV,
        "prev": None,
        "sig": bytes(64),
    }
    base.update(changes)
    return {name: item for name, item in base.items() if item is not ...}


def test_sign_and_verify() -> None:
    commit = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV)
    assert (commit.did, commit.version, commit.data, commit.rev, commit.prev) == (
        DID,
        3,
        DATA,
        REV,
        None,
    )
    assert len(commit.sig) == 64
    assert commit.verify(KEYPAIR.public_key)
    assert not commit.verify(Keypair.generate("k256").public_key)
    assert not attrs.evolve(commit, rev="3jzfcijpj2z2b").verify(KEYPAIR.public_key)
    assert KEYPAIR.public_key.verify(commit.unsigned_bytes(), commit.sig)


def test_sign_with_p256_and_a_prev() -> None:
    keypair = Keypair.generate(P256)
    prev = cid_for({"a": 1})
    commit = Commit.sign(keypair, did=DID, data=DATA, rev=REV, prev=prev)
    assert commit.prev == prev
    assert commit.verify(keypair.public_key)
    assert Commit.decode(commit.encode()) == commit


def test_sign_makes_a_rev_when_none_is_given() -> None:
    first = Commit.sign(KEYPAIR, did=DID, data=DATA)
    second = Commit.sign(KEYPAIR, did=DID, data=DATA)
    assert first.rev is not None and second.rev is not None
    assert is_valid_tid(first.rev)
    assert first.rev < second.rev


def test_high_s_signature_is_refused() -> None:
    commit = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV)
    r, s = commit.sig[:32], int.from_bytes(commit.sig[32:], "big")
    malleable = attrs.evolve(commit, sig=r + (K256_ORDER - s).to_bytes(32, "big"))
    assert not malleable.verify(KEYPAIR.public_key)


def test_encoding_is_canonical_dag_cbor() -> None:
    commit = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV)
    assert commit.encode() == encode_dag_cbor(fields(sig=commit.sig))
    assert commit.unsigned_bytes() == encode_dag_cbor(fields(sig=...))
    assert commit.cid == cid_for(commit.encode())
    decoded = Commit.decode(commit.encode())
    assert decoded == commit
    assert decoded.verify(KEYPAIR.public_key)


@settings(max_examples=100, deadline=None)
@given(
    did=st.from_regex(r"did:plc:[a-z2-7]{24}|did:web:[a-z]{1,30}\.com", fullmatch=True),
    rev=st.from_regex(r"[2-7a-j][2-7a-z]{12}", fullmatch=True),
    prev=st.none() | st.binary(max_size=8).map(cid_for),
    sig=st.binary(min_size=64, max_size=64),
)
def test_encoding_matches_the_generic_encoder(
    did: str, rev: str, prev: CID | None, sig: bytes
) -> None:
    commit = Commit(did=did, version=3, data=DATA, rev=rev, prev=prev, sig=sig)
    block = commit.encode()
    assert block == encode_dag_cbor(fields(did=did, rev=rev, prev=prev, sig=sig))
    assert Commit.decode(block) == commit


def test_version_2_commit_without_rev() -> None:
    block = encode_dag_cbor(fields(version=2, rev=...))
    commit = Commit.decode(block)
    assert (commit.version, commit.rev) == (2, None)
    assert commit.encode() == block
    assert commit.unsigned_bytes() == encode_dag_cbor(fields(version=2, rev=..., sig=...))


def test_constructor_values_outside_the_data_model_are_refused() -> None:
    commit = Commit(did=DID, version=3, data=DATA, rev=REV, sig=b"x" * 64)
    with pytest.raises(ValueError, match="float"):
        attrs.evolve(commit, version=3.0).encode()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([1, 2], "not a map"),
        (fields(version=4), "unsupported version 4"),
        (fields(version=...), "unsupported version None"),
        (fields(version="3"), "unsupported version '3'"),
        (fields(prev=...), "missing field prev"),
        (fields(rev=...), "missing field rev"),
        (fields(sig=..., did=...), "missing field did, sig"),
        (fields(extra=1), "unknown field 'extra'"),
        (fields(did="not-a-did"), "did 'not-a-did' is not a DID"),
        (fields(did=b"did:plc:x"), "is not a DID"),
        (fields(rev="2024-01-01"), "rev '2024-01-01' is not a TID"),
        (fields(rev=None), "rev None is not a TID"),
        (fields(version=2, rev="nope"), "rev 'nope' is not a TID"),
        (fields(data=None), "data must be a CID link"),
        (fields(data=cid_for_raw(b"x")), "data link .* is not a dag-cbor sha2-256 CIDv1"),
        (fields(prev="bafy"), "prev must be a CID link or null"),
        (fields(sig=bytes(63)), "sig must be 64 bytes"),
        (fields(sig="x" * 64), "sig must be 64 bytes"),
    ],
)
def test_invalid_commits(value: Any, reason: str) -> None:
    block = encode_dag_cbor(value)
    with pytest.raises(RepoError, match=reason) as caught:
        Commit.decode(block)
    assert caught.value.cid == cid_for(block)


@pytest.mark.parametrize("block", [b"", b"\xa1", b"\xff", b"\xa0\x00"])
def test_undecodable_commits(block: bytes) -> None:
    with pytest.raises(RepoError, match="not canonical DAG-CBOR"):
        Commit.decode(block)


def test_non_canonical_commit_is_refused() -> None:
    block = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV).encode()
    assert block.endswith(b"\x67version\x03")
    with pytest.raises(RepoError, match="not canonical DAG-CBOR"):
        Commit.decode(block[:-1] + b"\x18\x03")


def test_sign_refuses_bad_arguments() -> None:
    with pytest.raises(RepoError, match="is not a DID"):
        Commit.sign(KEYPAIR, did="alice", data=DATA, rev=REV)
    with pytest.raises(RepoError, match="is not a TID"):
        Commit.sign(KEYPAIR, did=DID, data=DATA, rev="later")
    with pytest.raises(TypeError):
        Commit.sign(KEYPAIR, did=DID, data=str(DATA), rev=REV)  # type: ignore[arg-type]


def test_decoded_commit_keeps_the_signed_bytes() -> None:
    commit = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV)
    value: Any = decode_dag_cbor(commit.encode())
    del value["sig"]
    assert encode_dag_cbor(value) == Commit.decode(commit.encode()).unsigned_bytes()


def _strict(block: bytes) -> Commit:
    """What the strict path alone reads (the fast path bypassed)."""
    value = decode_dag_cbor(block)
    assert _problem(value) is None
    return Commit(
        **{name: value.get(name) for name in ("did", "version", "data", "rev", "prev", "sig")}
    )


@settings(max_examples=200, deadline=None)
@given(
    did=st.from_regex(r"did:plc:[a-z2-7]{24}|did:web:[a-z]{1,300}\.com", fullmatch=True),
    rev=st.from_regex(r"[2-7a-j][2-7a-z]{12}", fullmatch=True),
    prev=st.none() | st.binary(max_size=8).map(cid_for),
    sig=st.binary(min_size=64, max_size=64),
)
def test_usual_commits_take_the_fast_path_and_keep_the_signed_bytes(
    did: str, rev: str, prev: CID | None, sig: bytes
) -> None:
    block = Commit(did=did, version=3, data=DATA, rev=rev, prev=prev, sig=sig).encode()
    fast = _read_v3(Commit, block)
    if len(did) < 256:  # a did of 256 bytes or more has a three-byte head: the strict path
        assert fast is not None
        assert fast == _strict(block)
        assert fast.unsigned_bytes() == fast._encode(signed=False)
        assert fast.unsigned_bytes() == encode_dag_cbor(
            fields(did=did, rev=rev, prev=prev, sig=...)
        )
    assert Commit.decode(block) == _strict(block)


_SIGNED = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV).encode()


@settings(max_examples=500, deadline=None)
@given(
    position=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
    how=st.sampled_from(["replace", "insert", "delete"]),
)
def test_mutated_commits_raise_only_repo_errors(position: int, byte: int, how: str) -> None:
    at = position % len(_SIGNED)
    if how == "replace":
        block = _SIGNED[:at] + bytes((byte,)) + _SIGNED[at + 1 :]
    elif how == "insert":
        block = _SIGNED[:at] + bytes((byte,)) + _SIGNED[at:]
    else:
        block = _SIGNED[:at] + _SIGNED[at + 1 :]
    fast = _read_v3(Commit, block)
    if fast is not None:  # the fast path accepts only what the strict path accepts
        assert fast == _strict(block)
        assert fast.unsigned_bytes() == fast._encode(signed=False)
    with contextlib.suppress(RepoError):  # anything else (a KeyError, a CBOR error...) fails
        Commit.decode(block)


@pytest.mark.parametrize(
    "value",
    [
        fields(version=2),  # version 2: the strict path
        fields(prev=cid_for_raw(b"x")),  # not a node link: refused by the strict path
        fields(did="did:plc:\u00e9" + "a" * 23),  # not ASCII
        fields(rev="3jzfcijpj2z2A"),  # not a TID
    ],
)
def test_unusual_commits_do_not_take_the_fast_path(value: dict[str, Any]) -> None:
    assert _read_v3(Commit, encode_dag_cbor(value)) is None


def test_the_signed_bytes_kept_are_not_part_of_the_value() -> None:
    decoded = Commit.decode(_SIGNED)
    assert decoded._unsigned is not None
    built = Commit.sign(KEYPAIR, did=DID, data=DATA, rev=REV)
    assert built._unsigned is None
    assert decoded == built
    assert hash(decoded) == hash(built)
    assert repr(decoded) == repr(built)
    assert attrs.evolve(decoded, rev="3jzfcijpj2z2b")._unsigned is None
    assert not attrs.evolve(decoded, rev="3jzfcijpj2z2b").verify(KEYPAIR.public_key)
