"""Server-side rate limits of the local exchange, enforced as Binance does.

Weight is counted per client IP in fixed windows (a minute by default, shorter for drills). A request
that would exceed the budget is refused with 429 and ``Retry-After`` (seconds to the next window);
a client that keeps sending while told to wait is banned with 418 (``ban_s``, doubling on repeat,
as Binance escalates from 2 minutes up to 3 days). Request-count families (``/futures/data``, funding)
use sliding windows of their own.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from framework.binance.endpoints import FAMILY_LIMITS
from framework.binance.endpoints import Family
from framework.exchange.market_state import ApiError

TOO_MANY = "Too many requests; current request has limited."
BANNED = "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."


@dataclass
class _Client:
    window: int = -1
    used: int = 0
    retry_at: float = 0.0  # when the last 429 said the client may come back
    ignored_429: int = 0
    banned_until: float = 0.0
    bans: int = 0
    families: dict[Family, deque[float]] = field(default_factory=dict)


class RateLimiter:
    """Per-IP weight budget with Binance's 429 -> 418 escalation."""

    def __init__(
        self,
        weight_limit: int,
        window_s: float = 60.0,
        ban_after: int = 20,
        ban_s: float = 120.0,
        family_limits: dict[Family, tuple[int, int]] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.weight_limit = weight_limit
        self.window_s = window_s
        self.ban_after = ban_after
        self.ban_s = ban_s
        self.family_limits = dict(FAMILY_LIMITS if family_limits is None else family_limits)
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self.refused_429 = 0
        self.refused_418 = 0

    def used(self, ip: str) -> int:
        """Weight ``ip`` has used in the current window (the X-MBX-USED-WEIGHT header)."""
        c = self._clients.get(ip)
        if c is None or c.window != self._window(self.clock()):
            return 0
        return c.used

    def _window(self, now: float) -> int:
        return int(now // self.window_s)

    def charge(self, ip: str, weight: int, family: Family | None = None) -> int:
        """Count a request; returns the weight used in the window, or raises 429/418 as ApiError."""
        now = self.clock()
        c = self._clients.setdefault(ip, _Client())
        window = self._window(now)
        if c.window != window:
            c.window, c.used = window, 0
        if now < c.banned_until:
            self.refused_418 += 1
            raise self._banned(c, now)
        if now < c.retry_at:
            c.ignored_429 += 1
            if c.ignored_429 >= self.ban_after:
                c.bans += 1
                c.banned_until = now + self.ban_s * 2 ** (c.bans - 1)
                c.ignored_429 = 0
                self.refused_418 += 1
                raise self._banned(c, now)
        c.used += weight  # Binance counts refused requests too
        if c.used > self.weight_limit:
            retry = (window + 1) * self.window_s
            raise self._too_many(c, now, retry)
        if family is not None and family in self.family_limits:
            count, seconds = self.family_limits[family]
            q = c.families.setdefault(family, deque())
            while q and q[0] <= now - seconds:
                q.popleft()
            if len(q) >= count:
                raise self._too_many(c, now, q[0] + seconds)
            q.append(now)
        c.ignored_429 = 0
        return c.used

    def _too_many(self, c: _Client, now: float, retry_at: float) -> ApiError:
        self.refused_429 += 1
        c.retry_at = retry_at
        return ApiError(429, -1003, TOO_MANY, retry_after=max(1, math.ceil(retry_at - now)))

    def _banned(self, c: _Client, now: float) -> ApiError:
        until = int(c.banned_until * 1000)
        return ApiError(418, -1003, BANNED.format(until=until), retry_after=max(1, math.ceil(c.banned_until - now)))
