"""Status: how far a project's annotation has come, from its latest pull, and whether that pull is stale.

Counted from the pulled data through validate's one pass (``check_tasks``, streamed), so an
annotation counts as kept here exactly when ``validate`` and ``export`` keep it; counted once a
pull, by the pull itself as it ends, and kept beside it (``store.FIGURES``), validating only the
articles that changed since the last count (``figures``); status counts again only with another
schema or ``--no-repair``. The server, when it answers, is asked only for its task listing (no texts), which it
compares with what the pull recorded, as the next pull would; before any pull, only for its live counts of
tasks (every task is then a change).

``team_status`` is the team's view (``annotate team status``): each annotator's queue as
Label Studio holds it now (task listings, no texts), the review project, and, from the
latest pull, each person's agreement with the others and what is ready for export.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import AnnotateError
from .models import Listed, Project, Schema, Who
from .listing import list_authors, list_projects
from .store import (
    EXPORTS, MANIFEST, STATE, Listing, latest_versions, iter_state, project_folder, pulled_from, read_listing, read_manifest,
)
from .figures import PullCounts, counted_pull, kept_figures
from .gold import refuse_conflicting_copies

if TYPE_CHECKING:  # the client pulls in httpx; status is given a way to connect instead
    from .labelstudio.client import LabelStudioClient

REJECTED = Path("validated") / "rejected.jsonl"  # where validate.write_report puts them, in the project's folder
T = TypeVar("T")


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


def _server_counts(title: str, folder: Path, connect: Callable[[], LabelStudioClient]) -> ServerCounts:
    """The server's tasks now, compared with the pull's index; an unreachable server is a finding, not an error."""
    try:
        with connect() as client:
            if not client.health():
                return ServerCounts(client.url, error=f"no Label Studio answers at {client.url}")
            from .team import team_projects

            # Like with like: the pull listed the pool and every part of a team project (queues, review).
            project, found = client.project_listed(title)
            queues, review = team_projects(client, title, found)
            parts = [project.id, *(q.id for q in queues.values()), *([review.id] if review else [])]
            previous = _last_listing(folder, client.url, project)
            if not previous.tasks:  # nothing pulled from here: every task is a change, and the live counts say how many
                tasks = sum(counts[0] for counts in client.projects_counts(parts).values())
                return ServerCounts(client.url, tasks, tasks)
            # As pull lists them (listing.WINDOW), at any age of the last full listing: status keeps nothing.
            listed = list_projects(client, parts, previous, reconcile=False).tasks
            index = previous.tasks
            changed = sum(1 for task_id, seen in listed.items() if index.get(task_id) != seen) + len(set(index) - set(listed))
            return ServerCounts(client.url, len(listed), changed)
    except AnnotateError as exc:
        return ServerCounts(error=exc.message)


def _last_listing(folder: Path, url: str, project: Project) -> Listing:
    """What the latest pull in ``folder`` listed, if it pulled this project (``store.pulled_from``; else nothing)."""
    try:
        manifest = read_manifest(folder)
    except AnnotateError:
        return Listing()
    return read_listing(folder) if pulled_from(manifest, url, project) else Listing()


def _pulled(folder: Path) -> bool:
    """Whether anything was pulled into ``folder`` (damaged data counts: reading it says what is wrong)."""
    return (folder / STATE).exists() or (folder / MANIFEST).exists()


def project_status(
    title: str,
    *,
    schema: Schema,
    root: Path = EXPORTS,
    repair: bool = True,
    connect: Callable[[], LabelStudioClient] | None = None,
    on_count: Callable[[int, int], None] | None = None,
) -> ProjectStatus:
    """The project's counts from its latest pull in ``root``, and, given ``connect``, the server's now.

    Nothing pulled yet is a status, not an error; pulled data that is damaged or another
    project's is refused as every stage refuses it. ``on_count(tasks, of)``: told how many of the pull's
    tasks are about to be validated (once a pull, and only those no count validated before).
    """
    folder = project_folder(title, root)
    counted = _meanwhile(lambda: counted_pull(folder, title, schema, repair, on_count) if _pulled(folder) else None)
    server = _server_counts(title, folder, connect) if connect is not None else None
    return ProjectStatus(title, folder, counted(), server)


def _meanwhile(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` in a thread; return a wait for its result (its exception is raised there).

    Counting a pull is work on this machine, while asking the server is mostly waiting for it: side by side,
    the command takes about as long as the longer of the two, not their sum. A daemon thread, so that
    Ctrl-C ends the command at once, as it did without it.
    """
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = work()
        except BaseException as exc:  # handed to the waiting thread, which raises it as its own
            done["error"] = exc

    thread = threading.Thread(target=run, name="count the pull", daemon=True)
    thread.start()

    def wait() -> T:
        thread.join()
        if "error" in done:
            raise done["error"]
        return done["value"]

    return wait


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


# --- the team: live from Label Studio, agreement from the latest pull --------------------------


