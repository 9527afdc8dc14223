"""One article with its gold annotation, tokenized (``Doc``), and the rows every format is written from."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..gold import Gold
from ..models import SPLITS, Annotation, EntityMention, EventMention, Schema, Unit
from ..tokens import Tokens, bio, nested_bio, normalize, sentences, split_key, token_span, tokenize


@dataclass
class Doc:
    """One article with its gold annotation, tokenized: what every format is written from."""

    article: dict[str, Any]  # task data
    gold: Annotation
    gold_source: str  # "ground_truth", "single" or "majority"
    annotation_ids: list[int]
    annotators: list[str]
    tokens: Tokens
    boundary_splits: int
    entity_tokens: list[tuple[int, int]]
    trigger_tokens: list[tuple[int, int]]
    ner_tags: list[str]
    event_tags: list[str]
    entity_left_out: list[int]
    nested_tags: list[list[str]]  # IOB2 columns by nesting level, outermost first (wojood)
    entity_crossing: list[int]  # entities that overlap another without either holding the other: in no column
    trigger_left_out: list[int]
    sentences: list[tuple[int, int]]
    entity_origins: list[str]  # of each gold entity: one of models.ORIGINS
    trigger_origins: list[str]
    split: str = ""


def split_of(text: str, seed: int, ratios: Sequence[float]) -> str:
    """The split of an article: from its normalized text and the seed, nothing else.

    Keyed on the normalized text, so duplicates land together and adding
    articles never moves one already assigned.
    """
    key = split_key(text)  # the folding splits were always keyed on: none moves
    digest = hashlib.sha256(f"{seed}\0{key}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = 0.0
    for name, ratio in zip(SPLITS, ratios):
        total += ratio
        if u < total:
            return name
    return SPLITS[-1]


def make_doc(
    article: dict[str, Any], chosen: Gold, votes: Sequence[Annotation], name: Callable[[int | None], str],
    origins: Mapping[tuple[str, str], str] | None = None,
) -> Doc:
    """``votes``: the annotators' kept annotations, ground truth aside (a decision, named by ``gold``); ``name`` gives pseudonyms.

    ``origins``: ("entity" or "trigger", mention id) -> how it came (``models.ORIGINS``); ``manual`` where not given.
    """
    origins = origins or {}
    gold, source = chosen.annotation, chosen.source
    text = article["text"]
    mentions = list(gold.entities) + list(gold.events)
    boundaries = {m.start for m in mentions} | {m.end for m in mentions}
    tokens, splits = tokenize(text, boundaries)
    entity_tokens = [token_span(tokens, e.start, e.end) for e in gold.entities]
    trigger_tokens = [token_span(tokens, e.start, e.end) for e in gold.events]
    entity_spans = [(e.type, *t) for e, t in zip(gold.entities, entity_tokens)]
    ner, ent_out = bio(len(tokens), entity_spans)
    nested, crossing = nested_bio(len(tokens), entity_spans)
    evt, trg_out = bio(len(tokens), [(e.type, *t) for e, t in zip(gold.events, trigger_tokens)])
    by_id = {e.id: e for e in gold.entities}
    # A sentence may not cut a mention, nor an event from its arguments: each is kept whole.
    together = [(m.start, m.end) for m in mentions]
    for event in gold.events:
        for arg in event.arguments:
            entity = by_id[arg.entity_id]
            together.append((min(event.start, entity.start), max(event.end, entity.end)))
    return Doc(
        article=article,
        gold=gold,
        gold_source=source,
        annotation_ids=sorted(a.id for a in votes if not a.ground_truth),
        annotators=sorted({name(a.annotator) for a in votes if not a.ground_truth}),
        tokens=tokens,
        boundary_splits=splits,
        entity_tokens=entity_tokens,
        trigger_tokens=trigger_tokens,
        ner_tags=ner,
        event_tags=evt,
        entity_left_out=ent_out,
        nested_tags=nested,
        entity_crossing=crossing,
        trigger_left_out=trg_out,
        sentences=sentences(text, tokens, together),
        entity_origins=[origins.get(("entity", e.id), "manual") for e in gold.entities],
        trigger_origins=[origins.get(("trigger", e.id), "manual") for e in gold.events],
    )


def label_counts(doc: Doc) -> Counter[str]:
    """The card's label counts of one article: mentions, events and arguments by type or role."""
    counts: Counter[str] = Counter(f"entity {e.type}" for e in doc.gold.entities)
    counts.update(f"event {e.type}" for e in doc.gold.events)
    counts.update(f"argument {a.role}" for e in doc.gold.events for a in e.arguments)
    return counts


