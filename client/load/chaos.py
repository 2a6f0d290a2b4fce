"""Killing nodes during a load test (``--ub-chaos``, ``--chaos``), and what it cost.

A chaos spec is ``key=value`` pairs separated by commas (values with commas
in quotes)::

    kill                                   # one kill, of a random node, at 30 % of the run
    at=20s,every=15s,kills=3               # the first at 20 s, then every 15 s, three in all
    at=40%,nodes=2                         # only node 2 (1-based, in --ub-nodes order)
    at=10s,nodes=owner                     # the node that owns the most of the test's auctions
    command='ssh {host} pkill -9 -f "underbid serve --port {port}"'
    restart='ssh {host} ./start-node.sh {port}',restart_after=5s

The kill is ``command`` run by the shell, with ``{url}``, ``{host}`` and
``{port}`` of the victim filled in; without one, the node must be on this
machine (``127.0.0.1``, ``localhost``) and the process listening on its port
is sent SIGKILL (found through ``/proc``, Linux; with ``--workers N`` one of
the workers). The victim is drawn from the allowed nodes by the run's seed.
``nodes=owner`` asks the cluster which node owns each of the test's auctions
(``owner`` in ``GET /api/auctions``, the node ids of ``/readyz``; the
operator token) and kills the one that owns the most, so that every kill
costs a takeover. ``restart`` (optional) brings it back ``restart_after``
later.

:class:`Ledger` keeps the kills and what the clients saw, and turns them
into the report's **takeover time**, per kill and auction:

- when commands of the auction were hit by the kill (in flight when their
  connection dropped, sent while it was down, or answered ``unavailable``,
  then resent with the same ``bid_id``): from the kill to the first answer
  to one of them, the moment the auction answered again, as its bidders saw
  it (their reconnect included);
- otherwise, how late the auction's own clock ran: the most an event due
  after the kill (a turn, a round, a price step, a close) reached the
  auction's reference stream after its time. A deadline that fell in the gap
  fires only once a node took the auction over.

An auction with neither a command nor a deadline in the gap shows a
takeover of a few milliseconds: the kill cost it nothing.

Errors::

    UnderbidError
    └── ChaosError   a spec that cannot be used, or a node that cannot be killed
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from auction.core.errors import UnderbidError

MAX_KILLS = 100
LOOPBACK = ("127.0.0.1", "localhost", "::1")
COMMAND_TIMEOUT_S = 30
ATTRIBUTION_S = 60.0
"""A failure is blamed on the latest kill at most this long before it."""
SKEW_MS = 500
"""...or this little after it: the clocks of Locust's workers and master may differ a little."""
_DURATION = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s|m|%)?$")


class ChaosError(UnderbidError):
    """A chaos spec that cannot be used, or a node that cannot be killed."""


@dataclass(frozen=True)
class When:
    value: float
    """Seconds, or a share of the run when ``share``."""
    share: bool = False

    def seconds(self, run_s: float) -> float:
        return self.value * run_s if self.share else self.value


@dataclass(frozen=True)
class ChaosSpec:
    at: When = When(0.3, share=True)
    every: float | None = None
    kills: int = 1
    nodes: tuple[int, ...] = ()
    """1-based node numbers that may be killed; empty: any."""
    owner: bool = False
    """Kill the node that owns the most of the test's auctions."""
    command: str = ""
    restart: str = ""
    restart_after: float = 5.0

    def times(self, run_s: float) -> list[float]:
        """When each kill happens (test seconds), within ``run_s``."""
        first = self.at.seconds(run_s)
        out = [first]
        while self.every and len(out) < self.kills and out[-1] + self.every < run_s:
            out.append(out[-1] + self.every)
        return out[: self.kills]


def _split(text: str) -> list[str]:
    """Comma-separated, but not inside single or double quotes."""
    parts, current, quote = [], "", ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    if quote:
        raise ChaosError("an unclosed quote in the chaos spec")
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _when(text: str, key: str, shares: bool) -> When:
    found = _DURATION.match(text)
    if found is None:
        raise ChaosError(
            f"{key}={text!r}: a duration such as 20s, 500ms, 2m" + (" or 30%" if shares else "")
        )
    n, unit = float(found["n"]), found["unit"] or "s"
    if unit == "%":
        if not shares or not 0 <= n <= 100:
            raise ChaosError(
                f"{key}={text!r}: a share of the run is 0% to 100%"
                if shares
                else f"{key}: no % here"
            )
        return When(n / 100, share=True)
    seconds = n / 1000 if unit == "ms" else n * 60 if unit == "m" else n
    if seconds > 86_400:
        raise ChaosError(f"{key}={text!r}: at most a day")
    return When(seconds)


