"""Validate: read every pulled annotation into the domain model, check it against text and schema.

Each annotation ends up ``kept`` (valid), ``repaired`` (kept, with every repair
reported), ``rejected`` (with its reasons), ``cancelled`` (skipped by the
annotator) or ``misplaced`` (made outside its author's place in a team project). Repairs are made only where the right span is certain; see
``_locate``. Codes are stable: docs/team-lead.md lists them.

Longer than 500 lines on purpose: this is the one validation pass, and every rule, its code and
its repair stay side by side here, where they are read against the table of codes in the docs.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import schema as schema_mod
from .files import write_json, write_jsonl
from .labelstudio import codec
from .labelstudio.codec import AnswerResult, Label, RegionResult, RelationResult, Result
from .models import Annotation, Argument, Counts, EntityMention, EventMention, Problem, Schema, Severity, Status, content_hash
from .store import EXPORTS, Latest, Places, latest_versions, places_of, project_folder, read_state

NEARBY = 64  # how far (in characters) a shifted span is looked for
# What each repair is called when repairs are off and it becomes an error.
UNREPAIRED = {
    "repair.utf16": "span.utf16",
    "repair.crlf": "span.crlf",
    "repair.shifted": "span.shifted",
    "repair.whitespace": "span.whitespace",
    "repair.duplicate": "region.duplicate",
    "repair.duplicate-argument": "relation.duplicate",
    "repair.relation-direction": "relation.direction",
}


@dataclass
class Verdict:
    """What became of one pulled annotation."""

    task_id: int
    annotation_id: int
    article_id: str
    status: Status
    annotation: Annotation | None  # the kept form (None when rejected or cancelled)
    problems: list[Problem] = field(default_factory=list)
    raw: dict[str, Any] | None = None  # the annotation as pulled, kept for rejected ones


@dataclass
class ValidationReport:
    verdicts: list[Verdict]
    per_article: dict[str, Counts]
    total: Counts
    article_problems: list[Problem] = field(default_factory=list)  # of whole articles, not of one annotation

    @property
    def problems(self) -> list[Problem]:
        return self.article_problems + [p for v in self.verdicts for p in v.problems]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")


# --- offsets ------------------------------------------------------------------------


class TextIndex:
    """Offset conversions for one text, computed once and only when needed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._utf16: list[int] | None = None
        self._newlines: list[int] | None = None

    def from_utf16(self, unit: int) -> int | None:
        """The code point offset of a UTF-16 offset, or None when it falls inside a character."""
        if self._utf16 is None:
            starts, position = [], 0
            for ch in self.text:
                starts.append(position)
                position += 2 if ord(ch) > 0xFFFF else 1
            starts.append(position)
            self._utf16 = starts
        i = bisect_left(self._utf16, unit)
        return i if i < len(self._utf16) and self._utf16[i] == unit else None

    def from_crlf(self, offset: int) -> int | None:
        """The offset in this text of an offset counted where every newline was ``\\r\\n``."""
        if self._newlines is None:
            self._newlines = [i for i, ch in enumerate(self.text) if ch == "\n"]
        # position p maps to p + (newlines before p); find p with that equal to offset.
        lo, hi = 0, len(self.text)
        while lo <= hi:
            mid = (lo + hi) // 2
            mapped = mid + bisect_left(self._newlines, mid)
            if mapped == offset:
                return mid
            if mapped < offset:
                lo = mid + 1
            else:
                hi = mid - 1
        return None


def _locate(index: TextIndex, start: int, end: int, stored: str) -> tuple[int, int, str] | None:
    """Where ``stored`` really is, when that is certain: the repair's new span and its code."""
    text = index.text
    if any(ord(ch) > 0xFFFF for ch in text):
        s, e = index.from_utf16(start), index.from_utf16(end)
        if s is not None and e is not None and text[s:e] == stored:
            return s, e, "repair.utf16"
    if "\n" in text:
        s, e = index.from_crlf(start), index.from_crlf(end)
        if s is not None and e is not None and text[s:e] == stored.replace("\r\n", "\n"):
            return s, e, "repair.crlf"
    if stored:
        window_start = max(0, start - NEARBY)
        found = []
        at = text.find(stored, window_start)
        while at != -1 and at <= end + NEARBY:
            found.append(at)
            at = text.find(stored, at + 1)
        if found:
            distances = sorted((abs(at - start), at) for at in found)
            if len(distances) == 1 or distances[0][0] != distances[1][0]:
                at = distances[0][1]
                return at, at + len(stored), "repair.shifted"
    return None


