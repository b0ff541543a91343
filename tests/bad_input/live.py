"""``live``: flags and the paper-trading YAML. Every mistake is refused before the Nautilus node is built
(so these rows stay fast); a row that wrongly passes would run the node offline for 5 s at most."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.bad_input import REPO
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input import yaml_case

EXAMPLE = yaml.safe_load((REPO / "configs" / "live" / "paper_futures.yaml").read_text())
SAFE = ("--offline", "--duration", "5")  # never real Binance; never a long run


def changed(change: Callable[[dict[str, Any]], None]) -> str:
    """The example config as YAML text after ``change(raw)``."""
    raw = copy.deepcopy(EXAMPLE)
    change(raw)
    return yaml.safe_dump(raw)


def strategy(**values: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the example's strategy config."""
    return lambda raw: raw["strategies"][0]["config"].update(values)


def top(**values: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the example's top-level keys."""
    return lambda raw: raw.update(values)


def live(id: str, change: Callable[[dict[str, Any]], None], message: str, *extra: str) -> Case:
    return yaml_case(f"live-{id}", "live", changed(change), 2, message, *(extra or SAFE))


def flags(id: str, argv: list[str], message: str) -> Case:
    return Case(f"live-{id}", ["live", str(REPO / "configs" / "live" / "paper_futures.yaml"), *argv], 2, message)


def _no_strategy_path(raw: dict[str, Any]) -> None:
    del raw["strategies"][0]["strategy_path"]


def _twice(raw: dict[str, Any]) -> None:
    raw["strategies"].append(copy.deepcopy(raw["strategies"][0]))


def _file_as_out(tmp: Any) -> None:
    config(tmp, "bad.yaml", changed(lambda raw: None))
    config(tmp, "out", "a file where the run folder should go\n")


def _no_run_folder(tmp: Path) -> None:
    """A refused run leaves nothing behind: the run folder is made only once every check passed."""
    assert not (tmp / "runs").exists(), f"a refused run created {tmp / 'runs'}"


CASES = [
    # identifiers Nautilus would panic on (exit 134) or refuse only once the node runs
    live("trader-id-no-hyphen", top(trader_id="PAPER001"), "trader_id 'PAPER001' is not a Nautilus trader id; use "
         "NAME-TAG"),
    live("trader-id-empty-tag", top(trader_id="PAPER-"), "e.g. \"TRADER-001\""),
    live("order-id-tag-empty", strategy(order_id_tag=""), "order_id_tag: '' is not a tag"),
    live("strategy-id-twice", _twice, "strategy id OrderFlowFollower-001 is also strategies[0]'s"),
    live("instrument-id-malformed", strategy(instrument_id="BTCUSDT"), "strategies[0].config: instrument_id"),
    live("instrument-not-binance", strategy(instrument_id="BTCUSDT-PERP.BYBIT"), "is not a Binance instrument id"),
    # instruments of the strategies/actors outside the configured markets
    live("perp-on-spot-market", top(markets=["spot"]), "BTCUSDT-PERP.BINANCE is a futures instrument but markets "
         "is ['spot']"),
    live("spot-on-futures-market", strategy(instrument_id="BTCUSDT.BINANCE"), "is a spot instrument but markets"),
    live("instrument-not-listed", strategy(instrument_id="BTCUSTD-PERP.BINANCE"), "BTCUSTD-PERP.BINANCE is not "
         "listed on Binance USD-M futures (exchangeInfo); did you mean BTCUSDT-PERP.BINANCE?"),
    # strategies that do not import or configure
    live("strategy-class-misspelt", lambda raw: raw["strategies"][0].update(
        strategy_path="strategies.examples.order_flow_follower:OrderFlowFolower"), "did you mean 'OrderFlowFollower'?"),
    live("strategy-module-missing", lambda raw: raw["strategies"][0].update(strategy_path="my_strats.nope:Nope"),
         "cannot import my_strats.nope"),
    live("strategy-path-missing", _no_strategy_path, "strategies[0]: strategy_path is missing; e.g. strategy_path: "),
    live("config-path-not-config", lambda raw: raw["strategies"][0].update(
        config_path="strategies.examples.order_flow_follower:OrderFlowFollower"), "is not a Nautilus config class"),
    live("strategy-key-misspelt", strategy(trade_notionl="500"), "unknown key 'trade_notionl'; did you mean "
         "'trade_notional'?"),
    live("trade-notional-negative", strategy(trade_notional="-2000"), "trade_notional: -2000 must be more than zero"),
    live("catalog-path-url", lambda raw: raw["actors"][0]["config"].update(catalog_path="gs://bucket/catalog"),
         "catalog_path: 'gs://bucket/catalog' is a gs:// URL"),
    live("actor-value-refused", lambda raw: raw["actors"][0]["config"].update(thresholds=["-1"]),
         "actors[0].config.thresholds: '-1' must be a quote amount of 0 or more"),
    # the venue, fees and the run
    live("unknown-key", top(tradr_id="PAPER-001"), "unknown key 'tradr_id'; did you mean 'trader_id'?"),
    live("market-unknown", top(markets=["options"]), "markets must be spot and/or futures"),
    live("nothing-to-run", top(strategies=[], actors=[]), "nothing to run"),
    live("balance-in-words", top(starting_balances=["ten thousand USDT"]), "'ten thousand USDT' is not a balance"),
    live("account-type-unknown", top(account_type="SPOT"), "account_type 'SPOT' is not one of MARGIN, CASH"),
    live("oms-type-unknown", top(oms_type="NET"), "oms_type 'NET' is not one of NETTING, HEDGING"),
    live("leverage-zero", top(default_leverage=0), "default_leverage 0 must be more than zero"),
    live("fee-not-a-number", lambda raw: raw["fees"].update(futures_taker_fee="abc"), "fees.futures_taker_fee"),
    live("fee-as-percent", lambda raw: raw["fees"].update(futures_taker_fee="0.05"),
         "fees.futures_taker_fee 0.05 is out of range"),
    live("data-option-unknown", top(data={"streams_per_conection": 5}), "data: unknown key 'streams_per_conection'; "
         "did you mean 'streams_per_connection'?"),
    live("yaml-duration-negative", top(duration=-5), "duration: -5 must be more than zero", "--offline"),
    live("log-level-unknown", top(log_level="LOUD"), "log_level 'LOUD' is not one of"),
    live("markets-not-a-list", top(markets="futures"), "markets: Expected `array`, got `str`"),
    live("balances-not-a-list", top(starting_balances="10000 USDT"), "starting_balances: Expected `array`, got `str`"),
    yaml_case("live-yaml-broken", "live", "trader_id: [PAPER-001\n", 2, "not valid YAML at line", *SAFE),
    # flags
    flags("duration-zero", ["--offline", "--duration", "0"], "--duration: 0 must be more than zero"),
    flags("duration-negative", ["--offline", "--duration", "-3"], "--duration: '-3' is not a duration (durations "
          "cannot be negative)"),
    flags("duration-text", ["--offline", "--duration", "abc"], "--duration: 'abc' is not a duration"),
    flags("speed-negative", ["--offline", "--speed", "-1"], "--speed: -1 must be more than zero"),
    flags("speed-without-offline", ["--speed", "5"], "--speed sets the local exchange's clock; add --offline"),
    flags("clock-not-now", ["--offline", "--start", "recorded"], "--start recorded: live runs on the local "
          "exchange's clock from now"),
    flags("log-level-flag", ["--offline", "--log-level", "LOUD"], "--log-level / LOG_LEVEL: 'LOUD' is not one of"),
    flags("clock-without-offline", ["--start", "recorded"], "--start recorded: live runs on the local exchange's "
          "clock from now"),
    flags("clock-now-without-offline", ["--start", "now"], "--start sets the local exchange's clock; add --offline"),
    flags("offline-with-url", ["--offline", "--base-path-futures", "http://127.0.0.1:9"], "--offline serves its own "
          "URLs; drop --base-path-futures"),
    # a listed symbol without a tape in the local exchange: the exchange refuses its streams; the run ends with
    # one line as soon as they are given up (5 refusals), not silently after the whole --duration
    yaml_case("live-stream-refused", "live", changed(strategy(instrument_id="ETHBUSD-PERP.BINANCE")), 1,
              "ETHBUSD: the exchange refused the streams", "--offline", "--duration", "60",
              timeout=40),
    Case("live-missing-config", ["live", "missing.yaml"], 2, "config file missing.yaml does not exist; pass a YAML "
         "file, e.g. configs/live/paper_futures.yaml"),
    Case("live-out-is-a-file", ["live", "{tmp}/bad.yaml", *SAFE, "--out", "{tmp}/out"], 2, "run folder {tmp}/out is a "
         "file, not a folder", setup=_file_as_out),
    # /sys refuses new folders even to root (found once every check passed, before the node is built)
    Case("live-out-unwritable", ["live", "{tmp}/bad.yaml", *SAFE, "--out", "/sys/x"], 2,
         "run folder /sys/x cannot be written: Operation not permitted",
         setup=lambda tmp: config(tmp, "bad.yaml", changed(lambda raw: None))),
]
# every row: nothing written before the mistake was found (the stream refusal is found by a run: its folder stays)
CASES = [c if c.exit_code == 1 else dataclasses.replace(c, check=c.check or _no_run_folder) for c in CASES]
