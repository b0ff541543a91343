"""The local exchange's data folder.

Layout (the packaged copy lives in ``framework/exchange/data``; ``--data DIR`` points at another)::

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
        ws/<stream>.jsonl          recorded stream samples used for shapes (optional)

A depth snapshot for a taped symbol is looked up as ``depth__<anything>_<SYMBOL>_*`` or ``depth__<SYMBOL>_*``
first, so a book recorded with the trades pairs with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from importlib import resources
from pathlib import Path

import msgspec

from framework.binance.endpoints import Market
from framework.exchange.tape import DataError
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import load_tape
from framework.exchange.tape import read_maybe_gzip

PACKAGED_DATA = Path(str(resources.files("framework.exchange") / "data"))

__all__ = ["DataError", "ExchangeData", "MarketData", "load_data"]


@dataclass
class MarketData:
    market: Market
    root: Path
    tapes: dict[str, SymbolTape] = field(default_factory=dict)

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
        raw = self.snapshot_bytes(name)
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as e:
            raise DataError(f"{self.snapshot_path(name)}: not valid JSON ({e}); a truncated or damaged recording: "
                            "restore it (the packaged copy is in framework/exchange/data)") from None

    def check_snapshots(self) -> None:
        """Decode every recorded body now, so a damaged file is refused at start, not on some later request."""
        for name in self.snapshot_names():
            self.snapshot(name)

    def snapshot_names(self) -> list[str]:
        folder = self.root / "rest"
        return sorted({p.name.split(".json")[0] for p in folder.glob("*.json*")}) if folder.is_dir() else []

    @cached_property
    def exchange_info(self) -> dict:
        info = self.snapshot("exchangeInfo")
        where = self.snapshot_path("exchangeInfo") or f"{self.root}/rest/exchangeInfo.json"
        if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
            raise DataError(f"{where} is missing or has no 'symbols' list; every market folder needs the "
                            "exchangeInfo its symbols are listed in")
        if not all(isinstance(s, dict) and isinstance(s.get("symbol"), str) for s in info["symbols"]):
            raise DataError(f"{where}: every entry of 'symbols' must be an object with a 'symbol' name")
        return info

    @cached_property
    def symbols(self) -> dict[str, dict]:
        """Listed symbols (exchangeInfo entries) by name; tape symbols are always listed."""
        listed = {s["symbol"]: s for s in self.exchange_info["symbols"]}
        missing = set(self.tapes) - set(listed)
        if missing:
            raise DataError(f"{self.market} tape symbols not in exchangeInfo: {sorted(missing)}")
        return listed

    @cached_property
    def pairs(self) -> set[str]:
        return {s.get("pair") or name for name, s in self.symbols.items()}

    def depth_snapshot(self, symbol: str) -> bytes | None:
        for path in sorted((self.root / "rest").glob("depth__*")):
            stem = path.name.split(".json")[0]
            if f"_{symbol}_" in f"{stem}_" or stem.endswith(symbol):
                return self.snapshot_bytes(stem)
        return self.snapshot_bytes("depth")


@dataclass
class ExchangeData:
    spot: MarketData
    futures: MarketData

    def market(self, market: Market | str) -> MarketData:
        return self.spot if Market(market) is Market.SPOT else self.futures


def load_data(root: Path | None = None) -> ExchangeData:
    """Load a data folder (default: the packaged one)."""
    root = Path(root) if root else PACKAGED_DATA
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    markets = {}
    for market in Market:
        folder = root / market.value
        if not folder.is_dir():
            raise DataError(f"data folder {root} has no '{market.value}/' folder (see the documented layout)")
        data = MarketData(market, folder)
        for path in sorted((folder / "tape").glob("*.csv*")):
            tape = load_tape(path)
            data.tapes[tape.symbol] = tape
        data.check_snapshots()
        data.symbols  # noqa: B018 (validate now, not on the first request)
        markets[market.value] = data
    return ExchangeData(**markets)
