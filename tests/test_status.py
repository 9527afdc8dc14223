"""`annotate status`, `validate --fail-on` and what `export` says of rejected annotations: the chain after a pull.

Most tests write a pulled state by hand (every case at once, no server); the last one runs the
real chain against the session's Label Studio, from a subfolder of a project with a settings file.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from annotate import push
from annotate import schema as schema_mod
from annotate.cli import main
from annotate.cli.team import _echo_team_status
from annotate import figures as figures_mod, status as status_mod, store
from annotate.errors import ConflictingCopiesError, DamagedStateError, ProjectError, UnreachableError
from annotate.files import write_json, write_jsonl
from annotate.labelstudio.client import LabelStudioClient
from annotate.models import content_hash
from annotate.status import REJECTED, PersonStatus, ReviewStatus, TeamStatus, project_status, rejected_listing
from annotate.store import ARTICLE_FIGURES, FIGURES, MANIFEST, project_folder, state_sha256
from conftest import DATA, DEFAULT_SCHEMA, SEEDS, SMALL_SCHEMA
from test_cli import run

SCHEMA = schema_mod.load(SMALL_SCHEMA)
TITLE = "status-p"
TEXT = "زار وزير الخارجية القاهرة أمس."
PULLED_AT = "2024-05-01T10:00:00.000000Z"


def task(task_id: int, article_id: str, *annotations: dict[str, Any], version: int = 1) -> dict[str, Any]:
    data = {"article_id": article_id, "text": TEXT, "content_hash": content_hash(TEXT), "version": version}
    return {"id": task_id, "data": data, "annotations": list(annotations)}


def annotation(annotation_id: int, piece: str = "القاهرة", label: str = "LOC", *, pad: int = 0, **fields: Any) -> dict[str, Any]:
    """One entity on ``piece``; ``pad`` widens the span by a trailing space (validate repairs it: a warning)."""
    start = TEXT.index(piece)
    end = start + len(piece) + pad
    value = {"start": start, "end": end, "labels": [label], "text": TEXT[start:end]}
    result = {"id": f"r{annotation_id}", "from_name": "entity", "to_name": "text", "type": "labels", "value": value}
    return {"id": annotation_id, "completed_by": 3, "result": [result], **fields}


# One article of each kind: kept, rejected, not annotated, a new version not annotated yet
# (its old one was), skipped, and repaired.
TASKS = [
    task(1, "kept", annotation(11)),
    task(2, "rejected", annotation(12, label="NOPE")),
    task(3, "waiting"),
    task(4, "new-version", annotation(14)),
    task(5, "new-version", version=2),
    task(6, "skipped", annotation(16, was_cancelled=True)),
    task(7, "repaired", annotation(17, pad=1)),
]


def write_pull(root: Path, tasks: list[dict[str, Any]], title: str = TITLE) -> Path:
    """A pulled state as `annotate pull` leaves it (state, and a manifest naming its hash)."""
    folder = project_folder(title, root)
    write_jsonl(folder / "state.jsonl", tasks)
    write_json(folder / MANIFEST, {"project_id": 1, "project_title": title, "pulled_at": PULLED_AT,
                                   "state_sha256": state_sha256(folder)})
    return folder


def cli(*args: str, pulled: Path) -> list[str]:
    """Arguments for a command on the hand-written pull."""
    return [*args, "--project", TITLE, "--schema", str(SMALL_SCHEMA), "--pulled", str(pulled)]


# --- status ------------------------------------------------------------------------------------


def test_status_counts_each_article_once_at_its_latest_version(tmp_path: Path) -> None:
    write_pull(tmp_path, TASKS)
    found = project_status(TITLE, schema=SCHEMA, root=tmp_path)
    pull = found.pull
    assert pull is not None and found.server is None and found.stale is None
    assert (pull.pulled_at, pull.tasks, pull.articles) == (PULLED_AT, 7, 6)
    assert (pull.labelled, pull.ready, pull.remaining, pull.nothing_kept, pull.blocked) == (2, 2, 2, 2, 0)
    # every article is in one of: ready, remaining, nothing kept
    assert pull.ready + pull.remaining + pull.nothing_kept == pull.articles
    a = pull.annotations
    assert (a.pulled, a.kept, a.repaired, a.rejected, a.cancelled) == (5, 1, 1, 2, 1)  # the outdated one is rejected


def test_a_pull_is_counted_once_and_counted_again_once_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting validates every task; status keeps the figures beside the pull and reads the state again only when
    the pull, the schema or the repair setting differ, or the state file was changed since."""
    folder = write_pull(tmp_path, TASKS)
    first = project_status(TITLE, schema=SCHEMA, root=tmp_path).pull
    assert (folder / FIGURES).exists()
    read: list[Path] = []
    opened = figures_mod.StateLines

    def reading(at: Path, title: str | None = None) -> Any:
        read.append(at)
        return opened(at, title)

    monkeypatch.setattr(figures_mod, "StateLines", reading)
    assert project_status(TITLE, schema=SCHEMA, root=tmp_path).pull == first and read == []
    # A pull that changed nothing rewrites its manifest only: nothing is counted again, and its time is the new one.
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    write_json(folder / MANIFEST, {**manifest, "pulled_at": "2024-05-02T08:00:00.000000Z"})
    again = project_status(TITLE, schema=SCHEMA, root=tmp_path).pull
    assert again is not None and again.pulled_at == "2024-05-02T08:00:00.000000Z" and read == []
    assert replace(again, pulled_at=first.pulled_at) == first
    write_json(folder / MANIFEST, manifest)
    # Counting reads the state once (its lines; those of the articles to validate again from the same file).
    assert project_status(TITLE, schema=SCHEMA, root=tmp_path, repair=False).pull != first and len(read) == 1
    assert project_status(TITLE, schema=SCHEMA, root=tmp_path, repair=False).pull is not None and len(read) == 1

    write_pull(tmp_path, TASKS[:3])  # the next pull
    again = project_status(TITLE, schema=SCHEMA, root=tmp_path).pull
    assert again is not None and again.tasks == 3 and len(read) == 2
    # A state edited after its pull (its manifest unchanged) is read again, and refused as every stage refuses it.
    with (folder / "state.jsonl").open("a", encoding="utf-8") as state:
        state.write(json.dumps(task(9, "edited")) + "\n")
    with pytest.raises(DamagedStateError):
        project_status(TITLE, schema=SCHEMA, root=tmp_path)
    # Another project's pulled data is refused before anything kept is looked at.
    with pytest.raises(ProjectError):
        figures_mod.counted_pull(folder, "another", SCHEMA, True)


