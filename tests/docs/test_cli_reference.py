"""Every option of every ``underbid`` command is documented in docs/cli.md.

The commands and options are read from the parser ``underbid --help`` prints
(``auction.cli``), nested subcommands included, so a new command or option is
checked the moment it exists. docs/cli.md has a section ``## `underbid CMD` ``
per command and a table row per option, naming it as ``--help`` shows it
(`` `--script FILE` ``, `` `SPEC` ``); a default the parser has must appear in
the row's default column. The failures say which option of which command,
and where to write it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auction.cli import _parser

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_SECTION = re.compile(r"^## `(underbid(?: [a-z0-9-]+)*)`\s*$")


def commands(
    parser: argparse.ArgumentParser, name: str = "underbid"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command, ``underbid`` itself first, with its parser."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for sub_name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases share a parser
                    seen.add(id(sub))
                    yield from commands(sub, f"{name} {sub_name}")


def documented_options(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.Action, str]]:
    """Each option and positional, and each of its forms as ``--help`` shows it."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if not action.option_strings:
            yield action, formatter._format_args(action, action.dest)
            continue
        value = ""
        if action.nargs != 0:
            metavar = formatter._get_default_metavar_for_optional(action)
            value = " " + formatter._format_args(action, metavar)
        for option in action.option_strings:
            yield action, option + value


def reference() -> dict[str, list[list[str]]]:
    """docs/cli.md: command -> the cells of each table row of its section."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        heading = _SECTION.match(line)
        if heading:
            current = sections.setdefault(heading[1], [])
        elif line.startswith("## "):
            current = None
        elif current is not None and line.startswith("|") and not line.startswith("| ---"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return sections


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def defaults(value: object) -> set[str]:
    """How a parser default may be written in the default column."""
    shown = {str(value)}
    if isinstance(value, float) and value.is_integer():
        shown.add(str(int(value)))
    return shown


COMMANDS = list(commands(_parser()))


def test_the_parser_has_the_commands_the_docs_describe() -> None:
    names = [name for name, _ in COMMANDS]
    assert {"underbid", "underbid simulate", "underbid serve"} <= set(names)


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_option_is_documented(command: str, parser: argparse.ArgumentParser) -> None:
    sections = reference()
    where = f"the table under '## `{command}`' in docs/cli.md"
    if command not in sections:
        pytest.fail(
            f"`{command}` has no section in docs/cli.md: add '## `{command}`' with a table "
            "| option | default | meaning | and a row per option"
        )
    rows = sections[command]
    usage = parser.format_help()
    problems: list[str] = []
    for action, form in documented_options(parser):
        assert form in usage, f"{form!r} is not how `{command} --help` shows it"
        if not action.help:
            problems.append(f"`{command} {form}` has no help text: give it help= in auction/cli.py")
        row = next((r for r in rows if form in ticked(r[0])), None)
        if row is None:
            problems.append(
                f"`{command} {form}` is not documented: add a row "
                f"| `{form}` | default | meaning | to {where}"
            )
            continue
        default = action.default
        if action.option_strings and default not in (None, False, "", argparse.SUPPRESS):
            cell = row[1] if len(row) > 1 else ""
            if not defaults(default) & set(ticked(cell)):
                problems.append(
                    f"`{command} {form}`: {where} gives the default {cell!r}, but the "
                    f"parser's default is {default!r}: write it as `{default}`"
                )
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_the_docs_show_no_option_the_command_lacks(
    command: str, parser: argparse.ArgumentParser
) -> None:
    real = {form.split()[0] for _, form in documented_options(parser)} | {"-h", "--help"}
    shown = {
        token.split()[0]
        for row in reference().get(command, [])
        for token in ticked(row[0])
        if token.startswith("-")
    }
    assert shown <= real, (
        f"docs/cli.md documents {sorted(shown - real)} under '## `{command}`', "
        f"which `{command} --help` does not list"
    )


def test_every_section_is_a_command() -> None:
    real = {name for name, _ in COMMANDS}
    assert set(reference()) <= real, f"docs/cli.md has sections for {set(reference()) - real}"
