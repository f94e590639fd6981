"""The atproto data model, sans-I/O: CIDs, strict DAG-CBOR, CAR files and the JSON form.

Bytes in, values out: nothing here touches the network or asyncio. Decoded values are plain
Python (dict, list, str, int, bool, None, bytes) plus `CID` for links.
Spec: https://atproto.com/specs/data-model
"""

from __future__ import annotations

from atproto_async.exceptions import DecodeError
from atproto_async.ipld.car import Car, CarBlocks, read_car, write_car
from atproto_async.ipld.cid import CID, cid_for_raw
from atproto_async.ipld.dag_cbor import (
    cid_for,
    decode_dag_cbor,
    decode_dag_cbor_multi,
    encode_dag_cbor,
)
from atproto_async.ipld.data_json import from_json, to_json, validate_data_model

__all__ = [
    "CID",
    "Car",
    "CarBlocks",
    "DecodeError",
    "cid_for",
    "cid_for_raw",
    "decode_dag_cbor",
    "decode_dag_cbor_multi",
    "encode_dag_cbor",
    "from_json",
    "read_car",
    "to_json",
    "validate_data_model",
    "write_car",
]
