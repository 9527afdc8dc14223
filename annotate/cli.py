"""The command line: each command parses, calls one library function, and prints.

``main`` is the only place that turns an ``AnnotateError`` into a message and an exit code.

Stage modules are imported inside the commands, not here: ``export`` alone pulls in
``datasets``, ``pandas`` and ``pyarrow``, and ``labelstudio.client`` pulls in ``httpx``, which
would make every command (``--help`` included) pay for all of them at start-up. What is
imported here is what the parser needs for its defaults (``models``, ``store``, ``schema``,
``settings``).

Where things are: the studio home and the pulled data are found from the project root
(walking up from the working folder, see ``annotate.settings``), and every message names
the folder used; the project title and schema come from ``_project``.
"""

from __future__ import annotations

import enum
import importlib
import json
from datetime import datetime, timezone
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, cast

import click
import typer
from rich.console import Console
from rich.markup import escape

from .errors import STORAGE_ERRNOS, AnnotateError, SchemaError, StorageError, StudioError, TeamIncomplete, printable
from .models import FORMATS, SPLITS, UNITS, Counts, ExportConfig, Format, Schema, Unit
from .queues import review_title  # plain functions; store imports it anyway
from . import schema as schema_mod  # cheap, and store needs it anyway
from . import settings as settings_mod  # tomllib only
from .store import pulled_root

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from .adjudicate import Dispute, Pushed
    from .export import ExportReport
    from .labelstudio.studio import StudioStatus
    from .pull import Progress as StageProgress
    from .pull import PullReport
    from .push import Progress as PushProgress
    from .push import PushReport
    from .team import QueuePush
    from .status import ProjectStatus, TeamStatus
    from .team import Added, Rebalanced, Removal
    from .validate import ValidationReport

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


def _project(project: str | None, schema: Path | None) -> tuple[str, Schema]:
    """The project title and its loaded schema: the options, else the environment, else annotate.toml, else defaults."""
    chosen = settings_mod.resolve(project, schema)
    loaded = schema_mod.load(chosen.schema)
    return chosen.project or loaded.name, loaded


def _schema_file(file: Path | None) -> Path:
    """The schema the ``schema`` commands read: the argument, else the project's (see ``_project``), else the packaged one."""
    return file if file is not None else (settings_mod.resolve().schema or schema_mod.DEFAULT_SCHEMA)


# --- schema ---------------------------------------------------------------------


@schema_app.command("check")
def schema_check(file: SchemaFileArg = None) -> None:
    """Report every problem of a schema file by file, line and field."""
    path = _schema_file(file)
    problems = schema_mod.check(path)
    if problems:
        raise SchemaError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems), problems)
    schema = schema_mod.load(path)
    echo(
        f"{path}: OK — {len(schema.entities)} entity/value types, {len(schema.events)} event types,"
        f" {len(schema.role_names)} roles, {len(schema.document)} document fields"
    )


@schema_app.command("xml")
def schema_xml(file: SchemaFileArg = None) -> None:
    """Print the Label Studio labelling config generated from a schema."""
    echo(schema_mod.label_config(schema_mod.load(_schema_file(file))), nl=False)


# --- studio ---------------------------------------------------------------------


def _echo_login(status: StudioStatus) -> None:
    """Where to log in; the password stays in its owner-only file (terminal and CI logs keep what is printed)."""
    from .labelstudio import studio as studio_mod

    creds = studio_mod.load_credentials(status.home)
    echo(f"Label Studio: {status.url}")
    if creds:
        echo(f"  login:    {creds.email}")
        echo(f"  password: in {studio_mod.credentials_path(status.home)} (readable by you only);"
             f" show it with `{_command()} studio password`")


def _start(home: Path | None, **options: Any) -> StudioStatus:
    """Start the embedded studio, saying where and whether it may take a while, or that it runs (``up``, ``studio start``)."""
    from .labelstudio import studio as studio_mod

    current = studio_mod.status(home)
    if current.running:
        echo(f"Label Studio already runs at {current.url} (studio home {current.home})", err=True)
    elif current.email is None:  # no credentials yet: the server sets up its database first
        echo(f"Starting Label Studio in {current.home} (the first start sets up its database and takes about a minute)...", err=True)
    else:
        echo(f"Starting Label Studio in {current.home}...", err=True)
    return studio_mod.start(home, **options)


DatabaseOpt = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help="sqlite (the default for one person), postgresql (a private PostgreSQL in the studio home, for a team)"
        " or the URL of a PostgreSQL you run: postgresql://USER:PASSWORD@HOST:PORT/DATABASE."
        " Default: what the studio's data was made with.",
    ),
]
HostOpt = Annotated[
    Optional[str],
    typer.Option(
        "--host",
        help="Address to listen on (default 127.0.0.1: this machine only). An address of this machine, or 0.0.0.0"
        " for all, lets annotators at other machines in; it is then served by gunicorn.",
    ),
]
ProductionOpt = Annotated[
    bool, typer.Option("--production", help="Serve with gunicorn (several workers) even on 127.0.0.1.")
]


