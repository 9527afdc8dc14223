"""``annotate model suggest``: the newest model's mentions, as pre-annotations on the tasks nobody has started.

Where: the project itself when one person labels it, each annotator's queue for a team (the
pool and the review project get none). Which tasks: those with no annotation, no skip and no
draft, as Label Studio reports them when suggest runs. Withheld, and recorded as such:

* the articles of the test split (the split ``export`` makes, with the model's seed and
  ratios): the taggers' figures and the researchers' test set stay free of them;
* a control slice, ``share`` of the articles (10% by default), chosen by a hash of the article
  id alone: the same articles in every queue and every run, so that ``model report`` can
  compare time and agreement with and without suggestions.

A task already holding this model's prediction keeps it; an older model's prediction
(a version named ``annotate-crf-…``) on an unstarted task is rewritten in place with the new
model's mentions, keeping its id (an editor opened on it still submits); any other prediction
(an adjudication merge, another tool's) is left alone. Each project is then set to show this
model's predictions to whoever opens a task.

Every run writes ``exports/<project>/suggestions/<time>.jsonl``: a first line saying which
model, when and with which share, then one line per unstarted task: its project, task and article,
the prediction made (its id and result) or why none was (``withheld``: test, control, current).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import schema as schema_mod
from ..errors import storage_error
from ..export.documents import split_of
from ..files import write_jsonl
from ..labelstudio.client import LabelStudioClient
from ..labelstudio.tasks import NOTHING_DONE
from ..queues import parts
from ..store import EXPORTS, SUGGESTIONS, project_folder
from .tagger import VERSION_PREFIX, Found, Tagger, find_all, newest

CONTROL_SHARE = 0.1
BATCH = 5000  # predictions per bulk request: each costs Label Studio about as much as the whole project, so few and large

Progress = Callable[[int, int], None]


def in_control(article_id: str, share: float) -> bool:
    """Whether an article is in the control slice: a hash of its id alone, so every queue and run agrees."""
    digest = hashlib.sha256(f"annotate-control\0{article_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def results(found: list[Found]) -> list[dict[str, Any]]:
    """Mentions as Label Studio's result list, each region with its score (the editor shows it)."""
    return [
        {
            "id": f"s{n}",
            "from_name": schema_mod.ENTITY_TAG if f.kind == "entity" else schema_mod.TRIGGER_TAG,
            "to_name": schema_mod.TEXT_TAG,
            "type": "labels",
            "value": {"start": f.start, "end": f.end, "text": f.text, "labels": [f.label]},
            "score": f.score,
        }
        for n, f in enumerate(found)
    ]


def score(found: list[Found]) -> float:
    """A prediction's score: its least sure mention (1.0 for none found), so sorting by it shows the doubtful first."""
    return min((f.score for f in found), default=1.0)


@dataclass
class SuggestReport:
    version: str
    projects: int = 0
    suggested: int = 0  # tasks given a prediction by this run
    replaced: int = 0  # older models' predictions rewritten with this model's mentions
    withheld: dict[str, int] = field(default_factory=dict)  # why tasks got none: started, test, control, current
    record: Path | None = None


