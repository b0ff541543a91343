"""The paths users walk, as they walk them: the README's commands in the README's order on one fresh
catalog, offline, as real processes (collect -> ingest the examples -> backtest the examples -> record ->
live -> plot -> report), and ``record`` then ``ingest`` then ``record`` on one catalog. Every step has a
timeout, so a hang fails fast and names the command.

Besides, every ``python -m framework.main`` line of the READMEs and of the example configs' comments parses
with the CLI as written (flags spelled right, choices valid, config files present), so the docs stay true.

The processes run in a tmp folder (never the checkout): the example configs say ``catalog: catalog``, which
resolves against the current directory, so everything lands in tmp.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from framework.main import parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted(ROOT.glob("*/README.md"))]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
PERP_TRADES = ("trade_tick", "BTCUSDT-PERP.BINANCE")

#: Settings a developer's shell may carry that would lead a command away from the local exchange or defaults.
_CLEAN_ENV = ("BASE_PATH_SPOT", "BASE_PATH_FUTURES", "STREAM_URL_SPOT", "STREAM_URL_FUTURES", "OUTPUT_DIR",
              "SPOT_SYMBOL", "FUTURES_SYMBOL", "FUTURES_PAIR", "WS_CAPTURE_SECONDS", "LOG_LEVEL")


# -- running commands ----------------------------------------------------------------------------------------


def cli(cwd: Path, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m framework.main COMMAND`` (shell words; ``{repo}`` is the checkout) in ``cwd``; killed and
    failed, naming the command, after ``timeout`` s."""
    argv = shlex.split(command.replace("{repo}", shlex.quote(str(ROOT))))
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}
    try:
        return subprocess.run([sys.executable, "-m", "framework.main", *argv], check=False, cwd=cwd, env=env,
                              text=True, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        tail = (e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or "")[-1500:]
        pytest.fail(f"`{shlex.join(argv)}` still ran after {timeout:.0f} s (killed); stderr ends\n{tail}")


def step(cwd: Path, command: str, *, readme: str | None, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one documented step: ``readme`` (the command as the README spells it, after ``framework.main``)
    must be in README.md, and the run must succeed (exit 0) without a traceback."""
    if readme is not None:
        assert f"framework.main {readme}" in README.read_text(), f"README.md no longer documents `{readme}`"
    started = time.monotonic()
    proc = cli(cwd, command, timeout)
    took = time.monotonic() - started
    where = f"`{command}` (exit {proc.returncode} after {took:.0f} s)\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, where
    return proc


def ingest_report(catalog: Path) -> dict[str, dict]:
    """The last ingest run's gap report, by series name."""
    return {s["series"]: s for s in json.loads((catalog / "ingest_report.json").read_text())["series"]}


def parquet_files(catalog: Path) -> list[Path]:
    return sorted((catalog / "data").rglob("*.parquet"))


def rows(catalog: Path, kind: str, identifier: str) -> int:
    """Rows of one catalog series, from the file footers (not through the code under test)."""
    files = sorted((catalog / "data" / kind / identifier).glob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def assert_no_empty_files(catalog: Path) -> None:
    """Nothing lost, nothing doubled, no empty files: every data file is a readable parquet file with rows."""
    empty = [str(f.relative_to(catalog)) for f in parquet_files(catalog)
             if pq.ParquetFile(f).metadata.num_rows == 0]
    assert not empty, f"empty data files in the catalog: {empty[:5]} ({len(empty)})"


def recorded_rows(stdout: str, series: str) -> int:
    """``<series>: N rows written`` from record's summary."""
    m = re.search(rf"{re.escape(series)}: ([\d,]+) rows written", stdout)
    assert m, f"record's summary has no line for {series}:\n{stdout}"
    return int(m[1].replace(",", ""))


def assert_png(path: Path, min_bytes: int = 40_000) -> None:
    """A chart that draws something: a blank figure with axes and a note is far smaller."""
    assert path.is_file(), f"{path.name} was not written"
    assert path.stat().st_size > min_bytes, f"{path.name} is {path.stat().st_size} bytes: blank?"


def readme_result(name: str) -> tuple[int, int, float]:
    """The trades, win rate (%) and Sharpe the README quotes for example ``name``."""
    text = " ".join(README.read_text().split())
    m = re.search(rf"`{name}` \([^:]*: (\d+) trades, win rate (\d+) %.*?Sharpe (-?[0-9.]+)", text)
    assert m, f"README.md no longer quotes the {name} example's result"
    return int(m[1]), int(m[2]), float(m[3])


def backtest(work: Path, name: str) -> dict:
    """Run example ``name`` (the README names it) into ``runs/<name>``: it trades and draws; a real month (the
    EMA examples) gives Sharpe/Sortino from daily returns and a win rate that is neither 0 nor 1."""
    text = README.read_text()
    assert f"backtest configs/backtest/{name}.yaml" in text or f"# {name} alike" in text, name
    step(work, f"backtest {{repo}}/configs/backtest/{name}.yaml --out runs/{name}", readme=None, timeout=300)
    run = work / "runs" / name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["trades"] > 0 and summary["fills"] > 0, (name, summary)
    assert_png(run / "equity.png")
    charts = list(run.glob("candles_*.png"))
    assert charts, f"{name}: no candle chart"
    for chart in charts:
        assert_png(chart)
    if name.startswith("ema_cross"):
        assert None not in (summary["sharpe"], summary["sortino"]), (name, summary["ratio_basis"])
        assert 0 < summary["win_rate"] < 1, (name, summary["win_rate"])
    return summary


# -- the README journey --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~2 minutes of steps on an idle machine; each step has its own, shorter timeout
def test_the_readme_journey_on_one_fresh_catalog(tmp_path: Path) -> None:
    work, catalog = tmp_path, tmp_path / "catalog"  # the README's relative catalog/, in the working folder

    # collect: every endpoint from the bundled local exchange (a 3 s stream capture instead of 30)
    proc = step(work, "collect --offline --out outputs --ws-capture-seconds 3", readme="collect --offline",
                timeout=180)
    assert "40 ok, 0 failed" in proc.stdout, proc.stdout[-1500:]
    assert len(list((work / "outputs/spot").glob("*.json"))) == 14
    assert len(list((work / "outputs/futures").glob("*.json"))) == 26
    frames = json.loads((work / "outputs/spot/websocket/rolling_window_ticker.json").read_text())
    assert frames["payload"], "no rolling-window ticker frame captured"

    # the backtest journey in the README's order: the shipped real month and the EMA examples on it, then the
    # local exchange's tape and the funding / order-flow examples on it
    step(work, "ingest --from-files {repo}/examples/data --offline --catalog catalog",
         readme="ingest --from-files examples/data --offline", timeout=180)
    assert {k: (v["rows"], v["fetched"], v["missing_count"]) for k, v in ingest_report(catalog).items()} == {
        "futures LINKUSDT klines 1m": (40_320, 40_320, 0), "spot BTCUSDT klines 1h": (744, 744, 0)}
    ema = backtest(work, "ema_cross")
    backtest(work, "ema_cross_spot")
    got = (ema["trades"], round(100 * ema["win_rate"]), round(ema["sharpe"], 2))
    assert got == readme_result("ema_cross"), "README.md quotes another ema_cross result: update one of them"

    step(work, "ingest {repo}/configs/ingest/backtest_examples.yaml --offline --catalog catalog",
         readme="ingest configs/ingest/backtest_examples.yaml --offline", timeout=300)
    report = ingest_report(catalog)
    assert {"futures BTCUSDT klines 1m", "futures BTCUSDT funding", "futures BTCUSDT open_interest 5m",
            "spot BTCUSDT klines 1m"} <= set(report)
    assert [s for s in report.values() if s["fetched"] == 0 or s["missing_count"]] == []
    step(work, "ingest {repo}/configs/ingest/backtest_examples_trades.yaml --offline --catalog catalog",
         readme="ingest configs/ingest/backtest_examples_trades.yaml --offline", timeout=300)
    trades = ingest_report(catalog)["futures BTCUSDT agg_trades"]
    assert trades["fetched"] > 80_000 and trades["missing_count"] == 0, trades
    backtest(work, "funding_oi")
    backtest(work, "order_flow")
    assert_no_empty_files(catalog)

    # record (short): after the offline ingest, it must stop on time and write only what it got
    before = rows(catalog, *PERP_TRADES)
    record = "record {repo}/configs/record/btc_futures.yaml --offline --duration 10 --catalog catalog"
    proc = step(work, record, readme="record configs/record/btc_futures.yaml", timeout=90)
    written = recorded_rows(proc.stdout, "futures BTCUSDT agg_trades")
    assert written > 0
    assert rows(catalog, *PERP_TRADES) == before + written  # nothing lost, nothing doubled
    assert_no_empty_files(catalog)

    # live (short): a paper run that fills orders and ends with its summary line, no colour codes into a pipe
    proc = step(work, "live {repo}/configs/live/paper_futures.yaml --offline --speed 60 --duration 12",
                readme="live configs/live/paper_futures.yaml", timeout=180)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("summary: "), proc.stdout[-1500:]
    paper = json.loads(last.removeprefix("summary: "))
    assert paper["fills"] > 0 and paper["failure"] is None, paper
    assert "\x1b[" not in proc.stdout

    # plot: every dashboard from the collect folder, and the catalog charts over the examples' data
    step(work, "plot --from-collect outputs --chart all --out plots/collect",
         readme="plot --from-collect outputs", timeout=240)
    for chart in ("spot", "futures", "basis", "correlation", "microstructure", "orderflow"):
        assert_png(work / "plots/collect" / f"{chart}.png")
    step(work, "plot {repo}/configs/plot/catalog_futures.yaml --catalog catalog --out plots/catalog",
         readme="plot configs/plot/catalog_futures.yaml", timeout=240)
    for chart in ("futures", "basis", "correlation", "microstructure", "orderflow"):
        assert_png(work / "plots/catalog" / f"{chart}.png")

    # report: REST klines vs bars rebuilt from the aggTrades; exit 0 exactly when every compared bar matches
    assert "framework.main report reconcile --catalog catalog" in README.read_text()
    proc = cli(work, "report reconcile --catalog catalog --market futures --out reports", timeout=120)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    result = json.loads((work / "reports/reconcile_BTCUSDT_futures.json").read_text())
    assert result["bars_compared"] >= 45, result  # the 45 minutes the example trades cover
    clean = (result["bars_matched"] == result["bars_compared"] and not result["missing_in_stream"]
             and not result["missing_in_rest"])
    assert proc.returncode == (0 if clean else 1), (proc.returncode, result)
    assert clean, result  # one exchange's trades and klines agree exactly
    assert_png(work / "reports/reconcile_BTCUSDT_futures.png", min_bytes=20_000)
    assert_no_empty_files(catalog)


@pytest.mark.slow
def test_record_then_ingest_then_record_on_one_catalog(tmp_path: Path) -> None:
    """The issue's worst case: ``record`` after an offline ``ingest`` hung and left thousands of empty files,
    after which ``ingest`` wrote nothing. Each step must end on time with its rows, the catalog whole."""
    work, catalog = tmp_path, tmp_path / "catalog"
    record = "record {repo}/configs/record/btc_futures.yaml --offline --duration 10 --catalog catalog"

    proc = step(work, record, readme="record configs/record/btc_futures.yaml", timeout=90)
    first = recorded_rows(proc.stdout, "futures BTCUSDT agg_trades")
    assert first > 0 and rows(catalog, *PERP_TRADES) == first
    assert_no_empty_files(catalog)

    step(work, "ingest {repo}/configs/ingest/backtest_examples_trades.yaml --offline --catalog catalog",
         readme="ingest configs/ingest/backtest_examples_trades.yaml --offline", timeout=300)
    fetched = ingest_report(catalog)["futures BTCUSDT agg_trades"]["fetched"]
    assert fetched > 80_000  # the 45 minutes a clean catalog gets: what record wrote does not mark them held
    assert rows(catalog, *PERP_TRADES) == first + fetched
    assert_no_empty_files(catalog)

    started = time.monotonic()
    proc = step(work, record, readme="record configs/record/btc_futures.yaml", timeout=90)
    assert time.monotonic() - started < 60, "record ran far past its --duration 10"
    second = recorded_rows(proc.stdout, "futures BTCUSDT agg_trades")
    assert second > 0
    assert rows(catalog, *PERP_TRADES) == first + fetched + second
    assert_no_empty_files(catalog)
    assert_ids_are_the_tapes(catalog)


def assert_ids_are_the_tapes(catalog: Path) -> None:
    """The trades after record, ingest, record: ingest's 45 minutes (23:15 to 00:00 of the recordings) and both
    records' span (the second resumed the first), each contiguous, no id twice, each row the exchange tape's own
    time and taker side (read from the files, checked against the tape, not through the code under test)."""
    from framework.binance.endpoints import Market
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchange

    table = pq.ParquetDataset(catalog / "data" / PERP_TRADES[0] / PERP_TRADES[1]).read(
        columns=["trade_id", "ts_init", "aggressor_side"])
    ids = [int(i) for i in table.column("trade_id").to_pylist()]
    assert len(ids) == len(set(ids)), "no id twice"
    held = {int(i): (t // 1_000_000, side) for i, t, side in
            zip(ids, table.column("ts_init").to_pylist(), table.column("aggressor_side").to_pylist())}
    ids.sort()
    breaks = [k for k in range(1, len(ids)) if ids[k] != ids[k - 1] + 1]
    assert len(breaks) == 1, f"two contiguous runs (ingest's, then both records'), got {len(breaks) + 1}"
    (i0, i1), (r0, r1) = (ids[0], ids[breaks[0] - 1]), (ids[breaks[0]], ids[-1])
    tape = LocalExchange(ExchangeConfig(start="recorded")).market.tape(Market.FUTURES, "BTCUSDT")
    ms = lambda text: calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M")) * 1000  # noqa: E731 (UTC)
    assert tape.agg_trade(i0 - 1).time < ms("2024-08-08T23:15") <= tape.agg_trade(i0).time
    assert tape.agg_trade(i1).time < ms("2024-08-09T00:00") <= tape.agg_trade(i1 + 1).time
    for i in {*range(i0, i0 + 50), *range(i1 - 50, i1 + 1), *range(r0, r0 + 50), *range(r1 - 50, r1 + 1)}:
        row = tape.agg_trade(i)  # the tape's own time and taker side (aggressor SELLER = 2 when the buyer made)
        assert held[i] == (row.time, 2 if row.is_buyer_maker else 1), i


# -- the documentation's command lines parse -----------------------------------------------------------------


#: Placeholders the docs use for a value, and a value of the right shape for the parser.
_PLACEHOLDERS = {"SECONDS": "10", "DIR": "somewhere", "HOST:PORT": "127.0.0.1:6379", "N": "1", "X": "2",
                 "...": "2024-08-08"}


def _documented_lines() -> list[tuple[str, str]]:
    """``(where, command line)`` for every ``python -m framework.main`` line in a README code block or in a
    config's comments (the part after ``framework.main``, without the trailing comment)."""
    found = []
    for doc in DOCS:
        in_code, lines = False, doc.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if line.startswith("```"):
                in_code = not in_code
            elif in_code and "framework.main " in line:
                for more in lines[n:]:  # a line ending in a backslash goes on on the next one
                    if not line.endswith("\\"):
                        break
                    line = f"{line[:-1]} {more.strip()}"
                found.append((f"{doc.relative_to(ROOT)}:{n}", line))
    for config in CONFIGS:
        for n, line in enumerate(config.read_text().splitlines(), 1):
            if line.lstrip().startswith("#") and "framework.main " in line:
                found.append((f"{config.relative_to(ROOT)}:{n}", line.lstrip().lstrip("#")))
    commands = []
    for where, line in found:
        command = line.split("framework.main ", 1)[1]
        command = re.split(r"\s#|\s\(", command)[0].strip().rstrip(",;.")  # a comment or prose follows
        if command and not command.startswith("<command>"):
            commands.append((where, command))
    return commands


def _variants(command: str) -> list[list[str]]:
    """The argument lists a documented line stands for: optional ``[...]`` parts included (a bare
    ``[--flag]`` too), and each alternative of ``a|b|c`` values, placeholders given a value."""
    tokens = shlex.split(command.replace("[", " ").replace("]", " "))
    tokens = [_PLACEHOLDERS.get(t, t) for t in tokens]
    variants = [tokens]
    for i, token in enumerate(tokens):
        if "|" in token and not token.startswith("-"):
            variants = [[*v[:i], alt, *v[i + 1 :]] for v in variants for alt in token.split("|")]
    return variants


def _option_strings(argv: list[str]) -> set[str]:
    """Every option string of the (sub)command ``argv`` names, spelled in full."""
    found: set[str] = set()
    p = parser()
    for token in argv:
        found |= set(p._option_string_actions)
        sub = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or token not in sub.choices:
            break
        p = sub.choices[token]
    return found | set(p._option_string_actions)


DOCUMENTED = _documented_lines()


def test_the_docs_have_command_lines_to_check() -> None:
    assert len(DOCUMENTED) >= 20, DOCUMENTED
    wheres = {w.split(":")[0] for w, _ in DOCUMENTED}
    assert "README.md" in wheres and "configs/backtest/ema_cross.yaml" in wheres


@pytest.mark.parametrize("where,command", DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_every_documented_command_line_parses(where: str, command: str) -> None:
    """Each documented line parses with the CLI's own parser (flag names, choices, positionals), and every
    repository path it names exists."""
    for argv in _variants(command):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                parser().parse_args(argv)
            except SystemExit as e:
                assert e.code == 0, f"{where}: `{shlex.join(argv)}` does not parse: {err.getvalue().strip()}"
        options = _option_strings(argv)
        for token in argv:
            flag = token.split("=", 1)[0]
            assert not flag.startswith("--") or flag in options, (
                f"{where}: {flag} is not an option of `{' '.join(argv[:2])}` (argparse reads it as a prefix)"
            )
            if re.match(r"(configs|examples|strategies|notebooks|benchmarks)/", token):
                assert (ROOT / token).exists(), f"{where}: {token} does not exist"


def test_the_readme_quick_start_commands_exist() -> None:
    """The README's first two commands: the setup script and the pytest run from a fresh clone."""
    head = README.read_text().split("```bash", 1)[1].split("```", 1)[0]
    assert "bash scripts/setup.sh && .venv/bin/python -m framework.main collect --offline" in head
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in head
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert "-e '.[test]'" in setup and (ROOT / "scripts/python312.sh").is_file()
    assert "pytest" in (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]", 1)[1]
