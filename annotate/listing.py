"""What changed in Label Studio since the last pull, without listing every task: a window and the live counts.

``pull`` and ``status`` list tasks' times and annotation counts to know what changed since the
last pull (``index.json``, read as ``store.Listing``). Listing every task costs about two seconds
per 10,000 tasks, so they list only the tasks whose time is at most ``WINDOW`` before the last
listing began (by the server's clock: its Date header), put them over that listing, and check the
whole against the project's live counts of tasks, annotations and skips (one request); a project
that does not add up is listed whole.

Label Studio stamps a save before it commits it (a save waiting for the database is stamped when it
started), so a save can become visible with a time older than what a listing already saw. One
visible within ``WINDOW`` of its stamp is always listed. One visible later is found at once if it
created, deleted or skipped something (the counts disagree); an edit of an existing annotation
visible later than that waits for the next listing of every task, which is made once the last one
is ``RECONCILE_AFTER`` old.

``status`` and ``team status`` only show what changed; they list by the window at any age of the
last full listing (``reconcile=False``), and ``team status`` takes each unchanged task's article and
authors from what the pull recorded (``Listing.who``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .labelstudio.client import LabelStudioClient
from .models import Listed, Who
from .store import Listing

WINDOW = timedelta(seconds=120)  # SQLite makes a save wait at most 5 s; PostgreSQL has no bound
RECONCILE_AFTER = timedelta(hours=1)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def since(previous: Listing, reconcile: bool = True) -> datetime | None:
    """From when a listing may be partial: ``WINDOW`` before the server's time when ``previous`` began; None (list
    every task) without a previous listing, or, to ``reconcile``, when every task was last listed ``RECONCILE_AFTER`` ago or more."""
    if not previous.tasks or not previous.projects or previous.listed_at is None or previous.listed_fully_at is None:
        return None
    try:
        at, fully = _time(previous.listed_at), _time(previous.listed_fully_at)
    except ValueError:
        return None
    if at.tzinfo is None or fully.tzinfo is None or (reconcile and datetime.now(timezone.utc) - fully >= RECONCILE_AFTER):
        return None
    return at - WINDOW


def listed_since(
    client: LabelStudioClient, project_id: int, previous: Listing, since: datetime,
    on_page: Callable[[int, int], None] | None = None,
) -> dict[int, Listed] | None:
    """Every task of a project as ``previous`` saw it, with those changed since ``since`` as they are now;
    None when that does not add up to the project's live counts (a task, annotation or skip missed)."""
    counts = client.project_counts(project_id)
    merged = {i: v for i, v in previous.tasks.items() if previous.projects.get(i) == project_id}
    merged.update(client.list_task_changes(project_id, since=since, on_page=on_page))
    return merged if _adds_up(merged, counts) else None


def _adds_up(listed: Mapping[int, Listed], counts: tuple[int, int, int]) -> bool:
    return (len(listed), sum(v[1] for v in listed.values()), sum(v[2] for v in listed.values())) == counts


def authors_since(client: LabelStudioClient, project_id: int, previous: Listing, since: datetime) -> dict[int, tuple[Listed, Who]] | None:
    """``listed_since`` with each task's article and authors: those of unchanged tasks as the pull recorded them."""
    counts = client.project_counts(project_id)
    mine = [i for i, p in previous.projects.items() if p == project_id and i in previous.tasks]
    merged = {i: (previous.tasks[i], previous.who[i]) for i in mine if i in previous.who}
    unknown = [i for i in mine if i not in previous.who]  # recorded by a pull before they were
    if unknown:
        merged.update(client.list_task_authors(project_id, ids=unknown))
    merged.update(client.list_task_authors(project_id, since=since))
    return merged if _adds_up({i: row[0] for i, row in merged.items()}, counts) else None


@dataclass
class Current:
    """What the projects hold now, as listed: each task's listing and its project."""

    tasks: dict[int, Listed] = field(default_factory=dict)
    projects: dict[int, int] = field(default_factory=dict)  # task -> its project
    since: datetime | None = None  # None: every task was listed; else some only if changed since this time


def list_projects(
    client: LabelStudioClient, project_ids: Sequence[int], previous: Listing, on_page: Callable[[int, int], None] | None = None,
    reconcile: bool = True,
) -> Current:
    """Every task of the projects (a team project's pool, queues and review), listed in part where ``since`` allows."""
    start = since(previous, reconcile)
    current = Current()
    for project_id in project_ids:
        seen = listed_since(client, project_id, previous, start, on_page) if start is not None else None
        if seen is None:
            seen = client.list_task_changes(project_id, on_page=on_page)
        else:
            current.since = start
        current.tasks.update(seen)
        current.projects.update((i, project_id) for i in seen)
    return current


def list_authors(client: LabelStudioClient, project_ids: Sequence[int], previous: Listing) -> dict[int, dict[int, tuple[Listed, Who]]]:
    """Every task of the projects, by project, with its listing, article and authors: in part by the window, at any age
    of ``previous`` (status shows; it keeps nothing), else by one listing of every task."""
    start = since(previous, reconcile=False)
    listed: dict[int, dict[int, tuple[Listed, Who]]] = {}
    for project_id in project_ids:
        seen = authors_since(client, project_id, previous, start) if start is not None else None
        listed[project_id] = client.list_task_authors(project_id) if seen is None else seen
    return listed
