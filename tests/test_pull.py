"""Pull and validate against the real Label Studio: annotations made through its API come back checked."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from annotate import listing as task_listing
from annotate import pull, push, schema, store, team
from annotate.cli import main
from annotate.labelstudio import codec
from annotate.labelstudio.client import LabelStudioClient
from annotate.errors import AnnotateError, DamagedStateError, ProjectError, ServerError
from annotate.models import ExportConfig, TaskRef
from annotate.status import project_status
from annotate.validate import validate_project
from conftest import DATA, DEFAULT_SCHEMA, SEEDS
from proxy import BreakingProxy, NonsenseProxy
from test_push import synthetic
from test_cli import run
from test_validate import answer, rel, region, span, utf16

pytestmark = pytest.mark.studio
SCHEMA = schema.load(DEFAULT_SCHEMA)


def tasks_by_article(client: LabelStudioClient, project_id: int) -> dict[str, dict[str, Any]]:
    return {t["data"]["article_id"]: t for t in client.iter_tasks(project_id)}


def ent(rid: str, label: str, text: str, piece: str, nth: int = 0, control: str = "entity") -> dict[str, Any]:
    return region(rid, label, *span(text, piece, nth), piece, control=control)


def test_annotations_made_in_label_studio_are_pulled_checked_and_accounted(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = push.push(client, [SEEDS, DATA / "hard_cases.jsonl"], title=project_title)
    tasks = tasks_by_article(client, report.project.id)
    texts = {k: t["data"]["text"] for k, t in tasks.items()}
    ids = {k: t["id"] for k, t in tasks.items()}

    # Emoji before the spans, offsets counted in UTF-16 units as older exports do: repaired.
    emoji = texts["hard-emoji"]
    raqqa = utf16(emoji, *span(emoji, "الرقة"))
    attack = utf16(emoji, *span(emoji, "قصفت"))
    coalition = utf16(emoji, *span(emoji, "التحالف"))
    emoji_ann = client.create_annotation(
        ids["hard-emoji"],
        [
            region("t1", "Conflict:Attack", *attack, "قصفت", control="trigger"),
            region("e1", "ORG", *coalition, "التحالف"),
            region("e2", "GPE", *raqqa, "الرقة"),
            rel("t1", "e1", "Attacker · المهاجم"),
            rel("t1", "e2", "Place · المكان"),
            answer(),
        ],
    )
    # Diacritics, and a trigger after the conjunction clitic و.
    dia = texts["hard-diacritics"]
    dia_ann = client.create_annotation(
        ids["hard-diacritics"],
        [
            ent("t", "Life:Die", dia, "قُتِلَ", control="trigger"),
            ent("e", "PER", dia, "قَائِدٌ مَيْدَانِيٌّ"),
            ent("g", "GPE", dia, "دَيْرِ الزُّورِ"),
            rel("t", "e", "Victim · الضحية"),
            rel("t", "g", "Place"),
            answer(),
        ],
    )
    # Tatweel inside names, a nested entity, and an overlapping trigger.
    tat = texts["hard-tatweel"]
    tat_ann = client.create_annotation(
        ids["hard-tatweel"],
        [
            ent("o", "ORG", tat, "وزارة الدفـــاع الأمريكيـــة"),
            ent("g", "GPE", tat, "الأمريكيـــة"),
            ent("s", "ORG", tat, "قـوات سـوريا الديمقراطيـة"),
            ent("g2", "GPE", tat, "سـوريا"),
            ent("x", "ORG", tat, "الأمريكيـــة أن قـوات"),  # crosses two others: overlap is allowed
            answer("other"),
        ],
    )
    # Clitics: ل and و stay outside the entity.
    cli = texts["hard-clitics"]
    cli_ann = client.create_annotation(
        ids["hard-clitics"],
        [ent("d", "ORG", cli, "تنظيم داعش"), ent("r", "GPE", cli, "الرقة"), ent("c", "ORG", cli, "القوات"), answer()],
    )
    # The seed, offsets counted as if the text had \r\n line ends: repaired.
    seed = texts["000_4a8292b91947f388"]
    crlf = seed.replace("\n", "\r\n")
    seed_ann = client.create_annotation(
        ids["000_4a8292b91947f388"],
        [region("m", "GPE", *span(crlf, "منبج"), "منبج"), region("w", "PER", *span(crlf, "شون روبرتسون"), "شون روبرتسون"), answer()],
    )
    # Bad ones: a label not in the schema and an argument to a region that is gone.
    digits = texts["hard-digits-bidi"]
    bad_ann = client.create_annotation(
        ids["hard-digits-bidi"],
        [ent("x", "PERSON", digits, "قسد"), ent("t", "Conflict:Attack", digits, "السيطرة", control="trigger"), rel("t", "gone", "Place"), answer()],
    )
    skipped = client.create_annotation(ids["hard-digits-bidi"], [], was_cancelled=True)

    pulled = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert pulled.mode == "full" and pulled.tasks == 7 and pulled.annotations == 7 and pulled.cancelled == 1
    manifest = json.loads((pulled.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["label_studio_version"] == "1.23.2" and manifest["project_id"] == report.project.id
    assert manifest["schema_sha256"] == SCHEMA.sha256 and manifest["schema_config_matches"] is True
    assert manifest["label_config_sha256"] == schema.config_hash(client.get_project(report.project.id).label_config)
    assert (pulled.snapshot / "manifest.json").exists()
    # A full pull's snapshot holds every task, as the state does (copied from it, not encoded again).
    assert (pulled.snapshot / "tasks.jsonl").read_bytes() == (pulled.folder / "state.jsonl").read_bytes()
    # Counted as it ends, as status and validate count (below), once: status then reads it and validates nothing.
    counted = pulled.counts
    assert counted is not None and pulled.not_counted is None
    a = counted.annotations
    assert (a.pulled, a.kept, a.repaired, a.rejected, a.cancelled) == (7, 3, 2, 1, 1)
    assert (counted.tasks, counted.articles, counted.ready) == (7, 7, 5)
    told: list[int] = []
    assert project_status(project_title, schema=SCHEMA, root=tmp_path, on_count=lambda n, of: told.append(n)).pull == counted
    assert told == []
    assert main(["pull", "--project", project_title, "--pulled", str(tmp_path), "--home", str(studio_home)]) == 0
    captured = capsys.readouterr()
    assert "Checked: 7 annotation(s): 3 kept, 2 repaired, 1 rejected, 1 skipped; ready for export: 5 of 7 article(s)" in captured.out
    assert "`annotate validate` names each rejected, repaired or misplaced annotation and why" in captured.err

    result, paths = validate_project(project_title, schema=SCHEMA, root=tmp_path)
    status = {v.annotation_id: v for v in result.verdicts}
    assert status[emoji_ann["id"]].status == "repaired"
    assert {p.code for p in status[emoji_ann["id"]].problems} == {"repair.utf16"}
    kept_emoji = status[emoji_ann["id"]].annotation
    assert [(e.type, emoji[e.start : e.end]) for e in kept_emoji.entities] == [("ORG", "التحالف"), ("GPE", "الرقة")]
    assert {(a.role, a.entity_id) for a in kept_emoji.events[0].arguments} == {("Attacker", "e1"), ("Place", "e2")}
    for kept in (dia_ann, tat_ann, cli_ann):
        assert status[kept["id"]].status == "kept", status[kept["id"]].problems
    assert status[dia_ann["id"]].annotation.events[0].text == "قُتِلَ"
    assert len(status[tat_ann["id"]].annotation.entities) == 5
    assert status[seed_ann["id"]].status == "repaired"
    assert [seed[e.start : e.end] for e in status[seed_ann["id"]].annotation.entities] == ["شون روبرتسون", "منبج"]
    assert {p.code for p in status[bad_ann["id"]].problems} >= {"label.unknown", "relation.dangling"}
    assert status[bad_ann["id"]].status == "rejected" and status[skipped["id"]].status == "cancelled"
    assert (result.total.pulled, result.total.kept, result.total.repaired, result.total.rejected, result.total.cancelled) == (7, 3, 2, 1, 1)
    assert result.per_article["hard-digits-bidi"].pulled == 2

    rejected = [json.loads(line) for line in paths["rejected"].read_text(encoding="utf-8").splitlines()]
    assert {r["annotation_id"] for r in rejected} == {bad_ann["id"], skipped["id"]}
    assert all(r["reasons"] and r["annotation"] for r in rejected)
    kept_rows = [json.loads(line) for line in paths["kept"].read_text(encoding="utf-8").splitlines()]
    assert len(kept_rows) == 5 and {r["status"] for r in kept_rows} == {"kept", "repaired"}

    assert main(["validate", "--project", project_title, "--pulled", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "label.unknown" in out and "7 annotation(s) pulled = 3 kept + 2 repaired + 1 rejected + 1 cancelled" in out
    assert main(["validate", "--project", project_title, "--pulled", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["total"]["rejected"] == 1
    assert main(["validate", "--project", project_title, "--pulled", str(tmp_path), "--no-repair"]) == 1
    assert "3 kept + 0 repaired + 3 rejected" in capsys.readouterr().out


def _state(folder: Path) -> list[tuple[int, list[tuple[int, str, bool]]]]:
    tasks, _ = store.read_state(folder)
    return [
        (t["id"], sorted((a["id"], json.dumps(a["result"], sort_keys=True), a["was_cancelled"]) for a in t["annotations"]))
        for t in tasks
    ]


def _same_as_full(client: LabelStudioClient, title: str, incremental: pull.PullReport, root: Path) -> None:
    """The incremental state is, byte for byte, what a full pull gives now."""
    full = pull.pull(client, title=title, schema=SCHEMA, root=root, full=True)
    assert full.mode == "full"
    assert (incremental.folder / store.STATE).read_bytes() == (full.folder / store.STATE).read_bytes()
    assert (incremental.tasks, incremental.annotations, incremental.cancelled) == (full.tasks, full.annotations, full.cancelled)


def requests_sent(client: LabelStudioClient, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every request the client sends from now on, as (method, path, its query as JSON), in the list returned."""
    sent: list[tuple[str, str, str]] = []
    send = type(client)._send

    def recorded(self: LabelStudioClient, method: str, path: str, **kwargs: Any) -> Any:
        sent.append((method, path, json.dumps(kwargs.get("params"), sort_keys=True, default=str)))
        return send(self, method, path, **kwargs)

    monkeypatch.setattr(type(client), "_send", recorded)
    return sent


