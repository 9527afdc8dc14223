"""The studio guard on the real embedded Label Studio: each role reaches what it should, and nothing else.

Every person acts through their own login (the login form with the password ``team add``
printed), through a personal access token they made themselves, and through their legacy
token; the owner through annotate's token. A table of requests × roles says what each
role may do; every request of it is sent by every role and transport.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from annotate import distribute, push, queues, schema, team
from annotate.labelstudio import guard, studio
from annotate.labelstudio.client import LabelStudioClient
from test_pull import ent
from test_push import synthetic
from test_validate import answer

pytestmark = pytest.mark.studio
SCHEMA = schema.load()
ROLES = ("annotator", "reviewer", "outsider", "owner")


@dataclass
class World:
    """A team of the real studio: A and B annotate (overlap 2), R reviews, O is in no team; ids of their work."""

    client: LabelStudioClient
    title: str
    people: dict[str, tuple[int, str, str]]  # role -> (user id, email, password)
    queue_a: int
    queue_b: int
    pool: int
    roster: int
    review: int
    task_a: int  # in A's queue, annotated by A
    task_a2: int  # in A's queue, not annotated
    task_b: int  # in B's queue, annotated by B
    review_task: int
    annotation_a: int
    annotation_b: int
    me: int = 0  # the asking person's own user id (for the owner: an account made to be changed)

    def spare_task(self) -> int:
        """A task of A's queue made only to be deleted (by the owner)."""
        [task_id] = self.client.import_tasks(self.queue_a, [{"data": {"article_id": f"spare-{uuid.uuid4().hex[:6]}", "text": "خبر"}}])
        return task_id

    def spare_annotation(self) -> int:
        """An annotation in B's queue made only to be deleted: someone else's for everyone but its maker, the owner."""
        return int(self.client.create_annotation(self.task_b, [ent("g", "GPE", "خبر", "خبر")])["id"])

    def spare_project(self) -> int:
        return self.client.create_project(f"spare-{uuid.uuid4().hex[:8]}").id


@pytest.fixture(scope="module")
def world(studio_home: Path) -> Iterator[World]:
    client = studio.connect(studio_home)
    title = f"guard-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    a, b = team.add_members(client, [f"ga-{run}@example.org", f"gb-{run}@example.org"], project=title)
    [r] = team.add_members(client, [f"gr-{run}@example.org"], project=title, reviewer=True)
    [o] = team.add_members(client, [f"go-{run}@example.org"], project=f"{title}-gone")
    team.remove_member(client, f"{title}-gone", o.member.email)  # an account of the organization in no team
    articles = synthetic(4)
    distribute.push_queues(client, articles, title=title, schema=SCHEMA, overlap=2)
    ids = {t: client.project_titled(t).id for t in (title, queues.roster_title(title))}
    made = team.queue_projects(client, title)
    queue_a, queue_b = made[a.member.user_id].id, made[b.member.user_id].id
    assert made[a.member.user_id].title == queues.queue_title(title, a.member.user_id, a.member.email)
    review = client.create_project(queues.review_title(title), **push.project_settings(SCHEMA)).id
    text = articles[0].text
    [review_task] = client.import_tasks(review, [{"data": {"article_id": articles[0].id, "text": text}}])
    client.create_prediction(review_task, [ent("g", "GPE", text, "الرقة")], "annotator-x")
    sa, sb = (team.login(client.url, n.member.email, n.password or "") for n in (a, b))
    tasks_a = [int(t["id"]) for t in client.iter_tasks(queue_a)]
    task_b = int(next(iter(client.iter_tasks(queue_b)))["id"])
    annotation_a = sa.create_annotation(tasks_a[0], [ent("g", "GPE", text, "الرقة"), answer()])["id"]
    annotation_b = sb.create_annotation(task_b, [ent("g", "GPE", text, "الرقة"), answer()])["id"]
    sa.close()
    sb.close()
    people = {
        role: (n.member.user_id, n.member.email, n.password or "")
        for role, n in (("annotator", a), ("reviewer", r), ("outsider", o))
    }
    yield World(client, title, people, queue_a, queue_b, ids[title], ids[queues.roster_title(title)], review,
                tasks_a[0], tasks_a[1], task_b, review_task, annotation_a, annotation_b)
    client.close()


