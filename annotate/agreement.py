"""Agreement between annotators, and the gold annotation of each article.

Figures (pairwise over annotators who labelled the same article):

* entity mentions: precision, recall and F1, exact (same type and span) and
  overlapping (same type, spans share a character; matched one to one);
* tokens: Cohen's kappa per pair and Krippendorff's alpha (nominal) over all
  annotators, on BIO tags of tokens cut at every annotator's boundaries;
* events: trigger F1 (type and span) and argument F1 (trigger, role, entity).

Gold per article: an annotation marked ground truth wins; a single annotation
is gold by itself; otherwise a majority merge keeps what at least ``threshold``
of the annotators agree on, and everything not unanimous is listed as disputed.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from .models import Annotation, Argument, EntityMention, EventMention, Schema
from .tokens import bio, token_span, tokenize
from .errors import AnnotateError
from .validate import Counts, Latest, TextIndex, article_id_of, check_annotation, copy_problems

DEFAULT_THRESHOLD = 0.5
MAJORITY_ID = -1  # the id of a merged annotation (it exists in no Label Studio)


# --- coefficients (tests compare them with scikit-learn and the krippendorff package) -----------


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two equally long label sequences (NaN when chance agreement is total)."""
    if len(a) != len(b):
        return math.nan
    return _kappa(Counter(zip(a, b)))


def _add_unit(coincidence: Counter[tuple[str, str]], values: Sequence[str | None]) -> None:
    """Add one unit's pairable values to a coincidence matrix (Krippendorff's o_ck)."""
    present = [v for v in values if v is not None]
    m = len(present)
    if m < 2:
        return
    counts = Counter(present)
    for c in counts:
        for k in counts:
            pairs = counts[c] * (counts[k] - (1 if c == k else 0))
            if pairs:
                coincidence[(c, k)] += pairs / (m - 1)


def _alpha(coincidence: Counter[tuple[str, str]]) -> float:
    totals: Counter[str] = Counter()
    for (c, _k), value in coincidence.items():
        totals[c] += value
    n = sum(totals.values())
    if n <= 1:
        return math.nan
    observed = sum(v for (c, k), v in coincidence.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k) / (n - 1)
    if expected == 0:
        return math.nan
    return 1 - observed / expected


def krippendorff_alpha(data: Sequence[Sequence[str | None]]) -> float:
    """Krippendorff's alpha, nominal, for rows of coders and columns of units (None: not coded)."""
    coincidence: Counter[tuple[str, str]] = Counter()
    for unit in zip(*data):
        _add_unit(coincidence, unit)
    return _alpha(coincidence)


def _kappa(pairs: Counter[tuple[str, str]]) -> float:
    """Cohen's kappa from the counts of (label of one, label of the other) over shared items."""
    n = sum(pairs.values())
    if n == 0:
        return math.nan
    observed = sum(c for (x, y), c in pairs.items() if x == y) / n
    first: Counter[str] = Counter()
    second: Counter[str] = Counter()
    for (x, y), c in pairs.items():
        first[x] += c
        second[y] += c
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected == 1:
        return math.nan
    return (observed - expected) / (1 - expected)


@dataclass
class Score:
    """Matches between a reference and another annotator's items."""

    matched: int = 0
    reference: int = 0  # items of the first annotator of the pair
    other: int = 0  # items of the second

    def add(self, other: Score) -> None:
        self.matched += other.matched
        self.reference += other.reference
        self.other += other.other

    @property
    def precision(self) -> float:
        return self.matched / self.other if self.other else math.nan

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else math.nan

    @property
    def f1(self) -> float:
        total = self.reference + self.other
        return 2 * self.matched / total if total else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": _num(self.precision),
            "recall": _num(self.recall),
            "f1": _num(self.f1),
            "matched": self.matched,
            "reference": self.reference,
            "other": self.other,
        }


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 6)


def _exact(a: Sequence[tuple[Any, ...]], b: Sequence[tuple[Any, ...]]) -> Score:
    return Score(sum((Counter(a) & Counter(b)).values()), len(a), len(b))


