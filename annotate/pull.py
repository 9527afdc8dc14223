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
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import jsonlines

from . import __version__
from . import schema as schema_mod
from .client import LabelStudioClient
from .errors import AnnotateError, ProjectError
from .files import safe_name, write_json, write_jsonl
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
    return root / safe_name(title, "project")


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


def _latest_time(tasks: list[dict[str, Any]]) -> str | None:
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


_LINE_ID = re.compile(r'\{"id":\s*(\d+)')


def _merge_into(state: Path, changed: dict[int, dict[str, Any]], out: IO[str]) -> tuple[int, list[dict[str, Any]]]:
    """Write the old state with changed tasks replaced and new ones appended; return the task count and the replaced tasks.

    Unchanged lines are copied as they are (not parsed, not re-encoded): an
    incremental pull costs what changed, plus one copy of the file.
    """
    pending = dict(changed)
    replaced = []
    count = 0
    with state.open(encoding="utf-8") as old:
        for line in old:
            match = _LINE_ID.match(line)
            task_id = int(match.group(1)) if match else int(json.loads(line)["id"])
            if task_id in pending:
                replaced.append(json.loads(line))
                line = json.dumps(pending.pop(task_id), ensure_ascii=False) + "\n"
            out.write(line)
            count += 1
    for task_id in sorted(pending):  # new tasks: their ids are above the old ones
        out.write(json.dumps(pending[task_id], ensure_ascii=False) + "\n")
        count += 1
    return count, replaced


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
    last: dict[str, Any] = {}
    if not full and (folder / "manifest.json").exists():
        last = read_manifest(folder)
        if last.get("project_id") != project.id or "counts" not in last:
            last = {}  # a project of the same title was re-created: start afresh
    server = client.server_info()
    current = client.get_project(project.id)  # fresh task count, after any change
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".state.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        mode = "incremental" if last.get("watermark") else "full"
        fetched: list[dict[str, Any]] = []
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if mode == "incremental":
                for task in client.iter_tasks(project.id, annotations=True, updated_since=last["watermark"]):
                    fetched.append(_keep(task))
                    if on_progress:
                        on_progress(len(fetched), 0)
                count, replaced = _merge_into(folder / "state.jsonl", {int(t["id"]): t for t in fetched}, out)
                if count != current.task_number:
                    mode = "full"  # tasks were deleted: only a full export says which
                else:
                    before = _annotation_counts(replaced)
                    after = _annotation_counts(fetched)
                    annotations = last["counts"]["annotations"] - before[0] + after[0]
                    cancelled = last["counts"]["cancelled"] - before[1] + after[1]
                    watermark = max(filter(None, [last.get("watermark"), _latest_time(fetched)]))
            if mode == "full":
                out.seek(0)
                out.truncate()
                fetched = sorted((_keep(t) for t in client.export_tasks(project.id)), key=lambda t: int(t["id"]))
                for task in fetched:
                    out.write(json.dumps(task, ensure_ascii=False) + "\n")
                count = len(fetched)
                annotations, cancelled = _annotation_counts(fetched)
                watermark = _latest_time(fetched) or last.get("watermark")
                if on_progress:
                    on_progress(count, count)
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
            "watermark": watermark,
            "previous_watermark": last.get("watermark"),
            "counts": {"tasks_fetched": len(fetched), "tasks": count, "annotations": annotations, "cancelled": cancelled},
        }
        snapshot = folder / "pulls" / now.replace(":", "").replace("-", "").replace(".", "")
        # The snapshot first, the state last: a crash in between leaves the old state whole.
        write_jsonl(snapshot / "tasks.jsonl", fetched)
        write_json(snapshot / "manifest.json", manifest)
        os.replace(tmp, folder / "state.jsonl")
        write_json(folder / "manifest.json", manifest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PullReport(folder, snapshot, mode, len(fetched), count, annotations, cancelled, manifest)
