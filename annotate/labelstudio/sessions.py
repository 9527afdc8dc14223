"""Label Studio as a browser sees it: sign-up and login forms, and clients on a person's session cookie.

Used for the team: accounts are made through the invitation link's sign-up form, and tests act
as annotators through their own logins.
"""

from __future__ import annotations

import html as _html
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ..errors import (
    AuthError,
    LabelStudioError,
    LoginRejected,
    ServerError,
    SignUpRejected,
    UnreachableError,
)
from .http import READ_TIMEOUT, _detail, _reason
from .client import LabelStudioClient

_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')

_FORM_ERROR = re.compile(r'<ul class="field_errors">(.*?)</ul>|<p class="error">(.*?)</p>', re.S)

_LIST_ITEM = re.compile(r"<li>(.*?)</li>", re.S)

_TAG = re.compile(r"<[^>]+>")

_INVITE_TOKEN = re.compile(r"token=[^&\s\"']+")

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}

def _form_errors(page: str) -> list[str]:
    """The objections a Label Studio form page shows (field errors and form errors), as plain text."""
    errors: list[str] = []
    for listed, single in _FORM_ERROR.findall(page):
        for item in _LIST_ITEM.findall(listed) if listed else [single]:
            text = " ".join(_html.unescape(_TAG.sub("", item)).split())
            if text and text not in errors:
                errors.append(text)
    return errors

def _reasons(errors: list[str]) -> str:
    return "; ".join(errors) or "it gave no reason"

