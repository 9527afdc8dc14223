"""The suggestion model offline: clitic-aware tokens, training on a pulled gold, what it finds, outcomes and origins."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest

from annotate.export import export
from annotate.export.documents import split_of
from annotate.gold import mention_origins
from annotate.model import train as train_mod
from annotate.model.features import clitic_cuts, split
from annotate.model.report import outcomes
from annotate.model.tagger import Tagger, decode, newest
from annotate.models import ExportConfig
from annotate.store import SUGGESTIONS, project_folder
from conftest import ROOT
from test_cli import run
from test_export import write_pulled
from test_validate import answer

sys.path.insert(0, str(ROOT / "benchmarks"))
import corpus  # noqa: E402

TITLE = "model-tests"


# --- tokens -----------------------------------------------------------------------------------


def test_a_proclitic_is_cut_before_al_or_before_a_word_the_gold_began_a_mention_with() -> None:
    text = "قصفت والرقة وبالعراق لتنظيم داعش بريطانيا ولندن"
    assert split(text).texts() == ["قصفت", "و", "الرقة", "وب", "العراق", "لتنظيم", "داعش", "بريطانيا", "ولندن"]
    assert split(text, frozenset({"تنظيم", "لندن"})).texts() == [
        "قصفت", "و", "الرقة", "وب", "العراق", "ل", "تنظيم", "داعش", "بريطانيا", "و", "لندن"
    ]
    # With diacritics on the clitic, the cut is after them; a short rest is never cut off.
    assert clitic_cuts("وَالرقة بال") == [2]


def test_iob2_tags_decode_to_mentions_and_a_stray_inside_tag_begins_one() -> None:
    tags = ["B-PER", "I-PER", "O", "I-GPE", "I-GPE", "B-ORG", "B-ORG", "I-PER"]
    assert list(decode(tags)) == [("PER", 0, 2), ("GPE", 3, 5), ("ORG", 5, 6), ("ORG", 6, 7), ("PER", 7, 8)]


# --- training --------------------------------------------------------------------------------


def held_out_gold(root: Path, n: int, seed: int = 5) -> dict[str, list[str]]:
    """A pulled gold whose test-split articles only have names no training article has; returns the names of each side."""
    articles: dict[str, str] = {}
    anns: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, list[str]] = {"train": [], "test": []}
    for i in range(n):
        a = corpus.news_article(i, seed, held_out=True)
        side = "test"
        if split_of(a.text, 13, (0.8, 0.1, 0.1)) != "test":
            a, side = corpus.news_article(i, seed, held_out=False), "train"
            if split_of(a.text, 13, (0.8, 0.1, 0.1)) == "test":
                continue
        articles[a.id] = a.text
        anns[a.id] = [{"id": 1000 + i, "completed_by": 1, "result": a.result}]
        names[side] += [r["value"]["text"] for r in a.result if r.get("from_name") == "entity"]
    write_pulled(root, articles, anns, title=TITLE)
    return names


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, train_mod.TrainReport, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("model")
    names = held_out_gold(root, 260)
    return root, train_mod.train(TITLE, root=root), names


@pytest.mark.slow
def test_the_taggers_find_names_never_seen_in_training_by_their_context(
    trained: tuple[Path, train_mod.TrainReport, dict[str, list[str]]],
) -> None:
    root, report, names = trained
    assert report.articles["test"] >= 15 and report.articles["train"] >= 150
    assert not set(names["test"]) & set(names["train"])  # every test name is new
    info = json.loads((report.folder / "model.json").read_text(encoding="utf-8"))
    gazetteer = {" ".join(run) for run, _ in info["entity_gazetteer"]}
    assert not any(name.split()[-1] in gazetteer for name in names["test"])  # so the list cannot have found them
    entities = report.figures["entities"]
    assert entities["all"]["gold"] == len(names["test"])
    assert entities["all"]["recall"] >= 0.7 and entities["all"]["precision"] >= 0.7, entities
    # The figures are what the saved tagger finds, counted again here.
    tagger = Tagger(report.folder)
    found = right = 0
    for article in train_mod.gold_articles(TITLE, train_mod.schema_mod.load(), root, 0.5, True):
        if split_of(article.text, 13, (0.8, 0.1, 0.1)) != "test":
            continue
        predicted = {(f.label, f.start, f.end) for f in tagger.find(article.text) if f.kind == "entity"}
        found += len(predicted)
        right += len(predicted & set(article.entities))
        assert all(0.0 < f.score <= 1.0 for f in tagger.find(article.text))
    assert (found, right) == (entities["all"]["found"], round(entities["all"]["recall"] * entities["all"]["gold"]))


@pytest.mark.slow
def test_a_model_is_saved_with_its_version_pull_figures_and_time_and_the_next_is_a_new_version(
    trained: tuple[Path, train_mod.TrainReport, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, report, _ = trained
    assert report.version == "annotate-crf-1" and report.folder == project_folder(TITLE, root) / "models" / "crf-1"
    info = json.loads((report.folder / "model.json").read_text(encoding="utf-8"))
    assert info["pull"]["pulled_at"] == "2026-11-24T00:00:00Z" and info["seconds"] > 0
    assert info["split"] == {"seed": 13, "ratios": [0.8, 0.1, 0.1], "threshold": 0.5, "repair": True}
    assert set(info["figures"]) == {"entities", "triggers"} and "PER" in info["figures"]["entities"]["per_label"]
    assert {p.name for p in report.folder.iterdir()} == {"model.json", "entities.crfsuite", "triggers.crfsuite"}
    # A second model goes beside the first, and is the newest.
    copy = tmp_path / "copy"
    held_out_gold(copy, 60)
    killed = project_folder(TITLE, copy) / "models" / ".crf-1.tmp"  # what a training killed with kill -9 leaves
    killed.mkdir(parents=True)
    (killed / "entities.crfsuite").write_bytes(b"half")
    first = train_mod.train(TITLE, root=copy)
    second = train_mod.train(TITLE, root=copy)
    assert (first.version, second.version) == ("annotate-crf-1", "annotate-crf-2")
    assert newest(TITLE, copy) == second.folder and first.folder.is_dir()
    # The killed training's half-written model is gone; nothing else is left beside the models.
    assert sorted(p.name for p in second.folder.parent.iterdir()) == [".train.lock", "crf-1", "crf-2"]


@pytest.mark.slow
def test_train_without_gold_or_without_a_pull_says_what_to_do(tmp_path: Path) -> None:
    """As a user meets it: a process, its exit status and message."""
    done = run("model", "train", "--project", TITLE, "--pulled", str(tmp_path))
    assert done.returncode == 1 and "nothing has been pulled here yet" in done.stderr, done.stderr
    write_pulled(tmp_path, {"a": "نص بلا وسوم."}, {"a": [{"id": 1, "completed_by": 1, "result": []}]}, title=TITLE)
    done = run("model", "train", "--project", TITLE, "--pulled", str(tmp_path))
    assert done.returncode == 1 and "no gold mention outside the test split" in done.stderr, done.stderr
    done = run("model", "suggest", "--project", TITLE, "--pulled", str(tmp_path))
    assert done.returncode == 1 and "annotate model train" in done.stderr, done.stderr
    done = run("model", "report", "--project", TITLE, "--pulled", str(tmp_path), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["totals"] == dict.fromkeys(
        ("accepted", "relabelled", "boundary", "deleted", "added"), 0
    ), done.stderr
    assert "Traceback" not in done.stderr


# --- what became of the suggestions ---------------------------------------------------------


def test_each_suggested_and_submitted_mention_has_exactly_one_outcome() -> None:
    suggested = [("PER", 0, 5), ("GPE", 10, 15), ("ORG", 20, 30), ("GPE", 40, 45), ("Conflict:Attack", 50, 55)]
    submitted = [
        ("PER", 0, 5),  # accepted
        ("LOC", 10, 15),  # relabelled
        ("ORG", 22, 30),  # boundary
        ("Conflict:Attack", 50, 55),  # accepted (a trigger)
        ("FAC", 60, 66),  # added; ("GPE", 40, 45) was deleted
    ]
    counts: dict[str, int] = {}
    for outcome, _ in outcomes(suggested, submitted):
        counts[outcome] = counts.get(outcome, 0) + 1
    assert counts == {"accepted": 2, "relabelled": 1, "boundary": 1, "deleted": 1, "added": 1}
    assert mention_origins(suggested, submitted) == {
        ("PER", 0, 5): "suggested", ("LOC", 10, 15): "suggested-edited", ("ORG", 22, 30): "suggested-edited",
        ("Conflict:Attack", 50, 55): "suggested", ("FAC", 60, 66): "manual",
    }


@pytest.mark.slow
def test_the_dataset_says_how_each_mention_came_and_the_card_gives_the_share_and_the_baseline(
    trained: tuple[Path, train_mod.TrainReport, dict[str, list[str]]], tmp_path: Path
) -> None:
    """Gold made from a recorded suggestion: mentions kept as suggested, edited, or added by hand."""
    text = "قال أحمد سالم إن القوات قصفت مدينة الرقة وبلدة منبج."
    anns = {"s1": [{
        "id": 7, "completed_by": 1, "parent_prediction": 91,
        "result": [
            region("a", "PER", text, "أحمد سالم"), region("b", "GPE", text, "مدينة الرقة"),
            region("c", "GPE", text, "منبج"), region("t", "Conflict:Attack", text, "قصفت", "trigger"), answer(),
        ],
    }]}
    root = tmp_path / "pulled"
    folder = write_pulled(root, {"s1": text}, anns, title=TITLE)
    suggested = [region("x", "PER", text, "أحمد سالم"), region("y", "GPE", text, "الرقة"),
                 region("z", "Conflict:Attack", text, "قصفت", "trigger")]
    (folder / SUGGESTIONS).mkdir()
    (folder / SUGGESTIONS / "20261201T000000Z.jsonl").write_text(
        json.dumps({"version": "annotate-crf-1", "at": "2026-12-01T00:00:00+00:00", "control_share": 0.1}) + "\n"
        + json.dumps({"project": 5, "task": 1, "article_id": "s1", "withheld": None, "prediction": 91, "result": suggested}) + "\n",
        encoding="utf-8",
    )
    model_folder = folder / "models" / "crf-1"  # the trained model's record, for the card's baseline
    model_folder.mkdir(parents=True)
    (model_folder / "model.json").write_text((trained[1].folder / "model.json").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "gold"
    report = export(TITLE, out, ExportConfig(split=(1.0, 0.0, 0.0)), root=root)
    assert report.stats.origins == {"suggested": 2, "suggested-edited": 1, "manual": 1}
    train = datasets.load_dataset(str(out))["train"]
    (row,) = train
    names = train.features["entities"].feature["origin"].names
    assert {e["text"]: names[e["origin"]] for e in row["entities"]} == {
        "أحمد سالم": "suggested", "مدينة الرقة": "suggested-edited", "منبج": "manual"
    }
    assert [names[e["origin"]] for e in row["events"]] == ["suggested"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Of the 4 gold mentions and triggers, 2 (50.0%) were kept as a model suggested them" in card
    assert "1 (25.0%) were suggestions an annotator relabelled or moved" in card
    entities = trained[1].figures["entities"]["all"]
    assert f"| entities | all | {entities['precision']:.3f} | {entities['recall']:.3f} | {entities['f1']:.3f} |" in card
    assert "`annotate-crf-1`" in card


def region(rid: str, label: str, text: str, piece: str, control: str = "entity") -> dict[str, Any]:
    start = text.index(piece)
    return {"id": rid, "from_name": control, "to_name": "text", "type": "labels",
            "value": {"start": start, "end": start + len(piece), "text": piece, "labels": [label]}}


def test_the_report_compares_time_and_agreement_with_the_control_slice_and_names_who_accepts_everything(tmp_path: Path) -> None:
    """Two annotators on every article: one keeps every (wrong) suggestion, the other labels what is there."""
    from annotate.annotators import Pseudonyms
    from annotate.model.report import report
    from annotate.model.suggest import in_control

    texts = {f"c{i}": f"قال أحمد سالم إن القوات قصفت مدينة الرقة رقم {i}." for i in range(40)}
    control = sorted(a for a in texts if in_control(a, 0.25))
    assert control and len(control) < len(texts)
    anns: dict[str, list[dict[str, Any]]] = {}
    lines = []
    for n, (aid, text) in enumerate(sorted(texts.items())):
        right = [region("p", "PER", text, "أحمد سالم"), region("g", "GPE", text, "الرقة"), answer()]
        wrong = [region("p", "ORG", text, "أحمد سالم"), region("g", "GPE", text, "الرقة")]  # what the model suggests
        if aid in control:
            lines.append({"project": 5, "task": n + 1, "article_id": aid, "withheld": "control"})
            anns[aid] = [
                {"id": 10 * n + 1, "completed_by": 1, "result": right, "lead_time": 100.0, "created_at": "2026-12-02T00:00:00Z"},
                {"id": 10 * n + 2, "completed_by": 2, "result": right, "lead_time": 120.0, "created_at": "2026-12-02T00:00:00Z"},
            ]
            continue
        lines.append({"project": 5, "task": n + 1, "article_id": aid, "withheld": None, "prediction": 500 + n, "result": wrong})
        anns[aid] = [
            {"id": 10 * n + 1, "completed_by": 1, "result": [*wrong, answer()], "lead_time": 30.0, "parent_prediction": 500 + n,
             "created_at": "2026-12-02T00:00:00Z"},
            {"id": 10 * n + 2, "completed_by": 2, "result": right, "lead_time": 60.0, "parent_prediction": 500 + n,
             "created_at": "2026-12-02T00:00:00Z"},
        ]
    folder = write_pulled(tmp_path, texts, anns, title=TITLE)
    (folder / SUGGESTIONS).mkdir()
    (folder / SUGGESTIONS / "20261201T000000Z.jsonl").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in [
            {"version": "annotate-crf-1", "at": "2026-12-01T00:00:00+00:00", "control_share": 0.25}, *lines
        ]) + "\n", encoding="utf-8",
    )
    found = report(TITLE, root=tmp_path)
    suggested = len(texts) - len(control)
    assert found.annotations == 2 * suggested
    name = Pseudonyms(folder)
    assert found.per_annotator[name(1)] == {"accepted": 2 * suggested}
    assert found.per_annotator[name(2)] == {"accepted": suggested, "relabelled": suggested}
    assert found.lead_time == {
        "suggested": {"annotations": 2 * suggested, "median_seconds": 45.0},
        "control": {"annotations": 2 * len(control), "median_seconds": 110.0},
    }
    assert found.agreement["control"]["entity_f1_exact"] == 1.0 and found.agreement["control"]["articles_compared"] == len(control)
    assert found.agreement["suggested"]["entity_f1_exact"] == 0.5
    (anchored,) = found.anchored
    assert anchored["annotator"] == name(1) and anchored["accepted_share"] == 1.0


@pytest.mark.slow
def test_a_damaged_model_or_suggestion_record_is_named_with_what_to_do(
    trained: tuple[Path, train_mod.TrainReport, dict[str, list[str]]], tmp_path: Path
) -> None:
    folder = write_pulled(tmp_path, {"a": "نص."}, {"a": [{"id": 1, "completed_by": 1, "result": [answer()]}]}, title=TITLE)
    model = folder / "models" / "crf-1"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{not json", encoding="utf-8")
    done = run("model", "suggest", "--project", TITLE, "--pulled", str(tmp_path))
    assert done.returncode == 1 and f"{model / 'model.json'} cannot be read as a model" in done.stderr, done.stderr
    assert "annotate model train" in done.stderr and "Traceback" not in done.stderr
    (model / "model.json").write_text((trained[1].folder / "model.json").read_text(encoding="utf-8"), encoding="utf-8")
    done = run("model", "suggest", "--project", TITLE, "--pulled", str(tmp_path))  # the model files themselves are missing
    assert done.returncode == 1 and "entities.crfsuite cannot be opened" in done.stderr, done.stderr
    (folder / SUGGESTIONS).mkdir()
    record = folder / SUGGESTIONS / "20261201T000000Z.jsonl"
    record.write_text('{"version": "annotate-crf-1", "at": "2026-12-01T00:00:00+00:00"}\n{"task": 1, "pred\n', encoding="utf-8")
    done = run("model", "report", "--project", TITLE, "--pulled", str(tmp_path))
    assert done.returncode == 1 and f"{record}:2: not a line annotate writes" in done.stderr, done.stderr
    done = run("export", "--project", TITLE, "--pulled", str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and f"{record}:2" in done.stderr and not (tmp_path / "out").exists(), done.stderr
