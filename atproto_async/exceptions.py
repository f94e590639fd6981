"""Every exception atproto-async raises on purpose.

The tree::

    AtprotoError                         base of everything raised on purpose
    ├── XrpcError                        a non-2xx XRPC answer (status, error, message, headers)
    │   ├── InvalidRequestError          400 (lexicon-declared errors are named in ``error``)
    │   │   └── AuthenticationError      login / refresh failed or the session is unusable
    │   ├── ForbiddenError               403
    │   ├── NotFoundError                404
    │   ├── PayloadTooLargeError         413
    │   ├── ServerTimeoutError           408
    │   ├── RateLimitError               429 (retry_after, reset_at)
    │   ├── NotImplementedByServerError  501 (never retried)
    │   └── ServerError                  other 5xx
    ├── TransportError                   the network failed (no answer was read)
    │   ├── RequestTimeout               an attempt ran out of time
    │   └── HostNotFound                 the host name does not exist (DNS said so)
    ├── DecodeError (ValueError)         bytes that are not what the protocol says
    │   └── FrameDecodeError             a malformed event-stream frame
    ├── StreamError                      an error frame (op -1) sent by a stream server
    ├── ClientClosedError (RuntimeError) a call on a Client after close()
    ├── InvalidSyntaxError (ValueError)  an identifier that does not follow its spec
    ├── InvalidKeyError (ValueError)     a public or private key that cannot be read
    ├── IdentityError                    a handle or DID that cannot be resolved or trusted
    │   └── IdentityNotFound             the handle or DID does not exist (or names no one)
    ├── ServiceAuthError                 an inter-service JWT that is refused (reason, error)
    ├── RepoError (ValueError)           repository data (MST, commit, CAR) that breaks the spec
    │   └── MissingBlockError            a block the tree or proof needs is absent
    ├── LexiconError (ValueError)        a lexicon document that breaks the Lexicon rules
    ├── LexiconValidationError (ValueError)  data that does not match its lexicon (path)
    ├── OAuthError                       an OAuth step refused (error, description, status)
    └── FanoutError (RuntimeError)       a Redis the fan-out cannot run on safely

``AuthenticationError`` is raised for 401 answers as well: it derives from
``InvalidRequestError`` only so that ``except InvalidRequestError`` keeps catching the 400
``ExpiredToken`` / ``InvalidToken`` family.

Messages are built from the structured attributes, and never contain tokens or passwords.
Spec: https://atproto.com/specs/xrpc#error-responses
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar, TypeVar

__all__ = [
    "AtprotoError",
    "AuthenticationError",
    "ClientClosedError",
    "DecodeError",
    "FanoutError",
    "ForbiddenError",
    "FrameDecodeError",
    "HostNotFound",
    "InvalidRequestError",
    "IdentityError",
    "IdentityNotFound",
    "InvalidKeyError",
    "InvalidSyntaxError",
    "LexiconError",
    "LexiconValidationError",
    "MissingBlockError",
    "NotFoundError",
    "OAuthError",
    "NotImplementedByServerError",
    "PayloadTooLargeError",
    "RateLimitError",
    "RepoError",
    "RequestTimeout",
    "ServerError",
    "ServerTimeoutError",
    "ServiceAuthError",
    "StreamError",
    "TransportError",
    "XrpcError",
    "xrpc_error_class",
]

_EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})


class AtprotoError(Exception):
    """Base of every exception the library raises on purpose."""


class XrpcError(AtprotoError):
    """A non-2xx answer from an XRPC server.

    Attributes:
        status: The HTTP status code.
        error: The ``error`` name of the XRPC error body (e.g. ``"InvalidSwap"``), or None when
            the body was not an XRPC error (an HTML page from a proxy, an empty body).
        message: The human-readable ``message`` of the body, or a short excerpt of a non-JSON
            body, or None.
        headers: The response headers (read-only).
        nsid: The method called, when known.
    """

    #: The statuses of this class after which an identical request may succeed later.
    _transient: ClassVar[frozenset[int]] = frozenset()

    @property
    def retryable(self) -> bool:
        """Whether an identical request may succeed later: what `RetryPolicy` decides by."""
        return self.status in self._transient

    def __init__(
        self,
        status: int,
        error: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        nsid: str | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.headers: Mapping[str, str] = (
            MappingProxyType(dict(headers)) if headers else _EMPTY_HEADERS
        )
        self.nsid = nsid
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" from {self.nsid}" if self.nsid else ""
        text = f"HTTP {self.status}{where}"
        if self.error:
            text += f": {self.error}"
        if self.message:
            text += f" - {self.message}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, error={self.error!r}, "
            f"message={self.message!r}, nsid={self.nsid!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        state = dict(self.__dict__)
        state["headers"] = dict(self.headers)
        return (_rebuild_xrpc_error, (type(self), state))


def _rebuild_xrpc_error(cls: type[XrpcError], state: dict[str, object]) -> XrpcError:
    exc = cls.__new__(cls)
    exc.__dict__.update(state)
    exc.headers = MappingProxyType(dict(exc.headers))
    Exception.__init__(exc, exc._describe())
    return exc


class InvalidRequestError(XrpcError):
    """400: the server refused the request as given (bad parameters, lexicon errors)."""


class AuthenticationError(InvalidRequestError):
    """Login or token refresh failed, or the session can no longer be used (401 and 400s)."""


class ForbiddenError(XrpcError):
    """403: authenticated, but not allowed."""


class NotFoundError(XrpcError):
    """404: no such method or resource."""


class PayloadTooLargeError(XrpcError):
    """413: the request body is larger than the server accepts."""


class RateLimitError(XrpcError):
    """429: too many requests.

    Attributes:
        retry_after: Seconds to wait, from ``Retry-After`` (or derived from
            ``RateLimit-Reset``), or None when the server gave neither.
        reset_at: When the rate-limit window resets, from ``RateLimit-Reset``, or None.
    """

    _transient = frozenset({429})

    def __init__(
        self,
        status: int = 429,
        error: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        nsid: str | None = None,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.reset_at = reset_at
        super().__init__(status, error, message, headers, nsid=nsid)

    def _describe(self) -> str:
        text = super()._describe()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:.1f} s)"
        elif self.reset_at is not None:
            text += f" (resets at {self.reset_at.isoformat()})"
        return text


class NotImplementedByServerError(XrpcError):
    """501: the server does not implement this method. Never retried."""


class ServerError(XrpcError):
    """5xx other than 501: the server failed; 500, 502, 503 and 504 are retried for idempotent
    calls (505, 507, 508, 511... say that sending the same request again cannot help)."""

    _transient = frozenset({500, 502, 503, 504})


class ServerTimeoutError(XrpcError):
    """408: the server gave up waiting for the request; retried for idempotent calls."""

    _transient = frozenset({408})


_BY_STATUS: dict[int, type[XrpcError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    408: ServerTimeoutError,
    403: ForbiddenError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    501: NotImplementedByServerError,
}


_E = TypeVar("_E", bound=BaseException)


def caused_by(error: _E, cause: BaseException | None) -> _E:
    """``error`` with ``cause`` as its ``__cause__``: ``raise caused_by(error, exc)`` does what
    ``raise error from exc`` does (and ``caused_by(error, None)`` what ``from None`` does).

    For the modules a compiled build compiles (`atproto_async._build`): mypyc (2.4) drops the
    ``from`` part of ``raise ... from``, which would lose the cause and show the exception
    being handled as if the new one had been raised by accident. Setting ``__cause__`` works
    in both builds (it also sets ``__suppress_context__``, as ``from`` does).
    """
    error.__cause__ = cause
    return error


def xrpc_error_class(status: int) -> type[XrpcError]:
    """Return the `XrpcError` subclass that stands for an HTTP status code."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else XrpcError


