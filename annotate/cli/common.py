"""What every command shares: the typer apps, the options, progress bars, and how messages are printed."""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

from ..errors import printable
from ..models import FORMATS, UNITS, ExportConfig, Schema
from .. import schema as schema_mod  # cheap, and store needs it anyway
from .. import settings as settings_mod  # tomllib only

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from ..pull import Progress as StageProgress
    from ..push import Progress as PushProgress


app = typer.Typer(help="Gold entity/event training data from Arabic news, labelled in Label Studio.", no_args_is_help=True)
schema_app = typer.Typer(help="Check a schema file or show the Label Studio config it makes.", no_args_is_help=True)
studio_app = typer.Typer(
    help="Run the embedded Label Studio (127.0.0.1 only, data in .annotate/ of the project root).", no_args_is_help=True
)
team_app = typer.Typer(
    help="The annotation team: accounts, blind queues (push --overlap K), progress and rebalancing.", no_args_is_help=True
)
app.add_typer(schema_app, name="schema")
app.add_typer(studio_app, name="studio")
app.add_typer(team_app, name="team")

err = Console(stderr=True)

# Every export default is the library's (the dataset card records the same config).
DEFAULTS = ExportConfig()


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    typer.echo(printable(text), err=err, nl=nl)


def _choices(name: str, values: tuple[str, ...]) -> type[enum.Enum]:
    """An Enum of the library's allowed values, so the parser rejects others as a usage error (exit 2).

    Not ``click.Choice``: typer 0.25+ parses with its vendored click, and types from the real
    click break there; an Enum is turned into the right Choice by typer itself.
    """
    return enum.Enum(name, {value: value for value in values}, type=str)  # type: ignore[return-value]


FormatChoice: Any = _choices("FormatChoice", FORMATS)
UnitChoice: Any = _choices("UnitChoice", UNITS)
# validate --fail-on: the least severe finding that makes it exit 1 ("never": it always exits 0).
FAIL_ON = ("error", "warning", "never")
FailOnChoice: Any = _choices("FailOnChoice", FAIL_ON)


def _split_text(ratios: tuple[float, ...]) -> str:
    """The --split form of ratios, e.g. (0.8, 0.1, 0.1) -> "0.8,0.1,0.1"."""
    return ",".join(f"{r:g}" for r in ratios)


ProjectOpt = Annotated[
    Optional[str],
    typer.Option("--project", help="Label Studio project title (default: $ANNOTATE_PROJECT, annotate.toml, the schema's name)."),
]
SchemaOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--schema",
        help=f"Schema file (default: $ANNOTATE_SCHEMA, annotate.toml, the packaged {schema_mod.DEFAULT_SCHEMA.name}).",
    ),
]
SchemaFileArg = Annotated[
    Optional[Path],
    typer.Argument(
        help=f"The schema file (YAML; default: $ANNOTATE_SCHEMA, annotate.toml, the packaged {schema_mod.DEFAULT_SCHEMA.name})."
    ),
]
RulesOpt = Annotated[Optional[Path], typer.Option("--rules", help="YAML file of ingest cleaning rules (see README).")]
PulledOpt = Annotated[
    Optional[Path],
    typer.Option("--pulled", help="Folder of pulled data, one subfolder per project (default: exports/ in the project root)."),
]
HomeOpt = Annotated[
    Optional[Path],
    typer.Option("--home", help="Folder of the embedded studio (default: $ANNOTATE_HOME, else .annotate/ in the project root)."),
]
StatusJsonOpt = Annotated[bool, typer.Option("--json", help="Print the status as JSON.")]
NoRepairOpt = Annotated[bool, typer.Option("--no-repair", help="Report certain repairs as errors instead of making them.")]
ThresholdOpt = Annotated[
    float, typer.Option(min=0.01, max=1.0, help="Majority merge: share of annotators that keeps a mention.")
]


@contextmanager
def _progress(label: str) -> Iterator[PushProgress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=False
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def _stages() -> Iterator[StageProgress]:
    """A line per stage of a pull; a total of 0 (not known yet) shows a pulse and the count so far (``3/?``).

    A new line per stage, not one relabelled line: rich keeps a total once set
    (``update(total=None)`` leaves it), so one line showed the previous stage's total
    against the next stage's count (``Exporting 0/3``). A stage over is shown done.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        first = bar.add_task("Pulling", total=None)
        lines: list[tuple[str, TaskID]] = [("", first)]  # (stage, its line); "" is the line before any stage

        def update(stage: str, done: int, total: int) -> None:
            shown, task = lines[-1]
            if stage != shown:
                if shown:  # the previous stage is over: show it done, with what it did
                    finished = next(t for t in bar.tasks if t.id == task)
                    bar.update(task, total=finished.completed)
                    task = bar.add_task(stage.capitalize(), total=None)
                lines.append((stage, task))
            bar.update(task, description=stage.capitalize(), completed=done, total=total or None)

        yield update


def _counting(tasks: int, of: int) -> None:
    """Said on stderr before status or team status validates a pull (once a pull), so that the wait is not a mystery."""
    some = f"{tasks:,} of its {of:,} task(s), those not counted before" if tasks < of else f"{of:,} task(s)"
    echo(f"Counting the latest pull ({some}): once a pull, kept for the next status.", err=True)


def _echo_blocked(blocked: int) -> None:
    echo(f"note: {blocked} article(s) are held by tasks with different texts: export stops until"
         f" one is deleted; `{_command()} validate` names them", err=True)


def _project(project: str | None, schema: Path | None) -> tuple[str, Schema]:
    """The project title and its loaded schema: the options, else the environment, else annotate.toml, else defaults."""
    chosen = settings_mod.resolve(project, schema)
    loaded = schema_mod.load(chosen.schema)
    return chosen.project or loaded.name, loaded


def _schema_file(file: Path | None) -> Path:
    """The schema the ``schema`` commands read: the argument, else the project's (see ``_project``), else the packaged one."""
    return file if file is not None else (settings_mod.resolve().schema or schema_mod.DEFAULT_SCHEMA)




def _command() -> str:
    """How the user ran this command (e.g. .venv/bin/annotate), to repeat it in advice."""
    path = Path(sys.argv[0])
    if path.name != "annotate":
        return "annotate"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
