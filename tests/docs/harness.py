"""Reading the docs' code blocks and running what they show.

Every fenced block of README.md and docs/*.md carries a marker, an HTML
comment on the line just before its opening fence (invisible once rendered)::

    <!-- doctest: KIND [ARGUMENT] -->

=========================  ==========================================================
kind                       what the suite does with the block
=========================  ==========================================================
``run``                    runs it (``sh``: each command; ``python``: the snippet);
                           it must succeed
``run server``             the same with ``UNDERBID_URL`` and
                           ``UNDERBID_OPERATOR_TOKEN`` naming a server the suite
                           started (``underbid serve --port 0``)
``output``                 the block is the output of the ``run`` block just above
``output CMD``             the block is the output of the command ``CMD``
``session`` (``server``)   ``$ command`` lines, each followed by its output (and
                           ``[N]`` when its exit status is N, not 0)
``spec``                   a TOML or JSON auction spec that ``parse_spec`` accepts
``script SPEC``            a script that ``underbid simulate SPEC --script`` runs
``messages``               JSON protocol messages, one per line, each one the
                           protocol's decoders accept
``signature NAME``         a call whose parameters and defaults are ``NAME``'s
``exceptions MODULE``      an exception tree that ``MODULE``'s classes form
``banner``                 what ``underbid serve`` prints when it starts
``skip REASON``            not run here; the reason says why (network, benchmark,
                           a server that runs until Ctrl-C...)
=========================  ==========================================================

Expected output is compared line by line, trailing spaces ignored: a line
``...`` stands for any number of lines (a gap the docs do not show), and
``…`` inside a line for any text (a token, a port, a time).

Commands run from a scratch directory holding links to the repository's
folders (so that a command may write files without touching the tree).
``underbid ...`` runs in-process (``auction.cli.main``), optionally after
``NAME=value`` settings and before one ``| filter``; anything else runs
under bash with this interpreter's scripts first on ``PATH``.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
"""Every page whose blocks are checked."""

KINDS = (
    "run",
    "output",
    "session",
    "spec",
    "script",
    "messages",
    "signature",
    "exceptions",
    "banner",
    "skip",
)
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^<!--\s*doctest:\s*(?P<kind>[a-z]+)\s*(?P<arg>.*?)\s*-->$")
COMMAND_TIMEOUT_S = 60


@dataclass(frozen=True)
class Block:
    """One fenced block of a page, with its marker."""

    path: Path
    line: int
    """Line of the opening fence, from 1."""
    info: str
    """The fence's info string: ``sh``, ``python``, ``json``... (may be empty)."""
    text: str
    kind: str
    arg: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> tuple[list[Block], list[str]]:
    """The blocks of one page, and what is wrong with its markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    where = path.relative_to(ROOT)
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            problems.append(f"{where}:{i + 1}: a block that never closes")
            break
        indent = len(opening["indent"])
        body = "\n".join(line[indent:] for line in lines[i + 1 : end])
        marker = _MARKER.match(lines[i - 1].strip()) if i else None
        if marker is None:
            problems.append(
                f"{where}:{i + 1}: a block without a marker: put `<!-- doctest: KIND -->` on "
                f"the line before its fence (KIND: {', '.join(KINDS)}; see tests/docs/harness.py)"
            )
        elif marker["kind"] not in KINDS:
            problems.append(f"{where}:{i + 1}: unknown doctest kind {marker['kind']!r}")
        elif marker["kind"] == "skip" and not marker["arg"]:
            problems.append(f"{where}:{i + 1}: a skipped block must say why (`skip REASON`)")
        else:
            info = opening["info"].strip().split()
            blocks.append(
                Block(path, i + 1, info[0] if info else "", body, marker["kind"], marker["arg"])
            )
        i = end + 1
    return blocks, problems


def all_blocks() -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    problems: list[str] = []
    for path in DOCS:
        found, wrong = read_blocks(path)
        blocks.extend(found)
        problems.extend(wrong)
    return blocks, problems


# --------------------------------------------------------------- comparing
def _pattern(expected: list[str]) -> re.Pattern[str]:
    parts: list[str] = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = (re.escape(piece) for piece in line.rstrip().split("…"))
            parts.append("[^\n]*?".join(pieces) + r"[ \t]*\n")
    return re.compile("".join(parts))


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def mismatch(expected: str, actual: str, where: str) -> str | None:
    """None when ``actual`` is what ``expected`` shows, else a diff to read."""
    want, got = _lines(expected), _lines(actual)
    text = "".join(f"{line}\n" for line in got)
    if _pattern(want).fullmatch(text):
        return None
    diff = "\n".join(
        difflib.unified_diff(want, got, "the docs", "the real output", lineterm="", n=2)
    )
    return (
        f"{where}: the output differs from what the docs show "
        f"('...' and '…' match anything):\n{diff}"
    )


# ----------------------------------------------------------------- running
@dataclass(frozen=True)
class Ran:
    command: str
    status: int
    output: str
    """stdout and stderr, interleaved as written."""


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def scratch_dir(tmp: Path) -> Path:
    """A directory that sees the repository's folders (links) but writes apart."""
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv", "__pycache__") and not (tmp / entry.name).exists():
            (tmp / entry.name).symlink_to(entry)
    return tmp