class TransportError(AtprotoError):
    """The network failed before an answer could be read (refused, reset, DNS, TLS).

    Attributes:
        url: The URL (without query string) that was being requested, when known.
        sent: False only when the request certainly never reached the server (connection
            refused before sending); procedures are replayed only then.
    """

    retryable = True

    def __init__(self, message: str, *, url: str | None = None, sent: bool = True) -> None:
        self.url = url
        self.sent = sent
        super().__init__(f"{message} ({url})" if url else message)


class RequestTimeout(TransportError):
    """One attempt ran out of time (connect or read)."""


class HostNotFound(TransportError):
    """The host name does not exist: DNS answered that it has no address (not a passing failure).

    A handle whose domain does not exist is a handle nobody holds; identity resolution reports
    it as not found rather than as an error.
    """


class DecodeError(AtprotoError, ValueError):
    """Bytes that do not follow the data model, DAG-CBOR, CAR or a protocol format."""


class FrameDecodeError(DecodeError):
    """A malformed event-stream frame; the spec says to drop the connection.

    Spec: https://atproto.com/specs/event-stream#streaming-wire-protocol-v0
    """


class StreamError(AtprotoError):
    """An error frame (``op: -1``) from an event-stream server, e.g. ``FutureCursor``.

    Attributes:
        error: The error name.
        message: The optional human-readable message.
    """

    def __init__(self, error: str, message: str | None = None) -> None:
        self.error = error
        self.message = message
        super().__init__(f"{error}: {message}" if message else error)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.error, self.message))


