"""The CLI as a user runs it: a real process, so what reaches the terminal and the exit status are what is tested."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from annotate import cli
from annotate.agreement import agreement, figure, headline
from annotate.gold import ArticleAnnotations
from annotate.labelstudio import studio
from annotate.models import DEFAULT_THRESHOLD, FORMATS, UNITS, Annotation, EntityMention, ExportConfig
from annotate.schema import DEFAULT_SCHEMA, label_config, load
from conftest import ROOT


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``annotate ARGS`` in a real process, from ``cwd``; none of the developer's ANNOTATE_* settings leak in, ``env`` adds some."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATE_")}
    return subprocess.run(
        [sys.executable, "-c", "from annotate.cli import run; run()", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env={**clean, **(env or {})},
    )


@pytest.mark.parametrize(("args", "message"), [(["pusj"], "No such command"), (["push", "--bogus"], "No such option")])
def test_usage_errors_print_the_short_usage_message_and_exit_2(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Usage: annotate" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_help_exits_0() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("code", [0, 3])
def test_typer_exit_passes_its_code_through(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    class Command:
        def main(self, **_: object) -> None:
            raise cli.typer.Exit(code)

    monkeypatch.setattr(cli.typer.main, "get_command", lambda app: Command())
    assert cli.main([]) == code


def test_typer_abort_is_reported_as_aborted_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Command:
        def main(self, **_: object) -> None:
            raise cli.typer.Abort()

    monkeypatch.setattr(cli.typer.main, "get_command", lambda app: Command())
    assert cli.main([]) == 130
    assert "aborted" in capsys.readouterr().err


# --- start-up: only what the command needs --------------------------------------------

# export's libraries (most of the start-up time when imported eagerly), and the client's HTTP library.
HEAVY = ("datasets", "pandas", "pyarrow", "httpx")

# Imports the CLI, runs two help screens in the same process, and reports what was loaded after each step.
LOADED_SCRIPT = """
import json, sys
heavy = lambda: sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
found = {{}}
import annotate.cli as cli
found["import"] = heavy()
found["--help"] = (cli.main(["--help"]), heavy())
found["push --help"] = (cli.main(["push", "--help"]), heavy())
found["team add --help"] = (cli.main(["team", "add", "--help"]), heavy())
sys.stderr.write(json.dumps(found))
"""


def test_importing_the_cli_loads_no_dataset_library() -> None:
    timed = subprocess.run([sys.executable, "-X", "importtime", "-c", "import annotate.cli"], capture_output=True, text=True, timeout=120)
    assert timed.returncode == 0, timed.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines() if line.startswith("import time:")}
    assert "annotate.cli" in imported
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []


def test_help_screens_load_no_dataset_library() -> None:
    done = subprocess.run([sys.executable, "-c", LOADED_SCRIPT.format(heavy=HEAVY)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr) == {"import": [], "--help": [0, []], "push --help": [0, []], "team add --help": [0, []]}
    assert "Usage: annotate push" in done.stdout and "Usage: annotate team add" in done.stdout


# --- defaults and choices come from the library ------------------------------------------------


def _params(command: str) -> dict[str, Any]:
    """The parsed options of a command, by name, as typer builds them."""
    group = typer.main.get_command(cli.app)
    return {p.name: p for p in group.commands[command].params}  # type: ignore[attr-defined]


def test_export_defaults_are_the_library_export_config() -> None:
    params, config = _params("export"), ExportConfig()
    default = lambda name: getattr(params[name].default, "value", params[name].default)  # noqa: E731  # an Enum's value
    assert default("fmt") == config.format and default("unit") == config.unit
    assert export_split(default("split")) == config.split
    assert (default("seed"), default("threshold"), default("overwrite")) == (config.seed, config.threshold, config.overwrite)
    assert default("no_repair") is (not config.repair)
    assert default("threshold") == DEFAULT_THRESHOLD == _params("adjudicate")["threshold"].default


def export_split(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


def test_overlap_and_annotators_together_are_a_usage_error(tmp_path: Path) -> None:
    """Queues of their own (--overlap) or one shared project (--annotators): refused before anything is read or sent."""
    done = run("push", str(tmp_path / "missing.jsonl"), "--overlap", "2", "--annotators", "2", "--home", str(tmp_path / "h"))
    assert done.returncode == 2, done.stderr
    assert "'--overlap' / '--annotators'" in done.stderr and "use one" in done.stderr and "Usage: annotate push" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "h").exists()


@pytest.mark.parametrize(("option", "value", "allowed"), [("--format", "xml", FORMATS), ("--unit", "paragraph", UNITS)])
def test_a_format_or_unit_the_library_does_not_know_is_a_usage_error(
    tmp_path: Path, option: str, value: str, allowed: tuple[str, ...]
) -> None:
    done = run("export", "--out", str(tmp_path / "out"), option, value)
    assert done.returncode == 2, done.stderr
    assert f"Invalid value for '{option}'" in done.stderr and all(repr(a) in done.stderr for a in allowed)
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["validate", "agreement", "adjudicate", "export"])
def test_no_repair_is_offered_alike_wherever_annotations_are_read(command: str) -> None:
    option = _params(command)["no_repair"]
    assert option.opts == ["--no-repair"] and option.default is False
    assert option.help == _params("validate")["no_repair"].help


def test_schema_commands_default_to_the_packaged_schema(tmp_path: Path) -> None:
    """From a folder without schemas/: the default is the one inside the package."""
    xml = subprocess.run(
        [sys.executable, "-c", "from annotate.cli import run; run()", "schema", "xml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert xml.returncode == 0, xml.stderr
    assert xml.stdout == label_config(load(DEFAULT_SCHEMA)) and '<Labels name="entity"' in xml.stdout
    check = subprocess.run(
        [sys.executable, "-c", "from annotate.cli import run; run()", "schema", "check"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(f"{DEFAULT_SCHEMA}: OK")


def test_push_keeps_its_index_in_the_studio_folder(tmp_path: Path) -> None:
    assert studio.push_cache(tmp_path) == tmp_path.resolve() / "push-index"


# --- progress -----------------------------------------------------------------------------


def _stage_lines(monkeypatch: pytest.MonkeyPatch, *calls: tuple[str, int, int]) -> list[str]:
    """What the pull's progress shows after these ``progress(stage, done, total)`` calls (its final frame)."""
    from rich.console import Console

    shown = io.StringIO()
    monkeypatch.setattr(cli.common, "err", Console(file=shown, width=100, force_terminal=False))
    with cli.common._stages() as progress:
        for call in calls:
            progress(*call)
    return [" ".join(line.replace("━", " ").split()[:-1]) for line in shown.getvalue().splitlines()]  # time dropped


