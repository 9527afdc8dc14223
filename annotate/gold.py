"""The gold annotation of each article, and the pulled articles with their votes.

An annotation marked ground truth wins; a single annotation is gold by itself;
otherwise a majority merge keeps what more than ``threshold`` of the annotators
agree on (with the default, a strict majority: both of two, two of three), and
everything not unanimous is listed as disputed. What the merge drops is held
back, never shipped as if agreed: a 1-vs-1 disagreement keeps neither version.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConflictingCopiesError
from .models import DEFAULT_THRESHOLD, Annotation, Counts, Argument, EntityMention, EventMention, Schema
from .labelstudio import codec
from .store import Latest, Mention, Places, iter_state, latest_versions, places_of, project_folder, read_manifest
from .validate import TaskVerdicts, check_tasks, copy_problems

MAJORITY_ID = -1  # the id of a merged annotation (it exists in no Label Studio)


# --- what is compared and merged ---------------------------------------------------------------


def entity_keys(a: Annotation) -> list[tuple[str, int, int]]:
    return [(e.type, e.start, e.end) for e in a.entities]


def trigger_keys(a: Annotation) -> list[tuple[str, int, int]]:
    return [(e.type, e.start, e.end) for e in a.events]


def argument_keys(a: Annotation) -> list[tuple[Any, ...]]:
    spans = {e.id: (e.type, e.start, e.end) for e in a.entities}
    return [(ev.type, ev.start, ev.end, arg.role, *spans[arg.entity_id]) for ev in a.events for arg in ev.arguments]



# --- the articles of a pull, with their votes ----------------------------------------------


@dataclass
class ArticleAnnotations:
    article_id: str
    text: str
    annotations: list[Annotation]  # the votes: each annotator's newest kept annotation, ground truth aside
    ground_truth: list[Annotation]  # kept annotations marked ground truth (a decision, not a vote)


def by_annotator(article_id: str, text: str, kept: Iterable[Annotation]) -> ArticleAnnotations:
    newest: dict[int | None, Annotation] = {}
    truth = []
    for a in kept:
        if a.ground_truth:
            truth.append(a)
            continue
        seen = newest.get(a.annotator)
        if seen is None or (a.updated_at or "", a.id) > (seen.updated_at or "", seen.id):
            newest[a.annotator] = a
    votes = sorted(newest.values(), key=lambda a: (a.annotator is None, a.annotator or 0, a.id))
    return ArticleAnnotations(article_id, text, votes, truth)


def iter_articles(
    tasks: Iterable[dict[str, Any]],
    schema: Schema,
    latest: dict[str, Latest],
    totals: Counts | None = None,
    *,
    repair: bool = True,
    places: Places = Places(),
) -> Iterator[tuple[dict[str, Any], ArticleAnnotations]]:
    """Validate task by task; yield each article (latest version) that has kept annotations, with its votes.

    Every annotation is counted in ``totals``, exported or not. An article held
    by several tasks (a duplicate import) is yielded once, with the annotations
    of all of them read together, when the last of them has been read; copies
    with different texts stop here with an error, as no gold can be chosen.
    """
    refuse_conflicting_copies(latest)
    yield from group_verdicts(check_tasks(tasks, schema, latest, repair=repair, places=places), totals, places)


def refuse_conflicting_copies(latest: dict[str, Latest]) -> None:
    """Raise ``ConflictingCopiesError`` if tasks hold one article version with different texts: no gold can be chosen."""
    conflicting = [p for p in copy_problems(latest) if p.severity == "error"]
    if conflicting:
        listing = "\n".join(f"  {p.message}" for p in conflicting[:10])
        more = f"\n  ... and {len(conflicting) - 10} more" if len(conflicting) > 10 else ""
        raise ConflictingCopiesError(f"{len(conflicting)} article(s) are held by tasks with different texts:\n{listing}{more}")


def group_verdicts(
    tasks: Iterable[TaskVerdicts], totals: Counts | None = None, places: Places = Places()
) -> Iterator[tuple[dict[str, Any], ArticleAnnotations]]:
    """``iter_articles`` over tasks validate's pass already checked (``check_tasks``), for a caller that reads the pass too."""
    pending: dict[str, tuple[dict[str, Any], list[Annotation], int]] = {}  # article -> first task, kept so far, tasks read
    for checked in tasks:
        kept = []
        in_review = places.review is not None and checked.task.get("project") == places.review
        for verdict in checked.verdicts:
            if totals is not None:
                totals.add(verdict.status)
            if verdict.annotation is None:
                continue  # rejected, skipped, or misplaced (anyone but a reviewer in the review project, too)
            # A reviewer's annotation in the review project is the decision.
            kept.append(replace(verdict.annotation, ground_truth=True) if in_review else verdict.annotation)
        info = checked.latest
        if info is None:
            continue
        aid = codec.article_id_of(checked.task)
        first, together, read = pending.pop(aid, (checked.task, [], 0))
        together += kept
        if read + 1 < len(info.task_ids):
            pending[aid] = (first, together, read + 1)
        elif together:
            yield first, by_annotator(aid, codec.text_of(checked.task), together)