@dataclass
class PersonStatus:
    """One annotator's queue now (tasks), and how their labels agree with the others' in the latest pull."""

    email: str | None  # None: an account Label Studio no longer lists
    user_id: int
    in_team: bool  # an annotator of the roster now; False: removed (or made a reviewer), their queue stays
    queue_url: str | None  # None: no queue yet (nothing given to them)
    assigned: int = 0
    submitted: int = 0
    skipped: int = 0
    remaining: int = 0  # neither submitted nor skipped (a draft is still remaining)
    last_activity: str | None = None  # newest updated_at of a task they submitted or skipped
    agreement: float | None = None  # mean entity F1 (exact) of their pairs in the latest pull; None: nothing compared
    compared: int = 0  # articles they share with another annotator in the latest pull
    others: int = 0  # tasks of their queue with an annotation by someone else: not theirs, never a vote


@dataclass
class ReviewStatus:
    reviewers: list[str]
    tasks: int = 0  # disputed articles sent to the review project (`adjudicate --push`)
    decided: int = 0  # with an annotation by a reviewer (anyone else's decides nothing)
    open: int = 0
    url: str | None = None
    by_others: int = 0  # tasks with an annotation by someone who is not a reviewer


@dataclass
class TeamStatus:
    title: str
    url: str  # Label Studio
    folder: Path  # the project's pulled data (for agreement and "ready")
    overlap: int  # the largest number of team queues an article is in now
    people: list[PersonStatus]
    articles: int  # in the pool
    by_submitted: dict[int, int]  # submitted annotations -> articles with that many, every queue counted
    review: ReviewStatus
    pull: PullCounts | None  # the latest pull: "ready" is what export takes; None: nothing pulled yet
    short: list[str] = field(default_factory=list)  # articles in fewer team queues than the overlap (someone left)
    in_pool: int = 0  # pool tasks with an annotation by someone other than the owner: nobody was given them there

    def as_dict(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["folder"] = str(self.folder)
        plain["by_submitted"] = {str(k): v for k, v in self.by_submitted.items()}
        return plain


def _agreement(
    title: str, schema: Schema, root: Path, repair: bool, on_count: Callable[[int, int], None] | None = None
) -> Callable[[int], tuple[float | None, int]]:
    """Per user id: the mean entity F1 (exact) of their annotator pairs in the latest pull, and the articles compared."""
    folder = project_folder(title, root)
    figures = kept_figures(folder, title, schema, repair, on_count)["agreement"]
    if figures is None:  # copies of an article conflict: refused as the agreement stage refuses it
        refuse_conflicting_copies(latest_versions(iter_state(folder, title)))
        figures = {}

    def of(user_id: int) -> tuple[float | None, int]:
        mean, compared = figures.get(str(user_id), (None, 0))
        return mean, int(compared)

    return of


def _pushed_articles(
    client: LabelStudioClient, cache: Path, projects: list[Project]
) -> Callable[[int], dict[int, str | None] | None]:
    """Per project id: each of its tasks with its article id, as push's index in ``cache`` holds them
    (``TaskIndex.verified``), or None where it does not hold them all."""
    from .push import TaskIndex  # push's imports (reading articles) only when its index is read

    by_id = {p.id: p for p in projects}

    def articles(project_id: int) -> dict[int, str | None] | None:
        project = by_id.get(project_id)
        refs = None if project is None else TaskIndex(cache, client.url, project).verified(client, project)
        return None if refs is None else {task_id: ref.article_id for task_id, ref in refs.items()}

    return articles


NOBODY: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())


def _submitted_and_skipped(
    client: LabelStudioClient, project_id: int, listed: Mapping[int, tuple[Listed, Who]]
) -> dict[int, tuple[frozenset[int], frozenset[int]]]:
    """Per task with an author: who submitted an annotation of it, and who skipped it (the others: ``NOBODY``).

    The listing names a task's authors, skips included, without saying whose annotation was a skip. Its counts
    settle that for most tasks: one author, or only annotations, or only skips. A task with several authors and
    both (someone skipped it and someone else annotated it) is read annotation by annotation.
    """
    done: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
    doubtful: list[int] = []
    groups: dict[tuple[int, ...], frozenset[int]] = {}  # one set a group of authors: most tasks share theirs
    for task_id, ((_, total, cancelled), (_, by)) in listed.items():
        if not by:
            continue
        if total and cancelled and len(by) > 1:
            doubtful.append(task_id)
            continue
        authors = groups.get(by)
        if authors is None:
            authors = groups[by] = frozenset(by)
        done[task_id] = (authors if total else NOBODY[0], authors if cancelled else NOBODY[1])
    found = client.annotation_authors(project_id, doubtful) if doubtful else {}
    for task_id in doubtful:  # a task deleted since its listing: nobody's
        annotations = found.get(task_id, [])
        done[task_id] = (
            frozenset(u for u, skip in annotations if u is not None and not skip),
            frozenset(u for u, skip in annotations if u is not None and skip),
        )
    return done