def test_pull_progress_never_shows_a_count_against_another_stage_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """pull calls ``progress(stage, done, 0)`` while the total is not known: no ``3/0``, no earlier stage's total."""
    full = _stage_lines(monkeypatch, ("listing", 3, 3), ("exporting", 0, 0))
    assert full == ["Listing 3/3", "Exporting 0/?"]  # was "Exporting 0/3": the listing's total
    incremental = _stage_lines(monkeypatch, ("listing", 7, 0), ("listing", 7, 7), ("fetching", 1, 6), ("fetching", 6, 6))
    assert incremental == ["Listing 7/7", "Fetching 6/6"]
    assert _stage_lines(monkeypatch, ("listing", 0, 0), ("exporting", 0, 0), ("exporting", 2, 2)) == [
        "Listing 0/0", "Exporting 2/2"  # a stage over is shown done, with what it did
    ]
    assert _stage_lines(monkeypatch, ("listing", 3, 0)) == ["Listing 3/?"]


# --- reports -----------------------------------------------------------------------------


def _vote(annotation_id: int, annotator: int, *surfaces: str) -> Annotation:
    entities = tuple(EntityMention(f"e{i}", "GPE", TEXT.index(s), TEXT.index(s) + len(s), s) for i, s in enumerate(surfaces))
    return Annotation(
        id=annotation_id, task_id=1, article_id="a1", article_version=1, annotator=annotator, created_at=None,
        updated_at=None, lead_time=None, ground_truth=False, cancelled=False, entities=entities,
    )


