"""The command line: each command parses, calls one library function, and prints.

``main`` is the only place that turns an ``AnnotateError`` into a message and an exit code.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import adjudicate as adjudicate_mod
from . import export as export_mod
from . import ingest as ingest_mod
from . import pull as pull_mod
from . import push as push_mod
from . import schema as schema_mod
from . import store as store_mod
from .labelstudio import studio as studio_mod
from . import validate as validate_mod
from .errors import AnnotateError, SchemaError, StudioError, printable

app = typer.Typer(help="Gold entity/event training data from Arabic news, labelled in Label Studio.", no_args_is_help=True)
schema_app = typer.Typer(help="Check a schema file or show the Label Studio config it makes.", no_args_is_help=True)
studio_app = typer.Typer(help="Run the embedded Label Studio (127.0.0.1 only, data in ./.annotate).", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(studio_app, name="studio")

err = Console(stderr=True)

def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    typer.echo(printable(text), err=err, nl=nl)

ProjectOpt = Annotated[Optional[str], typer.Option("--project", help="Label Studio project title (default: the schema's name).")]
SchemaOpt = Annotated[Optional[Path], typer.Option("--schema", help="Schema file (default: schemas/ace2005_conflict.yaml).")]
RulesOpt = Annotated[Optional[Path], typer.Option("--rules", help="YAML file of ingest cleaning rules (see README).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder of pulled data and outputs.")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Folder of the embedded studio (default: $ANNOTATE_HOME or ./.annotate).")]


@contextmanager
def _progress(label: str) -> Iterator[push_mod.Progress]:
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=False
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def _stages() -> Iterator[pull_mod.Progress]:
    """One bar whose label follows the stage; a total of 0 (not known) shows a pulse and the time taken."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("Pulling", total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage.capitalize(), completed=done, total=total or None)

        yield update


# --- schema ---------------------------------------------------------------------


