"""Records checked before a write leaves the client (atproto_async/xrpc/records.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from importlib import import_module
from typing import Any

import pytest

from atproto_async._model import Blob
from atproto_async.exceptions import LexiconValidationError
from atproto_async.ipld import cid_for_raw
from atproto_async.lexicon import Catalog
from atproto_async.xrpc import Client, MockTransport, Request, Response
from atproto_async.xrpc.records import check_writes, default_catalog

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TID = "3jzfcijpj2z2a"
POST = "app.bsky.feed.post"
NOW = "2024-05-01T12:00:00.000Z"
PNG = b"\x89PNG fake"
THING = {
    "lexicon": 1,
    "id": "com.example.thing",
    "defs": {
        "main": {
            "type": "record",
            "key": "tid",
            "record": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "maxLength": 10}},
            },
        }
    },
}


def model_class(lex_type: str) -> Any:
    """The generated class of ``lex_type``, found by its ``$type`` (not by its Python name)."""
    module = import_module("atproto_async.models." + lex_type.partition("#")[0])
    return next(c for c in vars(module).values() if getattr(c, "LEX_TYPE", None) == lex_type)


def post(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"$type": POST, "text": text, "createdAt": NOW, **extra}


class FakePds:
    """Answers writes with a made-up URI, uploads with the blob of their bytes; keeps bodies."""

    def __init__(self) -> None:
        self.transport = MockTransport(self.answer)

    def answer(self, request: Request) -> Response:
        nsid = request.url.rsplit("/", 1)[1]
        if nsid == "com.atproto.repo.uploadBlob":
            assert isinstance(request.body, bytes)
            ref = {"$link": str(cid_for_raw(request.body))}
            size = len(request.body)
            out: Any = {
                "blob": {"$type": "blob", "ref": ref, "mimeType": "image/png", "size": size}
            }
        elif nsid == "com.atproto.repo.applyWrites":
            out = {}
        else:
            out = {"uri": f"at://{DID}/{POST}/{TID}", "cid": str(cid_for_raw(b"record"))}
        return Response(200, {"Content-Type": "application/json"}, json.dumps(out).encode())

    @property
    def sent(self) -> list[Any]:
        """The JSON bodies sent, in order."""
        return [
            json.loads(r.body) for r in self.transport.requests if r.body and r.body[:1] == b"{"
        ]


@pytest.fixture
def pds() -> FakePds:
    return FakePds()


def client_for(pds: FakePds, **options: Any) -> Client:
    return Client("https://pds.example.com", transport=pds.transport, **options)


# --- check_writes -------------------------------------------------------------------------


def test_default_catalog_is_read_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = Catalog.default.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Catalog]) -> Catalog:
        reads.append(1)
        catalog: Catalog = real(cls)
        return catalog

    from atproto_async.lexicon import _catalog

    monkeypatch.setattr(_catalog, "_SHARED", {})
    monkeypatch.setattr(Catalog, "default", classmethod(counting))
    first = default_catalog()
    assert default_catalog() is first
    assert Catalog.shared() is first  # the stream's record checks use the same one
    assert reads == [1]


def test_a_client_that_never_writes_never_reads_the_lexicons() -> None:
    code = """
import asyncio, sys
from atproto_async.xrpc import Client, MockTransport, Response

def answer(request):
    return Response(200, {"Content-Type": "application/json"}, b"{}")

