"""CAR v1 files: a header naming root CIDs, then blocks, each prefixed by its CID.

Layout: ``varint(len) header`` where the header is DAG-CBOR ``{"version": 1, "roots": [CID]}``,
then sections ``varint(len) CID block`` until the end. Repository exports, ``getRecord`` proofs
and every firehose ``#commit`` carry their blocks this way.
Spec: https://atproto.com/specs/repository#car-file-serialization and
https://ipld.io/specs/transport/car/carv1/

Reading builds only an index (binary CID -> offsets); a block's bytes are sliced when it is
looked up, so a caller who needs one record of a large export does not pay for the rest, and a
`CID` object is made only for the keys a caller iterates over. The usual one-root header is
recognised by its bytes, and one- and two-byte section lengths are read inline. The firehose,
which needs one or two blocks of each commit, uses `find_block` and `BlockFinder`: they read
sections only as far as the block sought. Every varint and length is checked against the
bytes that remain before it is used.

Nearly every section a commit carries has a one- or two-byte length and a sha2-256 CIDv1.
`find_block` and `_index_sections` walk such sections with the fewest steps, and hash a block
against the CID's digest as it lies; at the first section of any other form, or a wrong one,
the general walks (`_find_from`, `_index_from`) take over from that section and raise every
error they always raised (``tests/ipld/test_car_fastwalk.py`` runs both on the same bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from atproto_async.exceptions import DecodeError
from atproto_async.ipld._varint import encode_varint, read_varint
from atproto_async.ipld.cid import (
    CID,
    DAG_CBOR_SHA256_PREFIX,
    HASH_SHA2_256,
    MAX_CID_SIZE,
    SHA256_CID_PREFIXES,
    SHA256_CID_SIZE,
    SHA256_LINK_HEAD,
    SHA256_MULTIHASH_HEAD,
    TAGGED_DAG_CBOR_SHA256_PREFIX,
    _cid_from_raw,
)
from atproto_async.ipld.dag_cbor import decode_dag_cbor, encode_dag_cbor

__all__ = ["Car", "CarBlocks", "read_car", "write_car"]

#: The largest header accepted; real headers hold a root or two (about 50 bytes).
MAX_HEADER_SIZE: Final = 64 * 1024

_SHA256_CID_PREFIX_SET: Final = frozenset(SHA256_CID_PREFIXES)
_SHA256_CID_PREFIX_SIZE: Final = len(DAG_CBOR_SHA256_PREFIX)
_sha256: Final = hashlib.sha256

# The usual header, ``{"roots": [<dag-cbor sha2-256 CIDv1>], "version": 1}`` in canonical
# DAG-CBOR behind its one-byte length (58): the head (18 bytes, up to the CID's digest), the
# binary CID of the root from offset 14 to 50, then the tail.
_ONE_ROOT_HEADER_HEAD: Final = (
    b"\x3a\xa2\x65roots\x81" + SHA256_LINK_HEAD + TAGGED_DAG_CBOR_SHA256_PREFIX
)
_ONE_ROOT_HEADER_HEAD_SIZE: Final = len(_ONE_ROOT_HEADER_HEAD)
_ONE_ROOT_CID_START: Final = _ONE_ROOT_HEADER_HEAD_SIZE - len(DAG_CBOR_SHA256_PREFIX)
_ONE_ROOT_CID_END: Final = _ONE_ROOT_CID_START + SHA256_CID_SIZE
_ONE_ROOT_HEADER_TAIL: Final = b"\x67version\x01"
_ONE_ROOT_HEADER_SIZE: Final = _ONE_ROOT_CID_END + len(_ONE_ROOT_HEADER_TAIL)


def _cid_end(data: bytes, pos: int, limit: int) -> int:
    """Return where the binary CID starting at ``pos`` ends (it must end before ``limit``)."""
    if limit - pos >= 34 and data[pos] == HASH_SHA2_256 and data[pos + 1] == 32:
        return pos + 34  # CIDv0
    version, cursor = read_varint(data, pos, "CID version", "CAR")
    if version != 1:
        raise DecodeError(f"invalid CAR: block CID at offset {pos} has version {version}")
    cursor = read_varint(data, cursor, "CID codec", "CAR")[1]
    cursor = read_varint(data, cursor, "multihash code", "CAR")[1]
    length, cursor = read_varint(data, cursor, "digest length", "CAR")
    end = cursor + length
    if end > limit or end - pos > MAX_CID_SIZE:
        raise DecodeError(f"invalid CAR: block CID at offset {pos} runs past its section")
    return end


def _section_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read the length of the section at ``pos``: its value, and where the section's CID starts.

    A length of one or two varint bytes (every section of a commit's CAR, nearly every one of
    an export) is read inline; a longer one, or one running past ``end``, by `read_varint`,
    which refuses a non-minimal, overlong or truncated varint.
    """
    size = data[pos]
    if size < 0x80:
        return size, pos + 1
    if pos + 1 < end and 0 < data[pos + 1] < 0x80:
        return (size & 0x7F) | (data[pos + 1] << 7), pos + 2
    return read_varint(data, pos, "section length", "CAR")


