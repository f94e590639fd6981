"""Feed generators against the real PDS: its service tokens, the example backend, publishing.

- Tokens minted by the PDS (``getServiceAuth``) verify with the key its PLC directory serves,
  and every tampered, misdirected or expired variant is refused with the right error name.
- ``python -m examples.feedgen`` (indexer + server) runs as a user would run it: posts with the
  keyword appear in the skeleton, deletions disappear, and a restart on the same SQLite file
  resumes from the stored cursor with no gap and no replay.
- ``publish_feed`` / ``unpublish_feed`` write and delete the feed record.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from integration_helpers import post
from localpds import LocalPds

from atproto_async import XrpcError
from atproto_async.crypto import Keypair
from atproto_async.identity import IdentityResolver
from atproto_async.models.app.bsky.feed.generator import Generator
from atproto_async.server import (
    ServiceAuthError,
    ServiceAuthVerifier,
    publish_feed,
    unpublish_feed,
    verify_service_jwt,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AUD = "did:web:feeds.test"
LXM = "app.bsky.feed.getFeedSkeleton"
POST = "app.bsky.feed.post"
GENERATOR = "app.bsky.feed.generator"
WAIT = 30.0  # seconds a condition may take before the test fails


@pytest.fixture
async def resolver(local_pds: LocalPds) -> AsyncIterator[IdentityResolver]:
    """Reads DID documents from the PDS's own PLC directory (legacy key form)."""
    async with IdentityResolver(plc_url=local_pds.plc_url, allow_insecure=True) as r:
        yield r


async def service_token(client: Any, aud: str = AUD, lxm: str = LXM) -> str:
    out = await client.com.atproto.server.get_service_auth(aud=aud, lxm=lxm)
    token: str = out.token
    return token


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    header, payload, signature = token.split(".")
    return json.loads(b64decode(header)), json.loads(b64decode(payload)), b64decode(signature)


