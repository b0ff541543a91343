"""Binance REST rows (``framework.binance.schemas`` Structs) -> Nautilus objects, exactly and fast.

Trades and klines
-----------------
A page comes as a list of Structs or as the Arrow columns of ``framework.binance.columnar.decode_page``
(what ``ingest`` decodes; Structs become the same columns first, ``page_columns``), so both give the same
tables. Decimal strings become Nautilus fixed-point values without passing through a float:
``framework.data.arrow_tables`` (the one implementation of "columns -> Nautilus Arrow layout") casts each
string column to decimals at the raw scale (an error if a value is not a plain decimal or has non-zero
digits beyond the instrument's precision, so nothing is rounded silently) and reinterprets them as
Nautilus's raw values in the catalog's ``fixed_size_binary`` layout. This module adds the checks that
belong to Binance rows (sizes positive, OHLC consistent) and turns record batches into objects with
Nautilus's Rust wranglers, converted to the Cython ``TradeTick``/``Bar`` that the catalog and the
backtest engine take.

Nautilus's own ``TradeTick/Bar.from_raw_arrays_to_list`` are not used: in 1.231 they take
``double`` arrays (not raw integers) and build each value with ``Price(float, precision)``.

Timestamps are integer milliseconds times 1_000_000 (``arrow_tables.ms_to_ns``; Nautilus's
``millis_to_nanos`` goes through a double and is off by up to ~100 ns at current epochs).

* aggTrades -> ``TradeTick``: ``trade_id`` = aggregate id ``a``, aggressor SELLER when ``m`` (the
  buyer was the maker, so the taker sold), else BUYER; ``ts_event = ts_init = T``.
* trades -> ``TradeTick``: ``trade_id`` = ``id``, same aggressor rule on ``isBuyerMaker``.
* klines -> ``Bar`` + :class:`KlineStats` (record batches for the catalog, objects for the live client).
  Bars are stamped at the period end, ``close_time + 1 ms`` (= open time + interval): Nautilus stamps
  bars at close, and a bar must not reach a strategy before its period is over (stamping at Binance's
  open time would leak the whole period's OHLC into the past). ``close_time`` itself (period end - 1 ms)
  would be off the interval grid that Nautilus's own aggregated bars use.

Rows are kept in Binance's order (ascending time); the catalog requires it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggregationSource
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument

from framework.binance import schemas as rest
from framework.binance.columnar import page_columns
from framework.binance.intervals import bar_spec
from framework.data.arrow_tables import aggressor_from_buyer_maker
from framework.data.arrow_tables import bars_batch
from framework.data.arrow_tables import custom_data_table
from framework.data.arrow_tables import ms_to_ns
from framework.data.arrow_tables import trade_ticks_batch
from framework.data.fixed_point import decimal_column
from framework.data.fixed_point import plain_decimal_array
from framework.data.fixed_point import to_raw
from framework.data.instruments import futures_instrument_id
from framework.data.types import Basis
from framework.data.types import FundingRate
from framework.data.types import GlobalAccountRatio
from framework.data.types import KlineStats
from framework.data.types import OpenInterest
from framework.data.types import TakerBuySellVolume
from framework.data.types import TopTraderAccountRatio
from framework.data.types import TopTraderPositionRatio
from framework.data.types import checked_decimal_text
from framework.timeunits import NS_PER_MS

AggTradeRow = rest.SpotAggTrade | rest.FuturesAggTrade
#: A page of rows: decoded Structs, or their columns (``framework.binance.columnar.decode_page``).
Rows = Sequence[Any] | pa.RecordBatch
LongShortRatioType = type[TopTraderPositionRatio] | type[TopTraderAccountRatio] | type[GlobalAccountRatio]


# --------------------------------------------------------------------------------------------------
# Checks that belong to Binance rows (the Arrow layout itself is framework.data.arrow_tables')
# --------------------------------------------------------------------------------------------------


def _check_positive(decimals: pa.Decimal128Array, what: str) -> None:
    if len(decimals) and pc.min(decimals).as_py() <= 0:
        index = pc.index(pc.less_equal(decimals, pa.scalar(0, decimals.type)), True).as_py()
        raise ValueError(f"{what}[{index}] = {decimals[index].as_py().normalize()} is not positive")


def _check_non_negative(decimals: pa.Decimal128Array, what: str) -> None:
    if len(decimals) and pc.min(decimals).as_py() < 0:
        raise ValueError(f"{what}: negative value {pc.min(decimals).as_py().normalize()}")


def _ipc_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


# --------------------------------------------------------------------------------------------------
# Trades
# --------------------------------------------------------------------------------------------------


def trade_record_batch(
    instrument: Instrument,
    prices: Sequence[str] | pa.Array,
    sizes: Sequence[str] | pa.Array,
    buyer_maker: Sequence[bool] | pa.Array,
    trade_ids: Sequence[str] | np.ndarray | pa.Array,
    millis: Sequence[int] | pa.Array,
) -> pa.RecordBatch:
    """Trades as a record batch in the catalog's ``TradeTick`` layout (exact raw prices/sizes; ids as strings or
    an integer array)."""
    price = decimal_column(prices, instrument.price_precision, "price")
    size = decimal_column(sizes, instrument.size_precision, "size")
    _check_positive(size, "size")
    ts = ms_to_ns(millis)
    return trade_ticks_batch(
        instrument.id.value,
        instrument.price_precision,
        instrument.size_precision,
        price=to_raw(price),
        size=to_raw(size),
        aggressor_side=aggressor_from_buyer_maker(buyer_maker),
        trade_id=trade_ids,
        ts_event=ts,
        ts_init=ts,
    )


@lru_cache(maxsize=256)
def _trade_wrangler(
    instrument_id: str, price_precision: int, size_precision: int
) -> nautilus_pyo3.TradeTickDataWrangler:
    return nautilus_pyo3.TradeTickDataWrangler(instrument_id, price_precision, size_precision)


def _trade_ticks(instrument: Instrument, batch: pa.RecordBatch) -> list[TradeTick]:
    if batch.num_rows == 0:
        return []
    wrangler = _trade_wrangler(instrument.id.value, instrument.price_precision, instrument.size_precision)
    return TradeTick.from_pyo3_list(wrangler.process_record_batch_bytes(_ipc_bytes(batch)))


def agg_trades_batch(rows: Rows, instrument: Instrument) -> pa.RecordBatch:
    """aggTrades rows as a ``TradeTick`` record batch (id ``a``; SELLER aggressor when ``m``; ts = ``T``)."""
    c = page_columns(rows, rest.FuturesAggTrade)  # the fields both markets have
    return trade_record_batch(instrument, c["p"], c["q"], c["m"], c["a"], c["T"])


def trades_batch(rows: Rows, instrument: Instrument) -> pa.RecordBatch:
    """trades/historicalTrades rows as a ``TradeTick`` record batch (id; SELLER aggressor when ``isBuyerMaker``)."""
    c = page_columns(rows, rest.FuturesTrade)
    return trade_record_batch(instrument, c["price"], c["qty"], c["isBuyerMaker"], c["id"], c["time"])


def parse_agg_trades(rows: Sequence[AggTradeRow], instrument: Instrument) -> list[TradeTick]:
    """aggTrades page -> ``TradeTick`` (see :func:`agg_trades_batch`)."""
    return _trade_ticks(instrument, agg_trades_batch(rows, instrument))


# --------------------------------------------------------------------------------------------------
# Klines
# --------------------------------------------------------------------------------------------------


def kline_bar_type(instrument_id: InstrumentId, interval: str) -> BarType:
    """Binance interval -> external LAST bar type: ``1m`` -> ``BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL``
    (``ValueError`` for ``3d``, which Nautilus cannot express: see ``intervals.bar_spec``)."""
    return BarType(instrument_id, bar_spec(interval), AggregationSource.EXTERNAL)


def closed_klines(rows: Rows, now_ms: int) -> Rows:
    """The rows whose period has ended by ``now_ms`` (REST answers include the running kline)."""
    if isinstance(rows, pa.RecordBatch):
        close = rows["close_time"]
        if not len(rows) or pc.max(close).as_py() < now_ms:
            return rows
        return rows.filter(pc.less(close, now_ms))
    return [r for r in rows if r.close_time < now_ms]


def _check_ohlc(open_: pa.Array, high: pa.Array, low: pa.Array, close: pa.Array) -> None:
    """Nautilus's Bar invariants (high >= open/low/close, low <= open/close)."""
    broken = pc.or_(
        pc.or_(pc.less(high, open_), pc.less(high, low)),
        pc.or_(pc.less(high, close), pc.or_(pc.greater(low, open_), pc.greater(low, close))),
    )
    if pc.any(broken).as_py():
        index = pc.index(broken, True).as_py()
        raise ValueError(f"kline[{index}] violates high >= open/close >= low")


