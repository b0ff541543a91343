"""The local exchange's data: a folder of recordings (``framework.binance.recorded``) with its trade tapes.

The packaged copy is ``framework.binance.recorded.PACKAGED_DATA``; ``--data DIR`` points at another folder of the
layout documented there.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from pathlib import Path

from framework.binance.endpoints import Market
from framework.binance.recorded import PACKAGED_DATA
from framework.binance.recorded import DataError
from framework.binance.recorded import RecordedMarket
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import load_tape


@dataclass
class TapedMarket(RecordedMarket):
    """One market's recordings and the trade tapes it replays (``tape/<SYMBOL>.csv[.gz]``)."""

    tapes: dict[str, SymbolTape] = field(default_factory=dict)

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
        """The listed pairs (USD-M ``pair``, else the symbol), which pair-taking endpoints accept."""
        return {s.get("pair") or name for name, s in self.symbols.items()}


@dataclass
class ExchangeData:
    """Both markets' data."""

    spot: TapedMarket
    futures: TapedMarket

    def market(self, market: Market | str) -> TapedMarket:
        """The data of ``market``."""
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
        data = TapedMarket(market, folder)
        for path in sorted((folder / "tape").glob("*.csv*")):
            tape = load_tape(path)
            data.tapes[tape.symbol] = tape
        data.check_snapshots()
        data.symbols  # noqa: B018 (validate now, not on the first request)
        markets[market.value] = data
    return ExchangeData(**markets)
