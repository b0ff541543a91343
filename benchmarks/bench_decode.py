"""Decode throughput: recorded Binance stream frames and REST pages, ours vs json / orjson / Nautilus.

    .venv/bin/python benchmarks/bench_decode.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_decode.py --quick    # smoke run (seconds)

Stream frames (msgs/s): the 1910 real spot aggTrade frames repeated to ~1M, the USD-M trade frames of the
futures capture, and the whole USD-M capture (bookTicker + depth + trade) through one decoder. REST pages
(rows/s): aggTrades pages of 1000 rows and klines pages of 1000 (spot) / 1500 (USD-M) rows, fetched once from
the local exchange (or, with --offline or if it cannot start, built in Binance's exact shape from the data
sets). Each case: a warm-up, then the best of N timed passes per decoder (time.perf_counter), the decoders
taking turns; the garbage collector stays on, as in a live process. Nothing is asserted: numbers depend on
the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import platform
import resource
import sys
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from framework.binance import schemas as rest  # noqa: E402
from framework.binance.endpoints import Market  # noqa: E402
from framework.binance.stream_decoder import StreamDecoder  # noqa: E402
from framework.binance.stream_schemas import FuturesTradeEvent  # noqa: E402
from framework.binance.stream_schemas import SpotAggTradeEvent  # noqa: E402
from framework.binance.streams import payload_type  # noqa: E402

RSS_OURS_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before nautilus_trader is imported

try:
    import nautilus_trader
    from nautilus_trader.adapters.binance.common.schemas.market import BinanceAggregatedTradeMsg
    from nautilus_trader.adapters.binance.common.schemas.market import BinanceAggTrade
    from nautilus_trader.adapters.binance.common.schemas.market import BinanceDataMsgWrapper
    from nautilus_trader.adapters.binance.common.schemas.market import BinanceKline
    from nautilus_trader.adapters.binance.common.schemas.market import BinanceOrderBookMsg
    from nautilus_trader.adapters.binance.common.schemas.market import BinanceQuoteMsg
    from nautilus_trader.adapters.binance.futures.schemas.market import BinanceFuturesTradeMsg

    NAUTILUS = nautilus_trader.__version__
except ImportError:  # the comparison rows are skipped
    NAUTILUS = None

SHARED = ROOT / "tests" / "fixtures" / "binance"  # the repo's copy of the recorded fixtures
DATASETS = SHARED / "datasets"
AGG_FRAMES = DATASETS / "spot_aggTrade_frames" / "BTC_ETH_DOT_USDT_aggTrade_2021-04-04.jsonl"
FUT_CAPTURE = DATASETS / "futures_stream_capture" / "btcusdt_20240808.gz"
SPOT_KLINES_CSV = DATASETS / "spot_klines_1h" / "BTCUSDT-1h-2022-01.csv"
FUT_KLINES_CSV = DATASETS / "futures_um_klines_1m" / "LINKUSDT-1m-2023-02.csv"


# ---- measuring -------------------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    decoder: str
    items: int  # messages or rows per timed pass
    nbytes: int  # bytes per timed pass
    seconds: float  # best pass

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def timed(inputs: Sequence[Any], passes: int, decode: Callable[[Any], Any]) -> float:
    """Wall time of decoding ``inputs`` ``passes`` times."""
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(passes):
        for x in inputs:
            decode(x)
    return time.perf_counter() - t0


def best_times(inputs: Sequence[Any], passes: int, decoders: Sequence[tuple[str, Callable[[Any], Any]]],
               warm: Sequence[Any], repeats: int) -> list[float]:
    """Best time per decoder over ``repeats`` rounds; rounds interleave the decoders, so a noisy neighbour
    on the machine slows all of them rather than one."""
    for _, decode in decoders:
        for x in warm:
            decode(x)
    best = [float("inf")] * len(decoders)
    for _ in range(repeats):
        for i, (_, decode) in enumerate(decoders):
            best[i] = min(best[i], timed(inputs, passes, decode))
    return best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---- inputs ----------------------------------------------------------------------------------------------


def read_frames(path: Path) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in path.read_bytes().splitlines() if line.strip()]


def read_capture(path: Path) -> list[bytes]:
    """Stream frames of a ``<recv ns> <frame>`` capture (its REST depth snapshot left out)."""
    with gzip.open(path, "rb") as f:
        frames = [line.rstrip(b"\r\n").split(b" ", 1)[1] for line in f if line.strip()]
    return [f for f in frames if f.startswith(b'{"stream":')]


def fetch_pages(n_pages: int) -> dict[str, list[bytes]]:
    """REST bodies from the local exchange: aggTrades paged by fromId, klines by endTime."""
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchangeThread

    def get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read()

    pages: dict[str, list[bytes]] = {}
    with LocalExchangeThread(ExchangeConfig(speed=0, history="7d")) as ex:
        spot, fut = ex.urls["spot_http"], ex.urls["futures_http"]
        for key, base, path in (("spot aggTrades", spot, "/api/v3/aggTrades"),
                                ("USD-M aggTrades", fut, "/fapi/v1/aggTrades")):
            latest = json.loads(get(f"{base}{path}?symbol=BTCUSDT&limit=1000"))
            first = latest[0]["a"]
            pages[key] = [get(f"{base}{path}?symbol=BTCUSDT&limit=1000&fromId={first - 1000 * i}")
                          for i in range(1, n_pages + 1)]
        for key, base, path, limit in (("spot klines", spot, "/api/v3/klines", 1000),
                                       ("USD-M klines", fut, "/fapi/v1/klines", 1500)):
            latest = json.loads(get(f"{base}{path}?symbol=BTCUSDT&interval=1m&limit={limit}"))
            end = latest[-1][0]
            bodies = []
            for _ in range(n_pages):
                bodies.append(get(f"{base}{path}?symbol=BTCUSDT&interval=1m&limit={limit}&endTime={end}"))
                end = json.loads(bodies[-1])[0][0] - 1
            pages[key] = bodies
    for key, bodies in pages.items():  # the exact page sizes the cases are named after
        want = 1500 if key == "USD-M klines" else 1000
        if any(len(json.loads(b)) != want for b in bodies):
            raise RuntimeError(f"local exchange served a short {key} page")
    return pages


def _dump(rows: list) -> bytes:
    return json.dumps(rows, separators=(",", ":")).encode()


def build_pages() -> dict[str, list[bytes]]:
    """REST bodies in Binance's exact shape, built from the data sets (no exchange needed)."""
    agg = [json.loads(f)["data"] for f in read_frames(AGG_FRAMES)]
    spot_rows = [{k: d[k] for k in ("a", "p", "q", "f", "l", "T", "m", "M")} for d in agg]
    trades = [json.loads(f)["data"] for f in read_capture(FUT_CAPTURE) if b"@trade" in f[:40]]
    fut_rows = [{"a": t["t"], "p": t["p"], "q": t["q"], "f": t["t"], "l": t["t"], "T": t["T"], "m": t["m"]}
                for t in trades]

    def kline(r: list[str]) -> list:
        return [int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], int(r[8]), r[9], r[10], r[11]]

    with FUT_KLINES_CSV.open() as f:
        fut_klines = [kline(r) for r in csv.reader(f) if r and r[0].isdigit()]  # skip a header row
    with SPOT_KLINES_CSV.open() as f:
        spot_klines = [kline(r) for r in csv.reader(f) if r and r[0].isdigit()]
    while len(spot_klines) < 1000:  # January has 744 hourly bars: repeat them to a full page
        spot_klines = spot_klines + spot_klines

    def pages(rows: list, size: int) -> list[bytes]:
        return [_dump(rows[i:i + size]) for i in range(0, len(rows) - size + 1, size)] or [_dump(rows[:size])]

    return {
        "spot aggTrades": [_dump(spot_rows[:1000]), _dump(spot_rows[-1000:])],
        "USD-M aggTrades": pages(fut_rows, 1000)[:10],
        "spot klines": [_dump(spot_klines[:1000])],
        "USD-M klines": pages(fut_klines, 1500)[:10],
    }


