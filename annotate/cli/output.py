"""What comes out: `annotate export`, `diff` and `status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from ..models import SPLITS, ExportConfig, Format, Unit
from ..store import pulled_root

from .common import (
    FormatChoice,
    UnitChoice,
    app,
    DEFAULTS,
    echo,
    _split_text,
    ProjectOpt,
    SchemaOpt,
    PulledOpt,
    HomeOpt,
    StatusJsonOpt,
    NoRepairOpt,
    ThresholdOpt,
    _project,
    _command,
    _counting,
    _echo_blocked,
)

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from ..export import ExportReport
    from ..status import ProjectStatus


def _echo_export(report: ExportReport, config: ExportConfig, rejected_at: Path | None) -> None:
    """What was written; and how many annotations were rejected, with where to read why (``rejected_at``, if current)."""
    rows = ", ".join(f"{s} {report.rows[s]}" for s in SPLITS)
    echo(f"Exported {sum(report.articles.values())} article(s) as {report.format} ({config.unit} rows: {rows}) to {report.out}")
    stats = report.stats
    echo(
        f"Boundary splits: {stats.boundary_splits}; mentions outside BIO: {stats.entities_not_in_bio} entities,"
        f" {stats.triggers_not_in_bio} triggers; crossing another without nesting: {stats.entities_crossing} entities;"
        f" articles without gold: {stats.articles_without_gold}"
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
    if report.changes is not None:
        from ..export.diff import summary

        echo("Changes since the previous export (also in the card):")
        for line in summary(report.changes):
            echo(f"  {line}")



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
    previous: Annotated[
        Path | None, typer.Option("--previous", help="An earlier export: the card says what changed since.")
    ] = None,
    label_map: Annotated[
        Path | None, typer.Option("--label-map", help="YAML mapping each entity type to another label set's (O: left out).")
    ] = None,
) -> None:
    """Build the gold dataset from the latest pull (kept annotations only) and write it atomically."""
    from .. import export as export_mod
    from ..status import rejected_listing

    title, loaded = _project(project, schema)
    root = pulled_root(pulled)
    config = ExportConfig(
        format=cast(Format, fmt.value), unit=cast(Unit, unit.value), split=export_mod.parse_split(split), seed=seed,
        threshold=threshold, repair=not no_repair, overwrite=overwrite,
    )
    report = export_mod.export(title, out, config, schema=loaded, root=root, previous=previous, label_map=label_map)
    _echo_export(report, config, rejected_listing(title, root, report.stats.annotations_rejected))


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier export folder.")],
    new: Annotated[Path, typer.Argument(help="The later export folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
) -> None:
    """What changed in the gold between two exports: articles, mentions, events and arguments."""
    from ..export.diff import diff as diff_exports, summary

    changes = diff_exports(old, new)
    if as_json:
        echo(json.dumps(changes.as_dict(), ensure_ascii=False, indent=2))
        return
    for line in summary(changes):
        echo(line)
    for aid, kinds in sorted(changes.per_article.items()):
        echo(f"  {aid}: " + "; ".join(f"{kind} " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) for kind, counts in kinds.items()))


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
            _echo_blocked(pull.blocked)
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
    from .. import status as status_mod
    from ..labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    found = status_mod.project_status(
        title, schema=loaded, root=pulled_root(pulled), repair=not no_repair, connect=lambda: studio_mod.connect(home),
        on_count=_counting,
    )
    _echo_status(found, as_json)
