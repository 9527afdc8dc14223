"""The embedded Label Studio: start, stop and find a local server with no setup by the user.

Everything lives in a project-local folder, the studio home: ``--home``, else
``$ANNOTATE_HOME``, else ``.annotate/`` in the project root (found walking up from
the working folder, as git finds its repository; see ``annotate.settings``), else
``./.annotate``. It holds the server's data, its log, the pid file and the
credentials file (owner-only). The server binds 127.0.0.1 unless told another
address, and does not call home. ``connect()`` is how every other command finds a
Label Studio.

Its database is SQLite, or PostgreSQL: a private cluster in the studio home
(``postgres.py``), started before Label Studio and stopped after it, or a server the
user runs (a URL). The choice is kept in the credentials file, so later starts use
the data it was made with. Off loopback, or when asked, Label Studio is served by
gunicorn (several workers) instead of Django's development server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import guard as guard_mod, postgres
from .client import LabelStudioClient
from .credentials import (  # noqa: F401  (studio.Credentials and load_credentials are read by callers)
    Credentials,
    credentials_path,
    load_credentials,
    new_credentials,
    private_dir,
    save_credentials,
)
from .servers import (  # noqa: F401  (studio.HOST and the others are read by callers)
    bind_address,
    home_paths,
    port_free,
    DEVELOPMENT,
    HOST,
    PRODUCTION,
    init_command,
    is_ours,
    loopback,
    production_command,
    read_pid,
    server_command,
    server_kind,
    url_host,
)
from .. import settings
from ..errors import AnnotateError, AuthError, PortBusyError, StudioError, UnreachableError

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
    # Label Studio's settings log at DEBUG without it; set for both servers alike.
    "LOG_LEVEL": "WARNING",
}
# Label Studio's own settings, and the same with annotate's studio guard (``guard.py``) added: the default.
PLAIN_SETTINGS = "annotate.labelstudio.studio_settings"
GUARD_SETTINGS = "annotate.labelstudio.guard_settings"
NETWORK_WARNING = (
    "WARNING: the studio is reachable from the network at {url} (it listens on {where}). Anyone who can reach"
    " this machine sees its login page; only you and the people you add can log in, but the traffic is plain"
    " HTTP: serve it behind HTTPS (a reverse proxy) or keep it to a trusted network or VPN."
)


@dataclass(frozen=True)
class StudioStatus:
    running: bool
    url: str
    pid: int | None
    email: str | None
    home: Path
    message: str = ""
    database: str = "SQLite"  # which database, as the user reads it (never a password)
    database_pid: int | None = None  # the private PostgreSQL cluster's server, while it runs
    server: str = ""  # DEVELOPMENT (Django's) or PRODUCTION (gunicorn), while Label Studio runs
    host: str = HOST  # the address it listens on
    warning: str = ""  # set while it is reachable from the network

    def details(self) -> str:
        """One line for `studio status`: the database and, while running, the server and its address."""
        running = f"; server: {self.server}, listening on {self.host}" if self.server else ""
        pid = f", pid {self.database_pid}" if self.database_pid else ""
        return f"database: {self.database}{pid}{running}"


ENV_HOME = "ANNOTATE_HOME"


def home(path: str | Path | None = None) -> Path:
    """The studio home: the argument, ``$ANNOTATE_HOME``, ``.annotate/`` of the project root, or ``./.annotate``."""
    chosen = path or os.environ.get(ENV_HOME) or settings.project_root() / settings.STUDIO_DIR
    return Path(chosen).resolve()


def push_cache(path: str | Path | None = None) -> Path:
    """Where push keeps its index of each project's tasks: beside the studio's data, so it goes with that server."""
    return home(path) / "push-index"




def _database_status(root: Path, creds: Credentials | None) -> tuple[str, int | None]:
    choice = (creds.database if creds else "") or postgres.SQLITE
    return postgres.describe_choice(choice, root), postgres.running(root)


def status(root: str | Path | None = None) -> StudioStatus:
    root = home(root)
    creds = load_credentials(root)
    pid = read_pid(root)
    url = creds.url if creds else f"http://{HOST}:{DEFAULT_PORT}"
    host = creds.host if creds else HOST
    database, database_pid = _database_status(root, creds)
    email = creds.email if creds else None
    if pid is None or not is_ours(pid, root):
        return StudioStatus(False, url, None, email, root, "not running", database, database_pid, host=host)
    if _cluster_stopped(root, creds):
        message = DATABASE_STOPPED.format(where=database)
        return StudioStatus(False, url, pid, email, root, message, database, None, server_kind(pid), host)
    with LabelStudioClient(url, creds.token if creds else "") as client:
        healthy = client.health()
    message = "running" if healthy else "starting or not answering"
    warning = "" if loopback(host) else _network_warning(url, host)
    return StudioStatus(healthy, url, pid, email, root, message, database, database_pid, server_kind(pid), host, warning)


DATABASE_STOPPED = (
    "running, but its database, {where}, is stopped: Label Studio answers every request with an error"
    " (HTTP 500). `annotate studio start` starts the database again"
)


def _cluster_stopped(root: Path, creds: Credentials | None) -> bool:
    """Whether the studio keeps its data in the private PostgreSQL cluster and that cluster is not running."""
    return creds is not None and creds.database == postgres.POSTGRESQL and postgres.running(root) is None


def _network_warning(url: str, host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return NETWORK_WARNING.format(url=f"http://<this machine's address>:{url.rsplit(':', 1)[1]}", where=f"all addresses ({host})")
    return NETWORK_WARNING.format(url=url, where=host)


def _log_tail(path: Path, hidden: list[str], lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for secret in hidden:
        text = text.replace(secret, "***")
    return "\n".join(text.splitlines()[-lines:])


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (what creating ``path`` makes); None if it exists."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def start(
    root: str | Path | None = None,
    port: int | None = None,
    timeout: float = 300.0,
    *,
    database: str | None = None,
    host: str | None = None,
    production: bool = False,
    guard: bool = True,
) -> StudioStatus:
    """Start the embedded Label Studio (or find it running) and wait until it answers.

    ``database``: "sqlite" (the default), "postgresql" (a private cluster in the studio home) or
    the URL of a PostgreSQL the user runs; by default the one the studio's data was made with.
    ``host``: the address to listen on (127.0.0.1 by default); off loopback, or with ``production``,
    gunicorn serves it instead of Django's development server, and the status carries a warning.
    ``guard``: the studio guard (``guard.py``) enforces the team's roles; off only to measure what it costs.

    A first start that fails removes the folders it made: an empty ``.annotate/`` left
    behind would become the project root of every later command run below it.
    """
    root = home(root)
    if port is not None and not 1 <= port <= 65535:
        # Port 0 would be taken for "not given" further on, and a port past 65535 overflows the socket call.
        raise StudioError(f"--port {port}: give a port from 1 to 65535.", "For example `annotate studio start --port 8080`.")
    created = _first_missing(root)
    try:
        return _start(root, port, timeout, database, host, production, guard)
    except BaseException:
        # A server still booting (Ctrl-C: it runs in its own session) keeps its folder, which `stop` needs.
        if created is not None and read_pid(root) is None:
            postgres.stop(root)  # a private cluster this start made must not outlive its folder
            shutil.rmtree(created, ignore_errors=True)
        raise


def _database_choice(root: Path, creds: Credentials | None, requested: str | None) -> str:
    """The database to start on: the one asked for, else the one the data was made with, else SQLite."""
    made = creds.database if creds else ""
    if requested is None:
        return made or postgres.SQLITE
    wanted = postgres.parse_choice(requested)
    if made and not postgres.same_database(made, wanted):
        raise StudioError(
            f"The studio in {root} keeps its data in {postgres.describe_choice(made, root)}; it cannot start on"
            f" {postgres.describe_choice(wanted, root)}.",
            "Start it without --database (it remembers its own), or start a new studio elsewhere (--home)"
            " and move the projects over (see docs/operator.md: moving from SQLite to PostgreSQL).",
        )
    return wanted  # a URL given again may carry a new password


def _already_running(current: StudioStatus, creds: Credentials | None, port: int | None, host: str | None, production: bool) -> None:
    """Refuse, rather than ignore, a start that asks for another port, address or server than the running one."""
    stop_first = f"The embedded studio already runs at {current.url}; stop it first (`annotate studio stop`)"
    if port is not None and creds and port != creds.port:
        raise StudioError(f"{stop_first} to move it to port {port}.")
    if host is not None and creds and bind_address(host) != creds.host:
        raise StudioError(f"{stop_first} to move it to {bind_address(host)}.")
    if production and server_kind(current.pid or 0) != PRODUCTION:
        raise StudioError(f"{stop_first} to serve it with the production server.")


def _server_env(creds: Credentials, db: postgres.Database, guard: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    for key in (ENV_URL, ENV_KEY):
        env.pop(key, None)
    for name in postgres.ENV_NAMES:
        for prefix in postgres.ENV_PREFIXES:
            env.pop(prefix + name, None)
    env.update(QUIET_ENV)
    # Passed in the environment, not on the command line, so `ps` never shows them.
    env.update(
        {
            "LABEL_STUDIO_USERNAME": creds.email,
            "LABEL_STUDIO_PASSWORD": creds.password,
            "LABEL_STUDIO_USER_TOKEN": creds.token,
            "DJANGO_SETTINGS_MODULE": GUARD_SETTINGS if guard else PLAIN_SETTINGS,
            guard_mod.OWNER_ENV: creds.email,  # the one account the guard lets reach everything
        }
    )
    env.update(db.env())
    return env


def _open_database(root: Path, creds: Credentials, choice: str, timeout: float) -> postgres.Database:
    """The database, ready: the private cluster started (made on the first start), a URL's server reached."""
    if choice == postgres.POSTGRESQL:
        return postgres.start(root, creds.postgres_password, timeout=min(timeout, 120.0))
    if choice != postgres.SQLITE:
        return postgres.check(choice)
    return postgres.Database(postgres.SQLITE)


