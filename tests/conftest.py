"""Shared fixtures: one real Label Studio for the whole test session, one project per test.

The server is started by the project's own ``studio.start`` (so the embedded
studio is exercised by every test run) on a free loopback port, with its data
in a temporary folder.

Label Studio's migrations take 40 s of one core on every first boot, and a run boots
several studios on each worker. So the run migrates one SQLite database once (every
worker waits for the first to make it), and the session's SQLite studios start on a
copy of it: the same `studio.start`, whose migration step then finds nothing to do.
A first boot that migrates is still tested, by ``test_studio``'s second studio and by
every PostgreSQL studio.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from annotate.labelstudio import servers, studio
from annotate.labelstudio.client import LabelStudioClient

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = ROOT / "seeds"
SCHEMAS = ROOT / "schemas"
DEFAULT_SCHEMA = SCHEMAS / "ace2005_conflict.yaml"
SMALL_SCHEMA = SCHEMAS / "entities_small.yaml"


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
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with every Label Studio migration applied and no user: made once per run."""
    shared = run_folder(tmp_path_factory)
    made = shared / "migrated.sqlite3"
    with run_lock(shared / "migrated.lock"):
        if not made.exists():
            data = shared / "migrating"
            shutil.rmtree(data, ignore_errors=True)
            env = {k: v for k, v in os.environ.items() if not k.endswith(("USERNAME", "PASSWORD", "USER_TOKEN"))}
            env.update(studio.QUIET_ENV, DJANGO_SETTINGS_MODULE=studio.PLAIN_SETTINGS)
            # `label-studio init` without a user name: the migrations `studio.start` runs, and no account.
            subprocess.run(servers.init_command(data), env=env, check=True, timeout=600, capture_output=True)
            (data / "label_studio.sqlite3").rename(made)
    return made


def migrated_home(home: Path, database: Path) -> Path:
    """A studio home whose first start finds its database migrated already."""
    data = servers.home_paths(home)["data"]
    data.mkdir(parents=True)
    shutil.copyfile(database, data / "label_studio.sqlite3")
    return home


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Path]:
    home = migrated_home(tmp_path_factory.mktemp("studio-home"), migrated_database)
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
        yield home
    finally:
        studio.stop(home)


@pytest.fixture(scope="session")
def plain_studio_home(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Path]:
    """A Label Studio without annotate's guard, as on a server annotate does not run: anyone opens everything."""
    home = migrated_home(tmp_path_factory.mktemp("plain-studio"), migrated_database)
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
