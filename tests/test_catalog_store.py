"""CatalogStore: period chunks, dedupe, partial periods, crash safety (SIGKILL children), coverage, fast path.

The kill test runs this module's ``_child_main`` in subprocesses (``python -c``) that ingest a synthetic
trade history page by page, the way the ingest command resumes (from the catalog's last trade id), and kills
them with SIGKILL at chosen file operations and at seeded random moments.
"""

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nautilus_trader.core.data import Data
from nautilus_trader.model.custom import customdataclass
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider

import framework.catalog.durable as durable_mod
from framework.catalog import CatalogStore
from framework.catalog import CatalogStoreError
from framework.catalog import Period
from framework.catalog import Series
from framework.catalog.holdings import list_files
from framework.catalog.layout import STREAM_PREFIX
from framework.catalog.layout import TMP_PREFIX
from framework.catalog.layout import TRASH_PREFIX
from framework.data.arrow_tables import bars_table
from framework.data.arrow_tables import trade_ticks_table
from framework.data.fixed_point import raw_to_float
from framework.timeunits import NS_PER_DAY

ROOT = Path(__file__).resolve().parents[1]
INSTR = "BTCUSDT-PERP.BINANCE"
BAR_TYPE = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
DAY = NS_PER_DAY
DAY0 = 19_800 * DAY  # 2024-03-18T00:00Z
MIN = 60_000_000_000


# -- synthetic data -----------------------------------------------------------------------------------------


def make_trades(n: int, days: float, seed: int = 7, first_id: int = 999_000) -> dict[str, np.ndarray]:
    """Sorted trades with ms timestamps (many ties), consecutive ids crossing 999,999 -> 1,000,000."""
    rng = np.random.default_rng(seed)
    ms = np.sort(rng.integers(0, int(days * 86_400_000), n)).astype(np.int64)
    return {
        "price": rng.integers(6_400_000, 6_600_000, n),  # 64000.00 .. 66000.00 at precision 2
        "size": rng.integers(1, 20_000, n),  # 0.001 .. 20.000 at precision 3
        "aggressor_side": rng.integers(1, 3, n).astype(np.uint8),
        "trade_id": np.arange(first_id, first_id + n, dtype=np.int64),
        "ts_event": DAY0 + ms * 1_000_000,
    }


def take(d: dict[str, np.ndarray], sl: slice | np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[sl] for k, v in d.items()}


def write_trades(store: CatalogStore, d: dict[str, np.ndarray], start=None, end=None, series=None):
    return store.write_trades(INSTR, 2, 3, **d, start=start, end=end, series=series)


