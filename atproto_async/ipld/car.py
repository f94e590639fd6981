"""CAR v1 files: a header naming root CIDs, then blocks, each prefixed by its CID.

Layout: ``varint(len) header`` where the header is DAG-CBOR ``{"version": 1, "roots": [CID]}``,
then sections ``varint(len) CID block`` until the end. Repository exports, ``getRecord`` proofs
and every firehose ``#commit`` carry their blocks this way.
Spec: https://atproto.com/specs/repository#car-file-serialization and
https://ipld.io/specs/transport/car/carv1/

Reading builds only an index (CID -> offsets); a block's bytes are sliced when it is looked up,
so a caller who needs one record of a large export does not pay for the rest. Every varint and
length is checked against the bytes that remain before it is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from atproto_async.exceptions import DecodeError
from atproto_async.ipld.cid import CID, HASH_SHA2_256, MAX_CID_SIZE
from atproto_async.ipld.dag_cbor import decode_dag_cbor, encode_dag_cbor

__all__ = ["Car", "CarBlocks", "read_car", "write_car"]

#: The largest header accepted; real headers hold a root or two (about 50 bytes).
MAX_HEADER_SIZE: Final = 64 * 1024

_SHA256_CID_PREFIXES: Final = (b"\x01\x71\x12\x20", b"\x01\x55\x12\x20")
_SHA256_CID_SIZE: Final = 36


def _read_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """Read a minimal unsigned varint of at most 9 bytes at ``pos``."""
    value = 0
    shift = 0
    start = pos
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError(f"truncated CAR: {what} varint at offset {start} runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and pos - start > 1:
                raise DecodeError(f"invalid CAR: non-minimal {what} varint at offset {start}")
            return value, pos
        shift += 7
        if shift >= 63:
            raise DecodeError(f"invalid CAR: {what} varint at offset {start} is too long")


def _cid_end(data: bytes, pos: int, limit: int) -> int:
    """Return where the binary CID starting at ``pos`` ends (it must end before ``limit``)."""
    if limit - pos >= 34 and data[pos] == HASH_SHA2_256 and data[pos + 1] == 32:
        return pos + 34  # CIDv0
    version, cursor = _read_varint(data, pos, "CID version")
    if version != 1:
        raise DecodeError(f"invalid CAR: block CID at offset {pos} has version {version}")
    cursor = _read_varint(data, cursor, "CID codec")[1]
    cursor = _read_varint(data, cursor, "multihash code")[1]
    length, cursor = _read_varint(data, cursor, "digest length")
    end = cursor + length
    if end > limit or end - pos > MAX_CID_SIZE:
        raise DecodeError(f"invalid CAR: block CID at offset {pos} runs past its section")
    return end


class CarBlocks(Mapping[CID, bytes]):
    """The blocks of a CAR: a read-only mapping from CID to block bytes, sliced on access."""

    __slots__ = ("_data", "_index")

    def __init__(self, data: bytes, index: dict[CID, tuple[int, int]]) -> None:
        self._data = data
        self._index = index

    def __getitem__(self, cid: CID) -> bytes:
        start, end = self._index[cid]
        return self._data[start:end]

    def __contains__(self, cid: object) -> bool:
        return cid in self._index

    def __iter__(self) -> Iterator[CID]:
        return iter(self._index)

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
    size, pos = _read_varint(data, 0, "header length")
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
    end = len(data)
    index: dict[CID, tuple[int, int]] = {}
    from_bytes = CID.from_bytes
    while pos < end:
        section_start = pos
        if data[pos] < 0x80:  # the common short section: a one-byte length
            size = data[pos]
            pos += 1
        else:
            size, pos = _read_varint(data, pos, "section length")
        if size > end - pos:
            raise DecodeError(
                f"truncated CAR: section at offset {section_start} declares {size} bytes, "
                f"{end - pos} remain"
            )
        section_end = pos + size
        if size >= _SHA256_CID_SIZE and data.startswith(_SHA256_CID_PREFIXES, pos):
            cid_end = pos + _SHA256_CID_SIZE  # the common sha2-256 CIDv1, no varints to parse
        else:
            cid_end = _cid_end(data, pos, section_end)
        cid = from_bytes(data[pos:cid_end])
        if verify:
            _verify_block(cid, data, cid_end, section_end, section_start)
        if cid not in index:
            index[cid] = (cid_end, section_end)
        pos = section_end
    return Car(roots, CarBlocks(data, index))


def _verify_block(cid: CID, data: bytes, start: int, end: int, offset: int) -> None:
    multihash = cid.multihash
    if multihash[:2] != b"\x12\x20":
        raise DecodeError(
            f"cannot verify block at offset {offset}: CID {cid} does not use sha2-256"
        )
    if hashlib.sha256(memoryview(data)[start:end]).digest() != multihash[2:]:
        raise DecodeError(f"CAR block at offset {offset} does not hash to its CID {cid}")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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
    parts = [_varint(len(header)), header]
    pairs = blocks.items() if isinstance(blocks, Mapping) else blocks
    for cid, block in pairs:
        raw = bytes(cid)
        parts.append(_varint(len(raw) + len(block)))
        parts.append(raw)
        parts.append(bytes(block))
    return b"".join(parts)
