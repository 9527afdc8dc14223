"""Push against the real Label Studio: projects, configs, bulk import, idempotency, changed articles."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from annotate import ingest, push, schema
from annotate.labelstudio import studio
from annotate.labelstudio import codec
from annotate.labelstudio.client import LabelStudioClient
from annotate.errors import ArticleChangedError, ConfigRejected, ProjectError
from annotate.models import Article, Project, TaskRef
from conftest import DATA, DEFAULT_SCHEMA, ROOT, SEEDS, SMALL_SCHEMA
from proxy import BreakingProxy

pytestmark = pytest.mark.studio


def synthetic(n: int, prefix: str = "art") -> list[Article]:
    articles = []
    for i in range(n):
        text = f"قصفت الطائرات مواقع في الرقة 🔥 صباح اليوم رقم {i}، وأعلن التحالف الدولي المسؤولية."
        articles.append(
            Article(id=f"{prefix}-{i:04d}", title=f"خبر {i}", text=text, content_hash=ingest.content_hash(text), origin="test")
        )
    return articles


def tasks_by_article(client: LabelStudioClient, project_id: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for task in client.iter_tasks(project_id):
        out.setdefault(task["data"]["article_id"], []).append(task)
    return out


@pytest.mark.parametrize("schema_path", [DEFAULT_SCHEMA, SMALL_SCHEMA])
def test_push_creates_project_with_schema_and_articles(
    client: LabelStudioClient, project_title: str, schema_path: Path
) -> None:
    report = push.push(client, [SEEDS, DATA / "hard_cases.jsonl"], title=project_title, schema_path=schema_path)
    assert report.created and len(report.imported) == 7 and report.unchanged == 0
    assert report.cleaned == {"truncated_teaser": 1, "trailing_lines": 1, "strip": 1}
    project = client.get_project(report.project.id)
    s = schema.load(schema_path)
    assert project.label_config.strip() == schema.label_config(s).strip()
    assert project.title == project_title and project.task_number == 7
    raw = client._call("GET", f"/api/projects/{project.id}/", "read")  # instructions shown to annotators
    assert raw["show_instruction"] is True and s.entities[0].ar in raw["expert_instruction"]
    tasks = tasks_by_article(client, project.id)
    articles = {a.id: a for a in ingest.read_articles([SEEDS, DATA / "hard_cases.jsonl"])}
    assert set(tasks) == set(articles)
    for article_id, (task,) in tasks.items():
        article = articles[article_id]
        data = task["data"]
        # The text arrives exactly (emoji, diacritics, tatweel, bidi marks), with everything to trace it back.
        assert data["text"] == article.text and data["title"] == article.title
        assert data["content_hash"] == article.content_hash and data["version"] == 1
        assert data["origin"] == article.origin
    assert tasks["hard-emoji"][0]["data"]["url"] == "https://example.org/news/emoji"


def test_push_again_imports_nothing(client: LabelStudioClient, project_title: str) -> None:
    articles = synthetic(30)
    s = schema.load(DEFAULT_SCHEMA)
    first = push.push_articles(client, articles, title=project_title, schema=s, batch_size=7)
    assert len(first.imported) == 30
    second = push.push_articles(client, articles, title=project_title, schema=s, batch_size=7)
    assert second.imported == [] and second.unchanged == 30 and not second.created and not second.config_updated
    more = push.push_articles(client, articles + synthetic(5, "new"), title=project_title, schema=s)
    assert sorted(more.imported) == [f"new-{i:04d}" for i in range(5)]
    tasks = tasks_by_article(client, first.project.id)
    assert len(tasks) == 35 and all(len(t) == 1 for t in tasks.values())


def test_interrupted_push_completes_without_duplicates(client: LabelStudioClient, project_title: str) -> None:
    articles = synthetic(20)
    s = schema.load(DEFAULT_SCHEMA)
    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if done >= 8:
            raise KeyboardInterrupt  # the user pressed Ctrl-C after two batches

    with pytest.raises(KeyboardInterrupt):
        push.push_articles(client, articles, title=project_title, schema=s, batch_size=4, on_progress=interrupt)
    project = client.find_project(project_title)
    assert project is not None and len(client.task_refs(project.id)) == 8
    report = push.push_articles(client, articles, title=project_title, schema=s, batch_size=4)
    assert len(report.imported) == 12 and report.unchanged == 8
    tasks = tasks_by_article(client, project.id)
    assert len(tasks) == 20 and all(len(t) == 1 for t in tasks.values())


def test_connection_cut_after_the_server_imported_does_not_duplicate(
    client: LabelStudioClient, credentials, project_title: str
) -> None:
    s = schema.load(DEFAULT_SCHEMA)
    with BreakingProxy(credentials.port) as proxy:
        via_proxy = LabelStudioClient(proxy.url, credentials.token, retries=2, backoff=0.1)
        proxy.break_after(b"/import?", times=1)
        report = push.push_articles(via_proxy, synthetic(12), title=project_title, schema=s, batch_size=5)
        via_proxy.close()
        assert proxy.broken == 1
    assert len(report.imported) == 12
    tasks = tasks_by_article(client, report.project.id)
    assert len(tasks) == 12 and all(len(t) == 1 for t in tasks.values())


def test_changed_article_is_refused_unless_pushed_as_new_version(
    client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    path = tmp_path / "news.jsonl"
    rows = [{"id": "a1", "title": "خبر", "text": "قصفت الطائرات مواقع في الرقة."}, {"id": "a2", "text": "اعتقلت الشرطة شخصين."}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    first = push.push(client, [path], title=project_title)
    rows[0]["text"] = "قصفت الطائرات مواقع في دير الزور."
    rows.append({"id": "a3", "text": "التقى الوزير نظيره في بغداد."})
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    with pytest.raises(ArticleChangedError) as refused:
        push.push(client, [path], title=project_title)
    assert refused.value.changed == ["a1"]
    assert f"a1 ({path}:1)" in refused.value.message and "--new-version" in refused.value.message
    assert len(client.task_refs(first.project.id)) == 2  # nothing was pushed, not even a3
    report = push.push(client, [path], title=project_title, new_version=True)
    assert sorted(report.imported) == ["a1", "a3"] and report.new_versions == ["a1"] and report.unchanged == 1
    tasks = tasks_by_article(client, first.project.id)
    versions = sorted((t["data"]["version"], t["data"]["text"]) for t in tasks["a1"])
    assert versions == [(1, "قصفت الطائرات مواقع في الرقة."), (2, "قصفت الطائرات مواقع في دير الزور.")]
    again = push.push(client, [path], title=project_title)  # the new version is now the one to compare with
    assert again.imported == [] and again.unchanged == 3


def test_schema_change_updates_config_and_refusal_reason_reaches_user(
    client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    small = schema.load(SMALL_SCHEMA)
    report = push.push_articles(client, synthetic(1), title=project_title, schema=small)
    task_id = client.task_refs(report.project.id)[0].id
    # A schema with one more type: the project's config follows.
    grown_path = tmp_path / "grown.yaml"
    grown_path.write_text(
        SMALL_SCHEMA.read_text(encoding="utf-8")
        + '  GPE:\n    ar: كيان سياسي\n    description: بلد أو مدينة.\n    color: "#123456"\n    hotkey: g\n',
        encoding="utf-8",
    )
    grown = schema.load(grown_path)
    updated = push.push_articles(client, synthetic(1), title=project_title, schema=grown)
    assert updated.config_updated and 'alias="GPE"' in client.get_project(report.project.id).label_config
    # An annotation uses GPE; a schema without GPE must be refused, and the user must see why.
    client.create_annotation(
        task_id,
        [
            {
                "id": "r1",
                "from_name": "entity",
                "to_name": "text",
                "type": "labels",
                "value": {"start": 30, "end": 35, "text": "الرقة", "labels": ["GPE"]},
            }
        ],
    )
    with pytest.raises(ConfigRejected) as refused:
        push.push_articles(client, synthetic(1), title=project_title, schema=small)
    assert "GPE" in refused.value.message and "1 annotation" in refused.value.message
    assert 'alias="GPE"' in client.get_project(report.project.id).label_config


def test_two_projects_with_the_same_title_are_an_error(client: LabelStudioClient, project_title: str) -> None:
    config = schema.label_config(schema.load(SMALL_SCHEMA))
    client.create_project(project_title, label_config=config)
    client.create_project(project_title, label_config=config)
    with pytest.raises(ProjectError, match="2 Label Studio projects are titled"):
        push.push_articles(client, synthetic(1), title=project_title, schema=schema.load(SMALL_SCHEMA))


def test_long_article_is_pushed_whole(client: LabelStudioClient, project_title: str) -> None:
    paragraph = "وأضاف المتحدث باسم التحالف الدولي أن الضربات الجوية استهدفت مواقع التنظيم في ريف دير الزور الشرقي. "
    text = "\n\n".join([paragraph * 10] * 90)  # about 90,000 characters
    article = Article(id="long", title="مقال طويل", text=text, content_hash=ingest.content_hash(text), origin="test")
    report = push.push_articles(client, [article], title=project_title, schema=schema.load(DEFAULT_SCHEMA))
    (task,) = client.iter_tasks(report.project.id)
    assert len(text) > 80_000 and task["data"]["text"] == text


def test_tasks_imported_without_meta_are_still_recognised(client: LabelStudioClient, project_title: str) -> None:
    s = schema.load(SMALL_SCHEMA)
    articles = synthetic(3)
    report = push.push_articles(client, articles[:1], title=project_title, schema=s)
    client.import_tasks(report.project.id, [{"data": codec.task_data(articles[1])}])  # by hand: no meta
    again = push.push_articles(client, articles, title=project_title, schema=s)
    assert again.imported == ["art-0002"] and again.unchanged == 2
    # Team status's listing reads the article of such a task from its data as well.
    listed = client.list_task_authors(report.project.id)
    assert sorted(who[0] for _, who in listed.values()) == ["art-0000", "art-0001", "art-0002"]
    assert all(who[1] == () and seen[1:] == (0, 0) for seen, who in listed.values())


def test_cached_task_index_is_verified_against_the_server(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = schema.load(SMALL_SCHEMA)
    cache = tmp_path / "push-index"
    articles = synthetic(6)
    first = push.push_articles(client, articles[:4], title=project_title, schema=s, cache=cache)
    assert len(list(cache.iterdir())) == 1
    calls: list[int | None] = []
    listing = client.task_refs

    def counted(project_id: int, *, after_id: int | None = None, skip: list[int] | None = None) -> list:
        if not skip:  # the index's reading of the project, not the check after importing
            calls.append(after_id)
        return listing(project_id, after_id=after_id, skip=skip or ())

    monkeypatch.setattr(client, "task_refs", counted)
    # Someone imports an article outside push: it has a higher id than any cached one.
    client.import_tasks(first.project.id, [codec.task(articles[4])])
    again = push.push_articles(client, articles[:5], title=project_title, schema=s, cache=cache)
    assert again.imported == [] and again.unchanged == 5
    assert calls == [max(r.id for r in listing(first.project.id)[:4])]  # only tasks above the cache were listed
    # The same studio at another address (restarted on another port): the project is the same, and so is its index.
    with BreakingProxy(credentials.port) as proxy, LabelStudioClient(proxy.url, credentials.token) as elsewhere:
        monkeypatch.setattr(elsewhere, "task_refs", counted)
        calls.clear()
        assert push.push_articles(elsewhere, articles[:5], title=project_title, schema=s, cache=cache).unchanged == 5
        assert calls == [max(r.id for r in listing(first.project.id))] and len(list(cache.iterdir())) == 1
    # A task deleted in Label Studio: the counts disagree, so everything is listed again and it is pushed anew.
    deleted = next(r for r in listing(first.project.id) if r.article_id == "art-0001")
    client.delete_task(deleted.id)
    calls.clear()
    third = push.push_articles(client, articles, title=project_title, schema=s, cache=cache)
    assert sorted(third.imported) == ["art-0001", "art-0005"] and None in calls
    tasks = tasks_by_article(client, first.project.id)
    assert len(tasks) == 6 and all(len(t) == 1 for t in tasks.values())
    (cache / next(iter(cache.iterdir())).name).write_text("not json", encoding="utf-8")
    assert push.push_articles(client, articles, title=project_title, schema=s, cache=cache).unchanged == 6


# --- pushes running at the same time ------------------------------------------------------------

# A real `annotate push` that imports everything first and then waits for its go file, so
# two of them start their pushes within a millisecond or at a chosen offset.
RACER = """
import sys, time
from pathlib import Path
from annotate.cli import run
ready, go = Path(sys.argv.pop(1)), Path(sys.argv.pop(1))
ready.touch()
while not go.exists():
    time.sleep(0.002)