def assemble(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    segments = [b64encode(json.dumps(part).encode()) for part in (header, payload)]
    return ".".join([*segments, b64encode(signature)])


def resigned(token: str, keypair: Keypair, **claims: Any) -> str:
    """``token``'s header and payload (with ``claims`` changed), signed by ``keypair``."""
    header, payload, _ = parts(token)
    payload.update(claims)
    signing_input = ".".join(b64encode(json.dumps(part).encode()) for part in (header, payload))
    return f"{signing_input}.{b64encode(keypair.sign(signing_input.encode()))}"


# -- service tokens minted by the PDS ---------------------------------------------------------


async def test_a_pds_service_token_verifies(client: Any, resolver: IdentityResolver) -> None:
    did = client.session.did
    token = await service_token(client)
    header, _, signature = parts(token)
    assert header["alg"] == "ES256K"
    assert len(signature) == 64

    claims = await verify_service_jwt(token, audience=AUD, lxm=LXM, resolver=resolver)
    assert claims.did == claims.iss == did
    assert claims.aud == AUD
    assert claims.lxm == LXM
    assert claims.iat is not None
    assert 0 < claims.exp - claims.iat <= 60
    assert claims.jti

    # The service-id form of the audience, as AppViews ask for it, names the same service.
    with_fragment = await service_token(client, aud=f"{AUD}#bsky_fg")
    claims = await verify_service_jwt(with_fragment, audience=AUD, lxm=LXM, resolver=resolver)
    assert claims.aud == f"{AUD}#bsky_fg"

    # A server's verifier checks the signature once, then answers from its cache.
    verifier = ServiceAuthVerifier(resolver, AUD)
    first = await verifier.verify(token, lxm=LXM)
    assert await verifier.verify(token, lxm=LXM) is first


def _other_audience(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return token, {"audience": "did:web:other-feeds.test"}


def _other_method(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return token, {"lxm": "app.bsky.feed.describeFeedGenerator"}


def _altered_payload(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    header, payload, signature = parts(token)
    payload["exp"] += 1  # still a valid claim: only the signature can tell
    return assemble(header, payload, signature), {}


def _altered_signature(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    signature = parts(token)[2]
    flipped = bytes([signature[0] ^ 0x01]) + signature[1:]
    return f"{token.rsplit('.', 1)[0]}.{b64encode(flipped)}", {}


def _expired(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return token, {"now": p["exp"] + 3600}


def _another_key(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return resigned(token, Keypair.generate("k256")), {}


def _unknown_issuer(token: str, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    forged = resigned(token, Keypair.generate("k256"), iss="did:plc:" + "a" * 24)
    return forged, {}


REFUSED: dict[str, tuple[Callable[..., tuple[str, dict[str, Any]]], str]] = {
    "another audience expected": (_other_audience, "BadJwtAudience"),
    "another method called": (_other_method, "BadJwtLexiconMethod"),
    "payload altered": (_altered_payload, "BadJwtSignature"),
    "signature altered": (_altered_signature, "BadJwtSignature"),
    "expired": (_expired, "JwtExpired"),
    "re-signed with another key": (_another_key, "BadJwtSignature"),
    "issuer unknown to the PLC": (_unknown_issuer, "BadJwtIssuer"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_changed_pds_token_is_refused(
    case: str, client: Any, resolver: IdentityResolver
) -> None:
    token = await service_token(client)
    change, error = REFUSED[case]
    token, overrides = change(token, parts(token)[1])
    kwargs: dict[str, Any] = {"audience": AUD, "lxm": LXM, "resolver": resolver, **overrides}
    with pytest.raises(ServiceAuthError) as caught:
        await verify_service_jwt(token, **kwargs)
    assert caught.value.error == error


async def test_a_token_for_another_method_is_refused(
    client: Any, resolver: IdentityResolver
) -> None:
    token = await service_token(client, lxm="app.bsky.feed.getFeed")
    with pytest.raises(ServiceAuthError) as caught:
        await verify_service_jwt(token, audience=AUD, lxm=LXM, resolver=resolver)
    assert caught.value.error == "BadJwtLexiconMethod"


async def test_a_session_token_is_not_a_service_token(
    client: Any, resolver: IdentityResolver
) -> None:
    with pytest.raises(ServiceAuthError) as caught:
        await verify_service_jwt(
            client.session.access_jwt, audience=AUD, lxm=LXM, resolver=resolver
        )
    assert caught.value.error in {"BadJwt", "BadJwtType"}


# -- publishing -------------------------------------------------------------------------------


async def test_publish_and_unpublish_a_feed(client: Any) -> None:
    did = client.session.did
    rkey = f"feed{secrets.token_hex(3)}"
    uri = await publish_feed(
        client, rkey, service_did=AUD, display_name="Python posts", description="Snakes"
    )
    assert uri == f"at://{did}/{GENERATOR}/{rkey}"
    got = await client.com.atproto.repo.get_record(repo=did, collection=GENERATOR, rkey=rkey)
    assert got.uri == uri
    assert isinstance(got.value, Generator)
    assert (got.value.did, got.value.display_name) == (AUD, "Python posts")
    assert got.value.description == "Snakes"

    await publish_feed(client, rkey, service_did=AUD, display_name="Renamed")  # an update
    got = await client.com.atproto.repo.get_record(repo=did, collection=GENERATOR, rkey=rkey)
    assert isinstance(got.value, Generator)
    assert got.value.display_name == "Renamed"
    assert "description" not in got.value.to_dict()

    await unpublish_feed(client, rkey)
    with pytest.raises(XrpcError) as caught:
        await client.com.atproto.repo.get_record(repo=did, collection=GENERATOR, rkey=rkey)
    assert caught.value.error == "RecordNotFound"
    await unpublish_feed(client, rkey)  # already gone: no error


# -- the example backend, end to end ----------------------------------------------------------


class Backend:
    """``python -m examples.feedgen`` in a child process, stopped by SIGTERM."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args = args
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "examples.feedgen",
                *self.args,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        except TimeoutError:
            line = b""
        found = re.search(r" at (http://\S+)", line.decode())
        assert found, f"the backend did not start:\n{self.tail()}"
        self.url = found.group(1)

    async def stop(self) -> int:
        """SIGTERM, then the exit code (0 for a graceful stop)."""
        process = self.process
        if process is None:
            return 0
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), WAIT)
            except TimeoutError:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode

    def tail(self) -> str:
        """The end of the backend's log, without the access-log lines."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join([line for line in lines if "aiohttp.access" not in line][-30:])


async def created(client: Any, text: str) -> str:
    out: Any = await client.procedure(
        "com.atproto.repo.createRecord",
        {"repo": client.session.did, "collection": POST, "record": post(text)},
    )
    uri: str = out["uri"]
    return uri


async def deleted(client: Any, uri: str) -> None:
    await client.procedure(
        "com.atproto.repo.deleteRecord",
        {"repo": client.session.did, "collection": POST, "rkey": uri.rsplit("/", 1)[1]},
    )


async def test_the_example_backend_end_to_end(
    local_pds: LocalPds, client: Any, tmp_path: Path
) -> None:
    did = client.session.did
    keyword = f"snake{secrets.token_hex(4)}"  # no other test's post can match
    rkey = "snakes"
    feed_uri = f"at://{did}/{GENERATOR}/{rkey}"
    db = tmp_path / "feed.sqlite"
    args = ["--relay", local_pds.ws_url, "--keyword", keyword, "--db", str(db)]
    args += ["--cursor", "0", "--service-did", AUD, "--publisher", did, "--rkey", rkey]
    args += ["--port", "0", "--require-auth", "--plc", local_pds.plc_url, "--insecure"]
    backend = Backend(args, tmp_path / "feedgen.log")

    async with aiohttp.ClientSession() as http:

        async def skeleton(token: str | None, **params: str) -> tuple[int, dict[str, Any]]:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            async with http.get(
                f"{backend.url}/xrpc/{LXM}",
                params={"feed": feed_uri, **params},
                headers=headers,
            ) as response:
                return response.status, await response.json()

        async def feed() -> list[str]:
            status, body = await skeleton(await service_token(client))
            assert status == 200, body
            return [item["post"] for item in body["feed"]]

        async def feed_becomes(expected: list[str]) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            seen = await feed()
            while seen != expected:
                assert loop.time() < deadline, (
                    f"the feed is {seen}, expected {expected}\n{backend.tail()}"
                )
                await asyncio.sleep(0.1)
                seen = await feed()

        try:
            await backend.start()
            first = await created(client, f"learning {keyword} today")
            await created(client, "nothing to see here")
            second = await created(client, f"{keyword.upper()} again, louder")
            third = await created(client, f"more {keyword}")
            await feed_becomes([third, second, first])  # newest first

            status, body = await skeleton(None)
            assert (status, body["error"]) == (401, "AuthenticationRequired")
            status, body = await skeleton(await service_token(client, aud="did:web:x.test"))
            assert (status, body["error"]) == (401, "BadJwtAudience")

            token = await service_token(client)
            status, page = await skeleton(token, limit="2")
            assert status == 200
            assert [item["post"] for item in page["feed"]] == [third, second]
            status, rest = await skeleton(token, limit="2", cursor=page["cursor"])
            assert status == 200
            assert [item["post"] for item in rest["feed"]] == [first]
            assert "cursor" not in rest
            for bad in ("not-a-cursor", "\u00b2"):  # a superscript two is a digit to isdigit()
                status, body = await skeleton(token, cursor=bad)
                assert (status, body["error"]) == (400, "InvalidRequest")

            await deleted(client, second)
            await feed_becomes([third, first])
        finally:
            assert await backend.stop() == 0, backend.tail()

        # While the indexer is down: one new post, one deletion. Both must be applied after the
        # restart (no gap), and nothing before the stored cursor replayed (no duplicate).
        fourth = await created(client, f"{keyword} while you were away")
        await deleted(client, first)

        try:
            await backend.start()
            await feed_becomes([fourth, third])
        finally:
            assert await backend.stop() == 0, backend.tail()

    with sqlite3.connect(db) as conn:
        rows = [uri for (uri,) in conn.execute("SELECT uri FROM post ORDER BY id")]
        (last_id,) = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'post'").fetchone()
        cursors = conn.execute("SELECT relay, seq FROM cursor").fetchall()
    conn.close()
    assert rows == [third, fourth]
    # Four matching posts were ever created: a replay of the first run's events would have
    # re-inserted the deleted ones under new ids.
    assert last_id == 4
    assert [relay for relay, _ in cursors] == [local_pds.ws_url]
