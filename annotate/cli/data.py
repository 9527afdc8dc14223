"""The inbound path: `annotate ingest`, `push`, `up` and `pull`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .. import settings as settings_mod  # tomllib only
from ..store import pulled_root

from .studio import DatabaseOpt, HostOpt, _echo_login, _echo_studio, _start
from .common import (
    app,
    echo,
    ProjectOpt,
    SchemaOpt,
    RulesOpt,
    PulledOpt,
    HomeOpt,
    _progress,
    _stages,
    _project,
    _command,
    _echo_blocked,
)

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from ..pull import PullReport
    from ..push import PushReport
    from ..distribute import QueuePush


# --- ingest and push ---------------------------------------------------------------


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Article files (.txt, .jsonl) or folders of them.")],
    rules: RulesOpt = None,
) -> None:
    """Read articles and show what push would send: id, length, cleaning applied (nothing is sent)."""
    from .. import ingest as ingest_mod

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
    from .. import ingest as ingest_mod
    from .. import push as push_mod
    from ..labelstudio import studio as studio_mod

    with studio_mod.connect(home) as client, _progress("Importing") as progress:
        return push_mod.push(
            client, paths, rules=ingest_mod.load_rules(rules), on_progress=progress,
            cache=studio_mod.push_cache(home), **options,
        )


def _push_queues(home: Path | None, paths: list[Path], rules: Path | None, **options: Any) -> QueuePush:
    """``push --overlap``: the pool, then each annotator's queue, with a progress bar over the queues."""
    from .. import distribute as distribute_mod
    from .. import ingest as ingest_mod
    from ..labelstudio import studio as studio_mod

    articles = ingest_mod.read_articles(paths, ingest_mod.load_rules(rules))
    with studio_mod.connect(home) as client, _progress("Filling queues") as progress:
        return distribute_mod.push_queues(client, articles, on_progress=progress, cache=studio_mod.push_cache(home), **options)


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
    counts = report.counts
    if counts is None:
        echo(f"note: the pull could not be counted: {report.not_counted}", err=True)
        return
    a = counts.annotations
    misplaced = f", {a.misplaced} misplaced" if a.misplaced else ""
    echo(
        f"Checked: {a.pulled} annotation(s): {a.kept} kept, {a.repaired} repaired, {a.rejected} rejected,"
        f" {a.cancelled} skipped{misplaced}; ready for export: {counts.ready} of {counts.articles} article(s)"
    )
    if a.rejected or a.repaired or a.misplaced:
        echo(f"note: `{_command()} validate` names each rejected, repaired or misplaced annotation and why", err=True)
    if counts.blocked:
        _echo_blocked(counts.blocked)


@app.command("pull")
def pull(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Fetch everything, not only what changed since the last pull.")] = False,
    pulled: PulledOpt = None,
    home: HomeOpt = None,
) -> None:
    """Fetch every task with its annotations into exports/PROJECT (incremental after the first pull)."""
    from .. import pull as pull_mod
    from ..labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    with studio_mod.connect(home) as client, _stages() as progress:
        report = pull_mod.pull(client, title=title, schema=loaded, root=pulled_root(pulled), full=full, on_progress=progress)
    _echo_pull(report)
