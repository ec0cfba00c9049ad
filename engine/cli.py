"""The `dreamreel` command: parse arguments, dispatch to a subcommand, turn errors into one line.

A user error (bad input, missing network, unknown style...) prints `dreamreel: error: ...` on
stderr and exits 2 with no traceback. Ctrl-C, SIGTERM and SIGHUP exit 130, 143 and 129 after
the subcommand has saved its work (engine.signals).
"""

from __future__ import annotations

import argparse
import os
import sys

from dreamreel.engine import signals


def _import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) would bury our one-line errors.

    Part of it is printed before its log level is read, so stderr is closed for the import
    alone (an import that fails still raises). DREAMREEL_TF_LOGS=1 keeps everything visible.
    """
    if os.environ.get("DREAMREEL_TF_LOGS"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # e.g. V4L2 warnings for a missing camera
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


try:
    with signals.handled():
        _import_tensorflow_quietly()
except KeyboardInterrupt:  # a signal while TensorFlow loads (seconds): nothing started yet
    print("dreamreel: interrupted", file=sys.stderr)
    sys.exit(signals.exit_code())


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (not the whole usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def commands() -> list:
    """The subcommand modules (imported after TensorFlow, so its import stays quiet)."""
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
