"""The reference tables of docs/engine.md are the code's: commands, events and
rejection codes, each with exactly its fields. A field, an event or a code
added, renamed or removed in the code without the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from auction.core.commands import AnyCommand
from auction.core.errors import Code
from auction.core.events import EVENT_TYPES

ENGINE = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def table(heading: str) -> dict[str, list[str]]:
    """First backticked name of each row -> the row's cells, under ``## heading``."""
    rows: dict[str, list[str]] = {}
    inside = False
    for line in ENGINE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == heading
        elif inside and line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            name = re.match(r"`([^`]+)`", cells[0])
            assert name is not None, line
            rows[name[1]] = cells
    assert rows, f"docs/engine.md has no table under '## {heading}'"
    return rows


def fields(cell: str) -> list[str]:
    names = re.match(r"`([^`]*)`", cell)
    assert names is not None, cell
    return [name.strip() for name in names[1].split(",") if name.strip()]


def check(heading: str, kinds: tuple[type[msgspec.Struct], ...], common: set[str]) -> None:
    """The table under ``heading`` has a row per struct tag, with its fields
    (those in ``common``, which every one has, left out)."""
    rows = table(heading)
    real = {
        kind.__struct_config__.tag: [name for name in kind.__struct_fields__ if name not in common]
        for kind in kinds
    }
    assert set(rows) == set(real), f"docs/engine.md, {heading}: {set(rows) ^ set(real)}"
    for tag, names in real.items():
        shown = fields(rows[tag][1])
        assert shown == names, f"docs/engine.md, {heading}: `{tag}` shows {shown}, has {names}"


def test_the_commands_table_lists_every_command_with_its_fields() -> None:
    check("Commands", AnyCommand.__args__, {"lot"})  # type: ignore[attr-defined]


def test_the_events_table_lists_every_event_with_its_fields() -> None:
    check("Events", EVENT_TYPES, {"at", "lot"})


def test_the_rejection_codes_table_lists_every_code() -> None:
    rows = table("Rejection codes")
    assert set(rows) == {code.value for code in Code}, (
        f"docs/engine.md, Rejection codes: {set(rows) ^ {code.value for code in Code}}"
    )
