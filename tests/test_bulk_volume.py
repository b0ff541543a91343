"""Bulk import at real volume: generated days of millions of rows in each published format, imported through the
CLI with every id once, exact values and bounded memory; REST and files give the same bytes; a killed import
resumes; a re-import writes nothing; workers and Ray give the catalog one process gives.

The generator (:func:`write_trades_file`, :func:`write_klines_file`) writes data.binance.vision's formats with
vectorised Arrow string kernels (~1.5M rows/s); ``benchmarks/bench_bulk.py`` uses it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from framework.binance.endpoints import Market
from framework.binance.endpoints import endpoint
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data.fixed_point import RAW_TYPE
from framework.data.instruments import instrument_id_for
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.values import parse_time_ms
from tests.bulk_support import KLINE_HEADER
from tests.bulk_support import NO_NETWORK
from tests.bulk_support import ROOT
from tests.bulk_support import run
from tests.bulk_support import urls
from tests.test_ingest import snapshot

#: (market, kind) of each format, and its instrument's precisions (the bundled exchangeInfo's BTCUSDT).
FORMATS = {"spot_agg": (Market.SPOT, "aggTrades"), "usdm_agg": (Market.FUTURES, "aggTrades"),
           "spot_trades": (Market.SPOT, "trades"), "usdm_trades": (Market.FUTURES, "trades")}
PRECISION = {Market.SPOT: (2, 5), Market.FUTURES: (2, 3)}
HEADERS = {"usdm_agg": "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
           "usdm_trades": "id,price,qty,quote_qty,time,is_buyer_maker"}
DAY_ROWS = 3_000_000
RSS_LIMIT_MB = 500
#: What a day of rows may add to the peak RSS of the same command on a tiny file: the command's own start-up
#: (imports, the offline exchange's tapes for the instruments) varies by ~100 MB between environments; the
#: importer's streaming must not.
GROWTH_LIMIT_MB = 150
DAY = "2024-08-07"


# -- the generator ----------------------------------------------------------------------------------------------


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _decimal(units: np.ndarray, decimals: int, printed: int) -> pa.Array:
    """Integers of 10**-decimals as decimal text with ``printed`` decimals (spot pads to 8)."""
    whole, frac = np.divmod(units, 10**decimals)
    frac = frac * 10 ** (printed - decimals)
    return pc.binary_join_element_wise(_text(whole), pc.utf8_lpad(_text(frac), printed, "0"), ".")


def _write_lines(path: Path, rows: int, columns: Callable[[slice], list[pa.Array]], header: str | None) -> None:
    """``rows`` rows of text columns (``columns(piece)`` gives a piece's) joined by commas, one a line, written a
    million rows at a time (no Python object per row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        if header:
            f.write(header.encode() + b"\n")
        for i in range(0, rows, 1_000_000):
            line = pc.binary_join_element_wise(*columns(slice(i, min(i + 1_000_000, rows))), ",")
            part = pc.binary_join_element_wise(line, "", "\n")
            offsets = np.frombuffer(part.buffers()[1], np.int32, len(part) + 1, part.offset * 4)
            f.write(memoryview(part.buffers()[2])[offsets[0]: offsets[-1]])


def write_trades_file(path: Path, fmt: str, rows: int, day: str = DAY, seed: int = 7,
                      first_id: int = 3_000_000_000, days: int = 1) -> dict[str, np.ndarray]:
    """``days`` of aggTrades or trades from ``day`` in one published format (``FORMATS``): spot files without a
    header, times in microseconds, 8 decimals, ``True``/``False`` and the best-match column; USD-M files with
    their header, ms, the instrument's decimals, ``true``/``false``. Returns the expected values: ids, price and
    size mantissas at the instrument's precision, times in ms, buyer-maker flags."""
    market, kind = FORMATS[fmt]
    pp, sp = PRECISION[market]
    rng = np.random.default_rng(seed)
    start = parse_time_ms(day)
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    ms = np.sort(rng.integers(start, start + days * 86_400_000, rows))
    price = 6_000_000 + np.cumsum(rng.integers(-3, 4, rows))  # cents around 60000.00
    size = rng.integers(1, 5_000 * 10 ** (sp - 3), rows)
    maker = rng.integers(0, 2, rows).astype(bool)
    spot = market is Market.SPOT
    printed = (8, 8) if spot else (pp, sp)
    times = ms * 1000 + rng.integers(0, 1000, rows) if spot else ms  # µs: sub-ms digits to floor
    first = 4_000_000_000 + np.cumsum(rng.integers(1, 4, rows))
    last = first + rng.integers(0, 3, rows)

    def columns(part: slice) -> list[pa.Array]:
        flags = pa.array(np.where(maker[part], "True", "False") if spot else np.where(maker[part], "true", "false"))
        p, q = _decimal(price[part], pp, printed[0]), _decimal(size[part], sp, printed[1])
        if kind == "aggTrades":
            out = [_text(ids[part]), p, q, _text(first[part]), _text(last[part]), _text(times[part]), flags]
        else:
            quote = _decimal(price[part] * size[part], pp + sp, 8 if spot else pp + sp)
            out = [_text(ids[part]), p, q, quote, _text(times[part]), flags]
        return [*out, pa.array(np.full(len(out[0]), "True"))] if spot else out

    _write_lines(path, rows, columns, None if spot else HEADERS[fmt])
    return {"id": ids, "price": price, "size": size, "ms": ms, "maker": maker}


def write_klines_file(path: Path, days: int, day: str = DAY, seed: int = 3) -> int:
    """USD-M 1m klines (header, ms) for ``days`` days from ``day``; returns the row count."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    open_ms = parse_time_ms(day) + np.arange(n, dtype=np.int64) * 60_000
    o = 6_000_000 + np.cumsum(rng.integers(-50, 51, n))
    c = o + rng.integers(-50, 51, n)
    h = np.maximum(o, c) + rng.integers(0, 30, n)
    low = np.minimum(o, c) - rng.integers(0, 30, n)
    vol = rng.integers(1_000, 900_000, n)
    count = rng.integers(10, 5_000, n)

    def columns(part: slice) -> list[pa.Array]:
        return [_text(open_ms[part]), *(_decimal(x[part], 2, 2) for x in (o, h, low, c)), _decimal(vol[part], 3, 3),
                _text(open_ms[part] + 59_999), _decimal(vol[part] * c[part] // 1000, 2, 2),
                _text(count[part]), _decimal(vol[part] // 2, 3, 3), _decimal(vol[part] * c[part] // 2000, 2, 2),
                pa.array(np.full(len(o[part]), "0"))]

    _write_lines(path, n, columns, "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                                   "taker_buy_volume,taker_buy_quote_volume,ignore")
    return n


def site_path(root: Path, fmt: str, day: str = DAY, symbol: str = "BTCUSDT") -> Path:
    """Where data.binance.vision keeps a daily file of ``fmt`` under ``root``."""
    market, kind = FORMATS[fmt]
    base = "spot" if market is Market.SPOT else "futures/um"
    return root / "data" / base / "daily" / kind / symbol / f"{symbol}-{kind}-{day}.csv"


# -- the catalog read back --------------------------------------------------------------------------------------


def _mantissas(column: pa.ChunkedArray, precision: int) -> np.ndarray:
    """A raw fixed-point column as integers at ``precision`` decimals (exact: no float)."""
    raw = column.combine_chunks()
    dec = pa.Array.from_buffers(pa.decimal128(38, 16), len(raw), [None, raw.buffers()[1]], offset=raw.offset)
    at = pc.cast(dec, pa.decimal128(38, precision))  # refuses any digit beyond the precision
    units = pa.Array.from_buffers(pa.decimal128(38, 0), len(at), [None, at.buffers()[1]], offset=at.offset)
    return pc.cast(units, pa.int64()).to_numpy()


def trades(catalog: Path, market: Market) -> pa.Table:
    """The catalog's TradeTick rows of BTCUSDT on ``market``, in order."""
    return CatalogStore(str(catalog)).read_table(Series.trades(instrument_id_for(market, "BTCUSDT")))


def assert_exact(table: pa.Table, expected: dict[str, np.ndarray], market: Market) -> None:
    """Every id once, in order, with its exact price, size, time and aggressor."""
    pp, sp = PRECISION[market]
    assert table.schema.field("price").type == RAW_TYPE
    ids = pc.cast(table.column("trade_id"), pa.int64()).to_numpy()
    assert np.array_equal(ids, expected["id"])
    assert np.array_equal(_mantissas(table.column("price"), pp), expected["price"])
    assert np.array_equal(_mantissas(table.column("size"), sp), expected["size"])
    ts = table.column("ts_event").to_numpy().astype(np.int64)
    assert np.array_equal(ts, expected["ms"] * 1_000_000)
    assert np.array_equal(table.column("ts_init").to_numpy().astype(np.int64), ts)
    assert np.array_equal(table.column("aggressor_side").to_numpy(), np.where(expected["maker"], 2, 1))


#: The launcher: forks, execs the command, waits for it with ``os.wait4`` and writes its exit code and peak RSS.
#: Started small, its fork's peak RSS is the command's own: a process exec'd straight from a big one (pytest holding
#: a generated day) keeps that one's high-water mark in its ``ru_maxrss``.
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "maxrss_mb": usage.ru_maxrss / 1024}, f)
"""


def launched(argv: list[str], out: Path, err: Path) -> tuple[int, float]:
    """``python argv`` through the launcher, its output to ``out``/``err``: (exit code, peak RSS in MB)."""
    usage = out.with_suffix(".usage")
    with open(out, "w") as o, open(err, "w") as e:
        subprocess.run([sys.executable, "-c", LAUNCHER, str(usage), *argv], cwd=ROOT, stdout=o, stderr=e,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **NO_NETWORK}, timeout=600)
    result = json.loads(usage.read_text())
    return result["code"], result["maxrss_mb"]


def import_cli(files: Path, catalog: Path, *more: str) -> tuple[int, float, str, str]:
    """``ingest --from-files`` in a child process: (exit code, its peak RSS in MB, stdout, stderr)."""
    out, err = catalog.parent / f"{catalog.name}.out", catalog.parent / f"{catalog.name}.err"
    code, rss = launched(["-m", "framework.main", "ingest", "--from-files", str(files), "--catalog", str(catalog),
                          "--offline", *more], out, err)
    return code, rss, out.read_text(), err.read_text()


# -- a day of each format ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_day_of_millions_of_rows_lands_exactly_in_bounded_memory(tmp_path: Path, fmt: str) -> None:
    market, _ = FORMATS[fmt]
    files = tmp_path / "files"
    expected = write_trades_file(site_path(files, fmt), fmt, DAY_ROWS)
    code, rss, out, err = import_cli(files, tmp_path / "cat")
    assert code == 0, err
    assert f"{DAY_ROWS:>11}" in out and "0 ids" in out, out
    assert_exact(trades(tmp_path / "cat", market), expected, market)
    small = tmp_path / "small"
    write_trades_file(site_path(small, fmt), fmt, 10_000)
    code, baseline, _, err = import_cli(small, tmp_path / "small_cat")
    assert code == 0, err
    assert rss - baseline < GROWTH_LIMIT_MB, f"peak RSS {rss:.0f} MB for {DAY_ROWS:,} rows, {baseline:.0f} MB for 10,000"
    assert rss < RSS_LIMIT_MB + 100, f"peak RSS {rss:.0f} MB"  # the bound of the issue, with the start-up's spread
    assert not CatalogStore(str(tmp_path / "cat")).check(Series.trades(instrument_id_for(market, "BTCUSDT")))


# -- REST and files give the same bytes ------------------------------------------------------------------------

HOUR = ("2024-08-08T23:00:00Z", "2024-08-08T23:59:59.999Z")  # the last hour of the day the local exchange tapes


@pytest.fixture(scope="module")
def exchange():
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", history="2d", weight_limit=1_000_000)) as ex:
        yield ex


def _answer(ex, market: Market, name: str, **params) -> list:
    base = ex.urls["spot_http" if market is Market.SPOT else "futures_http"]
    url = base + endpoint(market, name).path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _rest_agg_trades(ex, market: Market, lo: int, hi: int) -> list[dict]:
    """Every aggTrade with its time in [lo, hi] (ms), by fromId pages."""
    first = _answer(ex, market, "agg_trades", symbol="BTCUSDT", startTime=lo, endTime=lo + 3_599_999, limit=1)[0]["a"]
    out: list[dict] = []
    while True:
        page = _answer(ex, market, "agg_trades", symbol="BTCUSDT", fromId=first, limit=1000)
        out += [r for r in page if r["T"] <= hi]
        if not page or page[-1]["T"] > hi:
            return out
        first = page[-1]["a"] + 1


def _site_file(root: Path, market: Market, dtype: str, name: str, lines: list[str], interval: str = "") -> Path:
    base = "spot" if market is Market.SPOT else "futures/um"
    path = root / "data" / base / "daily" / dtype / "BTCUSDT" / interval / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _files_from_rest(ex, root: Path) -> None:
    """The hour's aggTrades and 1m klines of both markets as the site publishes them: spot without a header,
    times in microseconds (sub-millisecond digits to floor), True/False and the best-match column; USD-M with
    its header."""
    lo, hi = (parse_time_ms(t) for t in HOUR)
    day = HOUR[0][:10]
    rng = np.random.default_rng(1)
    for market in Market:
        spot = market is Market.SPOT
        rows = _rest_agg_trades(ex, market, lo, hi)
        if spot:
            lines = [f"{r['a']},{r['p']},{r['q']},{r['f']},{r['l']},{r['T'] * 1000 + int(rng.integers(1000))},"
                     f"{r['m']},{r['M']}" for r in rows]
        else:
            lines = [HEADERS["usdm_agg"], *(f"{r['a']},{r['p']},{r['q']},{r['f']},{r['l']},{r['T']},"
                                           f"{str(r['m']).lower()}" for r in rows)]
        _site_file(root, market, "aggTrades", f"BTCUSDT-aggTrades-{day}", lines)
        # REST holds closed klines that open by the span end less one interval: the file holds the same
        klines = _answer(ex, market, "klines", symbol="BTCUSDT", interval="1m", startTime=lo, endTime=hi - 60_000,
                         limit=1000)
        lines = [",".join(str(v * 1000 if spot and i in (0, 6) else v) for i, v in enumerate(k)) for k in klines]
        if not spot:
            lines.insert(0, KLINE_HEADER)
        _site_file(root, market, "klines", f"BTCUSDT-1m-{day}", lines, "1m")


def _data_bytes(catalog: Path) -> dict[str, bytes]:
    """Each series folder's parquet bytes (one file each here), by folder."""
    out = {}
    for path in catalog.rglob("*.parquet"):
        if "crypto_perpetual" not in path.parts and "currency_pair" not in path.parts:
            assert path.parent.relative_to(catalog).as_posix() not in out, "one file a series"
            out[path.parent.relative_to(catalog).as_posix()] = path.read_bytes()
    return out


