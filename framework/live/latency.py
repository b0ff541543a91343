"""Latency monitor: receive time - event time ``E`` per stream, the sign a client cannot keep up.

``observe`` is on the hot path (one subtraction, a ring-buffer store, two compares); percentiles are
computed only when asked. A WARNING is logged when a stream's latency has grown more than ``warn_ms`` above the
lowest it has been (its floor: network time plus any clock offset, e.g. a local exchange replaying recorded time), at
most once per ``warn_every_s`` per stream, so a slow consumer does not also drown in its own log lines.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("framework.live.latency")

WINDOW = 1024  # latencies kept per stream for the percentiles (a power of two)


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Receive time - ``E`` in ms over the last ``WINDOW`` frames of one stream."""

    stream: str
    count: int
    last_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float  # over the whole run


class _StreamLatency:
    __slots__ = ("ring", "n", "last", "max", "floor", "warned_at")

    def __init__(self) -> None:
        self.ring = [0.0] * WINDOW  # a list: a numpy scalar store costs ~10x more on the hot path
        self.n = 0
        self.last = 0.0
        self.max = float("-inf")
        self.floor = float("inf")
        self.warned_at = float("-inf")


class LatencyMonitor:
    """Per-stream receive latency with a warning threshold on its growth."""

    def __init__(self, warn_ms: float = 1000.0, warn_every_s: float = 30.0):
        self.warn_ms = warn_ms
        self.warn_every_s = warn_every_s
        self.warnings = 0
        self._streams: dict[str, _StreamLatency] = {}

    def observe(self, stream: str, recv_ns: int, event_ms: int) -> None:
        """Record one frame's latency (hot path); warn, throttled, when it has grown ``warn_ms`` above its
        floor."""
        s = self._streams.get(stream)
        if s is None:
            s = self._streams[stream] = _StreamLatency()
        latency = recv_ns / 1_000_000 - event_ms
        s.ring[s.n & (WINDOW - 1)] = latency
        s.n += 1
        s.last = latency
        if latency > s.max:
            s.max = latency
        if latency < s.floor:
            s.floor = latency
        elif latency - s.floor > self.warn_ms:
            now = time.monotonic()
            if now - s.warned_at >= self.warn_every_s:
                s.warned_at = now
                self.warnings += 1
                log.warning("stream %s is %.0f ms behind its event time, %.0f ms above its floor (threshold %.0f "
                            "ms): the client or the network cannot keep up", stream, latency, latency - s.floor,
                            self.warn_ms)

    def stats(self, stream: str) -> LatencyStats | None:
        """The latency figures of ``stream`` over its last ``WINDOW`` frames; None before its first frame."""
        s = self._streams.get(stream)
        if s is None or s.n == 0:
            return None
        window = np.array(s.ring[: min(s.n, WINDOW)])
        p50, p99 = np.percentile(window, [50, 99])
        return LatencyStats(stream, s.n, s.last, float(p50), float(p99), s.max)

    def all_stats(self) -> list[LatencyStats]:
        """The latency figures of every stream seen, in stream-name order."""
        return [st for name in sorted(self._streams) if (st := self.stats(name)) is not None]
