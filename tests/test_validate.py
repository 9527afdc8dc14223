"""Validation rules and repairs, one test per rule with input that only the rule catches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate import schema as schema_mod
from annotate.models import content_hash
from annotate.models import Argument, Policy
from annotate.queues import queue_title, review_title
from annotate.store import places_of
from annotate.validate import check_annotation, validate_tasks
from conftest import DEFAULT_SCHEMA, SMALL_SCHEMA

SCHEMA = schema_mod.load(DEFAULT_SCHEMA)
TEXT = "قصفت طائرات التحالف مواقع تنظيم داعش في الرقة اليوم."
#        0    5      12      20   25    31   36 39 42


def task(text: str = TEXT, version: int = 1, article_id: str = "a1", **data: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "data": {"article_id": article_id, "text": text, "content_hash": content_hash(text), "version": version, **data},
        "annotations": [],
    }


def span(text: str, piece: str, nth: int = 0) -> tuple[int, int]:
    at = -1
    for _ in range(nth + 1):
        at = text.index(piece, at + 1)
    return at, at + len(piece)


def region(rid: str, label: str, start: int, end: int, text: str | None, control: str = "entity") -> dict[str, Any]:
    value: dict[str, Any] = {"start": start, "end": end, "labels": [label]}
    if text is not None:
        value["text"] = text
    return {"id": rid, "from_name": control, "to_name": "text", "type": "labels", "value": value}


def ent(rid: str, label: str, piece: str, text: str = TEXT, nth: int = 0) -> dict[str, Any]:
    return region(rid, label, *span(text, piece, nth), piece)


def trig(rid: str, label: str, piece: str, text: str = TEXT) -> dict[str, Any]:
    return region(rid, label, *span(text, piece), piece, control="trigger")


def rel(src: str, dst: str, *roles: str) -> dict[str, Any]:
    return {"from_id": src, "to_id": dst, "type": "relation", "direction": "right", "labels": list(roles)}


def answer(choice: str = "conflict") -> dict[str, Any]:
    return {"id": "d1", "from_name": "on_topic", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}


def annotation(*results: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": 11, "completed_by": 3, "result": list(results), "lead_time": 4.2, **fields}


GOOD = [
    trig("t1", "Conflict:Attack", "قصفت"),
    ent("e1", "ORG", "التحالف"),
    ent("e2", "ORG", "تنظيم داعش"),
    ent("e3", "GPE", "الرقة"),
    ent("e4", "TIME", "اليوم"),
    rel("t1", "e1", "Attacker · المهاجم"),
    rel("t1", "e2", "Target"),
    rel("t1", "e3", "Place · المكان"),
    rel("t1", "e4", "Time · الزمن"),
    answer(),
]


def codes(verdict: Any) -> list[str]:
    return [p.code for p in verdict.problems]


def test_valid_annotation_is_read_into_the_domain_model() -> None:
    verdict = check_annotation(task(), annotation(*GOOD, ground_truth=True), SCHEMA)
    assert verdict.status == "kept" and verdict.problems == []
    a = verdict.annotation
    assert a is not None and a.annotator == 3 and a.ground_truth and a.lead_time == 4.2 and not a.cancelled
    assert [(e.type, TEXT[e.start : e.end], e.text) for e in a.entities] == [
        ("ORG", "التحالف", "التحالف"),
        ("ORG", "تنظيم داعش", "تنظيم داعش"),
        ("GPE", "الرقة", "الرقة"),
        ("TIME", "اليوم", "اليوم"),
    ]
    (event,) = a.events
    assert (event.type, event.text) == ("Conflict:Attack", "قصفت")
    assert set(event.arguments) == {
        Argument("Attacker", "e1"),
        Argument("Target", "e2"),
        Argument("Place", "e3"),
        Argument("Time", "e4"),
    }
    assert a.document == {"on_topic": "conflict"}


@pytest.mark.parametrize(
    ("results", "code"),
    [
        ([region("r", "PER", "0", 4, "قصفت"), answer()], "offset.invalid"),
        ([region("r", "PER", 40, 400, "شيء غير موجود"), answer()], "offset.out-of-range"),
        ([region("r", "PER", 5, 5, ""), answer()], "span.empty"),
        ([region("r", "PER", 4, 5, " "), answer()], "span.empty"),
        ([region("r", "PER", 0, 4, "مدينة"), answer()], "span.text-mismatch"),
        ([ent("r", "PERSON", "التحالف"), answer()], "label.unknown"),
        ([ent("r", "Conflict:Attack", "التحالف"), answer()], "label.unknown"),  # an event type is no entity
        ([region("r", "", 0, 4, "قصفت", control="trigger") | {"value": {"start": 0, "end": 4, "text": "قصفت", "labels": []}}, answer()], "label.missing"),
        ([ent("r", "ORG", "التحالف"), trig("r", "Conflict:Attack", "التحالف"), answer()], "label.multiple"),
        ([ent("r", "ORG", "التحالف") | {"from_name": "ner"}, answer()], "control.unknown"),
        ([trig("t1", "Conflict:Attack", "قصفت"), rel("t1", "gone", "Target"), answer()], "relation.dangling"),
        ([ent("e1", "ORG", "التحالف"), ent("e2", "GPE", "الرقة"), rel("e1", "e2", "Place"), answer()], "relation.ends"),
        ([trig("t1", "Conflict:Attack", "قصفت"), ent("e1", "ORG", "التحالف"), rel("t1", "e1"), answer()], "relation.no-role"),
        ([trig("t1", "Conflict:Attack", "قصفت"), ent("e1", "ORG", "التحالف"), rel("t1", "e1", "Attacker", "Target"), answer()], "relation.multiple-roles"),
        ([trig("t1", "Conflict:Attack", "قصفت"), ent("e1", "ORG", "التحالف"), rel("t1", "e1", "Boss"), answer()], "relation.unknown-role"),
        ([trig("t1", "Conflict:Attack", "قصفت"), ent("e1", "PER", "التحالف"), rel("t1", "e1", "Victim"), answer()], "relation.role-not-in-event"),
        ([trig("t1", "Conflict:Attack", "قصفت"), ent("e1", "TIME", "التحالف"), rel("t1", "e1", "Attacker"), answer()], "relation.type-not-allowed"),
        ([ent("e1", "ORG", "التحالف")], "document.missing"),
        ([ent("e1", "ORG", "التحالف"), answer("yes")], "document.unknown-choice"),
        ([ent("e1", "ORG", "التحالف"), answer(), {"id": "x", "from_name": "box", "type": "rectanglelabels", "value": {}}], "control.unknown"),
        ([], "annotation.empty"),
    ],
)
def test_each_rule_rejects_its_bad_input(results: list[dict[str, Any]], code: str) -> None:
    verdict = check_annotation(task(), annotation(*results), SCHEMA)
    assert verdict.status == "rejected" and verdict.annotation is None
    assert code in codes(verdict), verdict.problems
    problem = next(p for p in verdict.problems if p.code == code)
    assert problem.article_id == "a1" and problem.annotation_id == 11 and problem.message


def test_problem_names_the_region() -> None:
    verdict = check_annotation(task(), annotation(region("r9", "PER", 0, 4, "مدينة"), answer()), SCHEMA)
    (problem,) = verdict.problems
    assert problem.region_id == "r9" and problem.location == "article a1 / annotation 11 / region r9"
    assert "'قصفت'" in problem.message and "'مدينة'" in problem.message


def test_cardinality_limit_of_the_schema() -> None:
    text = "نقلت القوات الأسلحة من الرقة إلى دير الزور ومنها إلى الحسكة."
    results = [
        trig("t", "Movement:Transport", "نقلت", text),
        ent("a", "GPE", "الرقة", text),
        ent("b", "GPE", "دير الزور", text),
        ent("c", "GPE", "الحسكة", text),
        rel("t", "a", "Origin"),
        rel("t", "b", "Destination"),
        rel("t", "c", "Destination"),
        answer(),
    ]
    verdict = check_annotation(task(text), annotation(*results), SCHEMA)
    assert codes(verdict) == ["relation.cardinality"] and verdict.status == "rejected"


def test_overlap_and_nesting_follow_the_schema_policy() -> None:
    text = "قال المتحدث باسم وزارة الدفاع الأمريكية إن الضربات مستمرة."
    results = [ent("o", "ORG", "وزارة الدفاع الأمريكية", text), ent("g", "GPE", "الأمريكية", text), answer()]
    assert check_annotation(task(text), annotation(*results), SCHEMA).status == "kept"  # default: nesting allowed
    strict = replace(SCHEMA, policy=Policy(allow_overlap=False, allow_nested=False))
    assert codes(check_annotation(task(text), annotation(*results), strict)) == ["region.nested"]
    crossing = [ent("a", "ORG", "وزارة الدفاع", text), ent("b", "GPE", "الدفاع الأمريكية", text), answer()]
    assert check_annotation(task(text), annotation(*crossing), SCHEMA).status == "kept"
    assert codes(check_annotation(task(text), annotation(*crossing), strict)) == ["region.overlap"]


def test_cancelled_changed_and_outdated_articles() -> None:
    cancelled = check_annotation(task(), annotation(was_cancelled=True), SCHEMA)
    assert cancelled.status == "cancelled" and codes(cancelled) == ["annotation.cancelled"]
    edited = task()
    edited["data"]["text"] = TEXT.replace("الرقة", "حلب")
    assert "article.text-changed" in codes(check_annotation(edited, annotation(*GOOD[:2], answer()), SCHEMA))
    old = check_annotation(task(version=1), annotation(*GOOD), SCHEMA, latest_version=2)
    assert codes(old) == ["article.outdated"] and old.status == "rejected"


# --- repairs ---------------------------------------------------------------------------

EMOJI = "🔥 قصفت طائرات 🇸🇾 التحالف مواقع في الرقة 💥 اليوم."


def utf16(text: str, start: int, end: int) -> tuple[int, int]:
    def units(i: int) -> int:
        return len(text[:i].encode("utf-16-le")) // 2

    return units(start), units(end)


def test_utf16_offsets_after_emoji_are_repaired_and_reported() -> None:
    s, e = span(EMOJI, "الرقة")
    us, ue = utf16(EMOJI, s, e)
    assert (us, ue) != (s, e)
    results = [region("r", "GPE", us, ue, "الرقة"), answer()]
    verdict = check_annotation(task(EMOJI), annotation(*results), SCHEMA)
    assert verdict.status == "repaired" and codes(verdict) == ["repair.utf16"]
    (mention,) = verdict.annotation.entities  # type: ignore[union-attr]
    assert (mention.start, mention.end, EMOJI[mention.start : mention.end]) == (s, e, "الرقة")
    refused = check_annotation(task(EMOJI), annotation(*results), SCHEMA, repair=False)
    assert refused.status == "rejected" and codes(refused) == ["span.utf16"]


def test_crlf_counted_offsets_are_repaired() -> None:
    text = "السطر الأول\nقصفت الطائرات الرقة\nالسطر الثالث عن الرقة"
    s, e = span(text, "الرقة")
    crlf = text.replace("\n", "\r\n")
    cs, ce = span(crlf, "الرقة")
    verdict = check_annotation(task(text), annotation(region("r", "GPE", cs, ce, "الرقة"), answer()), SCHEMA)
    assert codes(verdict) == ["repair.crlf"]
    assert (verdict.annotation.entities[0].start, verdict.annotation.entities[0].end) == (s, e)  # type: ignore[union-attr]


def test_whitespace_at_span_edges_is_trimmed() -> None:
    s, e = span(TEXT, " الرقة ")
    verdict = check_annotation(task(), annotation(region("r", "GPE", s, e, " الرقة "), answer()), SCHEMA)
    assert verdict.status == "repaired" and codes(verdict) == ["repair.whitespace"]
    assert verdict.annotation.entities[0].text == "الرقة"  # type: ignore[union-attr]
    assert check_annotation(task(), annotation(region("r", "GPE", s, e, " الرقة "), answer()), SCHEMA, repair=False).status == "rejected"


def test_text_found_at_a_nearby_offset_is_repaired_only_when_unambiguous() -> None:
    s, e = span(TEXT, "الرقة")
    verdict = check_annotation(task(), annotation(region("r", "GPE", s + 3, e + 3, "الرقة"), answer()), SCHEMA)
    assert codes(verdict) == ["repair.shifted"] and verdict.annotation.entities[0].start == s  # type: ignore[union-attr]
    twice = "في الرقة و الرقة"
    # Equally far from both occurrences: no guess.
    a, _ = span(twice, "الرقة")
    b, _ = span(twice, "الرقة", 1)
    middle = (a + b) // 2
    ambiguous = check_annotation(task(twice), annotation(region("r", "GPE", middle, middle + 5, "الرقة"), answer()), SCHEMA)
    assert (b - middle == middle - a) and codes(ambiguous) == ["span.text-mismatch"]


def test_duplicates_and_reversed_arguments_are_repaired() -> None:
    results = GOOD + [ent("e1b", "ORG", "التحالف"), rel("t1", "e1b", "Attacker"), rel("e3", "t1", "Place")]
    verdict = check_annotation(task(), annotation(*results), SCHEMA)
    assert verdict.status == "repaired"
    assert sorted(codes(verdict)) == [
        "repair.duplicate",
        "repair.duplicate-argument",
        "repair.duplicate-argument",
        "repair.relation-direction",
    ]
    (event,) = verdict.annotation.events  # type: ignore[union-attr]
    assert len(event.arguments) == 4 and len(verdict.annotation.entities) == 4  # type: ignore[union-attr]
    reversed_only = [r for r in GOOD if not (r.get("type") == "relation" and r["to_id"] == "e3")] + [rel("e3", "t1", "Place")]
    flipped = check_annotation(task(), annotation(*reversed_only), SCHEMA)
    assert codes(flipped) == ["repair.relation-direction"]
    assert Argument("Place", "e3") in flipped.annotation.events[0].arguments  # type: ignore[union-attr]
    strict = check_annotation(task(), annotation(*results), SCHEMA, repair=False)
    assert strict.status == "rejected"
    assert sorted(codes(strict)) == ["region.duplicate", "relation.direction"]
    twice = GOOD + [rel("t1", "e1", "Attacker")]
    assert codes(check_annotation(task(), annotation(*twice), SCHEMA, repair=False)) == ["relation.duplicate"]


def test_small_schema_has_no_events_and_no_questions() -> None:
    small = schema_mod.load(SMALL_SCHEMA)
    verdict = check_annotation(task(), annotation(ent("e", "ORG", "التحالف")), small)
    assert verdict.status == "kept" and verdict.annotation.document == {}  # type: ignore[union-attr]
    assert codes(check_annotation(task(), annotation(trig("t", "Conflict:Attack", "قصفت")), small)) == ["control.unknown"]


def test_every_annotation_is_accounted_for_per_article() -> None:
    one, two = task(article_id="a1"), task(article_id="a2")
    one["annotations"] = [annotation(*GOOD), annotation(was_cancelled=True) | {"id": 12}, annotation() | {"id": 13}]
    two["annotations"] = [annotation(region("r", "GPE", *span(TEXT, " الرقة "), " الرقة "), answer()) | {"id": 14}]
    report = validate_tasks([one, two], SCHEMA)
    c1, c2 = report.per_article["a1"], report.per_article["a2"]
    assert (c1.pulled, c1.kept, c1.rejected, c1.cancelled, c1.repaired) == (3, 1, 1, 1, 0)
    assert (c2.pulled, c2.repaired) == (1, 1)
    assert report.total.pulled == 4 and report.total.balanced


# --- property: random text and spans never crash, always balance ---------------------------

UNICODE = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),  # Arabic, with diacritics and tatweel
        st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # astral: emoji
        st.sampled_from(["\u200f", "\u200e", "\u202b", "\u202c", "\u0301", "\n", "\r", " ", "\t", "ـ"]),
        st.characters(codec="utf-8"),
    ),
    max_size=80,
)


@st.composite
def annotated_task(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(UNICODE)
    results: list[dict[str, Any]] = []
    ids = [f"r{i}" for i in range(draw(st.integers(0, 6)))]
    for rid in ids:
        start = draw(st.integers(-3, len(text) + 3))
        end = draw(st.integers(-3, len(text) + 6))
        stored = draw(st.one_of(st.none(), st.just(text[max(start, 0) : max(end, 0)]), UNICODE))
        label = draw(st.sampled_from(["PER", "GPE", "TIME", "Conflict:Attack", "Life:Die", "NOPE", ""]))
        control = draw(st.sampled_from(["entity", "trigger", "other"]))
        results.append(region(rid, label, start, end, stored, control=control))
    for _ in range(draw(st.integers(0, 4))):
        src = draw(st.sampled_from(ids + ["ghost"]))
        dst = draw(st.sampled_from(ids + ["ghost"]))
        role = draw(st.sampled_from(["Attacker", "Victim · الضحية", "Place", "Nobody", ""]))
        results.append(rel(src, dst, *([role] if role else [])))
    if draw(st.booleans()):
        results.append(answer(draw(st.sampled_from(["conflict", "other", "bogus"]))))
    t = task(text)
    t["annotations"] = [annotation(*results, was_cancelled=draw(st.booleans()))]
    return t


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(annotated_task(), min_size=1, max_size=4), st.booleans())
def test_random_spans_and_unicode_never_crash_and_balance(tasks: list[dict[str, Any]], repair: bool) -> None:
    report = validate_tasks(tasks, SCHEMA, repair=repair)
    assert report.total.pulled == len(tasks) and report.total.balanced
    for verdict in report.verdicts:
        assert (verdict.status in ("rejected", "cancelled")) == (verdict.annotation is None)
        if verdict.status == "rejected":
            assert any(p.severity == "error" for p in verdict.problems)
        if verdict.annotation is not None:
            text = tasks[0]["data"]["text"] if len(tasks) == 1 else None
            for mention in list(verdict.annotation.entities) + list(verdict.annotation.events):
                assert mention.start < mention.end and mention.text.strip() == mention.text
                if text is not None:
                    assert text[mention.start : mention.end] == mention.text


def test_ids_with_terminal_escapes_are_printed_harmless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from annotate.cli import main
    from annotate.files import write_json, write_jsonl
    from annotate.store import project_folder

    hostile = "a1\x1b]0;pwned\x07\x1b[2J"
    bad = task(article_id=hostile)
    bad["annotations"] = [annotation(ent("e1", "NOPE", "التحالف"), answer())]
    folder = project_folder("p", tmp_path)
    write_jsonl(folder / "state.jsonl", [bad])
    write_json(folder / "manifest.json", {"project_id": 1, "project_title": "p"})
    assert main(["validate", "--project", "p", "--pulled", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\x07" not in out.out + out.err
    assert "a1\\x1b]0;pwned\\x07\\x1b[2J" in out.out and "label.unknown" in out.out


def test_a_project_title_too_long_for_a_file_name_gets_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from annotate.cli import main

    title = "مشروع " * 60  # 660 bytes: far over the 255 a file name may have
    assert main(["validate", "--project", title, "--pulled", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "nothing has been pulled here yet" in err and "Traceback" not in err



def test_a_lone_surrogate_is_printed_escaped_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON may carry a bad \\ud800 escape; output and error messages show it instead of failing to encode it."""
    from annotate.cli.common import echo
    from annotate.errors import printable

    echo("article a1\ud800\x1b[2J")
    assert capsys.readouterr().out == "article a1\\ud800\\x1b[2J\n"
    assert printable("a\nb\tc") == "a\nb\tc" and printable("a\nb", one_line=True) == "a\\nb"


