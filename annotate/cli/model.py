"""Suggestions learned from the team's gold: `annotate model train`, `suggest` and `report`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..store import pulled_root
from .common import (
    DEFAULTS,
    HomeOpt,
    NoRepairOpt,
    ProjectOpt,
    PulledOpt,
    SchemaOpt,
    ThresholdOpt,
    _progress,
    _project,
    _split_text,
    app,
    echo,
    err,
)

if TYPE_CHECKING:
    from ..model.report import SuggestionReport

model_app = typer.Typer(
    help="Suggestions learned from the team's gold: train a tagger, pre-annotate the tasks nobody has started, measure what it did.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")


def _f(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3f}"


@model_app.command("train")
def train(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    split: Annotated[str, typer.Option(help="train,validation,test ratios, as export takes them: the test split is never learned from.")] = _split_text(DEFAULTS.split),
    seed: Annotated[int, typer.Option(help="Seed of the split assignment, as export takes it.")] = DEFAULTS.seed,
    threshold: ThresholdOpt = DEFAULTS.threshold,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
) -> None:
    """Train an entity tagger and an event-trigger tagger on the latest pull's gold; score them on its test split."""
    from ..export import parse_split
    from ..model import train as train_mod

    title, loaded = _project(project, schema)
    ratios = parse_split(split)
    report = train_mod.train(
        title, schema=loaded, root=pulled_root(pulled), seed=seed, ratios=ratios, threshold=threshold,
        repair=not no_repair, on_step=lambda step: err.print(f"[dim]{step}[/dim]"),
    )
    echo(f"Trained {report.version} on {report.articles['train']} article(s) in {report.seconds:.1f} s: {report.folder}")
    echo(f"Scored on the {report.articles['test']} article(s) of the test split (exact span and label):")
    for name in ("entities", "triggers"):
        figures = report.figures[name]
        total = figures["all"]
        echo(f"  {name}: P {_f(total['precision'])}  R {_f(total['recall'])}  F1 {_f(total['f1'])}  ({total['gold']} in the gold)")
        for label, f in figures["per_label"].items():
            echo(f"    {label:<24} P {_f(f['precision'])}  R {_f(f['recall'])}  F1 {_f(f['f1'])}  ({f['gold']})")


@model_app.command("suggest")
def suggest(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    control: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of articles withheld from suggestions (the control slice), chosen by article id.")
    ] = 0.1,
    pulled: PulledOpt = None,
    home: HomeOpt = None,
) -> None:
    """Send the newest model's mentions as pre-annotations to every task nobody has started (not the test split, not the control slice)."""
    from ..labelstudio import studio as studio_mod
    from ..model import suggest as suggest_mod
    from ..model.tagger import Tagger, newest

    title, _ = _project(project, schema)
    tagger = Tagger(newest(title, pulled_root(pulled)))  # no model: said before connecting to anything
    with studio_mod.connect(home) as client, _progress("Suggesting") as progress:
        report = suggest_mod.suggest(
            client, title, root=pulled_root(pulled), share=control, tagger=tagger, on_progress=progress
        )
    withheld = ", ".join(f"{n} {why}" for why, n in sorted(report.withheld.items())) or "none"
    echo(
        f"Suggested {report.version} on {report.suggested} task(s) in {report.projects} project(s);"
        f" {report.replaced} older suggestion(s) replaced; withheld: {withheld}"
    )
    echo(f"Recorded in {report.record}")


def _echo_report(report: SuggestionReport) -> None:
    from ..model.report import OUTCOMES

    echo(f"Annotations started from a suggestion: {report.annotations}")
    echo("Mentions: " + ", ".join(f"{report.totals[k]} {k}" for k in OUTCOMES))
    for title, rows in (("per label", report.per_label), ("per annotator", report.per_annotator)):
        if rows:
            echo(f"  {title}:")
            for name, counts in sorted(rows.items()):
                echo(f"    {name:<24} " + ", ".join(f"{counts[k]} {k}" for k in OUTCOMES))
    t = report.lead_time
    echo(
        f"Median time per article: {t['suggested']['median_seconds']} s with suggestions ({t['suggested']['annotations']}),"
        f" {t['control']['median_seconds']} s in the control slice ({t['control']['annotations']})"
    )
    a = report.agreement
    echo(
        f"Entity agreement (F1, exact): {_f(a['suggested']['entity_f1_exact'])} with suggestions"
        f" ({a['suggested']['articles_compared']} article(s)), {_f(a['control']['entity_f1_exact'])} in the control slice"
        f" ({a['control']['articles_compared']})"
    )
    for who in report.anchored:
        echo(
            f"{who['annotator']} accepts {who['accepted_share']:.0%} of suggestions unchanged and agrees less with the others"
            f" (entity F1 {_f(who['entity_f1_with_others'])} against {_f(who['reference_entity_f1'])} for {who['reference']}):"
            " check their work."
        )


@model_app.command("report")
def report(
    project: ProjectOpt = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    no_repair: NoRepairOpt = False,
    pulled: PulledOpt = None,
) -> None:
    """What suggestions did, from the latest pull: accepted, relabelled, boundary, deleted, added; time and agreement beside the control slice."""
    from ..model import report as report_mod

    title, loaded = _project(project, schema)
    found = report_mod.report(title, schema=loaded, root=pulled_root(pulled), repair=not no_repair)
    if as_json:
        echo(json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
    else:
        _echo_report(found)
