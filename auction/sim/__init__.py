"""Running whole auctions on a virtual clock: scripted actions and bots.

Used by ``underbid simulate`` and ``underbid demo``. Not part of the pure
core, but deterministic too: bots draw from a seeded random generator.
"""

from auction.sim.bots import STRATEGIES, Bot, make_bots
from auction.sim.runner import Simulation
from auction.sim.script import ScriptAction, ScriptError, parse_script

__all__ = [
    "STRATEGIES",
    "Bot",
    "ScriptAction",
    "ScriptError",
    "Simulation",
    "make_bots",
    "parse_script",
]
