"""Shared fixtures: one real Label Studio for the whole test session, one project per test.

The server is started by the project's own ``studio.start`` (so the embedded
studio is exercised by every test run) on a free loopback port, with its data
in a temporary folder.

Label Studio's migrations take 30-50 s of one core on every first boot, and a run boots
several studios on each worker. So each database's first boot happens once per run, through
``studio.start`` as a user meets it: on SQLite, the run's first studio (``first_studio``: every
worker waits for the first to make it); on PostgreSQL, the team studio. Every other studio starts
on a copy of that one's database with its owner's credentials: the same ``studio.start``, whose
migration step then finds nothing to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from annotate.labelstudio import postgres, servers, studio
from annotate.labelstudio.client import LabelStudioClient

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = ROOT / "seeds"
SCHEMAS = ROOT / "schemas"
DEFAULT_SCHEMA = SCHEMAS / "ace2005_conflict.yaml"
SMALL_SCHEMA = SCHEMAS / "entities_small.yaml"
DATABASE_FILE = "label_studio.sqlite3"  # where Label Studio keeps a SQLite studio's data, in its data folder


# `make test` hands out groups of tests to its two workers: a module's tests stay on one worker (its
# module fixtures are made once), and every test of the PostgreSQL studio joins one group, whose worker
# alone boots that studio. (xdist's own loadgroup reads groups from node ids, which pytest 9.2 no
# longer lets a plugin change: pytest-xdist issue 1386.)
POSTGRESQL_GROUP = "postgresql"
POSTGRESQL_TESTS = ("tests/test_studio_postgres.py::", "tests/test_browser.py::")  # the latter: its [production] ones
# The tests of the studio without the guard (``plain_studio_home``), in one group: one worker boots that studio.
PLAIN_GROUP = "plain-studio"
PLAIN_TESTS = ("tests/test_guard.py::test_without_the_guard_an_annotator_reaches_everything", "tests/test_misplaced.py::")
# Rough cost of a test, by what it runs, to hand out the heaviest groups first (in collection order,
# given --no-loadscope-reorder): then the offline tests fill the end.
WEIGHT = {"browser": 15.0, "studio": 4.0, "slow": 2.0}


def group_of(nodeid: str) -> str:
    if nodeid.startswith(POSTGRESQL_TESTS[0]) or (nodeid.startswith(POSTGRESQL_TESTS[1]) and nodeid.endswith("[production]")):
        return POSTGRESQL_GROUP
    if nodeid.startswith(PLAIN_TESTS):
        return PLAIN_GROUP
    return nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid), []).append(item)

    def weight(group: str) -> float:
        # The PostgreSQL group first: its boot needs no migrated SQLite, which the other worker makes meanwhile.
        first = 1e6 if group == POSTGRESQL_GROUP else 0.0
        return first + sum(max([WEIGHT.get(m.name, 0.1) for m in item.iter_markers()], default=0.1) for item in groups[group])

    items[:] = [item for group in sorted(groups, key=weight, reverse=True) for item in groups[group]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _fresh_datasets_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test loads its exports afresh and offline: a shared cache could serve an older export."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _no_outside_label_studio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their Label Studio explicitly; a developer's own settings must not leak in."""
    monkeypatch.delenv(studio.ENV_URL, raising=False)
    monkeypatch.delenv(studio.ENV_KEY, raising=False)


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this run shares (the base temporary folder above each worker's own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """One worker of the run at a time."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def first_studio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's first SQLite studio, booted from nothing by ``studio.start`` (it migrates, as on a
    user's first `annotate up`), then stopped: made once per run, the source of every other SQLite studio."""
    shared = run_folder(tmp_path_factory)
    home, made = shared / "first-studio", shared / "first-studio.made"
    with run_lock(shared / "first-studio.lock"):
        if not made.exists():
            shutil.rmtree(home, ignore_errors=True)
            studio.start(home, port=free_port(), timeout=600)
            assert studio.stop(home)
            made.touch()
    return home


def migrated_home(home: Path, first: Path) -> Path:
    """A studio home holding a copy of the first studio: its migrated database and its owner's credentials."""
    source, copy = servers.home_paths(first), servers.home_paths(home)
    copy["data"].mkdir(parents=True)
    # SQLite's own copy: whatever a journal still held is in it.
    with contextlib.closing(sqlite3.connect(source["data"] / DATABASE_FILE)) as src, contextlib.closing(
        sqlite3.connect(copy["data"] / DATABASE_FILE)
    ) as dst:
        src.backup(dst)
    shutil.copy2(source["credentials"], copy["credentials"])  # owner-only, as the first start made it
    return home


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory: pytest.TempPathFactory, first_studio: Path) -> Iterator[Path]:
    home = migrated_home(tmp_path_factory.mktemp("studio-home"), first_studio)
    studio.start(home, port=free_port(), timeout=300)
    try:
        yield home
    finally:
        studio.stop(home)


@pytest.fixture(scope="session")
def team_studio_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The studio a team shares: PostgreSQL (a private cluster) behind the production server, on loopback."""
    home = tmp_path_factory.mktemp("pg-studio")
    studio.start(home, port=free_port(), timeout=300, database="postgresql", production=True)
    try:
        # Its database as the first start left it: what another PostgreSQL studio starts on (`copy_team_studio`).
        source = team_database(home)
        dumped = pg_program("pg_dump", "--no-owner", "--no-privileges", *pg_target(source), password=source.password)
        (tmp_path_factory.getbasetemp() / TEAM_STUDIO_DUMP).write_bytes(dumped)
        yield home
    finally:
        studio.stop(home)


TEAM_STUDIO_DUMP = "team-studio.sql"


def team_database(home: Path) -> postgres.Database:
    """The running team studio's database, and how to reach it."""
    creds = studio.load_credentials(home)
    assert creds is not None
    return postgres.start(home, creds.postgres_password)  # running: only says where it listens


def pg_target(db: postgres.Database) -> list[str]:
    return ["--host", db.host, "--port", str(db.port), "--username", db.user, "--dbname", db.name]


def pg_program(name: str, *args: str, password: str, given: bytes | None = None) -> bytes:
    """A client program of the release whose server runs the clusters (pg_dump must not be older than it)."""
    program = Path(postgres.programs()["pg_ctl"]).resolve().parent / name  # the release's folder, not a link to it
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "PGPASSWORD": password}
    return subprocess.run([str(program), *args], input=given, env=env, capture_output=True, check=True, timeout=120).stdout