class InvalidSyntaxError(AtprotoError, ValueError):
    """A string that does not follow the syntax of the identifier it should be.

    Attributes:
        kind: What the string should have been (``"DID"``, ``"handle"``, ``"AT-URI"``...).
        value: The rejected string (identifiers are public; never a secret).
        reason: What is wrong with it.
    """

    def __init__(self, kind: str, value: str, reason: str) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"invalid {kind} {shown!r}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.kind, self.value, self.reason))


class ClientClosedError(AtprotoError, RuntimeError):
    """A call on a `Client` (or a client derived from it) after ``close()``: make a new one."""


class InvalidKeyError(AtprotoError, ValueError):
    """A key (``did:key``, Multikey, raw bytes) that cannot be read or is not on its curve.

    The message says what is wrong, never the bytes of a private key.
    Spec: https://atproto.com/specs/cryptography
    """


class IdentityError(AtprotoError):
    """A handle or DID that could not be resolved, or whose answer cannot be trusted.

    Raised for malformed or oversize DID documents, hosts that are refused (private addresses
    without ``allow_insecure``), timeouts and failing directories.

    Attributes:
        identifier: The handle or DID being resolved (public data, never a secret).
        reason: What went wrong.
    """

    def __init__(self, identifier: str, reason: str) -> None:
        self.identifier = identifier
        self.reason = reason
        shown = identifier if len(identifier) <= 80 else identifier[:77] + "..."
        super().__init__(f"{shown}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.identifier, self.reason))


class IdentityNotFound(IdentityError):
    """The handle resolves to no DID, or the DID has no document (the directory said so)."""


class ServiceAuthError(AtprotoError):
    """An inter-service auth token (a JWT signed by an account's key) that is refused.

    Raised by `atproto_async.server.verify_service_jwt`; a server answers it with HTTP 401 and
    the XRPC error body ``{"error": error, "message": reason}``.

    Attributes:
        reason: What is wrong with the token, for people. Never contains the token.
        error: The XRPC error name, as the reference server names it: ``AuthenticationRequired``
            (no token), ``BadJwt`` (unreadable, wrong algorithm or lifetime), ``BadJwtType``,
            ``JwtExpired``, ``BadJwtAudience``, ``BadJwtLexiconMethod``, ``BadJwtIssuer`` (the
            issuer's key could not be found) or ``BadJwtSignature``.
    Spec: https://atproto.com/specs/xrpc#inter-service-authentication-jwt
    """

    def __init__(self, reason: str, error: str = "BadJwt") -> None:
        self.reason = reason
        self.error = error
        super().__init__(f"{error}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.error))


class RepoError(AtprotoError, ValueError):
    """Repository data that breaks the repository spec, or a repo path that is not valid.

    Raised for a malformed or non-canonical MST node or commit, keys out of order or at the
    wrong height, a block that does not hash to its CID, a commit signed by another key, and
    for a key given to `MST.set` that is not a valid repo path.

    Attributes:
        reason: What is wrong.
        cid: The CID of the block concerned, when the problem is inside one.
    Spec: https://atproto.com/specs/repository
    """

    def __init__(self, reason: str, cid: object | None = None) -> None:
        self.reason = reason
        self.cid = cid
        super().__init__(reason if cid is None else f"{reason} (block {cid})")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.cid))