class CarBlocks(Mapping[CID, bytes]):
    """The blocks of a CAR: a read-only mapping from CID to block bytes, sliced on access.

    The index is keyed by the binary CIDs sliced from the file; a `CID` object is made only
    for the keys a caller iterates over.
    """

    __slots__ = ("_data", "_index")

    def __init__(self, data: bytes, index: dict[bytes, tuple[int, int]]) -> None:
        self._data = data
        self._index = index

    def __getitem__(self, cid: CID) -> bytes:
        if type(cid) is not CID:
            raise KeyError(cid)
        start, end = self._index[cid._tagged[1:]]
        return self._data[start:end]

    def __contains__(self, cid: object) -> bool:
        return type(cid) is CID and cid._tagged[1:] in self._index

    def __iter__(self) -> Iterator[CID]:
        return map(_cid_from_raw, self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"<CarBlocks: {len(self._index)} blocks>"


class Car:
    """A read CAR file: its ``roots`` and its ``blocks`` (CID -> bytes)."""

    __slots__ = ("blocks", "roots")

    def __init__(self, roots: list[CID], blocks: Mapping[CID, bytes]) -> None:
        self.roots = roots
        self.blocks = blocks

    def __repr__(self) -> str:
        return f"<Car roots={self.roots!r} blocks={len(self.blocks)}>"


def _read_header(data: bytes) -> tuple[list[CID], int]:
    if data.startswith(_ONE_ROOT_HEADER_HEAD) and data.startswith(
        _ONE_ROOT_HEADER_TAIL, _ONE_ROOT_CID_END
    ):
        # Exactly these 59 bytes decode to {"roots": [<the CID>], "version": 1}: nothing else
        # to check.
        return [_cid_from_raw(data[_ONE_ROOT_CID_START:_ONE_ROOT_CID_END])], _ONE_ROOT_HEADER_SIZE
    size, pos = read_varint(data, 0, "header length", "CAR")
    if size == 0:
        raise DecodeError("invalid CAR: empty header")
    if size > MAX_HEADER_SIZE:
        raise DecodeError(f"invalid CAR: header of {size} bytes, above {MAX_HEADER_SIZE}")
    if size > len(data) - pos:
        raise DecodeError(f"truncated CAR: header declares {size} bytes, {len(data) - pos} remain")
    header = decode_dag_cbor(data[pos : pos + size], strict=False)
    if type(header) is not dict:
        raise DecodeError("invalid CAR: header is not a map")
    if header.get("version") != 1 or type(header.get("version")) is not int:
        raise DecodeError(f"invalid CAR: unsupported version {header.get('version')!r}")
    roots = header.get("roots")
    if type(roots) is not list or not all(type(root) is CID for root in roots):
        raise DecodeError("invalid CAR: header roots must be a list of CIDs")
    return roots, pos + size


def _index_sections(
    data: bytes,
    pos: int,
    index: dict[bytes, tuple[int, int]],
    wanted: bytes | None = None,
    verify: bool = False,
) -> int:
    """Index the sections from ``pos`` on; stop after the one whose CID is ``wanted``.

    Each new binary CID maps to the offsets of its block (a repeated CID keeps the first).
    Returns where indexing stopped: the end of ``data``, or the end of the wanted section.
    With ``verify``, every block (repeats too) is hashed and compared with its CID.
    """
    # Sections of the usual form - a length of one or two bytes, a sha2-256 CIDv1 - are read
    # with the fewest steps, and with ``verify`` the block's sha2-256 is compared with the
    # CID's last 32 bytes as they lie, without a CID object: read_car(verify=True) of a
    # verified commit 18.6 us down to 11.5 (``benchmarks/bench_sync.py --breakdown``), of a
    # live-layout commit of ``benchmarks/bench_stream.py`` 11.1 us down to 7.1. At
    # the first section of another form, or one that is wrong (a hash that differs, a length
    # past the end), `_index_from` takes over from that section: it reads every form and
    # raises every error of the general walk.
    # The section length is read here, not by `_section_length` as in the general walks: the
    # call per section made read_car(verify=True) of a verified commit 11.9 us instead of 10.9
    # (``benchmarks/bench_sync.py --breakdown``, best of three interleaved runs each).
    end = len(data)
    sha256 = _sha256
    try:
        while pos < end:
            size = data[pos]
            if size < 0x80:
                start = pos + 1
            else:
                high = data[pos + 1]
                if not 0 < high < 0x80:
                    break
                size = (size & 0x7F) | (high << 7)
                start = pos + 2
            section_end = start + size
            if section_end > end or size < SHA256_CID_SIZE:
                break
            cid_end = start + SHA256_CID_SIZE
            raw = data[start:cid_end]
            if raw[:_SHA256_CID_PREFIX_SIZE] not in _SHA256_CID_PREFIX_SET:
                break
            if (
                verify
                and sha256(data[cid_end:section_end]).digest() != raw[_SHA256_CID_PREFIX_SIZE:]
            ):
                break
            if raw not in index:
                index[raw] = (cid_end, section_end)
                if raw == wanted:
                    return section_end
            pos = section_end
        else:
            return pos
    except IndexError:  # a length byte at the very end
        pass
    return _index_from(data, pos, index, wanted, verify)


def _index_from(
    data: bytes,
    pos: int,
    index: dict[bytes, tuple[int, int]],
    wanted: bytes | None,
    verify: bool,
) -> int:
    """`_index_sections` from the section at ``pos`` on, for sections of any form."""
    end = len(data)
    while pos < end:
        section_start = pos
        size, pos = _section_length(data, pos, end)
        if size > end - pos:
            raise DecodeError(
                f"truncated CAR: section at offset {section_start} declares {size} bytes, "
                f"{end - pos} remain"
            )
        section_end = pos + size
        if size >= SHA256_CID_SIZE and data.startswith(SHA256_CID_PREFIXES, pos):
            cid_end = pos + SHA256_CID_SIZE  # the common sha2-256 CIDv1, no varints to parse
        else:
            cid_end = _cid_end(data, pos, section_end)
        raw = data[pos:cid_end]
        if verify:
            _verify_block(raw, data, cid_end, section_end, section_start)
        if raw not in index:
            index[raw] = (cid_end, section_end)
            if raw == wanted:
                return section_end
        pos = section_end
    return pos


def read_car(data: bytes | bytearray | memoryview, *, verify: bool = False) -> Car:
    """Read a CAR v1 file held in memory.

    Args:
        data: The whole file.
        verify: Hash every block and compare with its CID (sha2-256 CIDs only).

    Returns:
        The roots and a lazily sliced block mapping. When a CID occurs twice, the first block
        is kept.

    Raises:
        DecodeError: The bytes are not a CAR v1 file, a length runs past the end, or (with
            ``verify``) a block does not match its CID.
    """
    if type(data) is not bytes:
        data = bytes(data)
    roots, pos = _read_header(data)
    index: dict[bytes, tuple[int, int]] = {}
    _index_sections(data, pos, index, verify=verify)
    return Car(roots, CarBlocks(data, index))


def find_block(data: bytes, cid: CID) -> bytes | None:
    """Return the block of the first section of CAR ``data`` stored under ``cid``, or None.

    For one lookup in a CAR (a firehose commit usually carries one record): the header and
    the sections before the block are checked, comparing bytes and storing nothing; sections
    after it are not read, so a fault there goes unnoticed (`read_car` checks the whole
    file). For several lookups in the same CAR, `BlockFinder` stays linear. Not part of the
    public API.

    Raises:
        DecodeError: The header, or a section before the block, is invalid.
    """
    # Slices are compared below, not ``startswith``, which parses its arguments on every call
    # (callgrind: about 500 instructions more each time).
    raw = cid._tagged[1:]
    if (
        data[:_ONE_ROOT_HEADER_HEAD_SIZE] != _ONE_ROOT_HEADER_HEAD
        or data[_ONE_ROOT_CID_END:_ONE_ROOT_HEADER_SIZE] != _ONE_ROOT_HEADER_TAIL
    ):
        return _find_from(data, _read_header(data)[1], raw)
    if len(raw) != SHA256_CID_SIZE:
        return _find_from(data, _ONE_ROOT_HEADER_SIZE, raw)
    # The usual CAR of a commit: a sha2-256 CID sought, section lengths of one or two bytes,
    # sha2-256 CIDs. Sections of that form are walked with the fewest steps; at the first
    # that is not (or at the end of the bytes), `_find_from` goes on from that section with
    # every check and every error of the general walk. 2.6 us down to 2.46 for the record of
    # a one-op commit of ``benchmarks/bench_stream.py``'s live layout, 4.6 sections in (best
    # of 15 interleaved timings of both versions on those commits). The section length is read
    # here, not by `_section_length`: that call per section cost 6.9k instructions more per
    # live-layout frame of ``benchmarks/bench_stream.py`` with its records read, 191.5k
    # against 184.6k (+3.7%; callgrind, 1,000 frames of ``benchmarks/make_frames.py``).
    pos = _ONE_ROOT_HEADER_SIZE
    end = len(data)
    section = pos
    try:
        while pos < end:
            section = pos
            size = data[pos]
            if size < 0x80:
                start = pos + 1
            else:
                high = data[pos + 1]
                if not 0 < high < 0x80:
                    break
                size = (size & 0x7F) | (high << 7)
                start = pos + 2
            pos = start + size
            if pos > end or size < SHA256_CID_SIZE:
                break
            if data[start : start + SHA256_CID_SIZE] == raw:
                return data[start + SHA256_CID_SIZE : pos]
            if not data.startswith(SHA256_CID_PREFIXES, start):
                break
        else:
            return None
    except IndexError:  # a length byte at the very end
        pass
    return _find_from(data, section, raw)


def _find_from(data: bytes, pos: int, raw: bytes) -> bytes | None:
    """`find_block` from the section at ``pos`` on, with every check (``raw``: the CID)."""
    width = len(raw)
    end = len(data)
    while pos < end:
        size, start = _section_length(data, pos, end)
        if size > end - start:
            raise DecodeError(
                f"truncated CAR: section at offset {pos} declares {size} bytes, "
                f"{end - start} remain"
            )
        pos = start + size
        # A CID is self-delimiting: a section whose bytes start with a whole valid CID has
        # that CID. Any other section's CID is still parsed, to check it.
        if size >= width and data[start : start + width] == raw:
            return data[start + width : pos]
        if not (size >= SHA256_CID_SIZE and data.startswith(SHA256_CID_PREFIXES, start)):
            _cid_end(data, start, pos)
    return None


class BlockFinder:
    """Find blocks of a CAR by CID, indexing its sections only as far as the block sought.

    Each section is read at most once however many lookups there are; sections after the
    last block sought are not read (see `find_block`). Not part of the public API.

    Raises:
        DecodeError: The header is invalid (on creation), or a section before the block
            sought is (on lookup).
    """

    __slots__ = ("_data", "_index", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = _read_header(data)[1]
        self._index: dict[bytes, tuple[int, int]] = {}

    def get(self, cid: CID) -> bytes | None:
        """Return the first block stored under ``cid``, or None when the CAR has none."""
        raw = cid._tagged[1:]
        index = self._index
        found = index.get(raw)
        if found is None:
            data = self._data
            if self._pos >= len(data):
                return None
            self._pos = _index_sections(data, self._pos, index, raw)
            found = index.get(raw)
            if found is None:
                return None
        return self._data[found[0] : found[1]]


def _verify_block(raw: bytes, data: bytes, start: int, end: int, offset: int) -> None:
    cid = _cid_from_raw(raw)
    multihash = cid.multihash
    if multihash[:2] != SHA256_MULTIHASH_HEAD:
        raise DecodeError(
            f"cannot verify block at offset {offset}: CID {cid} does not use sha2-256"
        )
    if hashlib.sha256(memoryview(data)[start:end]).digest() != multihash[2:]:
        raise DecodeError(f"CAR block at offset {offset} does not hash to its CID {cid}")


def write_car(
    roots: Iterable[CID], blocks: Mapping[CID, bytes] | Iterable[tuple[CID, bytes]]
) -> bytes:
    """Write a CAR v1 file.

    Args:
        roots: The root CIDs, in order.
        blocks: The blocks, as a mapping or as ``(cid, bytes)`` pairs (written in that order).

    Returns:
        The file's bytes.
    """
    header = encode_dag_cbor({"version": 1, "roots": list(roots)})
    parts = [encode_varint(len(header)), header]
    pairs = blocks.items() if isinstance(blocks, Mapping) else blocks
    for cid, block in pairs:
        raw = bytes(cid)
        parts.append(encode_varint(len(raw) + len(block)))
        parts.append(raw)
        parts.append(bytes(block))
    return b"".join(parts)