run()
"""


def titled(client: LabelStudioClient, title: str) -> list[Project]:
    return [p for p in client.list_projects(title=title) if p.title == title]


def test_pushes_started_together_end_with_one_project_and_one_task_per_article(
    client: LabelStudioClient, credentials: studio.Credentials, project_title: str, tmp_path: Path
) -> None:
    n = 300
    path = tmp_path / "news.jsonl"
    text = "قصفت الطائرات مواقع في الرقة صباح اليوم رقم {}، وأعلن التحالف المسؤولية."
    rows = [{"id": f"race-{i:04d}", "title": f"خبر عاجل {i}", "text": text.format(i)} for i in range(n)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    # Two machines: nothing shared but the server (own cache folders, the server named by the environment).
    env = {**os.environ, studio.ENV_URL: credentials.url, studio.ENV_KEY: credentials.token}
    # Together (both create a project), 0.1 s apart (about when the first creates it), 0.3 s apart
    # (the project is there and the first is importing into it; 300 articles take about half a second).
    offsets = (0.0, 0.1, 0.3)
    titles = [f"{project_title}-{k}" for k in range(len(offsets))]
    overlapped = []
    try:
        for k, (title, offset) in enumerate(zip(titles, offsets)):
            racers = []
            for machine in "ab":
                ready, go = tmp_path / f"ready-{k}{machine}", tmp_path / f"go-{k}{machine}"
                command = [
                    sys.executable, "-c", RACER, str(ready), str(go),
                    "push", str(path), "--project", title, "--schema", str(SMALL_SCHEMA),
                    "--batch-size", "50", "--home", str(tmp_path / f"machine-{machine}"),
                ]
                process = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                racers.append((process, ready, go))
            deadline = time.monotonic() + 120
            while not all(ready.exists() for _, ready, _ in racers):
                for process, _, _ in racers:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        pytest.fail(f"a push did not start: {process.communicate()}")
                time.sleep(0.01)
            racers[0][2].touch()
            time.sleep(offset)
            racers[1][2].touch()
            outputs = [process.communicate(timeout=600) for process, _, _ in racers]
            for (process, _, _), (out, err) in zip(racers, outputs):
                assert process.returncode == 0, f"round {k}: {out}\n{err}"
            # Whatever the timing: one project, one task per article.
            (project,) = titled(client, title)
            refs = client.task_refs(project.id)
            assert sorted(r.article_id for r in refs) == [r["id"] for r in rows], f"round {k}"
            # Did the pushes really overlap? Both imported (more imports than articles), or tasks were
            # created and deleted within the ids the project kept (nothing else runs on this server now).
            imported = [re.search(r"(\d+) imported", out) for out, _ in outputs]
            both = sum(int(m.group(1)) for m in imported if m) > n
            ids = [r.id for r in refs]
            overlapped.append(both or max(ids) - min(ids) + 1 > n)
    finally:
        for title in titles:
            for project in titled(client, title):
                client.delete_project(project.id)
    assert any(overlapped), "the pushes never overlapped: the race was not exercised"


def test_push_removes_what_a_concurrent_push_imported_twice_but_keeps_worked_duplicates(
    client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    s = schema.load(SMALL_SCHEMA)
    cache = tmp_path / "push-index"
    articles = synthetic(12)
    first = push.push_articles(client, articles[:4], title=project_title, schema=s, cache=cache)
    pid = first.project.id
    region = {"id": "r1", "from_name": "entity", "to_name": "text", "type": "labels",
              "value": {"start": 30, "end": 35, "text": "الرقة", "labels": ["LOC"]}}
    mine: dict[str, int] = {}

    def concurrent(done: int, total: int) -> None:
        if done == 0:
            # Another push listed the project when this one did; it imports the same eight new
            # articles, and one this push already has, before this push's tasks land. It read
            # art-0003 from another file, with another text.
            other_text = replace(articles[3], text="نص آخر.", content_hash=ingest.content_hash("نص آخر."))
            client.import_tasks(pid, [codec.task(a) for a in articles[4:]] + [codec.task(articles[0]), codec.task(other_text)])
        elif done == total:
            # Before this push checks, annotators open its copies: an annotation, a skip, a draft.
            # A prediction is no annotator's work (an ML backend adds them to every task).
            mine.update((r.article_id, r.id) for r in client.task_refs(pid))  # id order: the highest stays
            client.create_annotation(mine["art-0005"], [region])
            client.create_annotation(mine["art-0006"], [], was_cancelled=True)
            draft = {"result": [region], "lead_time": 2.0}
            client._call("POST", f"/api/tasks/{mine['art-0007']}/drafts", "save a draft", json=draft)
            client.create_prediction(mine["art-0008"], [region], model_version="m1")

    report = push.push_articles(
        client, articles, title=project_title, schema=s, cache=cache, batch_size=3, on_progress=concurrent
    )
    assert sorted(report.imported) == [a.id for a in articles[4:]]
    assert report.duplicates_removed == 6  # art-0000's second copy, and five of this push's eight
    kept = [(d.article_id, d.version, d.same_text) for d in report.duplicates_kept]
    assert kept == [("art-0003", 1, False), ("art-0005", 1, True), ("art-0006", 1, True), ("art-0007", 1, True)]
    tasks = tasks_by_article(client, pid)
    assert set(tasks) == {a.id for a in articles}
    several = {a: len(t) for a, t in tasks.items() if len(t) > 1}
    assert several == {"art-0003": 2, "art-0005": 2, "art-0006": 2, "art-0007": 2}
    assert sorted(t["data"]["text"] for t in tasks["art-0003"]) == sorted([articles[3].text, "نص آخر."])
    for duplicate in report.duplicates_kept:
        assert duplicate.task_ids == tuple(sorted(t["id"] for t in tasks[duplicate.article_id]))
        if duplicate.same_text:
            assert duplicate.task_ids[1] == mine[duplicate.article_id]  # the worked copy stayed beside the lowest id
    assert tasks["art-0008"][0]["id"] != mine["art-0008"]  # the copy with only a prediction went
    # The cached index holds exactly what the project holds.
    (index,) = cache.iterdir()
    all_ids = sorted(t["id"] for ts in tasks.values() for t in ts)
    assert sorted(json.loads(line)[0] for line in index.read_text(encoding="utf-8").splitlines()) == all_ids
    # Label Studio applies the condition itself when it deletes (and an empty selection deletes nothing).
    worked = [mine["art-0005"], mine["art-0006"], mine["art-0007"]]
    assert client.delete_unworked_tasks(pid, worked) == 0 and client.delete_unworked_tasks(pid, []) == 0
    assert sorted(t["id"] for ts in tasks_by_article(client, pid).values() for t in ts) == all_ids
    # A push interrupted between its import and its check left a copy: the next push removes it.
    client.import_tasks(pid, [codec.task(articles[1])])
    again = push.push_articles(client, articles, title=project_title, schema=s, cache=cache)
    assert again.imported == [] and again.unchanged == 12 and again.duplicates_removed == 1
    assert len(tasks_by_article(client, pid)["art-0001"]) == 1


def test_the_check_after_importing_lists_only_tasks_the_push_does_not_know(
    client: LabelStudioClient, project_title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = schema.load(SMALL_SCHEMA)
    listing = client.task_refs
    listed: list[list[str | None]] = []

    def recorded(project_id: int, *, after_id: int | None = None, skip: list[int] | None = None) -> list:
        refs = listing(project_id, after_id=after_id, skip=skip or [])
        if skip:  # the check after importing (the index reads the project without ``skip``)
            listed.append([r.article_id for r in refs])
        return refs

    monkeypatch.setattr(client, "task_refs", recorded)
    # Alone: the check costs one empty answer, not a listing of the 30 tasks just imported.
    first = push.push_articles(client, synthetic(30), title=project_title, schema=s, batch_size=7)
    assert len(first.imported) == 30 and listed == [[]]
    # Someone imported two articles meanwhile: those two are what the check reads.
    listed.clear()

    def meanwhile(done: int, total: int) -> None:
        if done == 0:
            client.import_tasks(first.project.id, [codec.task(a) for a in synthetic(2, "other")])

    again = push.push_articles(client, synthetic(35), title=project_title, schema=s, on_progress=meanwhile)
    assert sorted(again.imported) == [f"art-{i:04d}" for i in range(30, 35)] and listed == [["other-0000", "other-0001"]]


def test_two_projects_one_title_the_lowest_id_wins_and_only_its_creator_deletes_the_other(
    client: LabelStudioClient, project_title: str, studio_home: Path
) -> None:
    config = schema.label_config(schema.load(SMALL_SCHEMA))
    lowest = client.create_project(project_title, label_config=config)
    second = client.create_project(project_title, label_config=config)  # empty, just created
    # A push that did not create the second one leaves it alone, and so does the creator of the lowest.
    assert push.resolve_title(client, project_title, second, created=False) == (lowest, False)
    assert push.resolve_title(client, project_title, lowest, created=True) == (lowest, True)
    assert sorted(p.id for p in titled(client, project_title)) == [lowest.id, second.id]
    # The push that created the second one deletes it and uses the lowest.
    assert push.resolve_title(client, project_title, second, created=True) == (lowest, False)
    assert [p.id for p in titled(client, project_title)] == [lowest.id]
    # Not once annotators worked in it: that is for a person to sort out.
    worked = client.create_project(project_title, label_config=config)
    (task_id,) = client.import_tasks(worked.id, [codec.task(synthetic(1)[0])])
    client.create_annotation(task_id, [], was_cancelled=True)
    with pytest.raises(ProjectError, match="Annotators already worked on 1 task"):
        push.resolve_title(client, project_title, worked, created=True)
    client.delete_project(worked.id)
    # find_project looks again before calling two projects an error: the other push is resolving.
    racing = client.create_project(project_title, label_config=config)
    with studio.connect(studio_home) as other:
        resolver = threading.Timer(0.2, push.resolve_title, [other, project_title, racing, True])
        resolver.start()
        try:
            found = client.find_project(project_title)
        finally:
            resolver.join()
    assert found is not None and found.id == lowest.id


def test_a_project_label_studio_created_twice_is_resolved_by_its_creator(
    client: LabelStudioClient, project_title: str
) -> None:
    # On SQLite Label Studio runs a request again when the database was locked; a creation
    # that failed after writing its project leaves a second one that no answer names.
    config = schema.label_config(schema.load(SMALL_SCHEMA))
    marker = "[push 0123456789abcdef]"
    others = client.create_project(project_title, label_config=config)
    client.create_project(project_title, label_config=config, description=f"x\n{marker}")  # made twice
    mine = client.create_project(project_title, label_config=config, description=f"x\n{marker}")
    assert push.resolve_title(client, project_title, mine, created=True, marker=marker) == (others, False)
    assert [p.id for p in titled(client, project_title)] == [others.id]  # both of this push's went
    # When the unnamed one holds the lowest id, it is the project everyone uses, and it is this push's.
    client.delete_project(others.id)
    orphan = client.create_project(project_title, label_config=config, description=f"x\n{marker}")
    others = client.create_project(project_title, label_config=config)
    mine = client.create_project(project_title, label_config=config, description=f"x\n{marker}")
    assert push.resolve_title(client, project_title, mine, created=True, marker=marker) == (orphan, True)
    assert sorted(p.id for p in titled(client, project_title)) == [orphan.id, others.id]  # the other push deletes its own


def test_push_that_loses_a_creation_race_uses_the_winner(
    client: LabelStudioClient, project_title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = schema.load(SMALL_SCHEMA)
    create = client.create_project
    winner: list[Project] = []

    def race(title: str, **fields: object) -> Project:
        # Another push, which also found no project, created it first (with its own marker).
        winner.append(create(title, **{**fields, "description": "another push"}))
        return create(title, **fields)

    monkeypatch.setattr(client, "create_project", race)
    before_import: list[list[int]] = []

    def importing(done: int, total: int) -> None:
        if done == 0:
            before_import.append(sorted(p.id for p in titled(client, project_title)))

    report = push.push_articles(client, synthetic(5), title=project_title, schema=s, on_progress=importing)
    assert report.project.id == winner[0].id and not report.created
    assert before_import == [[winner[0].id]]  # settled before importing anything, in one pass
    assert [p.id for p in titled(client, project_title)] == [winner[0].id]
    tasks = tasks_by_article(client, winner[0].id)
    assert len(tasks) == 5 and all(len(t) == 1 for t in tasks.values())


def test_push_moves_to_a_lower_id_project_that_became_visible_late(
    client: LabelStudioClient, project_title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = schema.load(SMALL_SCHEMA)
    # On PostgreSQL another push's project can hold the lower id yet become visible only after
    # this push created its own and checked: hide it until this push has imported.
    late = client.create_project(project_title, label_config=schema.label_config(s))
    hidden = {late.id}
    listing = client.list_projects
    monkeypatch.setattr(client, "list_projects", lambda title=None: [p for p in listing(title) if p.id not in hidden])

    def reveal(done: int, total: int) -> None:
        if done == total:
            hidden.clear()

    report = push.push_articles(client, synthetic(5), title=project_title, schema=s, on_progress=reveal)
    assert report.project.id == late.id
    assert [p.id for p in titled(client, project_title)] == [late.id]
    tasks = tasks_by_article(client, late.id)
    assert len(tasks) == 5 and all(len(t) == 1 for t in tasks.values())


def test_push_into_a_project_deleted_meanwhile_pushes_again_into_the_one_left(
    client: LabelStudioClient, project_title: str
) -> None:
    s = schema.load(SMALL_SCHEMA)
    config = schema.label_config(s)
    found = client.create_project(project_title, label_config=config)
    left: list[Project] = []

    def lost(done: int, total: int) -> None:
        if not left:
            # The push that created the project this one found lost its race and deletes it.
            left.append(client.create_project(project_title, label_config=config))
            client.delete_project(found.id)

    report = push.push_articles(client, synthetic(5), title=project_title, schema=s, batch_size=2, on_progress=lost)
    assert report.project.id == left[0].id and len(report.imported) == 5
    assert [p.id for p in titled(client, project_title)] == [left[0].id]
    tasks = tasks_by_article(client, left[0].id)
    assert len(tasks) == 5 and all(len(t) == 1 for t in tasks.values())


@pytest.mark.studio
def test_a_title_with_spaces_around_it_is_one_project_push_after_push(
    studio_home: Path, client: LabelStudioClient, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18: Label Studio strips titles; ' lead' was looked up unstripped, so every push made another project."""
    from annotate.cli import main

    monkeypatch.chdir(tmp_path)
    spaced = f"  {project_title} "
    for _ in range(2):
        assert main(["push", str(SEEDS), "--project", spaced, "--home", str(studio_home)]) == 0
    assert [p.title for p in client.projects_titled(project_title)] == [project_title]
    assert "1 already there" in capsys.readouterr().out
    assert main(["push", str(SEEDS), "--project", "   ", "--home", str(studio_home)]) == 1
    assert "is empty" in capsys.readouterr().err


