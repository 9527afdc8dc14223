"""The team: Label Studio accounts that can log in, and the roster of who annotates and who reviews.

Accounts are made the one way that gives a working login over HTTP alone (a server we
did not start, known only by its URL and the owner's token): the sign-up form of the
organization's invitation link. ``POST /api/users/`` would make a member without a
password. An email that already has an account in the organization is adopted as it is.

The roster of each project lives in Label Studio itself, in a project titled ``roster_title(T)`` with one
task per member (data: email, user id, reviewer flag), so any machine with the owner's
token reads the same team, and the owner can see it in the web UI. The free edition has
no roles, hence the reviewer flag of our own. Generated passwords are returned once, in
``NewMember``, and are never logged or shown in a repr. Between the moment an account is
made and the moment its password is shown, the password waits in an owner-only file
(``PendingLogins``), so that a run killed in between can show it on the next run.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AnnotateError, NotFoundError, SignUpRejected, TeamError, TeamIncomplete
from .files import write_json
from .labelstudio.client import LabelStudioClient
from .labelstudio.sessions import SessionClient, sign_up
from .models import Member, NewMember, Project, Team, TaskRef
from .queues import parts, roster_title

ROSTER_CONFIG = (
    '<View><Header value="The team roster of annotate (one member per task): do not label or delete."/>'
    '<Text name="email" value="$email"/></View>'
)
ROSTER_DESCRIPTION = (
    "Kept by annotate (`annotate team add`): one task per member with the Label Studio user id and whether"
    " the member reviews. Deleting this project forgets who reviews; it deletes no account."
)
# No look-alike characters (0/O, 1/l/I): people type these from a message. 20 of these 57 symbols: over 116 bits.
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
PASSWORD_LENGTH = 20
# Not Django's full rule, only enough to refuse typos before any account is made; Label Studio has the last word.
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+$")
EMAIL_MAX_LENGTH = 254


def new_password() -> str:
    """A strong random password that fits Label Studio's rule (8 to 128 characters)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def login(url: str, email: str, password: str, **kwargs: Any) -> SessionClient:
    """Log in through Label Studio's login form; the client acts as that user on the whole JSON API.

    Raises ``LoginRejected`` for a wrong email or password.
    """
    return SessionClient.log_in(url, email, password, **kwargs)


def normalize_emails(emails: Iterable[str]) -> list[str]:
    """The emails in lower case (as Label Studio stores them), each once; all are checked before anything is made."""
    wanted: list[str] = []
    bad: list[str] = []
    for raw in emails:
        email = raw.strip().lower()
        if not _EMAIL.match(email) or len(email) > EMAIL_MAX_LENGTH:
            bad.append(repr(raw))
        elif email not in wanted:
            wanted.append(email)
    if bad:
        raise TeamError(
            f"Not an email address: {', '.join(bad)}. Nobody was added.", "Give each person's email, e.g. name@example.org."
        )
    if not wanted:
        raise TeamError("No email address given.")
    return wanted


# --- passwords not yet shown ---------------------------------------------------------------

PENDING_LOGINS = "pending-logins.json"


class PendingLogins:
    """Passwords of accounts ``team add`` is making, kept until the owner has been shown them.

    Written (owner-only, like every file ``write_json`` makes) before the account is made and
    emptied once the password is printed: a ``team add`` killed in between leaves the password
    here, and the next run shows it for the account it made. Without a file (``path`` None)
    nothing is kept. Keyed by server URL, then email.
    """

    def __init__(self, path: Path | None, url: str) -> None:
        self.path, self.url = path, url
        self.all: dict[str, dict[str, str]] = {}
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TeamError(
                    f"{path}: cannot read the passwords not yet shown ({exc}).", "Delete the file and run `team add` again."
                ) from None
            if isinstance(loaded, dict):
                self.all = {k: dict(v) for k, v in loaded.items() if isinstance(v, dict)}

    def get(self, email: str) -> str | None:
        return self.all.get(self.url, {}).get(email)

    def keep(self, email: str, password: str) -> None:
        if self.path is not None:
            self.all.setdefault(self.url, {})[email] = password
            write_json(self.path, self.all)

    def shown(self, emails: Iterable[str]) -> None:
        """The owner has seen these passwords: nothing keeps them any more."""
        mine = self.all.get(self.url, {})
        emails = list(emails)
        if self.path is None or not any(e in mine for e in emails):
            return
        for email in emails:
            mine.pop(email, None)
        if not mine:
            self.all.pop(self.url, None)
        write_json(self.path, self.all)


# --- the roster -------------------------------------------------------------------------


