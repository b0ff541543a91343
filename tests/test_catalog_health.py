"""``catalog check|repair`` and the damaged-file gate (``framework.catalog.health``): empty, truncated and
overlapping files and leftover temporaries, found, named and repaired as real commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from framework.catalog import CatalogStore
from framework.catalog import Series
from framework.catalog.health import DamagedCatalogFile
from framework.catalog.health import check
from framework.catalog.health import require_readable
from framework.catalog.layout import TMP_PREFIX
from framework.catalog.layout import TRASH_PREFIX
from framework.catalog.nautilus_paths import file_name
from tests.test_catalog_store import BAR_TYPE
from tests.test_catalog_store import DAY
from tests.test_catalog_store import DAY0
from tests.test_catalog_store import INSTR
from tests.test_catalog_store import make_bars
from tests.test_catalog_store import make_trades
from tests.test_catalog_store import write_trades

ROOT = Path(__file__).resolve().parents[1]
HOUR = DAY // 24


def main(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.main", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def healthy_catalog(root: Path) -> CatalogStore:
    """Three days of trades (day files) and 3,000 one-minute bars (month files)."""
    store = CatalogStore(root)
    write_trades(store, make_trades(6_000, 3.0), start=DAY0, end=DAY0 + 3 * DAY - 1)
    store.write_bars(BAR_TYPE, 1, 3, **make_bars(3_000), series=Series.bars(BAR_TYPE, period="month"))
    return store


def empty_hour_file(store: CatalogStore, series: Series, start: int) -> Path:
    """A zero-row hour file, as an old ``record`` catch-up wrote thousands of them."""
    d = store.series_dir(series)
    schema = pq.read_schema(d / store.files(series)[0].name)
    path = d / file_name(start, start + HOUR - 1)
    pq.write_table(schema.empty_table(), path)
    return path


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_healthy_catalog(tmp_path: Path) -> None:
    healthy_catalog(tmp_path)
    proc = main("catalog", "check", "--catalog", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "healthy: 4 files, 2 series" and proc.stderr == ""


def test_check_names_every_problem_and_repair_fixes_what_is_safe(tmp_path: Path) -> None:
    store = healthy_catalog(tmp_path)
    trades, bars = Series.trades(INSTR), Series.bars(BAR_TYPE, period="month")
    td, bd = store.series_dir(trades), store.series_dir(bars)
    days = [td / f.name for f in store.files(trades)]
    empties = [empty_hour_file(store, trades, DAY0 + 3 * DAY + h * HOUR) for h in range(30)]  # after the data
    empties.append(empty_hour_file(store, trades, DAY0 + 5 * HOUR))  # inside a day file's span
    zero_bytes = td / days[0].name.replace("2024-03-18T00", "2024-03-25T00").replace("2024-03-18T23", "2024-03-25T23")
    zero_bytes.write_bytes(b"")
    bar_file = bd / store.files(bars)[0].name
    data = bar_file.read_bytes()
    bar_file.write_bytes(data[: len(data) // 2])  # truncated: a copy cut short
    overlap = td / days[1].name.replace("T00-00-00", "T12-00-00")  # day 2's second half, again
    overlap = overlap.with_name(overlap.name.split("_")[0] + "_" + days[2].name.split("_")[1])  # .. to day 3's end
    shutil.copy(days[1], overlap)
    leftover = td / f"{TMP_PREFIX}x-{dead_pid()}-abc.tmp"  # its writer is gone
    leftover.write_bytes(b"half")

    proc = main("catalog", "check", "--catalog", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "32 empty files, 1 unreadable file, 2 overlapping pairs" in errors[0]
    assert f"catalog repair --catalog {tmp_path}" in errors[0]
    out = proc.stdout
    assert "empty      data/trade_tick" in out and "... and 12 more" in out
    assert f"unreadable {bar_file.relative_to(tmp_path)}" in out and "magic" in out
    assert f"{overlap.relative_to(tmp_path)}" in out and "overlap" in out
    assert f"leftover   {leftover.relative_to(tmp_path)}" in out

    proc = main("catalog", "repair", "--catalog", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "removed 32 empty files, cleaned 1 leftover temporary" in proc.stdout
    assert not any(p.exists() for p in [*empties, zero_bytes, leftover])
    assert all(p.exists() for p in [*days, overlap, bar_file])  # rows are never deleted by repair
    damaged = next(line for line in proc.stdout.splitlines() if line.startswith("damaged"))
    assert (f"rm {bar_file} && python -m framework.main ingest --market futures --symbols BTCUSDT --kinds klines "
            f"--intervals 1m --start 2024-03-18T00:00:00Z --end 2024-03-20T02:00:00Z --catalog {tmp_path}") in damaged
    overlapping = next(line for line in proc.stdout.splitlines() if line.startswith("overlap"))
    assert (f"rm {overlap} && python -m framework.main ingest --market futures --symbols BTCUSDT --kinds agg_trades "
            f"--start 2024-03-19T12:00:00Z --end 2024-03-21T00:00:00Z --catalog {tmp_path}") in overlapping
    assert len([line for line in proc.stderr.splitlines() if "error:" in line]) == 1

    bar_file.unlink()
    overlap.unlink()
    proc = main("catalog", "repair", "--catalog", str(tmp_path))
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "healthy: 3 files, 1 series", proc.stdout
    assert main("catalog", "check", "--catalog", str(tmp_path)).returncode == 0


def test_empty_files_are_not_coverage_and_a_write_removes_them(tmp_path: Path) -> None:
    store = healthy_catalog(tmp_path)
    trades = Series.trades(INSTR)
    later = DAY0 + 3 * DAY
    empties = [empty_hour_file(store, trades, later + h * HOUR) for h in range(24)]
    # the span they name reads as missing: rows decide what is held
    assert store.missing(trades, later, later + DAY - 1) == [(later, later + DAY - 1)]
    assert store.holdings(trades).covered_until == later - 1
    # declaring the span covered without rows writes no file (no empty file, whoever asks)
    report = store.declare_covered(trades, later + DAY, later + 2 * DAY - 1)
    assert not report.written and not any(pq.read_metadata(store.series_dir(trades) / f.name).num_rows == 0
                                          for f in store.files(trades))
    # the first write of the series removes the planted empty files, so nothing overlaps the new file
    d = make_trades(500, 1.0, seed=3, first_id=2_000_000)
    d["ts_event"] = d["ts_event"] + 3 * DAY
    write_trades(store, d, start=later, end=later + DAY - 1)
    assert not any(p.exists() for p in empties)
    assert check(tmp_path).healthy and store.read_table(trades).num_rows == 6_500


def test_a_damaged_file_is_named_with_the_repair(tmp_path: Path) -> None:
    store = healthy_catalog(tmp_path)
    trades = Series.trades(INSTR)
    victim = store.series_dir(trades) / store.files(trades)[1].name
    victim.write_bytes(victim.read_bytes()[:-100])  # the footer cut off
    require_readable(tmp_path, "bar")  # other folders are fine
    with pytest.raises(DamagedCatalogFile) as caught:
        require_readable(tmp_path)
    assert str(victim) in str(caught.value) and f"catalog repair --catalog {tmp_path}" in str(caught.value)
    with pytest.raises(DamagedCatalogFile, match="catalog repair"):  # a read without the gate names it too
        store.read_table(trades)


def test_check_skips_the_temporaries_of_a_running_writer_and_names_those_of_a_dead_one(tmp_path: Path) -> None:
    """A write in progress has a ``.cstmp-`` file (its pid in the name) and, replacing a file, a ``.cstrash-``
    one, with the series locked: ``catalog check`` run meanwhile must not call them leftovers (repair would be
    told to clean a live writer's files); the same names left by a dead process are leftovers."""
    import fcntl

    store = healthy_catalog(tmp_path)
    d = store.series_dir(Series.trades(INSTR))
    live_tmp = d / f"{TMP_PREFIX}2024-01-01T00-00-00-000000000Z-{os.getpid()}-0a1b2c3d.tmp"
    dead_tmp = d / f"{TMP_PREFIX}2024-01-01T00-00-00-000000000Z-{dead_pid()}-0a1b2c3d.tmp"
    trash = d / f"{TRASH_PREFIX}{store.files(Series.trades(INSTR))[0].name[: -len('.parquet')]}.trash"
    live_tmp.write_bytes(b"being written")
    assert check(tmp_path).healthy, "the live writer's .cstmp- is not a leftover (its pid runs)"

    lock = tmp_path / ".locks" / d.relative_to(tmp_path / "data").parent / f"{d.name}.lock"
    assert lock.exists(), "writers lock the series under <catalog>/.locks/"
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the writer holds the series: its .cstrash- is a replace in progress
        trash.write_bytes(b"the replaced file")
        assert check(tmp_path).healthy
    finally:
        os.close(fd)
    dead_tmp.write_bytes(b"cut short")
    found = sorted(str(f.path.name) for f in check(tmp_path).leftovers)
    assert found == sorted([trash.name, dead_tmp.name]), found  # unlocked: the trash was left by a dead writer