def _overlapping(a: Sequence[tuple[str, int, int]], b: Sequence[tuple[str, int, int]]) -> Score:
    """One-to-one matches of same-type spans that share a character; exact matches first."""
    left = sorted(a, key=lambda m: (m[1], m[2]))
    right = list(b)
    used = [False] * len(right)
    matched = 0
    for exact_pass in (True, False):
        for m in list(left):
            for j, r in enumerate(right):
                if used[j] or r[0] != m[0]:
                    continue
                if (r[1], r[2]) == (m[1], m[2]) if exact_pass else (r[1] < m[2] and m[1] < r[2]):
                    used[j] = True
                    matched += 1
                    left.remove(m)
                    break
    return Score(matched, len(a), len(b))


# --- per article ------------------------------------------------------------------------------


def _entities(a: Annotation) -> list[tuple[str, int, int]]:
    return [(e.type, e.start, e.end) for e in a.entities]


def _triggers(a: Annotation) -> list[tuple[str, int, int]]:
    return [(e.type, e.start, e.end) for e in a.events]


def _arguments(a: Annotation) -> list[tuple[Any, ...]]:
    spans = {e.id: (e.type, e.start, e.end) for e in a.entities}
    return [(ev.type, ev.start, ev.end, arg.role, *spans[arg.entity_id]) for ev in a.events for arg in ev.arguments]


def token_tags(text: str, annotations: Sequence[Annotation]) -> list[list[str]]:
    """BIO entity tags per annotator over tokens cut at every annotator's boundaries, so they align."""
    boundaries = {x for a in annotations for e in a.entities for x in (e.start, e.end)}
    tokens, _ = tokenize(text, boundaries)
    tags = []
    for a in annotations:
        spans = [(e.type, *token_span(tokens, e.start, e.end)) for e in a.entities]
        tags.append(bio(len(tokens), spans)[0])
    return tags


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
    tasks: Iterable[dict[str, Any]], schema: Schema, latest: dict[str, Latest], totals: Counts | None = None
) -> Iterator[tuple[dict[str, Any], ArticleAnnotations]]:
    """Validate task by task; yield each article (latest version) that has kept annotations, with its votes.

    Every annotation is counted in ``totals``, exported or not. An article held
    by several tasks (a duplicate import) is yielded once, with the annotations
    of all of them read together, when the last of them has been read; copies
    with different texts stop here with an error, as no gold can be chosen.
    """
    conflicting = [p for p in copy_problems(latest) if p.severity == "error"]
    if conflicting:
        listing = "\n".join(f"  {p.message}" for p in conflicting[:10])
        more = f"\n  ... and {len(conflicting) - 10} more" if len(conflicting) > 10 else ""
        raise AnnotateError(f"{len(conflicting)} article(s) are held by tasks with different texts:\n{listing}{more}")
    pending: dict[str, tuple[dict[str, Any], list[Annotation], int]] = {}  # article -> first task, kept so far, tasks read
    for task in tasks:
        data = task.get("data") or {}
        aid = article_id_of(task)
        info = latest.get(aid)
        version = info.version if info else None
        index = TextIndex(str(data.get("text") or ""))
        kept = []
        for raw in task.get("annotations") or []:
            verdict = check_annotation(task, raw, schema, latest_version=version, index=index)
            if totals is not None:
                totals.add(verdict.status)
            if verdict.annotation is not None:
                kept.append(verdict.annotation)
        if info is None or int(data.get("version") or 1) != info.version:
            continue
        first, together, read = pending.pop(aid, (task, [], 0))
        together += kept
        if read + 1 < len(info.task_ids):
            pending[aid] = (first, together, read + 1)
        elif together:
            yield first, by_annotator(aid, str(data.get("text") or ""), together)


