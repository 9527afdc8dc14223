"""Atomic file writes shared by every stage that writes under ``exports/``."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import STORAGE_ERRNOS, storage_error


class AtomicFile:
    """A text file written under a temporary name beside ``path`` and renamed into place by ``commit``.

    Readers see the old file or the new one, never half of one; if ``commit`` is
    never reached (an error, Ctrl-C), the temporary file is removed on leaving the
    ``with`` block. ``commit`` may come later than the writing, once the files
    that must land first have landed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise storage_error(exc, path) from None
        self.tmp = Path(tmp)
        self.file: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def commit(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.path)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # a full disk fails the flush of what is buffered: the file goes anyway
        finally:
            self.tmp.unlink(missing_ok=True)  # nothing left after a commit; the half-written file otherwise
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            raise storage_error(exc, self.path) from None


def remove_leftovers(folder: Path, names: Iterable[str], pattern: str = "*") -> int:
    """Remove the temporary files a killed writer left for the files ``names`` in ``folder``
    (and for any file matching ``pattern`` in its subfolders); return how many.

    Only call it while holding the folder's ``exclusive`` lock, and only for the files that
    lock guards: a writer running now has its temporary files there too.
    """
    removed = 0
    candidates = [*(f for name in names for f in folder.glob(f".{name}.*.tmp")), *folder.glob(f"*/.{pattern}.*.tmp")]
    for leftover in candidates:
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


@contextmanager
def exclusive(lock: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold ``lock`` (a file, made if missing) against every other process that takes it; wait for it if taken.

    An ``flock``: the kernel releases it when its holder ends in any way, kill -9 included,
    so a dead holder never blocks the next one.
    """
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise storage_error(exc, lock.parent) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write through a temporary file and rename: readers see the old file or the new one, never half."""
    with AtomicFile(path) as out:
        write(out.file)
        out.commit()


def copy_atomic(source: Path, path: Path) -> None:
    """``source`` byte for byte at ``path``, through a temporary file and a rename, as ``write_atomic`` writes."""
    with AtomicFile(path) as out:
        out.file.close()
        shutil.copyfile(source, out.tmp)
        out.commit()


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    def write(f: IO[str]) -> None:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    write_atomic(path, write)


def write_json(path: Path, value: Any, *, compact: bool = False) -> None:
    """``value`` as JSON, indented for people to read, or ``compact`` for large files only programs read.

    ``json.dumps``, not ``json.dump``: only the former encodes in C, and only without indent
    (an index of 150,000 tasks: 0.5 s instead of 5 s).
    """
    layout: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    text = json.dumps(value, ensure_ascii=False, **layout)
    write_atomic(path, lambda f: f.write(text))


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
