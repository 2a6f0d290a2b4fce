"""The docs tell the truth: every example of README.md and docs/ is run or checked.

Each block carries a marker saying what to do with it (tests/docs/harness.py
lists the kinds): commands run and their output is compared with what the
docs show, specs and scripts are parsed and simulated, protocol messages are
decoded, signatures are compared with the code. A block that cannot run here
(network, benchmarks, a server that runs until Ctrl-C) says so in its marker.
A change of behaviour without a change of the docs fails here, with the page
and line to fix.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.harness import (
    Block,
    Ran,
    all_blocks,
    mismatch,
    run_command,
    run_python,
    scratch_dir,
    session,
    shell_commands,
)

BLOCKS, PROBLEMS = all_blocks()
SERVER_SECRET = "docs-test-secret-0123456789abcdef-0123456789"
SERVER_START_S = 30.0


def test_every_block_says_how_it_is_checked() -> None:
    assert PROBLEMS == [], "\n".join(PROBLEMS)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scratch_dir(tmp_path_factory.mktemp("docs"))


@dataclass
class Server:
    url: str
    token: str
    banner: list[str]

    @property
    def env(self) -> dict[str, str]:
        return {"UNDERBID_URL": self.url, "UNDERBID_OPERATOR_TOKEN": self.token}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``underbid serve --port 0``, as the docs start it, until the module is done,
    in a directory of its own (its SQLite journal goes to ./underbid-data)."""
    scripts = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        "UNDERBID_SECURITY_TOKEN_SECRET": SERVER_SECRET,
    }
    proc = subprocess.Popen(
        [str(scripts / "underbid"), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path_factory.mktemp("serve"),
    )
    banner: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not ready.is_set():
                banner.append(line.rstrip("\n"))
                if line.lstrip().startswith("operator token:"):
                    ready.set()
        ready.set()  # the server ended before its banner was out

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(SERVER_START_S), f"underbid serve printed no banner: {banner}"
        assert banner and banner[-1].lstrip().startswith("operator token:"), banner
        url = re.search(r"serving on (\S+)", banner[0])
        assert url is not None, banner
        yield Server(url[1], banner[-1].split(":", 1)[1].strip(), banner)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()


def needs_tools(text: str) -> None:
    """Skip (fail in CI) when a command of the block needs a tool that is missing."""
    for tool in ("jq",):
        used = re.search(rf"(?:^|[|;&]|\$ )\s*{tool}\s", text, re.MULTILINE)
        if used and shutil.which(tool) is None:
            reason = f"{tool} is not installed (apt-get install {tool})"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason}; .ci/run installs it")
            pytest.skip(reason)


def env_for(block: Block, request: pytest.FixtureRequest) -> dict[str, str]:
    if block.arg == "server":
        server: Server = request.getfixturevalue("server")
        return server.env
    return {}


# ------------------------------------------------------------------ checkers
OUTPUTS: dict[Block, str] = {}
"""What each ``run`` block printed, for the ``output`` block after it."""
COMMAND_OUTPUTS: dict[str, str] = {}
"""What each command of an ``output CMD`` block printed (it succeeded)."""


def check_run(block: Block, scratch: Path, env: dict[str, str]) -> str:
    """Run a ``run`` block (once); what it printed."""
    if block not in OUTPUTS:
        OUTPUTS[block] = _run(block, scratch, env)
    return OUTPUTS[block]


def _run(block: Block, scratch: Path, env: dict[str, str]) -> str:
    if block.info == "python":
        return run_python(block.text, block.where, env, scratch)
    assert block.info in ("sh", "bash", "console", ""), f"{block.where}: cannot run {block.info!r}"
    outputs: list[str] = []
    for command in shell_commands(block.text):
        ran = run_command(command, env, scratch)
        assert ran.status == 0, failed(block, ran)
        outputs.append(ran.output)
    return "".join(outputs)


def failed(block: Block, ran: Ran) -> str:
    return f"{block.where}: `{ran.command}` exited with {ran.status}:\n{ran.output}"


def previous_run(block: Block) -> Block:
    index = BLOCKS.index(block)
    before = BLOCKS[index - 1] if index else None
    assert before is not None and before.path == block.path and before.kind == "run", (
        f"{block.where}: `output` without a command must follow a `run` block"
    )
    return before


def check_spec(block: Block) -> None:
    from auction.core import parse_spec

    data = tomllib.loads(block.text) if block.info == "toml" else json.loads(block.text)
    parse_spec(data)


def check_script(block: Block, scratch: Path) -> None:
    suffix = ".toml" if block.info == "toml" else ".json"
    script = scratch / f"script-{block.line}{suffix}"
    script.write_text(block.text, encoding="utf-8")
    spec = block.arg
    assert spec, f"{block.where}: `script` needs the spec it is for"
    ran = run_command(f"underbid simulate {spec} --script {script.name}", {}, scratch)
    assert ran.status == 0, failed(block, ran)


