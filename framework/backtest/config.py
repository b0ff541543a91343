"""A backtest described in YAML: a Nautilus ``BacktestRunConfig`` plus shortcuts, validated before anything runs.

    name: ema_cross                      # run folder name (default: the file's stem)
    catalog: catalog                     # once, for every data kind, warm-up and funding
    start: "2024-08-07T00:00:00Z"        # quote timestamps
    end: "2024-08-09T00:00:00Z"
    instruments:                         # by symbol and market
      - {symbol: BTCUSDT, market: futures}   # BTCUSDT-PERP.BINANCE
    data: {bars: [1m], funding: true}    # kinds by name, for every instrument they apply to
    venue: {starting_balances: ["10000 USDT"], default_leverage: 2}
    strategies:
      - class: strategies.examples.ema_cross:EmaCrossRsi    # its config class is found from __init__
        config: {instrument_id: BTCUSDT-PERP.BINANCE}
    sweep: {grid: {strategies.0.config.fast_period: [10, 20]}, rank_by: sharpe}

Any ``BacktestRunConfig`` key works as well (``engine``, ``venues``, ``data`` as a list of
``BacktestDataConfig``, ``chunk_size``...); shortcuts and the Nautilus form of the same thing do not mix.
The result is a real ``BacktestRunConfig`` with the safe settings (``raise_exception: true``,
``dispose_on_completion: false``) and, for perpetuals with funding rows, the funding settlement module.
"""

from __future__ import annotations

import copy
import datetime
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
from nautilus_trader.common.config import msgspec_decoding_hook
from nautilus_trader.config import BacktestRunConfig
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import InstrumentId

from framework.backtest.checks import Held
from framework.backtest.checks import check_component
from framework.backtest.checks import check_custom_kinds
from framework.backtest.checks import check_instrument
from framework.backtest.checks import check_log_level
from framework.backtest.checks import check_venues
from framework.backtest.checks import coverage_warnings
from framework.catalog.location import catalog_root
from framework.catalog.location import nautilus_catalog
from framework.catalog.location import open_location
from framework.catalog.location import redact
from framework.catalog.series import Series
from framework.catalog.storage import holds_anything
from framework.data import types
from framework.data.instruments import instrument_id_for
from framework.data.kinds import CUSTOM_KINDS
from framework.data.kinds import KINDS
from framework.data.kinds import Step
from framework.data.parsing import kline_bar_type
from framework.errors import UsageError
from framework.ingest.command import ingest_command as build_ingest_command
from framework.timeunits import NS_PER_MS
from framework.userconfig import explain
from framework.userconfig import import_path
from framework.values import parse_catalog
from framework.values import parse_interval
from framework.values import parse_time_ms

CUSTOM_CLIENT_ID = "BINANCE"
FUNDING_MODULE = "framework.backtest.funding:FundingSettlement"
FUNDING_MODULE_CONFIG = "framework.backtest.funding:FundingSettlementConfig"
BAR_CLS = "nautilus_trader.model.data:Bar"
TRADE_CLS = "nautilus_trader.model.data:TradeTick"


class _Spec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class InstrumentSpec(_Spec):
    """One instrument of the run: a symbol and its market (``spot`` or ``futures``, USD-M)."""

    symbol: str
    market: str = "futures"


#: The ``data:`` shortcut: one key per kind with a backtest name in the kinds registry (``bars: [1m]`` for the
#: klines intervals, ``true``/``false`` for the others); each applies to every instrument it exists for (custom
#: kinds: perpetuals).
DataKinds = msgspec.defstruct(
    "DataKinds",
    [(k.backtest, list[str], []) if k.step is Step.INTERVAL else (k.backtest, bool, False)
     for k in KINDS.values() if k.backtest is not None],
    bases=(_Spec,),
    module=__name__,
    namespace={"__doc__": "Data kinds by name; each applies to every instrument it exists for (custom kinds: "
                          "perpetuals)."},
)