def _echo_studio(status: StudioStatus) -> None:
    """The database, the server and any network warning of a studio just started or found."""
    echo(f"  {status.details()}")
    if status.warning:
        echo(status.warning, err=True)


@studio_app.command("start")
def studio_start(
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port (default 8080, or the one used before).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 300.0,
    database: DatabaseOpt = None,
    host: HostOpt = None,
    production: ProductionOpt = False,
    home: HomeOpt = None,
) -> None:
    """Start the embedded Label Studio and wait until it answers."""
    status = _start(home, port=port, timeout=timeout, database=database, host=host, production=production)
    _echo_login(status)
    _echo_studio(status)


@studio_app.command("password")
def studio_password(home: HomeOpt = None) -> None:
    """Show the embedded studio's login and password, on a terminal only (never into a log or a pipe)."""
    from .labelstudio import studio as studio_mod

    root = studio_mod.home(home)
    creds = studio_mod.load_credentials(root)
    if creds is None:
        raise StudioError(f"{root} has no embedded studio yet.", studio_mod.START_HINT)
    if not sys.stdout.isatty():
        raise StudioError(
            "The password is shown on a terminal only, so that no log or pipe keeps it.",
            f"Read it from {studio_mod.credentials_path(root)} (readable by you only).",
        )
    echo(f"login:    {creds.email}")
    echo(f"password: {creds.password}")


@studio_app.command("stop")
def studio_stop(home: HomeOpt = None) -> None:
    """Stop the embedded Label Studio started from this folder (and nothing else)."""
    from .labelstudio import studio as studio_mod

    root = studio_mod.home(home)
    echo(f"{'stopped' if studio_mod.stop(root) else 'not running'} (studio home {root})")


@studio_app.command("status")
def studio_status(home: HomeOpt = None) -> None:
    """Say whether the embedded Label Studio runs, where, and which studio home was looked in."""
    from .labelstudio import studio as studio_mod

    status = studio_mod.status(home)
    where = f"studio home {status.home}"  # always: from another folder, another home may be the one looked in
    echo(f"{status.message}: {status.url} (pid {status.pid}, {where})" if status.pid else f"{status.message} ({where})")
    _echo_studio(status)
    if not status.running:
        raise typer.Exit(3)


# --- ingest and push ---------------------------------------------------------------


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Article files (.txt, .jsonl) or folders of them.")],
    rules: RulesOpt = None,
) -> None:
    """Read articles and show what push would send: id, length, cleaning applied (nothing is sent)."""
    from . import ingest as ingest_mod

    articles = ingest_mod.read_articles(paths, ingest_mod.load_rules(rules))
    for a in articles:
        cleaning = ", ".join(a.cleaning) or "-"
        echo(f"{a.id}\t{len(a.text)} chars\t{a.content_hash[:12]}\tcleaned: {cleaning}\t{a.origin}")
    echo(f"{len(articles)} article(s)")


def _echo_push(report: PushReport, pool: bool = False) -> None:
    """What a push did; ``pool``: the pool of a team's queues, whose URL is the owner's, not one to send."""
    verb = "created" if report.created else ("updated its labelling config" if report.config_updated else "reused")
    echo(f"Project {report.project.title!r} (id {report.project.id}): {verb}")
    new = len(report.imported) - len(report.new_versions)
    echo(
        f"Articles: {report.articles} read, {new} imported, {len(report.new_versions)} new version(s),"
        f" {report.unchanged} already there"
    )
    if report.duplicates_removed:
        echo(f"Duplicates: removed {report.duplicates_removed} task(s) that a concurrent or interrupted push imported twice")
    for dup in report.duplicates_kept[:20]:
        tasks = ", ".join(str(i) for i in dup.task_ids)
        if dup.same_text:
            echo(f"note: article {dup.article_id} v{dup.version} is in tasks {tasks}, annotated in more than one;"
                 " pull and export read them together", err=True)
        else:
            echo(f"note: article {dup.article_id} v{dup.version} is in tasks {tasks} with different texts; export stops"
                 " until you delete the wrong one in Label Studio (or push the right text with --new-version)", err=True)
    if len(report.duplicates_kept) > 20:
        echo(f"note: ... and {len(report.duplicates_kept) - 20} more article(s) in several tasks", err=True)
    if report.cleaned:
        echo("Cleaning: " + ", ".join(f"{rule} in {n}" for rule, n in sorted(report.cleaned.items())))
    if report.project.maximum_annotations > 1:
        echo(f"Annotators per article: {report.project.maximum_annotations}")
    if pool:
        echo(f"Pool (every article; for you, not for annotators): {report.url}")
    else:
        echo(f"Open: {report.url}")


