"""Export: the gold dataset as a Hugging Face DatasetDict (parquet + card), CoNLL, brat or JSON Lines.

Gold per article (until agreement/adjudication exists): the kept annotation
marked ground truth, else the newest kept one. Only the latest version of each
article is exported. Features are declared once from the schema and rows are
streamed into the writers.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import yaml
from datasets import ClassLabel, Features, List, Value

from . import __version__
from . import schema as schema_mod
from .errors import ExportError
from .agreement import AgreementBuilder
from .gold import Gold, iter_articles, select_gold
from .models import DEFAULT_THRESHOLD
from .files import safe_name
from .models import Annotation, Schema
from .validate import Counts, latest_versions
from .store import EXPORTS, iter_state, project_folder, read_manifest
from .tokens import Tokens, bio, normalization_rows, normalize, sentences, split_key_text, token_span, tokenize

SPLITS = ("train", "validation", "test")
FORMATS = ("hf", "conll", "brat", "jsonl")
UNITS = ("document", "sentence")


@dataclass
class Doc:
    """One article with its gold annotation, tokenized: what every format is written from."""

    article: dict[str, Any]  # task data
    gold: Annotation
    gold_source: str  # "ground_truth", "single" or "majority"
    annotation_ids: list[int]
    annotators: list[str]
    tokens: Tokens
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
        "token_starts": List(Value("int32")),
        "token_ends": List(Value("int32")),
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
    key = " ".join(split_key_text(text).split())  # the folding splits were always keyed on: none moves
    digest = hashlib.sha256(f"{seed}\0{key}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = 0.0
    for name, ratio in zip(SPLITS, ratios):
        total += ratio
        if u < total:
            return name
    return SPLITS[-1]


def make_doc(article: dict[str, Any], chosen: Gold, votes: Sequence[Annotation], project_id: int) -> Doc:
    """``votes``: the annotators' kept annotations, ground truth aside (a decision, named by ``gold``)."""
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
        annotation_ids=sorted(a.id for a in votes if not a.ground_truth),
        annotators=sorted({pseudonym(project_id, a.annotator) for a in votes if not a.ground_truth}),
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
            c0, c1 = doc.tokens.starts[t0], doc.tokens.ends[t1 - 1]
        texts = doc.tokens.texts(t0, t1)
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
            "tokens": texts,
            "token_starts": doc.tokens.starts[t0:t1] if not c0 else [x - c0 for x in doc.tokens.starts[t0:t1]],
            "token_ends": doc.tokens.ends[t0:t1] if not c0 else [x - c0 for x in doc.tokens.ends[t0:t1]],
            "normalized_tokens": [normalize(x) for x in texts],
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


# --- writers (each gets documents one at a time and keeps nothing of them) -------------------------


class Writer:
    """Writes one format; ``rows`` counts rows per split, ``data_files`` names the card's data file per split (hf)."""

    def __init__(self, out: Path, schema: Schema, unit: str) -> None:
        self.out, self.schema, self.unit = out, schema, unit
        self.rows: Counter[str] = Counter()
        self.data_files: dict[str, str] = {}
        self.num_bytes: dict[str, int] = {}  # hf: each split's in-memory Arrow size, as `datasets` counts it
        self.file_bytes: dict[str, int] = {}  # hf: each split's parquet file size

    def write(self, doc: Doc) -> None:
        raise NotImplementedError

    def close(self) -> dict[str, int]:
        return {s: self.rows[s] for s in SPLITS}