@dataclass
class AgreementReport:
    annotators: list[int | None]
    articles: int  # articles with at least two annotators
    entities_exact: Score = field(default_factory=Score)
    entities_overlap: Score = field(default_factory=Score)
    triggers: Score = field(default_factory=Score)
    arguments: Score = field(default_factory=Score)
    per_label_exact: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    per_label_overlap: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    pairs: dict[tuple[Any, Any], dict[str, Any]] = field(default_factory=dict)
    alpha: float = math.nan
    lowest: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "annotators": self.annotators,
            "articles_compared": self.articles,
            "entities": {"exact": self.entities_exact.as_dict(), "overlap": self.entities_overlap.as_dict()},
            "events": {"triggers": self.triggers.as_dict(), "arguments": self.arguments.as_dict()},
            "tokens": {"krippendorff_alpha": _num(self.alpha)},
            "per_label": {
                label: {"exact": self.per_label_exact[label].as_dict(), "overlap": self.per_label_overlap[label].as_dict()}
                for label in sorted(set(self.per_label_exact) | set(self.per_label_overlap))
            },
            "pairs": [
                {"annotators": list(pair), **{k: (v.as_dict() if isinstance(v, Score) else v) for k, v in figures.items()}}
                for pair, figures in self.pairs.items()
            ],
            "lowest_agreement": [{"article_id": a, "entity_f1": _num(f)} for a, f in self.lowest],
        }


class AgreementBuilder:
    """Agreement figures accumulated article by article (nothing per token is kept)."""

    def __init__(self, lowest: int = 10) -> None:
        self.lowest = lowest
        self.annotators: set[Any] = set()
        self.articles = 0
        self.scores: dict[str, Score] = defaultdict(Score)
        self.per_label_exact: dict[str, Score] = defaultdict(Score)
        self.per_label_overlap: dict[str, Score] = defaultdict(Score)
        self.pair_scores: dict[tuple[Any, Any], dict[str, Score]] = defaultdict(lambda: defaultdict(Score))
        self.pair_tags: dict[tuple[Any, Any], Counter[tuple[str, str]]] = defaultdict(Counter)
        self.pair_articles: Counter[tuple[Any, Any]] = Counter()
        self.coincidence: Counter[tuple[str, str]] = Counter()
        self.article_f1: list[tuple[str, float]] = []

    def add(self, article: ArticleAnnotations) -> None:
        if len(article.annotations) < 2:
            return
        self.articles += 1
        self.annotators.update(a.annotator for a in article.annotations)
        tags = token_tags(article.text, article.annotations)
        for unit in zip(*tags):
            _add_unit(self.coincidence, unit)
        article_score = Score()
        for (i, a), (j, b) in combinations(list(enumerate(article.annotations)), 2):
            pair = (a.annotator, b.annotator)
            self.pair_articles[pair] += 1
            scores = {
                "entities_exact": _exact(_entities(a), _entities(b)),
                "entities_overlap": _overlapping(_entities(a), _entities(b)),
                "triggers": _exact(_triggers(a), _triggers(b)),
                "arguments": _exact(_arguments(a), _arguments(b)),
            }
            for name, score in scores.items():
                self.scores[name].add(score)
                self.pair_scores[pair][name].add(score)
            article_score.add(scores["entities_exact"])
            for label in {m[0] for m in _entities(a) + _entities(b)}:
                mine = [m for m in _entities(a) if m[0] == label]
                theirs = [m for m in _entities(b) if m[0] == label]
                self.per_label_exact[label].add(_exact(mine, theirs))
                self.per_label_overlap[label].add(_overlapping(mine, theirs))
            self.pair_tags[pair].update(zip(tags[i], tags[j]))
        f1 = article_score.f1
        self.article_f1.append((article.article_id, 1.0 if math.isnan(f1) else f1))  # nothing to disagree on

    def report(self) -> AgreementReport:
        annotators = sorted(self.annotators, key=lambda u: (u is None, u or 0))
        report = AgreementReport(annotators=annotators, articles=self.articles)
        report.entities_exact = self.scores["entities_exact"]
        report.entities_overlap = self.scores["entities_overlap"]
        report.triggers = self.scores["triggers"]
        report.arguments = self.scores["arguments"]
        report.per_label_exact = self.per_label_exact
        report.per_label_overlap = self.per_label_overlap
        for pair, scores in self.pair_scores.items():
            report.pairs[pair] = {
                "articles": self.pair_articles[pair],
                "entities_exact": scores["entities_exact"],
                "entities_overlap": scores["entities_overlap"],
                "triggers": scores["triggers"],
                "arguments": scores["arguments"],
                "cohen_kappa": _num(_kappa(self.pair_tags[pair])),
            }
        report.alpha = _alpha(self.coincidence) if self.articles else math.nan
        report.lowest = sorted(self.article_f1, key=lambda x: (x[1], x[0]))[: self.lowest]
        return report