def _push(home: Path | None, paths: list[Path], rules: Path | None = None, **options: Any) -> PushReport:
    """Connect, push with a progress bar and push's index beside the studio (``push`` and ``up``)."""
    from . import ingest as ingest_mod
    from . import push as push_mod
    from .labelstudio import studio as studio_mod

    with studio_mod.connect(home) as client, _progress("Importing") as progress:
        return push_mod.push(
            client, paths, rules=ingest_mod.load_rules(rules), on_progress=progress,
            cache=studio_mod.push_cache(home), **options,
        )


def _push_queues(home: Path | None, paths: list[Path], rules: Path | None, **options: Any) -> QueuePush:
    """``push --overlap``: the pool, then each annotator's queue, with a progress bar over the queues."""
    from . import ingest as ingest_mod
    from . import team as team_mod
    from .labelstudio import studio as studio_mod

    articles = ingest_mod.read_articles(paths, ingest_mod.load_rules(rules))
    with studio_mod.connect(home) as client, _progress("Filling queues") as progress:
        return team_mod.push_queues(client, articles, on_progress=progress, cache=studio_mod.push_cache(home), **options)


def _echo_queue_push(report: QueuePush) -> None:
    """The pool as a push prints it, then each annotator's queue and the articles newly given."""
    _echo_push(report.pool, pool=True)
    echo(f"Queues (each article to {report.overlap} annotators), the URL to send each person:")
    for email, queue in sorted(report.queues.items()):
        before = queue.project.task_number
        echo(f"  {email}: {before} -> {before + len(queue.imported)} task(s)  {queue.url}")
    echo(f"Newly given: {len(report.given)} article(s)")
    for article_id, emails in list(report.given.items())[:20]:
        echo(f"  {article_id} -> {', '.join(emails)}")
    if len(report.given) > 20:
        echo(f"  ... and {len(report.given) - 20} more")
    if report.queues:
        echo("Each annotator logs in, opens their queue and presses Label All Tasks.")