# --- reading and checking one annotation ------------------------------------------------


@dataclass
class _Region:
    id: str
    control: str
    labels: list[Label]
    start: int
    end: int
    text: str


class _Check:
    def __init__(self, article_id: str, annotation_id: int, repair: bool) -> None:
        self.article_id = article_id
        self.annotation_id = annotation_id
        self.repair = repair
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, region: str | None = None, severity: Severity = "error") -> None:
        where = f"article {self.article_id} / annotation {self.annotation_id}" + (f" / region {region}" if region else "")
        self.problems.append(
            Problem(code, where, message, severity, self.article_id, self.annotation_id, region)
        )

    def repaired(self, code: str, message: str, region: str | None) -> bool:
        """Report a certain repair; with repairs off it is an error instead."""
        if self.repair:
            self.add(code, message, region, "warning")
            return True
        self.add(UNREPAIRED[code], message.replace("repaired", "needs repair") + " (repairs are off)", region)
        return False


def _span(check: _Check, index: TextIndex, rid: str, region: RegionResult) -> tuple[int, int, str] | None:
    text = index.text
    start, end, stored = region.start, region.end, region.text
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        check.add("offset.invalid", f"the region has no character offsets (start={start!r}, end={end!r})", rid)
        return None
    if stored is not None and not isinstance(stored, str):
        check.add("span.text-invalid", "the region's stored text is not text", rid)
        return None
    if start >= end:
        check.add("span.empty", f"the region is empty or reversed ({start}-{end}); delete it or select the words again", rid)
        return None
    in_range = 0 <= start and end <= len(text)
    if stored is None:
        if not in_range:
            check.add("offset.out-of-range", f"offsets {start}-{end} are outside the text (length {len(text)})", rid)
            return None
        check.add("span.no-text", "the region stored no text; it was read from the article", rid, "info")
        stored = text[start:end]
    if not in_range or text[start:end] != stored:
        found = _locate(index, start, end, stored)
        if found is None:
            if not in_range:
                check.add(
                    "offset.out-of-range",
                    f"offsets {start}-{end} are outside the text (length {len(text)}) and {stored!r} was not found nearby",
                    rid,
                )
            else:
                check.add(
                    "span.text-mismatch",
                    f"text[{start}:{end}] is {text[start:end]!r} but the region says {stored!r}; relabel it in Label Studio",
                    rid,
                )
            return None
        new_start, new_end, code = found
        how = {"repair.utf16": "counted in UTF-16 units", "repair.crlf": "counted with \\r\\n line ends",
               "repair.shifted": "shifted"}[code]
        if not check.repaired(code, f"offsets {start}-{end} were {how}; repaired to {new_start}-{new_end}", rid):
            return None
        start, end, stored = new_start, new_end, text[new_start:new_end]
    lead, trail = len(stored) - len(stored.lstrip()), len(stored) - len(stored.rstrip())
    if lead or trail:
        if lead + trail >= len(stored):
            check.add("span.empty", "the region holds only white space", rid)
            return None
        if not check.repaired(
            "repair.whitespace",
            f"white space at the edges of {stored!r} repaired: {start}-{end} → {start + lead}-{end - trail}",
            rid,
        ):
            return None
        start, end = start + lead, end - trail
        stored = text[start:end]
    return start, end, stored


