"""What every part of the web workstation shares: where the data is, the access token, the mode.

The contract between the server (``framework/web/server.py``) and its feature modules: each feature module exposes
``add_routes(app: aiohttp.web.Application, ctx: WebContext) -> None`` and registers its ``/api/...`` routes and any
startup/cleanup hooks (``app.on_startup`` / ``app.on_cleanup``) there. The server owns authentication, JSON errors
and static files; feature modules only read ``ctx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any


@dataclass
class WebContext:
    """Settings of one ``serve`` process, built by ``framework/commands/serve.py``."""

    catalog: Path  # the catalog folder the page opens on
    runs: Path  # the runs folder (backtests and sweeps), read-only for the server
    token: str  # the access token: every /api call and the websocket must carry it
    state_db: Path  # SQLite file beside the catalog: chart settings, alert rules, paper orders
    live: bool = False  # --live: run the gap-free live feed and push updates
    offline: bool = False  # --offline: the live feed talks to the local exchange
    # with --live: the feed's Binance URLs as ``BinanceUrls`` fields (spot_http, futures_http, spot_ws, futures_ws),
    # resolved from flags > BASE_PATH_*/STREAM_URL_* > defaults, or the in-process local exchange's with --offline;
    # ``BinanceUrls(**ctx.network)`` rebuilds them. Empty without --live.
    network: dict[str, Any] = field(default_factory=dict)
