"""The dataset card (README.md): a YAML header for the Hub and `datasets`, and a body from ``card.md``.

Values from outside the tool (Label Studio, the schema file) go into the body escaped
(``_text``, ``_code``): the Hub renders a card's raw HTML and Markdown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import yaml

from .. import __version__
from ..agreement import figure, headline
from ..errors import printable
from ..models import SPLITS, ExportConfig, Schema
from ..tokens import normalization_rows
from .diff import Diff, summary
from .labelmap import LabelMap

if TYPE_CHECKING:  # the package imports this module: at run time the name is not needed
    from . import ExportStats

TEMPLATE = Path(__file__).parent / "card.md"

_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


@lru_cache(maxsize=1)
def _template() -> Template:
    return Template(TEMPLATE.read_text(encoding="utf-8"))


def _text(value: Any) -> str:
    """A value from outside the tool (Label Studio, the schema file) as plain text in the card's Markdown.

    The Hub renders raw HTML in a card, so a project titled ``<img src=x onerror=...>``
    would become an image with a script. HTML is escaped, and so is Markdown punctuation
    (no links, emphasis or extra table cells); line breaks become spaces, so the value
    stays in its line or table cell; control, bidi and zero-width characters are shown as
    their escapes (``\\u202e``), as in the terminal.
    """
    return _MARKDOWN.sub(r"\\\1", html.escape(printable(" ".join(str(value).split()), one_line=True)))


def _code(value: Any) -> str:
    """``value`` as inline code if it is a plain name or hash, else as text: code shows ``&lt;`` and ``\\`` literally."""
    plain = str(value)
    return f"`{plain}`" if re.fullmatch(r"[\w.:+-]+", plain) else _text(plain)


def _size(n: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n`` articles."""
    return "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M"


def _share(threshold: float) -> str:
    """The majority threshold in the card's words ("half" at the default)."""
    return "half" if threshold == 0.5 else f"{threshold:.0%}"


def absent_text(counts: Mapping[str, int]) -> str:
    """The card's sentence on splits without rows: they have no file in any format, nor a config entry."""
    absent = [s for s in SPLITS if not counts.get(s)]
    if not absent:
        return "Every split has rows."
    return (
        f"Absent (no rows, so no file in any format and not in the Hugging Face config; `datasets` cannot load an"
        f" empty split): {', '.join(absent)}."
    )


