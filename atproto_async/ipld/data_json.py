"""The JSON form of the atproto data model, and the rules every data-model value follows.

JSON has no bytes and no links, so atproto spells them as objects with one reserved key:
``{"$link": "bafy..."}`` for a CID and ``{"$bytes": "<base64, no padding>"}`` for bytes. A blob
is an ordinary object ``{"$type": "blob", "ref": <link>, "mimeType": ..., "size": ...}`` whose
``ref`` follows the link rule. Floats are not part of the data model; JSON writers may still
print an integer as ``123.0``, which reads back as the integer.
Spec: https://atproto.com/specs/data-model#json-representation

`to_json` also takes the values users hold where the data model has a plainer form: a
``datetime`` (written as an atproto datetime string), a `Blob` and any other generated model
(written as its ``to_dict()``, with its ``$type``). Anything else is a `TypeError` that names
where it was found (``record.embed.images[0].image: object of type Foo is not a data-model
value``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Final

from atproto_async.exceptions import DecodeError
from atproto_async.ipld.cid import CID

__all__ = ["MAX_SAFE_INTEGER", "from_json", "to_json", "validate_data_model"]

#: Integers beyond +/- (2**53 - 1) lose precision in JavaScript, so the data model excludes them.
MAX_SAFE_INTEGER: Final = 2**53 - 1

_MAX_DEPTH: Final = 128


class _NotData(Exception):
    """Internal: a value that is not in the data model; ``parts`` is its path, innermost first."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str | int] = []

    def type_error(self) -> TypeError:
        path = ""
        for part in reversed(self.parts):
            path += f"[{part}]" if type(part) is int else f".{part}" if path else str(part)
        return TypeError(f"{path}: {self.reason}" if path else self.reason)


def to_json(value: Any) -> Any:
    """Return the JSON form of a data-model value (ready for ``json.dumps``).

    Args:
        value: A data-model value: dict, list, str, int, bool, None, bytes or `CID`; or a
            value users hold in its place: a timezone-aware ``datetime`` (written in UTC as
            ``2024-05-01T12:00:00.000Z``, https://atproto.com/specs/lexicon#datetime), a `Blob`
            or another generated model (its ``to_dict()``, plus its ``$type`` when it has one,
            so that it can stand in an open union).

    Returns:
        The same structure with each `CID` as ``{"$link": str}`` and bytes as ``{"$bytes": ...}``.

    Raises:
        TypeError: ``value`` holds something the data model does not have (a float, a tuple, a
            set, a naive ``datetime``, a non-string map key, ...); the message names the path,
            e.g. ``record.embed.images[0].image: object of type Foo is not a data-model value``.
        DecodeError: ``value`` is nested deeper than 128 levels.
    """
    try:
        return _to_json(value, 0)
    except _NotData as exc:
        raise exc.type_error() from None


def _to_json(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if depth > _MAX_DEPTH:
        raise DecodeError(f"value nested deeper than {_MAX_DEPTH} levels")
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotData(f"map keys must be str, got {type(key).__name__}")
            try:
                out[key] = _to_json(item, depth + 1)
            except _NotData as exc:
                exc.parts.append(key)
                raise
        return out
    if kind is list:
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_to_json(item, depth + 1))
            except _NotData as exc:
                exc.parts.append(index)
                raise
        return items
    if kind is CID:
        return {"$link": str(value)}
    if kind is bytes or kind is bytearray or kind is memoryview:
        return {"$bytes": base64.b64encode(value).decode("ascii").rstrip("=")}
    return _to_json(_plain(value), depth)


def _plain(value: Any) -> Any:
    """The data-model form of a value users hold in place of one (see `to_json`).

    Raises:
        _NotData: ``value`` has no data-model form.
    """
    if isinstance(value, datetime):
        return _datetime_text(value)
    kind = type(value)
    if kind is float:
        raise _NotData(f"floats are not allowed in the atproto data model (found {value!r})")
    from atproto_async._model import Blob, Model, dump_member  # not at import: ipld is below

    if kind is Blob:
        return value.to_dict()  # a legacy reference stays without "$type"
    if isinstance(value, Model):
        return dump_member(value)
    hint = " (use a list)" if kind is tuple or kind is set or kind is frozenset else ""
    raise _NotData(f"object of type {kind.__name__} is not a data-model value{hint}")


