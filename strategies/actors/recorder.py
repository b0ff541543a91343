"""``DataRecorder``: writes the custom data a run receives (the custom kinds of ``framework.data.kinds``: funding,
open interest, ratios, taker volume...) to ``<output_dir>/data/<type>.csv`` (and ``.parquet``), one row per object
as received, so what the strategies saw can be inspected next to the run's reports. The backtest runner fills
``output_dir`` with the run folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import DataType
from nautilus_trader.persistence.funcs import class_to_filename

from framework.data.kinds import CUSTOM_KINDS
from framework.values import BadValue
from strategies.base import CUSTOM_DATA_CLIENT

#: What can be recorded: the custom data kinds a backtest loads, by the same names.
RECORDABLE = CUSTOM_KINDS


class DataRecorderConfig(ActorConfig, frozen=True):
    """``kinds``: names from ``RECORDABLE``; ``output_dir``: where ``data/`` goes (the run folder)."""

    kinds: tuple[str, ...] = tuple(RECORDABLE)
    output_dir: str | None = None

    def validate(self) -> None:
        """Every kind is recordable (raises ``BadValue`` naming the unknown ones)."""
        unknown = sorted(set(self.kinds) - set(RECORDABLE))
        if unknown:
            raise BadValue(f"kinds: unknown {', '.join(unknown)}; use some of {', '.join(RECORDABLE)}")


class DataRecorder(Actor):
    """Records received custom data (see the module docstring)."""

    def __init__(self, config: DataRecorderConfig) -> None:
        config.validate()
        super().__init__(config)
        self._classes = tuple(RECORDABLE[k] for k in config.kinds)
        self.rows: dict[type, list[dict]] = {cls: [] for cls in self._classes}

    def on_start(self) -> None:
        for cls in self._classes:
            self.subscribe_data(DataType(cls), client_id=CUSTOM_DATA_CLIENT)

    def on_data(self, data) -> None:  # noqa: ANN001
        rows = self.rows.get(type(data))
        if rows is not None:
            rows.append(type(data).to_dict(data))

    def on_stop(self) -> None:
        if self.config.output_dir is None:
            return
        folder = Path(self.config.output_dir) / "data"
        folder.mkdir(parents=True, exist_ok=True)
        for cls, rows in self.rows.items():
            if not rows:
                continue
            frame = pd.DataFrame(rows).drop(columns=["type"], errors="ignore")
            frame.insert(0, "time", pd.to_datetime(frame["ts_event"], utc=True))
            name = class_to_filename(cls)
            frame.to_csv(folder / f"{name}.csv", index=False)
            frame.to_parquet(folder / f"{name}.parquet", index=False)
