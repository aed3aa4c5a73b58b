"""`experiments.replication`: one grid run on two machines, compared run by run and conclusion by conclusion."""

import csv

import pytest

from das_core import cli
from das_core.errors import ConfigError
from das_core.experiments.replication import compare_grids


def _rows(shift_das: float):
    rows = []
    for seed in range(5):
        for method, auc in (("uniform", 0.60 + 0.01 * seed), ("das", 0.70 + 0.01 * seed + shift_das),
                            ("full", 0.75)):
            rows.append({"dataset": "d", "method": method, "ratio": 1.0 if method == "full" else 0.5, "seed": seed,
                         "fold": None, "auc": auc})
    return rows


def test_a_conclusion_that_moves_with_the_machine_is_flagged():
    same = compare_grids(_rows(0.0), _rows(0.0))
    assert same["runs"] == 15 and same["abs_diff"]["max"] == 0
    moved = compare_grids(_rows(0.0), _rows(-0.1))  # DAS +0.10 above uniform on one, +0.00 on the other
    assert moved["abs_diff"]["max"] == pytest.approx(0.1) and moved["abs_diff"]["mean"] == pytest.approx(0.1 / 3)
    (cell,) = moved["cells"]
    assert [m["method"] for m in cell["methods"]] == ["full", "uniform", "das"]  # the registry's order
    das = next(m for m in cell["methods"] if m["method"] == "das")
    assert das["first"] == pytest.approx(0.72) and das["second"] == pytest.approx(0.62)
    assert das["vs_reference"][0]["lo"] > 0 and das["agree"] is False
    assert next(m for m in cell["methods"] if m["method"] == "full")["agree"] is True
    assert moved["compared"] == 2 and moved["agreed"] == 1
    few = compare_grids([r for r in _rows(0.0) if r["seed"] < 2], _rows(-0.1))
    assert all(m["agree"] is None for m in few["cells"][0]["methods"])  # 2 seeds: nothing is called on that grid
    with pytest.raises(ConfigError, match="share no run"):
        compare_grids(_rows(0.0), [dict(r, dataset="other") for r in _rows(0.0)])


def test_the_cli_writes_the_page(tmp_path, capsys):
    paths = []
    for name, shift in (("a.csv", 0.0), ("b.csv", -0.1)):
        p = tmp_path / name
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["dataset", "method", "ratio", "seed", "fold", "auc"])
            w.writeheader()
            w.writerows(_rows(shift))
        paths.append(p)
    out = tmp_path / "rep" / "README.md"
    assert cli.main(["replication", "--first", str(paths[0]), "--second", str(paths[1]), "--out", str(out)]) == 0
    page = out.read_text()
    assert "15 runs are in both" in page and "| das | 5 | 0.720 | 0.620 |" in page and "**no**" in page
    assert "mean |difference| 0.033" in capsys.readouterr().out
