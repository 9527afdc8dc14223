"""One error hierarchy for the whole library.

The library raises these and never exits the process; the CLI catches
``AnnotateError`` once and turns it into a message and an exit code.
Messages must never contain the API token.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

# C0 and C1 control characters, and lone surrogates: an article id or a title can carry escape
# sequences that would retitle or rewrite the user's terminal, and a lone surrogate (a bad \\u
# escape in JSON) cannot be written out at all. Line breaks and tabs are kept in messages.
# Bidi controls and zero-width characters are escaped too: in an id or title they reorder or
# hide what is printed (`abc\u202egpj.exe` shows as "abcexe.jpg"), and a message must show
# what is really there.
_INVISIBLE = r"\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_UNPRINTABLE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}]")
_UNPRINTABLE_IN_A_NAME = re.compile(rf"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}]")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with each such character shown as its escape (``\\x1b``, ``\\ud800``) instead of acting or failing.

    ``one_line`` escapes line breaks and tabs too, for a name (a file, an id) quoted in a message.
    """
    pattern = _UNPRINTABLE_IN_A_NAME if one_line else _UNPRINTABLE
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class AnnotateError(Exception):
    """Base of every error a user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class SchemaError(AnnotateError):
    """A schema file is unreadable or invalid; ``problems`` names file and field."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class IngestError(AnnotateError):
    """An article file is unreadable or malformed (names the file and line)."""


class StudioError(AnnotateError):
    """The embedded Label Studio could not be started, stopped or found."""


class PortBusyError(StudioError):
    """The port asked for is taken by another program."""


class LabelStudioError(AnnotateError):
    """Label Studio answered with an error we do not map more precisely."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class UnreachableError(LabelStudioError):
    """No Label Studio answers at the URL."""


class AuthError(LabelStudioError):
    """The token was rejected (wrong, expired, or legacy tokens disabled)."""


class NotFoundError(LabelStudioError):
    """A project or task does not exist."""


class RequestRejected(LabelStudioError):
    """Label Studio refused a request as invalid (HTTP 400), with its reason."""


class ConfigRejected(RequestRejected):
    """Label Studio refused a labeling config, e.g. because annotations use removed labels."""


class ServerError(LabelStudioError):
    """Label Studio failed (HTTP 5xx) or the connection broke, after retries."""


class ProjectError(AnnotateError):
    """A project cannot be chosen unambiguously (e.g. two projects with one title)."""


class ArticleChangedError(AnnotateError):
    """Articles were pushed before with another text; pushing them again needs ``--new-version``."""

    def __init__(self, message: str, changed: list) -> None:
        super().__init__(message)
        self.changed = changed


# What an operating system says about a disk or a folder, not about annotate: each becomes a
# message naming the file and what to do, never a traceback.
STORAGE_ERRNOS = {
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENAMETOOLONG,
}
_STORAGE_HINTS = {
    errno.ENOSPC: "Free some space on that disk (`df -h` shows how much is left), or choose a folder on another one;",
    errno.EDQUOT: "Your disk quota is used up: free some space, or choose a folder on another disk;",
    errno.EFBIG: "The file is larger than that file system takes: choose a folder on another one;",
    errno.EROFS: "That file system is mounted read-only: choose a folder on a writable one;",
    errno.EACCES: "You may not write or read there: fix the folder's permissions, or choose another folder;",
    errno.EPERM: "You may not write or read there: fix the folder's permissions, or choose another folder;",
}


class StorageError(AnnotateError):
    """The disk or folder refused a write or read (full, read-only, no permission): names the file."""

    @classmethod
    def of(cls, exc: OSError, path: Path | str | None = None, doing: str = "write") -> StorageError:
        where = path if path is not None else exc.filename  # the file as the user knows it, not its temporary name
        shown = printable(str(where), one_line=True) if where is not None else "a file"
        hint = _STORAGE_HINTS.get(exc.errno or 0, "Check the disk and the folder;")
        return cls(
            f"cannot {doing} {shown}: {exc.strerror or exc} (errno {exc.errno}).",
            f"{hint} then run the command again. Nothing was half written: the previous files are as they were.",
        )


def storage_error(exc: OSError, path: Path | str | None = None) -> OSError | StorageError:
    """A disk's or folder's refusal as a ``StorageError`` naming ``path``; any other OSError as it is."""
    return StorageError.of(exc, path) if exc.errno in STORAGE_ERRNOS else exc


class ExportError(AnnotateError):
    """The export cannot be written as asked (bad options, existing folder, nothing to export)."""


class PulledDataError(AnnotateError):
    """The pulled data under exports/ is missing, damaged, or another project's."""


class DamagedStateError(PulledDataError):
    """The pulled state does not match its manifest (truncated, edited, or half written)."""


class ConflictingCopiesError(AnnotateError):
    """Tasks hold the same version of one article with different texts: no gold can be chosen."""


class ModelError(AnnotateError):
    """No suggestion model, a damaged one, or gold it cannot be trained on (``annotate model``)."""


class TeamError(AnnotateError):
    """A team member cannot be added, adopted or found (a bad email, an account outside the organization)."""


class TeamIncomplete(TeamError):
    """Adding members stopped part way: ``added`` holds those added before, with their one-time passwords."""

    def __init__(self, message: str, hint: str | None = None, added: list | None = None) -> None:
        super().__init__(message, hint)
        self.added = added or []


class SignUpRejected(RequestRejected):
    """Label Studio's sign-up form refused an account; ``errors`` are its own words (one per problem)."""

    def __init__(self, message: str, errors: list[str], hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint, status)
        self.errors = errors


class LoginRejected(AuthError):
    """Label Studio's login form refused an email and password."""
