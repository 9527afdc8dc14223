"""Exports: the bulk JSON export and the export snapshots a full pull goes through."""

from __future__ import annotations

from typing import Any

from ..errors import LabelStudioError
from .http import BULK_TIMEOUT, Http


class Exports(Http):
    """Exports: the bulk JSON export and the export snapshots a full pull goes through."""

    def export_tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task with its annotations in one bulk export (Label Studio's JSON export)."""
        body = self._call(
            "GET",
            f"/api/projects/{project_id}/export",
            f"export project {project_id}",
            params={"exportType": "JSON", "download_all_tasks": "true"},
            timeout=BULK_TIMEOUT,
        )
        if not isinstance(body, list):
            raise LabelStudioError(f"Label Studio's export of project {project_id} is not a list of tasks.")
        return body

    def create_snapshot(self, project_id: int, title: str) -> dict[str, Any]:
        """Ask Label Studio to write every task with every annotation (skipped and ground truth too) to a file.

        With a task queue (Redis) it works in the background; without one, as in the
        embedded studio, the request returns when the file is written. Not retried: a
        broken request may have made the snapshot, which ``snapshots`` then finds.
        """
        path = f"/api/projects/{project_id}/exports/"
        return self._snapshot_shape("POST", path, self._call(
            "POST",
            path,
            f"start an export snapshot of project {project_id}",
            json={"title": title, "annotation_filter_options": {"usual": True, "ground_truth": True, "skipped": True}},
            retry=False,
            timeout=BULK_TIMEOUT,
        ))

    def _snapshot_shape(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """A snapshot as Label Studio describes one: an object with an integer id and a status."""
        if not isinstance(body, dict) or not isinstance(body.get("id"), int) or not isinstance(body.get("status"), str):
            raise self.nonsense(method, path, body)
        return body

    def snapshots(self, project_id: int) -> list[dict[str, Any]]:
        """The project's export snapshots, newest first (id, title, status, created_at)."""
        path = f"/api/projects/{project_id}/exports/"
        body = self._call("GET", path, f"list the export snapshots of project {project_id}", expect=list)
        return [self._snapshot_shape("GET", path, s) for s in body]

    def snapshot(self, project_id: int, snapshot_id: int) -> dict[str, Any]:
        path = f"/api/projects/{project_id}/exports/{snapshot_id}"
        return self._snapshot_shape("GET", path, self._call("GET", path, f"read export snapshot {snapshot_id} of project {project_id}"))

    def download_snapshot(self, project_id: int, snapshot_id: int) -> list[dict[str, Any]]:
        body = self._call(
            "GET",
            f"/api/projects/{project_id}/exports/{snapshot_id}/download",
            f"download export snapshot {snapshot_id} of project {project_id}",
            params={"exportType": "JSON"},
            timeout=BULK_TIMEOUT,
        )
        if not isinstance(body, list):
            raise LabelStudioError(f"Label Studio's snapshot {snapshot_id} of project {project_id} is not a list of tasks.")
        return body

    def delete_snapshot(self, project_id: int, snapshot_id: int) -> None:
        self._call(
            "DELETE", f"/api/projects/{project_id}/exports/{snapshot_id}", f"delete export snapshot {snapshot_id} of project {project_id}"
        )
