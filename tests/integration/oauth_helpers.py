"""The person at the browser, for the OAuth integration tests.

`sign_in` does what a person does on the PDS's sign-in page after `OAuthClient.authorize`
sent them there: open the authorization URL, sign in with handle and password, consent. It
drives the page's own API, as its JavaScript does (see ../shared/PDS.md, "OAuth against the
local PDS"): ``GET /oauth/authorize`` as a top-level navigation (which sets the ``csrf-token``
and session cookies), then ``POST /@atproto/oauth-provider/~api/sign-in`` and ``.../consent``
as same-origin requests with the CSRF token. The answer is the URL the browser would be sent
back to: the client's redirect URI with ``code``, ``state`` and ``iss``.

This is test scaffolding for a page that has no public API: it is not part of the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import aiohttp

API = "/@atproto/oauth-provider/~api"


class SignInFailed(AssertionError):
    """The sign-in page refused (wrong password, a changed page API...)."""


def _keep_cookies(cookies: dict[str, str], headers: Mapping[str, str]) -> None:
    # By hand, not with aiohttp's jar: the csrf-token cookie is marked Secure, which a jar
    # rightly never sends over http://, while the page's own JavaScript reads and sends it.
    for line in headers.getall("Set-Cookie", []):  # type: ignore[attr-defined]
        jar: SimpleCookie = SimpleCookie()
        jar.load(line)
        for key, morsel in jar.items():
            cookies[key] = morsel.value


async def sign_in(authorize_url: str, username: str, password: str) -> str:
    """Sign in and consent at ``authorize_url``; return the redirect URL with the code."""
    parts = urlsplit(authorize_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    cookies: dict[str, str] = {}

    def cookie_header() -> str:
        return "; ".join(f"{key}={value}" for key, value in cookies.items())

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        navigate = {
            "Accept": "text/html",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-User": "?1",
        }
        async with http.get(authorize_url, headers=navigate, allow_redirects=False) as page:
            await page.read()
            if page.status != 200:
                raise SignInFailed(f"the authorization page answered HTTP {page.status}")
            _keep_cookies(cookies, page.headers)
        if "csrf-token" not in cookies:
            raise SignInFailed("the authorization page set no csrf-token cookie")

        async def call(path: str, body: dict[str, Any], bearer: str | None = None) -> Any:
            headers = {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Origin": origin,
                "Referer": authorize_url,
                "Sec-Fetch-Mode": "same-origin",
                "Sec-Fetch-Site": "same-origin",
                "Sec-Fetch-Dest": "empty",
                "X-CSRF-Token": cookies["csrf-token"],
                "Cookie": cookie_header(),
            }
            if bearer is not None:
                headers["Authorization"] = f"Bearer {bearer}"
            async with http.post(origin + API + path, json=body, headers=headers) as answer:
                data = await answer.json(content_type=None)
                _keep_cookies(cookies, answer.headers)
                if answer.status != 200:
                    raise SignInFailed(f"{path} answered HTTP {answer.status}: {data}")
                return data

        signed = await call(
            "/sign-in",
            {"locale": "en", "username": username, "password": password, "remember": False},
        )
        token = signed.get("ephemeralToken")
        did = (signed.get("account") or {}).get("did")
        if not token or not did:
            raise SignInFailed(f"sign-in answered no token or account: {signed.get('account')}")
        consent = await call("/consent", {"did": did}, bearer=token)
        url = consent.get("url") if isinstance(consent, dict) else None
        if not isinstance(url, str):
            raise SignInFailed(f"consent answered no redirect URL: {consent}")
        # The page then navigates to that URL, which sends the browser on to the client.
        headers = {
            **navigate,
            "Sec-Fetch-Site": "same-origin",
            "Referer": authorize_url,
            "Cookie": cookie_header(),
        }
        async with http.get(url, headers=headers, allow_redirects=False) as hop:
            await hop.read()
            location = hop.headers.get("Location")
            if hop.status not in (302, 303) or not location:
                raise SignInFailed(f"the redirect page answered HTTP {hop.status}, no Location")
        return location
