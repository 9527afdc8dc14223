"""What changed in the gold between two exports: articles, and mentions, events and arguments in each.

Every export writes ``gold.jsonl`` (one line per exported article: its id, version and gold
mentions with character offsets), whatever its format; ``diff`` reads two of them. Within an
article, a NEW item is matched to an OLD one in this order, each item matched once:
``same`` (same span and label), ``relabelled`` (same span, another label), ``boundary`` (same
label, overlapping span, other offsets); what is left is ``added`` (in NEW only) or ``removed``
(in OLD only). Events are their triggers (span, event type); an argument is (its event's
trigger span and type, its entity's span), labelled by its role. Entity F1 is NEW's exact
mentions (span and type) against OLD's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExportError
from ..models import Annotation

GOLD = "gold.jsonl"
KINDS = ("entities", "events", "arguments")
CHANGES = ("added", "removed", "relabelled", "boundary")

Span = tuple[Any, ...]  # what must be equal for two items to be "the same place"
Item = tuple[Span, str, tuple[int, int]]  # place, label, character span (for overlaps)


def item(label: str, start: int, end: int) -> Item:
    """A mention or trigger as ``match`` compares it."""
    return ((start, end), label, (start, end))


def gold_line(article: dict[str, Any], gold: Annotation) -> dict[str, Any]:
    """One article's line of ``gold.jsonl``."""
    return {
        "article_id": article["article_id"],
        "version": int(article.get("version") or 1),
        "content_hash": article.get("content_hash"),
        "entities": [{"id": e.id, "type": e.type, "start": e.start, "end": e.end, "text": e.text} for e in gold.entities],
        "events": [
            {"id": e.id, "type": e.type, "start": e.start, "end": e.end, "text": e.text,
             "arguments": [{"role": a.role, "entity_id": a.entity_id} for a in e.arguments]}
            for e in gold.events
        ],
    }


def read_gold(folder: Path) -> dict[str, dict[str, Any]]:
    """An export's gold by article id."""
    path = Path(folder) / GOLD
    if not path.is_file():
        raise ExportError(
            f"{folder} has no {GOLD}: it is not an export folder, or an export made before annotate wrote one.",
            "Give two folders written by `annotate export` (export the older pull again if needed).",
        )
    gold: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            try:
                row = json.loads(line)
                for kind in KINDS:
                    _items(row, kind)  # every field diff reads is there, of its type
                gold[str(row["article_id"])] = row
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ExportError(f"{path}:{n}: not a line annotate writes; export again.") from None
    return gold


def _items(row: dict[str, Any], kind: str) -> list[Item]:
    if kind == "entities":
        return [((e["start"], e["end"]), e["type"], (e["start"], e["end"])) for e in row["entities"]]
    if kind == "events":
        return [((e["start"], e["end"]), e["type"], (e["start"], e["end"])) for e in row["events"]]
    spans = {e["id"]: (e["start"], e["end"]) for e in row["entities"]}
    return [
        ((e["start"], e["end"], e["type"], *spans[a["entity_id"]]), a["role"], spans[a["entity_id"]])
        for e in row["events"] for a in e["arguments"] if a["entity_id"] in spans
    ]


def _event_of(place: Span) -> Span:
    return place[:3]  # an argument's event: its trigger span and type


def match(old: list[Item], new: list[Item], kind: str = "entities") -> Iterator[tuple[str, str]]:
    """(change, label) for each item: ``same``, or how it changed; the label is NEW's where there is one.

    ``model report`` matches suggested (OLD) and submitted (NEW) mentions with it too.
    """
    old_left, new_left = list(old), list(new)
    for item in list(new_left):  # the same
        if item in old_left:
            old_left.remove(item)
            new_left.remove(item)
            yield "same", item[1]
    for item in list(new_left):  # same place, another label
        twin = next((o for o in old_left if o[0] == item[0]), None)
        if twin is not None:
            old_left.remove(twin)
            new_left.remove(item)
            yield "relabelled", item[1]
    for item in list(new_left):  # same label, overlapping, other offsets (an argument: of the same event)
        place, label, (a, b) = item
        twin = next(
            (o for o in old_left if o[1] == label and o[2][0] < b and a < o[2][1]
             and (kind != "arguments" or _event_of(o[0]) == _event_of(place))),
            None,
        )
        if twin is not None:
            old_left.remove(twin)
            new_left.remove(item)
            yield "boundary", label
    for item in new_left:
        yield "added", item[1]
    for item in old_left:
        yield "removed", item[1]


@dataclass
class Diff:
    """The changes from OLD to NEW (``as_dict`` is ``annotate diff --json``)."""

    articles_added: list[str] = field(default_factory=list)
    articles_removed: list[str] = field(default_factory=list)
    articles_changed: list[str] = field(default_factory=list)
    totals: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    per_label: dict[str, dict[str, Counter[str]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    per_article: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    entity_tp: int = 0
    entities_old: int = 0
    entities_new: int = 0

    @property
    def entity_f1(self) -> float:
        """NEW's entities against OLD's, exact span and type (1.0 when both are empty)."""
        if not self.entities_old and not self.entities_new:
            return 1.0
        return 2 * self.entity_tp / (self.entities_old + self.entities_new)

    @property
    def unchanged(self) -> bool:
        return not (self.articles_added or self.articles_removed or self.articles_changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "articles": {"added": self.articles_added, "removed": self.articles_removed, "changed": self.articles_changed},
            **{k: {c: self.totals[k][c] for c in CHANGES} for k in KINDS},
            "per_label": {k: {label: {c: n[c] for c in CHANGES} for label, n in sorted(self.per_label[k].items())} for k in KINDS},
            "per_article": self.per_article,
            "entity_f1": round(self.entity_f1, 4),
        }


def diff(old_folder: Path, new_folder: Path) -> Diff:
    """Compare the gold of two export folders (OLD first)."""
    old, new = read_gold(old_folder), read_gold(new_folder)
    result = Diff(
        articles_added=sorted(set(new) - set(old)),
        articles_removed=sorted(set(old) - set(new)),
    )
    for aid in sorted(set(old) | set(new)):
        before = old.get(aid, {"entities": [], "events": []})
        after = new.get(aid, {"entities": [], "events": []})
        old_entities, new_entities = set(_items(before, "entities")), set(_items(after, "entities"))
        result.entities_old += len(old_entities)
        result.entities_new += len(new_entities)
        result.entity_tp += len(old_entities & new_entities)
        counts: dict[str, dict[str, int]] = {}
        for kind in KINDS:
            for change, label in match(_items(before, kind), _items(after, kind), kind):
                if change == "same":
                    continue
                result.totals[kind][change] += 1
                result.per_label[kind].setdefault(label, Counter())[change] += 1
                counts.setdefault(kind, {}).setdefault(change, 0)
                counts[kind][change] += 1
        if aid in old and aid in new and (counts or old[aid].get("version") != new[aid].get("version")):
            result.articles_changed.append(aid)
        if counts:
            result.per_article[aid] = counts
    return result


def summary(d: Diff) -> list[str]:
    """The lines `annotate diff` prints and the card shows under "Changes since"."""
    lines = [
        f"Articles: {len(d.articles_added)} added, {len(d.articles_removed)} removed, {len(d.articles_changed)} changed",
    ]
    for kind in KINDS:
        lines.append(f"{kind.capitalize()}: " + ", ".join(f"{d.totals[kind][c]} {c}" for c in CHANGES))
    lines.append(f"Entity F1 of the new gold against the old (exact span and type): {d.entity_f1:.4f}")
    return lines
