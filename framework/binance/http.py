"""Async REST client for Binance public market data, driven by the endpoint table.

    async with BinanceRestClient(BinanceHttpConfig(urls=urls)) as client:
        rows = await client.get("futures", "klines", symbol="BTCUSDT", interval="1m", limit=499)
        answer = await client.request("spot", "depth", symbol="BTCUSDT")   # raw body, headers, latency

One method serves every endpoint: the table gives path, weight and response schema. The client waits for
weight before sending, learns from ``X-MBX-USED-WEIGHT-1M``, honours ``Retry-After``, retries 5xx,
timeouts and dropped connections with jittered backoff, and turns any other 4xx into one readable
``BinanceClientError``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from framework.binance.config import BinanceHttpConfig
from framework.binance.credentials import Credentials
from framework.binance.endpoints import FAMILY_LIMITS
from framework.binance.endpoints import Endpoint
from framework.binance.endpoints import Family
from framework.binance.endpoints import Market
from framework.binance.endpoints import endpoint as lookup
from framework.binance.limits import WEIGHT_LIMITS
from framework.binance.ratelimit import OnWait
from framework.binance.ratelimit import RequestLimiter
from framework.binance.ratelimit import WaitNotice
from framework.binance.ratelimit import WeightLimiter
from framework.binance.schemas import ErrorBody
from framework.errors import FrameworkError

log = logging.getLogger("framework.binance.http")

_ERROR = msgspec.json.Decoder(ErrorBody)
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class BinanceClientError(FrameworkError):
    """Binance refused the request (4xx): endpoint, status, code and message on one line."""

    def __init__(self, endpoint: Endpoint, status: int, code: int | None, msg: str, params: dict | None = None):
        self.endpoint, self.status, self.code, self.msg, self.params = endpoint, status, code, msg, params or {}
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        hint = _HINTS.get(code or 0, "")
        super().__init__(
            f"{endpoint.market} {endpoint.name} ({endpoint.path}{'?' + shown if shown else ''}) "
            f"failed: HTTP {status}, code {code}: {msg}{' ' + hint if hint else ''}"
        )


class BinanceUnavailable(FrameworkError):
    """Binance kept failing (5xx, timeouts, a ban longer than we wait) after every retry."""


_HINTS = {
    -1121: "Check the symbol against exchangeInfo (spot and USD-M list different symbols).",
    -1120: "Use an interval such as 1m, 5m, 1h, 1d.",
    -1100: "Fix the parameter to a value in the legal range shown.",
    -1102: "Pass the mandatory parameter.",
    -2014: "Set API_KEY in the environment (this endpoint needs an API key header).",
    -1003: "Too much request weight: wait and lower the request rate.",
}


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """One successful call: the exact body as received, and what it cost."""

    endpoint: Endpoint
    params: dict[str, Any]
    status: int
    body: bytes
    used_weight: int | None
    latency_ms: float
    attempts: int

    def decode(self) -> Any:
        """The body decoded with the endpoint's schema (msgspec Structs)."""
        return msgspec.json.decode(self.body, type=self.endpoint.schema)