def _annotation_body(w: World) -> dict[str, Any]:
    return {"result": [ent("g", "GPE", "خبر", "خبر")], "lead_time": 1.0}


# (what, allowed to, method, path, body); paths and bodies are built from the world, for the role asking.
Request = Callable[[World], tuple[str, str, Any]]
TABLE: list[tuple[str, set[str], Request]] = [
    ("list projects", set(ROLES), lambda w: ("GET", "/api/projects/", None)),
    ("open own queue", {"annotator", "owner"}, lambda w: ("GET", f"/api/projects/{w.queue_a}/", None)),
    ("open another's queue", {"owner"}, lambda w: ("GET", f"/api/projects/{w.queue_b}/", None)),
    ("open the pool", {"owner"}, lambda w: ("GET", f"/api/projects/{w.pool}/", None)),
    ("open the roster", {"owner"}, lambda w: ("GET", f"/api/projects/{w.roster}/", None)),
    ("open the review project", {"reviewer", "owner"}, lambda w: ("GET", f"/api/projects/{w.review}/", None)),
    ("roster's tasks", {"owner"}, lambda w: ("GET", f"/api/tasks/?project={w.roster}", None)),
    ("own queue's data manager", {"annotator", "owner"}, lambda w: ("GET", f"/api/dm/project/?project={w.queue_a}", None)),
    ("own queue's tasks", {"annotator", "owner"}, lambda w: ("GET", f"/api/tasks/?project={w.queue_a}", None)),
    ("another's tasks", {"owner"}, lambda w: ("GET", f"/api/tasks/?project={w.queue_b}", None)),
    ("next task", {"annotator", "owner"}, lambda w: ("GET", f"/api/projects/{w.queue_a}/next/", None)),
    ("next task of the review", {"reviewer", "owner"}, lambda w: ("GET", f"/api/projects/{w.review}/next/", None)),
    ("own task", {"annotator", "owner"}, lambda w: ("GET", f"/api/tasks/{w.task_a}/", None)),
    ("another's task", {"owner"}, lambda w: ("GET", f"/api/tasks/{w.task_b}/", None)),
    ("own annotation by id", {"annotator", "owner"}, lambda w: ("GET", f"/api/annotations/{w.annotation_a}/", None)),
    ("another's annotation by id", {"owner"}, lambda w: ("GET", f"/api/annotations/{w.annotation_b}/", None)),
    ("submit in own queue", {"annotator", "owner"}, lambda w: ("POST", f"/api/tasks/{w.task_a2}/annotations/", _annotation_body(w))),
    ("submit in another's queue", {"owner"}, lambda w: ("POST", f"/api/tasks/{w.task_b}/annotations/", _annotation_body(w))),
    ("decide in the review", {"reviewer", "owner"}, lambda w: ("POST", f"/api/tasks/{w.review_task}/annotations/", _annotation_body(w))),
    ("update another's annotation", {"owner"}, lambda w: ("PATCH", f"/api/annotations/{w.annotation_b}/", {"lead_time": 2.0})),
    ("save a draft in own queue", {"annotator", "owner"}, lambda w: ("POST", f"/api/tasks/{w.task_a2}/drafts", {"result": []})),
    ("predictions of the review", {"reviewer", "owner"}, lambda w: ("GET", f"/api/predictions/?task={w.review_task}", None)),
    ("own queue's views", {"annotator", "owner"}, lambda w: ("GET", f"/api/dm/views/?project={w.queue_a}", None)),
    ("another's views", {"owner"}, lambda w: ("GET", f"/api/dm/views/?project={w.queue_b}", None)),
    ("export own queue", {"owner"}, lambda w: ("GET", f"/api/projects/{w.queue_a}/export?exportType=JSON", None)),
    ("export snapshots", {"owner"}, lambda w: ("GET", f"/api/projects/{w.queue_a}/exports/", None)),
    ("import into own queue", {"owner"}, lambda w: ("POST", f"/api/projects/{w.queue_a}/import", [{"text": "x", "article_id": "imp"}])),
    ("create a project", {"owner"}, lambda w: ("POST", "/api/projects/", {"title": f"made-{uuid.uuid4().hex[:6]}"})),
    ("reconfigure own queue", {"owner"}, lambda w: ("PATCH", f"/api/projects/{w.queue_a}/", {"label_config": SCHEMA_CONFIG})),
    ("delete a project", {"owner"}, lambda w: ("DELETE", f"/api/projects/{w.spare_project()}/", None)),
    ("delete a task of own queue", {"owner"}, lambda w: ("DELETE", f"/api/tasks/{w.spare_task()}/", None)),
    ("delete another's annotation", {"owner"}, lambda w: ("DELETE", f"/api/annotations/{w.spare_annotation()}/", None)),
    ("run a data manager action", {"owner"}, lambda w: ("POST", f"/api/dm/actions/?id=delete_tasks&project={w.queue_b}", {"selectedItems": {"all": False, "included": [-1]}})),
    ("the invitation link", {"owner"}, lambda w: ("GET", "/api/invite", None)),
    ("list users", set(ROLES), lambda w: ("GET", "/api/users/", None)),
    ("create a user", {"owner"}, lambda w: ("POST", "/api/users/", {"email": f"x-{uuid.uuid4().hex[:6]}@example.org"})),
    ("the organization", {"owner"}, lambda w: ("GET", "/api/organizations/", None)),
    ("own account", set(ROLES), lambda w: ("GET", "/api/current-user/whoami", None)),
    ("take the owner's email", {"owner"}, lambda w: ("PATCH", f"/api/users/{w.me}/", {"email": "owner-to-be@example.org"})),
    ("ML backends", {"owner"}, lambda w: ("GET", "/api/ml/", None)),
    ("webhooks", {"owner"}, lambda w: ("GET", "/api/webhooks/", None)),
    ("the admin site", {"owner"}, lambda w: ("GET", "/admin/", None)),
    ("the members page", {"owner"}, lambda w: ("GET", "/organization/", None)),
    ("own queue's page", {"annotator", "owner"}, lambda w: ("GET", f"/projects/{w.queue_a}/data", None)),
    ("another's queue page", {"owner"}, lambda w: ("GET", f"/projects/{w.queue_b}/data", None)),
    ("a project's settings page", {"owner"}, lambda w: ("GET", f"/projects/{w.queue_a}/settings/", None)),
]
SCHEMA_CONFIG = '<View><Text name="text" value="$text"/></View>'