def _regions(check: _Check, index: TextIndex, results: list[Result], schema: Schema) -> dict[str, _Region]:
    allowed = {schema_mod.ENTITY_TAG: {e.name for e in schema.entities}, schema_mod.TRIGGER_TAG: {e.name for e in schema.events}}
    regions: dict[str, _Region] = {}
    for position, result in enumerate(results, start=1):
        if not isinstance(result, RegionResult):
            continue
        rid, control = result.id, result.control
        if not rid:
            # Regions are told apart by id (arguments point at ids): two without one would merge.
            check.add("region.no-id", f"result {position} is a region without an id; relabel it in Label Studio", f"result {position}")
            continue
        if control not in allowed or not allowed[control]:
            check.add("control.unknown", f"labels from {control!r}, which the schema does not define", rid)
            continue
        if result.malformed_labels is not None:
            check.add(
                "label.invalid",
                f"the region's labels are {repr(result.malformed_labels)[:80]}, not a list of"
                " label names; relabel it in Label Studio",
                rid,
            )
            continue
        if not result.labels:
            kind = "event trigger" if control == schema_mod.TRIGGER_TAG else "entity"
            check.add("label.missing", f"the {kind} region has no type; pick one in Label Studio", rid)
            continue
        for label in result.labels:
            if label.name not in allowed[control]:
                check.add(
                    "label.unknown",
                    f"label {label.name!r} is not in the schema ({', '.join(sorted(allowed[control]))})",
                    rid,
                )
        span = _span(check, index, rid, result)
        if span is None:
            continue
        if rid in regions:
            seen = regions[rid]
            if (seen.start, seen.end) != span[:2]:
                check.add(
                    "region.id-repeated",
                    f"two regions share the id {rid!r} with different spans ({seen.start}-{seen.end} and"
                    f" {span[0]}-{span[1]}); which one an argument points at cannot be known: relabel them in Label Studio",
                    rid,
                )
                continue
            seen.labels += result.labels  # one region labelled twice (or from both controls)
            continue
        regions[rid] = _Region(rid, control, list(result.labels), *span)
    for region in regions.values():
        if len(region.labels) > schema.policy.labels_per_region:
            shown = ", ".join(x.name for x in region.labels)
            check.add(
                "label.multiple",
                f"the region has {len(region.labels)} labels ({shown}); the schema allows {schema.policy.labels_per_region}",
                region.id,
            )
    return regions


def _deduplicate(check: _Check, regions: dict[str, _Region]) -> dict[str, str]:
    """Drop exact duplicate regions (same control, span and labels); return the id each dropped one maps to."""
    first: dict[tuple[Any, ...], str] = {}
    alias: dict[str, str] = {}
    for rid, region in list(regions.items()):
        key = (region.control, region.start, region.end, tuple(sorted(region.labels)))
        if key in first:
            if check.repaired("repair.duplicate", f"duplicate of region {first[key]}; repaired by keeping one", rid):
                alias[rid] = first[key]
                del regions[rid]
        else:
            first[key] = rid
    return alias


def _overlaps(check: _Check, regions: dict[str, _Region], schema: Schema) -> None:
    if schema.policy.allow_overlap and schema.policy.allow_nested:
        return
    entities = sorted((r for r in regions.values() if r.control == schema_mod.ENTITY_TAG), key=lambda r: (r.start, -r.end))
    for i, a in enumerate(entities):
        for b in entities[i + 1 :]:
            if b.start >= a.end:
                break
            nested = b.end <= a.end
            if nested and not schema.policy.allow_nested:
                check.add("region.nested", f"region {b.id} ({b.start}-{b.end}) lies inside region {a.id}; the schema forbids nesting", b.id)
            elif not nested and not schema.policy.allow_overlap:
                check.add("region.overlap", f"region {b.id} ({b.start}-{b.end}) crosses region {a.id} ({a.start}-{a.end})", b.id)


