"""What every chart shares: a figure of named panels, placeholders for missing data, PNG output.

Each chart function returns a :class:`Chart`: the matplotlib ``Figure``, its axes by panel name and the list of
what was missing (each missing panel shows a placeholder that says so). Agg backend: no display needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot/mplfinance: charts are files, never windows

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

# Price labels on the left like every other panel: on the right (yahoo's default) they run off the figure.
STYLE = mpf.make_mpf_style(base_mpf_style="yahoo", y_on_right=False,
                           rc={"font.size": 8, "axes.titlesize": 9, "figure.titleweight": "bold",
                               "axes.titleweight": "bold"})
UP, DOWN = "#26a69a", "#ef5350"
DPI = 100


@dataclass
class Chart:
    """A drawn chart: the figure, its axes by panel name, what was missing, and where it was saved."""

    name: str
    figure: Figure
    axes: dict[str, Axes]
    missing: list[str] = field(default_factory=list)
    needs: list[tuple[str, str]] = field(default_factory=list)  # (market, ingest kind) that would fill a gap
    blank: set[str] = field(default_factory=set)  # panels that show only a "missing" note
    path: Path | None = None
    data: pd.DataFrame | None = None  # the numbers behind the chart, when a chart computes some

    def notes(self) -> str:
        """What is missing, each thing once: ``price, rsi, volume: spot klines; ...``."""
        by_what: dict[str, list[str]] = {}
        for note in self.missing:
            panel, sep, what = note.partition(": ")
            if sep and panel in self.axes:
                by_what.setdefault(what, []).append(panel)
            else:
                by_what.setdefault(note, [])
        # a thing every panel lacks is said once, without the panels
        return "; ".join(f"{', '.join(panels)}: {what}" if panels and set(panels) != set(self.axes) else what
                         for what, panels in by_what.items())

    @property
    def empty(self) -> bool:
        """Every panel is a "missing" note: the chart shows nothing."""
        return self.blank == set(self.axes)

    def save(self, path: str | Path) -> Path:
        """Write the PNG (folders created) and release the figure's memory."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure.savefig(path, dpi=DPI)
        self.close()
        self.path = path
        return path

    def close(self) -> None:
        """Release the figure's memory (a chart not worth saving)."""
        plt.close(self.figure)


def figure(name: str, title: str, panels: dict[str, float], width: float = 12.0,
           sharex: bool = True) -> Chart:
    """A chart with one row per panel (``name -> height ratio``), sharing the time axis."""
    fig = mpf.figure(style=STYLE, figsize=(width, 1.6 * sum(panels.values()) + 1.0))
    grid = fig.add_gridspec(len(panels), 1, height_ratios=list(panels.values()), hspace=0.08 if sharex else 0.45)
    axes: dict[str, Axes] = {}
    first = None
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(grid[i, 0], sharex=first if sharex else None)
        first = first or ax
        ax.set_ylabel(panel.replace("_", " "))
        plain_numbers(ax)
        axes[panel] = ax
        if sharex and i < len(panels) - 1:
            ax.tick_params(labelbottom=False)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.08, right=0.97, top=0.94, bottom=0.07)
    return Chart(name, fig, axes)


class PlainFormatter(ScalarFormatter):
    """Tick labels as the numbers themselves, grouped by thousands from 10,000 on: never "+6.168e4" (an
    offset) or "1e7" above the axis, which people misread."""

    def __init__(self) -> None:
        super().__init__(useOffset=False)
        self.set_scientific(False)

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = super().__call__(x, pos)
        if abs(x) >= 10_000 and text:
            whole, dot, frac = text.replace("\u2212", "-").partition(".")
            text = f"{int(whole):,}{dot}{frac}"
        return text


def plain_numbers(ax: Axes) -> None:
    """Plain y tick labels on ``ax`` (``PlainFormatter``)."""
    ax.yaxis.set_major_formatter(PlainFormatter())


def placeholder(chart: Chart, panel: str, what: str, needs: list[tuple[str, str]] | None = None) -> None:
    """Mark ``panel`` as missing: a centred note naming what is absent, recorded in ``chart.missing``;
    ``needs``: the (market, ingest kind) pairs that would fill it."""
    ax = chart.axes[panel]
    ax.text(0.5, 0.5, f"missing: {what}", transform=ax.transAxes, ha="center", va="center", color="grey",
            fontsize=10, style="italic")
    ax.set_yticks([])
    chart.missing.append(f"{panel}: {what}")
    chart.blank.add(panel)
    chart.needs.extend(n for n in needs or [] if n not in chart.needs)


def all_missing(chart: Chart, what: str, needs: list[tuple[str, str]] | None = None) -> Chart:
    """Every panel of ``chart`` marked missing for want of ``what``."""
    for panel in chart.axes:
        placeholder(chart, panel, what, needs)
    return chart


def candles(ax: Axes, bars: pd.DataFrame, volume_ax: Axes | None = None, lines: dict[str, pd.Series] | None = None,
            ) -> None:
    """Candlesticks of ``bars`` (open-time index) on ``ax`` with overlay ``lines``; volume bars on ``volume_ax``."""
    plots = [mpf.make_addplot(s.reindex(bars.index), ax=ax, width=1.0, label=label)
             for label, s in (lines or {}).items() if s.notna().any()]
    mpf.plot(bars, type="candle", ax=ax, volume=volume_ax if volume_ax is not None else False, addplot=plots,
             show_nontrading=True, warn_too_much_data=100_000, datetime_format="%m-%d %H:%M", xrotation=0)
    if plots:
        ax.legend(loc="upper left", fontsize=7)


def time_axis(ax: Axes) -> None:
    """Date ticks that fit the span: seconds when it is a minute, days when it is weeks, so no two tick labels
    read the same; the date(s) of the span, in UTC, under the axis. Call after the data is drawn."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    # tick formats by level (years, months, days, hours, minutes, seconds): a clock time, never a bare "35"
    formats = ["%Y", "%Y-%m", "%m-%d", "%H:%M", "%H:%M", "%H:%M:%S"]
    zero_formats = ["%Y", "%Y-%m", "%m-%d", "%m-%d %H:%M", "%H:%M", "%H:%M:%S"]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, formats=formats, zero_formats=zero_formats,
                                                             show_offset=False))
    # the formatter's own offset names the last tick's day, which can be the day after the data: name the days
    # of the data (of the limits when the axis holds none, e.g. a placeholder)
    drawn = [a.dataLim.intervalx for a in ax.get_shared_x_axes().get_siblings(ax) if a.has_data()]
    span = (min(d[0] for d in drawn), max(d[1] for d in drawn)) if drawn else ax.get_xlim()
    first, last = (mdates.num2date(x).strftime("%Y-%m-%d") for x in span)
    ax.set_xlabel(f"{first} (UTC)" if first == last else f"{first} to {last} (UTC)", fontsize=8)