class HFWriter(Writer):
    """Parquet per split with the features in its metadata (``datasets`` reads them back).

    Rows are encoded here (label names to ClassLabel ids) and written in batches
    straight to Arrow: far faster than encoding example by example.
    """

    batch = 1000

    def __init__(self, out: Path, schema: Schema, unit: str) -> None:
        super().__init__(out, schema, unit)
        self.features = features(schema)
        self.arrow_schema = self.features.arrow_schema
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.buffers: dict[str, list[dict[str, Any]]] = {}
        self.ids = {
            "ner": {n: i for i, n in enumerate(ner_names(schema))},
            "event_tags": {n: i for i, n in enumerate(event_names(schema))},
            "entity": {e.name: i for i, e in enumerate(schema.entities)},
            "event": {e.name: i for i, e in enumerate(schema.events)},
            "role": {r: i for i, r in enumerate(schema.role_names)},
        }
        self.choices = {d.name: {c.name: i for i, c in enumerate(d.choices)} for d in schema.document}
        (out / "data").mkdir(parents=True)

    def encode(self, row: dict[str, Any]) -> dict[str, Any]:
        ids = self.ids
        row["ner_tags"] = [ids["ner"][t] for t in row["ner_tags"]]
        for e in row["entities"]:
            e["type"] = ids["entity"][e["type"]]
        if "events" in row:
            row["event_tags"] = [ids["event_tags"][t] for t in row["event_tags"]]
            for ev in row["events"]:
                ev["type"] = ids["event"][ev["type"]]
                for arg in ev["arguments"]:
                    arg["role"] = ids["role"][arg["role"]]
        for spec in self.schema.document:
            value = row["document"][spec.name]
            if spec.kind == "single":
                row["document"][spec.name] = None if value is None else self.choices[spec.name][value]
            elif spec.kind == "multiple":
                row["document"][spec.name] = [self.choices[spec.name][v] for v in value or []]
        return row

    def write(self, doc: Doc) -> None:
        buffer = self.buffers.setdefault(doc.split, [])
        for row in rows(doc, self.schema, self.unit):
            buffer.append(self.encode(row))
            self.rows[doc.split] += 1
        if len(buffer) >= self.batch:
            self.flush(doc.split)

    def flush(self, split: str) -> None:
        buffer = self.buffers.pop(split, [])
        if not buffer:
            return
        if split not in self.writers:
            # Opened on the first row: `datasets` cannot load an empty split, so none is written.
            self.writers[split] = pq.ParquetWriter(self.out / "data" / f"{split}.parquet", self.arrow_schema)
        self.writers[split].write_table(pa.Table.from_pylist(buffer, schema=self.arrow_schema))

    def close(self) -> dict[str, int]:
        for split in list(self.buffers):
            self.flush(split)
        for split, writer in self.writers.items():
            writer.close()
            # `datasets` keys its cache on the folder's name and the card alone (load.py,
            # LocalDatasetModuleFactory.get_module: Hasher.hash of the card's dataset_info and the
            # configs' unresolved data_files patterns; builder.py, _relative_data_dir), never on
            # the files' contents or times. A hash of the bytes in the file name, named in the
            # card, gives every different export its own cache entry.
            path = self.out / "data" / f"{split}.parquet"
            self.num_bytes[split] = arrow_size(path)
            self.file_bytes[split] = path.stat().st_size
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            name = f"{split}-{digest.hexdigest()[:16]}.parquet"
            path.rename(path.with_name(name))
            self.data_files[split] = f"data/{name}"
        return super().close()


class _TextFiles(Writer):
    """One text file per split, opened on first use."""

    folder = ""
    suffix = ""

    def __init__(self, out: Path, schema: Schema, unit: str) -> None:
        super().__init__(out, schema, unit)
        (out / self.folder).mkdir(parents=True)
        self.files: dict[str, IO[str]] = {}

    def file(self, split: str) -> IO[str]:
        if split not in self.files:
            self.files[split] = open(self.out / self.folder / f"{split}{self.suffix}", "w", encoding="utf-8")
        return self.files[split]

    def close(self) -> dict[str, int]:
        for f in self.files.values():
            f.close()  # a split without rows has no file, as in hf (the card names the absent splits)
        return super().close()


class ConllWriter(_TextFiles):
    folder, suffix = "conll", ".conll"

    def write(self, doc: Doc) -> None:
        self.file(doc.split).write("\n".join(conll_lines(doc)) + "\n")
        self.rows[doc.split] += 1


class JsonlWriter(_TextFiles):
    folder, suffix = "jsonl", ".jsonl"

    def write(self, doc: Doc) -> None:
        f = self.file(doc.split)
        for row in rows(doc, self.schema, self.unit):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.rows[doc.split] += 1