def test_rest_and_files_give_the_same_bytes_and_dedupe(exchange, tmp_path: Path) -> None:
    rest = tmp_path / "rest"
    for market in ("spot", "futures"):
        proc = run("ingest", "--catalog", str(rest), "--market", market, "--symbols", "BTCUSDT", "--kinds",
                   "agg_trades,klines", "--intervals", "1m", "--start", HOUR[0], "--end", HOUR[1], env=urls(exchange))
        assert proc.returncode == 0, proc.stderr
    files = tmp_path / "files"
    _files_from_rest(exchange, files)
    imported = tmp_path / "imported"
    code, _, out, err = import_cli(files, imported)
    assert code == 0, err
    by_rest, by_files = _data_bytes(rest), _data_bytes(imported)
    assert sorted(by_rest) == sorted(by_files) and len(by_rest) == 6  # trades, bars, KlineStats x 2 markets
    for folder in by_rest:
        assert by_rest[folder] == by_files[folder], folder
    # the files again, into the REST catalog: the rows both hold are written once (the day's file only widens)
    code, _, _, err = import_cli(files, rest)
    assert code == 0, err
    assert _data_bytes(rest) == by_files
    assert snapshot(rest).keys() == snapshot(imported).keys()


# -- killed, resumed, imported again ---------------------------------------------------------------------------


