"""One parser per kind of value a user gives, so every command accepts and refuses the same things.

Times, durations, speeds, rates, ports, symbols (one, or lists with selectors such as ``all-usdt-perp``), kline
intervals and catalog locations: each has one function here. They raise ``BadValue`` (a ``UsageError`` and a
``ValueError``), whose text names the value, what was wrong and what to write instead; ``what`` is the name the
user knows the value by (a flag or a key).
"""

from __future__ import annotations

import difflib
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from framework.binance.intervals import INTERVAL_MS
from framework.errors import UsageError
from framework.timeunits import DAY_MS
from framework.timeunits import HOUR_MS
from framework.timeunits import MINUTE_MS
from framework.timeunits import SECOND_MS


class BadValue(UsageError, ValueError):
    """A value the user gave that cannot be used (exit code 2); also a ValueError for library callers."""


# -- times --------------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")
TIME_HINT = "use an ISO date or time (2024-08-08, 2024-08-08T12:00:00Z) or epoch milliseconds"


def parse_time_ms(value: Any, what: str = "time", *, allow_now: bool = False, now_ms: int | None = None) -> int:
    """An ISO 8601 date/time (UTC unless it says otherwise) or epoch milliseconds -> epoch ms.

    Anything else is refused, in particular day/month orders (``09/08/2024`` is 9 August in most of the
    world and 8 September in the US) and 8-digit numbers that read as a date (``20240808``).
    ``allow_now``: ``now`` means the current time (``now_ms`` when given).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool) or value is None:
        raise BadValue(f"{what}: missing or not a time ({value!r}); {TIME_HINT}")
    elif isinstance(value, int):
        return _epoch_ms(value, what)
    else:
        text = str(value).strip()
        if allow_now and text.lower() == "now":
            return now_ms if now_ms is not None else int(time.time() * 1000)
        if text.isdigit():
            if len(text) == 8 and _looks_like_date(text):
                raise BadValue(f"{what}: {text!r} is ambiguous (a date or epoch ms?); write {text[:4]}-{text[4:6]}-"
                               f"{text[6:]} for the date or the full epoch milliseconds")
            return _epoch_ms(int(text), what)
        if not _ISO_DATE.match(text):
            raise BadValue(f"{what}: {text!r} is not a time this framework reads; {TIME_HINT}"
                           + (" or now" if allow_now else ""))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BadValue(f"{what}: {text!r} is not a valid date or time; {TIME_HINT}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


CLOCK_HINT = "use recorded (the recordings' own time), now, or a time: an ISO date or time or epoch milliseconds"


def parse_clock_start(value: Any, what: str = "--start") -> str:
    """Where a local exchange's clock starts: ``recorded``, ``now`` or a time (returned as epoch ms text)."""
    text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if text in ("recorded", "now"):
        return text
    if not text:
        raise BadValue(f"{what}: {value!r} is not a clock start; {CLOCK_HINT}")
    if text.isdigit():  # a number: parse_time_ms's own line says what is wrong with it (seconds, a date, ...)
        return str(parse_time_ms(value, what))
    try:
        return str(parse_time_ms(value, what))
    except BadValue:
        raise BadValue(f"{what}: {value!r} is not a clock start; {CLOCK_HINT}") from None


def _looks_like_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return 1990 <= int(text[:4]) <= 2100


#: Epoch ms in [10^8, 10^11) fall between 1970-01-02 and 1973-03-03, where no Binance data is; the same
#: numbers as epoch SECONDS are 1973-2286 (1723075200 = 2024-08-08), the usual slip. Below 10^8 (e.g. 0,
#: "from the beginning") stays accepted.
_SECONDS_RANGE = (10**8, 10**11)


def _epoch_ms(value: int, what: str) -> int:
    if value < 0:
        raise BadValue(f"{what}: {value} is before 1970; {TIME_HINT}")
    if _SECONDS_RANGE[0] <= value < _SECONDS_RANGE[1]:
        raise BadValue(f"{what}: {value} looks like epoch seconds; multiply by 1000 ({value * 1000}) or write an "
                       f"ISO time ({format_time_ms(value * 1000)})")
    if value > 10**14:  # year ~5138 in ms: this is microseconds or nanoseconds
        raise BadValue(f"{what}: {value} looks like micro- or nanoseconds; give epoch milliseconds")
    return value


