"""What the charts and the reconciliation read: a ``collect`` output folder or the catalog.

Two views of the same data:

* :class:`MarketData` — float pandas frames indexed by UTC time, for charts (bars by their open time, as
  Binance and mplfinance stamp them; the catalog's bars are stamped at their close and are shifted back).
* :class:`ExactTrades` / :class:`ExactKlines` — Arrow tables with ``decimal128`` columns, for the
  reconciliation, where equality must be exact (no float anywhere).

Anything a source does not hold is ``None``; the charts say what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.objects import FIXED_PRECISION

from framework.analysis.config import check_catalog_folder
from framework.analysis.config import check_collect_folder
from framework.binance import schemas as rest
from framework.binance.endpoints import Market
from framework.binance.endpoints import endpoint
from framework.binance.intervals import INTERVAL_MS
from framework.binance.stream_decoder import StreamDecodeError
from framework.binance.stream_decoder import StreamDecoder
from framework.data.arrow_tables import BUYER
from framework.data.arrow_tables import decoded_frame
from framework.data.fixed_point import decimal_column
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.timeunits import NS_PER_MS
from framework.values import format_duration_ms

#: Decimal column widths: 18 digits hold any Binance price or size, and a product of two fits decimal128(38).
DECIMAL_DIGITS = 18


# -- chart data ---------------------------------------------------------------------------------------------


@dataclass
class MarketData:
    """Float data for charts. Bars: ``open, high, low, close, volume`` (+ ``quote_volume``,
    ``taker_buy_quote`` when known) indexed by open time; trades: ``price, size, buyer_taker``."""

    symbol: str
    source: str
    interval: str = "1m"
    spot: pd.DataFrame | None = None
    futures: pd.DataFrame | None = None
    mark: pd.Series | None = None
    index: pd.Series | None = None
    funding: pd.Series | None = None
    open_interest: pd.Series | None = None
    ticker: pd.DataFrame | None = None  # websocket rolling ticker: price, volume by event time
    latency: pd.Series | None = None  # stream latency (ms) by event time
    trades: dict[str, pd.DataFrame] = field(default_factory=dict)  # "spot" / "futures"


def _utc(values: Any, unit: str = "ms") -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype=np.int64), unit=unit, utc=True), name="time")


def describe(kind: str, path: str | Path) -> str:
    """``catalog /data/cat`` or ``collect outputs``, but ``catalog`` alone when the folder's name says it
    (never "catalog catalog" in a title)."""
    return str(path) if kind in Path(path).name.lower() else f"{kind} {path}"


# -- collect output folder ----------------------------------------------------------------------------------


class _Dump(msgspec.Struct):
    payload: msgspec.Raw


def _collect_payload(folder: Path, market: Market, name: str, schema: Any = None) -> Any:
    """The decoded payload of ``<folder>/<market>/<name>.json`` (None if the file is absent)."""
    path = folder / market.value / f"{name}.json"
    if not path.is_file():
        return None
    try:
        raw = msgspec.json.decode(path.read_bytes(), type=_Dump).payload
        return msgspec.json.decode(raw, type=schema or endpoint(market, name).schema)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UsageError(f"{path}: not a collect dump ({e}); re-run collect or point at another folder") from None


def _check_collect(folder: Path, symbol: str | None = None) -> tuple[Path, str]:
    """The folder (checked) and the symbol it holds; a ``symbol`` it does not hold is refused."""
    folder = Path(folder)
    check_collect_folder(folder)
    held = collect_symbols(folder)
    if symbol is not None and held and symbol not in held.values():
        shown = ", ".join(f"{s} ({m})" for m, s in held.items())
        raise FrameworkError(
            f"collect folder {folder} holds {shown}, not {symbol}; collect it: python -m framework.main collect "
            f"--spot-symbol {symbol} --futures-symbol {symbol} --futures-pair {symbol} --out <folder> [--offline]")
    return folder, symbol or held.get("futures") or held.get("spot") or "BTCUSDT"


class _Call(msgspec.Struct):
    market: str = ""
    name: str = ""
    params: dict[str, Any] = {}


class _Calls(msgspec.Struct):
    calls: list[_Call] = []


def collect_symbols(folder: Path) -> dict[str, str]:
    """The symbol of each market's klines in a collect folder, from its ``metrics.json`` (empty if unknown)."""
    metrics = Path(folder) / "metrics.json"
    try:
        calls = msgspec.json.decode(metrics.read_bytes(), type=_Calls).calls
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return {}
    return {c.market: str(c.params["symbol"]) for c in calls if c.name == "klines" and "symbol" in c.params}


