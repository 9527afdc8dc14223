"""Pull: fetch every task with its annotations from Label Studio into ``exports/<project>/`` (see ``store``).

Every pull first lists tasks' ``updated_at`` and annotation counts (no texts:
cheap) and compares that with what the last pull saw of them. The first pull, or
one asked for with ``--full``, or one whose previous state is damaged, lists
every task and is one bulk export; any other pull fetches just the tasks whose
listing changed, drops the deleted ones and copies the rest.

An incremental pull lists only the tasks changed since ``listing.WINDOW`` before the
last listing began (the server's clock), and checks the whole (the last listing with
those changes) against the project's live counts of tasks, annotations and
skips; a project that does not add up is listed whole. Label Studio stamps a
save before it commits it, so a save can become visible with an older time: one
committed within the window of its stamp is always seen; one committed later is
seen at once if it added or removed a task or an annotation (the counts), and
otherwise at the next listing of every task, which a pull makes once the last
one is ``listing.RECONCILE_AFTER`` old (and ``--full`` always).
The state is written in one canonical form, so an incremental pull gives the
same bytes as a full one. Nothing is written until everything is fetched, and
the state is replaced atomically: a failed pull leaves the previous one intact.
Once written, the pull is counted as ``status`` counts it (``figures.kept_figures``: each
annotation kept, repaired or rejected, with the schema given and repairs on) and the figures
kept beside it, so the pull says at once what it brought and ``status`` reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from . import __version__
from . import listing
from . import schema as schema_mod
from .annotators import MAPPING, Pseudonyms
from .labelstudio import codec
from .labelstudio.client import LabelStudioClient
from .errors import AnnotateError, DamagedStateError, NotFoundError, ProjectError, ServerError, UnreachableError
from .figures import PullCounts, counted_pull
from .files import AtomicFile, copy_atomic, exclusive, remove_leftovers, write_json, write_jsonl
from .models import Project, Schema
from .team import read_team_counted, team_projects
from .store import (
    EXPORTS,
    ARTICLE_FIGURES,
    FIGURES,
    INDEX,
    MANIFEST,
    SNAPSHOTS,
    STATE,
    Listed,
    Listing,
    Who,
    file_identity,
    project_folder,
    pulled_from,
    read_listing,
    read_manifest,
    state_sha256,
)

# Told what is being done ("listing", "fetching", "exporting", "checking", or waiting for another pull), how far, of how many (0: not known).
Progress = Callable[[str, int, int], None]
# Past this share of changed tasks, one bulk export is faster than fetching them page by page.
FULL_WHEN_CHANGED = 0.5
LOCK = ".pull.lock"  # held by the pull writing the folder
SNAPSHOT_TITLE = "annotate pull"  # names the export snapshots pull makes (and takes up after a failure)
SNAPSHOT_POLL = 1.0  # seconds between looks at a snapshot Label Studio is writing
SNAPSHOT_WAIT = 3 * 3600  # Label Studio's own limit for a background export job
SNAPSHOT_ATTEMPTS = 3  # snapshots deleted under a pull by other pulls before it gives up

@dataclass
class PullReport:
    folder: Path
    snapshot: Path
    mode: str  # "full" or "incremental"
    fetched: int  # tasks fetched by this pull
    removed: int  # tasks deleted in Label Studio since the last pull (incremental only)
    tasks: int  # tasks in the merged state
    annotations: int
    cancelled: int
    manifest: dict[str, Any]
    full_because: str | None = None  # why a pull that could have been incremental was full
    counts: PullCounts | None = None  # the pull checked as status counts it; None: see ``not_counted``
    not_counted: str | None = None  # why it could not be counted (the pull itself is done)


def _counts(tasks: Iterable[dict[str, Any]]) -> tuple[int, int]:
    annotations = cancelled = 0
    for task in tasks:
        for annotation in task.get("annotations") or []:
            annotations += 1
            cancelled += bool(annotation.get("was_cancelled"))
    return annotations, cancelled


def _line(task: dict[str, Any]) -> str:
    return json.dumps(task, ensure_ascii=False) + "\n"


_LINE_ID = re.compile(r'\{"id":\s*(\d+)')


class _HashingWriter:
    """Writes the state and hashes it on the way, for the manifest."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.lines = 0

    def write(self, line: str) -> None:
        self.out.write(line)
        self.digest.update(line.encode("utf-8"))
        self.lines += 1


