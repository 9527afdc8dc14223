"""Pull: fetch every task with its annotations from Label Studio into ``exports/``.

Layout of ``exports/<project>/``:

* ``state.jsonl``: the merged state, one task a line (what validate reads);
* ``manifest.json``: the manifest of the latest pull;
* ``pulls/<time>/tasks.jsonl`` + ``manifest.json``: the raw snapshot of each pull
  (everything fetched, as Label Studio sent it).

The first pull is one bulk export. Later pulls fetch only tasks changed since
the last one (an annotation created, edited or deleted changes its task's
``updated_at``) and merge them by task id; if tasks were deleted, the pull falls
back to a full export, so the merged state always equals a full pull. Nothing
is written until everything is fetched, and the state is replaced atomically:
a failed pull leaves the previous state intact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonlines

from . import __version__
from . import schema as schema_mod
from .client import LabelStudioClient
from .errors import AnnotateError, ProjectError
from .files import write_json, write_jsonl
from .models import Schema
from .push import find_project

EXPORTS = Path("exports")
Progress = Callable[[int, int], None]


@dataclass
class PullReport:
    folder: Path
    snapshot: Path
    mode: str  # "full" or "incremental"
    fetched: int  # tasks fetched by this pull
    tasks: int  # tasks in the merged state
    annotations: int
    cancelled: int
    manifest: dict[str, Any]


def project_folder(title: str, root: Path = EXPORTS) -> Path:
    """``exports/<title>``, with anything unsafe in a file name replaced (Arabic letters stay)."""
    safe = re.sub(r"[^\w.-]+", "-", title, flags=re.UNICODE).strip("-.") or "project"
    return root / safe


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the latest pull in ``folder``."""
    state, manifest = folder / "state.jsonl", folder / "manifest.json"
    if not state.exists() or not manifest.exists():
        raise AnnotateError(f"{folder}: nothing has been pulled here yet.", "Run `annotate pull` first.")
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnnotateError(f"{folder}: the pulled state is damaged ({exc}).", "Run `annotate pull --full`.") from None


def iter_state(folder: Path) -> Iterator[dict[str, Any]]:
    """The merged tasks one by one, so later stages need not hold them all."""
    read_manifest(folder)
    try:
        with jsonlines.open(folder / "state.jsonl") as reader:
            yield from reader
    except (OSError, ValueError) as exc:
        raise AnnotateError(f"{folder}: the pulled state is damaged ({exc}).", "Run `annotate pull --full`.") from None


def read_state(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The merged tasks and the manifest of the latest pull in ``folder``."""
    return list(iter_state(folder)), read_manifest(folder)


def _latest_time(tasks: Iterable[dict[str, Any]]) -> str | None:
    """The newest change Label Studio recorded: the server's clock, never ours."""
    times = [t.get("updated_at") for t in tasks]
    times += [a.get("updated_at") for t in tasks for a in t.get("annotations") or []]
    return max((x for x in times if x), default=None)


def _annotation_counts(tasks: Iterable[dict[str, Any]]) -> tuple[int, int]:
    annotations = cancelled = 0
    for task in tasks:
        for annotation in task.get("annotations") or []:
            annotations += 1
            cancelled += bool(annotation.get("was_cancelled"))
    return annotations, cancelled


def _keep(task: dict[str, Any]) -> dict[str, Any]:
    """The fields of a task that later stages use; the data manager adds many derived ones."""
    keys = ("id", "data", "annotations", "drafts", "meta", "created_at", "updated_at", "project")
    return {k: task[k] for k in keys if k in task}


def pull(
    client: LabelStudioClient,
    *,
    title: str,
    schema: Schema | None = None,
    root: Path = EXPORTS,
    full: bool = False,
    on_progress: Progress | None = None,
) -> PullReport:
    """Fetch the project's tasks and annotations; incremental unless ``full`` or nothing was pulled before."""
    project = find_project(client, title)
    if project is None:
        raise ProjectError(f"Label Studio has no project titled {title!r}.", "Check --project, or push articles first.")
    schema = schema or schema_mod.load()
    folder = project_folder(title, root)
    previous: dict[int, dict[str, Any]] = {}
    last: dict[str, Any] = {}
    if not full and (folder / "manifest.json").exists():
        tasks, last = read_state(folder)
        if last.get("project_id") != project.id:
            last = {}  # a project of the same title was re-created: start afresh
        else:
            previous = {int(t["id"]): t for t in tasks}
    server = client.server_info()
    current = client.get_project(project.id)  # fresh task count, after any change
    mode = "incremental" if last.get("watermark") else "full"
    fetched: list[dict[str, Any]]
    if mode == "incremental":
        fetched = []
        for task in client.iter_tasks(project.id, annotations=True, updated_since=last["watermark"]):
            fetched.append(_keep(task))
            if on_progress:
                on_progress(len(fetched), 0)
        merged = dict(previous)
        merged.update({int(t["id"]): t for t in fetched})
        if len(merged) != current.task_number:
            # Tasks were deleted: only a full export says which.
            mode = "full"
    if mode == "full":
        fetched = [_keep(t) for t in client.export_tasks(project.id)]
        merged = {int(t["id"]): t for t in fetched}
        if on_progress:
            on_progress(len(fetched), len(fetched))
    tasks = [merged[i] for i in sorted(merged)]
    annotations, cancelled = _annotation_counts(tasks)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    manifest = {
        "tool_version": __version__,
        "label_studio_url": client.url,
        "label_studio_version": server.version,
        "project_id": project.id,
        "project_title": project.title,
        "label_config_sha256": schema_mod.config_hash(current.label_config),
        "schema_name": schema.name,
        "schema_sha256": schema.sha256,
        "schema_config_matches": current.label_config.strip() == schema_mod.label_config(schema).strip(),
        "pulled_at": now,
        "mode": mode,
        "watermark": _latest_time(tasks) or last.get("watermark"),
        "previous_watermark": last.get("watermark"),
        "counts": {
            "tasks_fetched": len(fetched),
            "tasks": len(tasks),
            "annotations": annotations,
            "cancelled": cancelled,
        },
    }
    snapshot = folder / "pulls" / now.replace(":", "").replace("-", "").replace(".", "")
    # The snapshot first, the state last: a crash in between leaves the old state whole.
    write_jsonl(snapshot / "tasks.jsonl", fetched)
    write_json(snapshot / "manifest.json", manifest)
    write_jsonl(folder / "state.jsonl", tasks)
    write_json(folder / "manifest.json", manifest)
    return PullReport(folder, snapshot, mode, len(fetched), len(tasks), annotations, cancelled, manifest)

