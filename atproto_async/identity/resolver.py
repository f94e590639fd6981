"""Resolving handles and DIDs: `IdentityResolver` (network) and `StaticIdentityResolver` (given).

- handle -> DID: the DNS TXT record ``_atproto.<handle>`` and
  ``https://<handle>/.well-known/atproto-did``, asked at the same time. An answer from DNS wins
  (the HTTPS lookup is then cancelled); HTTPS counts only when DNS has none.
- DID -> document: ``did:plc`` from a PLC directory (``GET <plc_url>/<did>``), ``did:web`` from
  ``https://<host>/.well-known/did.json`` (host names only, as atproto allows).
- `IdentityResolver.resolve` checks a handle both ways: it is the account's only if the handle
  names the DID and the DID document names the handle back.

Every answer comes from a hostile network until checked: bodies are capped before they are
read whole, every lookup has a deadline, redirects are followed a few times and each target is
checked again, and unless ``allow_insecure`` only ``https://`` URLs to public addresses are
fetched (the transport refuses a host name that resolves to a private or loopback address).
HTTP goes through the xrpc transport seam, so aiohttp stays in ``xrpc/transport.py``.

Specs: https://atproto.com/specs/handle, https://atproto.com/specs/did
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import unquote, urljoin, urlsplit

import attrs

from atproto_async._loopback import is_loopback_host
from atproto_async.exceptions import (
    DecodeError,
    HostNotFound,
    IdentityError,
    IdentityNotFound,
    RequestTimeout,
    TransportError,
)
from atproto_async.identity._dns import DnsResolver, did_from_txt
from atproto_async.identity.cache import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_FAILURE_TTL,
    DEFAULT_FRESH_TTL,
    DEFAULT_MAX_TTL,
    ResolutionCache,
)
from atproto_async.identity.document import MAX_DID_LENGTH, DidDocument
from atproto_async.syntax import is_valid_did, is_valid_handle

if TYPE_CHECKING:
    from atproto_async.xrpc.transport import Transport

__all__ = [
    "DEFAULT_MAX_DOCUMENT_SIZE",
    "DEFAULT_PLC_URL",
    "Identity",
    "IdentityResolver",
    "Resolver",
    "StaticIdentityResolver",
]

DEFAULT_PLC_URL: Final = "https://plc.directory"
#: The largest DID document read, in bytes. Real ones are 1-3 KB; a PLC operation is capped
#: at about 7.5 KB by the directory, so 64 KiB leaves room and refuses a flood.
DEFAULT_MAX_DOCUMENT_SIZE: Final = 64 * 1024
#: The longest ``/.well-known/atproto-did`` body read: a DID and some whitespace.
_MAX_WELL_KNOWN_SIZE: Final = MAX_DID_LENGTH + 64
_MAX_REDIRECTS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_PLC_DID: Final = re.compile(r"did:plc:[a-z2-7]{24}")


@attrs.frozen(kw_only=True)
class Identity:
    """Who an account is, as resolved.

    Attributes:
        did: The account's DID.
        handle: Its handle, only if verified both ways (the handle resolves to ``did`` and the
            document claims the handle); None otherwise, never an unverified claim.
        claimed_handle: The handle the DID document claims, verified or not.
        pds: Its PDS endpoint, or None.
        signing_key: Its ``#atproto`` key as a compressed ``did:key``, or None.
        document: The DID document.
    """

    did: str
    handle: str | None
    claimed_handle: str | None
    pds: str | None
    signing_key: str | None
    document: DidDocument


class Resolver(Protocol):
    """What the rest of the library needs from a resolver (both classes here are one)."""

    async def resolve_handle(self, handle: str) -> str: ...

    async def resolve_did(self, did: str) -> DidDocument: ...

    async def resolve(self, handle_or_did: str) -> Identity: ...

    def invalidate(self, did_or_handle: str) -> None: ...


def _normal_handle(handle: str) -> str:
    if not isinstance(handle, str) or len(handle) > 253 or not is_valid_handle(handle):
        raise IdentityError(str(handle)[:300], "not a valid handle")
    return handle.lower()


def _check_did(did: str) -> str:
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH or not is_valid_did(did):
        raise IdentityError(str(did)[:300], "not a valid DID")
    return did


def _refused_address(address: str) -> str | None:
    """Why a connection to ``address`` is refused without ``allow_insecure``, or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{address} is a loopback address"
    if not ip.is_global or ip.is_multicast:
        return f"{address} is not a public address"
    return None


async def _verified_handle(resolver: Resolver, did: str, claimed: str | None) -> str | None:
    if claimed is None:
        return None
    try:
        return claimed if await resolver.resolve_handle(claimed) == did else None
    except IdentityError:
        return None