def _klines_frame(rows: list[rest.Kline] | None) -> pd.DataFrame | None:
    if not rows:
        return None
    cols = [f.name for f in msgspec.structs.fields(rest.Kline)]
    frame = pd.DataFrame([msgspec.structs.astuple(r) for r in rows], columns=cols)
    out = frame[["open", "high", "low", "close", "volume", "quote_volume", "taker_buy_quote_volume"]].astype(float)
    out = out.rename(columns={"taker_buy_quote_volume": "taker_buy_quote"})
    out.index = _utc(frame["open_time"])
    return out


def _agg_trades_frame(rows: list[Any] | None) -> pd.DataFrame | None:
    if not rows:
        return None
    frame = pd.DataFrame({"price": [r.p for r in rows], "size": [r.q for r in rows],
                          "buyer_taker": [not r.m for r in rows]}, index=_utc([r.T for r in rows]))
    return frame.astype({"price": float, "size": float})


def from_collect(folder: str | Path, symbol: str | None = None) -> MarketData:
    """Chart data from a ``collect`` output folder (``symbol``: checked against the folder's; None: the
    folder's)."""
    folder, symbol = _check_collect(Path(folder), symbol)
    spot, fut = Market.SPOT, Market.FUTURES
    data = MarketData(symbol, describe("collect", folder))
    data.spot = _klines_frame(_collect_payload(folder, spot, "klines"))
    data.futures = _klines_frame(_collect_payload(folder, fut, "klines"))
    for name, attr in (("mark_price_klines", "mark"), ("index_price_klines", "index")):
        frame = _klines_frame(_collect_payload(folder, fut, name))
        setattr(data, attr, None if frame is None else frame["close"])
    if (bars := data.spot if data.spot is not None else data.futures) is not None and len(bars) > 1:
        step_ms = int((bars.index[1] - bars.index[0]) / pd.Timedelta(milliseconds=1))
        data.interval = format_duration_ms(step_ms)
    funding = _collect_payload(folder, fut, "funding_rate_history")
    if funding:
        data.funding = pd.Series([float(r.fundingRate) for r in funding],
                                 index=_utc([r.fundingTime for r in funding]), name="funding_rate")
    oi = _collect_payload(folder, fut, "open_interest_hist")
    if oi:
        data.open_interest = pd.Series([float(r.sumOpenInterest) for r in oi],
                                       index=_utc([int(r.timestamp) for r in oi]), name="open_interest")
    for market in (spot, fut):
        trades = _agg_trades_frame(_collect_payload(folder, market, "agg_trades"))
        if trades is not None:
            data.trades[market.value] = trades
    data.ticker, data.latency = _collect_stream(folder)
    return data


class _TickerFrame(msgspec.Struct):
    E: int
    c: str
    v: str


class _StreamMetrics(msgspec.Struct):
    per_frame: list[dict[str, int]] = []


class _Metrics(msgspec.Struct):
    streams: list[_StreamMetrics] = []


