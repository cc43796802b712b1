"""The table catalog: every table declared once, with a layout its own schema can hold; stages define none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from altaviz import tables
from altaviz.lakehouse.paths import TableRef

STAGES = Path(tables.__file__).parent / "stages"


def test_every_table_is_declared_once():
    names = [(t.lakehouse, t.table) for t in tables.TABLES]
    assert len(names) == len(set(names))
    declared = {name for name, value in vars(tables).items() if isinstance(value, tables.Table)}
    assert {name for name, value in vars(tables).items() if isinstance(value, TableRef)} == declared
    assert len(declared) == len(tables.TABLES)


@pytest.mark.parametrize("table", [t for t in tables.TABLES if t.columns is not None], ids=lambda t: t.table)
def test_a_tables_partitioning_merge_keys_and_clustering_are_columns_of_its_schema(table):
    columns = set(table.columns().fieldNames())
    for layout in ("partition_by", "merge_keys", "cluster_by", "zorder_by"):
        assert set(getattr(table, layout)) <= columns, (table.table, layout)


def test_stages_take_their_tables_from_the_catalog_not_from_each_other():
    table_names = {name for name, value in vars(tables).items() if isinstance(value, tables.Table)}
    for path in sorted(STAGES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "TableRef":
                pytest.fail(f"{path.name}:{node.lineno} declares a table outside the catalog")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("altaviz.stages"):
                shared = {a.name for a in node.names} & table_names
                assert not shared, f"{path.name}:{node.lineno} imports {sorted(shared)} from {node.module}"
