"""SIGTERM and SIGHUP end a command the way Ctrl-C does, and only once.

A render stopped by `kill`, a closed terminal or a service manager must keep its finished
frames like one stopped by Ctrl-C, so all three raise `Interrupted` (a KeyboardInterrupt) in
the main thread, and the exit code says which one came (128 + its number: 130, 143, 129).
The first signal is the one that counts: later ones are ignored until the command ends, so
a user pressing Ctrl-C again while the output is being finished cannot cut it in half.
`shielded()` marks code that must not be cut even by the first signal (finishing a file):
a signal that comes there is raised as the block ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_first: int | None = None  # the signal that stopped this command
_shields = 0  # how many shielded() blocks the main thread is in
_pending = False  # the first signal came in a shielded block and is raised as it ends
_arrivals: int | None = None  # the pipe Python's C-level handler writes each signal number to


class Interrupted(KeyboardInterrupt):
    """The first SIGINT, SIGTERM or SIGHUP of a command; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handle(signum: int, _frame: object) -> None:
    global _first, _pending
    if _first is not None:
        return  # already stopping: the output being finished must not be cut off
    _first = _earliest() or signum
    if _shields:
        _pending = True
    else:
        raise Interrupted(_first)


def _earliest() -> int | None:
    """The signal that arrived first. Python runs the handlers of signals that came together
    by number (INT before TERM), but its C handler writes each one's number to the wakeup pipe
    as it arrives."""
    if _arrivals is not None:
        with contextlib.suppress(OSError):  # nothing to read
            return next((s for s in os.read(_arrivals, 256) if s in HANDLED), None)
    return None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def exit_code() -> int:
    """The shell's code for the command's signal (130 for a plain KeyboardInterrupt)."""
    return 128 + (_first or signal.SIGINT)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Turn INT, TERM and HUP into `Interrupted` while the block runs (in the main thread).

    A signal the caller ignores (`nohup`, a background job's SIGINT) stays ignored. Once one
    has come all three are ignored from the block's end on: the command is ending, and a second
    signal must not kill it (Python's shutdown would restore the defaults).
    """
    global _first, _pending, _arrivals
    if not _main_thread():
        yield
        return
    _first, _pending = None, False
    _arrivals, wakeup = os.pipe()
    os.set_blocking(_arrivals, False)
    os.set_blocking(wakeup, False)
    previous_wakeup = signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
    previous = {s: signal.getsignal(s) for s in HANDLED}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if _first is not None:
                handler = signal.SIG_IGN
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set in C
        signal.set_wakeup_fd(previous_wakeup)
        os.close(wakeup)
        os.close(_arrivals)
        _arrivals = None


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold back a signal until the block ends, so the file being finished is whole; it is
    then raised as if it had come just after. (Other threads never get signals.)"""
    global _shields, _pending
    if not _main_thread():
        yield
        return
    _shields += 1
    try:
        yield
    finally:
        _shields -= 1
        if not _shields and _pending:
            _pending = False
            raise Interrupted(_first or signal.SIGINT)