def _collect_stream(folder: Path) -> tuple[pd.DataFrame | None, pd.Series | None]:
    """The rolling-ticker capture (price, rolling volume) and its per-frame latency from ``metrics.json``."""
    ticker = _collect_payload(folder, Market.SPOT, "websocket/rolling_window_ticker", list[_TickerFrame])
    frame = None
    if ticker:
        frame = pd.DataFrame({"price": [float(t.c) for t in ticker], "volume": [float(t.v) for t in ticker]},
                             index=_utc([t.E for t in ticker]))
    latency = None
    metrics = folder / "metrics.json"
    if metrics.is_file():
        try:
            per_frame = [p for s in msgspec.json.decode(metrics.read_bytes(), type=_Metrics).streams
                         for p in s.per_frame if "latency_ms" in p]
        except (msgspec.DecodeError, msgspec.ValidationError):
            per_frame = []
        if per_frame:
            latency = pd.Series([p["latency_ms"] for p in per_frame], index=_utc([p["event_ms"] for p in per_frame]),
                                name="latency_ms").sort_index()
    return frame, latency


# -- catalog ------------------------------------------------------------------------------------------------


class CatalogSource:
    """Reads one symbol's series from a catalog folder with plain pyarrow (no Nautilus objects)."""

    def __init__(self, path: str | Path, symbol: str = "BTCUSDT", interval: str = "1m",
                 start_ns: int | None = None, end_ns: int | None = None) -> None:
        path = path if isinstance(path, str) and path.startswith("s3://") else Path(path)
        check_catalog_folder(path)
        # imported here: the catalog stack costs a second at import and collect-only users do not need it
        from framework.catalog.health import require_readable
        from framework.catalog.store import CatalogStore

        require_readable(path)  # a damaged file: one line naming it and the repair
        self.store = CatalogStore(path, recover=False)
        self.symbol, self.interval = symbol, interval
        interval_ms = INTERVAL_MS.get(interval)
        if interval_ms is None:
            raise UsageError(f"--interval {interval!r}: use a Binance kline interval of fixed length, e.g. 1m, 1h")
        self.interval_ms = interval_ms
        self.start_ns, self.end_ns = start_ns, end_ns

    def instrument_id(self, market: Market | str) -> str:
        """The instrument id of the symbol on market (``BTCUSDT-PERP.BINANCE``)."""
        from framework.data.instruments import instrument_id_for

        return str(instrument_id_for(market, self.symbol))

    def bar_type(self, market: Market | str, kind: str = "klines") -> str:
        """The bar type a klines kind of the symbol lands in at the source's interval."""
        from framework.data.kinds import KINDS

        return KINDS[kind].bar_type(market, self.symbol, self.interval)

    def table(self, series: Any, columns: list[str] | None = None, pad_ns: int = 0) -> pa.Table:
        """Rows of ``series`` in the span (bars: ``pad_ns`` later, as they are stamped at their close)."""
        start = None if self.start_ns is None else self.start_ns + pad_ns
        end = None if self.end_ns is None else self.end_ns + pad_ns
        return self.store.read_table(series, start, end, columns=columns)

    def bars(self, bar_type: str) -> pd.DataFrame | None:
        """Bars of bar_type as a float frame indexed by open time (None when the span holds none)."""
        from framework.catalog.series import Series

        table = self.table(Series.bars(bar_type), pad_ns=self.interval_ms * NS_PER_MS)
        if table.num_rows == 0:
            return None
        frame = decoded_frame(table)
        frame.index = pd.DatetimeIndex(frame.pop("ts_event") - pd.Timedelta(milliseconds=self.interval_ms),
                                       name="time")
        return frame.drop(columns=["ts_init"])

    def custom(self, cls: type, identifier: str, columns: list[str], pad_ns: int = 0) -> pd.DataFrame | None:
        """Columns of a custom data series as a frame indexed by event time (None when empty)."""
        from framework.catalog.series import Series

        table = self.table(Series.custom(cls, identifier), columns=[*columns, "ts_event"], pad_ns=pad_ns)
        if table.num_rows == 0:
            return None
        frame = table.select(columns).to_pandas()
        frame.index = _utc(table.column("ts_event").to_numpy(), unit="ns")
        return frame

    def trades(self, market: Market | str) -> pd.DataFrame | None:
        """Trades of the symbol on market: price, size, buyer_taker, latency_ms by event time."""
        from framework.catalog.series import Series

        table = self.table(Series.trades(self.instrument_id(market)))
        if table.num_rows == 0:
            return None
        frame = decoded_frame(table.select(["price", "size", "ts_init"]))
        frame["buyer_taker"] = table.column("aggressor_side").to_numpy() == BUYER
        frame["latency_ms"] = (table.column("ts_init").to_numpy().astype(np.int64)
                               - table.column("ts_event").to_numpy().astype(np.int64)) / NS_PER_MS
        frame.index = _utc(table.column("ts_event").to_numpy(), unit="ns")
        return frame.drop(columns=["ts_init"])