def _operators(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return [token for token in lexer if set(token) <= set("|&;<>()")]


def _in_process(words: list[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    from auction.cli import main

    out = io.StringIO()
    with (
        environment(env),
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        try:
            status = main(words)
        except SystemExit as exc:  # argparse: --help, usage errors
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue()


def _bash(command: str, env: Mapping[str, str], cwd: Path, stdin: str | None = None) -> Ran:
    scripts = str(Path(sys.executable).parent)
    full_env = {**os.environ, **env, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=full_env,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return Ran(command, done.returncode, done.stdout)


def run_command(command: str, env: Mapping[str, str], cwd: Path) -> Ran:
    """Run one shell command line as the docs show it."""
    env = {"COLUMNS": "100", **env}
    operators = _operators(command)
    head, pipe, tail = command.partition("|")
    if operators and operators != ["|"]:
        return _bash(command, env, cwd)
    try:
        words = shlex.split(head, comments=True)
    except ValueError:
        return _bash(command, env, cwd)
    settings: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        settings[name] = value
    if not words or words[0] != "underbid" or any("$" in word for word in words):
        return _bash(command, env, cwd)
    status, output = _in_process(words[1:], {**env, **settings}, cwd)
    if not pipe:
        return Ran(command, status, output)
    piped = _bash(tail, env, cwd, stdin=output)
    return Ran(command, piped.status or status, piped.output)


def shell_commands(text: str) -> list[str]:
    """The command lines of a ``sh`` block: continuations joined, comments and
    blank lines left out."""
    commands: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        commands.append((current + line).strip())
        current = ""
    if current:
        commands.append(current.strip())
    return commands


def session(text: str) -> list[tuple[str, str, int]]:
    """A session block's ``(command, expected output, exit status)``: the status
    is 0 unless the output's last line is ``[N]``."""
    pairs: list[tuple[str, list[str]]] = []
    continued = False
    for line in text.splitlines():
        if continued:
            command, output = pairs[-1]
            pairs[-1] = (command[:-1] + " " + line.strip(), output)
        elif line.startswith("$ "):
            pairs.append((line[2:].strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
        else:
            raise ValueError(f"a session starts with a `$ command` line, not {line!r}")
        continued = pairs[-1][0].endswith("\\") and not pairs[-1][1]
    steps: list[tuple[str, str, int]] = []
    for command, output in pairs:
        status = 0
        while output and not output[-1].strip():
            output.pop()
        if output and re.fullmatch(r"\[\d+\]", output[-1].strip()):
            status = int(output.pop().strip()[1:-1])
        steps.append((command, "\n".join(output), status))
    return steps


def run_python(code: str, where: str, env: Mapping[str, str], cwd: Path) -> str:
    """Execute a Python block in-process; what it printed."""
    out = io.StringIO()
    namespace = {"__name__": "__main__"}
    with environment(env), contextlib.chdir(cwd), contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), namespace)
    return out.getvalue()
