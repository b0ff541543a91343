"""What a paper run did, read from the node's cache and portfolio: orders, fills, positions, PnL, balances.

Realized PnL counts every closed position cycle. With ``oms_type: NETTING`` a position keeps one id for its
whole life: when it flips (long -> short in one fill) or reopens after going flat, Nautilus closes the cycle,
keeps it as a *position snapshot* (``cache.position_snapshots()``) and reuses the id, so ``cache.positions()``
holds only the latest cycle. The realized PnL of each cycle is net of its commissions (Nautilus's convention),
so for linear contracts and spot pairs in a margin account ``balance change = realized PnL`` (positions closed)
and ``realized PnL + commissions`` is the gross trading result.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import Venue

from framework.data.instruments import BINANCE_VENUE

# amounts in these are shown to the cent; others (BTC, BNB...) to 8 significant digits
_CENTS = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR"})


def human(value: Decimal, currency: str) -> str:
    """An amount rounded for people (the JSON keeps every digit)."""
    if currency in _CENTS:
        return str(value.quantize(Decimal("0.01"), ROUND_HALF_EVEN))
    return f"{value:.8g}" if value else "0"


@dataclass
class PaperSummary:
    """What a paper run did: orders, fills, positions, PnL and balances per currency (decimal text).

    ``realized_pnl`` is net of commissions and covers every position cycle (snapshots of flipped or reopened
    NETTING positions included); ``positions`` counts cycles too.
    """

    seconds: float
    stopped_by: str
    orders: int = 0
    orders_filled: int = 0
    orders_rejected: int = 0
    fills: int = 0
    positions: int = 0
    positions_open: int = 0
    realized_pnl: dict[str, str] = field(default_factory=dict)
    unrealized_pnl: dict[str, str] = field(default_factory=dict)
    commissions: dict[str, str] = field(default_factory=dict)
    balances: dict[str, str] = field(default_factory=dict)
    failure: str | None = None

    def text(self) -> str:
        """The summary for people, then one ``summary: {...}`` JSON line with full precision."""
        def money(values: dict[str, str]) -> str:
            return ", ".join(f"{human(Decimal(v), k)} {k}" for k, v in values.items()) or "0"

        return "\n".join([
            f"paper run: {self.seconds:.1f}s, stopped by {self.stopped_by}",
            f"  orders     {self.orders} (filled {self.orders_filled}, rejected {self.orders_rejected}), "
            f"fills {self.fills}",
            f"  positions  {self.positions} ({self.positions_open} open)",
            f"  PnL        realized {money(self.realized_pnl)} (after commissions {money(self.commissions)}); "
            f"unrealized {money(self.unrealized_pnl)}",
            f"  balances   {money(self.balances)}",
            *([f"  FAILURE    {self.failure}"] if self.failure else []),
            "summary: " + self.json(),
        ])

    def json(self) -> str:
        """Every field, full precision, one line."""
        return json.dumps(asdict(self), sort_keys=True)

    def write(self, path: Path) -> None:
        """``summary.json`` (indented, full precision)."""
        path.write_text(json.dumps(asdict(self), sort_keys=True, indent=1) + "\n")


def _add(totals: dict[str, Decimal], money: Any) -> None:
    if money is not None:
        code = money.currency.code
        totals[code] = totals.get(code, Decimal(0)) + money.as_decimal()


def summarize(kernel_owner: Any, seconds: float, stopped_by: str, failure: str | None) -> PaperSummary:
    """Read a node's (or engine's: anything with ``.kernel``) cache and portfolio, before ``dispose``."""
    cache, portfolio = kernel_owner.kernel.cache, kernel_owner.kernel.portfolio
    orders = cache.orders()
    positions = cache.positions()
    cycles = [*cache.position_snapshots(), *positions]  # closed NETTING cycles are only in the snapshots
    fills = [e for o in orders for e in o.events if isinstance(e, OrderFilled)]
    realized: dict[str, Decimal] = {}
    commissions: dict[str, Decimal] = {}
    for p in cycles:
        _add(realized, p.realized_pnl)
    for f in fills:
        _add(commissions, f.commission)
    unrealized: dict[str, Decimal] = {}
    venue = Venue(BINANCE_VENUE.value)
    for money in (portfolio.unrealized_pnls(venue) or {}).values():
        _add(unrealized, money)
    balances: dict[str, Decimal] = {}
    account = cache.account_for_venue(venue)
    if account is not None:
        for money in account.balances_total().values():
            _add(balances, money)

    def text(values: dict[str, Decimal]) -> dict[str, str]:
        return {k: str(v) for k, v in sorted(values.items())}

    return PaperSummary(
        seconds=seconds,
        stopped_by=stopped_by,
        orders=len(orders),
        orders_filled=sum(1 for o in orders if o.is_closed and o.filled_qty > 0),
        orders_rejected=sum(1 for o in orders if o.status == OrderStatus.REJECTED),
        fills=len(fills),
        positions=len(cycles),
        positions_open=sum(1 for p in positions if p.is_open),
        realized_pnl=text(realized),
        unrealized_pnl=text(unrealized),
        commissions=text(commissions),
        balances=text(balances),
        failure=failure,
    )
