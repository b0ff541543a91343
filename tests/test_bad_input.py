"""Every row of the bad-input table (``tests/bad_input/``) as a real process: the exit code, the message, and
never a traceback, a panic or silence."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import bad_input
from tests.bad_input import REPO
from tests.bad_input import Case
from tests.conftest import FIXTURES


def _cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(bad_input.__path__):
        cases += importlib.import_module(f"tests.bad_input.{module.name}").CASES
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "bad-input case ids must be unique"
    return cases


CASES = _cases()
# A case that reaches for Binance without --offline must fail here at once, never leave the machine: the
# production defaults are the real hosts, so the URLs point at a closed port on loopback instead.
NOWHERE = {var: f"{scheme}://127.0.0.1:9" for var, scheme in (
    ("BASE_PATH_SPOT", "http"), ("BASE_PATH_FUTURES", "http"), ("STREAM_URL_SPOT", "ws"), ("STREAM_URL_FUTURES", "ws"))}


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{repo}", str(REPO)).replace("{fixtures}", str(FIXTURES))


@dataclass
class Ran:
    """One case's process, run ahead of its test."""

    tmp: Path
    argv: list[str]
    proc: subprocess.CompletedProcess | BaseException


def _run(case: Case, tmp: Path) -> Ran:
    argv = [_fill(a, tmp) for a in case.argv]
    try:
        if case.setup:
            case.setup(tmp)
        env = {**os.environ, "PYTHONPATH": str(REPO), **NOWHERE, **{k: _fill(v, tmp) for k, v in case.env.items()}}
        proc = subprocess.run([sys.executable, "-m", "framework.main", *argv], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=case.timeout, stdin=subprocess.DEVNULL)
    except BaseException as e:  # noqa: BLE001  reported by the case's own test
        return Ran(tmp, argv, e)
    return Ran(tmp, argv, proc)


@pytest.fixture(scope="module")
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """The selected cases' processes, a few at a time: each is mostly start-up (imports), so the table's
    wall time falls with the cores instead of adding up row by row."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "callspec", None) and "case" in item.callspec.params
                and item.module is request.module]
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 2) + 1)) as pool:
        futures = {c.id: pool.submit(_run, c, tmp_path_factory.mktemp(c.id[:40])) for c in selected}
        return {name: f.result() for name, f in futures.items()}


# the first selected case's setup runs the whole table (each process has its own timeout, so none can hang)
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ran: dict[str, Ran]) -> None:
    run = ran[case.id]
    if isinstance(run.proc, BaseException):
        raise run.proc
    proc, tmp_path = run.proc, run.tmp
    out = proc.stdout + proc.stderr
    shown = f"\n$ {' '.join(run.argv)}\nexit {proc.returncode}\n{out[-3000:]}"
    assert "Traceback" not in out and "panicked" not in out, shown
    assert proc.returncode == case.exit_code, shown
    message = _fill(case.message, tmp_path)
    if case.exit_code == 0:  # a run still worth having: the message is a printed warning
        assert any(message in line and "warning" in line for line in out.splitlines()), shown
    else:  # one error line (argparse's "prog: error: ..." or ours, "error: ...") that names the problem
        error_lines = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(error_lines) == 1, f"expected one error line{shown}"
        assert message in error_lines[0], shown
    if case.check:
        case.check(tmp_path)


def test_the_table_covers_every_command() -> None:
    from framework.main import COMMANDS

    names = {c.__name__.rsplit(".", 1)[1].replace("_", "-") for c in COMMANDS}
    covered = {c.argv[0] for c in CASES}
    assert names <= covered, f"commands without a bad-input row: {sorted(names - covered)}"
