"""Status: how far a project's annotation has come, from its latest pull, and whether that pull is stale.

Counted from the pulled data through validate's one pass (``validate_tasks``), so an
annotation counts as kept here exactly when ``validate`` and ``export`` keep it. The
server, when it answers, is asked only for its task listing (no texts), which it
compares with what the pull recorded, as the next pull would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AnnotateError
from .models import Counts, Schema
from .store import EXPORTS, MANIFEST, STATE, latest_versions, project_folder, read_index, read_state
from .validate import validate_tasks

if TYPE_CHECKING:  # the client pulls in httpx; status is given a way to connect instead
    from .labelstudio.client import LabelStudioClient

REJECTED = Path("validated") / "rejected.jsonl"  # where validate.write_report puts them, in the project's folder


@dataclass
class PullCounts:
    """What the latest pull holds, article by article (each article counted once, at its latest version)."""

    pulled_at: str | None
    tasks: int
    articles: int
    labelled: int  # articles with at least one kept annotation
    ready: int  # articles whose latest version has a kept annotation, export not stopped for them
    remaining: int  # articles whose latest version has no annotation yet
    nothing_kept: int  # annotated, but every annotation of the latest version rejected or skipped
    blocked: int  # articles held by tasks with different texts: export stops until one is deleted
    annotations: Counts = field(default_factory=Counts)


@dataclass
class ServerCounts:
    """What Label Studio holds now; ``error`` says why it could not be asked (the other fields are then None)."""

    url: str | None = None
    tasks: int | None = None
    changed: int | None = None  # tasks created, edited or deleted since the pull (all of them if never pulled)
    error: str | None = None


@dataclass
class ProjectStatus:
    title: str
    folder: Path  # the project's pulled data
    pull: PullCounts | None  # None: nothing pulled yet
    server: ServerCounts | None  # None: not asked

    @property
    def stale(self) -> bool | None:
        """Whether Label Studio holds changes the pull has not (None: not known)."""
        if self.server is None or self.server.changed is None:
            return None
        return self.server.changed > 0

    def as_dict(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["folder"] = str(self.folder)
        plain["stale"] = self.stale
        return plain


def _pull_counts(tasks: list[dict[str, Any]], manifest: dict[str, Any], schema: Schema, repair: bool) -> PullCounts:
    latest = latest_versions(tasks)
    report = validate_tasks(tasks, schema, repair=repair)
    current = {task_id for info in latest.values() for task_id in info.task_ids}
    annotated: set[str] = set()  # latest version has an annotation (any outcome)
    kept_latest: set[str] = set()
    kept_any: set[str] = set()
    for verdict in report.verdicts:
        on_latest = verdict.task_id in current
        if on_latest:
            annotated.add(verdict.article_id)
        if verdict.annotation is not None:
            kept_any.add(verdict.article_id)
            if on_latest:
                kept_latest.add(verdict.article_id)
    blocked = {p.article_id for p in report.article_problems if p.severity == "error" and p.article_id}
    return PullCounts(
        pulled_at=manifest.get("pulled_at"),
        tasks=len(tasks),
        articles=len(latest),
        labelled=len(kept_any),
        ready=len(kept_latest - blocked),
        remaining=len(set(latest) - annotated),
        nothing_kept=len(annotated - kept_latest),
        blocked=len(blocked),
        annotations=report.total,
    )


def _server_counts(title: str, folder: Path, connect: Callable[[], LabelStudioClient]) -> ServerCounts:
    """The server's tasks now, compared with the pull's index; an unreachable server is a finding, not an error."""
    try:
        with connect() as client:
            if not client.health():
                return ServerCounts(client.url, error=f"no Label Studio answers at {client.url}")
            project = client.project_titled(title)
            listed = client.list_task_changes(project.id)
            _, index = read_index(folder)
            changed = sum(1 for task_id, seen in listed.items() if index.get(task_id) != seen) + len(set(index) - set(listed))
            return ServerCounts(client.url, len(listed), changed)
    except AnnotateError as exc:
        return ServerCounts(error=exc.message)


def project_status(
    title: str,
    *,
    schema: Schema,
    root: Path = EXPORTS,
    repair: bool = True,
    connect: Callable[[], LabelStudioClient] | None = None,
) -> ProjectStatus:
    """The project's counts from its latest pull in ``root``, and, given ``connect``, the server's now.

    Nothing pulled yet is a status, not an error; pulled data that is damaged or another
    project's is refused as every stage refuses it.
    """
    folder = project_folder(title, root)
    pull = None
    if (folder / STATE).exists() or (folder / MANIFEST).exists():
        tasks, manifest = read_state(folder, title)
        pull = _pull_counts(tasks, manifest, schema, repair)
    server = _server_counts(title, folder, connect) if connect is not None else None
    return ProjectStatus(title, folder, pull, server)


def rejected_listing(title: str, root: Path, rejected: int) -> Path | None:
    """validate's file of rejected annotations, if it is of the latest pull and lists ``rejected`` of them; else None.

    Written by ``annotate validate`` only: a file older than the pull, or one written with
    another repair setting, would point at other annotations than the ones counted.
    """
    folder = project_folder(title, root)
    path = folder / REJECTED
    try:
        if path.stat().st_mtime_ns < (folder / MANIFEST).stat().st_mtime_ns:
            return None
        with path.open(encoding="utf-8") as lines:
            listed = sum(1 for line in lines if json.loads(line).get("status") == "rejected")
    except (OSError, ValueError, AttributeError):
        return None
    return path if listed == rejected else None
