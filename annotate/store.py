"""The pulled data of a project, ``exports/<project>/``: its layout, and readers that check it.

* ``state.jsonl``: the merged tasks, one a line, in task-id order (what validate reads);
* ``index.json``: per task, what Label Studio listed of it when it was fetched
  (``updated_at`` and annotation counts) and its project, with when that listing began (the
  server's clock) and when every task was last listed, so the next pull can tell what changed
  (``listing``);
* ``manifest.json``: the manifest of the latest pull, with the SHA-256 of the state;
* ``status.json`` and ``status-articles.json``: what status counted of the latest pull, and each
  article's share of it, kept for the next count (``status``, ``figures``);
* ``pulls/<time>/tasks.jsonl`` + ``manifest.json``: the raw snapshot of each pull;
* ``models/crf-<n>/``: the models ``annotate model train`` saved (``model.json`` and the taggers);
* ``suggestions/<time>.jsonl``: what each ``annotate model suggest`` sent, task by task.

Every reader checks that the folder holds the project it was asked for (two
titles can share a folder name only through a hash collision, and a folder can
be copied) and that the state is the one the manifest describes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import settings
from .errors import DamagedStateError, ProjectError, PulledDataError
from .files import safe_name
from .labelstudio import codec
from .models import Listed, Project, Who
from .queues import queue_owner, review_title, roster_title

EXPORTS = Path("exports")
STATE = "state.jsonl"
MANIFEST = "manifest.json"
INDEX = "index.json"
FIGURES = "status.json"  # what was counted of the latest pull (figures.kept_figures): a pull is validated once
ARTICLE_FIGURES = "status-articles.json"  # each article's share of those figures (figures.py): kept from pull to pull
SNAPSHOTS = "pulls"
MODELS = "models"
MODEL_INFO = "model.json"
SUGGESTIONS = "suggestions"


def pulled_root(path: Path | None = None, start: Path | None = None) -> Path:
    """The folder of pulled data, absolute: ``path`` (``--pulled``), else ``exports/`` in the project root, else ``./exports``.

    Absolute so that every message names the folder really used, from whichever folder the command ran.
    """
    if path is not None:
        return Path(path).resolve()
    return settings.project_root(start) / EXPORTS


def project_folder(title: str, root: Path = EXPORTS) -> Path:
    """``exports/<title>``: the title itself when it is a safe file name, else a safe form with a hash of it."""
    return Path(root) / safe_name(title, "project")


def _damaged(folder: Path, why: str) -> DamagedStateError:
    return DamagedStateError(f"{folder}: the pulled state is damaged ({why}).", "Run `annotate pull --full` to fetch it afresh.")


def read_manifest(folder: Path, title: str | None = None) -> dict[str, Any]:
    """The manifest of the latest pull in ``folder``; with ``title``, refused if it is another project's."""
    state, manifest = folder / STATE, folder / MANIFEST
    if not state.exists() or not manifest.exists():
        raise PulledDataError(f"{folder}: nothing has been pulled here yet.", "Run `annotate pull` first.")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _damaged(folder, f"{MANIFEST}: {exc}") from None
    if not isinstance(data, dict):
        raise _damaged(folder, f"{MANIFEST} is not an object")
    if title is not None and data.get("project_title") != title:
        raise ProjectError(
            f"{folder} holds the pulled data of project {data.get('project_title')!r}, not {title!r}.",
            "Check --project, or pull this project into another folder.",
        )
    return data


def pulled_from(manifest: Mapping[str, Any], url: str, project: Project) -> bool:
    """Whether the pull of ``manifest`` was of this very project: its id and creation time (kept since pulls
    record it), at whatever address the server answers now; the address too for an older pull's manifest."""
    if manifest.get("project_id") != project.id:
        return False
    created = manifest.get("project_created_at")
    if created and project.created_at:
        return bool(created == project.created_at)
    return bool(manifest.get("label_studio_url") == url)