@app.command("push")
def push(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Article files (.txt, .jsonl) or folders of them.")],
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    rules: RulesOpt = None,
    new_version: Annotated[bool, typer.Option("--new-version", help="Push articles whose text changed as a new version.")] = False,
    # None leaves push's own measured default; reading it here would import push (and httpx) for --help.
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Tasks per import request (default: push.DEFAULT_BATCH).")] = None,
    annotators: Annotated[Optional[int], typer.Option(min=1, help="Annotators per article (Label Studio's overlap).")] = None,
    overlap: Annotated[
        Optional[int],
        typer.Option(min=1, help="Give each article to K people of the team, each in a queue project of their own (see `team`)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Create or reuse the project and import the articles it does not have yet."""
    batch = {} if batch_size is None else {"batch_size": batch_size}
    if overlap is not None and annotators is not None:
        raise typer.BadParameter(
            "use one: --overlap K gives each article to K team members in queues of their own,"
            " --annotators N asks Label Studio for N annotations per task in one shared project.",
            ctx=ctx, param_hint="'--overlap' / '--annotators'",
        )
    if overlap is not None:
        title, loaded = _project(project, schema)
        _echo_queue_push(_push_queues(home, paths, rules, title=title, schema=loaded, new_version=new_version, overlap=overlap, **batch))
        return
    chosen = settings_mod.resolve(project, schema)
    report = _push(
        home, paths, rules, title=chosen.project, schema_path=chosen.schema, new_version=new_version, annotators=annotators,
        **batch,
    )
    _echo_push(report)


@app.command("up")
def up(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Articles to push (default: seeds/ in the project root).")] = None,
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port of the embedded studio.")] = None,
    database: DatabaseOpt = None,
    host: HostOpt = None,
    home: HomeOpt = None,
) -> None:
    """Quick start: start the embedded Label Studio, push the articles, print where to log in."""
    chosen = settings_mod.resolve(project, schema)  # first: a broken settings file stops before the server starts
    status = _start(home, port=port, database=database, host=host)
    seeds = paths or [settings_mod.project_root() / "seeds"]
    _echo_push(_push(home, seeds, title=chosen.project, schema_path=chosen.schema))
    _echo_login(status)
    _echo_studio(status)
    echo(f"Stop the studio with: {_command()} studio stop")


# --- pull, validate --------------------------------------------------------------------


def _echo_pull(report: PullReport) -> None:
    if report.full_because:
        echo(f"note: a full pull instead of an incremental one: {report.full_because}", err=True)
    removed = f", {report.removed} deleted in Label Studio" if report.removed else ""
    echo(
        f"Pulled ({report.mode}) {report.fetched} task(s){removed}; state: {report.tasks} task(s),"
        f" {report.annotations} annotation(s), {report.cancelled} cancelled"
    )
    if not report.manifest["schema_config_matches"]:
        echo("note: the project's labelling config differs from the schema; push to update it", err=True)
    echo(f"Saved: {report.folder / 'state.jsonl'} (snapshot {report.snapshot})")


@app.command("pull")
def pull(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Fetch everything, not only what changed since the last pull.")] = False,
    pulled: PulledOpt = None,
    home: HomeOpt = None,
) -> None:
    """Fetch every task with its annotations into exports/PROJECT (incremental after the first pull)."""
    from . import pull as pull_mod
    from .labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    with studio_mod.connect(home) as client, _stages() as progress:
        report = pull_mod.pull(client, title=title, schema=loaded, root=pulled_root(pulled), full=full, on_progress=progress)
    _echo_pull(report)


def _echo_validate(report: ValidationReport, paths: dict[str, Path], as_json: bool) -> None:
    from . import validate as validate_mod

    if as_json:
        echo(json.dumps(validate_mod.report_dict(report), ensure_ascii=False, indent=2))
        return
    for p in report.problems:
        echo(
            f"{p.severity:<8} {p.code:<28} {p.article_id or '-'}\t{p.annotation_id or '-'}\t{p.region_id or '-'}\t{p.message}"
        )
    for article_id, c in sorted(report.per_article.items()):
        if c.repaired or c.rejected or c.misplaced:
            echo(f"article {article_id}: {_accounted(c)}")
    echo(_accounted(report.total, "annotation(s) "))
    echo(f"Kept: {paths['kept']}  Rejected with reasons: {paths['rejected']}  Report: {paths['report']}")


@app.command("validate")
def validate(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
    fail_on: Annotated[
        FailOnChoice,
        typer.Option(
            "--fail-on",
            help="Exit 1 on: error (a rejected annotation or an article error), warning (also any warning, repairs"
            " included), never (always exit 0, e.g. in `pull && validate --fail-on never && export`).",
        ),
    ] = FailOnChoice("error"),
) -> None:
    """Check every pulled annotation against the text and the schema; exit 1 if any is rejected (see --fail-on)."""
    from . import validate as validate_mod

    title, loaded = _project(project, schema)
    report, paths = validate_mod.validate_project(title, schema=loaded, root=pulled_root(pulled), repair=not no_repair)
    _echo_validate(report, paths, as_json)
    failed = _failed(report, fail_on.value)
    if failed:
        echo(f"exit status 1 (--fail-on {fail_on.value}): {failed}", err=True)
        raise typer.Exit(1)


def _accounted(c: Counts, what: str = "") -> str:
    """Where every pulled annotation went: the sum always adds up."""
    misplaced = f" + {c.misplaced} misplaced" if c.misplaced else ""
    return f"{c.pulled} {what}pulled = {c.kept} kept + {c.repaired} repaired + {c.rejected} rejected{misplaced} + {c.cancelled} cancelled"


def _failed(report: ValidationReport, fail_on: str) -> str | None:
    """Why validate exits 1 under ``--fail-on`` (None: it exits 0); errors are what rejects annotations."""
    if fail_on == "never":
        return None
    severities = ("error",) if fail_on == "error" else ("error", "warning")
    found = [p for p in report.problems if p.severity in severities]
    if not found and not report.total.rejected and not report.total.misplaced:
        return None
    per = {s: sum(1 for p in found if p.severity == s) for s in severities}
    misplaced = f"{report.total.misplaced} made outside their author's place, " if report.total.misplaced else ""
    return f"{report.total.rejected} annotation(s) rejected, {misplaced}" + ", ".join(f"{n} {s}(s)" for s, n in per.items())


def _command() -> str:
    """How the user ran this command (e.g. .venv/bin/annotate), to repeat it in advice."""
    path = Path(sys.argv[0])
    if path.name != "annotate":
        return "annotate"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- agreement, adjudicate, export ------------------------------------------------------


def _echo_agreement(figures: dict[str, Any], as_json: bool) -> None:
    """The headline figures as the dataset card names them, then per label, per pair, and what to review first."""
    from .agreement import figure, headline

    if as_json:
        echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    if not figures["articles_compared"]:
        echo("No article was labelled by two or more annotators yet.")
        return
    echo(f"{figures['articles_compared']} article(s) compared, annotators {figures['annotators']}")
    rows = headline(figures)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        echo(f"  {name:<{width}}  {figure(value)}")
    if figures["per_label"]:
        echo("Per label:")
    for label, v in figures["per_label"].items():
        echo(f"  {label:<22} exact F1 {figure(v['exact']['f1'])}  overlap F1 {figure(v['overlap']['f1'])}")
    if figures["pairs"]:
        echo("Per annotator pair:")
    for pair in figures["pairs"]:
        echo(
            f"  {pair['annotators']}: {pair['articles']} article(s), entity F1 {figure(pair['entities_exact']['f1'])},"
            f" kappa {figure(pair['cohen_kappa'])}, triggers F1 {figure(pair['triggers']['f1'])},"
            f" arguments F1 {figure(pair['arguments']['f1'])}"
        )
    lowest = ", ".join(f"{a['article_id']} ({figure(a['entity_f1'])})" for a in figures["lowest_agreement"])
    echo(f"Lowest agreement (review first): {lowest}")


@app.command("agreement")
def agreement(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
) -> None:
    """Inter-annotator agreement of the latest pull: overall, per label, per annotator pair, worst articles."""
    from . import adjudicate as adjudicate_mod

    title, loaded = _project(project, schema)
    report = adjudicate_mod.project_agreement(title, schema=loaded, root=pulled_root(pulled), repair=not no_repair)
    _echo_agreement(report.as_dict(), as_json)


def _echo_adjudicate(found: list[Dispute], sent: Pushed | None) -> None:
    """The disputes; ``sent``: what went back to Label Studio, and where (None: --push was not asked)."""
    from .adjudicate import MODEL_VERSION

    for d in found:
        echo(f"article {d.article_id} (task {d.task_id}):")
        for line in d.gold.disputes:
            echo(f"  {line}")
    echo(f"{len(found)} article(s) in dispute")
    if sent is None:
        return
    if sent.review:
        echo(f"Sent {sent.articles} disputed article(s) to the review project: {sent.url}")
        echo(
            "Send reviewers that URL. A reviewer presses Label All Tasks, starts from the majority merge (the"
            " pre-annotation), compares each annotator's version (Predictions: annotator A, B, ...) on the items listed"
            " above the article, fixes only those, and submits. A reviewer's submitted annotation is the decision: no"
            " star (ground truth) is needed, and nobody else's annotation there counts."
        )
    else:
        echo(f"Sent {sent.articles} merged result(s) as pre-annotations named {MODEL_VERSION!r}: {sent.url}")
        echo(
            "A reviewer opens each disputed task, fixes the differences, submits, and marks the annotation ground truth"
            " (the star): in a project without a team's review project, only the star makes it the decision."
        )


@app.command("adjudicate")
def adjudicate(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    push_: Annotated[bool, typer.Option("--push", help="Send each disputed article back to Label Studio as a pre-annotation.")] = False,
    threshold: ThresholdOpt = DEFAULTS.threshold,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
    home: HomeOpt = None,
) -> None:
    """List what annotators disagree on after the majority merge; with --push, send it to a reviewer."""
    from . import adjudicate as adjudicate_mod

    title, loaded = _project(project, schema)
    found = adjudicate_mod.disputes(title, schema=loaded, root=pulled_root(pulled), threshold=threshold, repair=not no_repair)
    sent = None
    if push_ and found:
        from .labelstudio import studio as studio_mod

        with studio_mod.connect(home) as client:
            sent = adjudicate_mod.push_disputes(client, title, found, loaded, root=pulled_root(pulled))
    _echo_adjudicate(found, sent)


def _echo_export(report: ExportReport, config: ExportConfig, rejected_at: Path | None) -> None:
    """What was written; and how many annotations were rejected, with where to read why (``rejected_at``, if current)."""
    rows = ", ".join(f"{s} {report.rows[s]}" for s in SPLITS)
    echo(f"Exported {sum(report.articles.values())} article(s) as {report.format} ({config.unit} rows: {rows}) to {report.out}")
    stats = report.stats
    echo(
        f"Boundary splits: {stats.boundary_splits}; mentions outside BIO: {stats.entities_not_in_bio} entities,"
        f" {stats.triggers_not_in_bio} triggers; articles without gold: {stats.articles_without_gold}"
    )
    echo(
        f"Annotations: {stats.annotations_pulled} pulled, {stats.annotations_kept} kept, {stats.annotations_rejected}"
        f" rejected, {stats.annotations_cancelled} cancelled"
        + (f", {stats.annotations_misplaced} misplaced" if stats.annotations_misplaced else "")
    )
    if stats.annotations_misplaced:
        echo(
            f"{stats.annotations_misplaced} annotation(s) were made outside their author's place (another person's queue,"
            f" the pool, the review project by a non-reviewer): not votes, not gold. `{_command()} validate` names them."
        )
    if stats.annotations_rejected:
        where = f"listed with their reasons in {rejected_at}" if rejected_at else f"run `{_command()} validate` to see them"
        echo(f"Rejected annotations are left out of the export: {where}")


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write, e.g. exports/NAME.")],
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="What to write: hf is a DatasetDict with its card.")] = FormatChoice(DEFAULTS.format),
    split: Annotated[str, typer.Option(help="train,validation,test ratios.")] = _split_text(DEFAULTS.split),
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = DEFAULTS.seed,
    unit: Annotated[UnitChoice, typer.Option(help="One row per document or per sentence.")] = UnitChoice(DEFAULTS.unit),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing export.")] = DEFAULTS.overwrite,
    threshold: ThresholdOpt = DEFAULTS.threshold,
    no_repair: NoRepairOpt = not DEFAULTS.repair,
    pulled: PulledOpt = None,
) -> None:
    """Build the gold dataset from the latest pull (kept annotations only) and write it atomically."""
    from . import export as export_mod
    from .status import rejected_listing

    title, loaded = _project(project, schema)
    root = pulled_root(pulled)
    config = ExportConfig(
        format=cast(Format, fmt.value), unit=cast(Unit, unit.value), split=export_mod.parse_split(split), seed=seed,
        threshold=threshold, repair=not no_repair, overwrite=overwrite,
    )
    report = export_mod.export(title, out, config, schema=loaded, root=root)
    _echo_export(report, config, rejected_listing(title, root, report.stats.annotations_rejected))


