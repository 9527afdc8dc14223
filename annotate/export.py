"""Export: the gold dataset as a Hugging Face DatasetDict (parquet + card), CoNLL, brat or JSON Lines.

Gold per article (until agreement/adjudication exists): the kept annotation
marked ground truth, else the newest kept one. Only the latest version of each
article is exported. Features are declared once from the schema and rows are
streamed into the writers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from datasets import ClassLabel, Features, List, Value
from datasets.arrow_writer import ParquetWriter

from . import __version__
from . import schema as schema_mod
from .errors import AnnotateError
from .files import write_jsonl
from .agreement import DEFAULT_THRESHOLD, Gold, agreement, latest_articles, select_gold
from .models import Annotation, Schema
from .pull import EXPORTS, project_folder, read_state
from .tokens import Token, bio, normalize, sentences, token_span, tokenize

SPLITS = ("train", "validation", "test")
FORMATS = ("hf", "conll", "brat", "jsonl")
UNITS = ("document", "sentence")


class ExportError(AnnotateError):
    """The export cannot be written as asked (bad options, existing folder, nothing to export)."""


@dataclass
class Doc:
    """One article with its gold annotation, tokenized: what every format is written from."""

    article: dict[str, Any]  # task data
    gold: Annotation
    gold_source: str  # "ground_truth", "single" or "majority"
    annotation_ids: list[int]
    annotators: list[str]
    tokens: list[Token]
    boundary_splits: int
    entity_tokens: list[tuple[int, int]]
    trigger_tokens: list[tuple[int, int]]
    ner_tags: list[str]
    event_tags: list[str]
    entity_left_out: list[int]
    trigger_left_out: list[int]
    sentences: list[tuple[int, int]]
    split: str = ""


@dataclass
class ExportReport:
    out: Path
    format: str
    rows: dict[str, int]
    articles: dict[str, int]
    stats: dict[str, Any] = field(default_factory=dict)


# --- features ---------------------------------------------------------------------


def ner_names(schema: Schema) -> list[str]:
    return ["O"] + [f"{p}-{e.name}" for e in schema.entities for p in "BI"]


def event_names(schema: Schema) -> list[str]:
    return ["O"] + [f"{p}-{e.name}" for e in schema.events for p in "BI"]


def features(schema: Schema) -> Features:
    """The dataset's features, from the schema: the same for every split and unit."""
    span = {"start": Value("int32"), "end": Value("int32"), "token_start": Value("int32"), "token_end": Value("int32"), "text": Value("string")}
    cols: dict[str, Any] = {
        "id": Value("string"),
        "article_id": Value("string"),
        "article_version": Value("int32"),
        "title": Value("string"),
        "text": Value("string"),
        "url": Value("string"),
        "published_at": Value("string"),
        "source": Value("string"),
        "content_hash": Value("string"),
        "tokens": List(Value("string")),
        "token_offsets": List({"start": Value("int32"), "end": Value("int32")}),
        "normalized_tokens": List(Value("string")),
        "ner_tags": List(ClassLabel(names=ner_names(schema))),
        "entities": List({"id": Value("string"), "type": ClassLabel(names=[e.name for e in schema.entities]), **span, "in_bio": Value("bool")}),
    }
    if schema.events:
        cols["event_tags"] = List(ClassLabel(names=event_names(schema)))
        cols["events"] = List(
            {
                "id": Value("string"),
                "type": ClassLabel(names=[e.name for e in schema.events]),
                "trigger": span,
                "in_bio": Value("bool"),
                "arguments": List({"role": ClassLabel(names=list(schema.role_names)), "entity_id": Value("string")}),
            }
        )
    if schema.document:
        doc: dict[str, Any] = {}
        for d in schema.document:
            if d.kind == "text":
                doc[d.name] = Value("string")
            elif d.kind == "single":
                doc[d.name] = ClassLabel(names=[c.name for c in d.choices])
            else:
                doc[d.name] = List(ClassLabel(names=[c.name for c in d.choices]))
        cols["document"] = doc
    cols.update(
        {
            "annotators": List(Value("string")),
            "annotation_ids": List(Value("int64")),
            "gold_annotation_id": Value("int64"),
            "gold_source": Value("string"),
        }
    )
    return Features(cols)