def test_the_task_index_appends_each_batch_instead_of_rewriting_itself(tmp_path: Path) -> None:
    """Rewriting the whole index after every batch made a push quadratic in the project's size."""
    made = Project(7, "t", "", created_at="2026-12-07T10:00:00.123456Z")
    index = push.TaskIndex(tmp_path, "http://127.0.0.1:1", made)
    refs = [TaskRef(i, f"art-{i}", 1, f"h{i}") for i in range(1, 7)]
    index.add(refs[:3])
    assert index.path is not None
    first = index.path.stat().st_ino
    index.add(refs[3:])
    index.add(refs[3:5])  # already there: nothing written
    assert index.path.stat().st_ino == first  # appended to, not replaced
    assert index.path.read_text(encoding="utf-8").count("\n") == 6
    assert push.TaskIndex(tmp_path, "http://127.0.0.1:1", made)._read() == {r.id: r for r in refs}
    index.discard([2, 99])
    assert push.TaskIndex(tmp_path, "http://127.0.0.1:1", made)._read() == {r.id: r for r in refs if r.id != 2}
    with open(index.path, "a", encoding="utf-8") as f:
        f.write('[8, "art-8", 1')  # a line cut by a crash: the cache is not trusted, only slower
    assert push.TaskIndex(tmp_path, "http://127.0.0.1:1", made)._read() == {}
