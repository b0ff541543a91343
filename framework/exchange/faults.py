"""Fault drills of the local exchange. Every drill is reproducible from its seed."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong, and how often.

    ``drop_ws_every``: close each stream connection after N data frames (0 = never). With
    ``drop_ws_random`` the N of each connection is drawn from [1, 2N] by the seeded generator.
    ``stall_pings``: stop sending pings and ignore pongs (a dead-looking server).
    ``latency_ms``: delay every HTTP answer and stream frame.
    ``http_5xx_rate``: share of REST requests answered 503 (-1001, outcome unknown).
    ``malformed_frame_rate``: share of stream frames replaced by a truncated one.
    """

    seed: int = 0
    drop_ws_every: int = 0
    drop_ws_random: bool = False
    stall_pings: bool = False
    latency_ms: float = 0.0
    http_5xx_rate: float = 0.0
    malformed_frame_rate: float = 0.0

    def rng(self, stream: str) -> random.Random:
        """A generator of its own for each drill stream (so drills do not shift each other)."""
        return random.Random(f"{self.seed}|{stream}")

    def drop_after(self, rng: random.Random) -> int:
        """Frames a new connection gets before it is cut (0 = never)."""
        if self.drop_ws_every <= 0:
            return 0
        return rng.randint(1, 2 * self.drop_ws_every) if self.drop_ws_random else self.drop_ws_every
