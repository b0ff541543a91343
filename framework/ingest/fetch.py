"""Page planners for ``ingest``: which requests cover a span, fetched concurrently, delivered in order.

Time-paged kinds split the span into windows of ``page_rows`` x step; id-paged kinds (aggTrades, trades)
first locate the ids at the span's ends, then split the contiguous id range into ``fromId`` pages. Either
way the pages are independent, so many are in flight at once while the client's weight limiter keeps the
budget, and pages come back in order so the writer can stream them to the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections import deque
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from framework.binance.columnar import decode_body
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.data.kinds import DataKind
from framework.data.kinds import Paging
from framework.data.kinds import RowField

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Span:
    """A closed range of keys (ms times for time kinds, ids for id kinds)."""

    lo: int
    hi: int

    def __len__(self) -> int:
        return max(0, self.hi - self.lo + 1)


async def ordered(pages: Iterable[Awaitable[Any]], concurrency: int) -> AsyncIterator[Any]:
    """Await up to ``concurrency`` pages at once; yield their results in the given order."""
    queue: list[asyncio.Task] = []
    it = iter(pages)
    try:
        for aw in it:
            queue.append(asyncio.ensure_future(aw))
            if len(queue) >= concurrency:
                yield await queue.pop(0)
        while queue:
            yield await queue.pop(0)
    finally:
        for task in queue:
            task.cancel()
        await asyncio.gather(*queue, return_exceptions=True)


class FairShare:
    """At most ``slots`` requests in flight across many series, handed out in turn: a freed slot goes to the next
    series (in round-robin order) that has a request waiting, so a series with many pages queued cannot starve the
    others; the client's weight limiter then spends the budget in that order.
    """

    def __init__(self, slots: int):
        self.free = slots
        self._waiting: dict[object, deque[asyncio.Future[None]]] = {}  # series with requests waiting, in turn order
        self.granted: Counter[object] = Counter()  # requests let through, by series

    @contextlib.asynccontextmanager
    async def turn(self, series: object) -> AsyncIterator[None]:
        """Hold one slot for a request of ``series`` (waiting for its turn when none is free)."""
        if self.free and not self._waiting:
            self.free -= 1
        else:
            granted = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(series, deque()).append(granted)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():  # handed a slot just as it was cancelled: pass it on
                    self._release()
                else:
                    self._forget(series, granted)
                raise
        self.granted[series] += 1
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            series = next(iter(self._waiting))
            queue = self._waiting.pop(series)
            granted = queue.popleft()
            if queue:
                self._waiting[series] = queue  # its next request waits for every other series' turn
            if not granted.done():
                granted.set_result(None)
                return
        self.free += 1

    def _forget(self, series: object, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(series)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[series]


class Fetcher:
    """Fetches one series (kind, market, symbol[, step]) from Binance.

    ``columns``: pages of klines, aggTrades and trades come as Arrow columns
    (``framework.binance.columnar.decode_body``; what ``ingest`` converts) instead of msgspec Structs.
    ``share``: the run's ``FairShare`` when many series are fetched at once (every request of this series waits
    for its turn there).
    """

    def __init__(self, client: BinanceRestClient, market: Market, kind: DataKind, symbol: str,
                 step: str | None = None, step_ms: int | None = None, concurrency: int = 8, columns: bool = False,
                 share: FairShare | None = None):
        self.client = client
        self.market = market
        self.kind = kind
        self.symbol = symbol
        self.step = step
        self.step_ms = step_ms
        self.concurrency = concurrency
        self.columns = columns
        self.share = share
        self.requests = 0

    def _params(self, **extra: Any) -> dict[str, Any]:
        return self.kind.params(self.symbol, self.step, **extra)

    def _turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.share.turn(self) if self.share is not None else contextlib.nullcontext()

    async def _get(self, name: str | None = None, **params: Any) -> list[Any]:
        self.requests += 1
        async with self._turn():
            return await self.client.get(self.market, name or self.kind.endpoint, **params)

    async def _page(self, span: Span, **params: Any) -> Any:
        """One page of the kind's endpoint, only the rows of ``span`` (columns: see the class)."""
        self.requests += 1
        async with self._turn():
            answer = await self.client.request(self.market, self.kind.endpoint, **params)
        rows = decode_body(answer.body, answer.endpoint.schema) if self.columns else answer.decode()
        return _within(rows, self.kind.key, span)

    # -- time-paged -----------------------------------------------------------------------------

    def time_windows(self, span: Span) -> list[Span]:
        """Windows of ``page_rows`` steps covering ``span`` (keys are step-aligned times)."""
        assert self.step_ms is not None
        width = self.kind.page_rows[self.market] * self.step_ms
        first = -(-span.lo // self.step_ms) * self.step_ms
        return [Span(t, min(t + width - 1, span.hi)) for t in range(first, span.hi + 1, width)]

    async def time_pages(self, span: Span) -> AsyncIterator[list[Any]]:
        """Every row of ``span`` in time windows, page by page in order."""
        limit = self.kind.page_rows[self.market]
        pages = (self._page(span, **self._params(startTime=w.lo, endTime=w.hi, limit=limit))
                 for w in self.time_windows(span))
        async for rows in ordered(pages, self.concurrency):
            yield rows

    # -- id-paged -------------------------------------------------------------------------------

    async def _agg_at(self, t_ms: int, horizon_ms: int) -> Any | None:
        """The first aggTrade at or after ``t_ms`` within ``horizon_ms`` (hour windows: the USD-M rule)."""
        t = t_ms
        while t < t_ms + horizon_ms:
            rows = await self._get("agg_trades", symbol=self.symbol, startTime=t, endTime=t + HOUR_MS - 1, limit=1)
            if rows:
                return rows[0]
            t += HOUR_MS
        return None

    async def newest_agg_trade(self) -> Any | None:
        """The symbol's newest aggTrade (None before its first trade)."""
        rows = await self._get("agg_trades", symbol=self.symbol, limit=1)
        return rows[-1] if rows else None

    async def id_span(self, start_ms: int, end_ms: int) -> Span | None:
        """The ids of the rows with times in [start_ms, end_ms] (None when there is none)."""
        first = await self._agg_at(start_ms, end_ms - start_ms + 1)
        if first is None or first.T > end_ms:
            return None
        after = await self._agg_at(end_ms + 1, HOUR_MS)
        if after is not None:
            last_agg = after.a - 1
            last_trade = after.f - 1
        else:  # nothing after the end yet: the newest row is the last
            newest = await self.newest_agg_trade()
            if newest.T > end_ms:
                raise RuntimeError(f"no aggTrade within an hour after {end_ms} but newer ones exist")
            last_agg, last_trade = newest.a, newest.l
        if self.kind.name == "trades":
            return Span(first.f, last_trade)
        return Span(first.a, last_agg)

    def id_pages_for(self, span: Span) -> list[Span]:
        """The ``fromId`` pages covering an id span."""
        size = self.kind.page_rows[self.market]
        return [Span(lo, min(lo + size - 1, span.hi)) for lo in range(span.lo, span.hi + 1, size)]

    async def id_pages(self, span: Span) -> AsyncIterator[list[Any]]:
        """Every row of an id ``span``, page by page in order."""
        pages = (self._page(span, **self._params(fromId=p.lo, limit=len(p))) for p in self.id_pages_for(span))
        async for rows in ordered(pages, self.concurrency):
            yield rows

    async def pages(self, span: Span) -> AsyncIterator[list[Any]]:
        """Every row of ``span`` (times or ids, by the kind's paging), page by page in key order."""
        source = self.id_pages(span) if self.kind.paging is Paging.ID else self.time_pages(span)
        async for rows in source:
            yield rows


def _within(rows: Any, key: RowField, span: Span) -> Any:
    """The rows whose key lies in ``span`` (a list of Structs or a batch of columns)."""
    if not isinstance(rows, pa.RecordBatch):
        return [r for r in rows if span.lo <= key(r) <= span.hi]
    keys = rows[key.name]
    if not len(rows):
        return rows
    low, high = pc.min_max(keys).values()
    if span.lo <= low.as_py() and high.as_py() <= span.hi:
        return rows
    return rows.filter(pc.and_(pc.greater_equal(keys, span.lo), pc.less_equal(keys, span.hi)))