def _clients(w: World, role: str) -> Iterator[tuple[str, LabelStudioClient]]:
    """The role's ways in: its session, a personal access token it made, its legacy token (the owner: annotate's token)."""
    if role == "owner":
        yield "token", w.client
        return
    _, email, password = w.people[role]
    session = team.login(w.client.url, email, password)
    pat = session.create_personal_access_token()
    legacy = session._call("GET", "/api/current-user/token", "read the legacy token")["token"]
    try:
        yield "session", session
        with LabelStudioClient(w.client.url, pat) as by_pat:
            yield "personal access token", by_pat
        with LabelStudioClient(w.client.url, legacy) as by_legacy:
            yield "legacy token", by_legacy
    finally:
        session.close()


def _answer(client: LabelStudioClient, method: str, path: str, body: Any) -> httpx.Response:
    return client._send(method, path, json=body, retry=False)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_what_it_should_and_nothing_else(world: World, role: str) -> None:
    wrong: list[str] = []
    world.me = world.people[role][0] if role != "owner" else world.client.create_user(f"spare-{uuid.uuid4().hex[:6]}@example.org")
    for how, client in _clients(world, role):
        for what, allowed, request in TABLE:
            method, path, body = request(world)
            response = _answer(client, method, path, body)
            refused = response.status_code == 403
            if role in allowed and (refused or response.status_code >= 500):
                wrong.append(f"{how}: {what} ({method} {path}) refused or failed: {response.status_code} {response.text[:200]}")
            if role not in allowed and not refused:
                wrong.append(f"{how}: {what} ({method} {path}) allowed: {response.status_code}")
            if refused and path.startswith("/api/"):
                assert guard.REFUSED in response.text or "permission" in response.text.lower()
    assert not wrong, "\n".join(wrong)


