"""Many symbols: ``ingest --symbols`` with 50+ symbols and selectors through the CLI against the local exchange,
whose derived tapes serve them; fair sharing of the weight budget; the derived symbols' exact data."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.binance.endpoints import Market
from framework.binance.recorded import PACKAGED_DATA
from framework.binance.recorded import DataError
from framework.exchange.data import load_data
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.exchange.tape import fmt_units
from framework.ingest.fetch import FairShare
from framework.values import symbol_selector

ROOT = Path(__file__).resolve().parents[1]
MINUTE = 60_000
HOUR = 60 * MINUTE
#: A small budget in short windows, so 55 symbols' aggTrades need several windows of it.
WEIGHT_LIMIT, WINDOW_S = 1500, 4


@pytest.fixture(scope="module")
def exchange() -> Iterator:
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", weight_limit=WEIGHT_LIMIT,
                                            window_s=WINDOW_S)) as ex:
        yield ex


@pytest.fixture(scope="module")
def usdt_perps(exchange) -> list[str]:
    """What ``all-usdt-perp`` means on this exchange, from its exchangeInfo entries."""
    return symbol_selector("all-usdt-perp").select(exchange.data.futures.exchange_info["symbols"])


def ingest(ex, catalog: Path, symbols: str, kinds: str, start_ms: int, end_ms: int, *extra: str,
           stderr=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "framework.main", "ingest", "--catalog", str(catalog), "--market", "futures",
            "--symbols", symbols, "--kinds", kinds, "--start", str(start_ms), "--end", str(end_ms), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_PATH_SPOT": ex.urls["spot_http"],
           "BASE_PATH_FUTURES": ex.urls["futures_http"]}
    return subprocess.run(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=120,
                          stderr=subprocess.PIPE if stderr is None else stderr)


def in_terminal(run) -> tuple[subprocess.CompletedProcess, str]:
    """``run(stderr=...)`` with stderr a pseudo-terminal of 200 columns, as a user at a terminal sees it: (process,
    what it drew)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    drawn = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = run(stderr=slave)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return proc, drawn.decode(errors="replace")


def report(catalog: Path) -> list[dict]:
    return json.loads((catalog / "ingest_report.json").read_text())["series"]


def test_55_symbols_complete_with_one_display_and_no_429(exchange, usdt_perps, tmp_path: Path) -> None:
    symbols = usdt_perps[:55]
    limiter = exchange.limiters[Market.FUTURES]
    refused = limiter.refused_429, limiter.refused_418
    now = exchange.market.now()
    catalog = tmp_path / "catalog"
    # three hours of 1m klines, then a minute of aggTrades each: 55 x 4 aggTrades requests of weight 20 need
    # three windows of the budget, at a terminal
    klines = ingest(exchange, catalog, ",".join(symbols), "klines", now - 3 * HOUR, now)
    assert klines.returncode == 0, klines.stderr
    trades, drawn = in_terminal(lambda **kw: ingest(exchange, catalog, ",".join(symbols), "agg_trades",
                                                    now - 2 * MINUTE, now - MINUTE, **kw))
    assert trades.returncode == 0, drawn

    series = report(catalog)  # the second run's: its aggTrades series
    assert sorted(s["series"] for s in series) == sorted(f"futures {s} agg_trades" for s in symbols)
    assert all(s["missing_count"] == 0 and s["rows"] > 0 for s in series), series
    assert (limiter.refused_429, limiter.refused_418) == refused  # the client kept under the budget

    # one display: one line redrawn in place (no cursor moving between bars, no line per symbol) that counts the
    # series and says why it waited
    assert "\x1b[A" not in drawn
    progress = [line for line in drawn.split("\n") if "series done" in line]  # redraws end in \r, not \n
    assert len(progress) == 1, drawn
    assert "55/55 series done" in progress[0] and "waiting" in progress[0] and "for the weight budget" in drawn
    assert not any(f"futures {s} agg_trades" in drawn for s in symbols)

    # the catalog holds each symbol's exchange data: every aggTrade id once, every minute's bar
    cat = ParquetDataCatalog(str(catalog))
    for symbol in (symbols[0], symbols[27], symbols[-1]):
        tape = exchange.market.tape(Market.FUTURES, symbol)
        ids = [int(t.trade_id.value) for t in cat.query(TradeTick, identifiers=[f"{symbol}-PERP.BINANCE"])]
        assert ids == list(range(tape.first_agg_at(now - 2 * MINUTE), tape.last_agg_at(now - MINUTE) + 1))
        bars = cat.query(Bar, identifiers=[f"{symbol}-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"])
        assert len(bars) == 180
        last = tape.kline("1m", now - MINUTE, exchange.market.listed_ms, now)
        assert bars[-1].close.as_decimal() == Decimal(fmt_units(last.close, tape.price_decimals))