def _arguments(
    check: _Check, results: list[Result], regions: dict[str, _Region], alias: dict[str, str], schema: Schema
) -> dict[str, list[Argument]]:
    by_trigger: dict[str, list[Argument]] = {}
    seen: set[tuple[str, str, str]] = set()
    for result in results:
        if not isinstance(result, RelationResult):
            continue
        ends = [result.from_id, result.to_id]
        rel = result.name
        ends = [alias.get(x, x) for x in ends]
        missing = [x for x in ends if x not in regions]
        if missing:
            check.add("relation.dangling", f"the argument {rel} points at region(s) {', '.join(missing)}, which do not exist", rel)
            continue
        a, b = regions[ends[0]], regions[ends[1]]
        kinds = (a.control, b.control)
        if kinds == (schema_mod.ENTITY_TAG, schema_mod.TRIGGER_TAG):
            if not check.repaired("repair.relation-direction", f"the argument {rel} was drawn from the entity to the trigger; repaired", rel):
                continue
            a, b = b, a
        elif kinds != (schema_mod.TRIGGER_TAG, schema_mod.ENTITY_TAG):
            check.add("relation.ends", f"an argument must join an event trigger to an entity, but {rel} joins {kinds[0]} to {kinds[1]}", rel)
            continue
        labels = result.labels
        if len(labels) != 1:
            code = "relation.no-role" if not labels else "relation.multiple-roles"
            check.add(code, f"the argument {rel} needs exactly one role, it has {len(labels)}", rel)
            continue
        role_name = schema_mod.role_of_relation_label(labels[0])
        event_type = schema.event(a.labels[0].name)
        entity_type = b.labels[0].name
        if event_type is None:
            continue  # the trigger's own label error is reported already
        role = event_type.role(role_name)
        if role is None:
            if role_name not in schema.role_names:
                check.add("relation.unknown-role", f"role {role_name!r} of {rel} is not in the schema", rel)
            else:
                roles = ", ".join(r.name for r in event_type.roles)
                check.add("relation.role-not-in-event", f"{event_type.name} has no role {role_name} (its roles: {roles})", rel)
            continue
        if entity_type not in role.types:
            check.add(
                "relation.type-not-allowed",
                f"{event_type.name}.{role.name} takes {', '.join(role.types)}, not {entity_type} (region {b.id})",
                rel,
            )
            continue
        key = (a.id, role.name, b.id)
        if key in seen:
            check.repaired("repair.duplicate-argument", f"the argument {rel} ({role.name}) is given twice; repaired by keeping one", rel)
            continue
        seen.add(key)
        by_trigger.setdefault(a.id, []).append(Argument(role=role.name, entity_id=b.id))
    for trigger_id, arguments in by_trigger.items():
        event_type = schema.event(regions[trigger_id].labels[0].name)
        for role_name, count in Counter(arg.role for arg in arguments).items():
            role = event_type.role(role_name) if event_type else None
            if role and role.max is not None and count > role.max:
                check.add("relation.cardinality", f"{role_name} is given {count} times; {event_type.name} allows {role.max}", trigger_id)  # type: ignore[union-attr]
    return by_trigger


ANSWER_TYPE = {"single": "choices", "multiple": "choices", "text": "textarea"}  # what the editor stores for each kind


def _document(check: _Check, results: list[Result], schema: Schema) -> dict[str, Any]:
    """The answers to the document questions, as the editor gives them; anything it never produces is an error."""
    fields = {d.name: d for d in schema.document}
    answers: dict[str, Any] = {}
    seen: set[str] = set()
    for result in results:
        if not isinstance(result, AnswerResult):
            continue
        name = result.control
        spec = fields.get(name)
        if spec is None or result.type not in ("choices", "textarea"):
            check.add("control.unknown", f"an answer of type {result.type!r} from {name!r}, which the schema does not define", result.id)
            continue
        if result.type != ANSWER_TYPE[spec.kind]:
            check.add("document.wrong-type", f"{name}: a {result.type!r} answer to a question answered by {ANSWER_TYPE[spec.kind]!r}", name)
            continue
        if name in seen:  # the editor keeps one result a question: which one counts cannot be known
            check.add("document.repeated", f"{name}: answered twice in one annotation", name)
            continue
        seen.add(name)
        if result.type == "textarea":
            text = "\n".join(result.values)
            if text.strip():
                answers[name] = text
            continue
        chosen = list(result.values)
        known = {c.name for c in spec.choices}
        for choice in chosen:
            if choice not in known:
                check.add("document.unknown-choice", f"{name}: {choice!r} is not one of {', '.join(sorted(known))}", name)
        if len(set(chosen)) < len(chosen):
            check.add("document.duplicate-choice", f"{name}: the same choice given twice ({', '.join(chosen)})", name)
        if spec.kind == "single" and len(chosen) > 1:
            check.add("document.multiple-choices", f"{name}: {len(chosen)} choices given to a single-choice question", name)
        if chosen:  # an empty list answers nothing
            answers[name] = chosen[0] if spec.kind == "single" else chosen
    for spec in schema.document:
        if spec.required and spec.name not in answers:
            check.add("document.missing", f"the required question {spec.name!r} ({spec.ar}) is not answered", spec.name)
    return answers


