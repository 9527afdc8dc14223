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
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .. import schema as schema_mod
from ..annotators import Pseudonyms
from ..agreement import AgreementBuilder
from ..errors import ExportError, storage_error
from ..gold import ArticleAnnotations, Gold, iter_articles, mention_origins, select_gold
from ..models import FORMATS, SPLITS, UNITS, Counts, ExportConfig, Schema
from ..store import (
    EXPORTS, MODEL_INFO, Suggestions, iter_state, latest_versions, newest_model, places_of, project_folder, read_manifest,
    read_suggestions,
)
from .card import card as render_card
from . import diff as diff_mod
from .diff import GOLD, gold_line
from .labelmap import map_annotation, map_schema, read_label_map
from .documents import Doc, label_counts, make_doc, split_of
from .folders import EXPORT_RECORD, check_out, clean_leftovers, make_folder, remove_folder, swap_into_place
from .writers import writer_class
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
    is off), given its gold, tokenized and written before the next.
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
    places = places_of(manifest)
    pseudonyms = Pseudonyms(folder)
    latest = latest_versions(iter_state(folder, title))
    suggestions = read_suggestions(folder)
    totals = Counts()
    builder = AgreementBuilder()
    stats = ExportStats()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_folder(out)
    except OSError as exc:
        raise storage_error(exc, out) from None
    try:
        writer = writer_class(config.format)(tmp, written, config.unit)
        with open(tmp / GOLD, "w", encoding="utf-8") as gold_file:  # what `annotate diff` reads, in every format
            for task, grouped in iter_articles(
                iter_state(folder, title), schema, latest, totals, repair=config.repair, places=places
            ):
                builder.add(grouped)
                chosen = select_gold(grouped, schema, config.threshold)
                origins = _origins(grouped, chosen, suggestions)
                if labels:
                    mapped, left_out = map_annotation(chosen.annotation, labels)
                    chosen = replace(chosen, annotation=mapped)
                    stats.entities_mapped_out += left_out
                article = dict(task["data"])
                article.setdefault("article_id", grouped.article_id)
                doc = make_doc(article, chosen, grouped.annotations, pseudonyms, origins)
                doc.split = split_of(article["text"], config.seed, config.split)
                writer.write(doc)
                gold_file.write(json.dumps(gold_line(article, chosen.annotation), ensure_ascii=False) + "\n")
                stats.add(doc, chosen)
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
        stats.overlap = max((len(set(info.projects) & places.queue_projects) for info in latest.values()), default=0)
        stats.agreement = builder.report(pseudonyms).as_dict()
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
        pseudonyms.save()  # before publishing: the owner keeps the key to every pseudonym the export shows
        swap_into_place(tmp, out)
    except OSError as exc:
        remove_folder(tmp)
        # The writers (datasets' Arrow files among them) seldom name the file: name the export.
        raise storage_error(exc, out) from None
    except BaseException:
        remove_folder(tmp)
        raise
    return ExportReport(out, config.format, rows_per_split, dict(stats.articles_per_split), stats, changes)
