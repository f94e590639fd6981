"""atproto_async.crypto.keys: signing, verifying, low-S, malformed signatures, key objects."""

from __future__ import annotations

import copy
import hashlib
import pickle
import subprocess
import sys

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.crypto import (
    CURVE_FOR_JWT_ALG,
    CURVES,
    JWT_ALG,
    K256_ORDER,
    P256_ORDER,
    InvalidKeyError,
    Keypair,
    PublicKey,
    parse_did_key,
)
from atproto_async.exceptions import AtprotoError

ORDER = {"k256": K256_ORDER, "p256": P256_ORDER}
PYCA_CURVE = {"k256": ec.SECP256K1(), "p256": ec.SECP256R1()}

#: One keypair per curve for the whole module (P-256 generation goes through OpenSSL).
KEYPAIRS = {curve: Keypair.generate(curve) for curve in CURVES}
OTHER_KEYPAIRS = {curve: Keypair.generate(curve) for curve in CURVES}

curves = pytest.mark.parametrize("curve", CURVES)


def _r_s(sig: bytes) -> tuple[int, int]:
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def _sig(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _high_s_twin(sig: bytes, curve: str) -> bytes:
    r, s = _r_s(sig)
    return _sig(r, ORDER[curve] - s)


# --- sign and verify -----------------------------------------------------------------------


@curves
@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=512))
def test_sign_verify_round_trip(curve: str, data: bytes) -> None:
    keypair = KEYPAIRS[curve]
    sig = keypair.sign(data)
    assert type(sig) is bytes
    assert len(sig) == 64
    assert keypair.public_key.verify(data, sig) is True
    assert keypair.public_key.verify(data + b"\x00", sig) is False
    assert OTHER_KEYPAIRS[curve].public_key.verify(data, sig) is False


@curves
def test_signature_checks_with_an_independent_library(curve: str) -> None:
    """pyca (OpenSSL) accepts our signatures over SHA-256 of the data, on both curves."""
    keypair = KEYPAIRS[curve]
    pyca_key = ec.EllipticCurvePublicKey.from_encoded_point(
        PYCA_CURVE[curve], keypair.public_key.compressed
    )
    data = b"an unsigned commit"
    pyca_key.verify(encode_dss_signature(*_r_s(keypair.sign(data))), data, ec.ECDSA(SHA256()))


def test_k256_signature_matches_coincurve() -> None:
    """K-256 signing is deterministic (RFC 6979): the same bytes coincurve's own API gives."""
    keypair = KEYPAIRS["k256"]
    der = coincurve.PrivateKey(keypair.private_bytes()).sign(b"data")
    assert keypair.sign(b"data") == _sig(*decode_dss_signature(der))
    assert keypair.sign(b"data") == keypair.sign(b"data")


@curves
def test_signatures_are_always_low_s(curve: str) -> None:
    """500 signatures: without normalisation about half of the P-256 ones would be high-S."""
    keypair = KEYPAIRS[curve]
    half = ORDER[curve] // 2
    for i in range(500):
        data = hashlib.sha256(i.to_bytes(4, "big")).digest() * 5
        sig = keypair.sign(data)
        r, s = _r_s(sig)
        assert 0 < r < ORDER[curve]
        assert 0 < s <= half
        assert keypair.public_key.verify(data, sig)


@curves
def test_high_s_twin_needs_allow_malleable(curve: str) -> None:
    keypair = KEYPAIRS[curve]
    data = b"malleable"
    sig = keypair.sign(data)
    twin = _high_s_twin(sig, curve)
    assert twin != sig
    assert keypair.public_key.verify(data, twin) is False
    assert keypair.public_key.verify(data, twin, allow_malleable=True) is True
    assert keypair.public_key.verify(data, sig, allow_malleable=True) is True
    assert keypair.public_key.verify(b"other", twin, allow_malleable=True) is False