@schema_app.command("check")
def schema_check(file: Annotated[Path, typer.Argument(help="The schema file (YAML).")]) -> None:
    """Report every problem of a schema file by file, line and field."""
    problems = schema_mod.check(file)
    if problems:
        raise SchemaError(f"{file}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems), problems)
    schema = schema_mod.load(file)
    echo(
        f"{file}: OK — {len(schema.entities)} entity/value types, {len(schema.events)} event types,"
        f" {len(schema.role_names)} roles, {len(schema.document)} document fields"
    )


@schema_app.command("xml")
def schema_xml(file: Annotated[Path, typer.Argument(help="The schema file (YAML).")]) -> None:
    """Print the Label Studio labelling config generated from a schema."""
    echo(schema_mod.label_config(schema_mod.load(file)), nl=False)


# --- studio ---------------------------------------------------------------------


def _echo_login(status: studio_mod.StudioStatus) -> None:
    """Where to log in; the password stays in its owner-only file (terminal and CI logs keep what is printed)."""
    creds = studio_mod.load_credentials(status.home)
    echo(f"Label Studio: {status.url}")
    if creds:
        echo(f"  login:    {creds.email}")
        echo(f"  password: in {studio_mod.credentials_path(status.home)} (readable by you only);"
             f" show it with `{_command()} studio password`")


@studio_app.command("start")
def studio_start(
    port: Annotated[Optional[int], typer.Option(help="Port on 127.0.0.1 (default 8080, or the one used before).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 300.0,
    home: HomeOpt = None,
) -> None:
    """Start the embedded Label Studio and wait until it answers."""
    err.print("Starting Label Studio (the first start sets up its database and takes about a minute)...")
    status = studio_mod.start(home, port=port, timeout=timeout)
    _echo_login(status)


@studio_app.command("password")
def studio_password(home: HomeOpt = None) -> None:
    """Show the embedded studio's login and password, on a terminal only (never into a log or a pipe)."""
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
    echo("stopped" if studio_mod.stop(home) else "not running")


@studio_app.command("status")
def studio_status(home: HomeOpt = None) -> None:
    """Say whether the embedded Label Studio runs, and where."""
    status = studio_mod.status(home)
    echo(f"{status.message}: {status.url}" + (f" (pid {status.pid})" if status.pid else ""))
    if not status.running:
        raise typer.Exit(3)


# --- ingest and push ---------------------------------------------------------------


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Article files (.txt, .jsonl) or folders of them.")],
    rules: RulesOpt = None,
) -> None:
    """Read articles and show what push would send: id, length, cleaning applied (nothing is sent)."""
    articles = ingest_mod.read_articles(paths, ingest_mod.load_rules(rules))
    for a in articles:
        cleaning = ", ".join(a.cleaning) or "-"
        echo(f"{a.id}\t{len(a.text)} chars\t{a.content_hash[:12]}\tcleaned: {cleaning}\t{a.origin}")
    echo(f"{len(articles)} article(s)")


def _echo_push(report: push_mod.PushReport) -> None:
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
    echo(f"Open: {report.url}")


@app.command("push")
def push(
    paths: Annotated[list[Path], typer.Argument(help="Article files (.txt, .jsonl) or folders of them.")],
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    rules: RulesOpt = None,
    new_version: Annotated[bool, typer.Option("--new-version", help="Push articles whose text changed as a new version.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Tasks per import request.")] = push_mod.DEFAULT_BATCH,
    annotators: Annotated[Optional[int], typer.Option(min=1, help="Annotators per article (Label Studio's overlap).")] = None,
    home: HomeOpt = None,
) -> None:
    """Create or reuse the project and import the articles it does not have yet."""
    with studio_mod.connect(home) as client, _progress("Importing") as progress:
        report = push_mod.push(
            client,
            paths,
            title=project,
            schema_path=schema,
            rules=ingest_mod.load_rules(rules),
            new_version=new_version,
            batch_size=batch_size,
            on_progress=progress,
            annotators=annotators,
            cache=studio_mod.home(home) / "push-index",
        )
    _echo_push(report)


@app.command("up")
def up(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Articles to push (default: seeds/).")] = None,
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    port: Annotated[Optional[int], typer.Option(help="Port of the embedded studio.")] = None,
    home: HomeOpt = None,
) -> None:
    """Quick start: start the embedded Label Studio, push the articles, print where to log in."""
    err.print("Starting Label Studio (the first start sets up its database and takes about a minute)...")
    status = studio_mod.start(home, port=port)
    with studio_mod.connect(home) as client, _progress("Importing") as progress:
        report = push_mod.push(
            client, paths or [Path("seeds")], title=project, schema_path=schema, on_progress=progress,
            cache=studio_mod.home(home) / "push-index",
        )
    _echo_push(report)
    _echo_login(status)
    echo(f"Stop the studio with: {_command()} studio stop")


@app.command("pull")
def pull(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Fetch everything, not only what changed since the last pull.")] = False,
    out: OutOpt = store_mod.EXPORTS,
    home: HomeOpt = None,
) -> None:
    """Fetch every task with its annotations into exports/PROJECT (incremental after the first pull)."""
    loaded = schema_mod.load(schema)
    with studio_mod.connect(home) as client, _stages() as progress:
        report = pull_mod.pull(client, title=project or loaded.name, schema=loaded, root=out, full=full, on_progress=progress)
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


@app.command("validate")
def validate(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    no_repair: Annotated[bool, typer.Option("--no-repair", help="Report certain repairs as errors instead of making them.")] = False,
    out: OutOpt = store_mod.EXPORTS,
) -> None:
    """Check every pulled annotation against the text and the schema; exit 1 if any is rejected."""
    loaded = schema_mod.load(schema)
    report, paths = validate_mod.validate_project(project or loaded.name, schema=loaded, root=out, repair=not no_repair)
    if as_json:
        echo(json.dumps(validate_mod.report_dict(report), ensure_ascii=False, indent=2))
    else:
        for p in report.problems:
            echo(
                f"{p.severity:<8} {p.code:<28} {p.article_id or '-'}\t{p.annotation_id or '-'}\t{p.region_id or '-'}\t{p.message}"
            )
        for article_id, c in sorted(report.per_article.items()):
            if c.repaired or c.rejected:
                echo(
                    f"article {article_id}: {c.pulled} pulled = {c.kept} kept + {c.repaired} repaired"
                    f" + {c.rejected} rejected + {c.cancelled} cancelled"
                )
        t = report.total
        echo(
            f"{t.pulled} annotation(s) pulled = {t.kept} kept + {t.repaired} repaired + {t.rejected} rejected"
            f" + {t.cancelled} cancelled"
        )
        echo(f"Kept: {paths['kept']}  Rejected with reasons: {paths['rejected']}  Report: {paths['report']}")
    if report.total.rejected:
        raise typer.Exit(1)


def _command() -> str:
    """How the user ran this command (e.g. .venv/bin/annotate), to repeat it in advice."""
    path = Path(sys.argv[0])
    if path.name != "annotate":
        return "annotate"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


@app.command("agreement")
def agreement(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
    out: OutOpt = store_mod.EXPORTS,
) -> None:
    """Inter-annotator agreement of the latest pull: overall, per label, per annotator pair, worst articles."""
    loaded = schema_mod.load(schema)
    figures = adjudicate_mod.project_agreement(project or loaded.name, schema=loaded, root=out).as_dict()
    if as_json:
        echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    if not figures["articles_compared"]:
        echo("No article was labelled by two or more annotators yet.")
        return
    e, ev = figures["entities"], figures["events"]
    echo(f"{figures['articles_compared']} article(s) compared, annotators {figures['annotators']}")
    echo(f"entities  exact   P {_fmt(e['exact']['precision'])}  R {_fmt(e['exact']['recall'])}  F1 {_fmt(e['exact']['f1'])}")
    echo(f"entities  overlap P {_fmt(e['overlap']['precision'])}  R {_fmt(e['overlap']['recall'])}  F1 {_fmt(e['overlap']['f1'])}")
    echo(f"triggers  F1 {_fmt(ev['triggers']['f1'])}   arguments F1 {_fmt(ev['arguments']['f1'])}")
    echo(f"tokens    Krippendorff's alpha {_fmt(figures['tokens']['krippendorff_alpha'])}")
    for label, v in figures["per_label"].items():
        echo(f"  {label:<22} exact F1 {_fmt(v['exact']['f1'])}  overlap F1 {_fmt(v['overlap']['f1'])}")
    for pair in figures["pairs"]:
        echo(
            f"  pair {pair['annotators']}: {pair['articles']} article(s), entity F1 {_fmt(pair['entities_exact']['f1'])},"
            f" kappa {_fmt(pair['cohen_kappa'])}, triggers F1 {_fmt(pair['triggers']['f1'])}, arguments F1 {_fmt(pair['arguments']['f1'])}"
        )
    echo("Lowest agreement (review first): " + ", ".join(f"{a['article_id']} ({_fmt(a['entity_f1'])})" for a in figures["lowest_agreement"]))


@app.command("adjudicate")
def adjudicate(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    push_: Annotated[bool, typer.Option("--push", help="Send each disputed article back to Label Studio as a pre-annotation.")] = False,
    threshold: Annotated[float, typer.Option(min=0.01, max=1.0, help="Share of annotators that keeps a mention.")] = 0.5,
    out: OutOpt = store_mod.EXPORTS,
    home: HomeOpt = None,
) -> None:
    """List what annotators disagree on after the majority merge; with --push, send it to a reviewer."""
    loaded = schema_mod.load(schema)
    title = project or loaded.name
    found = adjudicate_mod.disputes(title, schema=loaded, root=out, threshold=threshold)
    for d in found:
        echo(f"article {d.article_id} (task {d.task_id}):")
        for line in d.gold.disputes:
            echo(f"  {line}")
    echo(f"{len(found)} article(s) in dispute")
    if push_ and found:
        with studio_mod.connect(home) as client:
            n = adjudicate_mod.push_disputes(client, title, found, loaded)
        echo(
            f"Sent {n} merged result(s) as pre-annotations named {adjudicate_mod.MODEL_VERSION!r}; a reviewer fixes them,"
            " submits and marks each ground truth."
        )


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write, e.g. exports/NAME.")],
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="hf (DatasetDict + card), conll, brat or jsonl.")] = "hf",
    split: Annotated[str, typer.Option(help="train,validation,test ratios.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 13,
    unit: Annotated[str, typer.Option(help="One row per document or per sentence.")] = "document",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing export.")] = False,
    threshold: Annotated[float, typer.Option(min=0.01, max=1.0, help="Majority merge: share of annotators that keeps a mention.")] = 0.5,
    pulled: Annotated[Path, typer.Option("--pulled", help="Folder of pulled data.")] = store_mod.EXPORTS,
) -> None:
    """Build the gold dataset from the latest pull (kept annotations only) and write it atomically."""
    loaded = schema_mod.load(schema)
    report = export_mod.export(
        project or loaded.name, out, schema=loaded, root=pulled, fmt=fmt,
        ratios=export_mod.parse_split(split), seed=seed, unit=unit, overwrite=overwrite, threshold=threshold,
    )
    rows = ", ".join(f"{s} {report.rows[s]}" for s in export_mod.SPLITS)
    echo(f"Exported {sum(report.articles.values())} article(s) as {fmt} ({unit} rows: {rows}) to {report.out}")
    echo(
        f"Boundary splits: {report.stats['boundary_splits']}; mentions outside BIO: "
        f"{report.stats['entities_not_in_bio']} entities, {report.stats['triggers_not_in_bio']} triggers;"
        f" articles without gold: {report.stats['articles_without_gold']}"
    )


class Interrupted(BaseException):
    """Ctrl-C, raised instead of ``KeyboardInterrupt``: typer turns that into a silent exit status."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted()


@contextmanager
def _ctrl_c() -> Iterator[None]:
    """Ctrl-C raises ``Interrupted`` while a command runs (the main thread only: signals go there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except usage_errors as exc:
        exc.show()  # type: ignore[attr-defined]  # click's short usage message
        return int(getattr(exc, "exit_code", 1))  # 2 for usage errors, 1 for other click errors
    except aborts:
        err.print("aborted")
        return 130
    except (Interrupted, KeyboardInterrupt):
        err.print("interrupted; nothing was half written: run the same command again to finish (nothing is duplicated)")
        return 130
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
