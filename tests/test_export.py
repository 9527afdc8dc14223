"""Export: tokens, BIO, splits, and every format, from a pulled state written like `annotate pull` writes it."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import re
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from annotate import export, schema as schema_mod
from annotate.errors import ExportError, StorageError
from annotate.export import folders
from annotate.export.diff import diff as diff_exports
from annotate.export.documents import split_of
from annotate.export.features import ner_names
from annotate.export.writers import brat
from annotate.export.writers.conll import ConllWriter
from annotate.cli import main
from annotate.files import write_json, write_jsonl
from annotate.models import FORMATS, SPLITS, ExportConfig
from annotate.store import project_folder
from annotate.tokens import bio, nested_bio, normalize, tokenize, token_span
from conftest import DEFAULT_SCHEMA, ROOT, SMALL_SCHEMA
from test_validate import answer, rel, region, span, task

SCHEMA = schema_mod.load(DEFAULT_SCHEMA)
TITLE = "export-test"

ARTICLES = {
    "a1": "أعلن التحالف الدولي تنفيذ ضربات ضد مواقع لتنظيم داعش في سوريا.\nوقال المتحدث باسم وزارة الدفاع الأمريكية، شون روبرتسون: «انتهى التنظيم».",
    "a2": "🔥 قصفت طائرات التحالف مواقع في الرقة 💥 فجر اليوم، وقُتل 3 مدنيين.",
    "a3": "اعتقلت الشرطة ٣ أشخاص في منبج يوم ٢٣ آذار.",
    "a4": "مقال بلا تعليق مقبول.",
}


def ent(rid: str, label: str, text: str, piece: str, nth: int = 0, control: str = "entity") -> dict[str, Any]:
    return region(rid, label, *span(text, piece, nth), piece, control=control)


def annotations() -> dict[str, list[dict[str, Any]]]:
    a1, a2, a3 = ARTICLES["a1"], ARTICLES["a2"], ARTICLES["a3"]
    a1_result = [
        ent("c", "ORG", a1, "التحالف الدولي"),
        ent("d", "ORG", a1, "تنظيم داعش"),  # after the clitic ل: a boundary split
        ent("s", "GPE", a1, "سوريا"),
        ent("m", "ORG", a1, "وزارة الدفاع الأمريكية"),
        ent("u", "GPE", a1, "الأمريكية"),  # nested: not in BIO
        ent("r", "PER", a1, "شون روبرتسون"),
        ent("t", "Conflict:Attack", a1, "ضربات", control="trigger"),
        rel("t", "c", "Attacker"), rel("t", "d", "Target"), rel("t", "s", "Place"),
        answer(),
    ]
    return {
        "a1": [
            {"id": 101, "completed_by": 1, "updated_at": "2026-01-01T00:00:00Z", "result": a1_result},
            # A second annotator agrees and adds التحالف: gold is the majority merge, which holds back
            # what only one of the two gave (a dispute, not gold).
            {"id": 100, "completed_by": 2, "updated_at": "2025-12-31T00:00:00Z",
             "result": a1_result + [ent("x", "ORG", a1, "التحالف")]},
        ],
        "a2": [
            {
                "id": 201, "completed_by": 2, "ground_truth": True, "updated_at": "2025-01-01T00:00:00Z",
                "result": [
                    ent("t", "Conflict:Attack", a2, "قصفت", control="trigger"),
                    ent("v", "VEH", a2, "طائرات"),
                    ent("c", "ORG", a2, "التحالف"),
                    ent("g", "GPE", a2, "الرقة"),
                    ent("k", "Life:Die", a2, "قُتل", control="trigger"),
                    ent("n", "NUM", a2, "3"),
                    rel("t", "c", "Attacker"), rel("t", "v", "Instrument"), rel("t", "g", "Place"),
                    answer(),
                ],
            },
            {"id": 202, "completed_by": 1, "updated_at": "2026-06-01T00:00:00Z", "result": [ent("g", "GPE", a2, "الرقة"), answer()]},
        ],
        "a3": [
            {
                "id": 301, "completed_by": 1,
                "result": [
                    ent("t", "Justice:Arrest-Jail", a3, "اعتقلت", control="trigger"),
                    ent("p", "ORG", a3, "الشرطة"),
                    ent("n", "NUM", a3, "٣"),
                    ent("g", "GPE", a3, "منبج"),
                    ent("d", "TIME", a3, "يوم ٢٣ آذار"),
                    rel("t", "p", "Agent"), rel("t", "g", "Place"), rel("t", "d", "Time"),
                    answer(),
                ],
            }
        ],
        "a4": [{"id": 401, "completed_by": 1, "result": [ent("x", "PERSON", ARTICLES["a4"], "مقال"), answer()]}],  # rejected
    }


def write_pulled(
    root: Path, articles: dict[str, str] = ARTICLES, anns: dict[str, list[dict[str, Any]]] | None = None,
    manifest: dict[str, Any] | None = None, title: str = TITLE,
) -> Path:
    folder = project_folder(title, root)
    anns = annotations() if anns is None else anns
    tasks = []
    for i, (aid, text) in enumerate(sorted(articles.items()), start=1):
        t = task(text, article_id=aid, title=f"عنوان {aid}", source="tests")
        t["id"] = i
        t["annotations"] = anns.get(aid, [])
        tasks.append(t)
    write_jsonl(folder / "state.jsonl", tasks)
    write_json(folder / "manifest.json", {"project_id": 5, "project_title": title, "label_studio_version": "1.23.2",
                                          "pulled_at": "2026-11-24T00:00:00Z", "label_config_sha256": "abc", **(manifest or {})})
    return folder


# --- tokens ------------------------------------------------------------------------------


def test_tokens_split_punctuation_keep_numbers_and_split_clitics_at_boundaries() -> None:
    text = "قال، «نعم» لتنظيم داعش؟ دمر 72 مركبة و17 موقعاً في ٢٠١٩ بنسبة 3.5% 🔥"
    start, end = span(text, "تنظيم داعش")
    tokens, splits = tokenize(text, [start, end])
    assert [t.text for t in tokens] == [
        "قال", "،", "«", "نعم", "»", "ل", "تنظيم", "داعش", "؟", "دمر", "72", "مركبة", "و", "17", "موقعاً",
        "في", "٢٠١٩", "بنسبة", "3.5", "%", "🔥",
    ]
    assert splits == 1 and all(text[t.start : t.end] == t.text for t in tokens)
    assert token_span(tokens, start, end) == (6, 8)
    assert normalize("الأمريكيـــة") == "الامريكية" and normalize("قُتِلَ") == "قتل" and normalize("مسؤولية") == "مسءولية"


NORMALIZE_ALPHABET = list("اأإآٱىٰؤئءبتـ") + ["\u064b", "\u064e", "\u0650", "\u0651", "\u0652", "ة", "و", "ي"]


def pyarabic_normalize(token: str) -> str:
    from pyarabic import araby

    return araby.normalize_alef(araby.strip_tatweel(araby.strip_tashkeel(token))).replace("ؤ", "ء").replace("ئ", "ء")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(NORMALIZE_ALPHABET), max_size=12))
def test_normalize_equals_the_pyarabic_functions_but_alef_maksura_becomes_yeh(token: str) -> None:
    if "ى" not in token:
        assert normalize(token) == pyarabic_normalize(token)
    # pyarabic turns ى into ا, we into ي (CAMeL Tools' convention): where the input has no ي of its
    # own, reading our ي as ا must give pyarabic's result exactly, and no ى is left.
    if "ي" not in token:
        assert normalize(token).replace("ي", "ا") == pyarabic_normalize(token)
        assert ("ي" in normalize(token)) == ("ى" in token)  # every ى (also ىٰ) gives ي
    assert "ى" not in normalize(token)


def test_alef_maksura_becomes_yeh_and_the_card_states_the_code_table(pulled: Path, tmp_path: Path) -> None:
    from annotate.tokens import NORMALIZATION

    assert normalize("يحيى") == "يحيي" and normalize("على") == "علي" and normalize("مُوسَىٰ") == "موسي"
    out = tmp_path / "card"
    export.export(TITLE, out, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    card = (out / "README.md").read_text(encoding="utf-8")
    section = card.split("| change | characters | become |\n|---|---|---|\n")[1].split("\n\n")[0]

    def chars(cell: str) -> list[str]:  # "U+0623 (أ), U+0670" -> ["أ", "\u0670"]
        return ["".join(chr(int(h, 16)) for h in re.findall(r"U\+([0-9A-F]{4,6})", item)) for item in cell.split(", ")]

    stated = []
    for line in section.splitlines():
        _, name, sources, target, _ = [c.strip() for c in line.split("|")]
        stated.append((tuple(chars(sources)), "" if target == "removed" else chars(target)[0], name))
    assert stated == list(NORMALIZATION)
    assert ("ى",) in [row[0] for row in stated] and dict((r[0], r[1]) for r in stated)[("ى",)] == "ي"


def test_split_keys_keep_the_earlier_folding_of_alef_maksura() -> None:
    import hashlib

    # Before ى → ي the split key folded ى to ا (pyarabic): almost every article has على or إلى, so
    # the key must stay as it was or the new test split would hold old training articles.
    for text in ["قال الوزير إلى الصحفيين على الهواء", "يحيى في الرقة", "مُوسَىٰ"]:
        key = " ".join(pyarabic_normalize(text).split())
        u = int.from_bytes(hashlib.sha256(f"13\0{key}".encode()).digest()[:8], "big") / 2**64
        expected = "train" if u < 0.5 else "validation" if u < 0.75 else "test"
        assert split_of(text, 13, (0.5, 0.25, 0.25)) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from([*NORMALIZE_ALPHABET, " ", "\n", "\t", "\r", "\u00a0", "\u2003"]), max_size=40))
def test_the_split_key_folded_word_by_word_is_the_whole_text_folded(text: str) -> None:
    """Each word is folded from a cache; the key must be what folding the text whole gave (splits never move),
    also where a word is only diacritics or tatweel (folded away) or a space is not ASCII."""
    from annotate.tokens import _SPLIT_KEY, _apply, split_key

    assert split_key(text) == " ".join(_apply(text, _SPLIT_KEY).split())


@st.composite
def text_and_mentions(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, int]]]:
    words = draw(st.lists(st.sampled_from(["لتنظيم", "داعش", "،", "في", "سوريا", "و17", "🔥", "قُتل", "«الرقة»", "وزارة"]), min_size=1, max_size=15))
    seps = draw(st.lists(st.sampled_from([" ", "\n", "  ", ""]), min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, seps))
    mentions = []
    for _ in range(draw(st.integers(0, 6))):
        a = draw(st.integers(0, len(text) - 1))
        b = draw(st.integers(a + 1, len(text)))
        if text[a:b].strip() == text[a:b]:
            mentions.append((draw(st.sampled_from(["PER", "ORG", "GPE"])), a, b))
    return text, mentions


@settings(max_examples=300, deadline=None)
@given(text_and_mentions())
def test_bio_decodes_back_to_the_non_nested_mentions_and_mentions_cover_whole_tokens(case: tuple[str, list[tuple[str, int, int]]]) -> None:
    text, mentions = case
    tokens, _ = tokenize(text, [m[1] for m in mentions] + [m[2] for m in mentions])
    spans = []
    for kind, a, b in mentions:
        first, end = token_span(tokens, a, b)
        assert tokens[first].start == a and tokens[end - 1].end == b  # whole tokens, exactly
        spans.append((kind, first, end))
    tags, left_out = bio(len(tokens), spans)
    decoded = sorted(get_entities(tags))
    kept = sorted({(k, f, e - 1) for i, (k, f, e) in enumerate(spans) if i not in left_out})
    assert decoded == kept


@settings(max_examples=300, deadline=None)
@given(text_and_mentions())
def test_nested_columns_decode_back_to_every_mention_but_those_crossing_another(case: tuple[str, list[tuple[str, int, int]]]) -> None:
    text, mentions = case
    tokens, _ = tokenize(text, [m[1] for m in mentions] + [m[2] for m in mentions])
    spans = [(kind, *token_span(tokens, a, b)) for kind, a, b in mentions]
    columns, crossing = nested_bio(len(tokens), spans)
    decoded = Counter(e for column in columns for e in get_entities(column))
    assert decoded == Counter((k, f, e - 1) for i, (k, f, e) in enumerate(spans) if i not in crossing)
    for i in crossing:  # each one overlaps a mention in a column, neither holding the other
        _, f, e = spans[i]
        assert any(f2 < e and f < e2 and not (f2 <= f and e <= e2) and not (f <= f2 and e2 <= e)
                   for j, (_, f2, e2) in enumerate(spans) if j not in crossing)
    for outer, inner in zip(columns, columns[1:]):  # a level's mentions sit inside the level above
        assert all(outer[t] != "O" for t, tag in enumerate(inner) if tag != "O")


# --- splits ---------------------------------------------------------------------------------


def test_splits_are_stable_when_articles_are_added_and_duplicates_stay_together() -> None:
    texts = [f"خبر رقم {i} عن قصف في الرقة" for i in range(300)]
    before = {t: split_of(t, 13, (0.8, 0.1, 0.1)) for t in texts}
    more = texts + [f"خبر جديد {i}" for i in range(300)]
    after = {t: split_of(t, 13, (0.8, 0.1, 0.1)) for t in more}
    assert all(after[t] == before[t] for t in texts)
    share = {s: list(before.values()).count(s) / len(texts) for s in SPLITS}
    assert 0.7 < share["train"] < 0.9 and share["validation"] > 0.03 and share["test"] > 0.03
    assert split_of("قَصَفَتِ الطَّائِرَاتُ الرقة", 13, (0.5, 0.25, 0.25)) == split_of("قصفت الطائرات  الرقة", 13, (0.5, 0.25, 0.25))
    assert len({split_of(t, 7, (0.8, 0.1, 0.1)) == before[t] for t in texts}) == 2  # the seed matters


# --- formats --------------------------------------------------------------------------------


@pytest.fixture
def pulled(tmp_path: Path) -> Path:
    write_pulled(tmp_path / "pulled")
    return tmp_path / "pulled"


def test_hf_export_loads_with_features_and_exact_mentions(pulled: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "gold"
    ratios = (0.34, 0.33, 0.33)
    # A seed that puts the three gold articles in three different splits, so every split is loaded.
    seed = next(n for n in range(1000) if len({split_of(ARTICLES[a], n, ratios) for a in ("a1", "a2", "a3")}) == 3)
    report = export.export(TITLE, out, ExportConfig(split=ratios, seed=seed), schema=SCHEMA, root=pulled)
    assert sum(report.rows.values()) == 3 and report.stats.articles_without_gold == 1
    # الأمريكية nests in وزارة الدفاع الأمريكية: outside BIO. التحالف (annotator 2 only) is held back.
    assert report.stats.boundary_splits >= 1 and report.stats.entities_not_in_bio == 1 and report.stats.items_held_back == 1
    # a1 has two votes (in dispute); a2's ground truth is a decision, not a vote, so a2 has one vote.
    assert report.stats.articles_in_dispute == 1 and report.stats.agreement["articles_compared"] == 1
    ds = datasets.load_dataset(str(out))
    assert set(ds) == {"train", "validation", "test"}
    feats = ds["train"].features
    assert feats["ner_tags"].feature.names == ner_names(SCHEMA)
    assert feats["entities"].feature["type"].names == [e.name for e in SCHEMA.entities]
    assert feats["events"].feature["arguments"].feature["role"].names == list(SCHEMA.role_names)
    rows = {r["id"]: r for split in ds.values() for r in split}
    assert set(rows) == {"a1", "a2", "a3"}
    ent_names = feats["entities"].feature["type"].names
    ev_names = feats["events"].feature["type"].names
    for aid, row in rows.items():
        assert row["text"] == ARTICLES[aid]
        for e in row["entities"]:
            assert row["text"][e["start"] : e["end"]] == e["text"]
            assert "".join(row["tokens"][e["token_start"] : e["token_end"]]).replace(" ", "") == e["text"].replace(" ", "").replace("\n", "")
    a1 = rows["a1"]
    assert a1["gold_source"] == "majority" and a1["gold_annotation_id"] == -1 and a1["annotation_ids"] == [100, 101]
    assert len(a1["entities"]) == 6 and len(a1["events"]) == 1
    assert {(ent_names[e["type"]], e["text"], e["in_bio"]) for e in a1["entities"]} >= {("ORG", "تنظيم داعش", True), ("GPE", "الأمريكية", False)}
    assert "ل" in a1["tokens"] and a1["tokens"][a1["tokens"].index("ل") + 1] == "تنظيم"
    (attack,) = a1["events"]
    assert ev_names[attack["type"]] == "Conflict:Attack" and attack["trigger"]["text"] == "ضربات"
    assert len(attack["arguments"]) == 3 and len(a1["annotators"]) == 2 and a1["annotators"][0].startswith("annotator-")
    a2 = rows["a2"]
    assert a2["gold_source"] == "ground_truth" and len(a2["events"]) == 2
    # The ground truth (201) is the decision, named by gold_annotation_id; the votes are the others.
    assert a2["gold_annotation_id"] == 201 and a2["annotation_ids"] == [202] and len(a2["annotators"]) == 1
    assert a2["normalized_tokens"][a2["tokens"].index("قُتل")] == "قتل"
    tags = [feats["ner_tags"].feature.names[t] for t in rows["a3"]["ner_tags"]]
    assert tags[rows["a3"]["tokens"].index("٢٣") - 1 : rows["a3"]["tokens"].index("آذار") + 1] == ["B-TIME", "I-TIME", "I-TIME"]
    assert rows["a3"]["document"]["on_topic"] == feats["document"]["on_topic"].names.index("conflict")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlanguage:\n- ar") and "configs:" in card and "boundary splits" in card
    assert "1.23.2" in card and SCHEMA.sha256 in card and "Inter-annotator agreement over 1 articles" in card


def test_hf_card_split_sizes_are_what_datasets_reads_and_computes(pulled: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "gold"
    ratios = (0.34, 0.33, 0.33)
    seed = next(n for n in range(1000) if len({split_of(ARTICLES[a], n, ratios) for a in ("a1", "a2", "a3")}) == 3)
    export.export(TITLE, out, ExportConfig(split=ratios, seed=seed), schema=SCHEMA, root=pulled)
    info = yaml.safe_load((out / "README.md").read_text(encoding="utf-8").split("---\n")[1])["dataset_info"]
    # datasets logs to its own logger, which does not propagate: listen to it directly.
    logger = logging.getLogger("datasets")
    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity_warning()
    logger.addHandler(caplog.handler)
    try:
        ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    finally:
        logger.removeHandler(caplog.handler)
        datasets.logging.set_verbosity(level)
    assert not [r for r in caplog.records if "dataset_info" in r.getMessage()], caplog.text
    # The loaded sizes are computed by datasets from the data, not copied from the card.
    loaded = {s: (d.info.splits[s].num_examples, d.info.splits[s].num_bytes) for s, d in ds.items()}
    assert loaded == {x["name"]: (x["num_examples"], x["num_bytes"]) for x in info["splits"]}
    assert info["dataset_size"] == sum(b for _, b in loaded.values()) == ds["train"].info.dataset_size
    assert info["download_size"] == sum(f.stat().st_size for f in (out / "data").glob("*.parquet"))


def test_sentence_rows_have_offsets_relative_to_the_sentence(pulled: Path, tmp_path: Path) -> None:
    out = tmp_path / "sent"
    export.export(TITLE, out, ExportConfig(format="jsonl", unit="sentence"), schema=SCHEMA, root=pulled)
    rows = [json.loads(line) for split in SPLITS for line in lines(out / "jsonl" / f"{split}.jsonl")]
    a1 = [r for r in rows if r["article_id"] == "a1"]
    assert [r["id"] for r in a1] == ["a1#s0", "a1#s1"]
    assert sum(len(r["entities"]) for r in a1) == 6
    for r in rows:
        for e in r["entities"]:
            assert r["text"][e["start"] : e["end"]] == e["text"]
        for ev in r.get("events", []):
            ids = {e["id"] for e in r["entities"]}
            assert all(arg["entity_id"] in ids for arg in ev["arguments"])  # arguments never cross sentences


def lines(path: Path) -> list[str]:
    """A split file's lines; none for a split without rows, which has no file."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def read_brat(folder: Path) -> dict[str, tuple[set[Any], set[Any]]]:
    out = {}
    for ann in folder.glob("*/*.ann"):
        text = ann.with_suffix(".txt").read_text(encoding="utf-8")
        t: dict[str, tuple[str, int, int, str]] = {}
        events = set()
        lines = ann.read_text(encoding="utf-8").splitlines()
        for line in lines:
            if line.startswith("T"):
                tid, info, surface = line.split("\t")
                kind, a, b = info.split(" ")
                assert text[int(a) : int(b)] == surface
                t[tid] = (kind, int(a), int(b), surface)
        for line in lines:
            if line.startswith("E"):
                _, body = line.split("\t")
                head, *args = body.split(" ")
                kind, trig = head.split(":")
                events.add((kind, t[trig][3], frozenset((re.sub(r"\d+$", "", r), t[x][3]) for r, x in (a.split(":") for a in args))))
        mentions = {v for k, v in t.items() if v[0] in {e.name for e in SCHEMA.entities}}
        out[ann.stem] = (mentions, events)
    return out