def bar_record_batch(rows: Rows, bar_type: BarType, instrument: Instrument) -> pa.RecordBatch:
    """Klines as a record batch in the catalog's ``Bar`` layout, stamped at ``close_time + 1 ms``."""
    pp, sp = instrument.price_precision, instrument.size_precision
    c = page_columns(rows, rest.Kline)
    open_, high, low, close = (decimal_column(c[name], pp, name) for name in ("open", "high", "low", "close"))
    volume = decimal_column(c["volume"], sp, "volume")
    _check_non_negative(low, "low")
    _check_non_negative(volume, "volume")
    _check_ohlc(open_, high, low, close)
    ts = kline_close_ns(c)
    raws = map(to_raw, (open_, high, low, close, volume))
    ohlcv = dict(zip(("open", "high", "low", "close", "volume"), raws, strict=True))
    return bars_batch(str(bar_type), pp, sp, **ohlcv, ts_event=ts, ts_init=ts)


@lru_cache(maxsize=256)
def _bar_wrangler(bar_type: str, price_precision: int, size_precision: int) -> nautilus_pyo3.BarDataWrangler:
    return nautilus_pyo3.BarDataWrangler(bar_type, price_precision, size_precision)


def parse_kline_bars(rows: Sequence[rest.Kline], bar_type: BarType, instrument: Instrument) -> list[Bar]:
    """Klines -> ``Bar`` (exact OHLCV, ``ts_event = ts_init = close_time + 1 ms``)."""
    if not rows:
        return []
    batch = bar_record_batch(rows, bar_type, instrument)
    wrangler = _bar_wrangler(str(bar_type), instrument.price_precision, instrument.size_precision)
    return Bar.from_pyo3_list(wrangler.process_record_batch_bytes(_ipc_bytes(batch)))


