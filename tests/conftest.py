"""Shared fixtures: one real Label Studio for the whole test session, one project per test.

The server is started by the project's own ``studio.start`` (so the embedded
studio is exercised by every test run) on a free loopback port, with its data
in a temporary folder.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate.labelstudio import studio
from annotate.labelstudio.client import LabelStudioClient

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = ROOT / "seeds"
SCHEMAS = ROOT / "schemas"
DEFAULT_SCHEMA = SCHEMAS / "ace2005_conflict.yaml"
SMALL_SCHEMA = SCHEMAS / "entities_small.yaml"


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


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("studio-home")
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
def plain_studio_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Label Studio without annotate's guard, as on a server annotate does not run: anyone opens everything."""
    home = tmp_path_factory.mktemp("plain-studio")
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
