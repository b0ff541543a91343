"""``python -m framework.main live``: paper trading through the real CLI, against the in-process local exchange.

Each test runs the command as a child process with ``--offline`` (the local exchange at speed 60: a 1-minute bar
every wall second) and reads what it printed and what it left in its run folder (``--out``: ``nautilus.log``,
``summary.json``). The example config runs the order-flow actor and the order-flow follower, whose only market
data for the simulated venue is 1-minute bars (the bar-only case Nautilus's sandbox would reject as "no market").
The mistakes a config can hold are rows of the bad-input table (``tests/bad_input/live.py``).
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

import msgspec
import pytest
import yaml
from nautilus_trader.model.data import Bar

from framework.binance.config import BinanceUrls
from framework.live.node import load_paper_config
from framework.live.node import with_urls
from framework.main import main
from strategies.examples.order_flow_follower import OrderFlowFollower

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "live" / "paper_futures.yaml"
SPEED = "60"
FILLED = re.compile(r"OrderFilled\(.*?order_side=(BUY|SELL), .*?last_qty=([0-9.]+), last_px=([0-9_.]+) USDT, "
                    r"commission=([0-9.]+) USDT")
START = Decimal(10000)


def cli(*args: str, cwd: Path = ROOT) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASE_PATH_", "STREAM_URL_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "framework.main", "live", *args, "--offline", "--speed", SPEED],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def fills_in(log: str) -> list[tuple[int, Decimal, Decimal, Decimal]]:
    """(sign, qty, price, commission) of every fill in a Nautilus log (sign: +1 buy, -1 sell)."""
    return [(1 if side == "BUY" else -1, Decimal(qty), Decimal(px.replace("_", "")), Decimal(fee))
            for side, qty, px, fee in FILLED.findall(log)]


def reconcile(summary: dict, fills: list[tuple[int, Decimal, Decimal, Decimal]]) -> None:
    """The summary against an independent recomputation from the fills, at average cost as a NETTING position
    keeps it: a fill that reduces the position realizes (price - average) on the reduced quantity, one that
    crosses zero closes the old position and opens the rest at its price. Realized PnL is that minus every
    commission, and the balance moved by exactly it (a position still open adds no realized PnL)."""
    qty = avg = gross = Decimal(0)
    for sign, size, px, _ in fills:
        signed = sign * size
        if qty == 0 or (qty > 0) == (signed > 0):  # opening or adding: a new average
            avg = (avg * abs(qty) + px * size) / (abs(qty) + size)
            qty += signed
            continue
        closed = min(size, abs(qty))
        gross += (px - avg) * closed * (1 if qty > 0 else -1)
        qty += signed
        if qty != 0 and (qty > 0) == (signed > 0):  # crossed zero: the rest opens at this price
            avg = px
        elif qty == 0:
            avg = Decimal(0)
    fees = sum((fee for *_, fee in fills), Decimal(0))
    assert summary["positions_open"] == (1 if qty else 0), (summary, qty)
    assert Decimal(summary["commissions"]["USDT"]) == fees
    realized = Decimal(summary["realized_pnl"]["USDT"])
    assert abs(realized - (gross - fees)) <= Decimal("0.00000001") * len(fills), (summary, gross, fees)
    assert Decimal(summary["balances"]["USDT"]) - START == realized


def summary_of(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("summary: ")]
    assert len(lines) == 1, stdout[-3000:]
    return json.loads(lines[0].removeprefix("summary: "))


class Exploding(OrderFlowFollower):
    """Raises on its first bar: the engine must shut down gracefully and the command exit 1 with the reason."""

    def on_signal_bar(self, bar: Bar) -> None:
        raise RuntimeError("strategy bug on purpose")


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_paper_run_fills_orders_with_configured_fees_and_stops_at_duration(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = cli(str(CONFIG), "--duration", "30", "--out", str(run))  # the issue's ~30 s paper run
    out, err = proc.communicate(timeout=80)
    assert proc.returncode == 0, err[-3000:]
    summary = summary_of(out)
    assert summary["stopped_by"] == "duration" and summary["failure"] is None
    assert 29 <= summary["seconds"] < 60
    assert summary["orders"] >= 2 and summary["fills"] >= 2, summary
    assert summary["orders_rejected"] == 0, summary
    assert summary["positions"] >= 1
    assert Decimal(summary["commissions"]["USDT"]) > 0
    assert Decimal(summary["balances"]["USDT"]) != START
    assert json.loads((run / "summary.json").read_text()) == summary  # full precision, as the JSON line
    # the console holds our lines only: no banner, no Nautilus log lines, no colour codes
    assert len(out.splitlines()) < 15 and "\x1b[" not in out + err and "PAPER-001." not in out, out[-3000:]
    assert out.startswith("live: ") and "running until 30s" in out
    assert re.search(r"^  balances   \d+\.\d\d USDT$", out, re.M), out  # rounded for people (JSON: every digit)
    log = (run / "nautilus.log").read_text()
    assert "\x1b[" not in log
    # every fill paid the configured taker fee (0.0005, the config's futures_taker_fee), exactly
    fills = fills_in(log)
    assert len(fills) == summary["fills"], log[-3000:]
    for _, qty, px, fee in fills:
        assert fee == (qty * px * Decimal("0.0005")).quantize(fee), (qty, px, fee)
    reconcile(summary, fills)  # the follower flips its position: every cycle counts
    # the follower acted on the actor's buckets, and the run shut down cleanly
    assert "1m bucket" in log and "min 100000" in log
    assert "TradingNode: DISPOSED" in log
    assert "Traceback" not in err and "Task was destroyed" not in err, err[-3000:]


FLIPPER = """
from decimal import Decimal