def _mtimes(catalog: Path) -> dict[str, int]:
    return {str(p.relative_to(catalog)): p.stat().st_mtime_ns for p in catalog.rglob("*.parquet")}


@pytest.mark.slow
def test_a_killed_import_resumes_and_a_reimport_writes_nothing(tmp_path: Path) -> None:
    """A monthly file of three days: killed (SIGKILL) once the first day's file is in, the rerun writes the rest,
    every id once, the first day untouched; a third run reads nothing and writes nothing."""
    files = tmp_path / "files"
    month = files / "data" / "futures" / "um" / "monthly" / "aggTrades" / "BTCUSDT" / "BTCUSDT-aggTrades-2024-08.csv"
    expected = write_trades_file(month, "usdm_agg", DAY_ROWS, day="2024-08-01", days=3)
    catalog = tmp_path / "cat"
    folder = catalog / "data" / "trade_tick" / "BTCUSDT-PERP.BINANCE"
    proc = subprocess.Popen([sys.executable, "-m", "framework.main", "ingest", "--from-files", str(files),
                             "--catalog", str(catalog), "--offline"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT), **NO_NETWORK})
    try:
        while proc.poll() is None and not list(folder.glob("*.parquet")):
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    first_day = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.parquet")}
    assert len(first_day) == 1, "killed after the first day's file"
    code, _, out, err = import_cli(files, catalog)
    assert code == 0, err
    assert_exact(trades(catalog, Market.FUTURES), expected, Market.FUTURES)
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.parquet") if p.name in first_day} == first_day
    assert not CatalogStore(str(catalog)).check(Series.trades("BTCUSDT-PERP.BINANCE"))
    before = _mtimes(catalog)
    code, _, out, err = import_cli(files, catalog)
    assert code == 0, err
    assert _mtimes(catalog) == before
    assert f"{DAY_ROWS:>11}" in out and out.splitlines()[2].split()[-1] == "0", out  # written: 0