# ---- decoders --------------------------------------------------------------------------------------------

# The Nautilus data client's stream dispatch: decode the wrapper, substring-match every handler key, decode
# the frame again with the handler's Struct (nautilus_trader/adapters/binance/data.py, _handle_ws_message).
NAUTILUS_SPOT_KEYS = ("@bookTicker", "@ticker", "@kline", "@trade", "@aggTrade", "@depth@", "@depth5",
                      "@depth10", "@depth20")
NAUTILUS_FUTURES_KEYS = (*NAUTILUS_SPOT_KEYS, "@markPrice", "!markPrice@arr")


def nautilus_adapter(keys: tuple[str, ...], decoders: dict[str, msgspec.json.Decoder]) -> Callable:
    wrapper = msgspec.json.Decoder(BinanceDataMsgWrapper).decode
    handlers = {k: decoders.get(k) for k in keys}

    def handle(raw: bytes) -> Any:
        msg = wrapper(raw)
        if not msg.stream:
            return None
        out = None
        for key in handlers:
            if key in msg.stream:
                decoder = handlers[key]
                if decoder is not None:
                    out = decoder.decode(raw)
        return out

    return handle


def envelope_dispatch(market: Market) -> Callable[[bytes], Any]:
    """Alternative design: decode {"stream", "data": Raw}, look the stream up, decode data."""

    class Envelope(msgspec.Struct, gc=False):
        stream: str
        data: msgspec.Raw

    envelope = msgspec.json.Decoder(Envelope).decode
    decoders: dict[str, msgspec.json.Decoder] = {}

    def decode(frame: bytes) -> tuple[str, Any]:
        env = envelope(frame)
        decoder = decoders.get(env.stream)
        if decoder is None:
            decoder = decoders[env.stream] = msgspec.json.Decoder(payload_type(market, env.stream))
        return env.stream, decoder.decode(env.data)

    return decode


