"""The team commands on the real Label Studio, as the owner runs them: add, push --overlap, status, remove, rebalance.

Every annotation is made through the annotator's own session (logged in with the password
`team add` printed), never the owner's token. The owner's commands run through
``annotate.cli.main``; the user errors also in a real process, to see no traceback.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from annotate import distribute, queues, schema, team
from annotate.cli import main
from annotate.errors import AuthError
from annotate.labelstudio.client import LabelStudioClient
from annotate.labelstudio.sessions import SessionClient
from annotate.models import Article
from test_cli import run
from test_pull import ent
from test_push import synthetic
from test_team import remove_from_organization
from test_team_flow import queue_articles
from test_validate import answer

pytestmark = pytest.mark.studio


class Owner:
    """The owner at the command line: one project, one studio home; output captured per command."""

    def __init__(self, capsys: pytest.CaptureFixture[str], studio_home: Path, title: str, pulled: Path) -> None:
        self.capsys, self.home, self.title, self.pulled = capsys, studio_home, title, pulled

    def __call__(self, *args: str, code: int = 0) -> str:
        self.capsys.readouterr()
        done = main([*args, "--project", self.title, "--home", str(self.home)])
        out = self.capsys.readouterr()
        assert done == code, (args, out.out, out.err)
        self.err = out.err
        return out.out if code == 0 else out.err

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))

    def status(self) -> dict[str, Any]:
        return self.json("team", "status", "--pulled", str(self.pulled))


def write_articles(path: Path, articles: list[Article]) -> Path:
    path.write_text("".join(json.dumps({"id": a.id, "title": a.title, "text": a.text}, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    return path


def holdings(client: LabelStudioClient, title: str, user_ids: list[int]) -> dict[int, dict[str, dict]]:
    """Each annotator's queue now: article -> task (with annotations)."""
    made = team.queue_projects(client, title)
    return {u: queue_articles(client, title, u) if u in made else {} for u in user_ids}


