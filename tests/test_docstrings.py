"""Every public class and function of the package says what it is for (a docstring), as ARCHITECTURE.md promises.

Public means: a module-level class or function, or a method of a public class, whose name has no leading
underscore. Overrides of Nautilus's handler hooks (``on_start``, ``on_bar``, ...) are documented by Nautilus and
are exempt. Properties and dataclass methods are checked like any method.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("framework", "strategies")


def _hook(name: str) -> bool:
    """Nautilus callbacks (Actor/Strategy/DataClient/ExecutionClient hooks) keep Nautilus's own documentation."""
    return name.startswith("on_") or name.startswith("_")


def undocumented() -> list[str]:
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            where = path.relative_to(ROOT)
            for node in tree.body:
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name[0] == "_":
                    continue
                if ast.get_docstring(node) is None:
                    found.append(f"{where}:{node.lineno} {node.name}")
                if isinstance(node, ast.ClassDef):
                    for sub in node.body:
                        if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _hook(sub.name)
                                and ast.get_docstring(sub) is None):
                            found.append(f"{where}:{sub.lineno} {node.name}.{sub.name}")
    return found


def test_public_classes_and_functions_have_docstrings() -> None:
    missing = undocumented()
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)