class MissingBlockError(RepoError):
    """A block the repository needs is absent: a partial tree, an incomplete CAR or proof.

    ``cid`` names the missing block; ``reason`` says what needed it.
    """


class LexiconError(AtprotoError, ValueError):
    """A lexicon document that breaks the Lexicon rules, or a definition a catalog lacks.

    Raised while a `Catalog` loads or compiles schemas, never for data that does not match them
    (that is `LexiconValidationError`). Spec: https://atproto.com/specs/lexicon

    Attributes:
        reason: What is wrong.
        nsid: The document or reference concerned (``app.bsky.feed.post#replyRef``), when known.
    """

    def __init__(self, reason: str, nsid: str | None = None) -> None:
        self.reason = reason
        self.nsid = nsid
        super().__init__(f"{nsid}: {reason}" if nsid else reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.nsid))


class LexiconValidationError(AtprotoError, ValueError):
    """Data (a record, an XRPC body or parameters, a message) that does not match its lexicon.

    The message names the definition and the place, e.g. ``app.bsky.feed.post:
    embed.images[0].alt: is required``; it quotes identifiers and types, not free text.

    Attributes:
        reason: What is wrong at ``path``.
        path: Where, as ``embed.images[0].alt``; "" when the value as a whole is wrong.
        lex_type: The definition the data was checked against (``app.bsky.feed.post``).
    Spec: https://atproto.com/specs/lexicon
    """

    def __init__(self, reason: str, *, path: str = "", lex_type: str = "") -> None:
        self.reason = reason
        self.path = path
        self.lex_type = lex_type
        where = ": ".join(part for part in (lex_type, path) if part)
        super().__init__(f"{where}: {reason}" if where else reason)

    def __reduce__(self) -> tuple[object, ...]:
        args = (type(self), self.reason, self.path, self.lex_type)
        return (_rebuild_lexicon_validation_error, args)


def _rebuild_lexicon_validation_error(
    cls: type[LexiconValidationError], reason: str, path: str, lex_type: str
) -> LexiconValidationError:
    return cls(reason, path=path, lex_type=lex_type)


class OAuthError(AtprotoError):
    """An OAuth step that failed: refused by the server, or refused here as unsafe.

    Raised by `atproto_async.oauth`: for an error answer of the authorization server (its
    ``error`` code, e.g. ``invalid_grant`` for a spent code or refresh token), for an error
    the person's browser was sent back with (``access_denied``), and for an answer the client
    refuses (``invalid_state``, ``issuer_mismatch``, ``sub_mismatch``, ``invalid_metadata``,
    ``insecure_url``, ``invalid_response``, ``session_ended``...).

    Attributes:
        error: The OAuth error code.
        description: What went wrong, for people. Never contains a token, code or key.
        status: The HTTP status of the server's answer, or None when the check was ours.
    Spec: https://atproto.com/specs/oauth, RFC 6749 section 5.2.
    """

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}" if description else error)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.error, self.description, self.status))


class FanoutError(AtprotoError, RuntimeError):
    """A Redis that `atproto_async.fanout` cannot run on safely, or keys set up for another
    layout: an evicting ``maxmemory-policy``, another partition count under the same prefix.
    The message says how to fix it and never shows the Redis password.
    """
