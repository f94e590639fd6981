"""What an OAuth session costs per call: ``Client(oauth=...)`` next to a password session.

Every call of an OAuth session carries a fresh DPoP proof: an ES256 (P-256) signature over a
small JWT, with the SHA-256 of the access token (``ath``). This measures that cost where it
shows: the client's own work per call, on a `MockTransport` that answers at once (no network,
no server), so the figure is the overhead a real call adds to its round trip (usually 50-300
ms on the internet, 1-5 ms on a LAN). Rounds alternate between the two clients to share any
noise; the best round of each is reported, with the ratio and the proof alone.

Usage: python benchmarks/bench_oauth.py [--calls 5000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from atproto_async.oauth import DPoPKey, OAuthClient, OAuthSession, TokenSet
from atproto_async.oauth.metadata import AuthorizationServer
from atproto_async.xrpc import Client, MockTransport, Session
from atproto_async.xrpc.transport import Request, Response

PDS = "https://pds.example"
NSID = "app.bsky.actor.getProfile"
PARAMS = {"actor": "alice.bsky.social"}
ANSWER = Response(200, {"Content-Type": "application/json"}, b'{"did":"did:plc:alice"}')
ACCESS = "eyJ0eXAiOiJhdCtqd3QifQ." + "x" * 600 + ".sig"  # a PDS access token is ~800 bytes


async def answer(request: Request) -> Response:
    return ANSWER


def password_client() -> Client:
    session = Session(did="did:plc:alice", handle="alice.test", access_jwt=ACCESS,
                      refresh_jwt="refresh", pds_url=PDS)  # fmt: skip
    return Client(PDS, session=session, transport=MockTransport(answer))


def oauth_client() -> Client:
    server = AuthorizationServer(
        issuer=PDS,
        authorization_endpoint=f"{PDS}/oauth/authorize",
        token_endpoint=f"{PDS}/oauth/token",
        par_endpoint=f"{PDS}/oauth/par",
    )
    oauth = OAuthClient.loopback("http://127.0.0.1:8080/callback")
    far = time.time() + 86_400
    session = OAuthSession(
        did="did:plc:alice",
        pds=PDS,
        server=server,
        dpop=DPoPKey.generate(),
        tokens=TokenSet(access_token=ACCESS, refresh_token="r", expires_at=far, scope="atproto"),
        oauth=oauth,
    )
    return Client(oauth=session, transport=MockTransport(answer))


async def rate(client: Client, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await client.query(NSID, PARAMS)
    return calls / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    password, oauth = password_client(), oauth_client()
    password._auth.needs_check = False  # a resumed session would be checked once: not measured
    await rate(password, 200)  # warm up both
    await rate(oauth, 200)
    best = {"password": 0.0, "oauth": 0.0}
    for _ in range(args.rounds):
        best["password"] = max(best["password"], await rate(password, args.calls))
        best["oauth"] = max(best["oauth"], await rate(oauth, args.calls))
    key = DPoPKey.generate()
    start = time.perf_counter()
    for _ in range(args.calls):
        key.proof("GET", f"{PDS}/xrpc/{NSID}", nonce="n", access_token=ACCESS)
    proof_us = (time.perf_counter() - start) / args.calls * 1e6
    await password.close()
    await oauth.close()

    result = {
        "password_calls_per_s": round(best["password"]),
        "oauth_calls_per_s": round(best["oauth"]),
        "ratio_oauth_to_password": round(best["oauth"] / best["password"], 3),
        "extra_us_per_call": round(1e6 / best["oauth"] - 1e6 / best["password"], 1),
        "dpop_proof_us": round(proof_us, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"password session: {result['password_calls_per_s']:>8,} calls/s (client work only)")
    print(f"OAuth session:    {result['oauth_calls_per_s']:>8,} calls/s (same, with DPoP)")
    print(
        f"ratio OAuth / password: {result['ratio_oauth_to_password']:.3f} "
        f"(+{result['extra_us_per_call']} us per call; a DPoP proof alone: "
        f"{result['dpop_proof_us']} us)"
    )


if __name__ == "__main__":
    asyncio.run(main())
