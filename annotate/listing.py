"""What changed in Label Studio since the last pull, without listing every task: a window and the live counts.

``pull`` and ``status`` list tasks' times and annotation counts to know what changed since the
last pull (``index.json``, read as ``store.Listing``). Listing every task costs about two seconds
per 10,000 tasks, so they list only the tasks whose time is at most ``WINDOW`` before the last
listing began (by the server's clock: its Date header), put them over that listing, and check the
whole against the projects' live counts of tasks, annotations and skips (one request for them all); a
project that does not add up is counted and listed once more at once, then, if it still does not,
listed whole.

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

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from .labelstudio.client import LabelStudioClient
from .models import Listed, Who
from .store import Listing

WINDOW = timedelta(seconds=120)  # SQLite makes a save wait at most 5 s; PostgreSQL has no bound
RECONCILE_AFTER = timedelta(hours=1)
UNSTARTED: Listed = (None, 0, 0)  # a task with no annotation and no skip, as push gave it: its time is never shown


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


Row = TypeVar("Row")
T = TypeVar("T")


def _in_part(
    client: LabelStudioClient,
    project_ids: Sequence[int],
    base: Callable[[int], dict[int, Row]],
    changed: Callable[[int], dict[int, Row]],
    listed_of: Callable[[Row], Listed],
) -> dict[int, dict[int, Row] | None]:
    """Each project's tasks as the last listing saw them (``base``), with those ``changed`` since as they are now;
    None for a project where that does not add up to its live counts (a task, annotation or skip missed).

    The counts of every project come in one request, before the listings. A save that lands
    between the two does not add up either: such a project is counted and listed once more at
    once (what changed since is still in the window), and only then listed whole.
    """
    counts = client.projects_counts(project_ids)
    found: dict[int, dict[int, Row] | None] = {}
    for project_id in project_ids:
        found[project_id] = None
        for again in (False, True):
            if again:
                counts[project_id] = client.project_counts(project_id)
            merged = base(project_id)
            merged.update(changed(project_id))
            listed = [listed_of(row) for row in merged.values()]
            if (len(listed), sum(v[1] for v in listed), sum(v[2] for v in listed)) == counts.get(project_id):
                found[project_id] = merged
                break
    return found


def _by_project(previous: Listing) -> dict[int, list[int]]:
    """The tasks of ``previous``, by project."""
    grouped: dict[int, list[int]] = {}
    for task_id, project_id in previous.projects.items():
        if task_id in previous.tasks:
            grouped.setdefault(project_id, []).append(task_id)
    return grouped


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
    in_part: dict[int, dict[int, Listed] | None] = {}
    if start is not None:
        grouped = _by_project(previous)
        in_part = _in_part(
            client, project_ids,
            lambda p: {i: previous.tasks[i] for i in grouped.get(p, ())},
            lambda p: client.list_task_changes(p, since=start, on_page=on_page),
            lambda row: row,
        )
    whole = [p for p in project_ids if in_part.get(p) is None]
    told = _summed(on_page)
    listed = dict(zip(whole, two_at_a_time(lambda p: client.list_task_changes(p, on_page=told(p)), whole)))
    for project_id in project_ids:
        seen = in_part.get(project_id)
        if seen is None:
            seen = listed[project_id]
        else:
            current.since = start
        current.tasks.update(seen)
        current.projects.update((i, project_id) for i in seen)
    return current


def _summed(on_page: Callable[[int, int], None] | None) -> Callable[[int], Callable[[int, int], None] | None]:
    """Per project, a page count for ``on_page`` that it is told as the sum over the projects being listed (two at a
    time: one count, not two taking turns), one call at a time."""
    if on_page is None:
        return lambda project_id: None
    lock = threading.Lock()
    counts: dict[int, tuple[int, int]] = {}

    def of(project_id: int) -> Callable[[int, int], None]:
        def told(done: int, total: int) -> None:
            with lock:
                counts[project_id] = (done, total)
                on_page(sum(d for d, _ in counts.values()), sum(t for _, t in counts.values()))

        return told

    return of


def list_authors(
    client: LabelStudioClient, project_ids: Sequence[int], previous: Listing,
    given: Callable[[int], Mapping[int, str | None] | None] | None = None,
) -> dict[int, dict[int, tuple[Listed, Who]]]:
    """Every task of the projects, by project, with its listing, article and authors: in part by the window, at any age
    of ``previous`` (status shows; it keeps nothing), else by one listing of every task.

    ``given(project)``: every task of the project with its article, as push recorded them (checked against the
    server), or None. Where there is no ``previous`` to start from, only the tasks with an annotation or a skip are
    then listed; the others have no author, and their articles are those push gave them.
    """
    start = since(previous, reconcile=False)
    in_part: dict[int, dict[int, tuple[Listed, Who]] | None] = {}
    if start is not None:
        grouped = _by_project(previous)

        def base(project_id: int) -> dict[int, tuple[Listed, Who]]:
            mine = grouped.get(project_id, [])
            known = {i: (previous.tasks[i], previous.who[i]) for i in mine if i in previous.who}
            unknown = [i for i in mine if i not in previous.who]  # recorded by a pull before authors were
            return {**known, **(client.list_task_authors(project_id, ids=unknown) if unknown else {})}

        in_part = _in_part(client, project_ids, base, lambda p: client.list_task_authors(p, since=start), lambda row: row[0])

    def of(project_id: int) -> dict[int, tuple[Listed, Who]]:
        seen = in_part.get(project_id)
        if seen is None and given is not None:
            seen = _given_and_started(client, project_id, given(project_id))
        return client.list_task_authors(project_id) if seen is None else seen  # an empty project adds up too

    return dict(zip(project_ids, two_at_a_time(of, project_ids)))


def two_at_a_time(work: Callable[[int], T], items: Sequence[int]) -> list[T]:
    """``work`` of each item, in the items' order, two at a time: a studio served by gunicorn answers two listings at
    once in about the time of one (the development server takes them one after the other). Daemon threads, so that
    Ctrl-C ends the command at once; the first error is raised here, and no item is started after it."""
    done: dict[int, T] = {}
    failed: list[BaseException] = []
    todo = iter(enumerate(items))
    lock = threading.Lock()

    def worker() -> None:
        while not failed:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            try:
                done[item[0]] = work(item[1])
            except BaseException as exc:  # raised in the waiting thread, as its own
                failed.append(exc)

    threads = [threading.Thread(target=worker, name="list", daemon=True) for _ in range(min(2, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]
    return [done[i] for i in range(len(items))]


def _given_and_started(
    client: LabelStudioClient, project_id: int, given: Mapping[int, str | None] | None
) -> dict[int, tuple[Listed, Who]] | None:
    if given is None:
        return None
    rows: dict[int, tuple[Listed, Who]] = {task_id: (UNSTARTED, (article, ())) for task_id, article in given.items()}
    rows.update(client.list_started_authors(project_id))
    return rows