def from_catalog(path: str | Path, symbol: str = "BTCUSDT", interval: str = "1m",
                 start_ns: int | None = None, end_ns: int | None = None) -> MarketData:
    """Chart data for ``symbol`` from a catalog (bars at ``interval``, optionally only ``[start, end]``)."""
    from framework.data.types import FundingRate
    from framework.data.types import KlineStats
    from framework.data.types import OpenInterest

    src = CatalogSource(path, symbol, interval, start_ns, end_ns)
    data = MarketData(symbol, describe("catalog", path), interval)
    pad = src.interval_ms * NS_PER_MS
    for market in (Market.SPOT, Market.FUTURES):
        bar_type = src.bar_type(market)
        bars = src.bars(bar_type)
        stats = src.custom(KlineStats, bar_type, ["quote_volume_str", "taker_buy_quote_volume_str"], pad)
        if bars is not None and stats is not None:
            stats.index = stats.index - pd.Timedelta(milliseconds=src.interval_ms)
            bars = bars.join(stats.astype(float).rename(columns={"quote_volume_str": "quote_volume",
                                                                 "taker_buy_quote_volume_str": "taker_buy_quote"}))
        setattr(data, market.value, bars)
        trades = src.trades(market)
        if trades is not None:
            data.trades[market.value] = trades
    for kind, attr in (("mark_klines", "mark"), ("index_klines", "index")):
        bars = src.bars(src.bar_type(Market.FUTURES, kind))
        setattr(data, attr, None if bars is None else bars["close"])
    perp = src.instrument_id(Market.FUTURES)
    funding = src.custom(FundingRate, perp, ["rate_str"])
    data.funding = None if funding is None else funding["rate_str"].astype(float).rename("funding_rate")
    oi = src.custom(OpenInterest, perp, ["open_interest_str"])
    data.open_interest = None if oi is None else oi["open_interest_str"].astype(float).rename("open_interest")
    fut = data.trades.get("futures")
    if fut is not None and (fut["latency_ms"] != 0).any():  # a live recording: ts_init is the receive time
        data.latency = fut["latency_ms"]
    return data


# -- exact data for the reconciliation ----------------------------------------------------------------------


def _decimal_type(scale: int) -> pa.Decimal128Type:
    return pa.decimal128(DECIMAL_DIGITS, scale)


def _text_decimals(values: list[str], scale: int, what: str) -> pa.Array:
    return decimal_column(values, scale, what).cast(_decimal_type(scale))


def _raw_decimals(column: pa.ChunkedArray, scale: int) -> pa.Array:
    """A Nautilus fixed-point column as exact decimals at ``scale`` (its instrument precision)."""
    raw = column.combine_chunks()
    wide = pa.Array.from_buffers(pa.decimal128(38, FIXED_PRECISION), len(raw), raw.buffers(), raw.null_count)
    return wide.cast(_decimal_type(scale))


def _text_scale(values: list[str]) -> int:
    """The fewest decimals that hold every value exactly (spot prints 8, most are zeros)."""
    return max((len(v.partition(".")[2].rstrip("0")) for v in values), default=0)