def check_annotation(
    task: dict[str, Any],
    raw: dict[str, Any],
    schema: Schema,
    *,
    repair: bool = True,
    latest_version: int | None = None,
    index: TextIndex | None = None,
) -> Verdict:
    """Read one pulled annotation of a task and check it; return what becomes of it."""
    data = task.get("data") or {}
    text = codec.text_of(task)
    base = codec.annotation_fields(task, raw)
    article_id, annotation_id = base["article_id"], base["id"]
    check = _Check(article_id, annotation_id, repair)
    if base["cancelled"]:
        check.add("annotation.cancelled", "the annotator skipped this article", severity="info")
        return Verdict(base["task_id"], annotation_id, article_id, "cancelled", None, check.problems, raw)
    if data.get("content_hash") and content_hash(text) != data["content_hash"]:
        check.add("article.text-changed", "the task's text no longer matches the article pushed (its hash differs); offsets cannot be trusted")
    if latest_version is not None and base["article_version"] < latest_version:
        check.add(
            "article.outdated",
            f"the annotation is on version {base['article_version']} of the article; version {latest_version} replaced it",
        )
    results = codec.read_results(raw.get("result"))
    if not results:
        check.add("annotation.empty", "the annotation has no regions and no answers")
    index = index or TextIndex(text)
    regions = _regions(check, index, results, schema)
    alias = _deduplicate(check, regions)
    _overlaps(check, regions, schema)
    arguments = _arguments(check, results, regions, alias, schema)
    document = _document(check, results, schema)
    if any(p.severity == "error" for p in check.problems):
        return Verdict(base["task_id"], annotation_id, article_id, "rejected", None, check.problems, raw)
    entities = tuple(
        EntityMention(r.id, r.labels[0].name, r.start, r.end, r.text)
        for r in sorted(regions.values(), key=lambda r: (r.start, r.end, r.id))
        if r.control == schema_mod.ENTITY_TAG
    )
    events = tuple(
        EventMention(r.id, r.labels[0].name, r.start, r.end, r.text, tuple(arguments.get(r.id, ())))
        for r in sorted(regions.values(), key=lambda r: (r.start, r.end, r.id))
        if r.control == schema_mod.TRIGGER_TAG
    )
    annotation = Annotation(entities=entities, events=events, document=document, **base)  # type: ignore[arg-type]
    repaired = any(p.code.startswith("repair.") for p in check.problems)
    return Verdict(base["task_id"], annotation_id, article_id, "repaired" if repaired else "kept", annotation, check.problems, raw)


def copy_problems(latest: dict[str, Latest]) -> list[Problem]:
    """An article held by several tasks: read together (a warning), or, with different texts, an error that stops export."""
    problems = []
    for aid, info in sorted(latest.items()):
        if len(info.task_ids) < 2 or not (info.conflicting or info.duplicated):
            continue
        tasks = ", ".join(str(i) for i in sorted(info.task_ids))
        if info.conflicting:
            problems.append(Problem(
                "article.conflicting-copies", f"article {aid}",
                f"tasks {tasks} hold version {info.version} of article {aid} with different texts; export stops here."
                " Delete the wrong task in Label Studio, or give it another article id.",
                "error", aid,
            ))
        else:
            problems.append(Problem(
                "article.duplicate-tasks", f"article {aid}",
                f"tasks {tasks} hold the same article {aid} (version {info.version});"
                " their annotations are read together as one article.",
                "warning", aid,
            ))
    return problems


@dataclass
class TaskVerdicts:
    """One pulled task and what became of each of its annotations."""

    task: dict[str, Any]
    verdicts: list[Verdict]
    latest: Latest | None  # the latest version of its article (None if the task holds an older one)


def check_tasks(
    tasks: Iterable[dict[str, Any]], schema: Schema, latest: dict[str, Latest], *, repair: bool, places: Places = Places()
) -> Iterator[TaskVerdicts]:
    """The one validation pass: validate, agreement, adjudicate and export all read annotations through it.

    ``latest`` comes from a first pass over the same tasks (``store.latest_versions``);
    ``repair`` is explicit so that every stage keeps the same annotations; ``places`` (of a
    team project) marks every annotation made outside its author's place ``misplaced``.
    """
    for task in tasks:
        info = latest.get(codec.article_id_of(task))
        version = info.version if info else None
        index = TextIndex(codec.text_of(task))
        verdicts = [
            _placed(task, raw, places, check_annotation(task, raw, schema, repair=repair, latest_version=version, index=index))
            for raw in task.get("annotations") or []
        ]
        yield TaskVerdicts(task, verdicts, info if info and codec.version_of(task) == info.version else None)


