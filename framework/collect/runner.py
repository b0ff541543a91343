"""``collect``: call every public endpoint once, dump each raw payload, and report what it cost.

Writes ``<out>/spot/<name>.json`` and ``<out>/futures/<name>.json`` (the 40 calls of the legacy harness),
``<out>/spot/websocket/rolling_window_ticker.json`` (stream frames of ``<symbol>@ticker_<window>``) and
``<out>/metrics.json``. Each dump is ``{"retrieved_at": <ISO UTC>, "payload": <the exact body>}``: the body is
embedded byte for byte, never re-encoded.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.endpoints import LEGACY_FUTURES
from framework.binance.endpoints import LEGACY_SPOT
from framework.binance.endpoints import Market
from framework.binance.endpoints import endpoint
from framework.binance.http import BinanceClientError
from framework.binance.http import BinanceRestClient
from framework.binance.websocket import capture
from framework.binance.websocket import stream_url
from framework.collect.config import MAX_DEPTH_LIMIT
from framework.collect.config import CollectConfig
from framework.collect.config import setting_name
from framework.errors import FrameworkError
from framework.errors import UsageError
from framework.output import require_writable_folder
from framework.output import write_atomic

log = logging.getLogger("framework.collect")


def call_plan(cfg: CollectConfig) -> list[tuple[Market, str, dict[str, Any]]]:
    """The legacy harness's calls with their parameters, in its order."""
    spot_sym, fut_sym, pair = cfg.spot_symbol, cfg.futures_symbol, cfg.futures_pair
    spot_kline = {"symbol": spot_sym, "interval": cfg.kline_interval, "limit": cfg.kline_limit}
    fut_kline = {"symbol": fut_sym, "interval": cfg.kline_interval, "limit": cfg.kline_limit}
    metric = {"symbol": fut_sym, "period": cfg.metric_period, "limit": cfg.metric_limit}
    spot = {
        "depth": {"symbol": spot_sym, "limit": cfg.depth_limit},  # min(trade_limit, 1000), as the legacy harness
        "trades": {"symbol": spot_sym, "limit": cfg.trade_limit},
        "historical_trades": {"symbol": spot_sym, "limit": cfg.trade_limit},
        "agg_trades": {"symbol": spot_sym, "limit": cfg.trade_limit},
        "klines": spot_kline,
        "ui_klines": spot_kline,
        "avg_price": {"symbol": spot_sym},
        "ticker_24hr": {"symbol": spot_sym},
        "trading_day_ticker": {"symbol": spot_sym},
        "ticker_price": {"symbol": spot_sym},
        "book_ticker": {"symbol": spot_sym},
    }
    futures = {
        "depth": {"symbol": fut_sym, "limit": cfg.depth_limit},
        "trades": {"symbol": fut_sym, "limit": cfg.trade_limit},
        "agg_trades": {"symbol": fut_sym, "limit": cfg.trade_limit},
        "klines": fut_kline,
        "continuous_klines": {"pair": pair, "contractType": cfg.continuous_contract_type,
                              "interval": cfg.kline_interval, "limit": cfg.kline_limit},
        "index_price_klines": {"pair": pair, "interval": cfg.kline_interval, "limit": cfg.kline_limit},
        "mark_price_klines": fut_kline,
        "mark_price": {"symbol": fut_sym},
        "funding_rate_history": {"symbol": fut_sym, "limit": cfg.funding_limit},
        "ticker_24hr_price_change": {"symbol": fut_sym},
        "ticker_price": {"symbol": fut_sym},
        "book_ticker": {"symbol": fut_sym},
        "quarterly_contract_settlement_price": {"pair": pair},
        "open_interest": {"symbol": fut_sym},
        "open_interest_hist": metric,
        "top_long_short_position_ratio": metric,
        "long_short_account_ratio": metric,
        "top_long_short_account_ratio": metric,
        "taker_long_short_ratio": metric,
        "index_info": {"symbol": cfg.composite_index_symbol},
        "index_price_constituents": {"symbol": fut_sym},
    }
    return [(Market.SPOT, n, spot.get(n, {})) for n in LEGACY_SPOT] + [
        (Market.FUTURES, n, futures.get(n, {})) for n in LEGACY_FUTURES
    ]


#: The setting each ``limit`` of the plan comes from (named in a refusal).
LIMIT_SETTING = {
    "depth": "trade_limit", "trades": "trade_limit", "historical_trades": "trade_limit", "agg_trades": "trade_limit",
    "klines": "kline_limit", "ui_klines": "kline_limit", "continuous_klines": "kline_limit",
    "index_price_klines": "kline_limit", "mark_price_klines": "kline_limit", "funding_rate_history": "funding_limit",
    "open_interest_hist": "metric_limit", "top_long_short_position_ratio": "metric_limit",
    "long_short_account_ratio": "metric_limit", "top_long_short_account_ratio": "metric_limit",
    "taker_long_short_ratio": "metric_limit",
}


