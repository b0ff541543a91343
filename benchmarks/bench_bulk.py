"""Bulk import (``ingest --from-files``) at volume, beside pyarrow's own CSV->Parquet conversion of the same file.

Generates data.binance.vision files (``tests/test_bulk_volume.py``'s generator): a day of spot aggTrades
(no header, microsecond times, 8 decimals, ``is_best_match``) and of USD-M aggTrades (header, ms) of ``--rows``
rows each, the USD-M rows again as four daily files (what ``--workers`` spreads), and ``--kline-days`` daily files
of USD-M 1m klines. Each is imported into a fresh catalog by the real command in a
child process, and converted by ``pyarrow.csv.open_csv`` -> ``pyarrow.parquet.ParquetWriter`` (types inferred,
default writer options: the physical reference) in another; the old row path (row Structs through
``runner.SeriesSink``) runs on the first ``--old-rows`` rows for the before figure. Every child is timed from
inside (imports excluded) and measured from outside (CPU seconds of all its threads and worker processes, peak
RSS through ``os.wait4`` of a process forked from a small launcher, so the figure is the child's alone).

    python benchmarks/bench_bulk.py [--rows 20000000] [--kline-days 365] [--workers 1,2] [--zip] [--dir DIR] [--quick]

Rates: rows / wall seconds of the import, and rows per CPU second (= per core busy). Ratio: ours / pyarrow's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zipfile
from datetime import date
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def _cpu() -> float:
    """CPU seconds of this process (every thread) and of its reaped children (pool workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _done(started: float, cpu: float, **more: object) -> None:
    """The child's result line: wall and CPU seconds of its work."""
    print(json.dumps({"wall_s": time.perf_counter() - started, "cpu_s": _cpu() - cpu, **more}))


def measured(*argv: str) -> dict:
    """Run ``python argv`` through the tests' launcher: the child's result line merged with its peak RSS."""
    from tests.test_bulk_volume import launched

    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        code, rss = launched(list(argv), out, err)
        if code != 0:
            raise SystemExit(f"{argv[:3]} failed:\n{err.read_text()[-3000:]}")
        lines = [line for line in out.read_text().splitlines() if line.startswith("{")]
    return {**json.loads(lines[-1]), "maxrss_mb": rss}


# -- the children ---------------------------------------------------------------------------------------------


def child_ours(files: str, catalog: str, workers: str) -> None:
    """``ingest --from-files`` through the command's own entry, timed from inside."""
    import logging

    from framework.main import main

    logging.disable(logging.INFO)  # no status lines on the benchmark's output
    started, cpu = time.perf_counter(), _cpu()
    code = main(["ingest", "--from-files", files, "--catalog", catalog, "--offline", "--workers", workers,
                 "--report", str(Path(catalog).parent / "report.json")])
    if code:
        raise SystemExit(code)
    _done(started, cpu)


def child_pyarrow(out: str, *csv_paths: str) -> None:
    """The physical reference: each file's CSV (a zip's member as a stream) to Parquet, types inferred."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    started, cpu = time.perf_counter(), _cpu()
    rows = 0
    for i, csv_path in enumerate(csv_paths):
        path = Path(csv_path)
        if path.suffix == ".zip":
            zipped = zipfile.ZipFile(path)
            source, header = zipped.open(zipped.namelist()[0]), True
        else:
            source = path
            with open(path, "rb") as fh:
                header = fh.readline()[:1].isalpha()
        read = pcsv.ReadOptions(block_size=4 << 20, autogenerate_column_names=not header)
        reader = pcsv.open_csv(source, read_options=read)
        with pq.ParquetWriter(f"{out}-{i}.parquet", reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    _done(started, cpu, rows=rows)


def child_rows(files: str, catalog: str) -> None:
    """The row path: row Structs (``bulk.iter_batches``, one per row) through ``runner.SeriesSink``."""
    import gzip

    import msgspec

    from framework.binance.endpoints import Market
    from framework.binance.endpoints import endpoint
    from framework.binance.recorded import PACKAGED_DATA
    from framework.catalog.store import CatalogStore
    from framework.ingest import bulk
    from framework.ingest.bulk_stats import file_target
    from framework.ingest.config import SeriesSpec
    from framework.ingest.instruments import listed
    from framework.ingest.runner import CONVERT_ROWS
    from framework.ingest.runner import SeriesSink

    started, cpu = time.perf_counter(), _cpu()
    found = bulk.discover(Path(files))
    rows = 0
    for (market, kind, symbol, interval), group in found.series().items():
        raw = gzip.decompress((PACKAGED_DATA / market.value / "rest" / "exchangeInfo.json.gz").read_bytes())
        info = msgspec.json.decode(raw, type=endpoint(Market(market), "exchange_info").schema)
        inst = listed(market, info, [symbol])[(market, symbol)]
        target = file_target(SeriesSpec(market, kind, symbol, interval), inst)
        with SeriesSink(CatalogStore(catalog), target) as sink:
            for file in group:
                for batch in bulk.iter_batches(file, batch_rows=CONVERT_ROWS):
                    sink.add(batch)
                    rows += len(batch)
    _done(started, cpu, rows=rows)


# -- the run --------------------------------------------------------------------------------------------------


def _prefix(source: Path, target: Path, rows: int, header: bool) -> None:
    """The first ``rows`` rows of a CSV (and its header)."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        for _ in range(rows + header):
            dst.write(src.readline())


def _zip(path: Path) -> Path:
    out = path.with_suffix(".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.write(path, path.name)
    path.unlink()
    return out


def main() -> None:
    """Generate, import, convert, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=20_000_000, help="rows of each aggTrades file (default 20M)")
    p.add_argument("--kline-days", type=int, default=365, help="days of 1m klines (default 365)")
    p.add_argument("--old-rows", type=int, default=3_000_000, help="rows for the old row path (0: skip it)")
    p.add_argument("--workers", default="1,2",
                   help="comma-separated --workers values for the four daily files (default 1,2)")
    p.add_argument("--zip", action="store_true", help="zip the aggTrades files (as published): decompression counts")
    p.add_argument("--dir", type=Path, help="work folder (kept; default: a temporary one)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1M rows, 7 days of klines, 200k old-path rows")
    args = p.parse_args()
    if args.quick:
        args.rows, args.kline_days, args.old_rows = 1_000_000, 7, 200_000
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        _run(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> None:
    from tests.test_bulk_volume import site_path
    from tests.test_bulk_volume import write_klines_file
    from tests.test_bulk_volume import write_trades_file

    def trades_file(fmt: str, folder: Path, rows: int, day: str = "2024-08-07", first_id: int = 3_000_000_000) -> Path:
        path = site_path(folder, fmt, day)
        if path.exists() or path.with_suffix(".zip").exists():
            return path if path.exists() else path.with_suffix(".zip")
        started = time.perf_counter()
        write_trades_file(path, fmt, rows, day=day, first_id=first_id)
        print(f"generated {path.name} ({fmt}): {rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB in "
              f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
        return _zip(path) if args.zip else path

    # (name, folder, files for the reference, rows, --workers values)
    cases = [(fmt, work / fmt, [trades_file(fmt, work / fmt, args.rows)], args.rows, ["1"])
             for fmt in ("spot_agg", "usdm_agg")]
    days = work / "usdm_days"  # the same rows as four daily files: what --workers spreads
    quarter = args.rows // 4
    cases.append(("usdm_4days", days, [trades_file("usdm_agg", days, quarter, f"2024-08-0{d + 1}",
                                                   3_000_000_000 + d * quarter) for d in range(4)],
                  4 * quarter, args.workers.split(",")))
    kline_dir = work / "klines" / "data" / "futures" / "um" / "daily" / "klines" / "BTCUSDT" / "1m"
    if args.kline_days:  # one published file a day (1440 rows), as data.binance.vision has them
        if not kline_dir.exists():
            start = date(2023, 8, 7)
            for d in range(args.kline_days):
                day = (start + timedelta(days=d)).isoformat()
                write_klines_file(kline_dir / f"BTCUSDT-1m-{day}.csv", 1, day=day, seed=d)
        joined = work / "klines-joined.csv"  # the reference reads the days as one CSV
        with open(joined, "wb") as out:
            for i, f in enumerate(sorted(kline_dir.glob("*.csv"))):
                lines = f.read_bytes().split(b"\n", 1)
                out.write((lines[0] + b"\n" if i == 0 else b"") + lines[1])
        cases.append(("klines_1m", work / "klines", [joined], args.kline_days * 1440, ["1"]))

    rows_out = []
    for name, folder, paths, rows, workers_list in cases:
        for workers in workers_list:
            catalog = work / f"cat-{name}-{workers}"
            shutil.rmtree(catalog, ignore_errors=True)
            ours = measured(__file__, "--child", "ours", str(folder), str(catalog), workers)
            rows_out.append((name, f"ours --workers {workers}", rows, ours))
        ref = measured(__file__, "--child", "pyarrow", str(work / f"ref-{name}"), *map(str, paths))
        rows_out.append((name, "pyarrow csv->parquet", rows, ref))
        if args.old_rows and name in ("spot_agg", "usdm_agg") and paths[0].suffix == ".csv":
            small = work / f"old-{name}"
            small_path = site_path(small, name)
            if not small_path.exists():
                small_path.parent.mkdir(parents=True, exist_ok=True)
                _prefix(paths[0], small_path, min(args.old_rows, rows), header=name.startswith("usdm"))
            catalog = work / f"cat-old-{name}"
            shutil.rmtree(catalog, ignore_errors=True)
            old = measured(__file__, "--child", "rows", str(small), str(catalog))
            rows_out.append((name, "old row path", old["rows"], old))
    _print(rows_out)


def _print(rows: list[tuple[str, str, int, dict]]) -> None:
    print(f"{'file':<11} {'path':<22} {'rows':>12} {'wall s':>8} {'rows/s':>11} {'rows/cpu-s':>11} "
          f"{'peak RSS':>9} {'x pyarrow':>10}")
    ref = {fmt: n / r["wall_s"] for fmt, what, n, r in rows if what.startswith("pyarrow")}  # pyarrow's rows/s
    for fmt, what, n, r in rows:
        rate, per_cpu = n / r["wall_s"], n / max(r["cpu_s"], 1e-9)
        base = ref.get(fmt)
        ratio = f"{rate / base:.2f}" if base is not None and not what.startswith("pyarrow") else ""
        print(f"{fmt:<11} {what:<22} {n:>12,} {r['wall_s']:>8.1f} {rate / 1e6:>10.2f}M {per_cpu / 1e6:>10.2f}M "
              f"{r['maxrss_mb']:>7.0f}MB {ratio:>10}")
    print("wall s and rows/cpu-s: the work alone (imports excluded); rows/cpu-s counts every thread and worker process")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        {"ours": child_ours, "pyarrow": child_pyarrow, "rows": child_rows}[sys.argv[2]](*sys.argv[3:])
    else:
        main()
