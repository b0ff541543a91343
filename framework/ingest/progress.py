"""The one progress display of an ingest run over many series: done/total, rows/s, ETA, and why it waits.

On a terminal it is a single line redrawn in place (one tqdm bar, whatever the number of series); elsewhere a
status line is logged every ``STATUS_EVERY_S``. The client's weight limiter announces long waits
(``binance.ratelimit.WaitNotice``, e.g. "futures: waiting 12 s for the weight budget (2390/2400 used in this
minute)"); ``Progress.waiting`` takes them, and the line says so until the wait has passed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from framework.binance.ratelimit import WaitNotice
from framework.values import format_duration_ms

log = logging.getLogger("framework.ingest")
#: How often the terminal line is redrawn, and how often the status line is logged elsewhere (s).
REDRAW_EVERY_S = 0.5
STATUS_EVERY_S = 5.0
#: The bar counts thousandths of the run (series under way count by their share of pages done).
BAR_STEPS = 1000


class Progress:
    """Progress of many series (``unit``), each planned in pages, advanced page by page, then finished.

    ``series``: every series' key and its group (series of a group cost alike: one kind at one interval).
    ``async with progress:`` draws until the block ends (``terminal``: a tqdm line on stderr, else a log line now
    and then). The share done is pages done over pages expected, a series not started yet being expected to
    take as many pages as the mean of its group's started ones; the ETA is the elapsed time scaled by what is left.
    """

    def __init__(self, series: Mapping[Hashable, str], unit: str = "series", terminal: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.groups = dict(series)
        self.total = len(self.groups)
        self.unit = unit
        self.terminal = terminal
        self.clock = clock
        self.done = 0
        self.rows = 0
        self._pages: dict[Hashable, list[int]] = {}  # series started: [pages done, pages planned]
        self._notice: tuple[WaitNotice, float] | None = None  # the latest wait announced, and when it ends
        self._started = clock()
        self._bar: tqdm | None = None
        self._drawer: asyncio.Task[None] | None = None

    # -- what the run reports -------------------------------------------------------------------------

    def plan(self, key: Hashable, pages: int) -> None:
        """``pages`` more pages to fetch for series ``key``."""
        self._pages.setdefault(key, [0, 0])[1] += pages

    def advance(self, key: Hashable, rows: int, pages: int = 1) -> None:
        """``pages`` pages of series ``key`` arrived with ``rows`` rows."""
        self._pages.setdefault(key, [0, 0])[0] += pages
        self.rows += rows

    def finish(self, key: Hashable) -> None:
        """Series ``key`` is done (whatever its pages said)."""
        done, planned = self._pages.setdefault(key, [0, 0])
        self._pages[key] = [max(done, planned)] * 2
        self.done += 1

    def waiting(self, notice: WaitNotice) -> None:
        """A wait announced by the client's limiter (its ``on_wait``): shown, counting down, until it has passed."""
        self._notice = (notice, self.clock() + notice.seconds)
        if not self.terminal:
            log.info("%s", notice)

    # -- what it shows ----------------------------------------------------------------------------------

    def fraction(self) -> float:
        """The share of the run done, 0 to 1 (see the class)."""
        started: dict[str, list[int]] = {}
        for key, (_, planned) in self._pages.items():
            started.setdefault(self.groups.get(key, ""), []).append(planned)
        every = [p for pages in started.values() for p in pages]
        expected = sum(every)
        for key, group in self.groups.items():
            if key not in self._pages:  # not started: like its group's started series (else like any)
                like = started.get(group) or every
                expected += sum(like) / len(like) if like else 0
        if expected <= 0:
            return self.done / self.total if self.total else 1.0
        return min(1.0, sum(done for done, _ in self._pages.values()) / expected)

    def line(self) -> str:
        """``12/50 series done, 61,230 rows, 5,120 rows/s, ETA 40s[, futures: waiting 4 s for ...]`` (at the end:
        ``in 52s`` instead of the ETA)."""
        elapsed = max(self.clock() - self._started, 1e-9)
        share = self.fraction()
        if self.done == self.total:
            when = f"in {format_duration_ms(max(elapsed, 1) * 1000, approx=True)}"
        else:
            left = elapsed * (1 - share) / share if share > 0 else None
            when = f"ETA {'?' if left is None else format_duration_ms(max(left, 1) * 1000, approx=True)}"
        text = (f"{self.done}/{self.total} {self.unit} done, {self.rows:,} rows, {self.rows / elapsed:,.0f} rows/s, "
                f"{when}")
        if self._notice is not None:
            notice, until = self._notice
            left = until - self.clock()
            if left > 0:
                text += f", {dataclasses.replace(notice, seconds=left)}"
            else:
                self._notice = None
        return text

    def draw(self) -> None:
        """Redraw the terminal line, or log the status line."""
        if self._bar is not None:
            self._bar.n = int(self.fraction() * BAR_STEPS)
            self._bar.set_description_str(self.line(), refresh=False)
            self._bar.refresh()
        else:
            log.info("ingest: %s", self.line())

    async def _draw_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.draw()

    async def __aenter__(self) -> Progress:
        if self.terminal:
            self._bar = tqdm(total=BAR_STEPS, file=sys.stderr, bar_format="ingest {percentage:3.0f}%|{bar:20}| {desc}",
                             dynamic_ncols=True, leave=True)
        self._drawer = asyncio.ensure_future(self._draw_every(REDRAW_EVERY_S if self.terminal else STATUS_EVERY_S))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._drawer is not None
        self._drawer.cancel()
        await asyncio.gather(self._drawer, return_exceptions=True)
        if self._bar is not None:
            self.draw()
            self._bar.close()
