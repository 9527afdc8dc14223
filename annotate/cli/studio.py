"""`annotate studio start|password|stop|status`: the embedded Label Studio."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import StudioError

from .common import (
    studio_app,
    echo,
    HomeOpt,
    _command,
)

if TYPE_CHECKING:  # only for annotations: importing them at run time is what start-up avoids
    from ..labelstudio.studio import StudioStatus


# --- studio ---------------------------------------------------------------------


def _echo_login(status: StudioStatus) -> None:
    """Where to log in; the password stays in its owner-only file (terminal and CI logs keep what is printed)."""
    from ..labelstudio import studio as studio_mod

    creds = studio_mod.load_credentials(status.home)
    echo(f"Label Studio: {status.url}")
    if creds:
        echo(f"  login:    {creds.email}")
        echo(f"  password: in {studio_mod.credentials_path(status.home)} (readable by you only);"
             f" show it with `{_command()} studio password`")


def _start(home: Path | None, **options: Any) -> StudioStatus:
    """Start the embedded studio, saying where and whether it may take a while, or that it runs (``up``, ``studio start``)."""
    from ..labelstudio import studio as studio_mod

    current = studio_mod.status(home)
    if current.running:
        echo(f"Label Studio already runs at {current.url} (studio home {current.home})", err=True)
    elif current.email is None:  # no credentials yet: the server sets up its database first
        echo(f"Starting Label Studio in {current.home} (the first start sets up its database and takes about a minute)...", err=True)
    else:
        echo(f"Starting Label Studio in {current.home}...", err=True)
    return studio_mod.start(home, **options)


DatabaseOpt = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help="sqlite (the default for one person), postgresql (a private PostgreSQL in the studio home, for a team)"
        " or the URL of a PostgreSQL you run: postgresql://USER:PASSWORD@HOST:PORT/DATABASE."
        " Default: what the studio's data was made with.",
    ),
]
HostOpt = Annotated[
    Optional[str],
    typer.Option(
        "--host",
        help="Address to listen on (default 127.0.0.1: this machine only). An address of this machine, or 0.0.0.0"
        " for all, lets annotators at other machines in; it is then served by gunicorn.",
    ),
]
ProductionOpt = Annotated[
    bool, typer.Option("--production", help="Serve with gunicorn (several workers) even on 127.0.0.1.")
]


def _echo_studio(status: StudioStatus) -> None:
    """The database, the server and any network warning of a studio just started or found."""
    echo(f"  {status.details()}")
    if status.warning:
        echo(status.warning, err=True)


@studio_app.command("start")
def studio_start(
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port (default 8080, or the one used before).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 300.0,
    database: DatabaseOpt = None,
    host: HostOpt = None,
    production: ProductionOpt = False,
    home: HomeOpt = None,
) -> None:
    """Start the embedded Label Studio and wait until it answers."""
    status = _start(home, port=port, timeout=timeout, database=database, host=host, production=production)
    _echo_login(status)
    _echo_studio(status)


@studio_app.command("password")
def studio_password(home: HomeOpt = None) -> None:
    """Show the embedded studio's login and password, on a terminal only (never into a log or a pipe)."""
    from ..labelstudio import studio as studio_mod

    root = studio_mod.home(home)
    creds = studio_mod.load_credentials(root)
    if creds is None:
        raise StudioError(f"{root} has no embedded studio yet.", studio_mod.START_HINT)
    if not sys.stdout.isatty():
        raise StudioError(
            "The password is shown on a terminal only, so that no log or pipe keeps it.",
            f"Read it from {studio_mod.credentials_path(root)} (readable by you only).",
        )
    echo(f"login:    {creds.email}")
    echo(f"password: {creds.password}")


@studio_app.command("stop")
def studio_stop(home: HomeOpt = None) -> None:
    """Stop the embedded Label Studio started from this folder (and nothing else)."""
    from ..labelstudio import studio as studio_mod

    root = studio_mod.home(home)
    echo(f"{'stopped' if studio_mod.stop(root) else 'not running'} (studio home {root})")


@studio_app.command("status")
def studio_status(home: HomeOpt = None) -> None:
    """Say whether the embedded Label Studio runs, where, and which studio home was looked in."""
    from ..labelstudio import studio as studio_mod

    status = studio_mod.status(home)
    where = f"studio home {status.home}"  # always: from another folder, another home may be the one looked in
    echo(f"{status.message}: {status.url} (pid {status.pid}, {where})" if status.pid else f"{status.message} ({where})")
    _echo_studio(status)
    if not status.running:
        raise typer.Exit(3)
