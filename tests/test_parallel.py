"""Both cores for one pass (``parallel.on_two_cores``): a forked child's half, and the parent's own when it fails."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from annotate import parallel
from annotate.files import write_json, write_jsonl
from annotate.store import MANIFEST, StateLines, state_sha256


@pytest.fixture(autouse=True)
def _two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 2)  # as on the machines it runs on, whatever runs the tests


def pids(path: Path) -> list[int]:
    """The pids noted whole in ``path`` (a line is noted whole once its newline is there)."""
    text = path.read_text() if path.exists() else ""
    return [int(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def note_pid(path: Path) -> None:
    with path.open("a") as out:
        out.write(f"{os.getpid()}\n")


def test_the_second_half_runs_in_another_process_at_the_same_time(tmp_path: Path) -> None:
    here = os.getpid()
    started = tmp_path / "started"

    def first() -> list[int]:
        deadline = time.monotonic() + 30
        while not pids(started) and time.monotonic() < deadline:  # the child works while this half does
            time.sleep(0.01)
        return [here, *pids(started)]

    def second() -> dict[str, int]:
        note_pid(started)
        return {"pid": os.getpid()}

    mine, theirs = parallel.on_two_cores(first, second)
    assert mine == [here, theirs["pid"]] and theirs["pid"] != here


def test_a_child_that_fails_leaves_its_half_to_the_parent_which_meets_the_error_itself(tmp_path: Path) -> None:
    tried = tmp_path / "tried"

    def failing() -> int:
        note_pid(tried)
        raise ValueError("line 7 is not a task")

    with pytest.raises(ValueError, match="line 7"):
        parallel.on_two_cores(lambda: 1, failing)
    child, parent = pids(tried)
    assert parent == os.getpid() and child != parent

    here = os.getpid()

    def dies() -> str:
        if os.getpid() != here:
            os._exit(3)  # killed, or out of memory: nothing sent back
        return "done here"

    assert parallel.on_two_cores(lambda: "first", dies) == ("first", "done here")


def test_an_error_in_the_parents_half_stops_the_child_at_once(tmp_path: Path) -> None:
    started = tmp_path / "started"

    def slow() -> None:
        note_pid(started)
        time.sleep(60)

    def first() -> None:
        while not pids(started):  # the file made is not yet the pid written
            time.sleep(0.01)
        raise KeyboardInterrupt  # as Ctrl-C

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        parallel.on_two_cores(first, slow)
    assert time.monotonic() - began < 20
    (child,) = pids(started)
    assert not Path(f"/proc/{child}").exists()  # killed and reaped: no process, not even a zombie


def test_one_core_or_no_fork_does_both_halves_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    assert parallel.on_two_cores(os.getpid, os.getpid) == (os.getpid(), os.getpid())


def test_the_states_lines_read_in_both_processes_at_once_are_each_the_line_asked_for(tmp_path: Path) -> None:
    """The child shares the state's open file: a read that moved its offset would hand either process another line."""
    tasks = [{"id": n, "data": {"text": "نص " * (n % 50)}} for n in range(3000)]
    write_jsonl(tmp_path / "state.jsonl", tasks)
    write_json(tmp_path / MANIFEST, {"state_sha256": state_sha256(tmp_path)})
    with StateLines(tmp_path) as state:
        assert sum(1 for _ in state) == len(tasks)

        def read_all() -> list[int]:
            return [state.task(n)["id"] for _ in range(3) for n in range(len(tasks))]

        mine, theirs = parallel.on_two_cores(read_all, read_all)
    assert mine == theirs == [t["id"] for _ in range(3) for t in tasks]


def test_halves_keep_each_group_whole_and_in_order_with_about_as_many_items(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10], [11]]
    monkeypatch.setattr(parallel, "ENOUGH", 5)
    assert parallel.halves(groups) == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11]]
    assert parallel.halves([[1, 2, 3, 4, 5]]) == [[1, 2, 3, 4, 5], []]  # one group is never cut
    monkeypatch.setattr(parallel, "ENOUGH", 12)
    assert parallel.halves(groups) == [list(range(1, 12))] and parallel.halves([]) == []