def file_identity(path: Path) -> list[int]:
    """A file's size, times (ns) and inode: any write, cut or replacement changes one of them, and the change
    time cannot be set back (a time put back with ``touch`` changes it)."""
    found = path.stat()
    return [found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino]


def state_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    with (folder / STATE).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StateLines:
    """The state's lines as bytes, checked as they are read (``iter_state`` decodes them); open it with ``with``.

    ``task(n)`` decodes line ``n`` (from 0) again from the same open file, after the lines were read: a
    reader can look at some lines twice without holding them, and a pull replacing the state meanwhile
    (a new file, renamed over it) changes nothing it reads. A state that is not the one its manifest
    names (a truncated line, a lost newline) raises ``DamagedStateError`` once every line was read.
    """

    def __init__(self, folder: Path, title: str | None = None) -> None:
        self.folder = folder
        self.expected = read_manifest(folder, title).get("state_sha256")
        self.offsets: list[int] = []

    def __enter__(self) -> StateLines:
        try:
            self._file = (self.folder / STATE).open("rb")
        except OSError as exc:
            raise _damaged(self.folder, str(exc)) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        offset = 0
        self.offsets = []
        try:
            self._file.seek(0)
            for number, line in enumerate(self._file, start=1):
                digest.update(line)
                if not line.endswith(b"\n"):
                    raise _damaged(self.folder, f"{STATE} line {number} is cut off")
                self.offsets.append(offset)
                offset += len(line)
                yield line
        except OSError as exc:
            raise _damaged(self.folder, str(exc)) from None
        self.offsets.append(offset)  # where the last line ends
        if self.expected and digest.hexdigest() != self.expected:
            raise _damaged(self.folder, f"{STATE} differs from the one the last pull wrote")

    def task(self, number: int) -> dict[str, Any]:
        # Read at its offset, moving none: a forked child reading some lines shares this open file (``parallel``).
        start, end = self.offsets[number], self.offsets[number + 1]
        try:
            line = os.pread(self._file.fileno(), end - start, start)
        except OSError as exc:
            raise _damaged(self.folder, str(exc)) from None
        if len(line) != end - start:
            raise _damaged(self.folder, f"{STATE} line {number + 1} is cut off")
        return self.decode(line, number)

    def damaged(self, why: str) -> DamagedStateError:
        """The error for this state found damaged by a reader of its lines (``why``, naming the line)."""
        return _damaged(self.folder, why)

    def decode(self, line: bytes, number: int) -> dict[str, Any]:
        """Line ``number`` (from 0) as a task."""
        try:
            task = json.loads(line)
        except ValueError as exc:
            raise _damaged(self.folder, f"{STATE} line {number + 1}: {exc}") from None
        if not isinstance(task, dict) or "id" not in task:
            raise _damaged(self.folder, f"{STATE} line {number + 1} is not a task")
        return task


def iter_state(folder: Path, title: str | None = None) -> Iterator[dict[str, Any]]:
    """The merged tasks one by one, so later stages need not hold them all.

    The bytes read are hashed on the way: a state that is not the one its
    manifest names raises ``DamagedStateError`` at the end, before a stage can finish with it.
    """
    with StateLines(folder, title) as lines:
        for number, line in enumerate(lines):
            yield lines.decode(line, number)


