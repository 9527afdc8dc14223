"""`annotate team add|remove|rebalance|status`: the people and their blind queues."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import TeamIncomplete
from ..queues import review_title  # plain functions; store imports it anyway
from ..store import pulled_root

from .common import (
    team_app,
    echo,
    ProjectOpt,
    SchemaOpt,
    PulledOpt,
    HomeOpt,
    StatusJsonOpt,
    NoRepairOpt,
    _project,
    _command,
    _counting,
)

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from ..status import TeamStatus
    from ..distribute import Rebalanced
    from ..team import Added, Removal


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
    from .. import team as team_mod
    from ..labelstudio import studio as studio_mod

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
    from .. import team as team_mod
    from ..labelstudio import studio as studio_mod

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
    from .. import distribute as distribute_mod
    from ..labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    with studio_mod.connect(home) as client:
        report = distribute_mod.rebalance(client, title, schema=loaded, overlap=overlap, cache=studio_mod.push_cache(home))
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
    from ..agreement import figure

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
    from .. import status as status_mod
    from ..labelstudio import studio as studio_mod

    title, loaded = _project(project, schema)
    with studio_mod.connect(home) as client:
        found = status_mod.team_status(
            client, title, schema=loaded, root=pulled_root(pulled), repair=not no_repair, on_count=_counting,
            push_index=studio_mod.push_cache(home),
        )
    _echo_team_status(found, as_json)
