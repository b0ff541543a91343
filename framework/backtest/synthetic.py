"""A deterministic synthetic market in a catalog, for tests and benchmarks (``seed`` fixes every value).

The local exchange replays a recording a few minutes long, so its history repeats every few minutes: right for
testing ingest, useless for judging a strategy. This writes a random walk instead: 1-minute bars for
``BTCUSDT`` spot and ``BTCUSDT-PERP`` (instruments from the bundled exchangeInfo), and for the perpetual
funding rates (with mark prices, at ``funding_hours``), 5-minute open interest, taker buy/sell volume and long/
short ratios, and optionally trade ticks. Everything goes through ``CatalogStore`` in the catalog's own layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.binance import schemas
from framework.binance.endpoints import Market
from framework.binance.recorded import packaged
from framework.catalog.store import CatalogStore
from framework.data import types
from framework.data.instruments import futures_instrument_id
from framework.data.instruments import parse_instruments
from framework.data.parsing import kline_bar_type
from framework.timeunits import NS_PER_HOUR
from framework.timeunits import NS_PER_MINUTE


@dataclass(frozen=True)
class SyntheticMarket:
    """What to write: ``minutes`` of 1-minute bars from ``start_ns`` (a UTC minute), and the rest."""

    start_ns: int
    minutes: int
    seed: int = 7
    spot: bool = True
    perp: bool = True
    funding_hours: int = 8
    trades_minutes: int = 0  # trade ticks for the first N minutes (perp), ~20 a minute
    statistics: bool = True  # 5-minute open interest, taker volume and ratios (perp)
    price: float = 60_000.0
    volatility: float = 0.0008  # per minute

    @property
    def end_ns(self) -> int:
        """Where the written bars end (exclusive)."""
        return self.start_ns + self.minutes * NS_PER_MINUTE


def _instruments(market: Market, symbol: str):  # noqa: ANN202
    """The symbol's instrument from the packaged exchangeInfo."""
    data = dict(packaged(market).exchange_info)
    data["symbols"] = [s for s in data["symbols"] if s["symbol"] == symbol]
    cls = schemas.SpotExchangeInfo if market is Market.SPOT else schemas.FuturesExchangeInfo
    return parse_instruments(market, msgspec.convert(data, cls), ts_ns=0)


def _walk(rng: np.random.Generator, m: SyntheticMarket, drift_phase: float) -> np.ndarray:
    """Close prices per minute: a random walk with slow regime changes (so trend strategies have trends)."""
    t = np.arange(m.minutes)
    drift = 0.0003 * np.sin(2 * np.pi * t / 1440 + drift_phase)
    steps = rng.normal(drift, m.volatility, m.minutes)
    return m.price * np.exp(np.cumsum(steps))


def _bars(store: CatalogStore, instrument, closes: np.ndarray, rng: np.random.Generator, m: SyntheticMarket) -> None:  # noqa: ANN001
    pp, sp = instrument.price_precision, instrument.size_precision
    # prices in cents (or the instrument's tick when coarser), as integers in units of 10**-pp
    digits = min(pp, 2)
    scale = 10 ** (pp - digits)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    wick = np.abs(rng.normal(0, m.volatility / 2, (2, m.minutes))) * closes
    high = np.maximum(opens, closes) + wick[0]
    low = np.minimum(opens, closes) - wick[1]

    def units(x: np.ndarray) -> np.ndarray:
        return np.round(x * 10**digits).astype(np.int64) * scale

    o, h, lo, c = units(opens), units(high), units(low), units(closes)
    h = np.maximum.reduce([h, o, c])
    lo = np.minimum.reduce([lo, o, c])
    volume = np.round(rng.gamma(2.0, 5.0, m.minutes) * 1000).astype(np.int64) * 10 ** (sp - 3)
    ts = m.start_ns + (np.arange(m.minutes, dtype=np.int64) + 1) * NS_PER_MINUTE
    bar_type = kline_bar_type(instrument.id, "1m")
    store.write_bars(bar_type, pp, sp, open=o, high=h, low=lo, close=c, volume=volume, ts_event=ts,
                     start=m.start_ns, end=m.end_ns)


