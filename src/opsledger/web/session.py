"""Console sessions: the same JWT the API issues, kept in an HttpOnly, SameSite=Strict
cookie, and a CSRF token on every form.

Signed in, a form's token is an HMAC of the session token under the token secret, so
it needs no storage and dies with the session. Before sign-in (the login form itself)
it is a random value also set in a cookie of its own (double submit)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.kit.errors import Unauthorized
from opsledger.security.auth import actor_from_token, settings_of
from opsledger.security.context import Actor

SESSION_COOKIE = "opsledger_session"
LOGIN_CSRF_COOKIE = "opsledger_login_csrf"


def _secret(request: Request) -> bytes:
    secret = settings_of(request).jwt_secret
    if secret is None:
        raise RuntimeError("no token secret configured")
    return secret.get_secret_value().encode()


def csrf_token(request: Request, session_token: str) -> str:
    return hmac.new(_secret(request), b"csrf|" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, presented: str | None) -> bool:
    """The form's token matches this session's."""
    session_token = request.cookies.get(SESSION_COOKIE)
    if not session_token or not presented:
        return False
    return hmac.compare_digest(csrf_token(request, session_token), presented)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def login_csrf_ok(request: Request, presented: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and presented and hmac.compare_digest(expected, presented))


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def start(response: Response, request: Request, token: str, lifetime: int) -> None:
    _cookie(response, request, SESSION_COOKIE, token, lifetime)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def offer_login(response: Response, request: Request, token: str) -> None:
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, 3600)


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


async def signed_in(request: Request, session: AsyncSession) -> Actor | None:
    """The actor of the session cookie; None without one, or when the token is expired,
    revoked (logout-all) or its user deactivated: every page checks on every request."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await actor_from_token(token, session, settings_of(request))
    except Unauthorized:
        return None
