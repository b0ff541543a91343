"""How the local exchange prints numbers: Binance's decimal strings from integer units, exactly."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal

from framework.exchange.tape import fmt_units


def rescale_units(units: int, decimals: int, to_decimals: int, half_even: bool = True) -> int:
    """``units`` of 10**-decimals as units of 10**-to_decimals: exact, else rounded half to even (or floored).

    Integer arithmetic only, for any pair of decimals (a power of ten with a negative exponent is a float).
    """
    if to_decimals >= decimals:
        return units * 10 ** (to_decimals - decimals)
    step = 10 ** (decimals - to_decimals)
    whole, rest = divmod(units, step)  # floor division: 0 <= rest < step, also for negative units
    if half_even and (2 * rest > step or (2 * rest == step and whole % 2)):
        whole += 1
    return whole


def fmt_decimal(value: Decimal | float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals, rounded half to even, never in exponent form."""
    # format "f": str() would print small amounts in exponent form ("0E-8", "1.2E-7")
    return format(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN), "f")


@dataclass(frozen=True)
class Formats:
    """How one taped symbol prints prices, quantities and quote amounts."""

    price: int
    qty: int
    quote: int  # spot prints quote amounts with 8 decimals; USD-M with price + qty decimals

    def p(self, units: int) -> str:
        """A price."""
        return fmt_units(units, self.price)

    def q(self, units: int) -> str:
        """A quantity."""
        return fmt_units(units, self.qty)

    def quote_amount(self, units: int) -> str:
        """Format price x qty units (price + qty decimals) with the quote decimals, exact where it can be."""
        exact = self.price + self.qty
        if exact <= self.quote:
            return fmt_units(units * 10 ** (self.quote - exact), self.quote)
        return fmt_decimal(Decimal(units).scaleb(-exact), self.quote)