class BratWriter(Writer):
    def __init__(self, out: Path, schema: Schema, unit: str) -> None:
        super().__init__(out, schema, unit)
        (out / "brat").mkdir(parents=True)  # split folders come with their first article: none for an empty split
        (out / "brat" / "annotation.conf").write_text(brat_conf(schema), encoding="utf-8")

    def write(self, doc: Doc) -> None:
        article_id = doc.article["article_id"]
        folder = self.out / "brat" / doc.split
        folder.mkdir(exist_ok=True)
        # safe_name gives different ids different names; only a case-insensitive file system
        # (`A1` and `a1`) can still make two meet, so a file is never opened over another one.
        name = safe_name(article_id, "article")
        try:
            txt = open(folder / f"{name}.txt", "x", encoding="utf-8")
        except FileExistsError:
            name = f"{name}-{hashlib.sha256(article_id.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"
            try:
                txt = open(folder / f"{name}.txt", "x", encoding="utf-8")
            except FileExistsError:
                raise ExportError(f"article {article_id!r}: its brat file {folder / name}.txt exists already.") from None
        with txt:
            txt.write(doc.article["text"])
        with open(folder / f"{name}.ann", "x", encoding="utf-8") as ann:
            ann.write(brat_ann(doc))
        self.rows[doc.split] += 1


def arrow_size(path: Path) -> int:
    """The split's size as `datasets` records it (the card's ``num_bytes``): the Arrow size in memory, not the file's.

    Read back batch by batch as datasets' parquet builder reads it (one row group per batch,
    packaged_modules/parquet, ``_generate_tables``) and summed as its ArrowWriter sums
    ``pa_table.nbytes``; one batch at a time, so a large split is never held whole.
    """
    with path.open("rb") as f:
        fragment = pads.ParquetFileFormat().make_fragment(f)
        if not fragment.row_groups:
            return 0
        batches = fragment.to_batches(batch_size=fragment.row_groups[0].num_rows, batch_readahead=0, fragment_readahead=0)
        return sum(pa.Table.from_batches([b]).nbytes for b in batches)


WRITERS: dict[str, type[Writer]] = {"hf": HFWriter, "conll": ConllWriter, "brat": BratWriter, "jsonl": JsonlWriter}


def conll_lines(doc: Doc) -> Iterator[str]:
    yield "-DOCSTART-\tO"
    yield ""
    for t0, t1 in doc.sentences:
        for token, tag in zip(doc.tokens.texts(t0, t1), doc.ner_tags[t0:t1]):
            yield f"{token}\t{tag}"
        yield ""


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


def brat_cardinality(most: int | None) -> str:
    """brat's role suffix for at most ``most`` arguments: ``?`` (0-1), ``{0-N}``, ``*`` (any number)."""
    if most is None:
        return "*"
    return "?" if most == 1 else f"{{0-{most}}}"


def brat_conf(schema: Schema) -> str:
    out = ["[entities]"] + [e.name for e in schema.entities] + ["", "[relations]", "", "[events]"]
    for ev in schema.events:
        roles = ", ".join(f"{r.name}{brat_cardinality(r.max)}:{'|'.join(r.types)}" for r in ev.roles)
        out.append(f"{brat_type(ev.name)}\t{roles}")
    out += ["", "[attributes]", ""]
    return "\n".join(out)


# --- the card -------------------------------------------------------------------------------


_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


def _text(value: Any) -> str:
    """A value from outside the tool (Label Studio, the schema file) as plain text in the card's Markdown.

    The Hub renders raw HTML in a card, so a project titled ``<img src=x onerror=...>``
    would become an image with a script. HTML is escaped, and so is Markdown punctuation
    (no links, emphasis or extra table cells); line breaks become spaces, so the value
    stays in its line or table cell.
    """
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(str(value).split())))


def _code(value: Any) -> str:
    """``value`` as inline code if it is a plain name or hash, else as text: code shows ``&lt;`` and ``\\`` literally."""
    plain = str(value)
    return f"`{plain}`" if re.fullmatch(r"[\w.:+-]+", plain) else _text(plain)