# --- status -------------------------------------------------------------------------------


def _echo_status(found: ProjectStatus, as_json: bool) -> None:
    """The pull's counts, one a line, then what the server holds now and whether the pull is stale."""
    if as_json:
        echo(json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
        return
    echo(f"Project {found.title!r}: pulled data in {found.folder}")
    pull = found.pull
    if pull is None:
        echo(f"Nothing has been pulled into {found.folder} yet: run `{_command()} pull`.")
    else:
        a = pull.annotations
        rows = [
            ("articles", pull.articles, f"in {pull.tasks} task(s), pulled {pull.pulled_at}"),
            ("labelled", pull.labelled, "with at least one kept annotation"),
            ("ready", pull.ready, "latest version with a kept annotation: what export takes"),
            ("remaining", pull.remaining, "no annotation yet"),
            ("nothing kept", pull.nothing_kept, "every annotation rejected or skipped"),
            ("rejected", a.rejected, f"annotation(s), of {a.pulled} pulled ({a.kept + a.repaired} kept, {a.cancelled} skipped)"),
        ]
        if a.misplaced:
            rows.append(("misplaced", a.misplaced, "annotation(s) made outside their author's place: neither votes nor gold"))
        for name, value, what in rows:
            echo(f"  {name:<13}{value:>7}  {what}")
        if pull.blocked:
            echo(f"note: {pull.blocked} article(s) are held by tasks with different texts: export stops until"
                 f" one is deleted; `{_command()} validate` names them", err=True)
    server = found.server
    if server is None:
        return
    if server.tasks is None:
        echo(f"Label Studio: cannot say what it holds now: {server.error}")
    elif found.stale:
        echo(f"Label Studio {server.url}: {server.tasks} task(s) now, {server.changed} changed since this pull;"
             f" run `{_command()} pull` to bring them in")
    else:
        echo(f"Label Studio {server.url}: {server.tasks} task(s) now, none changed since this pull")


@app.command("status")
def status(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: StatusJsonOpt = False,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
    home: HomeOpt = None,
) -> None:
    """How far the project is: articles labelled, remaining, ready for export, rejected; and whether the pull is stale."""
    from . import status as status_mod
    from .labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    found = status_mod.project_status(
        title, schema=loaded, root=pulled_root(pulled), repair=not no_repair, connect=lambda: studio_mod.connect(home)
    )
    _echo_status(found, as_json)


# --- team ---------------------------------------------------------------------------------

def _queue_line(report: Added, user_id: int) -> str:
    if report.queues is None:
        return f"see `{_command()} team status`"
    if user_id in report.queues:
        return f"{report.queues[user_id]} (open it and press Label All Tasks)"
    return f"appears after `{_command()} push PATH... --overlap K`"


def _echo_team_add(report: Added, as_json: bool) -> None:
    """Each person once: status, the generated password (new accounts only: nothing keeps it), where to log in, their queue."""
    if as_json:  # passwords go to stdout in this one document, and nowhere else
        members = []
        for new in report.members:
            m = new.member
            row: dict[str, Any] = {"email": m.email, "user_id": m.user_id, "reviewer": m.reviewer, "status": new.status}
            if new.password:
                row["password"] = new.password
            queue = (report.queues or {}).get(m.user_id)
            members.append({**row, "login_url": report.login_url, "queue_url": queue, "note": new.note or None})
        echo(json.dumps({"project": report.title, "members": members}, ensure_ascii=False, indent=2))
        return
    for new in report.members:
        m = new.member
        echo(f"{m.email}: {new.status} ({'reviewer' if m.reviewer else 'annotator'}, Label Studio user {m.user_id})")
        if new.password:
            echo(f"  password: {new.password}  (shown this once and kept nowhere after: send it to them now)")
        echo(f"  log in:   {report.login_url}")
        if m.reviewer:
            echo(f"  reviews:  in the project {review_title(report.title)!r}, made by `{_command()} adjudicate --push`")
        else:
            echo(f"  queue:    {_queue_line(report, m.user_id)}")
        if new.note:
            echo(f"  note:     {new.note}")


@team_app.command("add")
def team_add(
    emails: Annotated[list[str], typer.Argument(help="Email addresses, one account each.")],
    project: ProjectOpt = None,
    reviewer: Annotated[bool, typer.Option("--reviewer", help="They review disputes instead of annotating (no queue).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (with the new passwords, once).")] = False,
    home: HomeOpt = None,
) -> None:
    """Give each email a Label Studio account that can log in (or adopt theirs) and put them in the project's team."""
    from . import team as team_mod
    from .labelstudio import studio as studio_mod

    title, _ = _project(project, None)
    pending = studio_mod.home(home) / team_mod.PENDING_LOGINS
    with studio_mod.connect(home) as client:
        try:
            report = team_mod.add_to_team(client, emails, project=title, reviewer=reviewer, pending=pending)
        except TeamIncomplete as exc:  # those made before the failure exist nowhere else: show them first
            _echo_team_add(team_mod.Added(title, team_mod.login_url(client.url), exc.added), as_json)
            team_mod.PendingLogins(pending, client.url).shown(new.member.email for new in exc.added)
            raise
        _echo_team_add(report, as_json)
        team_mod.PendingLogins(pending, client.url).shown(new.member.email for new in report.members)


def _echo_team_remove(report: Removal, title: str) -> None:
    m = report.member
    echo(f"{m.email} left the team of {title!r}; their Label Studio account stays (they can still log in).")
    if report.queue_url is None:
        echo("They had no queue: nothing else changed.")
        return
    echo(f"Their queue {report.queue_url}:")
    echo(f"  {len(report.freed)} unstarted article(s) taken out; {len(report.kept)} kept because they started them"
         " (annotated, skipped or drafted), with their work")
    if report.freed:
        echo(f"The freed articles need another annotator: run `{_command()} team rebalance`"
             f" (or the next `{_command()} push PATH... --overlap K` gives them).")


@team_app.command("remove")
def team_remove(
    email: Annotated[str, typer.Argument(help="The email of the person who leaves.")],
    project: ProjectOpt = None,
    home: HomeOpt = None,
) -> None:
    """Take a person off the team: their unstarted tasks go back to the pool, their work and account stay."""
    from . import team as team_mod
    from .labelstudio import studio as studio_mod

    title, _ = _project(project, None)
    with studio_mod.connect(home) as client:
        report = team_mod.remove_member(client, title, email)
    _echo_team_remove(report, title)


def _echo_rebalance(report: Rebalanced) -> None:
    why = "as asked" if report.overlap_chosen else "the most queues any article is in now; set it with --overlap"
    echo(f"Overlap {report.overlap} ({why})")
    echo(f"Given: {len(report.given)} article(s) that had fewer than {report.overlap} annotators")
    for article_id, emails in list(report.given.items())[:20]:
        echo(f"  {article_id} -> {', '.join(emails)}")
    echo(f"Moved: {len(report.moved)} unstarted article(s); {report.started} article(s) started by their holder never move")
    for article_id, source, target in report.moved[:20]:
        echo(f"  {article_id}: {source} -> {target}")
    for article_id, source, target in report.skipped:
        echo(f"  not moved: {article_id} ({source} -> {target}): {source} started it meanwhile")
    echo("Queues (articles before -> after):")
    for email, (before, after) in report.sizes.items():
        echo(f"  {email}: {before} -> {after}  {report.queues.get(email, '(no queue yet)')}")


@team_app.command("rebalance")
def team_rebalance(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    overlap: Annotated[
        Optional[int], typer.Option(min=1, help="Annotators per article (default: the most queues any article is in now).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Give articles with too few annotators to more people, then even the queues out, moving only unstarted articles."""
    from . import team as team_mod
    from .labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    with studio_mod.connect(home) as client:
        report = team_mod.rebalance(client, title, schema=loaded, overlap=overlap, cache=studio_mod.push_cache(home))
    _echo_rebalance(report)


def _when(stamp: str | None) -> str:
    """An ISO time from Label Studio as a person reads it: to the minute, in UTC."""
    if not stamp:
        return "-"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return stamp
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows as aligned columns (each as wide as its widest cell); ``right``: the columns aligned right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()
        for r in rows
    ]


def _echo_team_status(found: TeamStatus, as_json: bool) -> None:
    from .agreement import figure

    if as_json:
        echo(json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
        return
    pulled = f"agreement from the pull of {_when(found.pull.pulled_at)}" if found.pull else f"no pull yet: `{_command()} pull` for agreement"
    echo(f"Team of {found.title!r} at {found.url}, live ({pulled})")
    rows = [["annotator", "assigned", "submitted", "skipped", "remaining", "last activity", "agreement"]]
    for p in found.people:
        name = (p.email or f"user {p.user_id}") + ("" if p.in_team else " (not in the team)")
        agreed = f"{figure(p.agreement)} over {p.compared} article(s)" if p.compared else "-"
        rows.append([name, str(p.assigned), str(p.submitted), str(p.skipped), str(p.remaining), _when(p.last_activity), agreed])
    for line in _table(rows, right={1, 2, 3, 4}):
        echo(line)
    for p in found.people:
        if p.others:
            echo(
                f"warning: {p.others} task(s) of {p.email or f'user {p.user_id}'}'s queue hold an annotation by"
                f" someone else: not theirs, never a vote (`{_command()} validate` names them after a pull)",
                err=True,
            )
    spread = ", ".join(f"{n}: {count}" for n, count in found.by_submitted.items())
    echo(f"Articles: {found.articles} in the pool; by submitted annotations {spread} (overlap {found.overlap})")
    if found.short:
        names = ", ".join(found.short[:10]) + (f" and {len(found.short) - 10} more" if len(found.short) > 10 else "")
        echo(f"Short of an annotator: {len(found.short)} article(s) in fewer than {found.overlap} queues ({names});"
             f" `{_command()} team rebalance` gives them to others")
    if found.in_pool:
        echo(f"warning: {found.in_pool} task(s) of the pool hold an annotation by someone other than the owner:"
             " nobody was given articles there, so these are never votes", err=True)
    if found.pull:
        echo(f"Ready for export: {found.pull.ready} of {found.pull.articles} article(s) at the latest pull")
    r = found.review
    who = ", ".join(r.reviewers) or f"nobody yet (`{_command()} team add EMAIL --reviewer`)"
    echo(f"Review: {r.tasks} task(s), {r.decided} decided, {r.open} open; reviewers: {who}" + (f"; {r.url}" if r.url else ""))
    if r.by_others:
        echo(f"warning: {r.by_others} review task(s) hold an annotation by someone who is not a reviewer: it decides nothing", err=True)


@team_app.command("status")
def team_status(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: StatusJsonOpt = False,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
    home: HomeOpt = None,
) -> None:
    """Per person: assigned, submitted, skipped, remaining, last activity, agreement; per project: coverage, ready, review."""
    from . import status as status_mod
    from .labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    with studio_mod.connect(home) as client:
        found = status_mod.team_status(client, title, schema=loaded, root=pulled_root(pulled), repair=not no_repair)
    _echo_team_status(found, as_json)


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised instead of ``KeyboardInterrupt``: typer turns that into a silent exit status."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextmanager
def _ctrl_c() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise ``Interrupted`` while a command runs (the main thread only: signals go there).

    SIGTERM (``kill``, a CI runner's time-out, systemd) would otherwise end the process at once,
    leaving temporary files; as an exception, every ``with`` block cleans up on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become a message on stderr and exit status 1 (2 for usage errors)."""
    def classes(name: str) -> tuple[type[BaseException], ...]:
        # Newer typer (0.25+) raises its own vendored copy of click's exceptions, which click's
        # classes do not catch; older typer (>=0.12) raises click's. Both are caught; the vendored
        # module is looked up only if it exists. Exit and Abort moved to typer.exceptions.
        found: list[type[BaseException]] = [getattr(click.exceptions, name)]
        other = getattr(typer, name, None) if name in ("Exit", "Abort") else None
        if other is None:
            try:
                other = getattr(importlib.import_module("typer._click.exceptions"), name, None)
            except ImportError:
                other = None
        if isinstance(other, type) and issubclass(other, BaseException) and other not in found:
            found.append(other)
        return tuple(found)

    exits, aborts, usage_errors = classes("Exit"), classes("Abort"), classes("ClickException")
    command = typer.main.get_command(app)
    try:
        with _ctrl_c():
            # Without standalone mode click returns typer.Exit's code instead of exiting.
            code = command.main(args=argv, prog_name="annotate", standalone_mode=False)
    except AnnotateError as exc:
        err.print(f"[bold red]error:[/] {escape(printable(exc.message))}", markup=True, highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[yellow]hint:[/] {escape(printable(exc.hint))}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        # A disk or folder refusing outside annotate's own writers (datasets' Arrow files, a folder made).
        failed = StorageError.of(exc, doing="write or read")
        err.print(f"[bold red]error:[/] {escape(printable(failed.message))}", markup=True, highlight=False, soft_wrap=True)
        err.print(f"[yellow]hint:[/] {escape(printable(str(failed.hint)))}", markup=True, highlight=False, soft_wrap=True)
        return 1
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except usage_errors as exc:
        exc.show()  # type: ignore[attr-defined]  # click's short usage message
        return int(getattr(exc, "exit_code", 1))  # 2 for usage errors, 1 for other click errors
    except aborts:
        err.print("aborted")
        return 130
    except (Interrupted, KeyboardInterrupt) as exc:
        terminated = isinstance(exc, Interrupted) and exc.signum == signal.SIGTERM
        err.print(
            f"{'terminated (SIGTERM)' if terminated else 'interrupted'}; nothing was half written:"
            " run the same command again to finish (nothing is duplicated)"
        )
        return 143 if terminated else 130
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
