"""Predictions: the pre-annotations annotators see (adjudication sends disputes as them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import LabelStudioError
from .http import BULK_TIMEOUT, Http


class Predictions(Http):
    """Predictions: the pre-annotations annotators see (adjudication sends disputes as them)."""

    def list_predictions(self, task_id: int) -> list[dict[str, Any]]:
        body = self._call("GET", "/api/predictions/", f"list the predictions of task {task_id}", params={"task": task_id})
        return body.get("results", []) if isinstance(body, dict) else body

    def create_prediction(self, task_id: int, result: list[dict[str, Any]], model_version: str, score: float | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"task": task_id, "result": result, "model_version": model_version}
        if score is not None:
            payload["score"] = score
        return self._call("POST", "/api/predictions/", f"save a pre-annotation on task {task_id}", json=payload)

    def update_prediction(self, prediction_id: int, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/api/predictions/{prediction_id}/", f"update prediction {prediction_id}", json=fields)

    def delete_prediction(self, prediction_id: int) -> None:
        self._call("DELETE", f"/api/predictions/{prediction_id}/", f"delete prediction {prediction_id}")

    def project_predictions(self, project_id: int) -> list[dict[str, Any]]:
        """Every prediction of a project (Label Studio sends them in one list, results included)."""
        body = self._call(
            "GET", "/api/predictions/", f"list the predictions of project {project_id}", params={"project": project_id},
            timeout=BULK_TIMEOUT,
        )
        found = body.get("results", []) if isinstance(body, dict) else body
        if not isinstance(found, list) or not all(isinstance(p, dict) and isinstance(p.get("id"), int) for p in found):
            raise self.nonsense("GET", "/api/predictions/", body)
        return found

    def import_predictions(self, project_id: int, predictions: Sequence[dict[str, Any]]) -> int:
        """Create predictions (each names its ``task``) in one bulk request; return how many Label Studio made.

        Not retried once sent: a retry could make them twice (the caller lists what landed).
        """
        body = self._call(
            "POST",
            f"/api/projects/{project_id}/import/predictions",
            f"import {len(predictions)} prediction(s) into project {project_id}",
            json=list(predictions),
            retry=False,
            timeout=BULK_TIMEOUT,
        )
        created = body.get("created") if isinstance(body, dict) else None
        if not isinstance(created, int):
            raise LabelStudioError(f"Label Studio did not say how many of {len(predictions)} prediction(s) it made in project {project_id}.")
        return created
