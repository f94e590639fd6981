"""What the compiled checks share: the `Invalid` signal, value descriptions, data-model rules.

Link and bytes values are read in both forms the data model has: `CID` / ``bytes`` as decoded
from DAG-CBOR, and ``{"$link": str}`` / ``{"$bytes": str}`` as written in JSON.
Spec: https://atproto.com/specs/data-model
"""

from __future__ import annotations

from typing import Any, Final

from atproto_async._model import Blob
from atproto_async.exceptions import DecodeError, InvalidSyntaxError
from atproto_async.ipld import CID, from_json
from atproto_async.syntax import ensure_valid, is_valid_nsid

__all__ = [
    "Invalid",
    "check_data_model",
    "describe",
    "format_problem",
    "json_bytes",
    "json_link",
    "looks_like_type",
    "type_error",
]

#: Deeper data is refused by ``unknown`` checks (as by `atproto_async.ipld` decoding).
MAX_DEPTH: Final = 128


class Invalid(Exception):
    """Data does not match a check. The catalog turns it into `LexiconValidationError`.

    ``parts`` holds the path, innermost segment first: each enclosing object or array check
    appends its key or index while the exception passes through it.
    """

    def __init__(self, reason: str, *parts: str | int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str | int] = list(parts)

    def path(self) -> str:
        """The path as ``embed.images[0].alt`` ("" for the value checked itself)."""
        out: list[str] = []
        for part in reversed(self.parts):
            if type(part) is int:
                out.append(f"[{part}]")
            else:
                out.append(f".{part}" if out else str(part))
        return "".join(out)


def describe(value: Any) -> str:
    """Name the data-model type of ``value`` for an error message (never the value itself)."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is dict:
        if "$link" in value:
            return "a CID link"
        if "$bytes" in value:
            return "bytes"
        return "a blob" if value.get("$type") == "blob" else "an object"
    names = {
        bool: "a boolean",
        int: "an integer",
        str: "a string",
        bytes: "bytes",
        list: "an array",
        float: "a float (floats are not in the data model)",
        CID: "a CID link",
        Blob: "a blob",
    }
    return names.get(kind, kind.__name__)


def type_error(expected: str, value: Any, *parts: str | int) -> Invalid:
    """``must be <expected>, not <what value is>``, at ``parts`` below the current value."""
    return Invalid(f"must be {expected}, not {describe(value)}", *parts)


def format_problem(fmt: str, value: str) -> str:
    """Why ``value`` fails the string format ``fmt`` (asked only once it has failed)."""
    try:
        ensure_valid(fmt, value)
    except InvalidSyntaxError as exc:
        return exc.reason
    return "invalid"


def looks_like_type(name: str) -> bool:
    """Whether ``name`` could name a definition: an NSID, optionally with ``#name``."""
    nsid, hash_sign, fragment = name.partition("#")
    return is_valid_nsid(nsid) and (not hash_sign or (bool(fragment) and "#" not in fragment))


def json_link(value: Any, *parts: str | int) -> CID:
    """Read the JSON form of a link, ``{"$link": str}``, or raise `Invalid`."""
    if type(value) is not dict or "$link" not in value:
        raise type_error("a CID link", value, *parts)
    try:
        cid = from_json(value)
    except DecodeError as exc:
        raise Invalid(f"is not a valid CID link: {exc}", *parts) from None
    assert type(cid) is CID
    return cid


def json_bytes(value: Any) -> bytes:
    """Read the JSON form of bytes, ``{"$bytes": str}``, or raise `Invalid`."""
    if type(value) is not dict or "$bytes" not in value:
        raise type_error("bytes", value)
    try:
        data = from_json(value)
    except DecodeError as exc:
        raise Invalid(f"is not valid bytes: {exc}") from None
    assert type(data) is bytes
    return data


def check_data_model(value: Any, depth: int = 0) -> None:
    """Check that ``value`` holds only data-model values, as ``unknown`` data must.

    Links and bytes may be in either form; nested blobs must be well formed.
    Spec: https://atproto.com/specs/lexicon#unknown
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or kind is bytes:
        return
    if kind is CID or kind is Blob:
        return
    if depth > MAX_DEPTH:
        raise Invalid(f"is nested deeper than {MAX_DEPTH} levels")
    if kind is list:
        for index, item in enumerate(value):
            try:
                check_data_model(item, depth + 1)
            except Invalid as exc:
                exc.parts.append(index)
                raise
        return
    if kind is not dict:
        raise Invalid(f"{describe(value)} is not a data-model value")
    if "$link" in value:
        json_link(value)
        return
    if "$bytes" in value:
        json_bytes(value)
        return
    for key, item in value.items():
        if type(key) is not str:
            raise Invalid(f"map keys must be strings, not {describe(key)}")
        try:
            check_data_model(item, depth + 1)
        except Invalid as exc:
            exc.parts.append(key)
            raise
    type_name = value.get("$type")
    if type_name == "blob":
        if type(value.get("ref")) is not CID:
            json_link(value.get("ref"), "ref")
        if type(value.get("mimeType")) is not str or not value["mimeType"]:
            raise type_error("a MIME type", value.get("mimeType"), "mimeType")
        if type(value.get("size")) is not int or value["size"] < 0:
            raise type_error("a size in bytes", value.get("size"), "size")
    elif "$type" in value and (type(type_name) is not str or not type_name):
        raise type_error("a non-empty string", type_name, "$type")
