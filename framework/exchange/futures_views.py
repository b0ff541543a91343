"""The local market's USD-M views: funding, mark price, open interest and the futures-data statistics.

Computed from the tape and the seeded series (``series.py``) so that they agree with the tape; symbols
listed but not taped answer from the recorded snapshots.
"""

from __future__ import annotations

from decimal import Decimal

from framework.binance.endpoints import Market
from framework.binance.intervals import fixed_ms
from framework.binance.limits import FUTURES_DATA_RETENTION_MS
from framework.exchange import series
from framework.exchange.formats import Formats
from framework.exchange.formats import fmt_decimal
from framework.exchange.formats import rescale_units
from framework.exchange.market_state import MarketState
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import fmt_units


class FuturesViews(MarketState):
    """``fundingRate``, ``premiumIndex``, ``openInterest`` and the ``futures/data`` series."""

    def funding_interval_ms(self, symbol: str) -> int:
        """The symbol's funding interval (fundingInfo, else Binance's default 8 h)."""
        for row in self.data.futures.snapshot("fundingInfo") or []:
            if row.get("symbol") == symbol:
                return int(row["fundingIntervalHours"]) * 3_600_000
        return 8 * 3_600_000

    def mark_at(self, symbol: str, t_ms: int) -> int | None:
        """The mark price (1e-8 units) at ``t_ms``, or None for an untaped symbol."""
        tape = self.tape(Market.FUTURES, symbol)
        if tape is None:
            return None
        f = self.formats[(Market.FUTURES, symbol)]
        return self.derived_price(tape, f, tape.price_at(t_ms), t_ms, "mark")

    def funding_rows(self, symbol: str | None, start: int | None, end: int | None, limit: int) -> list[dict]:
        """``fundingRate`` history of one symbol, or of every taped one."""
        symbols = [symbol] if symbol else sorted(self.data.futures.tapes)
        rows = []
        for sym in symbols:
            tape = self.tape(Market.FUTURES, sym)
            if tape is None:
                continue
            step = self.funding_interval_ms(sym)
            first = -(-self.listed_ms // step) * step
            last = self.now() // step * step
            opens = self.select_opens_fixed(step, first, last, start, end, limit)
            for t in opens:
                rows.append({"symbol": sym, "fundingTime": t,
                             "fundingRate": fmt_units(series.funding_rate(self.seed_of(tape), t), 8),
                             "markPrice": fmt_units(self.mark_at(sym, t) or 0, 8)})
        return rows[:limit] if symbol is None else rows

    def futures_data_rows(self, name: str, symbol: str, period: str, start: int | None, end: int | None,
                          limit: int) -> list[dict]:
        """Rows of the ``futures/data`` endpoint ``name`` (open interest history, taker volume, ratios, basis)."""
        tape = self.tape(Market.FUTURES, symbol)
        if tape is None:
            return []
        step = fixed_ms(period)  # a period the endpoint's row admits (FUTURES_DATA_PERIODS)
        now = self.now()
        first = max(self.listed_ms, now - FUTURES_DATA_RETENTION_MS)
        first = -(-first // step) * step
        last = (now - step) // step * step + step  # rows are published when their period starts
        last = min(last, now // step * step)
        rows = []
        f = self.formats[(Market.FUTURES, symbol)]
        for t in self.select_opens_fixed(step, first, last, start, end, limit):
            rows.append(self._futures_data_row(name, tape, f, symbol, t, step, now))
        return rows

    def _futures_data_row(self, name: str, tape: SymbolTape, f: Formats, symbol: str, t: int, step: int,
                          now: int) -> dict:
        if name == "open_interest_hist":
            oi = series.open_interest(self.seed, symbol, t, self._oi_base(tape))
            value = oi * (self.mark_at(symbol, t) or 0) // series.SCALE
            return {"symbol": symbol, "sumOpenInterest": fmt_units(oi, 8),
                    "sumOpenInterestValue": fmt_units(value, 8), "timestamp": t}
        if name == "taker_long_short_ratio":
            k = tape.window(max(t - step, self.listed_ms), t - 1, self.listed_ms)
            buy, sell = k.taker_buy_volume, k.volume - k.taker_buy_volume
            ratio = Decimal(buy) / Decimal(sell) if sell else Decimal(0)
            vol = lambda units: fmt_units(rescale_units(units, f.qty, 4), 4)  # noqa: E731 (Binance prints 4)
            return {"buySellRatio": fmt_decimal(ratio, 4), "buyVol": vol(buy), "sellVol": vol(sell),
                    "timestamp": t}
        if name == "basis":  # the perpetual's close over the period against the index price at that instant
            close = tape.window(max(t - step, self.listed_ms), t - 1, self.listed_ms).close
            index = self.derived_price(tape, f, close, t - 1, "index")
            basis = series.scaled(close, f.price) - index
            return {"indexPrice": fmt_units(index, 8), "contractType": "PERPETUAL",
                    "basisRate": fmt_decimal(Decimal(basis) / Decimal(index), 4), "futuresPrice": f.p(close),
                    "annualizedBasisRate": "", "basis": fmt_units(basis, 8), "pair": symbol, "timestamp": t}
        long = series.long_share(self.seed, f"{name}|{symbol}", t)
        short = 10_000 - long
        return {"symbol": symbol, "longShortRatio": fmt_decimal(Decimal(long) / Decimal(short), 4),
                "longAccount": fmt_units(long, 4), "shortAccount": fmt_units(short, 4), "timestamp": t}

    @staticmethod
    def _oi_base(tape: SymbolTape) -> int:
        # Open interest of the order of a few cycles of the tape's volume, in whole contracts.
        return max(1, tape.cycle_volume * 3 // 10**tape.qty_decimals)

    def open_interest(self, symbol: str) -> dict:
        """``openInterest`` now."""
        tape = self.tape(Market.FUTURES, symbol)
        now = self.now()
        if tape is None:
            return {"openInterest": "0.000", "symbol": symbol, "time": now}
        f = self.formats[(Market.FUTURES, symbol)]
        oi = series.open_interest(self.seed, symbol, now, self._oi_base(tape))
        contracts = rescale_units(oi, series.MARK_DECIMALS, f.qty, half_even=False)  # truncated
        return {"openInterest": fmt_units(contracts, f.qty), "symbol": symbol, "time": now}

    def premium_index(self, symbol: str) -> dict:
        """``premiumIndex`` of one symbol now (mark, index, funding); the markPrice stream's source too."""
        now = self.now()
        tape = self.tape(Market.FUTURES, symbol)
        step = self.funding_interval_ms(symbol)
        next_funding = (now // step + 1) * step
        if tape is None:
            for row in self.data.futures.snapshot("premiumIndex__all_symbols") or []:
                if row["symbol"] == symbol:
                    return row
            return {"symbol": symbol, "markPrice": "0.00000000", "indexPrice": "0.00000000",
                    "estimatedSettlePrice": "0.00000000", "lastFundingRate": "0.00000000",
                    "interestRate": "0.00010000", "nextFundingTime": next_funding, "time": now}
        f = self.formats[(Market.FUTURES, symbol)]
        last = tape.price_at(now)
        mark = self.derived_price(tape, f, last, now, "mark")
        index = self.derived_price(tape, f, last, now, "index")
        return {"symbol": symbol, "markPrice": fmt_units(mark, 8), "indexPrice": fmt_units(index, 8),
                "estimatedSettlePrice": fmt_units(index, 8),
                "lastFundingRate": fmt_units(series.funding_rate(self.seed_of(tape), next_funding), 8),
                "interestRate": "0.00010000", "nextFundingTime": next_funding, "time": now}
