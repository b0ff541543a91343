"""``python -m framework.main backtest``: run a YAML-described backtest (or a sweep of them) into a run folder."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from framework.backtest.config import parse_spec
from framework.backtest.config import resolve
from framework.cli import setup_logging
from framework.errors import FrameworkError
from framework.output import warn
from framework.settings import make_importable
from framework.settings import read_yaml
from framework.values import parse_count

HELP = "run a backtest (or a parameter sweep) described in YAML through Nautilus's BacktestNode"
SHOWN = ("total_pnl", "total_return", "trading_pnl", "fees", "funding_paid", "sharpe", "sortino", "max_drawdown",
         "win_rate", "trades", "exposure_time", "events_per_s")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``backtest`` command and its flags (``run`` is its action)."""
    p = sub.add_parser("backtest", help=HELP, description=HELP + ". Writes reports, summary and charts.")
    p.add_argument("config", help="YAML, e.g. configs/backtest/ema_cross.yaml")
    p.add_argument("--out", type=Path, help="run folder (default runs/<name>)")
    p.add_argument("--engine", choices=["process", "ray"], default="process",
                   help="where sweep runs execute: local worker processes (default) or Ray")
    p.add_argument("--workers", type=int, help="parallel sweep runs (default: the sweep's workers, 2)")
    p.add_argument("--ray-address", help="Ray cluster address (default: start Ray on this machine)")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    p.add_argument("--log-level", help="our log lines: DEBUG, INFO, WARNING (default INFO); Nautilus's own level is "
                   "the YAML's log_level, written to <run folder>/nautilus.log")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the YAML's backtest (or sweep) into its run folder and print the key figures (or the ranking)."""
    setup_logging(args.log_level)
    source = args.config
    raw = read_yaml(source, "backtest")
    make_importable(source)  # a strategy module beside the YAML imports (sweep workers get the same path)
    if args.no_charts:
        raw["charts"] = False
    spec = parse_spec(raw, source)
    if args.workers is not None:
        parse_count(args.workers, "--workers")
    name = spec.name or Path(source).stem
    out = args.out or Path("runs") / name
    if spec.sweep is not None:
        from framework.backtest.sweep import run_sweep

        with _one_line_failure(f"sweep {name}"):
            table = run_sweep(raw, spec.sweep, source, name, out, engine=args.engine, workers=args.workers,
                              ray_address=args.ray_address, warn=warn)
        print(table.map(for_people).to_string(index=False))  # ranking.csv keeps full precision
        print(f"ranking: {out / 'ranking.csv'}")
        return 0
    from framework.backtest.runner import run as run_backtest

    resolved = resolve(raw, source, default_name=name, run_dir=str(out))
    for line in resolved.warnings:
        warn(line)
    print(f"backtest {name}: {', '.join(resolved.instrument_ids)} {resolved.run_config.start} -> "
          f"{resolved.run_config.end}", flush=True)
    with _one_line_failure(f"backtest {name}"):
        summary = run_backtest(resolved, out)
    shown = {k: summary.get(k) for k in SHOWN}
    for ratio in ("sharpe", "sortino"):
        if shown[ratio] is None:
            shown[ratio] = summary.get("ratio_basis")  # e.g. "n/a (span < 2 days)"
    width = max(map(len, shown))
    for key, value in shown.items():
        print(f"  {key:<{width}}  {for_people(value)}")
    log = " and nautilus.log (the engine's log)" if (out / "nautilus.log").is_file() else ""
    print(f"run folder: {out} (summary.json with full precision{log})")
    return 0


def for_people(value: object) -> object:
    """A float rounded for reading: 2 decimals from 1 up, 4 significant digits below (JSON keeps them all)."""
    if not isinstance(value, float) or value != value:
        return value
    return round(value, 2) if abs(value) >= 1 else float(f"{value:.4g}")


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
        raise FrameworkError(f"{what} failed: {type(e).__name__}: {e} (the run folder's nautilus.log shows where)") from None
