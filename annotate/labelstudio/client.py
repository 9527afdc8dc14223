"""The one door to Label Studio: every HTTP request of the tool goes through ``LabelStudioClient``.

It returns typed models, retries what is safe to retry, and maps HTTP failures
to the tool's own exceptions. The token never appears in a message or a log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx

from .. import __version__
from ..errors import (
    AuthError,
    ConfigRejected,
    LabelStudioError,
    NotFoundError,
    ProjectError,
    RequestRejected,
    ServerError,
    UnreachableError,
)
from ..models import Project, ServerInfo, TaskRef
from . import codec

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


class LabelStudioClient:
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

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------

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
        retry = method in ("GET", "PUT", "DELETE", "PATCH") if retry is None else retry
        response = self._send(method, path, params=params, json=json, retry=retry, timeout=timeout)
        if response.status_code == 401 and self._access is not None:
            # The short-lived access token expired: get a new one once.
            self._access = None
            response = self._send(method, path, params=params, json=json, retry=retry, timeout=timeout)
        self._raise_for(response, doing)
        if response.status_code == 204 or not response.content:
            return None
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
        return body

    def nonsense(self, method: str, path: str, body: Any) -> LabelStudioError:
        """The error for an answer Label Studio never gives: it names the server and the request."""
        shown = _compact_json(body).decode("utf-8", "replace")
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return LabelStudioError(
            f"Label Studio at {self.url} answered {method} {path} with {shown}, which Label Studio never sends.",
            "Is LABEL_STUDIO_URL the address of Label Studio, and is that server healthy (`annotate studio status`,"
            " its log)? Run the command again once it is.",
        )

    # --- server ------------------------------------------------------------------

    def health(self) -> bool:
        """Whether a Label Studio answers at the URL (no token needed)."""
        try:
            response = self._http.get("/health", timeout=5.0)
        except httpx.TransportError:
            return False
        return response.status_code == 200 and "UP" in response.text

    def list_users(self) -> list[dict[str, Any]]:
        """The users of the organisation (id, email, names): pull keeps them in the owner's pseudonym mapping."""
        body = self._call("GET", "/api/users/", "list users")
        users = body.get("results") if isinstance(body, dict) else body
        if not isinstance(users, list):
            raise self.nonsense("GET", "/api/users/", body)
        return [u for u in users if isinstance(u, dict)]

    def server_info(self) -> ServerInfo:
        body = self._call("GET", "/api/version", "read its version", expect=dict)
        package = body.get("label-studio-os-package")
        version = body.get("release") or (package.get("version") if isinstance(package, dict) else None) or "unknown"
        return ServerInfo(url=self.url, version=str(version))

    def whoami(self) -> dict[str, Any]:
        """The user the token belongs to; also the cheapest check that the token works."""
        body = self._call("GET", "/api/current-user/whoami", "identify the token's user", expect=dict)
        if not isinstance(body.get("id"), int):
            raise self.nonsense("GET", "/api/current-user/whoami", body)
        return body

    # --- projects ------------------------------------------------------------------

    def _project(self, body: Any, path: str = "/api/projects/") -> Project:
        try:
            return Project(
                id=int(body["id"]),
                title=str(body.get("title") or ""),
                label_config=str(body.get("label_config") or ""),
                task_number=int(body.get("task_number") or 0),
                maximum_annotations=int(body.get("maximum_annotations") or 1),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.nonsense("GET", path, body) from None

    def list_projects(self, title: str | None = None) -> list[Project]:
        """All projects, or those whose title contains ``title`` (Label Studio filters case-insensitively)."""
        projects: list[Project] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "page_size": 100}
            if title:
                params["title"] = title
            body = self._call("GET", "/api/projects/", "list projects", params=params)
            results = body.get("results") if isinstance(body, dict) else body
            if not isinstance(results, list):
                raise self.nonsense("GET", "/api/projects/", body)
            projects.extend(self._project(p) for p in results)
            if not isinstance(body, dict) or not body.get("next"):
                return projects
            page += 1

    def projects_titled(self, title: str) -> list[Project]:
        """The projects with exactly this title (Label Studio's own filter also matches parts of titles)."""
        return [p for p in self.list_projects(title=title) if p.title == title]

    def find_project(self, title: str) -> Project | None:
        """The project with exactly this title; two of them is an error, since pushing to either could be wrong.

        Two are first looked at again a few times: pushes that created a project at the
        same moment delete all but one of them within a round trip (push's ``resolve_title``).
        """
        for wait in (*SETTLE_WAITS, None):
            matches = self.projects_titled(title)
            if len(matches) <= 1:
                return matches[0] if matches else None
            if wait is not None:
                time.sleep(wait)
        ids = ", ".join(str(p.id) for p in sorted(matches, key=lambda p: p.id))
        raise ProjectError(
            f"{len(matches)} Label Studio projects are titled {title!r} (ids {ids}); rename all but one in Label Studio."
        )

    def project_titled(self, title: str) -> Project:
        """``find_project`` for a project that must exist (pull, adjudicate)."""
        project = self.find_project(title)
        if project is None:
            raise ProjectError(f"Label Studio has no project titled {title!r}.", "Check --project, or push articles first.")
        return project

    def get_project(self, project_id: int) -> Project:
        path = f"/api/projects/{project_id}/"
        return self._project(self._call("GET", path, f"read project {project_id}"), path)

    def create_project(self, title: str, **fields: Any) -> Project:
        body = self._call("POST", "/api/projects/", f"create project {title!r}", json={"title": title, **fields})
        return self._project(body)

    def update_project(self, project_id: int, **fields: Any) -> Project:
        """Change project settings.

        A new labelling config is first checked the way Label Studio's own editor
        does (strictly, against existing annotations and drafts): the PATCH alone
        would accept a config that orphans annotated labels. A refusal raises
        ``ConfigRejected`` with Label Studio's reason.
        """
        if "label_config" in fields:
            try:
                self._call(
                    "POST",
                    f"/api/projects/{project_id}/validate/",
                    f"accept the new labelling config of project {project_id}",
                    json={"label_config": fields["label_config"]},
                    retry=True,
                )
            except RequestRejected as exc:
                raise ConfigRejected(
                    exc.message,
                    "Existing annotations use labels the new schema removes. Keep those labels in the schema,"
                    " or change the annotations in Label Studio first.",
                    status=exc.status,
                ) from None
        body = self._call("PATCH", f"/api/projects/{project_id}/", f"update project {project_id}", json=fields)
        return self._project(body)

    def validate_config(self, label_config: str) -> None:
        """Ask Label Studio whether it accepts a labelling config (raises ``ConfigRejected`` if not)."""
        try:
            self._call("POST", "/api/projects/validate/", "accept the labelling config", json={"label_config": label_config})
        except RequestRejected as exc:
            raise ConfigRejected(exc.message, status=exc.status) from None

    def delete_project(self, project_id: int) -> None:
        self._call("DELETE", f"/api/projects/{project_id}/", f"delete project {project_id}")

    def project_description(self, project_id: int) -> str:
        """A project's description as stored (push marks the projects it creates there until it settles on one)."""
        body = self._call("GET", f"/api/projects/{project_id}/", f"read project {project_id}")
        return str(body.get("description") or "")

    # --- tasks -----------------------------------------------------------------------

    def iter_tasks(
        self,
        project_id: int,
        *,
        page_size: int = 1000,
        annotations: bool = False,
        include: str | None = None,
        after_id: int | None = None,
        ids: Sequence[int] | None = None,
        skip: Sequence[int] = (),
        on_page: Callable[[int, int], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every task of a project (or only those with the given ``ids``, or but those in ``skip``), in id order.

        ``annotations`` includes each task's annotations; ``include`` names the only
        task fields to send; ``on_page`` is told how many tasks came so far, of how many.
        ``skip`` travels as ranges of consecutive ids (about one per import batch); if
        there are too many for a short query, nothing is skipped.
        """
        if ids is not None:
            for chunk in id_chunks(ids):
                selected = {"selectedItems": {"all": False, "included": chunk}}
                yield from self._task_pages(project_id, selected, [], after_id, page_size, annotations, include, None)
            return
        runs: list[tuple[int, int]] = []
        for task_id in sorted(set(skip)):
            if runs and task_id == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], task_id)
            else:
                runs.append((task_id, task_id))
        # About 3 KB of query string, as many as the 500 ids above.
        skipped = [
            {"filter": "filter:tasks:id", "operator": "not_in", "type": "Number", "value": {"min": a, "max": b}}
            for a, b in (runs if len(runs) <= 25 else [])
        ]
        yield from self._task_pages(project_id, {}, skipped, after_id, page_size, annotations, include, on_page)

    def _task_pages(
        self,
        project_id: int,
        query: dict[str, Any],
        filters: list[dict[str, Any]],
        after_id: int | None,
        page_size: int,
        annotations: bool,
        include: str | None,
        on_page: Callable[[int, int], None] | None,
    ) -> Iterator[dict[str, Any]]:
        """Pages by id: each request asks for the ids above the last one seen.

        Page numbers break while tasks are deleted (annotators, a concurrent push
        removing duplicates): every later page shifts and a task is skipped, and a
        page Label Studio answers short (a task deleted between its two queries)
        makes the next page number "invalid".
        """
        last = after_id
        seen = 0
        while True:
            above = [] if last is None else [{"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": last}]
            page_query: dict[str, Any] = {**query, "ordering": ["tasks:id"]}
            if above or filters:
                page_query["filters"] = {"conjunction": "and", "items": [*above, *filters]}
            params: dict[str, Any] = {
                "project": project_id,
                "page": 1,
                "page_size": page_size,
                "query": json.dumps(page_query, separators=(",", ":")),
            }
            if annotations:
                params["fields"] = "all"
            if include:
                params["include"] = include  # only these task fields: much less to send than the texts
            # "left" counts what is left above ``last``: a server that caps page_size still gets paged through.
            tasks, left = self._task_page(project_id, params)
            yield from tasks
            seen += len(tasks)
            if on_page:
                on_page(seen, seen - len(tasks) + left)
            if not tasks or len(tasks) >= left:
                return
            last = int(tasks[-1]["id"])

    def list_task_changes(
        self, project_id: int, on_page: Callable[[int, int], None] | None = None
    ) -> dict[int, tuple[str | None, int, int]]:
        """Every task's ``updated_at`` and annotation counts, without texts: what pull compares to know what changed.

        Saving or deleting an annotation (or a prediction) sets its task's
        ``updated_at``; the counts catch what a bulk action changes without it.
        """
        listed: dict[int, tuple[str | None, int, int]] = {}
        fields = "id,updated_at,total_annotations,cancelled_annotations"
        for task in self.iter_tasks(project_id, include=fields, page_size=5000, on_page=on_page):
            listed[int(task["id"])] = (
                task.get("updated_at"),
                int(task.get("total_annotations") or 0),
                int(task.get("cancelled_annotations") or 0),
            )
        return listed

    def task_annotators(self, project_id: int) -> dict[int, tuple[int, ...]]:
        """Every task's annotators (user ids of its annotations' authors), without texts."""
        return {
            int(task["id"]): tuple(sorted({int(u) for u in task.get("annotators") or [] if isinstance(u, int)}))
            # "annotators" is computed only when all fields are asked for; ``include`` still sends just these two.
            for task in self.iter_tasks(project_id, annotations=True, include="id,annotators", page_size=5000)
        }

    def export_tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task with its annotations in one bulk export (Label Studio's JSON export)."""
        body = self._call(
            "GET",
            f"/api/projects/{project_id}/export",
            f"export project {project_id}",
            params={"exportType": "JSON", "download_all_tasks": "true"},
            timeout=BULK_TIMEOUT,
        )
        if not isinstance(body, list):
            raise LabelStudioError(f"Label Studio's export of project {project_id} is not a list of tasks.")
        return body

    # Export snapshots: a large project's full pull, which a proxy cannot cut as it can one long GET.

    def create_snapshot(self, project_id: int, title: str) -> dict[str, Any]:
        """Ask Label Studio to write every task with every annotation (skipped and ground truth too) to a file.

        With a task queue (Redis) it works in the background; without one, as in the
        embedded studio, the request returns when the file is written. Not retried: a
        broken request may have made the snapshot, which ``snapshots`` then finds.
        """
        path = f"/api/projects/{project_id}/exports/"
        return self._snapshot_shape("POST", path, self._call(
            "POST",
            path,
            f"start an export snapshot of project {project_id}",
            json={"title": title, "annotation_filter_options": {"usual": True, "ground_truth": True, "skipped": True}},
            retry=False,
            timeout=BULK_TIMEOUT,
        ))

    def _snapshot_shape(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """A snapshot as Label Studio describes one: an object with an integer id and a status."""
        if not isinstance(body, dict) or not isinstance(body.get("id"), int) or not isinstance(body.get("status"), str):
            raise self.nonsense(method, path, body)
        return body

    def snapshots(self, project_id: int) -> list[dict[str, Any]]:
        """The project's export snapshots, newest first (id, title, status, created_at)."""
        path = f"/api/projects/{project_id}/exports/"
        body = self._call("GET", path, f"list the export snapshots of project {project_id}", expect=list)
        return [self._snapshot_shape("GET", path, s) for s in body]

    def snapshot(self, project_id: int, snapshot_id: int) -> dict[str, Any]:
        path = f"/api/projects/{project_id}/exports/{snapshot_id}"
        return self._snapshot_shape("GET", path, self._call("GET", path, f"read export snapshot {snapshot_id} of project {project_id}"))

    def download_snapshot(self, project_id: int, snapshot_id: int) -> list[dict[str, Any]]:
        body = self._call(
            "GET",
            f"/api/projects/{project_id}/exports/{snapshot_id}/download",
            f"download export snapshot {snapshot_id} of project {project_id}",
            params={"exportType": "JSON"},
            timeout=BULK_TIMEOUT,
        )
        if not isinstance(body, list):
            raise LabelStudioError(f"Label Studio's snapshot {snapshot_id} of project {project_id} is not a list of tasks.")
        return body

    def delete_snapshot(self, project_id: int, snapshot_id: int) -> None:
        self._call(
            "DELETE", f"/api/projects/{project_id}/exports/{snapshot_id}", f"delete export snapshot {snapshot_id} of project {project_id}"
        )

    def task_refs(self, project_id: int, *, after_id: int | None = None, skip: Sequence[int] = ()) -> list[TaskRef]:
        """What push needs of every task (with an id above ``after_id``, not in ``skip``): its id and the article id, version and hash.

        Push stores them in each task's ``meta`` so they can be listed without the
        texts; a task imported some other way is read from its ``data`` instead.
        """
        refs: list[TaskRef] = []
        without_meta: list[int] = []
        for task in self.iter_tasks(project_id, include="id,meta", after_id=after_id, skip=skip, page_size=5000):
            meta = task.get("meta") or {}
            if "article_id" in meta:
                refs.append(codec.task_ref(int(task["id"]), meta))
            else:
                without_meta.append(int(task["id"]))
        if without_meta:
            for task in self.iter_tasks(project_id, include="id,data", ids=without_meta):
                refs.append(codec.task_ref(int(task["id"]), task.get("data") or {}))
        return refs

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks in one bulk request; return their ids.

        Not retried once sent: whether a broken import landed is for the caller
        to find out (push re-reads the project before it imports again).
        """
        body = self._call(
            "POST",
            f"/api/projects/{project_id}/import",
            f"import {len(tasks)} task(s) into project {project_id}",
            params={"return_task_ids": "true", "commit_to_project": "true"},
            json=tasks,
            retry=False,
            timeout=BULK_TIMEOUT,
        )
        ids = body.get("task_ids") if isinstance(body, dict) else None
        if ids is None or len(ids) != len(tasks):
            raise LabelStudioError(
                f"Label Studio imported {body.get('task_count') if isinstance(body, dict) else '?'} of"
                f" {len(tasks)} task(s) into project {project_id} without saying which; run the push again."
            )
        return [int(i) for i in ids]

    def get_task(self, task_id: int) -> dict[str, Any]:
        return self._call("GET", f"/api/tasks/{task_id}/", f"read task {task_id}")

    def create_annotation(self, task_id: int, result: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/api/tasks/{task_id}/annotations/",
            f"save an annotation on task {task_id}",
            json={"result": result, **fields},
        )

    def update_annotation(self, annotation_id: int, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/api/annotations/{annotation_id}/", f"update annotation {annotation_id}", json=fields)

    def delete_annotation(self, annotation_id: int) -> None:
        self._call("DELETE", f"/api/annotations/{annotation_id}/", f"delete annotation {annotation_id}")

    def delete_task(self, task_id: int) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}/", f"delete task {task_id}")

    # Concurrent pushes: what annotators did, removal of duplicates.

    def _task_page(self, project_id: int, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """One page of the data manager's task list: its tasks and how many match in all."""
        attempt = 0
        while True:
            try:
                body = self._call("GET", "/api/tasks/", f"list the tasks of project {project_id}", params=params, expect=dict)
                tasks, total = body.get("tasks"), body.get("total")
                if (
                    not isinstance(tasks, list)
                    or not all(isinstance(t, dict) and isinstance(t.get("id"), int) for t in tasks)
                    or not isinstance(total, int)
                ):
                    # A page without its tasks would read as a project without tasks: never take it as one.
                    raise self.nonsense("GET", "/api/tasks/", body)
                return tasks, total
            except ServerError as exc:
                # Label Studio reads a page in two queries and answers 500 when a task of
                # the page is deleted in between (a concurrent push removing duplicates).
                attempt += 1
                if exc.status != 500 or attempt >= 3:
                    raise
                time.sleep(self.backoff)

    def task_work(self, project_id: int, ids: Sequence[int]) -> dict[int, tuple[int, int, bool]]:
        """What annotators did on each task of ``ids`` that still exists: (annotations, skipped annotations, draft).

        Deleted tasks are absent from the answer. Drafts count whoever saved them: the
        tasks list's ``drafts`` field shows only the caller's own, and ``draft_exists``
        (everyone's) is computed only when the query sorts or filters on it, hence the
        ordering. A task whose draft state is not reported counts as having one.
        """
        work: dict[int, tuple[int, int, bool]] = {}
        fields = "id,total_annotations,cancelled_annotations,draft_exists"
        for chunk in id_chunks(ids):
            query = {"ordering": ["tasks:draft_exists"], "selectedItems": {"all": False, "included": chunk}}
            # One page holds the whole chunk: page numbers over a shrinking set could skip tasks.
            params = {
                "project": project_id, "page": 1, "page_size": len(chunk), "query": json.dumps(query), "include": fields
            }
            tasks, _ = self._task_page(project_id, params)
            for task in tasks:
                work[int(task["id"])] = (
                    int(task.get("total_annotations") or 0),
                    int(task.get("cancelled_annotations") or 0),
                    bool(task.get("draft_exists", True)),
                )
        return work

    def delete_unworked_tasks(self, project_id: int, ids: Sequence[int]) -> int:
        """Delete those of the tasks ``ids`` with no annotation, skipped annotation or draft; return how many went.

        One Data Manager action (``delete_tasks``) per 1,000 tasks. The condition travels
        as filters, so Label Studio checks it when it deletes, not when the caller last
        looked. Tasks already deleted are not found, which is no error.
        """
        deleted = 0
        nothing_done = {
            "conjunction": "and",
            "items": [
                {"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0},
                {"filter": "filter:tasks:cancelled_annotations", "operator": "equal", "type": "Number", "value": 0},
                {"filter": "filter:tasks:draft_exists", "operator": "equal", "type": "Boolean", "value": False},
            ],
        }
        # Never an empty selection: to Label Studio that means every task of the project.
        for start in range(0, len(ids), 1000):
            chunk = [int(i) for i in ids[start : start + 1000]]
            body = self._call(
                "POST",
                "/api/dm/actions/",
                f"delete {len(chunk)} duplicate task(s) of project {project_id}",
                params={"id": "delete_tasks", "project": project_id},
                json={"selectedItems": {"all": False, "included": chunk}, "filters": nothing_done},
                retry=True,  # the same selection twice deletes nothing more
            )
            deleted += int(body.get("processed_items") or 0) if isinstance(body, dict) else 0
        return deleted

    # --- predictions (pre-annotations shown to annotators) ----------------------------------

    def list_predictions(self, task_id: int) -> list[dict[str, Any]]:
        body = self._call("GET", "/api/predictions/", f"list the predictions of task {task_id}", params={"task": task_id})
        return body.get("results", []) if isinstance(body, dict) else body

    def create_prediction(self, task_id: int, result: list[dict[str, Any]], model_version: str, score: float | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"task": task_id, "result": result, "model_version": model_version}
        if score is not None:
            payload["score"] = score
        return self._call("POST", "/api/predictions/", f"save a pre-annotation on task {task_id}", json=payload)

    def delete_prediction(self, prediction_id: int) -> None:
        self._call("DELETE", f"/api/predictions/{prediction_id}/", f"delete prediction {prediction_id}")

    # --- users -----------------------------------------------------------------------------------

    def create_user(self, email: str, first_name: str = "", last_name: str = "") -> int:
        """Add a user to the organization (an annotator); returns the user id."""
        body = self._call(
            "POST", "/api/users/", f"create the user {email}",
            json={"email": email, "username": email, "first_name": first_name, "last_name": last_name},
            retry=False,
        )
        return int(body["id"])

    # --- tokens and organisation settings (administration, used by the tests) ---

    def set_token_settings(self, *, legacy: bool, personal: bool = True) -> dict[str, Any]:
        return self._call(
            "POST",
            "/api/jwt/settings",
            "change the API token settings",
            json={"legacy_api_tokens_enabled": legacy, "api_tokens_enabled": personal},
        )

    def create_personal_access_token(self) -> str:
        body = self._call("POST", "/api/token/", "create a personal access token", retry=False)
        return str(body["token"])

    # --- team: invite, sign-up, session login ---

    def invite_token(self) -> str:
        """The organization's invitation token (what the invite link carries): whoever holds it may sign up."""
        body = self._call("GET", "/api/invite", "read the organization's invitation link")
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            raise LabelStudioError(f"Label Studio at {self.url} gave no invitation token (GET /api/invite).")
        return str(token)

    def sign_up(self, email: str, password: str) -> SessionClient:
        """Create an account through the invitation link's sign-up form; return a session logged in as it.

        The form is the one way over HTTP to make an organization member who can log in
        (``POST /api/users/`` stores no password). It logs its browser in as the new user,
        so it runs in a cookie jar of its own, never this client's token session. Not
        retried: a second post would only find the account taken.
        """
        token = self.invite_token()
        session = SessionClient(self.url, email, timeout=self._http.timeout.read or READ_TIMEOUT, retries=self.retries)
        return session._enter(
            "/user/signup/",
            {"email": session.email, "password": password},
            f"sign up {session.email} through the invitation link",
            lambda errors: SignUpRejected(f"Label Studio refused to sign up {session.email}: {_reasons(errors)}.", errors, status=200),
            params={"token": token},
            forbidden_hint="The link may have been reset at that moment, or this Label Studio allows no sign-ups:"
            " run the command again, or ask its administrator.",
        )

    def update_task_data(self, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Replace a task's data (the team roster keeps one member per task)."""
        return self._call("PATCH", f"/api/tasks/{task_id}/", f"update task {task_id}", json={"data": data})


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


# --- team: HTML forms and session clients -----------------------------------------------
# Imported here, with the helpers that need them, so this section stays in one place.
import html as _html  # noqa: E402
import re  # noqa: E402

from ..errors import LoginRejected, SignUpRejected  # noqa: E402

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


class _HideInviteToken(logging.Filter):
    """httpx logs each request's URL; a sign-up URL carries the invitation token, with which anyone can join."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("token=" in str(arg) for arg in record.args):
            record.args = tuple(_INVITE_TOKEN.sub("token=***", str(arg)) if "token=" in str(arg) else arg for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(_HideInviteToken())