from strategies.base import SignalStrategy
from strategies.base import SignalStrategyConfig


class FlipperConfig(SignalStrategyConfig, frozen=True):
    targets: tuple[int, ...] = (1, -1, 1, 0)  # in entry quantities, one per bar: long, flip, flip back, flat


class Flipper(SignalStrategy):
    def __init__(self, config: FlipperConfig) -> None:
        super().__init__(config)
        self.plan = list(config.targets)

    def on_signal_bar(self, bar) -> None:
        if self.plan and (qty := self.entry_quantity()):
            self.target_position(qty * self.plan.pop(0))
"""


@pytest.mark.timeout(60)
def test_realized_pnl_counts_every_position_cycle_of_a_flipping_strategy_beside_its_yaml(tmp_path: Path) -> None:
    """A NETTING position that flips twice (three cycles; Nautilus keeps the closed ones as snapshots): the
    summary must agree with the cash the fills moved. The strategy module sits beside the YAML, not on the path."""
    (tmp_path / "flipper_strategy.py").write_text(FLIPPER)
    raw = yaml.safe_load(CONFIG.read_text())
    raw.pop("actors")
    raw["strategies"] = [{"strategy_path": "flipper_strategy:Flipper", "config_path": "flipper_strategy:FlipperConfig",
                          "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "trade_notional": "2000",
                                     "order_id_tag": "001"}}]
    config = tmp_path / "flip.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    proc = cli(str(config), "--duration", "12", "--out", str(run))  # cwd: the checkout, not the YAML's folder
    out, err = proc.communicate(timeout=50)
    assert proc.returncode == 0, (out[-2000:], err[-3000:])
    summary = summary_of(out)
    fills = fills_in((run / "nautilus.log").read_text())
    assert summary["fills"] == len(fills) == 4, summary  # buy q, sell 2q (flip), buy 2q (flip), sell q
    assert summary["positions"] == 3, summary  # long, short, long: two closed cycles live only in the snapshots
    assert "PAPER-001.Flipper: " in (run / "nautilus.log").read_text()  # the strategy beside the YAML ran
    reconcile(summary, fills)


@pytest.mark.timeout(90)
def test_sigint_stops_the_node_cleanly_with_a_summary(tmp_path: Path) -> None:
    proc = cli(str(CONFIG), "--duration", "120", "--out", str(tmp_path / "run"))
    seen: list[str] = []
    running = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if line.startswith("running until"):
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
    assert "TradingNode: DISPOSED" in (tmp_path / "run" / "nautilus.log").read_text()
    assert "Traceback" not in err, err[-3000:]


@pytest.mark.timeout(90)
def test_engine_failure_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["strategies"][0]["strategy_path"] = "tests.test_live_node:Exploding"
    config = tmp_path / "exploding.yaml"
    config.write_text(yaml.safe_dump(raw))
    proc = cli(str(config), "--duration", "60", "--out", str(tmp_path / "run"))
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


def test_a_trader_id_nautilus_would_panic_on_is_refused_before_any_output(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG.read_text().replace("trader_id: PAPER-001", "trader_id: PAPER001"))
    proc = subprocess.run([sys.executable, "-m", "framework.main", "live", str(config), "--offline", "--duration", "5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr[-2000:]  # not Rust's panic (134)
    assert proc.stderr.strip().splitlines() == [
        f"error: {config}: trader_id 'PAPER001' is not a Nautilus trader id; use NAME-TAG (letters, digits or _ on "
        "both sides of one hyphen), e.g. \"TRADER-001\""]
    assert not (tmp_path / "runs").exists()  # refused before the run folder, the exchange and the node


def test_speed_without_offline_is_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", str(CONFIG), "--speed", "5"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --speed sets the local exchange's clock; add --offline or drop it"]


def test_the_run_gives_its_urls_to_configs_that_leave_them_empty(tmp_path: Path) -> None:
    """``restore: true`` needs REST URLs; with --offline the user cannot know the local exchange's, so the run
    fills every empty ``urls`` field (validation accepts the config because of it)."""
    raw = yaml.safe_load(CONFIG.read_text())
    raw["actors"][0]["config"]["restore"] = True
    config = tmp_path / "restore.yaml"
    config.write_text(yaml.safe_dump(raw))
    cfg = load_paper_config(config)  # OrderFlowConfig.validate() refuses restore without urls
    urls = BinanceUrls(spot_http="http://127.0.0.1:1", spot_ws="ws://127.0.0.1:1", futures_http="http://127.0.0.1:2",
                       futures_ws="ws://127.0.0.1:2")
    filled = with_urls(cfg, urls)
    assert filled.actors[0].config["urls"] == msgspec.to_builtins(urls)
    assert "urls" not in filled.strategies[0].config  # the follower's config has no such field
    raw["actors"][0]["config"]["urls"] = msgspec.to_builtins(urls) | {"futures_http": "http://127.0.0.1:3"}
    config.write_text(yaml.safe_dump(raw))
    assert with_urls(load_paper_config(config), urls).actors[0].config["urls"]["futures_http"] == "http://127.0.0.1:3"



@pytest.mark.timeout(60)
def test_a_stream_the_exchange_refuses_ends_the_run_at_once_with_one_line(tmp_path: Path) -> None:
    """ETHBUSD is listed in the bundled exchangeInfo but has no tape: the local exchange refuses its streams.
    The run ends when the feed gives them up (5 refusals), naming the symbol, not silently after --duration."""
    raw = yaml.safe_load(CONFIG.read_text().replace("BTCUSDT-PERP", "ETHBUSD-PERP"))
    config = tmp_path / "ethbusd.yaml"
    config.write_text(yaml.safe_dump(raw))
    started = time.monotonic()
    proc = cli(str(config), "--duration", "60", "--out", str(tmp_path / "run"))
    out, err = proc.communicate(timeout=50)
    assert proc.returncode == 1, (out[-2000:], err[-2000:])
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [errors[-1]] and errors[0].startswith(
        "error: futures ETHBUSD: the exchange refused the streams ethbusd@"), err[-2000:]
    assert "use an instrument with live market data" in errors[0]
    assert time.monotonic() - started < 30  # not the whole minute
    assert "TradingNode: DISPOSED" in (tmp_path / "run" / "nautilus.log").read_text()  # stopped cleanly
    assert "Traceback" not in err, err[-3000:]


@pytest.mark.parametrize("argv", [["--start", "now"], ["--offline", "--base-path-futures", "http://127.0.0.1:9"],
                                  ["--offline", "--duration", "5"]], ids=["clock-online", "url-offline", "unlisted"])
def test_a_refused_run_creates_no_run_folder(tmp_path: Path, argv: list[str]) -> None:
    """The run folder (runs/live/<time>) is made only after every check passed, the network ones included."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.read_text().replace("BTCUSDT-PERP", "BTCUSTD-PERP") if argv[-1] == "5"
                      else CONFIG.read_text())
    proc = subprocess.run([sys.executable, "-m", "framework.main", "live", str(config), *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr[-2000:]
    assert proc.stderr.count("error:") == 1, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # no runs/ folder, no file