def test_annotations_outside_their_place_in_a_team_project_are_misplaced_and_counted() -> None:
    """Pool 1 (owner 9), queues 2 (user 3) and 4 (user 5), review 6 (reviewer 8); a project one person labels has no places."""
    manifest = {
        "project_id": 1, "project_title": "T", "owner_id": 9, "reviewers": [8],
        "parts": {"2": queue_title("T", 3), "4": queue_title("T", 5), "6": review_title("T")},
    }
    places = places_of(manifest)
    assert places.queues == {2: 3, 4: 5} and places.review == 6 and places.owner == 9
    good = [ent("e1", "GPE", "الرقة"), answer()]

    def placed(project: int, author: int, task_id: int) -> dict[str, Any]:
        return {**task(article_id=f"a{task_id}"), "id": task_id, "project": project,
                "annotations": [annotation(*good, id=task_id * 10, completed_by=author)]}

    tasks = [
        placed(2, 3, 1),  # their own queue: kept
        placed(2, 5, 2),  # in another's queue
        placed(1, 3, 3),  # in the pool, by an annotator
        placed(1, 9, 4),  # in the pool, by the owner: kept
        placed(6, 3, 5),  # in the review project, by an annotator
        placed(6, 8, 6),  # in the review project, by the reviewer: kept
    ]
    report = validate_tasks(tasks, SCHEMA, places=places)
    assert [v.status for v in report.verdicts] == ["kept", "misplaced", "misplaced", "kept", "misplaced", "kept"]
    assert report.total.misplaced == 3 and report.total.balanced
    (problem,) = [p for p in report.verdicts[1].problems if p.code == "annotation.out-of-place"]
    assert (problem.article_id, problem.annotation_id) == ("a2", 20) and "user 5" in problem.message
    assert "queue of user 3" in problem.message and report.verdicts[1].annotation is None
    # The same annotations in a project one person labels (no parts recorded) are all kept.
    alone = validate_tasks(tasks, SCHEMA, places=places_of({"project_id": 1, "project_title": "T"}))
    assert alone.total.misplaced == 0 and alone.total.kept == 6
    # Annotations in the roster are a warning of the project, not of an article.
    roster = validate_tasks([], SCHEMA, places=places_of({**manifest, "roster_annotations": 2}))
    assert [(p.code, p.severity) for p in roster.problems] == [("roster.annotated", "warning")]


