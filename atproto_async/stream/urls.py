"""Where a subscription connects: the ``wss://host/xrpc/<nsid>`` URL of an event stream.

Users pass what they have - a host (``bsky.network``), a service URL (``https://pds.example``)
or the full endpoint - and get the WebSocket URL. Plain ``ws://`` is accepted only for loopback
hosts (local development) unless explicitly allowed: the firehose is public, but a
man-in-the-middle could still feed a consumer forged events.
Spec: https://atproto.com/specs/event-stream#streaming-wire-protocol-v0
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from atproto_async._loopback import is_loopback_host

__all__ = ["SUBSCRIBE_LABELS", "SUBSCRIBE_REPOS", "stream_url"]

#: The two event streams of atproto (the names every module and the CLI use).
SUBSCRIBE_REPOS = "com.atproto.sync.subscribeRepos"
SUBSCRIBE_LABELS = "com.atproto.label.subscribeLabels"

_SCHEMES = {"wss": "wss", "https": "wss", "ws": "ws", "http": "ws"}


#: Kept under its old name: ``subscribe.py`` asks it whether a TLS failure is a local one.
_is_loopback = is_loopback_host


def stream_url(url: str, nsid: str, *, allow_insecure: bool = False) -> str:
    """Return the WebSocket URL of ``nsid`` on the server ``url`` (without a cursor).

    Args:
        url: A host (``bsky.network``), a base URL (``wss://bsky.network``, ``https://...``) or
            the full ``.../xrpc/<nsid>`` URL.
        nsid: The subscription method, used when ``url`` does not name one.
        allow_insecure: Allow unencrypted ``ws://`` to hosts other than loopback.

    Returns:
        A ``wss://`` (or ``ws://``) URL ending in ``/xrpc/<nsid>``.

    Raises:
        ValueError: The URL has no host, an unknown scheme, or is plain ``ws://`` to a
            remote host without ``allow_insecure``.
    """
    parts = urlsplit(url if "://" in url else f"wss://{url}")
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {url!r} (use wss://)")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in the stream URL {url!r}")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise ValueError(f"invalid port in the stream URL {url!r}") from None
    if scheme == "ws" and not allow_insecure and not _is_loopback(host):
        raise ValueError(
            f"refusing unencrypted ws:// to {host} (use wss://, or allow_insecure=True)"
        )
    path = parts.path
    if "/xrpc/" not in path:
        path = f"{path.rstrip('/')}/xrpc/{nsid}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cursor"]
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))
