"""The workstation's SQLite file beside the catalog (``WebContext.state_db``): chart settings here; feature modules
(alerts, paper orders) keep their own tables in the same file through ``connect``.

Every statement is short; they run on the event loop's thread. A file that cannot be opened or written is one
``FrameworkError`` line naming it (the server answers 422 and keeps serving).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from framework.errors import FrameworkError
from framework.web.api import ApiError
from framework.web.studies import STUDIES

#: The largest settings document one chart keeps (JSON bytes).
MAX_SETTINGS_BYTES = 64 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chart_settings (
    chart TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
)
"""


@contextlib.contextmanager
def connect(path: Path, schema: str = "") -> Iterator[sqlite3.Connection]:
    """A connection to the state file (created with its parent folder if missing), ``schema`` applied, committed
    on success; any SQLite or file error -> ``FrameworkError`` naming the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=5)
    except (OSError, sqlite3.Error) as e:
        raise FrameworkError(f"cannot open the workstation's state file {path}: {e}; make its folder writable") \
            from None
    try:
        with connection:
            if schema:
                connection.executescript(schema)
            yield connection
    except sqlite3.Error as e:
        raise FrameworkError(f"the workstation's state file {path} cannot be used: {e}; move it aside and restart "
                             "(chart settings and alert rules are kept there)") from None
    finally:
        connection.close()


class StudySetting(msgspec.Struct, forbid_unknown_fields=True):
    """One indicator on a chart: its name and parameters (names and bounds as ``/api/indicators`` lists)."""

    name: str
    params: dict[str, int | float] = {}


class ChartSettings(msgspec.Struct, forbid_unknown_fields=True):
    """What a chart shows: its indicators, the perpetual panes and the order-flow pane's bucket and threshold."""

    studies: list[StudySetting] = []
    perp: list[str] = []
    orderflow: bool = False
    bucket: str | None = None
    large: str | None = None


def check_settings(settings: ChartSettings) -> ChartSettings:
    """Refuse (400) an unknown indicator or parameter, or a value out of bounds."""
    from framework.web.catalog_view import PERP_COLUMNS

    for item in settings.studies:
        if item.name not in STUDIES:
            raise ApiError(f"settings: unknown indicator {item.name!r}; use one of {', '.join(STUDIES)}")
        STUDIES[item.name].read_params({k: repr(v) for k, v in item.params.items()})
    for name in settings.perp:
        if name not in PERP_COLUMNS:
            raise ApiError(f"settings: unknown perpetual series {name!r}; use one of {', '.join(PERP_COLUMNS)}")
    return settings


def _chart_key(chart: Any) -> str:
    if not isinstance(chart, str) or not 0 < len(chart) <= 200 or not chart.isprintable():
        raise ApiError("chart: give the chart's name (e.g. its instrument id), 1 to 200 printable characters")
    return chart


def load_settings(path: Path, chart: str) -> dict[str, Any] | None:
    """The chart's saved settings (None: never saved)."""
    with connect(path, _SCHEMA) as db:
        row = db.execute("SELECT settings FROM chart_settings WHERE chart = ?", (_chart_key(chart),)).fetchone()
    return None if row is None else msgspec.json.decode(row[0])


def save_settings(path: Path, chart: str, raw: bytes) -> dict[str, Any]:
    """Check and keep the chart's settings (a JSON ``ChartSettings``); returns them as stored."""
    key = _chart_key(chart)
    if len(raw) > MAX_SETTINGS_BYTES:
        raise ApiError(f"settings: {len(raw):,} bytes is more than the {MAX_SETTINGS_BYTES:,} a chart keeps")
    try:
        settings = check_settings(msgspec.json.decode(raw, type=ChartSettings))
    except msgspec.ValidationError as e:  # before DecodeError: a subclass of it
        raise ApiError(f"settings: {e}") from None
    except msgspec.DecodeError as e:
        raise ApiError(f"settings: not JSON ({e})") from None
    text = msgspec.json.encode(settings).decode()
    with connect(path, _SCHEMA) as db:
        db.execute("INSERT INTO chart_settings (chart, settings, updated_ms) VALUES (?, ?, ?) ON CONFLICT(chart) "
                   "DO UPDATE SET settings = excluded.settings, updated_ms = excluded.updated_ms",
                   (key, text, int(time.time() * 1000)))
    return msgspec.json.decode(text)