# -- workers and Ray -------------------------------------------------------------------------------------------


def _several_days(root: Path) -> None:
    """Four daily aggTrades files and two daily 1m kline files (USD-M)."""
    for i in range(4):
        day = f"2024-08-0{i + 1}"
        write_trades_file(site_path(root, "usdm_agg", day), "usdm_agg", 150_000, day=day, seed=i,
                          first_id=3_000_000_000 + i * 150_000)
    for day in ("2024-08-01", "2024-08-02"):
        folder = root / "data" / "futures" / "um" / "daily" / "klines" / "BTCUSDT" / "1m"
        write_klines_file(folder / f"BTCUSDT-1m-{day}.csv", 1, day=day)


def test_workers_write_the_catalog_one_process_writes(tmp_path: Path) -> None:
    _several_days(tmp_path / "files")
    code, _, _, err = import_cli(tmp_path / "files", tmp_path / "one")
    assert code == 0, err
    code, _, out, err = import_cli(tmp_path / "files", tmp_path / "two", "--workers", "2")
    assert code == 0, err
    assert snapshot(tmp_path / "two") == snapshot(tmp_path / "one")
    assert "600000" in out.replace(",", "") and "0 ids" in out


@pytest.mark.slow
def test_ray_writes_the_catalog_one_process_writes(tmp_path: Path) -> None:
    # Ray 2.60 has no local_mode: a real local Ray with one CPU, as the sweep test runs it
    _several_days(tmp_path / "files")
    code, _, _, err = import_cli(tmp_path / "files", tmp_path / "one")
    assert code == 0, err
    code, _, _, err = import_cli(tmp_path / "files", tmp_path / "ray", "--engine", "ray", "--workers", "1")
    assert code == 0, err
    assert snapshot(tmp_path / "ray") == snapshot(tmp_path / "one")


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "ray", "--ray-address", "10.1.2.3:6379"], "cannot write the local catalog"),
    (["--workers", "0"], "--workers: 0 must be a whole number of at least 1"),
    (["--ray-address", "127.0.0.1:6379"], "--ray-address is for --engine ray"),
])
def test_engine_mistakes_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    _site_file(tmp_path / "files", Market.FUTURES, "aggTrades", f"BTCUSDT-aggTrades-{DAY}",
               [HEADERS["usdm_agg"], "1,60000.10,0.001,1,1,1723000000000,true"])
    code, _, _, err = import_cli(tmp_path / "files", tmp_path / "cat", *args)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err and not (tmp_path / "cat" / "data").exists()


