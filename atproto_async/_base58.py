"""base58btc (the Bitcoin alphabet): CIDv0 strings and the multibase ``z`` form of keys.

Spec: https://datatracker.ietf.org/doc/html/draft-msporny-base58 (leading zero bytes are
spelled ``1``). Inputs are a few dozen characters (callers cap the length first), so plain
integer arithmetic is both the simplest and a fast enough way. Shared by ``ipld`` (CIDs) and
``crypto`` (did:key, Multikey); each maps the ValueError to its own exception.
"""

from __future__ import annotations

from typing import Final

__all__ = ["b58decode", "b58encode"]

_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX: Final = {char: digit for digit, char in enumerate(_ALPHABET)}


def b58encode(data: bytes) -> str:
    """Return the base58btc spelling of ``data`` (no multibase prefix)."""
    zeros = len(data) - len(data.lstrip(b"\x00"))
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """Return the bytes spelled by ``text`` in base58btc (no multibase prefix).

    Raises:
        ValueError: ``text`` holds a character outside the alphabet (the message names it).
    """
    number = 0
    index = _INDEX
    for char in text:
        digit = index.get(char)
        if digit is None:
            raise ValueError(f"{char!r} is not a base58btc character")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * zeros + body
