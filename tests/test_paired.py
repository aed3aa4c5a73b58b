"""Paired differences of a grid (`experiments.paired`), recipe variants and the chance-level guard of bench."""

import pytest

from das_core.errors import ConfigError
from das_core.experiments.bench import BenchConfig, cell_config, chance_level_sets, run_folder, split_method
from das_core.experiments.paired import markdown, paired_tables, reference_methods


def _rows():
    rows = []
    for seed in range(5):
        for method, auc, val in (("uniform", 0.60, 0.61), ("central", 0.62, 0.66), ("dps", 0.63, 0.64),
                                 ("das", 0.70 + 0.01 * seed, 0.70), ("full", 0.75, 0.75)):
            rows.append({"dataset": "d", "method": method, "ratio": 1.0 if method == "full" else 0.25, "seed": seed,
                         "fold": None, "auc": auc, "val_auc": val, "run": f"runs/d/{method}-s{seed}"})
    return rows


def test_the_best_static_baseline_is_chosen_on_validation_not_test():
    refs = reference_methods([r for r in _rows() if r["ratio"] == 0.25])
    assert refs == {"uniform": "uniform", "best_static": "central", "full": "full"}  # dps is best on test, not on val


def test_paired_differences_are_per_seed_with_a_ci_and_the_verdict_says_what_they_back():
    controls = {f"runs/d/das-s{s}": {"auc_own": 0.70, "auc_modal": 0.69, "auc_blank": 0.65, "own_minus_modal":
                                     {"diff": 0.01, "lo": -0.01, "hi": 0.03}, "distinct_own_sets": 40,
                                     "overlap_own_modal": 6.0, "overlap_own_blank": 5.0, "modal_set": list(range(10))}
                for s in range(5)}
    t = paired_tables(_rows(), tuning=(), controls=controls)
    (cell,) = t["cells"]
    assert cell["role"] == "held out" and cell["references"]["best_static"] == "central"
    das = next(m for m in cell["methods"] if m["method"] == "das")
    vs_uniform = das["vs"]["uniform"]
    assert vs_uniform["n"] == 5 and vs_uniform["mean_diff"] == pytest.approx(0.12)
    assert vs_uniform["lo"] > 0 and vs_uniform["p"] == pytest.approx(0.0625)
    assert das["vs"]["full"]["hi"] < 0  # below full on every seed
    uni = next(m for m in cell["methods"] if m["method"] == "uniform")
    assert uni["vs"]["best_static"]["lo"] == uni["vs"]["best_static"]["hi"] == pytest.approx(-0.02)  # a constant diff
    (ctrl,) = t["static_control"]
    assert ctrl["own_minus_modal"]["mean_diff"] == pytest.approx(0.01) and ctrl["own_minus_modal"]["lo"] == pytest.approx(0.01)
    text = "\n".join(markdown(t))
    assert "does not meet the target" in text  # +0.01 < +0.03
    assert "below the full sequence" in text and "- best static/heuristic (central)" in text


def test_recipe_variants_have_their_own_folder_and_sampler_options(tmp_path):
    assert split_method("dps/paper") == ("dps", "paper") and split_method("das") == ("das", None)
    with pytest.raises(ConfigError, match="no recipe variant"):
        split_method("uniform/paper")
    with pytest.raises(ConfigError, match="Unknown recipe variant"):
        split_method("das/fast")
    assert split_method("das/learned") == ("das", "learned")
    with pytest.raises(ConfigError, match="does not take"):
        split_method("dps/learned")  # DPS has no frame encoder
    cfg = BenchConfig(runs_dir=str(tmp_path))
    out = run_folder(cfg, "d", "dps/paper", 0.25, 1)
    assert out.name == "dps-paper-r0.25-s1"
    c = cell_config(cfg, "synthetic-volumes", {}, "dps/paper", 0.25, 1, out)
    assert c.method == "dps" and c.sampler_options["estimator"] == "straight_through"
    assert c.sampler_options["score_init"] == "random"
    assert "estimator" not in cell_config(cfg, "synthetic-volumes", {}, "dps", 0.25, 1, out).sampler_options


def test_a_data_set_where_full_stays_at_chance_is_not_ranked():
    rows = [{"dataset": "pocus", "method": "full", "balanced_accuracy": b, "num_classes": 4} for b in (0.25, 0.26, 0.25)]
    rows += [{"dataset": "vessel", "method": "full", "balanced_accuracy": b, "num_classes": 2} for b in (0.80, 0.78, 0.82)]
    flagged = chance_level_sets(rows)
    assert list(flagged) == ["pocus"] and "chance 0.250" in flagged["pocus"]


