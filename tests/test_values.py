"""``framework.values``: every parser, with values it reads (and what they read as) and values it refuses (and a
fragment of the line the user gets). One table, so a rule changed for one command shows here for all of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from framework.errors import UsageError
from framework.values import BadValue
from framework.values import format_duration_ms
from framework.values import format_time_ms
from framework.values import parse_balance
from framework.values import parse_catalog
from framework.values import parse_clock_start
from framework.values import parse_count
from framework.values import parse_duration_ms
from framework.values import parse_duration_s
from framework.values import parse_host
from framework.values import parse_interval
from framework.values import parse_port
from framework.values import parse_rate
from framework.values import parse_speed
from framework.values import parse_symbol
from framework.values import parse_time_ms

AUG8 = 1723075200000  # 2024-08-08T00:00:00Z in epoch ms

# (parser, value, what it reads as)
ACCEPTED: list[tuple[Callable[..., Any], Any, Any]] = [
    (parse_time_ms, "2024-08-08", AUG8),
    (parse_time_ms, "2024-08-08T12:00:00Z", AUG8 + 12 * 3_600_000),
    (parse_time_ms, "2024-08-08T14:00:00+02:00", AUG8 + 12 * 3_600_000),
    (parse_time_ms, "2024-08-08 00:00:01", AUG8 + 1000),
    (parse_time_ms, datetime(2024, 8, 8, tzinfo=UTC), AUG8),
    (parse_time_ms, AUG8, AUG8),
    (parse_time_ms, str(AUG8), AUG8),
    (parse_time_ms, "0", 0),  # "from the beginning": below the epoch-seconds range, still ms
    (parse_time_ms, 99_999_999, 99_999_999),  # the last ms before the epoch-seconds range
    (parse_time_ms, 10**11, 10**11),  # the first ms after it (1973-03-03)
    (lambda v: parse_time_ms(v, allow_now=True, now_ms=42), "now", 42),
    (parse_clock_start, "recorded", "recorded"),
    (parse_clock_start, "NOW", "now"),
    (parse_clock_start, "2024-08-08", str(AUG8)),
    (parse_clock_start, AUG8, str(AUG8)),
    (parse_duration_ms, 30, 30_000),
    (parse_duration_ms, "90s", 90_000),
    (parse_duration_ms, "15m", 900_000),
    (parse_duration_ms, "6h", 21_600_000),
    (parse_duration_ms, "1d", 86_400_000),
    (parse_duration_ms, "1w", 604_800_000),
    (parse_duration_ms, "250ms", 250),
    (parse_duration_ms, "1.5h", 5_400_000),
    (lambda v: parse_duration_ms(v, allow_zero=True), 0, 0),
    (parse_duration_s, "2m", 120.0),
    (parse_speed, "20", 20.0),
    (parse_speed, 0.5, 0.5),
    (lambda v: parse_speed(v, allow_zero=True), 0, 0.0),
    (lambda v: parse_rate(v, "rate"), "0.01", 0.01),
    (lambda v: parse_rate(v, "rate"), 1, 1.0),
    (lambda v: parse_rate(v, "rate"), 0, 0.0),
    (lambda v: parse_count(v, "n"), "3", 3),
    (lambda v: parse_count(v, "n", minimum=0), 0, 0),
    (parse_port, 0, 0),
    (parse_port, "8080", 8080),
    (parse_port, 65535, 65535),
    (parse_host, "127.0.0.1", "127.0.0.1"),
    (parse_host, " 0.0.0.0 ", "0.0.0.0"),
    (parse_host, "[::1]", "::1"),
    (parse_host, "localhost", "localhost"),
    (parse_host, "research-box.lan", "research-box.lan"),
    (parse_symbol, "BTCUSDT", "BTCUSDT"),
    (parse_symbol, " ethusdt ", "ETHUSDT"),
    (parse_symbol, "1000SHIBUSDT", "1000SHIBUSDT"),
    (parse_symbol, "BTCUSDT_240927", "BTCUSDT_240927"),  # a USD-M delivery contract
    (parse_interval, "1m", "1m"),
    (parse_interval, "1M", "1M"),
    (parse_interval, "1d", "1d"),
    (parse_catalog, "catalog", "catalog"),
    (parse_catalog, Path("/data/cat"), "/data/cat"),
    (parse_catalog, "s3://bucket/prefix/", "s3://bucket/prefix"),
    (parse_catalog, "S3://my.bucket-1", "s3://my.bucket-1"),
    (parse_balance, "10000 USDT", ("10000", "USDT")),
    (parse_balance, "0.5 BTC", ("0.5", "BTC")),
]

# (parser, value, a fragment of the refusal)
REFUSED: list[tuple[Callable[..., Any], Any, str]] = [
    (parse_time_ms, "09/08/2024", "'09/08/2024' is not a time this framework reads"),
    (parse_time_ms, "20240808", "'20240808' is ambiguous"),
    (parse_time_ms, "2024-13-01", "is not a valid date or time"),
    (parse_time_ms, "yesterday", "is not a time this framework reads"),
    (parse_time_ms, "now", "is not a time this framework reads"),  # only where allow_now
    (parse_time_ms, None, "missing or not a time"),
    (parse_time_ms, True, "missing or not a time"),
    (parse_time_ms, -1, "is before 1970"),
    (parse_time_ms, 1723075200, "1723075200 looks like epoch seconds; multiply by 1000 (1723075200000) or write "
                                "an ISO time (2024-08-08T00:00:00Z)"),
    (parse_time_ms, "1723075200", "looks like epoch seconds"),
    (parse_time_ms, 100_000_000, "looks like epoch seconds"),  # the range's first value
    (parse_time_ms, 10**11 - 1, "looks like epoch seconds"),  # and its last
    (parse_time_ms, AUG8 * 1000, "looks like micro- or nanoseconds"),
    (parse_clock_start, "yesterday", "is not a clock start; use recorded"),
    (parse_clock_start, "", "is not a clock start"),
    (parse_clock_start, "1723075200", "looks like epoch seconds"),
    (parse_duration_ms, "-5m", "durations cannot be negative"),
    (parse_duration_ms, 0, "must be more than zero"),
    (parse_duration_ms, "5 minutes", "is not a duration"),
    (parse_duration_ms, float("inf"), "is not a finite duration"),
    (parse_duration_ms, None, "missing"),
    (parse_duration_s, "1y", "is not a duration"),
    (parse_speed, -1, "must be more than zero"),
    (parse_speed, 0, "must be more than zero"),
    (parse_speed, "fast", "is not a number"),
    (parse_speed, "nan", "is not a finite number"),
    (lambda v: parse_rate(v, "rate"), 1.5, "must be between 0 and 1"),
    (lambda v: parse_rate(v, "rate"), -0.1, "must be between 0 and 1"),
    (lambda v: parse_count(v, "n"), 0, "must be a whole number of at least 1"),
    (lambda v: parse_count(v, "n"), 2.5, "must be a whole number of at least 1"),
    (lambda v: parse_count(v, "n"), True, "is not a number"),
    (parse_port, 70000, "is not a TCP port"),
    (parse_port, -1, "is not a TCP port"),
    (parse_port, "http", "is not a number"),
    (parse_host, "http://127.0.0.1", "is not an address to listen on"),
    (parse_host, "127.0.0.1:8000", "without scheme or port"),
    (parse_host, "", "is not an address to listen on"),
    (parse_host, "my host", "is not an address to listen on"),
    (parse_symbol, "BTC-USDT", "is not a Binance symbol"),
    (parse_symbol, "B", "is not a Binance symbol"),
    (parse_symbol, "BTCUSDT_24", "is not a Binance symbol"),
    (parse_symbol, 123, "is not a Binance symbol"),
    (parse_interval, "7m", "'7m' is not a Binance kline interval"),
    (lambda v: parse_interval(v, fixed=True), "1M", "'1M' is not a Binance kline interval"),
    (parse_catalog, "gs://bucket/prefix", "is a gs:// URL; a catalog is a local folder or on S3-compatible object "
                                          "storage (s3://bucket/prefix)"),
    (parse_catalog, "s3://Bucket/prefix", "'Bucket' is not a bucket name"),
    (parse_catalog, "s3://bucket//prefix", "the prefix after the bucket has an empty, '.' or '..' part"),
    (parse_catalog, "  ", "missing or empty"),
    (parse_catalog, None, "missing or empty"),
    (parse_balance, "ten thousand USDT", "is not a balance"),
    (parse_balance, "10000 usdt", "is not a balance"),
    (parse_balance, "0 USDT", "is not a balance"),
    (parse_balance, 10000, "is not a balance"),
]


@pytest.mark.parametrize(("parser", "value", "expected"), ACCEPTED, ids=lambda x: repr(x)[:40])
def test_accepted(parser: Callable[..., Any], value: Any, expected: Any) -> None:
    assert parser(value) == expected


@pytest.mark.parametrize(("parser", "value", "fragment"), REFUSED, ids=lambda x: repr(x)[:40])
def test_refused(parser: Callable[..., Any], value: Any, fragment: str) -> None:
    with pytest.raises(BadValue) as caught:
        parser(value)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2  # one line, exit 2
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("ms", [1, 250, 1000, 90_000, 900_000, 21_600_000, 86_400_000, 604_800_000, 5_400_000])
def test_format_duration_reads_back(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms


@pytest.mark.parametrize(("ms", "text"), [
    (500, "500ms"), (40_000, "40s"), (119_000, "119s"), (5_400_000, "90m"), (7_199_999, "120m"),
    (7_200_000, "2h"), (851 * 86_400_000 + 3 * 3_600_000, "851d"),
])
def test_format_duration_approx_for_people(ms: int, text: str) -> None:
    assert format_duration_ms(ms, approx=True) == text
    assert abs(parse_duration_ms(text) - ms) <= 0.25 * ms  # still a duration the parsers read, within 25 %


def test_format_time_reads_back() -> None:
    assert format_time_ms(AUG8) == "2024-08-08T00:00:00Z"
    assert format_time_ms(AUG8 + 5) == "2024-08-08T00:00:00.005Z"
    assert parse_time_ms(format_time_ms(AUG8 + 5)) == AUG8 + 5
