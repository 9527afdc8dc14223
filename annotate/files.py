"""Atomic file writes shared by every stage that writes under ``exports/``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write through a temporary file and rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    def write(f: IO[str]) -> None:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    write_atomic(path, write)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, lambda f: json.dump(value, f, ensure_ascii=False, indent=2))


# Far below the 255 bytes a file name may have, leaving room for prefixes and suffixes such as ".txt".
MAX_NAME_BYTES = 120


def safe_name(name: str, fallback: str) -> str:
    """``name`` as a file name that no other name maps to.

    A name made only of letters (Arabic ones too), digits, ``.``, ``-`` and ``_``,
    short enough for any file system, is used as it is. Any other name has its
    other characters replaced by ``-``, is shortened, and gets a short hash of the
    original: ``rel col`` and ``rel/col`` never share a folder.
    """
    cleaned = re.sub(r"[^\w.-]+", "-", name).strip("-.")
    if cleaned == name and cleaned and len(cleaned.encode("utf-8")) <= MAX_NAME_BYTES:
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem = (cleaned or fallback).encode("utf-8")[: MAX_NAME_BYTES - len(digest) - 1].decode("utf-8", "ignore")
    return f"{stem.rstrip('-.')}-{digest}"
