"""The studio's guard: in the Label Studio annotate runs, each person reaches only their own work.

Label Studio's free edition lets every member of an organization open, change and
delete every project of it. This Django middleware, installed by ``guard_settings``
(a settings module that extends Label Studio's own), enforces the team's roles:

* the **owner** (the account whose token annotate uses, named by ``$ANNOTATE_OWNER_EMAIL``;
  also the organization's creator and any superuser) reaches everything, as before;
* an **annotator** of team T reaches their own queue ``T · queue <their id> · <name>`` while the
  roster of T lists them: its data manager, next task, tasks, annotations and drafts,
  and changes only to their own annotations and drafts;
* a **reviewer** of T reaches ``T · review`` likewise, with the predictions there;
* everyone logged in reaches their own account (page, token, personal access tokens).

The roles come from annotate's titles and roster (``queues.py``), which only the owner
can write: nobody else may create, rename or import into a project. Anything not on the
allow list ``RULES`` is refused (fail closed): 403 JSON for the API, a plain page for the
UI, however the person came in (session, legacy token, personal access token). Lists
(projects, users, views) show only what the role reaches.

Label Studio's own modules are imported as it imports them (top-level ``projects``,
``tasks``...), so this module is only imported inside its server process.
"""

from __future__ import annotations

import html
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..queues import ROSTER_MARK, queue_owner, queue_title, review_title

OWNER_ENV = "ANNOTATE_OWNER_EMAIL"
# Static assets are the same for everybody and hold no data: served to anyone, as before.
STATIC_PREFIXES = ("/static/", "/react-app/", "/label-studio-frontend/", "/dm/", "/favicon.ico", "/sw.js", "/sw-fallback.js", "/data/avatars/")
REACH_SECONDS = 3.0  # how long a person's reach is cached: a roster change takes effect within this
READ = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY = READ | WRITE
OPEN_PROFILE = frozenset({"first_name", "last_name", "phone", "allow_newsletters"})
FIXED_PROFILE = frozenset({"email", "username"})
RUNNABLE_ACTIONS = frozenset({"next_task"})  # "Label All Tasks" asks for the next task through the action API

log = logging.getLogger("annotate.guard")


@dataclass(frozen=True)
class Reach:
    """The projects one person may work in, by role."""

    queues: frozenset[int] = frozenset()
    reviews: frozenset[int] = frozenset()

    @property
    def projects(self) -> frozenset[int]:
        return self.queues | self.reviews


@dataclass(frozen=True)
class Rule:
    """How a person other than the owner may use one Label Studio view."""

    methods: frozenset[str]
    scope: str  # what must be theirs: see ``_allowed``
    own: frozenset[str] = field(default_factory=frozenset)  # methods that also need the object to be their own


