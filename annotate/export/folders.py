"""The export's folder: written in a hidden temporary copy, then swapped in whole.

A reader of ``out`` sees the previous export or the new one, never a half-written
one; what killed exports leave beside ``out`` is cleaned by the next export.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from ..files import safe_name

AT_FDCWD = -100
RENAME_EXCHANGE = 2
# Only this machine's processes can be checked for life: a folder shared with others keeps theirs.
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _load_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """libc's ``renameat2``, or None where there is none (not Linux, glibc before 2.28)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_renameat2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (``renameat2`` with ``RENAME_EXCHANGE``): both exist at every moment.

    False, with nothing changed, where the system cannot do it (no such call, or a
    kernel or file system that refuses the flag); any other failure is raised.
    """
    if _renameat2 is None:
        return False
    if _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _stem(out: Path) -> str:
    # safe_name keeps a short name as it is and shortens a long one, so ".NAME.tmp-..." stays a valid name.
    return safe_name(out.name, "export")


def _own_path(out: Path, kind: str) -> Path:
    """A hidden name beside ``out`` that says which process on which machine made it."""
    return out.with_name(f".{_stem(out)}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs; when in doubt, yes (its folder is then kept)."""
    if pid == os.getpid() or os.name != "posix":  # elsewhere os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: another user's process, alive
        return True
    return True


def remove_folder(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_leftovers(out: Path) -> None:
    """Remove what killed exports to ``out`` left beside it, and put back a previous export they had moved away.

    Only folders of processes of this machine that no longer run are touched, so a
    concurrent export keeps its own. ``.NAME.old`` is what versions before pid-named
    folders left when killed between their two renames.
    """
    pattern = re.compile(rf"\.{re.escape(_stem(out))}\.(tmp|old)-([0-9a-f]{{8}})-([0-9]+)-[0-9a-f]{{8}}")
    try:
        entries = sorted(out.parent.iterdir())
    except OSError:
        return
    for path in entries:
        found = pattern.fullmatch(path.name)
        if found:
            kind, host, pid = found.groups()
            if host != _HOST or _alive(int(pid)):
                continue
        elif path.name == f".{out.name}.old":
            kind = "old"
        else:
            continue
        try:
            if kind == "old" and not out.exists() and not out.is_symlink():
                os.rename(path, out)  # killed between the two renames of a swap: nothing is lost
            else:
                remove_folder(path)
        except OSError:
            continue  # not ours to fix (permissions): the export itself goes on


def make_folder(out: Path) -> Path:
    """A new hidden folder beside ``out`` to write the export in (beside it: the swap stays on one file system)."""
    while True:
        tmp = _own_path(out, "tmp")
        try:
            tmp.mkdir()  # 0o777 & ~umask, as any folder; mkdtemp's 0o700 kept others out of a published set
            return tmp
        except FileExistsError:
            continue


def swap_into_place(tmp: Path, out: Path) -> None:
    """Put the finished export ``tmp`` at ``out``; an existing ``out`` is replaced without a moment without one."""
    if not out.exists() and not out.is_symlink():
        os.rename(tmp, out)
    elif exchange(tmp, out):
        remove_folder(tmp)  # now the previous export
    else:
        # No atomic exchange here: two renames, and a reader may find no folder between them.
        old = _own_path(out, "old")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except BaseException:
            os.rename(old, out)
            raise
        remove_folder(old)


EXPORT_RECORD = "export.json"  # every export writes it: what tells an earlier export from any other folder
# What annotate keeps in a folder, by the files that mark it (checked in this order).
_OWNED = (
    (("credentials.json", "studio.pid", "studio"), "the studio home of an embedded Label Studio"),
    (("state.jsonl", "manifest.json", "index.json", "annotators.json"), "the pulled data of a project"),
    ((".annotate", "annotate.toml"), "a project root"),
)


def owned_by(folder: Path) -> str | None:
    """What annotate keeps in ``folder`` (its studio home, pulled data, a project root), or None."""
    for marks, what in _OWNED:
        if any((folder / mark).exists() for mark in marks):
            return what
    return None


def check_out(out: Path, overwrite: bool) -> str | None:
    """Why ``out`` may not receive an export, or None.

    An export never goes inside the studio home or pulled data (it would sit among, or be
    swapped over, what they hold), and ``overwrite`` replaces only an earlier export: a folder
    with ``export.json``. The path is followed through links first, as the writes would be.
    """
    target = out.resolve()
    for folder in target.parents:
        what = owned_by(folder)
        if what in (_OWNED[0][1], _OWNED[1][1]):
            return f"--out {out} is inside {folder}, {what}: annotate keeps its own files there. Write the export elsewhere, like exports/NAME."
    if overwrite and target.exists():
        if not target.is_dir():
            return f"--out {out} is a file, not an earlier export; --overwrite replaces only an earlier export."
        if not (target / EXPORT_RECORD).is_file():
            what = owned_by(target) or "a folder that is not an export (it has no export.json)"
            return f"--out {out} is {what}; --overwrite replaces only an earlier export. Choose another folder."
    return None
