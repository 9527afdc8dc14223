"""Label Studio's JSON, to and from our models, in one place.

Going in: an ``Article`` becomes a task (``task``). Coming out: a task from any
endpoint becomes one canonical form (``canonical``), a task's ``meta`` a
``TaskRef`` (``task_ref``), an annotation's metadata the fields of an
``Annotation`` (``annotation_fields``) and its ``result`` list typed records
(``read_results``), which validate checks. Going back: an ``Annotation``
becomes a ``result`` list again (``results``), as adjudicate sends it.

The records keep Label Studio's values as they came (offsets may be anything):
judging them is validate's job, and reading never fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import schema as schema_mod
from ..models import Annotation, Article, Schema, TaskRef, content_hash

# The fields later stages use; the bulk export and the task list add others, in other orders.
TASK_KEYS = ("id", "data", "meta", "created_at", "updated_at", "project", "annotations")
ANNOTATION_KEYS = (
    "id", "completed_by", "result", "was_cancelled", "ground_truth", "created_at", "updated_at",
    "lead_time", "updated_by", "parent_prediction", "parent_annotation", "last_action",
)


# --- tasks -----------------------------------------------------------------------------


def task(article: Article) -> dict[str, Any]:
    """The Label Studio task of an article: its data, and in ``meta`` what push lists to stay idempotent."""
    return {
        "data": task_data(article),
        "meta": {"article_id": article.id, "version": article.version, "content_hash": article.content_hash},
    }


def task_data(article: Article) -> dict[str, Any]:
    """The ``data`` of an article's task: everything an annotation needs to be traced back."""
    data: dict[str, Any] = {
        "article_id": article.id,
        "version": article.version,
        "content_hash": article.content_hash,
        "title": article.title,
        "text": article.text,
        "origin": article.origin,
        "cleaning": list(article.cleaning),
    }
    for key in ("url", "published_at", "source"):
        value = getattr(article, key)
        if value is not None:
            data[key] = value
    return data


def article_of(raw: dict[str, Any]) -> Article:
    """The article a pulled task holds, as push sent it (to send it on, e.g. to a review project)."""
    data = raw.get("data") or {}
    text = str(data.get("text") or "")

    def optional(key: str) -> str | None:
        return None if data.get(key) is None else str(data[key])

    return Article(
        id=article_id_of(raw),
        title=str(data.get("title") or ""),
        text=text,
        content_hash=str(data.get("content_hash") or "") or content_hash(text),
        origin=str(data.get("origin") or f"task {raw.get('id')}"),
        url=optional("url"),
        published_at=optional("published_at"),
        source=optional("source"),
        version=version_of(raw),
        cleaning=tuple(str(c) for c in data.get("cleaning") or ()),
    )


def task_ref(task_id: int, fields: dict[str, Any]) -> TaskRef:
    """What push knows of a task, from its ``meta`` (or, for a task imported some other way, its ``data``)."""
    try:
        version = int(fields.get("version") or 1)
    except (TypeError, ValueError):
        version = 1
    article_id = fields.get("article_id")
    return TaskRef(
        id=task_id,
        article_id=None if article_id is None else str(article_id),
        version=version,
        content_hash=fields.get("content_hash"),
    )