def format_time_ms(ms: int) -> str:
    """Epoch ms -> ``2024-08-08T00:00:00Z`` (seconds, or milliseconds when they are not zero)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


# -- durations ----------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$")
_UNIT_MS = {"ms": 1, "s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}
DURATION_HINT = "use a number of seconds or a number with ms/s/m/h/d/w, e.g. 30, 90s, 15m, 6h, 1d"


def parse_duration_ms(value: Any, what: str = "duration", *, allow_zero: bool = False) -> int:
    """``90`` (seconds), ``90s``, ``15m``, ``6h``, ``30d``, ``1w``, ``250ms`` -> milliseconds (positive)."""
    if isinstance(value, bool) or value is None:
        raise BadValue(f"{what}: missing ({value!r}); {DURATION_HINT}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise BadValue(f"{what}: {value} is not a finite duration; {DURATION_HINT}")
        ms = round(value * SECOND_MS)
        text = repr(value)
    else:
        text = str(value).strip()
        match = _DURATION.match(text)
        if not match:
            sign = " (durations cannot be negative)" if text.startswith("-") else ""
            raise BadValue(f"{what}: {text!r} is not a duration{sign}; {DURATION_HINT}")
        ms = round(float(match.group(1)) * _UNIT_MS[match.group(2) or "s"])
    if ms < 0 or (ms == 0 and not allow_zero):
        raise BadValue(f"{what}: {text} must be {'zero or more' if allow_zero else 'more than zero'}; {DURATION_HINT}")
    return ms


def parse_duration_s(value: Any, what: str = "duration", *, allow_zero: bool = False) -> float:
    """A duration as ``parse_duration_ms`` reads it, in seconds."""
    return parse_duration_ms(value, what, allow_zero=allow_zero) / SECOND_MS


def format_duration_ms(ms: float, *, approx: bool = False) -> str:
    """Milliseconds -> the shortest text ``parse_duration_ms`` reads back: ``1d``, ``6h``, ``15m``, ``90s``.

    ``approx``: a span for people, rounded to whole units of the largest unit it holds twice or more (``851d``,
    ``5h``, ``90m``, ``40s``: within 25 %), still text ``parse_duration_ms`` reads.
    """
    if approx:
        unit = next((u for u in ("d", "h", "m", "s") if ms >= 2 * _UNIT_MS[u]), "s" if ms >= SECOND_MS else "ms")
        return f"{round(ms / _UNIT_MS[unit])}{unit}"
    ms = int(ms)
    for unit in ("w", "d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


# -- numbers ------------------------------------------------------------------------------------------------


def _number(value: Any, what: str, hint: str) -> float:
    if isinstance(value, bool):
        raise BadValue(f"{what}: {value!r} is not a number; {hint}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue(f"{what}: {value!r} is not a number; {hint}") from None
    if not math.isfinite(number):
        raise BadValue(f"{what}: {value!r} is not a finite number; {hint}")
    return number


def parse_speed(value: Any, what: str = "--speed", *, allow_zero: bool = False) -> float:
    """Market seconds per wall second: positive (``allow_zero``: 0 freezes the clock)."""
    hint = "market seconds per wall second, e.g. 1 (real time) or 20" + (", 0 freezes the clock" if allow_zero else "")
    speed = _number(value, what, hint)
    if speed < 0 or (speed == 0 and not allow_zero):
        raise BadValue(f"{what}: {value} must be {'zero or more' if allow_zero else 'more than zero'}; {hint}")
    return speed


def parse_rate(value: Any, what: str) -> float:
    """A share between 0 and 1 inclusive (e.g. a fault drill's rate)."""
    rate = _number(value, what, "a share between 0 and 1, e.g. 0.01")
    if not 0 <= rate <= 1:
        raise BadValue(f"{what}: {value} must be between 0 and 1, e.g. 0.01")
    return rate


def parse_count(value: Any, what: str, *, minimum: int = 1) -> int:
    """A whole number of at least ``minimum``."""
    number = _number(value, what, f"a whole number of at least {minimum}")
    if number != int(number) or number < minimum:
        raise BadValue(f"{what}: {value} must be a whole number of at least {minimum}")
    return int(number)


def parse_port(value: Any, what: str = "--port") -> int:
    """A TCP port, 0 (any free port) to 65535."""
    number = _number(value, what, "a TCP port from 1 to 65535, or 0 for a free one")
    if number != int(number) or not 0 <= number <= 65535:
        raise BadValue(f"{what}: {value} is not a TCP port; use 1 to 65535, or 0 for a free one")
    return int(number)


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                       r"[A-Za-z0-9])?)*$")