TEXT = "قصفت طائرات التحالف مواقع في الرقة ودير الزور اليوم."


def test_agreement_prints_the_headline_the_dataset_card_prints(capsys: pytest.CaptureFixture[str]) -> None:
    votes = [_vote(1, 7, "الرقة", "دير الزور"), _vote(2, 8, "الرقة")]
    figures = agreement([ArticleAnnotations("a1", TEXT, votes, [])]).as_dict()
    cli.quality._echo_agreement(figures, as_json=False)
    out = capsys.readouterr().out
    assert out.startswith("1 article(s) compared, annotators [7, 8]\n")
    for name, value in headline(figures):  # the card's names and figures, each on its own line
        assert any(line.split() == [*name.split(), figure(value)] for line in out.splitlines()), name
    assert "GPE" in out and "Per annotator pair:" in out and "Lowest agreement (review first): a1 (0.667)" in out


def test_agreement_with_nothing_to_compare_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    cli.quality._echo_agreement(agreement([]).as_dict(), as_json=False)
    assert capsys.readouterr().out == "No article was labelled by two or more annotators yet.\n"


@pytest.mark.slow
def test_startup_benchmark_runs_and_reports_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """A correctness check of benchmarks/startup.py (nothing is timed here)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import startup
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows = startup.main(["--n", "1"])
    assert [r.step for r in rows] == ["python -c pass (floor)", "annotate --help"] and all(r.median > 0 for r in rows)
    out = capsys.readouterr().out
    assert out.count("\n| ") == 3 and "annotate.cli" in out


@pytest.mark.slow
def test_usage_errors_exit_2_on_the_oldest_typer_pyproject_allows(tmp_path: Path) -> None:
    """typer moves under us (0.29 vendors click): the CLI must also work on the oldest release we allow.

    That release is fetched from the package registry as a wheel and put first on the path
    of a child process; everything else is the test venv's.
    """
    import re
    import tomllib
    import zipfile

    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (oldest,) = [m.group(1) for r in requirements if (m := re.fullmatch(r"typer>=([\d.]+)", r))]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "-d", str(wheels), f"typer=={oldest}"],
        check=True, capture_output=True, timeout=300,
    )
    site = tmp_path / "site"
    with zipfile.ZipFile(next(wheels.glob("typer-*.whl"))) as wheel:
        wheel.extractall(site)
    script = "import sys, typer; print(typer.__version__, file=sys.stderr); from annotate.cli import run; run()"

    def annotate(*args: str) -> subprocess.CompletedProcess[str]:
        env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    for args, code, message in (
        (["pusj"], 2, "No such command 'pusj'"),
        (["push", "--bogus"], 2, "No such option"),
        (["export", "--out", "x", "--format", "xml"], 2, "'xml' is not one of"),
        (["--help"], 0, "Usage:"),
    ):
        done = annotate(*args)
        ran = done.stderr.splitlines()[0]
        assert ran in (oldest, f"{oldest}.0"), done.stderr  # the old typer really ran
        assert done.returncode == code and message in done.stdout + done.stderr, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr


def test_a_port_outside_1_to_65535_is_refused_before_anything_is_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18: --port 99999 was an OverflowError traceback, --port 0 silently became 8080."""
    from annotate.errors import StudioError
    from annotate.labelstudio import studio

    home = tmp_path / "home"
    for port in ("99999", "0", "-1"):
        assert cli.main(["studio", "start", "--port", port, "--home", str(home)]) == 2
        assert "--port" in capsys.readouterr().err
        assert cli.main(["up", "--port", port, "--home", str(home)]) == 2
        capsys.readouterr()
    for port in (99999, 0):
        with pytest.raises(StudioError, match="from 1 to 65535"):
            studio.start(home, port=port)
    assert not home.exists()
