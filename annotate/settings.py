"""Where a project lives and which Label Studio project and schema it means, without options on every command.

The **project root** is found the way git finds its repository: walking up from the
working folder to the first folder that holds ``.annotate/`` (the embedded studio's
data) or ``annotate.toml`` (the settings file). The studio lives in its ``.annotate/``,
pulled data in its ``exports/``; where no root is found, the working folder is used,
as before there was a root at all.

``annotate.toml`` names the project and its schema, both optional::

    project = "conflict-2024"          # the Label Studio project title
    schema = "schemas/conflict.yaml"   # relative to this file

Each value comes from the command line, else ``$ANNOTATE_PROJECT`` / ``$ANNOTATE_SCHEMA``,
else the settings file, else the default (the packaged schema, and its ``name`` as title).

Imported by the CLI at start-up: only ``tomllib`` and the error classes, nothing heavy.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import AnnotateError

SETTINGS_FILE = "annotate.toml"
STUDIO_DIR = ".annotate"
ENV_PROJECT = "ANNOTATE_PROJECT"
ENV_SCHEMA = "ANNOTATE_SCHEMA"
KEYS = ("project", "schema")  # every key a settings file may have, all strings


class SettingsError(AnnotateError):
    """The settings file cannot be read or holds something it may not (names the file and the key).

    Here rather than in ``errors`` so that this module stays self-contained; it is an
    ``AnnotateError`` like every other, so the CLI reports it the same way (exit 1).
    """


def find_root(start: Path | None = None) -> Path | None:
    """The first folder from ``start`` (default: the working folder) upwards that holds ``.annotate/`` or ``annotate.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STUDIO_DIR).is_dir() or (folder / SETTINGS_FILE).is_file():
            return folder
    return None


def project_root(start: Path | None = None) -> Path:
    """The project root, or the working folder where none is found (what commands did before roots)."""
    return find_root(start) or (start or Path.cwd()).resolve()


@dataclass(frozen=True)
class Settings:
    """The project title and schema file chosen, and where each came from (for messages)."""

    project: str | None  # None: the schema's name
    schema: Path | None  # None: the packaged schema
    file: Path | None = None  # the settings file read, if any
    project_from: str | None = None  # "--project", "$ANNOTATE_PROJECT" or the settings file
    schema_from: str | None = None


def read_file(path: Path) -> dict[str, str]:
    """The settings in ``path``, checked: TOML, known keys only, strings only; ``schema`` made absolute."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a byte order mark is no TOML statement
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the settings file ({exc.strerror or exc}).") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: the settings file is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}.", "See docs/reference.md, \"Where annotate looks\".") from None
    allowed = ", ".join(KEYS)
    for key, value in data.items():
        if key not in KEYS:
            raise SettingsError(f"{path}: unknown key {key!r}; a settings file may have only: {allowed}.")
        if not isinstance(value, str):
            kind = "a table" if isinstance(value, dict) else type(value).__name__
            raise SettingsError(f"{path}: {key!r} must be a string (in quotes), not {kind}.")
        if not value.strip():
            raise SettingsError(f"{path}: {key!r} is empty; give a value or leave the key out.")
    found = dict(data)
    if "schema" in found:
        # Relative to the file, so the project works from any of its folders.
        schema = (path.parent / found["schema"]).resolve()
        if not schema.is_file():
            raise SettingsError(f"{path}: 'schema' names {schema}, which is not a file.")
        found["schema"] = str(schema)
    return found


def resolve(
    project: str | None = None,
    schema: Path | None = None,
    *,
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The project title and schema to use: the given ones, else the environment, else ``annotate.toml``."""
    env = os.environ if environ is None else environ
    root = find_root(start)
    path = root / SETTINGS_FILE if root is not None else None
    # Read (and checked) even when both values are given: a broken file should not wait for the day it matters.
    from_file = read_file(path) if path is not None and path.is_file() else {}
    if path is not None and not path.is_file():
        path = None

    def pick(given: str | None, option: str, variable: str, key: str) -> tuple[str | None, str | None]:
        if given:
            return given, option
        if env.get(variable, "").strip():
            return env[variable].strip(), f"${variable}"
        if key in from_file:
            return from_file[key], str(path)
        return None, None

    title, title_from = pick(project, "--project", ENV_PROJECT, "project")
    if title is not None:
        # Label Studio strips the titles it stores: ' lead' would never be found again, and every push would make one more.
        title = title.strip()
        if not title:
            raise SettingsError(f"The project title given by {title_from} is empty.", "Give a title with --project, or in annotate.toml.")
    schema_text, schema_from = pick(str(schema) if schema is not None else None, "--schema", ENV_SCHEMA, "schema")
    return Settings(title, Path(schema_text) if schema_text else None, path, title_from, schema_from)