def check_plan(cfg: CollectConfig) -> None:
    """Refuse, before any request, a limit an endpoint of the plan does not take (one line naming the setting)."""
    for market, name, params in call_plan(cfg):
        ep = endpoint(market, name)
        if "limit" not in params or ep.limit is None or ep.limit.valid(params["limit"]):
            continue
        setting = LIMIT_SETTING[name]
        why = (f" (depth asks min({setting}, {MAX_DEPTH_LIMIT}) = {params['limit']} levels, as the legacy harness)"
               if name == "depth" else "")
        raise UsageError(f"{setting_name(setting)} {getattr(cfg, setting)}: Binance {market.value} {ep.path} takes a "
                         f"limit of {ep.limit.describe()}{why}; set {setting} to one it takes")


@dataclass
class CallResult:
    """One call of the plan as ``metrics.json`` and the summary table report it."""

    market: str
    name: str
    path: str
    params: dict[str, Any]
    status: str  # "ok", "failed" or "skipped"
    http_status: int | None = None
    rows: int | None = None
    bytes: int = 0
    latency_ms: float | None = None
    weight: int = 0
    used_weight_1m: int | None = None
    attempts: int = 0
    error: str | None = None


@dataclass
class StreamResult:
    """The rolling-ticker stream capture as ``metrics.json`` and the summary table report it."""

    stream: str
    url: str
    frames: int
    latency_ms: dict[str, float] = field(default_factory=dict)
    per_frame: list[dict[str, int]] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None


