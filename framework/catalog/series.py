"""What the catalog holds, named: a series (data class + identifier, its dedupe key and chunk period), the
periods it is chunked by, the span a file covers, and what a write did.

A period is a closed ns interval ``[start, next_start - 1]`` (UTC days by default, any fixed length from the
Unix epoch, or calendar months); each file of a series lies inside one period and is named by the closed
``ts_init`` interval it covers (``framework.catalog.nautilus_paths``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pandas as pd
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick

from framework.catalog.nautilus_paths import class_folder


class CatalogStoreError(RuntimeError):
    """A write the store refuses (schema mismatch, rows outside the bounds, a locked series...)."""


# -- periods ------------------------------------------------------------------------------------------------


class Period:
    """Fixed UTC chunk periods: a fixed length from the Unix epoch ("1D", "6h", "7D", a ``pd.Timedelta``, an
    int of ns) or calendar months ("month"). Periods are closed intervals ``[start, next_start - 1]``."""

    def __init__(self, spec: str | int | pd.Timedelta | Period = "1D") -> None:
        if isinstance(spec, Period):
            self.months, self.length, self.spec = spec.months, spec.length, spec.spec
            return
        self.spec = str(spec)
        self.months = isinstance(spec, str) and spec.lower() in ("month", "1month", "ms", "1ms")
        if self.months:
            self.length = 0
        else:
            length = spec if isinstance(spec, int) else pd.Timedelta(spec).value
            if length <= 0:
                raise ValueError(f"period must be positive, got {spec!r}")
            self.length = int(length)

    def __repr__(self) -> str:
        return f"Period({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Period) and (self.months, self.length) == (other.months, other.length)

    def __hash__(self) -> int:
        return hash((self.months, self.length))

    def bounds(self, ts: int) -> tuple[int, int]:
        """The closed period ``[start, end]`` containing ``ts``."""
        if not self.months:
            start = (ts // self.length) * self.length
            return start, start + self.length - 1
        utc = dt.UTC
        epoch = dt.datetime(1970, 1, 1, tzinfo=utc)
        day = epoch + dt.timedelta(microseconds=ts // 1000)
        first = dt.datetime(day.year, day.month, 1, tzinfo=utc)
        nxt = dt.datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=utc)
        us = dt.timedelta(microseconds=1)
        return (first - epoch) // us * 1000, (nxt - epoch) // us * 1000 - 1

    def segments(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """``(seg_start, seg_end, period_start, period_end)`` for each period meeting ``[start, end]``."""
        ts = start
        while ts <= end:
            ps, pe = self.bounds(ts)
            yield ts, min(end, pe), ps, pe
            ts = pe + 1


# -- series -------------------------------------------------------------------------------------------------


def _default_key(data_cls: type) -> tuple[str, ...] | None:
    if data_cls is TradeTick:
        return ("trade_id",)
    if issubclass(data_cls, Bar):
        return ("ts_init",)
    return None  # the whole row


@dataclass(frozen=True)
class Series:
    """One series of the catalog: a data class and its identifier (instrument id, bar type or None).

    ``key``: the columns that identify a row for dedupe (default: ``trade_id`` for trades, ``ts_init`` for
    bars, every column otherwise). ``period``: chunk period for this series (default: the store's).
    """

    data_cls: type
    identifier: str | None
    key: tuple[str, ...] | None = None
    period: Period | None = None

    @classmethod
    def trades(cls, instrument_id: Any, period: Any = None) -> Series:
        """The ``TradeTick`` series of one instrument."""
        return cls(TradeTick, str(instrument_id), period=Period(period) if period is not None else None)

    @classmethod
    def bars(cls, bar_type: Any, period: Any = None) -> Series:
        """The ``Bar`` series of one bar type."""
        return cls(Bar, str(bar_type), period=Period(period) if period is not None else None)

    @classmethod
    def custom(
        cls, data_cls: type, identifier: Any = None, key: Sequence[str] | None = None, period: Any = None
    ) -> Series:
        """A custom data class's series (``key``: the dedupe columns; default: the whole row)."""
        return cls(
            data_cls,
            None if identifier is None else str(identifier),
            key=tuple(key) if key is not None else None,
            period=Period(period) if period is not None else None,
        )

    @property
    def dedupe_key(self) -> tuple[str, ...] | None:
        """The columns identifying a row (None: the whole row)."""
        return self.key if self.key is not None else _default_key(self.data_cls)

    @property
    def class_dir(self) -> str:
        """The series' class folder under ``<root>/data``."""
        return class_folder(self.data_cls)

    def __str__(self) -> str:
        return f"{self.data_cls.__name__}[{self.identifier}]" if self.identifier else self.data_cls.__name__


@dataclass(frozen=True)
class FileSpan:
    """One catalog file: its name and the closed ns interval the name declares covered."""

    name: str
    start: int
    end: int


def merge_intervals(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Closed intervals -> sorted disjoint ones (overlapping or adjacent ones joined)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1] + 1:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


@dataclass
class WriteReport:
    """What one write did to a series: rows taken, new and dropped, files written, renamed and removed."""

    series: Series
    rows_in: int = 0  # rows handed to the write
    rows_new: int = 0  # rows the catalog did not hold before
    rows_duplicate: int = 0  # rows dropped: already held or repeated in the input
    written: list[str] = field(default_factory=list)  # files (re)written
    renamed: list[tuple[str, str]] = field(default_factory=list)  # bounds extended without new rows
    removed: list[str] = field(default_factory=list)  # files replaced by a merged one

    @property
    def changed(self) -> bool:
        """Whether any file was written, renamed or removed."""
        return bool(self.written or self.renamed or self.removed)

