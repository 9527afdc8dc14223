"""Giving articles to the team's queues: ``push --overlap K`` (``push_queues``) and ``team rebalance``.

A layer above push and the roster: it reads the team (``team``), plans with ``queues`` (pure
functions) and sends tasks with ``push``. Nothing below imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import TeamError
from .labelstudio import codec
from .labelstudio.client import LabelStudioClient
from .models import Article, Member, Project, Schema, TaskRef
from .push import DEFAULT_BATCH, Progress, PushReport, push_articles
from .queues import assign, queue_title
from .queues import rebalance as plan_moves

from .team import Queue, project_url, queue_projects, read_queues, read_team


# --- evening out the queues -----------------------------------------------------------------------


def _holders(queues: dict[int, Queue]) -> dict[str, set[int]]:
    holders: dict[str, set[int]] = {}
    for user_id, queue in queues.items():
        for article_id in queue.articles:
            holders.setdefault(article_id, set()).add(user_id)
    return holders


def check_overlap(overlap: int, annotators: int) -> None:
    """The overlap a team can give: each article to ``overlap`` different annotators."""
    if overlap < 1:
        raise TeamError(f"--overlap {overlap}: give each article to at least one annotator.")
    if overlap > annotators:
        raise TeamError(
            f"--overlap {overlap} needs at least {overlap} annotators; the team has {annotators}.",
            "Add people with `annotate team add EMAIL...`, or ask for a smaller --overlap.",
        )


@dataclass
class Rebalanced:
    """What ``team rebalance`` did, by email."""

    title: str
    overlap: int
    overlap_chosen: bool  # False: the overlap is the largest number of queues an article was in
    given: dict[str, list[str]] = field(default_factory=dict)  # article -> people newly given it (it had too few)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # (article, from, to)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # moves not made: started meanwhile
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # email -> articles in their queue, before and after
    queues: dict[str, str] = field(default_factory=dict)  # email -> their queue's URL
    started: int = 0  # articles their holder started, counted per queue: these never move


def rebalance(
    client: LabelStudioClient, title: str, *, schema: Schema, overlap: int | None = None, cache: Path | None = None
) -> Rebalanced:
    """Give articles with fewer than ``overlap`` holders to more annotators, then even the queues out.

    ``overlap`` defaults to the largest number of queues any article is in now. Only
    articles their holder has not started move (``queues.rebalance``); a move deletes the
    task from the source queue in one Label Studio action that keeps it if work started
    meanwhile (the move is then skipped), and imports the article into the target queue.
    """
    people = {m.user_id: m for m in read_team(client, title).annotators}
    pool = client.project_titled(title)
    queues = read_queues(client, title, people)
    chosen = overlap is not None
    if overlap is None:
        overlap = max((len(who) for who in _holders(queues).values()), default=0)
        if not overlap:
            raise TeamError(
                f"No article of {title!r} is in an annotator's queue yet: there is nothing to rebalance.",
                "Give the articles to the team first: `annotate push PATH... --overlap K`.",
            )
    check_overlap(overlap, len(people))
    report = Rebalanced(title, overlap, chosen)
    before = {u: len(q.articles) for u, q in queues.items()}
    gifts = _refill(client, title, schema, cache, pool.id, queues, people, overlap)
    if gifts:
        report.given = {a: [people[u].email for u in who] for a, who in gifts.items()}
        queues.update(read_queues(client, title, {u for who in gifts.values() for u in who}))
    after = _move(client, title, schema, cache, queues, people, report)
    urls = {u: project_url(client.url, p.id) for u, p in queue_projects(client, title).items()}
    for user_id, member in sorted(people.items(), key=lambda p: p[1].email):
        report.sizes[member.email] = (before.get(user_id, 0), len(after[user_id]))
        if user_id in urls:
            report.queues[member.email] = urls[user_id]
    report.started = sum(len(q.started) for q in queues.values())
    return report


def _refill(
    client: LabelStudioClient, title: str, schema: Schema, cache: Path | None, pool_id: int,
    queues: dict[int, Queue], people: dict[int, Member], overlap: int,
) -> dict[str, list[int]]:
    """Give the pool's articles with too few holders (a member left, the overlap grew) to more people, at their latest version."""
    latest: dict[str, TaskRef] = {}
    for ref in sorted(client.task_refs(pool_id), key=lambda r: r.id):
        if ref.article_id is not None and ref.version >= getattr(latest.get(ref.article_id), "version", 0):
            latest[ref.article_id] = ref
    gifts = assign(list(latest), _holders(queues), people, overlap)
    if gifts:
        tasks = client.iter_tasks(pool_id, include="id,data", ids=[latest[a].id for a in gifts])
        articles = {a.id: a for a in map(codec.article_of, tasks)}
        _fill(client, title, schema, cache, {
            u: [articles[a] for a, who in gifts.items() if u in who and a in articles] for u in people
        }, people)
    return gifts


