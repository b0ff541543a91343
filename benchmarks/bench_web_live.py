"""Live mode of the web workstation (``serve --live``): live frame -> browser update latency at 100 frames/s, and the
server's CPU with 20 open pages, each beside a bare aiohttp relay of the same frames.

    .venv/bin/python benchmarks/bench_web_live.py            # 30 s per case
    .venv/bin/python benchmarks/bench_web_live.py --quick    # 6 s per case (smoke run)

The frames come from a minimal Binance USD-M stand-in in this process (``/fapi/v1/time``, ``/fapi/v1/klines``, and a
``btcusdt@kline_1m`` stream sending an open-kline update every 10 ms; each frame's close price numbers it, and its
send time is kept). Both servers run as processes of their own (their CPU is theirs alone):

* **serve**: ``python -m framework.main serve --live`` pointed at the stand-in (``--base-path-futures``,
  ``--stream-url-futures``) over a catalog of the hour before now: the gap-free feed decodes each frame, the hub numbers
  it and pushes a ``bar`` message to every page subscribed to BTCUSDT-PERP 1m (RSI and EMA on: their values are
  recomputed on the forming bar once a second);
* **relay** (the reference): a bare aiohttp server holding one websocket to the stand-in and writing each frame as
  it came to every client, no decoding.

Latency: Headless Chromium (Debian's, via Playwright) opens the page; for serve, the chart page (``live.js`` applies
each message with ``workstation.updateBar``, timed right after the chart's ``update`` returns); for the relay, a page
that parses each frame and times it. latency = page time - the stand-in's send time (one machine, one clock).

CPU: 20 websocket clients (aiohttp, in this process) subscribe as pages do; the server process's CPU time over the
run (``psutil``), in % of one core, and the messages delivered per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = "/usr/bin/chromium"
FRAMES_PER_S = 100
PAGES = 20
TOKEN = "bench-token-123"
SUBSCRIBE = {"type": "subscribe", "instrument": "BTCUSDT-PERP.BINANCE", "interval": "1m",
             "studies": [{"name": "rsi", "params": {"n": 14}}, {"name": "ema", "params": {"n": 21}}], "flow": None}
BASE_PRICE = 60_000.0


class FakeFutures:
    """A minimal Binance USD-M: server time, klines, and a 1m kline stream at ``FRAMES_PER_S`` open updates."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}  # frame number -> send time (epoch ms, float)
        self.numbers: dict[int, int] = {}  # close price in cents above BASE_PRICE -> the newest frame with it
        self.sockets: set[web.WebSocketResponse] = set()
        self.count = 0
        self.port = 0

    @staticmethod
    def _kline(open_ms: int, close: float, closed: bool) -> dict[str, Any]:
        price = f"{close:.2f}"
        return {"t": open_ms, "T": open_ms + 59_999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2, "o": price,
                "c": price, "h": f"{BASE_PRICE + 5_000:.2f}", "l": f"{BASE_PRICE - 5_000:.2f}", "v": "1.000",
                "n": 2, "x": closed, "q": price, "V": "0.5", "Q": "1", "B": "0"}

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def klines(self, request: web.Request) -> web.Response:
        now = int(time.time() * 1000)
        minute = now - now % 60_000
        rows = []
        for open_ms in range(minute - 30 * 60_000, minute + 1, 60_000):
            k = self._kline(open_ms, BASE_PRICE, open_ms < minute)
            rows.append([open_ms, k["o"], k["h"], k["l"], k["c"], k["v"], open_ms + 59_999, k["q"], 2, "0.5", "1", "0"])
        return web.json_response(rows)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            self.sockets.discard(ws)
        return ws

    async def pump(self) -> None:
        """One frame every 1/FRAMES_PER_S s on a fixed schedule, to every stream socket."""
        step = 1.0 / FRAMES_PER_S
        next_at = time.perf_counter()
        while True:
            next_at += step
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            self.count += 1
            n = self.count
            now_ms = time.time() * 1000
            minute = int(now_ms) - int(now_ms) % 60_000
            close = BASE_PRICE + (n % 100_000) / 100
            frame = json.dumps({"stream": "btcusdt@kline_1m", "data": {"e": "kline", "E": int(now_ms), "s": "BTCUSDT",
                                                                        "k": self._kline(minute, close, False)}})
            self.sent[n] = now_ms
            self.numbers[n % 100_000] = n
            for ws in list(self.sockets):
                if not ws.closed:
                    await ws.send_str(frame)

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/fapi/v1/time", self.time)
        app.router.add_get("/fapi/v1/klines", self.klines)
        app.router.add_get("/{prefix:.*}stream", self.stream)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    def number(self, close: float) -> int | None:
        """The frame a close price came from (the newest with that price)."""
        return self.numbers.get(round((close - BASE_PRICE) * 100))