def prefix_dispatch(market: Market) -> Callable[[bytes], Any]:
    """Alternative design: slice the stream name out of the bytes, decode with its stream's wrapper Struct."""

    class Wrapped(msgspec.Struct, gc=False):
        stream: str
        data: msgspec.Raw

    general = msgspec.json.Decoder(Wrapped).decode
    by_name: dict[bytes, tuple[str, msgspec.json.Decoder]] = {}

    def decode(frame: bytes) -> tuple[str, Any]:
        hit = by_name.get(frame[11:frame.find(b'"', 11)])
        if hit is None:
            stream = general(frame).stream
            wrapper = msgspec.defstruct("Msg", [("data", payload_type(market, stream))], gc=False)
            hit = by_name[stream.encode()] = (stream, msgspec.json.Decoder(wrapper))
        return hit[0], hit[1].decode(frame).data

    return decode


def single_type(payload: Any) -> Callable[[bytes], Any]:
    """Upper bound: one known stream type, no dispatch (the wrapper Struct decoded directly)."""
    wrapper = msgspec.defstruct("Msg", [("data", payload)], frozen=True, gc=False)
    return msgspec.json.Decoder(wrapper).decode


def stream_decoders(market: Market, nautilus: dict[str, msgspec.json.Decoder] | None, keys: tuple[str, ...],
                    single: Any = None, alternatives: bool = False) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("ours: StreamDecoder.decode", StreamDecoder(market).decode)]
    if alternatives:
        out += [("ours, alt: envelope Raw + dispatch", envelope_dispatch(market)),
                ("ours, alt: prefix slice + dispatch", prefix_dispatch(market))]
    if single is not None:
        out.append(("ours: one stream type, no dispatch", single_type(single)))
    if nautilus is not None and NAUTILUS:
        out.append(("nautilus: adapter dispatch + Msg", nautilus_adapter(keys, nautilus)))
        if len(nautilus) == 1:
            out.append(("nautilus: Msg Struct alone", next(iter(nautilus.values())).decode))
    out += [("json.loads", json.loads), ("orjson.loads", orjson.loads)]
    return out