def read_state(folder: Path, title: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The merged tasks and the manifest of the latest pull in ``folder``."""
    return list(iter_state(folder, title)), read_manifest(folder, title)


@dataclass
class Listing:
    """What the last pull listed (``index.json``): each task's listing and project, and when."""

    state_sha256: str | None = None
    tasks: dict[int, Listed] = field(default_factory=dict)
    projects: dict[int, int] = field(default_factory=dict)  # task -> the project (pool, queue, review) it is in
    listed_at: str | None = None  # ISO: the server's clock just before this listing began
    listed_fully_at: str | None = None  # ISO UTC: the last listing of every task (an incremental pull may list fewer)
    who: dict[int, Who] = field(default_factory=dict)  # as the pulled state holds each task (team status reads it)
    state_file: list[int] | None = None  # the state file as the pull left it (``file_identity``)


def read_listing(folder: Path) -> Listing:
    """``index.json`` as the last pull wrote it; empty if unreadable (the next pull then lists every task)."""
    try:
        data = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        tasks = {int(k): (v[0], int(v[1]), int(v[2])) for k, v in data["tasks"].items()}
        projects = {int(t): int(p) for p, ids in (data.get("projects") or {}).items() for t in ids}
        at, fully = data.get("listed_at"), data.get("listed_fully_at")
        who = {int(k): (None if v[0] is None else str(v[0]), tuple(int(u) for u in v[1])) for k, v in (data.get("who") or {}).items()}
        written = data.get("state_file")
        return Listing(str(data["state_sha256"]), tasks, projects, at if isinstance(at, str) else None,
                       fully if isinstance(fully, str) else None, who, [int(v) for v in written] if written else None)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return Listing()


# --- models and suggestions ------------------------------------------------------------

_MODEL_FOLDER = re.compile(r"crf-(\d+)")


def model_numbers(folder: Path) -> list[int]:
    """The numbers of the models saved in a project folder, ascending."""
    models = folder / MODELS
    if not models.is_dir():
        return []
    return sorted(int(m.group(1)) for p in models.iterdir() if (m := _MODEL_FOLDER.fullmatch(p.name)) and (p / MODEL_INFO).is_file())


def newest_model(folder: Path) -> Path | None:
    """The folder of a project's newest model, None if it has none."""
    found = model_numbers(folder)
    return folder / MODELS / f"crf-{found[-1]}" if found else None


Mention = tuple[str, int, int]  # label, start, end: a mention or a trigger, as suggestions are compared


@dataclass
class Suggestions:
    """What ``model suggest`` recorded for a project, over all its runs."""

    made: dict[int, list[Mention]] = field(default_factory=dict)  # prediction id -> its mentions and triggers
    control: set[str] = field(default_factory=set)  # articles withheld as the control slice
    first: str | None = None  # when the first run was (ISO time)


def iter_suggestions(folder: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Every line of every suggest run of a project, oldest run first, with its run's header."""
    runs = folder / SUGGESTIONS
    for path in sorted(runs.glob("*.jsonl")) if runs.is_dir() else []:
        with open(path, encoding="utf-8") as f:
            header: dict[str, Any] | None = None
            for n, line in enumerate(f, start=1):
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError
                except ValueError:
                    raise PulledDataError(f"{path}:{n}: not a line annotate writes.", "Move the file away and run `annotate model suggest` again.") from None
                if header is None:
                    header = row
                else:
                    yield header, row


def read_suggestions(folder: Path) -> Suggestions:
    found = Suggestions()
    for header, line in iter_suggestions(folder):
        at = str(header.get("at") or "")
        found.first = min(found.first or at, at)
        if line.get("withheld") == "control":
            found.control.add(str(line.get("article_id")))
        elif isinstance(line.get("prediction"), int):
            found.made[line["prediction"]] = codec.mention_keys(line.get("result"))
    return found


# --- article versions -------------------------------------------------------------


@dataclass
class Latest:
    """The latest version of an article and every task that holds it (normally one)."""

    version: int
    task_ids: list[int] = field(default_factory=list)
    texts: set[int] = field(default_factory=set)  # hashes of their texts: two means two different articles
    projects: list[int] = field(default_factory=list)  # the project of each task: a team project holds an article in several

    @property
    def duplicated(self) -> bool:
        """Two tasks of this version in one project (a duplicate import), not copies in a team's queues."""
        return len(set(self.projects)) < len(self.projects)

    @property
    def conflicting(self) -> bool:
        return len(self.texts) > 1


# A state line as pull writes it (``json.dumps`` of a task whose data push made) opens with the task's id and its
# article's id; an id with an escape in it (or any other line) is decoded to be read.
_ARTICLE_AT_START = re.compile(rb'\{"id": -?\d+, "data": \{"article_id": "([^"\\]+)", ')


def article_at_start(line: bytes) -> str | None:
    """The article of a state line, read off its opening bytes without decoding the line; None: decode it."""
    match = _ARTICLE_AT_START.match(line)
    try:
        return match.group(1).decode("utf-8") if match else None
    except UnicodeDecodeError:  # not as pull writes it: decoding the line says what is wrong
        return None


# What ``latest_versions`` reads of a task: its article, version, id, a hash of its text (this process's) and project.
TaskVersion = tuple[str, int, int, int, int]


def task_version(task: dict[str, Any]) -> TaskVersion:
    return (codec.article_id_of(task), codec.version_of(task), int(task.get("id") or 0), hash(codec.text_of(task)),
            int(task.get("project") or 0))


def latest_versions(tasks: Iterable[dict[str, Any]]) -> dict[str, Latest]:
    """The latest version of every article and the tasks holding it (a first, light pass over the tasks)."""
    return latest_of(map(task_version, tasks))


def latest_of(versions: Iterable[TaskVersion]) -> dict[str, Latest]:
    """``latest_versions`` from what ``task_version`` read of each task (a reader that decoded them once keeps that)."""
    latest: dict[str, Latest] = {}
    for aid, version, task_id, text, project in versions:
        seen = latest.get(aid)
        if seen is None or version > seen.version:
            seen = latest[aid] = Latest(version)
        if version == seen.version:
            seen.task_ids.append(task_id)
            seen.texts.add(text)
            seen.projects.append(project)
    return latest


@dataclass(frozen=True)
class Places:
    """Where each person's annotations belong in a team project, as the latest pull recorded it.

    A team project is a pool, one queue per annotator and a review project. An annotation
    belongs in the queue of its author, in the review project if a reviewer made it, and in
    the pool only if the owner (whose token pulled) made it. Anything else was made outside
    its author's place: on a studio without annotate's guard, by someone who opened another
    person's work. It is never a vote nor gold. A project one person labels has no places.
    """

    pool: int | None = None
    owner: int | None = None  # None: a pull that did not record it; the pool is then not judged
    queues: Mapping[int, int] = field(default_factory=dict)  # queue project -> its annotator
    review: int | None = None
    reviewers: frozenset[int] = frozenset()
    roster: str = ""  # the roster's title
    roster_annotations: int = 0  # annotations made in the roster (it holds no articles)

    @property
    def team(self) -> bool:
        return bool(self.queues) or self.review is not None

    @property
    def queue_projects(self) -> frozenset[int]:
        return frozenset(self.queues)

    def misplaced(self, project: int, author: int | None) -> str | None:
        """Why an annotation by ``author`` does not belong in ``project``, or None when it does."""
        if not self.team:
            return None
        who = f"user {author}" if author is not None else "an unknown user"
        if project == self.review:
            return None if author in self.reviewers else f"{who} is not a reviewer, and only reviewers decide in the review project"
        if project in self.queues:
            if author == self.queues[project]:
                return None
            return f"it is in the queue of user {self.queues[project]}, not in {who}'s own"
        if project == self.pool and self.owner is not None and author != self.owner:
            return f"it is in the pool, where nobody was given articles to label ({who} is not the project's owner)"
        return None


def places_of(manifest: dict[str, Any]) -> Places:
    """The places of a team project's annotations as a pull recorded them (none for a project one person labels)."""
    title = manifest.get("project_title")
    parts = {int(pid): str(t) for pid, t in (manifest.get("parts") or {}).items()}
    queues = {pid: u for pid, t in sorted(parts.items()) if title and (u := queue_owner(title, t)) is not None}
    review = next((pid for pid, t in parts.items() if title and t == review_title(title)), None)
    return Places(
        pool=_int_or_none(manifest.get("project_id")),
        owner=_int_or_none(manifest.get("owner_id")),
        queues=queues,
        review=review,
        reviewers=frozenset(int(u) for u in manifest.get("reviewers") or []),
        roster=roster_title(title) if title else "",
        roster_annotations=int(manifest.get("roster_annotations") or 0),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
