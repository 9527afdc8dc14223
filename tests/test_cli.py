"""The CLI as a user runs it: a real process, so what reaches the terminal and the exit status are what is tested."""

from __future__ import annotations

import subprocess
import sys

import pytest

from annotate import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from annotate.cli import run; run()", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("args", "message"), [(["pusj"], "No such command"), (["push", "--bogus"], "No such option")])
def test_usage_errors_print_the_short_usage_message_and_exit_2(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Usage: annotate" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_help_exits_0() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("code", [0, 3])
def test_typer_exit_passes_its_code_through(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    class Command:
        def main(self, **_: object) -> None:
            raise cli.typer.Exit(code)

    monkeypatch.setattr(cli.typer.main, "get_command", lambda app: Command())
    assert cli.main([]) == code


def test_typer_abort_is_reported_as_aborted_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Command:
        def main(self, **_: object) -> None:
            raise cli.typer.Abort()

    monkeypatch.setattr(cli.typer.main, "get_command", lambda app: Command())
    assert cli.main([]) == 130
    assert "aborted" in capsys.readouterr().err
