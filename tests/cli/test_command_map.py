"""The CLI builds only the command group a command line names: its map of commands to modules must be
what the modules register, and a command's parsing, help and usage errors must not depend on it."""
import argparse
import contextlib
import io
from importlib import import_module

import pytest

from haysay.cli import COMMAND_MODULES, COMMANDS, build_parser, named_command


def test_command_map_is_what_the_modules_register():
    registered = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == COMMANDS


def test_named_command_skips_home_only():
    assert named_command(["validate", "x.json"]) == "validate"
    assert named_command(["--home", "/tmp/h", "nodes"]) == "nodes"
    assert named_command(["--home=/tmp/h", "history", "--json"]) == "history"
    assert named_command(["-h"]) is None and named_command([]) is None and named_command(["bogus"]) is None


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            ns = vars(parser.parse_args(argv))
            ns.pop("func", None)
            result = ns
        except SystemExit as exc:
            result = exc.code
    return out.getvalue(), result


@pytest.mark.parametrize("argv", [["validate", "--help"], ["run", "p.json", "-s", "a.b=1", "--depth", "24"],
                                  ["run"], ["run", "p.json", "--format", "mp3"], ["nodes", "--json", "gen.tone"],
                                  ["--home", "/tmp/h", "history", "--limit", "x"], ["jobs", "--help"],
                                  ["models", "--help"], ["sweep", "--help"], ["worker", "--help"]])
def test_a_command_parses_the_same_in_its_group_alone(argv):
    assert parse(build_parser(named_command(argv)), argv) == parse(build_parser(), argv)