# --- gold and documents -----------------------------------------------------------------


def pseudonym(project_id: int, user_id: int | None) -> str:
    """A stable annotator id that does not reveal the Label Studio user."""
    if user_id is None:
        return "annotator-unknown"
    return "annotator-" + hashlib.sha256(f"annotate:{project_id}:{user_id}".encode()).hexdigest()[:10]


def split_of(text: str, seed: int, ratios: Sequence[float]) -> str:
    """The split of an article: from its normalized text and the seed, nothing else.

    Keyed on the normalized text, so duplicates land together and adding
    articles never moves one already assigned.
    """
    key = " ".join(normalize(text).split())
    digest = hashlib.sha256(f"{seed}\0{key}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = 0.0
    for name, ratio in zip(SPLITS, ratios):
        total += ratio
        if u < total:
            return name
    return SPLITS[-1]


def make_doc(article: dict[str, Any], chosen: Gold, kept: Sequence[Annotation], project_id: int) -> Doc:
    gold, source = chosen.annotation, chosen.source
    text = article["text"]
    mentions = list(gold.entities) + list(gold.events)
    boundaries = {m.start for m in mentions} | {m.end for m in mentions}
    tokens, splits = tokenize(text, boundaries)
    entity_tokens = [token_span(tokens, e.start, e.end) for e in gold.entities]
    trigger_tokens = [token_span(tokens, e.start, e.end) for e in gold.events]
    ner, ent_out = bio(len(tokens), [(e.type, *t) for e, t in zip(gold.entities, entity_tokens)])
    evt, trg_out = bio(len(tokens), [(e.type, *t) for e, t in zip(gold.events, trigger_tokens)])
    by_id = {e.id: e for e in gold.entities}
    together = [(m.start, m.end) for m in mentions]
    for event in gold.events:
        for arg in event.arguments:
            entity = by_id[arg.entity_id]
            together.append((min(event.start, entity.start), max(event.end, entity.end)))
    return Doc(
        article=article,
        gold=gold,
        gold_source=source,
        annotation_ids=sorted(a.id for a in kept),
        annotators=sorted({pseudonym(project_id, a.annotator) for a in kept}),
        tokens=tokens,
        boundary_splits=splits,
        entity_tokens=entity_tokens,
        trigger_tokens=trigger_tokens,
        ner_tags=ner,
        event_tags=evt,
        entity_left_out=ent_out,
        trigger_left_out=trg_out,
        sentences=sentences(text, tokens, together),
    )


def gold_docs(
    tasks: list[dict[str, Any]], schema: Schema, project_id: int, threshold: float = DEFAULT_THRESHOLD
) -> tuple[list[Doc], dict[str, Any]]:
    """One Doc per article that has a kept annotation on its latest version; counts and agreement."""
    found, report, n_articles = latest_articles(tasks, schema)
    docs = []
    disputed = 0
    for task, grouped in found:
        article = dict(task["data"])
        article.setdefault("article_id", grouped.article_id)
        chosen = select_gold(grouped, schema, threshold)
        disputed += bool(chosen.disputes)
        docs.append(make_doc(article, chosen, grouped.annotations + grouped.ground_truth, project_id))
    counts: dict[str, Any] = {
        "articles": n_articles,
        "articles_without_gold": n_articles - len(found),
        "annotations_pulled": report.total.pulled,
        "annotations_kept": report.total.kept + report.total.repaired,
        "annotations_rejected": report.total.rejected,
        "annotations_cancelled": report.total.cancelled,
        "articles_in_dispute": disputed,
        "agreement": agreement([grouped for _, grouped in found]).as_dict(),
    }
    return docs, counts


# --- rows ---------------------------------------------------------------------------


def _span(m: Any, tok: tuple[int, int], offset: int, tok_offset: int) -> dict[str, Any]:
    return {
        "start": m.start - offset,
        "end": m.end - offset,
        "token_start": tok[0] - tok_offset,
        "token_end": tok[1] - tok_offset,
        "text": m.text,
    }


def rows(doc: Doc, schema: Schema, unit: str) -> Iterator[dict[str, Any]]:
    """HF rows (labels as names; the features encode them) for one article or each of its sentences."""
    a = doc.article
    pieces = [(0, len(doc.tokens))] if unit == "document" else doc.sentences
    for n, (t0, t1) in enumerate(pieces):
        if unit == "document":
            c0, c1 = 0, len(a["text"])
        else:
            c0, c1 = doc.tokens[t0].start, doc.tokens[t1 - 1].end
        entities = [
            {"id": e.id, "type": e.type, **_span(e, tok, c0, t0), "in_bio": i not in doc.entity_left_out}
            for i, (e, tok) in enumerate(zip(doc.gold.entities, doc.entity_tokens))
            if t0 <= tok[0] and tok[1] <= t1
        ]
        row: dict[str, Any] = {
            "id": a["article_id"] if unit == "document" else f"{a['article_id']}#s{n}",
            "article_id": a["article_id"],
            "article_version": int(a.get("version") or 1),
            "title": a.get("title") or "",
            "text": a["text"][c0:c1],
            "url": a.get("url"),
            "published_at": a.get("published_at"),
            "source": a.get("source"),
            "content_hash": a.get("content_hash"),
            "tokens": [t.text for t in doc.tokens[t0:t1]],
            "token_offsets": [{"start": t.start - c0, "end": t.end - c0} for t in doc.tokens[t0:t1]],
            "normalized_tokens": [normalize(t.text) for t in doc.tokens[t0:t1]],
            "ner_tags": doc.ner_tags[t0:t1],
            "entities": entities,
        }
        if schema.events:
            row["event_tags"] = doc.event_tags[t0:t1]
            row["events"] = [
                {
                    "id": e.id,
                    "type": e.type,
                    "trigger": _span(e, tok, c0, t0),
                    "in_bio": i not in doc.trigger_left_out,
                    "arguments": [{"role": arg.role, "entity_id": arg.entity_id} for arg in e.arguments],
                }
                for i, (e, tok) in enumerate(zip(doc.gold.events, doc.trigger_tokens))
                if t0 <= tok[0] and tok[1] <= t1
            ]
        if schema.document:
            row["document"] = {
                d.name: doc.gold.document.get(d.name, [] if d.kind == "multiple" else None) for d in schema.document
            }
        row.update(
            {
                "annotators": doc.annotators,
                "annotation_ids": doc.annotation_ids,
                "gold_annotation_id": doc.gold.id,
                "gold_source": doc.gold_source,
            }
        )
        yield row


# --- writers ------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name, flags=re.UNICODE).strip("-.") or "article"


def write_hf(docs: list[Doc], schema: Schema, unit: str, out: Path) -> dict[str, int]:
    feats = features(schema)
    counts = {}
    (out / "data").mkdir(parents=True)
    for split in SPLITS:
        path = out / "data" / f"{split}.parquet"
        n = 0
        writer = ParquetWriter(path=str(path), features=feats)
        for doc in docs:
            if doc.split == split:
                for row in rows(doc, schema, unit):
                    writer.write(row)
                    n += 1
        if n:
            writer.finalize()
        writer.close()
        if not n:
            path.unlink()  # an empty split is left out: `datasets` cannot load one
        counts[split] = n
    return counts


def conll_lines(doc: Doc) -> Iterator[str]:
    yield "-DOCSTART-\tO"
    yield ""
    for t0, t1 in doc.sentences:
        for token, tag in zip(doc.tokens[t0:t1], doc.ner_tags[t0:t1]):
            yield f"{token.text}\t{tag}"
        yield ""


def write_conll(docs: list[Doc], out: Path) -> dict[str, int]:
    (out / "conll").mkdir(parents=True)
    counts = {}
    for split in SPLITS:
        chosen = [d for d in docs if d.split == split]
        with open(out / "conll" / f"{split}.conll", "w", encoding="utf-8") as f:
            for doc in chosen:
                f.write("\n".join(conll_lines(doc)) + "\n")
        counts[split] = len(chosen)
    return counts


def brat_type(name: str) -> str:
    """brat separates a type from its trigger with ':', so event types use '_' there."""
    return name.replace(":", "_")


def brat_ann(doc: Doc) -> str:
    lines = []
    t_ids: dict[str, str] = {}
    for e in doc.gold.entities:
        t_ids[e.id] = f"T{len(t_ids) + 1}"
        lines.append(f"{t_ids[e.id]}\t{e.type} {e.start} {e.end}\t{e.text}")
    for n, ev in enumerate(doc.gold.events, start=1):
        tid = f"T{len(t_ids) + 1}"
        t_ids[f"trigger:{ev.id}"] = tid
        lines.append(f"{tid}\t{brat_type(ev.type)} {ev.start} {ev.end}\t{ev.text}")
        seen: Counter[str] = Counter()
        args = []
        for arg in ev.arguments:
            seen[arg.role] += 1
            suffix = "" if seen[arg.role] == 1 else str(seen[arg.role])  # brat numbers repeated roles
            args.append(f"{arg.role}{suffix}:{t_ids[arg.entity_id]}")
        lines.append(f"E{n}\t{brat_type(ev.type)}:{tid}" + "".join(f" {a}" for a in args))
    return "\n".join(lines) + ("\n" if lines else "")


def brat_conf(schema: Schema) -> str:
    out = ["[entities]"] + [e.name for e in schema.entities] + ["", "[relations]", "", "[events]"]
    for ev in schema.events:
        roles = ", ".join(f"{r.name}*:{'|'.join(r.types)}" for r in ev.roles)
        out.append(f"{brat_type(ev.name)}\t{roles}")
    out += ["", "[attributes]", ""]
    return "\n".join(out)


def write_brat(docs: list[Doc], schema: Schema, out: Path) -> dict[str, int]:
    counts = {}
    for split in SPLITS:
        folder = out / "brat" / split
        folder.mkdir(parents=True)
        chosen = [d for d in docs if d.split == split]
        for doc in chosen:
            name = _safe_name(doc.article["article_id"])
            (folder / f"{name}.txt").write_text(doc.article["text"], encoding="utf-8")
            (folder / f"{name}.ann").write_text(brat_ann(doc), encoding="utf-8")
        counts[split] = len(chosen)
    (out / "brat" / "annotation.conf").write_text(brat_conf(schema), encoding="utf-8")
    return counts


def write_rows_jsonl(docs: list[Doc], schema: Schema, unit: str, out: Path) -> dict[str, int]:
    counts = {}
    for split in SPLITS:
        chosen = [row for d in docs if d.split == split for row in rows(d, schema, unit)]
        write_jsonl(out / "jsonl" / f"{split}.jsonl", chosen)
        counts[split] = len(chosen)
    return counts


# --- the card -------------------------------------------------------------------------------


def card(schema: Schema, docs: list[Doc], fmt: str, unit: str, counts: dict[str, int], stats: dict[str, Any], manifest: dict[str, Any], seed: int, ratios: Sequence[float]) -> str:
    feats = features(schema)
    header: dict[str, Any] = {
        "language": ["ar"],
        "pretty_name": f"{schema.name} gold annotations",
        "task_categories": ["token-classification"],
        "task_ids": ["named-entity-recognition"],
        "tags": ["arabic", "news", "named-entity-recognition", "event-extraction", "label-studio"],
        "size_categories": ["n<1K" if len(docs) < 1000 else "1K<n<10K" if len(docs) < 10000 else "10K<n<100K"],
    }
    if fmt == "hf":
        # `datasets` cannot load a split with no rows, so an empty split is left out (the card says so).
        present = [s for s in SPLITS if counts[s]]
        header["configs"] = [
            {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}.parquet"} for s in present]}
        ]
        header["dataset_info"] = {
            "features": feats._to_yaml_list(),
            "splits": [{"name": s, "num_examples": counts[s]} for s in present],
        }
    by_split: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    for doc in docs:
        by_split[doc.split].update(f"entity {e.type}" for e in doc.gold.entities)
        by_split[doc.split].update(f"event {e.type}" for e in doc.gold.events)
        by_split[doc.split].update(f"argument {a.role}" for e in doc.gold.events for a in e.arguments)
    labels = sorted(set().union(*by_split.values()))
    table = ["| label | " + " | ".join(SPLITS) + " |", "|---|" + "---|" * len(SPLITS)]
    table += [f"| {label} | " + " | ".join(str(by_split[s][label]) for s in SPLITS) + " |" for label in labels]
    articles = Counter(d.split for d in docs)
    entity_list = ", ".join(f"`{e.name}` ({e.ar})" for e in schema.entities)
    event_list = "; ".join(f"`{e.name}` ({e.ar}; roles {' '.join(r.name for r in e.roles)})" for e in schema.events) or "none"
    ratio_list = ", ".join(f"{s} {r:g}" for s, r in zip(SPLITS, ratios))
    body = f"""
# {schema.name}: Arabic news, gold entities and events

Gold annotations exported by annotate {__version__} from Label Studio.
Schema `{schema.name}` v{schema.version}: {schema.description}

- Entity and value types: {entity_list}
- Event types: {event_list}

## Contents

Unit: one row per **{unit}**. Splits by article (never by sentence), from the article's normalized
text and seed {seed} with ratios {ratio_list}: articles with the same
normalized text share a split, and adding articles later never moves an article.

| split | articles | rows |
|---|---|---|
""" + "\n".join(f"| {s} | {articles[s]} | {counts[s]} |" for s in SPLITS) + """

A split with no rows is not in the Hugging Face config (`datasets` cannot load an empty split).

Label counts (mentions, events, arguments):

""" + "\n".join(table) + f"""

## Tokens and tags

Tokens split on white space and on Arabic and Latin punctuation; numbers (with Arabic-Indic digits) stay whole;
a word is split where an entity or trigger starts or ends inside it (clitics such as و ف ب ل ك ال):
**{stats["boundary_splits"]} boundary splits** were made. Every mention covers whole tokens.
`normalized_tokens`: diacritics and tatweel removed, alef forms أ إ آ ٱ → ا, hamza carriers ؤ ئ → ء (pyarabic).

`ner_tags` and `event_tags` are BIO over the schema's entity and event types. Where BIO cannot hold a
nested or overlapping mention the outer one is tagged and the other stays only in `entities`/`events`
(`in_bio: false`): **{stats["entities_not_in_bio"]} entities and {stats["triggers_not_in_bio"]} triggers**.

## Reliability

Gold per article: the annotation marked ground truth in Label Studio, else the only one, else a majority merge
of the annotators (a mention, event, argument or answer kept when at least half of them gave it)
(gold sources: {dict(stats["gold_sources"])}; articles with a dispute left after the merge: {stats["articles_in_dispute"]}).
Annotations pulled: {stats["annotations_pulled"]}; kept after validation: {stats["annotations_kept"]};
rejected: {stats["annotations_rejected"]}; cancelled: {stats["annotations_cancelled"]}.
Articles without a kept annotation (not exported): {stats["articles_without_gold"]}.

{agreement_text(stats["agreement"])}

## Provenance

| | |
|---|---|
| Label Studio | {manifest.get("label_studio_version")} |
| project | {manifest.get("project_title")} (id {manifest.get("project_id")}) |
| pulled at | {manifest.get("pulled_at")} |
| labelling config sha256 | `{manifest.get("label_config_sha256")}` |
| schema sha256 | `{schema.sha256}` |
| annotate | {__version__} |

Annotators are pseudonymous ids. Offsets are Unicode code points into `text`.
"""
    return "---\n" + yaml.safe_dump(header, allow_unicode=True, sort_keys=False) + "---\n" + body


def agreement_text(figures: dict[str, Any]) -> str:
    """The card's agreement paragraph, from ``AgreementReport.as_dict()``."""
    if not figures["articles_compared"]:
        return "Inter-annotator agreement: no article was labelled by two or more annotators."

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [
        f"Inter-annotator agreement over {figures['articles_compared']} articles labelled by two or more of"
        f" {len(figures['annotators'])} annotators (pairwise):",
        "",
        "| figure | value |",
        "|---|---|",
        f"| entity F1, exact span and type | {f(figures['entities']['exact']['f1'])} |",
        f"| entity F1, overlapping span, same type | {f(figures['entities']['overlap']['f1'])} |",
        f"| Krippendorff's alpha (nominal, BIO tokens) | {f(figures['tokens']['krippendorff_alpha'])} |",
        f"| event trigger F1 (span and type) | {f(figures['events']['triggers']['f1'])} |",
        f"| event argument F1 (trigger, role, entity) | {f(figures['events']['arguments']['f1'])} |",
    ]
    kappas = [p["cohen_kappa"] for p in figures["pairs"] if p["cohen_kappa"] is not None]
    if kappas:
        lines.append(f"| Cohen's kappa (BIO tokens), mean over {len(kappas)} pair(s) | {f(sum(kappas) / len(kappas))} |")
    lines += ["", "Entity F1 (exact) per label: " + ", ".join(f"{k} {f(v['exact']['f1'])}" for k, v in figures["per_label"].items())]
    return "\n".join(lines)


# --- the stage --------------------------------------------------------------------------------


def parse_split(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise ExportError(f"--split {value!r}: give three ratios for train, validation and test that add up to 1, like 0.8,0.1,0.1")
    return parts  # type: ignore[return-value]


def export(
    title: str,
    out: Path,
    *,
    schema: Schema | None = None,
    root: Path = EXPORTS,
    fmt: str = "hf",
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 13,
    unit: str = "document",
    overwrite: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
) -> ExportReport:
    """Build the gold set from the latest pull and write it to ``out`` atomically."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if unit not in UNITS:
        raise ExportError(f"--unit {unit!r}: choose document or sentence")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists already; choose another --out or add --overwrite to replace it.")
    schema = schema or schema_mod.load()
    tasks, manifest = read_state(project_folder(title, root))
    if len({brat_type(e.name) for e in schema.events}) != len(schema.events):
        raise ExportError("two event types differ only by ':' and '_'; brat cannot tell them apart")
    docs, counts = gold_docs(tasks, schema, int(manifest.get("project_id") or 0), threshold)
    if not docs:
        raise ExportError(f"project {title!r} has no article with a kept annotation yet; nothing to export.", "Run `annotate validate` to see why.")
    for doc in docs:
        doc.split = split_of(doc.article["text"], seed, ratios)
    stats: dict[str, Any] = dict(counts)
    stats["boundary_splits"] = sum(d.boundary_splits for d in docs)
    stats["entities_not_in_bio"] = sum(len(d.entity_left_out) for d in docs)
    stats["triggers_not_in_bio"] = sum(len(d.trigger_left_out) for d in docs)
    stats["gold_sources"] = Counter(d.gold_source for d in docs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        if fmt == "hf":
            rows_per_split = write_hf(docs, schema, unit, tmp)
        elif fmt == "conll":
            rows_per_split = write_conll(docs, tmp)
        elif fmt == "brat":
            rows_per_split = write_brat(docs, schema, tmp)
        else:
            rows_per_split = write_rows_jsonl(docs, schema, unit, tmp)
        (tmp / "README.md").write_text(
            card(schema, docs, fmt, unit, rows_per_split, stats, manifest, seed, ratios), encoding="utf-8"
        )
        (tmp / "export.json").write_text(
            json.dumps({"format": fmt, "unit": unit, "seed": seed, "split": list(ratios), "rows": rows_per_split,
                        "stats": {k: (dict(v) if isinstance(v, Counter) else v) for k, v in stats.items()},
                        "manifest": manifest}, ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportReport(out, fmt, rows_per_split, dict(Counter(d.split for d in docs)), stats)
