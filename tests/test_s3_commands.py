"""The commands against a catalog on S3-compatible object storage (moto's server on loopback), as real processes.

Misconfiguration (an unreachable endpoint, no credentials, a bucket that does not exist, access denied) is one
line, exit 1, before any work and with nothing written; an ``ingest`` killed with SIGKILL mid-run leaves no
partial, empty or hidden object visible and a rerun ends where an uninterrupted local run does; the journey
``ingest`` -> ``backtest`` gives the results it gives on a local catalog, and ``plot``, ``report`` and
``catalog check`` read the same catalog. Credentials appear in no output and no file of the run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick

from framework.catalog.location import open_location
from tests.s3_support import KEY
from tests.s3_support import SECRET
from tests.s3_support import S3Server
from tests.s3_support import bucket_fixture  # noqa: F401 (fixture "bucket")
from tests.s3_support import cli_env
from tests.s3_support import free_port
from tests.s3_support import s3_env_fixture  # noqa: F401 (fixture "s3_env")
from tests.s3_support import s3_server_fixture  # noqa: F401 (fixture "s3_server")
from tests.s3_support import start_moto
from tests.s3_support import stop
from tests.test_catalog_store import snapshot
from tests.test_s3_catalog import s3_snapshot

ROOT = Path(__file__).resolve().parents[1]
TRADES_CFG = ROOT / "configs" / "ingest" / "backtest_examples_trades.yaml"
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_PROFILE")


def cli(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m framework.main ARGS`` with ``env`` (AWS variables set or dropped by the caller)."""
    return subprocess.run([sys.executable, "-m", "framework.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess) -> str:
    """The single error line of a failed command (asserting there is no traceback)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and " INFO " not in ln]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    return lines[0]


# -- misconfiguration ------------------------------------------------------------------------------------------


INGEST = ["ingest", "--market", "futures", "--symbols", "BTCUSDT", "--kinds", "klines", "--start",
          "2024-08-08T23:00:00Z", "--offline", "--catalog"]


@pytest.mark.parametrize("case", ["unreachable", "no-credentials", "no-bucket"])
def test_misconfiguration_is_one_line_exit_1_and_writes_nothing(case: str, s3_server: S3Server, bucket: str,
                                                                tmp_path: Path) -> None:
    env = cli_env(s3_server.env)
    url = f"s3://{bucket}/cat"
    if case == "unreachable":
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        expected = "cannot reach the object store at http://127.0.0.1:"
    elif case == "no-credentials":
        env = cli_env(drop=AWS_VARS)
        env["AWS_ENDPOINT_URL"] = s3_server.endpoint
        expected = "no credentials for object storage; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    else:
        url = "s3://no-such-bucket-here/cat"
        expected = "bucket no-such-bucket-here does not exist at http://127.0.0.1:"
    started = time.monotonic()
    proc = cli(*INGEST, url, env=env, cwd=tmp_path)
    assert proc.returncode == 1 and expected in one_line(proc), proc.stderr
    assert time.monotonic() - started < 30  # a short connect timeout and one attempt: no long retries
    assert s3_server.keys(bucket) == [] and list(tmp_path.iterdir()) == []  # nothing partial, no folder "s3:"
    assert SECRET not in proc.stderr + proc.stdout


def test_access_denied_is_one_line(tmp_path: Path) -> None:
    # a server that checks credentials (moto with IAM enforced from the first request): ours are unknown to it
    server = start_moto(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        proc = cli("catalog", "check", "--catalog", "s3://some-bucket/cat", env=cli_env(server.env), cwd=tmp_path)
    finally:
        stop(server)
    assert proc.returncode == 1, proc.stderr
    assert "access denied reading bucket some-bucket" in one_line(proc) and SECRET not in proc.stderr


def test_debug_logging_shows_no_credentials(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    env = cli_env({**s3_server.env, "LOG_LEVEL": "DEBUG"})
    proc = cli("ingest", *INGEST[1:], f"s3://{bucket}/cat", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert " DEBUG " in proc.stderr and KEY not in proc.stderr + proc.stdout and SECRET not in proc.stderr


def test_a_malformed_url_is_a_usage_error(s3_server: S3Server, tmp_path: Path) -> None:
    proc = cli("catalog", "check", "--catalog", "s3://No_Such/cat", env=cli_env(s3_server.env), cwd=tmp_path)
    assert proc.returncode == 2 and "is not a bucket name" in one_line(proc)


# -- kill -9 of an ingest ---------------------------------------------------------------------------------------


def test_sigkill_of_an_ingest_then_rerun_matches_a_local_run(s3_server: S3Server, bucket: str,
                                                             tmp_path: Path) -> None:
    """Kill the ingest as soon as its first trade file is in (the run crosses midnight: another file and the
    instruments and report are still to come), then at once; rerun; compare with a local run."""
    args = ["ingest", str(TRADES_CFG), "--offline", "--start", "2024-08-08T23:30:00Z"]
    local = tmp_path / "local"
    assert cli(*args, "--catalog", str(local), env=cli_env()).returncode == 0
    url = f"s3://{bucket}/cat"
    env = cli_env(s3_server.env)
    fs = s3_server.client()
    trades = f"{bucket}/cat/data/trade_tick"
    for wait_for_file in (True, False):
        proc = subprocess.Popen([sys.executable, "-m", "framework.main", *args, "--catalog", url], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while wait_for_file and time.monotonic() < deadline and proc.poll() is None:
            if fs.exists(trades) and fs.find(trades):
                break
            time.sleep(0.02)
        if not wait_for_file:
            time.sleep(2.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        visible = [k for k in fs.find(f"{bucket}/cat/data") if k.endswith(".parquet")]
        for key in visible:  # a reader sees whole files, never a hidden or partial one
            data = fs.cat_file(key)
            assert not key.rsplit("/", 1)[-1].startswith(".") and data[:4] == data[-4:] == b"PAR1"
    rerun = cli(*args, "--catalog", url, env=env)
    assert rerun.returncode == 0, rerun.stderr
    objects = s3_snapshot(s3_server, url)
    assert objects == snapshot(local)  # the same files, byte for byte: no duplicate, stage, journal or empty one
    cat = open_location(url).nautilus_catalog()
    ids = [int(t.trade_id.value) for t in cat.query(TradeTick)]
    assert ids == sorted(set(ids)) and ids[-1] - ids[0] + 1 == len(ids)
    report = json.loads(fs.cat_file(f"{bucket}/cat/ingest_report.json"))
    assert report["series"][0]["rows"] == len(ids)


# -- the journey ------------------------------------------------------------------------------------------------


def _without_uuids(frame: pd.DataFrame) -> pd.DataFrame:
    """A report without its columns of random ids (event ids differ from run to run)."""
    random_ids = [c for c in frame.columns
                  if frame[c].astype(str).str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").any()]
    return frame.drop(columns=random_ids)


def _backtest(catalog: str, out: Path, env: dict[str, str]) -> dict:
    text = (ROOT / "configs" / "backtest" / "funding_oi.yaml").read_text().replace("catalog: catalog",
                                                                                   f"catalog: {catalog}")
    cfg = out.parent / f"{out.name}.yaml"
    cfg.write_text(text)
    proc = cli("backtest", str(cfg), "--out", str(out), "--no-charts", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow  # ~60 s: four ingests, two backtests, a sweep, check, plot and report as processes
def test_ingest_then_backtest_on_s3_equals_local(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    url, local = f"s3://{bucket}/cat", tmp_path / "local"
    env = cli_env(s3_server.env)
    for cfg in (ROOT / "configs" / "ingest" / "backtest_examples.yaml", TRADES_CFG):
        for catalog in (url, str(local)):
            proc = cli("ingest", str(cfg), "--offline", "--catalog", catalog, env=env)
            assert proc.returncode == 0, proc.stderr[-3000:]
    assert s3_snapshot(s3_server, url) == snapshot(local)
    on_s3 = _backtest(url, tmp_path / "s3run", env)
    on_disk = _backtest(str(local), tmp_path / "localrun", env)
    timing = ("events_per_s", "elapsed_s")  # how fast it ran, not what it found
    assert {k: v for k, v in on_s3.items() if k not in timing} == {k: v for k, v in on_disk.items() if k not in timing}
    assert on_s3["trades"] >= 1
    for name in ("fills.csv", "positions.csv", "funding.csv"):
        frames = [_without_uuids(pd.read_csv(tmp_path / run / name)) for run in ("s3run", "localrun")]
        pd.testing.assert_frame_equal(*frames)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s3run" / "equity.parquet"),
                                  pd.read_parquet(tmp_path / "localrun" / "equity.parquet"))
    assert '"catalog_fs_protocol": "s3"' in (tmp_path / "s3run" / "run_config.json").read_text()
    for path in (tmp_path / "s3run").rglob("*"):  # credentials are in no file of the run
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes() and KEY.encode() not in path.read_bytes(), path
    # the readers on the same catalog: check, plot, report (the report equal to the local catalog's)
    check = cli("catalog", "check", "--catalog", url, env=env)
    assert check.returncode == 0 and check.stdout.startswith("healthy:"), check.stderr
    plot = cli("plot", "--catalog", url, "--symbol", "BTCUSDT", "--start", "2024-08-08", "--end", "2024-08-09",
               "--out", str(tmp_path / "plots"), env=env)
    assert plot.returncode == 0 and list((tmp_path / "plots").rglob("*.png")), plot.stderr[-2000:]
    span = ["--symbol", "BTCUSDT", "--start", "2024-08-08T23:15:00Z", "--end", "2024-08-09T00:00:00Z"]
    for catalog, out in ((url, "s3rep"), (str(local), "localrep")):
        proc = cli("report", "reconcile", "--catalog", catalog, *span, "--out", str(tmp_path / out), env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
    csv = "reconcile_BTCUSDT_futures.csv"
    assert (tmp_path / "s3rep" / csv).read_text() == (tmp_path / "localrep" / csv).read_text()
    assert len(open_location(url).nautilus_catalog().query(Bar)) == 2 * 2820
    # a sweep's worker processes open the same catalog from the AWS variables: its base variant is the run above
    sweep = (tmp_path / "s3run.yaml").read_text() + "sweep: {grid: {strategies.0.config.oi_lookback: [6, 12]}}\n"
    (tmp_path / "sweep.yaml").write_text(sweep)
    proc = cli("backtest", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "sweep"), "--no-charts", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranking = pd.read_csv(tmp_path / "sweep" / "ranking.csv")
    assert len(ranking) == 2
    base = ranking[ranking["strategies.0.config.oi_lookback"] == 6].iloc[0]
    assert base["total_pnl"] == pytest.approx(on_s3["total_pnl"])


# -- record and serve ------------------------------------------------------------------------------------------


def test_record_into_s3(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/rec"
    proc = cli("record", str(ROOT / "configs" / "record" / "btc_futures.yaml"), "--offline", "--catalog", url,
               "--duration", "6s", "--flush-secs", "2s", env=cli_env(s3_server.env), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = int(proc.stdout.split("agg_trades: ")[1].split(" rows")[0].replace(",", ""))
    ids = [int(t.trade_id.value) for t in open_location(url).nautilus_catalog().query(TradeTick)]
    assert written > 0 and len(ids) == written and ids == list(range(ids[0], ids[0] + written))
    assert list(tmp_path.iterdir()) == []  # nothing local (no "s3:" folder)
    assert cli("catalog", "check", "--catalog", url, env=cli_env(s3_server.env)).returncode == 0


def test_serve_reads_an_s3_catalog(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    from tests.web_support import URL_LINE
    from tests.web_support import Server

    url = f"s3://{bucket}/cat"
    env = cli_env(s3_server.env)
    ingest = cli("ingest", "--market", "futures", "--symbols", "BTCUSDT", "--kinds", "klines", "--start",
                 "2024-08-08T20:00:00Z", "--offline", "--catalog", url, env=env)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "framework.main", "serve", "--catalog", url, "--port", "0"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while (match := URL_LINE.search(log.read_text())) is None:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        server = Server(proc, f"http://{match['host']}", match["token"], match["url"])
        assert match["catalog"] == url
        rows = server.get("/api/instruments")["instruments"]
        assert [(r["instrument"], r["stored"]) for r in rows] == [("BTCUSDT-PERP.BINANCE", ["1m"])]
        page = server.get("/api/bars?instrument=BTCUSDT-PERP.BINANCE&interval=1m&limit=10000")
        held = open_location(url).nautilus_catalog().query(Bar)
        assert len(page["time"]) == len(held) and page["close"][-1] == float(held[-1].close.as_decimal())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert SECRET not in log.read_text()


@pytest.mark.slow  # ~25 s: a month of 1m klines imported three times (28 daily files each)
def test_bulk_import_into_s3_equals_local(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    url, local = f"s3://{bucket}/cat", tmp_path / "local"
    env = cli_env(s3_server.env)
    for catalog in (url, str(local)):
        proc = cli("ingest", "--from-files", str(ROOT / "examples" / "data"), "--offline", "--catalog", catalog,
                   env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert s3_snapshot(s3_server, url) == snapshot(local)
    again = cli("ingest", "--from-files", str(ROOT / "examples" / "data"), "--offline", "--catalog", url, env=env)
    assert again.returncode == 0 and s3_snapshot(s3_server, url) == snapshot(local)  # a re-import writes nothing
