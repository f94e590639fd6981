"""Repo paths as MST keys: syntax, heights and shared prefixes (interop vectors when present)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.repo import (
    MAX_KEY_LENGTH,
    RepoError,
    common_prefix_length,
    ensure_valid_key,
    is_valid_key,
    key_height,
)
from atproto_async.repo.paths import _KEYS_RE
from tests.conftest import fixture_path


def test_key_heights_interop() -> None:
    cases = json.loads(fixture_path("interop", "mst", "key_heights.json").read_text())
    assert cases
    for case in cases:
        assert key_height(case["key"]) == case["height"], case


def test_key_height_spec_examples_and_bytes() -> None:
    # https://atproto.com/specs/repository#mst-structure
    assert key_height("2653ae71") == 0
    assert key_height("blue") == 1
    assert key_height("app.bsky.feed.post/454397e440ec") == 4
    assert key_height(b"app.bsky.feed.post/9adeb165882c") == 8


def test_common_prefix_interop() -> None:
    cases = json.loads(fixture_path("interop", "mst", "common_prefix.json").read_text())
    assert cases
    for case in cases:
        assert common_prefix_length(case["left"], case["right"]) == case["len"], case


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [(b"", b"", 0), (b"abc", b"abd", 2), (b"abc", b"abc\x00", 3), ("co\u00f6p", "co\u00fcp", 3)],
)
def test_common_prefix_counts_bytes(left: str | bytes, right: str | bytes, expected: int) -> None:
    assert common_prefix_length(left, right) == expected


def test_example_keys_are_valid() -> None:
    lines = fixture_path("interop", "mst", "example_keys.txt").read_text().splitlines()
    keys = [line for line in lines if line]
    assert keys
    assert all(is_valid_key(key) for key in keys)


@pytest.mark.parametrize(
    "key",
    [
        "app.bsky.feed.post/3jqfcqzm3fo2j",
        "com.example.record/self",
        "A0/374913",
        "a/b",
        "x.y/any:thing~ok_-.",
        "a/..x",
        "a/" + "k" * (MAX_KEY_LENGTH - 2),
    ],
)
def test_valid_keys(key: str) -> None:
    assert is_valid_key(key)
    ensure_valid_key(key)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("a/" + "k" * (MAX_KEY_LENGTH - 1), "longer than 1024"),
        ("nocollection", "exactly one '/'"),
        ("a/b/c", "exactly one '/'"),
        ("/rkey", "empty segment"),
        ("coll/", "empty segment"),
        ("coll/a b", "contains ' '"),
        ("coll/caf\u00e9", "contains"),
        ("coll/line\n", "contains"),
        ("./rkey", "'.' or '..'"),
        ("coll/..", "'.' or '..'"),
        ("coll/.", "'.' or '..'"),
    ],
)
def test_invalid_keys(key: str, reason: str) -> None:
    assert not is_valid_key(key)
    with pytest.raises(RepoError, match=reason):
        ensure_valid_key(key)


def test_non_str_key_is_invalid() -> None:
    assert not is_valid_key(b"a/b")  # type: ignore[arg-type]
    with pytest.raises(RepoError, match="must be a str"):
        ensure_valid_key(b"a/b")  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet="ab.:~_-/", max_size=8), min_size=1, max_size=5))
def test_keys_checked_at_once_as_one_by_one(keys: list[str]) -> None:
    # ``_KEYS_RE`` checks the keys of an MST node joined by spaces, which no key holds.
    together = _KEYS_RE.fullmatch(" ".join(keys).encode()) is not None
    assert together == all(is_valid_key(key) for key in keys)
