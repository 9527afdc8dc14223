"""``studio.start(host=...)``: the studio listens on exactly the address asked for, and warns off loopback.

The address is one of this machine's own beyond loopback when it has one (then the production
server serves it), else 127.0.0.2, still loopback but not 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annotate.errors import StudioError
from annotate.labelstudio import servers, studio
from conftest import free_port, migrated_home
from test_cli import run
from test_studio import listening_addresses

pytestmark = pytest.mark.studio


def other_address() -> str:
    """An IPv4 address of this machine other than loopback, else 127.0.0.2."""
    try:
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        shown = ""
    for line in shown.splitlines():
        fields = line.split()
        if "inet" in fields:
            address = fields[fields.index("inet") + 1].split("/")[0]
            if not ipaddress.ip_address(address).is_loopback:
                return address
    return "127.0.0.2"


def proc_hex(address: str) -> str:
    """The address as /proc/net/tcp writes it (little-endian hex)."""
    return socket.inet_aton(address)[::-1].hex().upper()


def refused(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((address, port)) != 0


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory, first_studio: Path) -> Iterator[tuple[Path, studio.StudioStatus]]:
    home = migrated_home(tmp_path_factory.mktemp("host-studio"), first_studio)
    started = studio.start(home, port=free_port(), timeout=300, host=other_address())
    try:
        yield home, started
    finally:
        studio.stop(home)


def test_it_listens_on_exactly_the_address_asked_for(exposed: tuple[Path, studio.StudioStatus]) -> None:
    home, started = exposed
    address, port = other_address(), studio.load_credentials(home).port
    assert started.running and started.host == address and started.url == f"http://{address}:{port}"
    assert listening_addresses(port) == {proc_hex(address)}  # that one, not 0.0.0.0 and not 127.0.0.1
    assert refused("127.0.0.1", port)
    assert httpx.get(f"{started.url}/health").json() == {"status": "UP"}
    with studio.connect(home) as client:
        assert client.whoami()["email"] == "annotator@annotate.local"
    if ipaddress.ip_address(address).is_loopback:
        assert started.server == studio.DEVELOPMENT and started.warning == ""
    else:  # beyond loopback: several gunicorn workers, and a warning in every status while it runs
        assert started.server == studio.PRODUCTION
        assert "reachable from the network" in started.warning and address in started.warning
        assert studio.status(home).warning == started.warning


def test_a_running_studio_is_not_moved_by_a_start_with_another_address(exposed: tuple[Path, studio.StudioStatus]) -> None:
    home, started = exposed
    with pytest.raises(StudioError, match="already runs at .* stop it first .* to move it to 127.0.0.1"):
        studio.start(home, host="127.0.0.1")
    assert studio.start(home).pid == started.pid  # no address given: the running one is found
    assert studio.start(home, host=started.host).pid == started.pid


@pytest.mark.parametrize(
    ("host", "says"),
    [("studio.example.org", "is not an IP address"), ("203.0.113.9", "is not an address of this machine")],
)
def test_an_address_it_cannot_listen_on_is_refused_before_anything_starts(tmp_path: Path, host: str, says: str) -> None:
    with pytest.raises(StudioError, match=says) as refusal:
        studio.start(tmp_path / "home", port=free_port(), host=host)
    assert "0.0.0.0" in (refusal.value.hint or "")
    assert not (tmp_path / "home").exists()


def test_all_addresses_are_reached_through_loopback_and_warned_about() -> None:
    assert studio.bind_address(None) == studio.bind_address("localhost") == "127.0.0.1"
    assert studio.bind_address("0.0.0.0") == "0.0.0.0"
    creds = studio.Credentials("a@b.c", "p" * 20, "t" * 40, 8080, host="0.0.0.0")
    assert creds.url == "http://127.0.0.1:8080"  # where this machine's own commands reach it
    status = studio.StudioStatus(True, creds.url, 1, creds.email, Path("."), "running", host="0.0.0.0")
    assert "server" not in status.details()
    assert "all addresses (0.0.0.0)" in studio._network_warning(creds.url, "0.0.0.0")


def test_studio_status_names_the_server_and_warns_while_reachable_from_the_network(
    exposed: tuple[Path, studio.StudioStatus],
) -> None:
    home, started = exposed
    shown = run("studio", "status", "--home", str(home))
    assert shown.returncode == 0, shown.stderr
    assert f"running: {started.url}" in shown.stdout
    assert f"database: SQLite; server: {started.server}, listening on {started.host}" in shown.stdout
    if started.warning:
        assert "reachable from the network" in shown.stderr and started.host in shown.stderr
    else:
        assert "reachable from the network" not in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (["--database", "mysql"], "Unknown database 'mysql'"),
        (["--database", "postgresql://ann:s3cret-pw@127.0.0.1:1/db"], "Cannot connect to PostgreSQL at postgresql://ann:***@"),
        (["--host", "studio.example.org"], "'studio.example.org' is not an IP address"),
    ],
)
def test_studio_start_refuses_a_bad_database_or_address_with_a_message(tmp_path: Path, option: list[str], says: str) -> None:
    done = run("studio", "start", "--home", str(tmp_path / "home"), "--port", str(free_port()), *option)
    assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr and "s3cret-pw" not in done.stdout + done.stderr
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(("host", "bind"), [("0.0.0.0", "0.0.0.0:8080"), ("::", "[::]:8080"), ("192.0.2.7", "192.0.2.7:8080")])
def test_gunicorn_is_told_to_listen_on_the_address_itself(host: str, bind: str) -> None:
    # Not the address this machine's own commands use to reach it: `::` is every address, not [::1].
    command = servers.production_command(Path("/data"), 8080, host)
    assert command[command.index("--bind") + 1] == bind
