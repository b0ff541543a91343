"""The layer rules of ARCHITECTURE.md, checked by walking every import of the package (no import-linter needed).

A package may import only packages of a lower layer (and, where listed, a named peer); nothing but the commands,
the CLI, benchmarks and tests imports the local exchange; there is no import cycle between modules; and no module
is much over 500 lines. Imports inside functions count too (a lazy import is still a dependency); imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("framework", "strategies")
MAX_LINES = 520  # "about 500": a little slack so a docstring does not force a split

#: Layers from the bottom. A unit may import units of lower layers only, plus the peers named in PEERS.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("framework.errors", "framework.timeunits"),
    ("framework.settings", "framework.userconfig", "framework.output"),
    ("framework.binance",),
    ("framework.values",),
    ("framework.data",),
    ("framework.catalog", "framework.exchange"),
    ("framework.ingest", "framework.collect"),
    ("framework.orderflow", "framework.live"),
    ("framework.record", "framework.analysis", "strategies"),
    ("framework.backtest",),
    ("framework.web",),
    ("framework.cli",),
    ("framework.commands",),
    ("framework.main",),
)
#: Same-layer imports that are allowed (importer -> imported).
PEERS: dict[str, set[str]] = {}
#: Who may import the local exchange (a test server): the commands and the CLI (``--offline``).
EXCHANGE_IMPORTERS = {"framework.exchange", "framework.commands", "framework.cli", "framework.main"}


def modules() -> dict[str, Path]:
    found = {}
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a.b import c`` counts as ``a.b.c`` when that is a module)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # ``if TYPE_CHECKING:`` imports are for annotations, not run
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    target = full if full in mods else node.module
                    if target in mods:
                        edges[name].add(target)
            elif isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names if a.name in mods)
    return edges


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def unit(module: str) -> str:
    """The layer unit a module belongs to: its package (``framework.data``) or top module (``framework.cli``)."""
    for layer in LAYERS:
        for u in layer:
            if module == u or module.startswith(u + "."):
                return u
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS in {__file__}")


LEVEL = {u: i for i, layer in enumerate(LAYERS) for u in layer}
MODS = modules()
EDGES = imports(MODS)


def test_every_import_goes_down_a_layer() -> None:
    wrong = []
    for importer, targets in sorted(EDGES.items()):
        a = unit(importer)
        for target in sorted(targets):
            b = unit(target)
            if a != b and LEVEL[b] >= LEVEL[a] and b not in PEERS.get(a, set()):
                wrong.append(f"{importer} -> {target} ({a} may not import {b})")
    assert not wrong, "\n".join(wrong)


def test_only_commands_and_the_cli_import_the_local_exchange() -> None:
    wrong = [f"{m} -> {t}" for m, ts in EDGES.items() for t in ts
             if unit(t) == "framework.exchange" and unit(m) not in EXCHANGE_IMPORTERS]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in EDGES.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in sorted(MODS):
        if m not in index:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(MODS))
def test_modules_are_small(name: str) -> None:
    lines = MODS[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{MODS[name].relative_to(ROOT)} has {lines} lines: split it by job (limit ~500)"