def card(
    schema: Schema, fmt: str, unit: str, counts: dict[str, int], stats: dict[str, Any], manifest: dict[str, Any],
    seed: int, ratios: Sequence[float], data_files: Mapping[str, str] | None = None,
    num_bytes: Mapping[str, int] | None = None, file_bytes: Mapping[str, int] | None = None,
) -> str:
    """The dataset card; ``data_files``, ``num_bytes`` and ``file_bytes`` (hf) as ``HFWriter``'s, per split."""
    feats = features(schema)
    header: dict[str, Any] = {
        "language": ["ar"],
        "pretty_name": f"{schema.name} gold annotations",
        "task_categories": ["token-classification"],
        "task_ids": ["named-entity-recognition"],
        "tags": ["arabic", "news", "named-entity-recognition", "event-extraction", "label-studio"],
        "size_categories": [_size(sum(stats["articles_per_split"].values()))],
    }
    if fmt == "hf":
        # `datasets` cannot load a split with no rows, so an empty split is left out (the card says so).
        present = [s for s in SPLITS if counts[s]]
        header["configs"] = [
            {"config_name": "default", "data_files": [{"split": s, "path": (data_files or {})[s]} for s in present]}
        ]
        # What datasets reads (SplitDict._from_yaml_list needs name, num_bytes and num_examples per
        # split, else it warns and ignores them) and what the Hub writes: num_bytes and dataset_size
        # are the Arrow size in memory, download_size the parquet files' size.
        sizes = {s: (num_bytes or {}).get(s, 0) for s in present}
        header["dataset_info"] = {
            "features": feats._to_yaml_list(),
            "splits": [{"name": s, "num_bytes": sizes[s], "num_examples": counts[s]} for s in present],
            "download_size": sum((file_bytes or {}).get(s, 0) for s in present),
            "dataset_size": sum(sizes.values()),
        }
    by_split = stats["label_counts"]
    labels = sorted(set().union(*by_split.values()))
    table = ["| label | " + " | ".join(SPLITS) + " |", "|---|" + "---|" * len(SPLITS)]
    table += [f"| {_text(label)} | " + " | ".join(str(by_split[s][label]) for s in SPLITS) + " |" for label in labels]
    articles = stats["articles_per_split"]
    entity_list = ", ".join(f"{_code(e.name)} ({_text(e.ar)})" for e in schema.entities)
    event_list = "; ".join(
        f"{_code(e.name)} ({_text(e.ar)}; roles {' '.join(_text(r.name) for r in e.roles)})" for e in schema.events
    ) or "none"
    ratio_list = ", ".join(f"{s} {r:g}" for s, r in zip(SPLITS, ratios))
    body = f"""
# {_text(schema.name)}: Arabic news, gold entities and events

Gold annotations exported by annotate {__version__} from Label Studio.
Schema {_code(schema.name)} v{_text(schema.version)}: {_text(schema.description)}

- Entity and value types: {entity_list}
- Event types: {event_list}

## Contents

Unit: one row per **{unit}**. Splits by article (never by sentence), from the article's normalized
text (as `normalized_tokens`, but ى → ا as in earlier versions, so no article moves) and seed {seed} with
ratios {ratio_list}: articles with the same normalized text share a split, and adding articles later
never moves an article.

| split | articles | rows |
|---|---|---|
""" + "\n".join(f"| {s} | {articles[s]} | {counts[s]} |" for s in SPLITS) + """

""" + absent_text(counts) + """

Label counts (mentions, events, arguments):

""" + "\n".join(table) + f"""

## Tokens and tags

Tokens split on white space and on Arabic and Latin punctuation; numbers (with Arabic-Indic digits) stay whole;
a word is split where an entity or trigger starts or ends inside it (clitics such as و ف ب ل ك ال):
**{stats["boundary_splits"]} boundary splits** were made. Every mention covers whole tokens.
`normalized_tokens`: each token with these changes, in this order (pyarabic's strip_tashkeel, strip_tatweel
and normalize_alef, except alef maksura ى → ي as CAMeL Tools' normalize_alef_maksura_ar):

| change | characters | become |
|---|---|---|
""" + "\n".join(normalization_rows()) + f"""

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
| Label Studio | {_text(manifest.get("label_studio_version"))} |
| project | {_text(manifest.get("project_title"))} (id {_text(manifest.get("project_id"))}) |
| pulled at | {_text(manifest.get("pulled_at"))} |
| labelling config sha256 | {_code(manifest.get("label_config_sha256"))} |
| schema sha256 | {_code(schema.sha256)} |
| annotate | {__version__} |

Annotators are pseudonymous ids. Offsets are Unicode code points into `text`.
"""
    return "---\n" + yaml.safe_dump(header, allow_unicode=True, sort_keys=False) + "---\n" + body