def _merge_into(
    state: Path, changed: dict[int, dict[str, Any]], removed: set[int], out: _HashingWriter
) -> list[dict[str, Any]]:
    """Copy the old state with changed tasks replaced, removed ones dropped and new ones appended; return the old forms of what changed.

    Unchanged lines are copied as they are (not parsed, not re-encoded): the
    state was checked against its hash first, so they are known whole.
    """
    pending = dict(changed)
    replaced = []
    with state.open(encoding="utf-8") as old:
        for line in old:
            match = _LINE_ID.match(line)
            task_id = int(match.group(1)) if match else int(json.loads(line)["id"])
            if task_id in pending or task_id in removed:
                replaced.append(json.loads(line))
                if task_id in removed:
                    continue
                line = _line(pending.pop(task_id))
            out.write(line)
    for task_id in sorted(pending):  # new tasks: ids only grow, so they come after the old ones
        out.write(_line(pending[task_id]))
    return replaced


def _previous(folder: Path, title: str, client: LabelStudioClient, project: Project, full: bool) -> tuple[dict[str, Any], Listing, str | None]:
    """The last pull's manifest and index if an incremental pull can build on them, else why not.

    Pulled data of another project (or of this title on another server) is never merged into, nor
    silently replaced: that needs ``--full``. The same project at another address (a studio restarted
    on another port) is the same project (``store.pulled_from``).
    """
    if not (folder / MANIFEST).exists() and not (folder / STATE).exists():
        return {}, Listing(), None
    try:
        last = read_manifest(folder)
    except DamagedStateError as exc:
        return {}, Listing(), exc.message
    same = last.get("project_title") == title and pulled_from(last, client.url, project)
    if not same and not full:
        raise ProjectError(
            f"{folder} holds the pulled data of project {last.get('project_title')!r}"
            f" (id {last.get('project_id')} at {last.get('label_studio_url')}), not of {title!r}"
            f" (id {project.id} at {client.url}).",
            "Pull into another folder with --pulled, or replace it with `annotate pull --full`.",
        )
    if full:
        return last, Listing(), None
    last_listing = read_listing(folder)
    if not last_listing.tasks or "counts" not in last:
        return last, Listing(), f"{folder / INDEX} is missing or unreadable"
    # The same file the last pull left (``file_identity``) is the state it hashed: hashed again (0.5 s at
    # 150,000 tasks) only if written since.
    same = last_listing.state_file is not None and file_identity(folder / STATE) == last_listing.state_file
    actual = last_listing.state_sha256 if same else state_sha256(folder)
    if actual != last.get("state_sha256") or actual != last_listing.state_sha256:
        return last, Listing(), f"{folder / STATE} is not the state the last pull wrote (cut off or edited)"
    return last, last_listing, None


def _snapshot_tasks(client: LabelStudioClient, project_id: int, progress: Progress) -> list[dict[str, Any]]:
    """Every task of a project through an export snapshot: made, waited for, downloaded, then deleted.

    A snapshot a failed pull left behind (its request cut by a proxy, or the pull
    stopped while Label Studio kept writing) is taken up instead of making another;
    ``_up_to_date`` then refetches whatever changed since it was written. Another pull
    of the project running at the same time (another folder, another machine) may take
    up the same snapshot and delete it when it is done: a snapshot gone under us is
    replaced by one of our own, made for this pull alone.
    """
    take_up = True
    for attempt in range(SNAPSHOT_ATTEMPTS):
        try:
            return _one_snapshot(client, project_id, progress, take_up)
        except NotFoundError:
            if attempt == SNAPSHOT_ATTEMPTS - 1:
                raise ServerError(
                    f"The export snapshots of project {project_id} were deleted {SNAPSHOT_ATTEMPTS} times while this pull"
                    " read them: other pulls of the project are running.",
                    "Run `annotate pull` again once they are done.",
                ) from None
            take_up = False
    raise AssertionError("unreachable")