def _move(
    client: LabelStudioClient, title: str, schema: Schema, cache: Path | None,
    queues: dict[int, Queue], people: dict[int, Member], report: Rebalanced,
) -> dict[int, set[str]]:
    """Make ``queues.rebalance``'s moves, recording them in ``report``; return each queue's articles after."""
    moves = plan_moves(_holders(queues), {u: q.started for u, q in queues.items()}, people)
    now = {u: set(q.articles) for u, q in queues.items()}
    wanted = {u: set(s) for u, s in now.items()}
    for article_id, source, target in moves:
        wanted[source].discard(article_id)
        wanted[target].add(article_id)
    # Net changes: an article moved out of a queue and back in again is left alone.
    left_from: dict[str, list[int]] = {}  # article -> queues it left
    stayed_in: dict[str, list[int]] = {}  # article -> queues it was to leave, but work started meanwhile
    copies: dict[str, list[Article]] = {}  # article -> its versions, as the queue it left held them
    for user_id in people:
        queue = queues[user_id]
        going = [r for r in queue.refs if r.article_id in now[user_id] - wanted[user_id]]
        if not going or queue.project_id is None:
            continue
        versions: dict[str, list[Article]] = {}
        for task in client.iter_tasks(queue.project_id, include="id,data", ids=[r.id for r in going]):
            article = codec.article_of(task)
            versions.setdefault(article.id, []).append(article)
        ids = [r.id for r in going]
        deleted = client.delete_unworked_tasks(queue.project_id, ids)
        still = client.task_work(queue.project_id, ids) if deleted != len(ids) else {}
        kept = {(r.article_id, r.version) for r in going if r.id in still}
        started = {article_id for article_id, _ in kept}
        # An article whose other version was deleted already gets it back: it stays whole where it was.
        _fill(client, title, schema, cache, {
            user_id: [a for a_id in started for a in versions.get(a_id, []) if (a.id, a.version) not in kept]
        }, people)
        for article_id in sorted(now[user_id] - wanted[user_id]):
            if article_id in started:
                stayed_in.setdefault(article_id, []).append(user_id)
            else:
                left_from.setdefault(article_id, []).append(user_id)
                copies.setdefault(article_id, versions.get(article_id, []))
    arriving: dict[int, list[Article]] = {u: [] for u in people}
    for target in people:
        for article_id in sorted(wanted[target] - now[target]):
            if left_from.get(article_id):
                source = left_from[article_id].pop(0)
                arriving[target].extend(copies[article_id])
                report.moved.append((article_id, people[source].email, people[target].email))
                now[source].discard(article_id)
                now[target].add(article_id)
            elif stayed_in.get(article_id):
                source = stayed_in[article_id].pop(0)
                report.skipped.append((article_id, people[source].email, people[target].email))
    _fill(client, title, schema, cache, arriving, people)
    return now


