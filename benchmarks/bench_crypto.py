"""Signature verification, signing and did:key parsing: atproto-async against pyca, per curve.

All measured in the same run, on data shaped like a relay's work: a pool of ``--keys``
keypairs per curve, each with its own random 150-200 byte message (the size of an unsigned
commit) and signature, so every call in a pass gets a different key, message and signature.

1. verify: ``PublicKey.verify(data, sig)`` (keys parsed once, as the identity cache holds them)
   against pyca ``cryptography`` verifying the same 64-byte ``r || s`` signatures with
   ``EllipticCurvePublicKey.verify`` (SECP256K1 / SECP256R1, ECDSA-SHA256), which needs the
   DER form, so the baseline pays ``encode_dss_signature`` as any pyca user would. Target:
   K-256 >= 5x pyca.
2. sign: ``Keypair.sign`` against pyca ``sign`` plus the DER -> ``r || s`` conversion and the
   low-S fix that atproto requires.
3. parse: ``parse_did_key`` on the pool's did:key strings (no baseline: pyca has no did:key).

``--alternatives`` adds the K-256 designs measured and set aside: ``coincurve.PublicKey.verify``
(its public API, with the same checks and the compact signature converted to DER per call),
and pyca given DER signatures encoded beforehand (the baseline without its conversion).

Ways run interleaved over ``--rounds`` rounds and the best CPU time of each is kept, so a busy
machine disturbs them alike. Usage::

    python benchmarks/bench_crypto.py [--keys 200] [--passes 10] [--rounds 5] [--alternatives]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import coincurve
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import SHA256

from atproto_async.crypto import (
    K256,
    K256_ORDER,
    P256,
    P256_ORDER,
    Keypair,
    PublicKey,
    parse_did_key,
)

ECDSA_SHA256 = ec.ECDSA(SHA256())
PYCA_CURVE = {K256: ec.SECP256K1(), P256: ec.SECP256R1()}
ORDER = {K256: K256_ORDER, P256: P256_ORDER}


class Pool:
    """Keypairs, messages and signatures of one curve, and each key in every form measured."""

    def __init__(self, curve: str, size: int, rng: random.Random) -> None:
        self.curve = curve
        self.keypairs = [Keypair.generate(curve) for _ in range(size)]
        self.messages = [rng.randbytes(rng.randint(150, 200)) for _ in range(size)]
        self.signatures = [kp.sign(m) for kp, m in zip(self.keypairs, self.messages, strict=True)]
        self.did_keys = [kp.did_key() for kp in self.keypairs]
        self.keys: list[PublicKey] = [parse_did_key(d) for d in self.did_keys]
        pyca_curve = PYCA_CURVE[curve]
        self.pyca_keys = [
            ec.EllipticCurvePublicKey.from_encoded_point(pyca_curve, k.compressed)
            for k in self.keys
        ]
        self.pyca_private = [
            ec.derive_private_key(int.from_bytes(kp.private_bytes(), "big"), pyca_curve)
            for kp in self.keypairs
        ]
        self.ders = [
            encode_dss_signature(int.from_bytes(s[:32], "big"), int.from_bytes(s[32:], "big"))
            for s in self.signatures
        ]
        self.coincurve_keys = (
            [coincurve.PublicKey(k.compressed) for k in self.keys] if curve == K256 else []
        )


def ours_verify(pool: Pool) -> None:
    for key, message, sig in zip(pool.keys, pool.messages, pool.signatures, strict=True):
        if not key.verify(message, sig):
            raise AssertionError("valid signature refused")


def pyca_verify(pool: Pool) -> None:
    from_bytes = int.from_bytes
    for key, message, sig in zip(pool.pyca_keys, pool.messages, pool.signatures, strict=True):
        der = encode_dss_signature(from_bytes(sig[:32], "big"), from_bytes(sig[32:], "big"))
        key.verify(der, message, ECDSA_SHA256)


def pyca_verify_der(pool: Pool) -> None:
    for key, message, der in zip(pool.pyca_keys, pool.messages, pool.ders, strict=True):
        key.verify(der, message, ECDSA_SHA256)


_ZERO = bytes(32)
_N = K256_ORDER.to_bytes(32, "big")
_HALF = (K256_ORDER // 2).to_bytes(32, "big")


def _coincurve_check(key: coincurve.PublicKey, message: bytes, sig: bytes) -> bool:
    """`PublicKey.verify` built on coincurve's public API: same checks, DER per call."""
    if len(sig) != 64 or not (_ZERO < sig[:32] < _N and _ZERO < sig[32:] <= _HALF):
        return False
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        return key.verify(der, message)
    except ValueError:
        return False


