"""Live order flow of one instrument: the gap-free ``@aggTrade`` stream counted per bucket by the order-flow actor's
``framework.orderflow.TakerFlow``, one counter per (bucket, large-trade threshold) a page shows.

Quote amounts are exact integers (price x quantity, decimal text multiplied out, at ``AMOUNT_SCALE``), as the
``/api/orderflow`` pane counts them from the catalog. Pushed ``flow`` messages (topic: the instrument):
``{"time": bucket open ms, "bucket_ms", "large", "buy", "sell", "delta", "trades", "closed", "partial"}``; a bucket
is pushed when a trade closes it and, while open, at most every ``PUSH_S``. ``partial``: the first bucket counted
(its trades before the page asked are not in it). The cumulative delta is the page's: it continues its own line.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from framework.live.feed import MarketFeed
from framework.orderflow import FlowTotals
from framework.orderflow import TakerFlow
from framework.orderflow import to_amount
from framework.timeunits import NS_PER_MS
from framework.web.live_hub import Hub

AMOUNT_SCALE = 10**16  # Binance prices and quantities carry at most 8 decimals each
PUSH_S = 0.25
FlowKey = tuple[int, str]  # (bucket ms, large-trade threshold as decimal text)


class _Flow:
    def __init__(self, key: FlowKey) -> None:
        self.key = key
        self.counter = TakerFlow(bucket_ns=key[0] * NS_PER_MS, min_amount=to_amount(Decimal(key[1]), AMOUNT_SCALE),
                                 scale=AMOUNT_SCALE)
        self.first_bucket: int | None = None
        self.dirty = False


class FlowSet:
    """The order-flow counters of one instrument (the ``@aggTrade`` stream starts with the first one)."""

    def __init__(self, instrument: str, feed: MarketFeed, symbol: str, hub: Hub) -> None:
        self.instrument, self.feed, self.symbol, self.hub = instrument, feed, symbol, hub
        self.flows: dict[FlowKey, _Flow] = {}
        self._streaming = False
        self._pusher: asyncio.Task | None = None

    def keys(self) -> list[FlowKey]:
        """The (bucket ms, threshold) counters kept now."""
        return list(self.flows)

    async def want(self, keys: set[FlowKey]) -> None:
        """Count exactly ``keys`` from now on (the union of what the pages show)."""
        for key in list(self.flows):
            if key not in keys:
                del self.flows[key]
        for key in keys:
            self.flows.setdefault(key, _Flow(key))
        if keys and not self._streaming:
            self._streaming = True
            seq = self.feed.agg_trades(self.symbol, self._trade)
            await seq.start_at_latest()
            self._pusher = asyncio.ensure_future(self._push_open())

    def _trade(self, row: Any, filled: bool) -> None:
        amount = int(Decimal(row.p) * Decimal(row.q) * AMOUNT_SCALE)
        ts = row.T * NS_PER_MS
        for flow in list(self.flows.values()):
            for closed in flow.counter.on_trades(((row.a, ts, amount, not row.m),)):
                self._publish(flow, closed, True)
            flow.dirty = True

    def _publish(self, flow: _Flow, totals: FlowTotals, closed: bool) -> None:
        start = totals.start_ns // NS_PER_MS
        if flow.first_bucket is None:
            flow.first_bucket = start
        scale = totals.scale
        self.hub.publish({"type": "flow", "instrument": self.instrument, "bucket_ms": flow.key[0],
                          "large": flow.key[1], "time": start, "buy": totals.buy_amount / scale,
                          "sell": totals.sell_amount / scale, "delta": (totals.buy_amount - totals.sell_amount) / scale,
                          "trades": totals.trades, "closed": closed, "partial": start == flow.first_bucket},
                         self.instrument)

    async def _push_open(self) -> None:
        while True:
            await asyncio.sleep(PUSH_S)
            for flow in list(self.flows.values()):
                if flow.dirty:
                    flow.dirty = False
                    bucket = flow.counter.bucket()
                    if bucket is not None:
                        self._publish(flow, bucket, False)

    def stop(self) -> None:
        """Stop pushing the open buckets (the feed is stopped by its owner)."""
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(Exception):
                self._pusher = None
