"""Detection where the guard cannot be installed: annotations made outside their author's place.

On a Label Studio annotate does not run (here: the embedded one started without its
guard), every member opens every project. Annotations planted in the pool, in another
person's queue, in the review project by a non-reviewer and in the roster are named by
validate, counted by status, team status and export, and never become votes or gold.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import datasets
import pytest

from annotate import adjudicate, distribute, export, pull, queues, schema, status, team
from annotate.cli import main
from annotate.labelstudio import studio
from annotate.models import ExportConfig
from annotate.validate import validate_project
from test_pull import ent
from test_push import synthetic
from test_validate import answer

pytestmark = pytest.mark.studio
SCHEMA = schema.load()


def test_annotations_outside_their_place_are_named_counted_and_never_gold(
    plain_studio_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = studio.connect(plain_studio_home)
    title = f"stray-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    added = team.add_members(client, [f"s{i}-{run}@example.org" for i in range(3)], project=title)
    [reviewer] = team.add_members(client, [f"sr-{run}@example.org"], project=title, reviewer=True)
    ids = [n.member.user_id for n in added]
    sessions = {n.member.user_id: team.login(client.url, n.member.email, n.password or "") for n in added}
    articles = synthetic(3)
    text = articles[0].text
    distribute.push_queues(client, articles, title=title, schema=SCHEMA, overlap=2)
    queue = {u: p.id for u, p in team.queue_projects(client, title).items()}
    held = {u: {t["data"]["article_id"]: int(t["id"]) for t in client.iter_tasks(queue[u])} for u in ids}
    # Everyone labels their own queue: الرقة as GPE; on the first article one holder says LOC (a dispute).
    first = articles[0].id
    holders = sorted(u for u in ids if first in held[u])
    for u in ids:
        for article_id, task_id in held[u].items():
            label = "LOC" if (article_id, u) == (first, holders[1]) else "GPE"
            sessions[u].create_annotation(task_id, [ent("g", label, text, "الرقة"), answer()])
    pulled = tmp_path / "pulled"
    pull.pull(client, title=title, schema=SCHEMA, root=pulled)
    found = adjudicate.disputes(title, schema=SCHEMA, root=pulled)
    assert [d.article_id for d in found] == [first]
    adjudicate.push_disputes(client, title, found, SCHEMA, root=pulled)

    # The strays. An outsider to the first article labels it in the pool, and in a holder's queue;
    # an annotator (no reviewer) decides in the review project; someone annotates the roster.
    outsider = next(u for u in ids if u not in holders)
    pool_task = next(int(t["id"]) for t in client.iter_tasks(client.project_titled(title).id) if t["data"]["article_id"] == first)
    in_pool = sessions[outsider].create_annotation(pool_task, [ent("g", "ORG", text, "الرقة"), answer()])
    in_queue = sessions[outsider].create_annotation(held[holders[0]][first], [ent("g", "ORG", text, "الرقة"), answer()])
    review = client.project_titled(queues.review_title(title)).id
    (review_task,) = client.iter_tasks(review)
    in_review = sessions[holders[0]].create_annotation(int(review_task["id"]), [ent("g", "LOC", text, "الرقة"), answer()])
    roster = client.project_titled(queues.roster_title(title)).id
    sessions[outsider].create_annotation(int(next(iter(client.iter_tasks(roster)))["id"]), [])

    done = pull.pull(client, title=title, schema=SCHEMA, root=pulled)
    assert done.manifest["owner_id"] == client.whoami()["id"] and done.manifest["roster_annotations"] == 1
    report, paths = validate_project(title, schema=SCHEMA, root=pulled)
    misplaced = {v.annotation_id: v for v in report.verdicts if v.status == "misplaced"}
    assert set(misplaced) == {in_pool["id"], in_queue["id"], in_review["id"]}
    for annotation, who in ((in_pool, outsider), (in_queue, outsider), (in_review, holders[0])):
        (problem,) = [p for p in misplaced[annotation["id"]].problems if p.code == "annotation.out-of-place"]
        assert problem.article_id == first and problem.annotation_id == annotation["id"] and f"user {who}" in problem.message
    assert "the queue of user" in next(p.message for p in misplaced[in_queue["id"]].problems if p.code == "annotation.out-of-place")
    assert report.total.misplaced == 3 and report.total.balanced
    assert any(p.code == "roster.annotated" for p in report.problems)
    assert '"misplaced"' in paths["rejected"].read_text(encoding="utf-8")

    # Counted in status, team status and export, and the CLI says so. Right after the pull, status compares
    # like with like (the pool and every queue and review task): nothing changed since.
    now = status.project_status(title, schema=SCHEMA, root=pulled, connect=lambda: studio.connect(plain_studio_home))
    assert now.pull is not None and now.pull.annotations.misplaced == 3
    assert now.server is not None and now.server.changed == 0 and now.server.tasks == done.tasks
    live = status.team_status(client, title, schema=SCHEMA, root=pulled)
    assert live.in_pool == 1 and live.review.decided == 0 and live.review.by_others == 1
    assert {p.user_id: p.others for p in live.people}[holders[0]] == 1
    assert {p.user_id: p.submitted for p in live.people}[outsider] == len(held[outsider])  # strays are not theirs

    out = tmp_path / "gold"
    exported = export.export(title, out, ExportConfig(split=(1.0, 0.0, 0.0)), schema=SCHEMA, root=pulled)
    assert exported.stats.annotations_misplaced == 3 and exported.stats.overlap == 2
    # The review decided nothing (no reviewer submitted), so the disputed article stays a majority merge of its two
    # holders; no stray became a vote (the outsider's ORG is nowhere) and no article's gold is the pool stray.
    assert exported.stats.gold_sources == {"majority": 3}
    rows = {r["article_id"]: r for r in datasets.load_dataset(str(out))["train"]}
    assert len(rows[first]["annotators"]) == 2
    names = datasets.load_dataset(str(out))["train"].features["entities"].feature["type"].names
    assert all(names[e["type"]] != "ORG" for r in rows.values() for e in r["entities"])
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "so neither votes nor\ngold: 3" in card or "gold: 3." in card
    assert "| majority merge of the annotators | 3 |" in card and "rest on a single annotation" in card

    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--project", title, "--pulled", str(pulled)]) == 1
    captured = capsys.readouterr()
    assert "annotation.out-of-place" in captured.out and "+ 3 misplaced" in captured.out
    assert "3 made outside their author's place" in captured.err

    # A reviewer's decision there is the gold.
    with team.login(client.url, reviewer.member.email, reviewer.password or "") as as_reviewer:
        as_reviewer.create_annotation(int(review_task["id"]), [ent("g", "GPE", text, "الرقة"), answer()])
    pull.pull(client, title=title, schema=SCHEMA, root=pulled)
    again = export.export(title, tmp_path / "gold2", ExportConfig(split=(1.0, 0.0, 0.0)), schema=SCHEMA, root=pulled)
    assert again.stats.gold_sources == {"ground_truth": 1, "majority": 2} and again.stats.annotations_misplaced == 3
    for session in sessions.values():
        session.close()
    client.close()