def test_brat_rereads_to_the_same_mentions_and_events(pulled: Path, tmp_path: Path) -> None:
    out = tmp_path / "brat"
    export.export(TITLE, out, ExportConfig(format="brat"), schema=SCHEMA, root=pulled)
    back = read_brat(out / "brat")
    hf = tmp_path / "hf"
    export.export(TITLE, hf, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    rows = {json.loads(line)["id"]: json.loads(line) for s in SPLITS for line in lines(hf / "jsonl" / f"{s}.jsonl")}
    assert set(back) == set(rows)
    for aid, row in rows.items():
        mentions, events = back[aid]
        assert mentions == {(e["type"], e["start"], e["end"], e["text"]) for e in row["entities"]}
        by_id = {e["id"]: e["text"] for e in row["entities"]}
        expected = {
            (brat.brat_type(ev["type"]), ev["trigger"]["text"], frozenset((a["role"], by_id[a["entity_id"]]) for a in ev["arguments"]))
            for ev in row["events"]
        }
        assert events == expected
    conf = (out / "brat" / "annotation.conf").read_text(encoding="utf-8")
    assert "Conflict_Attack\tAttacker*:PER|ORG|GPE" in conf
    # Origin and Destination: `max: 1` in the schema, so brat's 0-1 (`?`), not any number (`*`).
    assert "Origin?:GPE|LOC|FAC" in conf and "Destination?:GPE|LOC|FAC" in conf and "Origin*" not in conf
    assert [brat.brat_cardinality(m) for m in (None, 1, 3)] == ["*", "?", "{0-3}"]


@pytest.mark.parametrize("fmt", ["conll", "jsonl", "brat", "hf"])
def test_an_empty_split_has_no_file_and_the_card_names_it(pulled: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / fmt
    report = export.export(TITLE, out, ExportConfig(format=fmt, split=(0.5, 0, 0.5)), schema=SCHEMA, root=pulled)
    assert report.rows["validation"] == 0 and report.rows["train"] and report.rows["test"]
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert not [n for n in names if "validation" in n], names
    assert [n for n in names if "train" in n] and [n for n in names if "test" in n]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Absent (no rows, so no file in any format" in card and "): validation." in card


def test_the_card_and_export_json_record_the_config_and_the_stats(pulled: Path, tmp_path: Path) -> None:
    made = export.export(TITLE, tmp_path / "made", ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    off = export.export(TITLE, tmp_path / "off", ExportConfig(format="jsonl", repair=False, threshold=0.75), schema=SCHEMA, root=pulled)
    for report, repair, shown in ((made, True, "made (as `annotate validate`)"), (off, False, "off (`--no-repair`)")):
        record = json.loads((report.out / "export.json").read_text(encoding="utf-8"))
        assert record["repair"] is repair and record["stats"] == report.stats.as_dict()
        assert sum(record["stats"]["articles_per_split"].values()) == 3 and set(record["stats"]["label_counts"]) == set(SPLITS)
        card = (report.out / "README.md").read_text(encoding="utf-8")
        assert f"| repairs | {shown} |" in card
        # The headline figures of `annotate agreement`, then the per-label line.
        assert "| entity F1, exact span and type |" in card and "| entity recall, exact |" in card
        assert "Entity F1 (exact) per label: " in card
    assert "kept when more than 75% of them gave it" in (off.out / "README.md").read_text(encoding="utf-8")


def test_conll_matches_ner_tags(pulled: Path, tmp_path: Path) -> None:
    conll, rows_out = tmp_path / "conll", tmp_path / "rows"
    export.export(TITLE, conll, ExportConfig(format="conll"), schema=SCHEMA, root=pulled)
    export.export(TITLE, rows_out, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    for split in SPLITS:
        docs = "\n".join(lines(conll / "conll" / f"{split}.conll")).split("-DOCSTART-\tO\n")[1:]
        rows = [json.loads(line) for line in lines(rows_out / "jsonl" / f"{split}.jsonl")]
        assert len(docs) == len(rows)
        for doc, row in zip(docs, rows):
            pairs = [tuple(line.split("\t")) for line in doc.splitlines() if line]
            assert pairs == list(zip(row["tokens"], row["ner_tags"]))
            assert "\n\n" in doc.strip("\n") or len(doc.strip().splitlines()) == len(row["tokens"])


def test_small_schema_export_has_no_event_columns(tmp_path: Path) -> None:
    small = schema_mod.load(SMALL_SCHEMA)
    folder = project_folder(TITLE, tmp_path)
    text = ARTICLES["a1"]
    t = task(text, article_id="s1")
    t["annotations"] = [{"id": 1, "completed_by": 1, "result": [ent("c", "ORG", text, "التحالف الدولي"), ent("s", "LOC", text, "سوريا")]}]
    write_jsonl(folder / "state.jsonl", [t])
    write_json(folder / "manifest.json", {"project_id": 1, "project_title": TITLE})
    export.export(TITLE, tmp_path / "small", ExportConfig(split=(1, 0, 0)), schema=small, root=tmp_path)
    ds = datasets.load_dataset(str(tmp_path / "small"))
    assert "events" not in ds["train"].features and len(ds["train"]) == 1 and set(ds) == {"train"}
    assert ds["train"].features["ner_tags"].feature.names == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def test_writes_are_atomic_and_replace_only_with_overwrite(pulled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "gold"
    export.export(TITLE, out, schema=SCHEMA, root=pulled)
    with pytest.raises(ExportError, match="exists already"):
        export.export(TITLE, out, schema=SCHEMA, root=pulled)
    before = (out / "README.md").read_text(encoding="utf-8")

    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ConllWriter, "write", broken)  # fails on the first article
    with pytest.raises(OSError):
        export.export(TITLE, out, ExportConfig(format="conll", overwrite=True), schema=SCHEMA, root=pulled)
    assert (out / "README.md").read_text(encoding="utf-8") == before and (out / "data").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(OSError):
        export.export(TITLE, tmp_path / "new", ExportConfig(format="conll"), schema=SCHEMA, root=pulled)
    assert not (tmp_path / "new").exists()
    monkeypatch.undo()
    export.export(TITLE, out, ExportConfig(format="conll", overwrite=True), schema=SCHEMA, root=pulled)
    assert (out / "conll").exists() and not (out / "data").exists()


def test_cli_export_and_bad_options(pulled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["export", "--project", TITLE, "--out", str(out), "--pulled", str(pulled)]) == 0
    assert "Exported 3 article(s) as hf" in capsys.readouterr().out
    assert main(["export", "--project", TITLE, "--out", str(tmp_path / "x"), "--pulled", str(pulled), "--split", "0.9,0.2"]) == 1
    assert "add up to 1" in capsys.readouterr().err
    # The CLI offers the formats as choices (a usage error, 2); the library refuses one itself, for other callers.
    assert main(["export", "--project", TITLE, "--out", str(tmp_path / "x"), "--pulled", str(pulled), "--format", "xml"]) == 2
    assert "--format" in capsys.readouterr().err
    for bad, message in (({"format": "xml"}, "choose one of hf, conll, brat, jsonl"), ({"unit": "page"}, "choose document or sentence")):
        with pytest.raises(ExportError, match=message):
            export.export(TITLE, tmp_path / "x", ExportConfig(**bad), schema=SCHEMA, root=pulled)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
    assert main(["export", "--project", TITLE, "--out", str(tmp_path / "x" / ".."), "--pulled", str(pulled), "--overwrite"]) == 1
    assert "give the export its own folder" in capsys.readouterr().err and (tmp_path / "cli").is_dir()


def test_brat_files_of_ids_that_look_alike_do_not_overwrite_each_other(tmp_path: Path) -> None:
    folder = project_folder(TITLE, tmp_path)
    tasks = []
    for i, aid in enumerate(["news/1", "news-1"], start=1):
        text = ARTICLES["a3"] + f" {i}"
        t = task(text, article_id=aid)
        t["id"] = i
        t["annotations"] = [{"id": i, "completed_by": 1, "result": [ent("g", "GPE", text, "منبج"), answer()]}]
        tasks.append(t)
    write_jsonl(folder / "state.jsonl", tasks)
    write_json(folder / "manifest.json", {"project_id": 1, "project_title": TITLE})
    export.export(TITLE, tmp_path / "brat", ExportConfig(format="brat", split=(1, 0, 0)), schema=SCHEMA, root=tmp_path)
    names = sorted(p.stem for p in (tmp_path / "brat" / "brat" / "train").glob("*.txt"))
    assert len(names) == 2 and names[0] == "news-1"


# --- what `datasets` loads ------------------------------------------------------------------------


def without_a3_number() -> dict[str, list[dict[str, Any]]]:
    """The annotations with one entity fewer: same articles, splits, features and row counts."""
    anns = annotations()
    anns["a3"][0]["result"] = [r for r in anns["a3"][0]["result"] if r.get("id") != "n"]
    return anns


def entity_texts(ds: datasets.DatasetDict) -> dict[str, list[str]]:
    return {r["id"]: sorted(e["text"] for e in r["entities"]) for split in ds.values() for r in split}


def test_a_reexport_is_loaded_afresh_through_one_shared_cache(tmp_path: Path) -> None:
    # `datasets` keyed its cache on the folder's name and the card (features, file patterns, split
    # sizes), none of which changes when an entity is removed: the second load gave the old rows.
    cache = str(tmp_path / "one-cache")
    pulled = tmp_path / "pulled"
    write_pulled(pulled)
    out = tmp_path / "exports" / "gold"
    export.export(TITLE, out, ExportConfig(split=(1, 0, 0)), schema=SCHEMA, root=pulled)
    assert "٣" in entity_texts(datasets.load_dataset(str(out), cache_dir=cache))["a3"]
    write_pulled(pulled, anns=without_a3_number())
    export.export(TITLE, out, ExportConfig(split=(1, 0, 0), overwrite=True), schema=SCHEMA, root=pulled)
    again = entity_texts(datasets.load_dataset(str(out), cache_dir=cache))
    assert "٣" not in again["a3"] and len(again["a3"]) == 3
    names = sorted(p.name for p in (out / "data").iterdir())
    assert len(names) == 1 and re.fullmatch(r"train-[0-9a-f]{16}\.parquet", names[0])
    assert f"path: data/{names[0]}" in (out / "README.md").read_text(encoding="utf-8")


def test_two_exports_in_folders_of_one_name_each_load_their_own_rows(tmp_path: Path) -> None:
    cache = str(tmp_path / "one-cache")
    write_pulled(tmp_path / "pulled-1")
    write_pulled(tmp_path / "pulled-2", anns=without_a3_number())
    first, second = tmp_path / "one" / "gold", tmp_path / "two" / "gold"
    export.export(TITLE, first, ExportConfig(split=(1, 0, 0)), schema=SCHEMA, root=tmp_path / "pulled-1")
    export.export(TITLE, second, ExportConfig(split=(1, 0, 0)), schema=SCHEMA, root=tmp_path / "pulled-2")
    assert len(entity_texts(datasets.load_dataset(str(first), cache_dir=cache))["a3"]) == 4
    assert len(entity_texts(datasets.load_dataset(str(second), cache_dir=cache))["a3"]) == 3
    assert len(entity_texts(datasets.load_dataset(str(first), cache_dir=cache))["a3"]) == 4


# --- the card shows outside values as text ----------------------------------------------------------


def test_card_shows_html_and_markdown_from_label_studio_and_the_schema_as_text(tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    title = "<script>alert(1)</script> | [click](javascript:alert(2)) **bold**"
    write_pulled(tmp_path / "pulled", title=title, manifest={"label_studio_version": "<img src=x onerror=alert(3)>",
                                                             "pulled_at": "<b>now</b>", "label_config_sha256": "<i>abc</i>"})
    per = dataclasses.replace(SCHEMA.entities[0], ar="شخص <img src=y onerror=alert(4)>")
    hostile = dataclasses.replace(SCHEMA, version="<u>1</u>", description="وصف\n<iframe src=z></iframe>", entities=(per, *SCHEMA.entities[1:]))
    out = tmp_path / "gold"
    export.export(title, out, schema=hostile, root=tmp_path / "pulled")
    body = (out / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[1]
    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)  # raw HTML on, as on the Hub
    assert not re.search(r"<(script|img|b|i|u|iframe|a)\b", page)
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt; | [click](javascript:alert(2)) **bold** (id 5)</td>" in page
    for shown in ("&lt;img src=x onerror=alert(3)&gt;", "&lt;b&gt;now&lt;/b&gt;", "&lt;i&gt;abc&lt;/i&gt;", "v&lt;u&gt;1&lt;/u&gt;",
                  "وصف &lt;iframe src=z&gt;&lt;/iframe&gt;", "شخص &lt;img src=y onerror=alert(4)&gt;"):
        assert shown in page
    assert "<code>ORG</code>" in page and f"<code>{SCHEMA.sha256}</code>" in page  # plain names stay code


def test_card_shows_control_bidi_and_zero_width_characters_of_a_title_as_escapes(tmp_path: Path) -> None:
    # ESC and BEL reached the card raw, and U+202E turned "abc\u202egpj.exe" into "abcexe.jpg" on screen.
    title = "lead\x1b[31m\x07 abc\u202egpj.exe x\u200dy"
    write_pulled(tmp_path / "pulled", title=title)
    out = tmp_path / "gold"
    export.export(title, out, schema=SCHEMA, root=tmp_path / "pulled")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e\u200d]", card)
    assert "lead\\\\x1b\\[31m\\\\x07 abc\\\\u202egpj.exe x\\\\u200dy" in card  # Markdown-escaped backslashes


# --- the folder: leftovers, the swap, permissions -------------------------------------------------

STOPPED_EXPORT = """
import sys, time
from pathlib import Path
from annotate import export, schema
from annotate.export.writers.jsonl import JsonlWriter
from annotate.models import ExportConfig

def stop(self, doc):  # the export stops on its first article, its temporary folder made
    print(self.out, flush=True)
    time.sleep(300)

JsonlWriter.write = stop
title, out, schema_file, pulled = sys.argv[1:]
export.export(title, Path(out), ExportConfig(format="jsonl", overwrite=True), schema=schema.load(Path(schema_file)), root=Path(pulled))
"""


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_the_next_export_removes_a_killed_exports_folder_and_keeps_a_running_ones(pulled: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "gold"
    export.export(TITLE, out, schema=SCHEMA, root=pulled)
    args = [sys.executable, "-c", STOPPED_EXPORT, TITLE, str(out), str(DEFAULT_SCHEMA), str(pulled)]
    killed = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    running = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        killed_tmp, running_tmp = Path(killed.stdout.readline().strip()), Path(running.stdout.readline().strip())  # type: ignore[union-attr]
        assert killed_tmp.is_dir() and running_tmp.is_dir() and killed_tmp.parent == out.parent
        killed.kill()
        killed.wait()
        assert killed_tmp.is_dir()  # a kill runs no clean-up
        export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
        assert not killed_tmp.exists() and running_tmp.is_dir()
        assert hidden(out.parent) == [running_tmp.name]
    finally:
        for process in (killed, running):
            process.kill()
            process.wait()
    export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
    assert hidden(out.parent) == [] and (out / "README.md").exists()


def test_a_previous_export_moved_away_by_a_killed_swap_is_put_back_and_old_folders_go(pulled: Path, tmp_path: Path) -> None:
    out = tmp_path / "gold"
    export.export(TITLE, out, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    before = (out / "export.json").read_text(encoding="utf-8")
    out.rename(tmp_path / ".gold.old")  # how earlier versions left it when killed between their two renames
    with pytest.raises(ExportError, match="exists already"):
        export.export(TITLE, out, schema=SCHEMA, root=pulled)
    assert (out / "export.json").read_text(encoding="utf-8") == before and hidden(tmp_path) == []
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    (tmp_path / ".gold.old").mkdir()
    (tmp_path / f".gold.old-{folders._HOST}-{gone.pid}-0123abcd").mkdir()
    elsewhere = "0" * 8 if folders._HOST != "0" * 8 else "1" * 8
    other_host = tmp_path / f".gold.tmp-{elsewhere}-{gone.pid}-0123abcd"
    other_host.mkdir()  # another machine's export on a shared folder: its process cannot be checked here
    export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
    assert hidden(tmp_path) == [other_host.name] and (out / "data").is_dir()


def test_replacing_an_export_never_leaves_a_moment_without_the_folder(pulled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "gold"
    export.export(TITLE, out, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    old_inode = out.stat().st_ino
    missing: list[str] = []
    swaps: list[tuple[int, int]] = []

    def watch(name: str, real: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if not out.exists():
                missing.append(name)
            return result
        return step

    real_exchange = folders.exchange

    def exchange(a: Path, b: Path) -> bool:
        new_inode = a.stat().st_ino
        done = real_exchange(a, b)
        swaps.append((new_inode, out.stat().st_ino))
        assert done and a.stat().st_ino == old_inode  # the previous export, about to be removed
        return done

    monkeypatch.setattr(folders, "exchange", watch("exchange", exchange))
    for module, name in ((os, "rename"), (os, "replace"), (os, "rmdir"), (folders.shutil, "rmtree")):
        monkeypatch.setattr(module, name, watch(name, getattr(module, name)))
    export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
    assert missing == [] and len(swaps) == 1 and swaps[0][0] == swaps[0][1]
    assert (out / "data").is_dir() and not (out / "jsonl").exists() and hidden(tmp_path) == []


def fake_renameat2(code: int | None) -> Any:
    import ctypes

    def call(*args: Any) -> int:
        ctypes.set_errno(code or 0)
        return -1
    return None if code is None else call


@pytest.mark.parametrize("code", [None, errno.ENOSYS, errno.EINVAL], ids=["no-symbol", "ENOSYS", "EINVAL"])
def test_without_an_atomic_exchange_the_export_is_replaced_by_two_renames(pulled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int | None) -> None:
    out = tmp_path / "gold"
    export.export(TITLE, out, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    monkeypatch.setattr(folders, "_renameat2", fake_renameat2(code))
    assert folders.exchange(tmp_path / "a", tmp_path / "b") is False
    export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
    assert (out / "data").is_dir() and not (out / "jsonl").exists() and hidden(tmp_path) == []


def test_an_exchange_that_fails_otherwise_keeps_the_previous_export(pulled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "gold"
    export.export(TITLE, out, ExportConfig(format="jsonl"), schema=SCHEMA, root=pulled)
    monkeypatch.setattr(folders, "_renameat2", fake_renameat2(errno.EACCES))
    with pytest.raises(StorageError, match=f"cannot write {re.escape(str(out))}: Permission denied"):
        export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
    assert (out / "jsonl").is_dir() and hidden(tmp_path) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_folders_and_files_follow_the_umask(pulled: Path, tmp_path: Path, fmt: str) -> None:
    previous = os.umask(0o022)
    try:
        out = tmp_path / "exports" / "gold"
        export.export(TITLE, out, ExportConfig(format=fmt), schema=SCHEMA, root=pulled)
    finally:
        os.umask(previous)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*")]}
    assert len(modes) > 3
    assert {k: v for k, v in modes.items() if v != (0o755 if (tmp_path / k).is_dir() else 0o644)} == {}


# --- brat file names ----------------------------------------------------------------------------------


def write_articles(root: Path, ids: list[str]) -> dict[str, str]:
    """One annotated article per id, each with its own text; returns text by id."""
    folder = project_folder(TITLE, root)
    tasks, texts = [], {}
    for i, aid in enumerate(ids, start=1):
        text = ARTICLES["a3"] + f" {i}"
        t = task(text, article_id=aid)
        t["id"] = i
        t["annotations"] = [{"id": i, "completed_by": 1, "result": [ent("g", "GPE", text, "منبج"), answer()]}]
        tasks.append(t)
        texts[aid] = text
    write_jsonl(folder / "state.jsonl", tasks)
    write_json(folder / "manifest.json", {"project_id": 1, "project_title": TITLE})
    return texts


def test_brat_names_long_and_unsafe_article_ids_one_file_each(tmp_path: Path) -> None:
    long_id = "خبر" * 50  # 300 bytes: more than a file name may have
    ids = [long_id, long_id + "ا", "حدث/1", "حدث:1", "حدث 1", "حدث-1"]
    assert len(long_id.encode("utf-8")) == 300
    texts = write_articles(tmp_path, ids)
    out = tmp_path / "brat"
    export.export(TITLE, out, ExportConfig(format="brat", split=(1, 0, 0)), schema=SCHEMA, root=tmp_path)
    files = sorted((out / "brat" / "train").glob("*.txt"))
    assert len(files) == len(ids) and all(len(f.name.encode("utf-8")) <= 255 for f in files)
    assert sorted(f.read_text(encoding="utf-8") for f in files) == sorted(texts.values())
    assert "حدث-1.txt" in {f.name for f in files}  # a safe id keeps its name
    back = read_brat(out / "brat")  # each .ann belongs to its .txt
    assert len(back) == len(ids) and all(len(mentions) == 1 for mentions, _ in back.values())


def test_brat_never_writes_one_file_over_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a case-insensitive file system, where `A1` and `a1` are one file.
    texts = write_articles(tmp_path, ["A1", "a1", "b1"])
    monkeypatch.setattr(brat, "safe_name", lambda name, fallback: name.lower())
    out = tmp_path / "brat"
    export.export(TITLE, out, ExportConfig(format="brat", split=(1, 0, 0)), schema=SCHEMA, root=tmp_path)
    files = sorted((out / "brat" / "train").glob("*.txt"))
    assert len(files) == 3 and sorted(f.read_text(encoding="utf-8") for f in files) == sorted(texts.values())
    assert len(list((out / "brat" / "train").glob("*.ann"))) == 3


def test_validate_agreement_and_export_keep_the_same_annotations_with_either_repair_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One validation pass: an annotation needing a certain repair counts in all three stages, or in none."""
    text = ARTICLES["a2"]
    start, end = span(text, "الرقة")
    padded = region("g", "GPE", start - 1, end, text[start - 1 : end])  # takes in the space before: trimmed, or an error
    anns = {
        "a2": [
            {"id": 201, "completed_by": 1, "result": [padded, answer()]},
            {"id": 202, "completed_by": 2, "result": [ent("g", "GPE", text, "الرقة"), answer()]},
        ]
    }
    root = tmp_path / "pulled"
    write_pulled(root, {"a2": text}, anns)
    common = ["--project", TITLE, "--pulled", str(root), "--schema", str(DEFAULT_SCHEMA)]
    for flags, kept in (([], [201, 202]), (["--no-repair"], [202])):
        main(["validate", *common, "--json", *flags])
        report = json.loads(capsys.readouterr().out)
        assert report["total"]["repaired"] + report["total"]["kept"] == len(kept)
        assert main(["agreement", *common, "--json", *flags]) == 0
        figures = json.loads(capsys.readouterr().out)
        assert figures["articles_compared"] == (len(kept) > 1)
        out = tmp_path / f"gold{len(flags)}"
        assert main(["export", *common[:2], *common[4:], "--pulled", str(root), "--out", str(out), "--format", "jsonl", *flags]) == 0
        record = json.loads((out / "export.json").read_text(encoding="utf-8"))
        assert record["repair"] is not flags and record["stats"]["annotations_kept"] == len(kept)
        assert record["stats"]["annotations_rejected"] == 2 - len(kept) == report["total"]["rejected"]
        rows = [json.loads(line) for f in sorted(out.glob("jsonl/*.jsonl")) for line in lines(f)]
        assert [r["annotation_ids"] for r in rows] == [kept]
        capsys.readouterr()


def test_overwrite_replaces_only_an_earlier_export_and_nothing_goes_into_annotates_own_folders(
    pulled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: --out <studio home> --overwrite replaced credentials and database; --out exports/<project> the pulled state."""
    studio_home = tmp_path / ".annotate"
    (studio_home / "studio").mkdir(parents=True)
    (studio_home / "credentials.json").write_text("{}", encoding="utf-8")
    pulled_project = project_folder(TITLE, pulled)
    before = {p: p.read_bytes() for p in pulled_project.rglob("*") if p.is_file()}
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "mine.txt").write_text("keep me", encoding="utf-8")
    refused = {
        studio_home: "the studio home of an embedded Label Studio",
        pulled_project: "the pulled data of a project",
        tmp_path: "a project root",  # it holds .annotate/
        plain: "a folder that is not an export",
        studio_home / "studio" / "gold": f"inside {studio_home}",
        pulled_project / "gold": f"inside {pulled_project}",
    }
    for out, said in refused.items():
        with pytest.raises(ExportError, match=re.escape(said)):
            export.export(TITLE, out, ExportConfig(overwrite=True), schema=SCHEMA, root=pulled)
    assert (studio_home / "credentials.json").read_text(encoding="utf-8") == "{}" and (plain / "mine.txt").exists()
    assert {p: p.read_bytes() for p in pulled_project.rglob("*") if p.is_file()} == before
    assert not (studio_home / "studio" / "gold").exists() and not (pulled_project / "gold").exists()
    # Through the command: a message, exit 1. An earlier export is still replaced.
    assert main(["export", "--project", TITLE, "--out", str(studio_home), "--pulled", str(pulled), "--overwrite"]) == 1
    assert "replaces only an earlier export" in capsys.readouterr().err
    out = tmp_path / "exports" / "gold"
    export.export(TITLE, out, schema=SCHEMA, root=pulled)
    export.export(TITLE, out, ExportConfig(format="jsonl", overwrite=True), schema=SCHEMA, root=pulled)
    assert (out / folders.EXPORT_RECORD).is_file() and json.loads((out / folders.EXPORT_RECORD).read_text())["format"] == "jsonl"


def test_a_split_of_nan_or_infinity_is_refused(pulled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """nan compares false to everything: it passed the old check and sent every article to test (and NaN into export.json)."""
    for bad in ("nan,0.5,0.5", "inf,-inf,1", "0.5,nan,0.5"):
        with pytest.raises(ExportError, match="add up to 1"):
            export.parse_split(bad)
        assert main(["export", "--project", TITLE, "--out", str(tmp_path / "x"), "--pulled", str(pulled), "--split", bad]) == 1
        assert "add up to 1" in capsys.readouterr().err
    with pytest.raises(ExportError, match="add up to 1"):
        export.export(TITLE, tmp_path / "x", ExportConfig(split=(float("nan"), 0.5, 0.5)), schema=SCHEMA, root=pulled)
    assert not (tmp_path / "x").exists()


# --- wojood: nested IOB2 --------------------------------------------------------------------


NESTED = [json.loads(line) for line in (ROOT / "tests" / "data" / "nested.jsonl").read_text(encoding="utf-8").splitlines()]


def test_wojood_columns_decode_with_seqeval_to_the_mentions_of_each_nesting_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (case,) = NESTED
    articles = {case["id"]: case["text"], "a3": ARTICLES["a3"]}
    regions = [ent(f"e{i}", e["type"], case["text"], e["text"], e.get("nth", 0)) for i, e in enumerate(case["entities"])]
    anns = {
        case["id"]: [{"id": 1, "completed_by": 1, "result": [*regions, answer()]}],
        "a3": [{"id": 2, "completed_by": 1, "result": [ent("g", "GPE", ARTICLES["a3"], "منبج"), answer()]}],
    }
    pulled = tmp_path / "pulled"
    write_pulled(pulled, articles, anns)
    everything = ExportConfig(format="wojood", split=(1.0, 0.0, 0.0))
    report = export.export(TITLE, tmp_path / "wojood", everything, schema=SCHEMA, root=pulled)
    export.export(TITLE, tmp_path / "rows", dataclasses.replace(everything, format="jsonl"), schema=SCHEMA, root=pulled)

    rows = [json.loads(line) for line in lines(tmp_path / "rows" / "jsonl" / "train.jsonl")]
    token_lines = [line.split("\t") for line in lines(tmp_path / "wojood" / "wojood" / "train.txt") if line]
    assert {len(line) for line in token_lines} == {1 + 3}  # the deepest nesting is three levels, in every line
    for row in rows:  # the articles in the order every format writes them
        mine, token_lines = token_lines[: len(row["tokens"])], token_lines[len(row["tokens"]) :]
        assert [line[0] for line in mine] == row["tokens"]
        expected = case["entities"] if row["article_id"] == case["id"] else [{"type": "GPE", "text": "منبج", "level": 0}]
        by_start = {(e["start"], e["end"]): e for e in row["entities"]}
        for level in range(3):
            tags = [line[1 + level] for line in mine]
            want = []
            for e in expected:
                if e["level"] == level:
                    start = span(row["text"], e["text"], e.get("nth", 0))[0]
                    found = by_start[(start, start + len(e["text"]))]
                    want.append((e["type"], found["token_start"], found["token_end"] - 1))
            assert sorted(get_entities(tags)) == sorted(want), (row["article_id"], level)
    assert token_lines == []
    # The one mention that crosses another is in no column, and is counted and said.
    assert report.stats.entities_crossing == 1
    assert "holds every entity except those that\noverlap another without either holding the other: **1 entities**" in (
        tmp_path / "wojood" / "README.md"
    ).read_text(encoding="utf-8")
    assert main(["export", "--project", TITLE, "--pulled", str(pulled), "--out", str(tmp_path / "cli"), "--format", "wojood"]) == 0
    assert "crossing another without nesting: 1 entities" in capsys.readouterr().out


# --- textee: event extraction ---------------------------------------------------------------


@pytest.mark.parametrize("unit", ["document", "sentence"])
def test_textee_offsets_give_back_each_mention_and_arguments_point_at_entities_of_their_window(
    pulled: Path, tmp_path: Path, unit: str
) -> None:
    config = ExportConfig(format="textee", unit=unit, split=(1.0, 0.0, 0.0))
    export.export(TITLE, tmp_path / "textee", config, schema=SCHEMA, root=pulled)
    export.export(TITLE, tmp_path / "rows", dataclasses.replace(config, format="jsonl"), schema=SCHEMA, root=pulled)
    windows = [json.loads(line) for line in lines(tmp_path / "textee" / "textee" / "train.jsonl")]
    rows = [json.loads(line) for line in lines(tmp_path / "rows" / "jsonl" / "train.jsonl")]
    assert len(windows) == len(rows) and len({w["wnd_id"] for w in windows}) == len(windows)
    assert sum(len(w["event_mentions"]) for w in windows) == sum(len(r["events"]) for r in rows) > 0
    for w, row in zip(windows, rows):
        assert (w["doc_id"], w["text"], w["lang"], w["tokens"]) == (row["article_id"], row["text"], "ar", row["tokens"])

        def text_of(start: int, end: int) -> str:  # TextEE's token offsets, end exclusive, back to the text
            return row["text"][row["token_starts"][start] : row["token_ends"][end - 1]]

        entities = {e["id"]: e for e in w["entity_mentions"]}
        assert len(entities) == len(row["entities"])
        for e in entities.values():
            assert text_of(e["start"], e["end"]) == e["text"]
        for ev in w["event_mentions"]:
            assert text_of(ev["trigger"]["start"], ev["trigger"]["end"]) == ev["trigger"]["text"]
            for arg in ev["arguments"]:
                entity = entities[arg["entity_id"]]  # an entity of this very window
                assert (arg["text"], arg["start"], arg["end"]) == (entity["text"], entity["start"], entity["end"])
    assert any(ev["arguments"] for w in windows for ev in w["event_mentions"])


# --- diff: what changed between two exports -------------------------------------------------


def test_diff_of_an_export_with_itself_is_empty_and_names_each_change_after_an_edit(
    pulled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ExportConfig(format="conll")
    old = export.export(TITLE, tmp_path / "old", config, schema=SCHEMA, root=pulled).out
    again = export.export(TITLE, tmp_path / "again", dataclasses.replace(config, format="textee"), schema=SCHEMA, root=pulled).out
    same = diff_exports(old, again)
    assert same.unchanged and same.entity_f1 == 1.0
    assert all(n == 0 for kind in ("entities", "events", "arguments") for n in same.as_dict()[kind].values())

    # A reviewer's changes to a2's ground truth, and one article more.
    a2, edited = ARTICLES["a2"], annotations()
    edited["a2"][0]["result"] = [
        ent("t", "Conflict:Attack", a2, "قصفت", control="trigger"),
        ent("v", "WEA", a2, "طائرات"),  # VEH -> WEA: relabelled
        ent("c", "ORG", a2, "التحالف"),
        ent("g", "GPE", a2, "في الرقة"),  # الرقة -> في الرقة: boundary, and so is its Place argument
        ent("k", "Conflict:Attack", a2, "قُتل", control="trigger"),  # Life:Die -> Conflict:Attack: an event relabelled
        # the NUM 3 is removed
        rel("t", "c", "Attacker"), rel("t", "v", "Instrument"), rel("t", "g", "Place"),
        answer(),
    ]
    more = {**ARTICLES, "a5": "وصلت تعزيزات إلى حلب صباح اليوم."}
    edited["a5"] = [{"id": 501, "completed_by": 1, "result": [ent("h", "GPE", more["a5"], "حلب"), answer()]}]
    changed = tmp_path / "changed"
    write_pulled(changed, more, edited)
    new = export.export(TITLE, tmp_path / "new", ExportConfig(format="jsonl"), schema=SCHEMA, root=changed, previous=old)

    d = new.changes
    assert d is not None and d.as_dict()["articles"] == {"added": ["a5"], "removed": [], "changed": ["a2"]}
    got = d.as_dict()
    assert got["entities"] == {"added": 1, "removed": 1, "relabelled": 1, "boundary": 1}
    assert got["events"] == {"added": 0, "removed": 0, "relabelled": 1, "boundary": 0}
    assert got["arguments"] == {"added": 0, "removed": 0, "relabelled": 0, "boundary": 1}
    assert got["per_label"]["entities"]["WEA"]["relabelled"] == 1 and got["per_label"]["entities"]["NUM"]["removed"] == 1
    old_entities = sum(len(json.loads(line)["entities"]) for line in lines(old / "gold.jsonl"))
    assert d.entity_f1 == pytest.approx(2 * (old_entities - 3) / (2 * old_entities))
    card = (new.out / "README.md").read_text(encoding="utf-8")
    assert "## Changes since `old`" in card and "Entities: 1 added, 1 removed, 1 relabelled, 1 boundary" in card

    assert main(["diff", str(old), str(new.out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == got
    assert main(["diff", str(old), str(tmp_path)]) == 1
    assert "has no gold.jsonl" in capsys.readouterr().err
    (again / "gold.jsonl").write_text('{"article_id": "a1", "entities": [{"start": 0}], "events": []}\n', encoding="utf-8")
    assert main(["diff", str(old), str(again)]) == 1
    assert f"{again / 'gold.jsonl'}:1: not a line annotate writes" in capsys.readouterr().err


# --- label maps ----------------------------------------------------------------------------

ANERCORP = {"PER": "PERS", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "VEH": "MISC", "WEA": "MISC", "TIME": "O", "NUM": "O"}


def test_a_label_map_renames_types_in_every_format_leaves_o_out_and_is_recorded(pulled: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "anercorp.yaml"
    mapping.write_text(yaml.safe_dump(ANERCORP), encoding="utf-8")
    report = export.export(TITLE, tmp_path / "hf", ExportConfig(), schema=SCHEMA, root=pulled, label_map=mapping)
    ds = datasets.load_dataset(str(report.out))
    features = ds["train"].features
    assert features["entities"].feature["type"].names == ["PERS", "ORG", "LOC", "MISC"]
    assert ner_names(schema_mod.load(DEFAULT_SCHEMA))[:3] == ["O", "B-PER", "I-PER"]  # the schema itself is unchanged
    rows = {r["article_id"]: r for split in ds.values() for r in split}
    type_name = features["entities"].feature["type"].int2str
    a1 = {e["text"]: type_name(e["type"]) for e in rows["a1"]["entities"]}
    assert a1["سوريا"] == "LOC" and a1["شون روبرتسون"] == "PERS" and a1["التحالف الدولي"] == "ORG"
    a3 = rows["a3"]
    assert {e["text"] for e in a3["entities"]} == {"الشرطة", "منبج"}  # ٣ (NUM) and يوم ٢٣ آذار (TIME) mapped to O
    (arrest,) = a3["events"]
    role_name = features["events"].feature["arguments"].feature["role"].int2str
    assert {role_name(a["role"]) for a in arrest["arguments"]} == {"Agent", "Place"}  # Time went with its entity
    assert report.stats.entities_mapped_out == 3  # ٣, يوم ٢٣ آذار and a2's 3
    card = (report.out / "README.md").read_text(encoding="utf-8")
    assert "GPE → LOC" in card and "TIME → O" in card and "mentions mapped to O were left out: 3" in card
    record = json.loads((report.out / "export.json").read_text(encoding="utf-8"))
    assert record["label_map"]["mapping"] == ANERCORP
    # The text formats speak of the same labels.
    conll = export.export(TITLE, tmp_path / "conll", ExportConfig(format="conll"), schema=SCHEMA, root=pulled, label_map=mapping).out
    tags = {line.split("\t")[1] for split in SPLITS for line in lines(conll / "conll" / f"{split}.conll") if "\t" in line}
    assert {"B-LOC", "B-PERS", "B-ORG"} <= tags and not {t for t in tags if t.endswith(("-GPE", "-TIME", "-NUM", "-PER"))}
    brat_conf = export.export(TITLE, tmp_path / "brat", ExportConfig(format="brat"), schema=SCHEMA, root=pulled,
                              label_map=mapping).out / "brat" / "annotation.conf"
    assert "GPE" not in brat_conf.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ({k: v for k, v in ANERCORP.items() if k not in ("TIME", "NUM")}, "no label for TIME, NUM"),
        ({**ANERCORP, "PERSON": "PERS"}, "PERSON is not an entity type"),
        ({**ANERCORP, "GPE": "LOC X"}, "cannot be a label"),
        (["GPE", "LOC"], "give a mapping of entity types to labels"),
    ],
)
def test_a_label_map_that_leaves_a_type_unmapped_or_names_an_unknown_one_is_refused(
    pulled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, says: str
) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump(content), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["export", "--project", TITLE, "--pulled", str(pulled), "--out", str(out), "--label-map", str(mapping)]) == 1
    err = capsys.readouterr().err
    assert says in err and str(mapping) in err and not out.exists()


# --- spaCy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["document", "sentence"])
def test_spacy_docbins_load_with_spacy_and_give_back_every_entity_span(pulled: Path, tmp_path: Path, unit: str) -> None:
    import spacy
    from spacy.tokens import DocBin

    config = ExportConfig(format="spacy", unit=unit)
    report = export.export(TITLE, tmp_path / "spacy", config, schema=SCHEMA, root=pulled)
    export.export(TITLE, tmp_path / "rows", dataclasses.replace(config, format="jsonl"), schema=SCHEMA, root=pulled)
    vocab = spacy.blank("ar").vocab
    nested = 0
    for split in SPLITS:
        path = tmp_path / "spacy" / "spacy" / f"{split}.spacy"
        assert path.exists() == bool(report.rows[split])
        if not path.exists():
            continue
        docs = list(DocBin().from_disk(path).get_docs(vocab))
        rows = [json.loads(line) for line in lines(tmp_path / "rows" / "jsonl" / f"{split}.jsonl")]
        assert [d.user_data["id"] for d in docs] == [r["id"] for r in rows]
        for d, row in zip(docs, rows):
            assert [t.text for t in d] == row["tokens"]
            spans = sorted((s.label_, s.start, s.end, s.text.replace(" ", "")) for s in d.spans["entities"])
            gold = sorted((e["type"], e["token_start"], e["token_end"], e["text"].replace(" ", "").replace("\n", "")) for e in row["entities"])
            assert spans == gold
            assert sorted((s.label_, s.start, s.end) for s in d.ents) == sorted(
                (e["type"], e["token_start"], e["token_end"]) for e in row["entities"] if e["in_bio"]
            )
            assert sorted((s.label_, s.start) for s in d.spans["triggers"]) == sorted(
                (ev["type"], ev["trigger"]["token_start"]) for ev in row["events"]
            )
            nested += sum(not e["in_bio"] for e in row["entities"])
    assert nested  # the nested mention (الأمريكية in وزارة الدفاع الأمريكية) came back too


def test_spacy_missing_is_said_with_how_to_install_it(pulled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)  # as if it were not installed: importing it raises ImportError
    with pytest.raises(ExportError, match=r"needs spaCy, which is not installed") as refused:
        export.export(TITLE, tmp_path / "out", ExportConfig(format="spacy"), schema=SCHEMA, root=pulled)
    assert "annotate[spacy]" in (refused.value.hint or "") and not (tmp_path / "out").exists()


@pytest.mark.parametrize("unit", ["document", "sentence"])
def test_an_export_on_both_cores_writes_the_same_files_as_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unit: str) -> None:
    """From ``parallel.ENOUGH`` tasks, a forked child writes the rows of the articles done last (Arrow streams, gold
    lines, its counts, agreement and pseudonyms), added after the parent's: every file is the one a single pass
    writes, byte for byte, the owner's pseudonym file too. Copies far apart and older versions stay in one half."""
    from annotate import parallel
    from annotate.export.writers.hf import HFWriter

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(HFWriter, "batch", 7)  # row groups that straddle the halves
    anns = annotations()
    tasks: list[dict[str, Any]] = []
    for k in range(12):
        for aid, text in sorted(ARTICLES.items()):
            t = task(text, article_id=f"{aid}-{k}", title=f"عنوان {aid}", source="tests")
            # Each round by other people: pseudonyms first met in either half.
            t["annotations"] = [{**a, "id": a["id"] * 100 + k, "completed_by": a["completed_by"] + 2 * (k // 4)} for a in anns.get(aid, [])]
            tasks.append(t)
    old = task(ARTICLES["a3"], version=0, article_id="a3-11")
    old["annotations"] = [{"id": 9, "completed_by": 1, "result": anns["a3"][0]["result"]}]
    copy = task(ARTICLES["a2"], article_id="a2-0")
    copy["annotations"] = [{"id": 8, "completed_by": 9, "result": anns["a2"][1]["result"]}]
    solo = task(ARTICLES["a3"], article_id="solo")  # its one annotator, last: met by the child only, in no agreement
    solo["annotations"] = [{"id": 7, "completed_by": 30, "result": anns["a3"][0]["result"]}]
    tasks = [old, *tasks, copy, solo]
    for i, t in enumerate(tasks, start=1):
        t["id"] = i
    written: list[tuple[int, int]] = []
    write_articles = export._write_articles

    def noted(tasks_: Any, *args: Any) -> Any:
        done = write_articles(tasks_, *args)
        with (tmp_path / "who").open("a") as out:  # from the child too: a file outlives it
            out.write(json.dumps([os.getpid(), done.stats.exported]) + "\n")
        return done

    monkeypatch.setattr(export, "_write_articles", noted)
    ratios = (0.34, 0.33, 0.33)
    seed = next(n for n in range(1000) if len({split_of(ARTICLES[a], n, ratios) for a in ("a1", "a2", "a3")}) == 3)
    outs = {}
    for name, enough in (("one", 10**9), ("two", 2)):
        root = tmp_path / name
        folder = project_folder(TITLE, root)
        write_jsonl(folder / "state.jsonl", tasks)
        write_json(folder / "manifest.json", {"project_id": 5, "project_title": TITLE, "pulled_at": "2026-11-24T00:00:00Z"})
        write_json(folder / "annotators.json", {"key": "ab" * 32, "annotators": {}})
        monkeypatch.setattr(parallel, "ENOUGH", enough)
        outs[name] = tmp_path / f"gold-{name}"
        report = export.export(TITLE, outs[name], ExportConfig(split=ratios, seed=seed, unit=unit), schema=SCHEMA, root=root)
        assert report.stats.exported == 37 and report.stats.articles_in_dispute == 12
        written += [tuple(json.loads(line)) for line in (tmp_path / "who").read_text().splitlines()]
        (tmp_path / "who").unlink()
    (alone, _), *halves = written
    (parent, first), (child, second) = sorted(halves, key=lambda w: w[0] != os.getpid())  # either may end first
    assert alone == parent == os.getpid() != child and first + second == 37 and abs(first - second) <= 4

    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    one, two = files(outs["one"]), files(outs["two"])
    assert one.keys() == two.keys() and [k for k in one if one[k] != two[k]] == []
    assert len([k for k in one if k.startswith("data/")]) == 3 and ".second-half" not in " ".join(two)
    pseudonyms = [(tmp_path / n / TITLE / "annotators.json").read_bytes() for n in ("one", "two")]
    assert pseudonyms[0] == pseudonyms[1] and len(json.loads(pseudonyms[0])["annotators"]) == 8  # users 1-6, 9, 30
    assert sum(datasets.load_dataset(str(outs["two"])).num_rows.values()) == sum(report.rows.values()) >= 37
