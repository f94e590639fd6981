"""The DNS half of handle resolution: TXT lookups and the ``did=`` record they should hold.

A handle names its DID in a TXT record at ``_atproto.<handle>`` whose value is ``did=<DID>``;
the strings of one record are concatenated, records that do not start with ``did=`` are
ignored, and there must be exactly one ``did=`` record.
Spec: https://atproto.com/specs/handle#handle-resolution

`DnsResolver` does the lookups and maps every dnspython failure to `IdentityError` here, in one
place; `did_from_txt` is sans-I/O and picks the DID out of the records.

dnspython is imported on the first lookup, in a worker thread (``import dns.asyncresolver``
costs about 50 ms), so that importing this module stays cheap and the event loop never waits
on that import or on reading ``/etc/resolv.conf``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from atproto_async.exceptions import IdentityError
from atproto_async.syntax import is_valid_did

if TYPE_CHECKING:
    import dns.asyncresolver
    import dns.resolver

__all__ = ["DEFAULT_TIMEOUT", "DnsResolver", "did_from_txt", "lookup_txt"]

#: Seconds a whole lookup may take, all servers and retries included.
DEFAULT_TIMEOUT = 5.0
#: Longest wait for one server's answer before asking the next (dnspython's default); an
#: attempt also gets at most half the lookup's budget, so that a second try fits in it.
ATTEMPT_TIMEOUT = 2.0
#: Longest DNS name in text form, without the final dot (RFC 1035 section 2.3.4).
MAX_NAME_LENGTH = 253
#: The prefix of the one TXT record that names the handle's DID.
DID_PREFIX = "did="

# Labels of letters, digits, hyphens and underscores, 1-63 characters, one optional final dot.
_NAME_RE = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?", re.ASCII)
_SHOWN_RECORD_LENGTH = 80


class DnsResolver:
    """Looks up TXT records, either through the system resolver or given nameservers.

    Build one and keep it: the dnspython resolver behind it is made on the first lookup and
    reused. Answers are not cached here (the identity resolver owns the caches).

    Args:
        nameservers: ``(address, port)`` pairs to query, in order; the address is an IPv4 or
            IPv6 literal. None (the default) uses the system configuration
            (``/etc/resolv.conf``), read on the first lookup.
        timeout: Seconds one lookup may take in all, every server and retry included.

    Raises:
        ValueError: ``nameservers`` is empty or holds something other than an IP address and
            a port, or ``timeout`` is not positive.
    """

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        self._nameservers = None if nameservers is None else _checked_nameservers(nameservers)
        self._timeout = timeout
        self._resolver: dns.asyncresolver.Resolver | None = None

    @property
    def nameservers(self) -> tuple[tuple[str, int], ...] | None:
        """The ``(address, port)`` pairs queried, or None for the system configuration."""
        return self._nameservers

    @property
    def timeout(self) -> float:
        """Seconds one lookup may take in all."""
        return self._timeout

    def __repr__(self) -> str:
        servers = "system" if self._nameservers is None else list(self._nameservers)
        return f"DnsResolver(nameservers={servers!r}, timeout={self._timeout!r})"

    async def txt(self, name: str) -> list[str]:
        """Return the TXT records at ``name``, each one's strings joined.

        Only names made of letters, digits, hyphens and underscores (the alphabet of
        ``_atproto.<handle>`` for every valid handle) are looked up; anything else is not a
        name a handle can have, and gets no records without a query. A record that is not
        UTF-8 is left out.

        Args:
            name: The DNS name, e.g. ``"_atproto.alice.example.com"``; a final dot is allowed.

        Returns:
            The records in the order the server sent them; ``[]`` when the name does not exist
            (NXDOMAIN), has no TXT record, or is not a valid DNS name.

        Raises:
            IdentityError: No usable answer within ``timeout`` (a silent or unreachable
                server, or one sending only datagrams that are not DNS: dnspython ignores
                those); every server answered REFUSED, SERVFAIL or a broken TCP answer; or the
                system configuration was asked for and there is none. ``identifier`` is
                ``name``.
        """
        import dns.rdtypes.txtbase

        records: list[str] = []
        for rdata in await self._query(name, "TXT"):
            if not isinstance(rdata, dns.rdtypes.txtbase.TXTBase):
                continue
            try:
                records.append(b"".join(rdata.strings).decode("utf-8"))
            except UnicodeDecodeError:
                continue
        return records

    async def addresses(self, name: str) -> list[str]:
        """Return the IPv4 and IPv6 addresses of a host name (A and AAAA, asked together).

        Lets HTTP lookups of the identity resolver use the same nameservers as its TXT
        lookups (``nameservers=`` means all of its DNS goes there).

        Returns:
            The addresses, IPv4 first; ``[]`` when the name does not exist or has none.

        Raises:
            IdentityError: As for `txt`.
        """
        found = await asyncio.gather(self._query(name, "A"), self._query(name, "AAAA"))
        return [rdata.to_text() for answers in found for rdata in answers]

    async def _query(self, name: str, rdtype: str) -> list[Any]:
        """The records of one type at ``name`` ([] for NXDOMAIN, no answer, an invalid name)."""
        if len(name.rstrip(".")) > MAX_NAME_LENGTH or _NAME_RE.fullmatch(name) is None:
            return []
        try:
            async with asyncio.timeout(self._timeout):
                resolver = self._resolver
                if resolver is None:
                    resolver = await asyncio.to_thread(
                        _make_resolver, name, self._nameservers, self._timeout
                    )
                    self._resolver = resolver
                return await _resolve(resolver, name, rdtype, self._timeout)
        except TimeoutError as exc:
            raise IdentityError(name, _timed_out(self._timeout)) from exc


async def lookup_txt(
    name: str,
    *,
    nameservers: Sequence[tuple[str, int]] | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the lookup's budget is the API
) -> list[str]:
    """Return the TXT records at ``name``, each one's strings joined (a one-off `DnsResolver`).

    For repeated lookups keep a `DnsResolver` instead: this builds a new one on every call.

    Args:
        name: The DNS name, e.g. ``"_atproto.alice.example.com"``.
        nameservers: ``(address, port)`` pairs to query, or None for the system configuration.
        timeout: Seconds the whole lookup may take.

    Returns:
        The records (see `DnsResolver.txt`); ``[]`` for NXDOMAIN, no TXT record or an invalid
        name.

    Raises:
        IdentityError: Timeout, every server failed, or no system resolver configuration.
        ValueError: Malformed ``nameservers`` or a non-positive ``timeout``.
    """
    return await DnsResolver(nameservers, timeout=timeout).txt(name)


def did_from_txt(records: Sequence[str], name: str) -> str | None:
    """Return the DID named by the one ``did=`` record among ``records``.

    Records that do not start with ``did=`` (SPF, site verification...) are ignored. The spec
    asks for exactly one ``did=`` record, so two or more are an error even when they agree: the
    reference TypeScript resolvers refuse such a handle too. Nothing is stripped from the value.
    Spec: https://atproto.com/specs/handle#handle-resolution

    Args:
        records: TXT records as `DnsResolver.txt` returns them (strings already joined).
        name: The handle (or record name) being resolved, reported in errors.

    Returns:
        The DID, or None when no record starts with ``did=``.

    Raises:
        IdentityError: More than one ``did=`` record, or the one record's value is not a DID.
    """
    found = [record for record in records if record.startswith(DID_PREFIX)]
    if not found:
        return None
    if len(found) > 1:
        shown = ", ".join(_shown(record) for record in found)
        raise IdentityError(name, f"{len(found)} did= TXT records, the spec allows one: {shown}")
    did = found[0][len(DID_PREFIX) :]
    if not is_valid_did(did):
        raise IdentityError(name, f"TXT record {_shown(found[0])} does not hold a valid DID")
    return did


def _checked_nameservers(nameservers: Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    import ipaddress

    checked = tuple(nameservers)
    if not checked:
        raise ValueError("nameservers is empty; pass None to use the system configuration")
    for entry in checked:
        try:
            address, port = entry
            ipaddress.ip_address(address)
        except (TypeError, ValueError):
            raise ValueError(f"a nameserver is an (IP address, port) pair, not {entry!r}") from None
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"nameserver port must be 1-65535, not {port!r}")
    return checked


def _make_resolver(
    name: str, nameservers: tuple[tuple[str, int], ...] | None, timeout: float
) -> dns.asyncresolver.Resolver:
    """Build the dnspython resolver (runs in a worker thread: imports and file reads)."""
    import dns.asyncresolver
    import dns.nameserver
    import dns.resolver

    if nameservers is None:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise IdentityError(name, f"no system DNS configuration ({exc})") from exc
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(a, p) for a, p in nameservers]
    resolver.timeout = min(ATTEMPT_TIMEOUT, timeout / 2)
    resolver.lifetime = timeout
    return resolver


async def _resolve(
    resolver: dns.asyncresolver.Resolver, name: str, rdtype: str, lifetime: float
) -> list[Any]:
    """Query ``rdtype`` at ``name``; the one place dnspython exceptions become `IdentityError`."""
    import dns.exception
    import dns.resolver

    try:
        answer = await resolver.resolve(
            name, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime
        )
    except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN):
        return []
    except dns.resolver.NoNameservers as exc:
        raise IdentityError(name, f"no DNS server answered: {_failures(exc)}") from exc
    except dns.exception.Timeout as exc:
        raise IdentityError(name, _timed_out(lifetime)) from exc
    except dns.exception.DNSException as exc:
        raise IdentityError(name, f"DNS lookup failed: {exc}") from exc
    return list(answer.rrset or ())


def _failures(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    return "; ".join(f"{error[0]} answered {error[3]}" for error in errors) or "none reachable"


def _timed_out(timeout: float) -> str:
    return f"no DNS answer within {timeout:g} s"


def _shown(record: str) -> str:
    if len(record) > _SHOWN_RECORD_LENGTH:
        record = record[: _SHOWN_RECORD_LENGTH - 3] + "..."
    return repr(record)
