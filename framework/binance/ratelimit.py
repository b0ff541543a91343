"""Client-side rate limiting: spend Binance's request weight without ever being refused.

``WeightLimiter`` keeps one market's per-minute weight budget. Requests reserve their weight before
they are sent (so concurrent requests cannot overshoot together), the ``X-MBX-USED-WEIGHT-1M`` header of
every answer corrects the estimate (other processes on the same IP count too), and a 429/418
``Retry-After`` pauses every request of the market until it has passed. ``RequestLimiter`` counts the
request-number families (``/futures/data``: 1000 per 5 min; funding: 500 per 5 min).

A wait of ``WAIT_NOTICE_S`` or more is announced (at most every ``NOTICE_EVERY_S`` per limiter) as a
``WaitNotice`` to the limiter's ``on_wait`` callback, e.g. "spot: waiting 48 s for the weight budget
(2390/2400 used in this minute)", so a progress display that would otherwise sit still says why.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WAIT_NOTICE_S = 2.0  # a wait at least this long is announced
NOTICE_EVERY_S = 5.0  # at most one announcement per limiter this often (many requests wait together)


@dataclass(frozen=True, slots=True)
class WaitNotice:
    """Requests are about to wait ``seconds``: why, and how much of the budget is spent. ``str()`` is one line."""

    name: str  # the market (or request family) the limiter guards
    seconds: float
    reason: str  # "the weight budget", "Retry-After (HTTP 429)", "the request limit of futures_data"
    used: int | None = None
    limit: int | None = None
    window_s: float | None = None

    def __str__(self) -> str:
        text = f"{self.name + ': ' if self.name else ''}waiting {math.ceil(self.seconds)} s for {self.reason}"
        if self.used is not None and self.limit is not None and self.window_s:
            window = "this minute" if self.window_s == 60 else f"this {self.window_s:g} s window"
            text += f" ({self.used}/{self.limit} used in {window})"
        return text


OnWait = Callable[[WaitNotice], None]


class _Announcer:
    """Throttled wait announcements of one limiter."""

    def __init__(self, on_wait: OnWait | None, clock: Callable[[], float]):
        self.on_wait, self.clock = on_wait, clock
        self._last = -math.inf

    def __call__(self, make: Callable[[], WaitNotice], seconds: float) -> None:
        if self.on_wait is None or seconds < WAIT_NOTICE_S:
            return
        now = self.clock()
        if now - self._last >= NOTICE_EVERY_S:
            self._last = now
            self.on_wait(make())


class WeightLimiter:
    """A per-window weight budget shared by all requests to one Binance market."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        headroom: float = 0.02,
        clock: Callable[[], float] = time.time,
        name: str = "",
        on_wait: OnWait | None = None,
    ):
        self.name = name
        self.announce = _Announcer(on_wait, clock)
        self.window_s = window_s
        self.headroom = headroom
        self.clock = clock
        self._limit = limit
        self._window = -1
        self._used = 0
        self._carry = 0  # weight sent at the very end of a window, which may be counted in the next
        self._paused_until = 0.0
        self._pause_reason = "Retry-After"
        self.waited_s = 0.0  # total time requests spent waiting here (for reports)
        self.peak_used = 0

    @property
    def limit(self) -> int:
        """The window's weight limit as Binance announces it (``budget`` is what we let ourselves spend)."""
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
        """Weight spent in the current window: our reservations, raised to the server's count."""
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
                wait = self._paused_until - now
                self.announce(lambda: WaitNotice(self.name, wait, self._pause_reason), wait)
                await asyncio.sleep(wait)
                continue
            if self._used + weight <= self.budget or (self._used == 0 and weight > self.budget):
                self._used += weight
                if (self._window + 1) * self.window_s - now < self.edge_s:
                    self._carry += weight
                self.peak_used = max(self.peak_used, self._used)
                self.waited_s += self.clock() - started
                return
            wait = max(0.001, (self._window + 1) * self.window_s - now)
            self.announce(lambda: WaitNotice(self.name, wait, "the weight budget", self._used, self._limit,
                                             self.window_s), wait)
            await asyncio.sleep(wait)

    def observe(self, used: int, sent_at: float) -> None:
        """Correct the estimate with the server's count (only if the answer belongs to this window)."""
        now = self.clock()
        self._roll(now)
        if int(sent_at // self.window_s) == self._window:
            self._used = max(self._used, used)
            self.peak_used = max(self.peak_used, self._used)

    def pause(self, seconds: float, reason: str = "Retry-After") -> None:
        """Hold every request for ``seconds`` (a 429 or 418 ``Retry-After``); ``reason`` is what a notice says."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)
        self._pause_reason = reason


class RequestLimiter:
    """At most ``count`` requests in any sliding ``window_s``."""

    def __init__(self, count: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 name: str = "", on_wait: OnWait | None = None):
        self.name = name
        self.announce = _Announcer(on_wait, clock)
        self.count = count
        self.window_s = window_s
        self.clock = clock
        self._sent: deque[float] = deque()

    async def acquire(self) -> None:
        """Wait until one more request fits in the sliding window, then count it."""
        while True:
            now = self.clock()
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            if len(self._sent) < self.count:
                self._sent.append(now)
                return
            wait = self._sent[0] + self.window_s - now
            what = f"the request limit ({self.count} per {self.window_s:g} s)"
            self.announce(lambda: WaitNotice(self.name, wait, what), wait)
            await asyncio.sleep(wait)
