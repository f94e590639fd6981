"""Records checked before they are written, built from what users hold, against the real PDS.

An image post made from the ``upload_blob`` result and a ``datetime``, a reply, a quote, a post
with mention and link facets; an invalid record refused by the client with nothing sent; and
the firehose reading of the one record the PDS took without validation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from importlib import import_module
from typing import Any

import pytest
from integration_helpers import Account, create_account, read_until, tiny_png
from localpds import LocalPds

from atproto_async import Client
from atproto_async._model import Blob
from atproto_async.exceptions import LexiconValidationError
from atproto_async.ipld import cid_for_raw
from atproto_async.richtext import Image, build_facets, build_post
from atproto_async.stream import Commit, subscribe_repos
from atproto_async.syntax import is_valid_datetime

pytestmark = pytest.mark.integration

POST = "app.bsky.feed.post"


def model_class(lex_type: str) -> Any:
    """The generated class of ``lex_type``, found by its ``$type`` (not by its Python name)."""
    module = import_module("atproto_async.models." + lex_type.partition("#")[0])
    return next(c for c in vars(module).values() if getattr(c, "LEX_TYPE", None) == lex_type)


class PdsHandles:
    """Resolves handles with the PDS's own ``resolveHandle`` (``.test`` handles have no DNS)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def resolve_handle(self, handle: str) -> str:
        out = await self._client.com.atproto.identity.resolve_handle(handle=handle)
        return out.did


async def stored(client: Client, uri: str) -> Any:
    """The record at ``uri`` as the PDS stores it (its JSON form)."""
    did, collection, rkey = uri.removeprefix("at://").split("/")
    got: Any = await client.query(
        "com.atproto.repo.getRecord", {"repo": did, "collection": collection, "rkey": rkey}
    )
    return got["value"]


async def listed(client: Client, did: str, collection: str = POST) -> list[Any]:
    out: Any = await client.query(
        "com.atproto.repo.listRecords", {"repo": did, "collection": collection}
    )
    return list(out["records"])


async def test_an_image_post_from_the_uploaded_blob_and_a_datetime(
    client: Client, account: Account
) -> None:
    images_class = model_class("app.bsky.embed.images")
    image_class = model_class("app.bsky.embed.images#image")
    png = tiny_png(3, 2)
    blob = await client.upload_blob(png, "image/png")
    assert blob == Blob(ref=cid_for_raw(png), mime_type="image/png", size=len(png))
    when = datetime(2024, 5, 1, 14, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    record = build_post("a picture", images=[Image(blob, alt="pink", width=3, height=2)])
    record["createdAt"] = when  # a datetime, not a string
    out = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=record
    )
    value = await stored(client, out.uri)
    json_blob = {
        "$type": "blob",
        "ref": {"$link": str(cid_for_raw(png))},
        "mimeType": "image/png",
        "size": len(png),
    }
    assert value["createdAt"] == "2024-05-01T12:30:15.250Z"
    assert is_valid_datetime(value["createdAt"])
    assert value["embed"] == {
        "$type": "app.bsky.embed.images",
        "images": [{"image": json_blob, "alt": "pink", "aspectRatio": {"width": 3, "height": 2}}],
    }

    # The same blob inside a model, from the generated upload endpoint, and a raw call.
    uploaded = await client.com.atproto.repo.upload_blob(data=png, encoding="image/png")
    assert uploaded.blob == blob
    model = model_class(POST)(
        text="a model",
        created_at=datetime.now(UTC),
        embed=images_class(images=[image_class(image=uploaded.blob, alt="pink")]),
    )
    out = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=model
    )
    assert (await stored(client, out.uri))["embed"]["images"][0]["image"] == json_blob
    raw: Any = await client.procedure(
        "com.atproto.repo.createRecord",
        {"repo": account.did, "collection": POST, "record": {**record, "text": "raw"}},
    )
    assert (await stored(client, raw["uri"]))["embed"]["images"][0]["image"] == json_blob


async def test_a_reply_and_a_quote(client: Client, account: Account) -> None:
    top = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=build_post("the first post")
    )
    reply = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=build_post("a reply", reply_to=top)
    )
    deeper = await client.com.atproto.repo.create_record(
        repo=account.did,
        collection=POST,
        record=build_post("a reply to the reply", reply_to=reply, root=top),
    )
    quote = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=build_post("look at this", quote=deeper)
    )
    ref = {"uri": top.uri, "cid": str(top.cid)}
    assert (await stored(client, reply.uri))["reply"] == {"root": ref, "parent": ref}
    assert (await stored(client, deeper.uri))["reply"] == {
        "root": ref,
        "parent": {"uri": reply.uri, "cid": str(reply.cid)},
    }
    assert (await stored(client, quote.uri))["embed"] == {
        "$type": "app.bsky.embed.record",
        "record": {"uri": deeper.uri, "cid": str(deeper.cid)},
    }


