"""Push: put articles into a Label Studio project with the schema's labelling config.

Push is idempotent and safe to interrupt: it reads what the project already
holds (article id, version and content hash travel in every task's data) and
imports only what is missing, in bulk batches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import schema as schema_mod
from .client import LabelStudioClient
from .errors import ArticleChangedError, ProjectError, ServerError
from .files import write_json
from .ingest import IngestRules, read_articles
from .models import Article, Project, Schema, TaskRef

DEFAULT_BATCH = 2000  # measured: fewer requests are faster, up to about this size
Progress = Callable[[int, int], None]


@dataclass
class PushReport:
    project: Project
    url: str
    created: bool  # the project was created by this push
    config_updated: bool  # the labelling config was replaced by the schema's
    articles: int  # articles read
    imported: list[str] = field(default_factory=list)  # article ids imported by this push
    new_versions: list[str] = field(default_factory=list)  # of those, the ones pushed as a new version
    unchanged: int = 0  # already in the project with the same text
    cleaned: dict[str, int] = field(default_factory=dict)  # cleaning rule -> articles it changed


def project_settings(schema: Schema) -> dict[str, object]:
    """Everything of a project that push keeps in line with the schema."""
    return {
        "label_config": schema_mod.label_config(schema),
        "expert_instruction": schema_mod.instructions_html(schema),
        "show_instruction": True,
        "description": f"{schema.description}\nschema {schema.name} v{schema.version} ({schema.sha256[:12]})",
    }


def find_project(client: LabelStudioClient, title: str) -> Project | None:
    """The project with exactly this title; two of them is an error, since pushing to either could be wrong."""
    matches = [p for p in client.list_projects(title=title) if p.title == title]
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise ProjectError(
            f"{len(matches)} Label Studio projects are titled {title!r} (ids {ids}); rename all but one in Label Studio."
        )
    return matches[0] if matches else None


def ensure_project(
    client: LabelStudioClient, title: str, schema: Schema, annotators: int | None = None
) -> tuple[Project, bool, bool]:
    """Create the project, or bring an existing one's config in line with the schema.

    Returns the project and whether it was created and whether its config changed.
    Label Studio's refusal of a config (annotations use removed labels) comes back
    as ``ConfigRejected`` with its reason.
    """
    settings = project_settings(schema)
    overlap = {} if annotators is None else {"maximum_annotations": annotators, "overlap_cohort_percentage": 100}
    project = find_project(client, title)
    if project is None:
        client.validate_config(str(settings["label_config"]))
        return client.create_project(title, **settings, **overlap), True, False
    if annotators is not None and project.maximum_annotations != annotators:
        project = client.update_project(project.id, **overlap)
    # Label Studio stores the config without its final newline.
    if project.label_config.strip() == str(settings["label_config"]).strip():
        return project, False, False
    return client.update_project(project.id, **settings), False, True


class TaskIndex:
    """What a project holds (task id, article id, version, hash), cached beside the embedded studio.

    The cache only saves listing every task again: before it is trusted it is
    checked against the server. Tasks above the highest cached id are fetched
    (someone else may have imported some); if the count then differs from the
    project's task count, tasks were deleted and everything is listed afresh.
    Task ids only grow, so this check is exact.
    """

    def __init__(self, folder: Path | None, url: str, project_id: int) -> None:
        key = hashlib.sha256(f"{url}|{project_id}".encode()).hexdigest()[:16]
        self.path = folder / f"{key}.json" if folder else None
        self.refs: dict[int, TaskRef] = {}

    def load(self, client: LabelStudioClient, project: Project) -> list[TaskRef]:
        cached = self._read()
        if cached:
            newer = client.task_refs(project.id, after_id=max(cached))
            if len(cached) + len(newer) == project.task_number:
                self.refs = {**cached, **{r.id: r for r in newer}}
                return list(self.refs.values())
        self.refs = {r.id: r for r in client.task_refs(project.id)}
        return list(self.refs.values())

    def add(self, refs: Iterable[TaskRef]) -> None:
        self.refs.update((r.id, r) for r in refs)
        if self.path is not None:
            write_json(self.path, [[r.id, r.article_id, r.version, r.content_hash] for r in self.refs.values()])

    def _read(self) -> dict[int, TaskRef]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            return {int(r[0]): TaskRef(int(r[0]), r[1], int(r[2]), r[3]) for r in rows}
        except (OSError, ValueError, TypeError, IndexError):
            return {}  # a damaged cache is only a slower push


def _latest(refs: Iterable[TaskRef]) -> dict[str, TaskRef]:
    latest: dict[str, TaskRef] = {}
    for ref in refs:
        if ref.article_id is None:
            continue
        seen = latest.get(ref.article_id)
        if seen is None or ref.version > seen.version:
            latest[ref.article_id] = ref
    return latest


def plan(articles: list[Article], refs: list[TaskRef], new_version: bool) -> tuple[list[Article], int]:
    """Which articles to import (with their version) and how many are already there.

    An article whose text differs from the latest version pushed is refused,
    unless ``new_version`` asks to push it as the next version.
    """
    latest = _latest(refs)
    to_import: list[Article] = []
    changed: list[tuple[Article, TaskRef]] = []
    unchanged = 0
    for article in articles:
        ref = latest.get(article.id)
        if ref is None:
            to_import.append(replace(article, version=1))
        elif ref.content_hash == article.content_hash:
            unchanged += 1
        elif new_version:
            to_import.append(replace(article, version=ref.version + 1))
        else:
            changed.append((article, ref))
    if changed:
        listing = "\n".join(
            f"  {a.id} ({a.origin}): task {r.id}, version {r.version}" for a, r in changed[:20]
        )
        more = f"\n  ... and {len(changed) - 20} more" if len(changed) > 20 else ""
        raise ArticleChangedError(
            f"{len(changed)} article(s) have a different text from the one already in Label Studio; nothing was pushed:\n"
            f"{listing}{more}\n"
            "Annotations on the old text stay with it. To push the new text as a new version beside the old one,"
            " run the push again with --new-version.",
            changed=[a.id for a, _ in changed],
        )
    return to_import, unchanged


def _refs(articles: list[Article], ids: list[int]) -> list[TaskRef]:
    return [TaskRef(i, a.id, a.version, a.content_hash) for a, i in zip(articles, ids)]


def _import_batch(client: LabelStudioClient, project_id: int, batch: list[Article]) -> list[TaskRef]:
    """Import one batch; if the connection breaks mid-request, find out what landed instead of guessing."""
    try:
        return _refs(batch, client.import_tasks(project_id, [a.task() for a in batch]))
    except ServerError:
        wanted = {(a.id, a.version) for a in batch}
        landed = [r for r in client.task_refs(project_id) if (r.article_id, r.version) in wanted]
    done = {(r.article_id, r.version) for r in landed}
    remaining = [a for a in batch if (a.id, a.version) not in done]
    if remaining:
        landed += _refs(remaining, client.import_tasks(project_id, [a.task() for a in remaining]))
    return landed


def push_articles(
    client: LabelStudioClient,
    articles: list[Article],
    *,
    title: str,
    schema: Schema,
    new_version: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Progress | None = None,
    annotators: int | None = None,
    cache: Path | None = None,
) -> PushReport:
    """Push articles to the project titled ``title`` (created if missing); import only what is new.

    ``annotators`` sets how many annotators label each article (Label Studio's overlap);
    ``cache`` is a folder for the verified index of the project's tasks (see ``TaskIndex``).
    """
    project, created, updated = ensure_project(client, title, schema, annotators)
    index = TaskIndex(cache, client.url, project.id)
    refs = [] if created else index.load(client, project)
    to_import, unchanged = plan(articles, refs, new_version)
    cleaned: dict[str, int] = {}
    for article in articles:
        for rule in article.cleaning:
            cleaned[rule] = cleaned.get(rule, 0) + 1
    report = PushReport(
        project=project,
        url=f"{client.url}/projects/{project.id}/data",
        created=created,
        config_updated=updated,
        articles=len(articles),
        unchanged=unchanged,
        cleaned=cleaned,
    )
    if on_progress:
        on_progress(0, len(to_import))
    for start in range(0, len(to_import), batch_size):
        batch = to_import[start : start + batch_size]
        index.add(_import_batch(client, project.id, batch))
        report.imported.extend(a.id for a in batch)
        report.new_versions.extend(a.id for a in batch if a.version > 1)
        if on_progress:
            on_progress(start + len(batch), len(to_import))
    return report


def push(
    client: LabelStudioClient,
    paths: Iterable[str | Path],
    *,
    title: str | None = None,
    schema_path: str | Path | None = None,
    rules: IngestRules | None = None,
    new_version: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Progress | None = None,
    annotators: int | None = None,
    cache: Path | None = None,
) -> PushReport:
    """Read the articles in ``paths`` and push them; the project title defaults to the schema's name."""
    schema = schema_mod.load(schema_path)
    articles = read_articles(paths, rules)
    return push_articles(
        client,
        articles,
        title=title or schema.name,
        schema=schema,
        new_version=new_version,
        batch_size=batch_size,
        on_progress=on_progress,
        annotators=annotators,
        cache=cache,
    )