def parse_chaos(text: str, node_count: int) -> ChaosSpec:
    """Read a chaos spec (see the module docstring) for ``node_count`` nodes."""
    items = _split(text)
    if not items:
        raise ChaosError("an empty chaos spec: write kill, or at=..., every=...")
    spec = ChaosSpec()
    values: dict[str, str] = {}
    for item in items:
        if item == "kill":
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ChaosError(
                f"cannot read {item!r}: write key=value "
                "(at, every, kills, nodes, command, restart, restart_after)"
            )
        key = key.strip()
        if key in values:
            raise ChaosError(f"{key} given twice")
        values[key] = value.strip()
    unknown = set(values) - {"at", "every", "kills", "nodes", "command", "restart", "restart_after"}
    if unknown:
        raise ChaosError(
            f"unknown chaos key {sorted(unknown)[0]!r}: "
            "at, every, kills, nodes, command, restart, restart_after"
        )
    at = _when(values["at"], "at", True) if "at" in values else spec.at
    every = _when(values["every"], "every", False).value if "every" in values else None
    if every is not None and every <= 0:
        raise ChaosError("every must be more than 0")
    kills = 1
    if "kills" in values:
        if not values["kills"].isdigit() or not 1 <= int(values["kills"]) <= MAX_KILLS:
            raise ChaosError(f"kills={values['kills']!r}: 1 to {MAX_KILLS}")
        kills = int(values["kills"])
    elif every is not None:
        kills = 3
    nodes: tuple[int, ...] = ()
    owner = values.get("nodes") == "owner"
    if "nodes" in values and not owner:
        try:
            nodes = tuple(int(n) for n in values["nodes"].replace(" ", "").split("+") if n) or ()
        except ValueError:
            raise ChaosError(
                f"nodes={values['nodes']!r}: owner, or node numbers joined by +, e.g. 1+3"
            ) from None
        bad = [n for n in nodes if not 1 <= n <= node_count]
        if bad or not nodes:
            raise ChaosError(
                f"nodes={values['nodes']!r}: numbers 1 to {node_count} (--ub-nodes order)"
            )
    restart_after = (
        _when(values["restart_after"], "restart_after", False).value
        if "restart_after" in values
        else 5.0
    )
    return ChaosSpec(
        at=at,
        every=every,
        kills=kills,
        nodes=nodes,
        owner=owner,
        command=values.get("command", ""),
        restart=values.get("restart", ""),
        restart_after=restart_after,
    )


