"""Export: the gold dataset in each format (a Hugging Face DatasetDict, CoNLL, brat, JSON Lines, wojood, textee, spacy).

Gold per article is chosen as ``annotate.gold.select_gold`` chooses it: a kept
annotation marked ground truth wins (the newest, if several); else an article
annotated once has that annotation as gold; else the annotators' newest kept
annotations are merged by majority (a mention, event, argument or answer stays
when at least ``ExportConfig.threshold`` of them gave it). Only the latest
version of each article is exported. Features are declared once from the schema
and rows are streamed into the writers.

Modules: ``documents`` (gold to tokens and rows), ``features`` (the HF features),
``writers`` (one per format), ``card`` (README.md), ``folders`` (the atomic swap).
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any

from .. import parallel, schema as schema_mod
from ..annotators import Pseudonyms
from ..agreement import AgreementBuilder
from ..errors import ExportError, storage_error
from ..gold import ArticleAnnotations, Gold, iter_articles, mention_origins, select_gold
from ..models import FORMATS, SPLITS, UNITS, Counts, ExportConfig, Schema
from ..store import (
    EXPORTS, MODEL_INFO, Latest, Places, StateLines, Suggestions, TaskVersion, latest_of, newest_model, places_of,
    project_folder, read_manifest, read_suggestions, task_version,
)
from .card import card as render_card
from . import diff as diff_mod
from .diff import GOLD, gold_line
from .labelmap import LabelMap, map_annotation, map_schema, read_label_map
from .documents import Doc, label_counts, make_doc, split_of
from .folders import EXPORT_RECORD, check_out, clean_leftovers, make_folder, remove_folder, swap_into_place
from .writers import Writer, writer_class
from .writers.brat import brat_type

__all__ = ["ExportError", "ExportReport", "ExportStats", "export", "parse_split"]


@dataclass
class ExportStats:
    """What an export counted; the card shows it and export.json keeps it (``as_dict``)."""

    boundary_splits: int = 0  # words split where a mention starts or ends inside them
    entities_not_in_bio: int = 0  # nested or overlapping: in `entities` only
    triggers_not_in_bio: int = 0
    entities_crossing: int = 0  # overlapping another without either holding the other: in no nested column
    entities_mapped_out: int = 0  # --label-map: mentions of a type mapped to O, left out
    gold_sources: Counter[str] = field(default_factory=Counter)  # "ground_truth", "single", "majority" -> articles
    articles_in_dispute: int = 0  # merged with something not unanimous
    items_held_back: int = 0  # mentions, events, arguments, answers without a majority: not in the gold
    articles_per_split: Counter[str] = field(default_factory=Counter)
    label_counts: dict[str, Counter[str]] = field(default_factory=lambda: {s: Counter() for s in SPLITS})
    articles: int = 0  # latest versions in the pull, exported or not
    articles_without_gold: int = 0
    annotations_pulled: int = 0
    annotations_kept: int = 0  # valid as pulled or repaired
    annotations_rejected: int = 0
    annotations_cancelled: int = 0
    annotations_misplaced: int = 0  # made outside their author's place in a team project: never votes nor gold
    overlap: int = 0  # a team project: the most annotators' queues an article was given to (0: no queues)
    agreement: dict[str, Any] = field(default_factory=dict)  # AgreementReport.as_dict()
    origins: Counter[str] = field(default_factory=Counter)  # gold mentions and triggers by how they came (models.ORIGINS)
    model: dict[str, Any] | None = None  # the newest suggestion model's model.json (figures, version), if one was trained

    def add(self, doc: Doc, chosen: Gold) -> None:
        """Count one exported article (its split already assigned)."""
        self.boundary_splits += doc.boundary_splits
        self.entities_not_in_bio += len(doc.entity_left_out)
        self.triggers_not_in_bio += len(doc.trigger_left_out)
        self.entities_crossing += len(doc.entity_crossing)
        self.gold_sources[chosen.source] += 1
        self.articles_in_dispute += bool(chosen.disputes)
        self.items_held_back += chosen.held_back
        self.articles_per_split[doc.split] += 1
        self.label_counts[doc.split].update(label_counts(doc))
        self.origins.update(doc.entity_origins)
        self.origins.update(doc.trigger_origins)

    def merge(self, later: ExportStats) -> None:
        """Add what ``add`` counted of the articles exported after these (a second process's)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            if f.name == "label_counts":
                for split, counted in theirs.items():
                    mine.setdefault(split, Counter()).update(counted)
            elif isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, int):
                setattr(self, f.name, mine + theirs)

    @property
    def exported(self) -> int:
        return sum(self.articles_per_split.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON, in field order: Counters as dicts, label counts per split."""
        plain: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "label_counts":
                value = {s: dict(c) for s, c in value.items()}
            elif isinstance(value, Counter):
                value = dict(value)
            plain[f.name] = value
        return plain


@dataclass
class ExportReport:
    out: Path
    format: str
    rows: dict[str, int]  # per split, every split named
    articles: dict[str, int]  # per split, only splits with articles
    stats: ExportStats = field(default_factory=ExportStats)
    changes: diff_mod.Diff | None = None  # since ``previous``, when given


@dataclass
class _Run:
    """What every article of one export is written with."""

    schema: Schema
    config: ExportConfig
    places: Places
    labels: LabelMap | None
    suggestions: Suggestions
    pseudonyms: Pseudonyms
    latest: dict[str, Latest] = field(default_factory=dict)


@dataclass
class _Written:
    """What writing some of the articles counted (``_write_articles``): added up in their order (``merge``)."""

    stats: ExportStats = field(default_factory=ExportStats)
    totals: Counts = field(default_factory=Counts)
    builder: AgreementBuilder = field(default_factory=AgreementBuilder)
    rows: dict[str, int] = field(default_factory=dict)  # a second process's rows per split (``HFPart``)
    annotators: dict[str, dict[str, Any]] = field(default_factory=dict)  # a second process's pseudonyms

    def merge(self, later: _Written) -> None:
        """Add what was counted of the articles written after these: as if one pass had counted them all."""
        self.stats.merge(later.stats)
        self.totals.merge(later.totals)
        self.builder.merge(later.builder)


def _write_articles(tasks: Iterable[dict[str, Any]], run: _Run, writer: Writer, gold_file: IO[str]) -> _Written:
    """Validate ``tasks`` (every task of their articles, in the state's order), choose each article's gold, write it."""
    done = _Written()
    config, schema, labels = run.config, run.schema, run.labels
    for task, grouped in iter_articles(tasks, schema, run.latest, done.totals, repair=config.repair, places=run.places):
        done.builder.add(grouped)
        chosen = select_gold(grouped, schema, config.threshold)
        origins = _origins(grouped, chosen, run.suggestions)
        if labels:
            mapped, left_out = map_annotation(chosen.annotation, labels)
            chosen = replace(chosen, annotation=mapped)
            done.stats.entities_mapped_out += left_out
        article = dict(task["data"])
        article.setdefault("article_id", grouped.article_id)
        doc = make_doc(article, chosen, grouped.annotations, run.pseudonyms, origins)
        doc.split = split_of(article["text"], config.seed, config.split)
        writer.write(doc)
        gold_file.write(json.dumps(gold_line(article, chosen.annotation), ensure_ascii=False) + "\n")
        done.stats.add(doc, chosen)
    return done


def _halves(lines: list[tuple[str, int]], latest: dict[str, Latest]) -> list[list[int]]:
    """The state's line numbers (``lines``: each one's article and version) in two halves of about as many tasks, for
    both cores (in one when they are fewer than ``parallel.ENOUGH``): each article whole in one half, and every article
    of the first done (its last task of the latest version read) before any of the second, so that the second's rows
    come after the first's as in one pass."""
    if len(lines) < parallel.ENOUGH:
        return [list(range(len(lines)))]
    lines_of: dict[str, list[int]] = {}
    done_at: dict[str, int] = {}
    for n, (article, version) in enumerate(lines):
        lines_of.setdefault(article, []).append(n)
        if version == latest[article].version:
            done_at[article] = n
    return [sorted(half) for half in parallel.halves([lines_of[a] for a in sorted(lines_of, key=lambda a: done_at[a])])]


def _on_two_cores(
    state: StateLines, halves: list[list[int]], run: _Run, writer: Writer, gold_file: IO[str], part: Path, files_schema: Schema
) -> _Written:
    """The first half written here, the second in a forked child (``parallel``) into ``part`` (its rows as Arrow
    streams, its gold lines), then added after the first's: the same files as one pass writes."""
    from .writers.hf import HFPart, HFWriter  # pyarrow: loaded for hf alone (``writer_class``)

    assert isinstance(writer, HFWriter)
    before = dict(run.pseudonyms.known)

    def second() -> _Written:
        shutil.rmtree(part, ignore_errors=True)  # a child that failed may have begun it
        part_writer = HFPart(part, files_schema, run.config.unit)
        with open(part / GOLD, "w", encoding="utf-8") as part_gold:
            done = _write_articles((state.task(n) for n in halves[1]), run, part_writer, part_gold)
        done.rows = part_writer.close()
        done.annotators = {name: entry for name, entry in run.pseudonyms.known.items() if name not in before}
        return done

    first, later = parallel.on_two_cores(lambda: _write_articles((state.task(n) for n in halves[0]), run, writer, gold_file), second)
    writer.absorb(part, later.rows)
    with open(part / GOLD, encoding="utf-8") as part_gold:
        shutil.copyfileobj(part_gold, gold_file)
    shutil.rmtree(part)
    for name, entry in later.annotators.items():
        if name not in run.pseudonyms.known:
            run.pseudonyms.known[name] = entry
            run.pseudonyms.changed = True
    first.merge(later)
    return first


def parse_split(value: str) -> tuple[float, float, float]:
    """``--split`` as three ratios (train, validation, test) that add up to 1."""
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        parts = ()
    # not (p >= 0) also refuses NaN, which compares false to everything and would send every article to test.
    if len(parts) != 3 or not all(math.isfinite(p) and p >= 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise ExportError(f"--split {value!r}: give three ratios for train, validation and test that add up to 1, like 0.8,0.1,0.1")
    return parts  # type: ignore[return-value]


def _origins(grouped: ArticleAnnotations, chosen: Gold, suggestions: Suggestions) -> dict[tuple[str, str], str]:
    """How each gold mention and trigger came: against what the model suggested to the annotations of this article."""
    suggested = sorted({
        m for a in (*grouped.annotations, *grouped.ground_truth) if a.parent_prediction in suggestions.made
        for m in suggestions.made[a.parent_prediction or 0]
    })
    if not suggested:
        return {}
    gold = chosen.annotation
    kinds = [("entity", e.id, (e.type, e.start, e.end)) for e in gold.entities] + [
        ("trigger", e.id, (e.type, e.start, e.end)) for e in gold.events
    ]
    came = mention_origins(suggested, [key for _, _, key in kinds])
    return {(kind, mention_id): came[key] for kind, mention_id, key in kinds}


def newest_model_info(folder: Path) -> dict[str, Any] | None:
    """The newest suggestion model's record (version, figures, split), for the card; None without one."""
    found = newest_model(folder)
    if found is None:
        return None
    try:
        return json.loads((found / MODEL_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check(config: ExportConfig) -> None:
    """Refuse options that cannot be written, before anything is read: a library caller can pass any value."""
    if config.format not in FORMATS:
        raise ExportError(f"--format {config.format!r}: choose one of {', '.join(FORMATS)}")
    if config.unit not in UNITS:
        raise ExportError(f"--unit {config.unit!r}: choose document or sentence")
    parse_split(",".join(str(ratio) for ratio in config.split))  # the same rule as --split


def export(
    title: str,
    out: Path,
    config: ExportConfig = ExportConfig(),
    *,
    schema: Schema | None = None,
    root: Path = EXPORTS,
    previous: Path | None = None,
    label_map: Path | None = None,
) -> ExportReport:
    """Build the gold set from the latest pull and write it to ``out`` atomically.

    ``previous``: an earlier export folder; the card says what changed since (``diff``).
    ``label_map``: a file mapping the schema's entity types to other labels (``labelmap``).

    Streams: the pulled state is read twice (article versions, then the tasks),
    and each article is validated (with validate's repairs unless ``config.repair``
    is off), given its gold, tokenized and written before the next. In hf, from
    ``parallel.ENOUGH`` tasks, the articles done last are written by a forked child on
    the second core and added after the others: the same files, byte for byte.
    """
    _check(config)
    out = Path(out)
    if out.name in ("", ".", ".."):
        raise ExportError(f"--out {str(out)!r}: give the export its own folder, like exports/conflict-v1")
    clean_leftovers(out)  # first: it may put back an export a killed run had moved away
    refused = check_out(out, config.overwrite)
    if refused:
        raise ExportError(refused)
    if out.exists() and not config.overwrite:
        raise ExportError(f"{out} exists already; choose another --out or add --overwrite to replace it.")
    if previous is not None:
        diff_mod.read_gold(previous)  # refused now, before any work, if it is no export
    schema = schema or schema_mod.load()
    labels = read_label_map(label_map, schema) if label_map is not None else None
    written = map_schema(schema, labels) if labels else schema  # the labels the files speak of
    if len({brat_type(e.name) for e in schema.events}) != len(schema.events):
        raise ExportError("two event types differ only by ':' and '_'; brat cannot tell them apart")
    folder = project_folder(title, root)
    manifest = read_manifest(folder, title)
    run = _Run(schema, config, places_of(manifest), labels, read_suggestions(folder), Pseudonyms(folder))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_folder(out)
    except OSError as exc:
        raise storage_error(exc, out) from None
    try:
        writer = writer_class(config.format)(tmp, written, config.unit)
        with StateLines(folder, title) as state, open(tmp / GOLD, "w", encoding="utf-8") as gold_file:
            # The versions first (the state read whole and checked), then the articles, read again line by line.
            articles: list[tuple[str, int]] = []  # each line's article and version

            def versions() -> Iterator[TaskVersion]:
                for n, line in enumerate(state):
                    version = task_version(state.decode(line, n))
                    articles.append(version[:2])
                    yield version

            run.latest = latest = latest_of(versions())
            # Both cores for hf, the default format (its rows travel back as Arrow streams); the others in one pass.
            halves = _halves(articles, latest) if config.format == "hf" else [list(range(len(articles)))]
            if len(halves) == 1:
                done = _write_articles((state.task(n) for n in halves[0]), run, writer, gold_file)
            else:
                done = _on_two_cores(state, halves, run, writer, gold_file, tmp / ".second-half", written)
        stats, totals, builder = done.stats, done.totals, done.builder
        rows_per_split = writer.close()
        if not stats.exported:
            raise ExportError(
                f"project {title!r} has no article with a kept annotation yet; nothing to export.",
                "Run `annotate validate` to see why.",
            )
        stats.articles = len(latest)
        stats.articles_without_gold = len(latest) - stats.exported
        stats.annotations_pulled = totals.pulled
        stats.annotations_kept = totals.kept + totals.repaired
        stats.annotations_rejected = totals.rejected
        stats.annotations_cancelled = totals.cancelled
        stats.annotations_misplaced = totals.misplaced
        stats.overlap = max((len(set(info.projects) & run.places.queue_projects) for info in latest.values()), default=0)
        stats.agreement = builder.report(run.pseudonyms).as_dict()
        stats.model = newest_model_info(folder)
        changes = diff_mod.diff(previous, tmp) if previous is not None else None
        (tmp / "README.md").write_text(
            render_card(written, config, rows_per_split, stats, manifest, writer.data_files, writer.num_bytes,
                        writer.file_bytes, changes=changes, previous=previous, labels=labels),
            encoding="utf-8",
        )
        record = {"format": config.format, "unit": config.unit, "seed": config.seed, "split": list(config.split),
                  "threshold": config.threshold, "repair": config.repair, "rows": rows_per_split,
                  "stats": stats.as_dict(), "manifest": manifest,
                  "label_map": {"path": labels.path, "sha256": labels.sha256, "mapping": labels.mapping} if labels else None}
        (tmp / EXPORT_RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
        run.pseudonyms.save()  # before publishing: the owner keeps the key to every pseudonym the export shows
        swap_into_place(tmp, out)
    except OSError as exc:
        remove_folder(tmp)
        # The writers (datasets' Arrow files among them) seldom name the file: name the export.
        raise storage_error(exc, out) from None
    except BaseException:
        remove_folder(tmp)
        raise
    return ExportReport(out, config.format, rows_per_split, dict(stats.articles_per_split), stats, changes)