class ComponentSpec(_Spec):
    """A strategy or actor: ``class: module:Class`` and its ``config`` (the config class is found from the
    ``__init__`` annotation unless ``config_class`` names it)."""

    cls: str = msgspec.field(name="class")
    config: dict[str, Any] = {}
    config_class: str | None = None


class SweepSpec(_Spec):
    """Many runs from one file: a ``grid`` (dotted key -> values, cartesian product) or a ``list`` of
    overrides; ranked by a summary metric."""

    grid: dict[str, list[Any]] = {}
    runs: list[dict[str, Any]] = msgspec.field(default_factory=list, name="list")
    rank_by: str = "sharpe"
    ascending: bool = False
    workers: int = 2


class BacktestSpec(_Spec):
    """The YAML file (see the module docstring)."""

    name: str | None = None
    catalog: str | None = None
    start: str | int | None = None  # ISO or epoch ms (an unquoted YAML date is taken as ISO)
    end: str | int | None = None
    instruments: list[InstrumentSpec] = []
    data: DataKinds | list[dict[str, Any]] | None = None
    venue: dict[str, Any] | None = None
    venues: list[dict[str, Any]] | None = None
    strategies: list[ComponentSpec] = []
    actors: list[ComponentSpec] = []
    engine: dict[str, Any] = {}
    funding_settlement: bool = True
    log_level: str = "WARNING"
    charts: bool = True
    chunk_size: int | None = None
    sweep: SweepSpec | None = None


VENUE_DEFAULTS: dict[str, Any] = {
    "name": "BINANCE",
    "oms_type": "NETTING",
    "account_type": "MARGIN",  # one venue trades spot pairs and perpetuals together
    "starting_balances": ["10000 USDT"],
    "default_leverage": 1.0,
}


@dataclass(frozen=True)
class ResolvedRun:
    """What the runner needs: the Nautilus config and our extras."""

    name: str
    spec: BacktestSpec
    raw: dict[str, Any]  # the spec as given (after sweep overrides)
    run_config: BacktestRunConfig
    run_config_dict: dict[str, Any]  # the resolved config as plain data, credentials blanked (written to a run)
    catalog: str
    instrument_ids: list[str]
    bar_types: list[str]
    warnings: tuple[str, ...] = ()  # the run's span past what the catalog holds (print them; the run goes on)


# -- reading -----------------------------------------------------------------------------------------------


def parse_spec(raw: dict[str, Any], source: str) -> BacktestSpec:
    """The YAML mapping as a ``BacktestSpec``; an unknown key or a bad value is one ``UsageError`` line."""
    # YAML reads an unquoted 2024-08-01 (or 2024-08-01 08:00:00) as a date (datetime): the ISO text it was
    raw = {k: v.isoformat() if k in ("start", "end") and isinstance(v, datetime.date) else v for k, v in raw.items()}
    try:
        return msgspec.convert(raw, BacktestSpec)
    except msgspec.ValidationError as e:
        raise UsageError(f"{source}: {explain(e, BacktestSpec)}") from None


# -- resolving -----------------------------------------------------------------------------------------------