def _start(
    root: Path, port: int | None, timeout: float, database: str | None, host: str | None, production: bool, guard: bool = True
) -> StudioStatus:
    deadline = time.monotonic() + timeout
    paths = home_paths(root)
    private_dir(root)
    creds = load_credentials(root)
    choice = _database_choice(root, creds, database)
    address = bind_address(host)
    # PostgreSQL is served by gunicorn always: Django's development server opens a database connection
    # per request thread, without bound (100 annotators saving at once met "too many clients");
    # gunicorn's workers × threads keep it to a few.
    production = production or not loopback(address) or choice != postgres.SQLITE
    current = status(root)
    if current.pid is not None:
        _already_running(current, creds, port, host, production)
        if creds is not None and _cluster_stopped(root, creds):
            # The cluster stopped (killed, a reboot of it alone) under a running server: Django opens a
            # connection per request, so the server recovers once the cluster is back where it was.
            postgres.start(root, creds.postgres_password, timeout=min(timeout, 120.0))
            _wait_healthy(root, current.pid, creds, max(deadline - time.monotonic(), 0.0))
            return status(root)
        if not current.running:
            _wait_healthy(root, current.pid, creds, timeout)
        return status(root)
    if choice == postgres.POSTGRESQL and not postgres.exists(root):
        postgres.programs()  # missing programs: said before anything is made
    if creds is None:
        creds = new_credentials(port or DEFAULT_PORT)
    creds = replace(creds, port=port or creds.port, host=address)
    if choice == postgres.POSTGRESQL and not creds.postgres_password:
        creds = replace(creds, postgres_password=secrets.token_urlsafe(24))  # saved before initdb uses it
    # Django's server also gives up a port taken on 127.0.0.1 (label-studio moves to the next one silently).
    probed = dict.fromkeys([address] if production else [address, HOST])
    busy = [a for a in probed if not port_free(creds.port, a)]
    if busy:
        raise PortBusyError(
            f"Port {creds.port} on {busy[0]} is already in use by another program, so the embedded studio cannot use it.",
            f"Choose a free port: `annotate studio start --port {creds.port + 11}`.",
        )
    if production:  # first: a missing gunicorn is said before any database is started
        command = production_command(paths["data"], creds.port, address)
    else:
        command = server_command(paths["data"], creds.port, address)
    save_credentials(root, creds)
    private_dir(paths["data"])
    try:
        env = _server_env(creds, _open_database(root, creds, choice, timeout), guard)
        if production:
            _initialize(root, env, creds, deadline)
        with open(paths["log"], "ab") as log:
            os.chmod(paths["log"], 0o600)
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                start_new_session=True,  # its own process group: `stop` ends it and its children, nothing else
            )
        paths["pid"].write_text(str(process.pid))
        _wait_healthy(root, process.pid, creds, max(deadline - time.monotonic(), 0.0), process)
    except AnnotateError:
        stop(root)
        raise
    if creds.database != choice:
        save_credentials(root, replace(creds, database=choice))  # from now on, the data is there
    return status(root)