# Label Studio's views by their URL names (``resolver_match.view_name``). A view not named here is refused.
RULES: dict[str, Rule] = {
    # Pages and account: every person logged in.
    "main": Rule(READ, "anyone"),
    "user-login": Rule(ANY, "anyone"),
    "user-signup": Rule(ANY, "anyone"),
    "logout": Rule(ANY, "anyone"),
    "user-account": Rule(READ, "anyone"),
    "user-account-anything": Rule(READ, "anyone"),
    "current-user-whoami": Rule(READ, "anyone"),
    "current-user-token": Rule(READ, "anyone"),
    "current-user-reset-token": Rule(ANY, "anyone"),
    "current-user-hotkeys": Rule(ANY, "anyone"),
    "product-tour": Rule(ANY, "anyone"),
    "health": Rule(READ, "anyone"),
    "version": Rule(READ, "anyone"),
    "api-version": Rule(READ, "anyone"),
    "heidi_tips": Rule(READ, "anyone"),
    "collect_metrics": Rule(ANY, "anyone"),
    "session_policy:session-policy": Rule(READ, "anyone"),
    "jwt_auth:api-jwt-settings": Rule(READ, "anyone"),
    "jwt_auth:token_manage": Rule(ANY, "anyone"),  # their own personal access tokens
    "jwt_auth:token_refresh": Rule(ANY, "anyone"),
    "jwt_auth:token_blacklist": Rule(ANY, "anyone"),
    "jwt_auth:token_rotate": Rule(ANY, "anyone"),
    "user-detail": Rule(READ | {"PATCH"}, "self"),
    "user-avatar": Rule(ANY, "self"),
    "user-list": Rule(READ, "users"),
    # Projects: the lists show only theirs; one project only if theirs; nothing made, changed or deleted.
    "projects:project-index": Rule(READ, "anyone"),
    "projects:api:project-list": Rule(READ, "project-list"),
    "projects:api:project-counts-list": Rule(READ, "project-list"),
    "projects:api:project-detail": Rule(READ, "project"),
    "projects:api:project-next": Rule(READ, "project"),
    "projects:api:label-stream-history": Rule(READ, "project"),
    "projects:api:project-model-versions": Rule(READ, "project"),
    "data_manager:project-data": Rule(READ, "project"),
    # The data manager of their project: its state, columns, actions listed (none run), tabs.
    "data_manager:dm-project": Rule(READ, "project-param"),
    "data_manager:dm-columns": Rule(READ, "project-param"),
    "data_manager:dm-actions": Rule(READ | {"POST"}, "actions"),  # listed; of those run, only "next task"
    "ml:api:ml-list": Rule(READ, "project-param"),
    "labels_manager:api-labels:label_link-list": Rule(READ, "project-param"),
    "data_manager:api:view-list": Rule(READ | {"POST"}, "views"),
    "data_manager:api:view-detail": Rule(ANY, "view"),
    # Tasks, annotations, drafts and predictions of their projects; changes to their own work only.
    "tasks:api:task-list": Rule(READ, "project-param"),
    "tasks:api:task-detail": Rule(READ, "task"),
    "tasks:api:task-annotations": Rule(READ | {"POST"}, "task"),
    "tasks:api:task-drafts": Rule(READ | {"POST"}, "task"),
    "tasks:api:task-annotations-drafts": Rule(READ | {"POST"}, "task-annotation", own=WRITE),
    "tasks:api-annotations:annotation-detail": Rule(ANY, "annotation", own=WRITE),
    "tasks:api-annotations:annotation-convert-to-draft": Rule(ANY, "annotation", own=WRITE),
    "tasks:api-drafts:draft-detail": Rule(ANY, "draft", own=ANY),
    "tasks:api-predictions:prediction-list": Rule(READ, "predictions"),
    "tasks:api-predictions:prediction-detail": Rule(READ, "prediction"),
}


# --- who the person is, and what they reach ------------------------------------------------------------


def _identities(request: Any) -> list[Any]:
    """Every account the request speaks for: a legacy token's and the session's (or a JWT's, set by Label Studio)."""
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.exceptions import APIException

    found = []
    try:
        by_token = TokenAuthentication().authenticate(request)
    except APIException:
        by_token = None  # a bad token: Label Studio itself answers 401
    if by_token is not None:
        found.append(by_token[0])
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and all(u.pk != user.pk for u in found):
        found.append(user)
    return found


def is_owner(user: Any) -> bool:
    """The studio's owner: the account named by ``$ANNOTATE_OWNER_EMAIL`` (set by ``studio start``), or a superuser.

    Without that variable (a deployment that installs the guard itself), the organization's creator.
    """
    if user.is_superuser:
        return True
    email = os.environ.get(OWNER_ENV, "").strip().lower()
    if email:
        return (user.email or "").lower() == email  # no query: this runs on every request
    organization = getattr(user, "active_organization", None)
    return organization is not None and organization.created_by_id == user.pk


def reach_of(user: Any) -> Reach:
    """The projects the roster gives this person: their queues and, as a reviewer, the review projects."""
    from projects.models import Project
    from tasks.models import Task

    organization = user.active_organization_id
    teams: set[str] = set()
    reviews: set[str] = set()
    entries = Task.objects.filter(project__organization_id=organization, project__title__startswith=ROSTER_MARK)
    for roster, data in entries.values_list("project__title", "data"):
        if not isinstance(data, dict) or data.get("user_id") != user.pk:
            continue
        team = roster[len(ROSTER_MARK) :]
        teams.add(team)
        if data.get("reviewer") is True:
            reviews.add(review_title(team))
    queues: set[int] = set()
    for team in teams:  # a queue's title starts with its id, then may name the person (queues.queue_title)
        mine = Project.objects.filter(organization_id=organization, title__startswith=queue_title(team, user.pk))
        queues.update(pid for pid, title in mine.values_list("id", "title") if queue_owner(team, title) == user.pk)
    found = Project.objects.filter(organization_id=organization, title__in=reviews).values_list("id", flat=True) if reviews else []
    return Reach(frozenset(queues), frozenset(found))