def test_workers_without_files_is_one_line(tmp_path: Path) -> None:
    proc = run("ingest", "--catalog", str(tmp_path / "cat"), "--market", "futures", "--symbols", "BTCUSDT",
               "--kinds", "agg_trades", "--workers", "2", env=NO_NETWORK)
    assert proc.returncode == 2 and "--workers are for --from-files" in proc.stderr, proc.stderr


# -- a bad line deep in a file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "edit", "message"), [
    (300_001, lambda f: [f[0], "60000.1.5", *f[2:]], "price (column 2) is '60000.1.5': not a decimal number"),
    (250_002, lambda f: [f[0], f[1], "0.000", *f[3:]], "quantity (column 3) = 0 is not positive"),
    (199_999, lambda f: [*f[:5], "1723000000000000000", f[6]], "neither in milliseconds nor in microseconds"),
    (123_457, lambda f: f[:6], "6 fields, expected 7 for USD-M agg_trades"),
    (350_000, lambda f: [f[0], "60000.123", *f[2:]], "price (column 2)"),  # beyond the instrument's precision
])
def test_a_bad_line_deep_in_a_file_is_named_and_nothing_is_written(tmp_path: Path, line: int, edit, message: str):
    path = site_path(tmp_path / "files", "usdm_agg")
    write_trades_file(path, "usdm_agg", 400_000)
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = ",".join(edit(lines[line - 1].decode().split(","))).encode()
    path.write_bytes(b"\n".join(lines))
    code, _, _, err = import_cli(tmp_path / "files", tmp_path / "cat")
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 1 and len(errors) == 1, err
    assert f"{path}, line {line}: " in errors[0] and message in errors[0], errors[0]
    assert not list((tmp_path / "cat" / "data").glob("trade_tick/*/*.parquet"))