def _perp_statistics(store: CatalogStore, iid, closes: np.ndarray, rng: np.random.Generator,  # noqa: ANN001
                     m: SyntheticMarket) -> None:
    rows: list = []
    step = m.funding_hours * NS_PER_HOUR
    first = -(-m.start_ns // step) * step
    for ts in range(first, m.end_ns + 1, step):
        minute = min(max((ts - m.start_ns) // NS_PER_MINUTE - 1, 0), m.minutes - 1)
        rate = float(np.clip(rng.normal(0.0001, 0.00015), -0.0075, 0.0075))
        rows.append(types.FundingRate(instrument_id=iid, rate_str=f"{rate:.8f}",
                                      mark_price_str=f"{closes[minute]:.8f}", funding_time=ts,
                                      interval_hours=m.funding_hours, ts_event=ts, ts_init=ts))
    oi = 80_000.0
    for k in range(5, m.minutes + 1, 5) if m.statistics else ():
        ts = m.start_ns + k * NS_PER_MINUTE
        oi *= float(np.exp(rng.normal(0, 0.004)))
        px = closes[k - 1]
        buy, sell = rng.gamma(4.0, 50.0, 2)
        long_share = float(np.clip(rng.normal(0.5, 0.05), 0.2, 0.8))
        rows.append(types.OpenInterest(instrument_id=iid, period="5m", open_interest_str=f"{oi:.3f}",
                                       open_interest_value_str=f"{oi * px:.8f}", ts_event=ts, ts_init=ts))
        rows.append(types.TakerBuySellVolume(instrument_id=iid, period="5m", buy_volume_str=f"{buy:.3f}",
                                             sell_volume_str=f"{sell:.3f}", buy_sell_ratio_str=f"{buy / sell:.4f}",
                                             ts_event=ts, ts_init=ts))
        rows.append(types.GlobalAccountRatio(instrument_id=iid, period="5m",
                                             long_short_ratio_str=f"{long_share / (1 - long_share):.4f}",
                                             long_share_str=f"{long_share:.4f}",
                                             short_share_str=f"{1 - long_share:.4f}", ts_event=ts, ts_init=ts))
    store.write_objects(rows, start=m.start_ns, end=m.end_ns)


def _trades(store: CatalogStore, instrument, closes: np.ndarray, rng: np.random.Generator,  # noqa: ANN001
            m: SyntheticMarket) -> None:
    n = m.trades_minutes * 20
    ts = np.sort(rng.integers(m.start_ns, m.start_ns + m.trades_minutes * NS_PER_MINUTE, n)).astype(np.int64)
    minute = (ts - m.start_ns) // NS_PER_MINUTE
    px = closes[minute] * np.exp(rng.normal(0, m.volatility / 4, n))
    # taker imbalance that comes in waves of a few minutes, so order-flow strategies see regimes
    buy_p = 0.5 + 0.35 * np.sin(2 * np.pi * minute / 17)
    buyer = rng.random(n) < buy_p
    price = np.round(px * 100).astype(np.int64)  # cents at precision 2
    size = rng.integers(1, 400, n).astype(np.int64)  # thousandths at precision 3
    pp, sp = instrument.price_precision, instrument.size_precision
    store.write_trades(instrument.id, pp, sp, price=price, size=size, price_scale=2, size_scale=3,
                       aggressor_side=np.where(buyer, 1, 2).astype(np.uint8),
                       trade_id=np.arange(1, n + 1, dtype=np.int64), ts_event=ts,
                       start=m.start_ns, end=m.start_ns + m.trades_minutes * NS_PER_MINUTE)


def write_synthetic(path: str | Path, m: SyntheticMarket) -> Path:
    """Write the synthetic market ``m`` into the catalog at ``path`` (created); returns the path."""
    path = Path(path)
    store = CatalogStore(path, period="month", durable=False)
    rng = np.random.default_rng(m.seed)
    instruments = []
    if m.perp:
        (perp,) = _instruments(Market.FUTURES, "BTCUSDT")
        instruments.append(perp)
    if m.spot:
        (spot,) = _instruments(Market.SPOT, "BTCUSDT")
        instruments.append(spot)
    ParquetDataCatalog(str(path)).write_data(instruments)
    closes = _walk(rng, m, 0.0)
    if m.perp:
        _bars(store, perp, closes, rng, m)
        _perp_statistics(store, futures_instrument_id("BTCUSDT"), closes, rng, m)
        if m.trades_minutes:
            _trades(store, perp, closes, rng, m)
    if m.spot:
        spot_closes = closes * np.exp(rng.normal(0, 0.0001, m.minutes))  # the basis: a little noise
        _bars(store, spot, spot_closes, rng, m)
    return path
