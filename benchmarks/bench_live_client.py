"""Frames/s through the live data clients' parse-and-publish path: ours beside Nautilus's built-in Binance client.

    .venv/bin/python benchmarks/bench_live_client.py            # ~1M frames per case
    .venv/bin/python benchmarks/bench_live_client.py --quick    # smoke run (seconds)

Both clients are built by their factories on one MessageBus whose ``DataEngine.process`` endpoint counts what
arrives, and get the same frames as bytes, one call per frame: ours ``MarketFeed.on_frame`` (msgspec union
decode, latency observation, the gap-free sequence, exact ``TradeTick.from_raw``, publish), Nautilus's
``_handle_ws_message`` (wrapper decode, substring dispatch, Msg decode, ``parse_to_trade_tick``, publish).

Frames: the real spot aggTrade frames (BTC/ETH/DOT, ``bench_decode``'s set) with ids renumbered to run
contiguously per symbol (so our sequence delivers every frame instead of dropping repeats as duplicates), and
USD-M BTCUSDT aggTrade frames built from the local exchange's tape. Best of N passes; one core.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import platform
import sys
import time
import urllib.request
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decode import AGG_FRAMES  # noqa: E402
from bench_decode import peak_rss_mb  # noqa: E402
from bench_decode import read_frames  # noqa: E402
from nautilus_trader.adapters.binance import BinanceAccountType  # noqa: E402
from nautilus_trader.adapters.binance import BinanceDataClientConfig  # noqa: E402
from nautilus_trader.adapters.binance import BinanceLiveDataClientFactory  # noqa: E402
from nautilus_trader.cache.cache import Cache  # noqa: E402
from nautilus_trader.common.component import LiveClock  # noqa: E402
from nautilus_trader.common.component import MessageBus  # noqa: E402
from nautilus_trader.model.identifiers import TraderId  # noqa: E402

from framework.binance.endpoints import Market  # noqa: E402
from framework.binance.endpoints import endpoint  # noqa: E402
from framework.data.instruments import parse_instruments  # noqa: E402
from framework.exchange.server import ExchangeConfig  # noqa: E402
from framework.exchange.server import LocalExchangeThread  # noqa: E402
from framework.live.config import BinanceFrameworkDataClientConfig  # noqa: E402
from framework.live.factories import BinanceFrameworkDataClientFactory  # noqa: E402


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def spot_frames() -> list[bytes]:
    """The recorded spot aggTrade frames, ids renumbered contiguously per symbol."""
    out, next_id = [], {}
    for raw in read_frames(AGG_FRAMES):
        frame = json.loads(raw)
        sym = frame["data"]["s"]
        next_id[sym] = next_id.get(sym, 1_000_000) + 1
        frame["data"]["a"] = next_id[sym]
        out.append(json.dumps(frame, separators=(",", ":")).encode())
    return out


def futures_frames(urls: dict[str, str], pages: int) -> list[bytes]:
    """USD-M BTCUSDT aggTrade frames in Binance's shape, from the local exchange's REST pages."""
    base = urls["futures_http"] + "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1000"
    first = json.loads(_get(base))[0]["a"] - 1000 * pages
    frames = []
    for i in range(pages):
        for row in json.loads(_get(f"{base}&fromId={first + 1000 * i}")):
            data = {"e": "aggTrade", "E": row["T"] + 5, "a": row["a"], "s": "BTCUSDT", "p": row["p"], "q": row["q"],
                    "f": row["f"], "l": row["l"], "T": row["T"], "m": row["m"]}
            frames.append(json.dumps({"stream": "btcusdt@aggTrade", "data": data}, separators=(",", ":")).encode())
    return frames


def instruments(urls: dict[str, str], market: Market) -> dict:
    body = _get(urls[f"{market.value}_http"] + endpoint(market, "exchange_info").path)
    info = msgspec.json.decode(body, type=endpoint(market, "exchange_info").schema)
    return {i.raw_symbol.value: i for i in parse_instruments(market, info)}


class Sink:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, msg: object) -> None:
        self.n += 1


def build(market: Market, urls: dict[str, str], frames: list[bytes], insts: dict) -> tuple:
    """(ours, nautilus, sink): both clients on one bus; ours subscribed to every symbol of ``frames``."""
    loop = asyncio.new_event_loop()
    clock = LiveClock()
    bus = MessageBus(TraderId("BENCH-001"), clock)
    sink = Sink()
    bus.register("DataEngine.process", sink)
    cache = Cache()
    ours = BinanceFrameworkDataClientFactory.create(
        loop, "BINANCE", BinanceFrameworkDataClientConfig(market=market.value, urls=None,
                                                          base_url_http=urls[f"{market.value}_http"],
                                                          base_url_ws=urls[f"{market.value}_ws"]),
        bus, cache, clock)
    first: dict[str, int] = {}
    for raw in frames:
        data = msgspec.json.decode(raw)["data"]
        first.setdefault(data["s"], data["a"])
    for symbol, a in first.items():
        ours.feed.agg_trades(symbol, ours._trade_handler(insts[symbol]), last_id=a - 1)
    account = BinanceAccountType.SPOT if market is Market.SPOT else BinanceAccountType.USDT_FUTURES
    theirs = BinanceLiveDataClientFactory.create(
        loop, "BINANCE-NT", BinanceDataClientConfig(account_type=account, base_url_http=urls[f"{market.value}_http"],
                                                    base_url_ws=urls[f"{market.value}_ws"], use_agg_trade_ticks=True),
        bus, cache, clock)
    return ours, theirs, sink, loop


def timed(fn, frames: list[bytes], rounds: int, prep) -> float:
    """Seconds to push ``frames`` through ``fn`` ``rounds`` times (``prep`` before each round, not timed)."""
    gc.collect()
    total = 0.0
    for _ in range(rounds):
        prep()
        t0 = time.perf_counter()
        for f in frames:
            fn(f)
        total += time.perf_counter() - t0
    return total


def case(name: str, market: Market, frames: list[bytes], urls: dict[str, str], target: int, repeats: int) -> list:
    insts = instruments(urls, market)
    ours, theirs, sink, loop = build(market, urls, frames, insts)
    rounds = max(1, target // len(frames))
    recv = time.time_ns()
    on_frame = ours.feed.on_frame
    firsts = {n: s.last for n, s in ours.feed.sequences.items()}

    def rewind() -> None:  # each round replays the same ids: put the sequences back before them
        for n, seq in ours.feed.sequences.items():
            seq.last = firsts[n]

    rows = []
    clients = (("ours (framework.live)", lambda f: on_frame(f, recv), rewind),
               ("Nautilus built-in", theirs._handle_ws_message, lambda: None))
    for label, fn, prep in clients:
        timed(fn, frames[:2000], 1, prep)  # warm-up
        before = sink.n
        secs = min(timed(fn, frames, rounds, prep) for _ in range(repeats))
        published = (sink.n - before) // repeats
        rows.append((name, label, len(frames) * rounds, secs, published))
    loop.close()
    stats = ours.feed.stats()
    assert stats["malformed"] == 0 and stats["handler_errors"] == 0, stats
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (~50k frames per case)")
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames per timed pass and client")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pages", type=int, default=100, help="USD-M aggTrades pages of 1000 for the frames")
    args = ap.parse_args()
    logging.getLogger("framework.live.latency").setLevel(logging.ERROR)  # recorded frames are old by design
    target = 50_000 if args.quick else args.frames
    pages = 10 if args.quick else args.pages
    print(f"python {platform.python_version()}, {platform.machine()}, one core; best of {args.repeats}")
    rows = []
    with LocalExchangeThread(ExchangeConfig(speed=0, history="1d")) as ex:
        rows += case("spot aggTrade (recorded frames)", Market.SPOT, spot_frames(), ex.urls, target, args.repeats)
        rows += case("USD-M aggTrade (tape frames)", Market.FUTURES, futures_frames(ex.urls, pages), ex.urls, target,
                     args.repeats)
    print(f"{'case':34} {'client':24} {'frames':>10} {'frames/s':>12} {'us/frame':>9} {'published':>10}")
    for name, label, n, secs, published in rows:
        print(f"{name:34} {label:24} {n:>10,} {n / secs:>12,.0f} {secs / n * 1e6:>9.2f} {published:>10,}")
    summary = []
    for i in range(0, len(rows), 2):
        ours, theirs = rows[i], rows[i + 1]
        summary.append(f"{ours[0].split(' ')[0]} ours {ours[2] / ours[3]:,.0f}/s vs built-in "
                       f"{theirs[2] / theirs[3]:,.0f}/s (x{(ours[2] / ours[3]) / (theirs[2] / theirs[3]):.2f})")
    print(f"summary: {'; '.join(summary)}; target >= 200,000 frames/s and not slower than built-in; "
          f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