def _one_snapshot(client: LabelStudioClient, project_id: int, progress: Progress, take_up: bool) -> list[dict[str, Any]]:
    ours = [s for s in client.snapshots(project_id) if str(s.get("title", "")).startswith(SNAPSHOT_TITLE)]
    usable = [s for s in ours if s.get("status") != "failed"] if take_up else []
    if usable:
        snap = usable[0]  # the newest
    else:
        # Unique to this pull: a request cut after Label Studio made the snapshot finds this one, not another pull's.
        title = f"{SNAPSHOT_TITLE} {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {secrets.token_hex(4)}"
        try:
            snap = client.create_snapshot(project_id, title)
        except (ServerError, UnreachableError):
            # The request broke, but Label Studio may have gone on: look for what it made.
            made = [s for s in client.snapshots(project_id) if s.get("title") == title]
            if not made:
                raise
            snap = made[0]
    started = time.monotonic()
    while snap.get("status") != "completed":
        if snap.get("status") == "failed":
            _delete_snapshot(client, project_id, int(snap["id"]))
            raise ServerError(
                f"Label Studio could not write the export snapshot of project {project_id}.",
                "Run `annotate pull` again; Label Studio's log (studio.log for the embedded studio) says why.",
            )
        if time.monotonic() - started > SNAPSHOT_WAIT:
            raise ServerError(
                f"Label Studio has not finished the export snapshot of project {project_id} after {SNAPSHOT_WAIT // 60} minutes.",
                "Run `annotate pull` again later: it takes up the same snapshot.",
            )
        progress("snapshot", int(time.monotonic() - started), 0)
        time.sleep(SNAPSHOT_POLL)
        snap = client.snapshot(project_id, int(snap["id"]))
    progress("downloading", 0, 0)
    tasks = client.download_snapshot(project_id, int(snap["id"]))
    for old in ours:
        if int(old["id"]) != int(snap["id"]):
            _delete_snapshot(client, project_id, int(old["id"]))  # leftovers of failed pulls
    _delete_snapshot(client, project_id, int(snap["id"]))
    return tasks


def _delete_snapshot(client: LabelStudioClient, project_id: int, snapshot_id: int) -> None:
    try:
        client.delete_snapshot(project_id, snapshot_id)
    except NotFoundError:
        pass  # another pull deleted it first: gone either way


def _listed(task: dict[str, Any]) -> Listed:
    """A canonical task's listing values, as Label Studio's task list gives them."""
    annotations = task.get("annotations") or []
    cancelled = sum(1 for a in annotations if a.get("was_cancelled"))
    return task.get("updated_at"), len(annotations) - cancelled, cancelled


def _who(task: dict[str, Any]) -> Who:
    """A canonical task's article id and the authors of its annotations, as team status counts them."""
    article = (task.get("data") or {}).get("article_id")
    authors = {a.get("completed_by") for a in task.get("annotations") or []}
    return None if article is None else str(article), tuple(sorted(u for u in authors if isinstance(u, int)))


def _up_to_date(
    client: LabelStudioClient, tasks: list[dict[str, Any]], listed: dict[int, Listed], where: dict[int, int], progress: Progress
) -> list[dict[str, Any]]:
    """The snapshot's tasks as of the listing: gone ones dropped, missing or changed ones fetched anew.

    A snapshot is written after the listing (or, taken up from a failed pull, before it);
    either way a task whose listing differs from its copy in the snapshot is read again.
    """
    current = {int(t["id"]): t for t in tasks if int(t["id"]) in listed}
    stale = [i for i, seen in listed.items() if i not in current or _listed(current[i]) != seen]
    by_project: dict[int, list[int]] = {}
    for task_id in stale:
        by_project.setdefault(where[task_id], []).append(task_id)
    for project_id, ids in by_project.items():
        for task in client.iter_tasks(project_id, annotations=True, ids=ids):
            current[int(task["id"])] = codec.canonical(task)
            progress("fetching", len(current), len(listed))
    return list(current.values())


def _now_with_parts(client: LabelStudioClient, title: str, project: Project, listed: list[Project]) -> tuple[Project, list[Project]]:
    """The project as it is now, and the queue and review projects of a team project (none for a project one
    person labels), from ``listed``: the projects whose title holds ``title``, which has them all. The parts
    are those ``team status`` shows (``team_projects``)."""
    queues, review = team_projects(client, title, listed)
    # Renamed since it was found: read by its id, as the pull goes on with the project it began with.
    current = next((p for p in listed if p.id == project.id), None) or client.get_project(project.id)
    return current, [queue for _, queue in sorted(queues.items())] + ([review] if review else [])


