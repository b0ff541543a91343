"""data.binance.vision ``fundingRate`` and ``metrics`` files -> the catalog tables REST ingest writes.

A converter takes the rows of one file (a record batch of its columns, named by the file-row Struct's fields,
or a list of those Structs: ``framework.binance.schemas.FundingRateFileRow`` / ``MetricsRow``) and returns the
Arrow table of one kind's custom data type, built column-wise by ``framework.data.arrow_tables`` (the same type,
schema and bytes as the REST path's rows). :data:`CONVERTERS` holds one per kind, by kind name.

What lands (the ``fields`` of each kind's ``bulk`` row in ``framework.data.kinds``)
------------------------------------------------------------------------------------
* ``fundingRate`` (monthly, USD-M) -> ``FundingRate``: ``rate`` = ``last_funding_rate``, ``funding_time`` =
  ``ts_event`` = ``calc_time``, ``interval_hours`` = ``funding_interval_hours`` (the interval of that row, where
  REST ingest can only apply the symbol's current one). ``mark_price`` is not in the files: None (a backtest's
  funding settlement then uses the last price, as for old REST rows without one).
* ``metrics`` (daily, USD-M, one row per 5 minutes, ``period`` "5m"; ``ts_event`` = ``create_time``, read as UTC,
  the instant REST stamps the same period with):

  ===================================  ==============================================================
  file column                          lands in
  ===================================  ==============================================================
  ``sum_open_interest``                ``OpenInterest.open_interest``
  ``sum_open_interest_value``          ``OpenInterest.open_interest_value``
  ``sum_toptrader_long_short_ratio``   ``TopTraderPositionRatio.long_short_ratio``
  ``count_toptrader_long_short_ratio`` ``TopTraderAccountRatio.long_short_ratio``
  ``count_long_short_ratio``           ``GlobalAccountRatio.long_short_ratio``
  ``sum_taker_long_short_vol_ratio``   ``TakerBuySellVolume.buy_sell_ratio``
  ===================================  ==============================================================

  Not in the files, so None in these rows: the ratio types' ``long_share``/``short_share`` (only their ratio
  is published; a share derived from a rounded ratio would not be Binance's number) and ``TakerBuySellVolume``'s
  ``buy_volume``/``sell_volume`` (the taker buy and sell volumes of a period are in the klines' KlineStats:
  ``taker_buy_base_volume``, and the bar's volume minus it). An empty cell is an absent value; a row whose
  every column of a kind is empty gives that kind no row (the gap report shows the period as missing).
* Decimal text is kept as the file writes it (values equal REST's; the padding with zeros may differ).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.instruments import Instrument

from framework.binance import schemas as s
from framework.data.arrow_tables import custom_data_table
from framework.data.arrow_tables import ms_to_ns
from framework.data.kinds import KINDS
from framework.data.kinds import DataKind
from framework.ingest.config import SeriesSpec
from framework.ingest.targets import Target
from framework.ingest.targets import target_for
from framework.timeunits import NS_PER_MS

#: A converter: (one file's rows: a record batch of its columns or file-row Structs, the instrument, the
#: kind's period or None) -> the kind's catalog table.
Converter = Callable[[Any, Instrument, str | None], pa.Table]

_DECIMAL_OR_EMPTY = r"^(-?[0-9]+(\.[0-9]+)?)?$"
_CREATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def file_columns(rows: Any, row_type: type) -> pa.RecordBatch:
    """A file's rows as columns named by ``row_type``'s fields (a record batch is taken as it is)."""
    if isinstance(rows, pa.RecordBatch):
        return rows
    fields = row_type.__struct_fields__
    return pa.RecordBatch.from_arrays([pa.array([getattr(r, f) for r in rows]) for f in fields], names=list(fields))


def create_time_ms(values: pa.Array | Sequence[str]) -> np.ndarray:
    """``create_time`` text (``2024-01-01 00:05:00``, UTC) -> epoch ms; ``ValueError`` naming the first value
    that is not such a time."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.string())
    ok = pc.match_substring_regex(array, "^" + _CREATE_TIME.pattern + "$")
    if len(array) and not pc.all(ok).as_py():
        bad = array[pc.index(ok, False).as_py()].as_py()
        raise ValueError(f"create_time {bad!r} is not a time like 2024-01-01 00:05:00")
    form = "%Y-%m-%d %H:%M:%S"
    try:
        stamps = pc.strptime(array, format=form, unit="ms")
    except pa.ArrowInvalid as e:  # e.g. hour 25
        raise ValueError(f"create_time: {e}") from None
    # strptime rolls a 30th of February over to March: a date that does not print back is not one
    same = pc.equal(pc.strftime(stamps.cast(pa.timestamp("s")), format=form), array)
    if len(array) and not pc.all(same).as_py():
        raise ValueError(f"create_time {array[pc.index(same, False).as_py()].as_py()!r} is not a date")
    return stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)


