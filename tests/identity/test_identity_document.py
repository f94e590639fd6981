"""DidDocument: the indigo documents, both key forms, and malformed documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from identity_servers import did_document, legacy_multibase

from atproto_async._base58 import b58decode
from atproto_async.crypto import Keypair, parse_legacy_multibase
from atproto_async.identity import DidDocument, IdentityError
from tests.conftest import fixture_path

ATPROTO_COM_KEY = "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"


def _indigo(name: str) -> dict[str, Any]:
    path = fixture_path("indigo", "atproto", "identity", "testdata", name)
    return json.loads(path.read_text())


def test_indigo_plc_document() -> None:
    doc = DidDocument.from_dict(_indigo("did_plc_doc.json"))
    assert doc.did == "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    assert doc.handle == "atproto.com"
    assert doc.pds == "https://bsky.social"
    assert doc.signing_key == ATPROTO_COM_KEY
    assert doc.labeler_key is None
    assert doc.labeler is None


def test_indigo_legacy_document_reads_the_same_key() -> None:
    """The legacy form (uncompressed point, no multicodec) gives the same compressed did:key."""
    legacy = DidDocument.from_dict(_indigo("did_plc_doc_legacy.json"))
    current = DidDocument.from_dict(_indigo("did_plc_doc.json"))
    assert legacy.signing_key == current.signing_key == ATPROTO_COM_KEY
    assert legacy.signing_public_key == current.signing_public_key


def test_indigo_did_web_feed_generator_document() -> None:
    doc = DidDocument.from_dict(_indigo("did_web_doc.json"))
    assert doc.did == "did:web:discover.bsky.social"
    assert doc.handle is None
    assert doc.pds is None
    assert doc.signing_key is None
    assert doc.service("bsky_fg") == "https://discover.bsky.social"
    assert doc.service("#bsky_fg") == "https://discover.bsky.social"
    assert doc.service("atproto_pds") is None


@pytest.mark.parametrize("curve", ["k256", "p256"])
def test_multikey_and_legacy_forms_agree(curve: str) -> None:
    key = Keypair.generate(curve)
    doc = DidDocument.from_dict(did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", key=key))
    assert doc.signing_key == key.did_key()
    assert doc.signing_public_key is not None
    assert doc.signing_public_key.verify(b"msg", key.sign(b"msg"))


def test_legacy_uncompressed_k256_key() -> None:
    key = Keypair.generate("k256")
    raw = did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", key=key, legacy=True)
    assert len(raw["verificationMethod"][0]["publicKeyMultibase"]) > 80  # uncompressed
    assert DidDocument.from_dict(raw).signing_key == key.did_key()


def test_labeler_key_and_service() -> None:
    did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    key = Keypair.generate("k256")
    label = Keypair.generate("p256")
    raw = did_document(did, "labels.example.com", key=key)
    raw["verificationMethod"].append(
        {
            "id": "#atproto_label",
            "type": "Multikey",
            "publicKeyMultibase": label.public_key.multikey(),
        }
    )
    raw["service"].append(
        {
            "id": f"{did}#atproto_labeler",
            "type": "AtprotoLabeler",
            "serviceEndpoint": "https://l.example",
        }
    )
    doc = DidDocument.from_dict(raw)
    assert doc.labeler_key == label.did_key()
    assert doc.labeler == "https://l.example"
    assert doc.signing_key == key.did_key()


def test_handle_is_the_first_at_uri_lowercased() -> None:
    raw = did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
    raw["alsoKnownAs"] = ["https://example.com", "at://Alice.Example.COM", "at://bob.example.com"]
    assert DidDocument.from_dict(raw).handle == "alice.example.com"
    raw["alsoKnownAs"] = ["at://not a handle"]
    assert DidDocument.from_dict(raw).handle is None


def test_entries_naming_another_did_do_not_count() -> None:
    key = Keypair.generate("k256")
    raw = did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", key=key)
    raw["verificationMethod"][0]["id"] = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb#atproto"
    raw["service"][0]["id"] = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb#atproto_pds"
    doc = DidDocument.from_dict(raw)
    assert doc.signing_key is None
    assert doc.pds is None


def test_pds_of_another_type_is_not_the_pds() -> None:
    raw = did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
    raw["service"][0]["type"] = "SomethingElse"
    assert DidDocument.from_dict(raw).pds is None


def _malformed(change: Any) -> dict[str, Any]:
    raw = did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", key=Keypair.generate("k256"))
    change(raw)
    return raw


MALFORMED = {
    "id missing": lambda d: d.pop("id"),
    "id not a DID": lambda d: d.update(id="alice"),
    "id too long": lambda d: d.update(id="did:web:" + "a" * 3000),
    "alsoKnownAs not a list": lambda d: d.update(alsoKnownAs="at://a.com"),
    "alsoKnownAs of numbers": lambda d: d.update(alsoKnownAs=[1]),
    "verificationMethod not a list": lambda d: d.update(verificationMethod={"id": "#atproto"}),
    "verificationMethod of strings": lambda d: d.update(verificationMethod=["#atproto"]),
    "service not a list": lambda d: d.update(service="x"),
    "key not base58": lambda d: d["verificationMethod"][0].update(publicKeyMultibase="z0OIl"),
    "key missing": lambda d: d["verificationMethod"][0].pop("publicKeyMultibase"),
    "key huge": lambda d: d["verificationMethod"][0].update(publicKeyMultibase="z" + "1" * 10**6),
    "key unknown type": lambda d: d["verificationMethod"][0].update(
        type="Ed25519VerificationKey2020"
    ),
    "pds endpoint not a URL": lambda d: d["service"][0].update(serviceEndpoint="javascript:x"),
    "pds endpoint an object": lambda d: d["service"][0].update(serviceEndpoint={"a": 1}),
}


@pytest.mark.parametrize("change", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_documents_raise_identity_error(change: Any) -> None:
    raw = _malformed(change)
    with pytest.raises(IdentityError) as caught:
        DidDocument.from_dict(raw)
    assert caught.value.reason


@pytest.mark.parametrize("value", [None, [], "doc", 3])
def test_a_document_must_be_an_object(value: Any) -> None:
    with pytest.raises(IdentityError, match="JSON object"):
        DidDocument.from_dict(value)


def test_raw_is_read_only_and_round_trips() -> None:
    raw = did_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "a.example.com")
    doc = DidDocument.from_dict(raw)
    assert doc.to_dict() == raw
    with pytest.raises(TypeError):
        doc.raw["id"] = "x"  # type: ignore[index]
    assert doc == DidDocument.from_dict(raw)
    assert "a.example.com" in repr(doc)


def test_legacy_helper_matches_the_plc_form() -> None:
    """The test helper writes what the local PLC serves: an uncompressed point, no prefix."""
    key = Keypair.generate("k256")
    value = legacy_multibase(key)
    assert b58decode(value[1:]) == key.public_key.uncompressed()
    assert parse_legacy_multibase(value, "k256") == key.public_key


def test_importing_identity_leaves_the_network_stack_unloaded() -> None:
    """DidDocument users (verifiers with a static resolver) pay for neither aiohttp nor DNS."""
    import subprocess
    import sys

    code = (
        "import sys, atproto_async.identity; "
        "print(sorted(m for m in ('aiohttp', 'dns', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
