"""Predictions: the pre-annotations annotators see (adjudication sends disputes as them)."""

from __future__ import annotations

from typing import Any
from .http import Http


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

    def delete_prediction(self, prediction_id: int) -> None:
        self._call("DELETE", f"/api/predictions/{prediction_id}/", f"delete prediction {prediction_id}")