def parse_kline_stats(rows: Sequence[rest.Kline], bar_type: BarType) -> list[KlineStats]:
    """Klines -> :class:`KlineStats` (quote volume, trade count, taker-buy volumes), at the bar's ts."""
    for name in ("quote_volume", "taker_buy_volume", "taker_buy_quote_volume"):
        plain_decimal_array([getattr(r, name) for r in rows], name)
    instrument_id = bar_type.instrument_id
    key = str(bar_type)
    stats = []
    for r in rows:
        ts = (r.close_time + 1) * NS_PER_MS
        stats.append(
            KlineStats(
                instrument_id=instrument_id,
                bar_type=key,
                quote_volume_str=r.quote_volume,
                trade_count=r.trades,
                taker_buy_base_volume_str=r.taker_buy_volume,
                taker_buy_quote_volume_str=r.taker_buy_quote_volume,
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return stats


def kline_close_ns(columns: pa.RecordBatch) -> np.ndarray:
    """Kline columns -> the bars' timestamps: ``close_time + 1 ms`` in ns."""
    return ms_to_ns(np.asarray(columns["close_time"]) + 1)


def kline_stats_table(rows: Rows, bar_type: BarType) -> pa.Table:
    """Klines -> the catalog table of their :class:`KlineStats` (the rows :func:`parse_kline_stats` gives,
    built from columns: no object per row; Binance's decimal text kept as it is, once checked plain)."""
    c = page_columns(rows, rest.Kline)
    return custom_data_table(
        KlineStats,
        kline_close_ns(c),
        instrument_id=bar_type.instrument_id.value,
        bar_type=str(bar_type),
        quote_volume_str=plain_decimal_array(c["quote_volume"], "quote_volume"),
        trade_count=c["trades"],
        taker_buy_base_volume_str=plain_decimal_array(c["taker_buy_volume"], "taker_buy_volume"),
        taker_buy_quote_volume_str=plain_decimal_array(c["taker_buy_quote_volume"], "taker_buy_quote_volume"),
    )


# --------------------------------------------------------------------------------------------------
# USD-M statistics -> custom data
# --------------------------------------------------------------------------------------------------


def _millis(value: int | str) -> int:
    """``timestamp`` fields come as int or as a decimal string of ms."""
    return int(value)


@lru_cache(maxsize=4096)
def _futures_id(symbol: str) -> InstrumentId:
    return futures_instrument_id(symbol)


def funding_intervals(infos: Iterable[rest.FundingInfo]) -> dict[str, int]:
    """Symbol -> funding interval hours from ``/fapi/v1/fundingInfo`` (unlisted symbols: 8 h)."""
    return {info.symbol: info.fundingIntervalHours for info in infos}


def parse_funding_rates(
    rows: Sequence[rest.FundingRate],
    intervals: Mapping[str, int] | int = 8,
) -> list[FundingRate]:
    """fundingRate rows -> :class:`FundingRate` (``ts_event`` = ``fundingTime``).

    ``intervals``: hours for every symbol, or a mapping from :func:`funding_intervals` (symbols it
    lacks use 8). fundingInfo describes the current interval; older rows of a symbol whose interval
    changed get the current one.
    """
    out = []
    for r in rows:
        hours = intervals if isinstance(intervals, int) else intervals.get(r.symbol, 8)
        ts = r.fundingTime * NS_PER_MS
        out.append(
            FundingRate(
                instrument_id=_futures_id(r.symbol),
                rate_str=checked_decimal_text(r.fundingRate),
                mark_price_str=checked_decimal_text(r.markPrice or None),
                funding_time=ts,
                interval_hours=hours,
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return out


def parse_open_interest_hist(rows: Sequence[rest.OpenInterestHist], period: str) -> list[OpenInterest]:
    """openInterestHist rows -> :class:`OpenInterest` (contracts and quote value) for ``period``."""
    out = []
    for r in rows:
        ts = _millis(r.timestamp) * NS_PER_MS
        out.append(
            OpenInterest(
                instrument_id=_futures_id(r.symbol),
                period=period,
                open_interest_str=checked_decimal_text(r.sumOpenInterest),
                open_interest_value_str=checked_decimal_text(r.sumOpenInterestValue),
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return out


def parse_long_short_ratios(
    rows: Sequence[rest.LongShortRatio],
    cls: LongShortRatioType,
    period: str,
) -> list[Data]:
    """Ratio rows -> ``cls`` (one of the three ratio types; each ratio kind of ``data.kinds`` names its own).
    ``longAccount``/``shortAccount`` become ``long_share``/``short_share``."""
    out = []
    for r in rows:
        ts = _millis(r.timestamp) * NS_PER_MS
        out.append(
            cls(
                instrument_id=_futures_id(r.symbol),
                period=period,
                long_short_ratio_str=checked_decimal_text(r.longShortRatio),
                long_share_str=checked_decimal_text(r.longAccount),
                short_share_str=checked_decimal_text(r.shortAccount),
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return out


def parse_taker_buy_sell_volume(
    rows: Sequence[rest.TakerBuySellVolume],
    instrument_id: InstrumentId,
    period: str,
) -> list[TakerBuySellVolume]:
    """takerlongshortRatio rows (which carry no symbol) -> :class:`TakerBuySellVolume`."""
    out = []
    for r in rows:
        ts = _millis(r.timestamp) * NS_PER_MS
        out.append(
            TakerBuySellVolume(
                instrument_id=instrument_id,
                period=period,
                buy_volume_str=checked_decimal_text(r.buyVol),
                sell_volume_str=checked_decimal_text(r.sellVol),
                buy_sell_ratio_str=checked_decimal_text(r.buySellRatio),
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return out


def parse_basis(rows: Sequence[rest.Basis], instrument_id: InstrumentId, period: str) -> list[Basis]:
    """basis rows (which name the pair, not the contract's symbol) -> :class:`Basis` of ``instrument_id``;
    a perpetual's empty ``annualizedBasisRate`` becomes None."""
    out = []
    for r in rows:
        ts = int(r.timestamp) * NS_PER_MS
        out.append(
            Basis(
                instrument_id=instrument_id,
                period=period,
                contract_type=r.contractType,
                basis_str=checked_decimal_text(r.basis),
                basis_rate_str=checked_decimal_text(r.basisRate),
                futures_price_str=checked_decimal_text(r.futuresPrice),
                index_price_str=checked_decimal_text(r.indexPrice),
                annualized_basis_rate_str=checked_decimal_text(r.annualizedBasisRate or None),
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return out
