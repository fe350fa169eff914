"""Every ``reproduce/`` table script declares a grid whose rows are registered methods, whose every
cell passes the checks done before any training, and beside whose cells each of its paper's published
values has a place (a paper number no cell matches would silently vanish from the table)."""
import importlib
import pathlib

import pandas as pd
import pytest

from benchmark.runner import validate_cell
from benchmark.tables import PAPER_NUMBERS, column
from methods import registered

REPRO = pathlib.Path(__file__).parents[1] / "reproduce"
SCRIPTS = sorted(p.stem for p in REPRO.glob("*table*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_grid_rows_and_paper_numbers(script, monkeypatch):
    monkeypatch.syspath_prepend(str(REPRO))
    grid = importlib.import_module(script).GRID
    cells = grid.cells("cpu")
    assert cells, f"{script}: empty grid"
    rows = {m for _, m, _ in grid.rows()}
    assert rows <= set(registered()), f"{script}: unregistered rows {sorted(rows - set(registered()))}"
    for c in {(c.method, c.options, c.dataset): c for c in cells}.values():
        validate_cell(c)                                           # options and settings valid, no data needed
    paper = pd.read_csv(PAPER_NUMBERS)
    paper = paper[(paper["table"] == (grid.paper_table or grid.table)) & (paper["source"] == grid.source)]
    have = {(c.method, column(c.dataset, c.backbone, bool(grid.backbones)), c.way, c.shot) for c in cells}
    lost = [tuple(r) for r in paper[["method", "dataset", "way", "shot"]].itertuples(index=False) if tuple(r) not in have]
    assert not lost, f"{script}: paper numbers without a cell: {lost[:5]}"
    assert len(paper) > 0, f"{script}: no paper numbers for {grid.source} {grid.paper_table or grid.table}"
