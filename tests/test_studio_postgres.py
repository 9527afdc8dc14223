"""The embedded studio on PostgreSQL, served by the production server: real clusters, real Label Studio.

One studio for the session (``team_studio_home``: a private cluster, gunicorn on 127.0.0.1, shared
with the browser test); the last test here stops it and starts it again. A second studio uses a throwaway
cluster by its URL, as a PostgreSQL the user runs, holding a copy of the team studio's first start.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from annotate import export, pull, push, schema, team
from annotate.errors import StudioError
from annotate.labelstudio import postgres, studio
from annotate.models import ExportConfig
from conftest import DEFAULT_SCHEMA, SEEDS, SMALL_SCHEMA, copy_team_studio, free_port
from test_studio import listening_addresses
from test_validate import answer, region, span

pytestmark = pytest.mark.studio
SCHEMA = schema.load(DEFAULT_SCHEMA)


@pytest.fixture
def pg_home(team_studio_home: Path) -> Path:
    return team_studio_home


def creds_of(home: Path) -> studio.Credentials:
    creds = studio.load_credentials(home)
    assert creds is not None
    return creds


def group_alive(pid: int) -> bool:
    """Whether any process of the group (a server and its workers) is left, zombies aside."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid and fields[0] != "Z":  # fields: state, ppid, pgrp
            return True
    return False


def test_status_names_the_private_cluster_and_the_production_server(pg_home: Path) -> None:
    pg_creds = creds_of(pg_home)
    status = studio.status(pg_home)
    assert status.running and status.server == studio.PRODUCTION and status.warning == ""  # loopback: no warning
    assert status.database == f"PostgreSQL (private cluster in {pg_home / 'postgres'})"
    assert status.database_pid is not None and status.database_pid == postgres.running(pg_home)
    assert "database: PostgreSQL" in status.details() and "server: production, listening on 127.0.0.1" in status.details()
    assert listening_addresses(pg_creds.port) == {"0100007F"}
    saved = json.loads((pg_home / "credentials.json").read_text())
    assert saved["database"] == "postgresql" and len(saved["postgres_password"]) >= 30
    for secret in (pg_creds.password, pg_creds.token, pg_creds.postgres_password):
        assert secret not in repr(pg_creds) and secret not in repr(status)


def test_the_cluster_is_owner_only_on_a_socket_in_the_studio_home(pg_home: Path) -> None:
    pg_creds = creds_of(pg_home)
    import psycopg

    folder = pg_home / "postgres"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((pg_home / "credentials.json").stat().st_mode) == 0o600
    assert (folder / ".s.PGSQL.5432").is_socket() and not list(folder.glob(".initdb-password"))
    conninfo = {"host": str(folder), "port": 5432, "user": "annotate", "dbname": "label_studio"}
    with psycopg.connect(**conninfo, password=pg_creds.postgres_password) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)  # no TCP at all
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        assert conn.execute("SELECT count(*) FROM htx_user").fetchone()[0] >= 1  # Label Studio's tables are here
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**conninfo, password="not-the-password")
    for log in (pg_home / "studio.log", folder / "postgres.log"):
        assert pg_creds.postgres_password not in log.read_text(errors="replace")


def test_the_production_server_serves_health_static_files_and_the_editor(pg_home: Path) -> None:
    pg_creds = creds_of(pg_home)
    url = pg_creds.url
    assert httpx.get(f"{url}/health").json() == {"status": "UP"}
    assert httpx.get(f"{url}/static/images/favicon.ico").status_code == 200
    assert httpx.get(f"{url}/react-app/main.js").headers["content-type"].endswith("javascript")
    with studio.connect(pg_home) as client:
        project = push.push(client, [SEEDS], title="editor-page", schema_path=SMALL_SCHEMA).project
    with team.login(url, pg_creds.email, pg_creds.password) as session:
        page = session._http.get(f"/projects/{project.id}/data")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="(/(?:static|react-app)/[^"]+)"', page.text)
        assert "/react-app/main.js" in " ".join(assets) and any(a.startswith("/static/") for a in assets)
        for asset in assets:  # the editor's scripts, styles, fonts and images, as a browser loads them
            assert session._http.get(asset).status_code == 200, asset


