"""Shared test paths."""

from __future__ import annotations

from pathlib import Path

#: Recorded Binance payloads (a copy of the shared fixtures; see tests/fixtures/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance"