@curves
def test_wrong_key_wrong_data_wrong_curve(curve: str) -> None:
    keypair = KEYPAIRS[curve]
    sig = keypair.sign(b"data")
    assert keypair.public_key.verify(b"datA", sig) is False
    assert keypair.public_key.verify(b"", sig) is False
    assert OTHER_KEYPAIRS[curve].public_key.verify(b"data", sig) is False
    other_curve = "p256" if curve == "k256" else "k256"
    assert KEYPAIRS[other_curve].public_key.verify(b"data", sig) is False


@curves
def test_bytes_like_inputs(curve: str) -> None:
    keypair = KEYPAIRS[curve]
    sig = keypair.sign(bytearray(b"data"))
    assert keypair.public_key.verify(memoryview(b"data"), bytearray(sig))
    assert keypair.public_key.verify(b"data", memoryview(sig))
    assert keypair.public_key.verify(bytearray(b"data"), sig)
    assert keypair.public_key.verify(b"data", keypair.sign(memoryview(b"data")))


def _malformed(curve: str, sig: bytes) -> list[object]:
    n = ORDER[curve]
    r, s = _r_s(sig)
    return [
        b"",
        sig[:63],
        sig + b"\x00",
        b"\x00" + sig,
        bytes(64),
        _sig(0, s),
        _sig(r, 0),
        _sig(n, s),
        _sig(r, n),
        _sig(n + r if n + r < 2**256 else 2**256 - 1, s),
        _sig(r, 2**256 - 1),
        b"\xff" * 64,
        sig[:32] * 2,
        sig.hex().encode(),
        "not bytes",
        sig.hex(),
        None,
        12345,
        [sig],
    ]


@curves
@pytest.mark.parametrize("allow_malleable", [False, True])
def test_malformed_signatures_are_false(curve: str, allow_malleable: bool) -> None:
    keypair = KEYPAIRS[curve]
    sig = keypair.sign(b"data")
    for bad in _malformed(curve, sig):
        assert keypair.public_key.verify(b"data", bad, allow_malleable=allow_malleable) is False  # type: ignore[arg-type]


@curves
@settings(max_examples=200, deadline=None)
@given(sig=st.binary(max_size=80))
def test_random_signatures_never_raise(curve: str, sig: bytes) -> None:
    assert KEYPAIRS[curve].public_key.verify(b"data", sig) is False
    assert KEYPAIRS[curve].public_key.verify(b"data", sig, allow_malleable=True) is False


@curves
@settings(max_examples=100, deadline=None)
@given(r=st.integers(0, 2**256 - 1), s=st.integers(0, 2**256 - 1))
def test_random_r_s_never_raise(curve: str, r: int, s: int) -> None:
    assert KEYPAIRS[curve].public_key.verify(b"data", _sig(r, s), allow_malleable=True) is False


# --- public keys ---------------------------------------------------------------------------


def _independent_uncompressed(curve: str, compressed: bytes) -> bytes:
    if curve == "k256":
        return coincurve.PublicKey(compressed).format(compressed=False)
    pyca = ec.EllipticCurvePublicKey.from_encoded_point(PYCA_CURVE[curve], compressed)
    return pyca.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


