"""scripts/pocus_budget.py: the POCUS budget is chosen on the folds' validation balanced accuracy, never the test."""

import importlib.util
import json
from pathlib import Path

import pytest

from das_core.runs import append_jsonl, write_json, write_status

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pocus_budget.py"


def _script():
    spec = importlib.util.spec_from_file_location("pocus_budget", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(folder: Path, val_bacc: float, test_bacc: float) -> None:
    folder.mkdir(parents=True)
    write_json(folder / "summary.json", {"best_epoch": 1, "balanced_accuracy": test_bacc})
    append_jsonl(folder / "metrics.jsonl", {"epoch": 0, "val_balanced_accuracy": 0.9})  # not the best epoch
    append_jsonl(folder / "metrics.jsonl", {"epoch": 1, "val_balanced_accuracy": val_bacc})
    write_status(folder, "finished")


def test_the_budget_is_chosen_on_validation_not_test(tmp_path):
    mod = _script()
    for fold in range(5):  # A: better on test, worse on validation
        _run(tmp_path / "A" / "pocus-lung" / f"full-r1-s0-f{fold}", 0.40, 0.90)
        _run(tmp_path / "B" / "pocus-lung" / f"full-r1-s0-f{fold}", 0.60 + 0.01 * fold, 0.30)
    record = tmp_path / "choice.md"
    assert mod.choose(tmp_path, record) == "B"
    text = record.read_text()
    assert "Chosen: **B**" in text and "0.620" in text and "0.400" in text
    (tmp_path / "B" / "pocus-lung" / "full-r1-s0-f4" / "status.json").unlink()  # an unfinished fold
    with pytest.raises(SystemExit, match="fewer than 5 finished folds"):
        mod.choose(tmp_path, record)
    assert json.loads(json.dumps(mod.CANDIDATES))  # plain flags, printable by `flags`
