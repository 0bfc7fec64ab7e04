"""Short runs repeated over seeds, summarised (utils.training.photo_training.seed_table, first_reaching).

The metric rows are written by hand, so every expected value below is read off them, not computed by the
code under test.
"""

from __future__ import annotations

import pytest

from utils.training import photo_training as P

# two starts, three seeds: "a" ends ahead on seed 0, "b" on seed 1, a tie at the top on seed 2
RUNS = {
    0: {"a": [{"step": 50, "val_acc": 0.10}, {"step": 100, "val_acc": 0.35}, {"step": 150, "val_acc": 0.30}],
        "b": [{"step": 50, "val_acc": 0.10}, {"step": 100, "val_acc": 0.12}, {"step": 150, "val_acc": 0.25}]},
    1: {"a": [{"step": 50, "val_acc": 0.15}, {"step": 100, "val_acc": 0.18}, {"step": 150, "val_acc": 0.19}],
        "b": [{"step": 50, "val_acc": 0.09}, {"step": 100, "val_acc": 0.21}, {"step": 150, "val_acc": 0.40}]},
    2: {"a": [{"step": 50, "val_acc": 0.20}, {"step": 150, "val_acc": 0.31}],
        "b": [{"step": 50, "val_acc": 0.11}, {"step": 150, "val_acc": 0.31}]},
}


def test_each_seed_and_label_gets_its_end_best_first_step_and_leader():
    rows = {(r["seed"], r["label"]): r for r in P.seed_table(RUNS, threshold=0.2)}
    assert len(rows) == 6
    assert rows[0, "a"] == {"seed": 0, "label": "a", "end": 0.30, "best": 0.35, "first_step_reaching": 100,
                            "ahead": True}
    assert rows[0, "b"]["first_step_reaching"] == 150 and not rows[0, "b"]["ahead"]
    assert rows[1, "a"]["first_step_reaching"] is None and not rows[1, "a"]["ahead"]  # never reached 20%
    assert rows[1, "b"] == {"seed": 1, "label": "b", "end": 0.40, "best": 0.40, "first_step_reaching": 100,
                            "ahead": True}
    assert not rows[2, "a"]["ahead"] and not rows[2, "b"]["ahead"]  # a tie leads nobody
    assert rows[2, "a"]["first_step_reaching"] == 50  # reaching is "at least", 0.20 counts


def test_first_reaching_reads_rows_in_order_and_skips_missing_values():
    rows = [{"epoch": 1, "acc": None}, {"epoch": 2, "acc": 0.96}, {"epoch": 3}, {"epoch": 4, "acc": 0.971},
            {"epoch": 5, "acc": 0.95}, {"epoch": 6, "acc": 0.98}]
    assert P.first_reaching(rows, "acc", 0.97, at="epoch") == 4
    assert P.first_reaching(rows, "acc", 0.99, at="epoch") is None


def test_a_run_without_an_evaluation_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="no 'val_acc'.*eval_every"):
        P.seed_table({0: {"a": [{"step": 50, "train_loss": 3.0}]}}, threshold=0.2)
