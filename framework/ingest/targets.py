"""Where each ingested series lands and how its Binance rows convert (``Target``, ``target_for``): one
conversion per shape of kind (``data.kinds.Shape``): trades, klines with their KlineStats, mark/index/premium
price klines, and custom data (funding, the period statistics) through the kind's parser."""

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
from framework.binance.intervals import fixed_ms
from framework.catalog.series import Series
from framework.data import arrow_tables as fast_arrow
from framework.data import parsing
from framework.data import types
from framework.data.kinds import KINDS
from framework.data.kinds import DataKind
from framework.data.kinds import Shape
from framework.data.kinds import Step
from framework.ingest.config import SeriesSpec
from framework.timeunits import HOUR_MS


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


def _derived_bars(rows: parsing.Rows, bar_type: str) -> pa.Table:
    c = page_columns(rows, rest.Kline)
    return fast_arrow.bars_table(
        bar_type, DERIVED_PRICE_PRECISION, 0, open=c["open"], high=c["high"], low=c["low"], close=c["close"],
        volume=np.zeros(len(c), dtype=np.int64), ts_event=parsing.kline_close_ns(c),
    )


def kline_series(bar_type: BarType) -> tuple[Series, Series]:
    """Where klines land: the bars, and their KlineStats keyed by time like the bars (one per bar; the whole-row
    default key would sort every column)."""
    period = KINDS["klines"].period
    return (Series.bars(bar_type, period=period),
            Series.custom(types.KlineStats, bar_type, key=("ts_init",), period=period))


def target_for(spec: SeriesSpec, inst: Instrument, funding_hours: dict[str, int]) -> Target:
    """How ``spec``'s rows convert and where they land (by the kind's shape, ``data.kinds.Shape``)."""
    kind, iid, step = KINDS[spec.kind], inst.id, spec.step
    if kind.shape is Shape.TRADES:
        batch = kind.parse
        return Target(spec, kind, Series.trades(iid, period=kind.period), inst, None,
                      lambda rows: pa.Table.from_batches([batch(rows, inst)]))
    if kind.shape is Shape.KLINES:
        bar_type = parsing.kline_bar_type(iid, step)
        bars, stats_series = kline_series(bar_type)
        stats = (stats_series, lambda rows: parsing.kline_stats_table(rows, bar_type))
        return Target(spec, kind, bars, inst, fixed_ms(step),
                      lambda rows: pa.Table.from_batches([parsing.bar_record_batch(rows, bar_type, inst)]),
                      shift_ms=fixed_ms(step), companions=(stats,))
    if kind.shape is Shape.PRICE_KLINES:
        derived = kind.bar_type(spec.market, spec.symbol, step)
        return Target(spec, kind, Series.bars(derived, period=kind.period), inst, fixed_ms(step),
                      lambda rows: _derived_bars(rows, derived), shift_ms=fixed_ms(step))
    every, arg = (fixed_ms(step) if step else None), step
    if kind.step is Step.FUNDING:  # spaced by the symbol's funding interval, which its parser takes
        arg = funding_hours.get(spec.symbol, 8)
        every = arg * HOUR_MS
    cls, parse = kind.data_type, kind.parse
    return Target(spec, kind, Series.custom(cls, iid, period=kind.period), inst, every,
                  lambda rows: _objects_table(parse(rows, iid, arg), cls))