def parse_host(value: Any, what: str = "--host") -> str:
    """An address to listen on: an IPv4/IPv6 address or a host name (no scheme, no port)."""
    import ipaddress

    text = str(value).strip() if isinstance(value, str) else ""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    if not _HOSTNAME.match(text):
        raise BadValue(f"{what}: {value!r} is not an address to listen on; give an IP address or a host name "
                       "without scheme or port, e.g. 127.0.0.1 (port: --port)")
    return text


# -- Binance names ------------------------------------------------------------------------------------------

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}(_[0-9]{6})?$")


def parse_symbol(value: Any, what: str = "symbol") -> str:
    """A Binance symbol such as ``BTCUSDT``, or a USD-M delivery contract such as ``BTCUSDT_240927``
    (case-insensitive; returned upper-case)."""
    text = str(value).strip().upper() if isinstance(value, str) else ""
    if not _SYMBOL.match(text):
        if symbol_selector(value) is not None:
            raise BadValue(f"{what}: {value.strip()!r} selects many symbols; this takes one symbol, e.g. BTCUSDT")
        raise BadValue(f"{what}: {value!r} is not a Binance symbol; use letters and digits, e.g. BTCUSDT")
    return text


_SELECTOR = re.compile(r"^all-([a-z0-9]{2,12})-(perp|spot)$")


@dataclass(frozen=True)
class SymbolSelector:
    """Many symbols by one name, resolved from the market's exchangeInfo when a run starts: ``all-usdt-perp`` is every
    USD-M perpetual quoted in USDT that is trading, ``all-usdt-spot`` every spot pair quoted in USDT that is trading
    (any quote asset: ``all-usdc-perp``, ``all-btc-spot``)."""

    name: str  # as written, lower-case
    market: str  # "futures" or "spot"
    quote: str  # the quote asset, upper-case

    def matches(self, entry: Any) -> bool:
        """Whether one exchangeInfo symbol entry (a decoded Struct or a dict) is among the selected."""
        get = entry.get if isinstance(entry, dict) else lambda key: getattr(entry, key, None)
        if get("status") != "TRADING" or get("quoteAsset") != self.quote:
            return False
        return self.market == "spot" or get("contractType") == "PERPETUAL"

    def select(self, entries: Iterable[Any]) -> list[str]:
        """The names of the selected entries, in the exchange's order."""
        get = lambda e: e["symbol"] if isinstance(e, dict) else e.symbol  # noqa: E731
        return [get(e) for e in entries if self.matches(e)]


def symbol_selector(value: Any) -> SymbolSelector | None:
    """The selector ``value`` names (``all-usdt-perp``, case-insensitive), or None for anything else."""
    match = _SELECTOR.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None:
        return None
    return SymbolSelector(match.group(0), "futures" if match.group(2) == "perp" else "spot", match.group(1).upper())


