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
from .annotators import Pseudonyms
from .agreement import AgreementReport, agreement
from .gold import ArticleAnnotations, Gold, iter_articles, select_gold
from .models import DEFAULT_THRESHOLD
from .labelstudio import codec
from .labelstudio.client import LabelStudioClient
from .models import Schema
from .store import EXPORTS, iter_state, latest_versions, project_folder

# What the reviewer sees in Label Studio's list of predictions.
MODEL_VERSION = "annotate: majority merge — review the differences"


@dataclass
class Dispute:
    task_id: int
    article_id: str
    gold: Gold


def _pulled_articles(title: str, schema: Schema, root: Path, repair: bool) -> Iterator[tuple[dict[str, Any], ArticleAnnotations]]:
    """The latest pull's articles with their votes, streamed (versions first, then tasks)."""
    folder = project_folder(title, root)
    return iter_articles(iter_state(folder, title), schema, latest_versions(iter_state(folder, title)), repair=repair)


def project_agreement(title: str, *, schema: Schema | None = None, root: Path = EXPORTS, repair: bool = True) -> AgreementReport:
    """Agreement figures of the latest pull of a project, over the annotations validate keeps with the same ``repair``."""
    schema = schema or schema_mod.load()
    pseudonyms = Pseudonyms(project_folder(title, root))
    report = agreement((grouped for _, grouped in _pulled_articles(title, schema, root, repair)), name=pseudonyms)
    pseudonyms.save()
    return report


def disputes(
    title: str, *, schema: Schema | None = None, root: Path = EXPORTS, threshold: float = DEFAULT_THRESHOLD, repair: bool = True
) -> list[Dispute]:
    """Articles whose gold is a majority merge with something the annotators did not all agree on."""
    schema = schema or schema_mod.load()
    out = []
    for task, grouped in _pulled_articles(title, schema, root, repair):
        gold = select_gold(grouped, schema, threshold)
        if gold.source == "majority" and gold.disputes:
            out.append(Dispute(int(task["id"]), grouped.article_id, gold))
    return out


def push_disputes(client: LabelStudioClient, title: str, found: list[Dispute], schema: Schema) -> int:
    """Save each merged result as the task's pre-annotation (replacing an earlier one); return how many."""
    project = client.project_titled(title)
    for dispute in found:
        for old in client.list_predictions(dispute.task_id):
            if old.get("model_version") == MODEL_VERSION:
                client.delete_prediction(int(old["id"]))
        client.create_prediction(dispute.task_id, codec.results(dispute.gold.annotation, schema), MODEL_VERSION)
    # Show the merged result to whoever opens the task, as the start of their annotation
    # (Label Studio accepts the model version only once predictions carry it).
    if found:
        client.update_project(project.id, model_version=MODEL_VERSION, show_collab_predictions=True)
    return len(found)