def test_the_round2_choice_on_validation_is_what_the_ablation_notes_show():
    """The notes quote the table `round2_validation_lines` makes from the committed per-epoch metrics (one source)."""
    from pathlib import Path

    from das_core.experiments.ablation import round2_on_validation, round2_validation_lines

    res = round2_on_validation()
    assert max(res, key=lambda n: res[n]["mean"]) == "w2zero"  # the default, chosen without the test split
    assert all(e >= 3 for r in res.values() for e in r["best_epoch"])  # never a warm-up epoch
    notes = Path("docs/results/ablation/notes.md").read_text()
    quoted = notes.split("<!-- round2-validation:start -->\n")[1].split("\n<!-- round2-validation:end -->")[0]
    assert quoted == "\n".join(round2_validation_lines())


def test_the_results_page_rows_say_separates_only_where_the_ci_excludes_zero(tmp_path):
    import json

    from explorer import catalogue

    t = paired_tables(_rows(), tuning=("d",))
    (tmp_path / "results.csv").write_text("dataset\n")
    (tmp_path / "paired.json").write_text(json.dumps(t))
    rows = catalogue.paired_rows(catalogue.load_paired(tmp_path / "results.csv"), "d")
    das = next(r for r in rows if r["method"] == "das")
    assert das["role"] == "tuning" and das["- uniform"].endswith("(separates)") and das["seeds"] == 5
    dps = next(r for r in rows if r["method"] == "dps")
    assert dps["- best static/heuristic"] == "+0.010 [+0.010, +0.010], p=0.062, n=5 (separates) vs central"
    uni = next(r for r in rows if r["method"] == "uniform")
    assert uni["- uniform"] == ""  # no difference of a method from itself
    assert catalogue.load_paired(tmp_path / "missing" / "results.csv") is None


def test_the_recipe_is_chosen_on_the_tuning_family_validation_and_read_on_the_held_out_ones():
    from das_core.experiments.paired import chosen_recipes

    rows = [dict(r, dataset="tune") for r in _rows()] + _rows()
    rows += [{"dataset": ds, "method": "das/paper", "ratio": 0.25, "seed": s, "fold": None, "auc": 0.66,
              "val_auc": 0.9 if ds == "tune" else 0.1, "run": f"runs/{ds}/das-paper-s{s}"} for ds in ("tune", "d")
             for s in range(5)]
    assert chosen_recipes(rows, ("tune",)) == {"das": "das/paper"}  # the held-out set's validation is not read
    text = "\n".join(markdown(paired_tables(rows, tuning=("tune",))))
    assert "das -> das/paper" in text and "das/paper (chosen on the tuning family)" in text
    assert "**tune" not in text.split("## What these figures back")[1]  # the tuning family is not a held-out claim


def test_a_choice_made_on_another_grid_is_read_on_this_one(tmp_path):
    rows = _rows() + [{"dataset": "d", "method": "das/paper", "ratio": 0.25, "seed": s, "fold": None, "auc": 0.66,
                       "val_auc": 0.1, "run": f"runs/d/das-paper-s{s}"} for s in range(5)]
    text = "\n".join(markdown(paired_tables(rows, chosen_elsewhere={"das": "das/paper"})))
    assert "das/paper (chosen on the tuning family)" in text
    from das_core.experiments.paired import PairedConfig, run_paired

    with pytest.raises(ConfigError, match="METHOD=RECIPE"):
        run_paired(PairedConfig(runs_dir=str(tmp_path), out_dir=str(tmp_path), chosen=["das/paper"]), log=lambda *_: None)


def test_two_seeds_are_too_few_to_call_a_separation_or_meet_the_target():
    rows = [r for r in _rows() if r["seed"] < 2]
    controls = {f"runs/d/das-s{s}": {"auc_own": 0.80, "auc_modal": 0.60, "auc_blank": 0.6, "own_minus_modal":
                                     {"diff": 0.2, "lo": 0.1, "hi": 0.3}, "distinct_own_sets": 40,
                                     "overlap_own_modal": 6.0, "overlap_own_blank": 5.0, "modal_set": list(range(10))}
                for s in range(2)}
    t = paired_tables(rows, tuning=(), controls=controls)
    das = next(m for m in t["cells"][0]["methods"] if m["method"] == "das")
    assert das["vs"]["uniform"]["lo"] > 0  # the same sign on both seeds: the bootstrap CI alone would call it
    text = "\n".join(markdown(t))
    assert not [line for line in text.splitlines() if line.startswith("|") and "**" in line]  # no bold cell
    assert "too few seeds to test the target" in text and "meets the target" not in text
    assert "not separated from the full sequence (fewer than 5 seeds)" in text


