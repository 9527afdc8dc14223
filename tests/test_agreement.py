"""Agreement figures against the reference implementations, and the gold policy."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate import schema as schema_mod
from annotate.agreement import agreement, cohen_kappa, krippendorff_alpha, token_tags
from annotate.gold import ArticleAnnotations, by_annotator, iter_articles, majority, select_gold, votes_needed
from annotate.errors import AnnotateError
from annotate.models import Annotation, Argument, EntityMention, EventMention
from annotate.store import latest_versions
from annotate.models import Counts
from annotate.validate import validate_tasks
from conftest import DEFAULT_SCHEMA

SCHEMA = schema_mod.load(DEFAULT_SCHEMA)
TEXT = "قصفت طائرات التحالف مواقع تنظيم داعش في الرقة اليوم وقتل ثلاثة."
LABELS = st.sampled_from(["O", "B-PER", "I-PER", "B-ORG", "I-ORG"])


def cohen_kappa_score(a: list[str], b: list[str]) -> float:
    """scikit-learn's, the reference: imported when a test asks (its import takes 1-3 s of every worker's collection)."""
    from sklearn.metrics import cohen_kappa_score as reference

    return float(reference(a, b))


def same(ours: float, reference: float) -> bool:
    return (math.isnan(ours) and math.isnan(reference)) or math.isclose(ours, reference, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")  # the reference warns on one-label inputs
@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.lists(LABELS, min_size=n, max_size=n), st.lists(LABELS, min_size=n, max_size=n))))
def test_cohen_kappa_equals_scikit_learn(pair: tuple[list[str], list[str]]) -> None:
    a, b = pair
    with np.errstate(all="ignore"):
        reference = float(cohen_kappa_score(a, b))
    assert same(cohen_kappa(a, b), reference)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda coders: st.integers(2, 30).flatmap(
            lambda units: st.lists(st.lists(st.one_of(st.none(), LABELS), min_size=units, max_size=units), min_size=coders, max_size=coders)
        )
    )
)
def test_krippendorff_alpha_equals_the_krippendorff_package(data: list[list[str | None]]) -> None:
    codes = {"O": 0, "B-PER": 1, "I-PER": 2, "B-ORG": 3, "I-ORG": 4}
    matrix = np.array([[np.nan if v is None else codes[v] for v in row] for row in data], dtype=float)
    pairable = sum(1 for unit in zip(*data) if sum(v is not None for v in unit) >= 2)
    values = {v for unit in zip(*data) if sum(x is not None for x in unit) >= 2 for v in unit if v is not None}
    if pairable == 0 or len(values) < 2:
        # The package refuses these inputs (no pairable value, or one value only); alpha is undefined.
        assert math.isnan(krippendorff_alpha(data))
        return
    with np.errstate(all="ignore"):
        reference = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    assert same(krippendorff_alpha(data), reference)


def ann(aid: int, user: int, entities: list[tuple[str, str]], events: list[tuple[str, str, list[tuple[str, str]]]] = (), **kw: Any) -> Annotation:
    """entities: (type, surface); events: (type, surface, [(role, entity surface)])."""
    ents = []
    for i, (kind, surface) in enumerate(entities):
        start = TEXT.index(surface)
        ents.append(EntityMention(f"e{i}", kind, start, start + len(surface), surface))
    by_surface = {e.text: e.id for e in ents}
    evs = []
    for i, (kind, surface, args) in enumerate(events):
        start = TEXT.index(surface)
        evs.append(EventMention(f"t{i}", kind, start, start + len(surface), surface, tuple(Argument(r, by_surface[s]) for r, s in args)))
    fields = dict(id=aid, task_id=1, article_id="a", article_version=1, annotator=user, created_at=None, updated_at=kw.pop("updated_at", f"2026-01-0{aid % 9 + 1}"),
                  lead_time=None, ground_truth=kw.pop("ground_truth", False), cancelled=False, entities=tuple(ents), events=tuple(evs), document=kw.pop("document", {}))
    return Annotation(**fields)


A = ann(1, 1, [("ORG", "التحالف"), ("ORG", "تنظيم داعش"), ("GPE", "الرقة")], [("Conflict:Attack", "قصفت", [("Attacker", "التحالف"), ("Place", "الرقة")])], document={"on_topic": "conflict"})
B = ann(2, 2, [("ORG", "التحالف"), ("ORG", "داعش"), ("GPE", "الرقة")], [("Conflict:Attack", "قصفت", [("Attacker", "التحالف")])], document={"on_topic": "conflict"})
C = ann(3, 3, [("ORG", "التحالف"), ("GPE", "الرقة"), ("TIME", "اليوم")], [("Conflict:Attack", "قصفت", [("Place", "الرقة")]), ("Life:Die", "قتل", [])], document={"on_topic": "other"})


def test_entity_event_and_token_figures_on_a_known_example() -> None:
    report = agreement([by_annotator("a", TEXT, [A, B, C])])
    assert report.articles == 1 and report.annotators == [1, 2, 3]
    # exact matches: A-B 2 (التحالف, الرقة), A-C 2, B-C 2; each annotator has 3 entities.
    assert (report.entities_exact.matched, report.entities_exact.reference, report.entities_exact.other) == (6, 9, 9)
    # overlapping: A-B also matches تنظيم داعش with داعش.
    assert report.entities_overlap.matched == 7
    assert math.isclose(report.entities_exact.f1, 12 / 18)
    pair = report.pairs[(1, 2)]
    assert pair["entities_exact"].f1 == pytest.approx(2 / 3) and pair["entities_overlap"].f1 == pytest.approx(1.0)
    # triggers: Attack by all, Die only by C; arguments: (Attacker) A-B, (Place) A-C.
    assert report.triggers.matched == 3 and report.arguments.matched == 2
    assert report.per_label_exact["GPE"].f1 == 1.0 and report.per_label_exact["TIME"].f1 == 0.0
    tags = token_tags(TEXT, [A, B, C])
    assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(tags[0], tags[1]), abs=1e-6)
    codes = {t: i for i, t in enumerate(sorted({t for row in tags for t in row}))}
    matrix = np.array([[codes[t] for t in row] for row in tags], dtype=float)
    assert report.alpha == pytest.approx(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    assert report.lowest[0][0] == "a"


def test_majority_keeps_what_more_than_half_agree_on_and_lists_the_rest() -> None:
    gold = majority(by_annotator("a", TEXT, [A, B, C]), SCHEMA)
    assert gold.source == "majority"
    assert {(e.type, e.text) for e in gold.annotation.entities} == {("ORG", "التحالف"), ("GPE", "الرقة")}  # 3/3 each
    (attack,) = gold.annotation.events  # Life:Die had 1 of 3
    by_id = {e.id: e.text for e in gold.annotation.entities}
    assert {(a.role, by_id[a.entity_id]) for a in attack.arguments} == {("Attacker", "التحالف"), ("Place", "الرقة")}  # 2/3 each
    assert gold.annotation.document == {"on_topic": "conflict"}
    text = "\n".join(gold.disputes)
    assert "entity ORG 'تنظيم داعش'" in text and "1/3 annotators, held back" in text
    assert "event Life:Die 'قتل'" in text and "argument Attacker" in text and "document on_topic" in text
    # Held back: تنظيم داعش, داعش, اليوم (1/3 each), the event Life:Die.
    assert gold.held_back == 4


def test_with_two_annotators_a_one_vs_one_disagreement_keeps_neither_version() -> None:
    """The default is a strict majority: what only one of two annotators gave is not gold."""
    assert [votes_needed(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert [votes_needed(n, 1.0) for n in (2, 3)] == [2, 3] and votes_needed(2, 0.4) == 1
    gpe = ann(11, 1, [("GPE", "الرقة"), ("ORG", "التحالف")])
    loc = ann(12, 2, [("LOC", "الرقة"), ("ORG", "التحالف")])
    gold = majority(by_annotator("a", TEXT, [gpe, loc]), SCHEMA)
    assert {(e.type, e.text) for e in gold.annotation.entities} == {("ORG", "التحالف")}
    assert gold.held_back == 2 and sum("held back" in d for d in gold.disputes) == 2
    # A lower threshold keeps what one of two gave, but never two types on one span.
    lenient = majority(by_annotator("a", TEXT, [gpe, loc]), SCHEMA, threshold=0.4)
    assert {(e.type, e.text) for e in lenient.annotation.entities} == {("ORG", "التحالف")}
    assert lenient.held_back == 2 and all("another type on the same span" in d for d in lenient.disputes)
    union = majority(by_annotator("a", TEXT, [A, B]), SCHEMA, threshold=0.4)
    assert len(union.annotation.entities) == 4  # التحالف, الرقة, تنظيم داعش, داعش: one vote each is enough


def test_gold_policy_ground_truth_then_single_then_majority() -> None:
    truth = ann(9, 4, [("ORG", "التحالف")], ground_truth=True, updated_at="2025-01-01")
    assert select_gold(by_annotator("a", TEXT, [A, B, truth]), SCHEMA).annotation is truth
    assert select_gold(by_annotator("a", TEXT, [B]), SCHEMA).source == "single"
    assert select_gold(by_annotator("a", TEXT, [A, B, C]), SCHEMA).source == "majority"
    # An annotator's newer annotation replaces their older one as their vote; ground truth is no vote.
    newer = ann(7, 1, [("GPE", "الرقة")], updated_at="2026-05-01")
    grouped = by_annotator("a", TEXT, [A, newer, truth])
    assert [x.id for x in grouped.annotations] == [7] and grouped.ground_truth == [truth]


def test_no_shared_articles_gives_no_figures() -> None:
    report = agreement([ArticleAnnotations("a", TEXT, [A], [])])
    assert report.articles == 0 and math.isnan(report.alpha) and report.as_dict()["tokens"]["krippendorff_alpha"] is None


def _copy(task_id: int, *annotations: dict[str, Any], text: str = TEXT) -> dict[str, Any]:
    """A task holding article a1, as a duplicate import makes it."""
    return {"id": task_id, "data": {"article_id": "a1", "version": 1, "text": text}, "annotations": list(annotations)}


def _region(rid: str, label: str, piece: str) -> dict[str, Any]:
    start = TEXT.index(piece)
    value = {"start": start, "end": start + len(piece), "text": piece, "labels": [label]}
    return {"id": rid, "from_name": "entity", "to_name": "text", "type": "labels", "value": value}


ANSWER = {"id": "d1", "from_name": "on_topic", "to_name": "text", "type": "choices", "value": {"choices": ["conflict"]}}


def test_annotations_of_every_task_of_an_article_are_read_together() -> None:
    vote = {"id": 1, "completed_by": 1, "result": [_region("g", "LOC", "الرقة"), ANSWER]}
    truth = {"id": 2, "completed_by": 2, "ground_truth": True, "result": [_region("g", "GPE", "الرقة"), ANSWER]}
    other = {"id": 3, "completed_by": 3, "result": [_region("g", "GPE", "الرقة"), ANSWER]}
    tasks = [_copy(7, vote), _copy(8, truth, other)]
    totals = Counts()
    articles = list(iter_articles(tasks, SCHEMA, latest_versions(tasks), totals))
    assert len(articles) == 1 and totals.pulled == totals.kept == 3
    task, grouped = articles[0]
    assert task["id"] == 7 and [a.id for a in grouped.annotations] == [1, 3] and [a.id for a in grouped.ground_truth] == [2]
    gold = select_gold(grouped, SCHEMA)
    assert gold.source == "ground_truth" and [e.type for e in gold.annotation.entities] == ["GPE"]
    report = validate_tasks(tasks, SCHEMA)
    assert [(p.code, p.severity) for p in report.problems] == [("article.duplicate-tasks", "warning")]
    assert "tasks 7, 8" in report.problems[0].message


def test_copies_of_an_article_with_different_texts_stop_the_export() -> None:
    tasks = [_copy(7), _copy(9, text=TEXT + " آخر")]
    with pytest.raises(AnnotateError, match="tasks 7, 9 hold version 1 of article a1 with different texts"):
        list(iter_articles(tasks, SCHEMA, latest_versions(tasks)))
    assert [p.code for p in validate_tasks(tasks, SCHEMA).problems] == ["article.conflicting-copies"]


def test_gold_keeps_what_validate_keeps_with_the_same_repair_setting() -> None:
    """One validation pass: an annotation that needs a repair is kept by validate and by gold, or by neither."""
    start = TEXT.index("الرقة")
    padded = dict(_region("g", "GPE", "الرقة"))
    # The span takes in the space before the word: a certain repair (trim), or an error with repairs off.
    padded["value"] = {**padded["value"], "start": start - 1, "text": " الرقة"}
    needs_repair = {"id": 1, "completed_by": 1, "result": [padded, ANSWER]}
    clean = {"id": 2, "completed_by": 2, "result": [_region("g", "GPE", "الرقة"), ANSWER]}
    tasks = [_copy(7, needs_repair, clean)]
    for repair in (True, False):
        report = validate_tasks(tasks, SCHEMA, repair=repair)
        kept_by_validate = sorted(v.annotation_id for v in report.verdicts if v.annotation is not None)
        totals = Counts()
        ((_, grouped),) = iter_articles(tasks, SCHEMA, latest_versions(tasks), totals, repair=repair)
        assert sorted(a.id for a in grouped.annotations) == kept_by_validate == ([1, 2] if repair else [2])
        assert (totals.repaired, totals.rejected) == ((1, 0) if repair else (0, 1)) == (report.total.repaired, report.total.rejected)


def test_pseudonyms_are_keyed_stable_with_their_file_and_owner_only(tmp_path: Path) -> None:
    from annotate.annotators import MAPPING, UNKNOWN, Pseudonyms
    from annotate.errors import PulledDataError

    first = Pseudonyms(tmp_path / "a")
    names = [first(u) for u in (1, 2, 3)]
    assert len(set(names)) == 3 and first(None) == UNKNOWN
    first.record_users([{"id": 2, "email": "b@x.org", "first_name": "بسمة"}])
    first.save()
    path = tmp_path / "a" / MAPPING
    assert path.stat().st_mode & 0o777 == 0o600
    again = Pseudonyms(tmp_path / "a")
    assert [again(u) for u in (1, 2, 3)] == names  # the same people, the same names, export after export
    assert again.known[names[1]] == {"label_studio_user_id": 2, "email": "b@x.org", "first_name": "بسمة"}
    # Another project's key gives other names: nothing links annotators across datasets or is guessable.
    assert [Pseudonyms(tmp_path / "b")(u) for u in (1, 2, 3)] != names
    path.write_text("{broken", encoding="utf-8")
    with pytest.raises(PulledDataError, match="annotators' key file is damaged"):
        Pseudonyms(tmp_path / "a")
