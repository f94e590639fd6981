"""Label signatures: verify_label, and LabelVerifier filtering ``#labels`` events."""

from __future__ import annotations

from typing import Any

from atproto_async.crypto import K256, P256, Keypair
from atproto_async.identity import StaticIdentityResolver
from atproto_async.ipld import encode_dag_cbor
from atproto_async.stream import decode_frame
from atproto_async.sync.labels import LabelVerifier, sign_label, verify_label

LABELER = "did:plc:labeler2222222222222222"


def labeler_document(key: Keypair | None) -> dict[str, Any]:
    methods = []
    if key is not None:
        methods.append(
            {
                "id": f"{LABELER}#atproto_label",
                "type": "Multikey",
                "controller": LABELER,
                "publicKeyMultibase": key.public_key.multikey(),
            }
        )
    return {"id": LABELER, "verificationMethod": methods}


def label(val: str, **extra: Any) -> dict[str, Any]:
    data = {
        "ver": 1,
        "src": LABELER,
        "uri": "at://did:plc:alice7zzzzzzzzzzzzzzzzzzzz/app.bsky.feed.post/3l2uygzaf5q2b",
        "val": val,
        "cts": "2026-12-04T00:00:00.000Z",
    }
    data.update(extra)
    return data


def labels_event(labels: list[dict[str, Any]], seq: int = 1) -> Any:
    frame = encode_dag_cbor({"op": 1, "t": "#labels"}) + encode_dag_cbor(
        {"seq": seq, "labels": labels}
    )
    return decode_frame(frame)


def test_sign_and_verify_both_curves() -> None:
    for curve in (K256, P256):
        key = Keypair.generate(curve)
        signed = sign_label(label("spam", neg=False), key)
        assert verify_label(signed, key.public_key)
        assert not verify_label({**signed, "val": "porn"}, key.public_key)
        assert not verify_label({**signed, "neg": True}, key.public_key)
        assert not verify_label(label("spam"), key.public_key)  # no sig
        assert not verify_label({**signed, "sig": "not bytes"}, key.public_key)
        assert not verify_label(signed, Keypair.generate(curve).public_key)


async def test_verifier_filters_label_events() -> None:
    key = Keypair.generate(K256)
    reasons: list[str] = []
    verifier = LabelVerifier(
        StaticIdentityResolver([labeler_document(key)]),
        on_reject=lambda lab, why: reasons.append(why),
    )
    good = sign_label(label("spam"), key)
    forged = sign_label(label("nudity"), Keypair.generate(K256))
    event = labels_event([good, forged])
    kept = await verifier.filter(event)
    assert [lab.val for lab in kept.labels] == ["spam"]  # the decoded models, signature intact
    assert len(reasons) == 1 and "signature" in reasons[0]
    assert await verifier.filter(labels_event([forged], seq=2)) is None
    untouched = labels_event([good], seq=3)
    assert await verifier.filter(untouched) is untouched
    assert verifier.stats == {"accepted": 2, "invalid": 2}


async def test_labeler_without_label_key_or_document() -> None:
    key = Keypair.generate(K256)
    verifier = LabelVerifier(StaticIdentityResolver([labeler_document(None)]))
    assert "#atproto_label" in (await verifier.check(sign_label(label("x"), key)) or "")
    verifier = LabelVerifier(StaticIdentityResolver())
    assert "cannot be read" in (await verifier.check(sign_label(label("x"), key)) or "")
    assert verifier.stats["unresolved"] == 1


async def test_rotated_label_key_is_re_resolved_once() -> None:
    old, new = Keypair.generate(K256), Keypair.generate(K256)

    class Rotating(StaticIdentityResolver):
        invalidations = 0

        def invalidate(self, did_or_handle: str) -> None:
            Rotating.invalidations += 1
            self.add(labeler_document(new))

    verifier = LabelVerifier(Rotating([labeler_document(old)]))
    assert await verifier.check(sign_label(label("a"), new)) is None
    assert Rotating.invalidations == 1
    # A forger cannot make the verifier refetch on every label.
    forger = Keypair.generate(K256)
    for n in range(5):
        assert await verifier.check(sign_label(label(f"f{n}"), forger)) is not None
    assert Rotating.invalidations == 1
