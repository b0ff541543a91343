"""Rebuild ``framework/binance/recordings`` from the recorded fixtures (``tests/fixtures/binance``, a copy of the shared ones).

The local exchange ships this compact copy so that ``--offline`` works from an installed project.
Run: ``python scripts/build_exchange_data.py [FIXTURES_DIR]``. Values are copied, never changed:
REST bodies byte-for-byte (large ones gzipped), trade tapes as CSV rows holding the frames' exact strings.

Then each market's ``tape/derived.json`` is written (``--derived`` writes only these, from the packaged
exchangeInfo): every symbol the recorded exchangeInfo lists as trading, quoted in USDT (USD-M: perpetual), is
derived from the recorded BTCUSDT tape (``framework/exchange/data.py``): prices times tick / BTCUSDT's tick x m
(m >= 1, the whole number bringing the level nearest the symbol's recorded mark price, where there is one),
quantities times step / BTCUSDT's step, ids shifted by the position x 10**9, the seed by the position.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "framework" / "binance" / "recordings"
GZIP_OVER = 16_384

# (market, fixture file) -> name under <market>/rest/
SNAPSHOTS = {
    "spot": [
        "exchangeInfo.json", "depth.json", "depth__limit1000_BTCUSDT_2024.json", "avgPrice.json",
        "ticker_24hr.json", "ticker_tradingDay.json", "ticker_price.json", "ticker_bookTicker.json",
        "ticker_rollingWindow.json",
    ],
    "futures": [
        "exchangeInfo.json", "depth.json", "depth__BTCUSDT_2024.json", "premiumIndex.json",
        "premiumIndex__all_symbols.json", "fundingInfo.json", "ticker_24hr.json", "ticker_price.json",
        "ticker_bookTicker.json", "delivery-price.json", "indexInfo.json", "assetIndex.json", "constituents.json",
        "openInterest.json",
    ],
}
WS_SAMPLES = {
    "spot": ["ticker_1h.doc.jsonl", "ticker_24hr.doc.jsonl"],
    "futures": ["markPrice_1s.jsonl"],
}
TAPES = {
    # market -> (symbol, source file, gzip capture?)
    "spot": ("BTCUSDT", "datasets/spot_stream_capture/BTCUSDT_trade_frames_2024-08-08.jsonl", False),
    "futures": ("BTCUSDT", "datasets/futures_stream_capture/btcusdt_20240808.gz", True),
}


def trade_rows(path: Path, capture: bool):
    opener = gzip.open if capture else open
    with opener(path, "rt") as f:
        for line in f:
            payload = line.split(" ", 1)[1] if capture else line
            if '"@trade"' not in payload and "@trade" not in payload[:40]:
                continue
            data = json.loads(payload)["data"]
            yield data["t"], data["p"], data["q"], data["T"], data["E"], int(data["m"])


def main() -> None:
    fixtures = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "binance"
    if OUT.exists():
        shutil.rmtree(OUT)
    for market, names in SNAPSHOTS.items():
        rest = OUT / market / "rest"
        rest.mkdir(parents=True)
        for name in names:
            body = (fixtures / market / "rest" / name).read_bytes()
            if len(body) > GZIP_OVER:
                (rest / (name + ".gz")).write_bytes(gzip.compress(body, 9, mtime=0))
            else:
                (rest / name).write_bytes(body)
        ws = OUT / market / "ws"
        ws.mkdir()
        for name in WS_SAMPLES[market]:
            shutil.copyfile(fixtures / market / "ws" / name, ws / name)
    for market, (symbol, source, capture) in TAPES.items():
        tape = OUT / market / "tape"
        tape.mkdir()
        rows = sorted(set(trade_rows(fixtures / source, capture)))
        text = "id,price,qty,time,event_time,is_buyer_maker\n" + "".join(
            ",".join(map(str, r)) + "\n" for r in rows
        )
        (tape / f"{symbol}.csv.gz").write_bytes(gzip.compress(text.encode(), 9, mtime=0))
        print(f"{market} {symbol}: {len(rows)} trades")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")


def _tick(entry: dict, filter_type: str, key: str) -> Decimal:
    return next(Decimal(f[key]).normalize() for f in entry["filters"] if f["filterType"] == filter_type)


def derived_symbols(market: str) -> dict[str, dict]:
    """The ``derived.json`` of ``market`` (see the module docstring), from the packaged recordings."""
    sys.path.insert(0, str(ROOT))
    from framework.exchange.data import load_data  # noqa: PLC0415 (the script runs without the project installed)

    (OUT / market / "tape" / "derived.json").unlink(missing_ok=True)
    data = load_data(OUT).market(market)
    source = data.tapes["BTCUSDT"]
    info = data.symbols
    tick = Decimal(source.price_gcd).scaleb(-source.price_decimals)  # BTCUSDT's effective tick and step
    step = Decimal(source.qty_gcd).scaleb(-source.qty_decimals)
    reference = Decimal(source.price_at(source.origin_ms + source.cycle_ms)).scaleb(-source.price_decimals)
    futures = json.loads(gzip.decompress((OUT / "futures" / "rest" / "premiumIndex__all_symbols.json.gz").read_bytes()))
    levels = {row["symbol"]: Decimal(row["markPrice"]) for row in futures}
    out: dict[str, dict] = {}
    for entry in info.values():
        name = entry["symbol"]
        wanted = entry.get("status") == "TRADING" and entry.get("quoteAsset") == "USDT" and \
            (market == "spot" or entry.get("contractType") == "PERPETUAL")
        if not wanted or name in data.tapes:
            continue
        unit = _tick(entry, "PRICE_FILTER", "tickSize") / tick  # the smallest factor keeping whole ticks
        level = levels.get(name)
        m = max(1, round(level / (reference * unit))) if level else 1
        qty = _tick(entry, "LOT_SIZE", "stepSize") / step
        position = len(out) + 1
        out[name] = {"from": "BTCUSDT", "price": f"{(unit * m).normalize():f}", "qty": f"{qty.normalize():f}",
                     "ids": position * 10**9, "seed": position}
    return out


def write_derived() -> None:
    """Write both markets' ``tape/derived.json``."""
    for market in ("spot", "futures"):
        derived = derived_symbols(market)
        text = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in derived.items()) + "\n}\n"
        (OUT / market / "tape" / "derived.json").write_text(text)
        print(f"{market}: {len(derived)} symbols derived from BTCUSDT")


if __name__ == "__main__":
    if sys.argv[1:] == ["--derived"]:
        write_derived()
    else:
        main()
        write_derived()
