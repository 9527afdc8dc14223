"""Every command's ``--help`` stays the text it was when the CLI moved into a package (``annotate/cli/``).

``tests/data/cli_help.json`` holds each command's help at 100 columns, without colour. A change to
a command's help is made on purpose: regenerate the file with
``python tests/test_cli_help.py > tests/data/cli_help.json`` and review its diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXPECTED = Path(__file__).resolve().parent / "data" / "cli_help.json"

SCRIPT = """
import contextlib, io, json
from annotate.cli import app, main
import typer

def walk(command, path):
    yield path
    for name in sorted(getattr(command, "commands", {})):  # click's groups (typer may vendor click)
        yield from walk(command.commands[name], path + [name])

texts = {}
for path in walk(typer.main.get_command(app), []):
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        main(path + ["--help"])
    texts[" ".join(path)] = shown.getvalue()
print(json.dumps(texts, ensure_ascii=False, indent=1, sort_keys=True))
"""


def help_texts() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANNOTATE_", "FORCE_COLOR", "LABEL_STUDIO_"))}
    env.update({"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"})
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True, timeout=120)
    return done.stdout


def test_every_commands_help_is_the_text_it_was() -> None:
    now = json.loads(help_texts())
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert sorted(now) == sorted(expected)  # the same commands
    changed = [name or "annotate" for name in expected if now[name] != expected[name]]
    assert changed == [], f"--help changed for: {changed}"


if __name__ == "__main__":
    sys.stdout.write(help_texts())
