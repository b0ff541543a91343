"""The local exchange's data: a folder of recordings (``framework.binance.recorded``) with its trade tapes, and the
symbols derived from them.

The packaged copy is ``framework.binance.recorded.PACKAGED_DATA``; ``--data DIR`` points at another folder of the
layout documented there. A market's ``tape/derived.json`` lists symbols made from a recorded tape (see
``SymbolTape.derived``), each an object keyed by its name::

    {"ETHUSDT": {"from": "BTCUSDT", "price": "0.1", "qty": "1", "ids": 1000000000, "seed": 1}, ...}

``from``: the recorded tape (required); ``price``/``qty``: exact decimal factors on its values (default 1);
``ids``: added to its trade ids (default: the entry's position x 10**9); ``seed``: added to the exchange's seed
for the symbol's mark, index and funding series (default: its position). A derived symbol's prices and
quantities are written with the decimals of its exchangeInfo entry's tick and step (USD-M; spot prints 8 as
Binance does), and every value must be a whole number of them. A name exchangeInfo does not list gets an entry
copied from its source's, with its own symbol, pair and base asset (the name less the quote asset), served
with the recorded ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from decimal import InvalidOperation
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec

from framework.binance.endpoints import Market
from framework.binance.recorded import PACKAGED_DATA
from framework.binance.recorded import DataError
from framework.binance.recorded import RecordedMarket
from framework.binance.recorded import read_maybe_gzip
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import fmt_units
from framework.exchange.tape import load_tape

DERIVED = "derived.json"
_DERIVED_KEYS = {"from", "price", "qty", "ids", "seed"}


@dataclass
class TapedMarket(RecordedMarket):
    """One market's recordings and the trade tapes it replays (``tape/<SYMBOL>.csv[.gz]``, ``tape/derived.json``)."""

    tapes: dict[str, SymbolTape] = field(default_factory=dict)
    #: exchangeInfo entries of derived symbols the recording does not list (served after the recorded ones).
    added: list[dict] = field(default_factory=list)
    #: value factors (price, qty) of each derived symbol on its source's values.
    factors: dict[str, tuple[Fraction, Fraction]] = field(default_factory=dict)

    @cached_property
    def recorded_info(self) -> dict:
        """The recorded exchangeInfo as it is (``RecordedMarket.exchange_info``)."""
        return RecordedMarket.exchange_info.func(self)  # type: ignore[attr-defined]

    @cached_property
    def exchange_info(self) -> dict:
        """The recorded exchangeInfo, with the entries of derived symbols it does not list."""
        info = self.recorded_info
        return {**info, "symbols": [*info["symbols"], *self.added]} if self.added else info

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

    def depth_snapshot(self, symbol: str) -> bytes | None:
        """The recorded order book of ``symbol``; a derived symbol's is its source's, scaled by its factors."""
        tape = self.tapes.get(symbol)
        if tape is None or tape.source is None:
            return super().depth_snapshot(symbol)
        raw = super().depth_snapshot(tape.source)
        if raw is None:
            return None
        book = msgspec.json.decode(raw)
        price, qty = self.factors[symbol]
        for side in ("bids", "asks"):
            book[side] = [[_scaled(p, price, tape.price_decimals), _scaled(q, qty, tape.qty_decimals), *rest]
                          for p, q, *rest in book.get(side, [])]
        return msgspec.json.encode(book)

    def derive(self, path: Path) -> None:
        """Add the symbols ``path`` (a ``derived.json``) lists to the tapes (see the module docstring)."""
        try:
            wanted = msgspec.json.decode(read_maybe_gzip(path))
        except msgspec.DecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(wanted, dict):
            raise DataError(f"{path}: must be an object of derived symbols, e.g. {{\"ETHUSDT\": {{\"from\": "
                            "\"BTCUSDT\", \"price\": \"0.1\"}}}}")
        listed = {s["symbol"]: s for s in self.recorded_info["symbols"]}
        for position, (name, spec) in enumerate(wanted.items(), start=1):
            where = f"{path}: {name}"
            if not isinstance(spec, dict) or set(spec) - _DERIVED_KEYS or "from" not in spec:
                raise DataError(f"{where}: give an object with \"from\" (a recorded tape) and optionally "
                                f"{', '.join(sorted(_DERIVED_KEYS - {'from'}))}")
            source = self.tapes.get(spec["from"])
            if source is None or source.source is not None or name in self.tapes:
                raise DataError(f"{where}: \"from\" must name a recorded tape of this market "
                                f"({', '.join(sorted(t for t, v in self.tapes.items() if v.source is None))}) and "
                                "the name must not be one")
            entry = listed.get(name) or self._entry_like(listed[source.symbol], name, where)
            price_decimals, tick = _decimals(entry, "PRICE_FILTER", "tickSize", source.price_decimals, self.market)
            qty_decimals, step = _decimals(entry, "LOT_SIZE", "stepSize", source.qty_decimals, self.market)
            factors = (_factor(spec.get("price", "1"), f"{where}: price"),
                       _factor(spec.get("qty", "1"), f"{where}: qty"))
            ids = _whole(spec.get("ids", position * 10**9), f"{where}: ids")
            seed = _whole(spec.get("seed", position), f"{where}: seed")
            try:
                tape = source.derived(name, price_decimals, qty_decimals, *factors, ids, seed, tick, step)
            except ValueError as e:
                raise DataError(f"{path}: {e}") from None
            self.tapes[name], self.factors[name] = tape, factors

    def _entry_like(self, source: dict, name: str, where: str) -> dict:
        """An exchangeInfo entry for ``name``, copied from its source's."""
        quote = source.get("quoteAsset", "")
        if not name.endswith(quote) or name == quote:
            raise DataError(f"{where}: not in exchangeInfo, and the name must end with the quote asset {quote} of its "
                            "source to get an entry like the source's")
        entry = {**source, "symbol": name, "baseAsset": name[: -len(quote)]}
        if "pair" in entry:
            entry["pair"] = name
        self.added.append(entry)
        return entry


def _scaled(text: str, factor: Fraction, decimals: int) -> str:
    units = Fraction(Decimal(text)) * factor * 10**decimals
    return fmt_units(round(units), decimals)


def _decimals(entry: dict, filter_type: str, key: str, default: int, market: Market) -> tuple[int, int]:
    """(decimals, tick in units of them) of an exchangeInfo entry's filter: USD-M prints the tick's decimals;
    spot prints ``default`` (8) whatever the tick."""
    for f in entry.get("filters", []):
        if f.get("filterType") == filter_type and f.get(key):
            tick = Decimal(f[key]).normalize()
            decimals = default if market is Market.SPOT else max(0, -tick.as_tuple().exponent)
            return decimals, int(tick.scaleb(decimals))
    return default, 1


def _factor(value: Any, where: str) -> Fraction:
    try:
        factor = Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        factor = Fraction(0)
    if factor <= 0:
        raise DataError(f"{where}: {value!r} is not a positive decimal factor, e.g. \"0.01\"")
    return factor


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"{where}: {value!r} is not a whole number of at least 0")
    return value


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
        if (folder / "tape" / DERIVED).is_file():
            data.derive(folder / "tape" / DERIVED)
        data.symbols  # noqa: B018 (validate now, not on the first request)
        markets[market.value] = data
    return ExchangeData(**markets)
