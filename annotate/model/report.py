"""``annotate model report``: what the suggestions did, from the latest pull.

For every kept annotation that started from one of our suggestions (Label Studio records the
prediction an annotation was made from, ``parent_prediction``; ``suggest`` recorded what each
prediction held), each suggested and each submitted mention (entities and triggers) is one of:

* ``accepted``: submitted with the same span and label;
* ``relabelled``: the same span submitted with another label;
* ``boundary``: the same label submitted on an overlapping span with other offsets;
* ``deleted``: suggested, and nothing of its label overlapping it was submitted;
* ``added``: submitted, not suggested.

Pairs are matched in that order, each mention once (``export.diff.match``): so the counts
add up to the suggested mentions (accepted + relabelled + boundary + deleted) and to the
submitted ones (accepted + relabelled + boundary + added).

Beside them: the median time per article (``lead_time``) with suggestions and in the control
slice (articles withheld from suggestion, annotated after the first suggest run); agreement on
articles with and without suggestions; and annotators who accept nearly everything
(``ACCEPTS_NEARLY_ALL``) while agreeing with the others ``AGREES_LESS`` entity F1 below what the
others agree among themselves (or, with only two annotators, below the control slice's agreement).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import schema as schema_mod
from ..agreement import AgreementBuilder, Score
from ..annotators import Pseudonyms
from ..export.diff import item, match
from ..gold import ArticleAnnotations, pulled_articles
from ..models import Annotation, Schema
from ..store import EXPORTS, Mention, project_folder, read_suggestions

OUTCOMES = ("accepted", "relabelled", "boundary", "deleted", "added")
_NAMES = {"same": "accepted", "relabelled": "relabelled", "boundary": "boundary", "removed": "deleted", "added": "added"}
ACCEPTS_NEARLY_ALL = 0.95  # share of suggested mentions accepted unchanged
AGREES_LESS = 0.05  # entity F1 with the others this far below the reference



def submitted_mentions(annotation: Annotation) -> list[Mention]:
    return [(m.type, m.start, m.end) for m in (*annotation.entities, *annotation.events)]


def outcomes(suggested: Iterable[Mention], submitted: Iterable[Mention]) -> list[tuple[str, str]]:
    """(outcome, label) of every suggested and submitted mention; the label is the submitted one where there is one."""
    return [(_NAMES[change], label) for change, label in match([item(*m) for m in suggested], [item(*m) for m in submitted])]


@dataclass
class SuggestionReport:
    totals: Counter[str] = field(default_factory=Counter)
    per_label: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_annotator: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    annotations: int = 0  # kept annotations that started from a suggestion
    lead_time: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    anchored: list[dict[str, Any]] = field(default_factory=list)  # annotators who accept nearly all and agree less

    def as_dict(self) -> dict[str, Any]:
        def five(c: Counter[str]) -> dict[str, int]:
            return {k: c[k] for k in OUTCOMES}

        return {
            "annotations": self.annotations,
            "totals": five(self.totals),
            "per_label": {k: five(v) for k, v in sorted(self.per_label.items())},
            "per_annotator": {k: five(v) for k, v in sorted(self.per_annotator.items())},
            "lead_time": self.lead_time,
            "agreement": self.agreement,
            "anchored": self.anchored,
        }


def _median(times: list[float]) -> dict[str, Any]:
    return {"annotations": len(times), "median_seconds": round(statistics.median(times), 1) if times else None}


def _f1(score: Score) -> float | None:
    f1 = score.f1
    return None if f1 != f1 else round(f1, 4)  # NaN: nothing to compare


def report(title: str, *, schema: Schema | None = None, root: Path = EXPORTS, repair: bool = True) -> SuggestionReport:
    """What suggestions did in the latest pull of ``title`` (see the module's docstring)."""
    schema = schema or schema_mod.load()
    recorded = read_suggestions(project_folder(title, root))
    made, control, first = recorded.made, recorded.control, recorded.first
    pseudonyms = Pseudonyms(project_folder(title, root))
    out = SuggestionReport()
    times: dict[str, list[float]] = {"suggested": [], "control": []}
    builders = {"suggested": AgreementBuilder(), "control": AgreementBuilder(), "all": AgreementBuilder()}
    for _, grouped in pulled_articles(title, schema, root, repair):
        started = [a for a in grouped.annotations if a.parent_prediction in made]
        for a in started:
            out.annotations += 1
            who = str(pseudonyms(a.annotator))
            for outcome, label in outcomes(made[a.parent_prediction or 0], submitted_mentions(a)):
                out.totals[outcome] += 1
                out.per_label[label][outcome] += 1
                out.per_annotator[who][outcome] += 1
            if a.lead_time is not None:
                times["suggested"].append(float(a.lead_time))
        in_control = grouped.article_id in control
        after = [a for a in grouped.annotations if first is not None and (a.created_at or "") >= first and a.parent_prediction is None]
        if in_control:
            times["control"] += [float(a.lead_time) for a in after if a.lead_time is not None]
        builders["all"].add(grouped)
        if started:
            builders["suggested"].add(ArticleAnnotations(grouped.article_id, grouped.text, started, []))
        elif in_control and after:
            builders["control"].add(ArticleAnnotations(grouped.article_id, grouped.text, after, []))
    out.lead_time = {k: _median(v) for k, v in times.items()}
    for group in ("suggested", "control"):
        figures = builders[group].report(pseudonyms).as_dict()
        out.agreement[group] = {
            "articles_compared": figures["articles_compared"],
            "entity_f1_exact": figures["entities"]["exact"]["f1"],
            "trigger_f1": figures["events"]["triggers"]["f1"],
        }
    out.anchored = _anchored(out, builders["all"], pseudonyms)
    pseudonyms.save()
    return out


def _anchored(out: SuggestionReport, everyone: AgreementBuilder, name: Pseudonyms) -> list[dict[str, Any]]:
    """Annotators who accept nearly every suggestion while agreeing with the others less than the others agree.

    Their entity F1 with everyone else (all articles) is held against the others' F1 with each
    other; with no other pair (two annotators), against the agreement on the control slice, where
    nobody saw a suggestion.
    """
    pairs = {(str(name(a)), str(name(b))): scores["entities_exact"] for (a, b), scores in everyone.pair_scores.items()}
    control = out.agreement.get("control", {}).get("entity_f1_exact")
    flagged = []
    for who, counts in sorted(out.per_annotator.items()):
        suggested = sum(counts[k] for k in ("accepted", "relabelled", "boundary", "deleted"))
        if not suggested or counts["accepted"] / suggested < ACCEPTS_NEARLY_ALL:
            continue
        theirs, others = Score(), Score()
        for pair, score in pairs.items():
            (theirs if who in pair else others).add(score)
        mine = _f1(theirs)
        reference, against = (_f1(others), "the others among themselves") if others.reference + others.other else (control, "everyone on the control slice")
        if mine is not None and reference is not None and mine < reference - AGREES_LESS:
            flagged.append({"annotator": who, "accepted_share": round(counts["accepted"] / suggested, 4),
                            "entity_f1_with_others": mine, "reference_entity_f1": reference, "reference": against})
    return flagged
