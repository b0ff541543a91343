"""The order-flow pane: taker buy vs sell quote volume per bucket, delta and cumulative delta, counted exactly by
the order-flow actor's ``framework.orderflow.TakerFlow`` (integer quote amounts, dedupe by trade id, the same
bucket semantics), from the catalog's trades in a window.

``large``: the large-trade threshold in quote currency (USDT): smaller trades are not counted, as the actor's
``min_amount``. A window with more than ``MAX_TRADES`` trades is counted over its newest ``MAX_TRADES`` (the
answer says from when).
"""

from __future__ import annotations

from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.objects import FIXED_PRECISION

from framework.analysis.orderflow_chart import MAX_BUCKETS
from framework.data.fixed_point import raw_to_float
from framework.data.fixed_point import raw_to_int
from framework.orderflow import FlowTotals
from framework.orderflow import TakerFlow
from framework.orderflow import to_amount
from framework.timeunits import NS_PER_MS
from framework.values import parse_duration_ms
from framework.web.api import ApiError
from framework.web.catalog_view import CatalogView
from framework.web.catalog_view import Holding

#: Trades counted at most per request (about 2 s of counting; a busy day of BTCUSDT is 2.5 million).
MAX_TRADES = 1_000_000
BUYER = 1  # Nautilus AggressorSide.BUYER


def parse_bucket(text: str | None, default_ms: int) -> int:
    """The ``bucket`` query value (a duration: 10s, 1m, 5m ...) in ms."""
    return default_ms if not text else parse_duration_ms(text, "bucket")


def parse_large(text: str | None) -> Decimal:
    """The ``large`` query value: a quote amount of at least 0 (0: every trade)."""
    if not text:
        return Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ApiError(f"large={text!r} is not a number; give the large-trade threshold in quote currency, "
                       "e.g. 100000") from None
    if not value.is_finite() or value < 0:
        raise ApiError(f"large={text} must be a quote amount of 0 or more, e.g. 100000")
    try:
        to_amount(value)
    except ValueError:
        raise ApiError(f"large={text} is finer than the quote amounts are counted in") from None
    return value


def _exact_ints(column: pa.ChunkedArray, precision: int) -> list[int]:
    """A Nautilus fixed-point column as exact integers at ``10**precision`` (the value's own decimals).

    Through float64 and a rounding, which is exact while the integer stays below 2**53 (a price or size with at
    most 15 significant digits, as Binance's are); anything larger takes the slow exact path.
    """
    scaled = np.rint(raw_to_float(column) * 10.0**precision)
    if len(scaled) and np.abs(scaled).max() >= 2.0**53:
        step = 10 ** (FIXED_PRECISION - precision)
        return [raw // step for raw in raw_to_int(column)]
    return scaled.astype(np.int64).tolist()


def _trades(table: pa.Table) -> tuple[list[int], list[int], list[int], list[bool], int]:
    """Trade ids, times (ns), quote amounts and taker sides in id order, and the amounts' scale: price x size
    as exact integers at ``10**(price decimals + size decimals)`` (the same totals as the actor's
    ``quote_amount`` at ``NAUTILUS_QUOTE_SCALE``, with smaller integers)."""
    if table.num_rows == 0:
        return [], [], [], [], 1
    meta = table.schema.metadata or {}
    pp, sp = int(meta.get(b"price_precision", 8)), int(meta.get(b"size_precision", 8))
    ids = np.asarray(pc.cast(table.column("trade_id"), "int64"))
    order = np.argsort(ids, kind="stable")
    table = table.take(order)
    prices = _exact_ints(table.column("price"), pp)
    sizes = _exact_ints(table.column("size"), sp)
    amounts = [p * s for p, s in zip(prices, sizes)]
    buyer = (np.asarray(table.column("aggressor_side")) == BUYER).tolist()
    return ids[order].tolist(), np.asarray(table.column("ts_event")).astype(np.int64).tolist(), amounts, buyer, \
        10 ** (pp + sp)


def _row(totals: FlowTotals) -> tuple[int, float, float, float, float, int]:
    """One bucket for the page: floats divided from the exact integers (no float sums)."""
    scale = totals.scale
    return (totals.start_ns // NS_PER_MS, totals.buy_amount / scale, totals.sell_amount / scale,
            (totals.buy_amount - totals.sell_amount) / scale, totals.cumulative_delta / scale, totals.trades)


def flow_payload(view: CatalogView, holding: Holding, start_ms: int, end_ms: int, bucket_ms: int,
                 large: Decimal) -> dict[str, Any]:
    """The ``/api/orderflow`` answer for ``[start_ms, end_ms)``."""
    if not holding.trades:
        raise ApiError(f"the catalog holds no trades of {holding.instrument}; ingest them: python -m framework.main "
                       f"ingest --kinds agg_trades (see configs/ingest/btc_futures.yaml)")
    if (end_ms - start_ms) / bucket_ms > MAX_BUCKETS:
        raise ApiError(f"bucket={bucket_ms} ms makes over {MAX_BUCKETS:,} buckets in the window; choose a longer "
                       "bucket or a shorter window")
    table = view.trades(holding.instrument, start_ms, end_ms)
    truncated = table.num_rows > MAX_TRADES
    if truncated:
        table = table.sort_by("ts_event").slice(table.num_rows - MAX_TRADES)
    ids, ts, amounts, buyer, scale = _trades(table)
    try:
        min_amount = to_amount(large, scale)
    except ValueError:
        raise ApiError(f"large={large} is finer than the instrument's quote amounts (1/{scale})") from None
    flow = TakerFlow(bucket_ns=bucket_ms * NS_PER_MS, min_amount=min_amount, scale=scale)
    closed = flow.on_trades(zip(ids, ts, amounts, buyer))
    last = flow.bucket()
    rows = [_row(t) for t in (*closed, *([last] if last is not None else []))]
    times, buy, sell, delta, cumulative, counts = (list(c) for c in zip(*rows)) if rows else ([],) * 6
    return {"instrument": holding.instrument, "bucket_ms": bucket_ms, "large": str(large), "start": start_ms,
            "end": end_ms, "time": times, "buy": buy, "sell": sell,
            "delta": delta, "cumulative_delta": cumulative, "trades": counts,
            "counted_from": ts[0] // NS_PER_MS if truncated and ts else None,
            "duplicates": flow.duplicates}