def test_the_next_count_validates_only_the_articles_whose_tasks_changed_and_adds_up_the_same(tmp_path: Path) -> None:
    """Each article's share of the figures is kept from one count to the next: the next pull's count validates only
    the articles with a task not counted before (edited, new, a new version, a task gone), and its figures are those of
    counting everything afresh. Another schema, repair setting or team places counts everything again."""
    from dataclasses import asdict

    from annotate.queues import queue_title
    from annotate.validate import validate_tasks

    def count(root: Path, *, repair: bool = True, schema: Any = SCHEMA) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        told: list[tuple[int, int]] = []
        figures = figures_mod.pull_figures(project_folder(TITLE, root), TITLE, schema, repair, lambda *n: told.append(n))
        return figures, told

    made = iter(range(100))

    def afresh(tasks: list[dict[str, Any]], manifest: dict[str, Any] | None = None) -> dict[str, Any]:
        """The figures of ``tasks`` counted in a folder of their own, where nothing was counted before."""
        fresh = tmp_path / "afresh" / str(next(made))
        folder = write_pull(fresh, tasks)
        if manifest:
            write_json(folder / MANIFEST, {**json.loads((folder / MANIFEST).read_text(encoding="utf-8")), **manifest})
        return count(fresh)[0]

    pairs = [task(10 + i, f"pair-{i}", annotation(100 + i, completed_by=3), annotation(200 + i, "وزير", completed_by=4))
             for i in range(4)]
    first = [*TASKS, *pairs, task(20, "copy", annotation(300)), task(21, "copy")]
    root = tmp_path / "pulls"
    write_pull(root, first)
    figures, told = count(root)
    assert told == [(len(first), len(first))] and figures == afresh(first)
    assert figures["agreement"] == {"3": [0.0, 4], "4": [0.0, 4]} and figures["pull"]["articles"] == 11

    # The next pull: one pair agreed on since, a new article, a task gone, a new version of "kept", a copy's text changed.
    second = [t for t in first if t["id"] not in (3, 21)]
    second[second.index(pairs[0])] = task(10, "pair-0", annotation(100, completed_by=3), annotation(200, completed_by=4))
    changed_copy = task(21, "copy")
    changed_copy["data"]["text"] = TEXT + " ثم عاد."
    second += [task(30, "kept", version=2), task(31, "brand-new", annotation(310)), changed_copy]
    write_pull(root, second)
    figures, told = count(root)
    # pair-0 (1 task), kept (2), brand-new (1), copy (2): "waiting" is gone with its task and counts no more.
    assert told == [(6, len(second))]
    assert figures == afresh(second)
    assert figures["pull"]["annotations"] == asdict(validate_tasks(second, SCHEMA).total)  # as validate counts them
    assert figures["agreement"] is None and figures["pull"]["blocked"] == 1  # the copies now conflict
    second.remove(changed_copy)
    write_pull(root, second)
    figures, told = count(root)
    assert told == [(1, len(second))] and figures == afresh(second)  # only "copy" again
    assert figures["agreement"] == {"3": [0.25, 4], "4": [0.25, 4]}  # one pair: 1 span of their 4 each matched
    assert count(root) == (figures, [])  # nothing changed: nothing validated

    # What the whole count depends on: each counts everything again.
    assert count(root, repair=False)[1] == [(len(second), len(second))]
    other = schema_mod.load(DEFAULT_SCHEMA)
    assert count(root, schema=other)[1] == [(len(second), len(second))]
    assert count(root)[1] == [(len(second), len(second))]
    # The same tasks, the places of the team's people changed: user 4's annotations are in user 3's queue (misplaced).
    placed = [{**t, "project": 1} for t in second]
    folder = write_pull(root, placed)
    assert count(root)[0]["pull"]["annotations"]["misplaced"] == 0
    queue = {"parts": {"1": queue_title(TITLE, 3)}}
    write_json(folder / MANIFEST, {**json.loads((folder / MANIFEST).read_text(encoding="utf-8")), **queue})
    figures, told = count(root)
    assert told == [(len(placed), len(placed))] and figures == afresh(placed, queue)
    assert figures["pull"]["annotations"]["misplaced"] == 4