def _choices(name: str, *values: Any, kind: str = "choices", key: str = "choices", rid: str = "d1") -> dict[str, Any]:
    return {"id": rid, "from_name": name, "to_name": "text", "type": kind, "value": {key: list(values)}}


@pytest.mark.parametrize(
    "answers, code",
    [
        ([_choices("on_topic", "conflict", "none")], "document.multiple-choices"),  # two choices to a single-choice question
        ([_choices("on_topic")], "document.missing"),  # the required question answered with []
        ([_choices("on_topic", "x", kind="textarea", key="text")], "document.wrong-type"),  # a textarea on a choices field
        ([_choices("on_topic", "conflict"), _choices("on_topic", "none", rid="d2")], "document.repeated"),  # the second silently won
        ([answer(), _choices("text_issues", "truncated", "truncated")], "document.duplicate-choice"),
    ],
)
def test_document_answers_the_editor_never_produces_are_rejected_by_name(answers: list[dict[str, Any]], code: str) -> None:
    """Issue 18: each of these passed validate as kept, then the hf export raised (unhashable list, KeyError)."""
    verdict = check_annotation(task(), annotation(ent("e1", "ORG", "التحالف"), *answers), SCHEMA)
    assert verdict.status == "rejected" and code in codes(verdict)
    (problem,) = [p for p in verdict.problems if p.code == code]
    assert problem.article_id == "a1" and problem.annotation_id == 11 and problem.region_id in ("on_topic", "text_issues")


