"""The embedded Label Studio: start, stop and find a local server with no setup by the user.

Everything lives in a project-local folder, the studio home: ``--home``, else
``$ANNOTATE_HOME``, else ``.annotate/`` in the project root (found walking up from
the working folder, as git finds its repository; see ``annotate.settings``), else
``./.annotate``. It holds the server's data, its log, the pid file and the
credentials file (owner-only). The server binds 127.0.0.1 only and does not
call home. ``connect()`` is how every other command finds a Label Studio.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .client import LabelStudioClient
from .. import settings
from ..errors import AnnotateError, AuthError, PortBusyError, StudioError, UnreachableError

HOST = "127.0.0.1"
DEFAULT_PORT = 8080
ENV_URL = "LABEL_STUDIO_URL"
ENV_KEY = "LABEL_STUDIO_API_KEY"
START_HINT = "Start the embedded studio with `annotate studio start`, or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY."
# What keeps the server from reaching the internet (update check, telemetry, error reports).
QUIET_ENV = {
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    # Nobody can sign up without an invitation link, even on loopback.
    "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
}


@dataclass(frozen=True)
class Credentials:
    """The embedded studio's login and token; stored owner-only, never printed whole."""

    email: str
    password: str
    token: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class StudioStatus:
    running: bool
    url: str
    pid: int | None
    email: str | None
    home: Path
    message: str = ""


ENV_HOME = "ANNOTATE_HOME"


def home(path: str | Path | None = None) -> Path:
    """The studio home: the argument, ``$ANNOTATE_HOME``, ``.annotate/`` of the project root, or ``./.annotate``."""
    chosen = path or os.environ.get(ENV_HOME) or settings.project_root() / settings.STUDIO_DIR
    return Path(chosen).resolve()


def push_cache(path: str | Path | None = None) -> Path:
    """Where push keeps its index of each project's tasks: beside the studio's data, so it goes with that server."""
    return home(path) / "push-index"


def _paths(root: Path) -> dict[str, Path]:
    return {
        "credentials": root / "credentials.json",
        "data": root / "studio",
        "log": root / "studio.log",
        "pid": root / "studio.pid",
    }


def credentials_path(root: Path) -> Path:
    """The owner-only file with the login, password and token of the studio in ``root``."""
    return _paths(root)["credentials"]


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def load_credentials(root: Path) -> Credentials | None:
    path = _paths(root)["credentials"]
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(email=data["email"], password=data["password"], token=data["token"], port=int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise StudioError(
            f"{path}: the credentials file is damaged. Stop the studio, delete {root} to start afresh"
            " (this deletes the embedded studio's projects), or restore the file."
        ) from None


def _save_credentials(root: Path, creds: Credentials) -> None:
    path = _paths(root)["credentials"]
    _private_dir(root)
    # Created owner-only from the start: the token is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(creds), f, indent=2)
    os.chmod(path, 0o600)


def _new_credentials(port: int) -> Credentials:
    return Credentials(
        email="annotator@annotate.local",
        password=secrets.token_urlsafe(18),
        token=secrets.token_hex(20),
        port=port,
    )


def port_free(port: int, host: str = HOST) -> bool:
    """Whether nothing listens on the port (Label Studio would silently move to another one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the server itself binds: a port whose last connections linger in TIME_WAIT
        # (a studio that just died) is free for it, only a listener makes it busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _read_pid(root: Path) -> int | None:
    try:
        return int(_paths(root)["pid"].read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, root: Path) -> bool:
    """Whether the pid is a Label Studio serving this folder's data (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid file
    data = str(_paths(root)["data"]).encode()
    return any(b"label_studio" in part or b"label-studio" in part for part in cmdline) and data in cmdline


def _server_command(data_dir: Path, port: int) -> list[str]:
    script = Path(sys.executable).with_name("label-studio")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "label_studio.server"]
    return head + [
        "start",
        "--no-browser",
        "--internal-host",
        HOST,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]


def status(root: str | Path | None = None) -> StudioStatus:
    root = home(root)
    creds = load_credentials(root)
    pid = _read_pid(root)
    url = creds.url if creds else f"http://{HOST}:{DEFAULT_PORT}"
    if pid is None or not _is_ours(pid, root):
        return StudioStatus(False, url, None, creds.email if creds else None, root, "not running")
    with LabelStudioClient(url, creds.token if creds else "") as client:
        healthy = client.health()
    message = "running" if healthy else "starting or not answering"
    return StudioStatus(healthy, url, pid, creds.email if creds else None, root, message)