def mention_origins(suggested: Iterable[Mention], submitted: Iterable[Mention]) -> dict[Mention, str]:
    """How each submitted mention came: ``suggested`` (as a model suggested it), ``suggested-edited``
    (a suggestion relabelled, or moved on the same label), else ``manual``; each suggestion used once."""
    left = list(suggested)
    out: dict[Mention, str] = {}
    rest = []
    for m in submitted:
        if m in left:
            left.remove(m)
            out[m] = "suggested"
        else:
            rest.append(m)
    for m in rest:
        label, a, b = m
        twin = next((s for s in left if (s[1], s[2]) == (a, b)), None) or next(
            (s for s in left if s[0] == label and s[1] < b and a < s[2]), None
        )
        if twin is not None:
            left.remove(twin)
        out[m] = "suggested-edited" if twin is not None else "manual"
    return out


def pulled_articles(title: str, schema: Schema, root: Path, repair: bool = True) -> Iterator[tuple[dict[str, Any], ArticleAnnotations]]:
    """The latest pull's articles of a project with their votes, streamed (versions first, then tasks)."""
    folder = project_folder(title, root)
    places = places_of(read_manifest(folder, title))
    return iter_articles(iter_state(folder, title), schema, latest_versions(iter_state(folder, title)), repair=repair, places=places)


# --- gold ---------------------------------------------------------------------------------------


@dataclass
class Gold:
    annotation: Annotation
    source: str  # "ground_truth", "single" or "majority"
    disputes: list[str] = field(default_factory=list)  # what the annotators did not all agree on
    held_back: int = 0  # mentions, events, arguments and answers given without a majority: left out of the gold


