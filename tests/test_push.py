"""Push against the real Label Studio: projects, configs, bulk import, idempotency, changed articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate import ingest, push, schema
from annotate.client import LabelStudioClient
from annotate.errors import ArticleChangedError, ConfigRejected, ProjectError
from annotate.models import Article
from conftest import DATA, DEFAULT_SCHEMA, SEEDS, SMALL_SCHEMA
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
    project = push.find_project(client, project_title)
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
    client.import_tasks(report.project.id, [{"data": articles[1].task_data()}])  # by hand: no meta
    again = push.push_articles(client, articles, title=project_title, schema=s)
    assert again.imported == ["art-0002"] and again.unchanged == 2


def test_cached_task_index_is_verified_against_the_server(
    client: LabelStudioClient, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = schema.load(SMALL_SCHEMA)
    cache = tmp_path / "push-index"
    articles = synthetic(6)
    first = push.push_articles(client, articles[:4], title=project_title, schema=s, cache=cache)
    assert len(list(cache.iterdir())) == 1
    calls: list[int | None] = []
    listing = client.task_refs

    def counted(project_id: int, after_id: int | None = None) -> list:
        calls.append(after_id)
        return listing(project_id, after_id=after_id)

    monkeypatch.setattr(client, "task_refs", counted)
    # Someone imports an article outside push: it has a higher id than any cached one.
    client.import_tasks(first.project.id, [articles[4].task()])
    again = push.push_articles(client, articles[:5], title=project_title, schema=s, cache=cache)
    assert again.imported == [] and again.unchanged == 5
    assert calls == [max(r.id for r in listing(first.project.id)[:4])]  # only tasks above the cache were listed
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
