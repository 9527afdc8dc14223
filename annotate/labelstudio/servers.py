"""The server processes of the embedded studio: addresses and ports, the commands for Django's server
and gunicorn, and how a running process is recognized as this studio's.
"""

from __future__ import annotations


import importlib.util
import ipaddress
import os
import socket
import sys
from pathlib import Path


from ..errors import StudioError

HOST = "127.0.0.1"
ADDRESS_HINT = "Give an address of this machine (`hostname -I` lists them), or 0.0.0.0 for all of them."
DEVELOPMENT = "development"
PRODUCTION = "production"


def home_paths(root: Path) -> dict[str, Path]:
    """Where a studio home keeps its credentials, Label Studio's data, its log and the server's pid."""
    return {
        "credentials": root / "credentials.json",
        "data": root / "studio",
        "log": root / "studio.log",
        "pid": root / "studio.pid",
    }


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def url_host(host: str) -> str:
    """How a client on this machine reaches a server bound to ``host`` (all addresses: through loopback)."""
    if host == "0.0.0.0":
        return HOST
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def bind_host(host: str) -> str:
    """How a server is told to listen on ``host``: IPv6 in brackets, all addresses kept as all addresses."""
    return f"[{host}]" if ":" in host else host


def loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def bind_address(host: str | None) -> str:
    """The address to listen on: an IP address of this machine (0.0.0.0 for all), 127.0.0.1 by default."""
    if host is None or host.strip() in ("", "localhost"):
        return HOST
    text = host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise StudioError(
            f"{host!r} is not an IP address.",
            ADDRESS_HINT,
        ) from None
    if not address.is_unspecified:
        with socket.socket(family(str(address)), socket.SOCK_STREAM) as s:
            try:
                s.bind((str(address), 0))
            except OSError:
                raise StudioError(
                    f"{address} is not an address of this machine, so the studio cannot listen on it.",
                    ADDRESS_HINT,
                ) from None
    return str(address)


def port_free(port: int, host: str = HOST) -> bool:
    """Whether nothing listens on the port (Label Studio would silently move to another one)."""
    with socket.socket(family(host), socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((url_host(host).strip("[]"), port)) == 0:
            return False
    with socket.socket(family(host), socket.SOCK_STREAM) as s:
        # As the server itself binds: a port whose last connections linger in TIME_WAIT
        # (a studio that just died) is free for it, only a listener makes it busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def read_pid(root: Path) -> int | None:
    try:
        return int(home_paths(root)["pid"].read_text().strip())
    except (OSError, ValueError):
        return None


def process_cmdline(pid: int) -> list[bytes] | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None


def is_ours(pid: int, root: Path) -> bool:
    """Whether the pid is a Label Studio serving this folder's data (pids get reused)."""
    cmdline = process_cmdline(pid)
    if cmdline is None:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid file
    data = str(home_paths(root)["data"]).encode()
    # gunicorn is given the data folder as LABEL_STUDIO_BASE_DATA_DIR=<data> (see _production_command).
    names_data = any(part == data or part.endswith(b"=" + data) for part in cmdline)
    return any(b"label_studio" in part or b"label-studio" in part for part in cmdline) and names_data


def server_kind(pid: int) -> str:
    cmdline = process_cmdline(pid) or []
    return PRODUCTION if any(b"gunicorn" in part for part in cmdline) else DEVELOPMENT


def label_studio_script(name: str, module: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def server_command(data_dir: Path, port: int, host: str = HOST) -> list[str]:
    """Django's development server, as `label-studio start` runs it: one process, loopback only."""
    return label_studio_script("label-studio", "label_studio.server") + [
        "start",
        "--no-browser",
        "--internal-host",
        bind_host(host),  # IPv6 in brackets, as Django's runserver reads it
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]


def init_command(data_dir: Path) -> list[str]:
    """Migrations and the owner's account (from LABEL_STUDIO_USERNAME/PASSWORD/USER_TOKEN): what `start` does first."""
    return label_studio_script("label-studio", "label_studio.server") + [
        "init",
        "--quiet",  # never asks for a user name or password
        "--data-dir",
        str(data_dir),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]


def workers() -> int:
    # Each worker is a whole Label Studio (a few hundred MB): 2 to 4, by cores.
    return max(2, min(4, os.cpu_count() or 2))


def production_command(data_dir: Path, port: int, host: str) -> list[str]:
    """gunicorn serving Label Studio's WSGI app, as its Docker image does; Label Studio serves /static itself."""
    spec = importlib.util.find_spec("label_studio")
    if importlib.util.find_spec("gunicorn") is None or spec is None or not spec.submodule_search_locations:
        raise StudioError(
            "The production server needs gunicorn, which is not installed.",
            f"Install it: `{sys.executable} -m pip install gunicorn`.",
        )
    package = list(spec.submodule_search_locations)[0]
    return label_studio_script("gunicorn", "gunicorn") + [
        "label_studio.core.wsgi:application",
        "--pythonpath",
        package,  # Label Studio imports its apps as top-level modules (core, users...), as label-studio does
        "--bind",
        f"{bind_host(host)}:{port}",
        "--workers",
        str(workers()),
        "--threads",
        "4",
        "--timeout",
        "300",  # a big import or export is one long request
        "--graceful-timeout",
        "10",
        "--no-control-socket",  # else every studio shares ~/.gunicorn/gunicorn.ctl
        # Label Studio's own image serves it with a 64 KB request buffer (uwsgi); gunicorn's
        # default request line of 4,094 bytes refused data-manager queries with HTTP 414.
        "--limit-request-line",
        "8190",
        "--env",
        f"LABEL_STUDIO_BASE_DATA_DIR={data_dir}",  # here, not only in the environment: _is_ours reads it
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
    ]