def make_bars(n: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 650_000 + np.cumsum(rng.integers(-30, 31, n))  # precision 1
    open_ = np.concatenate([[650_000], close[:-1]])
    high = np.maximum(open_, close) + rng.integers(0, 20, n)
    low = np.minimum(open_, close) - rng.integers(0, 20, n)
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": rng.integers(1_000, 900_000, n),  # precision 3
        "ts_event": DAY0 + (np.arange(n, dtype=np.int64) + 1) * MIN,  # stamped at the close
    }


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under data/ (hidden ones included) -> bytes."""
    out = {}
    for p in sorted((root / "data").rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def names(store: CatalogStore, series: Series) -> list[str]:
    return [f.name for f in store.files(series)]


# -- fast path = Nautilus bytes ----------------------------------------------------------------------------


def trade_objects(d: dict[str, np.ndarray]) -> list[TradeTick]:
    iid = InstrumentId.from_str(INSTR)
    return [
        TradeTick(
            iid,
            Price.from_raw(int(p) * 10**14, 2),
            Quantity.from_raw(int(q) * 10**13, 3),
            AggressorSide(int(a)),
            TradeId(str(i)),
            int(t),
            int(t),
        )
        for p, q, a, i, t in zip(
            d["price"], d["size"], d["aggressor_side"], d["trade_id"], d["ts_event"], strict=True
        )
    ]


def test_fast_path_bytes_equal_write_data(tmp_path: Path) -> None:
    d = make_trades(12_000, 1.0)
    store = CatalogStore(tmp_path / "fast")
    write_trades(store, d, start=DAY0, end=DAY0 + DAY - 1)
    ref = ParquetDataCatalog(str(tmp_path / "ref"))
    (tmp_path / "ref").mkdir(exist_ok=True)
    ref.write_data(trade_objects(d), start=DAY0, end=DAY0 + DAY - 1)
    a, b = snapshot(tmp_path / "fast"), snapshot(tmp_path / "ref")
    assert list(a) == list(b) and len(a) == 1
    assert list(a.values()) == list(b.values())  # byte for byte

    # Bars: same, against the BarDataWrangler -> write_data path (floats through Price(value, precision)).
    inst = TestInstrumentProvider.btcusdt_perp_binance()  # price precision 1, size precision 3
    bd = make_bars(1_000)
    store.write_bars(BAR_TYPE, 1, 3, **bd, start=DAY0, end=DAY0 + DAY - 1)
    df = pd.DataFrame(
        {k: bd[k] / 10 for k in ("open", "high", "low", "close")} | {"volume": bd["volume"] / 1000},
        index=pd.to_datetime(bd["ts_event"], unit="ns", utc=True),
    )
    bars = BarDataWrangler(BarType.from_str(BAR_TYPE), inst).process(df)
    ref.write_data(bars, start=DAY0, end=DAY0 + DAY - 1)
    a, b = snapshot(tmp_path / "fast"), snapshot(tmp_path / "ref")
    assert a == b

    # Trades through TradeTickDataWrangler give the same values as the fast path.
    tdf = pd.DataFrame(
        {
            "price": d["price"][:500] / 100,
            "quantity": d["size"][:500] / 1000,
            "side": np.where(d["aggressor_side"][:500] == 1, "BUY", "SELL"),
            "trade_id": d["trade_id"][:500],
        },
        index=pd.to_datetime(d["ts_event"][:500], unit="ns", utc=True),
    )
    inst2 = TestInstrumentProvider.btcusdt_perp_binance()
    wrangled = TradeTickDataWrangler(inst2).process(tdf)
    table = trade_ticks_table(INSTR, 2, 3, **take(d, slice(0, 500)))
    assert np.allclose(raw_to_float(table.column("size")), [float(t.size) for t in wrangled])
    assert table.column("trade_id").to_pylist() == [t.trade_id.value for t in wrangled]


def test_fast_path_inputs_and_validation() -> None:
    # decimal strings (spot has 8 decimals) == integer mantissas == mantissas at a finer scale
    t1 = trade_ticks_table(
        INSTR,
        2,
        3,
        price=["65000.10000000", "1.00"],
        size=["0.001", "2.5"],
        aggressor_side=[1, 2],
        trade_id=["7", "8"],
        ts_event=np.array([1, 2]),
    )
    t2 = trade_ticks_table(
        INSTR,
        2,
        3,
        price=np.array([6_500_010, 100]),
        size=np.array([1, 2500]),
        aggressor_side=[1, 2],
        trade_id=np.array([7, 8]),
        ts_event=np.array([1, 2]),
    )
    t3 = trade_ticks_table(
        INSTR,
        2,
        3,
        price=np.array([6_500_010_000_000, 100_000_000]),
        price_scale=8,
        size=np.array([1, 2500]),
        aggressor_side=[1, 2],
        trade_id=np.array([7, 8]),
        ts_event=np.array([1, 2]),
    )
    assert t1.equals(t2) and t2.equals(t3)
    assert Price.from_raw(
        int.from_bytes(t1.column("price")[0].as_py(), "little", signed=True), 2
    ) == Price.from_str(
        "65000.10",
    )
    with pytest.raises(pa.ArrowInvalid):
        trade_ticks_table(
            INSTR, 2, 3, price=["1.001"], size=["1"], aggressor_side=[1], trade_id=["1"], ts_event=[1]
        )
    with pytest.raises(ValueError):
        trade_ticks_table(
            INSTR,
            2,
            3,
            price=np.array([101]),
            price_scale=3,
            size=np.array([1]),
            aggressor_side=[1],
            trade_id=[1],
            ts_event=np.array([1]),
        )
    with pytest.raises(TypeError):
        trade_ticks_table(
            INSTR,
            2,
            3,
            price=np.array([1.5]),
            size=np.array([1]),
            aggressor_side=[1],
            trade_id=[1],
            ts_event=np.array([1]),
        )
    neg = bars_table(
        BAR_TYPE,
        1,
        3,
        open=np.array([-5]),
        high=np.array([5]),
        low=np.array([-5]),
        close=np.array([0]),
        volume=np.array([1]),
        ts_event=np.array([1]),
    )
    assert raw_to_float(neg.column("open")).tolist() == [-0.5]
    assert neg.schema.metadata[b"instrument_id"] == INSTR.encode()


# -- chunks, consolidation ---------------------------------------------------------------------------------


def test_period_chunks_contiguous_and_consolidate(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    s = Series.trades(INSTR)
    d = make_trades(30_000, 3.5)
    end = DAY0 + 3 * DAY + DAY // 2 + 5  # declared fetched through 12:00:00.000000005 of the 4th day
    write_trades(store, d, start=DAY0, end=end)
    files = store.files(s)
    assert [(f.start, f.end) for f in files] == [
        (DAY0, DAY0 + DAY - 1),
        (DAY0 + DAY, DAY0 + 2 * DAY - 1),
        (DAY0 + 2 * DAY, DAY0 + 3 * DAY - 1),
        (DAY0 + 3 * DAY, end),
    ]
    assert store.holdings(s).contiguous and store.check(s) == []
    cat = ParquetDataCatalog(str(tmp_path))
    assert cat.get_intervals(TradeTick, INSTR) == [(f.start, f.end) for f in files]
    before = cat.query(TradeTick, identifiers=[INSTR])
    assert len(before) == 30_000
    cat.consolidate_data(TradeTick, INSTR)  # asserts contiguity
    assert [(f.start, f.end) for f in store.files(s)] == [(DAY0, end)]
    after = cat.query(TradeTick, identifiers=[INSTR])
    assert [t.trade_id.value for t in after] == [t.trade_id.value for t in before]
    # writing after a consolidation merges into / extends from the consolidated file
    more = make_trades(2_000, 0.4, seed=9, first_id=int(d["trade_id"][-1]) + 1)
    more["ts_event"] = more["ts_event"] + 3 * DAY + DAY // 2 + 10
    r = write_trades(store, more, start=end + 1)
    assert r.rows_new == 2_000 and store.holdings(store_s := s).contiguous and store.check(store_s) == []


def test_monthly_period_and_store_consolidate(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path, period="month")
    bd = make_bars(3 * 24 * 60 * 20)  # 60 days of 1-minute bars from 2024-03-18
    store.write_bars(BAR_TYPE, 1, 3, **bd)
    s = Series.bars(BAR_TYPE)
    got = [(pd.Timestamp(f.start, tz="UTC"), pd.Timestamp(f.end, tz="UTC")) for f in store.files(s)]
    assert [a.strftime("%m-%d") for a, _ in got] == ["03-18", "04-01", "05-01"]
    assert got[0][1] == pd.Timestamp("2024-03-31T23:59:59.999999999Z")
    assert store.holdings(s).contiguous
    r = store.consolidate(s)
    assert len(store.files(s)) == 1 and len(r.removed) == 3
    assert store.read_table(s).num_rows == len(bd["ts_event"])
    assert Period("1D").bounds(DAY0 + 5) == (DAY0, DAY0 + DAY - 1)


# -- idempotency and dedupe --------------------------------------------------------------------------------


def test_writing_the_same_data_twice_changes_nothing(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    d = make_trades(20_000, 2.5)
    write_trades(store, d, start=DAY0)
    store.write_bars(BAR_TYPE, 1, 3, **make_bars(4_000))
    before = snapshot(tmp_path)
    mtimes = {p: os.stat(tmp_path / p).st_mtime_ns for p in before}
    r1 = write_trades(store, d, start=DAY0)
    r2 = store.write_bars(BAR_TYPE, 1, 3, **make_bars(4_000))
    r3 = store.write_objects(trade_objects(take(d, slice(100, 5_000))))[0]  # the object path too
    for r in (r1, r2, r3):
        assert not r.changed and r.rows_new == 0
    assert r1.rows_duplicate == 20_000
    assert snapshot(tmp_path) == before
    assert {p: os.stat(tmp_path / p).st_mtime_ns for p in before} == mtimes  # not even rewritten


def test_overlapping_batches_dedupe_to_the_single_write(tmp_path: Path) -> None:
    d = make_trades(24_000, 3.0)
    one = CatalogStore(tmp_path / "one")
    write_trades(one, d)
    many = CatalogStore(tmp_path / "many")
    for lo, hi in [(0, 9_000), (5_000, 15_000), (14_000, 24_000), (0, 24_000), (3_000, 3_001)]:
        write_trades(many, take(d, slice(lo, hi)))
    assert {k.split("/", 1)[1]: v for k, v in snapshot(tmp_path / "many").items()} == {
        k.split("/", 1)[1]: v for k, v in snapshot(tmp_path / "one").items()
    }
    # unsorted input with repeated rows is sorted and deduplicated before it is written
    shuffled = CatalogStore(tmp_path / "shuffled")
    perm = np.random.default_rng(1).permutation(np.concatenate([np.arange(24_000), np.arange(0, 24_000, 7)]))
    r = write_trades(shuffled, take(d, perm))
    assert r.rows_new == 24_000 and r.rows_duplicate == len(perm) - 24_000
    assert list(snapshot(tmp_path / "shuffled").values()) == list(snapshot(tmp_path / "one").values())
    rows = ParquetDataCatalog(str(tmp_path / "many")).query(TradeTick, identifiers=[INSTR])
    ids = [int(t.trade_id.value) for t in rows]
    assert ids == sorted(ids) == list(d["trade_id"])  # numeric order across 999,999 -> 1,000,000


def test_partial_period_completion(tmp_path: Path) -> None:
    d = make_trades(9_000, 1.0)
    noon = DAY0 + DAY // 2
    first = d["ts_event"] <= noon
    s = Series.trades(INSTR)
    store = CatalogStore(tmp_path / "a")
    write_trades(store, take(d, first), start=DAY0, end=noon)  # today so far
    assert [(f.start, f.end) for f in store.files(s)] == [(DAY0, noon)]
    assert store.holdings(s).missing(DAY0, DAY0 + DAY - 1) == [(noon + 1, DAY0 + DAY - 1)]
    # nothing new yet, but we know we are complete through 13:00: the file is renamed, not rewritten
    r = store.declare_covered(s, noon + 1, noon + 3_600 * 10**9)
    assert r.renamed and not r.written
    # the rest of the day arrives (overlapping the held part by a few rows): one file for the whole day
    rest = ~first
    rest[np.flatnonzero(first)[-5:]] = True
    r = write_trades(store, take(d, rest), start=noon - 10**9, end=DAY0 + DAY - 1)
    assert r.rows_new == int((~first).sum()) and len(r.removed) == 1
    assert [(f.start, f.end) for f in store.files(s)] == [(DAY0, DAY0 + DAY - 1)]
    ref = CatalogStore(tmp_path / "b")
    write_trades(ref, d, start=DAY0, end=DAY0 + DAY - 1)
    assert list(snapshot(tmp_path / "a").values()) == list(snapshot(tmp_path / "b").values())
    assert store.check(s) == []


def test_gap_inside_a_period_is_not_bridged(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    s = Series.trades(INSTR)
    d = make_trades(6_000, 1.0)
    t = d["ts_event"]
    write_trades(store, take(d, t < DAY0 + 6 * 3600 * 10**9), start=DAY0, end=DAY0 + 6 * 3600 * 10**9 - 1)
    write_trades(
        store, take(d, t >= DAY0 + 12 * 3600 * 10**9), start=DAY0 + 12 * 3600 * 10**9, end=DAY0 + DAY - 1
    )
    h = store.holdings(s)
    assert len(h.files) == 2 and not h.contiguous
    assert h.missing(DAY0, DAY0 + DAY - 1) == [(DAY0 + 6 * 3600 * 10**9, DAY0 + 12 * 3600 * 10**9 - 1)]
    mid = (t >= DAY0 + 6 * 3600 * 10**9) & (t < DAY0 + 12 * 3600 * 10**9)
    write_trades(store, take(d, mid), start=DAY0 + 6 * 3600 * 10**9, end=DAY0 + 12 * 3600 * 10**9 - 1)
    assert [(f.start, f.end) for f in store.files(s)] == [(DAY0, DAY0 + DAY - 1)]
    assert store.read_table(s).num_rows == 6_000


# -- coverage ----------------------------------------------------------------------------------------------


def test_holdings(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    s = Series.trades(INSTR)
    empty = store.holdings(s)
    assert empty.files == () and empty.last_id is None and empty.missing(5, 9) == [(5, 9)]
    d = make_trades(10_000, 2.0)  # ids 999,000 .. 1,008,999: numeric max, not string max ("999999")
    end = DAY0 + 2 * DAY + 3_600 * 10**9
    write_trades(store, d, start=DAY0, end=end)  # the 3rd day has no rows: no file (rows decide coverage)
    h = store.holdings(s)
    assert h.last_id == 1_008_999 and h.last_ts == int(d["ts_event"][-1])
    assert store.ts_bounds(s) == (int(d["ts_event"][0]), int(d["ts_event"][-1])) and empty.last_ts is None
    pieces = list(store.iter_files(s, columns=["trade_id"], batch_rows=3_000))
    assert max(p.num_rows for p in pieces) <= 3_000 and pa.concat_tables(pieces).num_rows == 10_000
    day3 = DAY0 + 2 * DAY
    assert h.covered_until == day3 - 1 and h.intervals == [(DAY0, day3 - 1)]
    assert h.missing(DAY0 - 10, end + 10) == [(DAY0 - 10, DAY0 - 1), (day3, end + 10)]
    assert all(pq.read_metadata(store.series_dir(s) / f.name).num_rows for f in h.files)
    cat = ParquetDataCatalog(str(tmp_path))
    assert cat.get_missing_intervals_for_request(DAY0, day3 - 1, TradeTick, INSTR) == []
    assert len(cat.query(TradeTick, identifiers=[INSTR])) == 10_000
    assert pd.read_parquet(store.series_dir(s)).shape == (10_000, 6)
    # bars: last ts from the footer statistics
    bd = make_bars(3_000)
    store.write_bars(BAR_TYPE, 1, 3, **bd)
    hb = store.holdings(Series.bars(BAR_TYPE))
    assert hb.last_ts == int(bd["ts_event"][-1]) and hb.last_id is None


# -- object path, custom data, schema guard ----------------------------------------------------------------


@customdataclass
class FundingSample(Data):
    instrument_id: InstrumentId = InstrumentId.from_str(INSTR)
    rate: float = 0.0
    interval_hours: int = 8


def test_object_path_and_custom_data(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    samples = [
        FundingSample(
            ts_event=DAY0 + i * 8 * 3_600 * 10**9, ts_init=DAY0 + i * 8 * 3_600 * 10**9, rate=0.0001 * i
        )
        for i in range(9)
    ]
    (r,) = store.write_objects(samples[:5], start=DAY0)
    assert r.rows_new == 5
    (r,) = store.write_objects(samples[3:])  # two repeated
    assert r.rows_new == 4 and r.rows_duplicate == 2
    s = Series.custom(FundingSample, INSTR)
    assert store.holdings(s).contiguous and len(store.files(s)) == 3
    got = ParquetDataCatalog(str(tmp_path)).query(FundingSample)
    assert [round(c.data.rate, 6) for c in got] == [round(0.0001 * i, 6) for i in range(9)]
    assert pd.read_parquet(store.series_dir(s)).shape[0] == 9
    # a precision change is refused instead of mixing metadata inside a period
    d = make_trades(100, 0.1)
    write_trades(store, d)
    with pytest.raises(CatalogStoreError):
        store.write_trades(
            INSTR,
            1,
            3,
            **(take(d, slice(0, 3)) | {"price": d["price"][:3] // 10, "trade_id": np.array([1, 2, 3])}),
        )
    with pytest.raises(CatalogStoreError):
        store.write_table(Series.trades("ETHUSDT-PERP.BINANCE"), trade_ticks_table(INSTR, 2, 3, **d))


def test_backtest_node_reads_store_bars(tmp_path: Path) -> None:
    from nautilus_trader.backtest.node import BacktestNode
    from nautilus_trader.config import BacktestDataConfig
    from nautilus_trader.config import BacktestEngineConfig
    from nautilus_trader.config import BacktestRunConfig
    from nautilus_trader.config import BacktestVenueConfig
    from nautilus_trader.config import ImportableStrategyConfig
    from nautilus_trader.config import LoggingConfig

    store = CatalogStore(tmp_path)
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    store.catalog.write_data([inst])
    store.write_bars(BAR_TYPE, inst.price_precision, inst.size_precision, **make_bars(3_000), start=DAY0)
    run = BacktestRunConfig(
        engine=BacktestEngineConfig(
            strategies=[
                ImportableStrategyConfig(
                    strategy_path="tests.test_catalog_store:BarCounter",
                    config_path="tests.test_catalog_store:BarCounterConfig",
                    config={"bar_type": BAR_TYPE},
                ),
            ],
            logging=LoggingConfig(log_level="ERROR"),
        ),
        venues=[
            BacktestVenueConfig(
                name="BINANCE",
                oms_type="NETTING",
                account_type="MARGIN",
                starting_balances=["100000 USDT"],
            ),
        ],
        data=[
            BacktestDataConfig(
                catalog_path=str(tmp_path),
                data_cls="nautilus_trader.model.data:Bar",
                instrument_id=INSTR,
                bar_types=[BAR_TYPE],
            ),
        ],
        dispose_on_completion=False,
        raise_exception=True,
    )
    BAR_COUNTS.clear()
    node = BacktestNode([run])
    node.run()
    node.dispose()
    assert BAR_COUNTS == [3_000]


BAR_COUNTS: list[int] = []

try:  # the strategy the BacktestNode test imports by path
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.trading.strategy import Strategy

    class BarCounterConfig(StrategyConfig, frozen=True):
        bar_type: str

    class BarCounter(Strategy):
        def __init__(self, config: BarCounterConfig) -> None:
            super().__init__(config)
            self.count = 0

        def on_start(self) -> None:
            self.subscribe_bars(BarType.from_str(self.config.bar_type))

        def on_bar(self, bar: Bar) -> None:
            self.count += 1

        def on_stop(self) -> None:
            BAR_COUNTS.append(self.count)

except ImportError:  # pragma: no cover
    pass


# -- crash safety ------------------------------------------------------------------------------------------

KILL_N = 36_000  # 3.6 days of trades, ingested in pages
KILL_PAGE = 2_500
KILL_DAYS = 3.6
KILL_END = DAY0 + 4 * DAY - 3_600 * 10**9  # the last fetch ran to 23:00 of the 4th day


def _ingest(root: Path) -> int:
    """Resume like the ingest command: ask the catalog for the last trade id, fetch the next page, write it
    declaring everything since the held coverage as fetched. Returns the number of pages written."""
    d = make_trades(KILL_N, KILL_DAYS, seed=11)
    store = CatalogStore(root, durable=True)
    s = Series.trades(INSTR)
    pages = 0
    while True:
        h = store.holdings(s)
        lo = 0 if h.last_id is None else int(np.searchsorted(d["trade_id"], h.last_id, side="right"))
        if lo >= KILL_N and (h.covered_until or 0) >= KILL_END:
            return pages
        hi = min(lo + KILL_PAGE, KILL_N)
        start = DAY0 if h.covered_until is None else h.covered_until + 1
        end = KILL_END if hi == KILL_N else int(d["ts_event"][hi - 1])
        write_trades(store, take(d, slice(lo, hi)), start=start, end=end)
        pages += 1
        print(f"page {pages}", flush=True)


class _KillAt:
    """Stands in for ``os`` inside ``framework.catalog.durable``: SIGKILLs the process at the n-th rename/replace/unlink"""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def _op(self, fn, *args):
        self.count += 1
        if self.count == self.n:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args)

    def rename(self, a, b):
        return self._op(os.rename, a, b)

    def replace(self, a, b):
        return self._op(os.replace, a, b)

    def unlink(self, a):
        return self._op(os.unlink, a)


class _InterruptAt(_KillAt):
    def _op(self, fn, *args):
        self.count += 1
        if self.count == self.n:
            raise KeyboardInterrupt
        return fn(*args)


def _child_main() -> (
    None
):  # python -c "from tests.test_catalog_store import _child_main; _child_main()" ROOT N
    root, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    if kill_at:
        durable_mod.os = _KillAt(kill_at)
    print("ready", flush=True)
    _ingest(root)


def _assert_visible_catalog_sound(root: Path) -> None:
    """What a reader sees right now: every parquet readable, no overlapping files."""
    d = root / "data" / "trade_tick" / INSTR
    if not d.exists():
        return
    spans = list_files(d)
    for a, b in itertools.pairwise(spans):
        assert a.end < b.start, f"overlap {a.name} {b.name}"
    for f in spans:
        pq.read_table(d / f.name)
        pd.read_parquet(d / f.name)
    pd.read_parquet(d)  # the directory as a dataset (temporaries are dot files: skipped)


def test_sigkill_during_writes_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    t0 = time.perf_counter()
    _ingest(ref)
    ref_secs = time.perf_counter() - t0
    expected = {k: v for k, v in snapshot(ref).items()}
    assert len(expected) == 4 and not any(Path(k).name.startswith(".") for k in expected)

    root = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-c", "from tests.test_catalog_store import _child_main; _child_main()", str(root)]
    rng = random.Random(20240818)
    # Op kills land before the n-th rename/replace/unlink of the run. A resumed run starts with a merge into
    # the partial day (rename old -> trash, replace temp -> new, unlink trash): 1, 2, 3 hit each step of it.
    plans = [("op", n) for n in (3, 1, 2, 3, 4)] + [
        ("timed", rng.uniform(0.05, 0.9) * ref_secs) for _ in range(3)
    ]
    killed = 0
    for kind, arg in plans:
        proc = subprocess.Popen(
            [*cmd, str(arg if kind == "op" else 0)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        if kind == "timed":
            time.sleep(arg)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        killed += proc.returncode == -signal.SIGKILL
        _assert_visible_catalog_sound(root)  # before any recovery
        store = CatalogStore(root)  # opening recovers
        assert store.check(Series.trades(INSTR)) == []
    assert killed >= 5  # every op-planned run died
    # Ctrl-C (KeyboardInterrupt) in the middle of a replacement, in-process: rolled back on the way out
    durable_mod.os = _InterruptAt(5)
    try:
        with pytest.raises(KeyboardInterrupt):
            _ingest(root)
    finally:
        durable_mod.os = os
    assert CatalogStore(root, recover=False).check(Series.trades(INSTR)) == []
    _ingest(root)  # the final, uninterrupted re-run
    assert snapshot(root) == expected
    rows = ParquetDataCatalog(str(root)).query(TradeTick, identifiers=[INSTR])
    ids = [int(t.trade_id.value) for t in rows]
    assert len(ids) == KILL_N and len(set(ids)) == KILL_N


def test_recovery_rolls_back_or_forward(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    s = Series.trades(INSTR)
    d = make_trades(4_000, 1.0)
    noon = DAY0 + DAY // 2
    write_trades(store, take(d, d["ts_event"] <= noon), start=DAY0, end=noon)
    sd = store.series_dir(s)
    (partial,) = names(store, s)
    # crashed before the new file was renamed in: the trashed partial comes back, the temporary goes
    os.rename(sd / partial, sd / f"{TRASH_PREFIX}{partial[:-8]}.trash")
    (sd / f"{TMP_PREFIX}whatever-1-abc.tmp").write_bytes(b"PAR1 half written")
    assert names(store, s) == []
    actions = CatalogStore(tmp_path, recover=False).recover()
    assert len(actions) == 2 and names(store, s) == [partial] and store.check(s) == []
    # crashed after the new file was renamed in: the trash is dropped
    write_trades(store, d, start=DAY0, end=DAY0 + DAY - 1)
    (full,) = names(store, s)
    (sd / f"{TRASH_PREFIX}{partial[:-8]}.trash").write_bytes(b"old partial")
    CatalogStore(tmp_path)
    assert names(store, s) == [full] and store.check(s) == []
    # a live writer's temporaries are left alone: recovery skips a locked series
    (sd / f"{TMP_PREFIX}live-2-def.tmp").write_bytes(b"...")
    with store.locks.hold(sd):
        assert CatalogStore(tmp_path, recover=False).recover() == []
    assert CatalogStore(tmp_path, recover=False).recover() == [
        f"{sd.relative_to(tmp_path)}: removed temporary {TMP_PREFIX}live-2-def.tmp"
    ]


def test_appender_writes_each_period_once(tmp_path: Path) -> None:
    d = make_trades(20_000, 3.5)
    end = DAY0 + 3 * DAY + DAY // 2 + 7
    ref = CatalogStore(tmp_path / "ref")
    write_trades(ref, d, start=DAY0, end=end)
    store = CatalogStore(tmp_path / "app")
    s = Series.trades(INSTR)
    with store.appender(s, start=DAY0) as w:
        for lo in range(0, 20_000, 700):
            w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(lo, lo + 700))))
            assert w.buffered_rows <= 8_000  # about a day at most
        w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(0, 0))), end)  # the fetch ran to `end`
    assert list(snapshot(tmp_path / "app").values()) == list(snapshot(tmp_path / "ref").values())
    assert sum(len(r.written) for r in w.reports) == 4  # every file written exactly once
    assert not any(r.removed or r.renamed for r in w.reports)
    # resuming: start defaults to covered_until + 1; a page overlapping the held tail is deduped
    more = make_trades(3_000, 0.3, seed=5, first_id=int(d["trade_id"][-1]) + 1)
    more["ts_event"] = more["ts_event"] + 3 * DAY + DAY // 2 + 100
    with store.appender(s) as w:
        assert w.start == end + 1
        w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(19_990, 20_000))))
        w.add(trade_ticks_table(INSTR, 2, 3, **more))
    assert store.holdings(s).contiguous and store.read_table(s).num_rows == 23_000 and store.check(s) == []


def test_appender_streams_big_periods_to_the_bytes_of_one_write(tmp_path: Path) -> None:
    d = make_trades(20_000, 3.5)
    end = DAY0 + 3 * DAY + DAY // 2 + 7
    ref = CatalogStore(tmp_path / "ref", rows_per_group=500)
    write_trades(ref, d, start=DAY0, end=end)
    s = Series.trades(INSTR)

    def feed(store: CatalogStore, lo: int, hi: int, start: int | None = None, close_at: int | None = None) -> None:
        with store.appender(s, start=start, spill_rows=1_000) as w:
            for a in range(lo, hi, 700):
                w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(a, min(a + 700, hi)))))
                assert w.buffered_rows < 1_700  # a day is ~5,700 rows: streamed, not held
            w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(0, 0))), close_at)
        assert any(r.written and r.rows_new > 1_700 for r in w.reports)  # a streamed file

    whole = CatalogStore(tmp_path / "whole", rows_per_group=500)
    feed(whole, 0, 20_000, start=DAY0, close_at=end)
    assert snapshot(tmp_path / "whole") == snapshot(tmp_path / "ref")
    # interrupted mid-day, resumed: the second appender continues the held partial day (copied into its stream)
    split = int(np.searchsorted(d["ts_event"], d["ts_event"][12_000], side="right"))  # after a run of ties
    resumed = CatalogStore(tmp_path / "resumed", rows_per_group=500)
    feed(resumed, 0, split, start=DAY0)
    feed(resumed, split, 20_000, close_at=end)
    assert snapshot(tmp_path / "resumed") == snapshot(tmp_path / "ref")
    # a stream dropped mid-period (kill: its temporary never renamed in) leaves the catalog as before it
    dropped = CatalogStore(tmp_path / "dropped", rows_per_group=500)
    with pytest.raises(KeyboardInterrupt), dropped.appender(s, start=DAY0, spill_rows=1_000) as w:
        w.flush_on_error = False
        for a in range(0, 8_000, 700):
            w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(a, a + 700))))
        assert w._stream is not None and w._stream.tmp.exists()
        raise KeyboardInterrupt
    assert not any(n.startswith((TMP_PREFIX, STREAM_PREFIX)) for n in os.listdir(dropped.series_dir(s)))
    assert dropped.check(s) == []
    held = dropped.read_table(s).num_rows
    feed(dropped, held, 20_000, close_at=end)
    assert snapshot(tmp_path / "dropped") == snapshot(tmp_path / "ref")


def test_appender_out_of_order_pages_fall_back_to_the_same_bytes(tmp_path: Path) -> None:
    d = make_trades(12_000, 2.0)
    ref = CatalogStore(tmp_path / "ref", rows_per_group=500)
    write_trades(ref, d, start=DAY0, end=DAY0 + 2 * DAY - 1)
    store = CatalogStore(tmp_path / "app", rows_per_group=500)
    pages = [slice(a, a + 600) for a in range(0, 12_000, 600)]
    pages[3], pages[4] = pages[4], pages[3]  # a page out of order while the first day streams
    with store.appender(Series.trades(INSTR), start=DAY0, spill_rows=1_000) as w:
        for sl in pages + [slice(1_000, 1_300)]:  # and a repeated page
            w.add(trade_ticks_table(INSTR, 2, 3, **take(d, sl)))
        w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(0, 0))), DAY0 + 2 * DAY - 1)
    assert snapshot(tmp_path / "app") == snapshot(tmp_path / "ref")


def test_stream_meeting_another_writer_merges(tmp_path: Path) -> None:
    """A stream does not hold the series lock while it fills: a period another writer changed meanwhile gets
    the stream's rows through write_table (merged), and a dead writer's stream temporary is recovered."""
    d = make_trades(12_000, 2.0)
    ref = CatalogStore(tmp_path / "ref", rows_per_group=500)
    write_trades(ref, d, start=DAY0, end=DAY0 + 2 * DAY - 1)
    store = CatalogStore(tmp_path / "app", rows_per_group=500)
    s = Series.trades(INSTR)
    with store.appender(s, start=DAY0, spill_rows=1_000) as w:
        for a in range(0, 3_000, 600):
            w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(a, a + 600))))
        assert w._stream is not None
        # another writer (process) puts rows of the same day in while the stream is open
        write_trades(CatalogStore(tmp_path / "app", rows_per_group=500), take(d, slice(4_000, 4_500)))
        for a in range(3_000, 12_000, 600):
            w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(a, a + 600))))
        w.add(trade_ticks_table(INSTR, 2, 3, **take(d, slice(0, 0))), DAY0 + 2 * DAY - 1)
    assert snapshot(tmp_path / "app") == snapshot(tmp_path / "ref")
    # recovery keeps a live process's stream temporary and removes a dead one's
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    sd = store.series_dir(s)
    dead, live = sd / f"{STREAM_PREFIX}{int(done.stdout)}-a.tmp", sd / f"{STREAM_PREFIX}{os.getpid()}-b.tmp"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    assert store.check(s) == [f"leftover {dead.name}"]
    CatalogStore(tmp_path / "app")
    assert not dead.exists() and live.exists() and store.check(s) == []


def test_read_table_with_one_bound(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    d = make_trades(3_000, 2.0)
    write_trades(store, d)
    s = Series.trades(INSTR)
    mid = int(d["ts_event"][1_500])
    ts = d["ts_event"]
    after = store.read_table(s, start=mid, columns=["trade_id"])
    before = store.read_table(s, end=mid - 1)
    assert after.num_rows == int((ts >= mid).sum()) and before.num_rows == int((ts < mid).sum())
    assert after.num_rows + before.num_rows == 3_000 and "ts_init" in after.column_names


def test_series_lock_is_reentrant_per_thread_only(tmp_path: Path) -> None:
    import threading

    store = CatalogStore(tmp_path)
    d = store.series_dir(Series.trades(INSTR))
    d.mkdir(parents=True)
    got: list[bool] = []
    with store.locks.hold(d):
        with store.locks.hold(d, wait=False) as again:  # the same thread: reentrant
            got.append(again)
        other = threading.Thread(target=lambda: got.append(store.locks.hold(d, wait=False).__enter__()))
        other.start()
        other.join()
    assert got == [True, False]  # another thread of the same store waits like any other writer


def test_appender_says_when_its_flush_on_the_way_out_fails(tmp_path: Path, caplog) -> None:
    store = CatalogStore(tmp_path)
    other = trade_ticks_table("ETHUSDT-PERP.BINANCE", 2, 3, **take(make_trades(10, 0.01), slice(None)))
    with pytest.raises(RuntimeError, match="interrupted"), caplog.at_level("WARNING", "framework.catalog"):
        with store.appender(Series.trades(INSTR)) as app:
            app.add(other)  # rows of another instrument: the flush on the way out is refused
            raise RuntimeError("interrupted")
    assert "not written on the way out" in caplog.text and store.files(Series.trades(INSTR)) == []