def suggest(
    client: LabelStudioClient,
    title: str,
    *,
    root: Path = EXPORTS,
    share: float = CONTROL_SHARE,
    tagger: Tagger | None = None,
    on_progress: Progress = lambda done, total: None,
) -> SuggestReport:
    """Send the newest model's mentions (or ``tagger``'s) to every task nobody has started (see the module's docstring)."""
    tagger = tagger or Tagger(newest(title, root))
    version = tagger.version
    split = tagger.info["split"]
    project = client.project_titled(title)
    found = {p.title: p for p in client.list_projects(title=title)}  # one listing for every queue, as pull reads them
    queues, _ = parts(title, found)
    targets = [found[t] for _, t in sorted(queues.items())] or [project]
    report = SuggestReport(version, projects=len(targets))
    lines: list[dict[str, Any]] = []
    withheld: dict[str, int] = {}
    plans: list[tuple[int, list[dict[str, Any]]]] = []
    total = 0
    for target in targets:
        # Only the tasks nobody has started, as Label Studio judges them when it lists them.
        tasks = list(client.iter_tasks(target.id, include="id,data", where=NOTHING_DONE))
        started = client.get_project(target.id).task_number - len(tasks)
        if started > 0:
            withheld["started"] = withheld.get("started", 0) + started
        ours = _predictions_by_task(client, target.id)
        todo = []
        for task in tasks:
            task_id = int(task["id"])
            data = task.get("data") or {}
            article_id = str(data.get("article_id") or f"task-{task_id}")
            line = {"project": target.id, "task": task_id, "article_id": article_id}
            reason = (
                "test" if split_of(str(data.get("text") or ""), split["seed"], split["ratios"]) == "test"
                else "control" if in_control(article_id, share)
                else "current" if version in ours.get(task_id, {})
                else None
            )
            if reason:
                withheld[reason] = withheld.get(reason, 0) + 1
                lines.append({**line, "withheld": reason})
                continue
            todo.append((task, line))
        total += len(todo)
        plans.append((target.id, [
            {**line, "withheld": None, "text": str((task.get("data") or {}).get("text") or ""),
             "stale": [pid for v, pid in ours.get(int(task["id"]), {}).items() if v != version]}
            for task, line in todo
        ]))
    # Each text is tagged once (a team's queues hold the same articles), on every core, while what
    # is tagged already goes to Label Studio.
    texts = list({line["text"]: None for _, planned in plans for line in planned})
    workers = find_all(tagger, texts)
    tagged = zip(texts, workers)
    on_progress(0, total)
    try:
        _send_all(client, plans, version, tagged, report, lines, on_progress, total)
    finally:
        workers.close()  # stops the workers if sending failed
    report.withheld = withheld
    report.record = _record(title, root, version, share, tagger, lines)
    return report


def _send_all(
    client: LabelStudioClient, plans: list[tuple[int, list[dict[str, Any]]]], version: str,
    tagged: Iterator[tuple[str, list[Found]]], report: SuggestReport,
    lines: list[dict[str, Any]], on_progress: Progress, total: int,
) -> None:
    """Each project's predictions: older ones rewritten, new ones in bulk batches as their texts are tagged."""
    found: dict[str, list[Found]] = {}
    sent = 0
    for project_id, planned in plans:
        fresh: list[dict[str, Any]] = []

        def send(batch: list[dict[str, Any]]) -> None:
            nonlocal sent
            client.import_predictions(project_id, [
                {"task": line["task"], "model_version": version, "score": line["score"], "result": line["result"]}
                for line in batch
            ])
            sent += len(batch)
            on_progress(sent, total)

        for line in planned:
            text = line.pop("text")
            while text not in found:
                done, mentions = next(tagged)
                found[done] = mentions
            line.update({"score": score(found[text]), "result": results(found[text])})
            stale = line.pop("stale")
            if stale:
                # An older model's prediction is rewritten in place, never deleted: an editor opened on it
                # before this run holds its id, and Label Studio refuses a submission naming a deleted one.
                client.update_prediction(max(stale), model_version=version, score=line["score"], result=line["result"])
                report.replaced += 1
                sent += 1
                on_progress(sent, total)
            else:
                fresh.append(line)
                if len(fresh) == BATCH:
                    send(fresh)
                    fresh = []
        if fresh:
            send(fresh)
        if planned:
            made = _predictions_by_task(client, project_id)
            for line in planned:
                line["prediction"] = made.get(line["task"], {}).get(version)
            client.update_project(project_id, model_version=version, show_collab_predictions=True)
        report.suggested += len(planned)
        lines.extend(planned)


def _predictions_by_task(client: LabelStudioClient, project_id: int) -> dict[int, dict[str, int]]:
    """Our models' predictions in a project: task -> version -> prediction id."""
    out: dict[int, dict[str, int]] = {}
    for p in client.project_predictions(project_id):
        version = str(p.get("model_version") or "")
        if version.startswith(VERSION_PREFIX) and isinstance(p.get("task"), int):
            out.setdefault(int(p["task"]), {})[version] = int(p["id"])
    return out


def _record(title: str, root: Path, version: str, share: float, tagger: Tagger, lines: list[dict[str, Any]]) -> Path:
    now = datetime.now(timezone.utc)
    folder = project_folder(title, root) / SUGGESTIONS
    path = folder / (now.strftime("%Y%m%dT%H%M%S%fZ") + ".jsonl")
    header = {"version": version, "at": now.isoformat(timespec="seconds"), "control_share": share, "split": tagger.info["split"]}
    try:
        write_jsonl(path, [header, *lines])
    except OSError as exc:
        raise storage_error(exc, path) from None
    return path
