"""Perpetual panes: funding rate, open interest, long/short ratios and taker buy/sell volume from the catalog,
put on the chart's bar times (each value in the bar bucket it falls in) so they line up with the candles.

Levels (funding rate, open interest, ratios) keep the bucket's last value; volumes (taker buy/sell) are summed.
A series recorded at several periods (5m and 1h open interest) is read at its finest period in the window, so a
volume is never counted twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from framework.timeunits import NS_PER_MS
from framework.values import parse_duration_ms
from framework.web.api import ApiError
from framework.web.bars import Window
from framework.web.catalog_view import PERP_COLUMNS
from framework.web.catalog_view import CatalogView

#: Series whose values add up over a bucket (the others are levels: the bucket's last value).
SUMMED = frozenset({"taker_volume"})


def requested_series(text: str | None, window: Window) -> list[str]:
    """The ``series`` a request names (comma-separated; default: all the instrument holds)."""
    held = window.holding.perp
    if window.holding.market != "futures":
        raise ApiError(f"{window.holding.instrument} is a spot pair; perpetual series belong to USD-M instruments")
    if not text:
        return list(held)
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in PERP_COLUMNS:
            raise ApiError(f"unknown perpetual series {name!r}; use one of {', '.join(PERP_COLUMNS)}")
    return names


def _finest_period(table: pa.Table) -> pa.Table:
    if "period" not in table.column_names or table.num_rows == 0:
        return table
    periods = set(table.column("period").to_pylist())
    if len(periods) <= 1:
        return table
    finest = min(periods, key=lambda p: parse_duration_ms(p) if p else 0)
    return table.filter(pa.compute.equal(table.column("period"), finest))


def bucketed(table: pa.Table, columns: list[str], interval_ms: int, summed: bool) -> dict[str, Any]:
    """``columns`` of ``table`` per bar bucket: ``time`` (bucket open, epoch ms) and one list per column."""
    if table.num_rows == 0:
        return {"time": [], **{c: [] for c in columns}}
    ts_ms = table.column("ts_event").to_numpy() // NS_PER_MS
    order = np.argsort(ts_ms, kind="stable")
    keys = (ts_ms - ts_ms % interval_ms)[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    out: dict[str, Any] = {"time": keys[starts].tolist()}
    for column in columns:
        values = table.column(column).to_numpy(zero_copy_only=False)[order]
        if summed:
            picked = np.add.reduceat(values, starts)
        else:
            picked = values[np.r_[starts[1:] - 1, len(values) - 1]]
        out[column] = [None if v != v else v for v in picked.tolist()]
    return out


def perp_payload(view: CatalogView, window: Window, names: list[str]) -> dict[str, Any]:
    """The ``/api/perp`` answer: each named series on the window's bar times."""
    series: dict[str, Any] = {}
    for name in names:
        table = _finest_period(view.perp(name, window.holding.instrument, window.start_ms, window.end_ms))
        series[name] = bucketed(table, list(PERP_COLUMNS[name]), window.interval_ms, name in SUMMED)
        series[name]["held"] = name in window.holding.perp
    return {"instrument": window.holding.instrument, "interval": window.interval, "start": window.start_ms,
            "end": window.end_ms, "series": series}
