"""Every row of the bad-input table (``tests/bad_input/``) as a real process: the exit code, the message, and
never a traceback, a panic or silence."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
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


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    if case.setup:
        case.setup(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), **NOWHERE, **{k: _fill(v, tmp_path) for k, v in case.env.items()}}
    argv = [_fill(a, tmp_path) for a in case.argv]
    proc = subprocess.run([sys.executable, "-m", "framework.main", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=case.timeout, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    shown = f"\n$ {' '.join(argv)}\nexit {proc.returncode}\n{out[-3000:]}"
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