def _initialize(root: Path, env: dict[str, str], creds: Credentials, deadline: float) -> None:
    """Migrate and make the owner's account before gunicorn starts (`label-studio start` does it itself)."""
    log_path = home_paths(root)["log"]
    with open(log_path, "ab") as log:
        os.chmod(log_path, 0o600)
        try:
            done = subprocess.run(
                init_command(home_paths(root)["data"]),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                timeout=max(deadline - time.monotonic(), 1.0),
            )
        except subprocess.TimeoutExpired:
            raise StudioError(f"Label Studio did not finish setting up its database in time. See {log_path}.") from None
    if done.returncode != 0:
        raise StudioError(
            f"Label Studio failed to set up its database (exit {done.returncode}). Last lines of {log_path}:\n"
            + _log_tail(log_path, creds.secret_values())
        )


def _wait_healthy(
    root: Path, pid: int, creds: Credentials | None, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    paths = home_paths(root)
    url = creds.url if creds else f"http://{HOST}:{DEFAULT_PORT}"
    token = creds.token if creds else ""
    hidden = creds.secret_values() if creds else []
    deadline = time.monotonic() + timeout
    with LabelStudioClient(url, token, retries=0) as client:
        while time.monotonic() < deadline:
            exited = process.poll() if process is not None else (None if is_ours(pid, root) else 1)
            if exited is not None:
                raise StudioError(
                    f"The embedded Label Studio stopped while starting (exit {exited}). Last lines of {paths['log']}:\n"
                    + _log_tail(paths["log"], hidden)
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
        + _log_tail(paths["log"], hidden)
    )


def stop(root: str | Path | None = None, timeout: float = 20.0) -> bool:
    """Stop the server this folder started, then its private PostgreSQL; whether one ran. Never touches other processes."""
    root = home(root)
    stopped = _stop_server(root, timeout)
    # After Label Studio: it holds connections to the cluster until it exits.
    return postgres.stop(root, timeout) or stopped


def _stop_server(root: Path, timeout: float) -> bool:
    pid_file = home_paths(root)["pid"]
    pid = read_pid(root)
    if pid is None:
        return False
    if not is_ours(pid, root):
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
    pid = read_pid(root)
    if pid is not None and is_ours(pid, root) and _cluster_stopped(root, creds):
        where = postgres.describe_choice(creds.database, root)
        raise StudioError(
            f"The embedded studio in {root} runs, but its database, {where}, is stopped: Label Studio would"
            " answer every request with an error (HTTP 500).",
            "Run `annotate studio start`: it starts the database again under the running studio.",
        )
    return LabelStudioClient(creds.url, creds.token, retries=1, unreachable_hint=START_HINT)