def agreement(articles: Iterable[ArticleAnnotations], lowest: int = 10) -> AgreementReport:
    """Every figure, from the kept annotations of articles labelled by two or more annotators."""
    builder = AgreementBuilder(lowest)
    for article in articles:
        builder.add(article)
    return builder.report()


# --- gold -------------------------------------------------------------------------------------


@dataclass
class Gold:
    annotation: Annotation
    source: str  # "ground_truth", "single" or "majority"
    disputes: list[str] = field(default_factory=list)  # what the annotators did not all agree on


def majority(article: ArticleAnnotations, schema: Schema, threshold: float = DEFAULT_THRESHOLD) -> Gold:
    """Merge annotations: keep a mention, event, argument or answer at least ``threshold`` of annotators gave."""
    anns = article.annotations
    n = len(anns)
    need = max(1, math.ceil(threshold * n - 1e-9))
    disputes: list[str] = []

    def support(keys_per_annotator: list[set[Any]]) -> Counter[Any]:
        counter: Counter[Any] = Counter()
        for keys in keys_per_annotator:
            counter.update(keys)
        return counter

    def vote(kind: str, spans: list[set[tuple[str, int, int]]]) -> list[tuple[str, int, int]]:
        """The spans at least ``need`` annotators gave; every non-unanimous one becomes a dispute."""
        votes = support(spans)
        for (label, start, end), count in sorted(votes.items()):
            if count < n:
                kept = "kept" if count >= need else "dropped"
                disputes.append(f"{kind} {label} {article.text[start:end]!r} ({start}-{end}): {count}/{n} annotators, {kept}")
        return sorted(k for k, v in votes.items() if v >= need)

    entities = vote("entity", [set(_entities(a)) for a in anns])
    triggers = vote("event", [set(_triggers(a)) for a in anns])
    argument_votes = support([set(_arguments(a)) for a in anns])
    entity_ids = {k: f"m{i}" for i, k in enumerate(entities)}
    arguments: dict[tuple[str, int, int], list[Argument]] = defaultdict(list)
    for key, votes in sorted(argument_votes.items()):
        trigger, role, entity = key[:3], key[3], key[4:]
        survives = votes >= need and trigger in triggers and entity in entity_ids
        if votes < n:
            disputes.append(
                f"argument {role} of {trigger[0]} {article.text[trigger[1]:trigger[2]]!r} → {article.text[entity[1]:entity[2]]!r}:"
                f" {votes}/{n} annotators, {'kept' if survives else 'dropped'}"
            )
        if survives:
            arguments[trigger].append(Argument(role, entity_ids[entity]))
    # Two types on one span, both kept, is a dispute too: the merge cannot choose.
    for kind, keys in (("entity", entities), ("event", triggers)):
        for span, types in _group_spans(keys).items():
            if len(types) > 1:
                disputes.append(f"{kind} {article.text[span[0]:span[1]]!r} ({span[0]}-{span[1]}) has types {', '.join(types)}")
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
    return Gold(merged, "majority", disputes)


def _group_spans(keys: Iterable[tuple[str, int, int]]) -> dict[tuple[int, int], list[str]]:
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for kind, start, end in keys:
        groups[(start, end)].append(kind)
    return groups


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

