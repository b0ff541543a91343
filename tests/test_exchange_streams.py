"""The local exchange's market streams, over real sockets on 127.0.0.1.

Frames must be live (no history), ordered, shaped like Binance's recorded frames and carry exactly what REST
answers for the same ids and buckets; the control protocol, keep-alive rules and fault drills behave as
documented in ``framework/exchange/streams.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import pytest

from framework.binance.endpoints import Market
from framework.exchange.data import ExchangeData
from framework.exchange.data import load_data
from framework.exchange.faults import FaultConfig
from framework.exchange.market import LocalMarket
from framework.exchange.market_state import MarketClock
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange

SPOT, FUT = Market.SPOT, Market.FUTURES
FAST_PINGS = {SPOT: 0.5, FUT: 0.5}
BINANCE_PINGS = {SPOT: 20.0, FUT: 180.0}  # for tests that count messages (pongs count too)
AGG_TRADES_PATH = {SPOT: "/api/v3/aggTrades", FUT: "/fapi/v1/aggTrades"}
KLINES_PATH = {SPOT: "/api/v3/klines", FUT: "/fapi/v1/klines"}

# Key order of each event as recorded from Binance (../shared/fixtures/binance/<market>/ws/*.jsonl).
KEY_ORDER = {
    (SPOT, "btcusdt@trade"): "e E s t p q T m M",
    (SPOT, "btcusdt@aggTrade"): "e E s a p q f l T m M",
    (SPOT, "btcusdt@bookTicker"): "u s b B a A",
    (SPOT, "btcusdt@kline_1m"): "e E s k",
    (SPOT, "btcusdt@ticker"): "e E s p P w x c Q b B a A o h l v q O C F L n",
    (SPOT, "btcusdt@ticker_1h"): "e E s p P o h l c w v q O C F L n",
    (FUT, "btcusdt@trade"): "e E T s t p q X m",
    (FUT, "btcusdt@aggTrade"): "e E a s p q f l T m",
    (FUT, "btcusdt@bookTicker"): "e u s b B a A T E",
    (FUT, "btcusdt@kline_1m"): "e E s k",
    (FUT, "btcusdt@markPrice"): "e E s p P i r T",
    (FUT, "btcusdt@markPrice@1s"): "e E s p P i r T",
    (FUT, "btcusdt@ticker"): "e E s p P w c Q o h l v q O C F L n",
    (FUT, "btcusdt_perpetual@continuousKline_1m"): "e E ps ct k",
}
KLINE_KEYS = "t T s i f L o c h l v n x q V Q B".split()
REST_KLINE_KEYS = ("t", "o", "h", "l", "c", "v", "T", "q", "n", "V", "Q", "B")  # REST row order


@functools.cache
def packaged_data() -> ExchangeData:
    return load_data()


@dataclass
class Venue:
    """A running local exchange and a client session to talk to it."""

    ex: LocalExchange
    session: aiohttp.ClientSession

    def ws(self, market: Market, path: str, **kwargs: Any) -> Any:
        return self.session.ws_connect(self.ex.urls[f"{market.value}_ws"] + path, **kwargs)

    async def rest(self, market: Market, path: str, headers: dict | None = None, **params: Any) -> Any:
        url = self.ex.urls[f"{market.value}_http"] + path
        async with self.session.get(url, params=params, headers=headers) as r:
            assert r.status == 200, await r.text()
            return await r.json()


@contextlib.asynccontextmanager
async def venue(speed: float = 50, pings: dict[Market, float] = FAST_PINGS,
                **faults: Any) -> AsyncIterator[Venue]:
    # the recordings' own start, so the tape under test is the same busy stretch on every run
    config = ExchangeConfig(speed=speed, start="recorded", ping_s=dict(pings), faults=FaultConfig(**faults))
    async with LocalExchange(config, packaged_data()) as ex, aiohttp.ClientSession() as session:
        yield Venue(ex, session)


def market_at(ex: LocalExchange, t_ms: int) -> LocalMarket:
    """What REST would answer with its clock at ``t_ms`` (a frozen twin of the exchange's market)."""
    local = ex.market
    return LocalMarket(ex.data, MarketClock(t_ms, 0), local.seed, local.clock.origin_ms - local.listed_ms)


async def receive_texts(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[str]:
    """Text frames arriving within ``seconds`` (fewer if the server closes)."""
    texts: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type is aiohttp.WSMsgType.TEXT:
            texts.append(msg.data)
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            break
    return texts


async def request(ws: aiohttp.ClientWebSocketResponse, body: Any, pause: float = 0.0) -> dict:
    """Send a control message (raw text if ``body`` is a str) and return the reply."""
    await asyncio.sleep(pause)  # keeps a test under the incoming message limit
    await ws.send_str(body if isinstance(body, str) else msgspec.json.encode(body).decode())
    return msgspec.json.decode((await ws.receive(timeout=5)).data)


def assert_contiguous(ids: list[int]) -> None:
    assert ids, "no frames"
    assert ids == list(range(ids[0], ids[0] + len(ids))), "ids must be contiguous, without duplicates"


# -- paths and shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("market", [SPOT, FUT])
async def test_combined_stream_frames_have_binance_shapes_in_time_order(market: Market) -> None:
    names = [name for m, name in KEY_ORDER if m is market]
    market_names = [n for n in names if not n.endswith("@bookTicker")]
    paths = [f"/stream?streams={'/'.join(names)}"]
    if market is FUT:  # the 2026 split: the same streams on /market and /public
        paths += [f"/market/stream?streams={'/'.join(market_names)}",
                  "/public/stream?streams=btcusdt@bookTicker"]
    async with venue(speed=50) as v:
        for path in paths:
            async with v.ws(market, path) as ws:
                frames = [msgspec.json.decode(t) for t in await receive_texts(ws, 0.8)]
            seen = {f["stream"]: f["data"] for f in frames}
            wanted = names if path.startswith("/stream") else [n for n in names if n in path]
            assert sorted(seen) == sorted(wanted)
            for name, data in seen.items():
                assert " ".join(data) == KEY_ORDER[(market, name)], name
                if "k" in data:
                    assert [k for k in KLINE_KEYS if k in data["k"]] == list(data["k"])
            times = [f["data"]["E"] for f in frames if "E" in f["data"]]
            assert times == sorted(times)


@pytest.mark.parametrize(("market", "path"), [(SPOT, "/ws/btcusdt@aggTrade/btcusdt@trade"),
                                              (FUT, "/market/ws/btcusdt@aggTrade/btcusdt@trade"),
                                              (FUT, "/ws/btcusdt@aggTrade/btcusdt@trade")])
async def test_raw_path_sends_bare_payloads(market: Market, path: str) -> None:
    async with venue(speed=50) as v, v.ws(market, path) as ws:
        events = {msgspec.json.decode(t)["e"] for t in await receive_texts(ws, 0.4)}
    assert events == {"aggTrade", "trade"}


@pytest.mark.parametrize(("market", "path"), [
    (FUT, "/public/ws/btcusdt@aggTrade"),  # market stream on the public path
    (FUT, "/private/ws/btcusdt@aggTrade"),  # the user-data path serves no market stream
    (FUT, "/market/stream?streams=btcusdt@bookTicker"),  # public stream on the market path
    (FUT, "/public/stream?streams=btcusdt@bookTicker/btcusdt@kline_1m"),
    (FUT, "/ws/btcusdt@kline_1s"),  # USD-M has no 1s klines
    (FUT, "/ws/btcusdt_current_quarter@continuousKline_1m"),
    (SPOT, "/ws/btcusdt@markPrice"),  # USD-M only
    (SPOT, "/ws/BTCUSDT@trade"),  # names are lower-case
    (SPOT, "/ws/ethbtc@trade"),  # listed, but not on the tape (the derived symbols are quoted in USDT)
    (SPOT, "/ws/btcusdt@nonsense"),
    (SPOT, "/stream?streams=" + "/".join(["btcusdt@trade"] * 1025)),
])
async def test_unknown_or_misplaced_streams_are_refused(market: Market, path: str) -> None:
    async with venue(speed=0) as v:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await v.ws(market, path)
    assert refused.value.status == 400


# -- control messages ------------------------------------------------------------------------------


async def test_subscribe_unsubscribe_list_and_errors() -> None:
    pause = 0.11  # USD-M allows 10 messages a second
    async with venue(speed=0, pings=BINANCE_PINGS) as v, v.ws(FUT, "/market/ws") as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@kline_1m"], "id": 1}
        assert await request(ws, sub) == {"result": None, "id": 1}
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2}, pause)
        assert listed == {"result": ["btcusdt@aggTrade", "btcusdt@kline_1m"], "id": 2}
        unsub = {"method": "UNSUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 3}
        assert await request(ws, unsub, pause) == {"result": None, "id": 3}
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 4}, pause)
        assert listed["result"] == ["btcusdt@aggTrade"]
        assert await request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 5}, pause) == {
            "result": False, "id": 5}

        refusals = [
            ({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 6}, 2, 6),  # public stream
            ({"method": "SUBSCRIBE", "params": ["ethbusd@trade"], "id": 7}, 2, 7),  # listed, not taped
            ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"] * 1025, "id": 8}, 2, 8),
            ({"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 9}, 2, 9),
            ({"method": "PUBLISH", "params": [], "id": 10}, 2, 10),
            ({"method": "LIST_SUBSCRIPTIONS", "id": -1}, 2, None),
            ("{not json", 3, None),
        ]
        for body, code, request_id in refusals:
            reply = await request(ws, body, pause)
            assert reply["id"] == request_id and reply["error"]["code"] == code, reply
            if code == 2:
                assert reply["error"]["msg"].startswith("Invalid request: ")
        # a refused SUBSCRIBE changed nothing, and a frozen clock emits nothing
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 11}, pause)
        assert listed["result"] == ["btcusdt@aggTrade"]
        assert await receive_texts(ws, 0.3) == []


