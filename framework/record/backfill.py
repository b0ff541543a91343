"""The start's catch-up of ``record``: where a resumed series stands, and its progress on stderr.

A restart fetches the rows since the catalog's newest one over REST before live rows follow. That gap can be
anything from seconds to years (a catalog filled by an offline ``ingest`` at the recordings' time, recorded
into at wall-clock now), so ``max_backfill`` bounds it (the recorder skips a longer gap with a warning) and a
catch-up that takes a while reports rows, rate and ETA here.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import TextIO

from framework.catalog.holdings import Holdings
from framework.timeunits import SECOND_MS
from framework.values import format_duration_ms

if TYPE_CHECKING:
    from framework.live.sequencer import GapFreeSequence
    from framework.record.recorder import Recording

#: A stop's own catch-up (what happened since the last live row) gets this long; the rest waits for the next start.
FINAL_CATCH_UP_S = 5.0
PROGRESS_AFTER_S = 5.0  # a catch-up shorter than this prints nothing
PROGRESS_EVERY_S = 5.0


def held_until(held: Holdings) -> int | None:
    """End (ns) of the file holding the newest row: what a write that continues the rows extends. Files after
    it (without rows) do not count: rows decide what is held."""
    if held.last_file is None:
        return None
    return next((f.end for f in held.files if f.name == held.last_file.name), held.last_ts)


@dataclass
class CatchUp:
    """One series resumed from ``start_key`` (its last held key) up to ``target``."""

    rec: Recording
    start_key: int
    target: int | None = None  # the newest key REST had when the catch-up asked

    @classmethod
    def watch(cls, rec: Recording, start_key: int, seq: GapFreeSequence) -> CatchUp:
        """Follow ``seq``'s catch-up: the newest key it asks REST for becomes the target (no extra request)."""
        c = cls(rec, start_key)
        latest = seq.latest
        if latest is not None:
            async def noted() -> int | None:
                c.target = await latest()
                return c.target

            seq.latest = noted
        return c

    def rows(self) -> tuple[int, int | None]:
        """Rows delivered so far and in all (None: unknown yet)."""
        done = 0 if self.rec.newest_key is None else (self.rec.newest_key - self.start_key) // self.rec.step
        total = None if self.target is None else max(0, (self.target - self.start_key) // self.rec.step)
        return max(0, done), total


def progress_line(c: CatchUp, seconds: float) -> str:
    """``backfill: futures BTCUSDT agg_trades: 120,000 of 2,100,000 rows (6%), 2,000 rows/s, ETA 16m``."""
    done, total = c.rows()
    rate = done / seconds if seconds > 0 else 0.0
    text = f"backfill: {c.rec.name}: {done:,}"
    if total:
        text += f" of {total:,} rows ({100 * done / total:.0f}%)"
    else:
        text += " rows"
    text += f", {rate:,.0f} rows/s"
    if total and rate > 0:
        text += f", ETA {format_duration_ms((total - done) / rate * SECOND_MS, approx=True)}"
    return text


async def report_progress(catch_ups: list[CatchUp], out: TextIO | None = None) -> None:
    """Print each unfinished catch-up's progress every ``PROGRESS_EVERY_S`` once it has run ``PROGRESS_AFTER_S``
    (runs until cancelled)."""
    started = time.monotonic()
    await asyncio.sleep(PROGRESS_AFTER_S)
    while True:
        for c in catch_ups:
            done, total = c.rows()
            if total is None or done < total:
                print(progress_line(c, time.monotonic() - started), file=out or sys.stderr, flush=True)
        await asyncio.sleep(PROGRESS_EVERY_S)
