"""Team accounts against the real Label Studio: sign-up through the invitation link, login, adoption, the roster.

The test server, like the embedded studio, refuses sign-ups without the link
(``LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK``), so these go the way a server we did
not start would make them: the owner's token and HTTP only.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict

import pytest

from annotate import team
from annotate.errors import AuthError, LoginRejected, SignUpRejected, TeamError, TeamIncomplete
from annotate.labelstudio import studio
from annotate.labelstudio.client import LabelStudioClient
from annotate.labelstudio.sessions import sign_up
from annotate.models import Member

pytestmark = pytest.mark.studio
TEAM = f"team-test-{uuid.uuid4().hex[:6]}"  # the project whose roster these tests fill


def emails(n: int, tag: str = "member") -> list[str]:
    """Addresses no other test uses (the server, and its roster, live for the whole test session)."""
    run = uuid.uuid4().hex[:8]
    return [f"{tag}-{run}-{i}@example.org" for i in range(n)]


def accounts(client: LabelStudioClient, email: str) -> list[dict]:
    return [u for u in client.list_users() if str(u.get("email")).lower() == email]


def roster_tasks(client: LabelStudioClient) -> list[dict]:
    [project] = client.projects_titled(team.roster_title(TEAM))
    return list(client.iter_tasks(project.id, include="id,data"))


def remove_from_organization(client: LabelStudioClient, user_id: int) -> None:
    """What the owner's Organization page does to remove a member (a soft delete)."""
    org = client.whoami()["active_organization"]
    client._call("DELETE", f"/api/organizations/{org}/memberships/{user_id}/", "remove a member")