RELAY_PAGE = """<!doctype html><script>
window.__lat = [];
const s = new WebSocket(`ws://${location.host}/ws`);
s.onmessage = (e) => { const m = JSON.parse(e.data); window.__lat.push([parseFloat(m.data.k.c), performance.timeOrigin + performance.now()]); };
</script>"""


def relay_main(exchange: str, ready: Any) -> None:
    """The reference: a bare aiohttp server relaying the stand-in's frames to every client, as they came."""

    async def main() -> None:
        clients: set[web.WebSocketResponse] = set()

        async def page(request: web.Request) -> web.Response:
            return web.Response(text=RELAY_PAGE, content_type="text/html")

        async def ws(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            clients.add(sock)
            try:
                async for _ in sock:
                    pass
            finally:
                clients.discard(sock)
            return sock

        async def upstream() -> None:
            async with aiohttp.ClientSession() as session, session.ws_connect(exchange) as up:
                async for msg in up:
                    for sock in list(clients):
                        if not sock.closed:
                            try:
                                await sock.send_str(msg.data)
                            except ConnectionError:  # a client that went: the others go on
                                clients.discard(sock)

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/ws", ws)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.put(runner.addresses[0][1])
        await upstream()

    asyncio.run(main())


def start_serve(catalog: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``serve --live`` on the stand-in; returns the process and the page URL."""
    out = open(catalog.parent / "serve.log", "w")  # noqa: SIM115 - the process writes it while it runs
    proc = subprocess.Popen([sys.executable, "-m", "framework.main", "serve", "--live", "--catalog", str(catalog),
                             "--runs", str(catalog.parent / "runs"), "--port", "0", "--token", TOKEN,
                             "--base-path-futures", f"http://127.0.0.1:{port}",
                             "--stream-url-futures", f"ws://127.0.0.1:{port}"],
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"at (http://\S+)", (catalog.parent / "serve.log").read_text())
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"serve did not start:\n{(catalog.parent / 'serve.log').read_text()}")


def write_catalog(folder: Path) -> Path:
    """An hour of synthetic BTCUSDT-PERP 1m bars ending at this minute (the chart page needs an instrument)."""
    from framework.backtest.synthetic import SyntheticMarket
    from framework.backtest.synthetic import write_synthetic

    minute = int(time.time()) // 60 * 60 * 10**9
    return write_synthetic(folder / "catalog", SyntheticMarket(start_ns=minute - 3600 * 10**9, minutes=60,
                                                              spot=False, statistics=False, price=BASE_PRICE))


async def browser_latency(fake: FakeFutures, url: str, seconds: float, ours: bool) -> np.ndarray:
    """Page time - send time (ms) of every frame the page applied during ``seconds``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox",
                                                                          "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        await page.goto(url)
        if ours:
            await page.wait_for_function("window.workstation.live && window.workstation.live.applied() > 10",
                                         timeout=60_000)
            await page.evaluate("""() => { const ws = window.workstation; const update = ws.updateBar;
                window.__lat = [];
                ws.updateBar = (bar) => { update(bar); window.__lat.push([bar.close, performance.timeOrigin + performance.now()]); };
            }""")
        else:
            await page.wait_for_function("window.__lat.length > 10", timeout=60_000)
            await page.evaluate("() => { window.__lat = []; }")
        await asyncio.sleep(seconds)
        pairs = await page.evaluate("window.__lat")
        await browser.close()
    out = []
    for close, t in pairs:
        n = fake.number(close)
        if n is not None:
            out.append(t - fake.sent[n])
    return np.array(out)


async def cpu_of_pages(fake: FakeFutures, pid: int, url: str, seconds: float,
                       ours: bool) -> tuple[float, float, np.ndarray]:
    """(% of one core used by process ``pid``, messages/s delivered, receive time - send time of each frame in ms)
    with ``PAGES`` websocket clients."""
    received = 0
    latency: list[float] = []

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal received
        async with session.ws_connect(url) as ws:
            if ours:
                await ws.send_json(SUBSCRIBE)
            async for msg in ws:
                now = time.time() * 1000
                received += 1
                data = json.loads(msg.data)
                close = data["close"] if ours and data.get("type") == "bar" else None if ours else \
                    float(data["data"]["k"]["c"])
                n = None if close is None else fake.number(close)
                if n is not None:
                    latency.append(now - fake.sent[n])

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.ensure_future(client(session)) for _ in range(PAGES)]
        await asyncio.sleep(3.0)  # connected, subscribed, warm
        proc = psutil.Process(pid)
        before, got, t0 = proc.cpu_times(), received, time.perf_counter()
        latency.clear()
        await asyncio.sleep(seconds)
        after, wall = proc.cpu_times(), time.perf_counter() - t0
        rate = (received - got) / wall
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    cpu = (after.user + after.system - before.user - before.system) / wall * 100
    return cpu, rate, np.array(latency)


async def settled(url: str) -> None:
    """Until the paper-trading node has started (or given up: the stand-in serves no exchangeInfo): its start-up
    (Nautilus imports, the node's build) would weigh on the measurements."""
    base = url.split("/?")[0]
    async with aiohttp.ClientSession(headers={"X-Token": TOKEN}) as session:
        for _ in range(600):
            async with session.get(f"{base}/api/paper") as r:
                if (await r.json())["state"] != "starting":
                    return
            await asyncio.sleep(0.2)


def stats(lat: np.ndarray) -> str:
    if not len(lat):
        return "no samples"
    return (f"{len(lat):6d} frames  p50 {np.percentile(lat, 50):6.1f} ms  p99 {np.percentile(lat, 99):6.1f} ms  "
            f"max {lat.max():6.1f} ms")


async def main(seconds: float) -> None:
    fake = FakeFutures()
    runner = await fake.start()
    pump = asyncio.ensure_future(fake.pump())
    with tempfile.TemporaryDirectory() as tmp:
        catalog = write_catalog(Path(tmp))
        proc, url = start_serve(catalog, fake.port)
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        relay = context.Process(target=relay_main, args=(f"ws://127.0.0.1:{fake.port}/market/stream", ready),
                                daemon=True)
        relay.start()
        relay_base = f"http://127.0.0.1:{ready.get(timeout=60)}"
        try:
            await settled(url)
            print(f"web live mode, {FRAMES_PER_S} frames/s, {seconds:g} s per case, {os.cpu_count()} cores")
            ours = await browser_latency(fake, url + "&symbol=BTCUSDT&market=futures&interval=1m", seconds, True)
            bare = await browser_latency(fake, relay_base + "/", seconds, False)
            print("frame -> browser update latency (one page):")
            print(f"  serve --live (feed, hub, live.js, chart)  {stats(ours)}")
            print(f"  bare aiohttp relay (reference)            {stats(bare)}")
            base = url.split("/?")[0].replace("http://", "ws://")
            cpu, rate, ws_ours = await cpu_of_pages(fake, proc.pid, f"{base}/api/ws?token={TOKEN}", seconds, True)
            cpu_ref, rate_ref, ws_bare = await cpu_of_pages(fake, relay.pid, relay_base.replace("http://", "ws://")
                                                            + "/ws", seconds, False)
            print(f"CPU with {PAGES} open pages (websocket clients), live updates at {FRAMES_PER_S} frames/s:")
            print(f"  serve --live                               {cpu:5.1f} % of one core, {rate:7.0f} messages/s out")
            print(f"  bare aiohttp relay (reference)             {cpu_ref:5.1f} % of one core, {rate_ref:7.0f} "
                  "messages/s out")
            print(f"frame -> websocket client latency ({PAGES} clients, no browser):")
            print(f"  serve --live                              {stats(ws_ours)}")
            print(f"  bare aiohttp relay (reference)            {stats(ws_bare)}")
            print(f"summary: latency p99 {np.percentile(ours, 99):.1f} ms (relay {np.percentile(bare, 99):.1f} ms); "
                  f"{PAGES} pages {cpu:.0f} % of a core (relay {cpu_ref:.0f} %)")
        finally:
            proc.terminate()
            proc.wait(30)
            relay.terminate()
            pump.cancel()
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 s per case")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(main(6.0 if args.quick else args.seconds))
