"""Binance bulk files (data.binance.vision): discovery, reading into the REST row Structs, dedupe."""

from __future__ import annotations

import csv
import hashlib
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from framework.binance.endpoints import Market
from framework.binance.schemas import FuturesAggTrade
from framework.binance.schemas import FuturesTrade
from framework.binance.schemas import Kline
from framework.binance.schemas import SpotAggTrade
from framework.binance.schemas import SpotTrade
from framework.errors import FrameworkError
from framework.ingest import bulk
from tests.conftest import FIXTURES

LINK = FIXTURES / "datasets" / "futures_um_klines_1m" / "LINKUSDT-1m-2023-02.csv"  # USD-M, header
BTC = FIXTURES / "datasets" / "spot_klines_1h" / "BTCUSDT-1h-2022-01.csv"  # spot, a header of another source

ENGINES = pytest.mark.parametrize("engine", ["arrow", "python"])
SPOT, FUT = Market.SPOT, Market.FUTURES


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _kline_of(line: str) -> Kline:
    f = line.split(",")
    return Kline(int(f[0]), f[1], f[2], f[3], f[4], f[5], int(f[6]), f[7], int(f[8]), f[9], f[10], f[11])


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _zip(path: Path, csv_path: Path, member: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(csv_path, member or csv_path.name)
    return path


def _checksum(zip_path: Path, digest: str | None = None) -> Path:
    digest = digest or hashlib.sha256(zip_path.read_bytes()).hexdigest()
    out = zip_path.with_name(zip_path.name + ".CHECKSUM")
    out.write_text(f"{digest}  {zip_path.name}\n")
    return out


def _times_to_us(lines: list[str], columns: tuple[int, ...], every: int = 1) -> list[str]:
    out = []
    for i, line in enumerate(lines):
        f = line.split(",")
        if i % every == 0:
            for c in columns:
                f[c] = str(int(f[c]) * 1000 + 999)  # sub-millisecond digits are floored away
        out.append(",".join(f))
    return out


@pytest.fixture(scope="module")
def link_rows() -> list[Kline]:
    return bulk.read_rows(LINK)


@pytest.fixture(scope="module")
def btc_rows() -> list[Kline]:
    return bulk.read_rows(BTC, market="spot")


# -- the recorded kline files --------------------------------------------------------------------------------


@ENGINES
def test_futures_klines_exact(engine):
    text = _lines(LINK)
    assert text[0] == ",".join(bulk.FUTURES_KLINE_HEADER)
    file = bulk.classify(LINK)  # the USD-M header tells the market
    assert file == bulk.BulkFile(LINK, FUT, "klines", "LINKUSDT", "1m", "2023-02")
    rows = bulk.read_rows(file, engine=engine)
    assert len(rows) == 40_320
    assert all(type(r) is Kline for r in rows)
    assert rows[0] == _kline_of(text[1])
    assert rows[-1] == _kline_of(text[-1])
    first = rows[0]
    assert (first.open_time, first.open, first.high, first.low, first.close) == (
        1675209600000, "6.949", "6.959", "6.947", "6.957")
    assert (first.volume, first.close_time, first.quote_volume, first.trades) == (
        "30020.25", 1675209659999, "208718.48852", 471)
    assert (first.taker_buy_volume, first.taker_buy_quote_volume, first.ignore) == (
        "10610.28", "73780.89351", "0")
    last = rows[-1]
    assert (last.open_time, last.open, last.high, last.close, last.close_time) == (
        1677628740000, "7.185", "7.192", "7.192", 1677628799999)
    assert rows[1].high == "6.960"  # the file's text, trailing zero kept
    assert sum(Decimal(r.volume) for r in rows) == Decimal("1277407180.05")
    assert sum(Decimal(r.taker_buy_volume) for r in rows) == Decimal("619933107.03")
    assert sum(Decimal(r.quote_volume) for r in rows) == Decimal("9442659097.42421")
    assert sum(r.trades for r in rows) == 17_362_393
    assert all(b.open_time - a.open_time == 60_000 for a, b in zip(rows, rows[1:]))


@ENGINES
def test_spot_klines_exact(engine):
    text = _lines(BTC)
    assert text[0].startswith("Opentime,Open,")  # a header written by the source repository
    skipped = bulk.classify(BTC)  # ms times, no USD-M header, no data.binance.vision path: cannot tell
    assert isinstance(skipped, bulk.Skipped) and "pass the market" in skipped.reason
    rows = bulk.read_rows(BTC, market="spot", engine=engine)
    assert len(rows) == 744
    assert rows[0] == _kline_of(text[1])
    assert rows[-1] == _kline_of(text[-1])
    assert rows[0] == Kline(1640995200000, "46216.93000000", "46731.39000000", "46208.37000000",
                            "46656.13000000", "1503.33095000", 1640998799999, "69879986.39049930", 38608,
                            "806.06536000", "37462156.91764400", "0")
    assert (rows[-1].open_time, rows[-1].close, rows[-1].trades) == (1643670000000, "38466.90000000", 20525)
    assert sum(Decimal(r.volume) for r in rows) == Decimal("1279407.46572100")
    assert sum(Decimal(r.taker_buy_volume) for r in rows) == Decimal("630501.06261000")
    assert sum(r.trades for r in rows) == 34_735_027


def test_every_row_matches_the_csv_text(link_rows, btc_rows):
    for path, rows in ((LINK, link_rows), (BTC, btc_rows)):
        with open(path, newline="") as fh:
            table = list(csv.reader(fh))[1:]
        expected = [Kline(int(f[0]), *f[1:6], int(f[6]), f[7], int(f[8]), *f[9:]) for f in table]
        assert rows == expected


def test_batches_are_bounded(link_rows):
    for engine in ("arrow", "python"):
        batches = list(bulk.iter_batches(LINK, batch_rows=1000, engine=engine))
        assert [len(b) for b in batches] == [1000] * 40 + [320]
        assert [r for b in batches for r in b] == link_rows


# -- variants: zipped, header-less, microseconds -------------------------------------------------------------


@ENGINES
def test_zipped_copies_give_identical_rows(tmp_path, engine, link_rows, btc_rows):
    link_zip = _zip(tmp_path / "LINKUSDT-1m-2023-02.zip", LINK)
    btc_zip = _zip(tmp_path / "BTCUSDT-1h-2022-01.zip", BTC)
    assert bulk.read_rows(link_zip, engine=engine) == link_rows
    assert bulk.read_rows(btc_zip, market="spot", engine=engine) == btc_rows


@ENGINES
def test_headerless_copies_give_identical_rows(tmp_path, engine, link_rows, btc_rows):
    link = _write(tmp_path / "LINKUSDT-1m-2023-02.csv", _lines(LINK)[1:])
    btc = _write(tmp_path / "BTCUSDT-1h-2022-01.csv", _lines(BTC)[1:])
    assert isinstance(bulk.classify(link), bulk.Skipped)  # old USD-M files had no header either: ambiguous
    assert bulk.read_rows(link, market="futures", engine=engine) == link_rows
    assert bulk.read_rows(btc, market="spot", engine=engine) == btc_rows
    zipped = _zip(tmp_path / "z" / "BTCUSDT-1h-2022-01.zip", btc)
    assert bulk.read_rows(zipped, market="spot", engine=engine) == btc_rows


@ENGINES
def test_microsecond_copies_normalise_to_ms(tmp_path, engine, link_rows, btc_rows):
    btc_us = _write(tmp_path / "us" / "BTCUSDT-1h-2022-01.csv", _times_to_us(_lines(BTC)[1:], (0, 6)))
    assert btc_us.read_text().startswith("1640995200000999,")
    assert bulk.classify(btc_us).market is SPOT  # µs times are spot-only
    assert bulk.read_rows(btc_us, engine=engine) == btc_rows
    # Per value: a file mixing ms and µs rows (e.g. spanning the 2025 switch) reads right too.
    mixed = _times_to_us(_lines(LINK)[1:], (0, 6), every=3)
    link_mixed = _write(tmp_path / "mixed" / "LINKUSDT-1m-2023-02.csv", [_lines(LINK)[0], *mixed])
    assert bulk.read_rows(link_mixed, engine=engine) == link_rows
    zipped = _zip(tmp_path / "z" / "BTCUSDT-1h-2022-01.zip", btc_us)
    assert bulk.read_rows(zipped, engine=engine) == btc_rows


@ENGINES
def test_crlf_bom_and_blank_lines(tmp_path, engine, btc_rows):
    body = "\r\n".join(["", *_lines(BTC)[1:], "", ""]) + "\r\n"
    path = tmp_path / "BTCUSDT-1h-2022-01.csv"
    path.write_bytes(("\ufeff" + body).encode())
    assert bulk.read_rows(path, market="spot", engine=engine) == btc_rows


# -- synthetic aggTrades and trades --------------------------------------------------------------------------

T0 = 1735689600000  # 2025-01-01: spot files carry µs from here on


def _agg_expected(n: int, market: Market) -> list:
    out = []
    for i in range(n):
        a, f = 3_000_000_000 + i, 9_000_000_000 + 2 * i
        p, q = f"{94000 + i % 50}.{i % 100:02d}000000", f"0.{i % 997 + 1:08d}"
        m = i % 3 == 0
        if market is SPOT:
            out.append(SpotAggTrade(a, p, q, f, f + 1, T0 + 7 * i, m, True))
        else:
            out.append(FuturesAggTrade(a, p, q, f, f + 1, T0 + 7 * i, m))
    return out


def _agg_file(path: Path, rows: list, market: Market) -> Path:
    if market is SPOT:  # no header, µs, Python booleans, 8 columns
        lines = [f"{r.a},{r.p},{r.q},{r.f},{r.l},{r.T * 1000 + 123},{r.m},{r.M}" for r in rows]
    else:  # header, ms, lower-case booleans, 7 columns
        lines = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
        lines += [f"{r.a},{r.p},{r.q},{r.f},{r.l},{r.T},{str(r.m).lower()}" for r in rows]
    return _write(path, lines)


def _trades_expected(n: int, market: Market) -> list:
    out = []
    for i in range(n):
        price, qty = f"{3300 + i % 40}.{i % 100:02d}", f"{i % 13}.{i % 1000:03d}"
        quote = str(Decimal(price) * Decimal(qty))
        if market is SPOT:
            out.append(SpotTrade(7_000_000 + i, price, qty, quote, T0 + 3 * i, i % 2 == 0, True))
        else:
            out.append(FuturesTrade(7_000_000 + i, price, qty, quote, T0 + 3 * i, i % 2 == 0))
    return out


def _trades_file(path: Path, rows: list, market: Market) -> Path:
    if market is SPOT:
        lines = [f"{r.id},{r.price},{r.qty},{r.quoteQty},{r.time * 1000},{r.isBuyerMaker},{r.isBestMatch}"
                 for r in rows]
    else:
        lines = ["id,price,qty,quote_qty,time,is_buyer_maker"]
        lines += [f"{r.id},{r.price},{r.qty},{r.quoteQty},{r.time},{str(r.isBuyerMaker).lower()}"
                  for r in rows]
    return _write(path, lines)


@ENGINES
@pytest.mark.parametrize("market", [SPOT, FUT])
def test_synthetic_agg_trades(tmp_path, engine, market):
    expected = _agg_expected(5000, market)
    path = _agg_file(tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv", expected, market)
    file = bulk.classify(path)  # 8 columns: spot, 7: USD-M
    assert (file.market, file.kind, file.symbol, file.interval, file.period) == (
        market, "agg_trades", "BTCUSDT", None, "2025-01-01")
    rows = bulk.read_rows(file, engine=engine, batch_rows=777)
    assert rows == expected
    assert type(rows[0]) is (SpotAggTrade if market is SPOT else FuturesAggTrade)
    zipped = _zip(tmp_path / "z" / "BTCUSDT-aggTrades-2025-01-01.zip", path)
    assert bulk.read_rows(zipped, engine=engine) == expected


@ENGINES
@pytest.mark.parametrize("market", [SPOT, FUT])
def test_synthetic_trades(tmp_path, engine, market):
    expected = _trades_expected(3000, market)
    path = _trades_file(tmp_path / "ETHUSDT-trades-2025-01.csv", expected, market)
    file = bulk.classify(path)  # 7 columns: spot, 6: USD-M
    assert (file.market, file.kind, file.symbol, file.period) == (market, "trades", "ETHUSDT", "2025-01")
    rows = bulk.read_rows(file, engine=engine)
    assert rows == expected
    assert type(rows[0]) is (SpotTrade if market is SPOT else FuturesTrade)


def test_wrong_market_is_named(tmp_path):
    path = _agg_file(tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv", _agg_expected(10, FUT), FUT)
    with pytest.raises(FrameworkError, match=r"line 1: header with 7 columns, expected 8 for spot "
                                             r"agg_trades.*USD-M agg_trades layout: is the market right\?"):
        bulk.read_rows(path, market="spot")


# -- discovery -----------------------------------------------------------------------------------------------


def test_discovery_of_a_data_binance_vision_tree(tmp_path):
    root = tmp_path / "dl"
    data = root / "data"
    src = tmp_path / "src"
    spot_month = _zip(data / "spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2022-01.zip", BTC)
    _checksum(spot_month)
    # A header-less USD-M kline file: only the path tells the market.
    fut_kl = _write(data / "futures/um/monthly/klines/LINKUSDT/1m/LINKUSDT-1m-2023-02.csv", _lines(LINK)[1:])
    # the month's first two rows moved to the next month's first day (names and rows agree)
    march = [",".join(str(int(v) + 28 * 86_400_000) if i in (0, 6) else v for i, v in enumerate(line.split(",")))
             for line in _lines(LINK)[1:3]]
    fut_day = _write(data / "futures/um/daily/klines/LINKUSDT/1m/LINKUSDT-1m-2023-03-01.csv", march)
    mark = _write(data / "futures/um/monthly/markPriceKlines/LINKUSDT/1m/LINKUSDT-1m-2023-02.csv",
                  _lines(LINK)[1:3])
    fut_agg = _agg_file(src / "BTCUSDT-aggTrades-2025-01-01.csv", _agg_expected(20, FUT), FUT)
    fut_agg = _zip(data / "futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip", fut_agg)
    spot_trades = _trades_file(data / "spot/daily/trades/ETHUSDT/ETHUSDT-trades-2025-01-01.csv",
                               _trades_expected(20, SPOT), SPOT)
    # Loose files: the content decides.
    loose_agg = _agg_file(root / "loose" / "SOLUSDT-aggTrades-2025-01.csv", _agg_expected(5, SPOT), SPOT)
    loose_link = root / "loose" / LINK.name
    loose_link.write_bytes(LINK.read_bytes())
    # Files that must be reported.
    skipped = {
        _write(root / "README.txt", ["hello"]): "not a data.binance.vision file name",
        _write(data / "futures/cm/monthly/klines/BTCUSD_PERP/1h/BTCUSD_PERP-1h-2024-01.csv", ["1"]): "COIN-M",
        _write(data / "spot/monthly/klines/BTCUSDT/1h/ETHUSDT-1h-2022-01.csv", ["1"]):
            "directory says BTCUSDT",
        _write(data / "spot/monthly/klines/BTCUSDT/4h/BTCUSDT-1h-2022-01.csv", ["1"]): "directory says 4h",
        _write(data / "spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2022-01.csv", ["1"]): "a daily directory",
        _write(data / "futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-01.csv", ["1"]):
            "unsupported data type 'bookTicker'",
        _write(root / "loose" / "BTCUSDT-metrics-2024-01-01.csv", ["1"]): "1 columns; metrics files have 8",
        _write(root / "loose" / "BTCUSDT-1h-2022-13.csv", ["1"]): "not a valid date",
        _write(root / "loose" / "BTCUSDT-1h-2022-01.csv", _lines(BTC)): "pass the market",
        _write(root / "loose" / "XRPUSDT-trades-2024-01.csv", ["1,2,3"]): "3 columns",
        _write(root / "loose" / "DOGEUSDT-aggTrades-2024-01.csv", []): "empty file",
        _write(data / "spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2022-01.csv", _lines(BTC)): "same data as",
        _write(root / "loose" / "ADAUSDT-1d-2024-01.zip.CHECKSUM", ["0" * 64]): "without its data file",
    }
    found = bulk.discover(root)
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    got = {(rel(f.path), f.market, f.kind, f.symbol, f.interval, f.period) for f in found.files}
    assert got == {
        (rel(spot_month), SPOT, "klines", "BTCUSDT", "1h", "2022-01"),
        (rel(fut_kl), FUT, "klines", "LINKUSDT", "1m", "2023-02"),
        (rel(fut_day), FUT, "klines", "LINKUSDT", "1m", "2023-03-01"),
        (rel(mark), FUT, "mark_klines", "LINKUSDT", "1m", "2023-02"),
        (rel(fut_agg), FUT, "agg_trades", "BTCUSDT", None, "2025-01-01"),
        (rel(spot_trades), SPOT, "trades", "ETHUSDT", None, "2025-01-01"),
        (rel(loose_agg), SPOT, "agg_trades", "SOLUSDT", None, "2025-01"),
        (rel(loose_link), FUT, "klines", "LINKUSDT", "1m", "2023-02"),
    }
    reasons = {s.path: s.reason for s in found.skipped}
    assert set(reasons) == set(skipped)
    for path, fragment in skipped.items():
        assert fragment in reasons[path], (path, reasons[path])
    by_path = {f.path: f for f in found.files}
    assert by_path[spot_month].checksum == spot_month.with_name(spot_month.name + ".CHECKSUM")
    assert by_path[fut_kl].checksum is None
    # Series: files grouped and ordered oldest first; a month before its days.
    series = found.series()
    link_series = series[(FUT, "klines", "LINKUSDT", "1m")]  # the tree's month, the loose copy, then the day
    assert [f.period for f in link_series] == ["2023-02", "2023-02", "2023-03-01"]
    assert by_path[fut_day].start_ms == 1677628800000 and by_path[fut_day].end_ms == 1677715200000
    assert by_path[fut_kl].end_ms == 1677628800000
    # Everything found reads.
    for f in found.files:
        assert bulk.read_rows(f)
    # An explicit market applies to files whose path says nothing.
    loose = bulk.discover(root / "loose", market="spot")
    assert {f.path.name: f.market for f in loose.files}["BTCUSDT-1h-2022-01.csv"] is SPOT


def test_checksum_mismatch_is_reported(tmp_path):
    z = _zip(tmp_path / "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2022-01.zip", BTC)
    _checksum(z, digest="ab" * 32)
    (file,) = bulk.discover(tmp_path).files
    with pytest.raises(FrameworkError, match="does not match BTCUSDT-1h-2022-01.zip.CHECKSUM"):
        bulk.read_rows(file)
    assert len(bulk.read_rows(file, verify=False)) == 744


def test_zip_must_hold_one_csv(tmp_path):
    z = tmp_path / "BTCUSDT-1h-2022-01.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(BTC, "a.csv")
        zf.write(BTC, "b.csv")
    with pytest.raises(FrameworkError, match="exactly one CSV file; it holds a.csv, b.csv"):
        bulk.read_rows(z, market="spot")


# -- malformed lines -----------------------------------------------------------------------------------------


@ENGINES
@pytest.mark.parametrize(("line_no", "edit", "message"), [
    (101, lambda f: f[:2] + ["6", "959"] + f[3:], "13 fields, expected 12 for USD-M klines"),
    (5000, lambda f: f[:2] + ["6.9.1"] + f[3:], "high (column 3) is '6.9.1': not a decimal number"),
    (7, lambda f: f[:2] + [""] + f[3:], "high (column 3) is '': not a decimal number"),
    (40321, lambda f: f[:8] + ["many"] + f[9:], "count (column 9) is 'many': not an integer"),
    (2, lambda f: [f[0] + "000000"] + f[1:], "neither in milliseconds nor in microseconds"),
    (300, lambda f: f[:6] + ["x"] + f[7:], "close_time (column 7) is 'x': not an integer timestamp"),
])
def test_malformed_line_names_file_and_line(tmp_path, engine, line_no, edit, message):
    lines = _lines(LINK)
    lines[line_no - 1] = ",".join(edit(lines[line_no - 1].split(",")))
    path = _write(tmp_path / LINK.name, lines)
    with pytest.raises(FrameworkError) as err:
        bulk.read_rows(path, engine=engine)
    assert str(err.value).startswith(f"{path}, line {line_no}: ")
    assert message in str(err.value)
    zipped = _zip(tmp_path / "z" / "LINKUSDT-1m-2023-02.zip", path)
    with pytest.raises(FrameworkError, match=rf"\[LINKUSDT-1m-2023-02.csv\], line {line_no}: "):
        bulk.read_rows(zipped, engine=engine)


@ENGINES
def test_malformed_boolean(tmp_path, engine):
    path = _agg_file(tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv", _agg_expected(50, FUT), FUT)
    lines = _lines(path)
    lines[30] = lines[30].rsplit(",", 1)[0] + ",yes"
    _write(path, lines)
    with pytest.raises(FrameworkError, match=r"line 31: is_buyer_maker \(column 7\) is 'yes': not true/f"):
        bulk.read_rows(path, engine=engine)


# -- dedupe --------------------------------------------------------------------------------------------------


def test_explicit_kind_and_market(tmp_path, link_rows):
    any_name = tmp_path / "my-export.csv"
    any_name.write_bytes(LINK.read_bytes())
    with pytest.raises(FrameworkError, match="not a data.binance.vision file name"):
        bulk.read_rows(any_name)
    assert bulk.read_rows(any_name, kind="klines", market="futures") == link_rows
    # Mark-price klines are named like klines: outside the layout, only the caller can say which.
    loose = tmp_path / LINK.name
    loose.write_bytes(LINK.read_bytes())
    assert bulk.read_rows(loose, kind="mark_klines") == link_rows
    with pytest.raises(FrameworkError, match="holds klines, not agg_trades"):
        bulk.read_rows(loose, kind="agg_trades")
    assert bulk.layout("agg_trades", "spot").row_type is SpotAggTrade
    assert bulk.layout("trades", "futures").row_type is FuturesTrade
