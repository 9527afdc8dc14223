"""Tasks and their annotations: listed by id pages of the data manager, imported, edited, deleted."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import LabelStudioError, ServerError
from ..models import Listed, TaskRef, Who
from . import codec
from .http import BULK_TIMEOUT, id_chunks, Http


# A task nobody has started: no annotation, no skip, no draft (anyone's: ``draft_exists``).
NOTHING_DONE = [
    {"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0},
    {"filter": "filter:tasks:cancelled_annotations", "operator": "equal", "type": "Number", "value": 0},
    {"filter": "filter:tasks:draft_exists", "operator": "equal", "type": "Boolean", "value": False},
]


# Started: a task with an annotation, or with a skip (the data manager's filters take one conjunction, so two listings).
STARTED = (
    [{"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0}],
    [{"filter": "filter:tasks:cancelled_annotations", "operator": "greater", "type": "Number", "value": 0}],
)


def _updated_since(since: datetime | None) -> list[dict[str, Any]]:
    """The data manager filter of tasks whose ``updated_at`` is ``since`` or later (none: every task)."""
    if since is None:
        return []
    value = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [{"filter": "filter:tasks:updated_at", "operator": "greater_or_equal", "type": "Datetime", "value": value}]


def _listed(task: dict[str, Any]) -> Listed:
    return task.get("updated_at"), int(task.get("total_annotations") or 0), int(task.get("cancelled_annotations") or 0)


class Tasks(Http):
    """Tasks and their annotations: listed by id pages of the data manager, imported, edited, deleted."""

    def iter_tasks(
        self,
        project_id: int,
        *,
        page_size: int = 1000,
        annotations: bool = False,
        include: str | None = None,
        after_id: int | None = None,
        ids: Sequence[int] | None = None,
        skip: Sequence[int] = (),
        where: Sequence[dict[str, Any]] = (),
        on_page: Callable[[int, int], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every task of a project (or only those with the given ``ids``, or but those in ``skip``), in id order.

        ``where``: data manager filters every task listed must pass, checked by Label Studio (e.g. ``NOTHING_DONE``).
        ``annotations`` includes each task's annotations; ``include`` names the only
        task fields to send; ``on_page`` is told how many tasks came so far, of how many.
        ``skip`` travels as ranges of consecutive ids (about one per import batch); if
        there are too many for a short query, nothing is skipped.
        """
        if ids is not None:
            for chunk in id_chunks(ids):
                selected = {"selectedItems": {"all": False, "included": chunk}}
                yield from self._task_pages(project_id, selected, list(where), after_id, page_size, annotations, include, None)
            return
        runs: list[tuple[int, int]] = []
        for task_id in sorted(set(skip)):
            if runs and task_id == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], task_id)
            else:
                runs.append((task_id, task_id))
        # About 3 KB of query string, as many as the 500 ids above.
        skipped = [
            {"filter": "filter:tasks:id", "operator": "not_in", "type": "Number", "value": {"min": a, "max": b}}
            for a, b in (runs if len(runs) <= 25 else [])
        ]
        yield from self._task_pages(project_id, {}, [*skipped, *where], after_id, page_size, annotations, include, on_page)

    def _task_pages(
        self,
        project_id: int,
        query: dict[str, Any],
        filters: list[dict[str, Any]],
        after_id: int | None,
        page_size: int,
        annotations: bool,
        include: str | None,
        on_page: Callable[[int, int], None] | None,
    ) -> Iterator[dict[str, Any]]:
        """Pages by id: each request asks for the ids above the last one seen.

        Page numbers break while tasks are deleted (annotators, a concurrent push
        removing duplicates): every later page shifts and a task is skipped, and a
        page Label Studio answers short (a task deleted between its two queries)
        makes the next page number "invalid".
        """
        last = after_id
        seen = 0
        while True:
            above = [] if last is None else [{"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": last}]
            page_query: dict[str, Any] = {**query, "ordering": ["tasks:id"]}
            if above or filters:
                page_query["filters"] = {"conjunction": "and", "items": [*above, *filters]}
            params: dict[str, Any] = {
                "project": project_id,
                "page": 1,
                "page_size": page_size,
                "query": json.dumps(page_query, separators=(",", ":")),
            }
            if annotations:
                params["fields"] = "all"
            if include:
                params["include"] = include  # only these task fields: much less to send than the texts
            # "left" counts what is left above ``last``: a server that caps page_size still gets paged through.
            tasks, left = self._task_page(project_id, params)
            yield from tasks
            seen += len(tasks)
            if on_page:
                on_page(seen, seen - len(tasks) + left)
            if not tasks or len(tasks) >= left:
                return
            last = int(tasks[-1]["id"])

    def list_task_changes(
        self, project_id: int, on_page: Callable[[int, int], None] | None = None, since: datetime | None = None
    ) -> dict[int, Listed]:
        """Every task's ``updated_at`` and annotation counts, without texts: what pull compares to know what changed.

        Saving or deleting an annotation (or a prediction) sets its task's
        ``updated_at``; the counts catch what a bulk action changes without it.
        ``since`` (UTC): only the tasks whose ``updated_at`` is that or later, as Label Studio filters them.
        """
        fields = "id,updated_at,total_annotations,cancelled_annotations"
        return {
            int(task["id"]): _listed(task)
            for task in self.iter_tasks(project_id, include=fields, page_size=5000, on_page=on_page, where=_updated_since(since))
        }

    def list_task_authors(
        self, project_id: int, *, since: datetime | None = None, ids: Sequence[int] | None = None,
        where: Sequence[dict[str, Any]] = (),
    ) -> dict[int, tuple[Listed, Who]]:
        """``list_task_changes`` (or only the tasks ``ids``, or those passing ``where``) with each task's article id
        and its annotations' authors.

        One listing gives what team status once took three for: ``annotators`` is computed
        only when all fields are asked for, and ``include`` still sends just these.
        """
        fields = "id,meta,updated_at,total_annotations,cancelled_annotations,annotators"
        rows: dict[int, tuple[Listed, Who]] = {}
        without_meta: list[int] = []
        tasks = self.iter_tasks(
            project_id, annotations=True, include=fields, page_size=5000, ids=ids, where=[*_updated_since(since), *where]
        )
        for task in tasks:
            task_id, meta = int(task["id"]), task.get("meta") or {}
            authors = tuple(sorted({int(u) for u in task.get("annotators") or [] if isinstance(u, int)}))
            rows[task_id] = (_listed(task), (codec.task_ref(task_id, meta).article_id, authors))
            if "article_id" not in meta:
                without_meta.append(task_id)
        if without_meta:  # imported some other way: the article id is in its data
            for task in self.iter_tasks(project_id, include="id,data", ids=without_meta):
                task_id = int(task["id"])
                listed, (_, authors) = rows[task_id]
                rows[task_id] = (listed, (codec.task_ref(task_id, task.get("data") or {}).article_id, authors))
        return rows

    def list_started_authors(self, project_id: int) -> dict[int, tuple[Listed, Who]]:
        """``list_task_authors`` of the tasks with an annotation or a skip only: Label Studio's time goes by the
        task listed (about 0.3 ms each), whatever is asked of it, so the others are best not listed."""
        started: dict[int, tuple[Listed, Who]] = {}
        for where in STARTED:
            started.update(self.list_task_authors(project_id, where=where))
        return started

    def annotation_authors(self, project_id: int, ids: Sequence[int]) -> dict[int, list[tuple[int | None, bool]]]:
        """Each annotation of the tasks ``ids`` that still exist: its author, and whether it is a skip. A task's
        ``annotators`` name everyone with an annotation, skips too, without saying whose was a skip."""
        fields = "id,annotations,completed_by,was_cancelled"  # ``include`` reaches into the annotations too: no results
        return {
            int(task["id"]): [
                (codec.author_of(a), bool(a.get("was_cancelled"))) for a in task.get("annotations") or [] if isinstance(a, dict)
            ]
            for task in self.iter_tasks(project_id, annotations=True, include=fields, ids=ids)
        }

    def task_refs(self, project_id: int, *, after_id: int | None = None, skip: Sequence[int] = ()) -> list[TaskRef]:
        """What push needs of every task (with an id above ``after_id``, not in ``skip``): its id and the article id, version and hash.

        Push stores them in each task's ``meta`` so they can be listed without the
        texts; a task imported some other way is read from its ``data`` instead.
        """
        refs: list[TaskRef] = []
        without_meta: list[int] = []
        for task in self.iter_tasks(project_id, include="id,meta", after_id=after_id, skip=skip, page_size=5000):
            meta = task.get("meta") or {}
            if "article_id" in meta:
                refs.append(codec.task_ref(int(task["id"]), meta))
            else:
                without_meta.append(int(task["id"]))
        if without_meta:
            for task in self.iter_tasks(project_id, include="id,data", ids=without_meta):
                refs.append(codec.task_ref(int(task["id"]), task.get("data") or {}))
        return refs

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks in one bulk request; return their ids.

        Not retried once sent: whether a broken import landed is for the caller
        to find out (push re-reads the project before it imports again).
        """
        body = self._call(
            "POST",
            f"/api/projects/{project_id}/import",
            f"import {len(tasks)} task(s) into project {project_id}",
            params={"return_task_ids": "true", "commit_to_project": "true"},
            json=tasks,
            retry=False,
            timeout=BULK_TIMEOUT,
        )
        ids = body.get("task_ids") if isinstance(body, dict) else None
        if ids is None or len(ids) != len(tasks):
            raise LabelStudioError(
                f"Label Studio imported {body.get('task_count') if isinstance(body, dict) else '?'} of"
                f" {len(tasks)} task(s) into project {project_id} without saying which; run the push again."
            )
        return [int(i) for i in ids]

    def get_task(self, task_id: int) -> dict[str, Any]:
        return self._call("GET", f"/api/tasks/{task_id}/", f"read task {task_id}")

    def create_annotation(self, task_id: int, result: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/api/tasks/{task_id}/annotations/",
            f"save an annotation on task {task_id}",
            json={"result": result, **fields},
        )

    def update_annotation(self, annotation_id: int, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/api/annotations/{annotation_id}/", f"update annotation {annotation_id}", json=fields)

    def delete_annotation(self, annotation_id: int) -> None:
        self._call("DELETE", f"/api/annotations/{annotation_id}/", f"delete annotation {annotation_id}")

    def delete_task(self, task_id: int) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}/", f"delete task {task_id}")

    def _task_page(self, project_id: int, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """One page of the data manager's task list: its tasks and how many match in all."""
        attempt = 0
        while True:
            try:
                body = self._call("GET", "/api/tasks/", f"list the tasks of project {project_id}", params=params, expect=dict)
                tasks, total = body.get("tasks"), body.get("total")
                if (
                    not isinstance(tasks, list)
                    or not all(isinstance(t, dict) and isinstance(t.get("id"), int) for t in tasks)
                    or not isinstance(total, int)
                ):
                    # A page without its tasks would read as a project without tasks: never take it as one.
                    raise self.nonsense("GET", "/api/tasks/", body)
                return tasks, total
            except ServerError as exc:
                # Label Studio reads a page in two queries and answers 500 when a task of
                # the page is deleted in between (a concurrent push removing duplicates).
                attempt += 1
                if exc.status != 500 or attempt >= 3:
                    raise
                time.sleep(self.backoff)

    def task_work(self, project_id: int, ids: Sequence[int]) -> dict[int, tuple[int, int, bool]]:
        """What annotators did on each task of ``ids`` that still exists: (annotations, skipped annotations, draft).

        Deleted tasks are absent from the answer. Drafts count whoever saved them: the
        tasks list's ``drafts`` field shows only the caller's own, and ``draft_exists``
        (everyone's) is computed only when the query sorts or filters on it, hence the
        ordering. A task whose draft state is not reported counts as having one.
        """
        work: dict[int, tuple[int, int, bool]] = {}
        fields = "id,total_annotations,cancelled_annotations,draft_exists"
        for chunk in id_chunks(ids):
            query = {"ordering": ["tasks:draft_exists"], "selectedItems": {"all": False, "included": chunk}}
            # One page holds the whole chunk: page numbers over a shrinking set could skip tasks.
            params = {
                "project": project_id, "page": 1, "page_size": len(chunk), "query": json.dumps(query), "include": fields
            }
            tasks, _ = self._task_page(project_id, params)
            for task in tasks:
                work[int(task["id"])] = (
                    int(task.get("total_annotations") or 0),
                    int(task.get("cancelled_annotations") or 0),
                    bool(task.get("draft_exists", True)),
                )
        return work

    def delete_unworked_tasks(self, project_id: int, ids: Sequence[int]) -> int:
        """Delete those of the tasks ``ids`` with no annotation, skipped annotation or draft; return how many went.

        One Data Manager action (``delete_tasks``) per 1,000 tasks. The condition travels
        as filters, so Label Studio checks it when it deletes, not when the caller last
        looked. Tasks already deleted are not found, which is no error.
        """
        deleted = 0
        nothing_done = {"conjunction": "and", "items": NOTHING_DONE}
        # Never an empty selection: to Label Studio that means every task of the project.
        for start in range(0, len(ids), 1000):
            chunk = [int(i) for i in ids[start : start + 1000]]
            body = self._call(
                "POST",
                "/api/dm/actions/",
                f"delete {len(chunk)} duplicate task(s) of project {project_id}",
                params={"id": "delete_tasks", "project": project_id},
                json={"selectedItems": {"all": False, "included": chunk}, "filters": nothing_done},
                retry=True,  # the same selection twice deletes nothing more
            )
            deleted += int(body.get("processed_items") or 0) if isinstance(body, dict) else 0
        return deleted

    def update_task_data(self, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Replace a task's data (the team roster keeps one member per task)."""
        return self._call("PATCH", f"/api/tasks/{task_id}/", f"update task {task_id}", json={"data": data})
