"""atproto_async.syntax: the interop vectors line by line, the parse helpers, and TIDs."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.exceptions import InvalidSyntaxError
from atproto_async.syntax import (
    NSID,
    AtUri,
    _tid,
    ensure_valid,
    is_valid,
    is_valid_at_identifier,
    is_valid_at_uri,
    is_valid_cid,
    is_valid_datetime,
    is_valid_did,
    is_valid_handle,
    is_valid_language,
    is_valid_nsid,
    is_valid_record_key,
    is_valid_tid,
    is_valid_uri,
    make_tid,
    next_tid,
    normalize_handle,
    parse_datetime,
    parse_language,
    tid_clock_id,
    tid_timestamp,
)
from tests.conftest import FIXTURES, fixture_path

# --- interop vectors: ../shared/fixtures/interop/syntax/<kind>_<expectation>.txt ------------

SYNTAX_DIR = FIXTURES / "interop" / "syntax"
#: Non-blank, non-comment lines over all files of the vector folder.
EXPECTED_CASE_COUNT = 536

#: Vector file kind -> (Lexicon format name, its is_valid_* function).
KINDS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "atidentifier": ("at-identifier", is_valid_at_identifier),
    "aturi": ("at-uri", is_valid_at_uri),
    "cid": ("cid", is_valid_cid),
    "datetime": ("datetime", is_valid_datetime),
    "did": ("did", is_valid_did),
    "handle": ("handle", is_valid_handle),
    "language": ("language", is_valid_language),
    "nsid": ("nsid", is_valid_nsid),
    "recordkey": ("record-key", is_valid_record_key),
    "tid": ("tid", is_valid_tid),
    "uri": ("uri", is_valid_uri),
}

#: The full parse that *_parse_invalid lines (syntactically fine) must fail.
FULL_PARSE: dict[str, Callable[[str], object]] = {
    "datetime": parse_datetime,
    "language": parse_language,
}

EXPECTATIONS = ("syntax_valid", "syntax_invalid", "parse_invalid")


def _case_lines(text: str) -> list[tuple[int, str]]:
    """Numbered case lines: blank and '#' lines skipped, whitespace never stripped."""
    lines = text.split("\n")
    return [(n, line) for n, line in enumerate(lines, 1) if line and not line.startswith("#")]


def _load_cases() -> tuple[list[Any], list[str]]:
    if not SYNTAX_DIR.is_dir():
        return [pytest.param("", "", "", id="vectors-absent")], []
    params: list[Any] = []
    unknown: list[str] = []
    for path in sorted(SYNTAX_DIR.glob("*.txt")):
        kind, _, expectation = path.stem.partition("_")
        if kind not in KINDS or expectation not in EXPECTATIONS:
            unknown.append(path.name)
            continue
        for lineno, line in _case_lines(path.read_text(encoding="utf-8")):
            shown = ascii(line) if len(line) <= 40 else ascii(line[:37]) + "..."
            params.append(pytest.param(kind, expectation, line, id=f"{path.stem}:{lineno}={shown}"))
    return params, unknown


CASES, UNKNOWN_FILES = _load_cases()


@pytest.mark.parametrize(("kind", "expectation", "line"), CASES)
def test_interop_vector(kind: str, expectation: str, line: str) -> None:
    if not kind:
        fixture_path("interop", "syntax")  # skips, naming where the vectors should be
    fmt, check = KINDS[kind]
    if expectation == "syntax_valid":
        assert check(line) is True
        assert is_valid(fmt, line) is True
        assert ensure_valid(fmt, line) is line
    elif expectation == "syntax_invalid":
        assert check(line) is False
        assert is_valid(fmt, line) is False
        with pytest.raises(InvalidSyntaxError) as info:
            ensure_valid(fmt, line)
        assert info.value.value == line
        assert info.value.reason
    else:
        with pytest.raises(InvalidSyntaxError) as info:
            FULL_PARSE[kind](line)
        assert info.value.reason
        # Lexicon's language format is "well-formed"; its datetime must be a real instant.
        assert check(line) is (kind == "language")


def test_interop_vectors_are_all_collected() -> None:
    fixture_path("interop", "syntax")
    assert UNKNOWN_FILES == []
    assert len(CASES) == EXPECTED_CASE_COUNT


def _valid_lines(kind: str) -> list[str]:
    return [c.values[2] for c in CASES if c.values[:2] == (kind, "syntax_valid")] or [""]


@pytest.mark.parametrize("line", _valid_lines("aturi"))
def test_interop_at_uris_round_trip(line: str) -> None:
    if not line:
        fixture_path("interop", "syntax")
    uri = AtUri.parse(line)
    assert str(uri) == line
    assert AtUri(uri.authority, uri.collection, uri.rkey) == uri


@pytest.mark.parametrize("line", _valid_lines("nsid"))
def test_interop_nsids_round_trip(line: str) -> None:
    if not line:
        fixture_path("interop", "syntax")
    nsid = NSID.parse(line)
    assert str(nsid) == line
    assert NSID.from_parts(nsid.authority, nsid.name) == nsid


@pytest.mark.parametrize("line", _valid_lines("datetime"))
def test_interop_datetimes_parse(line: str) -> None:
    if not line:
        fixture_path("interop", "syntax")
    if line.startswith("0000-"):  # valid atproto, but not a Python year
        with pytest.raises(InvalidSyntaxError, match="outside Python's datetime range"):
            parse_datetime(line)
        return
    parsed = parse_datetime(line)
    assert parsed.tzinfo is not None
    assert parsed.year == int(line[:4])


@pytest.mark.parametrize("line", _valid_lines("language"))
def test_interop_languages_parse(line: str) -> None:
    if not line:
        fixture_path("interop", "syntax")
    assert parse_language(line).tag == line


# --- every is_valid_*: bool for any str, TypeError for anything else -------------------------

ALL_CHECKS = sorted((kind, check) for kind, (_, check) in KINDS.items())


@pytest.mark.parametrize(("kind", "check"), ALL_CHECKS, ids=[k for k, _ in ALL_CHECKS])
@pytest.mark.parametrize("value", [b"did:plc:abc", None, 12345, ["x"]], ids=repr)
def test_non_str_raises_type_error(kind: str, check: Callable[[Any], bool], value: Any) -> None:
    with pytest.raises(TypeError):
        check(value)


@pytest.mark.parametrize(("kind", "check"), ALL_CHECKS, ids=[k for k, _ in ALL_CHECKS])
@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_any_str_gives_a_bool(kind: str, check: Callable[[str], bool], text: str) -> None:
    assert check(text) in (True, False)


@pytest.mark.parametrize(
    ("check", "good"),
    [
        (is_valid_did, "did:plc:abc"),
        (is_valid_handle, "alice.test"),
        (is_valid_nsid, "app.bsky.feed.post"),
        (is_valid_at_uri, "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a"),
        (is_valid_record_key, "self"),
        (is_valid_tid, "3jzfcijpj2z2a"),
        (is_valid_datetime, "1985-04-12T23:20:50.123Z"),
        (is_valid_language, "pt-BR"),
        (is_valid_cid, "bafyreib2rxk3rh6kzwq"),
        (is_valid_uri, "https://example.com/"),
    ],
)
def test_a_trailing_newline_is_refused(check: Callable[[str], bool], good: str) -> None:
    assert check(good) is True
    assert check(good + "\n") is False


def test_format_names_must_be_known() -> None:
    with pytest.raises(ValueError, match="unknown Lexicon string format 'date'"):
        ensure_valid("date", "1985-04-12T23:20:50Z")
    with pytest.raises(ValueError, match="unknown Lexicon string format"):
        is_valid("DID", "did:plc:abc")
    with pytest.raises(TypeError, match="DID must be a str, not bytes"):
        ensure_valid("did", b"did:plc:abc")  # type: ignore[arg-type]


def test_import_stays_light() -> None:
    code = "import sys, json, atproto_async.syntax\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    heavy = {"ipaddress", "multiformats", "cbor2", "aiohttp", "attr", "dataclasses", "asyncio"}
    assert heavy & set(json.loads(out)) == set()


# --- DID, handle, at-identifier --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must start with 'did:'"),
        ("DID:plc:abc", "must start with 'did:'"),
        ("did:plc", "method and an identifier"),
        ("did:plc:", "method and an identifier"),
        ("did:METHOD:val", "method 'METHOD' must be lowercase"),
        ("did:m123:val", "method 'm123' must be lowercase"),
        ("did:method:val/two", "contains '/'"),
        ("did:method:val:", "must not end with ':' or '%'"),
        ("did:web:" + "a" * 2048, "longer than 2048"),
    ],
)
def test_ensure_valid_did_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError, match="invalid DID") as info:
        ensure_valid("did", value)
    assert reason in info.value.reason
    assert info.value.kind == "DID"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("john", "at least two labels"),
        ("john..test", "empty label"),
        (".john.test", "empty label"),
        ("jo_hn.test", "contains '_'"),
        ("john .test", "contains ' '"),
        ("john-.test", "starts or ends with '-'"),
        ("john.0", "top-level domain '0' must start with a letter"),
        ("127.0.0.1", "top-level domain '1'"),
        ("a." + "b" * 64 + ".test", "longer than 63"),
        ("a." * 127 + "test", "longer than 253"),
    ],
)
def test_ensure_valid_handle_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError) as info:
        ensure_valid("handle", value)
    assert reason in info.value.reason


def test_normalize_handle_lowercases_and_checks() -> None:
    assert normalize_handle("Alice.Bsky.SOCIAL") == "alice.bsky.social"
    assert ensure_valid("handle", "Alice.Test") == "Alice.Test"
    with pytest.raises(InvalidSyntaxError, match="at least two labels"):
        normalize_handle("alice")


def test_at_identifier_reports_the_did_or_handle_problem() -> None:
    assert ensure_valid("at-identifier", "did:plc:abc") == "did:plc:abc"
    assert ensure_valid("at-identifier", "alice.test") == "alice.test"
    with pytest.raises(InvalidSyntaxError, match="neither a DID nor a handle") as info:
        ensure_valid("at-identifier", "did:plc:")
    assert "identifier" in info.value.reason
    with pytest.raises(InvalidSyntaxError, match="at least two labels"):
        ensure_valid("at-identifier", "@handle")


# --- NSID ------------------------------------------------------------------------------------


def test_nsid_parts() -> None:
    nsid = NSID.parse("app.bsky.feed.post")
    assert nsid.authority == "feed.bsky.app"
    assert nsid.name == "post"
    assert nsid.segments == ("app", "bsky", "feed", "post")
    assert str(nsid) == "app.bsky.feed.post"
    assert repr(nsid) == "NSID('app.bsky.feed.post')"


def test_nsid_value_semantics() -> None:
    nsid = NSID.parse("com.atproto.repo.createRecord")
    assert nsid == NSID("com.atproto.repo.createRecord")
    assert nsid != NSID("com.atproto.repo.createrecord")
    assert nsid != "com.atproto.repo.createRecord"
    assert len({nsid, NSID.parse("com.atproto.repo.createRecord")}) == 1
    with pytest.raises(AttributeError, match="immutable"):
        nsid.name = "other"  # type: ignore[misc]


def test_nsid_from_parts_and_normalized() -> None:
    assert str(NSID.from_parts("feed.bsky.app", "post")) == "app.bsky.feed.post"
    assert str(NSID.parse("COM.Example.fooBar").normalized()) == "com.example.fooBar"
    with pytest.raises(InvalidSyntaxError, match="name"):
        NSID.from_parts("example.com", "foo-bar")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("com.example", "at least three segments"),
        ("0two.example.foo", "first segment '0two' must not start with a digit"),
        ("com.example-.foo", "starts or ends with '-'"),
        ("com..example.foo", "empty label"),
        ("com.exa\N{PILE OF POO}ple.thing", "contains"),
        ("com.example.fooBar.2", "must start with a letter"),
        ("a-0.b-1.c-3", "only contain ASCII letters and digits"),
        ("com.example." + "o" * 64, "longer than 63"),
        ("com.example.", "name (last segment) is empty"),
        ("com." + "middle." * 50 + "x", "longer than 317"),
    ],
)
def test_nsid_parse_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError, match="invalid NSID") as info:
        NSID.parse(value)
    assert reason in info.value.reason


_SEGMENT = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_LATER_SEGMENT = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{0,12}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(first=_SEGMENT, rest=st.lists(_LATER_SEGMENT, min_size=1, max_size=5), name=_NAME)
def test_generated_nsids_parse_and_round_trip(first: str, rest: list[str], name: str) -> None:
    text = ".".join([first, *rest, name])
    assert is_valid_nsid(text)
    nsid = NSID.parse(text)
    assert str(nsid) == text
    assert nsid.name == name
    assert nsid.authority == ".".join(reversed([first, *rest]))
    assert NSID.from_parts(nsid.authority, nsid.name) == nsid
    assert AtUri.parse(f"at://did:plc:abc/{text}").collection == text


# --- AT-URI ----------------------------------------------------------------------------------


def test_at_uri_parts() -> None:
    uri = AtUri.parse("at://did:plc:44ybard66vv44zksje25o7dz/app.bsky.feed.post/3jwdwj2ctlk26")
    assert uri.authority == "did:plc:44ybard66vv44zksje25o7dz"
    assert uri.did == "did:plc:44ybard66vv44zksje25o7dz"
    assert uri.collection == "app.bsky.feed.post"
    assert uri.rkey == "3jwdwj2ctlk26"
    assert repr(uri) == (
        "AtUri('at://did:plc:44ybard66vv44zksje25o7dz/app.bsky.feed.post/3jwdwj2ctlk26')"
    )


def test_at_uri_shorter_forms() -> None:
    repo = AtUri.parse("at://alice.test")
    assert (repo.authority, repo.collection, repo.rkey) == ("alice.test", None, None)
    assert repo.did is None
    collection = AtUri.parse("at://alice.test/app.bsky.feed.like")
    assert (collection.collection, collection.rkey) == ("app.bsky.feed.like", None)
    assert str(collection) == "at://alice.test/app.bsky.feed.like"


def test_at_uri_from_parts_round_trips() -> None:
    uri = AtUri("did:plc:abc", "app.bsky.feed.post", "3jzfcijpj2z2a")
    assert str(uri) == "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a"
    assert AtUri.parse(str(uri)) == uri
    assert hash(AtUri.parse(str(uri))) == hash(uri)
    assert uri != AtUri("did:plc:abc", "app.bsky.feed.post")
    assert uri != str(uri)
    with pytest.raises(AttributeError, match="immutable"):
        uri.rkey = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://did:plc:abc", "must start with 'at://'"),
        ("AT://did:plc:abc", "must start with 'at://'"),
        ("at://did:plc:abc/", "empty part"),
        ("at://", "empty part"),
        ("at://did:plc:abc//app.bsky.feed.post", "empty part"),
        ("at://did:plc:abc#frag", "query and fragment"),
        ("at://did:plc:abc/app.bsky.feed.post?x=1", "query and fragment"),
        ("at://did:plc:abc/app.bsky.feed.post/a/b", "too many path segments"),
        ("at://did:plc:/app.bsky.feed.post", "authority is not a DID"),
        ("at://name", "authority is neither a DID nor a handle"),
        ("at://did:plc:abc/short/stuff", "collection is not an NSID"),
        ("at://did:plc:abc/app.bsky.feed.post/..", "invalid record key"),
        ("at://did:plc:abc/app.bsky.feed.post/%23", "invalid record key: contains '%'"),
        ("at://did:plc:abc/app.bsky.feed.post/" + "o" * 8200, "longer than 8192"),
    ],
)
def test_at_uri_parse_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError, match="invalid AT-URI") as info:
        AtUri.parse(value)
    assert reason in info.value.reason
    assert is_valid_at_uri(value) is False


def test_at_uri_constructor_checks_parts() -> None:
    with pytest.raises(InvalidSyntaxError, match="record key needs a collection"):
        AtUri("did:plc:abc", None, "self")
    with pytest.raises(InvalidSyntaxError, match="collection is not an NSID"):
        AtUri("did:plc:abc", "posts", "self")
    with pytest.raises(InvalidSyntaxError, match="authority"):
        AtUri("not an identifier")


# --- record key, TID, CID, URI ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        (".", "'.' and '..' are not allowed"),
        ("..", "'.' and '..' are not allowed"),
        ("alpha/beta", "contains '/'"),
        ("dHJ1ZQ==", "contains '='"),
        ("o" * 513, "longer than 512"),
    ],
)
def test_record_key_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError) as info:
        ensure_valid("record-key", value)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3jzfcijpj2z2", "13 characters, not 12"),
        ("3JZFCIJPJ2Z2A", "contains 'J'"),
        ("3jzfcijpj2z21", "contains '1'"),
        ("kjzfcijpj2z2a", "overflows 64 bits"),
    ],
)
def test_tid_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError) as info:
        tid_timestamp(value)
    assert reason in info.value.reason


def test_cid_and_uri_name_the_problem() -> None:
    with pytest.raises(InvalidSyntaxError, match="CIDv0"):
        ensure_valid("cid", "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR")
    with pytest.raises(InvalidSyntaxError, match="8-256 characters"):
        ensure_valid("cid", "cid:bafy")
    with pytest.raises(InvalidSyntaxError, match="whitespace"):
        ensure_valid("uri", "https://example.com/path gap")
    with pytest.raises(InvalidSyntaxError, match="scheme"):
        ensure_valid("uri", "//example.com")
    with pytest.raises(InvalidSyntaxError, match="longer than 8192 bytes"):
        ensure_valid("uri", "https://example.com/" + "\N{PILE OF POO}" * 2100)


def test_uri_length_counts_utf8_bytes() -> None:
    assert is_valid_uri("https://example.com/" + "\N{PILE OF POO}" * 2000)
    assert not is_valid_uri("https://example.com/" + "\N{PILE OF POO}" * 2100)


# --- TID generation --------------------------------------------------------------------------


def test_make_tid_known_values() -> None:
    assert make_tid(0, 0) == "2222222222222"
    assert make_tid(2**53 - 1, 1023) == "bzzzzzzzzzzzz"  # 63 bits used of 65
    assert tid_clock_id("3jzfcijpj2z2a") == 6  # the last two characters: "2" -> 0, "a" -> 6
    assert tid_clock_id(make_tid(123, 517)) == 517


def test_make_tid_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        make_tid(2**53, 0)
    with pytest.raises(ValueError, match="timestamp"):
        make_tid(-1, 0)
    with pytest.raises(ValueError, match="clock id"):
        make_tid(0, 1024)


@settings(max_examples=200, deadline=None)
@given(
    a=st.integers(0, 2**53 - 1),
    b=st.integers(0, 2**53 - 1),
    clock=st.integers(0, 1023),
)
def test_make_tid_round_trips_and_sorts(a: int, b: int, clock: int) -> None:
    tid_a, tid_b = make_tid(a, clock), make_tid(b, clock)
    assert is_valid_tid(tid_a)
    assert tid_clock_id(tid_a) == clock
    assert tid_timestamp(tid_a) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=a)
    assert (tid_a < tid_b) == (a < b)


def test_next_tid_strictly_increases() -> None:
    tids = [next_tid() for _ in range(5000)]
    assert all(is_valid_tid(t) for t in tids)
    assert all(a < b for a, b in pairwise(tids))
    assert len({tid_clock_id(t) for t in tids}) == 1


def test_next_tid_survives_a_clock_going_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tid, "_last_tid_us", 0)
    readings = iter([1_000_000, 999_999, 1, 1_000_000, 2_000_000])
    monkeypatch.setattr(_tid, "_clock_us", lambda: next(readings))
    tids = [next_tid() for _ in range(5)]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    stamps = [(tid_timestamp(t) - epoch) // timedelta(microseconds=1) for t in tids]
    assert stamps == [1_000_000, 1_000_001, 1_000_002, 1_000_003, 2_000_000]
    assert tids == sorted(set(tids))


def test_next_tid_is_unique_across_threads() -> None:
    results: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        out.extend(next_tid() for _ in range(2000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [tid for out in results for tid in out]
    assert len(set(every)) == len(every)
    assert all(a < b for out in results for a, b in pairwise(out))


def test_tid_timestamp_is_near_now() -> None:
    stamp = tid_timestamp(next_tid())
    assert stamp.tzinfo is UTC
    assert abs(stamp - datetime.now(UTC)) < timedelta(days=1)


# --- datetime --------------------------------------------------------------------------------


def test_parse_datetime_values() -> None:
    assert parse_datetime("1985-04-12T23:20:50.123Z") == datetime(
        1985, 4, 12, 23, 20, 50, 123000, tzinfo=UTC
    )
    parsed = parse_datetime("1985-04-12T23:20:50.1234567890Z")
    assert parsed.microsecond == 123456
    west = parse_datetime("1985-04-12T23:20:50-07:00")
    assert west.utcoffset() == timedelta(hours=-7)
    assert west == datetime(1985, 4, 13, 6, 20, 50, tzinfo=UTC)
    assert parse_datetime("2000-02-29T00:00:00+01:45").tzinfo == timezone(
        timedelta(hours=1, minutes=45)
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1985-04-12T23:20:50.123-00:00", "-00:00 is not allowed"),
        ("1985-04-12T23:20:50.123z", "uppercase"),
        ("1985-04-12t23:20:50.123Z", "uppercase"),
        ("1985-04-12T23:20:50.123", "needs a timezone"),
        (" 1985-04-12T23:20:50.123Z", "whitespace"),
        ("1985-4-12T23:20:50.123Z", "must look like"),
        ("1900-02-29T00:00:00Z", "day 29 is out of range for 1900-02"),
        ("1985-04-12T23:20:50+24:00", "offset +24:00 is out of range"),
        ("0000-01-01T00:00:00.000Z", "outside Python's datetime range"),
    ],
)
def test_parse_datetime_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError, match="invalid datetime") as info:
        parse_datetime(value)
    assert reason in info.value.reason


def test_year_zero_is_valid_atproto_syntax() -> None:
    assert is_valid_datetime("0000-01-01T00:00:00.000Z")
    assert is_valid_datetime("0000-01-01T00:00:00-01:00")
    assert not is_valid_datetime("0000-01-01T00:59:59+01:00")
    assert is_valid_datetime("2000-02-29T00:00:00Z")


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_generated_datetimes_are_valid_and_parse_back(moment: datetime) -> None:
    text = moment.isoformat()
    assert is_valid_datetime(text)
    assert parse_datetime(text) == moment
    assert parse_datetime(text.replace("+00:00", "Z")) == moment


# --- language --------------------------------------------------------------------------------


def test_parse_language_parts() -> None:
    tag = parse_language("hy-Latn-IT-arevela")
    assert (tag.language, tag.script, tag.region) == ("hy", "Latn", "IT")
    assert tag.variants == ("arevela",)
    full = parse_language("en-GB-boont-r-extended-sequence-x-private")
    assert full.variants == ("boont",)
    assert full.extensions == {"r": ("extended", "sequence")}
    assert full.private_use == ("private",)
    assert parse_language("es-419").region == "419"
    assert parse_language("zh-yue-HK").language == "zh-yue"
    assert parse_language("en-u-co-phonebk-t-en-US").extensions == {
        "u": ("co", "phonebk"),
        "t": ("en", "US"),
    }


def test_parse_language_private_use_and_grandfathered() -> None:
    private = parse_language("X-fr-CH")
    assert (private.language, private.private_use) == ("", ("fr", "CH"))
    irregular = parse_language("i-default")
    assert irregular.language == "i-default"
    assert parse_language("sgn-BE-NL") == parse_language("sgn-be-nl")
    assert repr(irregular) == "LanguageTag('i-default')"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("de-DE-1901-1901", "variant '1901' is repeated"),
        ("en-rozaj-ROZAJ", "variant 'ROZAJ' is repeated"),
        ("en-a-foo-a-bar", "singleton 'a' is repeated"),
        ("JA", "well-formed"),
        ("ja-", "well-formed"),
    ],
)
def test_parse_language_names_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidSyntaxError, match="invalid language tag") as info:
        parse_language(value)
    assert reason in info.value.reason


def test_value_types_survive_pickle_and_copy() -> None:
    uri = AtUri.parse("at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a")
    nsid = NSID.parse("app.bsky.feed.post")
    for value in (uri, nsid):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value
        assert copy.copy(value) == value