def team_status(
    client: LabelStudioClient, title: str, *, schema: Schema, root: Path = EXPORTS, repair: bool = True,
    on_count: Callable[[int, int], None] | None = None, push_index: Path | None = None,
) -> TeamStatus:
    """Each annotator's queue as Label Studio holds it now, the articles' coverage, the review; agreement from the latest pull.

    Live counts come from the task listings (no texts). Queues of people removed from the
    roster are shown too: what they submitted still counts. ``on_count`` as for ``project_status``.
    Before any pull, the tasks nobody has started are taken from push's index (``push_index``, see
    ``push.TaskIndex``) where it holds every task of a project, and only the started ones are listed.
    """
    from .team import project_url, read_team, team_projects

    pool, found = client.project_listed(title)  # the pool, and the queues, review and roster: their titles hold it
    folder = project_folder(title, root)
    pulled = _pulled(folder)
    # Agreement from the latest pull, counted while the server is asked for the rest.
    counted = _meanwhile(lambda: _agreement(title, schema, root, repair, on_count) if pulled else (lambda user_id: (None, 0)))
    team = read_team(client, title, found)
    emails = {int(u["id"]): str(u.get("email") or "") or None for u in client.list_users() if isinstance(u.get("id"), int)}
    queues, review_project = team_projects(client, title, found)

    projects = [pool, *(q for _, q in sorted(queues.items())), *([review_project] if review_project else [])]
    # Each task's listing, article and authors: unchanged tasks as the latest pull recorded them.
    previous = _last_listing(folder, client.url, pool)  # nothing pulled: nothing listed before
    given = _pushed_articles(client, push_index, projects) if push_index is not None and not previous.tasks else None
    listed = list_authors(client, [p.id for p in projects], previous, given)
    agreement = counted()
    people = {m.user_id: PersonStatus(m.email, m.user_id, True, None) for m in team.annotators}
    holders: dict[str, set[int]] = {}  # article -> team annotators whose queue has it
    submitted: dict[str, set[int]] = {}  # article -> everyone who submitted it
    for user_id, project in sorted(queues.items()):
        if user_id not in people:  # removed, or made a reviewer since: what they submitted still counts
            people[user_id] = PersonStatus(emails.get(user_id), user_id, False, None)
        person = people[user_id]
        person.queue_url = project_url(client.url, project.id)
        done = _submitted_and_skipped(client, project.id, listed[project.id])
        for task_id, ((updated_at, _, _), (article_id, by)) in listed[project.id].items():
            person.assigned += 1
            person.others += any(u != user_id for u in by)
            submitters, skippers = done.get(task_id, NOBODY)
            mine = user_id in submitters  # only their own annotations are their submissions, and only their skips theirs
            skip = not mine and user_id in skippers
            person.submitted += mine
            person.skipped += skip
            if (mine or skip) and updated_at and (person.last_activity is None or updated_at > person.last_activity):
                person.last_activity = updated_at
            if article_id is None:
                continue
            if person.in_team:
                holders.setdefault(article_id, set()).add(user_id)
            if mine:
                submitted.setdefault(article_id, set()).add(user_id)
        person.remaining = person.assigned - person.submitted - person.skipped
    for user_id, person in people.items():
        person.agreement, person.compared = agreement(user_id)

    pool_articles = {article_id for _, (article_id, _) in listed[pool.id].values() if article_id is not None}
    owner = client.whoami().get("id")
    in_pool = sum(1 for _, (_, by) in listed[pool.id].values() if any(u != owner for u in by))
    overlap = max((len(h) for h in holders.values()), default=0)
    short = sorted(a for a in pool_articles if len(holders.get(a, ())) < overlap)
    counts = [len(submitted.get(a, ())) for a in pool_articles]
    by_submitted = {n: counts.count(n) for n in range(max([overlap, *counts], default=0) + 1)}

    review = ReviewStatus([m.email for m in team.reviewers])
    if review_project is not None:
        review.url = project_url(client.url, review_project.id)
        authors = {task_id: by for task_id, (_, (_, by)) in listed[review_project.id].items()}
        reviewers = {m.user_id for m in team.reviewers}
        review.tasks = len(authors)
        decisions = _submitted_and_skipped(client, review_project.id, listed[review_project.id])
        review.decided = sum(1 for submitters, _ in decisions.values() if reviewers & submitters)  # a reviewer's skip decides nothing
        review.by_others = sum(1 for by in authors.values() if set(by) - reviewers)
        review.open = review.tasks - review.decided
    pull = project_status(title, schema=schema, root=root, repair=repair).pull if pulled else None
    ordered = sorted(people.values(), key=lambda p: (not p.in_team, p.email or "", p.user_id))
    return TeamStatus(title, client.url, folder, overlap, ordered, len(pool_articles), by_submitted, review, pull, short, in_pool)