# ------------------------------------------------------------------ killing
def listening_pids(port: int) -> list[int]:
    """Processes with a TCP socket listening on ``port`` (Linux ``/proc``; ours only)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return []
    wanted = {f"socket:[{i}]" for i in inodes}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone, or not ours
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if link in wanted:
                pids.append(int(entry.name))
                break
    return sorted(pids)


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


@dataclass(frozen=True)
class Kill:
    at_ms: int
    """Wall clock of the kill (ms since the epoch)."""
    test_s: float
    node: str
    how: str
    """``SIGKILL pid N`` or the command run."""
    ok: bool
    error: str = ""


def fill(template: str, url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return template.format(url=url, host=parts.hostname or "", port=port)


def kill_node(spec: ChaosSpec, url: str, rng: random.Random) -> tuple[bool, str]:
    """Kill ``url``'s process (or run the spec's command): (done, what was done or why not)."""
    if spec.command:
        command = fill(spec.command, url)
        try:
            done = subprocess.run(
                command, shell=True, timeout=COMMAND_TIMEOUT_S, capture_output=True, check=False
            )
        except subprocess.TimeoutExpired:
            return False, f"{command}: no end within {COMMAND_TIMEOUT_S} s"
        if done.returncode:
            why = done.stderr.decode(errors="replace").strip()[:200]
            return False, f"{command}: exit status {done.returncode} {why}"
        return True, command
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        return False, f"{url} is not on this machine: give the chaos spec a command=..."
    port = parts.port or 80
    pids = listening_pids(port)
    if not pids:
        return False, f"no process of ours listens on port {port}"
    workers = [p for p in pids if not any(_parent(q) == p for q in pids)] or pids
    pid = rng.choice(workers)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        return False, f"SIGKILL pid {pid}: {exc}"
    return True, f"SIGKILL pid {pid}"


def allowed(spec: ChaosSpec, urls: tuple[str, ...]) -> list[str]:
    """The nodes this spec may kill."""
    return [urls[n - 1] for n in spec.nodes] or list(urls)


def alive(spec: ChaosSpec, url: str) -> bool:
    """Whether a node can be killed now: with SIGKILL, a process of ours listens on its
    port (a node killed before and not back yet has none); with a command, always."""
    if spec.command:
        return True
    parts = urlsplit(url)
    return parts.hostname not in LOOPBACK or bool(listening_pids(parts.port or 80))


def owner_counts(urls: tuple[str, ...], token: str, auctions: set[str]) -> Counter[str]:
    """How many of ``auctions`` each node owns, as the cluster says (node URL -> count).

    Every node says its id at ``/readyz``; any node lists each auction's owner
    (``GET /api/auctions`` with the operator token). Nodes that do not answer
    are left out; without a cluster (no ``owner`` field) the count is empty."""
    ids: dict[str, str] = {}
    for url in urls:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                node = json.loads(answer.read()).get("node")
            if isinstance(node, str):
                ids[node] = url
    counts: Counter[str] = Counter()
    for url in ids.values():
        request = urllib.request.Request(
            f"{url}/api/auctions", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                listed = json.loads(answer.read()).get("auctions", [])
        except (OSError, ValueError):
            continue
        for item in listed:
            owner = item.get("owner")
            if item.get("id") in auctions and owner in ids:
                counts[ids[owner]] += 1
        break
    return counts


def strike(
    spec: ChaosSpec,
    urls: tuple[str, ...],
    rng: random.Random,
    t0_ms: int,
    owners: Counter[str] | None = None,
) -> Kill:
    """Kill one of the nodes the spec allows that is up, drawn by ``rng``, now (with
    ``spec.owner``: the one of ``owners`` that owns the most).

    The kill is dated just before it is sent, so that no failure it causes can
    look earlier than the kill itself."""
    candidates = allowed(spec, urls)
    up = [u for u in candidates if alive(spec, u)]
    if spec.owner and owners:
        most = max((owners.get(u, 0) for u in up), default=0)
        up = [u for u in up if owners.get(u, 0) == most] if most else up
    victim = rng.choice(up or candidates)
    at = int(time.time() * 1000)
    if not up:
        how = "every node it may kill is down already"
        return Kill(at, round((at - t0_ms) / 1000, 3), victim, how, False, how)
    done, how = kill_node(spec, victim, rng)
    return Kill(at, round((at - t0_ms) / 1000, 3), victim, how, done, "" if done else how)


def restart_node(spec: ChaosSpec, url: str) -> tuple[bool, str]:
    """Run the spec's restart command for ``url`` (in the background)."""
    command = fill(spec.restart, url)
    try:
        subprocess.Popen(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as exc:
        return False, f"{command}: {exc}"
    return True, command


# ---------------------------------------------------------------- accounting
@dataclass
class Ledger:
    """Kills, and the recoveries that tell what each cost."""

    kills: list[Kill] = field(default_factory=list)
    recoveries: list[tuple[str, int, int]] = field(default_factory=list)
    """(auction, first failure, answer), wall ms: commands that failed, then were answered."""
    lateness: dict[str, dict[int, float]] = field(default_factory=dict)
    """auction -> {second of an event's time: the most it reached the reference after it (ms)}."""

    def recovered(self, auction: str, failed_at_ms: int, answered_at_ms: int) -> None:
        self.recoveries.append((auction, failed_at_ms, answered_at_ms))

    def late(self, auction: str, at_ms: int, arrived_ms: float) -> None:
        """An event due at ``at_ms`` reached the auction's reference stream at ``arrived_ms``."""
        seconds = self.lateness.setdefault(auction, {})
        key = at_ms // 1000
        late = max(0.0, arrived_ms - at_ms)
        if late > seconds.get(key, -1.0):
            seconds[key] = late

    def blame(self, at_ms: int) -> Kill | None:
        """The kill a failure at ``at_ms`` is blamed on (the latest before it)."""
        best = None
        for kill in self.kills:
            near = kill.ok and kill.at_ms - SKEW_MS <= at_ms <= kill.at_ms + ATTRIBUTION_S * 1000
            if near and (best is None or kill.at_ms > best.at_ms):
                best = kill
        return best

    def takeovers(self) -> list[tuple[Kill, str, float]]:
        """(kill, auction, takeover ms) for every auction seen after each kill."""
        answered_again: dict[tuple[int, str], float] = {}
        by_kill = {k.at_ms: k for k in self.kills if k.ok}
        for auction, failed, answered in self.recoveries:
            kill = self.blame(failed)
            if kill is None:
                continue
            key = (kill.at_ms, auction)
            first = float(max(0, answered - kill.at_ms))
            answered_again[key] = min(answered_again.get(key, first), first)
        out = dict(answered_again)
        for kill in by_kill.values():
            low, high = kill.at_ms // 1000, (kill.at_ms + int(ATTRIBUTION_S * 1000)) // 1000
            for auction, seconds in self.lateness.items():
                key = (kill.at_ms, auction)
                late = [ms for s, ms in seconds.items() if low <= s <= high]
                if late and key not in answered_again:
                    out[key] = max(late)
        return [(by_kill[k], a, ms) for (k, a), ms in sorted(out.items())]

    def per_kill(self) -> dict[int, list[float]]:
        out: dict[int, list[float]] = defaultdict(list)
        for kill, _, ms in self.takeovers():
            out[kill.at_ms].append(ms)
        return dict(out)


__all__ = [
    "ChaosError",
    "ChaosSpec",
    "Kill",
    "Ledger",
    "allowed",
    "kill_node",
    "listening_pids",
    "owner_counts",
    "parse_chaos",
    "restart_node",
    "strike",
]