def holders_of(held: dict[int, dict[str, dict]]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for user_id, articles in held.items():
        for article_id in articles:
            out.setdefault(article_id, set()).add(user_id)
    return out


def people(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["email"]: p for p in status["people"]}


def test_a_team_from_the_command_line_add_push_status_review_remove_rebalance(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = Owner(capsys, studio_home, project_title, tmp_path / "pulled")
    run_id = uuid.uuid4().hex[:6]
    a, b, c, d, e = (f"cli-{name}-{run_id}@example.org" for name in "abcde")

    # Three annotators, in JSON: each once, with the password that logs them in.
    added = owner.json("team", "add", a, b, c)
    assert [(m["email"], m["status"], m["reviewer"], m["queue_url"]) for m in added["members"]] == [
        (a, "created", False, None), (b, "created", False, None), (c, "created", False, None)
    ]
    assert all(m["login_url"] == f"{client.url}/user/login/" for m in added["members"])
    user = {m["email"]: m["user_id"] for m in added["members"]}
    sessions: dict[str, SessionClient] = {}
    for m in added["members"]:
        sessions[m["email"]] = team.login(client.url, m["email"], m["password"])
        assert sessions[m["email"]].whoami()["id"] == m["user_id"]

    # A reviewer, in text: the password is printed once, said to be shown once and kept nowhere after.
    r = f"cli-review-{run_id}@example.org"
    out = owner("team", "add", r, "--reviewer")
    [password] = re.findall(r"password: (\S+)", out)
    assert out.count(password) == 1 and "shown this once and kept nowhere after" in out
    assert f"{r}: created (reviewer" in out and "adjudicate --push" in out
    reviewer = team.login(client.url, r, password)

    # More annotators per article than the team has: refused before anything is pushed.
    first = write_articles(tmp_path / "first.jsonl", synthetic(6))
    err = owner("push", str(first), "--overlap", "5", code=1)
    assert "--overlap 5 needs at least 5 annotators; the team has 3" in err
    assert client.find_project(project_title) is None

    # Six articles, two annotators each: queues of 4, 4 and 4, each with its URL.
    out = owner("push", str(first), "--overlap", "2")
    made = team.queue_projects(client, project_title)
    # The pool's URL is the owner's; the ones to send are each person's queue.
    pool_url = f"{client.url}/projects/{client.project_titled(project_title).id}/data"
    assert f"Pool (every article; for you, not for annotators): {pool_url}" in out and f"Open: {pool_url}" not in out
    assert "the URL to send each person" in out
    for email in (a, b, c):
        assert f"  {email}: 0 -> 4 task(s)  {client.url}/projects/{made[user[email]].id}/data" in out
    assert "Newly given: 6 article(s)" in out and "Label All Tasks" in out
    held = holdings(client, project_title, [user[a], user[b], user[c]])
    holders = holders_of(held)
    assert "--overlap 5 needs at least 5 annotators" in owner("team", "rebalance", "--overlap", "5", code=1)
    assert all(len(h) == 2 for h in holders.values()) and len(holders) == 6

    # Work, each as themselves: a and b share s1 (agree) and s2 (disagree); a labels x alone;
    # b skips y; c skips z.
    pair = lambda one, two: sorted(art for art, h in holders.items() if h == {user[one], user[two]})  # noqa: E731
    s1, s2 = pair(a, b)
    x, z = pair(a, c)
    y, _ = pair(b, c)
    text = synthetic(1)[0].text

    def submit(email: str, article_id: str, label: str = "GPE") -> None:
        task_id = held[user[email]][article_id]["id"]
        sessions[email].create_annotation(task_id, [ent("g", label, text, "الرقة"), answer()])

    def skip(email: str, article_id: str) -> None:
        sessions[email].create_annotation(held[user[email]][article_id]["id"], [], was_cancelled=True)

    submit(a, s1), submit(a, s2), submit(a, x), submit(b, s1), submit(b, s2, "LOC")
    skip(b, y), skip(c, z)

    before_pull = people(owner.status())
    assert before_pull[a]["agreement"] is None and before_pull[a]["compared"] == 0  # nothing pulled yet
    pulled = owner("pull", "--pulled", str(owner.pulled))
    # The pull counts itself (the votes of the queues; the skips are no votes) and keeps the figures for team status.
    assert "Checked: 7 annotation(s): 5 kept, 0 repaired, 0 rejected, 2 skipped; ready for export: 3 of 6 article(s)" in pulled
    status = owner.status()
    assert "Counting the latest pull (" not in owner.err  # once a pull, by the pull
    now = people(status)
    assert set(now) == {a, b, c}  # the reviewer has no queue
    counts = {email: [now[email][k] for k in ("assigned", "submitted", "skipped", "remaining")] for email in now}
    assert counts == {a: [4, 3, 0, 1], b: [4, 2, 1, 1], c: [4, 0, 1, 3]}
    for email, person in now.items():
        assert person["last_activity"] and person["in_team"]
        assert person["queue_url"] == f"{client.url}/projects/{made[user[email]].id}/data"
    # a and b: s1 agreed, s2 not (one match of two each): entity F1 0.5; c submitted nothing.
    assert (now[a]["agreement"], now[a]["compared"], now[b]["agreement"]) == (0.5, 2, 0.5)
    assert (now[c]["agreement"], now[c]["compared"]) == (None, 0)
    assert status["by_submitted"] == {"0": 3, "1": 1, "2": 2} and status["overlap"] == 2 and status["articles"] == 6
    assert status["pull"]["ready"] == 3
    assert status["review"] == {"reviewers": [r], "tasks": 0, "decided": 0, "open": 0, "url": None, "by_others": 0}

    # The disagreement goes to the reviewer; the status follows their decision live.
    pushed = owner("adjudicate", "--push", "--pulled", str(owner.pulled))
    assert owner.status()["review"] | {"url": None} == {"reviewers": [r], "tasks": 1, "decided": 0, "open": 1, "url": None, "by_others": 0}
    assert "Counting" not in owner.err
    review = client.find_project(queues.review_title(project_title))
    assert review is not None
    # It says where reviewers go and what they do, the same as the review project's instructions: no star.
    assert f"to the review project: {client.url}/projects/{review.id}/data" in pushed
    assert "no star (ground truth) is needed" in pushed
    assert "ground truth" in client._call("GET", f"/api/projects/{review.id}/", "read the review project")["expert_instruction"]
    (review_task,) = client.iter_tasks(review.id)
    assert "1/2 annotators" in review_task["data"]["disputes"]
    # An annotator cannot decide in the review project: the studio guard refuses it (test_misplaced shows that on a
    # studio without the guard such a submission decides nothing either).
    with pytest.raises(AuthError, match="studio guard"):
        sessions[a].create_annotation(review_task["id"], [ent("g", "LOC", text, "الرقة"), answer()])
    (task,) = reviewer.iter_tasks(review.id)
    reviewer.create_annotation(task["id"], [], was_cancelled=True)  # a reviewer's skip decides nothing
    skipped = owner.status()["review"]
    assert (skipped["decided"], skipped["open"]) == (0, 1)
    reviewer.create_annotation(task["id"], [ent("g", "GPE", text, "الرقة"), answer()])
    review_status = owner.status()["review"]
    assert (review_status["tasks"], review_status["decided"], review_status["open"]) == (1, 1, 0)
    text_status = owner("team", "status", "--pulled", str(owner.pulled))
    assert f"Team of {project_title!r}" in text_status and "0.500 over 2 article(s)" in text_status
    assert "Review: 1 task(s), 1 decided, 0 open" in text_status

    # A fourth annotator: `team add` says where a queue already is; rebalance evens out, moving only unstarted articles.
    again = owner.json("team", "add", a, d)["members"]
    assert [(m["email"], m["status"]) for m in again] == [(a, "unchanged"), (d, "created")]
    assert again[0]["queue_url"] == f"{client.url}/projects/{made[user[a]].id}/data" and again[1]["queue_url"] is None
    assert "password" not in again[0]
    user[d] = again[1]["user_id"]
    started = {(user[a], s1), (user[a], s2), (user[a], x), (user[b], s1), (user[b], s2), (user[b], y), (user[c], z)}
    out = owner("team", "rebalance")
    assert "Overlap 2 (the most queues any article is in now" in out and "Given: 0 article(s)" in out
    assert "Moved: 3 unstarted article(s)" in out
    after = holdings(client, project_title, [user[a], user[b], user[c], user[d]])
    assert sorted(len(q) for q in after.values()) == [3, 3, 3, 3]
    assert all(len(h) == 2 for h in holders_of(after).values()) and len(holders_of(after)) == 6
    for user_id, article_id in started:  # started work never moves, and keeps its task
        assert after[user_id][article_id]["id"] == held[user_id][article_id]["id"]
    for user_id, articles in held.items():
        for article_id in set(articles) - set(after[user_id]):
            assert (user_id, article_id) not in started

    # c leaves: their unstarted tasks go, the skipped one stays with its work; the account stays.
    out = owner("team", "remove", c.upper())
    assert f"{c} left the team" in out and "2 unstarted article(s) taken out; 1 kept" in out
    left = queue_articles(client, project_title, user[c])
    assert list(left) == [z] and left[z]["id"] == held[user[c]][z]["id"]
    assert team.read_team(client, project_title).member(c) is None
    assert sessions[c].whoami()["email"] == c
    gone = people(owner.status())[c]
    assert (gone["in_team"], gone["assigned"], gone["skipped"]) == (False, 1, 1)

    # Rebalance gives the three articles that lost a holder to the others: 12 places, 4 each.
    out = owner("team", "rebalance")
    assert "Given: 3 article(s) that had fewer than 2 annotators" in out
    team_ids = [user[a], user[b], user[d]]
    after = holdings(client, project_title, team_ids)
    assert sorted(len(q) for q in after.values()) == [4, 4, 4]
    assert all(len(h) == 2 for h in holders_of(after).values()) and len(holders_of(after)) == 6

    # A fifth person and six more articles: nothing given before moves.
    user[e] = owner.json("team", "add", e)["members"][0]["user_id"]
    more = write_articles(tmp_path / "more.jsonl", synthetic(12))
    out = owner("push", str(more), "--overlap", "2")
    assert "Newly given: 6 article(s)" in out and f"  {e}: 0 -> 6 task(s)" in out
    final = holdings(client, project_title, [*team_ids, user[e]])
    for user_id in team_ids:
        assert set(after[user_id]) <= set(final[user_id])
    assert sorted(len(q) for q in final.values()) == [6, 6, 6, 6]


def test_a_move_is_skipped_when_its_holder_starts_the_article_meanwhile(client: LabelStudioClient, project_title: str) -> None:
    """Label Studio checks "not started" as it deletes: work that begins between the look and the move stops the move."""
    run_id = uuid.uuid4().hex[:6]
    added = team.add_members(client, [f"race-{i}-{run_id}@example.org" for i in range(2)], project=project_title)
    sessions = {n.member.user_id: team.login(client.url, n.member.email, n.password or "") for n in added}
    distribute.push_queues(client, synthetic(4), title=project_title, schema=schema.load(), overlap=1)
    [late] = team.add_members(client, [f"race-late-{run_id}@example.org"], project=project_title)
    everyone = [*sessions, late.member.user_id]
    owners = {p.id: u for u, p in team.queue_projects(client, project_title).items()}
    started: list[int] = []

    class Racing:
        """The owner's client, but the queue's annotator skips the first task just before it is deleted."""

        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def delete_unworked_tasks(self, project_id: int, ids: list[int]) -> int:
            sessions[owners[project_id]].create_annotation(ids[0], [], was_cancelled=True)
            started.append(ids[0])
            return client.delete_unworked_tasks(project_id, ids)

    raced = distribute.rebalance(Racing(), project_title, schema=schema.load())  # type: ignore[arg-type]
    assert raced.moved == [] and len(raced.skipped) == 1
    article_id, source, target = raced.skipped[0]
    assert target == late.member.email and raced.sizes[source] == (2, 2) and raced.sizes[target] == (0, 0)
    held = holdings(client, project_title, everyone)
    assert sorted(len(q) for q in held.values()) == [0, 2, 2]
    [holder] = [u for u, q in held.items() if article_id in q]
    assert held[holder][article_id]["id"] == started[0]

    # Looked at again, the started article stays and another one moves.
    again = distribute.rebalance(client, project_title, schema=schema.load())
    assert [m[1:] for m in again.moved] == [(source, target)] and again.moved[0][0] != article_id
    assert sorted(len(q) for q in holdings(client, project_title, everyone).values()) == [1, 1, 2]


def test_user_errors_are_messages_and_exit_codes(studio_home: Path, project_title: str) -> None:
    """In a real process: a message and exit status 1, no traceback (--overlap with --annotators: test_cli)."""
    home = ["--home", str(studio_home), "--project", project_title]
    nobody = run("team", "remove", f"nobody-{uuid.uuid4().hex[:6]}@example.org", *home)
    assert nobody.returncode == 1 and "is not in the team of" in nobody.stderr
    nothing = run("team", "rebalance", *home)
    assert nothing.returncode == 1 and f"no project titled {project_title!r}" in nothing.stderr
    for done in (nobody, nothing):
        assert "Traceback" not in done.stderr + done.stdout


def test_a_team_add_that_stops_part_way_still_prints_the_people_it_made(
    client: LabelStudioClient, studio_home: Path, project_title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = uuid.uuid4().hex[:6]
    fresh, outside = f"fresh-{run_id}@example.org", f"outside-{run_id}@example.org"
    remove_from_organization(client, client.create_user(outside))
    code = main(["team", "add", fresh, outside, "--json", "--project", project_title, "--home", str(studio_home)])
    out = capsys.readouterr()
    assert code == 1 and "Added 1 of 2" in out.err and "not a member of the organization" in out.err
    [made] = json.loads(out.out)["members"]
    assert made["email"] == fresh and made["status"] == "created"
    with team.login(client.url, fresh, made["password"]) as session:
        assert session.whoami()["email"] == fresh


def test_a_team_add_killed_before_it_showed_a_password_shows_it_on_the_next_run(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    """Killed (SIGKILL) after the account was made, before the roster was written and the password
    printed: the rerun said "adopted" and nobody could log in. Now it shows the password the account has."""
    import os
    import signal
    import subprocess
    import sys

    from proxy import NonsenseProxy

    email = f"killed-{uuid.uuid4().hex[:6]}@example.org"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATE_")}
    with NonsenseProxy(credentials.port) as proxy:
        env.update({"LABEL_STUDIO_URL": proxy.url, "LABEL_STUDIO_API_KEY": credentials.token, "ANNOTATE_HOME": str(tmp_path / "home")})
        proxy.stall_for = re.compile(r"^POST /api/projects/(\d+/import)?/?$")  # the roster's project or its entry
        command = [sys.executable, "-c", "from annotate.cli import run; run()", "team", "add", email, "--project", project_title]
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proxy.stalled.wait(120), "team add never wrote the roster"
        users = {u["email"]: u for u in client.list_users()}
        assert email in users  # the account exists; its password was never printed
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate(timeout=30)
        assert "password" not in out
        pending = tmp_path / "home" / team.PENDING_LOGINS
        assert pending.stat().st_mode & 0o077 == 0  # owner-only, like credentials.json
        proxy.stall_for = None
        proxy.release.set()
        again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{email}: created" in again.stdout and "stopped before showing its password" in again.stdout
    password = re.search(r"password: (\S+)", again.stdout).group(1)  # type: ignore[union-attr]
    with team.login(client.url, email, password) as session:
        assert session.whoami()["email"] == email
    assert email in {m.email for m in team.read_team(client, project_title).members}
    assert email not in pending.read_text(encoding="utf-8")  # shown: kept nowhere any more
    env["LABEL_STUDIO_URL"] = client.url
    third = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert f"{email}: unchanged" in third.stdout and "password:" not in third.stdout
