"""REST side of the local exchange: the endpoint table served over aiohttp, validated like Binance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from framework.binance.endpoints import CONTRACT_TYPES
from framework.binance.endpoints import ENDPOINTS
from framework.binance.endpoints import FUTURES_DATA_PERIODS
from framework.binance.endpoints import Endpoint
from framework.binance.endpoints import Kind
from framework.binance.endpoints import Market
from framework.binance.intervals import KLINE_INTERVALS
from framework.binance.recorded import RecordedMarket
from framework.exchange.faults import FaultConfig
from framework.exchange.limits import RateLimiter
from framework.exchange.market import LocalMarket
from framework.exchange.market_state import ApiError

JSON = "application/json;charset=UTF-8"
_SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class Served:
    """One answered request, kept in the journal so tests can compare what clients wrote."""

    market: str
    path: str
    query: str
    status: int
    body: bytes


def recorded(data: RecordedMarket, name: str) -> bytes:
    """The recorded body ``name`` served byte for byte, or the 404 that says it is missing."""
    raw = data.snapshot_bytes(name)
    if raw is None:
        raise ApiError(404, -1000, f"No recorded data for {name} in {data.root}")
    return raw


def _illegal(name: str, legal: str) -> ApiError:
    return ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def _invalid(name: str) -> ApiError:
    return ApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def validate(endpoint: Endpoint, query: dict[str, str], listed: dict, pairs: set[str]) -> dict[str, Any]:
    """Typed parameters of a request, or the ApiError Binance would answer."""
    out: dict[str, Any] = {}
    for p in endpoint.params:
        raw = query.get(p.name)
        if raw is None or raw == "":
            if p.required:
                raise ApiError(
                    400, -1102, f"Mandatory parameter '{p.name}' was not sent, was empty/null, or malformed."
                )
            continue
        match p.kind:
            case Kind.SYMBOL:
                if not set(raw) <= _SYMBOL_CHARS or len(raw) > 20:
                    raise _illegal(p.name, "^[A-Z0-9-_.]{1,20}$")
                if raw not in listed:
                    raise ApiError(400, -1121, "Invalid symbol.")
                out[p.name] = raw
            case Kind.SYMBOLS:
                try:
                    names = msgspec.json.decode(raw.encode(), type=list[str])
                except msgspec.DecodeError:
                    raise _illegal(p.name, '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$') from None
                if any(n not in listed for n in names):
                    raise ApiError(400, -1121, "Invalid symbol.")
                out[p.name] = names
            case Kind.PAIR:
                if raw not in pairs:
                    raise ApiError(400, -1121, "Invalid symbol.")
                out[p.name] = raw
            case Kind.INTERVAL:
                if raw not in KLINE_INTERVALS or (endpoint.market is Market.FUTURES and raw == "1s"):
                    raise ApiError(400, -1120, "Invalid interval.")
                out[p.name] = raw
            case Kind.PERIOD:
                if raw not in FUTURES_DATA_PERIODS:
                    raise _invalid(p.name)
                out[p.name] = raw
            case Kind.CONTRACT_TYPE:
                if raw not in CONTRACT_TYPES:
                    raise _invalid(p.name)
                out[p.name] = raw
            case Kind.INT | Kind.LIMIT:
                if not raw.isdigit() or len(raw) > 20:
                    raise _illegal(p.name, "^[0-9]{1,20}$")
                value = int(raw)
                if p.kind is Kind.LIMIT and endpoint.limit and not endpoint.limit.valid(value):
                    raise _illegal(p.name, endpoint.limit.describe())
                out[p.name] = value
            case Kind.ENUM:
                if p.choices and raw not in p.choices:
                    raise _invalid(p.name)
                out[p.name] = raw
    if endpoint.limit is not None:
        out.setdefault("limit", endpoint.limit.default)
    if out.get("startTime") is not None and out.get("endTime") is not None and out["startTime"] > out["endTime"]:
        raise ApiError(400, -1128, "Combination of optional parameters invalid.")
    return out


View = Callable[[LocalMarket, Market, dict[str, Any]], Any]


def _each(fn: Callable[[LocalMarket, Market, str], Any]) -> View:
    """A ticker-like view: one object for ``symbol``, else a list (``symbols`` or every taped symbol)."""

    def view(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
        many = m.symbols_for(market, p.get("symbol"), p.get("symbols"))
        return fn(m, market, p["symbol"]) if many is None else [fn(m, market, s) for s in many]

    return view


def _needs_symbol(view: View) -> View:
    def guarded(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
        if not p.get("symbol") and not p.get("symbols"):
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        return view(m, market, p)

    return guarded


def _klines(price: str, symbol_key: str = "symbol") -> View:
    def view(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
        if p.get("contractType", "PERPETUAL") != "PERPETUAL":
            return []  # no delivery contract is taped
        return m.kline_rows(market, p[symbol_key], p["interval"], p.get("startTime"), p.get("endTime"),
                            p["limit"], price)

    return view


def _exchange_info(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    data = m.data.market(market)
    wanted = [p["symbol"]] if p.get("symbol") else p.get("symbols")
    if not wanted:  # as recorded, with the entries of derived symbols it does not list
        return data.exchange_info if data.added else recorded(data, "exchangeInfo")
    info = dict(data.exchange_info)
    info["symbols"] = [data.symbols[s] for s in wanted]
    return info


def announce_weight_limit(body: Any, limit: int, window_s: float) -> Any:
    """exchangeInfo with its REQUEST_WEIGHT entry saying the budget this server enforces.

    The recordings announce the limits of their day (spot 1200/min in 2021); a client that adopts
    ``rateLimits`` must learn the budget it will actually be held to, drills included.
    """
    info = msgspec.json.decode(body) if isinstance(body, bytes) else dict(body)
    seconds = int(window_s)
    interval, num = ("MINUTE", seconds // 60) if seconds % 60 == 0 else ("SECOND", seconds)
    info["rateLimits"] = [
        {**rl, "interval": interval, "intervalNum": num, "limit": limit} if rl.get("rateLimitType") == "REQUEST_WEIGHT" else rl
        for rl in info.get("rateLimits", [])
    ]
    return info


def _depth(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    raw = m.data.market(market).depth_snapshot(p["symbol"])
    if raw is None:
        raise ApiError(404, -1000, "No recorded depth snapshot")
    book = msgspec.json.decode(raw)
    book["bids"], book["asks"] = book["bids"][: p["limit"]], book["asks"][: p["limit"]]
    return book


def _mark_price(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    if p.get("symbol"):
        return m.premium_index(p["symbol"])
    rows = m.data.futures.snapshot("premiumIndex__all_symbols") or []
    computed = {s: m.premium_index(s) for s in m.data.futures.tapes}
    return [computed.pop(r["symbol"], r) for r in rows] + list(computed.values())


def _asset_index(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    rows = m.data.futures.snapshot("assetIndex")
    rows = rows if isinstance(rows, list) else [rows]
    if not p.get("symbol"):
        return rows
    for row in rows:
        if row["symbol"] == p["symbol"]:
            return row
    raise ApiError(400, -1121, "Invalid symbol.")


def _index_info(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    rows = m.data.futures.snapshot("indexInfo") or []
    return [r for r in rows if r["symbol"] == p["symbol"]] if p.get("symbol") else rows


def _constituents(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    row = m.data.futures.snapshot("constituents")
    if isinstance(row, dict) and row.get("symbol") == p["symbol"]:
        return recorded(m.data.futures, "constituents")
    return {"symbol": p["symbol"], "time": m.now(), "constituents": []}


def _trading_day(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    mini = p.get("type") == "MINI"
    return _each(lambda m, market, s: m.trading_day(s, mini))(m, market, p)


def _rolling(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
    window, mini = p.get("windowSize", "1d"), p.get("type") == "MINI"
    return _each(lambda m, market, s: m.rolling(s, window, mini))(m, market, p)


def _recorded(name: str) -> View:
    return lambda m, market, p: recorded(m.data.market(market), name)


VIEWS: dict[str, View] = {
    "ping": lambda m, market, p: {},
    "time": lambda m, market, p: {"serverTime": m.now()},
    "exchange_info": _exchange_info,
    "depth": _depth,
    "trades": lambda m, market, p: m.trade_rows(market, p["symbol"], None, p["limit"]),
    "historical_trades": lambda m, market, p: m.trade_rows(market, p["symbol"], p.get("fromId"), p["limit"]),
    "agg_trades": lambda m, market, p: m.agg_trade_rows(
        market, p["symbol"], p.get("fromId"), p.get("startTime"), p.get("endTime"), p["limit"]
    ),
    "klines": _klines("last"),
    "ui_klines": _klines("last"),
    "continuous_klines": _klines("last", "pair"),
    "index_price_klines": _klines("index", "pair"),
    "mark_price_klines": _klines("mark"),
    "premium_index_klines": _klines("premium"),
    "avg_price": lambda m, market, p: m.avg_price(p["symbol"]),
    "ticker_24hr": _each(lambda m, market, s: m.ticker_24hr(market, s)),
    "ticker_24hr_price_change": _each(lambda m, market, s: m.ticker_24hr(market, s)),
    "trading_day_ticker": _needs_symbol(_trading_day),
    "rolling_window_ticker": _needs_symbol(_rolling),
    "ticker_price": _each(lambda m, market, s: m.ticker_price(market, s)),
    "ticker_price_v2": _each(lambda m, market, s: m.ticker_price(market, s)),
    "book_ticker": _each(lambda m, market, s: m.book_ticker(market, s)),
    "mark_price": _mark_price,
    "funding_rate_history": lambda m, market, p: m.funding_rows(
        p.get("symbol"), p.get("startTime"), p.get("endTime"), p["limit"]
    ),
    "funding_rate_info": _recorded("fundingInfo"),
    "quarterly_contract_settlement_price": _recorded("delivery-price"),
    "open_interest": lambda m, market, p: m.open_interest(p["symbol"]),
    "index_info": _index_info,
    "asset_index": _asset_index,
    "index_price_constituents": _constituents,
}


def _futures_data(name: str) -> View:
    """A ``/futures/data`` statistic (an endpoint taking a ``period``): its rows from ``futures_data_rows``."""

    def view(m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
        if p.get("contractType", "PERPETUAL") != "PERPETUAL":
            return []  # no delivery contract is taped
        return m.futures_data_rows(name, p.get("symbol") or p["pair"], p["period"], p.get("startTime"),
                                   p.get("endTime"), p["limit"])

    return view


VIEWS.update({e.name: _futures_data(e.name) for e in ENDPOINTS if any(p.kind is Kind.PERIOD for p in e.params)})

_missing = {e.name for e in ENDPOINTS} - set(VIEWS)
assert not _missing, f"endpoints without a view: {_missing}"


class RestApi:
    """Serves one market's endpoints with Binance's validation, weights, limits and error shapes."""

    def __init__(
        self,
        market: Market,
        local: LocalMarket,
        limiter: RateLimiter,
        faults: FaultConfig,
        journal: list[Served] | None = None,
    ):
        self.market = market
        self.local = local
        self.limiter = limiter
        self.faults = faults
        self.journal = journal
        self._rng = faults.rng(f"http-{market}")
        self._data = local.data.market(market)
        self._views = {**VIEWS, "exchange_info": self._exchange_info}
        self._full_exchange_info: bytes | None = None
        self.requests = 0

    def _exchange_info(self, m: LocalMarket, market: Market, p: dict[str, Any]) -> Any:
        limit, window = self.limiter.weight_limit, self.limiter.window_s
        if p.get("symbol") or p.get("symbols"):
            return announce_weight_limit(_exchange_info(m, market, p), limit, window)
        if self._full_exchange_info is None:  # the spot recording is 1.8 MB: patch it once
            body = announce_weight_limit(_exchange_info(m, market, p), limit, window)
            self._full_exchange_info = msgspec.json.encode(body)
        return self._full_exchange_info

    def routes(self) -> list[web.RouteDef]:
        """One aiohttp route per endpoint of this market in the table."""
        return [web.get(e.path, self._handler(e)) for e in ENDPOINTS if e.market is self.market]

    def _handler(self, endpoint: Endpoint) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            return await self.answer(endpoint, request)

        return handle

    def _listed(self, endpoint: Endpoint) -> dict:
        """Symbols a request may name: assetIndex takes asset-index ones (ADAUSD, ...), not trading ones."""
        if endpoint.name != "asset_index":
            return self._data.symbols
        rows = self._data.snapshot("assetIndex") or []
        return {r["symbol"]: r for r in (rows if isinstance(rows, list) else [rows])}

    async def answer(self, endpoint: Endpoint, request: web.Request) -> web.Response:
        """Validate, charge weight, apply drills and answer ``request`` for ``endpoint`` as Binance would."""
        self.requests += 1
        ip = request.remote or "?"
        headers: dict[str, str] = {}
        try:
            params = validate(endpoint, dict(request.query), self._listed(endpoint), self._data.pairs)
            used = self.limiter.charge(ip, endpoint.weight(params), endpoint.family)
            if self.faults.http_5xx_rate and self._rng.random() < self.faults.http_5xx_rate:
                raise ApiError(503, -1001, "Internal error; unable to process your request. Please try again.")
            if endpoint.api_key and not request.headers.get("X-MBX-APIKEY"):
                raise ApiError(401, -2014, "API-key format invalid.")
            body = self._views[endpoint.name](self.local, self.market, params)
            status = 200
            payload = body if isinstance(body, bytes) else msgspec.json.encode(body)
        except ApiError as e:
            status, payload = e.status, e.body()
            if e.retry_after is not None:
                headers["Retry-After"] = str(e.retry_after)
        used = self.limiter.used(ip)
        headers["X-MBX-USED-WEIGHT-1M"] = headers["X-MBX-USED-WEIGHT"] = str(used)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if self.journal is not None:
            self.journal.append(Served(self.market.value, endpoint.path, request.query_string, status, payload))
        return web.Response(body=payload, status=status, headers=headers, content_type="application/json",
                            charset="UTF-8")
