"""Both cores for one pass: half of the work in a forked child, half here.

Counting a pull validates every task, and an export makes a document of every article: Python's
work, on one core; the machines annotate runs on have two (or more). A forked child starts with everything already read (no start-up, no
arguments sent over), works on its half, and sends back only its result; what it reads from an
open file it reads with ``os.pread``, which moves no shared offset. Where the child cannot help (no
``fork``, one core, a small job) or fails in any way (its result not sent or not read back), the
parent does that half itself: the outcome, an error included, is always the parent's own.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
ENOUGH = 2000  # tasks: fewer are done in one process (forking and sending the result back cost about half of them)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def halves(groups: list[list[T]]) -> list[list[T]]:
    """The items of ``groups`` in two halves of about as many items, each group whole in one and in its order; in one
    half when they are fewer than ``ENOUGH`` (none when there are none)."""
    items = sum(map(len, groups))
    if items < ENOUGH:
        return [[item for group in groups for item in group]] if items else []
    first: list[T] = []
    second: list[T] = []
    for group in groups:
        (first if len(first) < items // 2 else second).extend(group)
    return [first, second]


def on_two_cores(first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
    """``first()`` here and ``second()`` in a forked child at the same time; their results, in that order.

    What ``second`` changes in memory stays in the child: what the parent needs is its result, which
    must pickle (files it writes are there for the parent to read). If the child fails, ``second``
    runs here after ``first``, so it must be able to start again from nothing. Linux only: forking a
    process that has other threads is safe there for work that takes no lock those threads hold
    (validation, documents: Python, its standard library and pyarrow).
    """
    if not sys.platform.startswith("linux") or cores() < 2:
        return first(), second()
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return first(), second()
    if pid == 0:  # the child: its half, sent back whole, then gone without running the parent's exit handlers
        code = 1
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                pickle.dump(second(), out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent does this half again and meets the error itself
            pass
        finally:
            os._exit(code)
    os.close(write)
    reaped = False
    try:
        mine = first()
        with os.fdopen(read, "rb") as sent:
            read = -1  # closed by the ``with`` from here on
            data = sent.read()
        _, status = os.waitpid(pid, 0)
        reaped = True
        if status == 0:
            try:
                return mine, pickle.loads(data)
            except Exception:  # noqa: BLE001 - not what the child meant to send: this half is done here
                pass
        return mine, second()
    finally:
        if read != -1:
            os.close(read)
        if not reaped:  # an error or Ctrl-C here: the child's half is not wanted
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