def _span(m: EntityMention | EventMention, tok: tuple[int, int], offset: int, tok_offset: int) -> dict[str, Any]:
    """A mention's offsets relative to its row (the article, or a sentence starting at ``offset``)."""
    return {
        "start": m.start - offset,
        "end": m.end - offset,
        "token_start": tok[0] - tok_offset,
        "token_end": tok[1] - tok_offset,
        "text": m.text,
    }


def rows(doc: Doc, schema: Schema, unit: Unit | str) -> Iterator[dict[str, Any]]:
    """HF rows (labels as names; the features encode them) for one article or each of its sentences."""
    a = doc.article
    pieces = [(0, len(doc.tokens))] if unit == "document" else doc.sentences
    for n, (t0, t1) in enumerate(pieces):
        if unit == "document":
            c0, c1 = 0, len(a["text"])
        else:
            c0, c1 = doc.tokens.starts[t0], doc.tokens.ends[t1 - 1]
        texts = doc.tokens.texts(t0, t1)
        entities = [
            {"id": e.id, "type": e.type, **_span(e, tok, c0, t0), "in_bio": i not in doc.entity_left_out,
             "origin": doc.entity_origins[i]}
            for i, (e, tok) in enumerate(zip(doc.gold.entities, doc.entity_tokens))
            if t0 <= tok[0] and tok[1] <= t1
        ]
        row: dict[str, Any] = {
            "id": a["article_id"] if unit == "document" else f"{a['article_id']}#s{n}",
            "article_id": a["article_id"],
            "article_version": int(a.get("version") or 1),
            "title": a.get("title") or "",
            "text": a["text"][c0:c1],
            "url": a.get("url"),
            "published_at": a.get("published_at"),
            "source": a.get("source"),
            "content_hash": a.get("content_hash"),
            "tokens": texts,
            "token_starts": doc.tokens.starts[t0:t1] if not c0 else [x - c0 for x in doc.tokens.starts[t0:t1]],
            "token_ends": doc.tokens.ends[t0:t1] if not c0 else [x - c0 for x in doc.tokens.ends[t0:t1]],
            "normalized_tokens": [normalize(x) for x in texts],
            "ner_tags": doc.ner_tags[t0:t1],
            "entities": entities,
        }
        if schema.events:
            row["event_tags"] = doc.event_tags[t0:t1]
            row["events"] = [
                {
                    "id": e.id,
                    "type": e.type,
                    "trigger": _span(e, tok, c0, t0),
                    "in_bio": i not in doc.trigger_left_out,
                    "origin": doc.trigger_origins[i],
                    "arguments": [{"role": arg.role, "entity_id": arg.entity_id} for arg in e.arguments],
                }
                for i, (e, tok) in enumerate(zip(doc.gold.events, doc.trigger_tokens))
                if t0 <= tok[0] and tok[1] <= t1
            ]
        if schema.document:
            row["document"] = {
                d.name: doc.gold.document.get(d.name, [] if d.kind == "multiple" else None) for d in schema.document
            }
        row.update(
            {
                "annotators": doc.annotators,
                "annotation_ids": doc.annotation_ids,
                "gold_annotation_id": doc.gold.id,
                "gold_source": doc.gold_source,
            }
        )
        yield row
