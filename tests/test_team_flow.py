"""A team on the real Label Studio: blind overlap queues, work as each annotator's own login, review, gold.

Everything an annotator does here is done through their own session (the login form
with the password `team add` printed), never the owner's token.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import datasets
import pytest

from annotate import adjudicate, distribute, export, pull, queues, schema, status, store, team
from annotate import listing as task_listing
from annotate.labelstudio.client import LabelStudioClient
from annotate.models import ExportConfig
from test_pull import ent, requests_sent
from test_push import synthetic
from test_validate import answer

pytestmark = pytest.mark.studio
SCHEMA = schema.load()


def queue_articles(client: LabelStudioClient, title: str, user_id: int) -> dict[str, dict]:
    """The tasks of one annotator's queue, by article, as that queue holds them."""
    project = team.queue_projects(client, title).get(user_id)
    assert project is not None
    return {t["data"]["article_id"]: t for t in client.iter_tasks(project.id, annotations=True)}


def test_blind_queues_review_and_gold_with_each_person_logged_in_as_themselves(
    client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    added = team.add_members(client, [f"ann{i}-{run}@example.org" for i in range(3)], project=project_title)
    [reviewer] = team.add_members(client, [f"rev-{run}@example.org"], project=project_title, reviewer=True)
    members = [n.member for n in added]
    sessions = {m.user_id: team.login(client.url, m.email, n.password or "") for m, n in zip(members, added)}

    articles = synthetic(6)
    pushed = distribute.push_queues(client, articles, title=project_title, schema=SCHEMA, overlap=2)
    assert pushed.pool.imported == [a.id for a in articles]
    mine = {m.user_id: queue_articles(client, project_title, m.user_id) for m in members}
    assert sorted(len(q) for q in mine.values()) == [4, 4, 4]
    holders = {a.id: {u for u, q in mine.items() if a.id in q} for a in articles}
    assert all(len(h) == 2 for h in holders.values())

    # Each annotator, logged in as themselves, sees in their queue exactly their articles.
    for user_id, session in sessions.items():
        email = next(m.email for m in members if m.user_id == user_id)
        queue = session.find_project(queues.queue_title(project_title, user_id, email))  # the title names its annotator
        assert queue is not None
        seen = {t["data"]["article_id"] for t in session.iter_tasks(queue.id)}
        assert seen == set(mine[user_id])

    # The first annotator of each article labels الرقة as GPE; the second as LOC on one shared article.
    text = articles[0].text
    shared = articles[0].id
    first, second = sorted(holders[shared])
    for user_id, session in sessions.items():
        for article_id, task in queue_articles(client, project_title, user_id).items():
            label = "LOC" if (article_id, user_id) == (shared, second) else "GPE"
            session.create_annotation(task["id"], [ent("g", label, text, "الرقة"), answer()])
    # After the other submitted, the second annotator's task of the shared article holds only their own work.
    own = sessions[second].get_task(queue_articles(client, project_title, second)[shared]["id"])
    assert [a["completed_by"]["id"] for a in own["annotations"]] == [second]

    pulled = tmp_path / "pulled"
    done = pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    assert done.annotations == 12 and len(done.manifest["parts"]) == 3
    figures = adjudicate.project_agreement(project_title, schema=SCHEMA, root=pulled)
    assert figures.articles == 6 and len(figures.annotators) == 3 and len(figures.pairs) == 3

    # The 1-vs-1 disagreement is disputed and goes to the review project, with both versions.
    found = adjudicate.disputes(project_title, schema=SCHEMA, root=pulled)
    assert [d.article_id for d in found] == [shared]
    sent = adjudicate.push_disputes(client, project_title, found, SCHEMA, root=pulled)
    assert sent.articles == 1 and sent.review and sent.url.endswith(f"/projects/{sent.project_id}/data")
    review = client.find_project(queues.review_title(project_title))
    assert review is not None
    (task,) = client.iter_tasks(review.id)
    versions = sorted(p["model_version"] for p in client.list_predictions(task["id"]))
    assert versions[0] == adjudicate.MODEL_VERSION and len(versions) == 3
    # The reviewer, logged in as themselves, decides: GPE.
    as_reviewer = team.login(client.url, reviewer.member.email, reviewer.password or "")
    as_reviewer.create_annotation(task["id"], [ent("g", "GPE", text, "الرقة"), answer()])

    pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    out = tmp_path / "gold"
    report = export.export(project_title, out, ExportConfig(split=(1.0, 0.0, 0.0)), schema=SCHEMA, root=pulled)
    assert report.stats.gold_sources == {"ground_truth": 1, "majority": 5}
    rows = {r["article_id"]: r for r in datasets.load_dataset(str(out))["train"]}
    names = datasets.load_dataset(str(out))["train"].features["entities"].feature["type"].names
    assert [(names[e["type"]], e["text"]) for e in rows[shared]["entities"]] == [("GPE", "الرقة")]
    assert rows[shared]["gold_source"] == "ground_truth" and len(rows[shared]["annotators"]) == 2

    # A queue titled as before titles named people (the id only) is renamed by the next push, not doubled.
    old_style = team.queue_projects(client, project_title)[members[0].user_id]
    client.update_project(old_style.id, title=queues.queue_title(project_title, members[0].user_id))
    distribute.push_queues(client, articles, title=project_title, schema=SCHEMA, overlap=2)
    renamed = team.queue_projects(client, project_title)
    assert renamed[members[0].user_id].id == old_style.id and len(renamed) == 3
    assert renamed[members[0].user_id].title == queues.queue_title(project_title, members[0].user_id, members[0].email)

    # A new annotator and more articles: no earlier assignment moves.
    [late] = team.add_members(client, [f"late-{run}@example.org"], project=project_title)
    again = distribute.push_queues(client, synthetic(12), title=project_title, schema=SCHEMA, overlap=2)
    assert set(again.given) == {a.id for a in synthetic(12)[6:]}
    for m in members:
        now = queue_articles(client, project_title, m.user_id)
        assert set(mine[m.user_id]) <= set(now)
    assert len(queue_articles(client, project_title, late.member.user_id)) == 6  # 24 places over 4 people


def test_team_status_before_any_pull_lists_only_the_started_tasks_and_counts_as_a_listing_of_every_task(
    client: LabelStudioClient, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any pull, the tasks nobody started come from push's index (where it still holds every task of a
    project): only those with an annotation or a skip are listed, and the figures are those of listing every task."""
    run = uuid.uuid4().hex[:6]
    added = team.add_members(client, [f"idx{i}-{run}@example.org" for i in range(2)], project=project_title)
    one, two = (team.login(client.url, n.member.email, n.password or "") for n in added)
    ids = [n.member.user_id for n in added]
    articles = synthetic(4)
    index = tmp_path / "push-index"
    distribute.push_queues(client, articles, title=project_title, schema=SCHEMA, overlap=2, cache=index)
    text = articles[0].text
    first, second = (list(queue_articles(client, project_title, u).values()) for u in ids)
    one.create_annotation(first[0]["id"], [ent("g", "GPE", text, "الرقة"), answer()])
    one.create_annotation(first[1]["id"], [], was_cancelled=True)
    client.create_annotation(first[2]["id"], [answer()])  # the owner's, in one's queue: someone else's there
    client.create_annotation(first[1]["id"], [answer()])  # one skipped it, the owner annotated it: still one's skip
    two.create_annotation(second[0]["id"], [], was_cancelled=True)
    client.create_annotation(second[1]["id"], [], was_cancelled=True)  # the owner's skip: not two's

    listed: dict[int, list[int]] = {}  # per project, the tasks of each listing of authors (two projects at a time)
    authors = client.list_task_authors

    def counted(project_id: int, **kwargs: Any) -> Any:
        found = authors(project_id, **kwargs)
        listed.setdefault(project_id, []).append(len(found))
        return found

    monkeypatch.setattr(client, "list_task_authors", counted)
    nothing = tmp_path / "nothing-pulled"
    pool = client.project_titled(project_title).id
    q1, q2 = (team.queue_projects(client, project_title)[u].id for u in ids)

    def live(found: status.TeamStatus) -> dict[str, Any]:
        return {**found.as_dict(), "folder": None}

    every = status.team_status(client, project_title, schema=SCHEMA, root=nothing)
    assert listed == {pool: [4], q1: [4], q2: [4]}  # every task
    listed.clear()
    started = status.team_status(client, project_title, schema=SCHEMA, root=nothing, push_index=index)
    assert listed == {pool: [0, 0], q1: [3, 1], q2: [0, 2]}  # the tasks with an annotation, then those with a skip
    assert live(started) == live(every)
    by_email = {p.email: p for p in started.people}
    assert [(by_email[n.member.email].submitted, by_email[n.member.email].skipped, by_email[n.member.email].remaining,
             by_email[n.member.email].others) for n in added] == [(1, 1, 2, 2), (0, 1, 3, 1)]
    assert started.by_submitted == {0: 3, 1: 1, 2: 0}  # the owner's annotations are nobody's submission

    # A task deleted since the push: its queue is no longer all in the index, and is listed whole; the same figures.
    client.delete_task(second[3]["id"])
    every = status.team_status(client, project_title, schema=SCHEMA, root=nothing)
    listed.clear()
    assert live(status.team_status(client, project_title, schema=SCHEMA, root=nothing, push_index=index)) == live(every)
    assert listed == {pool: [0, 0], q1: [3, 1], q2: [3]}


def test_team_status_after_a_pull_lists_only_what_changed_and_counts_as_one_listing_of_every_task(
    client: LabelStudioClient, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pull records each task's article and authors; team status takes the unchanged tasks from there and lists
    only those changed since the pull began (the window), and counts exactly what a listing of every task gives."""
    run = uuid.uuid4().hex[:6]
    added = team.add_members(client, [f"win{i}-{run}@example.org" for i in range(2)], project=project_title)
    one, two = (team.login(client.url, n.member.email, n.password or "") for n in added)
    ids = [n.member.user_id for n in added]
    articles = synthetic(4)
    distribute.push_queues(client, articles, title=project_title, schema=SCHEMA, overlap=2)
    text = articles[0].text
    first, second = (list(queue_articles(client, project_title, u).values()) for u in ids)
    one.create_annotation(first[0]["id"], [ent("g", "GPE", text, "الرقة"), answer()])
    one.create_annotation(first[1]["id"], [ent("g", "GPE", text, "الرقة"), answer()])
    two.create_annotation(second[0]["id"], [], was_cancelled=True)
    time.sleep(1.1)  # the server's clock comes to the second (its Date header): the pull begins after these
    pulled = tmp_path / "pulled"
    said: list[tuple[int, int]] = []  # the listing's progress: tasks listed, of how many
    done = pull.pull(
        client, title=project_title, schema=SCHEMA, root=pulled,
        on_progress=lambda stage, n, of: said.append((n, of)) if stage == "listing" else None,
    )
    # The projects listed two at a time, counted as one listing: its count never goes back, and ends at every task.
    assert said[-1] == (12, 12) and [n for n, _ in said] == sorted(n for n, _ in said)
    recorded = store.read_listing(done.folder).who
    assert recorded[first[0]["id"]] == (first[0]["data"]["article_id"], (ids[0],))
    assert recorded[second[0]["id"]] == (second[0]["data"]["article_id"], (ids[1],))
    assert recorded[first[2]["id"]] == (first[2]["data"]["article_id"], ())
    assert len(recorded) == done.tasks == 12  # the pool and two queues of 4

    monkeypatch.setattr(task_listing, "WINDOW", timedelta(0))  # only what changed since the pull began
    listed: list[tuple[bool, int]] = []  # (windowed, tasks listed) of each listing of authors
    authors = client.list_task_authors

    def counted(project_id: int, *, since: Any = None, ids: Any = None) -> Any:
        found = authors(project_id, since=since, ids=ids)
        listed.append((since is not None, len(found)))
        return found

    monkeypatch.setattr(client, "list_task_authors", counted)
    two.create_annotation(second[1]["id"], [ent("g", "LOC", text, "الرقة"), answer()])
    one.create_annotation(first[2]["id"], [], was_cancelled=True)
    windowed = status.team_status(client, project_title, schema=SCHEMA, root=pulled)
    assert listed == [(True, 0), (True, 1), (True, 1)]  # the pool, then each queue: its one changed task
    listed.clear()
    every = status.team_status(client, project_title, schema=SCHEMA, root=tmp_path / "nothing-pulled")
    assert listed == [(False, 4), (False, 4), (False, 4)]

    def live(found: status.TeamStatus) -> tuple[Any, ...]:
        people = [(p.email, p.assigned, p.submitted, p.skipped, p.remaining, p.last_activity, p.others) for p in found.people]
        return people, found.by_submitted, found.overlap, found.articles, found.short, found.in_pool

    assert live(windowed) == live(every)
    assert [(p.submitted, p.skipped, p.remaining) for p in windowed.people] == [(2, 1, 1), (1, 1, 2)]

    # An index written before pulls recorded authors: those tasks' authors are read by id, the result the same.
    index = done.folder / store.INDEX
    plain = json.loads(index.read_text(encoding="utf-8"))
    del plain["who"]
    index.write_text(json.dumps(plain), encoding="utf-8")
    listed.clear()
    assert live(status.team_status(client, project_title, schema=SCHEMA, root=pulled)) == live(every)
    assert listed == [(False, 4), (True, 0), (False, 4), (True, 1), (False, 4), (True, 1)]

    # The pool, its queues, review and roster come from one listing by title (pull lists once more, after
    # waiting for its folder), and the roster's tasks are read once: its people and annotations together.
    [roster] = client.projects_titled(queues.roster_title(project_title))
    asked = requests_sent(client, monkeypatch)
    for command, by_title in ((lambda: status.team_status(client, project_title, schema=SCHEMA, root=pulled), 1),
                              (lambda: pull.pull(client, title=project_title, schema=SCHEMA, root=pulled), 2)):
        asked.clear()
        command()
        assert len([a for a in asked if a[1] == "/api/projects/" and '"title":' in a[2]]) == by_title, asked
        assert len([a for a in asked if a[1] == "/api/tasks/" and f'"project": {roster.id},' in a[2]]) == 1, asked