async def test_request_ids_are_integers_strings_up_to_36_characters_or_null() -> None:
    """Binance's ids: the official SDKs send UUID strings; replies echo the id exactly as given."""
    uuid = "e5d2e744-a49f-40ea-8d65-cbe82cce9a23"  # 36 characters
    pause = 0.21  # spot allows 5 messages a second
    async with venue(speed=0, pings=BINANCE_PINGS) as v, v.ws(SPOT, "/stream") as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": uuid}
        assert await request(ws, sub) == {"result": None, "id": uuid}
        for request_id in ["7", "", None, 0, 2**64 - 1]:
            reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": request_id}, pause)
            assert reply == {"result": ["btcusdt@aggTrade"], "id": request_id}
        for request_id in ["x" * 37, -1, 2**64, 1.5, True, ["1"], {"a": 1}]:
            reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": request_id}, pause)
            assert reply["id"] is None and reply["error"]["code"] == 2, (request_id, reply)
            assert "a string of at most 36 characters or null" in reply["error"]["msg"]


async def test_subscribe_later_then_unsubscribe_stops_frames() -> None:
    async with venue(speed=50) as v, v.ws(SPOT, "/ws") as ws:
        await ws.send_str('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1}')
        assert msgspec.json.decode((await ws.receive(timeout=5)).data) == {"result": None, "id": 1}
        assert msgspec.json.decode((await ws.receive(timeout=5)).data)["e"] == "aggTrade"
        await ws.send_str('{"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":2}')
        while "id" not in (reply := msgspec.json.decode((await ws.receive(timeout=5)).data)):
            pass  # frames sent before the unsubscription
        assert reply == {"result": None, "id": 2}
        assert await receive_texts(ws, 0.3) == []


