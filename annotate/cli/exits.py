"""The one place that turns errors, Ctrl-C, SIGTERM and click's exits into a message and an exit code."""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click
import typer
from rich.markup import escape

from ..errors import STORAGE_ERRNOS, AnnotateError, StorageError, printable

from .common import (
    app,
    err,
)


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised instead of ``KeyboardInterrupt``: typer turns that into a silent exit status."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextmanager
def _ctrl_c() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise ``Interrupted`` while a command runs (the main thread only: signals go there).

    SIGTERM (``kill``, a CI runner's time-out, systemd) would otherwise end the process at once,
    leaving temporary files; as an exception, every ``with`` block cleans up on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _said(exc: AnnotateError) -> int:
    """The error and its hint on stderr, escaped; its exit code."""
    err.print(f"[bold red]error:[/] {escape(printable(exc.message))}", markup=True, highlight=False, soft_wrap=True)
    if exc.hint:
        err.print(f"[yellow]hint:[/] {escape(printable(exc.hint))}", markup=True, highlight=False, soft_wrap=True)
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become a message on stderr and exit status 1 (2 for usage errors)."""
    def classes(name: str) -> tuple[type[BaseException], ...]:
        # Newer typer (0.25+) raises its own vendored copy of click's exceptions, which click's
        # classes do not catch; older typer (>=0.12) raises click's. Both are caught; the vendored
        # module is looked up only if it exists. Exit and Abort moved to typer.exceptions.
        found: list[type[BaseException]] = [getattr(click.exceptions, name)]
        other = getattr(typer, name, None) if name in ("Exit", "Abort") else None
        if other is None:
            try:
                other = getattr(importlib.import_module("typer._click.exceptions"), name, None)
            except ImportError:
                other = None
        if isinstance(other, type) and issubclass(other, BaseException) and other not in found:
            found.append(other)
        return tuple(found)

    exits, aborts, usage_errors = classes("Exit"), classes("Abort"), classes("ClickException")
    command = typer.main.get_command(app)
    try:
        with _ctrl_c():
            # Without standalone mode click returns typer.Exit's code instead of exiting.
            code = command.main(args=argv, prog_name="annotate", standalone_mode=False)
    except AnnotateError as exc:
        return _said(exc)
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        # A disk or folder refusing outside annotate's own writers (datasets' Arrow files, a folder made).
        return _said(StorageError.of(exc, doing="write or read"))
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except usage_errors as exc:
        exc.show()  # type: ignore[attr-defined]  # click's short usage message
        return int(getattr(exc, "exit_code", 1))  # 2 for usage errors, 1 for other click errors
    except aborts:
        err.print("aborted")
        return 130
    except (Interrupted, KeyboardInterrupt) as exc:
        terminated = isinstance(exc, Interrupted) and exc.signum == signal.SIGTERM
        err.print(
            f"{'terminated (SIGTERM)' if terminated else 'interrupted'}; nothing was half written:"
            " run the same command again to finish (nothing is duplicated)"
        )
        return 143 if terminated else 130
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