def _placed(task: dict[str, Any], raw: dict[str, Any], places: Places, verdict: Verdict) -> Verdict:
    """The verdict, or, for an annotation made outside its author's place, the same marked misplaced (kept for the record)."""
    author = codec.author_of(raw)
    why = places.misplaced(int(task.get("project") or 0), author)
    if why is None:
        return verdict
    problem = Problem(
        "annotation.out-of-place",
        f"article {verdict.article_id}, annotation {verdict.annotation_id} (task {verdict.task_id})",
        f"made by user {author} outside their place: {why}. It is not a vote and not gold; nobody was given this"
        " article there. Delete it in Label Studio, or give the article to that person with the team commands.",
        "error",
        verdict.article_id,
        verdict.annotation_id,
    )
    return replace(verdict, status="misplaced", annotation=None, problems=[*verdict.problems, problem], raw=raw)


def roster_problems(places: Places) -> list[Problem]:
    """Annotations made in a team's roster project: it holds no articles, so nothing of them is data."""
    if not places.roster_annotations:
        return []
    return [Problem(
        "roster.annotated",
        f"project {places.roster!r}",
        f"{places.roster_annotations} annotation(s) were made in the team's roster, which holds people, not articles;"
        " they are not data. Delete them in Label Studio (the roster's tasks themselves must stay).",
        "warning",
    )]


def validate_tasks(
    tasks: Iterable[dict[str, Any]], schema: Schema, *, repair: bool = True, places: Places = Places()
) -> ValidationReport:
    """Check every annotation of every task; every one is accounted for in the counts."""
    tasks = list(tasks)
    latest = latest_versions(tasks)
    verdicts: list[Verdict] = []
    per_article: dict[str, Counts] = {}
    total = Counts()
    for checked in check_tasks(tasks, schema, latest, repair=repair, places=places):
        for verdict in checked.verdicts:
            verdicts.append(verdict)
            per_article.setdefault(verdict.article_id, Counts()).add(verdict.status)
            total.add(verdict.status)
    return ValidationReport(verdicts, per_article, total, copy_problems(latest) + roster_problems(places))


def _annotation_row(verdict: Verdict) -> dict[str, Any]:
    row = asdict(verdict.annotation)  # type: ignore[arg-type]
    row["status"] = verdict.status
    row["repairs"] = [asdict(p) for p in verdict.problems if p.code.startswith("repair.")]
    return row


def write_report(report: ValidationReport, folder: Path) -> dict[str, Path]:
    """Write kept annotations, rejected ones with their reasons, and the report beside the pulled data."""
    out = folder / "validated"
    paths = {"kept": out / "annotations.jsonl", "rejected": out / "rejected.jsonl", "report": out / "report.json"}
    write_jsonl(paths["kept"], (_annotation_row(v) for v in report.verdicts if v.annotation is not None))
    write_jsonl(
        paths["rejected"],
        (
            {
                "task_id": v.task_id,
                "annotation_id": v.annotation_id,
                "article_id": v.article_id,
                "status": v.status,
                "reasons": [asdict(p) for p in v.problems],
                "annotation": v.raw,
            }
            for v in report.verdicts
            if v.status in ("rejected", "cancelled", "misplaced")
        ),
    )
    write_json(paths["report"], report_dict(report))
    return paths


def report_dict(report: ValidationReport) -> dict[str, Any]:
    """The report as plain data: totals, counts per article, every problem."""
    return {
        "total": asdict(report.total),
        "per_article": {k: asdict(v) for k, v in sorted(report.per_article.items())},
        "problems": [asdict(p) for p in report.problems],
    }


def validate_project(
    title: str, *, schema: Schema | None = None, root: Path = EXPORTS, repair: bool = True
) -> tuple[ValidationReport, dict[str, Path]]:
    """Validate the latest pull of a project and write the results beside it."""
    folder = project_folder(title, root)
    tasks, manifest = read_state(folder, title)
    report = validate_tasks(tasks, schema or schema_mod.load(), repair=repair, places=places_of(manifest))
    return report, write_report(report, folder)
