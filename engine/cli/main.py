"""`python -m engine ...`: the CLI. Exit 0 on success; 2 on bad input with a one-paragraph message on
stderr and no traceback. Each command is a module of `engine.cli.commands` (discovered, see `command_modules`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence

from engine.core.errors import SkipLabError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one paragraph, exit 2, like every other bad input
        usage = f"{self.prog} --help"  # "skiplab --help", "python -m engine train --help" ...
        self.exit(EXIT_BAD_INPUT, f"error: {message}\n(see `{usage}`)\n")


def command_modules() -> list:
    """Every module in engine.cli.commands defines `register(subparsers)`, which sets `func(args) -> int`;
    `ORDER` (default 100) sorts them in `--help`. Adding a command is adding a module."""
    import engine.cli.commands as pkg

    mods = [importlib.import_module(f"engine.cli.commands.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def prog_name() -> str:
    """`skiplab` when run as the installed console script, else `python -m engine`."""
    return "skiplab" if os.path.basename(sys.argv[0] or "").startswith("skiplab") else "python -m engine"


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=prog_name(), description="SkipLab: build, count and train architectures with skip "
                     "connections; `app` serves the dashboard.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in command_modules():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while torch and the commands are still importing: no traceback
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the command whose --help lists what it takes (argparse blames the top-level parser)
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
        owner = commands.choices.get(getattr(args, "command", None) or "", parser)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except SkipLabError as exc:  # only the project's own errors are bad input; anything else is our bug
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m engine presets | head`
        return EXIT_OK
    except OSError as exc:  # a file the user named cannot be written or read: a full disk (/dev/full), a
        # read-only folder, a FIFO... the user's to fix, so exit 2 with the file and the reason
        where = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or exc.__class__.__name__
        print(f"error: cannot use{where}: {reason}; check the path, its permissions and the free space",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a raw traceback
        if os.environ.get("SKIPLAB_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {exc.__class__.__name__}: {exc}. This is a SkipLab bug; rerun with "
              "SKIPLAB_DEBUG=1 for details and report it.", file=sys.stderr)
        return EXIT_INTERNAL