def check_messages(block: Block) -> None:
    from auction.core.events import EVENT_TYPES
    from gateway.protocol import Codec, JsonDecoder, ProtocolError, decode_server

    fields = {t.__struct_config__.tag: set(t.__struct_fields__) for t in EVENT_TYPES}
    shown = {"type", "winner_name", "winner_label", "score"}  # projections add these
    client = JsonDecoder()
    for number, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if not line.strip():
            continue
        where = f"{block.where.rsplit(':', 1)[0]}:{number}"
        try:
            client.decode(line)
            continue
        except ProtocolError:
            pass
        try:
            message = decode_server(line, Codec.JSON)
        except ProtocolError as exc:
            raise AssertionError(f"{where}: not a message of the protocol: {exc}") from None
        events = [message.event] if hasattr(message, "event") else []
        events += [item.event for item in getattr(message, "items", [])]
        for event in events:
            kind = event.get("type")
            assert kind in fields, f"{where}: no event type {kind!r}"
            extra = set(event) - fields[kind] - shown
            assert not extra, f"{where}: {kind} has no field {sorted(extra)}"


def check_signature(block: Block) -> None:
    module, _, name = block.arg.rpartition(".")
    target = getattr(importlib.import_module(module), name)
    call = ast.parse(block.text.strip(), mode="eval").body
    assert isinstance(call, ast.Call), f"{block.where}: not a call"
    empty = inspect.Parameter.empty
    documented = [(arg.id, empty) for arg in call.args if isinstance(arg, ast.Name)]
    documented += [(kw.arg, ast.literal_eval(kw.value)) for kw in call.keywords]
    params = inspect.signature(target).parameters.values()
    actual = [(p.name, p.default) for p in params if p.name != "self"]
    assert documented == actual, (
        f"{block.where}: the docs show {documented}; {block.arg} takes {actual}"
    )


def check_exceptions(block: Block) -> None:
    module = importlib.import_module(block.arg)
    parents: list[tuple[int, type]] = []
    for line in block.text.splitlines():
        found = re.search(r"[A-Za-z_]\w*", line)
        if found is None:
            continue
        depth = found.start()
        cls = getattr(module, found[0], None)
        assert isinstance(cls, type), f"{block.where}: {block.arg} has no class {found[0]}"
        while parents and parents[-1][0] >= depth:
            parents.pop()
        if parents:
            parent = parents[-1][1]
            assert cls.__bases__ == (parent,), f"{block.where}: {cls.__name__} is not a {parent}"
        parents.append((depth, cls))


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_the_docs_examples(block: Block, scratch: Path, request: pytest.FixtureRequest) -> None:
    if block.kind == "skip":
        pytest.skip(f"{block.where} is not run here: {block.arg}")
    needs_tools(block.text + block.arg)
    if block.kind == "run":
        check_run(block, scratch, env_for(block, request))
    elif block.kind == "output":
        if block.arg:
            if block.arg not in COMMAND_OUTPUTS:  # the same command, shown twice: run once
                ran = run_command(block.arg, {}, scratch)
                assert ran.status == 0, failed(block, ran)
                COMMAND_OUTPUTS[block.arg] = ran.output
            actual = COMMAND_OUTPUTS[block.arg]
        else:
            before = previous_run(block)
            actual = check_run(before, scratch, env_for(before, request))
        problem = mismatch(block.text, actual, block.where)
        assert problem is None, problem
    elif block.kind == "session":
        env = env_for(block, request)
        for command, expected, status in session(block.text):
            ran = run_command(command, env, scratch)
            problem = mismatch(expected, ran.output, f"{block.where}: `{command}`")
            assert problem is None, problem
            assert ran.status == status, (
                f"{block.where}: `{command}` exited with {ran.status}, the docs say {status}"
            )
    elif block.kind == "spec":
        check_spec(block)
    elif block.kind == "script":
        check_script(block, scratch)
    elif block.kind == "messages":
        check_messages(block)
    elif block.kind == "signature":
        check_signature(block)
    elif block.kind == "exceptions":
        check_exceptions(block)
    elif block.kind == "banner":
        problem = mismatch(
            block.text, "\n".join(request.getfixturevalue("server").banner), block.where
        )
        assert problem is None, problem
    else:
        raise AssertionError(f"{block.where}: unknown kind {block.kind}")


def test_markers_are_found_in_every_page() -> None:
    """Guards the reader itself: a page with blocks yields them."""
    pages = {block.path.name for block in BLOCKS}
    assert {"README.md", "spec.md", "simulate.md", "protocol.md"} <= pages
    assert all(isinstance(block.text, str) for block in BLOCKS)
    kinds: dict[str, int] = {}
    for block in BLOCKS:
        kinds[block.kind] = kinds.get(block.kind, 0) + 1
    assert kinds.get("run", 0) and kinds.get("session", 0) and kinds.get("output", 0)
