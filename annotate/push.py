"""Push: put articles into a Label Studio project with the schema's labelling config.

Push is idempotent and safe to interrupt: it reads what the project already
holds (article id, version and content hash travel in every task's data) and
imports only what is missing, in bulk batches.

Pushes may run at the same time, from one machine or several, with nothing
shared but the server; Label Studio has no lock or unique title to lean on. So
each push settles races afterwards by a rule every push applies alike, to
whatever it sees: of the projects with one title the lowest id wins, and of
the tasks of one article version the lowest id stays (see ``resolve_title``
and ``remove_duplicates``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import schema as schema_mod
from .labelstudio import codec
from .labelstudio.client import LabelStudioClient
from .errors import ArticleChangedError, NotFoundError, ProjectError, ServerError
from .files import write_atomic
from .ingest import IngestRules, read_articles
from .models import Article, Project, Schema, TaskRef

DEFAULT_BATCH = 2000  # measured: fewer requests are faster, up to about this size
# How often a push starts over in another project because a concurrent push's won the title.
MAX_MOVES = 3
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Duplicate:
    """An article version left with several tasks: annotators already worked on more than one, or texts differ."""

    article_id: str
    version: int
    task_ids: tuple[int, ...]  # lowest first
    same_text: bool  # False: pushes of different texts raced, each believing its own is this version


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
    duplicates_removed: int = 0  # tasks a concurrent (or interrupted) push had imported twice, deleted by this one
    duplicates_kept: list[Duplicate] = field(default_factory=list)  # article versions still with several tasks


def project_settings(schema: Schema, *, review: bool = False) -> dict[str, object]:
    """Everything of a project that push keeps in line with the schema (``review``: a team's review project)."""
    return {
        "label_config": schema_mod.label_config(schema, review=review),
        "expert_instruction": schema_mod.review_instructions_html(schema) if review else schema_mod.instructions_html(schema),
        "show_instruction": True,
        "description": f"{schema.description}\nschema {schema.name} v{schema.version} ({schema.sha256[:12]})",
    }


def resolve_title(
    client: LabelStudioClient, title: str, project: Project, created: bool, marker: str | None = None
) -> tuple[Project, bool]:
    """The project that pushes to ``title`` must use when several have that title: the lowest id.

    Two pushes that find no project both create one; each then calls this, and
    whichever looks first, both pick the same one. Returns it and whether this push
    created it.

    The push deletes the others it created, and no one else's: a project made by hand
    is not push's to delete, and another push deletes its own. Its own are
    ``project`` if it ``created`` it, and any project with the title whose description
    holds ``marker``: on SQLite, Label Studio runs a request again when the database
    was locked, and a project creation that failed after its first row was written
    leaves a project no answer names. A project is deleted only if no annotator
    worked on it yet (another push may have found it and imported into it; that push
    notices the project gone and pushes again into the winner).
    """
    same = client.projects_titled(title)
    if not same:
        return project, created
    winner = min(same, key=lambda p: p.id)
    ours = {project.id} if created else set()
    if marker is not None and len(same) > 1:
        for other in same:
            if other.id not in ours:
                try:
                    if marker in client.project_description(other.id):
                        ours.add(other.id)
                except NotFoundError:
                    pass  # deleted meanwhile
    for other in same:
        if other.id in ours and other.id != winner.id:
            _withdraw(client, title, other, winner)
    return winner, winner.id in ours


def _withdraw(client: LabelStudioClient, title: str, project: Project, winner: Project) -> None:
    """Delete a project this push created and lost with, unless annotators already work in it."""
    refs = client.task_refs(project.id)
    work = client.task_work(project.id, [r.id for r in refs]) if refs else {}
    worked = [i for i, w in work.items() if any(w)]
    if worked:
        raise ProjectError(
            f"Two Label Studio projects are titled {title!r}: {winner.id}, and {project.id}, which this push created"
            f" at the same moment as another push created {winner.id}. Annotators already worked on"
            f" {len(worked)} task(s) of {project.id}, so it was not deleted.",
            f"Move that work to project {winner.id} or rename project {project.id}, then push again.",
        )
    try:
        client.delete_project(project.id)
    except NotFoundError:
        pass  # already gone


def ensure_project(
    client: LabelStudioClient, title: str, schema: Schema, annotators: int | None = None, review: bool = False
) -> tuple[Project, bool, bool]:
    """Create the project, or bring an existing one's config in line with the schema.

    Returns the project and whether it was created and whether its config changed.
    Label Studio's refusal of a config (annotations use removed labels) comes back
    as ``ConfigRejected`` with its reason.
    """
    settings = project_settings(schema, review=review)
    overlap = {} if annotators is None else {"maximum_annotations": annotators, "overlap_cohort_percentage": 100}
    project = client.find_project(title)
    if project is None:
        client.validate_config(str(settings["label_config"]))
        marker = f"[push {uuid.uuid4().hex}]"  # names this push's projects, including any Label Studio made twice
        mine = client.create_project(title, **{**settings, "description": f"{settings['description']}\n{marker}"}, **overlap)
        # Before importing (so the losers are still empty): another push may have created one too.
        project, ours = resolve_title(client, title, mine, created=True, marker=marker)
        if ours:
            return client.update_project(project.id, description=settings["description"]), True, False
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

    One JSON line per task. Each imported batch is appended (rewriting the whole file after every
    batch made a push quadratic in the project's size); the file is rewritten only after a full
    listing or when tasks are forgotten. A line cut by a crash makes the cache unreadable, which
    only costs the next push a full listing.
    """

    def __init__(self, folder: Path | None, url: str, project: Project) -> None:
        # The project's id and creation time name it wherever the server answers (a studio restarted on another
        # port, another host name), and no project of another server or of a database made anew; the URL only
        # where Label Studio sent no creation time.
        named = f"{project.id}|{project.created_at}" if project.created_at else f"{url}|{project.id}"
        self.path = folder / f"{hashlib.sha256(named.encode()).hexdigest()[:16]}.jsonl" if folder else None
        self.refs: dict[int, TaskRef] = {}

    def load(self, client: LabelStudioClient, project: Project) -> list[TaskRef]:
        checked = self._checked(client, project)
        if checked is not None:
            self.refs, newer = checked
            self.add(newer)
            return list(self.refs.values())
        self.refs = {r.id: r for r in client.task_refs(project.id)}
        self._write()
        return list(self.refs.values())

    def verified(self, client: LabelStudioClient, project: Project) -> dict[int, TaskRef] | None:
        """Every task of the project as cached, checked as ``load`` checks it; None where the cache does not hold them
        all (none, damaged, or tasks deleted since): unlike ``load``, nothing is listed whole and nothing written."""
        checked = self._checked(client, project)
        return None if checked is None else {**checked[0], **{r.id: r for r in checked[1]}}

    def _checked(self, client: LabelStudioClient, project: Project) -> tuple[dict[int, TaskRef], list[TaskRef]] | None:
        """The cached tasks and those above the highest cached id, if together they are as many as the project holds."""
        cached = self._read()
        if not cached:
            return None
        newer = client.task_refs(project.id, after_id=max(cached))
        return (cached, newer) if len(cached) + len(newer) == project.task_number else None

    def add(self, refs: Iterable[TaskRef]) -> None:
        new = [r for r in refs if self.refs.get(r.id) != r]
        self.refs.update((r.id, r) for r in new)
        if self.path is not None and new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.writelines(self._line(r) for r in new)

    def discard(self, ids: Iterable[int]) -> None:
        """Forget deleted tasks: a cache that lists them would let push skip their articles."""
        gone = [task_id for task_id in ids if self.refs.pop(task_id, None) is not None]
        if gone:
            self._write()

    @staticmethod
    def _line(r: TaskRef) -> str:
        return json.dumps([r.id, r.article_id, r.version, r.content_hash], ensure_ascii=False) + "\n"

    def _write(self) -> None:
        if self.path is not None:
            write_atomic(self.path, lambda f: f.writelines(self._line(r) for r in self.refs.values()))

    def _read(self) -> dict[int, TaskRef]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            with open(self.path, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
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


def plan(
    articles: list[Article], refs: list[TaskRef], new_version: bool, keep_versions: bool = False
) -> tuple[list[Article], int]:
    """Which articles to import (with their version) and how many are already there.

    An article whose text differs from the latest version pushed is refused,
    unless ``new_version`` asks to push it as the next version. With
    ``keep_versions`` (a team's queues and review, which copy the pool) each article
    keeps the version the pool gave it.
    """
    latest = _latest(refs)
    present = {(r.article_id, r.version): r for r in refs}
    to_import: list[Article] = []
    changed: list[tuple[Article, TaskRef]] = []
    unchanged = 0
    for article in articles:
        ref = present.get((article.id, article.version)) if keep_versions else latest.get(article.id)
        if ref is None:
            to_import.append(article if keep_versions or article.version == 1 else replace(article, version=1))
        elif ref.content_hash == article.content_hash:
            unchanged += 1
        elif new_version and not keep_versions:
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


def _task(article: Article, extra: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    task = codec.task(article)
    task["data"].update(extra.get(article.id, {}))
    return task


def _import_batch(
    client: LabelStudioClient, project_id: int, batch: list[Article], extra: Mapping[str, dict[str, Any]] = {}
) -> list[TaskRef]:
    """Import one batch; if the connection breaks mid-request, find out what landed instead of guessing."""
    try:
        return _refs(batch, client.import_tasks(project_id, [_task(a, extra) for a in batch]))
    except ServerError:
        wanted = {(a.id, a.version) for a in batch}
        landed = [r for r in client.task_refs(project_id) if (r.article_id, r.version) in wanted]
    done = {(r.article_id, r.version) for r in landed}
    remaining = [a for a in batch if (a.id, a.version) not in done]
    if remaining:
        landed += _refs(remaining, client.import_tasks(project_id, [_task(a, extra) for a in remaining]))
    return landed


def remove_duplicates(
    client: LabelStudioClient, project_id: int, refs: Iterable[TaskRef]
) -> tuple[int, set[int], list[Duplicate]]:
    """Delete the extra tasks that pushes running together imported for one article version.

    Every push applies the same rule to the tasks it sees: of those of one article
    version with one text, the lowest id that still exists stays; the others are
    deleted unless an annotator worked on them (annotation, skip or draft; predictions
    can be made again and do not count). Since no push ever deletes the lowest id of
    all, pushes that see different subsets (an import still running, or on PostgreSQL
    a lower id committed after a higher one) never disagree about what stays, and the
    last push to check, which started after every import had committed, sees them all.

    A task of the same article version with another text is no copy (two pushes of
    different files raced): it stays, and is reported with the worked copies.

    Returns how many tasks this call deleted, the ids found gone (deleted by it or
    before it), and the article versions left with several tasks.
    """
    versions: dict[tuple[str, int], list[TaskRef]] = {}
    for ref in refs:
        if ref.article_id is not None:
            versions.setdefault((ref.article_id, ref.version), []).append(ref)
    versions = {key: group for key, group in versions.items() if len(group) > 1}
    if not versions:
        return 0, set(), []
    work = client.task_work(project_id, sorted(r.id for group in versions.values() for r in group))
    gone = {r.id for group in versions.values() for r in group if r.id not in work}
    doomed = []
    for group in versions.values():
        copies: dict[str | None, list[int]] = {}
        for ref in group:
            if ref.id in work:
                copies.setdefault(ref.content_hash, []).append(ref.id)
        for ids in copies.values():
            doomed.extend(i for i in sorted(ids)[1:] if not any(work[i]))
    deleted = client.delete_unworked_tasks(project_id, doomed) if doomed else 0
    if deleted == len(doomed):
        gone.update(doomed)
    else:  # an annotator started on one meanwhile (Label Studio kept it), or another push deleted it first
        left = client.task_work(project_id, doomed)
        gone.update(i for i in doomed if i not in left)
    kept = []
    for (article_id, version), group in sorted(versions.items()):
        remaining = sorted((r for r in group if r.id not in gone), key=lambda r: r.id)
        if len(remaining) > 1:
            same_text = len({r.content_hash for r in remaining}) == 1
            kept.append(Duplicate(article_id, version, tuple(r.id for r in remaining), same_text))
    return deleted, gone, kept


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
    keep_versions: bool = False,
    review: bool = False,
    extra: Mapping[str, dict[str, Any]] = {},
) -> PushReport:
    """Push articles to the project titled ``title`` (created if missing); import only what is new.

    ``annotators`` sets how many annotators label each article (Label Studio's overlap);
    ``review``: a team's review project (the disputes shown above each article, reviewer instructions);
    ``extra``: more task data by article id, set as each is imported (the review's disputes);
    ``cache`` is a folder for the verified index of the project's tasks (see ``TaskIndex``).
    Pushes running at the same time end with one project and one task per article version.
    """
    for _ in range(MAX_MOVES + 1):
        project, created, updated = ensure_project(client, title, schema, annotators, review)
        try:
            report = _push_into(
                client, project, created, updated, articles, new_version, batch_size, on_progress, cache, keep_versions, extra
            )
        except NotFoundError:
            if any(p.id == project.id for p in client.projects_titled(title)):
                raise
            continue  # the push that created the project found it lost a race and deleted it: push to the winner
        # A creation race that resolve_title could not see yet (on PostgreSQL a lower id may
        # become visible after a higher one): the project that won takes the articles again.
        if resolve_title(client, title, project, created)[0].id == project.id:
            return report
    raise ProjectError(
        f"Pushes to {title!r} running at the same time kept replacing its project; nothing is lost.",
        "Run the push again.",
    )


def _push_into(
    client: LabelStudioClient,
    project: Project,
    created: bool,
    updated: bool,
    articles: list[Article],
    new_version: bool,
    batch_size: int,
    on_progress: Progress | None,
    cache: Path | None,
    keep_versions: bool = False,
    extra: Mapping[str, dict[str, Any]] = {},
) -> PushReport:
    index = TaskIndex(cache, client.url, project)
    refs = [] if created else index.load(client, project)
    # Left by a push that was interrupted between its import and its check.
    removed, gone, kept = remove_duplicates(client, project.id, refs)
    if gone:
        refs = [r for r in refs if r.id not in gone]
        index.discard(gone)
    to_import, unchanged = plan(articles, refs, new_version, keep_versions)
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
        duplicates_removed=removed,
        duplicates_kept=kept,
    )
    if on_progress:
        on_progress(0, len(to_import))
    for start in range(0, len(to_import), batch_size):
        batch = to_import[start : start + batch_size]
        index.add(_import_batch(client, project.id, batch, extra))
        report.imported.extend(a.id for a in batch)
        report.new_versions.extend(a.id for a in batch if a.version > 1)
        if on_progress:
            on_progress(start + len(batch), len(to_import))
    if to_import:
        # Another push may have imported the same articles meanwhile: it listed the project
        # before these imports landed (or, on PostgreSQL, its lower ids became visible late).
        # Every task this push does not know of is listed: usually none, so this stays cheap.
        known = dict(index.refs)
        unseen = client.task_refs(project.id, skip=list(known))
        known.update((r.id, r) for r in unseen)
        removed, gone, kept = remove_duplicates(client, project.id, known.values())
        index.add(unseen)
        index.discard(gone)
        report.duplicates_removed += removed
        report.duplicates_kept = kept
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
