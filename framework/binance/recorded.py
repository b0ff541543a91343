"""Binance answers recorded and packaged with the project (``recordings/``), and the reader of such a folder.

Two parties read them, so neither imports the other: the local exchange (its default data, served back as
recorded) and the synthetic market of ``framework.backtest`` (its instruments, from the recorded exchangeInfo).
``scripts/build_exchange_data.py`` rebuilds the packaged copy from the shared fixtures.

Layout (``--data DIR`` of the local exchange points at another folder of the same layout)::

    <market>/                      market is ``spot`` or ``futures``
        rest/<name>.json[.gz]      recorded REST bodies served as snapshots, byte for byte:
                                   exchangeInfo (required: its symbols are the listed ones), depth,
                                   depth__<variant>, ticker_24hr, ticker_price, ticker_bookTicker,
                                   avgPrice, ticker_tradingDay, ticker_rollingWindow (spot);
                                   premiumIndex, premiumIndex__all_symbols, fundingInfo, delivery-price,
                                   indexInfo, assetIndex, constituents, openInterest (futures)
        tape/<SYMBOL>.csv[.gz]     recorded trades of one symbol, contiguous ids, header
                                   ``id,price,qty,time,event_time,is_buyer_maker`` (prices and
                                   quantities as Binance's decimal strings, times in ms)
        tape/derived.json          symbols derived from a recorded tape by exact scaling (optional; the
                                   format is in ``framework/exchange/data.py``)
        ws/<stream>.jsonl          recorded stream samples used for shapes (optional)

A depth snapshot for a taped symbol is looked up as ``depth__<anything>_<SYMBOL>_*`` or ``depth__<SYMBOL>_*``
first, so a book recorded with the trades pairs with them.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import msgspec

from framework.binance.endpoints import Market

#: The packaged recordings (0.3 MB).
PACKAGED_DATA = Path(__file__).resolve().parent / "recordings"


class DataError(ValueError):
    """A data folder or file of recordings does not have the documented layout (names the file)."""


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of ``path``, gunzipped when it ends in ``.gz``; a damaged file is a DataError naming it."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError; a truncated gzip an EOFError
        raise DataError(f"{path}: cannot read it ({e or type(e).__name__}); restore the file or remove it") from None


@dataclass
class RecordedMarket:
    """One market's folder of recordings: its REST bodies (``rest/``), read on demand."""

    market: Market
    root: Path

    def snapshot_bytes(self, name: str) -> bytes | None:
        """The recorded body ``rest/<name>.json[.gz]``, or None."""
        path = self.snapshot_path(name)
        return None if path is None else read_maybe_gzip(path)

    def snapshot_path(self, name: str) -> Path | None:
        """Where ``rest/<name>.json[.gz]`` is, or None."""
        for path in (self.root / "rest" / f"{name}.json", self.root / "rest" / f"{name}.json.gz"):
            if path.is_file():
                return path
        return None

    def snapshot(self, name: str) -> object:
        """The recorded body ``name`` decoded, or None; a damaged file is a DataError naming it."""
        raw = self.snapshot_bytes(name)
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as e:
            raise DataError(f"{self.snapshot_path(name)}: not valid JSON ({e}); a truncated or damaged recording: "
                            "restore it (the packaged copy is in framework/binance/recordings)") from None

    def check_snapshots(self) -> None:
        """Decode every recorded body now, so a damaged file is refused at start, not on some later request."""
        folder = self.root / "rest"
        names = {p.name.split(".json")[0] for p in folder.glob("*.json*")} if folder.is_dir() else set()
        for name in sorted(names):
            self.snapshot(name)

    @cached_property
    def exchange_info(self) -> dict:
        """The recorded exchangeInfo (required: its symbols are the market's listed ones)."""
        info = self.snapshot("exchangeInfo")
        where = self.snapshot_path("exchangeInfo") or f"{self.root}/rest/exchangeInfo.json"
        if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
            raise DataError(f"{where} is missing or has no 'symbols' list; every market folder needs the "
                            "exchangeInfo its symbols are listed in")
        if not all(isinstance(s, dict) and isinstance(s.get("symbol"), str) for s in info["symbols"]):
            raise DataError(f"{where}: every entry of 'symbols' must be an object with a 'symbol' name")
        return info

    def depth_snapshot(self, symbol: str) -> bytes | None:
        """The recorded order book of ``symbol`` (one recorded with its trades first), else the generic one."""
        for path in sorted((self.root / "rest").glob("depth__*")):
            stem = path.name.split(".json")[0]
            if f"_{symbol}_" in f"{stem}_" or stem.endswith(symbol):
                return self.snapshot_bytes(stem)
        return self.snapshot_bytes("depth")


def packaged(market: Market | str) -> RecordedMarket:
    """The packaged recordings of ``market``."""
    market = Market(market)
    return RecordedMarket(market, PACKAGED_DATA / market.value)
