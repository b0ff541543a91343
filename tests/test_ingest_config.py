"""``ingest`` configuration: every series resolved, every mistake one readable line."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from framework.binance.endpoints import Market
from framework.errors import UsageError
from framework.ingest.config import IngestConfig
from framework.ingest.config import SeriesSpec
from framework.ingest.config import parse_span
from framework.ingest.config import plan_series

NOW = 1_723_161_660_000


def config(**markets: dict) -> IngestConfig:
    raw = {"start": "2024-08-01", "markets": markets}
    return msgspec.convert(raw, IngestConfig)


def test_series_expand_symbols_kinds_and_steps() -> None:
    cfg = config(futures={"symbols": ["btcusdt", "ETHUSDT"], "kinds": ["agg_trades", "klines", "open_interest"],
                          "intervals": ["1m", "1h"], "periods": ["5m"]})
    specs = plan_series(cfg)
    assert SeriesSpec(Market.FUTURES, "klines", "BTCUSDT", "1h") in specs
    assert SeriesSpec(Market.FUTURES, "agg_trades", "ETHUSDT", None) in specs
    assert SeriesSpec(Market.FUTURES, "open_interest", "ETHUSDT", "5m") in specs
    assert len(specs) == 2 * (1 + 2 + 1)


@pytest.mark.parametrize(("markets", "message"), [
    ({"spot": {"symbols": ["BTCUSDT"], "kinds": ["funding"]}}, "unknown data kind 'funding' for spot"),
    ({"futures": {"symbols": ["BTCUSDT"], "kinds": ["candles"]}}, "unknown data kind 'candles'"),
    ({"futures": {"symbols": ["BTCUSDT"], "kinds": ["open_interest"], "periods": ["3m"]}},
     "Binance does not offer '3m' for open_interest"),
    ({"futures": {"symbols": ["BTCUSDT"], "kinds": ["klines"], "intervals": ["1s"]}}, "does not offer '1s'"),
    ({"options": {"symbols": ["BTCUSDT"], "kinds": ["klines"]}}, "unknown market 'options'"),
    ({"spot": {"symbols": [], "kinds": ["klines"]}}, "symbols: empty"),
    ({}, "markets: empty"),
])
def test_bad_selections(markets: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_series(config(**markets))


def test_catalog_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog"
    path.write_text("")
    cfg = msgspec.convert({"catalog": str(path), "start": "2024-08-01",
                           "markets": {"spot": {"symbols": ["BTCUSDT"], "kinds": ["klines"]}}}, IngestConfig)
    with pytest.raises(UsageError, match="is a file"):
        plan_series(cfg)


def test_span() -> None:
    assert parse_span(msgspec.convert({"start": "2024-08-08", "end": "now"}, IngestConfig), NOW) == (
        1_723_075_200_000, NOW)
    assert parse_span(msgspec.convert({"start": "1723075200000", "end": "2030-01-01"}, IngestConfig), NOW)[1] == NOW
    with pytest.raises(UsageError, match="is not before end"):
        parse_span(msgspec.convert({"start": "2024-08-09", "end": "2024-08-08"}, IngestConfig), NOW)
    with pytest.raises(UsageError, match="start: missing"):
        parse_span(IngestConfig(), NOW)
    with pytest.raises(UsageError, match="start: 'yesterday' is not a time"):
        parse_span(msgspec.convert({"start": "yesterday"}, IngestConfig), NOW)


def test_a_span_in_the_future_is_refused_and_a_late_end_said() -> None:
    said: list[str] = []
    with pytest.raises(UsageError, match="after the exchange's time now"):  # it used to fetch nothing, silently
        parse_span(msgspec.convert({"start": "2030-01-01", "end": "2030-02-01"}, IngestConfig), NOW, said.append)
    span = parse_span(msgspec.convert({"start": "2024-08-08", "end": "2030-01-01"}, IngestConfig), NOW, said.append)
    assert span == (1_723_075_200_000, NOW) and len(said) == 1 and "fetching up to now" in said[0]
    parse_span(msgspec.convert({"start": "2024-08-08", "end": "now"}, IngestConfig), NOW, said.append)
    assert len(said) == 1