def test_a_large_count_validates_half_of_its_articles_in_a_second_process_and_adds_up_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From ``parallel.ENOUGH`` tasks to validate, a forked child validates half of the articles (both cores), each
    article whole in one half (its copies far apart in the state too): the figures are those of one process."""
    from annotate import parallel

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    far = task(40, "far-copies", annotation(400, completed_by=3))
    tasks = [far, *TASKS, *(task(50 + i, f"pair-{i}", annotation(500 + i, completed_by=3),
                                 annotation(600 + i, "وزير" if i % 3 else "القاهرة", completed_by=4)) for i in range(9)),
             task(41, "far-copies", annotation(401, "وزير", completed_by=4))]
    validated = tmp_path / "validated"
    counting = figures_mod._counted

    def noted(tasks_: Any, latest: Any, *args: Any) -> Any:
        counted = counting(tasks_, latest, *args)  # ``latest`` fills up as the tasks come
        with validated.open("a") as out:  # from the child too: a file outlives it
            out.write(json.dumps([os.getpid(), sorted(latest), sorted(counted)]) + "\n")
        return counted

    monkeypatch.setattr(figures_mod, "_counted", noted)
    monkeypatch.setattr(parallel, "ENOUGH", 10**9)
    one = figures_mod.pull_figures(write_pull(tmp_path / "one", tasks), TITLE, SCHEMA, True)
    (only,) = [json.loads(line) for line in validated.read_text().splitlines()]
    validated.unlink()
    monkeypatch.setattr(parallel, "ENOUGH", 2)
    two = figures_mod.pull_figures(write_pull(tmp_path / "two", tasks), TITLE, SCHEMA, True)
    assert two == one and one["agreement"] == {"3": [0.3, 10], "4": [0.3, 10]}  # 3 of 10 spans each
    (pid_a, half_a, counted_a), (pid_b, half_b, counted_b) = sorted(json.loads(line) for line in validated.read_text().splitlines())
    assert pid_a != pid_b and os.getpid() in (pid_a, pid_b)
    assert (half_a, half_b) == (counted_a, counted_b) and only[1] == only[2] == sorted({t["data"]["article_id"] for t in tasks})
    assert not set(half_a) & set(half_b) and sorted(half_a + half_b) == only[1] and abs(len(half_a) - len(half_b)) <= 2


def test_a_count_from_nothing_decodes_each_line_once_and_finds_articles_by_their_opening_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22: the lines of a state as pull writes them are grouped by article from their opening bytes, and decoded
    once, by the half that validates them (both cores), not first on one core to find their article too."""
    from annotate.store import StateLines

    decoded: list[int] = []
    decode = StateLines.decode

    def noted(self: StateLines, line: bytes, number: int) -> Any:
        decoded.append(number)
        return decode(self, line, number)

    monkeypatch.setattr(StateLines, "decode", noted)
    odd = {"id": 8, "data": {"text": TEXT, "version": 1}, "annotations": [annotation(18)]}  # no article id: its own
    tasks = [*TASKS, odd, task(9, 'a "quoted" id\\', annotation(19)), task(10, "kept", annotation(20))]
    figures = figures_mod.pull_figures(write_pull(tmp_path, tasks), TITLE, SCHEMA, True)
    # Decoded once each, but the two whose opening bytes do not say their article (lines 7 and 8): decoded for it too.
    assert sorted(decoded) == sorted([*range(len(tasks)), 7, 8])
    assert figures["pull"]["articles"] == 8 and figures["pull"]["tasks"] == 10


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=12), st.integers(-5, 10**6), st.none()), st.booleans())
def test_the_article_read_off_a_lines_opening_bytes_is_the_one_decoding_it_gives(article_id: Any, first: bool) -> None:
    from annotate.labelstudio import codec
    from annotate.pull import _line

    data = {"article_id": article_id, "version": 1, "text": "نص"} if first else {"version": 1, "article_id": article_id}
    line = _line({"id": 7, "data": data, "annotations": []}).encode("utf-8", "surrogatepass")
    opened = store.article_at_start(line)
    assert opened is None or opened == codec.article_id_of(json.loads(line))
    if first and isinstance(article_id, str) and article_id and not set(article_id) & {'"', "\\", *map(chr, range(32))}:
        assert opened == article_id  # the ordinary id of a line as pull writes it is read without decoding


