"""Checking the work: `annotate validate`, `agreement` and `adjudicate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..models import Counts
from ..store import pulled_root

from .common import (
    FailOnChoice,
    app,
    DEFAULTS,
    echo,
    ProjectOpt,
    SchemaOpt,
    PulledOpt,
    HomeOpt,
    NoRepairOpt,
    ThresholdOpt,
    _project,
)

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from ..adjudicate import Dispute, Pushed
    from ..validate import ValidationReport


def _echo_validate(report: ValidationReport, paths: dict[str, Path], as_json: bool) -> None:
    from .. import validate as validate_mod

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
    from .. import validate as validate_mod

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


# --- agreement, adjudicate, export ------------------------------------------------------


def _echo_agreement(figures: dict[str, Any], as_json: bool) -> None:
    """The headline figures as the dataset card names them, then per label, per pair, and what to review first."""
    from ..agreement import figure, headline

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
    from .. import adjudicate as adjudicate_mod

    title, loaded = _project(project, schema)
    report = adjudicate_mod.project_agreement(title, schema=loaded, root=pulled_root(pulled), repair=not no_repair)
    _echo_agreement(report.as_dict(), as_json)


def _echo_adjudicate(found: list[Dispute], sent: Pushed | None) -> None:
    """The disputes; ``sent``: what went back to Label Studio, and where (None: --push was not asked)."""
    from ..adjudicate import MODEL_VERSION

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
    from .. import adjudicate as adjudicate_mod

    title, loaded = _project(project, schema)
    found = adjudicate_mod.disputes(title, schema=loaded, root=pulled_root(pulled), threshold=threshold, repair=not no_repair)
    sent = None
    if push_ and found:
        from ..labelstudio import studio as studio_mod

        with studio_mod.connect(home) as client:
            sent = adjudicate_mod.push_disputes(client, title, found, loaded, root=pulled_root(pulled))
    _echo_adjudicate(found, sent)
