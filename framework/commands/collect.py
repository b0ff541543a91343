"""``python -m framework.main collect``: dump every public Binance market-data payload to JSON."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from framework.binance.config import URL_ENV
from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.http import BinanceRestClient
from framework.cli import add_network_options
from framework.cli import binance_urls
from framework.cli import setup_logging
from framework.collect.config import ENV_NAMES
from framework.collect.config import CollectConfig
from framework.collect.runner import Collector
from framework.collect.runner import summary_table
from framework.settings import layered
from framework.settings import read_yaml

LOCAL_EXCHANGE_KEY = "local-exchange-key"
HELP = "call every public endpoint (14 spot, 26 USD-M) and a rolling-ticker stream; write raw payloads as JSON"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``collect`` command and its flags (``run`` is its action)."""
    p = sub.add_parser("collect", help=HELP, description=HELP + ". Settings: flags > environment > YAML > defaults.")
    p.add_argument("config", nargs="?", help="YAML settings, e.g. configs/collect/default.yaml")
    p.add_argument("--out", dest="output_dir", help="output folder (env OUTPUT_DIR, default outputs)")
    p.add_argument("--spot-symbol", dest="spot_symbol", help="env SPOT_SYMBOL (default BTCUSDT)")
    p.add_argument("--futures-symbol", dest="futures_symbol", help="env FUTURES_SYMBOL (default BTCUSDT)")
    p.add_argument("--futures-pair", dest="futures_pair", help="env FUTURES_PAIR (default BTCUSDT)")
    p.add_argument("--kline-interval", dest="kline_interval", help="default 1m")
    p.add_argument("--metric-period", dest="metric_period", help="/futures/data period (default 5m)")
    p.add_argument("--ws-capture-seconds", dest="ws_capture_seconds", type=float,
                   help="env WS_CAPTURE_SECONDS (default 30; 0 skips the stream capture)")
    p.add_argument("--ws-window-size", dest="ws_window_size", help="env WS_WINDOW_SIZE: 1h, 4h or 1d (default 4h)")
    p.add_argument("--log-level", dest="log_level", help="env LOG_LEVEL (default INFO)")
    p.add_argument("--plots", action="store_true", default=None, help="draw the dashboards at the end")
    add_network_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Collect with the layered settings, print the summary table, draw the plots if asked; 1 when a call or
    the stream capture failed."""
    yaml_values = read_yaml(args.config)
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "func", "command")}
    cfg: CollectConfig = layered(
        CollectConfig, yaml_values=yaml_values, env=os.environ, env_names=ENV_NAMES, flags=flags,
        source=args.config or "collect",
    ).check()
    setup_logging(cfg.log_level)
    yaml_urls = {k: getattr(cfg, k) for k in URL_ENV}
    credentials = Credentials.from_env()
    if args.offline and not credentials.api_key:
        # The local exchange accepts any key; it only checks that historicalTrades carries one.
        credentials = Credentials(api_key=LOCAL_EXCHANGE_KEY)
    with binance_urls(args, yaml_urls) as urls:
        client = BinanceRestClient(BinanceHttpConfig(urls=urls), credentials)
        calls, streams = asyncio.run(Collector(cfg, urls, client).run())
    print(summary_table(calls, streams))
    print(f"wrote {cfg.output_dir}/ (metrics in {cfg.output_dir}/metrics.json)")
    if cfg.plots:
        from framework.analysis.dashboards import CHARTS
        from framework.analysis.dashboards import draw_charts
        from framework.analysis.sources import from_collect

        plots = Path(cfg.output_dir) / "plots"
        print(f"plots: drawing {len(CHARTS)} charts into {plots}/")
        draw_charts(from_collect(cfg.output_dir, cfg.spot_symbol), CHARTS, plots, log=print)
    failed = any(c.status == "failed" for c in calls) or any(s.status == "failed" for s in streams)
    return 1 if failed else 0