def parse_symbols(value: Any, what: str = "symbols", market: str | None = None) -> list[str]:
    """Symbols and selectors, comma-separated (``BTCUSDT,ethusdt``) or as a YAML list, each once in the order
    given: symbols upper-case (``parse_symbol``), selectors lower-case (``symbol_selector``; ``market``: the market
    they are given for, a selector of the other one is refused). ``resolve_symbols`` turns them into symbols."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = [part for v in value for part in (v.split(",") if isinstance(v, str) else [v])]
    else:
        raise BadValue(f"{what}: {value!r} is not a list of symbols; write them comma-separated or as a list, "
                       "e.g. [BTCUSDT, ETHUSDT], or a selector such as all-usdt-perp")
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        selector = symbol_selector(item)
        if selector is None:
            token = parse_symbol(item, what)
        elif market is not None and selector.market != market:
            other = f"all-{selector.quote.lower()}-{'spot' if market == 'spot' else 'perp'}"
            raise BadValue(f"{what}: {selector.name} selects {selector.market} symbols but this is {market}; "
                           f"use {other}")
        else:
            token = selector.name
        if token not in out:
            out.append(token)
    if not out:
        raise BadValue(f"{what}: empty; list at least one symbol, e.g. BTCUSDT, or a selector such as all-usdt-perp")
    return out


def resolve_symbols(tokens: list[str], entries: Iterable[Any], market: str,
                    what: str = "symbols") -> tuple[list[str], dict[str, int]]:
    """``parse_symbols``' tokens against one market's exchangeInfo ``entries``: the symbols (each once, in the order
    asked, a selector's in the exchange's order) and how many symbols each selector gave.

    Symbols the market does not list are one ``BadValue`` line naming every one with the closest listed name; so is
    a selector that selects nothing.
    """
    entries = list(entries)
    listed = [e["symbol"] if isinstance(e, dict) else e.symbol for e in entries]
    known = set(listed)
    symbols: list[str] = []
    counts: dict[str, int] = {}
    unknown: dict[str, str | None] = {}  # name -> the closest listed one
    for token in tokens:
        selector = symbol_selector(token)
        if selector is None:
            if token in known:
                symbols.append(token)
            else:
                unknown[token] = next(iter(difflib.get_close_matches(token, listed, n=1, cutoff=0.6)), None)
            continue
        chosen = selector.select(entries)
        if not chosen:
            quotes = sorted({e["quoteAsset"] if isinstance(e, dict) else e.quoteAsset for e in entries})
            raise BadValue(f"{what}: {selector.name} selects no symbol on Binance {market} (no {selector.quote} "
                           f"{'perpetual' if selector.market == 'futures' else 'pair'} is trading); quote assets "
                           f"there: {', '.join(quotes[:12])}{' ...' if len(quotes) > 12 else ''}")
        counts[selector.name] = len(chosen)
        symbols += chosen
    if unknown:
        close = [f"{near}{f' for {name}' if len(unknown) > 1 else ''}" for name, near in unknown.items() if near]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BadValue(f"{what}: {', '.join(unknown)} not listed on Binance {market}{hint}; check the "
                       f"symbol{'s' if len(unknown) > 1 else ''} (spot and USD-M list different ones)")
    return list(dict.fromkeys(symbols)), counts


def parse_interval(value: Any, what: str = "interval", *, fixed: bool = False) -> str:
    """A Binance kline interval (``1m``, ``1h``, ...); ``fixed``: refuse calendar months (``1M``)."""
    text = str(value).strip()
    valid = [i for i, ms in INTERVAL_MS.items() if ms is not None or not fixed]
    if text not in valid:
        raise BadValue(f"{what}: {text!r} is not a Binance kline interval; use one of {', '.join(valid)}")
    return text


# -- catalog locations --------------------------------------------------------------------------------------

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rules


def parse_catalog(value: Any, what: str = "catalog") -> str:
    """A catalog location: a local folder (relative paths are relative to the current directory) or
    ``s3://bucket/prefix`` on S3-compatible object storage (returned as ``s3://bucket/prefix``, no trailing
    slash; its endpoint and credentials are checked when it is opened: ``framework.catalog.location``).

    Other URLs (``gs://``, ``file://``) and a malformed ``s3://`` one are refused with one line rather than
    being taken for a folder named ``gs:``.
    """
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise BadValue(f"{what}: missing or empty; give a folder, e.g. catalog, or s3://bucket/prefix")
    text = str(value).strip()
    if _URL.match(text):
        scheme, rest = text.split("://", 1)
        if scheme.lower() != "s3":
            raise BadValue(f"{what}: {text!r} is a {scheme}:// URL; a catalog is a local folder or on S3-compatible "
                           "object storage (s3://bucket/prefix)")
        bucket, _, prefix = rest.partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise BadValue(f"{what}: {text!r}: {bucket!r} is not a bucket name (3 to 63 lower-case letters, digits, "
                           "dots and hyphens); write s3://bucket/prefix")
        parts = prefix.rstrip("/").split("/") if prefix.rstrip("/") else []
        if any(p in ("", ".", "..") for p in parts):
            raise BadValue(f"{what}: {text!r}: the prefix after the bucket has an empty, '.' or '..' part; write "
                           "s3://bucket/prefix")
        return "/".join([f"s3://{bucket}", *parts])
    return text


# -- money --------------------------------------------------------------------------------------------------

_BALANCE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s+([A-Z][A-Z0-9]{1,11})\s*$")


def parse_balance(value: Any, what: str = "starting_balances") -> tuple[str, str]:
    """A starting balance ``"10000 USDT"`` (a positive amount, a space, an upper-case currency code) ->
    (amount text, currency); Nautilus's own parser fails on ``"ten thousand USDT"`` with a bare decimal error."""
    match = _BALANCE.match(value) if isinstance(value, str) else None
    if not match or not float(match.group(1)) > 0:
        raise BadValue(f"{what}: {value!r} is not a balance; write a positive amount and an upper-case currency "
                       "code, e.g. \"10000 USDT\"")
    return match.group(1), match.group(2)
