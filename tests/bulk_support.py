"""data.binance.vision files made from a local exchange's REST answers, and the catalog read back row by row.

The files are what the site publishes for the same rows: USD-M kline CSVs with their header, ``metrics`` files
(one 5-minute row joining open interest, the three ratios and the taker ratio), monthly ``fundingRate`` files and
aggTrades CSVs, laid out as the site's ``data/futures/um/...`` tree, optionally zipped with a ``.CHECKSUM``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from framework.binance.endpoints import Market
from framework.binance.endpoints import endpoint
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data.instruments import instrument_id_for
from framework.data.kinds import KINDS
from framework.data.kinds import Shape
from framework.ingest.targets import kline_series
from framework.values import parse_time_ms

ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "BTCUSDT"
IID = str(instrument_id_for(Market.FUTURES, SYMBOL))
STATISTICS = ("open_interest", "top_position_ratio", "top_account_ratio", "global_account_ratio", "taker_volume")
METRICS_HEADER = ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
                  "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio")
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
CLOSED = "http://127.0.0.1:9"  # nothing listens: any network call fails at once
NO_NETWORK = {"BASE_PATH_SPOT": CLOSED, "BASE_PATH_FUTURES": CLOSED, "HTTPS_PROXY": CLOSED, "HTTP_PROXY": CLOSED}


def ms(text: str) -> int:
    """An ISO time as epoch ms."""
    return parse_time_ms(text)


def run(*argv: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m framework.main ARGV`` from the checkout."""
    return subprocess.run([sys.executable, "-m", "framework.main", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def urls(ex: Any) -> dict[str, str]:
    """The environment pointing the CLI at a local exchange."""
    return {"BASE_PATH_SPOT": ex.urls["spot_http"], "BASE_PATH_FUTURES": ex.urls["futures_http"]}


def answer(ex: Any, name: str, **params: Any) -> Any:
    """The exchange's decoded JSON answer to the USD-M endpoint ``name``."""
    url = ex.urls["futures_http"] + endpoint(Market.FUTURES, name).path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _time(row: Any, kind: str) -> int:
    return int(row[0]) if isinstance(row, list) else int(row[KINDS[kind].key.name])


def time_rows(ex: Any, kind: str, lo: int, hi: int, step: str | None = None) -> list[Any]:
    """Every row of a time-paged kind with its time in [lo, hi] (ms), in windows of 400 rows."""
    k = KINDS[kind]
    out: list[Any] = []
    t = lo
    while t <= hi:
        page = answer(ex, k.endpoint, **k.params(SYMBOL, step, startTime=t, endTime=hi, limit=400))
        page = [r for r in page if lo <= _time(r, kind) <= hi and (not out or _time(r, kind) > _time(out[-1], kind))]
        if not page:
            break
        out += page
        t = _time(page[-1], kind) + 1
    return out


def agg_rows(ex: Any, lo: int, hi: int) -> list[dict]:
    """Every aggTrade with its time in [lo, hi] (ms), by ``fromId`` pages."""
    first = answer(ex, "agg_trades", symbol=SYMBOL, startTime=lo, endTime=lo + 3_599_999, limit=1)[0]["a"]
    out: list[dict] = []
    while True:
        page = answer(ex, "agg_trades", symbol=SYMBOL, fromId=first, limit=1000)
        out += [r for r in page if r["T"] <= hi]
        if not page or page[-1]["T"] > hi:
            return out
        first = page[-1]["a"] + 1


def funding_hours(ex: Any) -> int:
    """The symbol's funding interval (fundingInfo; Binance's default 8 h)."""
    return next((r["fundingIntervalHours"] for r in answer(ex, "funding_rate_info") if r["symbol"] == SYMBOL), 8)


def kline_lines(rows: list[list]) -> list[str]:
    """USD-M kline file lines (header first)."""
    return [KLINE_HEADER, *(",".join(str(v) for v in r) for r in rows)]


def agg_lines(rows: list[dict]) -> list[str]:
    """USD-M aggTrades file lines (header first)."""
    return [AGG_HEADER, *(f"{r['a']},{r['p']},{r['q']},{r['f']},{r['l']},{r['T']},{str(r['m']).lower()}"
                          for r in rows)]


def funding_lines(rows: list[dict], hours: int) -> list[str]:
    """``fundingRate`` file lines (header first)."""
    return [FUNDING_HEADER, *(f"{r['fundingTime']},{hours},{r['fundingRate']}" for r in rows)]


def metrics_lines(ex: Any, lo: int, hi: int) -> list[str]:
    """A ``metrics`` file's lines for [lo, hi] from the five statistics' REST answers (5-minute period)."""
    by_kind = {k: {int(r["timestamp"]): r for r in time_rows(ex, k, lo, hi, "5m")} for k in STATISTICS}
    lines = [METRICS_HEADER]
    for t in sorted(by_kind["open_interest"]):
        oi, pos, acc = by_kind["open_interest"][t], by_kind["top_position_ratio"][t], by_kind["top_account_ratio"][t]
        glob, taker = by_kind["global_account_ratio"][t], by_kind["taker_volume"][t]
        when = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{when},{SYMBOL},{oi['sumOpenInterest']},{oi['sumOpenInterestValue']},"
                     f"{acc['longShortRatio']},{pos['longShortRatio']},{glob['longShortRatio']},"
                     f"{taker['buySellRatio']}")
    return lines


def site_file(root: Path, frequency: str, dtype: str, name: str, lines: list[str], interval: str | None = None,
              zipped: bool = False) -> Path:
    """Write a file where data.binance.vision keeps it under ``root`` (zipped: with its ``.CHECKSUM``)."""
    folder = root / "data" / "futures" / "um" / frequency / dtype / SYMBOL / (interval or "")
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if not zipped:
        path = folder / f"{name}.csv"
        path.write_text(text)
        return path
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}.csv", text)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def series_of(kind: str, step: str | None = None) -> list[Series]:
    """The catalog series a USD-M kind of BTCUSDT lands in (klines: bars and their KlineStats)."""
    k = KINDS[kind]
    if kind == "klines":
        return list(kline_series(k.bar_type(Market.FUTURES, SYMBOL, step)))
    if k.shape is Shape.PRICE_KLINES:
        return [Series.bars(k.bar_type(Market.FUTURES, SYMBOL, step))]
    return [Series.custom(k.data_type, IID)]


def rows(catalog: Path, series: Series, lo_ns: int = 0, hi_ns: int = 2**63 - 1) -> list[dict]:
    """A series' rows with ``ts_init`` in [lo_ns, hi_ns] as dicts (raw column values), in catalog order."""
    table: pa.Table = CatalogStore(str(catalog)).read_table(series)
    return [r for r in table.to_pylist() if lo_ns <= r["ts_init"] <= hi_ns]


def data_files(catalog: Path) -> list[Path]:
    """The catalog's data files other than instruments."""
    return [p for p in catalog.rglob("*.parquet")
            if not any(part in ("crypto_perpetual", "currency_pair") for part in p.parts)]