# ---- report ----------------------------------------------------------------------------------------------


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def print_table(rows: list[Row]) -> None:
    headers = ("case", "decoder", "items/s", "ns/item", "MB/s", "x json")
    json_rate = {r.case: r.rate for r in rows if r.decoder == "json.loads"}
    body = []
    for r in rows:
        rel = r.rate / json_rate[r.case] if r.case in json_rate else float("nan")
        body.append((r.case, r.decoder, fmt_int(r.rate), f"{1e9 / r.rate:,.0f}",
                     f"{r.nbytes / r.seconds / 1e6:,.0f}", f"{rel:.2f}"))
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
    right = (False, False, True, True, True, True)

    def line(cells: Sequence[str]) -> str:
        cols = zip(cells, widths, right, strict=True)
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in cols)

    print(line(headers))
    print(line(["-" * w for w in widths]))
    last = None
    for r, b in zip(rows, body, strict=True):
        if last is not None and r.case != last:
            print()
        print(line(b if r.case != last else ("", *b[1:])))
        last = r.case


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: ~50k frames, 1 repeat")
    ap.add_argument("--frames", type=int, default=None, help="frames per timed pass (default 1,000,000)")
    ap.add_argument("--rows", type=int, default=None, help="REST rows per timed pass (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=None, help="timed passes per case, best kept (default 3)")
    ap.add_argument("--offline", action="store_true", help="build REST pages from the data sets")
    args = ap.parse_args(argv)
    frames_target = args.frames or (50_000 if args.quick else 1_000_000)
    rows_target = args.rows or (50_000 if args.quick else 1_000_000)
    repeats = args.repeats or (1 if args.quick else 3)

    started = time.perf_counter()
    rows: list[Row] = []
    rss: list[tuple[str, float]] = [("our imports", RSS_OURS_MB), ("+ nautilus_trader import", peak_rss_mb())]

    def stream_case(name: str, market: Market, frames: list[bytes], decoders: list[tuple[str, Any]]) -> None:
        passes = max(1, round(frames_target / len(frames)))
        nbytes = sum(map(len, frames)) * passes
        label = f"{name} ({fmt_int(len(frames) * passes)} msgs)"
        seconds = best_times(frames, passes, decoders, frames[:20_000], repeats)
        for (dname, _), secs in zip(decoders, seconds, strict=True):
            rows.append(Row(label, dname, len(frames) * passes, nbytes, secs))
        rss.append((name, peak_rss_mb()))

    # -- streams --
    agg = read_frames(AGG_FRAMES)
    capture = read_capture(FUT_CAPTURE)
    fut_trades = [f for f in capture if f.startswith(b'{"stream":"btcusdt@trade"')]
    nt_agg = {"@aggTrade": msgspec.json.Decoder(BinanceAggregatedTradeMsg)} if NAUTILUS else None
    nt_trade = {"@trade": msgspec.json.Decoder(BinanceFuturesTradeMsg)} if NAUTILUS else None
    nt_mixed = {"@trade": msgspec.json.Decoder(BinanceFuturesTradeMsg),
                "@bookTicker": msgspec.json.Decoder(BinanceQuoteMsg),
                "@depth@": msgspec.json.Decoder(BinanceOrderBookMsg)} if NAUTILUS else None
    stream_case("spot aggTrade frames", Market.SPOT, agg,
                stream_decoders(Market.SPOT, nt_agg, NAUTILUS_SPOT_KEYS, SpotAggTradeEvent,
                                alternatives=True))
    stream_case("USD-M trade frames", Market.FUTURES, fut_trades,
                stream_decoders(Market.FUTURES, nt_trade, NAUTILUS_FUTURES_KEYS, FuturesTradeEvent))
    stream_case("USD-M capture, mixed", Market.FUTURES, capture,
                stream_decoders(Market.FUTURES, nt_mixed, NAUTILUS_FUTURES_KEYS, alternatives=True))
    del agg, capture, fut_trades

    # -- REST pages --
    source = "local exchange (ExchangeConfig(speed=0, history='7d'), BTCUSDT)"
    pages: dict[str, list[bytes]] | None = None
    if not args.offline:
        try:
            pages = fetch_pages(2 if args.quick else 4)  # 4 x 1500 1m klines fit the 7 days of history
        except Exception as e:  # noqa: BLE001 (any failure: fall back to the data sets)
            source = f"data sets (local exchange failed: {type(e).__name__}: {e})"
    if pages is None:
        pages = build_pages()
        if args.offline:
            source = "data sets (--offline)"
    rest_types = {
        "spot aggTrades": (list[rest.SpotAggTrade], list[BinanceAggTrade] if NAUTILUS else None),
        "USD-M aggTrades": (list[rest.FuturesAggTrade], list[BinanceAggTrade] if NAUTILUS else None),
        "spot klines": (list[rest.Kline], list[BinanceKline] if NAUTILUS else None),
        "USD-M klines": (list[rest.Kline], list[BinanceKline] if NAUTILUS else None),
    }
    for key, bodies in pages.items():
        per_page = len(json.loads(bodies[0]))
        page_rows = sum(len(json.loads(b)) for b in bodies)
        passes = max(1, round(rows_target / page_rows))
        label = f"REST {key}, {len(bodies)} x {per_page} rows ({fmt_int(page_rows * passes)} rows)"
        ours, theirs = rest_types[key]
        decoders = [("ours: schemas Struct list", msgspec.json.Decoder(ours).decode)]
        if theirs is not None:
            decoders.append(("nautilus: adapter Struct list", msgspec.json.Decoder(theirs).decode))
        decoders += [("json.loads", json.loads), ("orjson.loads", orjson.loads)]
        nbytes = sum(map(len, bodies)) * passes
        seconds = best_times(bodies, passes, decoders, bodies, repeats)
        for (dname, _), secs in zip(decoders, seconds, strict=True):
            rows.append(Row(label, dname, page_rows * passes, nbytes, secs))
        rss.append((f"REST {key}", peak_rss_mb()))

    # -- report --
    print(f"bench_decode: Python {platform.python_version()}, msgspec {msgspec.__version__}, orjson "
          f"{orjson.__version__}, nautilus_trader {NAUTILUS or 'absent'}; {platform.machine()}, "
          f"best of {repeats} after a warm-up{' (--quick)' if args.quick else ''}")
    print(f"REST pages from: {source}")
    print("items = messages (stream cases) or rows (REST cases); x json = rate / json.loads rate")
    print()
    print_table(rows)
    print()
    print("peak RSS (MB) after: " + ", ".join(f"{name} {mb:.0f}" for name, mb in rss))

    def rate(case_prefix: str, decoder: str) -> float:
        return next(r.rate for r in rows if r.case.startswith(case_prefix) and r.decoder == decoder)

    ours_agg = rate("spot aggTrade", "ours: StreamDecoder.decode")
    parts = [f"StreamDecoder {ours_agg / 1e6:.2f} M msgs/s on spot aggTrade frames",
             f"{ours_agg / rate('spot aggTrade', 'json.loads'):.1f}x json.loads",
             f"{ours_agg / rate('spot aggTrade', 'orjson.loads'):.1f}x orjson.loads"]
    if NAUTILUS:
        nautilus_rate = rate("spot aggTrade", "nautilus: adapter dispatch + Msg")
        parts.append(f"{ours_agg / nautilus_rate:.1f}x the Nautilus adapter path")
    rest_rate = rate("REST spot aggTrades", "ours: schemas Struct list")
    parts.append(f"REST spot aggTrades {rest_rate / 1e6:.2f} M rows/s")
    parts.append(f"peak RSS {peak_rss_mb():.0f} MB; {time.perf_counter() - started:.0f} s")
    print("summary: " + "; ".join(parts))


if __name__ == "__main__":
    main()
