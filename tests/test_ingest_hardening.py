"""``ingest`` on the paths users walk: a catalog damaged by empty files, two runs at once, bulk files offline,
places that cannot be written, and a real day of aggTrades from a bulk file."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename

from framework.catalog import CatalogStore
from framework.catalog import Series
from framework.catalog.health import check
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import FaultConfig
from framework.exchange.server import LocalExchangeThread
from framework.values import parse_time_ms
from tests.test_ingest import bulk_tree
from tests.test_ingest import snapshot

ROOT = Path(__file__).resolve().parents[1]
IID = "BTCUSDT-PERP.BINANCE"
HOUR_NS = 3_600_000_000_000
CLOSED = "http://127.0.0.1:9"  # nothing listens: any network call fails at once


def run(*argv: str, env: dict | None = None, wait: bool = True, timeout: float = 300):
    args = [sys.executable, "-m", "framework.main", *argv]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not wait:
        return subprocess.Popen(args, env=full_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(args, env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def urls(ex) -> dict[str, str]:
    return {"BASE_PATH_SPOT": ex.urls["spot_http"], "BASE_PATH_FUTURES": ex.urls["futures_http"]}


def trades(catalog: Path, ex, start: str, end: str, *extra: str, env: dict | None = None, wait: bool = True):
    return run("ingest", "--catalog", str(catalog), "--market", "futures", "--symbols", "BTCUSDT", "--kinds",
               "agg_trades", "--start", start, "--end", end, *extra, env={**urls(ex), **(env or {})}, wait=wait)


@pytest.fixture(scope="module")
def exchange():
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", weight_limit=1_000_000)) as ex:
        yield ex


def test_empty_files_left_by_an_old_record_do_not_hide_the_span(exchange, tmp_path: Path) -> None:
    """The issue's worst case: empty hour files marked a span held, so a later ingest wrote 0 rows while its gap
    report listed missing ids. Rows decide what is held: the span is fetched, the empty files go."""
    start, end = "2024-08-08T23:00:00Z", "2024-08-08T23:10:00Z"
    clean = tmp_path / "clean"
    assert trades(clean, exchange, start, end).returncode == 0
    expected = ParquetDataCatalog(str(clean)).query(TradeTick)
    assert len(expected) > 1_000

    damaged = tmp_path / "damaged"
    store = CatalogStore(clean)
    schema = pq.read_schema(store.series_dir(Series.trades(IID)) / store.files(Series.trades(IID))[0].name)
    folder = damaged / "data" / "trade_tick" / IID
    folder.mkdir(parents=True)
    first_hour = parse_time_ms("2024-08-08T20:00:00Z") * 1_000_000
    planted = [folder / _timestamps_to_filename(first_hour + h * HOUR_NS, first_hour + (h + 1) * HOUR_NS - 1)
               for h in range(5)]  # 20:00 .. 01:00, as record's catch-up wrote them
    for path in planted:
        pq.write_table(schema.empty_table(), path)

    proc = trades(damaged, exchange, start, end)
    assert proc.returncode == 0, proc.stderr
    got = ParquetDataCatalog(str(damaged)).query(TradeTick)
    assert [t.trade_id for t in got] == [t.trade_id for t in expected] and got == expected
    assert f"{len(expected)}" in proc.stdout and "0 ids" in proc.stdout  # written, nothing missing
    assert not any(p.exists() for p in planted) and check(damaged).healthy


@pytest.mark.slow  # ~25 s: the first run must outlast the second's start-up
def test_a_second_run_waits_for_the_series_the_first_is_fetching(tmp_path: Path) -> None:
    """Two ingests of one series into one catalog: the second says who holds it, waits, and fetches nothing."""
    slow = ExchangeConfig(speed=0, start="recorded", weight_limit=1_000_000, faults=FaultConfig(latency_ms=250))
    catalog = tmp_path / "cat"
    config = tmp_path / "one_at_a_time.yaml"
    config.write_text("concurrency: 1\n")  # one page at a time: the first run takes seconds
    lock = catalog / ".locks" / "fetch" / "trade_tick" / f"{IID}.lock"
    with LocalExchangeThread(slow) as ex:
        span = ("2024-08-08T23:00:00Z", "2024-08-08T23:40:00Z")
        first = trades(catalog, ex, *span, str(config), "--report", str(tmp_path / "first.json"), wait=False)
        first_args = first.args
        deadline = time.monotonic() + 60
        while not _held(lock):  # the first run holds the claim: now start the second
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        second = trades(catalog, ex, *span, str(config), "--report", str(tmp_path / "second.json"))
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, (first_args, err)
    assert second.returncode == 0, second.stderr
    assert f"waiting: another ingest (pid {first.pid}) is fetching futures BTCUSDT agg_trades" in second.stderr
    import json

    a = json.loads((tmp_path / "first.json").read_text())["series"][0]
    b = json.loads((tmp_path / "second.json").read_text())["series"][0]
    assert a["fetched"] > 10_000 and a["missing_count"] == 0
    assert b["fetched"] == 0 and b["requests"] == 0 and b["rows"] == a["rows"]  # no weight spent twice


def _held(lock: Path) -> bool:
    """Whether another process holds the flock on ``lock`` (probing takes and drops it at once)."""
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


NO_NETWORK = {"BASE_PATH_SPOT": CLOSED, "BASE_PATH_FUTURES": CLOSED, "HTTPS_PROXY": CLOSED, "HTTP_PROXY": CLOSED}


def test_bulk_files_import_offline_without_a_network_call(tmp_path: Path) -> None:
    files = bulk_tree(tmp_path / "files")
    fixture_info = ROOT / "tests" / "fixtures" / "binance"
    # a fresh catalog and no source of instruments: one line naming the two ways
    proc = run("ingest", "--from-files", str(files), "--catalog", str(tmp_path / "none"), env=NO_NETWORK)
    assert proc.returncode == 2 and "--exchange-info FILE" in proc.stderr and "--offline" in proc.stderr
    assert not (tmp_path / "none").exists()
    # the bundled exchangeInfo
    offline = tmp_path / "offline"
    proc = run("ingest", "--from-files", str(files), "--catalog", str(offline), "--offline", env=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr
    # saved exchangeInfo answers (spot and USD-M), gzip or plain
    given = tmp_path / "given"
    proc = run("ingest", "--from-files", str(files), "--catalog", str(given), "--exchange-info",
               str(fixture_info / "spot" / "rest" / "exchangeInfo.json"), "--exchange-info",
               str(fixture_info / "futures" / "rest" / "exchangeInfo.json"), env=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(given) == snapshot(offline)
    # the catalog holds the instruments now: nothing else is needed, and nothing new is written
    before = snapshot(offline)
    proc = run("ingest", "--from-files", str(files), "--catalog", str(offline), env=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(offline) == before


def test_a_catalog_that_cannot_be_created_is_one_line(exchange, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for catalog in (tmp_path / "afile" / "catalog", Path("/sys/catalog")):  # both refuse root as well
        proc = trades(catalog, exchange, "2024-08-08T23:00:00Z", "2024-08-08T23:01:00Z")
        assert proc.returncode == 1, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and f"catalog folder {catalog} cannot be written" in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_read_only_catalog_is_one_line_even_with_nothing_to_write(exchange, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)]).returncode != 0:
        # CI runs as root on a machine that mounts (checked): there the case must run, never skip into green
        assert not os.environ.get("CI"), "CI must be able to mount a tmpfs for the read-only catalog case"
        pytest.skip("mounting needs CAP_SYS_ADMIN (the other unwritable places are tested above)")
    try:
        span = ("2024-08-08T23:00:00Z", "2024-08-08T23:01:00Z")
        assert trades(mount / "cat", exchange, *span).returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        proc = trades(mount / "cat", exchange, *span)  # everything is held: nothing new to write
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert proc.returncode == 1 and len(errors) == 1, proc.stderr
        assert f"catalog folder {mount / 'cat'} cannot be written: Read-only file system" in errors[0]
    finally:
        subprocess.run(["umount", str(mount)])


# -- a real day of aggTrades from a bulk file ----------------------------------------------------------------

DAY_ROWS = 2_000_000


def usdm_agg_trades_csv(path: Path, rows: int, day: str = "2024-08-07", seed: int = 5) -> dict[str, np.ndarray]:
    """A data.binance.vision USD-M daily aggTrades CSV (header, ms times) with ``rows`` rows over the day;
    returns its columns."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    first_ms = parse_time_ms(day)
    ids = np.arange(2_100_000_000, 2_100_000_000 + rows, dtype=np.int64)
    times = np.sort(rng.integers(first_ms, first_ms + 86_400_000, rows))
    price_tenths = 600_000 + np.cumsum(rng.integers(-3, 4, rows))  # 60000.0 +- : one decimal, as BTCUSDT ticks
    qty = rng.integers(1, 5_000, rows)  # thousandths
    first_trade = 5_000_000_000 + np.cumsum(rng.integers(1, 4, rows))
    last_trade = first_trade + rng.integers(0, 3, rows)
    maker = rng.integers(0, 2, rows).astype(bool)
    price = pc_decimal(price_tenths * 10, 2)  # "60000.10": the tick is 0.10, the precision 2
    quantity = pc_decimal(qty, 3)
    table = pa.table({
        "agg_trade_id": ids, "price": price, "quantity": quantity, "first_trade_id": first_trade,
        "last_trade_id": last_trade, "transact_time": times,
        "is_buyer_maker": pa.array(np.where(maker, "true", "false")),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(table, path, pcsv.WriteOptions(quoting_style="none"))
    return {"id": ids, "price": np.asarray(price), "qty": np.asarray(quantity), "time": times, "maker": maker}


def pc_decimal(units: np.ndarray, decimals: int) -> np.ndarray:
    """Integers of 10**-decimals as Binance's decimal text ("60000.1", "0.003")."""
    whole, frac = np.divmod(units, 10**decimals)
    return np.char.add(np.char.add(whole.astype(str), "."), np.char.zfill(frac.astype(str), decimals))


@pytest.mark.slow
def test_a_real_day_of_usdm_agg_trades_from_a_bulk_file(tmp_path: Path) -> None:
    """2M rows (a real BTCUSDT day holds 2-3M): it crashed at 50,000 ('Must pass at least one table')."""
    files = tmp_path / "files" / "data" / "futures" / "um" / "daily" / "aggTrades" / "BTCUSDT"
    cols = usdm_agg_trades_csv(files / "BTCUSDT-aggTrades-2024-08-07.csv", DAY_ROWS)
    catalog = tmp_path / "cat"
    started = time.monotonic()
    proc = run("ingest", "--from-files", str(tmp_path / "files"), "--catalog", str(catalog), "--offline",
               env=NO_NETWORK)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert f"{DAY_ROWS:>11}" in proc.stdout and "0 ids" in proc.stdout, proc.stdout
    store = CatalogStore(catalog)
    series = Series.trades(IID)
    ids = store.read_table(series, columns=["trade_id"]).column(0).to_numpy(zero_copy_only=False).astype(np.int64)
    assert np.array_equal(ids, cols["id"])  # every id once, in order
    for i in (0, 1, 49_999, 50_000, 1_234_567, DAY_ROWS - 1):  # exact values on samples
        t_ns = int(cols["time"][i]) * 1_000_000
        ticks = [t for t in ParquetDataCatalog(str(catalog)).query(TradeTick, start=t_ns, end=t_ns)
                 if int(t.trade_id.value) == cols["id"][i]]
        assert len(ticks) == 1, i
        t = ticks[0]
        assert (str(t.price), str(t.size), t.ts_event) == (cols["price"][i], cols["qty"][i], t_ns)
        assert t.aggressor_side.name == ("SELLER" if cols["maker"][i] else "BUYER")
    before = snapshot(catalog)
    again = run("ingest", "--from-files", str(tmp_path / "files"), "--catalog", str(catalog), env=NO_NETWORK)
    assert again.returncode == 0 and snapshot(catalog) == before  # a re-import writes nothing
    assert took < 120, f"the import took {took:.0f}s"



#: Another run's reader: the damaged-file check on the catalog, over and over until {stop} exists.
_READER = """
import sys
from pathlib import Path
from framework.catalog.health import DamagedCatalogFile, require_readable
root, stop = Path(sys.argv[1]), Path(sys.argv[2])
reads = damaged = 0
while not stop.exists():
    try:
        require_readable(root)
    except DamagedCatalogFile as e:
        damaged += 1
        print(e, file=sys.stderr)
    reads += 1
print(reads, damaged)
"""


def test_a_reader_never_sees_a_half_written_instrument_file(tmp_path: Path) -> None:
    """Two fresh runs on one catalog: while one writes the instrument file, the other checks the catalog for
    damaged files. Nautilus writes the file in place (the reader caught it without its closing magic bytes and
    stopped with "damaged"); written aside and renamed, a reader sees no file or the whole one."""
    import shutil

    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    from framework.ingest.instruments import write_instruments

    first = TestInstrumentProvider.btcusdt_perp_binance()
    cls = type(first)
    instrument = cls.from_dict({**cls.to_dict(first), "ts_event": 0, "ts_init": 0})
    catalog, stop = tmp_path / "catalog", tmp_path / "stop"
    write_instruments(catalog, [instrument])
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(catalog), str(stop)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the reader is spinning
        for _ in range(200):  # a fresh catalog each time: the instrument file is new, as in a first run
            shutil.rmtree(catalog / "data", ignore_errors=True)
            write_instruments(catalog, [instrument])
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=30)
    reads, damaged = map(int, out.split())
    assert reads > 100 and damaged == 0, err[-1000:]
    assert [i.id.value for i in ParquetDataCatalog(str(catalog)).instruments()] == [IID]
    assert sorted(p.name for p in catalog.iterdir()) == ["data"], "no scratch folder left"
