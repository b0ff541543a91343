"""The basis (``/futures/data/basis``), the kind added through the kinds registry alone: ingest lands the local
exchange's rows in the catalog, a backtest YAML loads it for a strategy's ``basis`` switch, ``record`` fills it.
(The live client's polling of it is in ``test_live_client.py``.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.backtest.config import resolve
from framework.backtest.runner import run
from framework.data.types import Basis
from framework.errors import UsageError
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.main import main
from framework.values import parse_time_ms
from strategies.base import SignalStrategyConfig

START, END = "2024-08-08T20:00:00Z", "2024-08-09T00:00:00Z"
IID = "BTCUSDT-PERP.BINANCE"


@pytest.fixture(scope="module")
def exchange():
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded")) as ex:
        yield ex


@pytest.fixture(scope="module")
def catalog(exchange, tmp_path_factory) -> Path:
    """Klines and the basis of BTCUSDT-PERP over four hours, ingested from the local exchange."""
    path = tmp_path_factory.mktemp("basis")
    argv = ["ingest", "--catalog", str(path), "--market", "futures", "--symbols", "BTCUSDT", "--kinds",
            "klines,basis", "--intervals", "1m", "--periods", "5m", "--start", START, "--end", END,
            "--base-path-futures", exchange.urls["futures_http"], "--log-level", "WARNING"]
    assert main(argv) == 0
    return path


def test_ingest_lands_the_exchange_rows_in_the_catalog(exchange, catalog: Path) -> None:
    held = [c.data for c in ParquetDataCatalog(str(catalog)).query(Basis)]
    lo, hi = parse_time_ms(START), parse_time_ms(END)
    served = exchange.market.futures_data_rows("basis", "BTCUSDT", "5m", lo, hi, 500)
    assert len(held) == len(served) == 49  # 20:00 .. 00:00 every 5 minutes
    for row, answer in zip(held, served, strict=True):
        assert row.instrument_id.value == IID and row.period == "5m" and row.contract_type == "PERPETUAL"
        assert row.ts_event == row.ts_init == answer["timestamp"] * 1_000_000
        assert (row.basis_str, row.basis_rate_str) == (answer["basis"], answer["basisRate"])
        assert (row.futures_price_str, row.index_price_str) == (answer["futuresPrice"], answer["indexPrice"])
        assert row.basis == row.futures_price - row.index_price and row.annualized_basis_rate is None
    assert (catalog / "data" / "custom_basis" / IID).is_dir()


def _run_config(catalog: Path, data: dict, switch: bool = True) -> dict:
    return {
        "catalog": str(catalog), "start": START, "end": END,
        "instruments": [{"symbol": "BTCUSDT", "market": "futures"}], "data": data,
        "strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi",
                        "config": {"instrument_id": IID, "basis": switch}}],
        "actors": [{"class": "strategies.actors.recorder:DataRecorder", "config": {"kinds": ["basis"]}}],
    }


def test_a_backtest_yaml_loads_it_for_the_strategy_switch(catalog: Path, tmp_path: Path) -> None:
    raw = _run_config(catalog, {"bars": ["1m"], "basis": True})
    resolved = resolve(yaml.safe_load(yaml.safe_dump(raw)), "basis.yaml", run_dir=str(tmp_path / "run"))
    assert any(str(d.data_cls).endswith("Basis") for d in resolved.run_config.data)
    run(resolved, tmp_path / "run")
    received = pd.read_csv(tmp_path / "run" / "data" / "custom_basis.csv", dtype=str)
    held = [c.data for c in ParquetDataCatalog(str(catalog)).query(Basis)]
    assert list(received["basis_str"]) == [r.basis_str for r in held]  # every row of the span, as held


def test_the_strategy_switch_needs_the_kind_loaded(catalog: Path) -> None:
    with pytest.raises(UsageError, match=r"config.basis: true, but data: does not load it; add basis: true"):
        resolve(_run_config(catalog, {"bars": ["1m"]}), "basis.yaml")
    assert SignalStrategyConfig(instrument_id=IID).basis is False  # off unless asked for


def test_record_fills_it_through_ingest(tmp_path: Path) -> None:
    cfg = tmp_path / "record.yaml"
    cfg.write_text(yaml.safe_dump({"catalog": str(tmp_path / "catalog"), "markets": {
        "futures": {"symbols": ["BTCUSDT"], "kinds": ["basis"], "periods": ["5m"]}}}))
    assert main(["record", str(cfg), "--offline", "--duration", "3", "--log-level", "WARNING"]) == 0
    rows = [c.data for c in ParquetDataCatalog(str(tmp_path / "catalog")).query(Basis)]
    assert len(rows) > 12 and all(Decimal(r.basis_str) == r.futures_price - r.index_price for r in rows)