def _datetime_text(value: datetime) -> str:
    """Write ``value`` as an atproto datetime: UTC, milliseconds, ``Z`` (``...T12:00:00.000Z``).

    This is the form the lexicons' examples and the reference implementation write
    (https://atproto.com/specs/lexicon#datetime). A naive ``datetime`` is refused rather than
    taken as UTC: ``datetime.now()`` is naive *local* time, and reading it as UTC would shift
    the record by the local offset without a word.
    """
    offset = value.utcoffset()
    if offset is None:
        raise _NotData(
            "naive datetime (no tzinfo): atproto datetimes need a time zone, "
            "e.g. datetime.now(UTC) or value.replace(tzinfo=UTC)"
        )
    try:
        utc = (value.replace(tzinfo=None) - offset).isoformat(timespec="milliseconds")
    except OverflowError:
        raise _NotData(f"datetime {value.isoformat()} is out of range in UTC") from None
    return utc + "Z"


def from_json(value: Any) -> Any:
    """Return the data-model value spelled by a parsed JSON value.

    Args:
        value: What ``json.loads`` returned.

    Returns:
        The same structure with ``{"$link"}`` objects as `CID` and ``{"$bytes"}`` objects as
        ``bytes``; integral floats (``123.0``) become ints.

    Raises:
        DecodeError: A ``$link`` or ``$bytes`` object is malformed (wrong type, extra keys, not
            a CID, not base64), or a number is not an integer.
    """
    return _from_json(value, 0)


def _from_json(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if depth > _MAX_DEPTH:
        raise DecodeError(f"value nested deeper than {_MAX_DEPTH} levels")
    if kind is dict:
        if "$link" in value:
            return _link(value)
        if "$bytes" in value:
            return _bytes(value)
        return {key: _from_json(item, depth + 1) for key, item in value.items()}
    if kind is list:
        return [_from_json(item, depth + 1) for item in value]
    if kind is float:
        if value.is_integer():
            return int(value)
        raise DecodeError(f"floats are not allowed in the atproto data model (found {value!r})")
    raise DecodeError(f"{kind.__name__} is not a JSON type")


def _link(value: dict[str, Any]) -> CID:
    text = value["$link"]
    if len(value) != 1:
        raise DecodeError("a $link object must have no other keys")
    if type(text) is not str:
        raise DecodeError(f"$link must be a string, got {type(text).__name__}")
    return CID.decode(text)


def _bytes(value: dict[str, Any]) -> bytes:
    text = value["$bytes"]
    if len(value) != 1:
        raise DecodeError("a $bytes object must have no other keys")
    if type(text) is not str:
        raise DecodeError(f"$bytes must be a string, got {type(text).__name__}")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"$bytes is not valid base64: {exc}") from exc


def validate_data_model(value: Any, *, require_object: bool = True) -> None:
    """Check that ``value`` is a valid atproto data-model value.

    The rules: only maps with text keys, lists, strings, integers within the JavaScript-safe
    range, booleans, null, bytes and CIDs; ``$type``, where present, is a non-empty string; a
    ``{"$type": "blob"}`` map has a CID ``ref``, a non-empty string ``mimeType`` and an integer
    ``size``; the keys ``$link`` and ``$bytes`` are reserved for the JSON form.

    Args:
        value: A data-model value (what `from_json` or `decode_dag_cbor` returns).
        require_object: A record or other top-level node must be a map (the default).

    Raises:
        DecodeError: The first rule broken, with the path to the offending value.
    """
    if require_object and type(value) is not dict:
        raise DecodeError(f"top-level value must be an object, got {type(value).__name__}")
    _validate(value, "$", 0)


def _validate(value: Any, path: str, depth: int) -> None:
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is bytes or kind is CID:
        return
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise DecodeError(f"{path}: integer {value} is outside the safe range +/-(2**53-1)")
        return
    if depth > _MAX_DEPTH:
        raise DecodeError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if kind is list:
        for index, item in enumerate(value):
            _validate(item, f"{path}[{index}]", depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise DecodeError(f"{path}: map keys must be strings, got {type(key).__name__}")
            if key == "$link" or key == "$bytes":
                raise DecodeError(f"{path}: the key {key!r} is reserved for the JSON form")
            _validate(item, f"{path}.{key}", depth + 1)
        if "$type" in value:
            _check_type_field(value, path)
        return
    if kind is float:
        raise DecodeError(f"{path}: floats are not allowed in the atproto data model")
    raise DecodeError(f"{path}: {kind.__name__} is not a data-model type")


def _check_type_field(value: dict[str, Any], path: str) -> None:
    type_name = value["$type"]
    if type(type_name) is not str or not type_name:
        raise DecodeError(f"{path}: $type must be a non-empty string, got {type_name!r}")
    if type_name != "blob":
        return
    if type(value.get("ref")) is not CID:
        raise DecodeError(f"{path}: a blob needs a CID 'ref'")
    mime_type = value.get("mimeType")
    if type(mime_type) is not str or not mime_type:
        raise DecodeError(f"{path}: a blob needs a non-empty string 'mimeType'")
    if type(value.get("size")) is not int:
        raise DecodeError(f"{path}: a blob needs an integer 'size', got {value.get('size')!r}")
