"""The web workstation's bars API: a month of 1m bars (43,200) served by a real ``serve`` process, beside plain
pyarrow reading the same files.

    .venv/bin/python benchmarks/bench_web.py            # ~30 s
    .venv/bin/python benchmarks/bench_web.py --quick    # smoke run

A synthetic April 2023 of LINKUSDT USD-M 1m klines is written as a data.binance.vision monthly file and imported
by the real ``ingest --from-files --offline``; ``serve --port 0`` then answers each request ``--repeats`` times.
Columns: the server's own time (its ``Server-Timing`` header: from the request's arrival to the response body,
JSON encoded) and the client's wall time (HTTP on loopback plus ``json.loads``), median and best. The reference
rows time, in this process, what any server must do at least: read the series' parquet files with pyarrow, and
also turn the fixed-point columns into floats and encode them as JSON. Target: a month of 1m bars in < 300 ms of
server time.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import msgspec
import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.web_support import running_server  # noqa: E402  (the tests' serve process helper)

INSTRUMENT = "LINKUSDT-PERP.BINANCE"
BAR_TYPE = "LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
APRIL_MS = 1_680_307_200_000  # 2023-04-01T00:00:00Z
BARS = 30 * 1440  # 43,200


def month_file(folder: Path) -> Path:
    """A month of 1m klines in Binance's monthly-file layout (a random walk around 7 USDT)."""
    rng = np.random.default_rng(7)
    close = np.round(7 + np.cumsum(rng.normal(0, 0.004, BARS)), 3)
    open_ = np.r_[7.0, close[:-1]]
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 0.01, BARS), 3)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 0.01, BARS), 3)
    volume = np.round(rng.uniform(1_000, 60_000, BARS), 2)
    text = io.StringIO()
    text.write("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
               "taker_buy_quote_volume,ignore\n")
    for i in range(BARS):
        t = APRIL_MS + i * 60_000
        quote = round(volume[i] * close[i], 5)
        text.write(f"{t},{open_[i]:.3f},{high[i]:.3f},{low[i]:.3f},{close[i]:.3f},{volume[i]:.2f},{t + 59_999},"
                   f"{quote:.5f},{100 + i % 400},{volume[i] / 2:.2f},{quote / 2:.5f},0\n")
    path = folder / "futures" / "um" / "monthly" / "klines" / "LINKUSDT" / "1m" / "LINKUSDT-1m-2023-04.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("LINKUSDT-1m-2023-04.csv", text.getvalue())
    return folder


def timed_request(url: str, token: str) -> tuple[float, float, dict]:
    """(server ms from Server-Timing, client wall ms, decoded body)."""
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers={"X-Token": token}), timeout=60) as r:
        body = json.loads(r.read())
        timing = r.headers["Server-Timing"]
    wall = (time.perf_counter() - started) * 1000
    return float(timing.split("dur=")[1]), wall, body


def reference(catalog: Path, repeats: int) -> tuple[list[float], list[float]]:
    """ms to read the series' files with pyarrow; and to also decode to floats and encode JSON columns."""
    from framework.data.fixed_point import raw_to_float

    files = sorted((catalog / "data" / "bar" / BAR_TYPE).glob("*.parquet"))
    read_ms, full_ms = [], []
    encoder = msgspec.json.Encoder()
    for _ in range(repeats):
        t = time.perf_counter()
        tables = [pq.read_table(f) for f in files]
        read_ms.append((time.perf_counter() - t) * 1000)
        columns = {"time": np.concatenate([t_.column("ts_event").to_numpy() for t_ in tables]).tolist()}
        for c in ("open", "high", "low", "close", "volume"):
            columns[c] = np.concatenate([raw_to_float(t_.column(c)) for t_ in tables]).tolist()
        encoder.encode(columns)
        full_ms.append((time.perf_counter() - t) * 1000)
    return read_ms, full_ms


def row(name: str, rows: int, server: list[float] | None, wall: list[float]) -> str:
    s = f"{statistics.median(server):9.1f} {min(server):9.1f}" if server else f"{'-':>9} {'-':>9}"
    return f"{name:<44} {rows:>7,} {s} {statistics.median(wall):9.1f} {min(wall):9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        catalog = tmp / "catalog"
        print(f"building a catalog with {BARS:,} 1m bars (ingest --from-files) ...", flush=True)
        subprocess.run([sys.executable, "-m", "framework.main", "ingest", "--from-files", str(month_file(tmp / "files")),
                        "--offline", "--catalog", str(catalog)], cwd=REPO, check=True, capture_output=True)
        cases = [("bars 1m, the month in one request", f"/api/bars?instrument={INSTRUMENT}&interval=1m&limit=50000"),
                 ("bars 1m, one page of 1500", f"/api/bars?instrument={INSTRUMENT}&interval=1m&limit=1500"),
                 ("bars 1h resampled from the month of 1m", f"/api/bars?instrument={INSTRUMENT}&interval=1h&limit=720"),
                 ("bars 1d resampled from the month of 1m", f"/api/bars?instrument={INSTRUMENT}&interval=1d&limit=30"),
                 ("indicator rsi(14) 1m over the month",
                  f"/api/indicators?instrument={INSTRUMENT}&interval=1m&limit=43200&name=rsi&n=14"),
                 ("indicator bbands(20,2) on a page of 1500",
                  f"/api/indicators?instrument={INSTRUMENT}&interval=1m&limit=1500&name=bbands")]
        print(f"{'case':<44} {'rows':>7} {'server ms':>9} {'best':>9} {'wall ms':>9} {'best':>9}")
        print("-" * 92)
        month_server = None
        with running_server(catalog, cwd=REPO) as server:
            for name, path in cases:
                timed_request(server.base + path, server.token)  # warm-up (imports, file cache)
                runs = [timed_request(server.base + path, server.token) for _ in range(repeats)]
                rows = len(runs[0][2]["time"])
                print(row(name, rows, [r[0] for r in runs], [r[1] for r in runs]), flush=True)
                if month_server is None:
                    month_server = statistics.median(r[0] for r in runs)
        read_ms, full_ms = reference(catalog, repeats)
        print(row("reference: pyarrow read_table of the files", BARS, None, read_ms))
        print(row("reference: read + floats + JSON encode", BARS, None, full_ms))
        verdict = "meets" if month_server < 300 else "MISSES"
        print(f"\nsummary: a month of 1m bars ({BARS:,}) served in {month_server:.0f} ms of server time (median of "
              f"{repeats}), {verdict} the < 300 ms target; pyarrow alone reads the files in "
              f"{statistics.median(read_ms):.0f} ms, read + decode + encode {statistics.median(full_ms):.0f} ms")


if __name__ == "__main__":
    main()
