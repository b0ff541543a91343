"""``python -m framework.main backtest``: run a YAML-described backtest (or a sweep of them) into a run folder."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from framework.backtest.config import parse_spec
from framework.backtest.config import resolve
from framework.cli import setup_logging
from framework.errors import FrameworkError
from framework.settings import read_yaml

HELP = "run a backtest (or a parameter sweep) described in YAML through Nautilus's BacktestNode"
SHOWN = ("total_pnl", "total_return", "trading_pnl", "fees", "funding_paid", "sharpe", "sortino", "max_drawdown",
         "win_rate", "trades", "exposure_time", "events_per_s")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help=HELP, description=HELP + ". Writes reports, summary and charts.")
    p.add_argument("config", help="YAML, e.g. configs/backtest/ema_cross.yaml")
    p.add_argument("--out", type=Path, help="run folder (default runs/<name>)")
    p.add_argument("--engine", choices=["process", "ray"], default="process",
                   help="where sweep runs execute: local worker processes (default) or Ray")
    p.add_argument("--workers", type=int, help="parallel sweep runs (default: the sweep's workers, 2)")
    p.add_argument("--ray-address", help="Ray cluster address (default: start Ray on this machine)")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    source = args.config
    raw = read_yaml(source, "backtest")
    if args.no_charts:
        raw["charts"] = False
    spec = parse_spec(raw, source)
    name = spec.name or Path(source).stem
    out = args.out or Path("runs") / name
    if spec.sweep is not None:
        from framework.backtest.sweep import run_sweep

        with _one_line_failure(f"sweep {name}"):
            table = run_sweep(raw, spec.sweep, source, name, out, engine=args.engine, workers=args.workers,
                              ray_address=args.ray_address)
        print(table.to_string(index=False))
        print(f"ranking: {out / 'ranking.csv'}")
        return 0
    from framework.backtest.runner import run as run_backtest

    resolved = resolve(raw, source, default_name=name, run_dir=str(out))
    print(f"backtest {name}: {', '.join(resolved.instrument_ids)} {resolved.run_config.start} -> "
          f"{resolved.run_config.end}", flush=True)
    with _one_line_failure(f"backtest {name}"):
        summary = run_backtest(resolved, out)
    shown = {k: summary.get(k) for k in SHOWN}
    for ratio in ("sharpe", "sortino"):
        if shown[ratio] is None:
            shown[ratio] = summary.get("ratio_basis")  # e.g. "n/a (span < 2 days)"
    print(json.dumps(shown, indent=1))
    print(f"run folder: {out}")
    return 0


@contextmanager
def _one_line_failure(what: str) -> Iterator[None]:
    """A strategy or actor that raises inside the engine (here or in a sweep worker) is one line and exit 1;
    the traceback goes to the log at DEBUG. Our own errors pass through unchanged."""
    try:
        yield
    except FrameworkError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the user's code raised
        logging.getLogger("framework.backtest").debug("%s failed", what, exc_info=True)
        raise FrameworkError(f"{what} failed: {type(e).__name__}: {e} (--log-level DEBUG shows where)") from None