async def main():
    async with Client("https://pds.example.com", transport=MockTransport(answer)) as client:
        await client.query("com.atproto.repo.describeRepo", {"repo": "did:plc:x"})
        await client.procedure("com.atproto.repo.deleteRecord", {"repo": "did:plc:x"})
    print("atproto_async.lexicon" in sys.modules)

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_check_writes_names_the_path_in_the_body() -> None:
    catalog = default_catalog()
    body = {"repo": DID, "collection": POST, "record": post("x" * 301)}
    with pytest.raises(LexiconValidationError) as caught:
        check_writes(catalog, "com.atproto.repo.createRecord", body)
    assert caught.value.path == "record.text"
    assert caught.value.lex_type == POST
    assert str(caught.value) == (
        "app.bsky.feed.post: record.text: must have at most 300 graphemes, has 301"
    )


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        # $type is filled in from the collection by the PDS, so it is checked as that type.
        ({"collection": POST, "record": {"text": "no date"}}, "record.createdAt", "is required"),
        ({"collection": POST, "record": post(langs="en")}, "record.langs", "must be an array"),
        (
            {"collection": POST, "record": {**post(), "$type": "app.bsky.feed.like"}},
            "record.$type",
            "does not match the collection",
        ),
        (
            {
                "collection": "app.bsky.actor.profile",
                "rkey": "me",
                "record": {"$type": "app.bsky.actor.profile"},
            },
            "record",
            "record key 'me' must be 'self'",
        ),
        ({"collection": POST, "record": "text"}, "record", "must be an object"),
    ],
)
def test_check_writes_refuses_what_the_pds_would(
    body: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(LexiconValidationError, match=reason) as caught:
        check_writes(default_catalog(), "com.atproto.repo.putRecord", {"repo": DID, **body})
    assert caught.value.path == path


@pytest.mark.parametrize(
    "body",
    [
        {"collection": POST, "record": {"text": "hi", "createdAt": NOW}},  # $type filled in
        {"collection": POST, "record": post(), "validate": True},
        {"collection": POST, "record": post("x" * 301), "validate": False},  # told not to
        {"collection": "com.example.thing", "record": {"whatever": 1}},  # a lexicon not known
        {"record": post("x" * 301)},  # no collection: the server refuses it
    ],
)
def test_check_writes_passes(body: dict[str, Any]) -> None:
    check_writes(default_catalog(), "com.atproto.repo.createRecord", {"repo": DID, **body})


def test_check_writes_checks_the_creates_and_updates_of_apply_writes() -> None:
    writes = [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": POST, "value": post()},
        {"$type": "com.atproto.repo.applyWrites#delete", "collection": POST, "rkey": TID},
        {
            "$type": "com.atproto.repo.applyWrites#update",
            "collection": POST,
            "rkey": TID,
            "value": post(createdAt="yesterday"),
        },
    ]
    with pytest.raises(LexiconValidationError) as caught:
        check_writes(default_catalog(), "com.atproto.repo.applyWrites", {"writes": writes})
    assert caught.value.path == "writes[2].value.createdAt"
    writes[2]["value"] = post()
    check_writes(default_catalog(), "com.atproto.repo.applyWrites", {"writes": writes})


# --- Client -------------------------------------------------------------------------------


async def test_an_invalid_record_is_refused_and_nothing_is_sent(pds: FakePds) -> None:
    async with client_for(pds) as client:
        with pytest.raises(LexiconValidationError) as caught:
            await client.com.atproto.repo.create_record(
                repo=DID, collection=POST, record=post(embed={"$type": "app.bsky.embed.images"})
            )
        assert caught.value.path == "record.embed.images"
        assert str(caught.value) == "app.bsky.feed.post: record.embed.images: is required"
        with pytest.raises(LexiconValidationError, match=r"record\.text"):
            await client.procedure(
                "com.atproto.repo.createRecord",
                {"repo": DID, "collection": POST, "record": post(text=5)},
            )
        with pytest.raises(LexiconValidationError, match=r"writes\[0\]\.value\.text"):
            await client.com.atproto.repo.apply_writes(
                repo=DID,
                writes=[
                    {
                        "$type": "com.atproto.repo.applyWrites#create",
                        "collection": POST,
                        "value": post(text=None),
                    }
                ],
            )
    assert pds.transport.requests == []


async def test_valid_records_go_out(pds: FakePds) -> None:
    async with client_for(pds) as client:
        await client.com.atproto.repo.create_record(repo=DID, collection=POST, record=post())
        await client.com.atproto.repo.put_record(
            repo=DID, collection=POST, rkey=TID, record=model_class(POST)(text="hi", created_at=NOW)
        )
    assert [body["record"]["text"] for body in pds.sent] == ["hello", "hi"]


async def test_validation_can_be_switched_off_per_client_and_per_call(pds: FakePds) -> None:
    broken = post("x" * 301)
    async with client_for(pds, validate_records=False) as client:
        await client.com.atproto.repo.create_record(repo=DID, collection=POST, record=broken)
    async with client_for(pds) as client:
        # validate=False tells the PDS not to validate either.
        await client.com.atproto.repo.create_record(
            repo=DID, collection=POST, record=broken, validate=False
        )
        with pytest.raises(LexiconValidationError):  # a derived client checks like its root
            await client.with_proxy("did:web:example.com", "x").procedure(
                "com.atproto.repo.createRecord", {"repo": DID, "collection": POST, "record": broken}
            )
    assert len(pds.sent) == 2


async def test_other_collections_pass_unless_the_client_has_their_lexicon(pds: FakePds) -> None:
    thing = {"$type": "com.example.thing", "name": "far too long a name"}
    async with client_for(pds) as client:
        await client.com.atproto.repo.create_record(
            repo=DID, collection="com.example.thing", record=thing
        )
    assert len(pds.sent) == 1
    catalog = default_catalog().extend([THING])
    async with client_for(pds, catalog=catalog) as client:
        with pytest.raises(
            LexiconValidationError, match=r"record\.name: must have at most 10 bytes"
        ):
            await client.com.atproto.repo.create_record(
                repo=DID, collection="com.example.thing", record=thing
            )
        # The bundled lexicons are still checked through the extended catalog.
        with pytest.raises(LexiconValidationError, match=r"record\.text"):
            await client.com.atproto.repo.create_record(
                repo=DID, collection=POST, record=post("x" * 301)
            )
    assert len(pds.sent) == 1


# --- what users hold ------------------------------------------------------------------------


async def test_the_uploaded_blob_and_a_datetime_go_straight_into_records(pds: FakePds) -> None:
    images_class = model_class("app.bsky.embed.images")
    image_class = model_class("app.bsky.embed.images#image")
    when = datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    async with client_for(pds) as client:
        blob = await client.upload_blob(PNG, "image/png")
        generated = await client.com.atproto.repo.upload_blob(data=PNG, encoding="image/png")
        assert isinstance(blob, Blob)
        assert blob == generated.blob  # one shape from both upload paths
        images = {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": "a"}]}
        as_dict = post(createdAt=when, embed=images)
        await client.com.atproto.repo.create_record(repo=DID, collection=POST, record=as_dict)
        await client.procedure(
            "com.atproto.repo.createRecord", {"repo": DID, "collection": POST, "record": as_dict}
        )
        model = model_class(POST)(
            text="hello",
            created_at=when,
            embed=images_class(images=[image_class(image=generated.blob, alt="a")]),
        )
        await client.com.atproto.repo.create_record(repo=DID, collection=POST, record=model)
        with pytest.raises(TypeError) as caught:
            await client.com.atproto.repo.create_record(
                repo=DID, collection=POST, record=post(createdAt=datetime(2024, 5, 1))
            )
        assert str(caught.value).startswith("record.createdAt: naive datetime (no tzinfo)")
    json_blob = {
        "$type": "blob",
        "ref": {"$link": str(cid_for_raw(PNG))},
        "mimeType": "image/png",
        "size": len(PNG),
    }
    expected = {
        "$type": POST,
        "text": "hello",
        "createdAt": "2024-05-01T12:00:00.000Z",
        "embed": {"$type": "app.bsky.embed.images", "images": [{"image": json_blob, "alt": "a"}]},
    }
    assert [body["record"] for body in pds.sent] == [expected] * 3


async def test_a_value_outside_the_data_model_is_a_type_error_naming_its_path(
    pds: FakePds,
) -> None:
    class Foo:
        pass

    images = {"$type": "app.bsky.embed.images", "images": [{"image": Foo(), "alt": ""}]}
    async with client_for(pds) as client:
        with pytest.raises(TypeError) as caught:
            await client.com.atproto.repo.create_record(
                repo=DID, collection=POST, record=post(embed=images)
            )
        assert str(caught.value) == (
            "record.embed.images[0].image: object of type Foo is not a data-model value"
        )
        with pytest.raises(TypeError, match=r"^record\.embed\.images\[0\]\.image: object"):
            await client.procedure(
                "com.atproto.repo.createRecord",
                {"repo": DID, "collection": POST, "record": post(embed=images)},
            )
    assert pds.transport.requests == []


async def test_a_datetime_in_query_parameters(pds: FakePds) -> None:
    async with client_for(pds) as client:
        await client.query(
            "app.bsky.feed.searchPosts", {"q": "x", "since": datetime(2024, 5, 1, tzinfo=UTC)}
        )
    [request] = pds.transport.requests
    assert ("since", "2024-05-01T00:00:00.000Z") in request.params