@curves
def test_compressed_and_uncompressed_points_give_the_same_key(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    uncompressed = _independent_uncompressed(curve, key.compressed)
    assert key.uncompressed() == uncompressed
    from_full = PublicKey.from_bytes(uncompressed, curve)
    from_short = PublicKey.from_bytes(key.compressed, curve)
    assert from_full == from_short == key
    assert hash(from_full) == hash(key)
    assert from_full.compressed == key.compressed
    assert from_full.did_key() == key.did_key()
    assert len({from_full, from_short, key}) == 1
    assert from_full.verify(b"x", KEYPAIRS[curve].sign(b"x"))


@curves
def test_public_key_forms(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    assert key.curve == curve
    assert len(key.compressed) == 33
    assert key.compressed[0] in (2, 3)
    assert key.did_key() == "did:key:" + key.multikey()
    assert key.multikey().startswith("zQ3s" if curve == "k256" else "zDna")
    assert parse_did_key(key.did_key()) == key
    assert repr(key) == f"PublicKey({key.did_key()!r})"
    assert key.jwt_alg == JWT_ALG[curve]
    assert CURVE_FOR_JWT_ALG[key.jwt_alg] == curve


def test_keys_on_different_curves_differ() -> None:
    k, p = KEYPAIRS["k256"].public_key, KEYPAIRS["p256"].public_key
    assert k != p
    assert k != k.compressed
    assert (k == "did:key") is False


@curves
def test_public_key_is_immutable(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    with pytest.raises(AttributeError):
        key.curve = "p256"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        key.compressed = b"\x02" * 33  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del key.compressed
    with pytest.raises(AttributeError):
        key.extra = 1  # type: ignore[attr-defined]
    assert key.curve == curve


@curves
def test_public_key_pickles_and_copies(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    clone = pickle.loads(pickle.dumps(key))
    assert clone == key
    assert clone.verify(b"p", KEYPAIRS[curve].sign(b"p"))
    assert copy.copy(key) is key
    assert copy.deepcopy(key) is key


@curves
def test_from_bytes_refuses_bad_points(curve: str) -> None:
    compressed = KEYPAIRS[curve].public_key.compressed
    uncompressed = KEYPAIRS[curve].public_key.uncompressed()
    bad_points: list[object] = [
        b"",
        compressed[:32],
        compressed + b"\x00",
        b"\x04" + compressed[1:],  # 33 bytes with the uncompressed prefix
        b"\x05" + compressed[1:],
        b"\x02" + uncompressed[1:],  # 65 bytes with a compressed prefix
        b"\x06" + uncompressed[1:],  # "hybrid" form: libsecp256k1 would take it, we do not
        b"\x02" + b"\xff" * 32,  # x >= p
        uncompressed[:64] + bytes([uncompressed[64] ^ 1]),  # y off by one: not on the curve
        "02" * 33,
        None,
    ]
    for point in bad_points:
        with pytest.raises(InvalidKeyError) as info:
            PublicKey.from_bytes(point, curve)  # type: ignore[arg-type]
        assert curve in str(info.value)


def test_unknown_curve() -> None:
    point = KEYPAIRS["k256"].public_key.compressed
    for curve in ("secp256k1", "K256", "ed25519", "", None):
        with pytest.raises(InvalidKeyError) as info:
            PublicKey.from_bytes(point, curve)  # type: ignore[arg-type]
        assert "unknown curve" in str(info.value)
        with pytest.raises(InvalidKeyError):
            Keypair.generate(curve)  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError):
            Keypair.from_private_bytes(b"\x01" * 32, curve)  # type: ignore[arg-type]


def test_invalid_key_error_is_a_value_error() -> None:
    with pytest.raises(ValueError) as info:
        PublicKey.from_bytes(b"", "k256")
    assert isinstance(info.value, InvalidKeyError)
    assert isinstance(info.value, AtprotoError)


# --- keypairs ------------------------------------------------------------------------------


@curves
def test_keypair_never_shows_the_private_key(curve: str) -> None:
    keypair = Keypair.from_private_bytes(bytes(range(1, 33)), curve)
    secret = keypair.private_bytes()
    assert secret == bytes(range(1, 33))
    for shown in (repr(keypair), str(keypair), f"{keypair}", f"{keypair!r}"):
        assert secret.hex() not in shown.lower()
        assert str(int.from_bytes(secret, "big")) not in shown
        assert keypair.did_key() in shown
        assert curve in shown
    assert repr(keypair) == f"Keypair(curve={curve!r}, did_key={keypair.did_key()!r})"


@curves
def test_keypair_is_not_pickled(curve: str) -> None:
    with pytest.raises(TypeError) as info:
        pickle.dumps(KEYPAIRS[curve])
    assert "private_bytes" in str(info.value)


@curves
def test_keypair_is_immutable(curve: str) -> None:
    keypair = KEYPAIRS[curve]
    with pytest.raises(AttributeError):
        keypair.public_key = OTHER_KEYPAIRS[curve].public_key  # type: ignore[misc]
    assert copy.copy(keypair) is keypair


@curves
def test_keypair_round_trips_through_private_bytes(curve: str) -> None:
    keypair = KEYPAIRS[curve]
    again = Keypair.from_private_bytes(keypair.private_bytes(), curve)
    assert again.public_key == keypair.public_key
    assert again.did_key() == keypair.did_key()
    assert again.curve == curve
    assert keypair.public_key.verify(b"m", again.sign(b"m"))
    assert Keypair.from_private_bytes(bytearray(keypair.private_bytes()), curve).public_key == (
        keypair.public_key
    )


@curves
def test_generate_gives_distinct_keys(curve: str) -> None:
    keys = {Keypair.generate(curve).public_key for _ in range(20)}
    assert len(keys) == 20


@curves
def test_from_private_bytes_range(curve: str) -> None:
    n = ORDER[curve]
    assert Keypair.from_private_bytes((1).to_bytes(32, "big"), curve).curve == curve
    assert Keypair.from_private_bytes((n - 1).to_bytes(32, "big"), curve).curve == curve
    secret_looking = bytes.fromhex("deadbeef" * 8)
    bad: list[object] = [
        bytes(32),
        n.to_bytes(32, "big"),
        (n + 1).to_bytes(32, "big"),
        b"\xff" * 32,
        b"",
        secret_looking[:31],
        secret_looking + b"\x01",
        b"\x00" + (1).to_bytes(32, "big"),
        secret_looking.hex(),
        int.from_bytes(secret_looking, "big"),
        None,
    ]
    for raw in bad:
        with pytest.raises(InvalidKeyError) as info:
            Keypair.from_private_bytes(raw, curve)  # type: ignore[arg-type]
        message = str(info.value)
        assert "deadbeef" not in message.lower()
        assert str(int.from_bytes(secret_looking, "big")) not in message


# --- constants and imports -----------------------------------------------------------------


def test_curve_constants() -> None:
    assert CURVES == ("k256", "p256")
    assert dict(JWT_ALG) == {"k256": "ES256K", "p256": "ES256"}
    assert dict(CURVE_FOR_JWT_ALG) == {"ES256K": "k256", "ES256": "p256"}
    for curve, order in ORDER.items():
        pyca_order = getattr(PYCA_CURVE[curve], "group_order", None)  # pyca >= 44
        assert pyca_order in (None, order)
    # SEC 2, sections 2.4.1 and 2.4.2 (secp256r1 and secp256k1).
    assert P256_ORDER == 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    assert K256_ORDER == 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


def test_pyca_is_imported_on_the_first_p256_key_only() -> None:
    k256 = KEYPAIRS["k256"].did_key()
    p256 = KEYPAIRS["p256"].did_key()
    plain = _modules_after("import atproto_async")
    assert not any(
        m.startswith(("atproto_async.crypto", "cryptography", "coincurve")) for m in plain
    )
    on_import = _modules_after("import atproto_async.crypto")
    assert not any(m.startswith("cryptography") for m in on_import)
    k256_use = _modules_after(
        "from atproto_async.crypto import Keypair, parse_did_key\n"
        f"parse_did_key({k256!r}).verify(b'x', Keypair.generate('k256').sign(b'x'))"
    )
    assert not any(m.startswith("cryptography") for m in k256_use)
    p256_use = _modules_after(
        f"from atproto_async.crypto import parse_did_key\nparse_did_key({p256!r})"
    )
    assert "cryptography" in p256_use