def pull(
    client: LabelStudioClient,
    *,
    title: str,
    schema: Schema | None = None,
    root: Path = EXPORTS,
    full: bool = False,
    on_progress: Progress | None = None,
) -> PullReport:
    """Fetch the project's tasks and annotations; incremental unless ``full``, nothing pulled before, or a damaged state."""
    project = client.project_titled(title)
    schema = schema or schema_mod.load()
    folder = project_folder(title, root)
    progress = on_progress or (lambda what, done, total: None)
    # One pull at a time into a folder: a second one (another terminal, a cron job) waits for
    # the first, then pulls what changed since; two writing one state at once could pair one's
    # index with the other's state.
    with exclusive(folder / LOCK, lambda: progress("waiting for another pull into this folder", 0, 0)):
        # Temporary files of a pull that was killed: the state (often large), its index and manifest,
        # the key, status's figures, and those in the snapshots of each pull.
        remove_leftovers(folder, (STATE, INDEX, MANIFEST, MAPPING, FIGURES, ARTICLE_FIGURES))
        remove_leftovers(folder / SNAPSHOTS, ())
        report = _pull(client, project, title, schema, folder, full, progress)
        report.counts, report.not_counted = _count(report, title, schema, progress)
        return report


def _count(report: PullReport, title: str, schema: Schema, progress: Progress) -> tuple[PullCounts | None, str | None]:
    """The pull's figures as ``status`` shows them, and kept for it: validated once, here, while the lock keeps
    another pull from replacing the state under the count. Only the articles a count has not seen are validated
    (all of them after a full pull, few after most incremental ones, none when nothing changed)."""
    progress("checking", 0, 0)
    try:
        counts = counted_pull(report.folder, title, schema, True, lambda tasks, of: progress("checking", 0, tasks))
    except AnnotateError as exc:  # the pull is written and stays: status and validate will say the same
        return None, exc.message
    progress("checking", report.tasks, report.tasks)
    return counts, None


