"""Unsigned LEB128 varints, as CIDs, multihashes and CAR sections use them.

Spec: https://github.com/multiformats/unsigned-varint (minimal form, at most 9 bytes).
"""

from __future__ import annotations

from atproto_async.exceptions import DecodeError


def read_varint(data: bytes, pos: int, what: str, where: str) -> tuple[int, int]:
    """Read a minimal unsigned varint of at most 9 bytes at ``pos``.

    Args:
        data: The bytes to read from.
        pos: Where the varint starts.
        what: What the varint stands for, for error messages ("section length").
        where: What is being read, for error messages ("CAR", "CID").

    Returns:
        The value and the position just after the varint.

    Raises:
        DecodeError: The varint runs past the end, is not minimal, or is longer than 9 bytes.
    """
    value = 0
    shift = 0
    start = pos
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError(
                f"truncated {where}: {what} varint at offset {start} runs past the end"
            )
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and pos - start > 1:
                raise DecodeError(f"invalid {where}: non-minimal {what} varint at offset {start}")
            return value, pos
        shift += 7
        if shift >= 63:
            raise DecodeError(f"invalid {where}: {what} varint at offset {start} is too long")


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer as a minimal unsigned varint."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
