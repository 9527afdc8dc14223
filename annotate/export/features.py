"""The dataset's features, declared once from the schema: the same for every split, unit and format."""

from __future__ import annotations

from typing import Any

from datasets import ClassLabel, Features, List, Value

from ..models import ORIGINS, Schema


def ner_names(schema: Schema) -> list[str]:
    """The ``ner_tags`` labels: BIO over the schema's entity and value types, in schema order."""
    return ["O"] + [f"{p}-{e.name}" for e in schema.entities for p in "BI"]


def event_names(schema: Schema) -> list[str]:
    """The ``event_tags`` labels: BIO over the schema's event types (their triggers), in schema order."""
    return ["O"] + [f"{p}-{e.name}" for e in schema.events for p in "BI"]


def features(schema: Schema) -> Features:
    """The dataset's features, from the schema: the same for every split and unit."""
    span = {"start": Value("int32"), "end": Value("int32"), "token_start": Value("int32"), "token_end": Value("int32"), "text": Value("string")}
    cols: dict[str, Any] = {
        "id": Value("string"),
        "article_id": Value("string"),
        "article_version": Value("int32"),
        "title": Value("string"),
        "text": Value("string"),
        "url": Value("string"),
        "published_at": Value("string"),
        "source": Value("string"),
        "content_hash": Value("string"),
        "tokens": List(Value("string")),
        "token_starts": List(Value("int32")),
        "token_ends": List(Value("int32")),
        "normalized_tokens": List(Value("string")),
        "ner_tags": List(ClassLabel(names=ner_names(schema))),
        "entities": List({"id": Value("string"), "type": ClassLabel(names=[e.name for e in schema.entities]), **span, "in_bio": Value("bool"),
                          "origin": ClassLabel(names=list(ORIGINS))}),
    }
    if schema.events:
        cols["event_tags"] = List(ClassLabel(names=event_names(schema)))
        cols["events"] = List(
            {
                "id": Value("string"),
                "type": ClassLabel(names=[e.name for e in schema.events]),
                "trigger": span,
                "in_bio": Value("bool"),
                "origin": ClassLabel(names=list(ORIGINS)),
                "arguments": List({"role": ClassLabel(names=list(schema.role_names)), "entity_id": Value("string")}),
            }
        )
    if schema.document:
        doc: dict[str, Any] = {}
        for d in schema.document:
            if d.kind == "text":
                doc[d.name] = Value("string")
            elif d.kind == "single":
                doc[d.name] = ClassLabel(names=[c.name for c in d.choices])
            else:
                doc[d.name] = List(ClassLabel(names=[c.name for c in d.choices]))
        cols["document"] = doc
    cols.update(
        {
            "annotators": List(Value("string")),
            "annotation_ids": List(Value("int64")),
            "gold_annotation_id": Value("int64"),
            "gold_source": Value("string"),
        }
    )
    return Features(cols)