def canonical(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields later stages use, in one order, whichever Label Studio endpoint sent the task.

    Drafts are left out: saving one does not change its task's time, so no pull could keep them current.
    """
    out = {k: raw[k] for k in TASK_KEYS if k in raw and k != "annotations"}
    annotations = []
    for a in sorted(raw.get("annotations") or [], key=lambda a: int(a["id"])):
        kept = {k: a[k] for k in ANNOTATION_KEYS if k in a}
        if isinstance(kept.get("completed_by"), dict):  # some exports expand the user
            kept["completed_by"] = kept["completed_by"].get("id")
        annotations.append(kept)
    out["annotations"] = annotations
    return out


def article_id_of(raw: dict[str, Any]) -> str:
    """The article a task holds (tasks imported without one are named after themselves)."""
    data = raw.get("data") or {}
    return str(data.get("article_id") or f"task-{raw.get('id')}")


def text_of(raw: dict[str, Any]) -> str:
    return str((raw.get("data") or {}).get("text") or "")


def version_of(raw: dict[str, Any]) -> int:
    return int((raw.get("data") or {}).get("version") or 1)


def author_of(raw: dict[str, Any]) -> int | None:
    """The user id of an annotation's author (Label Studio sends an id, or a user object), None if it names none."""
    return _id_or_none(raw.get("completed_by"))


def annotation_fields(raw_task: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The fields of an ``Annotation`` that come from Label Studio's metadata (all but the mentions and answers)."""
    return dict(
        id=int(raw.get("id") or 0),
        task_id=int(raw_task.get("id") or 0),
        article_id=article_id_of(raw_task),
        article_version=version_of(raw_task),
        annotator=author_of(raw),
        created_at=raw.get("created_at"),
        updated_at=raw.get("updated_at"),
        lead_time=raw.get("lead_time"),
        ground_truth=bool(raw.get("ground_truth")),
        cancelled=bool(raw.get("was_cancelled")),
        parent_prediction=_id_or_none(raw.get("parent_prediction")),
    )


def _id_or_none(value: Any) -> int | None:
    """A Label Studio id as sent (an int, or an object holding one); None for anything else."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- results ---------------------------------------------------------------------------


class Label(NamedTuple):
    """A label as the editor stores it: which control gave it (``entity`` or ``trigger``), and its name."""

    control: str
    name: str


@dataclass(frozen=True)
class RegionResult:
    """A labelled span; ``start``, ``end`` and ``text`` exactly as stored (validate checks them)."""

    id: str
    control: str
    labels: tuple[Label, ...]
    start: Any
    end: Any
    text: Any
    # What Label Studio stored as ``labels`` when it is not a list of names (the editor never
    # stores anything else); ``labels`` is then empty and validate rejects the region.
    malformed_labels: Any = None


@dataclass(frozen=True)
class RelationResult:
    """An arrow between two regions; ``labels`` are the relation labels (roles) chosen on it."""

    from_id: str
    to_id: str
    labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.from_id}→{self.to_id}"


@dataclass(frozen=True)
class AnswerResult:
    """An answer to a document question (``choices`` or ``textarea``), or a result of a type we do not read."""

    id: str
    control: str
    type: str
    values: tuple[str, ...]


Result = RegionResult | RelationResult | AnswerResult


def read_results(results: Any) -> list[Result]:
    """An annotation's ``result`` list as typed records, in order (anything not a list reads as empty)."""
    out: list[Result] = []
    for r in results if isinstance(results, list) else []:
        if not isinstance(r, dict):  # read as an answer from no control: validate rejects it, with its reason
            out.append(AnswerResult("?", "?", f"not an object ({type(r).__name__})", ()))
            continue
        kind = r.get("type")
        value = r.get("value") if isinstance(r.get("value"), dict) else {}
        if kind == "labels":
            control = str(r.get("from_name"))
            given = value.get("labels")
            listed = isinstance(given, list) and all(isinstance(x, str) for x in given)
            labels = tuple(Label(control, x) for x in given) if listed else ()
            out.append(RegionResult(
                str(r.get("id") or ""), control, labels, value.get("start"), value.get("end"), value.get("text"),
                None if listed or given is None else given,
            ))
        elif kind == "relation":
            out.append(RelationResult(str(r.get("from_id")), str(r.get("to_id")), tuple(str(x) for x in r.get("labels") or [])))
        else:
            control = str(r.get("from_name"))
            key = "text" if kind == "textarea" else "choices"
            values = tuple(str(x) for x in value.get(key) or [])
            out.append(AnswerResult(str(r.get("id") or control), control, str(kind), values))
    return out


def mention_keys(result: Any) -> list[tuple[str, int, int]]:
    """(label, start, end) of each labelled span of a result list (a prediction's, as sent), in order."""
    return [
        (r.labels[0].name, r.start, r.end)
        for r in read_results(result)
        if isinstance(r, RegionResult) and r.labels and isinstance(r.start, int) and isinstance(r.end, int)
    ]


def results(annotation: Annotation, schema: Schema) -> list[dict[str, Any]]:
    """An annotation in Label Studio's result format, as the labelling config expects it."""
    out: list[dict[str, Any]] = []
    for control, mentions in ((schema_mod.ENTITY_TAG, annotation.entities), (schema_mod.TRIGGER_TAG, annotation.events)):
        for m in mentions:
            out.append(
                {
                    "id": m.id,
                    "from_name": control,
                    "to_name": schema_mod.TEXT_TAG,
                    "type": "labels",
                    "value": {"start": m.start, "end": m.end, "text": m.text, "labels": [m.type]},
                }
            )
    for event in annotation.events:
        for arg in event.arguments:
            out.append(
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
        out.append({"id": f"doc-{spec.name}", "from_name": spec.name, "to_name": schema_mod.TEXT_TAG, "type": kind, "value": value})
    return out