def copy_team_studio(tmp_path_factory: pytest.TempPathFactory, team_home: Path, home: Path, target: postgres.Database) -> Path:
    """A studio home whose first start finds, in ``target``, the team studio's database as its first start
    left it, and the same owner: that start's migration step finds nothing to do."""
    dumped = (tmp_path_factory.getbasetemp() / TEAM_STUDIO_DUMP).read_bytes()
    pg_program("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *pg_target(target), password=target.password, given=dumped)
    creds = studio.load_credentials(team_home)
    assert creds is not None
    studio.save_credentials(home, replace(creds, database="", postgres_password=""))  # the database: chosen by that start
    return home


@pytest.fixture(scope="session")
def plain_studio_home(tmp_path_factory: pytest.TempPathFactory, first_studio: Path) -> Iterator[Path]:
    """A Label Studio without annotate's guard, as on a server annotate does not run: anyone opens everything."""
    home = migrated_home(tmp_path_factory.mktemp("plain-studio"), first_studio)
    studio.start(home, port=free_port(), timeout=300, guard=False)
    try:
        yield home
    finally:
        studio.stop(home)


@pytest.fixture(scope="session")
def credentials(studio_home: Path) -> studio.Credentials:
    creds = studio.load_credentials(studio_home)
    assert creds is not None
    return creds


@pytest.fixture
def client(studio_home: Path) -> Iterator[LabelStudioClient]:
    with studio.connect(studio_home) as c:
        yield c


@pytest.fixture
def project_title(client: LabelStudioClient) -> Iterator[str]:
    """A title no other test uses; its projects are deleted afterwards."""
    title = f"test-{uuid.uuid4().hex[:10]}"
    yield title
    for project in client.list_projects(title=title):
        if project.title == title:
            client.delete_project(project.id)