def _pull(
    client: LabelStudioClient, project: Project, title: str, schema: Schema, folder: Path, full: bool, progress: Progress
) -> PullReport:
    last, previous, full_because = _previous(folder, title, client, project, full)
    index = previous.tasks
    server = client.server_info()
    owner = client.whoami().get("id")  # the token's user: the one person whose annotations belong in the pool
    # Listed before anything is fetched: whatever changes after this shows up in the next pull.
    # A team project has parts: a queue per annotator and a review project, all read as one.
    listed_projects = client.list_projects(title=title)  # the project now, and a team's parts and roster: their titles hold it
    current, team_parts = _now_with_parts(client, title, project, listed_projects)
    projects = [project, *team_parts]
    now_listed = listing.list_projects(
        client, [p.id for p in projects], previous, lambda done, total: progress("listing", done, total)
    )
    listed, where = now_listed.tasks, now_listed.projects  # where: task id -> its project, to fetch it from there
    listing_time = datetime.now(timezone.utc).isoformat() if now_listed.since is None else previous.listed_fully_at
    changed = [i for i, seen in listed.items() if index.get(i) != seen]
    removed = set(index) - set(listed)
    mode = "incremental" if index else "full"
    if index and len(changed) > FULL_WHEN_CHANGED * max(len(listed), 1) and len(changed) > 1000:
        mode, full_because = "full", f"{len(changed)} of {len(listed)} tasks changed"
    folder.mkdir(parents=True, exist_ok=True)
    with AtomicFile(folder / STATE) as state:
        out = _HashingWriter(state.file)
        if mode == "incremental":
            fetched = []
            for part in projects:
                ids = [i for i in changed if where[i] == part.id]
                for task in client.iter_tasks(part.id, annotations=True, ids=ids) if ids else ():
                    fetched.append(codec.canonical(task))
                    progress("fetching", len(fetched), len(changed))
            got = {int(t["id"]) for t in fetched}
            removed |= set(changed) - got  # deleted between the listing and the fetch
            # Nothing fetched, nothing gone: the state stays as it is (copying it is most of such a pull).
            kept = not fetched and not removed
            replaced = [] if kept else _merge_into(folder / STATE, {int(t["id"]): t for t in fetched}, removed, out)
            before, after = _counts(replaced), _counts(fetched)
            annotations = last["counts"]["annotations"] - before[0] + after[0]
            cancelled = last["counts"]["cancelled"] - before[1] + after[1]
        else:
            progress("exporting", 0, 0)
            fetched = [codec.canonical(t) for part in projects for t in _snapshot_tasks(client, part.id, progress)]
            fetched = sorted(_up_to_date(client, fetched, listed, where, progress), key=lambda t: int(t["id"]))
            for task in fetched:
                out.write(_line(task))
            annotations, cancelled = _counts(fetched)
            removed = set()
            kept = False
            progress("exporting", len(fetched), len(fetched))
        # Tasks created after the listing have no listing yet: the next pull fetches them again.
        in_state = {int(t["id"]) for t in fetched} | (set(index) - removed)
        new_index = {i: listed[i] for i in sorted(in_state) if i in listed}
        who = {i: w for i, w in previous.who.items() if i in new_index}  # unchanged tasks: as the last pull had them
        who.update((int(t["id"]), _who(t)) for t in fetched if int(t["id"]) in new_index)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        team_now, roster_annotations = read_team_counted(client, title, listed_projects) if len(projects) > 1 else (None, 0)
        state_hash, lines = (last["state_sha256"], last["counts"]["tasks"]) if kept else (out.digest.hexdigest(), out.lines)
        manifest = {
            "tool_version": __version__,
            "label_studio_url": client.url,
            "label_studio_version": server.version,
            "project_id": project.id,
            "project_created_at": project.created_at,  # with the id, the project at whatever address it answers
            "project_title": project.title,
            "parts": {str(p.id): p.title for p in projects[1:]},  # queues and review of a team project
            # Where each person's annotations belong (store.Places): who reviews, who owns the pool, and
            # what was made in the roster, which holds no articles.
            "reviewers": sorted(m.user_id for m in team_now.reviewers) if team_now else [],
            "owner_id": owner,
            "roster_annotations": roster_annotations,
            "label_config_sha256": schema_mod.config_hash(current.label_config),
            "schema_name": schema.name,
            "schema_sha256": schema.sha256,
            "schema_config_matches": current.label_config.strip() == schema_mod.label_config(schema).strip(),
            "pulled_at": now,
            "mode": mode,
            "full_because": full_because,
            # The listing: of every task (None), or of those changed since this time (see listing.WINDOW).
            "listed_since": None if now_listed.since is None else now_listed.since.isoformat(),
            "state_sha256": state_hash,
            "counts": {
                "tasks_fetched": len(fetched),
                "tasks_removed": len(removed),
                "tasks": lines,
                "annotations": annotations,
                "cancelled": cancelled,
            },
        }
        snapshot = folder / SNAPSHOTS / now.replace(":", "").replace("-", "").replace(".", "")
        # The snapshot, the state, its index, then its manifest: a crash in between leaves a state that
        # does not match the hash in its index or its manifest, and the next pull is a full one.
        if mode == "full":  # the snapshot is the state, line for line: copied, not encoded a second time
            state.file.flush()
            copy_atomic(state.tmp, snapshot / "tasks.jsonl")
        else:
            write_jsonl(snapshot / "tasks.jsonl", fetched)
        write_json(snapshot / MANIFEST, manifest)
        if not kept:
            state.commit()
        # Nothing changed since the last listing, and not every task was listed: the index stays as it is. Its
        # listing time stays too, so the next window starts earlier, and holds nothing more (this one was empty).
        if not (kept and now_listed.since is not None):
            parts_of: dict[str, list[int]] = {}
            for i in new_index:
                parts_of.setdefault(str(where[i]), []).append(i)
            write_json(folder / INDEX, {
                "state_sha256": state_hash, "state_file": file_identity(folder / STATE),
                "listed_at": server.time.isoformat() if server.time else None, "listed_fully_at": listing_time,
                "projects": parts_of,
                # As they are: JSON writes the int keys as strings and the tuples as lists (store.read_listing).
                "tasks": new_index, "who": who,
            }, compact=True)
        write_json(folder / MANIFEST, manifest)
    # Who is behind each pseudonym, for the project owner only (see ``annotators``).
    pseudonyms = Pseudonyms(folder)
    pseudonyms.record_users(client.list_users())
    pseudonyms.save()
    return PullReport(
        folder, snapshot, mode, len(fetched), len(removed), lines, annotations, cancelled, manifest, full_because
    )