def test_lists_show_only_what_the_role_reaches(world: World) -> None:
    for role, expected in (("annotator", {world.queue_a}), ("reviewer", {world.review}), ("outsider", set())):
        _, email, password = world.people[role]
        with team.login(world.client.url, email, password) as session:
            assert {p.id for p in session.list_projects()} == expected
            assert {p.id for p in session.list_projects(title=world.title)} == expected
            users = session._call("GET", "/api/users/", "list users")
            assert [u["id"] for u in (users if isinstance(users, list) else users["results"])] == [world.people[role][0]]
            # Asking for another's project by id in the list filter shows nothing more.
            listed = session._call("GET", "/api/projects/", "list", params={"ids": f"{world.queue_b},{world.pool}"})
            assert listed["results"] == []
    owner_sees = {p.id for p in world.client.list_projects()}
    assert {world.queue_a, world.queue_b, world.pool, world.roster, world.review} <= owner_sees


def test_a_refused_page_is_a_plain_page_naming_the_persons_own_work(world: World) -> None:
    _, email, password = world.people["annotator"]
    with team.login(world.client.url, email, password) as session:
        page = _answer(session, "GET", f"/projects/{world.pool}/data", None)
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "Not part of your work" in page.text and f"/projects/{world.queue_a}/data" in page.text
    user_id, email, _ = world.people["annotator"]
    assert html.escape(queues.queue_title(world.title, user_id, email)) in page.text  # named by its title


def test_removing_a_person_from_the_team_closes_their_queue(world: World, studio_home: Path) -> None:
    client = world.client
    [late] = team.add_members(client, [f"late-{uuid.uuid4().hex[:6]}@example.org"], project=world.title)
    distribute.push_queues(client, synthetic(6), title=world.title, schema=SCHEMA, overlap=2)
    queue = team.queue_projects(client, world.title)[late.member.user_id].id
    with team.login(client.url, late.member.email, late.password or "") as session:
        assert _answer(session, "GET", f"/api/projects/{queue}/", None).status_code == 200
        team.remove_member(client, world.title, late.member.email)
        deadline = guard.REACH_SECONDS + 2
        import time

        waited = time.monotonic()
        while _answer(session, "GET", f"/api/projects/{queue}/", None).status_code != 403:
            assert time.monotonic() - waited < deadline, "still reaches the queue after leaving the team"
            time.sleep(0.5)


def test_without_the_guard_an_annotator_reaches_everything(plain_studio_home: Path) -> None:
    """What the guard is for: the same requests, on a studio started without it, are answered."""
    with studio.connect(plain_studio_home) as client:
        title = f"plain-{uuid.uuid4().hex[:6]}"
        [a] = team.add_members(client, [f"pa-{uuid.uuid4().hex[:6]}@example.org"], project=title)
        distribute.push_queues(client, synthetic(2), title=title, schema=SCHEMA, overlap=1)
        pool = client.project_titled(title).id
        with team.login(client.url, a.member.email, a.password or "") as session:
            assert _answer(session, "GET", f"/api/projects/{pool}/", None).status_code == 200
            assert _answer(session, "GET", "/api/invite", None).status_code == 200