def _write_grid(folder, rows, controls=None):
    """A committed grid's files: results.csv, and the paired files `paired` writes beside it."""
    import csv

    from das_core.experiments.bench import CSV_FIELDS
    from das_core.experiments.paired import CONTROL_FIELDS, control_rows

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    if controls is not None:
        with open(folder / "static_controls.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CONTROL_FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(control_rows(rows, controls))
    return folder / "results.csv"


def _controls(seeds, own=0.70, modal=0.66):
    return {f"runs/d/das-s{s}": {"auc_own": own, "auc_modal": modal, "auc_blank": 0.6, "own_minus_modal":
                                 {"diff": own - modal, "lo": 0.0, "hi": 0.08}, "distinct_own_sets": 40,
                                 "overlap_own_modal": 6.0, "overlap_own_blank": 5.0, "modal_set": list(range(10))}
            for s in seeds}


def test_committed_csvs_reproduce_the_static_control_and_pool_two_grids(tmp_path):
    import json

    from das_core.experiments.paired import PairedConfig, run_paired
    from das_core.experiments.results import load_results

    rows = _rows()
    a = [dict(r, auc=r["auc"] - 0.01) for r in rows]  # grid A: seeds 0-4
    b = [dict(r, seed=r["seed"] + 5, run=f"runs-b/d/{r['method']}-s{r['seed'] + 5}") for r in rows]  # seeds 5-9
    ctrl_b = {k.replace("runs/d", "runs-b/d"): v for k, v in _controls(range(5, 10), own=0.75, modal=0.70).items()}
    csv_b = _write_grid(tmp_path / "b", b, ctrl_b)
    # grid A was made before static_controls.csv: its paired.json holds each seed's own - modal
    csv_a = _write_grid(tmp_path / "a", a)
    old = paired_tables(a, tuning=(), controls=_controls(range(5)))
    (tmp_path / "a" / "paired.json").write_text(json.dumps(old))
    out = tmp_path / "pooled"
    t = run_paired(PairedConfig(from_csv=[str(csv_a), str(csv_b)], out_dir=str(out)), log=lambda *_: None)
    (ctrl,) = t["static_control"]
    assert ctrl["n"] == 10 and ctrl["own_minus_modal"]["n"] == 10
    assert ctrl["own_minus_modal"]["mean_diff"] == pytest.approx((0.04 * 5 + 0.05 * 5) / 10)
    assert ctrl["own_minus_blank"]["n"] == 5  # grid A recorded no per-seed blank-input AUC
    assert ctrl["distinct_sets"] == pytest.approx(40) and ctrl["recorded"] == {"blank": 5, "pick_sets": 5}
    das = next(m for m in t["cells"][0]["methods"] if m["method"] == "das")
    assert das["n"] == 10 and das["vs"]["uniform"]["n"] == 10
    assert t["cells"][0]["references"]["best_static"] == "central"  # chosen on the rows that record val AUC
    pooled = load_results(out / "results.csv")
    assert len(pooled) == len(a) + len(b) and (out / "results.md").is_file()
    assert len(load_results(out / "static_controls.csv")) == 10
    assert "over the runs that record them" in (out / "paired.md").read_text()
    with pytest.raises(ConfigError, match="pool grids that ran different seeds"):
        run_paired(PairedConfig(from_csv=[str(csv_a), str(csv_a)], out_dir=str(out)), log=lambda *_: None)
    with pytest.raises(ConfigError, match="no such results file"):
        run_paired(PairedConfig(from_csv=[str(tmp_path / "none.csv")], out_dir=str(out)), log=lambda *_: None)
    # a single grid read back from its committed files gives the static control it was written with
    again = run_paired(PairedConfig(from_csv=[str(csv_b)], out_dir=str(tmp_path / "again")), log=lambda *_: None)
    direct = paired_tables(b, tuning=(), controls=ctrl_b)
    assert again["static_control"][0]["own_minus_modal"] == direct["static_control"][0]["own_minus_modal"]
    assert again["static_control"][0]["blank"] == pytest.approx(direct["static_control"][0]["blank"])


def test_the_verdict_reads_every_das_recipe_and_says_which_one_the_tuning_family_chose():
    """A candidate the tuning family rejected is still read on the held-out set, marked as not chosen."""
    rows = []
    for ds, role_val in (("tune", {"das/paper": 0.70, "das/anneal": 0.65}), ("held", {"das/paper": 0.60, "das/anneal": 0.80})):
        for seed in range(5):
            for method, auc in (("uniform", 0.60), ("das/paper", 0.62 + 0.01 * seed), ("das/anneal", 0.75 + 0.01 * seed)):
                rows.append({"dataset": ds, "method": method, "ratio": 0.25, "seed": seed, "fold": None, "auc": auc,
                             "val_auc": role_val.get(method, 0.6), "run": f"runs/{ds}/{method}-s{seed}"})
    t = paired_tables(rows, tuning=("tune",))
    assert t["chosen"]["das"] == "das/paper"  # on the tuning family's validation AUC, whatever the held-out test says
    text = "\n".join(markdown(t))
    assert "**held, ratio 0.25, das/paper (chosen on the tuning family)**" in text
    assert "**held, ratio 0.25, das/anneal (not chosen on the tuning family)**" in text
    assert "**tune," not in text.split("## What these figures back")[1]  # the tuning family is not read there
