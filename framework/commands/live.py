"""``python -m framework.main live``: paper trading on live Binance data with simulated fills.

The console gets our lines only: where the run's logs go, when the node runs, and the summary. Nautilus's log
(banner included) goes to ``<run folder>/nautilus.log`` and the framework's Python log to
``<run folder>/framework.log`` (warnings also to stderr); ``summary.json`` keeps the summary at full precision.
Every setting is checked before the node is built, so a mistake is one line before any Nautilus output.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from datetime import UTC
from datetime import datetime
from pathlib import Path

from framework.binance.config import URL_ENV
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.output import require_writable_folder
from framework.settings import make_importable
from framework.values import parse_duration_s
from framework.values import parse_speed

HELP = "paper trading: strategies and actors on live Binance data, simulated fills, a summary at exit"
RUNS = Path("runs") / "live"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``live`` command and its flags (``run`` is its action)."""
    p = sub.add_parser("live", help=HELP, description=HELP + ". Stops at --duration or on SIGINT/SIGTERM.")
    p.add_argument("config", help="YAML, e.g. configs/live/paper_futures.yaml")
    p.add_argument("--duration", metavar="DURATION", help="stop after this long: seconds or 90s, 15m, 6h "
                   "(default: the config's duration, else run until SIGINT/SIGTERM)")
    p.add_argument("--speed", help="with --offline: market seconds per wall second of the local exchange "
                   "(default 1)")
    p.add_argument("--log-level", help="of the log files: DEBUG, INFO, WARNING, ERROR (default: the config's "
                   "log_level, else INFO)")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder for nautilus.log, framework.log and "
                   "summary.json (default runs/live/<UTC time>)")
    add_network_options(p)
    p.set_defaults(func=run)


def _log_early(level: str) -> logging.handlers.MemoryHandler:
    """Until the run folder exists (it is made only once every check passed): the framework's Python log held
    in memory at ``level`` (``_log_to`` writes it to the folder), warnings on stderr."""
    root = logging.getLogger()
    root.setLevel(level)
    held = logging.handlers.MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [held, console]
    return held


def _log_to(folder: Path, held: logging.handlers.MemoryHandler) -> None:
    """The framework's Python log from now on (and what ``held`` kept): the run folder's ``framework.log``."""
    handler = logging.FileHandler(folder / "framework.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    held.setTarget(handler)
    held.flush()
    root = logging.getLogger()
    root.handlers[:] = [handler, *(h for h in root.handlers if h is not held)]
    held.close()


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _run_folder(out: Path | None) -> Path:
    folder = out or RUNS / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return require_writable_folder(folder, "run folder", option="--out DIR", error=UsageError)


def run(args: argparse.Namespace) -> int:
    """Check every setting, run the paper-trading node until ``--duration`` or a signal, print its summary;
    an engine failure is a ``FrameworkError`` (exit 1)."""
    from framework.live.checks import LOG_LEVELS
    from framework.live.node import check_instruments_listed
    from framework.live.node import load_paper_config
    from framework.live.node import run_paper
    from framework.live.node import with_urls

    log_level = args.log_level or os.environ.get("LOG_LEVEL") or None
    if log_level is not None and log_level.upper() not in LOG_LEVELS:
        raise UsageError(f"--log-level / LOG_LEVEL: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    duration = parse_duration_s(args.duration, "--duration") if args.duration is not None else None
    speed = parse_speed(args.speed) if args.speed is not None else None
    if speed is not None and not args.offline:
        raise UsageError("--speed sets the local exchange's clock; add --offline or drop it")
    start = getattr(args, "offline_start", None)
    if start is not None and str(start).strip().lower() != "now":
        # the node's clock is the wall clock: market data from another time would never meet its timers
        raise UsageError(f"--start {start}: live runs on the local exchange's clock from now (the trading node's "
                         "clock is the wall clock); drop --start or use --start now")
    make_importable(args.config)  # a strategy module beside the YAML imports
    cfg = load_paper_config(args.config, log_level=log_level)
    duration = duration if duration is not None else cfg.duration_s()
    held = _log_early(cfg.log_level.upper())
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    parts = [f"markets {', '.join(cfg.markets)}", _count(len(cfg.strategies), "strategy", "strategies"),
             _count(len(cfg.actors), "actor", "actors")]
    until = f"{duration:g}s" if duration is not None else "SIGINT/SIGTERM"

    def running() -> None:
        print(f"running until {until} (Ctrl-C stops it cleanly)", flush=True)

    # offline: the local exchange's clock runs from now, so the live feed is live
    with binance_urls(args, yaml_urls, offline={"start": "now", "speed": speed or 1.0}) as urls:
        cfg = with_urls(cfg, urls)  # e.g. the order-flow actor's restore fetches from the run's exchange
        check_instruments_listed(cfg, urls, args.config)
        folder = _run_folder(args.out)  # only now: a refused run leaves no folder behind
        _log_to(folder, held)
        print(f"live: {args.config} ({'; '.join(parts)}); logs in {folder}/", flush=True)
        summary = run_paper(cfg, urls, duration, log_dir=folder, on_running=running)
    summary.write(folder / "summary.json")
    print(summary.text(), flush=True)
    if summary.failure:
        raise FrameworkError(f"the trading node shut down on an engine failure: {summary.failure} "
                             f"(details in {folder / 'nautilus.log'})")
    return 0
