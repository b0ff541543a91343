"""``collect`` end to end: real processes, real sockets, the local exchange as Binance."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from framework.binance.endpoints import LEGACY_FUTURES
from framework.binance.endpoints import LEGACY_SPOT
from framework.binance.recorded import PACKAGED_DATA
from framework.collect.config import ENV_NAMES
from framework.collect.config import CollectConfig
from framework.collect.runner import call_plan
from framework.collect.runner import check_plan
from framework.errors import UsageError
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.settings import layered

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "k3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3y"
SECRET = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t"


def expected_files(out: Path) -> list[Path]:
    return (
        [out / "spot" / f"{n}.json" for n in LEGACY_SPOT]
        + [out / "futures" / f"{n}.json" for n in LEGACY_FUTURES]
        + [out / "spot" / "websocket" / "rolling_window_ticker.json"]
    )


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ENV_NAMES.values() and not k.startswith(("BASE_PATH", "STREAM_URL", "API_"))}
    return subprocess.run(
        [sys.executable, "-m", "framework.main", *args],
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def url_env(urls: dict[str, str]) -> dict[str, str]:
    return {
        "BASE_PATH_SPOT": urls["spot_http"],
        "BASE_PATH_FUTURES": urls["futures_http"],
        "STREAM_URL_SPOT": urls["spot_ws"],
        "STREAM_URL_FUTURES": urls["futures_ws"],
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """One collect run against a journaling local exchange: (output folder, journal, process)."""
    out = tmp_path_factory.mktemp("collect")
    with LocalExchangeThread(ExchangeConfig(speed=1, journal=True)) as ex:
        env = {**url_env(ex.urls), "API_KEY": SECRET_KEY, "API_SECRET": SECRET, "OUTPUT_DIR": str(out),
               "WS_CAPTURE_SECONDS": "2", "LOG_LEVEL": "DEBUG"}
        proc = run_cli("collect", env=env)
        journal = list(ex.journal or [])
    return out, journal, proc


def test_collect_writes_all_41_files_with_the_exact_served_payloads(served) -> None:
    out, journal, proc = served
    assert proc.returncode == 0, proc.stderr
    files = expected_files(out)
    assert len(files) == 41
    for path in files:
        assert path.is_file(), f"missing {path}"
    for path in files[:-1]:
        raw = path.read_bytes()
        assert raw.startswith(b'{"retrieved_at":"') and raw.endswith(b"}")
        payload = raw[raw.index(b',"payload":') + len(b',"payload":') : -1]
        bodies = [s.body for s in journal if s.status == 200 and s.body == payload]
        assert bodies, f"{path.name}: payload is not byte-identical to any body the exchange served"
    wrapped = json.loads(files[0].read_text())
    assert wrapped["retrieved_at"].endswith("Z")


def test_collect_calls_each_endpoint_with_the_legacy_parameters(served) -> None:
    _, journal, _ = served
    calls = {(s.market, s.path): dict(parse_qsl(s.query)) for s in journal}
    assert calls[("spot", "/api/v3/klines")] == {"symbol": "BTCUSDT", "interval": "1m", "limit": "1000"}
    assert calls[("futures", "/fapi/v1/fundingRate")] == {"symbol": "BTCUSDT", "limit": "500"}
    assert calls[("futures", "/futures/data/openInterestHist")] == {"symbol": "BTCUSDT", "period": "5m", "limit": "500"}
    assert calls[("futures", "/fapi/v1/continuousKlines")]["contractType"] == "PERPETUAL"
    assert calls[("spot", "/api/v3/historicalTrades")] == {"symbol": "BTCUSDT", "limit": "1000"}
    # the legacy harness asks depth with min(TRADE_LIMIT, 1000) levels on both markets
    assert calls[("spot", "/api/v3/depth")] == {"symbol": "BTCUSDT", "limit": "1000"}
    assert calls[("futures", "/fapi/v1/depth")] == {"symbol": "BTCUSDT", "limit": "1000"}


@pytest.mark.parametrize(("trade_limit", "depth"), [(5, 5), (500, 500), (1000, 1000)])
def test_trade_limit_sets_the_depth_levels_as_the_legacy_harness(trade_limit: int, depth: int) -> None:
    cfg = layered(CollectConfig, env={"TRADE_LIMIT": str(trade_limit)}, env_names=ENV_NAMES).check()
    plan = {(m.value, n): p for m, n, p in call_plan(cfg)}
    assert plan[("spot", "depth")]["limit"] == plan[("futures", "depth")]["limit"] == depth
    assert plan[("spot", "trades")]["limit"] == trade_limit
    check_plan(cfg)  # every limit of the plan is one Binance takes


def test_rolling_ticker_frames_and_metrics(served) -> None:
    out, _, _ = served
    frames = json.loads((out / "spot" / "websocket" / "rolling_window_ticker.json").read_text())["payload"]
    assert len(frames) >= 2 and all(f["e"] == "4hTicker" and f["s"] == "BTCUSDT" for f in frames)
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["calls"]) == 40
    for call in metrics["calls"]:
        assert call["status"] == "ok" and call["latency_ms"] >= 0 and call["bytes"] > 0, call
        assert isinstance(call["used_weight_1m"], int)
    stream = metrics["streams"][0]
    assert stream["frames"] == len(frames)
    # the exchange clock runs on wall time, so receive time - E is a real latency
    assert all(0 <= p["latency_ms"] < 5_000 for p in stream["per_frame"])


def test_secrets_never_reach_dumps_metrics_or_logs(served) -> None:
    out, _, proc = served
    for path in out.rglob("*.json"):
        text = path.read_text()
        assert SECRET_KEY not in text and SECRET not in text, path
    assert SECRET_KEY not in proc.stdout + proc.stderr and SECRET not in proc.stdout + proc.stderr


def test_summary_table_lists_every_call(served) -> None:
    _, _, proc = served
    assert "40 ok, 0 failed, 0 skipped of 40 calls" in proc.stdout
    assert "taker_long_short_ratio" in proc.stdout and "ws btcusdt@ticker_4h" in proc.stdout


def test_offline_collect_runs_against_the_bundled_exchange(tmp_path: Path) -> None:
    proc = run_cli("collect", "--offline", "--out", str(tmp_path), "--ws-capture-seconds", "2")
    assert proc.returncode == 0, proc.stderr
    assert all(p.is_file() for p in expected_files(tmp_path))


def test_unknown_symbol_fails_fast_with_one_line(tmp_path: Path) -> None:
    proc = run_cli("collect", "--offline", "--out", str(tmp_path), "--spot-symbol", "NOPEUSDT")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: spot_symbol 'NOPEUSDT' is not listed on Binance spot; set it to a listed")
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing is written when the input is wrong"


def test_one_failing_endpoint_does_not_stop_the_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(PACKAGED_DATA, data)
    (data / "futures" / "rest" / "fundingInfo.json").unlink()
    out = tmp_path / "out"
    with LocalExchangeThread(ExchangeConfig(data=data, speed=5)) as ex:
        proc = run_cli("collect", env={**url_env(ex.urls), "OUTPUT_DIR": str(out), "WS_CAPTURE_SECONDS": "3",
                                       "API_KEY": "x"})
    assert proc.returncode == 1
    assert "39 ok, 1 failed" in proc.stdout
    assert "funding_rate_info" in proc.stdout.split("failed:")[1]
    written = [p for p in expected_files(out) if p.is_file()]
    assert len(written) == 40 and not (out / "futures" / "funding_rate_info.json").exists()


def test_bad_config_key_and_value_are_one_line_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("spot_symbl: ETHUSDT\n")
    proc = run_cli("collect", str(cfg), "--offline")
    assert proc.returncode == 2
    assert "unknown key 'spot_symbl'; did you mean 'spot_symbol'?" in proc.stderr
    proc = run_cli("collect", "--offline", env={"KLINE_LIMIT": "many"})
    assert proc.returncode == 2 and "kline_limit" in proc.stderr and "KLINE_LIMIT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_flags_beat_env_beat_yaml_beat_defaults() -> None:
    yaml_values = {"spot_symbol": "YAMLUSDT", "futures_symbol": "YAMLUSDT", "kline_limit": 10, "trade_limit": 7}
    env = {"SPOT_SYMBOL": "ENVUSDT", "FUTURES_SYMBOL": "ENVUSDT", "KLINE_LIMIT": "20"}
    flags = {"spot_symbol": "FLAGUSDT", "futures_symbol": None}
    cfg = layered(CollectConfig, yaml_values=yaml_values, env=env, env_names=ENV_NAMES, flags=flags)
    assert cfg.spot_symbol == "FLAGUSDT"  # flag
    assert cfg.futures_symbol == "ENVUSDT"  # env over YAML
    assert cfg.kline_limit == 20  # env string converted
    assert cfg.trade_limit == 7  # YAML over default
    assert cfg.funding_limit == 500  # default
    with pytest.raises(UsageError, match="unknown key 'symbol'"):
        layered(CollectConfig, yaml_values={"symbol": "X"})


def test_every_example_config_runs_offline(tmp_path: Path) -> None:
    for cfg in sorted((ROOT / "configs" / "collect").glob("*.yaml")):
        proc = run_cli("collect", str(cfg), "--offline", "--out", str(tmp_path / cfg.stem), "--ws-capture-seconds", "3")
        assert proc.returncode == 0, f"{cfg}: {proc.stderr[-2000:]}"
