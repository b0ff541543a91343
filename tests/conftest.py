"""Shared test paths and fixtures."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Recorded Binance payloads (a copy of the shared fixtures; see tests/fixtures/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance"


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """A TradingNode's kernel installs loop signal handlers and resets SIGINT; give the process its handlers
    back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)}
    yield
    for s, handler in saved.items():
        if handler is not None:
            signal.signal(s, handler)