def test_annotators_and_a_reviewer_get_accounts_that_log_in(
    client: LabelStudioClient,
    credentials: studio.Credentials,
    project_title: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything httpx, httpcore and annotate log
    *annotators, reviewer = emails(4)
    added = team.add_members(client, [annotators[0].upper(), *annotators[1:]], project=TEAM, reviewer=False)
    added += team.add_members(client, [reviewer], project=TEAM, reviewer=True)

    assert [n.member.email for n in added] == [*annotators, reviewer]  # lower case, as Label Studio stores them
    assert [n.status for n in added] == ["created"] * 4
    assert [n.member.reviewer for n in added] == [False, False, False, True]
    passwords = [n.password for n in added]
    assert all(p and len(p) == team.PASSWORD_LENGTH for p in passwords) and len(set(passwords)) == 4
    assert not any(p in repr(n) for n, p in zip(added, passwords))

    for new in added:
        assert [u["id"] for u in accounts(client, new.member.email)] == [new.member.user_id]  # a member of the organization
        with team.login(client.url, new.member.email, new.password) as session:
            me = session.whoami()
            assert (me["email"], me["id"]) == (new.member.email, new.member.user_id)
    # The session acts as that person, unsafe methods included, within what the studio guard lets them reach:
    # their own account, not a new project.
    with team.login(client.url, annotators[1], passwords[1]) as session:
        me = session._call("PATCH", f"/api/users/{session.user_id}/", "rename", json={"first_name": "سارة"})
        assert me["first_name"] == "سارة"
        with pytest.raises(AuthError, match="studio guard"):
            session.create_project(project_title)
    assert client.find_project(project_title) is None

    roster = team.read_team(client, TEAM)
    for new in added:
        assert roster.member(new.member.email) == new.member
    assert roster.member(reviewer) in roster.reviewers and roster.member(annotators[0]) in roster.annotators

    # The owner's token session is untouched by four sign-ups and logins.
    assert client.whoami()["email"] == credentials.email
    # No password anywhere but the returned objects: not in any log, not in the roster.
    stored = json.dumps([roster_tasks(client), asdict(client.projects_titled(team.roster_title(TEAM))[0])])
    for password in passwords:
        assert password not in caplog.text and password not in stored
    assert client.invite_token() not in caplog.text and "token=***" in caplog.text  # sign-up URLs carry it


def test_an_existing_email_is_adopted_not_created_again(client: LabelStudioClient) -> None:
    signed_up, by_api = emails(2, "adopt")
    [first] = team.add_members(client, [signed_up], project=TEAM)
    api_user = client.create_user(by_api)  # an account of the organization that never logged in

    again = team.add_members(client, [signed_up, by_api, signed_up.upper()], project=TEAM)
    assert [(n.member.email, n.status, n.password) for n in again] == [(signed_up, "unchanged", None), (by_api, "adopted", None)]
    assert again[1].member == Member(by_api, api_user, reviewer=False)
    assert "reset_password" in again[1].note and again[0].note == ""

    [promoted] = team.add_members(client, [signed_up], project=TEAM, reviewer=True)
    assert (promoted.status, promoted.password, promoted.member) == ("updated", None, Member(signed_up, first.member.user_id, True))
    assert len(accounts(client, signed_up)) == 1
    assert team.read_team(client, TEAM).member(signed_up) == promoted.member
    assert len([t for t in roster_tasks(client) if t["data"]["email"] == signed_up]) == 1  # updated in place
    with team.login(client.url, signed_up, first.password) as session:  # the first password still works
        assert session.whoami()["email"] == signed_up


def test_bad_emails_are_refused_before_anything_is_made(client: LabelStudioClient) -> None:
    [good] = emails(1, "good")
    for bad in ("not-an-email", "two@@example.org", "", "name@example"):
        with pytest.raises(TeamError, match="Not an email address.*Nobody was added"):
            team.add_members(client, [good, bad], project=TEAM)
    assert accounts(client, good) == [] and team.read_team(client, TEAM).member(good) is None
    with pytest.raises(TeamError, match="No email address given"):
        team.add_members(client, [], project=TEAM)


def test_a_removed_member_gets_a_clear_error(client: LabelStudioClient) -> None:
    in_roster, outside = emails(2, "removed")
    [new] = team.add_members(client, [in_roster], project=TEAM)
    remove_from_organization(client, new.member.user_id)
    remove_from_organization(client, client.create_user(outside))

    for email in (in_roster, outside):
        with pytest.raises(TeamError, match="not a member of the organization") as caught:
            team.add_members(client, [email], project=TEAM)
        assert "another email" in str(caught.value)

    # Stopping part way still hands back the passwords made before.
    [fresh] = emails(1, "before-stop")
    with pytest.raises(TeamIncomplete, match="Added 1 of 2") as caught:
        team.add_members(client, [fresh, outside], project=TEAM)
    [made] = caught.value.added
    assert made.member.email == fresh and made.password
    with team.login(client.url, fresh, made.password) as session:
        assert session.whoami()["email"] == fresh


def test_a_roster_entry_whose_account_was_deleted_is_mended(client: LabelStudioClient) -> None:
    [email] = emails(1, "deleted")
    [old] = team.add_members(client, [email], project=TEAM, reviewer=True)
    client._call("DELETE", f"/api/users/{old.member.user_id}/", "delete a user")  # gone for good, the email is free

    [new] = team.add_members(client, [email], project=TEAM, reviewer=True)
    assert new.status == "created" and new.password and new.member.user_id != old.member.user_id
    assert team.read_team(client, TEAM).member(email) == new.member
    assert len([t for t in roster_tasks(client) if t["data"]["email"] == email]) == 1


def test_login_and_sign_up_refusals(client: LabelStudioClient) -> None:
    [email] = emails(1, "login")
    [new] = team.add_members(client, [email], project=TEAM)
    with pytest.raises(LoginRejected, match="refused the login.*don't match"):
        team.login(client.url, email, new.password + "x")

    session = team.login(client.url, email, new.password)
    session.log_out()
    with pytest.raises(AuthError, match="no longer accepts the session"):
        session.whoami()
    session.close()

    # Label Studio's own password rule (8 to 128 characters) is reported in its words; no account is made.
    [weak] = emails(1, "weak")
    with pytest.raises(SignUpRejected, match="8.128 characters"):
        sign_up(client, weak, "short")
    assert accounts(client, weak) == []