def absent_text(counts: Mapping[str, int]) -> str:
    """The card's sentence on splits without rows: they have no file in any format, nor a config entry."""
    absent = [s for s in SPLITS if not counts.get(s)]
    if not absent:
        return "Every split has rows."
    return (
        f"Absent (no rows, so no file in any format and not in the Hugging Face config; `datasets` cannot load an"
        f" empty split): {', '.join(absent)}."
    )


def _size(n: int) -> str:
    return "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M"


def _label_counts(doc: Doc) -> Counter[str]:
    counts: Counter[str] = Counter(f"entity {e.type}" for e in doc.gold.entities)
    counts.update(f"event {e.type}" for e in doc.gold.events)
    counts.update(f"argument {a.role}" for e in doc.gold.events for a in e.arguments)
    return counts


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
    lines += ["", "Entity F1 (exact) per label: " + ", ".join(f"{_text(k)} {f(v['exact']['f1'])}" for k, v in figures["per_label"].items())]
    return "\n".join(lines)


# --- the folder: temporary copy, leftovers, swap -------------------------------------------------

AT_FDCWD = -100
RENAME_EXCHANGE = 2
# Only this machine's processes can be checked for life: a folder shared with others keeps theirs.
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _load_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """libc's ``renameat2``, or None where there is none (not Linux, glibc before 2.28)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_renameat2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (``renameat2`` with ``RENAME_EXCHANGE``): both exist at every moment.

    False, with nothing changed, where the system cannot do it (no such call, or a
    kernel or file system that refuses the flag); any other failure is raised.
    """
    if _renameat2 is None:
        return False
    if _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _stem(out: Path) -> str:
    # safe_name keeps a short name as it is and shortens a long one, so ".NAME.tmp-..." stays a valid name.
    return safe_name(out.name, "export")