async def test_set_property_combined_wraps_frames() -> None:
    async with venue(speed=50) as v, v.ws(SPOT, "/ws/btcusdt@trade") as ws:
        raw = msgspec.json.decode((await ws.receive(timeout=5)).data)  # the tape's first trade comes at ~15 s
        assert raw["e"] == "trade"
        reply = await request(ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 1})
        while "id" not in reply:  # frames keep arriving around the reply
            reply = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert reply == {"result": None, "id": 1}
        wrapped = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert wrapped["stream"] == "btcusdt@trade" and wrapped["data"]["e"] == "trade"


@pytest.mark.parametrize(("market", "limit"), [(SPOT, 5), (FUT, 10)])
async def test_incoming_message_limit_closes_the_connection(market: Market, limit: int) -> None:
    async with venue(speed=0, pings=BINANCE_PINGS) as v, v.ws(market, "/ws") as ws:
        for i in range(limit):
            await ws.send_str(msgspec.json.encode({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        replies = [msgspec.json.decode(t) for t in await receive_texts(ws, 0.3)]
        assert [r["id"] for r in replies] == list(range(limit))
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":99}')
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION


# -- values equal REST -----------------------------------------------------------------------------


@pytest.mark.parametrize("market", [SPOT, FUT])
async def test_agg_trade_frames_equal_rest_rows(market: Market) -> None:
    async with venue(speed=50) as v:
        subscribed_at = v.ex.market.now()
        async with v.ws(market, "/ws/btcusdt@aggTrade") as ws:
            frames = [msgspec.json.decode(t) for t in await receive_texts(ws, 1.5)]
        ids = [f["a"] for f in frames]
        assert_contiguous(ids)
        assert len(ids) > 500
        assert frames[0]["E"] > subscribed_at  # live only: nothing published before the subscription
        assert all(f["E"] >= f["T"] for f in frames)
        rows: list[dict] = []
        while len(rows) < len(ids):
            rows += await v.rest(market, AGG_TRADES_PATH[market], symbol="BTCUSDT",
                                 fromId=ids[0] + len(rows), limit=1000)
        streamed = [{k: f[k] for k in rows[0]} for f in frames]
        assert streamed == rows[: len(ids)]


async def test_spot_trade_frames_equal_historical_trades() -> None:
    async with venue(speed=50) as v:
        async with v.ws(SPOT, "/ws/btcusdt@trade") as ws:
            frames = [msgspec.json.decode(t) for t in await receive_texts(ws, 0.8)]
        ids = [f["t"] for f in frames]
        assert_contiguous(ids)
        rows: list[dict] = []
        while len(rows) < len(ids):  # page by fromId: a busy stretch of tape holds more than one page
            rows += await v.rest(SPOT, "/api/v3/historicalTrades", headers={"X-MBX-APIKEY": "local"},
                                 symbol="BTCUSDT", fromId=ids[0] + len(rows), limit=1000)
        rows = rows[: len(ids)]
    assert len(rows) == len(ids)
    for f, row in zip(frames, rows, strict=True):
        assert (f["t"], f["p"], f["q"], f["T"], f["m"], f["M"]) == (
            row["id"], row["price"], row["qty"], row["time"], row["isBuyerMaker"], row["isBestMatch"])


@pytest.mark.parametrize("market", [SPOT, FUT])
async def test_closed_kline_equals_rest_kline_of_its_bucket(market: Market) -> None:
    push_ms = {SPOT: 2_000, FUT: 250}[market]
    async with venue(speed=100) as v:
        async with v.ws(market, "/ws/btcusdt@kline_1m") as ws:
            frames = []
            while sum(f["k"]["x"] for f in frames) < 2:
                frames.append(msgspec.json.decode((await ws.receive(timeout=5)).data))
        closed = [f for f in frames if f["k"]["x"]]
        assert len({f["k"]["t"] for f in closed}) == 2  # exactly one closed frame per bucket
        for f in closed:
            assert f["E"] == f["k"]["T"] + 1
            row = (await v.rest(market, KLINES_PATH[market], symbol="BTCUSDT", interval="1m",
                                startTime=f["k"]["t"], limit=1))[0]
            assert row == [f["k"][key] for key in REST_KLINE_KEYS]
        updates = [f for f in frames if not f["k"]["x"]]
        assert updates and all(f["E"] % push_ms == 0 for f in updates)
        for f in updates:  # an open bar is REST's bar at the time it was pushed
            at = market_at(v.ex, f["E"])
            assert at.kline_rows(market, "BTCUSDT", "1m", f["k"]["t"], None, 1)[0] == [
                f["k"][key] for key in REST_KLINE_KEYS]


@pytest.mark.parametrize(("market", "stream", "period_ms"), [
    (FUT, "btcusdt@markPrice@1s", 1_000),
    (FUT, "btcusdt@markPrice", 3_000),
    (SPOT, "btcusdt@ticker", 1_000),
    (FUT, "btcusdt@ticker", 1_000),
])
async def test_clock_driven_frames_equal_rest_at_their_time(market: Market, stream: str,
                                                            period_ms: int) -> None:
    async with venue(speed=50) as v:
        async with v.ws(market, f"/ws/{stream}") as ws:
            frames = [msgspec.json.decode(t) for t in await receive_texts(ws, 0.5)]
        assert len(frames) >= 4
        assert [f["E"] - frames[0]["E"] for f in frames] == [i * period_ms for i in range(len(frames))]
        for f in frames:
            at = market_at(v.ex, f["E"])
            if f["e"] == "markPriceUpdate":
                row = at.premium_index("BTCUSDT")
                assert (f["p"], f["P"], f["i"], f["r"], f["T"]) == (
                    row["markPrice"], row["estimatedSettlePrice"], row["indexPrice"], row["lastFundingRate"],
                    row["nextFundingTime"])
            else:
                row = at.ticker_24hr(market, "BTCUSDT")
                assert (f["c"], f["v"], f["q"], f["F"], f["L"], f["n"], f["C"]) == (
                    row["lastPrice"], row["volume"], row["quoteVolume"], row["firstId"], row["lastId"],
                    row["count"], row["closeTime"])


async def test_replay_keeps_up_at_speed_100_without_drift() -> None:
    async with venue(speed=100) as v:
        async with v.ws(FUT, "/market/ws/btcusdt@aggTrade") as ws:
            started = time.monotonic()
            frames = [msgspec.json.decode(t) for t in await receive_texts(ws, 2.0)]
            lag_ms = v.ex.market.now() - frames[-1]["E"]
            elapsed = time.monotonic() - started
        assert_contiguous([f["a"] for f in frames])
        assert lag_ms / 100 < 500  # under half a wall second behind the clock: no drift
        assert len(frames) / elapsed > 1_000  # the tape has ~29 aggTrades per market second


# -- keep-alive --------------------------------------------------------------------------------------


async def test_server_pings_and_drops_a_client_that_never_pongs() -> None:
    async with venue(speed=0) as v:
        started = time.monotonic()
        async with v.ws(SPOT, "/ws", autoping=False) as silent, v.ws(SPOT, "/ws") as polite:
            # the polite client answers pings while it reads
            polite_reader = asyncio.create_task(polite.receive(timeout=10))
            first = await silent.receive(timeout=2)
            assert first.type is aiohttp.WSMsgType.PING
            await silent.ping(b"hello")  # client pings are answered with their payload
            pong = await silent.receive(timeout=2)
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"hello")
            while (msg := await silent.receive(timeout=5)).type is aiohttp.WSMsgType.PING:
                pass
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert 1.5 <= time.monotonic() - started < 3.0  # spot: 3 x ping_s without a pong
            assert not polite.closed and not polite_reader.done()
            polite_reader.cancel()


async def test_stall_pings_stops_pings_and_pongs_while_data_flows() -> None:
    async with venue(speed=50, stall_pings=True) as v, v.ws(FUT, "/ws/btcusdt@aggTrade",
                                                             autoping=False) as ws:
        await ws.ping(b"anyone?")
        kinds: dict[aiohttp.WSMsgType, int] = {}
        deadline = time.monotonic() + 2.0  # four ping intervals
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                msg = await ws.receive(timeout=left)
                kinds[msg.type] = kinds.get(msg.type, 0) + 1
        assert kinds.keys() == {aiohttp.WSMsgType.TEXT} and kinds[aiohttp.WSMsgType.TEXT] > 100
        assert not ws.closed


# -- fault drills ----------------------------------------------------------------------------------


async def test_drop_ws_every_closes_after_exactly_n_data_frames() -> None:
    async with venue(speed=50, drop_ws_every=7) as v:
        for _ in range(2):
            async with v.ws(SPOT, "/ws/btcusdt@aggTrade") as ws:
                assert len(await receive_texts(ws, 3)) == 7
                assert ws.closed and ws.close_code == aiohttp.WSCloseCode.GOING_AWAY
        streams = v.ex.streams[SPOT]
        assert (streams.drops, streams.frames_sent, streams.connections) == (2, 14, 2)


async def test_drop_ws_random_is_reproducible_from_the_seed() -> None:
    async def frames_per_connection(seed: int) -> list[int]:
        async with venue(speed=50, seed=seed, drop_ws_every=10, drop_ws_random=True) as v:
            counts = []
            for _ in range(4):
                async with v.ws(FUT, "/ws/btcusdt@aggTrade") as ws:
                    counts.append(len(await receive_texts(ws, 3)))
            return counts

    first = await frames_per_connection(seed=7)
    assert all(1 <= n <= 20 for n in first) and len(set(first)) > 1
    assert await frames_per_connection(seed=7) == first


async def test_malformed_frames_are_extra_and_real_frames_stay_contiguous() -> None:
    async with venue(speed=50, malformed_frame_rate=0.25) as v:
        async with v.ws(FUT, "/ws/btcusdt@aggTrade") as ws:
            texts = await receive_texts(ws, 1.5)
        real, bad = [], 0
        for text, following in zip(texts, [*texts[1:], None], strict=True):
            try:
                real.append(msgspec.json.decode(text))
            except msgspec.DecodeError:
                bad += 1
                # a truncated copy, right before its real frame (unless the window ended between them)
                assert following is None or following.startswith(text)
        assert_contiguous([f["a"] for f in real])
        assert 0.18 < bad / len(real) < 0.32
        assert v.ex.streams[FUT].malformed_sent >= bad > 0


async def test_latency_delays_replies_and_data_frames() -> None:
    speed = 50
    async with venue(speed=speed, latency_ms=300) as v, v.ws(SPOT, "/ws") as ws:
        started = time.monotonic()
        assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}
        assert time.monotonic() - started >= 0.3
        assert await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}) == {
            "result": None, "id": 2}
        frame = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert (v.ex.market.now() - frame["E"]) / speed >= 300  # ms of wall time behind the event


async def test_shutdown_closes_open_connections_promptly() -> None:
    ex = LocalExchange(ExchangeConfig(speed=50, ping_s=dict(FAST_PINGS)), packaged_data())
    await ex.start()
    async with aiohttp.ClientSession() as session:
        reading = await session.ws_connect(ex.urls["futures_ws"] + "/market/ws/btcusdt@aggTrade",
                                           autoping=False)
        idle = await session.ws_connect(ex.urls["spot_ws"] + "/stream?streams=btcusdt@trade")  # never reads
        await asyncio.sleep(0.3)
        assert sum(s.open_connections for s in ex.streams.values()) == 2
        started = time.monotonic()
        await ex.stop()
        assert time.monotonic() - started < 2.0  # clients that do not answer the close get 0.5 s per market
        await receive_texts(reading, 2)
        assert reading.closed
        await idle.close()
