"""Blind overlap queues: which annotators get which articles.

Label Studio's free edition shows every annotation of a project to everyone who
opens its tasks, so each annotator works in a project of their own (their queue,
titled ``queue_title``), holding only the articles given to them. The project
with the plain title is the pool: it holds every article, and the reviewer's
decisions. Every command still takes the one title; push and pull see all parts.

Assignment is deterministic, balanced and stable: an article, once given to
someone, stays theirs (pushing more articles or adding a person moves nothing);
each new article goes to the ``overlap`` annotators with the fewest articles,
ties broken by a hash of the article and the person, so the same pushes give
the same queues. ``rebalance`` moves only articles nobody has started.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

QUEUE_MARK = " · queue "
REVIEW_MARK = " · review"
ROSTER_MARK = "annotate: team · "  # one roster per project title: a team labels a project


def roster_title(title: str) -> str:
    """The title of the project holding the team of ``title`` (see ``team.py``)."""
    return f"{ROSTER_MARK}{title}"


def review_title(title: str) -> str:
    """The title of the project reviewers work in: only the disputed articles, each with every version."""
    return f"{title}{REVIEW_MARK}"


TITLE_MAX = 50  # Label Studio refuses a longer project title
NAME_MARK = " · "


def queue_title(title: str, user_id: int, email: str = "") -> str:
    """The title of an annotator's queue project: the user id (what annotate reads), then who it is, for people.

    The name is the email's part before "@", cut to what Label Studio's 50 characters leave; without
    room for three of its characters, the title holds the id only (as every queue did before names).
    """
    base = f"{title}{QUEUE_MARK}{user_id}"
    name = email.split("@", 1)[0].strip()
    room = TITLE_MAX - len(base) - len(NAME_MARK)
    return f"{base}{NAME_MARK}{name[:room]}" if name and room >= 3 else base


def queue_owner(title: str, queue: str) -> int | None:
    """The user id a queue title names, or None if ``queue`` is not a queue of ``title``."""
    prefix = f"{title}{QUEUE_MARK}"
    rest = queue[len(prefix) :] if queue.startswith(prefix) else ""
    number = rest.split(NAME_MARK, 1)[0]
    return int(number) if number.isdigit() and number.isascii() else None


def parts(title: str, titles: Iterable[str]) -> tuple[dict[int, str], str | None]:
    """Which of ``titles`` are the queues (user id -> title) and the review project of ``title``."""
    queues = {u: t for t in titles if (u := queue_owner(title, t)) is not None}
    review = review_title(title) if review_title(title) in set(titles) else None
    return queues, review


def _tie(article_id: str, user_id: int) -> str:
    return hashlib.sha256(f"{article_id}\0{user_id}".encode("utf-8", "surrogatepass")).hexdigest()


def assign(
    articles: Iterable[str], holders: Mapping[str, set[int]], annotators: Iterable[int], overlap: int
) -> dict[str, list[int]]:
    """Who gets each article that has fewer than ``overlap`` holders; ``holders`` is who has it now.

    Returns only the new gifts (article -> annotators); ``holders`` is not changed.
    Articles are taken in the order given, so the result depends on that order too.
    """
    people = sorted(set(annotators))
    load = {u: 0 for u in people}
    for who in holders.values():
        for u in who:
            if u in load:
                load[u] += 1
    gifts: dict[str, list[int]] = {}
    for article_id in articles:
        have = {u for u in holders.get(article_id, set()) if u in load}
        missing = min(overlap, len(people)) - len(have)
        if missing <= 0 or article_id in gifts:
            continue
        candidates = sorted((u for u in people if u not in have), key=lambda u: (load[u], _tie(article_id, u)))
        chosen = candidates[:missing]
        for u in chosen:
            load[u] += 1
        gifts[article_id] = sorted(chosen)
    return gifts


def rebalance(holders: Mapping[str, set[int]], started: Mapping[int, set[str]], annotators: Iterable[int]) -> list[tuple[str, int, int]]:
    """Moves (article, from, to) that even out the queues, moving only articles their holder has not started.

    Each round takes a fullest queue and looks for the shortest chain of moves that
    ends in a queue at least two articles smaller: a direct move when one exists,
    else a detour (the fullest gives to a middle queue, which gives one of its own
    on), because the direct moves can all be blocked (every unstarted article of
    the fullest queue is already held by the emptiest). Rounds go on until the
    sizes differ by at most one or no chain exists.
    """
    people = sorted(set(annotators))
    queues: dict[int, set[str]] = {u: set() for u in people}
    for article_id, who in holders.items():
        for u in who:
            if u in queues:
                queues[u].add(article_id)
    moves: list[tuple[str, int, int]] = []
    while True:
        # Every round shrinks the sum of squared sizes, so this ends.
        chain = next(
            (c for full in sorted(people, key=lambda u: (-len(queues[u]), u)) if (c := _chain(full, queues, started))), None
        )
        if chain is None:
            return moves
        for article_id, source, target in chain:
            queues[source].discard(article_id)
            queues[target].add(article_id)
        moves.extend(chain)


def _chain(full: int, queues: Mapping[int, set[str]], started: Mapping[int, set[str]]) -> list[tuple[str, int, int]] | None:
    """The shortest chain of moves from ``full`` to a queue two or more articles smaller (breadth first), or None."""
    size = len(queues[full])
    came: dict[int, tuple[str, int]] = {}  # queue -> (the article it receives, the queue it comes from)
    level = [full]
    seen = {full}
    while level:
        reached: list[int] = []
        for source in level:
            free = queues[source] - started.get(source, set())
            for target in sorted(queues):
                if target in seen:
                    continue
                movable = sorted(free - queues[target], key=lambda a: _tie(a, target))
                if movable:
                    came[target] = (movable[0], source)
                    seen.add(target)
                    reached.append(target)
        ends = [u for u in reached if len(queues[u]) <= size - 2]
        if ends:
            end = min(ends, key=lambda u: (len(queues[u]), u))
            chain: list[tuple[str, int, int]] = []
            while end != full:
                article_id, source = came[end]
                chain.append((article_id, source, end))
                end = source
            return chain[::-1]
        level = reached
    return None