def _log_tail(path: Path, token: str, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace(token, "***").splitlines()[-lines:])


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (what creating ``path`` makes); None if it exists."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def start(root: str | Path | None = None, port: int | None = None, timeout: float = 300.0) -> StudioStatus:
    """Start the embedded Label Studio (or find it running) and wait until it answers.

    A first start that fails removes the folders it made: an empty ``.annotate/`` left
    behind would become the project root of every later command run below it.
    """
    root = home(root)
    created = _first_missing(root)
    try:
        return _start(root, port, timeout)
    except BaseException:
        # A server still booting (Ctrl-C: it runs in its own session) keeps its folder, which `stop` needs.
        if created is not None and _read_pid(root) is None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _start(root: Path, port: int | None, timeout: float) -> StudioStatus:
    paths = _paths(root)
    _private_dir(root)
    creds = load_credentials(root)
    current = status(root)
    if current.pid is not None:
        if port is not None and creds and port != creds.port:
            raise StudioError(
                f"The embedded studio already runs at {current.url}; stop it first (`annotate studio stop`)"
                f" to move it to port {port}."
            )
        if not current.running:
            _wait_healthy(root, current.pid, creds, timeout)
        return status(root)
    if creds is None:
        creds = _new_credentials(port or DEFAULT_PORT)
    elif port is not None and port != creds.port:
        creds = Credentials(creds.email, creds.password, creds.token, port)
    if not port_free(creds.port):
        raise PortBusyError(
            f"Port {creds.port} on {HOST} is already in use by another program, so the embedded studio cannot use it.",
            f"Choose a free port: `annotate studio start --port {creds.port + 11}`.",
        )
    _save_credentials(root, creds)
    _private_dir(paths["data"])
    env = dict(os.environ)
    for key in (ENV_URL, ENV_KEY):
        env.pop(key, None)
    env.update(QUIET_ENV)
    # Passed in the environment, not on the command line, so `ps` never shows them.
    env.update(
        {
            "LABEL_STUDIO_USERNAME": creds.email,
            "LABEL_STUDIO_PASSWORD": creds.password,
            "LABEL_STUDIO_USER_TOKEN": creds.token,
        }
    )
    with open(paths["log"], "ab") as log:
        os.chmod(paths["log"], 0o600)
        process = subprocess.Popen(
            _server_command(paths["data"], creds.port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,  # its own process group: `stop` ends it and its children, nothing else
        )
    paths["pid"].write_text(str(process.pid))
    try:
        _wait_healthy(root, process.pid, creds, timeout, process)
    except AnnotateError:
        stop(root)
        raise
    return status(root)


def _wait_healthy(
    root: Path, pid: int, creds: Credentials | None, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    paths = _paths(root)
    url = creds.url if creds else f"http://{HOST}:{DEFAULT_PORT}"
    token = creds.token if creds else ""
    deadline = time.monotonic() + timeout
    with LabelStudioClient(url, token, retries=0) as client:
        while time.monotonic() < deadline:
            exited = process.poll() if process is not None else (None if _is_ours(pid, root) else 1)
            if exited is not None:
                raise StudioError(
                    f"The embedded Label Studio stopped while starting (exit {exited}). Last lines of {paths['log']}:\n"
                    + _log_tail(paths["log"], token)
                )
            if client.health():
                try:
                    client.whoami()
                except AuthError:
                    # Something else answers on our port with other users: never use it.
                    raise StudioError(
                        f"A Label Studio that is not this project's answers at {url}; stop it or choose another port."
                    ) from None
                except UnreachableError:
                    pass
                else:
                    return
            time.sleep(0.5)
    raise StudioError(
        f"The embedded Label Studio did not answer at {url} within {timeout:.0f} s. Last lines of {paths['log']}:\n"
        + _log_tail(paths["log"], token)
    )


def stop(root: str | Path | None = None, timeout: float = 20.0) -> bool:
    """Stop the server this folder started; return whether one was running. Never touches other processes."""
    root = home(root)
    pid_file = _paths(root)["pid"]
    pid = _read_pid(root)
    if pid is None:
        return False
    if not _is_ours(pid, root):
        pid_file.unlink(missing_ok=True)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pid_file.unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child, so it does not linger as a zombie.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def connect(root: str | Path | None = None) -> LabelStudioClient:
    """A client for the Label Studio to use: LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY if set, else the embedded one."""
    url = os.environ.get(ENV_URL, "").strip()
    key = os.environ.get(ENV_KEY, "").strip()
    if url or key:
        if not (url and key):
            missing = ENV_KEY if url else ENV_URL
            raise AuthError(f"{missing} is not set; set both LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, or neither.")
        return LabelStudioClient(
            url, key, unreachable_hint=f"Check that Label Studio runs at {url} (LABEL_STUDIO_URL)."
        )
    root = home(root)
    creds = load_credentials(root)
    if creds is None:
        raise UnreachableError(f"No Label Studio is configured: {root} has no embedded studio yet.", START_HINT)
    return LabelStudioClient(creds.url, creds.token, retries=1, unreachable_hint=START_HINT)