# -- the vectorised decimals -----------------------------------------------------------------------------------


def test_fast_decimals_are_arrows_exact_casts() -> None:
    """``fixed_point``'s byte-wise plain check is the regex, and its float route gives Arrow's exact decimal casts
    (values and refusals) on random plain and broken decimal text."""
    import random
    import re

    from framework.data import fixed_point as fp

    plain = re.compile(r"-?[0-9]+(\.[0-9]+)?")
    rnd = random.Random(5)

    def value() -> str:
        if rnd.random() < 0.6:
            text = ("-" if rnd.random() < 0.2 else "") + str(rnd.randint(0, 10 ** rnd.randint(0, 13)))
            if rnd.random() < 0.8:
                text += "." + "".join(rnd.choice("0000123456789") for _ in range(rnd.randint(1, 10)))
            return text
        return "".join(rnd.choice("0123456789.-/ e+") for _ in range(rnd.randint(0, 6)))

    for _ in range(4000):
        values = [value() for _ in range(rnd.randint(1, 6))]
        array = pa.array(values, pa.string())
        assert (fp._plain_rows(*fp._string_buffers(array)) is not None) == all(map(plain.fullmatch, values)), values
        for precision in (0, 2, 5, 8):
            try:
                want = pc.cast(pc.cast(array, pa.decimal128(38, precision)), pa.decimal128(38, fp.FIXED_PRECISION))
            except pa.ArrowInvalid:
                want = None
            try:
                got = fp.decimal_column(array, precision)
            except ValueError:
                got = None
            if not all(map(plain.fullmatch, values)):
                assert got is None, values
            else:
                assert (got is None and want is None) or got.equals(want), (values, precision)
