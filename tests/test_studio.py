"""The embedded studio and how commands find and authenticate to a Label Studio."""

from __future__ import annotations

import logging
import os
import pty
import select
import socket
import stat
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from annotate import push
from annotate.labelstudio import studio
from annotate.cli import main
from annotate.labelstudio.client import LabelStudioClient
from annotate.errors import AuthError, PortBusyError, StudioError, UnreachableError
from conftest import SEEDS, SMALL_SCHEMA, free_port, migrated_home
from test_cli import run

pytestmark = pytest.mark.studio


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening socket on the port, read from /proc/net/tcp{,6}."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_studio_runs_on_loopback_only_with_private_credentials(studio_home: Path, credentials, first_studio: Path) -> None:
    status = studio.status(studio_home)
    assert status.running and status.url == f"http://127.0.0.1:{credentials.port}"
    assert listening_addresses(credentials.port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0
    # The credentials a first start made from nothing (this studio runs on a copy of that one's).
    for home in (first_studio, studio_home):
        assert stat.S_IMODE((home / "credentials.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert len(credentials.token) == 40 and len(credentials.password) >= 20
    with studio.connect(studio_home) as client:
        assert client.server_info().version == "1.23.2"
        assert client.whoami()["email"] == credentials.email


def _answer_time(port: int, keep_alive: socket.socket | None) -> float:
    """Seconds from sending GET /health to holding the whole answer, on a kept-alive or a new connection."""
    conn = keep_alive or socket.create_connection(("127.0.0.1", port))
    close = b"" if keep_alive else b"Connection: close\r\n"
    started = time.monotonic()
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + close + b"\r\n")
    got = b""
    while b'"UP"' not in got:
        got += conn.recv(65536)
    took = time.monotonic() - started
    if keep_alive is None:
        conn.close()
    return took


def test_answers_on_a_kept_alive_connection_do_not_wait_for_a_delayed_ack(studio_home: Path, credentials) -> None:
    """Django's development server wrote headers and body apart with Nagle's algorithm on: the body
    waited for the client's delayed ACK, 40 ms (Linux's least) on every request of a kept-alive
    connection, as the editor and annotate's client use. Interleaved, so load slows both kinds alike."""
    kept, fresh = [], []
    with socket.create_connection(("127.0.0.1", credentials.port)) as conn:
        for _ in range(15):
            kept.append(_answer_time(credentials.port, conn))
            fresh.append(_answer_time(credentials.port, None))
    assert statistics.median(kept) < statistics.median(fresh) + 0.025, (kept, fresh)


def test_busy_port_is_reported_not_silently_moved(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with pytest.raises(PortBusyError, match=f"Port {port} on 127.0.0.1 is already in use"):
            studio.start(tmp_path / "home", port=port)
    assert studio.status(tmp_path / "home").pid is None
    assert not (tmp_path / "home").exists()  # a failed first start leaves no folder behind


def test_a_failed_first_start_from_a_subfolder_leaves_no_studio_home(tmp_path: Path) -> None:
    """An empty .annotate/ left behind would become the project root of every later command below it."""
    root = tmp_path / "project"
    (root / "notes").mkdir(parents=True)
    (root / "annotate.toml").write_text("")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        done = run("studio", "start", "--port", str(port), cwd=root / "notes")
    assert done.returncode == 1 and f"Port {port} on 127.0.0.1 is already in use" in done.stderr
    assert f"Starting Label Studio in {root.resolve() / '.annotate'}" in done.stderr  # the root's, not the subfolder's
    assert sorted(p.name for p in root.rglob("*")) == ["annotate.toml", "notes"]


def test_a_server_that_fails_to_come_up_takes_its_new_folders_with_it(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    with pytest.raises(StudioError, match="did not answer"):
        studio.start(home, port=free_port(), timeout=0.5)  # it is started, then stopped unanswered
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(StudioError, match="did not answer"):
        studio.start(existing, port=free_port(), timeout=0.5)
    assert (existing / "keep.txt").read_text() == "mine"  # a folder it did not make is left in place


def test_stop_never_ends_a_process_it_did_not_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (home / "studio.pid").write_text(str(other.pid))  # a stale pid file now naming another program
        assert studio.stop(home) is False
        assert other.poll() is None
        assert not (home / "studio.pid").exists()
    finally:
        other.kill()
        other.wait()


def test_start_status_stop_cycle_of_a_second_studio(tmp_path: Path, first_studio: Path) -> None:
    home = migrated_home(tmp_path / "second", first_studio)  # its first boot is the run's first studio's
    port = free_port()
    started = studio.start(home, port=port, timeout=300)
    try:
        assert started.running and started.pid is not None
        again = studio.start(home)  # already running: found, not started twice
        assert again.pid == started.pid
        with studio.connect(home) as client:
            assert client.whoami()["email"] == "annotator@annotate.local"
    finally:
        assert studio.stop(home) is True
    assert not studio.status(home).running
    with pytest.raises(UnreachableError, match=f"Cannot reach Label Studio at http://127.0.0.1:{port}"):
        with studio.connect(home) as client:
            client.whoami()


def test_environment_points_at_another_label_studio(
    credentials, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(studio.ENV_URL, credentials.url)
    monkeypatch.setenv(studio.ENV_KEY, credentials.token)
    with studio.connect(tmp_path / "no-embedded-studio-here") as client:
        assert client.whoami()["email"] == credentials.email
    monkeypatch.delenv(studio.ENV_KEY)
    with pytest.raises(AuthError, match="LABEL_STUDIO_API_KEY is not set"):
        studio.connect(tmp_path)


def test_no_studio_configured_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", str(SEEDS), "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "annotate studio start" in err and "Traceback" not in err


def test_unreachable_url_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(studio.ENV_URL, url)
    monkeypatch.setenv(studio.ENV_KEY, "0" * 40)
    assert main(["push", str(SEEDS)]) == 1
    err = capsys.readouterr().err
    assert f"Cannot reach Label Studio at {url}" in err and "LABEL_STUDIO_URL" in err and "Traceback" not in err


def test_wrong_token_is_rejected_without_showing_it(
    credentials, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "f" * 40
    monkeypatch.setenv(studio.ENV_URL, credentials.url)
    monkeypatch.setenv(studio.ENV_KEY, wrong)
    assert main(["push", str(SEEDS)]) == 1
    err = capsys.readouterr().err
    assert "rejected the API token" in err and wrong not in err and "Traceback" not in err


def test_personal_access_token_works_and_legacy_disabled_is_explained(
    client: LabelStudioClient, credentials, project_title: str
) -> None:
    pat = client.create_personal_access_token()
    assert pat.startswith("eyJ")
    with LabelStudioClient(credentials.url, pat) as by_pat:
        assert by_pat.whoami()["email"] == credentials.email
        report = push.push(by_pat, [SEEDS], title=project_title, schema_path=SMALL_SCHEMA)
        assert len(report.imported) == 1
        by_pat.set_token_settings(legacy=False)
        try:
            with LabelStudioClient(credentials.url, credentials.token) as legacy:
                with pytest.raises(AuthError) as refused:
                    legacy.whoami()
            assert "legacy API tokens disabled" in refused.value.message
            assert "personal access token" in (refused.value.hint or "")
            assert credentials.token not in str(refused.value)
        finally:
            by_pat.set_token_settings(legacy=True)
    with LabelStudioClient(credentials.url, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl") as forged:
        with pytest.raises(AuthError, match="rejected the personal access token"):
            forged.whoami()


def test_cli_push_prints_project_and_never_the_token(
    studio_home: Path, credentials, project_title: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = main(["push", str(SEEDS), "--project", project_title, "--home", str(studio_home)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"Project '{project_title}'" in out.out and "1 imported" in out.out
    assert main(["push", str(SEEDS), "--project", project_title, "--home", str(studio_home)]) == 0
    again = capsys.readouterr()
    assert "0 imported" in again.out and "1 already there" in again.out
    everything = out.out + out.err + again.out + again.err + caplog.text
    assert credentials.token not in everything and credentials.password not in everything


def test_cli_status_and_env_file_modes(studio_home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["studio", "status", "--home", str(studio_home)]) == 0
    assert "running: http://127.0.0.1:" in capsys.readouterr().out
    assert main(["studio", "status", "--home", str(tmp_path)]) == 3
    assert main(["studio", "stop", "--home", str(tmp_path)]) == 0
    assert "not running" in capsys.readouterr().out
    assert os.access(studio_home / "credentials.json", os.R_OK)


def test_start_never_prints_the_password_and_shows_it_on_a_terminal_only(
    studio_home: Path, credentials, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["studio", "start", "--home", str(studio_home)]) == 0  # already running: prints the login
    out = capsys.readouterr()
    assert credentials.password not in out.out + out.err
    assert str(studio_home / "credentials.json") in out.out and "studio password" in out.out

    assert main(["studio", "password", "--home", str(studio_home)]) == 1  # a pipe or a log: refused
    out = capsys.readouterr()
    assert credentials.password not in out.out + out.err and "on a terminal only" in out.err

    leader, follower = pty.openpty()
    command = [sys.executable, "-c", "from annotate.cli import run; run()", "studio", "password", "--home", str(studio_home)]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE, timeout=60)
    os.close(follower)
    shown = b""
    while select.select([leader], [], [], 0.5)[0]:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert done.returncode == 0, done.stderr
    assert credentials.password in shown.decode()


def test_a_port_whose_last_connections_linger_is_free(tmp_path: Path) -> None:
    """A studio that just died leaves its port in TIME_WAIT; the server can bind it, so the probe must say free."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Label Studio's server (socketserver) binds
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    peer = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server's side closes first: its end of the connection waits in TIME_WAIT
    peer.close()
    server.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the probe did before: the lingering connection looks like a stranger
    assert studio.port_free(port)


def test_status_from_a_subfolder_finds_the_running_studio_and_names_its_home(studio_home: Path, credentials, tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".annotate").symlink_to(studio_home, target_is_directory=True)  # the session's studio as this project's
    done = run("studio", "status", cwd=root / "a" / "b")
    assert done.returncode == 0, done.stderr
    pid = studio.status(studio_home).pid
    assert done.stdout == (
        f"running: {credentials.url} (pid {pid}, studio home {studio_home.resolve()})\n"
        "  database: SQLite; server: development, listening on 127.0.0.1\n"
    )
    stranger = tmp_path / "elsewhere"
    stranger.mkdir()
    (stranger / ".annotate").mkdir()
    done = run("studio", "status", cwd=stranger)
    assert done.returncode == 3 and done.stdout == f"not running (studio home {stranger.resolve() / '.annotate'})\n  database: SQLite\n"


def test_start_and_up_say_the_studio_already_runs_instead_of_starting_it(
    studio_home: Path, credentials, project_title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["studio", "start", "--home", str(studio_home)]) == 0
    err = capsys.readouterr().err
    assert f"Label Studio already runs at {credentials.url}" in err and "Starting" not in err
    home = ["--home", str(studio_home)]
    assert main(["up", str(SEEDS), "--project", project_title, "--schema", str(SMALL_SCHEMA), *home]) == 0
    out = capsys.readouterr()
    assert f"Label Studio already runs at {credentials.url}" in out.err and "Starting" not in out.err
    assert f"Project '{project_title}'" in out.out