def test_a_line_that_is_not_the_article_it_opens_with_is_a_damaged_state(tmp_path: Path) -> None:
    line = '{"id": 1, "data": {"article_id": "a", "article_id": "b", "text": "x"}, "annotations": []}\n'  # JSON keeps "b"
    folder = write_pull(tmp_path, TASKS)
    (folder / "state.jsonl").write_text(line, encoding="utf-8")
    write_json(folder / MANIFEST, {"project_id": 1, "project_title": TITLE, "pulled_at": PULLED_AT, "state_sha256": state_sha256(folder)})
    with pytest.raises(DamagedStateError, match="line 1 is not the article it opens with"):
        figures_mod.pull_figures(folder, TITLE, SCHEMA, True)
    # An id that is not UTF-8 is left to the decoding, which names the line.
    (folder / "state.jsonl").write_bytes(b'{"id": 1, "data": {"article_id": "\xff", "text": "x"}, "annotations": []}\n')
    write_json(folder / MANIFEST, {"project_id": 1, "project_title": TITLE, "pulled_at": PULLED_AT, "state_sha256": state_sha256(folder)})
    with pytest.raises(DamagedStateError, match="line 1"):
        figures_mod.pull_figures(folder, TITLE, SCHEMA, True)


def test_one_pass_counts_a_pull_and_its_agreement_as_the_agreement_stage_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status and team status keep a pull's counts and its agreement: both come from one pass of validate, whichever
    asks first. The figures per person are those of `annotate agreement`."""
    from annotate import adjudicate
    from annotate.annotators import Pseudonyms

    by = {3: "القاهرة", 4: "القاهرة", 5: "وزير"}  # users 3 and 4 agree, 5 marks another span
    tasks = [
        task(1, "a", *(annotation(10 + u, piece, completed_by=u) for u, piece in by.items())),
        task(2, "b", annotation(20, completed_by=3), annotation(21, completed_by=4)),
        *TASKS[2:],
    ]
    folder = write_pull(tmp_path, tasks)
    checked: list[int] = []
    validating = figures_mod.check_tasks

    def counting(*args: Any, **kwargs: Any) -> Any:
        checked.append(1)
        return validating(*args, **kwargs)

    from annotate import gold

    monkeypatch.setattr(figures_mod, "check_tasks", counting)
    monkeypatch.setattr(gold, "check_tasks", counting)  # the agreement stage's pass
    assert project_status(TITLE, schema=SCHEMA, root=tmp_path).pull is not None and checked == [1]
    assert "agreement" in json.loads((folder / FIGURES).read_text(encoding="utf-8"))
    status_mod._agreement(TITLE, SCHEMA, tmp_path, True)
    assert checked == [1]  # team status after status: counted
    (folder / ARTICLE_FIGURES).unlink()  # nothing kept of the articles: the next pull is counted afresh
    write_pull(tmp_path, tasks[::-1])  # the next pull, as team status meets it
    of = status_mod._agreement(TITLE, SCHEMA, tmp_path, True)
    assert project_status(TITLE, schema=SCHEMA, root=tmp_path).pull is not None
    assert checked == [1, 1]  # one pass for both figures of the new pull

    report = adjudicate.project_agreement(TITLE, schema=SCHEMA, root=tmp_path)
    name = Pseudonyms(folder)
    for user in by:
        pairs = [f["entities_exact"].f1 for pair, f in report.pairs.items() if name(user) in pair]
        compared = sum(int(f["articles"]) for pair, f in report.pairs.items() if name(user) in pair)
        assert of(user) == (round(sum(pairs) / len(pairs), 6), compared)
    assert of(3) == (0.5, 3) and of(5) == (0.0, 2)  # 3 and 4 agree on both articles, neither with 5
    assert of(99) == (None, 0)


def test_status_cli_prints_counts_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_pull(tmp_path, TASKS)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    write_json(folder / MANIFEST, {**manifest, "counts": {"tasks": len(TASKS)}})  # as a pull records them
    no_studio = tmp_path / "no-studio"
    assert main(cli("status", "--home", str(no_studio), pulled=tmp_path)) == 0
    out, said = capsys.readouterr()
    # The first status after a pull says it is counting it (a while on a large one); the next reads what it kept.
    assert said.count("Counting the latest pull (7 task(s)): once a pull") == 1 and "Counting" not in out
    assert f"pulled data in {project_folder(TITLE, tmp_path)}" in out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ") and "nothing kept" not in line}
    assert lines == {"articles": "6", "labelled": "2", "ready": "2", "remaining": "2", "rejected": "2"}
    assert f"pulled {PULLED_AT}" in out
    assert f"{no_studio} has no embedded studio yet" in out  # the server could not be asked, and why

    assert main(cli("status", "--json", "--home", str(no_studio), pulled=tmp_path)) == 0
    out, said = capsys.readouterr()
    data = json.loads(out)
    assert "Counting" not in said
    assert data["pull"]["ready"] == 2 and data["pull"]["annotations"]["rejected"] == 2
    assert data["folder"] == str(project_folder(TITLE, tmp_path)) and data["stale"] is None
    assert data["server"]["tasks"] is None and "no embedded studio" in data["server"]["error"]

    # The next pull edited one article's task: only it is validated, and the message says so.
    write_pull(tmp_path, [*TASKS[:2], task(3, "waiting", annotation(13)), *TASKS[3:]])
    assert main(cli("status", "--home", str(no_studio), pulled=tmp_path)) == 0
    out, said = capsys.readouterr()
    assert said.count("Counting the latest pull (1 of its 7 task(s), those not counted before): once a pull") == 1
    assert [line.split()[1] for line in out.splitlines() if line.split()[:1] == ["remaining"]] == ["1"]


def test_status_before_any_pull_names_the_folder_and_is_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli("status", "--home", str(tmp_path / "h"), pulled=tmp_path)) == 0
    assert f"Nothing has been pulled into {project_folder(TITLE, tmp_path)} yet" in capsys.readouterr().out


def test_status_reports_an_unreachable_server_instead_of_failing(tmp_path: Path) -> None:
    write_pull(tmp_path, TASKS)

    def connect() -> LabelStudioClient:
        raise UnreachableError("Cannot reach Label Studio at http://127.0.0.1:9")

    found = project_status(TITLE, schema=SCHEMA, root=tmp_path, connect=connect)
    assert found.server is not None and found.server.error == "Cannot reach Label Studio at http://127.0.0.1:9"
    assert found.stale is None and found.pull is not None and found.pull.ready == 2


def test_an_article_in_two_tasks_with_different_texts_is_not_ready(tmp_path: Path) -> None:
    other = task(8, "kept", annotation(18))
    other["data"]["text"] = other["data"]["text"] + " "  # same article and version, another text
    other["data"]["content_hash"] = content_hash(other["data"]["text"])
    write_pull(tmp_path, [*TASKS, other])
    pull = project_status(TITLE, schema=SCHEMA, root=tmp_path).pull
    assert pull is not None and pull.blocked == 1 and pull.ready == 1
    # Team status's agreement refuses them as the agreement stage does, each time it is asked.
    for _ in range(2):
        with pytest.raises(ConflictingCopiesError, match="1 article"):
            status_mod._agreement(TITLE, SCHEMA, tmp_path, True)
    assert project_status(TITLE, schema=SCHEMA, root=tmp_path).pull == pull


def test_team_status_prints_a_line_a_person_the_coverage_and_the_review(capsys: pytest.CaptureFixture[str]) -> None:
    """The rendering only (the numbers are read from a real server in test_team_cli)."""
    long_email = "a.very.long.name.of.an.annotator@example-university.org"  # longer than any fixed column
    people = [
        PersonStatus("a@example.org", 2, True, "http://ls/projects/3/data", 4, 3, 0, 1, PULLED_AT, 0.5, 2),
        PersonStatus(long_email, 4, True, "http://ls/projects/4/data", 12, 10, 1, 1, PULLED_AT, others=1),
        PersonStatus(None, 9, False, "http://ls/projects/5/data", 1, 0, 1, 0, PULLED_AT),
    ]
    review = ReviewStatus(["r@example.org"], 1, 1, 0, "http://ls/projects/6/data")
    found = TeamStatus(
        TITLE, "http://ls", Path("/x/exports") / TITLE, 2, people, 6, {0: 3, 1: 1, 2: 2}, review, None, short=["a1", "a2"]
    )
    _echo_team_status(found, as_json=False)
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out[0] == f"Team of {TITLE!r} at http://ls, live (no pull yet: `annotate pull` for agreement)"
    when = "2024-05-01 10:00 UTC"  # PULLED_AT as a person reads it
    assert out[2].split() == ["a@example.org", "4", "3", "0", "1", *when.split(), "0.500", "over", "2", "article(s)"]
    assert out[4].split() == ["user", "9", "(not", "in", "the", "team)", "1", "0", "1", "0", *when.split(), "-"]
    # Columns stay aligned whatever the length of a name: every row's "last activity" starts where its header does.
    column = out[1].index("last activity")
    assert all(line[column:].startswith(when) for line in out[2:5])
    assert out[5] == "Articles: 6 in the pool; by submitted annotations 0: 3, 1: 1, 2: 2 (overlap 2)"
    assert out[6].startswith("Short of an annotator: 2 article(s) in fewer than 2 queues (a1, a2)")
    assert out[7] == "Review: 1 task(s), 1 decided, 0 open; reviewers: r@example.org; http://ls/projects/6/data"
    assert f"1 task(s) of {long_email}'s queue hold an annotation by someone else" in captured.err

    _echo_team_status(found, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert data["by_submitted"] == {"0": 3, "1": 1, "2": 2} and data["folder"] == str(Path("/x/exports") / TITLE)
    assert data["people"][0]["agreement"] == 0.5 and data["pull"] is None


# --- validate --fail-on ---------------------------------------------------------------------------


def test_team_status_lists_two_projects_at_a_time_in_order_and_raises_the_first_error() -> None:
    """Two listings at once (a gunicorn studio answers both in about the time of one): each waits for the other."""
    from annotate.listing import two_at_a_time

    both = threading.Barrier(2, timeout=10)

    def listing(project_id: int) -> int:
        both.wait()  # broken (an error) unless another listing runs at the same time
        return project_id * 10

    assert two_at_a_time(listing, [3, 1, 2, 5]) == [30, 10, 20, 50]
    assert two_at_a_time(lambda p: p, []) == []

    started: list[int] = []

    def failing(project_id: int) -> int:
        started.append(project_id)
        if project_id == 1:
            raise UnreachableError("gone")
        return project_id

    with pytest.raises(UnreachableError, match="gone"):
        two_at_a_time(failing, [1, 2, 3, 4, 5, 6])
    assert len(started) < 6  # nothing more is started once one failed


@pytest.mark.parametrize(
    ("tasks", "fail_on", "code"),
    [
        (TASKS, None, 1),  # the default is today's: a rejected annotation fails
        (TASKS, "error", 1),
        (TASKS, "never", 0),
        (TASKS, "warning", 1),
        ([TASKS[0], TASKS[6]], "error", 0),  # kept and repaired only: repairs are warnings
        ([TASKS[0], TASKS[6]], "warning", 1),
        ([TASKS[0]], "warning", 0),
    ],
)
def test_fail_on_chooses_what_makes_validate_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tasks: list[dict[str, Any]], fail_on: str | None, code: int
) -> None:
    write_pull(tmp_path, tasks)
    option = [] if fail_on is None else ["--fail-on", fail_on]
    assert main(cli("validate", *option, pulled=tmp_path)) == code
    out = capsys.readouterr()
    assert "annotation(s) pulled" in out.out  # the report is printed whatever the exit status
    assert ("exit status 1" in out.err) is bool(code)


def test_an_article_error_without_a_rejected_annotation_fails_by_default(tmp_path: Path) -> None:
    twin = task(9, "waiting")
    twin["data"]["text"] = TEXT + " "
    twin["data"]["content_hash"] = content_hash(twin["data"]["text"])
    write_pull(tmp_path, [TASKS[0], TASKS[2], twin])  # article.conflicting-copies, an error of the article
    assert main(cli("validate", pulled=tmp_path)) == 1
    assert main(cli("validate", "--fail-on", "never", pulled=tmp_path)) == 0


def test_a_fail_on_value_it_does_not_know_is_a_usage_error(tmp_path: Path) -> None:
    done = run(*cli("validate", "--fail-on", "sometimes", pulled=tmp_path))
    assert done.returncode == 2, done.stderr
    assert "Invalid value for '--fail-on'" in done.stderr and all(repr(v) in done.stderr for v in ("error", "warning", "never"))


# --- export says how many were rejected and where -----------------------------------------------


def test_the_documented_chain_runs_through_and_export_points_at_the_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pulled = tmp_path / "pulled"
    folder = write_pull(pulled, TASKS)
    assert main(cli("validate", "--fail-on", "never", pulled=pulled)) == 0
    assert main([*cli("export", pulled=pulled), "--out", str(tmp_path / "out"), "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    assert "Annotations: 5 pulled, 2 kept, 2 rejected, 1 cancelled" in out
    assert f"listed with their reasons in {folder / REJECTED}" in out


def test_export_without_a_current_validation_says_to_run_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pulled = tmp_path / "pulled"
    folder = write_pull(pulled, TASKS)
    args = [*cli("export", pulled=pulled), "--format", "jsonl", "--overwrite", "--out", str(tmp_path / "out")]
    assert main(args) == 0  # never validated
    assert "2 rejected" in (out := capsys.readouterr().out) and "run `annotate validate` to see them" in out
    assert main(cli("validate", "--fail-on", "never", pulled=pulled)) == 0
    assert rejected_listing(TITLE, pulled, 2) == folder / REJECTED
    assert rejected_listing(TITLE, pulled, 3) is None  # not the annotations counted
    write_pull(pulled, TASKS)  # a newer pull: the listing is of the one before
    assert rejected_listing(TITLE, pulled, 2) is None
    capsys.readouterr()
    assert main(args) == 0
    assert "run `annotate validate` to see them" in capsys.readouterr().out


@pytest.mark.studio
def test_status_before_any_pull_asks_the_live_counts_and_lists_no_task(
    studio_home: Path, client: LabelStudioClient, project_title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing pulled: every task is a change, and Label Studio counts them in one request (listing every task of a
    team project of 150,000 took 67 s)."""
    from annotate.labelstudio import studio
    from test_pull import requests_sent

    report = push.push(client, [SEEDS, DATA / "hard_cases.jsonl"], title=project_title, schema_path=SMALL_SCHEMA)
    tasks = len(client.task_refs(report.project.id))
    sent = requests_sent(client, monkeypatch)
    found = project_status(project_title, schema=SCHEMA, root=tmp_path, connect=lambda: studio.connect(studio_home))
    assert found.pull is None and found.server is not None and found.server.error is None
    assert (found.server.tasks, found.server.changed, found.stale) == (tasks, tasks, True) and tasks > 1
    assert sent and not [path for _, path, _ in sent if "tasks" in path]