@dataclass
class ExactTrades:
    """Aggregate trades: ``time_ms`` int64, ``trade_id`` int64, ``price``, ``qty`` decimal128, ``buyer_taker``."""

    table: pa.Table
    source: str
    covered: tuple[int, int] | None = None  # [first, last] ms known complete (None: from the first to the last)
    # the [first, last] ms spans known complete, when the trades hold holes between them (a catalog whose
    # recording skipped a gap); None: all of ``covered``
    spans: list[tuple[int, int]] | None = None

    @classmethod
    def from_text(cls, times: list[int], ids: list[int], prices: list[str], qtys: list[str],
                  buyer_taker: list[bool], source: str) -> ExactTrades:
        """Trades from Binance's decimal text, exactly, in (time, id) order."""
        order = np.lexsort((np.asarray(ids, dtype=np.int64), np.asarray(times, dtype=np.int64)))
        table = pa.table({
            "time_ms": pa.array(times, pa.int64()), "trade_id": pa.array(ids, pa.int64()),
            "price": _text_decimals(prices, _text_scale(prices), "price"),
            "qty": _text_decimals(qtys, _text_scale(qtys), "qty"),
            "buyer_taker": pa.array(buyer_taker, pa.bool_()),
        })
        return cls(table.take(order), source)

    def span_ms(self) -> tuple[int, int] | None:
        """The [first, last] ms the trades cover (None when there are none)."""
        if self.covered is not None:
            return self.covered
        if self.table.num_rows == 0:
            return None
        return pc.min(self.table["time_ms"]).as_py(), pc.max(self.table["time_ms"]).as_py()


@dataclass
class ExactKlines:
    """REST klines: ``open_ms`` int64, ``open, high, low, close, volume`` decimal128, ``taker_buy_quote``
    decimal128 (null where the source does not hold it)."""

    table: pa.Table
    source: str
    interval_ms: int


KLINE_FIELDS = ("open", "high", "low", "close", "volume")


def collect_exact(folder: str | Path, market: Market | str, symbol: str | None = None
                  ) -> tuple[ExactTrades | None, ExactKlines | None]:
    """aggTrades and klines of one market from a ``collect`` folder, exact (``symbol``: checked against the
    folder's)."""
    folder, market = _check_collect(Path(folder), symbol)[0], Market(market)
    trades = klines = None
    rows = _collect_payload(folder, market, "agg_trades")
    if rows:
        trades = ExactTrades.from_text([r.T for r in rows], [r.a for r in rows], [r.p for r in rows],
                                       [r.q for r in rows], [not r.m for r in rows],
                                       f"{folder}/{market.value}/agg_trades.json")
    bars = _collect_payload(folder, market, "klines")
    if bars:
        columns: dict[str, Any] = {"open_ms": pa.array([b.open_time for b in bars], pa.int64())}
        for name in (*KLINE_FIELDS, "taker_buy_quote_volume"):
            values = [getattr(b, name) for b in bars]
            columns[name] = _text_decimals(values, _text_scale(values), name)
        columns["taker_buy_quote"] = columns.pop("taker_buy_quote_volume")
        step = bars[1].open_time - bars[0].open_time if len(bars) > 1 else bars[0].close_time + 1 - bars[0].open_time
        klines = ExactKlines(pa.table(columns), f"{folder}/{market.value}/klines.json", step)
    return trades, klines


