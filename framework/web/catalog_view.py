"""What the web workstation reads from the catalog: which instruments, intervals and series it holds, and windows
of their rows. Read-only: nothing here writes, locks or repairs (``record`` and ``ingest`` may write meanwhile).

Instruments are found from the folders Nautilus's layout gives each series (``data/bar/<bar type>/``,
``data/<custom type>/<instrument id>/``): a bar type is recognised by rebuilding it with
``framework.data.parsing.kline_bar_type`` for each Binance interval, so the names come from one place. Only
tradeable instruments are listed (spot pairs, USD-M perpetuals and delivery contracts); the derived price bars
(mark, index, premium) are not instruments.

Every identifier a request names is looked up among what the catalog holds; no path is ever built from request
text, so no request can read outside the catalog folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from framework.binance.intervals import INTERVAL_MS
from framework.catalog import CatalogStore
from framework.catalog import Series
from framework.catalog.objectstore import ObjectPath
from framework.catalog.storage import subfolders
from framework.data.fixed_point import raw_to_float
from framework.data.instruments import instrument_id_for
from framework.data.kinds import KINDS
from framework.data.parsing import kline_bar_type
from framework.errors import FrameworkError
from framework.timeunits import NS_PER_MS

#: Intervals the page offers: each is served from the largest stored interval that divides it (1m -> 5m ...).
WEB_INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")
MARKETS = ("spot", "futures")
#: The perpetual series the page can show: kind name (``framework.data.kinds``) -> its value columns.
PERP_COLUMNS: dict[str, dict[str, str]] = {
    "funding": {"rate": "rate_str"},
    "open_interest": {"open_interest": "open_interest_str", "open_interest_value": "open_interest_value_str"},
    "top_position_ratio": {"long_short_ratio": "long_short_ratio_str"},
    "top_account_ratio": {"long_short_ratio": "long_short_ratio_str"},
    "global_account_ratio": {"long_short_ratio": "long_short_ratio_str"},
    "taker_volume": {"buy_volume": "buy_volume_str", "sell_volume": "sell_volume_str"},
}
BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Holding:
    """One instrument the catalog holds bars of."""

    instrument: str  # Nautilus id, e.g. BTCUSDT-PERP.BINANCE
    symbol: str
    market: str  # spot | futures
    stored: dict[str, str]  # stored interval -> bar type
    intervals: tuple[str, ...]  # what can be asked (stored ones and those resampled from them)
    perp: tuple[str, ...] = ()  # perpetual series held (PERP_COLUMNS names)
    trades: bool = False

    def source(self, interval: str) -> str:
        """The stored interval ``interval`` is served from (itself, or the largest one dividing it)."""
        want = INTERVAL_MS[interval]
        fits = [i for i in self.stored if want % INTERVAL_MS[i] == 0]
        return max(fits, key=lambda i: INTERVAL_MS[i])

    def row(self) -> dict[str, Any]:
        """This holding as a ``/api/instruments`` row."""
        return {"instrument": self.instrument, "symbol": self.symbol, "market": self.market,
                "intervals": list(self.intervals), "stored": sorted(self.stored, key=INTERVAL_MS.__getitem__),
                "perp": list(self.perp), "trades": self.trades}


@dataclass
class BarsWindow:
    """Bars with open times in ``[start_ms, end_ms)`` (arrays of equal length) and what lies before them."""

    time_ms: np.ndarray
    columns: dict[str, np.ndarray]
    start_ms: int
    end_ms: int
    price_precision: int | None = None
    first_held_ms: int | None = None  # the series' first bar open time (None: nothing held)
    size_precision: int | None = None

    def __len__(self) -> int:
        return len(self.time_ms)


def _instrument_name(instrument_id: str) -> tuple[str, str] | None:
    """(market, symbol) of a tradeable Nautilus id, checked against ``instrument_id_for`` (None: not one)."""
    symbol = instrument_id.rsplit(".", 1)[0]
    for market, candidate in (("futures", symbol.removesuffix("-PERP")), ("spot", symbol)):
        try:
            if str(instrument_id_for(market, candidate)) == instrument_id:
                return market, candidate
        except ValueError:
            continue
    return None


class CatalogView:
    """Read access to one catalog folder for the web workstation (one per server)."""

    def __init__(self, root: Path | ObjectPath) -> None:
        self.root = root if isinstance(root, ObjectPath) else Path(root)  # a folder, or s3:// (ObjectPath)
        self._store: CatalogStore | None = None
        self._listing: tuple[float, list[Holding]] | None = None

    # -- what is held ---------------------------------------------------------------------------------------

    def status(self) -> str | None:
        """None when the catalog holds bars, else the message the page shows instead of a chart."""
        fill = ("fill it: python -m framework.main ingest --from-files examples/data --offline --catalog "
                f"{self.root} (the example data), or ingest/record a symbol of your own")
        if not self.root.exists():
            return f"No catalog at {self.root}: {fill}."
        if not (self.root / "data").is_dir():
            return f"{self.root} is not a catalog (no data/ folder inside); {fill}."
        if not self.holdings():
            return f"The catalog {self.root} holds no klines yet; {fill}."
        return None

    @property
    def store(self) -> CatalogStore:
        """The catalog's reader (made on first use: the folder may appear after the server started)."""
        if self._store is None:
            self._store = CatalogStore(self.root, recover=False)
        return self._store

    def holdings(self) -> list[Holding]:
        """Every instrument with bars, by symbol then market (listed again at most once a second)."""
        now = time.monotonic()
        if self._listing is not None and now - self._listing[0] < 1.0:
            return self._listing[1]
        found = self._scan()
        self._listing = (now, found)
        return found

    def _scan(self) -> list[Holding]:
        data = self.root / "data"
        if not data.is_dir():
            return []
        store = self.store
        bar_dirs = set(subfolders(data / Series.bars("X").class_dir))
        by_id: dict[str, dict[str, str]] = {}
        for bar_type in bar_dirs:
            instrument_id = bar_type.rsplit("-", 4)[0]  # <id>-<step>-<unit>-<price>-<source>
            named = _instrument_name(instrument_id)
            if named is None:
                continue
            for interval, ms in INTERVAL_MS.items():
                if ms is None:
                    continue
                try:
                    if str(kline_bar_type(instrument_id_for(named[0], named[1]), interval)) == bar_type:
                        by_id.setdefault(instrument_id, {})[interval] = bar_type
                        break
                except ValueError:
                    continue
        trades = set(subfolders(data / Series.trades("X").class_dir))
        perp_dirs = {name: set(subfolders(data / Series.custom(KINDS[name].data_type, "X").class_dir))
                     for name in PERP_COLUMNS}
        out = []
        for instrument_id, stored in by_id.items():
            stored = {i: b for i, b in stored.items() if store.files(Series.bars(b))}
            if not stored:
                continue
            market, symbol = _instrument_name(instrument_id)  # type: ignore[misc]
            intervals = {i for i in stored}
            for want in WEB_INTERVALS:
                if any(INTERVAL_MS[want] % INTERVAL_MS[i] == 0 for i in stored):
                    intervals.add(want)
            perp = tuple(n for n, ids in perp_dirs.items() if instrument_id in ids) if market == "futures" else ()
            out.append(Holding(instrument_id, symbol, market, stored,
                               tuple(sorted(intervals, key=INTERVAL_MS.__getitem__)), perp,
                               instrument_id in trades))
        return sorted(out, key=lambda h: (h.symbol, MARKETS.index(h.market)))

    def holding(self, instrument: str) -> Holding | None:
        """The holding of a Nautilus instrument id (None: the catalog holds no bars of it)."""
        return next((h for h in self.holdings() if h.instrument == instrument), None)

    # -- reading --------------------------------------------------------------------------------------------

    def read(self, series: Series, start_ns: int | None, end_ns: int | None, columns: list[str]) -> pa.Table:
        """Rows of ``series`` with ``start_ns <= ts_init <= end_ns``; a damaged file is one ``FrameworkError``
        line naming it (the server answers 422 and keeps serving everything else)."""
        for attempt in range(3):
            try:
                return self.store.read_table(series, start_ns, end_ns, columns=columns)
            except FileNotFoundError:  # a writer replaced a file between listing and reading: list again
                if attempt == 2:
                    raise
            except (OSError, pa.ArrowException) as e:
                from framework.catalog.health import require_readable

                require_readable(self.root, series.class_dir)  # names the damaged file and the repair
                raise FrameworkError(f"catalog series {series}: cannot be read ({e}); run: python -m "
                                     f"framework.main catalog check --catalog {self.root}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def bars(self, bar_type: str, interval_ms: int, start_ms: int, end_ms: int) -> BarsWindow:
        """Stored bars of ``bar_type`` opening in ``[start_ms, end_ms)`` (stamped at their close in the catalog)."""
        series = Series.bars(bar_type)
        table = self.read(series, (start_ms + interval_ms) * NS_PER_MS, (end_ms + interval_ms) * NS_PER_MS - 1,
                          [*BAR_COLUMNS, "ts_event"])
        bounds = self.store.ts_bounds(series)
        first = None if bounds is None else bounds[0] // NS_PER_MS - interval_ms
        if table.num_rows == 0:
            return BarsWindow(np.empty(0, np.int64), {c: np.empty(0) for c in BAR_COLUMNS}, start_ms, end_ms,
                              None, first)
        meta = table.schema.metadata or {}
        precision = int(meta[b"price_precision"]) if b"price_precision" in meta else None
        size_precision = int(meta[b"size_precision"]) if b"size_precision" in meta else None
        times = table.column("ts_event").to_numpy().astype(np.int64) // NS_PER_MS - interval_ms
        columns = {}
        for c in BAR_COLUMNS:
            # the nearest float to each decimal (a fixed-point division alone leaves 37351.630000000005)
            digits = size_precision if c == "volume" else precision
            values = raw_to_float(table.column(c))
            columns[c] = values if digits is None else np.round(values, digits)
        return BarsWindow(times, columns, start_ms, end_ms, precision, first, size_precision=size_precision)

    def last_bar_open_ms(self, bar_type: str, interval_ms: int) -> int | None:
        """The newest stored bar's open time (parquet footers only)."""
        bounds = self.store.ts_bounds(Series.bars(bar_type))
        return None if bounds is None else bounds[1] // NS_PER_MS - interval_ms

    def previous_file_end_ms(self, series: Series, before_ns: int) -> int | None:
        """The end (ms) of the newest file of ``series`` that starts before ``before_ns`` (None: no such file)."""
        ends = [f.end for f in self.store.files(series) if f.start < before_ns]
        return max(ends) // NS_PER_MS if ends else None

    def perp(self, name: str, instrument: str, start_ms: int, end_ms: int) -> pa.Table:
        """A perpetual series' rows in ``[start_ms, end_ms)``: ``ts_event`` and float value columns (and
        ``period`` when the series has one)."""
        cls = KINDS[name].data_type
        wanted = PERP_COLUMNS[name]
        has_period = "period" in getattr(cls, "__annotations__", {})
        columns = [*wanted.values(), "ts_event", *(["period"] if has_period else [])]
        table = self.read(Series.custom(cls, instrument), start_ms * NS_PER_MS, end_ms * NS_PER_MS - 1, columns)
        if table.num_rows == 0:
            return pa.table({"ts_event": pa.array([], pa.int64())})
        out = {"ts_event": table.column("ts_event").cast(pa.int64())}
        for shown, column in wanted.items():
            out[shown] = table.column(column).cast(pa.float64(), safe=False)
        if has_period:
            out["period"] = table.column("period")
        return pa.table(out)

    def trades(self, instrument: str, start_ms: int, end_ms: int) -> pa.Table:
        """TradeTicks in ``[start_ms, end_ms)``: trade id, raw price and size, aggressor side, ts_event."""
        return self.read(Series.trades(instrument), start_ms * NS_PER_MS, end_ms * NS_PER_MS - 1,
                         ["trade_id", "price", "size", "aggressor_side", "ts_event"])
