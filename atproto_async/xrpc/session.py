"""The saved state of a logged-in account, and the small facts read from it.

A `Session` is what ``com.atproto.server.createSession`` / ``refreshSession`` return, plus the
URL of the account's PDS taken from the DID document (requests go there, not to the entryway).
It is a frozen value: a refresh makes a new one. Its repr never shows the tokens.

The JWTs are opaque to clients (https://atproto.com/specs/xrpc#authentication); the only thing
read from them, without verifying anything, is the ``exp`` claim, so the access token can be
refreshed shortly before it expires instead of after a failed request.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
from yarl import URL

from atproto_async._loopback import is_loopback_host

__all__ = [
    "Session",
    "check_service_url",
    "is_loopback_url",
    "jwt_claims",
    "pds_endpoint",
]

_EXPORT_VERSION = 1


@attrs.frozen(kw_only=True)
class Session:
    """A logged-in account: tokens, identity and where its PDS is.

    Attributes:
        did: The account DID.
        handle: The account handle.
        access_jwt: Short-lived token sent as ``Authorization: Bearer`` (hidden from repr).
        refresh_jwt: Long-lived token that buys new access tokens (hidden from repr).
        pds_url: Base URL of the account's PDS from its DID document, or None to keep using
            the service the client was made with.
        email: The account email, when the server shares it.
        email_confirmed: Whether the email is confirmed, when known.
        email_auth_factor: Whether login needs an emailed code, when known.
        active: Whether the account is active, when known.
        status: Why the account is not active (``takendown``, ``deactivated``...), when known.
    """

    did: str
    handle: str
    access_jwt: str = attrs.field(repr=False)
    refresh_jwt: str = attrs.field(repr=False)
    pds_url: str | None = None
    email: str | None = None
    email_confirmed: bool | None = None
    email_auth_factor: bool | None = None
    active: bool | None = None
    status: str | None = None

    @classmethod
    def from_response(cls, data: Mapping[str, Any], *, pds_url: str | None = None) -> Session:
        """Build a session from a createSession / refreshSession / getSession output.

        Args:
            data: The JSON output (camelCase keys, as the lexicon names them).
            pds_url: The PDS URL to keep when the output has no usable DID document.

        Raises:
            ValueError: A required field is missing or is not a string.
        """
        values: dict[str, Any] = {}
        for key, name in (
            ("did", "did"),
            ("handle", "handle"),
            ("accessJwt", "access_jwt"),
            ("refreshJwt", "refresh_jwt"),
        ):
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"session output has no {key!r} string")
            values[name] = value
        for key, name, kind in (
            ("email", "email", str),
            ("emailConfirmed", "email_confirmed", bool),
            ("emailAuthFactor", "email_auth_factor", bool),
            ("active", "active", bool),
            ("status", "status", str),
        ):
            value = data.get(key)
            if isinstance(value, kind):
                values[name] = value
        did_doc = data.get("didDoc")
        found = pds_endpoint(did_doc) if isinstance(did_doc, Mapping) else None
        return cls(pds_url=found or pds_url, **values)

    @property
    def access_expires_at(self) -> float | None:
        """POSIX time the access token expires (its ``exp``), or None when unreadable."""
        return _expiry(self.access_jwt)

    @property
    def refresh_expires_at(self) -> float | None:
        """POSIX time the refresh token expires (its ``exp``), or None when unreadable."""
        return _expiry(self.refresh_jwt)

    def to_json(self) -> str:
        """Serialize for `from_json` (contains the tokens: store it like a password)."""
        data = attrs.asdict(self)
        data["v"] = _EXPORT_VERSION
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Session:
        """Read what `to_json` wrote.

        Raises:
            ValueError: The text is not an exported session.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError("saved session is not JSON") from exc
        if not isinstance(data, dict) or data.get("v") != _EXPORT_VERSION:
            raise ValueError("saved session has an unknown format")
        fields = {f.name for f in attrs.fields(cls)}
        try:
            return cls(**{key: value for key, value in data.items() if key in fields})
        except TypeError as exc:
            raise ValueError(f"saved session is incomplete: {exc}") from None


def jwt_claims(token: str) -> dict[str, Any] | None:
    """Read the payload of a JWT without verifying it (the client only needs ``exp``).

    Returns:
        The claims, or None when the token is not a readable JWT.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _expiry(token: str) -> float | None:
    claims = jwt_claims(token)
    if claims is None:
        return None
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None


def pds_endpoint(did_doc: Mapping[str, Any]) -> str | None:
    """Return the ``#atproto_pds`` service endpoint of a DID document, if it is an HTTP(S) URL.

    Spec: https://atproto.com/specs/did#did-documents
    """
    services = did_doc.get("service")
    if not isinstance(services, list):
        return None
    for service in services:
        if not isinstance(service, Mapping):
            continue
        sid = service.get("id")
        if not isinstance(sid, str) or not sid.endswith("#atproto_pds"):
            continue
        endpoint = service.get("serviceEndpoint")
        if isinstance(endpoint, str) and urlsplit(endpoint).scheme in ("http", "https"):
            return endpoint.rstrip("/")
        return None
    return None


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = URL(url).host
    except (ValueError, TypeError):
        return False
    return is_loopback_host(host or "")


def check_service_url(url: str, *, allow_insecure: bool = False) -> str:
    """Validate a service base URL and return it without a trailing slash.

    The URL is read by yarl, the parser the transport sends requests with, so the host
    checked here is the host connected to: a URL two parsers read differently
    (``http://a.example\\@127.0.0.1``) is refused, not checked as one host and sent to another.
    Plain ``http://`` is accepted only for loopback hosts unless ``allow_insecure`` is set:
    tokens must not cross the open internet in clear text
    (https://atproto.com/specs/xrpc#security-and-privacy-considerations).

    Raises:
        ValueError: The URL cannot be parsed, is not http(s), has no host, carries a user
            name or password, a query or a fragment, or is insecure.
    """
    expected = f"service URL must be http(s)://host[:port], not {url!r}"
    try:
        parsed = URL(url)
        host = parsed.host
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{expected} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise ValueError(expected)
    if parsed.raw_user is not None or parsed.raw_password is not None:
        # Not quoted: the URL holds a password.
        raise ValueError(f"service URL must not carry a user name or password (host {host})")
    if "?" in url or "#" in url:  # even empty: the method path is appended to the URL
        raise ValueError(f"service URL must not have a query or fragment: {url!r}")
    if parsed.scheme == "http" and not allow_insecure and not is_loopback_host(host):
        raise ValueError(
            f"refusing plain http:// to a non-loopback host ({host}); "
            "use https:// or pass allow_insecure=True"
        )
    return url.rstrip("/")