class _ReachCache:
    """Each person's reach for a few seconds: one roster read per person per moment, not per request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.known: dict[int, tuple[float, Reach]] = {}

    def get(self, user: Any, fresh: bool = False) -> Reach:
        now = time.monotonic()
        with self.lock:
            hit = self.known.get(user.pk)
        if hit is not None and hit[0] > now and not fresh:
            return hit[1]
        reach = reach_of(user)
        with self.lock:
            self.known[user.pk] = (now + self.seconds, reach)
        return reach


_cache = _ReachCache(REACH_SECONDS)


# --- what each scope checks ------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_known: dict[tuple[str, int], tuple[int, int | None]] = {}  # what never changes: an object's project and author
KNOWN_MAX = 200_000


def _project_of(kind: str, pk: Any) -> tuple[int | None, int | None]:
    """The project of a task, annotation, draft, prediction or view, and its author (for annotations and drafts).

    Neither changes in Label Studio, so each is read once per server process (a save asks for its task's).
    """
    key = (kind, _int(pk) or 0)
    if key in _known:
        return _known[key]
    found = _read_project_of(kind, pk)
    if found[0] is not None:  # not "not found": a new object may take that id later
        if len(_known) >= KNOWN_MAX:
            _known.clear()
        _known[key] = found  # type: ignore[assignment]
    return found


def _read_project_of(kind: str, pk: Any) -> tuple[int | None, int | None]:
    from data_manager.models import View
    from tasks.models import Annotation, AnnotationDraft, Prediction, Task

    model: Any = {"task": Task, "annotation": Annotation, "draft": AnnotationDraft, "prediction": Prediction, "view": View}[kind]
    author = {"annotation": "completed_by_id", "draft": "user_id"}.get(kind)
    # Through the task: an annotation's or prediction's own project field may be empty on old rows.
    project = "project_id" if kind in ("task", "view") else "task__project_id"
    fields = [project] + ([author] if author else [])
    row = model.objects.filter(pk=_int(pk)).values_list(*fields).first() if _int(pk) is not None else None
    if row is None:
        return None, None
    return row[0], (row[1] if author else None)


def _allowed(rule: Rule, user: Any, reach: Callable[[], Reach], request: Any, kwargs: dict[str, Any]) -> bool:
    """Whether ``rule`` lets ``user`` make this request; ``reach`` is read only by the scopes that need it."""
    scope = rule.scope
    if scope in ("anyone", "users", "project-list"):
        return True
    if scope == "self":
        return _int(kwargs.get("pk")) == user.pk and (request.method in READ or _own_profile_change(user, _body(request)))
    mine = reach().projects
    if scope == "project":
        return _int(kwargs.get("pk")) in mine
    if scope == "project-param":
        return _int(request.GET.get("project")) in mine
    if scope == "actions":
        return _int(request.GET.get("project")) in mine and (request.method in READ or request.GET.get("id") in RUNNABLE_ACTIONS)
    if scope == "views":
        if request.method == "POST":
            return _int(_body(request).get("project")) in mine
        return "project" not in request.GET or _int(request.GET.get("project")) in mine
    if scope == "predictions":
        if "task" in request.GET:
            project, _ = _project_of("task", request.GET.get("task"))
            return project in mine
        return _int(request.GET.get("project")) in mine
    kind = {"task-annotation": "task"}.get(scope, scope)
    project, author = _project_of(kind, kwargs.get("pk"))
    if project not in mine:
        return False
    if scope == "task-annotation" and request.method in rule.own:
        _, author = _project_of("annotation", kwargs.get("annotation_id"))
        return author == user.pk
    if request.method in rule.own:
        return author == user.pk
    return True


def _own_profile_change(user: Any, body: dict[str, Any]) -> bool:
    """A change a person may make to their own account: their name and phone, never who they are.

    The owner is known by email: an email (or user name) may be sent only unchanged, as the account page sends it.
    """
    for key, value in body.items():
        if key in FIXED_PROFILE:
            if str(value or "").strip().lower() != str(getattr(user, key, "") or "").strip().lower():
                return False
        elif key not in OPEN_PROFILE:
            return False
    return True


def _body(request: Any) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


# --- answers ----------------------------------------------------------------------------------------------


REFUSED = "annotate's studio guard: your role does not reach this. Annotators work in their own queue, reviewers in the review project."


def _refuse(request: Any, reach: Reach) -> Any:
    from django.http import HttpResponse, JsonResponse

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": REFUSED, "status_code": 403}, status=403)
    from projects.models import Project

    titles = dict(Project.objects.filter(id__in=reach.projects).values_list("id", "title"))
    links = "".join(
        f'<li><a href="/projects/{pid}/data">{html.escape(titles.get(pid) or f"project {pid}")}</a></li>' for pid in sorted(reach.projects)
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not part of your work</title></head>'
        f"<body><h1>Not part of your work</h1><p>{html.escape(REFUSED)}</p>"
        + (f"<p>Your projects:</p><ul>{links}</ul>" if links else "<p>You are in no team yet: ask the project lead.</p>")
        + '<p><a href="/projects/">Your projects</a> · <a href="/user/account/">Your account</a></p></body></html>'
    )
    return HttpResponse(page, status=403, content_type="text/html; charset=utf-8")


def _filtered(view: Callable[..., Any], request: Any, args: tuple[Any, ...], kwargs: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> Any:
    """Run the view, then keep only the listed objects ``keep`` accepts (a plain list or a page of ``results``)."""
    from django.http import JsonResponse

    response = view(request, *args, **kwargs)
    if hasattr(response, "render"):
        response.render()
    if response.status_code != 200:
        return response
    try:
        data = json.loads(response.content)
    except ValueError:
        return response
    if isinstance(data, list):
        return JsonResponse([item for item in data if isinstance(item, dict) and keep(item)], safe=False)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data["results"] = [item for item in data["results"] if isinstance(item, dict) and keep(item)]
        data["count"] = len(data["results"])
        return JsonResponse(data)
    return response


class TeamGuard:
    """Django middleware: decides every request of a person other than the owner before its view runs."""

    @staticmethod
    def _refused(request: Any, name: str, user: Any) -> Any:
        log.warning("annotate guard refused %s %s (%s) to user %s", request.method, request.path, name or "no view", user.pk)
        return _refuse(request, _cache.get(user))

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_view(self, request: Any, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if request.path.startswith(STATIC_PREFIXES):
            return None
        people = [u for u in _identities(request) if not is_owner(u)]
        if not people:
            return None  # the owner, or nobody logged in (Label Studio itself asks for a login)
        match = getattr(request, "resolver_match", None)
        name = match.view_name if match is not None else ""
        rule = RULES.get(name)
        for user in people:
            if rule is None or request.method not in rule.methods:
                return self._refused(request, name, user)
            if not _allowed(rule, user, lambda: _cache.get(user), request, kwargs):
                # Read again before refusing: a queue made a moment ago (a push) is not in a cached reach yet.
                if not _allowed(rule, user, lambda: _cache.get(user, fresh=True), request, kwargs):
                    return self._refused(request, name, user)
        assert rule is not None  # every person above passed it
        user = people[-1]
        if rule.scope == "project-list":
            # Read afresh: a list is asked for once a page, and a queue made a moment ago belongs in it.
            reach = _cache.get(user, fresh=True)
            ids = {i for i in (_int(x) for x in request.GET.get("ids", "").split(",")) if i is not None}
            shown = sorted(reach.projects & ids if ids else reach.projects)
            query = request.GET.copy()
            query["ids"] = ",".join(map(str, shown)) or "0"  # no project has id 0: an empty list
            request.GET = query
        elif rule.scope == "users":
            return _filtered(view, request, args, kwargs, lambda item: item.get("id") == user.pk)
        elif rule.scope == "views" and request.method in READ and "project" not in request.GET:
            mine = _cache.get(user).projects
            return _filtered(view, request, args, kwargs, lambda item: _int(item.get("project")) in mine)
        return None
