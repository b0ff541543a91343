"""Rebuild an instrument's recent aggTrades so the order-flow windows open exact: catalog first, then REST.

``restore_trades`` returns every aggTrade from ``since_ms`` on, in id order, as the ``(trade_id, ts_ns, amount,
buyer_aggressor)`` tuples ``TakerFlow.on_trades`` takes. The catalog (TradeTicks the recorder or ``ingest``
wrote, ids = aggTrade ids) supplies the longest contiguous run of ids from the first one needed; REST
``aggTrades`` pages by ``fromId`` from the next id on. It keeps paging until it meets the live stream
(``meet_id()``: the first id the live feed delivered, None while nothing came yet), so the restored trades and the
live ones join without a hole; the caller drops the overlap by id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.instruments import Instrument

from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.catalog.location import catalog_root
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data.fixed_point import raw_to_int
from framework.data.kinds import KINDS
from framework.data.types import fixed_raw
from framework.ingest.fetch import Fetcher
from framework.timeunits import NS_PER_MS

log = logging.getLogger("framework.orderflow.restore")

Trade = tuple[int, int, int, bool]  # (trade_id, ts_ns, amount at NAUTILUS_QUOTE_SCALE, buyer_aggressor)
PAGE_ROWS = 1000


def catalog_trades(catalog: str | Path, instrument: Instrument, since_ns: int) -> list[Trade]:
    """TradeTicks held in the catalog with ``ts_init >= since_ns``, in id order (empty if none)."""
    store = CatalogStore(catalog)
    table = store.read_table(Series.trades(instrument.id), start=since_ns,
                             columns=["trade_id", "price", "size", "aggressor_side", "ts_event"])
    if table.num_rows == 0:
        return []
    ids = np.asarray(pc.cast(table.column("trade_id"), "int64"))
    prices = raw_to_int(table.column("price"))
    sizes = raw_to_int(table.column("size"))
    buyer = np.asarray(table.column("aggressor_side")) == AggressorSide.BUYER.value
    ts = np.asarray(table.column("ts_event")).tolist()
    rows = zip(ids.tolist(), ts, (p * s for p, s in zip(prices, sizes)), buyer.tolist())
    return sorted(rows)


def contiguous_from(trades: list[Trade], first_id: int) -> list[Trade]:
    """The run of ``trades`` with ids ``first_id, first_id + 1, ...`` (stops at the first hole)."""
    out: list[Trade] = []
    expected = first_id
    for trade in trades:
        if trade[0] < expected:
            continue
        if trade[0] != expected:
            break
        out.append(trade)
        expected += 1
    return out


def rest_trade(row: object, price_precision: int, size_precision: int) -> Trade:
    """A REST aggTrade row as the engine's tuple, exactly as the live TradeTick would count it."""
    amount = fixed_raw(row.p, price_precision) * fixed_raw(row.q, size_precision)  # type: ignore[attr-defined]
    return row.a, row.T * NS_PER_MS, amount, not row.m  # type: ignore[attr-defined]


async def restore_trades(
    client: BinanceRestClient,
    market: Market,
    instrument: Instrument,
    since_ms: int,
    *,
    catalog: str | Path | None = None,
    meet_id: Callable[[], int | None] = lambda: None,
    meet_timeout_s: float = 30.0,
    poll_s: float = 0.2,
) -> list[Trade]:
    """Every aggTrade of ``instrument`` from ``since_ms`` until the live stream (see the module docstring)."""
    symbol = instrument.raw_symbol.value
    fetcher = Fetcher(client, market, KINDS["agg_trades"], symbol)
    span = await fetcher.id_span(since_ms, int(time.time() * 1000) + 3_600_000)
    trades: list[Trade] = []
    if span is not None:
        if catalog is not None and catalog_root(catalog).exists():  # a folder or s3://
            trades = contiguous_from(catalog_trades(catalog, instrument, since_ms * NS_PER_MS), span.lo)
        next_id = trades[-1][0] + 1 if trades else span.lo
    else:  # nothing traded since since_ms: start from the newest trade's successor
        newest = await fetcher.newest_agg_trade()
        next_id = 0 if newest is None else newest.a + 1
    from_catalog = len(trades)
    deadline = time.monotonic() + meet_timeout_s
    pp, sp = instrument.price_precision, instrument.size_precision
    while True:
        rows = await client.get(market, "agg_trades", symbol=symbol, fromId=next_id, limit=PAGE_ROWS)
        trades.extend(rest_trade(r, pp, sp) for r in rows if r.a >= next_id)
        if rows:
            next_id = rows[-1].a + 1
        if len(rows) == PAGE_ROWS:
            continue
        live = meet_id()
        if live is not None and live <= next_id:
            break
        if time.monotonic() > deadline:
            log.warning("%s: restore did not meet the live stream within %.0fs (restored up to id %d, live from %s)",
                        instrument.id, meet_timeout_s, next_id - 1, live)
            break
        await asyncio.sleep(poll_s)
    log.info("%s: restored %d trades since %d ms (%d from the catalog, %d over REST)",
             instrument.id, len(trades), since_ms, from_catalog, len(trades) - from_catalog)
    return trades
