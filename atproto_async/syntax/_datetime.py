"""The Lexicon ``datetime`` format: the check, its reasons, and `parse_datetime`.

Spec: https://atproto.com/specs/lexicon#datetime
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from atproto_async.exceptions import InvalidSyntaxError
from atproto_async.syntax._identifiers import _check_str

_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def is_valid_datetime(s: str) -> bool:
    """Whether ``s`` is a Lexicon datetime: RFC 3339 and ISO 8601 at once, and a real instant.

    Out-of-range fields (month 13, hour 25, ...) are refused here too, since a Lexicon
    validator must refuse them; `parse_datetime` names the problem.
    """
    m = _DATETIME_RE.fullmatch(s)
    return m is not None and _datetime_problem(m) is None


# --- datetime -------------------------------------------------------------------------------

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _datetime_problem(m: re.Match[str]) -> str | None:
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    tz = m.group(8)
    if not 1 <= month <= 12:
        return f"month {month:02d} is out of range"
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= days:
        return f"day {day:02d} is out of range for {year:04d}-{month:02d}"
    if hour > 23 or minute > 59 or second > 59:
        return f"time {hour:02d}:{minute:02d}:{second:02d} is out of range"
    offset = 0
    if tz != "Z":
        if tz == "-00:00":
            return "offset -00:00 is not allowed (RFC 3339 'unknown offset'); use Z"
        tz_hours, tz_minutes = int(tz[1:3]), int(tz[4:6])
        if tz_hours > 23 or tz_minutes > 59:
            return f"offset {tz} is out of range"
        offset = (tz_hours * 60 + tz_minutes) * (1 if tz[0] == "+" else -1)
    if (year, month, day) == (0, 1, 1) and hour * 60 + minute - offset < 0:
        return "normalizes to a time before year 0000"
    return None


def parse_datetime(s: str) -> datetime:
    """Parse a Lexicon datetime into a timezone-aware `datetime`.

    The offset is kept (``Z`` gives UTC); digits past microseconds are dropped.
    Spec: https://atproto.com/specs/lexicon#datetime

    Args:
        s: e.g. ``"1985-04-12T23:20:50.123Z"``.

    Returns:
        The aware datetime.

    Raises:
        InvalidSyntaxError: ``s`` is not a valid datetime, or lies outside what `datetime`
            can hold (year 0000 is valid atproto but not a Python year).
        TypeError: ``s`` is not a str.
    """
    m = _DATETIME_RE.fullmatch(_check_str("datetime", s))
    if m is None:
        raise InvalidSyntaxError("datetime", s, _datetime_shape_problem(s))
    problem = _datetime_problem(m)
    if problem is not None:
        raise InvalidSyntaxError("datetime", s, problem)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year == 0:
        raise InvalidSyntaxError("datetime", s, "year 0000 is outside Python's datetime range")
    micro = int((m.group(7) or "").ljust(6, "0")[:6])
    tz = m.group(8)
    if tz == "Z":
        tzinfo = UTC
    else:
        delta = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        tzinfo = timezone(delta if tz[0] == "+" else -delta)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tzinfo)


def _datetime_shape_problem(s: str) -> str:
    if s != s.strip():
        return "has leading or trailing whitespace"
    if s.endswith("z") or "t" in s[8:12]:
        return "'T' and 'Z' must be uppercase"
    if s.endswith("-00:00"):
        return "offset -00:00 is not allowed (RFC 3339 'unknown offset'); use Z"
    if not (s.endswith("Z") or s[-6:-5] in ("+", "-")):
        return "needs a timezone: 'Z' or '+HH:MM' / '-HH:MM'"
    return "must look like 1985-04-12T23:20:50.123Z (4-digit year, 2-digit fields, seconds)"


def _datetime_check_problem(s: str) -> str:
    m = _DATETIME_RE.fullmatch(s)
    return _datetime_shape_problem(s) if m is None else (_datetime_problem(m) or "")
