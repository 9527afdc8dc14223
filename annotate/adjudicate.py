"""Agreement report and adjudication: disputed articles go back to Label Studio as pre-annotations.

The merged (majority) result of a disputed article is saved on its task as a
prediction whose model version names it, and the project is set to show it to
whoever opens the task. A reviewer fixes only the differences, submits, and
marks the result ground truth; the next pull and export take that annotation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import schema as schema_mod
from .agreement import AgreementReport, agreement
from .gold import ArticleAnnotations, Gold, iter_articles, select_gold
from .models import DEFAULT_THRESHOLD
from .labelstudio.client import LabelStudioClient
from .models import Annotation, Schema
from .store import EXPORTS, iter_state, project_folder
from .validate import latest_versions

# What the reviewer sees in Label Studio's list of predictions.
MODEL_VERSION = "annotate: majority merge — review the differences"


@dataclass
class Dispute:
    task_id: int
    article_id: str
    gold: Gold


def _pulled_articles(title: str, schema: Schema, root: Path) -> Iterator[tuple[dict[str, Any], ArticleAnnotations]]:
    """The latest pull's articles with their votes, streamed (versions first, then tasks)."""
    folder = project_folder(title, root)
    return iter_articles(iter_state(folder, title), schema, latest_versions(iter_state(folder, title)))


def project_agreement(title: str, *, schema: Schema | None = None, root: Path = EXPORTS) -> AgreementReport:
    """Agreement figures of the latest pull of a project."""
    schema = schema or schema_mod.load()
    return agreement(grouped for _, grouped in _pulled_articles(title, schema, root))


def disputes(title: str, *, schema: Schema | None = None, root: Path = EXPORTS, threshold: float = DEFAULT_THRESHOLD) -> list[Dispute]:
    """Articles whose gold is a majority merge with something the annotators did not all agree on."""
    schema = schema or schema_mod.load()
    out = []
    for task, grouped in _pulled_articles(title, schema, root):
        gold = select_gold(grouped, schema, threshold)
        if gold.source == "majority" and gold.disputes:
            out.append(Dispute(int(task["id"]), grouped.article_id, gold))
    return out


def to_results(annotation: Annotation, schema: Schema) -> list[dict[str, Any]]:
    """An annotation in Label Studio's result format, as the labelling config expects it."""
    results: list[dict[str, Any]] = []
    for kind, mentions in ((schema_mod.ENTITY_TAG, annotation.entities), (schema_mod.TRIGGER_TAG, annotation.events)):
        for m in mentions:
            results.append(
                {
                    "id": m.id,
                    "from_name": kind,
                    "to_name": schema_mod.TEXT_TAG,
                    "type": "labels",
                    "value": {"start": m.start, "end": m.end, "text": m.text, "labels": [m.type]},
                }
            )
    for event in annotation.events:
        for arg in event.arguments:
            results.append(
                {
                    "from_id": event.id,
                    "to_id": arg.entity_id,
                    "type": "relation",
                    "direction": "right",
                    "labels": [schema_mod.relation_label(schema, arg.role)],
                }
            )
    for spec in schema.document:
        if spec.name not in annotation.document:
            continue
        answer = annotation.document[spec.name]
        if spec.kind == "text":
            value: dict[str, Any] = {"text": [answer]}
            kind = "textarea"
        else:
            value = {"choices": answer if isinstance(answer, list) else [answer]}
            kind = "choices"
        results.append({"id": f"doc-{spec.name}", "from_name": spec.name, "to_name": schema_mod.TEXT_TAG, "type": kind, "value": value})
    return results


def push_disputes(client: LabelStudioClient, title: str, found: list[Dispute], schema: Schema) -> int:
    """Save each merged result as the task's pre-annotation (replacing an earlier one); return how many."""
    project = client.project_titled(title)
    for dispute in found:
        for old in client.list_predictions(dispute.task_id):
            if old.get("model_version") == MODEL_VERSION:
                client.delete_prediction(int(old["id"]))
        client.create_prediction(dispute.task_id, to_results(dispute.gold.annotation, schema), MODEL_VERSION)
    # Show the merged result to whoever opens the task, as the start of their annotation
    # (Label Studio accepts the model version only once predictions carry it).
    if found:
        client.update_project(project.id, model_version=MODEL_VERSION, show_collab_predictions=True)
    return len(found)