def coincurve_verify(pool: Pool) -> None:
    keys, messages, sigs = pool.coincurve_keys, pool.messages, pool.signatures
    for key, message, sig in zip(keys, messages, sigs, strict=True):
        if not _coincurve_check(key, message, sig):
            raise AssertionError("valid signature refused")


def ours_sign(pool: Pool) -> None:
    for keypair, message in zip(pool.keypairs, pool.messages, strict=True):
        keypair.sign(message)


def pyca_sign(pool: Pool) -> None:
    order = ORDER[pool.curve]
    half = order // 2
    for private, message in zip(pool.pyca_private, pool.messages, strict=True):
        r, s = decode_dss_signature(private.sign(message, ECDSA_SHA256))
        if s > half:
            s = order - s
        r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ours_parse(pool: Pool) -> None:
    for did_key in pool.did_keys:
        parse_did_key(did_key)


def check_baselines(pools: list[Pool]) -> None:
    """Every way must accept the pool (a baseline that refuses would be measuring errors)."""
    for pool in pools:
        try:
            pyca_verify(pool)
        except InvalidSignature as exc:
            raise AssertionError(f"pyca refused a {pool.curve} signature") from exc
        ours_verify(pool)


def measure(
    ways: dict[str, tuple[Callable[[Pool], None], Pool]], passes: int, rounds: int
) -> dict[str, float]:
    """Best CPU seconds per call of each way over interleaved rounds."""
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, (way, pool) in ways.items():
            start = time.process_time()
            for _ in range(passes):
                way(pool)
            elapsed = (time.process_time() - start) / (passes * len(pool.messages))
            best[name] = min(best[name], elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200, help="keypairs (and messages) per curve")
    parser.add_argument("--passes", type=int, default=10, help="passes over the pool per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message generator")
    parser.add_argument(
        "--alternatives", action="store_true", help="also time the K-256 designs set aside"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    k256, p256 = Pool(K256, args.keys, rng), Pool(P256, args.keys, rng)
    check_baselines([k256, p256])
    ways: dict[str, tuple[Callable[[Pool], None], Pool]] = {}
    for pool in (k256, p256):
        c = pool.curve
        ways[f"{c} verify"] = (ours_verify, pool)
        ways[f"{c} verify pyca"] = (pyca_verify, pool)
        ways[f"{c} sign"] = (ours_sign, pool)
        ways[f"{c} sign pyca"] = (pyca_sign, pool)
        ways[f"{c} parse_did_key"] = (ours_parse, pool)
    if args.alternatives:
        ways["k256 verify coincurve DER"] = (coincurve_verify, k256)
        ways["k256 verify pyca, DER given"] = (pyca_verify_der, k256)
    print(
        f"{args.keys} keys per curve, messages of 150-200 bytes, {args.passes} passes, "
        f"best of {args.rounds} rounds (CPU time)"
    )
    best = measure(ways, args.passes, args.rounds)
    rows: list[tuple[str, float, str]] = []
    for name, seconds in best.items():
        baseline: Any = None
        if name.endswith(("verify", "sign")):
            baseline = best.get(f"{name} pyca")
        elif name.startswith("k256 verify ") and name != "k256 verify pyca":
            baseline = best["k256 verify pyca"]
        ratio = f"{baseline / seconds:6.2f}x pyca" if baseline else ""
        rows.append((name, seconds, ratio))
    for name, seconds, ratio in rows:
        print(f"{name:30s} {1 / seconds:10,.0f} /s {seconds * 1e6:8.1f} us   {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