class _Roster:
    """The roster project's tasks by email: what ``read_team`` returns, and where ``save`` writes."""

    def __init__(self, client: LabelStudioClient, title: str, listed: Sequence[Project] | None = None) -> None:
        """``listed``: the projects whose title holds ``title``, listed already (the roster's title holds it too)."""
        self.client = client
        self.title = roster_title(title)
        found = client.list_projects(title=self.title) if listed is None else listed
        projects = sorted((p for p in found if p.title == self.title), key=lambda p: p.id)
        # Two roster projects only come from two first `team add`s at once: the oldest is kept, both are read.
        self.project_id: int | None = projects[0].id if projects else None
        self.entries: dict[str, tuple[int, Member]] = {}
        self.tasks: dict[str, list[int]] = {}  # every entry of an email, to forget them all
        self.annotations = 0  # made in the roster, which holds no articles: there should be none
        for project in projects:
            for task in client.iter_tasks(project.id, include="id,data,total_annotations"):
                self.annotations += int(task.get("total_annotations") or 0)
                member = _member(task, self.title)
                self.tasks.setdefault(member.email, []).append(int(task["id"]))
                known = self.entries.get(member.email)
                if known is None or known[0] < int(task["id"]):  # the newest entry of one email wins
                    self.entries[member.email] = (int(task["id"]), member)

    def team(self) -> Team:
        return Team(tuple(sorted((m for _, m in self.entries.values()), key=lambda m: (not m.reviewer, m.email))))

    def save(self, member: Member) -> None:
        data = {"email": member.email, "user_id": member.user_id, "reviewer": member.reviewer}
        if member.email in self.entries:
            task_id = self.entries[member.email][0]
            self.client.update_task_data(task_id, data)
        else:
            [task_id] = self.client.import_tasks(self._project(), [{"data": data}])
            self.tasks[member.email] = [task_id]
        self.entries[member.email] = (task_id, member)

    def forget(self, email: str) -> None:
        """Delete every roster entry of ``email`` (two rosters made at once may both hold one)."""
        for task_id in self.tasks.pop(email, []):
            try:
                self.client.delete_task(task_id)
            except NotFoundError:
                pass  # another `team remove` got there first
        self.entries.pop(email, None)

    def _project(self) -> int:
        if self.project_id is None:
            made = self.client.create_project(self.title, label_config=ROSTER_CONFIG, description=ROSTER_DESCRIPTION)
            # Another `team add` may have made one at the same moment: all keep the oldest, the others go.
            oldest = min(self.client.projects_titled(self.title), key=lambda p: p.id, default=made)
            if oldest.id != made.id:
                self.client.delete_project(made.id)
            self.project_id = oldest.id
        return self.project_id


def _member(task: dict[str, Any], roster: str) -> Member:
    data = task.get("data") or {}
    email, user_id, reviewer = data.get("email"), data.get("user_id"), data.get("reviewer", False)
    if not isinstance(email, str) or not isinstance(user_id, int) or not isinstance(reviewer, bool):
        raise TeamError(
            f"Task {task.get('id')} of the Label Studio project {roster!r} is not a roster entry"
            " (it needs an email, a user id and a reviewer flag).",
            "Delete that task in Label Studio, then add the person again with `annotate team add`.",
        )
    return Member(email=email.strip().lower(), user_id=user_id, reviewer=reviewer)


def read_team(client: LabelStudioClient, title: str, listed: Sequence[Project] | None = None) -> Team:
    """The team of the project titled ``title`` as stored in Label Studio (reviewers first); empty when nobody was added.

    ``listed``: the projects whose title holds ``title`` (``client.list_projects(title=title)``), if listed already.
    """
    return _Roster(client, title, listed).team()


def read_team_counted(client: LabelStudioClient, title: str, listed: Sequence[Project] | None = None) -> tuple[Team, int]:
    """``read_team``, and how many annotations were made in the roster (listed with it, not fetched: there should be none)."""
    roster = _Roster(client, title, listed)
    return roster.team(), roster.annotations


def save_member(client: LabelStudioClient, title: str, member: Member) -> None:
    """Record a member in the roster of ``title``, or change their entry (found by email)."""
    _Roster(client, title).save(member)


# --- adding people ------------------------------------------------------------------------


