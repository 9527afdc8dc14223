"""Agreement between annotators: the figures validate, export and the dataset card report.

Figures (pairwise over annotators who labelled the same article):

* entity mentions: precision, recall and F1, exact (same type and span) and
  overlapping (same type, spans share a character; matched one to one);
* tokens: Cohen's kappa per pair and Krippendorff's alpha (nominal) over all
  annotators, on BIO tags of tokens cut at every annotator's boundaries;
* events: trigger F1 (type and span) and argument F1 (trigger, role, entity).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from .gold import ArticleAnnotations, argument_keys, entity_keys, trigger_keys
from .models import Annotation
from .tokens import bio, token_span, tokenize


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
class AgreementReport:
    annotators: list[Any]  # as ``name`` shows them: pseudonyms in everything annotate prints or exports
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


def _scores() -> defaultdict[str, Score]:
    return defaultdict(Score)  # a named function, not a lambda: a builder pickles (a second process sends it back)


class AgreementBuilder:
    """Agreement figures accumulated article by article (nothing per token is kept)."""

    def __init__(self, lowest: int = 10, *, spans_only: bool = False) -> None:
        """``spans_only``: the span scores alone (overall, per label, per pair); no token tags, so no kappa or alpha
        (``team status`` reads the pairs' F1, and tagging every text's tokens would be most of its time)."""
        self.lowest = lowest
        self.spans_only = spans_only
        self.annotators: set[Any] = set()
        self.articles = 0
        self.scores: dict[str, Score] = defaultdict(Score)
        self.per_label_exact: dict[str, Score] = defaultdict(Score)
        self.per_label_overlap: dict[str, Score] = defaultdict(Score)
        self.pair_scores: dict[tuple[Any, Any], dict[str, Score]] = defaultdict(_scores)
        self.pair_tags: dict[tuple[Any, Any], Counter[tuple[str, str]]] = defaultdict(Counter)
        self.pair_articles: Counter[tuple[Any, Any]] = Counter()
        self.coincidence: Counter[tuple[str, str]] = Counter()
        self.article_f1: list[tuple[str, float]] = []

    def add(self, article: ArticleAnnotations) -> None:
        if len(article.annotations) < 2:
            return
        self.articles += 1
        self.annotators.update(a.annotator for a in article.annotations)
        tags = [] if self.spans_only else token_tags(article.text, article.annotations)
        for unit in zip(*tags):
            _add_unit(self.coincidence, unit)
        article_score = Score()
        for (i, a), (j, b) in combinations(list(enumerate(article.annotations)), 2):
            pair = (a.annotator, b.annotator)
            self.pair_articles[pair] += 1
            scores = {
                "entities_exact": _exact(entity_keys(a), entity_keys(b)),
                "entities_overlap": _overlapping(entity_keys(a), entity_keys(b)),
                "triggers": _exact(trigger_keys(a), trigger_keys(b)),
                "arguments": _exact(argument_keys(a), argument_keys(b)),
            }
            for name, score in scores.items():
                self.scores[name].add(score)
                self.pair_scores[pair][name].add(score)
            article_score.add(scores["entities_exact"])
            for label in {m[0] for m in entity_keys(a) + entity_keys(b)}:
                mine = [m for m in entity_keys(a) if m[0] == label]
                theirs = [m for m in entity_keys(b) if m[0] == label]
                self.per_label_exact[label].add(_exact(mine, theirs))
                self.per_label_overlap[label].add(_overlapping(mine, theirs))
            if tags:
                self.pair_tags[pair].update(zip(tags[i], tags[j]))
        f1 = article_score.f1
        self.article_f1.append((article.article_id, 1.0 if math.isnan(f1) else f1))  # nothing to disagree on

    def merge(self, later: AgreementBuilder) -> None:
        """Add what ``later`` accumulated of the articles after these (a second process's): as if added here."""
        self.annotators |= later.annotators
        self.articles += later.articles
        for mine, theirs in ((self.scores, later.scores), (self.per_label_exact, later.per_label_exact),
                             (self.per_label_overlap, later.per_label_overlap)):
            for name, score in theirs.items():
                mine[name].add(score)
        for pair, scores in later.pair_scores.items():
            for name, score in scores.items():
                self.pair_scores[pair][name].add(score)
        for pair, tags in later.pair_tags.items():
            self.pair_tags[pair].update(tags)
        self.pair_articles.update(later.pair_articles)
        self.coincidence.update(later.coincidence)
        self.article_f1 += later.article_f1

    def report(self, name: Callable[[int | None], Any] = lambda user: user) -> AgreementReport:
        """The figures; ``name`` shows each annotator (the CLI and the card pass ``annotators.Pseudonyms``)."""
        annotators = [name(u) for u in sorted(self.annotators, key=lambda u: (u is None, u or 0))]
        report = AgreementReport(annotators=annotators, articles=self.articles)
        report.entities_exact = self.scores["entities_exact"]
        report.entities_overlap = self.scores["entities_overlap"]
        report.triggers = self.scores["triggers"]
        report.arguments = self.scores["arguments"]
        report.per_label_exact = self.per_label_exact
        report.per_label_overlap = self.per_label_overlap
        for pair, scores in self.pair_scores.items():
            report.pairs[(name(pair[0]), name(pair[1]))] = {
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


def agreement(
    articles: Iterable[ArticleAnnotations], lowest: int = 10, name: Callable[[int | None], Any] = lambda user: user
) -> AgreementReport:
    """Every figure, from the kept annotations of articles labelled by two or more annotators."""
    builder = AgreementBuilder(lowest)
    for article in articles:
        builder.add(article)
    return builder.report(name)


def figure(x: float | None) -> str:
    """A figure as the CLI and the dataset card print it."""
    return "n/a" if x is None else f"{x:.3f}"


def headline(figures: dict[str, Any]) -> list[tuple[str, float | None]]:
    """The overall figures of ``AgreementReport.as_dict()``, named once for the CLI and the dataset card."""
    e, ev = figures["entities"], figures["events"]
    rows: list[tuple[str, float | None]] = [
        ("entity F1, exact span and type", e["exact"]["f1"]),
        ("entity precision, exact", e["exact"]["precision"]),
        ("entity recall, exact", e["exact"]["recall"]),
        ("entity F1, overlapping span, same type", e["overlap"]["f1"]),
        ("Krippendorff's alpha (nominal, BIO tokens)", figures["tokens"]["krippendorff_alpha"]),
        ("event trigger F1 (span and type)", ev["triggers"]["f1"]),
        ("event argument F1 (trigger, role, entity)", ev["arguments"]["f1"]),
    ]
    kappas = [p["cohen_kappa"] for p in figures["pairs"] if p["cohen_kappa"] is not None]
    if kappas:
        rows.append((f"Cohen's kappa (BIO tokens), mean over {len(kappas)} pair(s)", sum(kappas) / len(kappas)))
    return rows
