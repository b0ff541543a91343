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

import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

STYLE = mpf.make_mpf_style(base_mpf_style="yahoo", rc={"font.size": 8, "axes.titlesize": 9, "figure.titleweight": "bold", "axes.titleweight": "bold"})
UP, DOWN = "#26a69a", "#ef5350"
DPI = 100


@dataclass
class Chart:
    """A drawn chart: the figure, its axes by panel name, what was missing, and where it was saved."""

    name: str
    figure: Figure
    axes: dict[str, Axes]
    missing: list[str] = field(default_factory=list)
    path: Path | None = None
    data: pd.DataFrame | None = None  # the numbers behind the chart, when a chart computes some

    def save(self, path: str | Path) -> Path:
        """Write the PNG (folders created) and release the figure's memory."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure.savefig(path, dpi=DPI)
        plt.close(self.figure)
        self.path = path
        return path


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
        axes[panel] = ax
        if sharex and i < len(panels) - 1:
            ax.tick_params(labelbottom=False)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.07, right=0.97, top=0.94, bottom=0.07)
    return Chart(name, fig, axes)


def placeholder(chart: Chart, panel: str, what: str) -> None:
    """Mark ``panel`` as missing: a centred note naming what is absent, recorded in ``chart.missing``."""
    ax = chart.axes[panel]
    ax.text(0.5, 0.5, f"missing: {what}", transform=ax.transAxes, ha="center", va="center", color="grey",
            fontsize=10, style="italic")
    ax.set_yticks([])
    chart.missing.append(f"{panel}: {what}")


def all_missing(chart: Chart, what: str) -> Chart:
    """Every panel of ``chart`` marked missing for want of ``what``."""
    for panel in chart.axes:
        placeholder(chart, panel, what)
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
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%m-%d %H:%M"))
