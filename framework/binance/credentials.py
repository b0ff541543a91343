"""API credentials from the environment. Never logged, never dumped: ``repr`` hides them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class Credentials:
    """The optional API key and secret; the key goes only to endpoints whose row sets ``api_key`` (spot
    historicalTrades)."""

    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> Credentials:
        """``API_KEY`` / ``API_SECRET`` (the legacy names), else ``BINANCE_API_KEY`` / ``BINANCE_API_SECRET``."""
        env = os.environ
        return cls(
            env.get("API_KEY") or env.get("BINANCE_API_KEY") or None,
            env.get("API_SECRET") or env.get("BINANCE_API_SECRET") or None,
        )

    def __repr__(self) -> str:
        return f"Credentials(api_key={'set' if self.api_key else 'unset'}, api_secret={'set' if self.api_secret else 'unset'})"
