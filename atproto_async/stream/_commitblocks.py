"""The blocks of one firehose commit, shared by its ops: how a record is found and read.

A record read finds its block in the commit's CAR slice, checks it against its CID (sha2-256)
unless the decoder was told not to (``verify_records=False``, so that a relay cannot swap a
record's bytes unnoticed), and decodes it: likes, reposts and follows straight from their
bytes (`_records.read_usual_record`), anything else with the fast DAG-CBOR decoder and a
check for floats. Not part of the public API: `events.RepoOp` and `events.Commit` use it.

Specs: https://atproto.com/specs/sync#firehose and https://atproto.com/specs/data-model
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, Final

from atproto_async.exceptions import (
    DecodeError,
    FrameDecodeError,
    LexiconValidationError,
    caused_by,
)
from atproto_async.ipld import CID, decode_dag_cbor, read_car
from atproto_async.ipld._scan import explain, is_canonical
from atproto_async.ipld.car import BlockFinder, find_block
from atproto_async.ipld.cid import TAGGED_DAG_CBOR_SHA256_PREFIX, TAGGED_SHA256_PREFIX_SIZE
from atproto_async.ipld.dag_cbor import decode_dag_cbor_at
from atproto_async.stream._records import read_usual_record

if TYPE_CHECKING:
    from atproto_async.ipld import Car
    from atproto_async.lexicon import Catalog
    from atproto_async.stream.frames import _Limits

__all__ = ["CommitBlocks"]

logger = logging.getLogger("atproto_async.stream")

_sha256: Final = hashlib.sha256


class CommitBlocks:
    """The blocks of one commit, shared by its ops.

    A record read finds its block with `find_block` (the first) or a `BlockFinder` (the
    rest, or all of them when the commit has ``several`` ops), which check the CAR header and
    read sections only as far as that block;
    ``Commit.car`` parses and checks the whole CAR. (Decoding the block where it lies in the
    CAR, without slicing it out, is slower: cbor2 reads ahead up to 4 KiB from its file.)
    ``limits`` says whether blocks are hashed against their CIDs and whether records that
    cannot be read are skipped; ``_skipped`` (set on the first skip) maps their paths to why.
    """

    __slots__ = (
        "_car",
        "_finder",
        "_looked_up",
        "_skipped",
        "data",
        "limits",
        "repo",
        "seq",
        "too_big",
    )

    def __init__(
        self,
        data: bytes,
        seq: int,
        repo: str,
        too_big: bool,
        limits: _Limits,
        several: bool = False,
    ) -> None:
        self.data = data
        self.seq = seq
        self.repo = repo
        self.too_big = too_big
        self.limits = limits
        self._car: Car | None = None
        #: The first record is looked up without an index (`find_block`); the next ones
        #: through a `BlockFinder`, made then. With ``several`` records to read, the first
        #: read already indexes, so that the sections before it are walked once, not again
        #: for the second record: 12-17% less time for decode_frame + op.record on the
        #: commits of 2-6 ops of the live layout of ``benchmarks/bench_stream.py`` (8% on
        #: those of 7-50 ops).
        self._finder: BlockFinder | None = None
        self._looked_up = several  # True once a lookup went without the index
        self._skipped: dict[str, FrameDecodeError]  # set by `skip`, when first needed

    def _invalid(self, exc: DecodeError, path: str | None = None) -> FrameDecodeError:
        reading = "" if path is None else f" (reading {path})"
        return FrameDecodeError(
            f"#commit seq {self.seq} of {self.repo}: blocks are not a valid CAR{reading}: {exc}"
        )

    @property
    def car(self) -> Car:
        car = self._car
        if car is None:
            try:
                car = read_car(self.data)
            except DecodeError as exc:
                raise caused_by(self._invalid(exc), exc)
            self._car = car
        return car

    def record_data(self, cid: CID, path: str) -> Any:
        """Return the decoded record block for ``cid``, or None when a tooBig commit lacks it.

        Raises:
            FrameDecodeError: The block is missing, does not hash to ``cid`` (when checked),
                or is not a DAG-CBOR map of the data model.
        """
        data = self.data
        try:
            finder = self._finder
            if finder is not None:
                block = finder.get(cid)
            elif self._looked_up:
                finder = self._finder = BlockFinder(data)
                block = finder.get(cid)
            else:  # the first record of the commit, usually its only one
                self._looked_up = True
                block = find_block(data, cid)
        except DecodeError as exc:
            raise caused_by(self._invalid(exc, path), exc)
        if block is None:
            if self.too_big:
                # tooBig commits carry only the commit block; the consumer fetches the rest.
                return None
            raise FrameDecodeError(
                f"#commit seq {self.seq} of {self.repo}: the record block {cid} of {path} "
                "is missing from the commit's blocks"
            )
        if self.limits.verify_records:
            # sha256 of a 350-byte record costs 0.4 us in hashlib (mostly OpenSSL setting up),
            # about 0.7 us in place: 6-9% of decode_frame + op.record in
            # benchmarks/bench_stream.py (compare its verify_records=False row).
            # A record a PDS writes has a dag-cbor sha2-256 CID: its digest follows the prefix.
            tagged = cid._tagged
            if (
                tagged[:TAGGED_SHA256_PREFIX_SIZE] != TAGGED_DAG_CBOR_SHA256_PREFIX
                or _sha256(block).digest() != tagged[TAGGED_SHA256_PREFIX_SIZE:]
            ):
                self._check_other_cid(cid, path, block)
        record = read_usual_record(block)  # a like, repost or follow: read directly
        if record is None:
            record = self._decode(block, path)
        catalog = self.limits.catalog
        if catalog is not None:  # validate_records: checked where read, costing nothing before
            self._check_lexicon(record, path, catalog)
        return record

    def _decode(self, block: bytes, path: str) -> dict[str, Any]:
        """Decode a record block that is not a like, repost or follow (strict where it counts)."""
        try:
            record = decode_dag_cbor_at(block)
        except DecodeError as exc:
            raise caused_by(
                FrameDecodeError(
                    f"#commit seq {self.seq} of {self.repo}: record {path} is not DAG-CBOR: {exc}"
                ),
                exc,
            )
        # The fast decoding lets floats through (and simple values, non-minimal forms...).
        # The head of a float (f9, fa, fb) can appear elsewhere only inside byte strings and
        # integer arguments (never in UTF-8 text), so the bytes are read only when one
        # occurs: the three searches cost 0.2 us for a 350-byte block where the byte pass
        # costs 1.6 us (only 1 record in 5 gets here: under 1% of a frame with its record).
        if (b"\xf9" in block or b"\xfa" in block or b"\xfb" in block) and not is_canonical(
            block, 0, len(block)
        ):
            raise FrameDecodeError(
                f"#commit seq {self.seq} of {self.repo}: record {path} is not valid "
                f"DAG-CBOR: {explain(block)}"
            )
        if type(record) is not dict:
            raise FrameDecodeError(
                f"#commit seq {self.seq} of {self.repo}: record {path} is not a map"
            )
        return record

    def _check_lexicon(self, record: Any, path: str, catalog: Catalog) -> None:
        """Refuse a record that does not match its lexicon; a collection the catalog does not
        know (a third-party lexicon) passes. A mismatch is a `FrameDecodeError`, which
        ``RepoOp.record`` turns into None and ``record_error`` when invalid records are skipped.
        """
        collection, _, rkey = path.partition("/")
        if collection not in catalog:
            return
        try:
            catalog.validate_record(record, collection=collection, rkey=rkey)
        except LexiconValidationError as exc:
            raise caused_by(
                FrameDecodeError(
                    f"#commit seq {self.seq} of {self.repo}: record {path} does not match "
                    f"its lexicon: {exc}"
                ),
                exc,
            )

    def _check_other_cid(self, cid: CID, path: str, block: bytes) -> None:
        """Check ``block`` against a CID that is not a sha2-256 dag-cbor CIDv1 (or mismatched)."""
        where = f"#commit seq {self.seq} of {self.repo}: record {path}"
        if cid.hash_code != 0x12:
            raise FrameDecodeError(
                f"{where}: its CID {cid} is not sha2-256, so its block cannot be checked "
                "(decode with verify_records=False to accept it unchecked)"
            )
        if not cid.verify(block):
            raise FrameDecodeError(f"{where}: the block does not hash to its CID {cid}")

    def strict_problem(self, cid: CID) -> str | None:
        """Why the block of ``cid`` is not strict DAG-CBOR, or None (run after a failure)."""
        try:
            block = find_block(self.data, cid)  # found before: the CAR is sound that far
            if block is None:
                return None
            decode_dag_cbor(block)
        except DecodeError as exc:
            return str(exc)
        return None

    def skip(self, path: str, uri: str, exc: FrameDecodeError) -> None:
        """Remember and log a record that cannot be read (``skip_invalid_records``)."""
        try:
            skipped = self._skipped
        except AttributeError:
            skipped = self._skipped = {}
        if path in skipped:
            return  # logged already (``record_data`` is not cached)
        skipped[path] = exc
        logger.warning("skipped the invalid record %s (seq %d): %s", uri, self.seq, exc)

    def skipped(self, path: str) -> FrameDecodeError | None:
        """Why the record at ``path`` was skipped, or None."""
        try:
            return self._skipped.get(path)
        except AttributeError:
            return None
