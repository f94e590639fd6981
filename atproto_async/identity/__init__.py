"""Who everyone is: handles, DIDs, DID documents and their keys.

- `IdentityResolver` resolves over the network (DNS TXT and HTTPS for handles, a PLC directory
  and did:web hosts for DIDs) behind a bounded, stale-while-revalidate cache; share one.
- `StaticIdentityResolver` answers from documents it is given (tests, fixed deployments).
- `DidDocument` reads a document (handle, PDS, ``#atproto`` signing key in either key form,
  labeler, services); `Identity` is what `resolve` returns, the handle verified both ways.
- Failures raise `IdentityNotFound` (the handle or DID does not exist) or `IdentityError`.

Layout: ``document`` (sans-I/O parsing), ``cache`` (`ResolutionCache`), ``_dns`` (TXT lookups
through dnspython, imported on first use), ``resolver`` (the resolvers).

Specs: https://atproto.com/specs/handle, https://atproto.com/specs/did
"""

from __future__ import annotations

from atproto_async.exceptions import IdentityError, IdentityNotFound
from atproto_async.identity.cache import ResolutionCache
from atproto_async.identity.document import DidDocument
from atproto_async.identity.resolver import (
    DEFAULT_PLC_URL,
    Identity,
    IdentityResolver,
    Resolver,
    StaticIdentityResolver,
)

__all__ = [
    "DEFAULT_PLC_URL",
    "DidDocument",
    "Identity",
    "IdentityError",
    "IdentityNotFound",
    "IdentityResolver",
    "ResolutionCache",
    "Resolver",
    "StaticIdentityResolver",
]