def test_a_selector_resolves_to_the_exchange_list(exchange, usdt_perps, tmp_path: Path) -> None:
    now = exchange.market.now()
    proc = ingest(exchange, tmp_path / "c", "all-usdt-perp", "klines", now - HOUR, now)
    assert proc.returncode == 0, proc.stderr
    assert f"futures all-usdt-perp: {len(usdt_perps)} symbols" in proc.stderr
    assert len(usdt_perps) >= 100 and "BTCUSDT" in usdt_perps and "BTCBUSD" not in usdt_perps
    series = report(tmp_path / "c")
    assert [s["series"] for s in series] == [f"futures {s} klines 1m" for s in usdt_perps]
    assert all(s["missing_count"] == 0 and s["rows"] == 60 for s in series)


def test_a_bad_symbol_among_60_is_one_line_before_any_download(exchange, usdt_perps, tmp_path: Path) -> None:
    symbols = [*usdt_perps[:30], "BTCUSTD", *usdt_perps[30:59]]
    config = tmp_path / "many.yaml"
    config.write_text(f"catalog: {tmp_path / 'c'}\nstart: \"2024-08-08\"\nmarkets:\n  futures:\n"
                      f"    symbols: [{', '.join(symbols)}]\n    kinds: [agg_trades, klines]\n")
    served = exchange.rest[Market.FUTURES].requests
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_PATH_SPOT": exchange.urls["spot_http"],
           "BASE_PATH_FUTURES": exchange.urls["futures_http"]}
    proc = subprocess.run([sys.executable, "-m", "framework.main", "ingest", str(config)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "BTCUSTD not listed on Binance futures (did you mean BTCUSDT?)" in errors[0]
    assert exchange.rest[Market.FUTURES].requests - served == 1  # exchangeInfo, nothing else
    assert not (tmp_path / "c").exists()


# -- sharing the budget --------------------------------------------------------------------------------------


async def test_fair_share_hands_slots_round_robin() -> None:
    share, order = FairShare(2), []

    async def request(series: str) -> None:
        async with share.turn(series):
            order.append(series)
            await asyncio.sleep(0.001)

    # a series with 30 pages queued first cannot hold back the two that come after it
    tasks = [asyncio.ensure_future(request("big")) for _ in range(30)]
    await asyncio.sleep(0)
    tasks += [asyncio.ensure_future(request(s)) for s in ("a", "b") for _ in range(5)]
    await asyncio.gather(*tasks)
    assert len(order) == 40 and share.free == 2
    assert max(order.index("a"), order.index("b")) < 6
    last_small = max(i for i, s in enumerate(order) if s != "big")
    assert last_small < 20 and order[last_small + 1:] == ["big"] * (39 - last_small)


async def test_fair_share_survives_cancelled_waiters() -> None:
    share = FairShare(1)
    turns = [share.turn("b") for _ in range(3)]
    async with share.turn("a"):
        waiting = [asyncio.ensure_future(turn.__aenter__()) for turn in turns]
        await asyncio.sleep(0)
        waiting[0].cancel()
        await asyncio.gather(waiting[0], return_exceptions=True)
    await asyncio.sleep(0)
    assert waiting[1].done() and not waiting[2].done()  # the slot went to the next live waiter
    await turns[1].__aexit__(None, None, None)
    await asyncio.sleep(0)
    assert waiting[2].done()
    await turns[2].__aexit__(None, None, None)
    assert share.free == 1 and share.granted == {"a": 1, "b": 2}


# -- the derived tapes -----------------------------------------------------------------------------------


def test_derived_symbols_are_the_recorded_market_scaled_exactly() -> None:
    data = load_data()
    base = data.futures.tapes["BTCUSDT"]
    spec = msgspec.json.decode((PACKAGED_DATA / "futures" / "tape" / "derived.json").read_bytes())
    assert len(data.futures.tapes) == 1 + len(spec) >= 100 and len(data.spot.tapes) >= 100
    for name in ("XRPUSDT", "ETHUSDT", "DOGEUSDT"):
        tape, price, qty = data.futures.tapes[name], Fraction(spec[name]["price"]), Fraction(spec[name]["qty"])
        value = lambda units, decimals: Fraction(units, 10**decimals)  # noqa: E731
        t = base.origin_ms + 17 * MINUTE
        k, kb = tape.kline("15m", t, 0, 10**15), base.kline("15m", t, 0, 10**15)
        for field in ("open", "high", "low", "close"):
            assert value(getattr(k, field), tape.price_decimals) == value(getattr(kb, field), base.price_decimals) * price
        assert value(k.volume, tape.qty_decimals) == value(kb.volume, base.qty_decimals) * qty
        assert value(k.quote_volume, tape.price_decimals + tape.qty_decimals) == \
            value(kb.quote_volume, base.price_decimals + base.qty_decimals) * price * qty
        assert k.trades == kb.trades and k.first_trade_id - kb.first_trade_id == spec[name]["ids"]
        # its prices are whole ticks of its own exchangeInfo entry
        tick = next(Decimal(f["tickSize"]) for f in data.futures.symbols[name]["filters"]
                    if f["filterType"] == "PRICE_FILTER")
        assert Decimal(fmt_units(k.high, tape.price_decimals)) % tick == 0
    # the recorded files are untouched and the recorded symbol serves as before
    assert data.futures.tapes["BTCUSDT"].source is None and not data.futures.added


def test_a_data_folder_derives_symbols_it_does_not_list(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(PACKAGED_DATA, tmp_path / "data")
    folder = tmp_path / "data" / "futures" / "tape"
    (folder / "derived.json").write_text(json.dumps({"FAKEUSDT": {"from": "BTCUSDT", "price": "0.5", "qty": "2"}}))
    data = load_data(tmp_path / "data")
    entry = data.futures.symbols["FAKEUSDT"]
    assert (entry["baseAsset"], entry["pair"]) == ("FAKE", "FAKEUSDT") and data.futures.added == [entry]
    with LocalExchangeThread(ExchangeConfig(data=tmp_path / "data", speed=0, start="recorded")) as ex:
        import urllib.request

        base = ex.urls["futures_http"]
        info = json.loads(urllib.request.urlopen(f"{base}/fapi/v1/exchangeInfo").read())
        assert info["symbols"][-1]["symbol"] == "FAKEUSDT"
        fake = json.loads(urllib.request.urlopen(f"{base}/fapi/v1/aggTrades?symbol=FAKEUSDT&limit=3").read())
        btc = json.loads(urllib.request.urlopen(f"{base}/fapi/v1/aggTrades?symbol=BTCUSDT&limit=3").read())
        assert [Decimal(a["p"]) for a in fake] == [Decimal(b["p"]) / 2 for b in btc]
        assert [Decimal(a["q"]) for a in fake] == [Decimal(b["q"]) * 2 for b in btc]
        book = json.loads(urllib.request.urlopen(f"{base}/fapi/v1/depth?symbol=FAKEUSDT&limit=5").read())
        btc_book = json.loads(urllib.request.urlopen(f"{base}/fapi/v1/depth?symbol=BTCUSDT&limit=5").read())
        assert Decimal(book["bids"][0][0]) == Decimal(btc_book["bids"][0][0]) / 2
    (folder / "derived.json").write_text(json.dumps({"FAKEUSDT": {"from": "BTCUSDT", "price": "0.03"}}))
    with pytest.raises(DataError, match="FAKEUSDT: its price factor leaves prices of BTCUSDT between two of "
                                        "FAKEUSDT's ticks"):
        load_data(tmp_path / "data")
    (folder / "derived.json").write_text(json.dumps({"FAKEUSDT": {"from": "ETHUSDT"}}))
    with pytest.raises(DataError, match="must name a recorded tape"):
        load_data(tmp_path / "data")