def test_a_pull_with_nothing_changed_reads_the_project_from_its_listing_by_title(
    client: LabelStudioClient, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request of a pull is a round trip the server serves while annotators save: the listing by title that
    gives a team project's parts (made once the pull has its folder) gives the project as it is now too; it was
    also read by id. Nothing else is asked twice: the other listing by title finds the project, before that."""
    push.push_articles(client, synthetic(3), title=project_title, schema=SCHEMA)
    pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    asked = requests_sent(client, monkeypatch)
    again = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert again.mode == "incremental" and again.fetched == 0
    by_title = [a for a in asked if a[1] == "/api/projects/" and project_title in a[2]]
    assert len(by_title) == 2 and by_title[0] == by_title[1]
    rest = [a for a in asked if a not in by_title]
    assert len(rest) == len(set(rest)), sorted(a for a in rest if rest.count(a) > 1)
    assert not [a for a in asked if a[1].rstrip("/") == f"/api/projects/{again.manifest['project_id']}"]


def test_incremental_pull_equals_a_full_pull(client: LabelStudioClient, project_title: str, tmp_path: Path) -> None:
    report = push.push_articles(client, synthetic(6), title=project_title, schema=SCHEMA)
    refs = client.task_refs(report.project.id)
    text = client.get_task(refs[0].id)["data"]["text"]
    gpe = region("g", "GPE", *span(text, "الرقة"), "الرقة")
    first = client.create_annotation(refs[0].id, [gpe, answer()])
    second = client.create_annotation(refs[1].id, [gpe, answer()])
    third = client.create_annotation(refs[2].id, [gpe, answer()])
    inc = tmp_path / "inc"
    assert pull.pull(client, title=project_title, schema=SCHEMA, root=inc).mode == "full"

    client.create_annotation(refs[3].id, [gpe, answer("other")])  # created
    client.update_annotation(first["id"], result=[gpe, answer("unclear")])  # edited
    client.delete_annotation(second["id"])  # deleted
    again = pull.pull(client, title=project_title, schema=SCHEMA, root=inc)
    assert again.mode == "incremental" and again.fetched == 3
    _same_as_full(client, project_title, again, tmp_path / "full")
    states = {t: anns for t, anns in _state(again.folder)}
    assert states[refs[1].id] == [] and '"unclear"' in states[refs[0].id][0][1]
    assert len(states[refs[2].id]) == 1 and third["id"] == states[refs[2].id][0][0]

    client.delete_task(refs[5].id)  # a deleted task is seen missing from the listing
    after_delete = pull.pull(client, title=project_title, schema=SCHEMA, root=inc)
    assert (after_delete.mode, after_delete.removed, after_delete.fetched, after_delete.tasks) == ("incremental", 1, 0, 5)
    _same_as_full(client, project_title, after_delete, tmp_path / "f2")
    written = (after_delete.folder / store.STATE).stat()
    index = (after_delete.folder / store.INDEX).read_bytes()
    unchanged = pull.pull(client, title=project_title, schema=SCHEMA, root=inc)
    assert (unchanged.fetched, unchanged.removed, unchanged.tasks) == (0, 0, 5)
    # Nothing changed: the state is left as it was (not copied), and the manifest still names it; so is the
    # index, its listing time too (the window listed nothing new since it).
    kept = (after_delete.folder / store.STATE).stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert unchanged.manifest["listed_since"] is not None and (unchanged.folder / store.INDEX).read_bytes() == index
    assert unchanged.manifest["state_sha256"] == store.state_sha256(unchanged.folder) == after_delete.manifest["state_sha256"]
    _same_as_full(client, project_title, unchanged, tmp_path / "f3")
    assert pull.pull(client, title=project_title, schema=SCHEMA, root=inc).fetched == 0


def test_a_change_stamped_before_the_last_pull_is_still_pulled(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path
) -> None:
    """Label Studio stamps a task's time before its change is visible (a save waiting for the database lock).

    Such a change can become visible after a pull has seen newer times; here it is
    made so on purpose, in the studio's own database, to show it is not skipped.
    """
    report = push.push_articles(client, synthetic(3), title=project_title, schema=SCHEMA)
    refs = client.task_refs(report.project.id)
    text = client.get_task(refs[0].id)["data"]["text"]
    gpe = region("g", "GPE", *span(text, "الرقة"), "الرقة")
    late = client.create_annotation(refs[0].id, [gpe, answer("conflict")])
    stamp = client.get_task(refs[0].id)["updated_at"]
    client.create_annotation(refs[1].id, [gpe, answer()])  # a newer change, seen by the first pull
    first = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)

    newest = max(t["updated_at"] for t in store.read_state(first.folder)[0])
    client.update_annotation(late["id"], result=[gpe, answer("unclear")])
    # Stamped after the task's last time but before the newest time the first pull saw.
    between = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(microseconds=1)
    with sqlite3.connect(studio_home / "studio" / "label_studio.sqlite3") as db:
        db.execute("UPDATE task SET updated_at = ? WHERE id = ?", (between.strftime("%Y-%m-%d %H:%M:%S.%f"), refs[0].id))
    assert stamp < client.get_task(refs[0].id)["updated_at"] < newest
    again = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert again.mode == "incremental" and again.fetched == 1
    assert '"unclear"' in dict(_state(again.folder))[refs[0].id][0][1]
    _same_as_full(client, project_title, again, tmp_path / "full")


def _stamp(studio_home: Path, task_id: int, when: datetime) -> None:
    """Give a task an older time in the studio's own database: a save whose commit came long after its stamp."""
    with sqlite3.connect(studio_home / "studio" / "label_studio.sqlite3") as db:
        db.execute("UPDATE task SET updated_at = ? WHERE id = ?", (when.strftime("%Y-%m-%d %H:%M:%S.%f"), task_id))


def test_the_window_lists_only_recent_tasks_and_the_reconciliation_catches_a_commit_later_than_it(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the window guarantees, and what it does not, on purpose: a save made visible with a time older than
    the window is missed by the window when it changes no count, caught by the counts when it does, and
    caught by the next listing of every task (the reconciliation) in any case."""
    monkeypatch.setattr(task_listing, "WINDOW", timedelta(0))  # from when the last listing began, by the server's clock
    report = push.push_articles(client, synthetic(6), title=project_title, schema=SCHEMA)
    refs = client.task_refs(report.project.id)
    text = client.get_task(refs[0].id)["data"]["text"]
    gpe = region("g", "GPE", *span(text, "الرقة"), "الرقة")
    late = client.create_annotation(refs[0].id, [gpe, answer("conflict")])
    client.create_annotation(refs[1].id, [gpe, answer()])
    time.sleep(1.1)  # the server's clock comes to the second (its Date header): the first pull begins after these
    first = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    newest = max(datetime.fromisoformat(t["updated_at"].replace("Z", "+00:00")) for t in store.read_state(first.folder)[0])
    listed: list[int] = []
    listing = client.list_task_changes

    def counted(project_id: int, on_page: Any = None, since: datetime | None = None) -> dict[int, Any]:
        found = listing(project_id, on_page=on_page, since=since)
        listed.append(len(found))
        return found

    monkeypatch.setattr(client, "list_task_changes", counted)
    client.create_annotation(refs[2].id, [gpe, answer()])
    recent = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    # Listed and fetched: the one task changed since the first pull began (the server's clock, to the second).
    assert recent.manifest["listed_since"] is not None and listed == [1] and recent.fetched == 1

    # An edit whose commit came later than the window, with an older time: no count changes.
    client.update_annotation(late["id"], result=[gpe, answer("unclear")])
    _stamp(studio_home, refs[0].id, newest - timedelta(seconds=30))
    missed = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert missed.manifest["listed_since"] is not None and missed.fetched == 0
    assert '"conflict"' in dict(_state(missed.folder))[refs[0].id][0][1]  # the window's limit, as the docs say
    # A new annotation with as old a time changes the counts: listed whole at once, and fetched.
    client.create_annotation(refs[3].id, [gpe, answer()])
    _stamp(studio_home, refs[3].id, newest - timedelta(seconds=30))
    counted_in = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert counted_in.manifest["listed_since"] is None and dict(_state(counted_in.folder))[refs[3].id]
    # That was a listing of every task: the reconciliation happened, and the missed edit came with it.
    assert '"unclear"' in dict(_state(counted_in.folder))[refs[0].id][0][1]
    _same_as_full(client, project_title, counted_in, tmp_path / "full")

    # Without a count to give it away, the reconciliation catches it once the last full listing is old enough.
    client.update_annotation(late["id"], result=[gpe, answer("other")])
    _stamp(studio_home, refs[0].id, newest - timedelta(seconds=20))  # another old time: each save has its own
    assert '"unclear"' in dict(_state(pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path).folder))[refs[0].id][0][1]
    monkeypatch.setattr(task_listing, "RECONCILE_AFTER", timedelta(0))
    caught = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert caught.manifest["listed_since"] is None and caught.fetched == 1
    assert '"other"' in dict(_state(caught.folder))[refs[0].id][0][1]
    _same_as_full(client, project_title, caught, tmp_path / "full2")


def test_a_save_between_the_counts_and_the_listing_is_counted_again_not_listed_whole(
    client: LabelStudioClient, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live counts of every project come first, in one request; a save landing before the window's listing
    makes a project not add up, and it is counted and listed once more, not listed whole."""
    report = push.push_articles(client, synthetic(4), title=project_title, schema=SCHEMA)
    refs = client.task_refs(report.project.id)
    text = client.get_task(refs[0].id)["data"]["text"]
    gpe = region("g", "GPE", *span(text, "الرقة"), "الرقة")
    client.create_annotation(refs[0].id, [gpe, answer()])
    time.sleep(1.1)  # the server's clock comes to the second: the first pull begins after this save
    pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    counted = client.projects_counts
    listings: list[datetime | None] = []
    listing = client.list_task_changes

    def counts_then_a_save(project_ids: Any) -> Any:
        found = counted(project_ids)
        if not listings:
            client.create_annotation(refs[1].id, [gpe, answer()])  # after the counts, before the listing
        return found

    def listed(project_id: int, on_page: Any = None, since: datetime | None = None) -> Any:
        listings.append(since)
        return listing(project_id, on_page=on_page, since=since)

    monkeypatch.setattr(client, "projects_counts", counts_then_a_save)
    monkeypatch.setattr(client, "list_task_changes", listed)
    again = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert again.manifest["listed_since"] is not None and again.fetched == 1
    assert len(listings) == 2 and all(since is not None for since in listings)  # the window twice, never every task
    _same_as_full(client, project_title, again, tmp_path / "full")


def _edit_randomly(url: str, token: str, project_id: int, rng: random.Random, steps: int, errors: list[str]) -> None:
    """One annotator at work: create, change and delete annotations, now and then delete or add a task.

    Like an annotator's data manager, the task list is read again only when it is known to have
    changed (a task this annotator deleted or added, or one found gone): the server's time goes to
    the edits and the pulls under test.
    """
    with LabelStudioClient(url, token, retries=1) as c:
        refs: list[TaskRef] = []
        for step in range(steps):
            try:
                refs = refs or c.task_refs(project_id)
                task = c.get_task(rng.choice(refs).id)
                text = task["data"]["text"]
                piece = rng.choice(["الرقة", "التحالف الدولي", "الطائرات"])
                result = [region("r", rng.choice(["GPE", "ORG", "LOC"]), *span(text, piece), piece), answer(rng.choice(["conflict", "unclear", "other"]))]
                mine = task.get("annotations") or []
                roll = rng.random()
                if roll < 0.4 or not mine:
                    c.create_annotation(task["id"], result, was_cancelled=rng.random() < 0.1)
                elif roll < 0.75:
                    c.update_annotation(rng.choice(mine)["id"], result=result)
                elif roll < 0.93:
                    c.delete_annotation(rng.choice(mine)["id"])
                elif roll < 0.97 and len(refs) > 5:
                    c.delete_task(task["id"])
                    refs = []
                else:
                    extra = synthetic(1, prefix=f"late-{rng.randrange(10**9)}")[0]
                    c.import_tasks(project_id, [codec.task(extra)])
                    refs = []
            except AnnotateError as exc:  # an edit that lost a race (a task deleted meanwhile) is an annotator's problem
                errors.append(f"step {step}: {exc.message}")
                refs = []


def test_incremental_pulls_under_concurrent_edits_equal_a_full_pull(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    seed = random.randrange(10**6)
    report = push.push_articles(client, synthetic(24), title=project_title, schema=SCHEMA)
    root = tmp_path / "inc"
    pulls = 0
    for round_ in range(3):
        rng = random.Random(seed * 10 + round_)
        errors: list[str] = []
        workers = [
            threading.Thread(target=_edit_randomly, args=(client.url, credentials.token, report.project.id, random.Random(rng.random()), 30, errors))
            for _ in range(3)
        ]
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers):  # pulling while the annotators work
            pull.pull(client, title=project_title, schema=SCHEMA, root=root)
            pulls += 1
        last = pull.pull(client, title=project_title, schema=SCHEMA, root=root)
        assert last.mode == "incremental", f"seed {seed}"
        _same_as_full(client, project_title, last, tmp_path / f"full-{round_}")
        assert len(errors) < 45, f"seed {seed}: most edits failed: {errors[:5]}"
    assert pulls >= 3


def test_task_listings_skip_nothing_while_tasks_are_deleted(client: LabelStudioClient, project_title: str) -> None:
    """Pages follow ids: a task deleted after its page was read shifts nothing.

    With page numbers, deleting a task already read moved the next unread one onto
    the page already read (so it was skipped), and a page Label Studio answered
    short made the next page number "invalid" (a 404 that failed a pull in CI).
    """
    report = push.push_articles(client, synthetic(7), title=project_title, schema=SCHEMA)
    pid = report.project.id
    ids = sorted(r.id for r in client.task_refs(pid))
    for listing in (
        lambda: client.iter_tasks(pid, page_size=2, include="id"),
        lambda: client.iter_tasks(pid, page_size=2, include="id", ids=ids),
    ):
        read: list[int] = []
        for task in listing():
            read.append(int(task["id"]))
            if len(read) == 2:  # the first page is read: an annotator's task goes away
                client.delete_task(read[0])
        left = [i for i in ids if i != read[0]]
        assert read == [read[0], *left] and read[0] == ids[0]
        ids = left
    assert sorted(client.list_task_changes(pid)) == ids


def test_a_damaged_state_is_never_carried_forward(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = push.push_articles(client, synthetic(4), title=project_title, schema=SCHEMA)
    refs = client.task_refs(report.project.id)
    text = client.get_task(refs[0].id)["data"]["text"]
    for ref in refs:
        client.create_annotation(ref.id, [region("g", "GPE", *span(text, "الرقة"), "الرقة"), answer()])
    done = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    state = done.folder / store.STATE
    whole = state.read_bytes()

    for damage in (whole[:-40], whole[:-1]):  # a cut-off last line; a lost final newline
        state.write_bytes(damage)
        with pytest.raises(DamagedStateError, match="pull --full"):
            validate_project(project_title, schema=SCHEMA, root=tmp_path)
        again = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
        assert again.mode == "full" and "not the state the last pull wrote" in (again.full_because or "")
        assert state.read_bytes() == whole

    # A pull hashes the state again only if the file is not the one the last pull left; an edit of the same size
    # with its modification time put back is still another file (its change time cannot be put back).
    left = state.stat()
    state.write_bytes(whole.replace(b'"GPE"', b'"LOC"', 1))
    os.utime(state, ns=(left.st_atime_ns, left.st_mtime_ns))
    assert (state.stat().st_size, state.stat().st_mtime_ns, state.stat().st_ino) == (left.st_size, left.st_mtime_ns, left.st_ino)
    again = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert again.mode == "full" and "not the state the last pull wrote" in (again.full_because or "")
    assert state.read_bytes() == whole
    unchanged = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert unchanged.mode == "incremental" and unchanged.fetched == 0

    state.write_bytes(whole[:-1])
    assert main(["pull", "--project", project_title, "--pulled", str(tmp_path), "--home", str(studio_home)]) == 0
    captured = capsys.readouterr()
    assert "a full pull instead of an incremental one" in captured.err and "Pulled (full) 4 task(s)" in captured.out
    assert "Checked: 4 annotation(s): 4 kept, 0 repaired, 0 rejected, 0 skipped; ready for export: 4 of 4 article(s)" in captured.out
    assert state.read_bytes() == whole


def test_a_pull_whose_count_fails_is_still_a_pull_and_says_why_it_was_not_counted(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    push.push_articles(client, synthetic(2), title=project_title, schema=SCHEMA)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise AnnotateError("the count broke here")

    monkeypatch.setattr(pull, "counted_pull", broken)
    assert main(["pull", "--project", project_title, "--pulled", str(tmp_path), "--home", str(studio_home)]) == 0
    captured = capsys.readouterr()
    assert "Pulled (full) 2 task(s)" in captured.out and "Checked" not in captured.out
    assert "note: the pull could not be counted: the count broke here" in captured.err
    assert len(store.read_state(store.project_folder(project_title, tmp_path))[0]) == 2


def test_projects_whose_titles_look_alike_keep_their_own_pulled_data(
    client: LabelStudioClient, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spaced, slashed = f"{project_title} col", f"{project_title}/col"
    try:
        push.push_articles(client, synthetic(2, prefix="spaced"), title=spaced, schema=SCHEMA)
        push.push_articles(client, synthetic(3, prefix="slashed"), title=slashed, schema=SCHEMA)
        a = pull.pull(client, title=spaced, schema=SCHEMA, root=tmp_path)
        b = pull.pull(client, title=slashed, schema=SCHEMA, root=tmp_path)
        assert a.folder != b.folder and (a.tasks, b.tasks) == (2, 3)
        assert {t["data"]["article_id"][:6] for t in store.read_state(a.folder, spaced)[0]} == {"spaced"}

        # Pulled data of one project in the other's folder (copied by hand) is refused by every stage.
        shutil.rmtree(b.folder)
        shutil.copytree(a.folder, b.folder)
        with pytest.raises(ProjectError, match="holds the pulled data of project"):
            validate_project(slashed, schema=SCHEMA, root=tmp_path)
        with pytest.raises(ProjectError, match="holds the pulled data of project"):
            pull.pull(client, title=slashed, schema=SCHEMA, root=tmp_path)
        assert main(["validate", "--project", slashed, "--pulled", str(tmp_path), "--schema", str(DEFAULT_SCHEMA)]) == 1
        assert "holds the pulled data of project" in capsys.readouterr().err
        replaced = pull.pull(client, title=slashed, schema=SCHEMA, root=tmp_path, full=True)
        assert replaced.tasks == 3 and store.read_manifest(b.folder, slashed)["project_title"] == slashed
    finally:
        for project in client.list_projects(title=project_title):
            client.delete_project(project.id)


def test_the_same_project_at_another_address_is_pulled_on_from_where_it_was(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    """A studio restarted on another port holds the same project: its pulled data is built on (not refused, nor
    pulled whole again), and status compares with it. A project of another database, with the same id and title
    but made at another time, is not this data's project."""
    push.push_articles(client, synthetic(3), title=project_title, schema=SCHEMA)
    first = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)
    assert first.manifest["project_created_at"] == client.project_titled(project_title).created_at != ""
    with BreakingProxy(credentials.port) as proxy, LabelStudioClient(proxy.url, credentials.token) as elsewhere:
        again = pull.pull(elsewhere, title=project_title, schema=SCHEMA, root=tmp_path)
        assert (again.mode, again.fetched, again.manifest["label_studio_url"]) == ("incremental", 0, proxy.url)
        now = project_status(project_title, schema=SCHEMA, root=tmp_path, connect=lambda: LabelStudioClient(proxy.url, credentials.token))
        assert now.server is not None and (now.server.tasks, now.server.changed) == (3, 0)
    manifest = first.folder / "manifest.json"
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**recorded, "project_created_at": "2020-01-01T00:00:00.000000Z"}), encoding="utf-8")
    with pytest.raises(ProjectError, match="holds the pulled data of project"):
        pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path)


def test_transient_failures_are_retried_and_a_failed_pull_keeps_the_old_state(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = push.push_articles(client, synthetic(3), title=project_title, schema=SCHEMA).project.id
    with BreakingProxy(credentials.port) as proxy:
        flaky = LabelStudioClient(proxy.url, credentials.token, retries=2, backoff=0.05)
        # The request that makes the export snapshot is cut after Label Studio made it:
        # the pull finds the snapshot it asked for instead of failing or making another.
        proxy.break_after(b"POST /api/projects/", times=1)
        done = pull.pull(flaky, title=project_title, schema=SCHEMA, root=tmp_path, full=True)
        assert proxy.broken == 1 and done.tasks == 3 and client.snapshots(pid) == []
        proxy.break_after(b"/download?", times=1)  # a download cut once is tried again
        done = pull.pull(flaky, title=project_title, schema=SCHEMA, root=tmp_path, full=True)
        assert proxy.broken == 2 and done.tasks == 3
        before = (done.folder / "state.jsonl").read_bytes(), (done.folder / "manifest.json").read_bytes()
        proxy.break_after(b"/download?", times=10)
        with pytest.raises(ServerError, match="after 3 attempt"):
            pull.pull(flaky, title=project_title, schema=SCHEMA, root=tmp_path, full=True)
        flaky.close()
    assert ((done.folder / "state.jsonl").read_bytes(), (done.folder / "manifest.json").read_bytes()) == before
    # The failed pull left its snapshot; the next one takes it up, brings it up to date, and deletes it.
    (left,) = client.snapshots(pid)
    task = next(iter(client.iter_tasks(pid)))
    client.create_annotation(task["id"], [answer()])  # a change made after that snapshot was written
    monkeypatch.setattr(client, "create_snapshot", lambda *args, **kwargs: pytest.fail("made a second snapshot"))
    fetched_again: list[int] = []
    iter_tasks = client.iter_tasks

    def recorded(*args: Any, **kwargs: Any) -> Any:
        fetched_again.extend(kwargs.get("ids") or [])
        return iter_tasks(*args, **kwargs)

    monkeypatch.setattr(client, "iter_tasks", recorded)
    again = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path, full=True)
    assert client.snapshots(pid) == [] and again.annotations == 1
    assert fetched_again == [task["id"]]  # only the task changed since the snapshot is read again
    assert again.folder.joinpath("state.jsonl").read_bytes() != before[0]


def test_pull_of_an_unknown_project_says_so(studio_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pull", "--project", "no such project", "--pulled", str(tmp_path), "--home", str(studio_home)]) == 1
    assert "no project titled 'no such project'" in capsys.readouterr().err
    assert main(["validate", "--project", "never pulled", "--pulled", str(tmp_path)]) == 1
    assert "Run `annotate pull` first" in capsys.readouterr().err


def test_diff_names_exactly_what_changed_in_the_studio_between_two_exports(
    client: LabelStudioClient, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from annotate import export

    def mention(rid: str, label: str, text: str, piece: str) -> dict[str, Any]:  # Label Studio counts UTF-16 units (🔥)
        return region(rid, label, *utf16(text, *span(text, piece)), piece)

    def labelled(text: str, place: str = "الرقة", coalition: str = "ORG") -> list[dict[str, Any]]:
        return [mention("g", "GPE", text, place), mention("c", coalition, text, "التحالف الدولي"), mention("w", "VEH", text, "الطائرات"), answer()]

    report = push.push_articles(client, synthetic(3), title=project_title, schema=SCHEMA)
    made = {}
    for ref in client.task_refs(report.project.id):
        task = client.get_task(ref.id)
        made[task["data"]["article_id"]] = (task, client.create_annotation(ref.id, labelled(task["data"]["text"])))
    pulled, config = tmp_path / "pulled", ExportConfig(format="jsonl", split=(1.0, 0.0, 0.0))
    pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    old = export.export(project_title, tmp_path / "old", config, schema=SCHEMA, root=pulled).out
    again = export.export(project_title, tmp_path / "again", config, schema=SCHEMA, root=pulled).out
    assert main(["diff", str(old), str(again), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["articles"] == {"added": [], "removed": [], "changed": []} and same["entity_f1"] == 1.0
    assert all(n == 0 for kind in ("entities", "events", "arguments") for n in same[kind].values())

    # In the studio, as a reviewer would: two mentions of one article changed (a type, a boundary); one article added.
    task, annotation = made["art-0001"]
    client.update_annotation(annotation["id"], result=labelled(task["data"]["text"], place="في الرقة", coalition="GPE"))
    late = push.push_articles(client, synthetic(1, prefix="late"), title=project_title, schema=SCHEMA)
    (late_ref,) = [r for r in client.task_refs(late.project.id) if client.get_task(r.id)["data"]["article_id"] == "late-0000"]
    client.create_annotation(late_ref.id, [mention("g", "GPE", client.get_task(late_ref.id)["data"]["text"], "الرقة"), answer()])
    pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    assert main(["export", "--project", project_title, "--pulled", str(pulled), "--out", str(tmp_path / "new"),
                 "--format", "jsonl", "--previous", str(old), "--schema", str(DEFAULT_SCHEMA)]) == 0
    assert "Entities: 1 added, 0 removed, 1 relabelled, 1 boundary" in capsys.readouterr().out
    assert main(["diff", str(old), str(tmp_path / "new"), "--json"]) == 0
    changed = json.loads(capsys.readouterr().out)
    assert changed["articles"] == {"added": ["late-0000"], "removed": [], "changed": ["art-0001"]}
    assert changed["entities"] == {"added": 1, "removed": 0, "relabelled": 1, "boundary": 1}
    assert changed["per_article"] == {"art-0001": {"entities": {"relabelled": 1, "boundary": 1}}, "late-0000": {"entities": {"added": 1}}}
    assert "## Changes since `old`" in (tmp_path / "new" / "README.md").read_text(encoding="utf-8")


def test_real_path_push_annotate_pull_export_loads_every_kept_mention(
    client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    import datasets

    from annotate import export

    report = push.push(client, [DATA / "hard_cases.jsonl"], title=project_title)
    tasks = tasks_by_article(client, report.project.id)
    emoji = tasks["hard-emoji"]["data"]["text"]
    client.create_annotation(
        tasks["hard-emoji"]["id"],
        [
            region("t", "Conflict:Attack", *utf16(emoji, *span(emoji, "قصفت")), "قصفت", control="trigger"),
            region("c", "ORG", *utf16(emoji, *span(emoji, "التحالف")), "التحالف"),
            region("g", "GPE", *utf16(emoji, *span(emoji, "الرقة")), "الرقة"),
            region("k", "Life:Die", *utf16(emoji, *span(emoji, "قُتل")), "قُتل", control="trigger"),
            rel("t", "c", "Attacker"), rel("t", "g", "Place"),
            answer(),
        ],
    )
    clitics = tasks["hard-clitics"]["data"]["text"]
    client.create_annotation(
        tasks["hard-clitics"]["id"],
        [ent("d", "ORG", clitics, "تنظيم داعش"), ent("r", "GPE", clitics, "الرقة"), answer()],
    )
    tatweel = tasks["hard-tatweel"]["data"]["text"]
    client.create_annotation(
        tasks["hard-tatweel"]["id"],
        [ent("o", "ORG", tatweel, "وزارة الدفـــاع الأمريكيـــة"), ent("g", "GPE", tatweel, "الأمريكيـــة"), answer()],
    )
    pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path / "pulled")
    result, _ = validate_project(project_title, schema=SCHEMA, root=tmp_path / "pulled")
    kept = {v.article_id: v.annotation for v in result.verdicts if v.annotation is not None}
    assert set(kept) == {"hard-emoji", "hard-clitics", "hard-tatweel"}

    out = tmp_path / "exports" / "gold"
    export.export(project_title, out, ExportConfig(split=(1.0, 0.0, 0.0)), schema=SCHEMA, root=tmp_path / "pulled")
    ds = datasets.load_dataset(str(out))["train"]
    types = ds.features["entities"].feature["type"].names
    events = ds.features["events"].feature["type"].names
    roles = ds.features["events"].feature["arguments"].feature["role"].names
    for row in ds:
        gold = kept[row["article_id"]]
        assert {(types[e["type"]], e["start"], e["end"], e["text"]) for e in row["entities"]} == {
            (e.type, e.start, e.end, e.text) for e in gold.entities
        }
        assert {
            (events[e["type"]], e["trigger"]["start"], e["trigger"]["end"], e["trigger"]["text"],
             frozenset((roles[a["role"]], a["entity_id"]) for a in e["arguments"]))
            for e in row["events"]
        } == {(e.type, e.start, e.end, e.text, frozenset((a.role, a.entity_id) for a in e.arguments)) for e in gold.events}
    clitic_row = next(r for r in ds if r["article_id"] == "hard-clitics")
    assert clitic_row["tokens"][:2] == ["وب", "الرقة"]  # the clitics are split off at the entity boundary


def test_a_pull_from_a_label_studio_we_did_not_start_goes_through_a_snapshot(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    """`annotate pull` as a process, the server named only by LABEL_STUDIO_URL and its key, no studio home."""
    pid = push.push_articles(client, synthetic(4), title=project_title, schema=SCHEMA).project.id
    first = next(client.iter_tasks(pid))
    client.create_annotation(first["id"], [answer()])
    with BreakingProxy(credentials.port) as proxy:
        # The snapshot request is cut after Label Studio made the snapshot: seen only if pull makes one.
        proxy.break_after(f"POST /api/projects/{pid}/exports/".encode(), times=1)
        env = {"LABEL_STUDIO_URL": proxy.url, "LABEL_STUDIO_API_KEY": credentials.token, "ANNOTATE_HOME": str(tmp_path / "none")}
        done = run("pull", "--project", project_title, "--pulled", str(tmp_path / "pulled"), "--full", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Pulled (full) 4 task(s)" in done.stdout and "Traceback" not in done.stderr
    assert "Checked: 1 annotation(s): 1 kept" in done.stdout and "ready for export: 1 of 4 article(s)" in done.stdout
    assert proxy.broken == 1 and client.snapshots(pid) == []  # found, used and deleted; no second snapshot
    assert not (tmp_path / "none").exists()  # nothing of an embedded studio was made or started
    assert credentials.token not in done.stdout + done.stderr
    (state,) = (tmp_path / "pulled").glob("*/state.jsonl")
    tasks = [json.loads(line) for line in state.read_text(encoding="utf-8").splitlines()]
    assert len(tasks) == 4 and sum(len(t["annotations"]) for t in tasks) == 1


def test_a_server_answering_nonsense_to_any_request_gets_a_message_not_a_traceback(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request pull, status and team status make is answered, in turn, with JSON ``null`` (and the task listing with
    ``{}``, which read as a project without tasks): every command exits 1 naming the server, or, for
    status, reports the server part unreadable and still shows the pulled data."""
    push.push_articles(client, synthetic(3), title=project_title, schema=SCHEMA)
    team.add_members(client, [f"{project_title}@nonsense.test"], project=project_title)
    pulled = str(tmp_path / "pulled")
    with NonsenseProxy(credentials.port) as proxy:
        monkeypatch.setenv("LABEL_STUDIO_URL", proxy.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", credentials.token)
        commands = {"pull": ["pull", "--project", project_title, "--pulled", pulled, "--full"],
                    "status": ["status", "--project", project_title, "--pulled", pulled],
                    "team status": ["team", "status", "--project", project_title, "--pulled", pulled]}
        tried = 0
        for name, command in commands.items():
            proxy.nonsense_for, proxy.paths[:] = None, []
            assert main(command) == 0
            capsys.readouterr()
            api = sorted({re.sub(r"/\d+", "/N", path) for _, path in proxy.paths if path.startswith("/api/")})
            assert len(api) >= (8 if name == "pull" else 2), api
            cases = [(path, b"null") for path in api] + [("/api/tasks/", b"{}")]
            for path, body in cases:
                proxy.body, proxy.nonsense_for = body, re.compile("^" + path.replace("/N", r"/\d+") + "$")
                replaced = proxy.replaced
                code = main(command)
                out = capsys.readouterr()
                assert proxy.replaced > replaced, (name, path)
                assert "Traceback" not in out.err, (name, path, out.err)
                if name != "status":
                    said = out.err
                    assert code == 1 and f"Label Studio at {proxy.url} answered" in said, (path, said)
                else:
                    said = out.out
                    assert code == 0 and "Label Studio: cannot say what it holds now" in said and "articles" in said, (path, said)
                assert "which Label Studio never sends" in said, (name, path, said)
                tried += 1
    assert tried >= 15


def _states(*folders: Path) -> list[list[dict[str, Any]]]:
    return [sorted((json.loads(line) for line in (f / "state.jsonl").read_text(encoding="utf-8").splitlines()), key=lambda t: t["id"]) for f in folders]


def downloading_after(event: threading.Event) -> type[LabelStudioClient]:
    """A client whose snapshot downloads wait until ``event`` is set: a pull held at that step."""

    class Held(LabelStudioClient):
        def download_snapshot(self, project_id: int, snapshot_id: int) -> list[dict[str, Any]]:
            assert event.wait(120)
            return super().download_snapshot(project_id, snapshot_id)

    return Held


def test_two_full_pulls_of_one_project_at_once_both_finish(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    """Pull A makes a snapshot and is slow to download it; pull B, into another folder, takes the same
    snapshot up, downloads it and deletes it. A's download then found nothing ("cannot read export
    snapshot ... not found"); now A makes a snapshot of its own and both finish with the same tasks."""
    pid = push.push_articles(client, synthetic(12), title=project_title, schema=SCHEMA).project.id
    for task in list(client.iter_tasks(pid))[:2]:
        client.create_annotation(task["id"], [answer()])
    b_done = threading.Event()
    SlowToDownload = downloading_after(b_done)
    results: dict[str, Any] = {}

    def pull_a() -> None:
        with SlowToDownload(credentials.url, credentials.token) as slow:
            try:
                results["a"] = pull.pull(slow, title=project_title, schema=SCHEMA, root=tmp_path / "a", full=True)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results["a"] = exc

    a = threading.Thread(target=pull_a)
    a.start()
    deadline = time.monotonic() + 60
    while not client.snapshots(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.snapshots(pid), "pull A made no snapshot"
    b = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path / "b", full=True)
    b_done.set()
    a.join(120)
    assert not isinstance(results["a"], Exception), results["a"]
    assert (results["a"].tasks, results["a"].annotations) == (b.tasks, b.annotations) == (12, 2)
    first, second = _states(results["a"].folder, b.folder)
    assert first == second and client.snapshots(pid) == []


def test_a_second_pull_into_one_folder_waits_for_the_first(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    push.push_articles(client, synthetic(5), title=project_title, schema=SCHEMA)
    go = threading.Event()
    Held = downloading_after(go)
    results: dict[str, Any] = {}
    stages: list[str] = []

    def pull_a() -> None:
        with Held(credentials.url, credentials.token) as held:
            results["a"] = pull.pull(held, title=project_title, schema=SCHEMA, root=tmp_path, full=True)

    def pull_b() -> None:
        results["b"] = pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path,
                                 on_progress=lambda stage, done, total: stages.append(stage))

    a = threading.Thread(target=pull_a)
    a.start()
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("*/.state.jsonl.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)  # A holds the folder and is writing its state
    b = threading.Thread(target=pull_b)
    b.start()
    while "waiting for another pull into this folder" not in stages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stages == ["waiting for another pull into this folder"] and "b" not in results
    go.set()
    a.join(120), b.join(120)
    assert results["a"].mode == "full" and results["b"].mode == "incremental" and results["b"].fetched == 0
    assert list(tmp_path.glob("*/.*.tmp")) == []


def test_a_pull_removes_what_a_killed_pull_left_and_sigterm_leaves_nothing(
    client: LabelStudioClient, credentials, project_title: str, tmp_path: Path
) -> None:
    push.push_articles(client, synthetic(4), title=project_title, schema=SCHEMA)
    pulled = tmp_path / "pulled"
    with NonsenseProxy(credentials.port) as proxy:
        # SIGTERM while the snapshot downloads, the state's temporary file open: it used to end the
        # process at once (exit -15, no message) and leave the temporary file behind.
        proxy.stall_for = re.compile(r"^GET .*/download$")
        env = {"LABEL_STUDIO_URL": proxy.url, "LABEL_STUDIO_API_KEY": credentials.token}
        command = [sys.executable, "-c", "from annotate.cli import run; run()", "pull", "--project", project_title,
                   "--pulled", str(pulled), "--full"]
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        assert proxy.stalled.wait(120), "the pull never asked for its snapshot"
        (folder,) = pulled.iterdir()
        assert list(folder.glob(".state.jsonl.*.tmp"))
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        proxy.release.set()
    assert process.returncode == 143 and "terminated (SIGTERM); nothing was half written" in err and "Traceback" not in err
    assert list(folder.rglob("*.tmp")) == []
    # What kill -9 leaves (it runs no clean-up) is removed by the next pull; another stage's files stay.
    done = pull.pull(client, title=project_title, schema=SCHEMA, root=pulled, full=True)
    killed = [folder / ".state.jsonl.x1y2z3.tmp", folder / ".index.json.abc.tmp", done.snapshot / ".tasks.jsonl.q.tmp"]
    for leftover in killed:
        leftover.write_bytes(b"x" * 1000)
    other = folder / ".report.json.k.tmp"
    other.write_bytes(b"y")
    pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    assert [f for f in killed if f.exists()] == [] and other.exists()


def test_full_pulls_leave_no_export_files_on_the_studio_annotate_runs(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path
) -> None:
    # Label Studio deletes a snapshot's row and keeps its file: 18 full pulls of 5,000 tasks left 147 MB.
    # A project deleted first, with a snapshot: Label Studio deletes projects with every signal
    # disconnected, after which no post_delete receiver of exports was ever called again.
    earlier = client.create_project(f"{project_title}-earlier")
    client.create_snapshot(earlier.id, "made before")
    client.delete_project(earlier.id)
    pid = push.push_articles(client, synthetic(5), title=project_title, schema=SCHEMA).project.id
    exports = studio_home / "studio" / "media" / "export" / str(pid)
    for _ in range(3):
        pull.pull(client, title=project_title, schema=SCHEMA, root=tmp_path, full=True)
    assert client.snapshots(pid) == []
    assert not exports.exists() or list(exports.iterdir()) == []
    # A snapshot made and left by someone else goes with its project.
    client.create_snapshot(pid, "made in the data manager")
    assert len(list(exports.iterdir())) == 1
    client.delete_project(pid)
    assert not exports.exists()