def catalog_exact(path: str | Path, symbol: str, market: Market | str, interval: str = "1m",
                  start_ns: int | None = None, end_ns: int | None = None
                  ) -> tuple[ExactTrades | None, ExactKlines | None]:
    """TradeTicks and Bars + KlineStats of ``symbol`` on ``market`` from a catalog, exact."""
    from framework.catalog.series import Series
    from framework.data.types import KlineStats

    src = CatalogSource(path, symbol, interval, start_ns, end_ns)
    market = Market(market)
    series = Series.trades(src.instrument_id(market))
    trades = klines = None
    table = src.table(series)
    if table.num_rows:
        meta = table.schema.metadata
        ids = pc.cast(table["trade_id"], pa.int64())
        exact = pa.table({
            "time_ms": pc.divide(pc.cast(table["ts_event"], pa.int64()), NS_PER_MS),
            "trade_id": ids,
            "price": _raw_decimals(table["price"], int(meta[b"price_precision"])),
            "qty": _raw_decimals(table["size"], int(meta[b"size_precision"])),
            "buyer_taker": pc.equal(table["aggressor_side"], BUYER),
        }).sort_by([("time_ms", "ascending"), ("trade_id", "ascending")])
        held = src.store.holdings(series).intervals
        covered = spans = None
        if held:  # the store knows which spans were fetched completely, even where no trade happened
            lo_ns = held[0][0] if start_ns is None else max(held[0][0], start_ns)
            hi_ns = held[-1][1] if end_ns is None else min(held[-1][1], end_ns)
            covered = (-(-lo_ns // NS_PER_MS), hi_ns // NS_PER_MS)
            spans = [(-(-max(lo, lo_ns) // NS_PER_MS), min(hi, hi_ns) // NS_PER_MS)
                     for lo, hi in held if lo <= hi_ns and hi >= lo_ns]
        trades = ExactTrades(exact, f"catalog {path} TradeTick {series.identifier}", covered, spans)
    bar_type = src.bar_type(market)
    pad = src.interval_ms * NS_PER_MS
    bars = src.table(Series.bars(bar_type), pad_ns=pad)
    if bars.num_rows:
        meta = bars.schema.metadata
        pp, sp = int(meta[b"price_precision"]), int(meta[b"size_precision"])
        close_ns = pc.cast(bars["ts_event"], pa.int64())
        columns: dict[str, Any] = {"open_ms": pc.subtract(pc.divide(close_ns, NS_PER_MS), src.interval_ms)}
        for name in KLINE_FIELDS:
            columns[name] = _raw_decimals(bars[name], sp if name == "volume" else pp)
        stats = src.table(Series.custom(KlineStats, bar_type), ["taker_buy_quote_volume_str", "ts_event"], pad)
        by_close = dict(zip(stats["ts_event"].to_pylist(), stats["taker_buy_quote_volume_str"].to_pylist()))
        q = [by_close.get(ts) for ts in bars["ts_event"].to_pylist()]
        known = [v for v in q if v is not None]
        scale = _text_scale(known)
        columns["taker_buy_quote"] = pa.array([None if v is None else Decimal(v) for v in q], _decimal_type(scale))
        klines = ExactKlines(pa.table(columns), f"catalog {path} Bar {bar_type} + KlineStats", src.interval_ms)
    return trades, klines


def stream_frames_exact(path: str | Path, market: Market | str, symbol: str) -> ExactTrades:
    """``symbol``'s aggTrades from a JSON Lines capture of stream frames (raw or combined ``{"stream", "data"}``)."""
    path, market = Path(path), Market(market)
    if not path.is_file():
        raise UsageError(f"--stream-frames {path}: no such file; pass a JSON Lines file of aggTrade stream frames")
    decoder = StreamDecoder(market)
    times, ids, prices, qtys, takers = [], [], [], [], []
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                _, event = decoder.decode(line)
            except StreamDecodeError as e:
                # a reconciliation of part of the frames would look clean while it is not: refuse the file
                raise UsageError(f"--stream-frames {path} line {number}: not a {market.value} stream frame ({e}); "
                                 "fix or delete that line") from None
            if getattr(event, "e", None) != "aggTrade" or event.s != symbol:
                continue
            times.append(event.T)
            ids.append(event.a)
            prices.append(event.p)
            qtys.append(event.q)
            takers.append(not event.m)
    if not times:
        raise UsageError(f"--stream-frames {path}: no {market.value} {symbol} aggTrade frame inside; capture "
                         f"{symbol.lower()}@aggTrade on the {market.value} stream")
    return ExactTrades.from_text(times, ids, prices, qtys, takers, f"stream frames {path}")
