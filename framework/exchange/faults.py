"""Fault drills of the local exchange. Every drill is reproducible from its seed."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong, and how often.

    ``drop_ws_every``: close each stream connection (1001) after N data frames (0 = never). With
    ``drop_ws_random`` the N of each connection is drawn from [1, 2N] by the seeded generator.
    ``stall_pings``: the server stops sending pings, stops answering the client's pings and no longer
    drops a client for a missing pong, while data frames keep flowing (a half-dead keep-alive that only
    the client's own liveness checks can notice).
    ``latency_ms``: delay every HTTP answer and stream frame.
    ``http_5xx_rate``: share of REST requests answered 503 (-1001, outcome unknown).
    ``malformed_frame_rate``: chance, per data frame, of an *extra* truncated (unparsable) copy sent just
    before it. Real frames are never replaced or lost: a client that skips unparsable frames misses nothing.
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
