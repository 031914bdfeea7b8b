"""The `haysay` command line. Each command group lives in its own module with a
`register(subparsers)` function that adds its sub-command(s); the handler set with
`set_defaults(func=...)` receives the parsed args and returns the exit code.

Exit codes: 0 success, 1 run failed, 2 usage error, 3 invalid pipeline or input.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID = 0, 1, 2, 3

COMMAND_MODULES = [
    "haysay.cli.pipeline",
    "haysay.cli.models",
    "haysay.cli.studio",
    "haysay.cli.jobs",
    "haysay.cli.worker",
    "haysay.cli.sweep",
]


# which module registers each command (tests/cli/test_command_map.py holds it to what they register)
COMMANDS = {
    **dict.fromkeys(("run", "validate", "nodes", "schema", "history"), "haysay.cli.pipeline"),
    **dict.fromkeys(("models", "doctor"), "haysay.cli.models"),
    "studio": "haysay.cli.studio",
    **dict.fromkeys(("submit", "jobs", "batch", "storage"), "haysay.cli.jobs"),
    **dict.fromkeys(("worker", "cluster"), "haysay.cli.worker"),
    "sweep": "haysay.cli.sweep",
}


def named_command(argv: list[str]) -> str | None:
    """The command `argv` names, when it names one before any other option than --home."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--home":
            i += 2
        elif arg.startswith("--home="):
            i += 1
        else:
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or, given a `command`, only the group that holds it: a command's own
    parsing and help are the same either way, and the other groups' dozens of sub-parsers (and their
    modules) cost a cold process tens of ms."""
    parser = argparse.ArgumentParser(prog="haysay", description="Node-graph pipelines for voice generation and conversion.")
    parser.add_argument("--home", help="state folder (default: $HAYSAY_HOME or the per-user data dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in ([COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES):
        import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(named_command(argv))
    args = parser.parse_args(argv)
    if args.home:
        import os
        os.environ["HAYSAY_HOME"] = args.home
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `haysay nodes | head` closed the pipe early
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
