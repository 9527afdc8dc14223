"""The HTTP core every Label Studio resource shares: one connection, retries, and status codes as our errors.

Nothing here knows a resource; ``client.LabelStudioClient`` puts the resources on top of it. The token
never appears in a message or a log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, Self

import httpx
import orjson

from .. import __version__
from ..errors import (
    AuthError,
    LabelStudioError,
    NotFoundError,
    RequestRejected,
    ServerError,
    UnreachableError,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = {502, 503, 504}

# A server on loopback or a LAN accepts at once; one that does not is not coming.
CONNECT_TIMEOUT = 5.0

# Ordinary calls answer in well under a second; a server silent this long is hung, and
# a hung server is tried once more, not for minutes.
READ_TIMEOUT = 20.0

TIMEOUT_RETRIES = 1

# Bulk calls (an export, an import of thousands of tasks) may legitimately take minutes.
BULK_TIMEOUT = 600.0

# Pauses before find_project looks again at two projects with one title: a push that
# lost a creation race deletes its project a round trip after creating it.
SETTLE_WAITS = (0.5, 1.0, 2.0)

# Task ids that travel in a query string (the data manager's task list takes no body) are sent
# in chunks of at most this many URL-encoded bytes: gunicorn refuses a request line over 4094
# bytes by default (HTTP 414), and 500 five-digit ids came to about 4,200.
ID_QUERY_BYTES = 2000

LEGACY_DISABLED_HINT = (
    "Create a personal access token in Label Studio (Account & Settings > Personal Access Token) and set"
    " LABEL_STUDIO_API_KEY to it, or let an administrator enable legacy tokens"
    " (Organization > API Tokens Settings)."
)

def id_chunks(ids: Iterable[int], budget: int = ID_QUERY_BYTES) -> Iterator[list[int]]:
    """``ids`` in chunks whose JSON list, URL-encoded, stays within ``budget`` bytes."""
    chunk: list[int] = []
    size = 6  # "%5B" and "%5D"
    for task_id in ids:
        cost = len(str(int(task_id))) + 3  # the id and its "%2C"
        if chunk and size + cost > budget:
            yield chunk
            chunk, size = [], 6
        chunk.append(int(task_id))
        size += cost
    if chunk:
        yield chunk

def _compact_json(value: Any) -> bytes:
    """A request's body: the standard library's compact UTF-8 JSON, byte for byte (but a few floats: the same number,
    1e-05 written 1e-5), about ten times as fast (a push's batch of 2,000 tasks: 0.002 s, not 0.02 s)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # what orjson will not write (an integer beyond 64 bits, a key not a string)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

def is_personal_access_token(token: str) -> bool:
    """Personal access tokens are JWTs (three dot-separated parts); legacy tokens are 40 hex digits."""
    return token.count(".") == 2 and token.startswith("eyJ")

def _detail(response: httpx.Response) -> str:
    """Label Studio's own words for a failed request, as one readable string."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] if text and not text.lstrip().startswith("<") else response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("validation_errors")
        if errors:
            if isinstance(errors, dict):
                parts = []
                for key, value in errors.items():
                    value = " ".join(value) if isinstance(value, list) else str(value)
                    parts.append(value if key in ("non_field_errors", "label_config") else f"{key}: {value}")
                return "; ".join(parts)
            return str(errors)
        for key in ("detail", "error", "message"):
            if body.get(key):
                return str(body[key])
    return json.dumps(body, ensure_ascii=False)[:500]

def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


class Http:
    """A session with one Label Studio server, authenticated by a legacy token or a personal access token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = READ_TIMEOUT,
        retries: int = 4,
        backoff: float = 0.5,
        unreachable_hint: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._access: str | None = None  # short-lived JWT obtained from a personal access token
        self.retries = retries
        self.backoff = backoff
        self.unreachable_hint = unreachable_hint or (
            "Start the embedded studio with `annotate studio start`, or point LABEL_STUDIO_URL at a running Label Studio."
        )
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            headers={"User-Agent": f"annotate/{__version__}"},
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # never show the token
        return f"LabelStudioClient(url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _auth_header(self) -> str:
        if not is_personal_access_token(self._token):
            return f"Token {self._token}"
        if self._access is None:
            self._access = self._refresh_access()
        return f"Bearer {self._access}"

    def _refresh_access(self) -> str:
        response = self._send("POST", "/api/token/refresh/", json={"refresh": self._token}, auth=False, retry=True)
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Label Studio at {self.url} rejected the personal access token ({_detail(response)}).",
                "It may be expired or revoked: create a new one in Account & Settings and set LABEL_STUDIO_API_KEY.",
                status=response.status_code,
            )
        self._raise_for(response, "exchange the personal access token")
        return str(response.json()["access"])

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        auth: bool = True,
        retry: bool,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One request, retried with back-off when that is safe.

        A request that never reached the server (connection refused) is always
        safe to repeat; one that may have been processed is repeated only when
        ``retry`` says the request is idempotent.
        """
        # Compact UTF-8: Arabic text escaped as \uXXXX (the default) would triple the bytes sent.
        body = None if json is None else _compact_json(json)
        attempt = 0
        while True:
            headers = {"Authorization": self._auth_header()} if auth else {}
            if json is not None:
                headers["Content-Type"] = "application/json"
            try:
                kwargs: dict[str, Any] = {"params": params, "content": body, "headers": headers}
                if timeout is not None:
                    kwargs["timeout"] = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
                response = self._http.request(method, path, **kwargs)
            except httpx.ConnectError as exc:
                # Refused connections are retried briefly (a restarting server), not for long.
                if attempt >= min(self.retries, 2):
                    raise UnreachableError(
                        f"Cannot reach Label Studio at {self.url} ({_reason(exc)}).", self.unreachable_hint
                    ) from None
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout):
                    if attempt >= min(self.retries, 2):
                        raise UnreachableError(
                            f"Label Studio at {self.url} did not accept a connection within {CONNECT_TIMEOUT:.0f} s.",
                            self.unreachable_hint,
                        ) from None
                elif not retry or attempt >= min(self.retries, TIMEOUT_RETRIES):
                    waited = timeout if timeout is not None else self._http.timeout.read
                    raise ServerError(
                        f"Label Studio at {self.url} did not answer {method} {path} within {waited:g} s"
                        f" ({attempt + 1} attempt(s)); it may be overloaded or hung.",
                        "Check `annotate studio status` (or the server's log) and run the command again.",
                    ) from None
            except httpx.TransportError as exc:
                if not retry or attempt >= self.retries:
                    raise ServerError(
                        f"The connection to Label Studio at {self.url} failed during {method} {path}"
                        f" ({_reason(exc)}) after {attempt + 1} attempt(s)."
                    ) from None
            else:
                if response.status_code not in RETRY_STATUSES or not retry or attempt >= self.retries:
                    return response
            attempt += 1
            delay = self.backoff * (2 ** (attempt - 1))
            log.info("retrying %s %s in %.1fs (attempt %d)", method, path, delay, attempt + 1)
            time.sleep(delay)

    def _raise_for(self, response: httpx.Response, doing: str) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        if status in (401, 403):
            if status == 401 and "legacy token" in detail.lower():
                raise AuthError(
                    f"Label Studio at {self.url} has legacy API tokens disabled, so it refused the token.",
                    LEGACY_DISABLED_HINT,
                    status=status,
                )
            if status == 401:
                raise AuthError(
                    f"Label Studio at {self.url} rejected the API token ({detail}).",
                    "Check LABEL_STUDIO_API_KEY (or, for the embedded studio, run `annotate studio status`).",
                    status=status,
                )
            raise AuthError(f"Label Studio at {self.url} does not allow this user to {doing} ({detail}).", status=status)
        if status == 404:
            raise NotFoundError(f"Label Studio at {self.url}: cannot {doing}: not found ({detail}).", status=status)
        if status == 400:
            raise RequestRejected(f"Label Studio refused to {doing}: {detail}", status=status)
        if status >= 500:
            raise ServerError(f"Label Studio at {self.url} failed to {doing} (HTTP {status}: {detail}).", status=status)
        raise LabelStudioError(f"Label Studio refused to {doing} (HTTP {status}: {detail}).", status=status)

    def _call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
        timeout: float | None = None,
        expect: type | tuple[type, ...] = (dict, list),
    ) -> Any:
        """One call's JSON answer; an answer that is not of the ``expect`` type is an error naming the server."""
        return self._answer(method, path, doing, params=params, json=json, retry=retry, timeout=timeout, expect=expect)[0]

    def _answer(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
        timeout: float | None = None,
        expect: type | tuple[type, ...] = (dict, list),
    ) -> tuple[Any, httpx.Response]:
        """``_call``'s JSON answer, and the response it came in (for its headers)."""
        retry = method in ("GET", "PUT", "DELETE", "PATCH") if retry is None else retry
        response = self._send(method, path, params=params, json=json, retry=retry, timeout=timeout)
        if response.status_code == 401 and self._access is not None:
            # The short-lived access token expired: get a new one once.
            self._access = None
            response = self._send(method, path, params=params, json=json, retry=retry, timeout=timeout)
        self._raise_for(response, doing)
        if response.status_code == 204 or not response.content:
            return None, response
        try:
            body = response.json()
        except ValueError:
            raise LabelStudioError(
                f"Label Studio at {self.url} answered {method} {path} with something that is not JSON;"
                " is LABEL_STUDIO_URL the address of Label Studio?"
            ) from None
        if not isinstance(body, expect):
            # Every answer Label Studio gives with a body is an object or a list, of a shape each call
            # knows; anything else (``null`` from a broken proxy or another program) must not reach the stages.
            raise self.nonsense(method, path, body)
        return body, response

    def nonsense(self, method: str, path: str, body: Any) -> LabelStudioError:
        """The error for an answer Label Studio never gives: it names the server and the request."""
        shown = _compact_json(body).decode("utf-8", "replace")
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return LabelStudioError(
            f"Label Studio at {self.url} answered {method} {path} with {shown}, which Label Studio never sends.",
            "Is LABEL_STUDIO_URL the address of Label Studio, and is that server healthy (`annotate studio status`,"
            " its log)? Run the command again once it is.",
        )

    def health(self) -> bool:
        """Whether a Label Studio answers at the URL (no token needed)."""
        try:
            response = self._http.get("/health", timeout=5.0)
        except httpx.TransportError:
            return False
        return response.status_code == 200 and "UP" in response.text
