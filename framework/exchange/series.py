"""Deterministic series for what no recording covers: mark/index prices, funding, open interest, ratios.

Every value is a pure function of (seed, series, time) through a keyed hash, so any row can be computed
on its own (random access, no state), the same seed always gives the same market, and the series move
with the tape's prices: mark and index track the last trade, open-interest value is contracts x mark,
taker buy/sell volume is summed from the tape itself (see ``market.py``).
"""

from __future__ import annotations

import hashlib

MARK_DECIMALS = 8
SCALE = 10**MARK_DECIMALS


def noise(seed: int, series: str, key: int) -> float:
    """A reproducible number in [-1, 1) for (seed, series, key)."""
    digest = hashlib.blake2b(f"{seed}|{series}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


def smooth(seed: int, series: str, t_ms: int, step_ms: int) -> float:
    """Noise interpolated linearly between knots every ``step_ms``: a slowly wandering value in [-1, 1)."""
    k, r = divmod(t_ms, step_ms)
    a, b = noise(seed, series, k), noise(seed, series, k + 1)
    return a + (b - a) * (r / step_ms)


def scaled(units: int, decimals: int) -> int:
    """Re-express price units with ``decimals`` decimals as units with 8 decimals."""
    return units * 10 ** (MARK_DECIMALS - decimals)


def index_factor(seed: int, minute: int) -> int:
    """Index price = last trade price x (1 + f / 1e8); |f| <= 4 bps."""
    return SCALE + int(40_000 * noise(seed, "index", minute))


def premium_factor(seed: int, minute: int) -> int:
    """Mark price = index x (1 + f / 1e8); |f| <= 2 bps (the premium)."""
    return SCALE + int(20_000 * noise(seed, "premium", minute))


def funding_rate(seed: int, funding_time: int, cap: int = 300_000) -> int:
    """Funding rate in units of 1e-8 (0.0001 = 10_000): 1 bp base +- 2 bp, within +-cap."""
    rate = 10_000 + int(20_000 * noise(seed, "funding", funding_time))
    return max(-cap, min(cap, rate))


def open_interest(seed: int, symbol: str, t_ms: int, base_contracts: int) -> int:
    """Open interest in units of 1e-8 contracts: base +- 5 %, wandering over hours."""
    wander = smooth(seed, f"oi|{symbol}", t_ms, 3_600_000) * 0.04 + noise(seed, f"oi5|{symbol}", t_ms // 300_000) * 0.01
    return int(base_contracts * SCALE * (1 + wander))


def long_share(seed: int, series: str, t_ms: int) -> int:
    """Long share in units of 1e-4 (0.6442 = 6442), between 0.30 and 0.70."""
    return 5_000 + int(2_000 * smooth(seed, series, t_ms, 3_600_000))