def _own_path(out: Path, kind: str) -> Path:
    """A hidden name beside ``out`` that says which process on which machine made it."""
    return out.with_name(f".{_stem(out)}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs; when in doubt, yes (its folder is then kept)."""
    if pid == os.getpid() or os.name != "posix":  # elsewhere os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: another user's process, alive
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_leftovers(out: Path) -> None:
    """Remove what killed exports to ``out`` left beside it, and put back a previous export they had moved away.

    Only folders of processes of this machine that no longer run are touched, so a
    concurrent export keeps its own. ``.NAME.old`` is what versions before pid-named
    folders left when killed between their two renames.
    """
    pattern = re.compile(rf"\.{re.escape(_stem(out))}\.(tmp|old)-([0-9a-f]{{8}})-([0-9]+)-[0-9a-f]{{8}}")
    try:
        entries = sorted(out.parent.iterdir())
    except OSError:
        return
    for path in entries:
        found = pattern.fullmatch(path.name)
        if found:
            kind, host, pid = found.groups()
            if host != _HOST or _alive(int(pid)):
                continue
        elif path.name == f".{out.name}.old":
            kind = "old"
        else:
            continue
        try:
            if kind == "old" and not out.exists() and not out.is_symlink():
                os.rename(path, out)  # killed between the two renames of a swap: nothing is lost
            else:
                _remove(path)
        except OSError:
            continue  # not ours to fix (permissions): the export itself goes on


def _make_folder(out: Path) -> Path:
    while True:
        tmp = _own_path(out, "tmp")
        try:
            tmp.mkdir()  # 0o777 & ~umask, as any folder; mkdtemp's 0o700 kept others out of a published set
            return tmp
        except FileExistsError:
            continue


def _replace(tmp: Path, out: Path) -> None:
    """Put the finished export ``tmp`` at ``out``; an existing ``out`` is replaced without a moment without one."""
    if not out.exists() and not out.is_symlink():
        os.rename(tmp, out)
    elif exchange(tmp, out):
        _remove(tmp)  # now the previous export
    else:
        # No atomic exchange here: two renames, and a reader may find no folder between them.
        old = _own_path(out, "old")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except BaseException:
            os.rename(old, out)
            raise
        _remove(old)


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
    """Build the gold set from the latest pull and write it to ``out`` atomically.

    Streams: the pulled state is read twice (article versions, then the tasks),
    and each article is validated, merged, tokenized and written before the next.
    """
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if unit not in UNITS:
        raise ExportError(f"--unit {unit!r}: choose document or sentence")
    out = Path(out)
    if out.name in ("", ".", ".."):
        raise ExportError(f"--out {str(out)!r}: give the export its own folder, like exports/conflict-v1")
    clean_leftovers(out)  # first: it may put back an export a killed run had moved away
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists already; choose another --out or add --overwrite to replace it.")
    schema = schema or schema_mod.load()
    if len({brat_type(e.name) for e in schema.events}) != len(schema.events):
        raise ExportError("two event types differ only by ':' and '_'; brat cannot tell them apart")
    folder = project_folder(title, root)
    manifest = read_manifest(folder, title)
    project_id = int(manifest.get("project_id") or 0)
    latest = latest_versions(iter_state(folder, title))
    totals = Counts()
    builder = AgreementBuilder()
    stats: dict[str, Any] = {
        "boundary_splits": 0,
        "entities_not_in_bio": 0,
        "triggers_not_in_bio": 0,
        "gold_sources": Counter(),
        "articles_in_dispute": 0,
        "articles_per_split": Counter(),
        "label_counts": {s: Counter() for s in SPLITS},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_folder(out)
    try:
        writer = WRITERS[fmt](tmp, schema, unit)
        for task, grouped in iter_articles(iter_state(folder, title), schema, latest, totals):
            builder.add(grouped)
            chosen = select_gold(grouped, schema, threshold)
            article = dict(task["data"])
            article.setdefault("article_id", grouped.article_id)
            doc = make_doc(article, chosen, grouped.annotations, project_id)
            doc.split = split_of(article["text"], seed, ratios)
            writer.write(doc)
            stats["boundary_splits"] += doc.boundary_splits
            stats["entities_not_in_bio"] += len(doc.entity_left_out)
            stats["triggers_not_in_bio"] += len(doc.trigger_left_out)
            stats["gold_sources"][chosen.source] += 1
            stats["articles_in_dispute"] += bool(chosen.disputes)
            stats["articles_per_split"][doc.split] += 1
            stats["label_counts"][doc.split].update(_label_counts(doc))
        rows_per_split = writer.close()
        exported = sum(stats["articles_per_split"].values())
        if not exported:
            raise ExportError(
                f"project {title!r} has no article with a kept annotation yet; nothing to export.",
                "Run `annotate validate` to see why.",
            )
        stats.update(
            {
                "articles": len(latest),
                "articles_without_gold": len(latest) - exported,
                "annotations_pulled": totals.pulled,
                "annotations_kept": totals.kept + totals.repaired,
                "annotations_rejected": totals.rejected,
                "annotations_cancelled": totals.cancelled,
                "agreement": builder.report().as_dict(),
            }
        )
        (tmp / "README.md").write_text(
            card(schema, fmt, unit, rows_per_split, stats, manifest, seed, ratios, writer.data_files, writer.num_bytes,
                 writer.file_bytes),
            encoding="utf-8",
        )
        plain = {k: ({s: dict(c) for s, c in v.items()} if k == "label_counts" else dict(v) if isinstance(v, Counter) else v) for k, v in stats.items()}
        (tmp / "export.json").write_text(
            json.dumps({"format": fmt, "unit": unit, "seed": seed, "split": list(ratios), "rows": rows_per_split,
                        "stats": plain, "manifest": manifest}, ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
        _replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise
    return ExportReport(out, fmt, rows_per_split, dict(stats["articles_per_split"]), stats)
