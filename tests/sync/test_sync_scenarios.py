"""The Go relay's validation scenarios: each message's drop / invalid mark reproduced.

``indigo/cmd/relay/testing/testdata/*.json`` are sequences of real frames (live commits signed
by real keys) with, for each, whether a relay must drop it or refuse it as invalid.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sync_helpers import event_of, scenario_resolver

from atproto_async.sync import SyncVerifier
from tests.conftest import FIXTURES

SCENARIOS = FIXTURES / "indigo" / "cmd" / "relay" / "testing" / "testdata"
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.json")) or ["(missing)"]


def load(name: str) -> dict[str, Any]:
    path = SCENARIOS / f"{name}.json"
    if not path.exists():
        pytest.skip(f"relay scenarios not found at {SCENARIOS} (they live in ../shared/fixtures)")
    scenario: dict[str, Any] = json.loads(path.read_text())
    return scenario


@pytest.mark.parametrize("name", NAMES)
async def test_scenario(name: str) -> None:
    scenario = load(name)
    verifier = SyncVerifier(scenario_resolver(scenario), lenient=scenario["lenient"])
    for index, message in enumerate(scenario["messages"]):
        event = event_of(message["frame"])
        verdict = await verifier.check(event)
        expected_ok = not (message.get("drop") or message.get("invalid"))
        where = f"{name} message {index} ({message['frame']['header'].get('t')})"
        assert verdict.ok == expected_ok, f"{where}: {verdict}"
        if message.get("invalid"):
            assert verdict.invalid, where
        if not verdict.ok:
            assert verdict.reason
    assert verifier.stats["accepted"] == sum(
        not (m.get("drop") or m.get("invalid")) for m in scenario["messages"]
    )


async def test_strict_mode_refuses_the_legacy_commits() -> None:
    """Without ``lenient``, the legacy scenario's commit (no prevData) is invalid."""
    scenario = load("legacy")
    verifier = SyncVerifier(scenario_resolver(scenario))
    verdicts = [await verifier.check(event_of(m["frame"])) for m in scenario["messages"]]
    commit = verdicts[-1]
    assert not commit.ok and commit.invalid
    assert "prevData" in (commit.reason or "")


async def test_a_wrong_key_is_invalid_and_re_resolved_once() -> None:
    from sync_helpers import document

    from atproto_async.crypto import K256, Keypair
    from atproto_async.identity import StaticIdentityResolver

    scenario = load("post_lifecycle")
    identity = dict(scenario["accounts"][0]["identity"])
    identity["keys"] = {
        "atproto": {
            "type": "Multikey",
            "publicKeyMultibase": Keypair.generate(K256).public_key.multikey(),
        }
    }

    class Counting(StaticIdentityResolver):
        invalidated = 0

        def invalidate(self, did_or_handle: str) -> None:
            Counting.invalidated += 1

    rejected: list[Any] = []
    verifier = SyncVerifier(
        Counting([document(identity)]), on_reject=lambda e, v: rejected.append((e, v))
    )
    verdicts = [await verifier.check(event_of(m["frame"])) for m in scenario["messages"]]
    assert all(not v.ok and v.invalid for v in verdicts)
    assert all("signature" in (v.reason or "") for v in verdicts)
    assert Counting.invalidated == 1  # one forced refresh, not one per forged event
    assert len(rejected) == len(verdicts)
    assert verifier.stats["invalid"] == len(verdicts)