def add_members(
    client: LabelStudioClient, emails: Iterable[str], *, project: str, reviewer: bool = False, pending: Path | None = None
) -> list[NewMember]:
    """Give each email a Label Studio account that can log in (or adopt the existing one) and put it in the roster.

    ``client`` must be the organization owner's (or an administrator's). Each member gets
    ``reviewer`` as their flag, a member already in the roster too. Only accounts created
    here come back with a password; nothing keeps it. If one email fails after others were
    added, ``TeamIncomplete`` carries those in ``added``: their passwords exist nowhere else.
    ``pending`` is the file of ``PendingLogins``: the caller calls its ``shown`` once the passwords are shown.
    """
    wanted = normalize_emails(emails)
    roster = _Roster(client, project)
    users = _organization_users(client)
    waiting = PendingLogins(pending, client.url)
    added: list[NewMember] = []
    for email in wanted:
        try:
            added.append(_add(client, roster, users, email, reviewer, waiting))
        except AnnotateError as exc:
            if not added:
                raise
            raise TeamIncomplete(
                f"Added {len(added)} of {len(wanted)} people, then stopped at {email}: {exc.message}",
                exc.hint,
                added=added,
            ) from exc
    return added


def _organization_users(client: LabelStudioClient) -> dict[str, dict[str, Any]]:
    """The organization's accounts by email (removed members are listed as "Deleted", so they are not found)."""
    return {str(u.get("email") or "").lower(): u for u in client.list_users() if isinstance(u.get("id"), int)}


def _add(
    client: LabelStudioClient, roster: _Roster, users: dict[str, dict[str, Any]], email: str, reviewer: bool,
    waiting: PendingLogins,
) -> NewMember:
    user = users.get(email)
    known = roster.entries[email][1] if email in roster.entries else None
    unseen = waiting.get(email)
    if user is not None and unseen is not None:
        # Made by a `team add` that stopped before showing the password: nobody has seen it, so it still works.
        member = Member(email, int(user["id"]), reviewer)
        if known != member:
            roster.save(member)
        note = "made by an earlier `team add` that stopped before showing its password: here it is"
        return NewMember(member, "created", password=unseen, note=note)
    if known is not None and user is not None and user["id"] == known.user_id:
        if known.reviewer == reviewer:
            return NewMember(known, "unchanged")
        member = Member(email, known.user_id, reviewer)
        roster.save(member)
        return NewMember(member, "updated")
    # A roster entry whose account went (deleted, or made again) is mended by what follows.
    if user is not None:
        return _adopt(roster, user, email, reviewer)
    password = unseen or new_password()
    waiting.keep(email, password)  # before the account exists: a run killed after it shows the password next time
    try:
        session = sign_up(client, email, password)
    except SignUpRejected as exc:
        waiting.shown([email])  # no account has this password
        if not any("already exists" in e for e in exc.errors):
            raise TeamError(exc.message, exc.hint) from None
        users.update(_organization_users(client))  # made a moment ago by someone else?
        if email in users:
            return _adopt(roster, users[email], email, reviewer)
        raise _not_a_member(email, client.url) from None
    with session:
        user_id = session.user_id if session.user_id is not None else session.confirm()
        session.log_out()  # the sign-up logged this throwaway session in: end it on the server too
    member = Member(email, user_id, reviewer)
    roster.save(member)
    return NewMember(member, "created", password=password)


def _adopt(roster: _Roster, user: dict[str, Any], email: str, reviewer: bool) -> NewMember:
    member = Member(email, int(user["id"]), reviewer)
    roster.save(member)
    note = ""
    if not user.get("active_organization"):
        # Sign-up and login both set it: an account without it was made otherwise (POST /api/users/ sets no password).
        note = (
            "This account has never logged in; if it was made through the API it has no password. Its owner can set"
            f" one on the server: `label-studio reset_password --username {email}`."
        )
    return NewMember(member, "adopted", note=note)


def _not_a_member(email: str, url: str) -> TeamError:
    return TeamError(
        f"{email}: Label Studio at {url} has an account with this email that is not a member of the"
        " organization (it was removed from it).",
        "Label Studio's free edition cannot bring a removed member back over its API: add this person with another"
        " email address, or have the server's administrator restore the membership.",
    )


# --- where each person works -----------------------------------------------------------------


def login_url(url: str) -> str:
    """Where a member logs in with the email and password ``team add`` gave them."""
    return f"{url}/user/login/"


def project_url(url: str, project_id: int) -> str:
    """A project's task list: its "Label All Tasks" button starts the queue."""
    return f"{url}/projects/{project_id}/data"


def team_projects(
    client: LabelStudioClient, title: str, listed: Sequence[Project] | None = None
) -> tuple[dict[int, Project], Project | None]:
    """The queue projects of ``title`` by user id, and its review project (of two with one title, the oldest).

    ``listed``: as for ``read_team``.
    """
    found: dict[str, Project] = {}
    for project in sorted(client.list_projects(title=title) if listed is None else listed, key=lambda p: -p.id):
        found[project.title] = project  # the lowest id is written last, so it wins
    queues, review = parts(title, found)
    return {user_id: found[queue] for user_id, queue in queues.items()}, (found[review] if review else None)


