"""Perpetual funding in backtests: a Nautilus ``SimulationModule`` that settles our ``FundingRate`` rows.

Nautilus 1.231's backtest engine does not settle funding (its Cython exchange has no funding code; a
``FundingRateUpdate`` only reaches strategies), so this module does, the Nautilus-native way: the venue calls
``process(ts_now)`` after every timestamp, and at each funding time of a symbol every position open on it pays
or receives ``quantity x mark price x rate`` through ``exchange.adjust_account``. Longs pay when the rate is
positive, shorts receive (and the reverse when negative). The schedule is the symbol's own rows from the
catalog, so 1 h, 4 h and 8 h intervals settle as Binance did; the mark price is the row's own (Binance's
settlement mark), or the venue's last price for rows without one.

Amounts are exact decimals rounded half-even to the settlement currency's precision. Each payment is kept in
``payments`` and published on the message bus under ``FUNDING_TOPIC`` (the runner writes the ledger from it).
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal

from nautilus_trader.backtest.config import SimulationModuleConfig
from nautilus_trader.backtest.modules import SimulationModule
from nautilus_trader.model.enums import PositionSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CryptoPerpetual

from framework.catalog.location import nautilus_catalog
from framework.data.types import FundingRate
from framework.data.types import money_of

FUNDING_TOPIC = "framework.funding.payments"
NEVER = 2**63


class FundingSettlementConfig(SimulationModuleConfig, frozen=True):
    """Where the funding rows are (``catalog_path``) and for which perpetuals (empty: every one)."""

    catalog_path: str
    instrument_ids: list[str] = []


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One settlement of one position. ``amount`` is what the account received (negative = paid)."""

    ts: int
    instrument_id: str
    position_id: str
    side: str
    quantity: Decimal
    mark_price: Decimal
    rate: Decimal
    amount: Decimal
    currency: str

    def row(self) -> dict[str, str | int]:
        """This payment as a row of the funding ledger: decimals as exact strings, ``ts`` as an int."""
        return {k: (v if isinstance(v, int) else str(v)) for k, v in asdict(self).items()}


def funding_amount(side: PositionSide, quantity: Decimal, mark_price: Decimal, rate: Decimal,
                   precision: int) -> Decimal:
    """What a position receives at one settlement (negative: it pays), at ``precision`` decimals."""
    sign = -1 if side == PositionSide.LONG else 1
    return (sign * quantity * mark_price * rate).quantize(Decimal(1).scaleb(-precision), ROUND_HALF_EVEN)


class FundingSettlement(SimulationModule):
    """Settles perpetual funding at each ``FundingRate.funding_time`` (see the module docstring)."""

    def __init__(self, config: FundingSettlementConfig) -> None:
        super().__init__(config)
        self._catalog_path = config.catalog_path
        self._wanted = {InstrumentId.from_str(i) for i in config.instrument_ids}
        self._schedule: list[FundingRate] = []
        self._next = 0
        self._next_ts = NEVER
        self.payments: list[FundingPayment] = []

    def register_venue(self, exchange) -> None:  # noqa: ANN001 - SimulatedExchange (Cython)
        """Nautilus hook: attach to the venue, then load the funding schedule from the catalog."""
        super().register_venue(exchange)
        self._load()

    def _load(self) -> None:
        catalog = nautilus_catalog(self._catalog_path)  # a folder or s3:// (the AWS variables)
        ids = [str(i) for i in self._wanted] or None
        rows = [c.data for c in catalog.query(FundingRate, identifiers=ids)]
        self._schedule = sorted(rows, key=lambda r: (r.funding_time, r.instrument_id.value))
        self._rewind()

    def _rewind(self) -> None:
        self._next = 0
        self._next_ts = self._due_ts()

    def _due_ts(self) -> int:
        """When the next row of the schedule settles (never, past the last)."""
        return self._schedule[self._next].funding_time if self._next < len(self._schedule) else NEVER

    def process(self, ts_now: int) -> None:
        """Nautilus hook, after every timestamp: settle the schedule's rows due at or before ``ts_now``."""
        if ts_now < self._next_ts:
            return
        while self._next < len(self._schedule) and self._schedule[self._next].funding_time <= ts_now:
            self._settle(self._schedule[self._next])
            self._next += 1
        self._next_ts = self._due_ts()

    def _settle(self, row: FundingRate) -> None:
        instrument = self.exchange.instruments.get(row.instrument_id)
        if not isinstance(instrument, CryptoPerpetual):
            return
        positions = self.exchange.cache.positions_open(venue=self.exchange.id, instrument_id=row.instrument_id)
        if not positions:
            return
        mark = row.mark_price if row.mark_price is not None else self._last_price(row.instrument_id)
        if mark is None:
            self._log.warning(f"No mark price for {row.instrument_id} funding at {row.funding_time}; skipped")
            return
        currency = instrument.settlement_currency
        for position in positions:
            amount = funding_amount(position.side, position.quantity.as_decimal(), mark, row.rate,
                                    currency.precision)
            payment = FundingPayment(
                ts=row.funding_time,
                instrument_id=row.instrument_id.value,
                position_id=position.id.value,
                side=position.side.name,
                quantity=position.quantity.as_decimal(),
                mark_price=mark,
                rate=row.rate,
                amount=amount,
                currency=currency.code,
            )
            if amount:
                self.exchange.adjust_account(money_of(f"{amount:f}", currency))
            self.payments.append(payment)
            self._msgbus.publish(FUNDING_TOPIC, payment)

    def _last_price(self, instrument_id: InstrumentId) -> Decimal | None:
        bid, ask = self.exchange.best_bid_price(instrument_id), self.exchange.best_ask_price(instrument_id)
        if bid is None or ask is None:
            return None
        return (bid.as_decimal() + ask.as_decimal()) / 2

    def log_diagnostics(self, logger) -> None:  # noqa: ANN001 - Nautilus Logger
        """Nautilus hook at the end of a run: log the number of payments and their net amount."""
        paid = sum((p.amount for p in self.payments), Decimal(0))
        logger.info(f"Funding: {len(self.payments)} payments, net {paid:f}")

    def reset(self) -> None:
        """Nautilus hook on an engine reset: drop the payments and start the schedule again from the top."""
        self.payments = []
        self._rewind()
