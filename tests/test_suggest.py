"""Suggestions against the real Label Studio: train on a team's gold, pre-annotate, edit as the annotator, report.

The annotator works through their own login (the session `team add` gives), never the owner's token.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import datasets
import pytest

from annotate import distribute, export, pull, schema, team
from annotate.export.documents import split_of
from annotate.labelstudio.client import LabelStudioClient
from annotate.model import suggest as suggest_mod
from annotate.model import train as train_mod
from annotate.models import Article, ExportConfig, content_hash
from conftest import ROOT
from test_cli import run
from test_validate import answer

sys.path.insert(0, str(ROOT / "benchmarks"))
import corpus  # noqa: E402

pytestmark = pytest.mark.studio
SCHEMA = schema.load()
SHARE = 0.25


def articles(seed: int, n: int) -> tuple[list[Article], dict[str, list[dict[str, Any]]]]:
    """Made-up news articles and their gold results, as Label Studio stores them."""
    made = [corpus.news_article(i, seed) for i in range(n)]
    return (
        [Article(id=a.id, title=a.title, text=a.text, content_hash=content_hash(a.text), origin="test") for a in made],
        {a.id: a.result for a in made},
    )


def predictions(client: LabelStudioClient, project_id: int) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for p in client.project_predictions(project_id):
        found.setdefault(int(p["task"]), []).append(p)
    return found


def edit(text: str, suggested: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The annotator's work on a suggestion: one relabelled, one moved, one deleted, one added, the rest accepted."""
    regions = [r for r in suggested if r["type"] == "labels"]
    entities = [r for r in regions if r["from_name"] == "entity"]
    moved = next(r for r in entities if " " in r["value"]["text"])  # a name of two words loses its second
    relabelled = next(r for r in entities if r is not moved)
    deleted = next(r for r in regions if r is not moved and r is not relabelled)
    out = []
    for r in regions:
        r = json.loads(json.dumps(r))
        r.pop("score", None)
        value = r["value"]
        if r["id"] == deleted["id"]:
            continue
        if r["id"] == relabelled["id"]:
            value["labels"] = ["LOC" if value["labels"] != ["LOC"] else "GPE"]
        if r["id"] == moved["id"]:
            value["text"] = value["text"].split(" ")[0]
            value["end"] = value["start"] + len(value["text"])
        out.append(r)
    taken = [(r["value"]["start"], r["value"]["end"]) for r in regions]
    start = next(
        i for i in range(len(text)) if text.startswith("النهاية", i) and not any(a < i + 7 and i < b for a, b in taken)
    )
    out.append({"id": "added", "from_name": "entity", "to_name": "text", "type": "labels",
                "value": {"start": start, "end": start + 7, "text": "النهاية", "labels": ["TIME"]}})
    out.append(answer())
    return out, {"accepted": len(regions) - 3, "relabelled": 1, "boundary": 1, "deleted": 1, "added": 1}


def test_suggestions_reach_only_unstarted_tasks_and_the_report_counts_the_annotators_edits(
    client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    title, pulled = project_title, tmp_path / "pulled"
    [member] = team.add_members(client, [f"sg-{uuid.uuid4().hex[:6]}@example.org"], project=title)
    user = member.member.user_id
    session = team.login(client.url, member.member.email, member.password or "")
    gold, gold_results = articles(11, 40)
    distribute.push_queues(client, gold, title=title, schema=SCHEMA, overlap=1)
    queue = team.queue_projects(client, title)[user]
    for task in session.iter_tasks(queue.id):  # the gold, made by the annotator in their queue
        session.create_annotation(int(task["id"]), gold_results[task["data"]["article_id"]])
    pull.pull(client, title=title, root=pulled)
    first = train_mod.train(title, root=pulled)

    fresh, _ = articles(12, 40)
    distribute.push_queues(client, [*gold, *fresh], title=title, schema=SCHEMA, overlap=1)
    tasks = {t["data"]["article_id"]: t for t in client.iter_tasks(queue.id)}
    drafted = fresh[0].id  # opened and saved as a draft: started, so never touched
    session._call("POST", f"/api/tasks/{tasks[drafted]['id']}/drafts", "save a draft", json={"result": []})

    report = suggest_mod.suggest(client, title, root=pulled, share=SHARE)
    made = predictions(client, queue.id)
    test_split = {a.id for a in fresh if split_of(a.text, 13, (0.8, 0.1, 0.1)) == "test"}
    control = {a.id for a in fresh if suggest_mod.in_control(a.id, SHARE)}
    assert test_split and control - test_split  # the seeds give both
    wanted = {a.id for a in fresh} - test_split - control - {drafted}
    assert {a for a, t in tasks.items() if int(t["id"]) in made} == wanted
    assert all([p["model_version"] for p in made[int(tasks[a]["id"])]] == [first.version] for a in wanted)
    assert all(0 < p["score"] <= 1 for ps in made.values() for p in ps)
    assert report.suggested == len(wanted) and report.withheld == {
        "started": len(gold) + 1, "test": len(test_split - {drafted}), "control": len(control - test_split - {drafted})
    }
    pool = client.project_titled(title)
    assert not predictions(client, pool.id)  # the pool is nobody's work

    # The annotator opens a suggested task: the prediction is what their editor starts from.
    chosen = next(a for a in sorted(wanted) if len([r for r in made[int(tasks[a]["id"])][0]["result"] if r["from_name"] == "entity"]) >= 3
                  and any(" " in r["value"]["text"] for r in made[int(tasks[a]["id"])][0]["result"]))
    task_id = int(tasks[chosen]["id"])
    (shown,) = session.get_task(task_id)["predictions"]
    result, expected = edit(tasks[chosen]["data"]["text"], shown["result"])
    session.create_annotation(task_id, result, parent_prediction=shown["id"])

    # Again: nothing new; a newer model replaces its own older predictions on unstarted tasks only.
    assert suggest_mod.suggest(client, title, root=pulled, share=SHARE).suggested == 0
    second = train_mod.train(title, root=pulled)
    again = suggest_mod.suggest(client, title, root=pulled, share=SHARE)
    assert (again.suggested, again.replaced) == (len(wanted) - 1, len(wanted) - 1)
    after = predictions(client, queue.id)
    assert [p["model_version"] for p in after[task_id]] == [first.version]  # the annotated task is untouched
    # Rewritten in place: an editor opened before the run still names an existing prediction.
    assert all([p["id"] for p in after[int(tasks[a]["id"])]] == [p["id"] for p in made[int(tasks[a]["id"])]] for a in wanted)
    assert all([p["model_version"] for p in after[int(tasks[a]["id"])]] == [second.version] for a in wanted - {chosen})

    pull.pull(client, title=title, root=pulled)
    done = run("model", "report", "--project", title, "--pulled", str(pulled), "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["annotations"] == 1
    assert figures["totals"] == expected
    (who,) = figures["per_annotator"].values()
    assert who == expected
    assert figures["lead_time"]["suggested"]["annotations"] in (0, 1)

    out = tmp_path / "gold"
    export.export(title, out, ExportConfig(), root=pulled)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"`{second.version}`" in card and "Suggestions and a baseline" in card
    rows = [r for split in datasets.load_dataset(str(out)).values() for r in split if r["article_id"] == chosen]
    (row,) = rows
    names = ["manual", "suggested", "suggested-edited"]
    origins = sorted(names[e["origin"]] for e in (*row["entities"], *row["events"]))
    assert origins.count("manual") == 1 and origins.count("suggested-edited") == 2
    assert origins.count("suggested") == expected["accepted"]