# --- the real chain, from a subfolder of a project with a settings file ----------------------------


@pytest.mark.studio
def test_the_chain_from_a_subfolder_finds_the_project_and_status_sees_a_stale_pull(
    studio_home: Path, client: LabelStudioClient, project_title: str, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    (root / "schemas").mkdir(parents=True)
    shutil.copy(SMALL_SCHEMA, root / "schemas" / "small.yaml")
    (root / "annotate.toml").write_text(f'project = "{project_title}"\nschema = "schemas/small.yaml"\n', encoding="utf-8")
    here, there = root / "notes" / "2024", root / "reports"
    here.mkdir(parents=True)
    there.mkdir()
    home = ["--home", str(studio_home)]

    pushed = run("push", str(SEEDS), *home, cwd=here, timeout=300)
    assert pushed.returncode == 0, pushed.stderr
    assert f"Project '{project_title}'" in pushed.stdout
    pulled = run("pull", *home, cwd=here, timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    folder = project_folder(project_title, root / "exports")
    assert (folder / "state.jsonl").exists() and not (here / "exports").exists()
    assert f"Saved: {folder / 'state.jsonl'}" in pulled.stdout

    validated = run("validate", cwd=there)
    assert validated.returncode == 0, validated.stderr
    assert f"Kept: {folder / 'validated' / 'annotations.jsonl'}" in validated.stdout

    def status() -> dict[str, Any]:
        done = run("status", "--json", *home, cwd=there, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    fresh = status()
    assert fresh["title"] == project_title and fresh["folder"] == str(folder)
    assert (fresh["pull"]["articles"], fresh["pull"]["remaining"], fresh["pull"]["ready"]) == (1, 1, 0)
    assert (fresh["server"]["tasks"], fresh["server"]["changed"], fresh["stale"]) == (1, 0, False)

    push.push(client, [DATA / "hard_cases.jsonl"], title=project_title, schema_path=SMALL_SCHEMA)
    stale = status()
    assert stale["stale"] is True and stale["server"]["tasks"] > stale["pull"]["tasks"] == 1
    text = run("status", *home, cwd=there, timeout=300)
    assert "changed since this pull" in text.stdout and "pull` to bring them in" in text.stdout

    # $ANNOTATE_PROJECT beats the settings file (and names the folder it looked in)
    other = run("validate", cwd=there, env={"ANNOTATE_PROJECT": "another"})
    assert other.returncode == 1
    assert f"{project_folder('another', root / 'exports')}: nothing has been pulled here yet" in other.stderr
    assert not os.environ.get("ANNOTATE_PROJECT")
