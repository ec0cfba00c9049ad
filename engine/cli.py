"""The `dreamreel` command: parse arguments, dispatch to a subcommand, turn errors into one line.

A user error (bad input, missing network, unknown style...) prints `dreamreel: error: ...` on
stderr and exits 2 with no traceback. Ctrl-C exits 130 after the subcommand has saved its work.
"""

from __future__ import annotations

import argparse
import os
import sys

from dreamreel.engine.commands import weights as weights_cmd

COMMANDS = [weights_cmd]


class UsageError(ValueError):
    """A command line that cannot work: reported in one line with exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Every error type whose message is meant for the user."""
    from dreamreel.weights import WeightsError

    errors: list[type[BaseException]] = [UsageError, WeightsError]
    try:
        from dreamreel.engine.media import MediaError

        errors.append(MediaError)
    except ImportError:
        pass
    return tuple(errors)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dreamreel",
        description="Stylize video, GIFs, images and live cameras with TensorFlow graphs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("dreamreel: interrupted", file=sys.stderr)
        return 130
    except user_errors() as exc:
        print(f"dreamreel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
