"""Agreement report and adjudication: disputed articles go back to Label Studio as pre-annotations.

The merged (majority) result of a disputed article is saved on its task as a
prediction whose model version names it, and the project is set to show it to
whoever opens the task. A reviewer fixes only the differences, submits, and
marks the result ground truth; the next pull and export take that annotation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema as schema_mod
from .annotators import Pseudonyms
from .agreement import AgreementReport, agreement
from .gold import Gold, pulled_articles, select_gold
from .models import DEFAULT_THRESHOLD
from .labelstudio import codec
from .labelstudio.client import LabelStudioClient
from .models import Annotation, Article, Schema
from .push import push_articles
from .queues import parts, review_title
from .store import EXPORTS, project_folder

# What the reviewer sees in Label Studio's list of predictions.
MODEL_VERSION = "annotate: majority merge — review the differences"


VOTE_VERSION = "annotate: the version of {name}"  # each annotator's version, shown to the reviewer only


@dataclass
class Dispute:
    task_id: int
    article_id: str
    gold: Gold
    article: Article | None = None  # for the review project of a team
    votes: list[Annotation] = field(default_factory=list)  # each annotator's version


def project_agreement(title: str, *, schema: Schema | None = None, root: Path = EXPORTS, repair: bool = True) -> AgreementReport:
    """Agreement figures of the latest pull of a project, over the annotations validate keeps with the same ``repair``."""
    schema = schema or schema_mod.load()
    pseudonyms = Pseudonyms(project_folder(title, root))
    report = agreement((grouped for _, grouped in pulled_articles(title, schema, root, repair)), name=pseudonyms)
    pseudonyms.save()
    return report


def disputes(
    title: str, *, schema: Schema | None = None, root: Path = EXPORTS, threshold: float = DEFAULT_THRESHOLD, repair: bool = True
) -> list[Dispute]:
    """Articles whose gold is a majority merge with something the annotators did not all agree on."""
    schema = schema or schema_mod.load()
    out = []
    for task, grouped in pulled_articles(title, schema, root, repair):
        gold = select_gold(grouped, schema, threshold)
        if gold.source == "majority" and gold.disputes:
            out.append(Dispute(int(task["id"]), grouped.article_id, gold, codec.article_of(task), grouped.annotations))
    return out


@dataclass(frozen=True)
class Pushed:
    """What ``push_disputes`` sent, and where: the review project of a team, else the project itself."""

    articles: int
    project_id: int
    url: str  # where the reviewer starts: the project's task list, with Label All Tasks
    review: bool = True  # False: the merges went onto the project's own tasks (a project one person labels)


def review_url(url: str, project_id: int) -> str:
    return f"{url}/projects/{project_id}/data"


def push_disputes(client: LabelStudioClient, title: str, found: list[Dispute], schema: Schema, *, root: Path = EXPORTS) -> Pushed:
    """Put each disputed article in front of a reviewer with the merged result as its pre-annotation; return how many.

    A team project (one with queues) gets a review project of its own holding only the
    disputed articles, each with every annotator's version as a prediction named by their
    pseudonym: only reviewers work there, so only they see the versions side by side. A
    project one person labels gets the merged result on the article's own task, as before.
    """
    project = client.project_titled(title)
    queues, _ = parts(title, (p.title for p in client.list_projects(title=title)))
    if queues and found:
        return _push_to_review(client, title, found, schema, root)
    for dispute in found:
        _predict(client, dispute.task_id, [(MODEL_VERSION, codec.results(dispute.gold.annotation, schema))])
    # Show the merged result to whoever opens the task, as the start of their annotation
    # (Label Studio accepts the model version only once predictions carry it).
    if found:
        client.update_project(project.id, model_version=MODEL_VERSION, show_collab_predictions=True)
    return Pushed(len(found), project.id, review_url(client.url, project.id), review=False)


def _predict(client: LabelStudioClient, task_id: int, predictions: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Replace our predictions on a task (so pushing again does not add more)."""
    ours = {version for version, _ in predictions}
    for old in client.list_predictions(task_id):
        if old.get("model_version") in ours or str(old.get("model_version", "")).startswith(VOTE_VERSION.split("{")[0]):
            client.delete_prediction(int(old["id"]))
    for version, results in predictions:
        client.create_prediction(task_id, results, version)


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def dispute_listing(disputes: list[str]) -> str:
    """What a reviewer reads above the article: one item a line, each quoted piece of Arabic isolated
    (U+2068 … U+2069), or the bidi algorithm pulls the numbers after it into it."""
    return "\n".join("• " + _QUOTED.sub(lambda m: f"\u2068{m.group()}\u2069", line) for line in disputes)


def version_name(letter: int, pseudonym: str) -> str:
    """How the reviewer sees one annotator's version: a letter to speak of, and the pseudonym (never who it is)."""
    return VOTE_VERSION.format(name=f"annotator {chr(ord('A') + letter)} ({pseudonym})")


def _push_to_review(client: LabelStudioClient, title: str, found: list[Dispute], schema: Schema, root: Path) -> Pushed:
    articles = [d.article for d in found if d.article is not None]
    # What is in dispute, shown above the article (the review config asks for this field); the rest is the pool's data.
    listings = {d.article.id: {schema_mod.DISPUTES_FIELD: dispute_listing(d.gold.disputes)} for d in found if d.article}
    report = push_articles(
        client, articles, title=review_title(title), schema=schema, annotators=1, keep_versions=True, review=True, extra=listings
    )
    tasks = {(r.article_id, r.version): r.id for r in client.task_refs(report.project.id)}
    pseudonyms = Pseudonyms(project_folder(title, root))
    imported = set(report.imported)
    for dispute in found:
        if dispute.article is None:
            continue
        task_id = tasks[(dispute.article.id, dispute.article.version)]
        if dispute.article.id not in imported:  # sent before: what is in dispute may have changed since
            client.update_task_data(task_id, {**codec.task_data(dispute.article), **listings[dispute.article.id]})
        versions = [(version_name(k, pseudonyms(v.annotator)), codec.results(v, schema)) for k, v in enumerate(dispute.votes)]
        _predict(client, task_id, [(MODEL_VERSION, codec.results(dispute.gold.annotation, schema)), *versions])
    pseudonyms.save()
    client.update_project(report.project.id, model_version=MODEL_VERSION, show_collab_predictions=True)
    return Pushed(len(articles), report.project.id, review_url(client.url, report.project.id))
