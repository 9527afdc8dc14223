"""A full disk and a read-only folder under pull, validate and export: a message naming the file, exit 1,
nothing half written and no temporary file left.

As root (this machine, CI) the disk is a real small tmpfs, filled up or remounted read-only. Without
root, the kernel's own refusals stand in: a file-size limit of 0 (RLIMIT_FSIZE: every write fails with
EFBIG) and a folder without write permission.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate import pull, push
from annotate.cli import main
from annotate.labelstudio.client import LabelStudioClient
from test_export import SCHEMA, TITLE, write_pulled
from test_push import synthetic
from test_validate import answer

ROOT = os.geteuid() == 0


class Disk:
    """A folder on its own small file system (as root), which tests fill up or make read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.mounted = ROOT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(path)]).returncode == 0
        self._limit: tuple[int, int] | None = None

    def fill(self) -> None:
        if self.mounted:
            with open(self.path / "filler", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
        else:
            self._limit = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, self._limit[1]))

    def free(self) -> None:
        if self._limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, self._limit)
            self._limit = None
        (self.path / "filler").unlink(missing_ok=True)

    def read_only(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)
        else:
            for folder in [self.path, *(p for p in self.path.rglob("*") if p.is_dir())]:
                folder.chmod(0o555)

    def close(self) -> None:
        if self._limit is not None:
            self.free()
        if self.mounted:
            subprocess.run(["umount", str(self.path)], check=True)
        else:
            for folder in [self.path, *(p for p in self.path.rglob("*") if p.is_dir())]:
                folder.chmod(0o755)

    def leftovers(self) -> list[Path]:
        return [p for p in self.path.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    made = Disk(tmp_path / "disk")
    try:
        yield made
    finally:
        made.close()


FULL = "No space left on device" if ROOT else "File too large"
READ_ONLY = "Read-only file system" if ROOT else "Permission denied"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err


@pytest.mark.parametrize("fmt", ["hf", "jsonl", "conll", "brat"])
def test_validate_and_export_on_a_full_disk_name_the_file_and_leave_nothing(
    disk: Disk, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    folder = write_pulled(disk.path / "pulled")
    state = (folder / "state.jsonl").read_bytes()
    disk.fill()
    code, err = run(capsys, "validate", "--project", TITLE, "--pulled", str(disk.path / "pulled"))
    assert code == 1 and f"cannot write {folder / 'validated'}" in err and FULL in err and "then run the command again" in err
    out = disk.path / "gold"
    code, err = run(capsys, "export", "--project", TITLE, "--pulled", str(disk.path / "pulled"), "--format", fmt, "--out", str(out))
    assert code == 1 and f"cannot write {out}: " in err and FULL in err, err
    assert disk.leftovers() == [] and not out.exists()
    assert (folder / "state.jsonl").read_bytes() == state
    disk.free()
    assert main(["export", "--project", TITLE, "--pulled", str(disk.path / "pulled"), "--format", fmt, "--out", str(out)]) == 0


def test_validate_and_export_in_a_read_only_folder_say_so(disk: Disk, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_pulled(disk.path / "pulled")
    disk.read_only()
    code, err = run(capsys, "validate", "--project", TITLE, "--pulled", str(disk.path / "pulled"))
    assert code == 1 and f"cannot write {folder / 'validated'}" in err and READ_ONLY in err
    code, err = run(capsys, "export", "--project", TITLE, "--pulled", str(disk.path / "pulled"), "--format", "hf", "--out", str(disk.path / "gold"))
    assert code == 1 and f"cannot write {disk.path / 'gold'}" in err and READ_ONLY in err


@pytest.mark.studio
def test_pull_on_a_full_or_read_only_disk_keeps_the_previous_state_and_no_temporary_file(
    client: LabelStudioClient, project_title: str, disk: Disk, capsys: pytest.CaptureFixture[str], credentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A first pull on a full disk left its large .state.jsonl.*.tmp, which kept the disk full.
    pid = push.push_articles(client, synthetic(40), title=project_title, schema=SCHEMA).project.id
    client.create_annotation(next(client.iter_tasks(pid))["id"], [answer()])
    monkeypatch.setenv("LABEL_STUDIO_URL", credentials.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", credentials.token)
    pulled = disk.path / "pulled"
    done = pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    before = (done.folder / "state.jsonl").read_bytes(), (done.folder / "manifest.json").read_bytes()
    disk.fill()
    code, err = run(capsys, "pull", "--project", project_title, "--pulled", str(pulled), "--full")
    assert code == 1 and f"cannot write {done.folder}" in err and FULL in err, err
    code, err = run(capsys, "pull", "--project", project_title, "--pulled", str(disk.path / "first"))
    assert code == 1 and f"cannot write {disk.path / 'first'}" in err and FULL in err, err
    assert disk.leftovers() == []
    assert ((done.folder / "state.jsonl").read_bytes(), (done.folder / "manifest.json").read_bytes()) == before
    disk.free()
    disk.read_only()
    code, err = run(capsys, "pull", "--project", project_title, "--pulled", str(pulled), "--full")
    assert code == 1 and f"cannot write {done.folder}" in err and READ_ONLY in err, err
