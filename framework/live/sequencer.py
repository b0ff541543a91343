"""Gap-free, duplicate-free, ordered delivery of a keyed stream (aggTrade ids, closed-kline open times).

A ``GapFreeSequence`` sits between a stream and its subscriber. Each live event carries a key that grows by
a known step (aggTrade ``a`` by 1, a closed kline's open time by the interval). When an event's key is the
expected next one it is delivered at once; a key already delivered is a duplicate and dropped; a key past
the expected one means frames were missed (a reconnect, a dropped frame, a restart): the sequence then
fetches the missing keys over REST (``fetch(lo, hi)``: pages of rows in key order, e.g. ``Fetcher.id_pages``
``fromId`` = last + 1), delivers them, and only then the live events that arrived meanwhile (buffered, in
arrival order, duplicates dropped). The subscriber sees one ordered sequence with every key once.

The gap is found by the first live event after it, so a reconnect costs no REST call when nothing was
missed (Binance's aggTrades cost 20 weight per call on USD-M; a reconnect of 200 quiet symbols must not burn
the budget). ``catch_up()`` fills up to the newest key REST knows, for a start from a known position
(restart) and a clean stop, where no live event will reveal the gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("framework.live.sequencer")

Fetch = Callable[[int, int], AsyncIterator[list[Any]]]


@dataclass
class SequenceStats:
    """Counters of one ``GapFreeSequence`` (``MarketFeed.stats`` reports them)."""

    delivered: int = 0
    filled: int = 0  # rows delivered from REST
    duplicates: int = 0  # events dropped because their key was already delivered
    gaps: int = 0  # gaps found (each filled by one fetch)
    unfilled: int = 0  # keys a failed fetch could not deliver


class GapFreeSequence:
    """One keyed series (e.g. BTCUSDT aggTrades): see the module docstring.

    ``key(row)`` gives a row's key, ``step`` the distance between consecutive keys, ``fetch(lo, hi)`` the
    rows with keys in ``[lo, hi]`` page by page, ``latest()`` the newest key REST has (for ``catch_up``),
    ``deliver(row, filled)`` hands a row on (``filled``: it came from REST). ``last``: the key already
    held (a restart resumes after it); None starts at the first live event.
    """

    def __init__(self, name: str, key: Callable[[Any], int], step: int, fetch: Fetch,
                 deliver: Callable[[Any, bool], None], latest: Callable[[], Awaitable[int | None]] | None = None,
                 last: int | None = None):
        self.name = name
        self.key = key
        self.step = step
        self.fetch = fetch
        self.deliver = deliver
        self.latest = latest
        self.last = last
        self.stats = SequenceStats()
        self._buffer: list[Any] | None = None  # live events held back while a fill runs
        self._fill: asyncio.Task | None = None

    @property
    def filling(self) -> bool:
        """A REST fill (a gap or ``catch_up``) is running and live events are held back."""
        return self._buffer is not None

    def push(self, row: Any) -> None:
        """A live event (hot path)."""
        if self._buffer is not None:
            self._buffer.append(row)
            return
        k = self.key(row)
        last = self.last
        if last is None or k == last + self.step:
            self.last = k
            self.stats.delivered += 1
            self.deliver(row, False)
        elif k <= last:
            self.stats.duplicates += 1
        else:
            self._start_fill(last + self.step, k - self.step, [row])

    def _start_fill(self, lo: int, hi: int, buffered: list[Any]) -> None:
        self.stats.gaps += 1
        self._buffer = buffered
        self._fill = asyncio.ensure_future(self._run_fill(lo, hi))

    async def _run_fill(self, lo: int, hi: int) -> None:
        log.info("%s: gap %d..%d, fetching it over REST", self.name, lo, hi)
        try:
            await self._fetch_range(lo, hi)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 (a failed fill must not stop the live feed)
            done = self.last if self.last is not None and self.last >= lo else lo - self.step
            missing = max(0, (hi - done) // self.step)
            self.stats.unfilled += missing
            log.error("%s: could not fetch %d..%d (%s); %d rows are missing from the sequence",
                      self.name, lo, hi, e, missing)
            self.last = hi  # go on with the live events
        self._drain()

    async def _fetch_range(self, lo: int, hi: int) -> None:
        async for rows in self.fetch(lo, hi):
            for row in rows:
                k = self.key(row)
                if self.last is not None and k <= self.last:
                    continue
                self.last = k
                self.stats.filled += 1
                self.stats.delivered += 1
                self.deliver(row, True)

    def _drain(self) -> None:
        buffered, self._buffer, self._fill = self._buffer or [], None, None
        for i, row in enumerate(buffered):
            self.push(row)
            if self._buffer is not None:  # another gap: the rest waits behind its fill
                self._buffer.extend(buffered[i + 1:])
                return

    async def wait_idle(self) -> None:
        """Return once no fill is running (fills started meanwhile included)."""
        while self._fill is not None:
            await asyncio.shield(self._fill)

    async def catch_up(self) -> None:
        """Deliver everything REST has after ``last`` (no-op without a position or a ``latest``)."""
        if self.last is None or self.latest is None:
            return
        await self.wait_idle()
        self._buffer = []  # no fill runs now: hold live rows until REST has been delivered
        try:
            newest = await self.latest()
            if newest is not None and newest > self.last:
                self.stats.gaps += 1
                await self._fetch_range(self.last + self.step, newest)
        finally:
            self._drain()
        await self.wait_idle()

    async def start_at_latest(self) -> None:
        """Without a position, start after the newest key REST has (what came before is not wanted)."""
        if self.last is None and self.latest is not None:
            self.last = await self.latest()

    def cancel(self) -> asyncio.Task | None:
        """Stop a running fill (returned, to be awaited). The sequence is left idle, so live events after a
        restart are delivered again: the first one finds the gap and fills it from ``last``."""
        fill, self._fill, self._buffer = self._fill, None, None
        if fill is not None:
            fill.cancel()
        return fill