def _browser_request(http: httpx.Client, method: str, path: str, doing: str, **kwargs: Any) -> httpx.Response:
    """One request of a form, with transport failures mapped to ours (never retried: a form post is not idempotent)."""
    url = str(http.base_url).rstrip("/")
    try:
        return http.request(method, path, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise UnreachableError(f"Cannot reach Label Studio at {url} ({_reason(exc)}).") from None
    except httpx.TransportError as exc:
        raise ServerError(f"The connection to Label Studio at {url} failed while trying to {doing} ({_reason(exc)}).") from None

def _submit_form(
    http: httpx.Client, path: str, fields: dict[str, str], doing: str, *, params: dict[str, str] | None = None
) -> httpx.Response:
    """Fill in one of Label Studio's HTML forms as a browser does: GET it (CSRF cookie and field), then POST it.

    Nothing of the fields is logged: they hold a password.
    """
    url = str(http.base_url).rstrip("/")
    page = _browser_request(http, "GET", path, doing, params=params)
    if page.status_code != 200:
        raise LabelStudioError(
            f"Label Studio at {url} has no form at {path} to {doing} (HTTP {page.status_code}); is this Label Studio?",
            status=page.status_code,
        )
    match = _CSRF_FIELD.search(page.text)
    csrf = match.group(1) if match else http.cookies.get("csrftoken")
    if not csrf:
        raise LabelStudioError(f"Label Studio's page {path} at {url} has no CSRF token to {doing}.")
    # Django checks the Referer of form posts over HTTPS: a browser sends the form's own page.
    response = _browser_request(
        http, "POST", path, doing, params=params, data={"csrfmiddlewaretoken": csrf, **fields}, headers={"Referer": str(page.url)}
    )
    if response.status_code == 403 and "CSRF" in response.text:
        raise LabelStudioError(
            f"Label Studio at {url} refused the form to {doing}: its CSRF check failed.",
            "Behind a proxy or another address, Label Studio needs CSRF_TRUSTED_ORIGINS to include this URL.",
            status=403,
        )
    return response

class _SessionAuth(httpx.Auth):
    """Authenticate by the session cookie as the web app does: no token header, the CSRF token on unsafe methods.

    ``_send`` always sets a token header; an empty one would be refused, so it goes here.
    Label Studio 1.23 does not check CSRF on its API, a stricter deployment may.
    """

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers.pop("Authorization", None)
        if request.method not in _SAFE_METHODS:
            csrf = self._http.cookies.get("csrftoken")
            if csrf:
                request.headers["X-CSRFToken"] = csrf
            request.headers.setdefault("Referer", str(self._http.base_url))
        yield request

class SessionClient(LabelStudioClient):
    """A client logged in as one person through Label Studio's login (or sign-up) form: it acts as that user.

    Every method of ``LabelStudioClient`` works, as that user: what tests and a login check
    need to act as an annotator. ``email`` is whom it was opened for; ``user_id`` is set
    once ``confirm`` asked Label Studio who the session belongs to.
    """

    def __init__(self, url: str, email: str, **kwargs: Any) -> None:
        super().__init__(url, "", **kwargs)
        self.email = email.strip().lower()  # Label Studio stores and compares emails in lower case
        self.user_id: int | None = None
        self._http.auth = _SessionAuth(self._http)

    def __repr__(self) -> str:  # never shows the session cookie
        return f"SessionClient(url={self.url!r}, email={self.email!r})"

    @classmethod
    def log_in(cls, url: str, email: str, password: str, **kwargs: Any) -> SessionClient:
        """Log in through the real login form (``/user/login/``), as a person in a browser does."""
        client = cls(url, email, **kwargs)
        return client._enter(
            "/user/login/",
            {"email": client.email, "password": password},
            f"log in as {client.email}",
            lambda errors: LoginRejected(
                f"Label Studio at {client.url} refused the login of {client.email}: {_reasons(errors)}.",
                "Check the email and the password.",
                status=200,
            ),
        )

    def _enter(
        self,
        path: str,
        fields: dict[str, str],
        doing: str,
        refused: Callable[[list[str]], LabelStudioError],
        *,
        params: dict[str, str] | None = None,
        forbidden_hint: str | None = None,
    ) -> SessionClient:
        """Post the login or sign-up form: a redirect means it took; the form again, ``refused`` (its objections).

        Closes this client on any failure, so a caller holds a client only when it is logged in.
        """
        try:
            response = _submit_form(self._http, path, fields, doing, params=params)
            if response.status_code == 200:
                raise refused(_form_errors(response.text))
            if response.status_code == 403:
                raise AuthError(f"Label Studio at {self.url} refused to {doing} (HTTP 403).", forbidden_hint, status=403)
            if response.status_code != 302:
                self._raise_for(response, doing)
                raise LabelStudioError(f"Label Studio at {self.url} answered HTTP {response.status_code} to {doing}.")
            self.confirm()
        except BaseException:
            self.close()
            raise
        return self

    def confirm(self) -> int:
        """Ask Label Studio whose session this is; it must be ``email``'s. Returns and keeps the user id."""
        me = self.whoami()
        if str(me.get("email") or "").lower() != self.email or not isinstance(me.get("id"), int):
            raise LabelStudioError(
                f"Label Studio at {self.url} logged this session in as {me.get('email')!r}, not {self.email}."
            )
        self.user_id = int(me["id"])
        return self.user_id

    def log_out(self) -> None:
        """End the session on the server; best effort, since an abandoned session expires anyway."""
        try:
            self._http.get("/logout")
        except httpx.TransportError:
            pass

    def _raise_for(self, response: httpx.Response, doing: str) -> None:
        if response.status_code == 401:  # no token involved: the session itself is gone
            raise AuthError(
                f"Label Studio at {self.url} no longer accepts the session of {self.email} ({_detail(response)}).",
                "Log in again.",
                status=401,
            )
        super()._raise_for(response, doing)


def sign_up(client: LabelStudioClient, email: str, password: str) -> SessionClient:
    """Create an account through the invitation link's sign-up form; return a session logged in as it.

    The form is the one way over HTTP to make an organization member who can log in
    (``POST /api/users/`` stores no password). It logs its browser in as the new user,
    so it runs in a cookie jar of its own, never this client's token session. Not
    retried: a second post would only find the account taken.
    """
    token = client.invite_token()
    session = SessionClient(client.url, email, timeout=client._http.timeout.read or READ_TIMEOUT, retries=client.retries)
    return session._enter(
        "/user/signup/",
        {"email": session.email, "password": password},
        f"sign up {session.email} through the invitation link",
        lambda errors: SignUpRejected(f"Label Studio refused to sign up {session.email}: {_reasons(errors)}.", errors, status=200),
        params={"token": token},
        forbidden_hint="The link may have been reset at that moment, or this Label Studio allows no sign-ups:"
        " run the command again, or ask its administrator.",
    )


class _HideInviteToken(logging.Filter):
    """httpx logs each request's URL; a sign-up URL carries the invitation token, with which anyone can join."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("token=" in str(arg) for arg in record.args):
            record.args = tuple(_INVITE_TOKEN.sub("token=***", str(arg)) if "token=" in str(arg) else arg for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(_HideInviteToken())