def resolve(raw: dict[str, Any], source: str, default_name: str = "backtest", run_dir: str | None = None) -> ResolvedRun:
    """Validate ``raw`` (one run, no sweep applied) and build its ``BacktestRunConfig``.

    Strategy and actor configs that have a ``catalog_path`` / ``output_dir`` field left empty get the catalog /
    ``run_dir``. Strategy configs with a ``validate()`` method have their values checked."""
    spec = parse_spec(raw, source)
    name = spec.name or default_name
    check_log_level(spec.log_level, source)
    if spec.chunk_size is not None and spec.chunk_size < 1:
        raise UsageError(f"{source}: chunk_size: {spec.chunk_size} must be 1 or more (rows per chunk), or leave it "
                         "out to load the data at once")
    for i, instrument in enumerate(spec.instruments):
        check_instrument(instrument.symbol, instrument.market, f"{source}: instruments[{i}]")
    catalog = _catalog(spec, source)
    start, end = _span(spec, source)
    instrument_ids = [str(instrument_id_for(i.market, i.symbol)) for i in spec.instruments]
    from framework.catalog.health import require_readable  # a damaged file: one line naming it and the repair

    require_readable(catalog)
    _check_instruments(catalog, instrument_ids, spec, source)
    loaded: list[Held] = []
    data, bar_types = _data_configs(spec, catalog, instrument_ids, start, end, source, loaded)
    fill = {"catalog_path": catalog, "output_dir": run_dir}
    kinds = spec.data if isinstance(spec.data, DataKinds) else None
    strategies = [_importable(c, "strategies", i, source, fill, "strategy", instrument_ids, kinds)
                  for i, c in enumerate(spec.strategies)]
    actors = [_importable(c, "actors", i, source, fill, "actor", instrument_ids, kinds)
              for i, c in enumerate(spec.actors)]
    if not strategies:
        raise UsageError(f"{source}: strategies: empty; add one, e.g. class: strategies.examples.ema_cross:EmaCrossRsi")
    engine = copy.deepcopy(spec.engine)
    for key in ("strategies", "actors"):
        if key in engine:
            raise UsageError(f"{source}: engine.{key}: use the top-level '{key}:' list instead")
    engine["strategies"] = strategies
    engine["actors"] = actors
    engine.setdefault("run_analysis", True)
    perps_with_funding = [i for i in instrument_ids if i.endswith("-PERP.BINANCE") and _has(catalog, types.FundingRate, i)]
    venues = _venues(spec, catalog, perps_with_funding, source)
    run = {
        "venues": venues,
        "data": data,
        "engine": engine,
        "chunk_size": spec.chunk_size,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "raise_exception": True,  # a failing run raises instead of logging and returning []
        "dispose_on_completion": False,  # keep orders/positions for the reports
    }
    try:
        run_config = msgspec.convert(run, BacktestRunConfig, dec_hook=msgspec_decoding_hook)
    except msgspec.ValidationError as e:
        raise UsageError(f"{source}: {explain(e, BacktestRunConfig)}") from None
    run_config = _exact_bar_queries(run_config)
    warnings = coverage_warnings(catalog, loaded, start.value // NS_PER_MS, end.value // NS_PER_MS)
    return ResolvedRun(name, spec, raw, run_config, redact(run), catalog, instrument_ids, bar_types,
                       tuple(f"{source}: {w}" for w in warnings))


def _catalog(spec: BacktestSpec, source: str) -> str:
    """The catalog folder (absolute) or ``s3://`` URL; a relative path is relative to the current directory (as
    ``--catalog`` is)."""
    if spec.catalog is None:
        raise UsageError(f"{source}: catalog: missing; set catalog: <folder> (fill it with the ingest command)")
    try:
        text = parse_catalog(spec.catalog, "catalog")
    except UsageError as e:
        raise UsageError(f"{source}: {e}") from None
    path = catalog_root(text)  # object storage: its endpoint, credentials and bucket checked here
    if not holds_anything(path / "data"):
        raise UsageError(f"{source}: catalog: {path} holds no data; fill it first or fix the path (the example "
                         f"configs: python -m framework.main ingest --from-files examples/data --offline --catalog "
                         f"{path} for ema_cross and ema_cross_spot; ingest configs/ingest/backtest_examples.yaml "
                         f"and backtest_examples_trades.yaml --offline --catalog {path} for funding_oi and order_flow)")
    return text if open_location(text).is_remote else str(Path(path).resolve())


def _time(value: str | int | None, key: str, source: str) -> pd.Timestamp:
    if value is None:
        raise UsageError(f"{source}: {key}: missing; set it, e.g. {key}: \"2024-08-08T00:00:00Z\"")
    try:
        ms = parse_time_ms(value, key)
    except UsageError as e:
        raise UsageError(f"{source}: {e}") from None
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _span(spec: BacktestSpec, source: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, end = _time(spec.start, "start", source), _time(spec.end, "end", source)
    if start >= end:
        raise UsageError(f"{source}: start {spec.start} is not before end {spec.end}: the date range is empty; "
                         "move end after start")
    return start, end


def _check_instruments(catalog: str, ids: list[str], spec: BacktestSpec, source: str) -> None:
    if spec.data is not None and isinstance(spec.data, list):
        return  # Nautilus form: the data configs name their instruments
    if not ids:
        raise UsageError(f"{source}: instruments: empty; list at least one, e.g. - {{symbol: BTCUSDT, market: futures}}")
    held = {str(i.id) for i in nautilus_catalog(catalog).instruments()}
    for i, iid in enumerate(ids):
        if iid not in held:
            s = spec.instruments[i]
            command = ingest_command(s, "klines", spec.start, spec.end, catalog, interval="1m")
            raise UsageError(
                f"{source}: instruments[{i}]: {iid} is not in the catalog {catalog}; ingest it ({command}) "
                + (f"or use one of {', '.join(sorted(held))}" if held else "(the catalog holds no instruments yet)"),
            )


def _has(catalog: str, cls: type, identifier: str, start: pd.Timestamp | None = None,
         end: pd.Timestamp | None = None) -> bool:
    """Whether the catalog holds ``cls`` files for ``identifier`` that overlap [start, end] (no data read)."""
    cat = nautilus_catalog(catalog)
    files = cat.filter_files(cls, cat.get_file_list_from_data_cls(cls), [identifier], start, end)
    return bool(files)


def _data_configs(spec: BacktestSpec, catalog: str, ids: list[str], start: pd.Timestamp, end: pd.Timestamp,
                  source: str, loaded: list[Held]) -> tuple[list[dict[str, Any]], list[str]]:
    """Nautilus data configs and bar types for the ``data`` kinds; ``loaded`` gets each series loaded."""
    if spec.data is None:
        raise UsageError(f"{source}: data: missing; name the kinds, e.g. data: {{bars: [1m], funding: true}}")
    where = open_location(catalog).data_config()  # path, and for s3:// the fs protocol and both option sets
    if isinstance(spec.data, list):
        data = [{**where, **d} for d in spec.data]
        bar_types = [bt for d in data for bt in (d.get("bar_types") or [])]
        return data, bar_types
    kinds = spec.data
    check_custom_kinds([k for k in CUSTOM_KINDS if getattr(kinds, k)], ids, source)
    data: list[dict[str, Any]] = []
    bar_types: list[str] = []
    for instrument, iid in zip(spec.instruments, ids, strict=True):

        def require(cls: type, identifier: str, what: str, kind: str, interval: str | None = None,
                    instrument: InstrumentSpec = instrument) -> None:
            if not _has(catalog, cls, identifier, start, end):
                command = ingest_command(instrument, kind, start.isoformat(), end.isoformat(), catalog, interval)
                raise UsageError(f"{source}: the catalog has no {what} between {start.isoformat()} and "
                                 f"{end.isoformat()}; run: {command} (or move start/end)")
            loaded.append(Held(what, Series(cls, identifier), "bars" if cls is Bar else kind, interval))

        for interval in kinds.bars:
            try:
                parse_interval(interval, "data.bars", fixed=True)
            except UsageError as e:
                raise UsageError(f"{source}: {e}") from None
            try:
                bar_type = str(kline_bar_type(InstrumentId.from_str(iid), interval))
            except ValueError as e:
                raise UsageError(f"{source}: data.bars: {e}; use e.g. 1m, 15m, 1h") from None
            require(Bar, bar_type, f"{interval} bars of {iid}", "klines", interval)
            bar_types.append(bar_type)
            data.append({**where, "data_cls": BAR_CLS, "instrument_id": iid,
                         "bar_spec": bar_type.removeprefix(f"{iid}-").removesuffix("-EXTERNAL")})
        if kinds.trades:
            require(TradeTick, iid, f"trades of {iid}", "agg_trades")
            data.append({**where, "data_cls": TRADE_CLS, "instrument_id": iid})
        for kind in KINDS.values():
            if kind.backtest in CUSTOM_KINDS and getattr(kinds, kind.backtest) and iid.endswith("-PERP.BINANCE"):
                cls = kind.data_type
                require(cls, iid, f"{kind.backtest} of {iid}", kind.name)
                data.append({**where, "data_cls": f"{cls.__module__}:{cls.__name__}",
                             "instrument_id": iid, "client_id": CUSTOM_CLIENT_ID})
    if not data:
        raise UsageError(f"{source}: data: selects nothing for {', '.join(ids)}; e.g. data: {{bars: [1m]}}")
    return data, bar_types


def ingest_command(instrument: InstrumentSpec, kind: str, start: str | None, end: str | None, catalog: str,
                   interval: str | None = None) -> str:
    """The ingest command line that fills what a backtest misses (``[--offline]``: the local exchange serves it);
    ``framework.ingest.command.ingest_command`` builds it, as every ingest line printed anywhere."""
    return build_ingest_command(instrument.market, instrument.symbol, kind, start, end, catalog, interval=interval,
                                offline=None)


def _venues(spec: BacktestSpec, catalog: str, perps: list[str], source: str) -> list[dict[str, Any]]:
    if spec.venue is not None and spec.venues is not None:
        raise UsageError(f"{source}: venue and venues both set; use venue: (one BINANCE venue) or the Nautilus "
                         "venues: list, not both")
    venues = copy.deepcopy(spec.venues) if spec.venues is not None else [{**VENUE_DEFAULTS, **(spec.venue or {})}]
    check_venues(venues, source)
    if spec.funding_settlement and perps:
        binance = next((v for v in venues if v.get("name") == "BINANCE"), None)
        if binance is not None:
            module = {"actor_path": FUNDING_MODULE, "config_path": FUNDING_MODULE_CONFIG,
                      "config": {"catalog_path": catalog, "instrument_ids": perps}}
            binance["modules"] = [*binance.get("modules", []), module]
    return venues


def _importable(c: ComponentSpec, key: str, index: int, source: str, fill: dict[str, str | None],
                kind: str, ids: list[str], kinds: DataKinds | None) -> dict[str, Any]:
    """A strategy/actor spec as Nautilus's ImportableStrategyConfig / ImportableActorConfig, checked by
    importing the class and converting its config now (Nautilus would only fail at run time), then its values
    and its fit with the run (``checks.check_component``)."""
    where = f"{source}: {key}[{index}]"
    cls = import_path(c.cls, f"{where}.class")
    config_cls = import_path(c.config_class, f"{where}.config_class") if c.config_class else _config_class(cls, where)
    config = dict(c.config)
    names = {f.encode_name for f in msgspec.structs.fields(config_cls)}
    for field, value in fill.items():
        if field in names and config.get(field) is None and value is not None:
            config[field] = value
    try:
        converted = msgspec.convert(config, config_cls, dec_hook=msgspec_decoding_hook)
    except msgspec.ValidationError as e:
        raise UsageError(f"{where}.config: {explain(e, config_cls)}") from None
    check_component(converted, where, ids, kinds)
    path_key = "strategy_path" if kind == "strategy" else "actor_path"
    return {path_key: c.cls, "config_path": f"{config_cls.__module__}:{config_cls.__name__}", "config": config}


def _config_class(cls: type, where: str) -> type:
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001
        hints = {}
    config_cls = hints.get("config")
    if not (inspect.isclass(config_cls) and issubclass(config_cls, msgspec.Struct)):
        raise UsageError(f"{where}: cannot tell the config class of {cls.__name__} from its __init__; "
                         "set config_class: module:ConfigClass")
    return config_cls


def _exact_bar_queries(cfg: BacktestRunConfig) -> BacktestRunConfig:
    """Bar data configs with the ``Bar`` class itself: Nautilus 1.231's one-shot query tests ``data_cls is Bar``
    and, with the class path string, loads every bar type of the instrument instead of the one named."""
    data = [msgspec.structs.replace(d, data_cls=Bar) if d.data_cls == BAR_CLS else d for d in cfg.data]
    return msgspec.structs.replace(cfg, data=data)
