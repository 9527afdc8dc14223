"""The command line: each command parses, calls one library function, and prints.

One module per group of commands, in the order ``--help`` lists them: ``schema``, ``studio``,
``data`` (ingest, push, up, pull), ``quality`` (validate, agreement, adjudicate), ``output``
(export, diff, status), ``team`` and ``model`` (train, suggest, report); ``common`` holds the options and printing they share, and
``exits.main`` is the only place that turns an ``AnnotateError`` into a message and an exit code.

Stage modules are imported inside the commands, not here: ``export`` alone pulls in
``datasets``, ``pandas`` and ``pyarrow``, and ``labelstudio.client`` pulls in ``httpx``, which
would make every command (``--help`` included) pay for all of them at start-up. What is
imported here is what the parser needs for its defaults (``models``, ``store``, ``schema``,
``settings``).

Where things are: the studio home and the pulled data are found from the project root
(walking up from the working folder, see ``annotate.settings``), and every message names
the folder used; the project title and schema come from ``_project``.
"""

from __future__ import annotations

import typer  # noqa: F401  (tests reach typer's command builder through here)

from . import schema, studio, data, quality, output, team, model  # noqa: F401  (registers the commands, in --help's order)
from .common import app
from .exits import main, run

__all__ = ["app", "main", "run"]
