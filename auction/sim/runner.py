"""The simulator: one auction, a virtual clock, scripted actions and bots.

Each step takes the earliest of: the engine's next deadline, the next
scripted action, the next bot wake-up. Ties go in that order, so a deadline
always fires before a command at the same instant (a bid at the deadline is
late, exactly as in a live auction). Every event goes to the journal and to
the ``on_events`` observer (the ladder printer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auction.core.commands import AnyCommand
from auction.core.engine import Auction, Outcome
from auction.core.events import Event
from auction.core.spec import AuctionSpec
from auction.sim.bots import Bot
from auction.sim.script import ScriptAction

Observer = Callable[[int, list[Event], "Outcome | None", AnyCommand | None], None]

MAX_STEPS = 5_000_000
"""A safety bound: a simulation this long is a bug in a script or a bot."""


@dataclass
class Simulation:
    spec: AuctionSpec
    actions: Sequence[ScriptAction] = ()
    bots: Sequence[Bot] = ()
    on_events: Observer | None = None
    pace: Callable[[int], None] | None = None
    """Called with each step's virtual time before it runs (real-time demos)."""
    auction: Auction = field(init=False)
    journal: list[Event] = field(default_factory=list, init=False)
    stopped: str = field(default="", init=False)
    """Why the run stopped before the end ("" when the auction finished)."""

    def __post_init__(self) -> None:
        self.auction = Auction(self.spec)

    def run(self) -> Auction:
        """Run to the end (or until nothing more can happen)."""
        actions = list(self.actions)
        next_action = 0
        # A scripted action before the start runs at its own time (and is refused).
        now = min(self.spec.start_at, actions[0].at) if actions else self.spec.start_at
        for bot in self.bots:
            bot.replan(self.auction, now)
        for _ in range(MAX_STEPS):
            if self.auction.finished and next_action >= len(actions):
                return self.auction
            deadline = self.auction.next_deadline()
            action_at = actions[next_action].at if next_action < len(actions) else None
            bot_at, next_bot = self._next_bot()
            candidates = [t for t in (deadline, action_at, bot_at) if t is not None]
            if not candidates:
                self.stopped = "nothing left to happen (paused with no resume scheduled?)"
                return self.auction
            now = max(now, min(candidates))
            if self.pace is not None:
                self.pace(now)
            if deadline is not None and deadline <= now:
                self._record(now, self.auction.advance(now), None, None)
            elif action_at is not None and action_at <= now:
                command = actions[next_action].command
                next_action += 1
                self._send(now, command)
            elif next_bot is not None:
                for command in next_bot.act(self.auction, now):
                    self._send(now, command)
                if next_bot.wake_at is None:
                    next_bot.replan(self.auction, now)
                if next_bot.wake_at is not None and next_bot.wake_at <= now:
                    next_bot.wake_at = None
        self.stopped = f"stopped after {MAX_STEPS} steps"
        return self.auction

    def _next_bot(self) -> tuple[int | None, Bot | None]:
        best: Bot | None = None
        best_at: int | None = None
        for bot in self.bots:
            if bot.wake_at is not None and (best_at is None or bot.wake_at < best_at):
                best, best_at = bot, bot.wake_at
        return best_at, best

    def _send(self, now: int, command: AnyCommand) -> None:
        outcome = self.auction.handle(command, now)
        self._record(now, outcome.events, outcome, command)

    def _record(
        self, now: int, events: list[Event], outcome: Outcome | None, command: AnyCommand | None
    ) -> None:
        self.journal.extend(events)
        if self.on_events is not None:
            self.on_events(now, events, outcome, command)
        if events:
            for bot in self.bots:
                bot.replan(self.auction, now)
