"""Which hosts are this machine: one answer for every module that lets plain http/ws reach them.

Plain ``http://`` and ``ws://`` are refused except to loopback hosts (a local PDS, relay or
PLC directory) unless ``allow_insecure`` is given; the XRPC client, the stream URLs, the
identity resolver and OAuth discovery all ask `is_loopback_host`, so that they agree on it.

Names: ``localhost`` and the spellings that mean it in ``/etc/hosts`` of common systems.
Names under ``.localhost`` are loopback by RFC 6761 only where the resolver is pinned to it
(the identity resolver answers them itself); the system resolver may send them to DNS, so they
are not counted here. IP literals: 127.0.0.0/8, ``::1`` and IPv4-mapped loopback, with or
without brackets.
"""

from __future__ import annotations

import ipaddress
from typing import Final

__all__ = ["LOOPBACK_NAMES", "is_loopback_host"]

#: Host names that mean this machine (compared lower case, without a trailing dot).
LOOPBACK_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, ``[::1]`` form allowed) is this machine."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
