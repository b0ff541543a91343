"""Client-side rate limiting: spend Binance's request weight without ever being refused.

``WeightLimiter`` keeps one market's per-minute weight budget. Requests reserve their weight before
they are sent (so concurrent requests cannot overshoot together), the ``X-MBX-USED-WEIGHT-1M`` header of
every answer corrects the estimate (other processes on the same IP count too), and a 429/418
``Retry-After`` pauses every request of the market until it has passed. ``RequestLimiter`` counts the
request-number families (``/futures/data``: 1000 per 5 min; funding: 500 per 5 min).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class WeightLimiter:
    """A per-window weight budget shared by all requests to one Binance market."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        headroom: float = 0.02,
        clock: Callable[[], float] = time.time,
    ):
        self.window_s = window_s
        self.headroom = headroom
        self.clock = clock
        self._limit = limit
        self._window = -1
        self._used = 0
        self._carry = 0  # weight sent at the very end of a window, which may be counted in the next
        self._paused_until = 0.0
        self.waited_s = 0.0  # total time requests spent waiting here (for reports)
        self.peak_used = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def budget(self) -> int:
        """Weight we allow ourselves per window (the limit less the headroom)."""
        return max(1, int(self._limit * (1 - self.headroom)))

    def set_limit(self, limit: int, window_s: float | None = None) -> None:
        """Adopt the limit announced by exchangeInfo's ``rateLimits``."""
        self._limit = limit
        if window_s:
            self.window_s = window_s

    @property
    def used(self) -> int:
        self._roll(self.clock())
        return self._used

    @property
    def edge_s(self) -> float:
        """How close to a window's end a request may arrive in the next one (network latency)."""
        return min(1.0, self.window_s * 0.02)

    def _roll(self, now: float) -> None:
        window = int(now // self.window_s)
        if window != self._window:
            self._used = self._carry if window == self._window + 1 else 0
            self._window, self._carry = window, 0

    async def acquire(self, weight: int) -> None:
        """Wait until ``weight`` fits in the current window, then reserve it."""
        started = self.clock()
        while True:
            now = self.clock()
            self._roll(now)
            if now < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                continue
            if self._used + weight <= self.budget or (self._used == 0 and weight > self.budget):
                self._used += weight
                if (self._window + 1) * self.window_s - now < self.edge_s:
                    self._carry += weight
                self.peak_used = max(self.peak_used, self._used)
                self.waited_s += self.clock() - started
                return
            next_window = (self._window + 1) * self.window_s
            await asyncio.sleep(max(0.001, next_window - now))

    def observe(self, used: int, sent_at: float) -> None:
        """Correct the estimate with the server's count (only if the answer belongs to this window)."""
        now = self.clock()
        self._roll(now)
        if int(sent_at // self.window_s) == self._window:
            self._used = max(self._used, used)
            self.peak_used = max(self.peak_used, self._used)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429 or 418 ``Retry-After``)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)


class RequestLimiter:
    """At most ``count`` requests in any sliding ``window_s``."""

    def __init__(self, count: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.count = count
        self.window_s = window_s
        self.clock = clock
        self._sent: deque[float] = deque()

    async def acquire(self) -> None:
        while True:
            now = self.clock()
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            if len(self._sent) < self.count:
                self._sent.append(now)
                return
            await asyncio.sleep(self._sent[0] + self.window_s - now)