def queue_projects(client: LabelStudioClient, title: str) -> dict[int, Project]:
    """Every annotator's queue project of ``title``, by user id."""
    return team_projects(client, title)[0]


@dataclass
class Added:
    """What ``team add`` did: each person, where they log in, and their queue if it exists already."""

    title: str
    login_url: str
    members: list[NewMember]
    queues: dict[int, str] | None = None  # user id -> their queue's URL; None: not looked up


def add_to_team(
    client: LabelStudioClient, emails: Iterable[str], *, project: str, reviewer: bool = False, pending: Path | None = None
) -> Added:
    """``add_members``, and the URL of each annotator's queue if ``push --overlap`` already made it.

    ``TeamIncomplete`` passes through as ``add_members`` raises it (with the people added).
    """
    added = add_members(client, emails, project=project, reviewer=reviewer, pending=pending)
    try:
        queues = {u: project_url(client.url, p.id) for u, p in queue_projects(client, project).items()}
    except AnnotateError:
        queues = None  # the accounts exist: their passwords must reach the owner even if this lookup fails
    return Added(project, login_url(client.url), added, queues)


@dataclass
class Queue:
    """What one annotator's queue holds now, and which of it they started."""

    project_id: int | None  # None: no queue yet
    refs: list[TaskRef]  # its tasks of articles
    worked: set[int]  # tasks with an annotation, a skip or a draft

    @property
    def articles(self) -> set[str]:
        return {r.article_id for r in self.refs if r.article_id is not None}

    @property
    def started(self) -> set[str]:
        """Articles with a task worked on: they never move."""
        return {r.article_id for r in self.refs if r.id in self.worked and r.article_id is not None}


def read_queues(client: LabelStudioClient, title: str, people: Iterable[int]) -> dict[int, Queue]:
    """Each person's queue in the team of ``title`` (an empty one for a person without a queue yet)."""
    projects = queue_projects(client, title)
    out: dict[int, Queue] = {}
    for user_id in people:
        project = projects.get(user_id)
        if project is None:
            out[user_id] = Queue(None, [], set())
            continue
        refs = [r for r in client.task_refs(project.id) if r.article_id is not None]
        work = client.task_work(project.id, [r.id for r in refs]) if refs else {}
        refs = [r for r in refs if r.id in work]  # deleted since the listing
        out[user_id] = Queue(project.id, refs, {r.id for r in refs if any(work[r.id])})
    return out



# --- leaving the team ---------------------------------------------------------------------------


@dataclass
class Removal:
    """What ``team remove`` did. The account stays, and so does everything its owner started."""

    member: Member
    queue_url: str | None  # None: they had no queue
    freed: list[str] = field(default_factory=list)  # articles whose unstarted tasks left their queue
    kept: list[str] = field(default_factory=list)  # articles they annotated, skipped or drafted: the tasks stay


def remove_member(client: LabelStudioClient, title: str, email: str) -> Removal:
    """Take a person off the roster of ``title``: their unstarted tasks leave their queue, their work stays.

    The freed articles then have fewer holders than the overlap, so the next
    ``push --overlap`` or ``rebalance`` gives them to others. The queue project stays
    with the tasks they started, so pull still reads their submitted annotations.
    Label Studio itself checks "not started" as it deletes (``delete_unworked_tasks``):
    a task someone opens and drafts meanwhile is kept.
    """
    [wanted] = normalize_emails([email])
    roster = _Roster(client, title)
    if wanted not in roster.entries:
        names = ", ".join(sorted(roster.entries)) or "nobody yet"
        raise TeamError(f"{wanted} is not in the team of {title!r} (the team: {names}).", "Check the email and --project.")
    member = roster.entries[wanted][1]
    removal = Removal(member, None)
    queue = read_queues(client, title, [member.user_id])[member.user_id]
    if queue.project_id is not None:
        removal.queue_url = project_url(client.url, queue.project_id)
        unstarted = [r for r in queue.refs if r.id not in queue.worked]
        ids = [r.id for r in unstarted]
        deleted = client.delete_unworked_tasks(queue.project_id, ids) if ids else 0
        left = client.task_work(queue.project_id, ids) if deleted != len(ids) else {}  # started meanwhile: kept
        removal.freed = sorted({r.article_id for r in unstarted if r.id not in left and r.article_id})
        removal.kept = sorted(queue.articles - set(removal.freed))
    # Last: if anything above fails, running the command again finds them still in the team.
    roster.forget(wanted)
    return removal
