"""Atomic file writes shared by every stage that writes under ``exports/``."""

from __future__ import annotations

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


def safe_name(name: str, fallback: str) -> str:
    """``name`` as a file name: anything but letters (Arabic ones too), digits, ``.``, ``-`` and ``_`` becomes ``-``."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or fallback