def agreement_text(figures: dict[str, Any]) -> str:
    """The card's agreement paragraph, from ``AgreementReport.as_dict()``: the headline figures, then per label."""
    if not figures["articles_compared"]:
        return "Inter-annotator agreement: no article was labelled by two or more annotators."
    lines = [
        f"Inter-annotator agreement over {figures['articles_compared']} articles labelled by two or more of"
        f" {len(figures['annotators'])} annotators (pairwise):",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {figure(value)} |" for name, value in headline(figures)]
    per_label = ", ".join(f"{_text(k)} {figure(v['exact']['f1'])}" for k, v in figures["per_label"].items())
    lines += ["", "Entity F1 (exact) per label: " + per_label]
    return "\n".join(lines)


def _header(
    schema: Schema, config: ExportConfig, counts: Mapping[str, int], stats: ExportStats,
    data_files: Mapping[str, str], num_bytes: Mapping[str, int], file_bytes: Mapping[str, int],
) -> dict[str, Any]:
    """The card's YAML header: the Hub's metadata, and for hf what `datasets` loads (files, features, sizes)."""
    header: dict[str, Any] = {
        "language": ["ar"],
        "pretty_name": f"{schema.name} gold annotations",
        "task_categories": ["token-classification"],
        "task_ids": ["named-entity-recognition"],
        "tags": ["arabic", "news", "named-entity-recognition", "event-extraction", "label-studio"],
        "size_categories": [_size(sum(stats.articles_per_split.values()))],
    }
    if config.format == "hf":
        from .features import features  # imports `datasets`: only an hf card needs it

        # `datasets` cannot load a split with no rows, so an empty split is left out (the card says so).
        present = [s for s in SPLITS if counts[s]]
        header["configs"] = [
            {"config_name": "default", "data_files": [{"split": s, "path": data_files[s]} for s in present]}
        ]
        # What datasets reads (SplitDict._from_yaml_list needs name, num_bytes and num_examples per
        # split, else it warns and ignores them) and what the Hub writes: num_bytes and dataset_size
        # are the Arrow size in memory, download_size the parquet files' size.
        sizes = {s: num_bytes.get(s, 0) for s in present}
        header["dataset_info"] = {
            "features": features(schema)._to_yaml_list(),
            "splits": [{"name": s, "num_bytes": sizes[s], "num_examples": counts[s]} for s in present],
            "download_size": sum(file_bytes.get(s, 0) for s in present),
            "dataset_size": sum(sizes.values()),
        }
    return header


def _label_table(by_split: Mapping[str, Mapping[str, int]]) -> str:
    labels = sorted(set().union(*by_split.values()))
    table = ["| label | " + " | ".join(SPLITS) + " |", "|---|" + "---|" * len(SPLITS)]
    table += [f"| {_text(label)} | " + " | ".join(str(by_split[s].get(label, 0)) for s in SPLITS) + " |" for label in labels]
    return "\n".join(table)


GOLD_SOURCES = {
    "ground_truth": "ground truth (marked in Label Studio, or a reviewer's decision)",
    "majority": "majority merge of the annotators",
    "single": "the only annotation",
}


def _gold_sources(stats: ExportStats) -> str:
    table = ["| gold from | articles |", "|---|---|"]
    table += [f"| {name} | {stats.gold_sources.get(source, 0)} |" for source, name in GOLD_SOURCES.items()]
    return "\n".join(table)


def _single_note(stats: ExportStats) -> str:
    """In a team project, what rests on one person: articles given to several whose gold is one annotation."""
    if stats.overlap < 2:
        return ""
    single = stats.gold_sources.get("single", 0)
    return (
        f"A team project: each article was given to up to {stats.overlap} annotators, each in a blind queue of their own."
        f" **{single} exported article(s) rest on a single annotation** (the others had not submitted): their gold is"
        " one person's work, with no agreement behind it."
    )


def label_map_text(labels: LabelMap | None, left_out: int) -> str:
    """The card's line on ``--label-map``: the types above are the mapped labels; from which of ours."""
    if labels is None:
        return ""
    return (
        f"- Label map ({_code(Path(labels.path).name)}, sha256 {_code(labels.sha256)}): the schema's entity types"
        f" became the types above as {_text(labels.describe())}; mentions mapped to O were left out: {left_out}"
        " (agreement figures stay in the schema's own types)\n"
    )


def changes_text(changes: Diff | None, previous: Path | None) -> str:
    """The card's "Changes since" section: what ``annotate diff`` says of the previous export and this one."""
    if changes is None or previous is None:
        return ""
    lines = "\n".join(f"- {_text(line)}" for line in summary(changes))
    return f"\n## Changes since {_code(previous.name)}\n\n{lines}\n"


def suggestions_text(stats: ExportStats, config: ExportConfig) -> str:
    """The card's "Suggestions and a baseline": how the gold came, and the suggestion model's test-split figures."""
    total = sum(stats.origins.values())
    kept, edited = stats.origins["suggested"], stats.origins["suggested-edited"]
    model = stats.model
    if not (kept or edited or model):
        return "\n## Suggestions and a baseline\n\nNo model suggestions were used: annotators labelled every mention by hand.\n"

    def share(n: int) -> str:
        return f"{n} ({n / total:.1%})" if total else "0"

    lines = [
        "", "## Suggestions and a baseline", "",
        f"Of the {total} gold mentions and triggers, {share(kept)} were kept as a model suggested them (`origin:"
        f" suggested`), {share(edited)} were suggestions an annotator relabelled or moved (`suggested-edited`), and"
        f" {share(stats.origins['manual'])} were labelled by hand (`manual`). Suggestions were never shown on articles of"
        " the test split nor on the control slice.",
    ]
    if model:
        split = model.get("split") or {}
        ratios = ", ".join(f"{s} {r:g}" for s, r in zip(SPLITS, split.get("ratios") or ()))
        same = split.get("seed") == config.seed and list(split.get("ratios") or ()) == list(config.split)
        articles = model.get("articles") or {}
        lines += [
            "",
            f"Baseline: {_code(model.get('version'))}, two linear-chain CRFs (python-crfsuite) annotate trained on"
            f" {articles.get('train', 0)} articles of the train and validation splits, scored on the"
            f" {articles.get('test', 0)} articles of the test split (seed {split.get('seed')}, {ratios}"
            + ("; the same split as this export" if same else "; **not this export's split**: its test articles differ")
            + "), exact span and label. A model to beat:",
            "", "| tagger | label | precision | recall | F1 | in the gold |", "|---|---|---|---|---|---|",
        ]
        for name, figures in (model.get("figures") or {}).items():
            rows = [("all", figures["all"]), *figures.get("per_label", {}).items()]
            for label, f in rows:
                lines.append(
                    f"| {name} | {_text(label)} | {figure(f['precision'])} | {figure(f['recall'])} | {figure(f['f1'])} | {f['gold']} |"
                )
    return "\n".join(lines) + "\n"


def card(
    schema: Schema, config: ExportConfig, counts: Mapping[str, int], stats: ExportStats, manifest: Mapping[str, Any],
    data_files: Mapping[str, str] | None = None, num_bytes: Mapping[str, int] | None = None,
    file_bytes: Mapping[str, int] | None = None, changes: Diff | None = None, previous: Path | None = None,
    labels: LabelMap | None = None,
) -> str:
    """The dataset card; ``data_files``, ``num_bytes`` and ``file_bytes`` (hf) as ``HFWriter``'s, per split;
    ``changes`` since the ``previous`` export, when given."""
    header = _header(schema, config, counts, stats, data_files or {}, num_bytes or {}, file_bytes or {})
    ratios: Sequence[float] = config.split
    articles = stats.articles_per_split
    body = _template().substitute(
        title=_text(schema.name),
        annotate_version=__version__,
        schema_name=_code(schema.name),
        schema_version=_text(schema.version),
        schema_description=_text(schema.description),
        entity_list=", ".join(f"{_code(e.name)} ({_text(e.ar)})" for e in schema.entities),
        event_list="; ".join(
            f"{_code(e.name)} ({_text(e.ar)}; roles {' '.join(_text(r.name) for r in e.roles)})" for e in schema.events
        ) or "none",
        unit=config.unit,
        seed=config.seed,
        ratio_list=", ".join(f"{s} {r:g}" for s, r in zip(SPLITS, ratios)),
        split_rows="\n".join(f"| {s} | {articles[s]} | {counts[s]} |" for s in SPLITS),
        absent=absent_text(counts),
        label_table=_label_table(stats.label_counts),
        boundary_splits=stats.boundary_splits,
        normalization_rows="\n".join(normalization_rows()),
        entities_not_in_bio=stats.entities_not_in_bio,
        triggers_not_in_bio=stats.triggers_not_in_bio,
        entities_crossing=stats.entities_crossing,
        threshold_share=_share(config.threshold),
        gold_sources=_gold_sources(stats),
        single_note=_single_note(stats),
        annotations_misplaced=stats.annotations_misplaced,
        articles_in_dispute=stats.articles_in_dispute,
        items_held_back=stats.items_held_back,
        annotations_pulled=stats.annotations_pulled,
        annotations_kept=stats.annotations_kept,
        annotations_rejected=stats.annotations_rejected,
        annotations_cancelled=stats.annotations_cancelled,
        articles_without_gold=stats.articles_without_gold,
        agreement=agreement_text(stats.agreement),
        changes=changes_text(changes, previous),
        suggestions=suggestions_text(stats, config),
        label_map=label_map_text(labels, stats.entities_mapped_out),
        label_studio=_text(manifest.get("label_studio_version")),
        project=_text(manifest.get("project_title")),
        project_id=_text(manifest.get("project_id")),
        pulled_at=_text(manifest.get("pulled_at")),
        label_config_sha256=_code(manifest.get("label_config_sha256")),
        schema_sha256=_code(schema.sha256),
        repairs="made (as `annotate validate`)" if config.repair else "off (`--no-repair`)",
        threshold=f"{config.threshold:g}",
    )
    return "---\n" + yaml.safe_dump(header, allow_unicode=True, sort_keys=False) + "---\n\n" + body