async def test_a_post_with_a_mention_and_a_link(
    client: Client, account: Account, local_pds: LocalPds
) -> None:
    friend = await create_account(local_pds, "friend")
    text = f"hi @{friend.handle} 👋 see https://example.com/page."
    facets = await build_facets(text, PdsHandles(client))
    out = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=build_post(text, facets=facets)
    )
    value = await stored(client, out.uri)
    encoded = text.encode()
    found = {}
    for facet in value["facets"]:
        [feature] = facet["features"]
        span = encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
        found[feature["$type"]] = (span, feature.get("did") or feature.get("uri"))
    assert found == {
        "app.bsky.richtext.facet#mention": (f"@{friend.handle}", friend.did),
        "app.bsky.richtext.facet#link": ("https://example.com/page", "https://example.com/page"),
    }


async def test_an_invalid_record_is_refused_before_anything_is_sent(
    client: Client, account: Account, local_pds: LocalPds
) -> None:
    blob = await client.upload_blob(tiny_png(), "image/png")
    no_alt = build_post("an image without alt text", images=[Image(blob)])
    del no_alt["embed"]["images"][0]["alt"]
    cases = [
        (no_alt, "record.embed.images[0].alt"),
        (build_post("x" * 301), "record.text"),
        ({**build_post("a date"), "createdAt": "yesterday"}, "record.createdAt"),
    ]
    for record, path in cases:
        with pytest.raises(LexiconValidationError) as caught:
            await client.com.atproto.repo.create_record(
                repo=account.did, collection=POST, record=record
            )
        assert caught.value.path == path
        assert path in str(caught.value)
    with pytest.raises(LexiconValidationError, match=r"writes\[1\]\.value\.text"):
        await client.com.atproto.repo.apply_writes(
            repo=account.did,
            writes=[
                {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
                 "value": build_post("fine")},
                {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
                 "value": build_post("x" * 301)},
            ],
        )  # fmt: skip
    assert await listed(client, account.did) == []  # not even the valid write of the batch

    # The same record goes out when the client is told not to check: the PDS refuses it.
    from atproto_async.exceptions import InvalidRequestError

    async with Client(local_pds.url, validate_records=False) as unchecked:
        await unchecked.login(account.handle, account.password)
        with pytest.raises(InvalidRequestError, match="text"):
            await unchecked.com.atproto.repo.create_record(
                repo=account.did, collection=POST, record=build_post("x" * 301)
            )
    assert await listed(client, account.did) == []


async def test_a_third_party_collection_passes_unless_the_client_knows_its_lexicon(
    client: Client, account: Account, local_pds: LocalPds
) -> None:
    from atproto_async.lexicon import Catalog

    thing = {"$type": "com.example.thing", "name": "far too long for the lexicon"}
    out = await client.com.atproto.repo.create_record(
        repo=account.did, collection="com.example.thing", record=thing
    )
    assert (await stored(client, out.uri))["name"] == thing["name"]
    lexicon = {
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
    catalog = Catalog.default().extend([lexicon])
    async with Client(local_pds.url, catalog=catalog) as checked:
        await checked.login(account.handle, account.password)
        with pytest.raises(LexiconValidationError, match=r"record\.name"):
            await checked.com.atproto.repo.create_record(
                repo=account.did, collection="com.example.thing", record=thing
            )
    assert len(await listed(client, account.did, "com.example.thing")) == 1


async def test_the_firehose_can_validate_what_it_reads(
    client: Client, account: Account, local_pds: LocalPds
) -> None:
    # validate=False: the PDS stores a post that breaks its lexicon, and relays it.
    broken = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=build_post("x" * 301), validate=False
    )
    fine = await client.com.atproto.repo.create_record(
        repo=account.did, collection=POST, record=build_post("fine")
    )
    stream = subscribe_repos(
        local_pds.ws_url, cursor=0, validate_records=True, skip_invalid=True, collections=[POST]
    )
    events = await read_until(
        stream,
        lambda got: sum(len(event.ops) for event in got) >= 2,
        keep=lambda event: isinstance(event, Commit) and event.repo == account.did,
    )
    ops = {op.uri: op for event in events for op in event.ops}
    assert ops[broken.uri].record is None
    assert "does not match its lexicon" in str(ops[broken.uri].record_error)
    assert ops[fine.uri].record.text == "fine"
