"""A small run of the benchmark script as a correctness check: every step runs and counts right (nothing is timed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import corpus  # noqa: E402
import run as bench  # noqa: E402

from annotate import schema  # noqa: E402
from annotate.validate import check_annotation  # noqa: E402


def test_synthetic_articles_are_valid_and_carry_the_hazards() -> None:
    s = schema.load()
    texts = []
    for i in range(200):
        a = corpus.article(i, seed=3)
        assert a == corpus.article(i, seed=3)  # deterministic
        task = {"id": i, "data": {"article_id": a.id, "text": a.text}}
        verdict = check_annotation(task, {"id": i, "result": a.result}, s)
        assert verdict.status == "kept", verdict.problems
        texts.append(a.text)
    joined = "".join(texts)
    assert any(ch in joined for ch in corpus.EMOJI) and "ـــ" in joined and "\u064e" in joined  # emoji, tatweel, fatha
    assert max(len(t) for t in texts) > 10 * min(len(t) for t in texts)  # some long articles


@pytest.mark.studio
def test_small_benchmark_run_covers_every_step(studio_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = bench.main(["--n", "20", "--memory", "10,30", "--home", str(studio_home), "--rounds", "2"])
    assert [r.step.split(" ")[0] for r in rows] == ["push", "push", "pull", "incremental", "validate", "peak"]
    assert all(r.ours > 0 and r.floor > 0 for r in rows)
    # Push, re-push and export in two rounds each: their medians, and the median of the two ratios.
    assert [len(r.ratios) for r in rows] == [2, 2, 0, 0, 2, 0] and "(median of 2)" in rows[0].step
    assert all(min(r.ratios) <= r.ratio <= max(r.ratios) for r in rows if r.ratios)
    out = capsys.readouterr().out
    assert out.count("\n| ") == 7 and "machine:" in out


@pytest.mark.studio
def test_the_team_benchmark_runs_each_command_on_a_team_project(studio_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import team as team_bench

    figures = tmp_path / "team.json"
    rows = team_bench.main(["--n", "8", "--annotators", "2", "--overlap", "2", "--home", str(studio_home), "--json", str(figures)])
    # Its own checks ran: the pull with nothing changed fetched nothing, the one after a change fetched exactly it.
    assert [r[0] for r in rows][:4] == [
        "team status, nothing pulled, no push index", "team status, nothing pulled", "first pull (--full)", "pull, nothing changed"
    ]
    assert len(rows) == 14 and all(seconds > 0 and peak > 0 for _, seconds, peak in rows)
    assert rows[-1][0] == "status, first after that pull"
    assert [f["command"] for f in json.loads(figures.read_text(encoding="utf-8"))] == [r[0] for r in rows]
    assert capsys.readouterr().out.count("\n| ") == 15


@pytest.mark.studio
def test_the_load_benchmark_counts_each_save_and_the_pull(studio_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """3 accounts × 4 saves at once while a 30-task project is pulled: every save accounted for."""
    import load

    figures = tmp_path / "load.json"
    assert load.main(["--annotators", "3", "--saves", "4", "--tasks", "30", "--home", str(studio_home), "--json", str(figures)]) == 0
    out = capsys.readouterr().out
    assert "| sqlite (development) | 3 × 4 | 12 | 0 | 0 | 0 |" in out and "ok, 30 tasks" in out
    (run,) = json.loads(figures.read_text())
    assert (run["saved"], run["failed"], run["lost"], run["tasks_pulled"], run["pull_ok"]) == (12, {}, 0, 30, True)


def test_the_load_benchmark_names_each_kind_of_failure() -> None:
    import load

    from annotate.errors import ServerError

    assert load._why(ServerError("failed (HTTP 500: locked)", status=500)) == "server-500"
    assert load._why(ServerError("Label Studio at u did not answer POST /api within 20 s")) == "time-out"
    assert load._why(ServerError("The connection to Label Studio at u failed during POST /api")) == "dropped"


@pytest.mark.slow
def test_the_formats_benchmark_exports_each_format_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    import formats

    rows = formats.main(["--n", "12", "--formats", "conll,wojood"])  # each export is checked to write all 12 articles
    assert [r["format"] for r in rows] == ["conll", "wojood"] and all(r["seconds"] > 0 and r["peak_mib"] > 0 for r in rows)
    table = capsys.readouterr().out
    assert "| conll |" in table and "| wojood |" in table and "| hf |" not in table


@pytest.mark.slow
def test_the_model_benchmark_trains_through_the_cli_and_scores_on_names_never_seen(capsys: pytest.CaptureFixture[str]) -> None:
    import model as model_bench

    train_names = {r["value"]["text"] for i in range(200) for r in corpus.news_article(i, 21).result if r.get("from_name") == "entity"}
    test_names = {r["value"]["text"] for i in range(200) for r in corpus.news_article(i, 99, held_out=True).result
                  if r.get("from_name") == "entity"}
    assert train_names and test_names and not train_names & test_names
    result = model_bench.main(["--sizes", "40", "--suggest", "0"])
    (row,) = result["curve"]
    assert row["gold"] == 40 and 0 < row["trained_on"] <= 40 and row["seconds"] > 0 and row["peak_mib"] > 0
    assert 0 < row["entity_f1"] <= 1 and set(row["per_label"]) == {"PER", "GPE", "ORG"}
    assert "| 40 |" in capsys.readouterr().out
