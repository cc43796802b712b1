"""The package stays in the shape the next stages build on: small modules and functions, imports one way."""

from __future__ import annotations

import ast
from pathlib import Path

import altaviz

PACKAGE = Path(altaviz.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_module_is_over_400_lines_and_no_function_over_60():
    long_modules = [f"{p.relative_to(PACKAGE)}: {n}" for p in MODULES
                    if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    long_functions = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {length}")
    assert long_modules == [] and long_functions == []


def test_monitoring_and_the_reports_import_nothing_from_the_stages():
    for path in [*sorted((PACKAGE / "monitoring").glob("*.py")), PACKAGE / "reports.py", PACKAGE / "tables.py"]:
        stages = {m for m in _imports(ast.parse(path.read_text(encoding="utf-8"))) if m.startswith("altaviz.stages")}
        assert not stages, f"{path.relative_to(PACKAGE)} imports {sorted(stages)}"
