"""Where each ingested series lands and how its Binance rows convert (``Target``, ``target_for``): trades,
klines with their KlineStats, mark/index/premium price klines, funding and the 5-minute statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from nautilus_trader.model.data import BarType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from framework.binance import schemas as rest
from framework.binance.columnar import page_columns
from framework.binance.endpoints import Market
from framework.catalog.series import Series
from framework.data import arrow_tables as fast_arrow
from framework.data import parsing
from framework.data import types
from framework.data.instruments import instrument_id_for
from framework.errors import UsageError
from framework.ingest.config import SeriesSpec
from framework.ingest.kinds import KINDS
from framework.ingest.kinds import DataKind
from framework.ingest.kinds import step_ms

#: Bars and custom data have few rows a day: one file a month keeps directories small and writes cheap.
SMALL_SERIES_PERIOD = "month"


@dataclass
class Target:
    """One series resolved against the catalog: where it lands and how its rows convert."""

    spec: SeriesSpec
    kind: DataKind
    series: Series
    instrument: Instrument
    step_ms: int | None  # kline interval / period / funding interval
    convert: Callable[[list[Any]], pa.Table]
    # ts_init = Binance time + shift (klines are stamped at their close, Binance at the open)
    shift_ms: int = 0
    # series written from the same rows beside the main one (klines: their KlineStats)
    companions: tuple[tuple[Series, Callable[[list[Any]], pa.Table]], ...] = ()

    @property
    def outputs(self) -> tuple[tuple[Series, Callable[[list[Any]], pa.Table]], ...]:
        """Every series the rows land in, with its conversion."""
        return ((self.series, self.convert), *self.companions)


def _objects_table(objs: list[Any], cls: type) -> pa.Table:
    batch = ArrowSerializer.serialize_batch(sorted(objs, key=lambda o: o.ts_init), data_cls=cls)
    return pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch


#: Binance prints mark, index and premium klines with 8 decimals and no volume.
DERIVED_PRICE_PRECISION = 8
_DERIVED_KLINES = {"mark_klines": "MARK", "index_klines": "INDEX", "premium_klines": "PREMIUM"}


def derived_bar_type(kind: str, symbol: str, interval: str) -> str:
    """Bar types of the derived price klines.

    Mark price klines are the perpetual's MARK bars (``BTCUSDT-PERP.BINANCE-1-MINUTE-MARK-EXTERNAL``);
    Nautilus has no index or premium price type, so those get instrument ids of their own:
    ``BTCUSDT-INDEX.BINANCE-1-MINUTE-LAST-EXTERNAL``, ``BTCUSDT-PREMIUM.BINANCE-1-MINUTE-LAST-EXTERNAL``.
    """
    last = str(parsing.kline_bar_type(instrument_id_for(Market.FUTURES, symbol), interval))
    if kind == "mark_klines":
        return last.replace("-LAST-", "-MARK-")
    return last.replace(f"{symbol}-PERP.", f"{symbol}-{_DERIVED_KLINES[kind]}.")


def _derived_bars(rows: parsing.Rows, bar_type: str) -> pa.Table:
    c = page_columns(rows, rest.Kline)
    return fast_arrow.bars_table(
        bar_type, DERIVED_PRICE_PRECISION, 0, open=c["open"], high=c["high"], low=c["low"], close=c["close"],
        volume=np.zeros(len(c), dtype=np.int64), ts_event=parsing.kline_close_ns(c),
    )


_TRADE_BATCHES = {"agg_trades": parsing.agg_trades_batch, "trades": parsing.trades_batch}


def kline_series(bar_type: BarType) -> tuple[Series, Series]:
    """Where klines land: the bars, and their KlineStats keyed by time like the bars (one per bar; the whole-row
    default key would sort every column)."""
    return (Series.bars(bar_type, period=SMALL_SERIES_PERIOD),
            Series.custom(types.KlineStats, bar_type, key=("ts_init",), period=SMALL_SERIES_PERIOD))


def target_for(spec: SeriesSpec, inst: Instrument, funding_hours: dict[str, int]) -> Target:
    """How ``spec``'s rows convert and where they land."""
    kind, iid, step = KINDS[spec.kind], inst.id, spec.step
    if spec.kind in _TRADE_BATCHES:
        batch = _TRADE_BATCHES[spec.kind]
        # both kinds land in TradeTick for the instrument; ids differ, so never mix them in one catalog
        return Target(spec, kind, Series.trades(iid), inst, None,
                      lambda rows: pa.Table.from_batches([batch(rows, inst)]))
    if spec.kind == "klines":
        bar_type = parsing.kline_bar_type(iid, step)
        # one KlineStats per bar: keyed by time like the bars (the whole-row default sorts every column)
        bars, stats_series = kline_series(bar_type)
        stats = (stats_series, lambda rows: parsing.kline_stats_table(rows, bar_type))
        return Target(spec, kind, bars, inst, step_ms(step),
                      lambda rows: pa.Table.from_batches([parsing.bar_record_batch(rows, bar_type, inst)]),
                      shift_ms=step_ms(step), companions=(stats,))
    if spec.kind in _DERIVED_KLINES:
        derived = derived_bar_type(spec.kind, spec.symbol, step)
        return Target(spec, kind, Series.bars(derived, period=SMALL_SERIES_PERIOD), inst, step_ms(step),
                      lambda rows: _derived_bars(rows, derived), shift_ms=step_ms(step))
    every = step_ms(step) if step else None
    if spec.kind == "funding":
        hours = funding_hours.get(spec.symbol, 8)
        cls, every = types.FundingRate, hours * 3_600_000
        parse = lambda rows: parsing.parse_funding_rates(rows, hours)  # noqa: E731
    elif spec.kind in parsing.PERIOD_STATISTICS:
        cls, parse_page = parsing.PERIOD_STATISTICS[spec.kind]
        parse = lambda rows: parse_page(rows, iid, step)  # noqa: E731
    else:
        raise UsageError(f"{spec.kind}: not an ingestible kind")
    return Target(spec, kind, Series.custom(cls, iid, period=SMALL_SERIES_PERIOD), inst, every,
                  lambda rows: _objects_table(parse(rows), cls))