async def _resolve(resolver: Resolver, handle_or_did: str) -> Identity:
    if isinstance(handle_or_did, str) and handle_or_did.startswith("did:"):
        did = handle_or_did
        document = await resolver.resolve_did(did)
        handle = await _verified_handle(resolver, did, document.handle)
    else:
        asked = _normal_handle(handle_or_did)
        did = await resolver.resolve_handle(asked)
        document = await resolver.resolve_did(did)
        handle = asked if document.handle == asked else None
    return Identity(
        did=did,
        handle=handle,
        claimed_handle=document.handle,
        pds=document.pds,
        signing_key=document.signing_key,
        document=document,
    )


class IdentityResolver:
    """Resolves handles and DIDs over the network, with a cache a long-running process can keep.

    Use it as an async context manager (or call `close`); one resolver is meant to be shared
    (``Client(resolver=...)``, the sync verifier, a feed generator).

    Args:
        plc_url: The PLC directory for ``did:plc``.
        timeout: Seconds allowed for each lookup (DNS, one HTTP request, a whole redirect
            chain).
        nameservers: ``[(host, port), ...]`` to send DNS queries to, instead of the system's.
        allow_insecure: Permit ``http://`` URLs, loopback and private addresses, and did:web
            hosts with a port (tests and local development only).
        cache_size: Entries kept in each of the two caches (handles, DID documents).
        fresh_ttl: Seconds an answer is used without asking again.
        max_ttl: Seconds a stale answer is still served while it is refreshed in the
            background.
        failure_ttl: Seconds a failed lookup is remembered.
        max_document_size: The largest DID document read, in bytes.
        transport: The HTTP transport (default: an `AiohttpTransport` owned by the resolver,
            capped at ``max_document_size`` and refusing private addresses unless
            ``allow_insecure``); a transport passed in is not closed by `close`.
        clock: Monotonic seconds for the caches (tests pass a fake).
    """

    def __init__(
        self,
        *,
        plc_url: str = DEFAULT_PLC_URL,
        timeout: float = 10.0,
        nameservers: Sequence[tuple[str, int]] | None = None,
        allow_insecure: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
        fresh_ttl: float = DEFAULT_FRESH_TTL,
        max_ttl: float = DEFAULT_MAX_TTL,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, not {timeout}")
        self._allow_insecure = allow_insecure
        self._timeout = float(timeout)
        self._max_document_size = max_document_size
        self.plc_url = plc_url.rstrip("/")
        self._check_url(self.plc_url, "plc_url", error=ValueError)
        # The transport (and aiohttp, ~85 ms) is imported when a resolver is made, not with
        # this package: DidDocument and StaticIdentityResolver users never pay for it.
        from atproto_async.xrpc.transport import AiohttpTransport, Request

        self._request = Request
        self._dns = DnsResolver(nameservers, timeout=timeout)
        self._owns_transport = transport is None
        self._transport: Transport = transport or AiohttpTransport(
            max_response_size=max_document_size,
            refuse_address=None if allow_insecure else _refused_address,
            # nameservers= means all of this resolver's DNS goes there, host names included
            lookup_host=None if nameservers is None else self._lookup_host,
        )
        cache_args: dict[str, Any] = {
            "max_size": cache_size,
            "fresh_ttl": fresh_ttl,
            "max_ttl": max_ttl,
            "failure_ttl": failure_ttl,
            "clock": clock,
        }
        self.handles: ResolutionCache[str, str] = ResolutionCache(**cache_args)
        self.documents: ResolutionCache[str, DidDocument] = ResolutionCache(**cache_args)

    def __repr__(self) -> str:
        return f"<IdentityResolver plc={self.plc_url} cached={len(self.documents)} DIDs>"

    async def __aenter__(self) -> IdentityResolver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop background refreshes and close the HTTP transport if the resolver made it."""
        await self.handles.close()
        await self.documents.close()
        if self._owns_transport:
            await self._transport.close()

    # -- public lookups ---------------------------------------------------------------------

    async def resolve_handle(self, handle: str) -> str:
        """The DID a handle names (DNS TXT and HTTPS well-known, DNS first).

        Args:
            handle: The handle, in any case.

        Returns:
            The DID (not yet checked against its document: see `resolve`).

        Raises:
            IdentityNotFound: Neither DNS nor HTTPS names a DID for it.
            IdentityError: Not a handle, or the lookups failed (both reasons are given).
        """
        handle = _normal_handle(handle)
        return await self.handles.get(handle, lambda: self._lookup_handle(handle))

    async def resolve_did(self, did: str) -> DidDocument:
        """The DID document of a ``did:plc`` or ``did:web``.

        Raises:
            IdentityNotFound: The directory or host says the DID does not exist.
            IdentityError: Not a DID, an unsupported method, a refused host, a timeout, an
                oversize or malformed document, or one whose ``id`` is another DID.
        """
        did = _check_did(did)
        return await self.documents.get(did, lambda: self._lookup_did(did))

    async def resolve(self, handle_or_did: str) -> Identity:
        """Resolve a handle or DID to an `Identity`, the handle verified both ways.

        Raises:
            IdentityNotFound: The handle or DID does not exist.
            IdentityError: It could not be resolved (see `resolve_handle`, `resolve_did`).
        """
        return await _resolve(self, handle_or_did)

    def invalidate(self, did_or_handle: str) -> None:
        """Forget what is cached for a DID (its document and the handles naming it) or handle.

        Call it on an ``#identity`` event, or when a signature fails (the key may have rotated).
        """
        if did_or_handle.startswith("did:"):
            self.documents.invalidate(did_or_handle)
            self.handles.invalidate_value(did_or_handle)
        else:
            self.handles.invalidate(did_or_handle.lower())

    # -- handle lookups --------------------------------------------------------------------

    async def _lookup_handle(self, handle: str) -> str:
        https = asyncio.ensure_future(self._handle_from_https(handle))
        try:
            dns_did, dns_problem = await self._handle_from_dns(handle)
            if dns_did is not None:
                return dns_did
            https_did, https_problem = await https
        finally:
            if not https.done():
                https.cancel()
                await asyncio.gather(https, return_exceptions=True)
        if https_did is not None:
            return https_did
        if dns_problem is None and https_problem is None:
            raise IdentityNotFound(
                handle, "no _atproto DNS TXT record and no /.well-known/atproto-did"
            )
        raise IdentityError(
            handle,
            f"DNS: {dns_problem or 'no did= record'}; "
            f"HTTPS: {https_problem or 'no /.well-known/atproto-did'}",
        )

    async def _handle_from_dns(self, handle: str) -> tuple[str | None, str | None]:
        """(DID, None), (None, None) when DNS has no record, or (None, what went wrong)."""
        name = f"_atproto.{handle}"
        try:
            return did_from_txt(await self._dns.txt(name), name), None
        except IdentityError as exc:
            return None, exc.reason

    async def _handle_from_https(self, handle: str) -> tuple[str | None, str | None]:
        """(DID, None), (None, None) when the host has no such file, or (None, the problem)."""
        scheme = "http" if self._allow_insecure else "https"
        url = f"{scheme}://{handle}/.well-known/atproto-did"
        try:
            status, body = await self._get(url, handle, "text/plain", _MAX_WELL_KNOWN_SIZE)
        except IdentityNotFound:  # the host name does not exist: nothing names a DID
            return None, None
        except IdentityError as exc:
            return None, exc.reason
        if status != 200:
            return None, None if status in (404, 410) else f"{url} answered HTTP {status}"
        try:
            text = body.decode("utf-8").strip()
        except UnicodeDecodeError:
            return None, f"{url} is not UTF-8 text"
        if len(text) > MAX_DID_LENGTH or not is_valid_did(text):
            return None, f"{url} does not hold a DID"
        return text, None

    # -- DID lookups -----------------------------------------------------------------------

    async def _lookup_did(self, did: str) -> DidDocument:
        if did.startswith("did:plc:"):
            if not _PLC_DID.fullmatch(did):
                raise IdentityError(did, "not a valid did:plc (24 base32 characters)")
            url = f"{self.plc_url}/{did}"
        elif did.startswith("did:web:"):
            url = self._did_web_url(did)
        else:
            raise IdentityError(did, "unsupported DID method (atproto uses did:plc and did:web)")
        status, body = await self._get(url, did, "application/json", self._max_document_size)
        if status in (404, 410):
            gone = "was deactivated (tombstone)" if status == 410 else "does not exist"
            raise IdentityNotFound(did, f"{did[:80]} {gone} ({url} answered HTTP {status})")
        if status != 200:
            raise IdentityError(did, f"{url} answered HTTP {status}")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise IdentityError(did, f"{url} did not answer a JSON document") from None
        document = DidDocument.from_dict(data)
        if document.did != did:
            raise IdentityError(did, f"{url} answered the document of another DID")
        return document

    def _did_web_url(self, did: str) -> str:
        host = unquote(did[len("did:web:") :])
        if ":" in did[len("did:web:") :]:
            raise IdentityError(did, "did:web with a path is not supported by atproto")
        name, _, port = host.partition(":")
        if port:
            if not self._allow_insecure:
                raise IdentityError(did, "did:web with a port is for testing (allow_insecure)")
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise IdentityError(did, "did:web has an invalid port")
        if not name or "/" in host or "@" in host or any(c.isspace() for c in host):
            raise IdentityError(did, "did:web does not name a host")
        loopback = is_loopback_host(name)
        scheme = "http" if self._allow_insecure and loopback else "https"
        return f"{scheme}://{host}/.well-known/did.json"

    # -- HTTP --------------------------------------------------------------------------------

    async def _lookup_host(self, host: str) -> list[str]:
        """A host's addresses from this resolver's nameservers (for the HTTP transport)."""
        if is_loopback_host(host) or host.endswith(".localhost"):
            return ["127.0.0.1", "::1"]  # never sent to DNS (RFC 6761)
        try:
            return await self._dns.addresses(host)
        except IdentityError as exc:  # the transport reports an OSError as TransportError
            raise socket.gaierror(socket.EAI_AGAIN, exc.reason) from None

    def _check_url(
        self, url: str, identifier: str, *, error: type[Exception] = IdentityError
    ) -> None:
        """Refuse what ``allow_insecure`` guards: plain http, loopback and private addresses."""

        def refuse(reason: str) -> None:
            if error is IdentityError:
                raise IdentityError(identifier, reason)
            raise error(f"{identifier}: {reason}")

        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            refuse(f"{url[:200]} is not a valid URL")
            return
        if parts.scheme not in ("https", "http") or not host:
            refuse(f"{url[:200]} is not an http(s) URL")
        if self._allow_insecure:
            return
        if parts.scheme != "https":
            refuse(f"{url[:200]}: only https:// is fetched (allow_insecure permits http)")
        if is_loopback_host(host) or host.endswith(".localhost"):
            refuse(f"{host} is a loopback host (allow_insecure permits it)")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: its addresses are checked by the transport when it connects
        reason = _refused_address(host)
        if reason is not None:
            refuse(f"{reason} (allow_insecure permits it)")

    async def _get(self, url: str, identifier: str, accept: str, limit: int) -> tuple[int, bytes]:
        """GET ``url`` following a few redirects, each target checked; (status, body)."""
        try:
            async with asyncio.timeout(self._timeout):
                for _ in range(_MAX_REDIRECTS + 1):
                    self._check_url(url, identifier)
                    response = await self._transport.send(
                        self._request("GET", url, headers={"Accept": accept}, timeout=self._timeout)
                    )
                    location = response.headers.get("Location")
                    if response.status not in _REDIRECTS or not location:
                        if len(response.body) > limit:
                            raise IdentityError(identifier, f"{url} answered over {limit} bytes")
                        return response.status, response.body
                    url = urljoin(url, location)
        except TimeoutError:
            raise IdentityError(
                identifier, f"no answer from {url[:200]} within {self._timeout:g} s"
            ) from None
        except RequestTimeout:
            raise IdentityError(
                identifier, f"no answer from {url[:200]} within {self._timeout:g} s"
            ) from None
        except DecodeError:  # the transport's size cap
            raise IdentityError(identifier, f"{url[:200]} answered over {limit} bytes") from None
        except HostNotFound as exc:
            raise IdentityNotFound(identifier, str(exc)) from None
        except TransportError as exc:
            raise IdentityError(identifier, str(exc)) from None
        raise IdentityError(identifier, f"more than {_MAX_REDIRECTS} redirects from {url[:200]}")


class StaticIdentityResolver:
    """A resolver answering from DID documents it was given (tests, fixed deployments).

    Handles resolve to the DID whose document claims them, so every handle given verifies.

    Args:
        documents: `DidDocument` objects or their JSON (dicts).
    """

    def __init__(self, documents: Iterable[DidDocument | Mapping[str, Any]] = ()) -> None:
        self._documents: dict[str, DidDocument] = {}
        self._handles: dict[str, str] = {}
        for document in documents:
            self.add(document)

    def add(self, document: DidDocument | Mapping[str, Any]) -> None:
        """Add or replace a document (and the handle it claims)."""
        if not isinstance(document, DidDocument):
            document = DidDocument.from_dict(document)
        self._documents[document.did] = document
        if document.handle is not None:
            self._handles[document.handle] = document.did

    async def __aenter__(self) -> StaticIdentityResolver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Nothing to release."""

    async def resolve_handle(self, handle: str) -> str:
        """The DID of the document claiming ``handle``; see `IdentityResolver.resolve_handle`."""
        handle = _normal_handle(handle)
        did = self._handles.get(handle)
        if did is None:
            raise IdentityNotFound(handle, "no document claims this handle")
        return did

    async def resolve_did(self, did: str) -> DidDocument:
        """The document given for ``did``; see `IdentityResolver.resolve_did`."""
        document = self._documents.get(_check_did(did))
        if document is None:
            raise IdentityNotFound(did, "no document for this DID")
        return document

    async def resolve(self, handle_or_did: str) -> Identity:
        """See `IdentityResolver.resolve`."""
        return await _resolve(self, handle_or_did)

    def invalidate(self, did_or_handle: str) -> None:
        """Nothing is cached: a no-op."""
