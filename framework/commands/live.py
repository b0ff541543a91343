"""``python -m framework.main live``: paper trading on live Binance data with simulated fills."""

from __future__ import annotations

import argparse

from framework.binance.config import URL_ENV
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.errors import FrameworkError
from framework.errors import UsageError

HELP = "paper trading: strategies and actors on live Binance data, simulated fills, a summary at exit"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help=HELP, description=HELP + ". Stops at --duration or on SIGINT/SIGTERM.")
    p.add_argument("config", help="YAML, e.g. configs/live/paper_futures.yaml")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds (default: "
                   "the config's, else run until SIGINT/SIGTERM)")
    p.add_argument("--speed", type=float,
                   help="with --offline: market seconds per wall second of the local exchange (default 1)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default: the config's, else INFO)")
    add_network_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from framework.live.node import load_paper_config
    from framework.live.node import run_paper

    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be positive seconds, got {args.duration}")
    if args.speed is not None and args.speed <= 0:
        raise UsageError(f"--speed must be positive, got {args.speed}")
    if args.speed is not None and not args.offline:
        raise UsageError("--speed sets the local exchange's clock; add --offline or drop it")
    cfg = load_paper_config(args.config, log_level=args.log_level)
    setup_logging(args.log_level or cfg.log_level)
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    # offline: the local exchange's clock runs from now, so the live feed is live
    with binance_urls(args, yaml_urls, offline={"start": "now", "speed": args.speed or 1.0}) as urls:
        summary = run_paper(cfg, urls, args.duration)
    print(summary.text(), flush=True)
    if summary.failure:
        raise FrameworkError(f"the trading node shut down on an engine failure: {summary.failure}")
    return 0