def test_well_formed_answers_are_kept_as_the_export_reads_them() -> None:
    verdict = check_annotation(task(), annotation(ent("e1", "ORG", "التحالف"), answer(), _choices("text_issues", "truncated", "boilerplate")), SCHEMA)
    assert verdict.status == "kept" and verdict.annotation is not None
    assert verdict.annotation.document == {"on_topic": "conflict", "text_issues": ["truncated", "boilerplate"]}


def test_region_ids_and_labels_the_editor_never_stores_are_named_for_what_they_are() -> None:
    # Before: the letters of "PER" were checked as three labels, and two regions sharing an id (or
    # both without one) merged into one region reported as having two labels.
    as_text = ent("r", "ORG", "التحالف")
    as_text["value"]["labels"] = "PER"
    verdict = check_annotation(task(), annotation(as_text, answer()), SCHEMA)
    assert codes(verdict) == ["label.invalid"]
    assert "the region's labels are 'PER', not a list of label names" in verdict.problems[0].message

    shared = [ent("r", "ORG", "التحالف"), ent("r", "GPE", "الرقة"), answer()]
    verdict = check_annotation(task(), annotation(*shared), SCHEMA)
    assert verdict.status == "rejected" and codes(verdict) == ["region.id-repeated"]
    assert "two regions share the id 'r' with different spans" in verdict.problems[0].message

    unnamed = [ent("", "ORG", "التحالف"), ent("", "GPE", "الرقة") | {"id": None}, answer()]
    verdict = check_annotation(task(), annotation(*unnamed), SCHEMA)
    assert codes(verdict) == ["region.no-id", "region.no-id"]
    assert [p.region_id for p in verdict.problems] == ["result 1", "result 2"]

    # One region labelled twice from both controls is still one region with two labels.
    both = [ent("r", "ORG", "التحالف"), trig("r", "Conflict:Attack", "التحالف"), answer()]
    assert codes(check_annotation(task(), annotation(*both), SCHEMA)) == ["label.multiple"]