def test_push_pull_export_round_trip(pg_home: Path, tmp_path: Path) -> None:
    with studio.connect(pg_home) as client:
        report = push.push(client, [SEEDS], title="round-trip")
        assert len(report.imported) == 1
        task = next(client.iter_tasks(report.project.id))
        text = task["data"]["text"]
        client.create_annotation(task["id"], [region("m", "GPE", *span(text, "منبج"), "منبج"), answer()])
        pulled = pull.pull(client, title="round-trip", schema=SCHEMA, root=tmp_path / "pulled")
    assert pulled.tasks == 1 and pulled.annotations == 1
    out = tmp_path / "gold"
    export.export("round-trip", out, ExportConfig(format="jsonl"), schema=SCHEMA, root=tmp_path / "pulled")
    rows = [json.loads(line) for f in (out / "jsonl").glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1 and ("GPE", "منبج") in {(e["type"], e["text"]) for e in rows[0]["entities"]}


def test_seven_digit_task_ids_travel_in_requests_the_production_server_accepts(pg_home: Path, tmp_path: Path) -> None:
    """Past 10,000 tasks a pull failed with HTTP 414: 500 ids in one query string are more than gunicorn's
    default 4,094-byte request line. Ids now go in chunks that fit, and gunicorn takes the longer lines
    Label Studio's own frontend may send."""
    import psycopg

    from test_push import synthetic

    conninfo = {"host": str(pg_home / "postgres"), "port": 5432, "user": "annotate", "dbname": "label_studio"}
    with psycopg.connect(**conninfo, password=creds_of(pg_home).postgres_password) as conn:
        conn.execute("SELECT setval('task_id_seq', GREATEST(2000000, (SELECT coalesce(max(id), 0) FROM task)))")
    title = f"big-ids-{secrets.token_hex(4)}"
    with studio.connect(pg_home) as client:
        pid = push.push_articles(client, synthetic(700), title=title, schema=SCHEMA).project.id
        ids = [t["id"] for t in client.iter_tasks(pid, include="id")]
        assert len(ids) == 700 and min(ids) > 2_000_000
        assert [t["id"] for t in client.iter_tasks(pid, include="id", ids=ids)] == ids
        assert set(client.task_work(pid, ids)) == set(ids)
        for task_id in ids[:3] + ids[-3:]:
            client.create_annotation(task_id, [answer()])
        pulled = pull.pull(client, title=title, schema=SCHEMA, root=tmp_path / "pulled", full=True)
        assert pulled.tasks == 700 and pulled.annotations == 6
        client.delete_project(pid)
    # A request line of 6,000 bytes (over gunicorn's default, under the 8,190 it is given) is answered.
    long_query = quote(json.dumps({"selectedItems": {"all": False, "included": list(range(3_000_000, 3_000_600))}}))
    assert len(long_query) > 6000
    answered = httpx.get(f"{client.url}/api/tasks/?project={pid}&query={long_query[:6000]}", timeout=30)
    assert answered.status_code != 414


def test_a_stopped_private_postgresql_under_a_running_studio_is_named_and_started_again(pg_home: Path, tmp_path: Path) -> None:
    """The cluster stopped under a running studio: every request was an HTTP 500 and `studio status` said
    "starting or not answering", naming neither PostgreSQL nor what to do."""
    from test_cli import run

    assert postgres.stop(pg_home)
    home = ["--home", str(pg_home)]
    try:
        status = studio.status(pg_home)
        assert not status.running and status.pid is not None
        assert "its database, PostgreSQL (private cluster in" in status.message and "is stopped" in status.message
        shown = run("studio", "status", *home, cwd=tmp_path)
        assert shown.returncode == 3 and "is stopped" in shown.stdout and "`annotate studio start` starts the database again" in shown.stdout
        pulled = run("pull", "--project", "round-trip", "--pulled", str(tmp_path / "pulled"), *home, cwd=tmp_path)
        assert pulled.returncode == 1 and "Traceback" not in pulled.stderr
        assert "runs, but its database, PostgreSQL (private cluster in" in pulled.stderr and "Run `annotate studio start`" in pulled.stderr
        started = run("studio", "start", *home, cwd=tmp_path, timeout=300)
        assert started.returncode == 0, started.stderr
    finally:
        studio.start(pg_home, timeout=300)  # whatever happened above, the next tests find it running
    assert studio.status(pg_home).running and postgres.running(pg_home) is not None
    with studio.connect(pg_home) as client:
        assert client.whoami()["email"] == creds_of(pg_home).email


def test_a_studio_made_on_postgresql_refuses_another_database(pg_home: Path) -> None:
    with pytest.raises(StudioError, match="keeps its data in PostgreSQL .*cannot start on SQLite"):
        studio.start(pg_home, database="sqlite")
    assert studio.status(pg_home).running


def test_stop_ends_both_servers_and_a_new_start_finds_the_data(pg_home: Path) -> None:
    """Last in this module: it stops the module's studio and starts it again."""
    with studio.connect(pg_home) as client:
        project = push.push(client, [SEEDS], title="kept", schema_path=SMALL_SCHEMA).project
    before = studio.status(pg_home)
    assert before.pid is not None and before.database_pid is not None
    assert studio.stop(pg_home) is True
    assert not group_alive(before.pid) and not group_alive(before.database_pid)  # gunicorn's workers too
    after = studio.status(pg_home)
    assert not after.running and after.database_pid is None and after.server == ""
    assert not (pg_home / "postgres" / ".s.PGSQL.5432").exists()
    assert studio.stop(pg_home) is False

    again = studio.start(pg_home, timeout=300)  # no option: the database it was made with, served by gunicorn as always on PostgreSQL
    assert again.running and again.database_pid is not None and again.server == studio.PRODUCTION
    with studio.connect(pg_home) as client:
        assert client.get_project(project.id).title == "kept"
        assert push.push(client, [SEEDS], title="kept", schema_path=SMALL_SCHEMA).unchanged == 1


# --- a PostgreSQL the user runs, by its URL ---------------------------------------------------


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A throwaway cluster standing for the user's own server; yields its folder and its password."""
    root = tmp_path_factory.mktemp("outside")
    password = "p@ss/" + secrets.token_urlsafe(12)  # characters a URL must escape
    postgres.start(root, password)
    try:
        yield root, password
    finally:
        postgres.stop(root)


def url_of(root: Path, password: str) -> str:
    return f"postgresql://annotate:{quote(password, safe='')}@/label_studio?host={quote(str(root / 'postgres'))}"


def test_a_wrong_url_password_is_refused_before_anything_starts_and_never_shown(
    outside: tuple[Path, str], tmp_path: Path
) -> None:
    root, password = outside
    wrong = "wrong-" + secrets.token_urlsafe(8)
    with pytest.raises(StudioError) as refused:
        studio.start(tmp_path / "home", port=free_port(), database=url_of(root, wrong))
    assert "Cannot connect to PostgreSQL at postgresql://annotate:***@" in str(refused.value)
    assert wrong not in str(refused.value) and password not in str(refused.value)
    assert not (tmp_path / "home").exists()


def test_a_postgresql_the_user_runs_is_used_by_url_and_left_running(
    outside: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
    team_studio_home: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    caplog.set_level(logging.DEBUG)
    root, password = outside
    url = url_of(root, password)
    # Its database holds the team studio's first start (a first boot that migrates is that one's to test).
    home = copy_team_studio(tmp_path_factory, team_studio_home, tmp_path / "home", postgres.from_url(url))
    started = studio.start(home, port=free_port(), timeout=300, database=url)
    try:
        # Without --production: PostgreSQL is served by gunicorn all the same (Django's server had no bound on connections).
        assert started.running and started.server == studio.PRODUCTION and started.database_pid is None
        assert started.database.startswith("PostgreSQL at postgresql://annotate:***@/label_studio?host=")
        assert not (home / "postgres").exists()  # nothing of its own
        with studio.connect(home) as client:
            assert len(push.push(client, [SEEDS], title="by-url", schema_path=SMALL_SCHEMA).imported) == 1
        assert studio.start(home, database=url).pid == started.pid  # the same URL: found running
        with pytest.raises(StudioError, match="cannot start on PostgreSQL at postgresql://annotate:\\*\\*\\*@/other"):
            studio.start(home, database=url.replace("/label_studio?", "/other?"))
        shown = repr(studio.status(home)) + studio.status(home).details()
    finally:
        assert studio.stop(home) is True
    assert postgres.running(root) is not None  # the user's server is theirs to stop
    assert creds_of(home).database == url  # remembered, owner-only
    out = capsys.readouterr()
    for text in (shown, out.out, out.err, caplog.text, (home / "studio.log").read_text(errors="replace")):
        assert password not in text and quote(password, safe="") not in text


# --- no servers -----------------------------------------------------------------------


def test_missing_postgresql_programs_say_how_to_install_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(postgres, "DEBIAN_RELEASES", tmp_path / "no-postgresql")
    with pytest.raises(StudioError) as missing:
        studio.start(tmp_path / "home", port=free_port(), database="postgresql")
    assert "initdb, pg_ctl" in missing.value.message and "apt-get install postgresql" in (missing.value.hint or "")
    assert not (tmp_path / "home").exists()


def test_an_old_credentials_file_loads_as_a_sqlite_studio_on_loopback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    old = {"email": "annotator@annotate.local", "password": "x" * 24, "token": "a" * 40, "port": 8123}
    (home / "credentials.json").write_text(json.dumps(old))
    os.chmod(home / "credentials.json", 0o600)
    creds = studio.load_credentials(home)
    assert creds is not None and creds.url == "http://127.0.0.1:8123" and creds.database == "sqlite"
    assert creds.postgres_password == "" and studio.status(home).database == "SQLite"
    with pytest.raises(StudioError, match="keeps its data in SQLite; it cannot start on PostgreSQL"):
        studio.start(home, database="postgresql")
    with pytest.raises(StudioError, match="Unknown database 'mysql://root:\\*\\*\\*@db/ls'"):
        studio.start(home, database="mysql://root:hunter2@db/ls")
