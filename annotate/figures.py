"""What status and team status count of a pull, article by article, kept from one count to the next.

Counting a pull means validating every task (``check_tasks``): 15 s of one core at 150,000 tasks (half of
the articles go to a second process, ``parallel``, when there are many). Most of a
pull is what the pull before held, so each article's share of the figures is kept
(``store.ARTICLE_FIGURES``) under a key of its tasks' lines, byte for byte as the state holds them.
The next count reads every line (hashing it), validates only the articles with a line it has not
counted before, and adds up the rest: a pull that changed 1% of the tasks is counted in a few
seconds. What else an article's figures depend on (the schema, ``--no-repair``, the team's
places, this tool's version) is the key of the whole file: another one counts everything again.
Each line's article is read off its opening bytes where pull wrote it there (``store.article_at_start``), so
a line is decoded once, by the half that validates it, not first on one core to find its article.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import __version__, parallel
from .agreement import AgreementBuilder
from .errors import AnnotateError
from .files import write_json
from .gold import group_verdicts
from .labelstudio import codec
from .models import Counts, Schema
from .store import (
    ARTICLE_FIGURES, FIGURES, STATE, Latest, Places, StateLines, article_at_start, file_identity, latest_of, places_of, read_manifest,
    task_version,
)
from .validate import TaskVerdicts, check_tasks, copy_problems

FORMAT = 1  # of ``ARTICLE_FIGURES``; another number counts every article again
# What ``FIGURES`` holds; another number makes earlier files count again (2: agreement by user id, not pseudonym;
# 3: agreement always counted with the rest).
FIGURES_FORMAT = 3
STATUSES = [f.name for f in fields(Counts)][1:]  # what became of an annotation (``pulled`` is their sum)
AT = {status: i for i, status in enumerate(STATUSES)}


@dataclass
class PullCounts:
    """What the latest pull holds, article by article (each article counted once, at its latest version)."""

    pulled_at: str | None
    tasks: int
    articles: int
    labelled: int  # articles with at least one kept annotation
    ready: int  # articles whose latest version has a kept annotation, export not stopped for them
    remaining: int  # articles whose latest version has no annotation yet
    nothing_kept: int  # annotated, but every annotation of the latest version rejected or skipped
    blocked: int  # articles held by tasks with different texts: export stops until one is deleted
    annotations: Counts = field(default_factory=Counts)


@dataclass
class ArticleFigures:
    """One article's share of a pull's figures (kept as a JSON list: ``as_row``)."""

    tasks: int = 0
    statuses: list[int] = field(default_factory=lambda: [0] * len(STATUSES))  # annotations per status, as ``STATUSES``
    annotated: bool = False  # its latest version has an annotation (any outcome)
    kept_any: bool = False  # an annotation of any version is kept
    kept_latest: bool = False  # an annotation of the latest version is kept
    blocked: bool = False  # its copies have different texts
    # Per pair of annotators who both have a vote: [one, other, matched, one's mentions, other's] (exact entity
    # spans, as ``AgreementBuilder``).
    pairs: list[list[Any]] = field(default_factory=list)

    def as_row(self) -> list[Any]:
        return [self.tasks, self.statuses, self.annotated, self.kept_any, self.kept_latest, self.blocked, self.pairs]

    @classmethod
    def of_row(cls, row: list[Any]) -> ArticleFigures:
        figures = cls(*row)
        if len(figures.statuses) != len(STATUSES):
            raise ValueError("not a row of this version")
        return figures


def kept_figures(
    folder: Path, title: str, schema: Schema, repair: bool, on_count: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """``pull_figures`` of the latest pull in ``folder``, kept in ``FIGURES`` under a key of that pull, the schema
    and ``repair``.

    Counting a pull means validating the tasks no count has validated before, so it is done once a
    pull, for both kinds at once: pull itself counts as it ends, and ``status`` and ``team status`` then
    read what it kept. The key holds the state file's identity (``store.file_identity``): a state changed
    since its pull is read again, and refused as every stage refuses it. A folder it cannot write is
    counted every time. ``on_count(tasks, of)`` is told how many tasks are validated before they are.
    """
    manifest = read_manifest(folder, title)
    try:
        written = file_identity(folder / STATE)
    except OSError:
        return pull_figures(folder, title, schema, repair)  # it says what is wrong
    key = {
        "state_sha256": manifest.get("state_sha256"), "state_file": written,
        "schema_sha256": schema.sha256, "repair": repair, "tool_version": __version__,
        "figures": FIGURES_FORMAT,
    }
    try:
        kept = json.loads((folder / FIGURES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = None
    if not isinstance(kept, dict) or kept.get("key") != key or not {"pull", "agreement"} <= kept.keys():
        kept = {"key": key, **pull_figures(folder, title, schema, repair, on_count)}
        try:
            write_json(folder / FIGURES, kept)
        except AnnotateError:
            pass
    # A pull that changed nothing leaves the state as it was, and the figures with it: its time is the manifest's.
    kept["pull"] = {**kept["pull"], "pulled_at": manifest.get("pulled_at")}
    return kept


def counted_pull(
    folder: Path, title: str, schema: Schema, repair: bool, on_count: Callable[[int, int], None] | None = None
) -> PullCounts:
    """What the latest pull in ``folder`` holds (``kept_figures``)."""
    plain = dict(kept_figures(folder, title, schema, repair, on_count)["pull"])
    return PullCounts(**{**plain, "annotations": Counts(**plain["annotations"])})


def pull_figures(
    folder: Path, title: str, schema: Schema, repair: bool, on_count: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """``"pull"``: the counts of the latest pull in ``folder`` (``PullCounts``, as a dict), as ``validate_tasks``
    counts them; and ``"agreement"``: each user's mean entity F1 with the others and the articles compared
    (``_by_user``), or None where copies of an article conflict (asked for, ``team status`` then refuses as the
    agreement stage does). Both come from one pass: ``status`` then ``team status`` validate a pull once.
    ``on_count(tasks, of)`` is told how many tasks it validates, when it validates any."""
    manifest = read_manifest(folder, title)
    places = places_of(manifest)
    context = _context(schema, repair, places)
    kept_lines, kept_articles = _read_kept(folder, context)
    line_keys: list[str] = []
    article_of: dict[str, str] = {}  # line key -> its article: what is kept for the next count
    lines_of: dict[str, list[int]] = {}  # article -> the numbers of its lines, in the state's order
    with StateLines(folder, title) as state:
        for number, line in enumerate(state):
            key = hashlib.sha256(line).hexdigest()[:24]
            line_keys.append(key)
            article = kept_lines.get(key) or article_at_start(line) or codec.article_id_of(state.decode(line, number))
            article_of[key] = article
            lines_of.setdefault(article, []).append(number)
        # Read whole and checked (``StateLines``): what follows reads the lines it needs again from the same file.
        keys = {a: _article_key(line_keys[n] for n in numbers) for a, numbers in lines_of.items()}
        articles: dict[str, ArticleFigures] = {}
        for article, key in keys.items():
            row = kept_articles.get(key)
            if row is not None:
                try:
                    articles[article] = ArticleFigures.of_row(row)
                except (TypeError, ValueError):
                    pass  # not as this version writes it: counted again
        # Article by article (each one's lines in the state's order, so its figures are the same): grouping its
        # votes (``group_verdicts``) then holds one article at a time, not every pool task until its queue copies.
        halves = parallel.halves([ns for a, ns in lines_of.items() if a not in articles])
        counting = sum(map(len, halves))
        if counting:
            if on_count is not None:
                on_count(counting, len(line_keys))

            def count(half: list[int]) -> dict[str, ArticleFigures]:
                latest: dict[str, Latest] = {}

                def tasks() -> Iterator[dict[str, Any]]:
                    # Each line decoded once, here (on both cores): its article's latest version is known
                    # before its tasks are checked, from its own lines (each article whole, in one run).
                    for article, numbers in itertools.groupby(half, key=lambda n: article_of[line_keys[n]]):
                        decoded = [(n, state.task(n)) for n in numbers]
                        found = latest_of(task_version(task) for _, task in decoded)
                        if list(found) != [article]:
                            raise state.damaged(f"{STATE} line {decoded[0][0] + 1} is not the article it opens with")
                        latest.update(found)
                        yield from (task for _, task in decoded)

                return _counted(tasks(), latest, schema, repair, places)

            if len(halves) == 2:  # each article whole in one half: its figures are the same
                for counted in parallel.on_two_cores(lambda: count(halves[0]), lambda: count(halves[1])):
                    articles.update(counted)
            else:
                articles.update(count(halves[0]))
    if counting or kept_lines.keys() != article_of.keys():
        _keep(folder, context, article_of, {keys[a]: f.as_row() for a, f in articles.items()})
    return _added(manifest, len(line_keys), articles)


def _counted(
    tasks: Iterable[dict[str, Any]], latest: dict[str, Latest], schema: Schema, repair: bool, places: Places
) -> dict[str, ArticleFigures]:
    """The figures of the articles of ``tasks``, every task of each (``latest``: their versions, each article's
    there by the time its first task comes)."""
    articles: dict[str, ArticleFigures] = {}

    def counted(checked: Iterable[TaskVerdicts]) -> Iterator[TaskVerdicts]:
        for task in checked:
            article = codec.article_id_of(task.task)
            figures = articles.setdefault(article, ArticleFigures())
            current = latest[article].task_ids
            figures.tasks += 1
            for verdict in task.verdicts:
                figures.statuses[AT[verdict.status]] += 1
                on_latest = verdict.task_id in current
                figures.annotated |= on_latest
                if verdict.annotation is not None:
                    figures.kept_any = True
                    figures.kept_latest |= on_latest
            yield task

    checked = counted(check_tasks(tasks, schema, latest, repair=repair, places=places))
    # The same articles and votes as the agreement stage (``gold.iter_articles``), read off the same pass.
    for _, grouped in group_verdicts(checked, places=places):
        builder = AgreementBuilder(spans_only=True)
        builder.add(grouped)
        articles[grouped.article_id].pairs = [
            [*pair, scores["entities_exact"].matched, scores["entities_exact"].reference, scores["entities_exact"].other]
            for pair, scores in builder.pair_scores.items()
        ]
    for problem in copy_problems(latest):
        if problem.severity == "error" and problem.article_id:
            articles[problem.article_id].blocked = True
    return articles


def _added(manifest: dict[str, Any], tasks: int, articles: dict[str, ArticleFigures]) -> dict[str, Any]:
    summed = [sum(column) for column in zip(*(f.statuses for f in articles.values()))] or [0] * len(STATUSES)
    total = Counts(sum(summed), *summed)
    blocked = sum(f.blocked for f in articles.values())
    counts = PullCounts(
        pulled_at=manifest.get("pulled_at"),
        tasks=tasks,
        articles=len(articles),
        labelled=sum(f.kept_any for f in articles.values()),
        ready=sum(f.kept_latest and not f.blocked for f in articles.values()),
        remaining=sum(not f.annotated for f in articles.values()),
        nothing_kept=sum(f.annotated and not f.kept_latest for f in articles.values()),
        blocked=blocked,
        annotations=total,
    )
    return {"pull": asdict(counts), "agreement": None if blocked else _by_user(f.pairs for f in articles.values())}


def _by_user(pairs: Iterable[list[list[Any]]]) -> dict[str, list[Any]]:
    """Per user id (a JSON key): the mean entity F1 (exact) of their annotator pairs, and the articles compared."""
    summed: dict[tuple[Any, Any], list[int]] = {}  # pair -> matched, one's mentions, other's, articles
    for article in pairs:
        for one, other, matched, reference, theirs in article:
            total = summed.setdefault((one, other), [0, 0, 0, 0])
            for i, n in enumerate((matched, reference, theirs, 1)):
                total[i] += n
    scores: dict[str, list[float]] = {}
    compared: dict[str, int] = {}
    for pair, (matched, reference, theirs, articles) in sorted(summed.items(), key=lambda item: str(item[0])):
        f1 = 2 * matched / (reference + theirs) if reference + theirs else math.nan
        for user in pair:
            name = str(user)
            compared[name] = compared.get(name, 0) + articles
            if not math.isnan(f1):
                scores.setdefault(name, []).append(f1)
    return {
        name: [round(sum(scores[name]) / len(scores[name]), 6) if scores.get(name) else None, n]
        for name, n in compared.items()
    }


def _context(schema: Schema, repair: bool, places: Places) -> dict[str, Any]:
    """What every article's figures depend on besides its lines."""
    return {
        "format": FORMAT, "tool_version": __version__, "schema_sha256": schema.sha256, "repair": repair,
        "places": [places.pool, places.owner, sorted(places.queues.items()), places.review, sorted(places.reviewers)],
    }


def _article_key(line_keys: Iterable[str]) -> str:
    return hashlib.sha256("".join(line_keys).encode()).hexdigest()[:24]


def _read_kept(folder: Path, context: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """The article of each line counted before and each article's figures, if counted in this ``context``."""
    try:
        kept = json.loads((folder / ARTICLE_FIGURES).read_text(encoding="utf-8"))
        if kept["context"] == json.loads(json.dumps(context)):  # as JSON keeps it: tuples are lists there
            return dict(kept["lines"]), dict(kept["articles"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: everything is counted, and the file written anew
    return {}, {}


def _keep(folder: Path, context: dict[str, Any], lines: dict[str, str], articles: dict[str, list[Any]]) -> None:
    """Only the current pull's lines and articles: the file does not grow with each pull."""
    try:
        write_json(folder / ARTICLE_FIGURES, {"context": context, "lines": lines, "articles": articles}, compact=True)
    except AnnotateError:
        pass  # a folder it cannot write is counted every time
