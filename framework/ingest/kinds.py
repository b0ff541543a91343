"""What ``ingest`` can fetch: one row per data kind, declared once.

Each kind names its REST endpoint, how it pages (by time or by id), the rows per request that buy the most
rows per unit of weight, and how to read a row's key (open time, period time or id). The fetchers, the gap
report and the configuration validation all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from framework.binance.endpoints import FUTURES_DATA_PERIODS
from framework.binance.endpoints import KLINE_INTERVALS
from framework.binance.endpoints import Market
from framework.binance.intervals import INTERVAL_MS
from framework.binance.limits import FUTURES_DATA_RETENTION_MS


class Paging(StrEnum):
    TIME = "time"  # startTime/endTime windows, fetched concurrently
    ID = "id"  # fromId pages over a contiguous id range, fetched concurrently


class Step(StrEnum):
    INTERVAL = "interval"  # kline interval (1m, 1h, ...)
    PERIOD = "period"  # /futures/data period (5m, 1h, ...)
    FUNDING = "funding"  # the symbol's funding interval (1, 4 or 8 h)
    NONE = "none"  # irregular (trades)


@dataclass(frozen=True)
class RowField:
    """Reads one integer field of a row (a Struct); ``name`` is also its column in a page of columns."""

    name: str

    def __call__(self, row: Any) -> int:
        return int(getattr(row, self.name))


_ts = RowField


@dataclass(frozen=True)
class DataKind:
    name: str
    endpoint: str
    markets: tuple[Market, ...]
    paging: Paging
    step: Step
    page_rows: dict[Market, int]  # rows per request: the most rows per unit of weight
    key: RowField  # what identifies a row (time in ms or id)
    time: RowField  # the row's Binance timestamp (ms)
    retention_ms: int | None = None  # how far back Binance serves it
    symbol_param: str = "symbol"
    extra: tuple[tuple[str, str], ...] = ()  # fixed parameters, e.g. contractType


_SPOT_FUT = (Market.SPOT, Market.FUTURES)
_FUT = (Market.FUTURES,)
# USD-M klines cost 1/2/5/10 for <100/<500/<=1000/>1000 rows: 499 rows for 2 is the best buy.
_KLINE_ROWS = {Market.SPOT: 1000, Market.FUTURES: 499}
_kline_key = _ts("open_time")

KINDS: dict[str, DataKind] = {
    k.name: k
    for k in (
        DataKind("agg_trades", "agg_trades", _SPOT_FUT, Paging.ID, Step.NONE, {Market.SPOT: 1000, Market.FUTURES: 1000},
                 key=_ts("a"), time=_ts("T")),
        DataKind("trades", "historical_trades", (Market.SPOT,), Paging.ID, Step.NONE, {Market.SPOT: 1000},
                 key=_ts("id"), time=_ts("time")),
        DataKind("klines", "klines", _SPOT_FUT, Paging.TIME, Step.INTERVAL, _KLINE_ROWS, key=_kline_key, time=_kline_key),
        DataKind("mark_klines", "mark_price_klines", _FUT, Paging.TIME, Step.INTERVAL, _KLINE_ROWS, key=_kline_key,
                 time=_kline_key),
        DataKind("index_klines", "index_price_klines", _FUT, Paging.TIME, Step.INTERVAL, _KLINE_ROWS, key=_kline_key,
                 time=_kline_key, symbol_param="pair"),
        DataKind("premium_klines", "premium_index_klines", _FUT, Paging.TIME, Step.INTERVAL, _KLINE_ROWS,
                 key=_kline_key, time=_kline_key),
        DataKind("funding", "funding_rate_history", _FUT, Paging.TIME, Step.FUNDING, {Market.FUTURES: 1000},
                 key=_ts("fundingTime"), time=_ts("fundingTime")),
        *(
            DataKind(name, endpoint, _FUT, Paging.TIME, Step.PERIOD, {Market.FUTURES: 500}, key=_ts("timestamp"),
                     time=_ts("timestamp"), retention_ms=FUTURES_DATA_RETENTION_MS)
            for name, endpoint in (
                ("open_interest", "open_interest_hist"),
                ("top_position_ratio", "top_long_short_position_ratio"),
                ("top_account_ratio", "top_long_short_account_ratio"),
                ("global_account_ratio", "long_short_account_ratio"),
                ("taker_volume", "taker_long_short_ratio"),
            )
        ),
    )
}


def step_choices(kind: DataKind) -> tuple[str, ...]:
    """The intervals or periods a kind accepts (empty when it has none)."""
    if kind.step is Step.INTERVAL:
        return KLINE_INTERVALS
    if kind.step is Step.PERIOD:
        return FUTURES_DATA_PERIODS
    return ()


def step_ms(value: str) -> int:
    length = INTERVAL_MS.get(value)
    if length is None:
        raise ValueError(f"{value!r} has no fixed length (calendar months are not supported for ingest)")
    return length