def metrics_problem(columns: pa.RecordBatch) -> str | None:
    """The first cell of a metrics batch that is neither a plain decimal nor empty, as a message (None: all
    are)."""
    for name in s.MetricsRow.__struct_fields__[2:]:
        array = columns.column(name)
        ok = pc.match_substring_regex(array, _DECIMAL_OR_EMPTY)
        if not pc.all(ok).as_py():
            index = pc.index(ok, False).as_py()
            return f"row {index + 1}: {name} is {array[index].as_py()!r}, not a decimal number"
    return None


def _absent_when_empty(array: pa.Array) -> pa.Array:
    """Empty cells -> nulls (a value the file does not carry)."""
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def funding_table(rows: Any, instrument: Instrument, step: str | None = None) -> pa.Table:
    """``fundingRate`` file rows -> the ``FundingRate`` table (see the module notes; ``step`` is unused: each
    row says its own interval)."""
    c = file_columns(rows, s.FundingRateFileRow)
    column = dict(KINDS["funding"].bulk.fields)
    ts = ms_to_ns(np.asarray(c.column(column["funding_time"]), dtype=np.int64))
    return custom_data_table(
        KINDS["funding"].data_type, ts,
        instrument_id=instrument.id.value,
        rate_str=c.column(column["rate_str"]),
        mark_price_str=pa.nulls(len(ts), pa.string()),  # not in the files
        funding_time=ts,
        interval_hours=c.column(column["interval_hours"]),
    )


def statistic_converter(kind: DataKind) -> Converter:
    """The converter of one statistic fed by the ``metrics`` files (its fields from the kind's ``bulk`` row; the
    type's other decimal fields are absent)."""
    cls = kind.data_type
    taken = dict(kind.bulk.fields)
    absent = [f for f in cls.__annotations__ if f.endswith("_str") and f not in taken]

    def convert(rows: Any, instrument: Instrument, step: str | None) -> pa.Table:
        c = file_columns(rows, s.MetricsRow)
        values = {f: _absent_when_empty(c.column(col)) for f, col in taken.items()}
        held = None
        for v in values.values():  # rows carrying at least one of the kind's values
            has = pc.is_valid(v)
            held = has if held is None else pc.or_(held, has)
        if held is not None and not pc.all(held).as_py():
            c = c.filter(held)
            values = {f: v.filter(held) for f, v in values.items()}
        ts = create_time_ms(c.column("create_time")) * NS_PER_MS
        n = len(ts)
        return custom_data_table(cls, ts, instrument_id=instrument.id.value, period=step or kind.bulk.step,
                                 **values, **{f: pa.nulls(n, pa.string()) for f in absent})

    return convert


#: Kind name -> its converter, for the kinds whose files have no REST row twin (``fundingRate``, ``metrics``).
CONVERTERS: dict[str, Converter] = {
    "funding": funding_table,
    **{k.name: statistic_converter(k) for k in KINDS.values()
       if k.bulk is not None and k.bulk.directory == "metrics"},
}


def file_target(spec: SeriesSpec, instrument: Instrument) -> Target:
    """Where a bulk file's rows land and how they convert: the REST path's target (same series, same types), with
    the kind's file converter where its files have no REST row twin (:data:`CONVERTERS`)."""
    target = target_for(spec, instrument, {})
    convert = CONVERTERS.get(spec.kind)
    if convert is None:
        return target
    return replace(target, convert=lambda rows: convert(rows, instrument, spec.step))
