"""The `dreamreel` command: parse arguments, dispatch to a subcommand, turn errors into one line.

A user error (bad input, missing network, unknown style...) prints `dreamreel: error: ...` on
stderr and exits 2 with no traceback. Ctrl-C, SIGTERM and SIGHUP exit 130, 143 and 129 after
the subcommand has saved its work (engine.signals).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import threading
import types
from typing import Any

from dreamreel.engine import signals


def _import_quietly(name: str) -> types.ModuleType:
    """TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) would bury our one-line errors.

    Part of it is printed before its log level is read, so stderr is closed for the import
    alone (an import that fails still raises). DREAMREEL_TF_LOGS=1 keeps everything visible.
    """
    if os.environ.get("DREAMREEL_TF_LOGS"):
        return importlib.import_module(name)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return importlib.import_module(name)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute of it is first used, then imports it quietly
    and takes on its attributes. (importlib's LazyLoader cannot: every `import` statement of a
    module reads its `__spec__`, which loads it.)"""

    _lock = threading.Lock()

    def __getattr__(self, attr: str) -> Any:
        with self._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
                try:
                    self.__dict__.update(_import_quietly(self.__name__).__dict__)
                except BaseException:
                    sys.modules.setdefault(self.__name__, self)  # a later use tries again
                    raise
        return getattr(sys.modules[self.__name__], attr)


def _defer_tensorflow() -> None:
    """Importing TensorFlow takes seconds, and neither reading the command line nor checking
    the inputs needs it: every module's `import tensorflow as tf` gets a stand-in that loads
    it when first used, so `--help`, a bad flag or a missing file answer at once."""
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        sys.modules["tensorflow"] = _Deferred("tensorflow")


if not os.environ.get("DREAMREEL_TF_LOGS"):
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # e.g. V4L2 warnings for a missing camera
_defer_tensorflow()


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (not the whole usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def commands() -> list:
    """The subcommand modules (their TensorFlow deferred: see `_defer_tensorflow`)."""
    from dreamreel.engine.commands import (
        bench,
        demo,
        dream,
        generate,
        live,
        metrics,
        paint,
        run,
        styles,
        tune,
        weights,
    )

    return [run, demo, dream, paint, styles, generate, live, metrics, bench, tune, weights]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dreamreel",
        description="Stylize video, GIFs, images and live cameras with TensorFlow graphs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands():
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; INT, TERM and HUP stop it like Ctrl-C (engine.signals)."""
    from dreamreel.errors import DreamreelError

    with signals.handled():
        try:
            parser = build_parser()
            from dreamreel.engine.commands.styles import with_action

            args = parser.parse_args(with_action(sys.argv[1:] if argv is None else list(argv)))
            return int(args.handler(args) or 0)
        except KeyboardInterrupt:
            print("dreamreel: interrupted", file=sys.stderr)
            return signals.exit_code()
        except DreamreelError as exc:
            print(f"dreamreel: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
