"""``python -m framework.main live``: paper trading through the real CLI, against the in-process local exchange.

Each test runs the command as a child process with ``--offline`` (the local exchange at speed 60: a 1-minute bar
every wall second) and reads what it printed. The example config runs the order-flow actor and the
order-flow follower, whose only market data for the simulated venue is 1-minute bars (the bar-only case
Nautilus's sandbox would reject as "no market").
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from nautilus_trader.model.data import Bar

from framework.main import main
from strategies.examples.order_flow_follower import OrderFlowFollower

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "live" / "paper_futures.yaml"
SPEED = "60"
FILLED = re.compile(r"OrderFilled\(.*?last_qty=([0-9.]+), last_px=([0-9_.]+) USDT, commission=([0-9.]+) USDT")


def cli(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASE_PATH_", "STREAM_URL_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "framework.main", "live", *args, "--offline", "--speed", SPEED],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def summary_of(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("summary: ")]
    assert len(lines) == 1, stdout[-3000:]
    return json.loads(lines[0].removeprefix("summary: "))


class Exploding(OrderFlowFollower):
    """Raises on its first bar: the engine must shut down gracefully and the command exit 1 with the reason."""

    def on_signal_bar(self, bar: Bar) -> None:
        raise RuntimeError("strategy bug on purpose")


@pytest.mark.timeout(90)
def test_paper_run_fills_orders_with_configured_fees_and_stops_at_duration() -> None:
    proc = cli(str(CONFIG), "--duration", "30")  # the issue's ~30 s paper run
    out, err = proc.communicate(timeout=80)
    assert proc.returncode == 0, err[-3000:]
    summary = summary_of(out)
    assert summary["stopped_by"] == "duration" and summary["failure"] is None
    assert 29 <= summary["seconds"] < 60
    assert summary["orders"] >= 2 and summary["fills"] >= 2, summary
    assert summary["orders_rejected"] == 0, summary
    assert summary["positions"] >= 1
    assert Decimal(summary["commissions"]["USDT"]) > 0
    assert Decimal(summary["balances"]["USDT"]) != Decimal(10000)
    # every fill paid the configured taker fee (0.0005, the config's futures_taker_fee), exactly
    fills = FILLED.findall(out)
    assert len(fills) == summary["fills"], out[-3000:]
    for qty, px, commission in fills:
        assert Decimal(commission) == (Decimal(qty) * Decimal(px.replace("_", "")) * Decimal("0.0005")).quantize(
            Decimal(commission)), (qty, px, commission)
    # the follower acted on the actor's buckets, and the run shut down cleanly
    assert "1m bucket" in out and "min 100000" in out
    assert "TradingNode: DISPOSED" in out
    assert "Traceback" not in err and "Task was destroyed" not in err, err[-3000:]


@pytest.mark.timeout(90)
def test_sigint_stops_the_node_cleanly_with_a_summary() -> None:
    proc = cli(str(CONFIG), "--duration", "120")
    seen: list[str] = []
    running = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if "TradingNode: RUNNING" in line or "Trader: RUNNING" in line:
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert running.wait(45), "".join(seen)[-3000:]
    time.sleep(2.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=40)
    reader.join(timeout=10)
    err = proc.stderr.read()  # type: ignore[union-attr]
    out = "".join(seen)
    assert proc.returncode == 0, err[-3000:]
    assert time.monotonic() - started < 30
    summary = summary_of(out)
    assert summary["stopped_by"] == "signal or shutdown" and summary["failure"] is None
    assert "TradingNode: DISPOSED" in out
    assert "Traceback" not in err, err[-3000:]


@pytest.mark.timeout(90)
def test_engine_failure_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["strategies"][0]["strategy_path"] = "tests.test_live_node:Exploding"
    config = tmp_path / "exploding.yaml"
    config.write_text(yaml.safe_dump(raw))
    proc = cli(str(config), "--duration", "60")
    out, err = proc.communicate(timeout=80)
    assert proc.returncode == 1, (out[-2000:], err[-2000:])
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: the trading node shut down on an engine failure:"), err[-2000:]
    assert "strategy bug on purpose" in last
    summary = summary_of(out)
    assert summary["stopped_by"] == "engine failure"
    assert summary["seconds"] < 40  # it stopped on the failure, not at the duration


def test_bad_config_is_one_line_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("markets: [options]\nactors: []\nstrategies: []\n")
    proc = subprocess.run([sys.executable, "-m", "framework.main", "live", str(config), "--duration", "5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {config}: markets must be spot and/or futures, got ['options']"]


def test_speed_without_offline_is_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", str(CONFIG), "--speed", "5"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --speed sets the local exchange's clock; add --offline or drop it"]