def utc_now_iso() -> str:
    """Now as ISO 8601 UTC with milliseconds and ``Z``: the ``retrieved_at`` of dumps and metrics."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dump(path: Path, retrieved_at: str, payload: bytes) -> None:
    """Write ``{"retrieved_at": ..., "payload": <the body, byte for byte>}`` to ``path`` atomically."""
    write_atomic(path, msgspec.json.encode({"retrieved_at": retrieved_at, "payload": msgspec.Raw(payload)}))


def dump_or_fail(path: Path, retrieved_at: str, payload: bytes) -> None:
    """``dump``; a write that fails mid-run (disk full, folder removed) stops the run with one line."""
    try:
        dump(path, retrieved_at, payload)
    except OSError as e:
        raise FrameworkError(f"cannot write {path}: {e.strerror or e}; free space or choose another --out") from None


class Collector:
    """Runs the call plan against one set of URLs."""

    def __init__(self, cfg: CollectConfig, urls: BinanceUrls, client: BinanceRestClient | None = None):
        self.cfg = cfg
        self.urls = urls
        self.out = Path(cfg.output_dir)
        self.client = client or BinanceRestClient(BinanceHttpConfig(urls=urls))

    async def run(self) -> tuple[list[CallResult], list[StreamResult]]:
        """Check the plan, the output folder and the symbols, make every call and the stream capture, write
        ``metrics.json``; returns the call and stream results."""
        try:
            check_plan(self.cfg)
            require_writable_folder(self.out, "output folder", option="--out or OUTPUT_DIR", create=False,
                                    error=UsageError)  # nothing is created before the requests succeed
            await self._check_symbols()
            calls = await asyncio.gather(*(self._call(m, n, p) for m, n, p in call_plan(self.cfg)))
            streams = [await self._capture_rolling_ticker()] if self.cfg.ws_capture_seconds > 0 else []
        finally:
            await self.client.close()
        self._write_metrics(list(calls), streams)
        return list(calls), streams

    async def _check_symbols(self) -> None:
        """Fail fast, with one line, on a symbol the market does not list."""
        wanted = {
            Market.SPOT: {"spot_symbol": self.cfg.spot_symbol},
            Market.FUTURES: {"futures_symbol": self.cfg.futures_symbol, "futures_pair": self.cfg.futures_pair},
        }
        for market, names in wanted.items():
            info = await self.client.get(market, "exchange_info")
            self.client.apply_rate_limits(market, info)
            listed = {s.symbol for s in info.symbols}
            for setting, symbol in names.items():
                if symbol not in listed:
                    close = sorted(s for s in listed if s.startswith(symbol[:3]))[:5]
                    raise UsageError(
                        f"{setting} {symbol!r} is not listed on Binance {market.value}; set it to a listed symbol"
                        f"{' such as ' + ', '.join(close) if close else ''}"
                    )

    async def _call(self, market: Market, name: str, params: dict[str, Any]) -> CallResult:
        ep = endpoint(market, name)
        result = CallResult(market.value, name, ep.path, params, "ok", weight=ep.weight(params))
        if ep.api_key and not self.client.credentials.api_key:
            result.status, result.error = "skipped", "needs an API key: set API_KEY"
            log.warning("%s %s skipped: it needs an API key (set API_KEY)", market.value, name)
            return result
        retrieved_at = utc_now_iso()
        try:
            answer = await self.client.request(market, name, **params)
        except BinanceClientError as e:
            result.status, result.http_status, result.error = "failed", e.status, str(e)
            return result
        except FrameworkError as e:
            result.status, result.error = "failed", str(e)
            return result
        dump_or_fail(self.out / market.value / f"{name}.json", retrieved_at, answer.body)
        result.http_status, result.bytes = answer.status, len(answer.body)
        result.latency_ms, result.attempts = round(answer.latency_ms, 2), answer.attempts
        result.used_weight_1m = answer.used_weight
        try:
            data = answer.decode()
        except msgspec.ValidationError as e:
            result.status, result.error = "failed", f"{market.value} {name}: the answer does not match its schema: {e}"
            return result
        result.rows = len(data) if isinstance(data, list) else 1
        return result

    async def _capture_rolling_ticker(self) -> StreamResult:
        stream = f"{self.cfg.spot_symbol.lower()}@ticker_{self.cfg.ws_window_size}"
        url = stream_url(Market.SPOT, self.urls.spot_ws, [stream], combined=False)
        retrieved_at = utc_now_iso()
        result = StreamResult(stream, url, 0)
        try:
            frames = await capture(url, self.cfg.ws_capture_seconds)
        except Exception as e:  # a stream failure is reported like a failed call
            result.status, result.error = "failed", f"{type(e).__name__}: {e}"
            return result
        payload = b"[" + b",".join(f.data for f in frames) + b"]"
        dump_or_fail(self.out / "spot" / "websocket" / "rolling_window_ticker.json", retrieved_at, payload)
        result.frames = len(frames)
        result.per_frame = [_frame_latency(f.data, f.recv_ns) for f in frames]
        lat = sorted(p["latency_ms"] for p in result.per_frame if "latency_ms" in p)
        if lat:
            result.latency_ms = {"min": lat[0], "p50": lat[len(lat) // 2], "p95": lat[int(len(lat) * 0.95)],
                                 "max": lat[-1], "mean": round(sum(lat) / len(lat), 2)}
        if not frames:
            result.status, result.error = "failed", f"no frame on {stream} within {self.cfg.ws_capture_seconds}s"
        return result

    def _write_metrics(self, calls: list[CallResult], streams: list[StreamResult]) -> None:
        body = {"retrieved_at": utc_now_iso(), "calls": calls, "streams": streams}
        write_atomic(self.out / "metrics.json", msgspec.json.format(msgspec.json.encode(body), indent=2))


class _Event(msgspec.Struct):
    E: int | None = None


_EVENT = msgspec.json.Decoder(_Event)


def _frame_latency(data: bytes, recv_ns: int) -> dict[str, int]:
    """Receive time - event time ``E`` of one frame (ms)."""
    recv_ms = recv_ns // 1_000_000
    try:
        event = _EVENT.decode(data).E
    except msgspec.DecodeError:
        return {"recv_ms": recv_ms}
    if event is None:
        return {"recv_ms": recv_ms}
    return {"event_ms": event, "recv_ms": recv_ms, "latency_ms": recv_ms - event}


def summary_table(calls: list[CallResult], streams: list[StreamResult]) -> str:
    """The per-call table printed at the end of a run."""
    head = f"{'market':<8}{'call':<36}{'status':<9}{'http':>5}{'rows':>7}{'bytes':>10}{'ms':>9}{'weight':>7}"
    lines = [head, "-" * len(head)]
    for c in calls:
        lines.append(
            f"{c.market:<8}{c.name:<36}{c.status:<9}{c.http_status or '-':>5}{c.rows if c.rows is not None else '-':>7}"
            f"{c.bytes:>10}{c.latency_ms if c.latency_ms is not None else '-':>9}{c.weight:>7}"
        )
    for s in streams:
        p50 = s.latency_ms.get("p50", "-")
        lines.append(f"{'spot':<8}{'ws ' + s.stream:<36}{s.status:<9}{'-':>5}{s.frames:>7}{'':>10}{p50:>9}{'':>7}")
    failed = [c for c in calls if c.status == "failed"] + [s for s in streams if s.status == "failed"]
    ok = sum(c.status == "ok" for c in calls)
    skipped = sum(c.status == "skipped" for c in calls)
    lines.append(f"{ok} ok, {len(failed)} failed, {skipped} skipped of {len(calls)} calls; "
                 f"{sum(s.frames for s in streams)} stream frames")
    for f in failed:
        lines.append(f"  failed: {f.error}")
    return "\n".join(lines)
