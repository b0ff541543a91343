"""Sweeps on a real two-node Ray cluster: a head and a worker started as separate processes (``ray start``) with
different working directories, on loopback, with token authentication (Ray 2.60's default).

The catalog is on S3-compatible storage (moto on loopback; the nodes get the AWS variables, as a real cluster's
nodes would from their environment). The head offers no CPU, so every run executes on the worker node; each run's
folder is written in a temporary folder there and comes back to the driver (``sweep.run_variant_remote``), so
nothing relies on a shared filesystem. The ranking must equal the local process pool's on a local copy of the
catalog. A bulk import spread over the cluster (``ingest --from-files --engine ray``: the files travel through
Ray's object store) must write into ``s3://`` the bytes one process writes into a local catalog.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from framework.backtest.synthetic import SyntheticMarket
from framework.backtest.synthetic import write_synthetic
from tests.s3_support import S3Server
from tests.s3_support import s3_server_fixture  # noqa: F401 (fixture "s3_server")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
DAY0 = pd.Timestamp("2024-08-01", tz="UTC").value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(s3_server: S3Server) -> Iterator[tuple[str, dict[str, str]]]:
    """``(address, env)`` of a head (0 CPUs) and one worker node (1 CPU), stopped afterwards."""
    env = {**os.environ, **s3_server.env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(16), "PYTHONPATH": str(ROOT)}
    base = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's unix sockets live under it
    head, worker = base / "head", base / "worker"
    head.mkdir(), worker.mkdir()
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--object-store-memory=80000000", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                        f"--temp-dir={base / 'tmp'}", *common], cwd=head, env=env, check=True,
                       capture_output=True, timeout=180)
        subprocess.run([RAY, "start", f"--address={address}", "--num-cpus=1", *common], cwd=worker, env=env,
                       check=True, capture_output=True, timeout=180)
        yield address, env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def sweep_yaml(folder: Path, catalog: Path | str) -> Path:
    folder.mkdir()
    raw = {
        "catalog": str(catalog), "start": "2024-08-01T06:00:00Z", "end": "2024-08-01T12:00:00Z",
        "instruments": [{"symbol": "BTCUSDT", "market": "futures"}], "data": {"bars": ["1m"]}, "charts": False,
        "strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi",
                        "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "slow_period": 30}}],
        "sweep": {"grid": {"strategies.0.config.fast_period": [5, 10]}, "rank_by": "total_return", "workers": 1},
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def backtest(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.main", "backtest", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_sweep_on_a_two_node_cluster_with_an_s3_catalog_ranks_as_the_process_pool(cluster, s3_server,
                                                                                     tmp_path) -> None:
    address, env = cluster
    catalog = write_synthetic(tmp_path / "catalog", SyntheticMarket(start_ns=DAY0, minutes=1440))
    bucket = s3_server.make_bucket()
    s3_server.client().put(str(catalog), f"{bucket}/catalog", recursive=True)
    driver = tmp_path / "driver"
    driver.mkdir()
    on_ray = backtest([str(sweep_yaml(tmp_path / "on_s3", f"s3://{bucket}/catalog")), "--engine", "ray",
                       "--ray-address", address, "--out", "ray"], driver, env)
    assert on_ray.returncode == 0, on_ray.stderr
    local = backtest([str(sweep_yaml(tmp_path / "local", catalog)), "--engine", "process", "--out", "proc"],
                     driver, env)
    assert local.returncode == 0, local.stderr

    ranked = pd.read_csv(driver / "ray" / "ranking.csv")
    pd.testing.assert_frame_equal(ranked, pd.read_csv(driver / "proc" / "ranking.csv"))  # NaN Sharpe equals NaN
    assert len(ranked) == 2 and ranked["trades"].notna().all()
    for run in (0, 1):  # each run folder came back whole and names the driver's folder, not the worker's
        folder = driver / "ray" / "runs" / str(run)
        local_files = {p.relative_to(driver / "proc" / "runs" / str(run)).as_posix()
                       for p in (driver / "proc" / "runs" / str(run)).rglob("*") if p.is_file()}
        ray_files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert ray_files == local_files and "summary.json" in ray_files
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["total_return"] == pytest.approx(ranked.set_index("run").loc[run, "total_return"])
        assert "sweep-run-" not in (folder / "run_config.json").read_text()


def test_a_bulk_import_on_the_cluster_into_s3_writes_what_one_process_writes_locally(cluster, s3_server,
                                                                                     tmp_path) -> None:
    from tests.test_bulk_volume import _several_days
    from tests.test_ingest import snapshot

    address, env = cluster
    files = tmp_path / "files"
    _several_days(files)  # four days of USD-M aggTrades (600,000 ids) and two of 1m klines
    bucket = s3_server.make_bucket()

    def ingest(catalog: str, *more: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "framework.main", "ingest", "--from-files", str(files),
                               "--catalog", catalog, "--offline", *more], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)

    on_ray = ingest(f"s3://{bucket}/catalog", "--engine", "ray", "--ray-address", address)
    assert on_ray.returncode == 0, on_ray.stderr
    local = ingest(str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    s3_server.client().get(f"{bucket}/catalog", str(tmp_path / "from_s3"), recursive=True)
    written = snapshot(tmp_path / "local")
    assert len(written) >= 5 and any("trade_tick" in name for name in written)  # 4 trade days + bars (+ stats)
    assert snapshot(tmp_path / "from_s3") == written