def encode_params(params: dict[str, Any]) -> dict[str, str]:
    """Query parameters as Binance expects them (lists as compact JSON, booleans lower-case)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = msgspec.json.encode(list(value)).decode()
        else:
            out[key] = str(value)
    return out


class BinanceRestClient:
    """Weight-aware async client for every endpoint of the table."""

    def __init__(
        self,
        config: BinanceHttpConfig | None = None,
        credentials: Credentials | None = None,
        session: aiohttp.ClientSession | None = None,
        on_wait: OnWait | None = None,
    ):
        self.config = config or BinanceHttpConfig()
        # A long wait on the weight budget, a Retry-After or a request-count limit is announced here (at most
        # every few seconds): a progress display sets this to show it; unset, it is logged at INFO.
        self.on_wait: OnWait | None = on_wait
        self.credentials = credentials or Credentials.from_env()
        self._session = session
        self._own_session = session is None
        self.weights = {m: WeightLimiter(WEIGHT_LIMITS[m], headroom=self.config.weight_headroom,
                                         name=m.value, on_wait=self._waiting) for m in Market}
        self.families = {f: RequestLimiter(*FAMILY_LIMITS[f], name=f"{f.value}", on_wait=self._waiting)
                         for f in Family}
        # Per market: a request holds its slot while waiting for weight; that must not stall the other market.
        self._slots = {m: asyncio.Semaphore(self.config.max_concurrency) for m in Market}
        self._rng = random.Random()
        self.stats = {"requests": 0, "retries": 0, "429": 0, "418": 0}

    def _waiting(self, notice: WaitNotice) -> None:
        if self.on_wait is not None:
            self.on_wait(notice)
        else:
            log.info("%s", notice)

    async def __aenter__(self) -> BinanceRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the client opened it (a session passed in is left to its owner)."""
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session requests go through, opened on first use with the configured timeout."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        return self._session

    def apply_rate_limits(self, market: Market | str, exchange_info: Any) -> None:
        """Adopt the REQUEST_WEIGHT limit announced in exchangeInfo's ``rateLimits``."""
        for rl in exchange_info.rateLimits:
            if rl.rateLimitType == "REQUEST_WEIGHT":
                seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}[rl.interval] * rl.intervalNum
                self.weights[Market(market)].set_limit(rl.limit, seconds)

    async def get(self, market: Market | str, name: str, **params: Any) -> Any:
        """Call an endpoint and decode the answer with its schema."""
        return (await self.request(market, name, **params)).decode()

    async def request(self, market: Market | str, name: str, **params: Any) -> RestAnswer:
        """Call an endpoint; returns the exact body. Raises BinanceClientError / BinanceUnavailable."""
        ep = lookup(market, name)
        ep.check_params(params)
        query = encode_params(params)
        weight = ep.weight(query)
        url = self.config.urls.http(ep.market) + ep.path
        headers = {"X-MBX-APIKEY": self.credentials.api_key} if ep.api_key and self.credentials.api_key else {}
        limiter = self.weights[ep.market]
        retry = self.config.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots[ep.market]:
                    # Reserve weight only once a slot is free: a request queued for a slot must not be sent
                    # in a later window than it reserved weight in, nor slip past a Retry-After pause.
                    await limiter.acquire(weight)
                    if ep.family is not None:
                        await self.families[ep.family].acquire()
                    sent_at, started = time.time(), time.perf_counter()
                    async with self.session.get(url, params=query, headers=headers) as resp:
                        body = await resp.read()
                        status = resp.status
                        used = _int_header(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
                        retry_after = _int_header(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                failure = f"{type(e).__name__}: {e}".strip(": ")
                if attempt > retry.max_retries:
                    raise BinanceUnavailable(f"{ep.market} {ep.name} failed after {attempt} attempts: {failure}") from None
                await self._backoff(ep, attempt, failure)
                continue
            latency_ms = (time.perf_counter() - started) * 1000
            self.stats["requests"] += 1
            if used is not None:
                limiter.observe(used, sent_at)
            if status < 400:
                return RestAnswer(ep, params, status, body, used, latency_ms, attempt)
            if status in (429, 418):
                self.stats[str(status)] += 1
                wait = float(retry_after if retry_after is not None else 60)
                if wait > retry.max_retry_after_s or attempt > retry.max_retries:
                    raise BinanceUnavailable(
                        f"{ep.market} {ep.name}: HTTP {status} ({_message(body)}); Retry-After {wait:.0f}s is "
                        f"beyond the {retry.max_retry_after_s:.0f}s we wait. Lower the request rate and retry later."
                    )
                log.warning("%s %s: HTTP %s, pausing %s requests for %.0fs (Retry-After)",
                            ep.market, ep.name, status, ep.market, wait)
                limiter.pause(wait, f"Retry-After (HTTP {status} from {ep.name})")
                self.stats["retries"] += 1
                continue
            if status in _RETRYABLE_STATUS:
                if attempt > retry.max_retries:
                    raise BinanceUnavailable(
                        f"{ep.market} {ep.name} failed after {attempt} attempts: HTTP {status} {_message(body)}"
                    )
                await self._backoff(ep, attempt, f"HTTP {status}")
                continue
            err = _decode_error(body)
            raise BinanceClientError(ep, status, err.code if err else None, err.msg if err else _message(body), params)

    async def _backoff(self, ep: Endpoint, attempt: int, failure: str) -> None:
        retry = self.config.retry
        delay = self._rng.uniform(0, min(retry.max_delay_s, retry.base_delay_s * 2 ** (attempt - 1)))
        log.info("%s %s: %s; retry %d in %.2fs", ep.market, ep.name, failure, attempt, delay)
        self.stats["retries"] += 1
        await asyncio.sleep(delay)


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _decode_error(body: bytes) -> ErrorBody | None:
    try:
        return _ERROR.decode(body)
    except msgspec.DecodeError:
        return None


def _message(body: bytes) -> str:
    err = _decode_error(body)
    return err.msg if err else body[:200].decode(errors="replace")