def majority(article: ArticleAnnotations, schema: Schema, threshold: float = DEFAULT_THRESHOLD) -> Gold:
    """Merge annotations: keep a mention, event, argument or answer more than ``threshold`` of the annotators gave.

    ``threshold`` 1.0 asks for every annotator. Two types kept on one span cannot both be
    right: both are held back.
    """
    anns = article.annotations
    n = len(anns)
    need = votes_needed(n, threshold)
    disputes: list[str] = []
    held_back = 0

    def support(keys_per_annotator: list[set[Any]]) -> Counter[Any]:
        counter: Counter[Any] = Counter()
        for keys in keys_per_annotator:
            counter.update(keys)
        return counter

    def vote(kind: str, spans: list[set[tuple[str, int, int]]]) -> list[tuple[str, int, int]]:
        """The spans at least ``need`` annotators gave; every non-unanimous one becomes a dispute."""
        nonlocal held_back
        votes = support(spans)
        kept = {k for k, v in votes.items() if v >= need}
        # Two types kept on one span: the merge cannot choose, so neither is gold.
        clashing = {k for k in kept for other in kept if other != k and other[1:] == k[1:]}
        for (label, start, end), count in sorted(votes.items()):
            if (label, start, end) in clashing:
                held_back += 1
                disputes.append(f"{kind} {label} {article.text[start:end]!r} ({start}-{end}): {count}/{n} annotators,"
                                " another type on the same span, held back")
            elif count < n:
                verdict = "kept" if count >= need else "held back"
                held_back += count < need
                disputes.append(f"{kind} {label} {article.text[start:end]!r} ({start}-{end}): {count}/{n} annotators, {verdict}")
        return sorted(kept - clashing)

    entities = vote("entity", [set(entity_keys(a)) for a in anns])
    triggers = vote("event", [set(trigger_keys(a)) for a in anns])
    argument_votes = support([set(argument_keys(a)) for a in anns])
    entity_ids = {k: f"m{i}" for i, k in enumerate(entities)}
    arguments: dict[tuple[str, int, int], list[Argument]] = defaultdict(list)
    for key, votes in sorted(argument_votes.items()):
        trigger, role, entity = key[:3], key[3], key[4:]
        survives = votes >= need and trigger in triggers and entity in entity_ids
        if votes < n:
            held_back += not survives
            disputes.append(
                f"argument {role} of {trigger[0]} {article.text[trigger[1]:trigger[2]]!r} → {article.text[entity[1]:entity[2]]!r}:"
                f" {votes}/{n} annotators, {'kept' if survives else 'held back'}"
            )
        if survives:
            arguments[trigger].append(Argument(role, entity_ids[entity]))
    document: dict[str, Any] = {}
    for spec in schema.document:
        answers = Counter(_hashable(a.document.get(spec.name)) for a in anns if spec.name in a.document)
        if not answers:
            continue
        ranked = answers.most_common()
        if len(ranked) > 1:
            disputes.append(f"document {spec.name}: " + ", ".join(f"{_plain(v)} ×{c}" for v, c in ranked))
        if ranked[0][1] >= need and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            document[spec.name] = _plain(ranked[0][0])
        else:
            held_back += 1
    merged = Annotation(
        id=MAJORITY_ID,
        task_id=anns[0].task_id,
        article_id=article.article_id,
        article_version=anns[0].article_version,
        annotator=None,
        created_at=None,
        updated_at=None,
        lead_time=None,
        ground_truth=False,
        cancelled=False,
        entities=tuple(EntityMention(entity_ids[k], k[0], k[1], k[2], article.text[k[1] : k[2]]) for k in entities),
        events=tuple(
            EventMention(f"t{i}", k[0], k[1], k[2], article.text[k[1] : k[2]], tuple(arguments.get(k, ())))
            for i, k in enumerate(triggers)
        ),
        document=document,
    )
    return Gold(merged, "majority", disputes, held_back)


def votes_needed(annotators: int, threshold: float = DEFAULT_THRESHOLD) -> int:
    """How many of ``annotators`` must give an item for the merge to keep it: more than ``threshold`` of them.

    With the default 0.5: 2 of 2, 2 of 3, 3 of 4, 3 of 5; ``threshold`` 1.0 (or any share
    that leaves no "more") asks for all of them.
    """
    return min(annotators, math.floor(threshold * annotators + 1e-9) + 1)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def select_gold(article: ArticleAnnotations, schema: Schema, threshold: float = DEFAULT_THRESHOLD) -> Gold:
    """The gold annotation of an article: ground truth, else the only one, else the majority merge."""
    if article.ground_truth:
        return Gold(max(article.ground_truth, key=lambda a: (a.updated_at or "", a.id)), "ground_truth")
    if len(article.annotations) == 1:
        return Gold(article.annotations[0], "single")
    return majority(article, schema, threshold)