def named_queue(client: LabelStudioClient, title: str, member: Member, queues: dict[int, Project] | None = None) -> str:
    """The title ``member``'s queue is to have (``queues.queue_title``, naming them); a queue of theirs
    titled otherwise (made before names, or before their email changed) is renamed to it first.

    ``queues``: the queue projects by user id, when the caller has just listed them.
    """
    wanted = queue_title(title, member.user_id, member.email)
    found = (queue_projects(client, title) if queues is None else queues).get(member.user_id)
    if found is not None and found.title != wanted:
        client.update_project(found.id, title=wanted)
    return wanted


def _fill(
    client: LabelStudioClient, title: str, schema: Schema, cache: Path | None, given: dict[int, list[Article]],
    people: dict[int, Member],
) -> None:
    """Import articles into queues, each keeping the version the pool gave it (one annotator a queue)."""
    for user_id, articles in given.items():
        if articles:
            push_articles(
                client, articles, title=named_queue(client, title, people[user_id]), schema=schema, annotators=1,
                cache=cache, keep_versions=True,
            )


# --- giving out articles -------------------------------------------------------------------------


@dataclass
class QueuePush:
    """What ``push --overlap K`` did: the pool push, and each annotator's queue."""

    pool: PushReport
    overlap: int
    queues: dict[str, PushReport] = field(default_factory=dict)  # annotator email -> their queue's push
    given: dict[str, list[str]] = field(default_factory=dict)  # article id -> emails it was newly given to


def push_queues(
    client: LabelStudioClient,
    articles: list[Article],
    *,
    title: str,
    schema: Schema,
    overlap: int,
    new_version: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Progress | None = None,
    cache: Path | None = None,
) -> QueuePush:
    """Push every article to the pool (the project titled ``title``) and give each to ``overlap`` annotators.

    Each annotator's queue is a project of their own (``queues.queue_title``), so no one
    sees another's work on a shared article. An article keeps the annotators it was
    given (a new version goes to the same queues); a new article goes to those with
    the fewest articles (``queues.assign``). Reviewers get no queue.
    """
    if overlap < 1:
        raise TeamError(f"--overlap {overlap}: give each article to at least one annotator.")
    people = {m.user_id: m for m in read_team(client, title).annotators}
    if len(people) < overlap:
        raise TeamError(
            f"--overlap {overlap} needs at least {overlap} annotators; the team has {len(people)}.",
            "Add people with `annotate team add EMAIL...`.",
        )
    pool = push_articles(client, articles, title=title, schema=schema, new_version=new_version, batch_size=batch_size, cache=cache)
    # The queues copy the pool: each article goes out as the version the pool holds.
    pooled = {(r.article_id, r.content_hash): r.version for r in client.task_refs(pool.project.id)}
    articles = [replace(a, version=pooled.get((a.id, a.content_hash), a.version)) for a in articles]
    holders: dict[str, set[int]] = {}
    existing = queue_projects(client, title)
    for user_id in people:
        queue = existing.get(user_id)
        for ref in client.task_refs(queue.id) if queue else []:
            if ref.article_id is not None:
                holders.setdefault(ref.article_id, set()).add(user_id)
    gifts = assign([a.id for a in articles], holders, people, overlap)
    report = QueuePush(pool, overlap, given={a: [people[u].email for u in who] for a, who in gifts.items()})
    done = 0
    total = sum(len(who) for who in gifts.values())
    for user_id, member in sorted(people.items()):
        mine = [a for a in articles if user_id in holders.get(a.id, set()) or user_id in gifts.get(a.id, ())]
        if not mine:
            continue
        # One annotator a queue: the project asks for one annotation a task.
        queue = push_articles(
            client, mine, title=named_queue(client, title, member, existing), schema=schema, batch_size=batch_size, annotators=1,
            cache=cache, keep_versions=True,
        )
        report.queues[member.email] = queue
        done += len(queue.imported)
        if on_progress:
            on_progress(min(done, total), total)
    return report
