"""Tables 2-5 as data: checks by the paper's own arithmetic and by its prose (§7, §8)."""

import pytest

from utils.results import paper_tables as pt


def test_table3_cost_is_models_times_crops():
    # Table 3's "Cost" column is the number of forward passes: models x crops.
    for r in pt.TABLE3:
        assert r.cost == r.num_models * r.num_crops


def test_table3_differences_match_the_printed_column_except_the_known_misprint():
    base = pt.TABLE3[0].top5_error_pct
    assert base == 10.07
    for r in pt.TABLE3[1:-1]:
        assert r.vs_base_pct == pytest.approx(r.top5_error_pct - base, abs=1e-9)
    # The last row prints -3.45% although 6.67 - 10.07 = -3.40 (kept as printed).
    last = pt.TABLE3[-1]
    assert (last.num_models, last.num_crops, last.top5_error_pct, last.vs_base_pct) == (7, 144, 6.67, -3.45)


def test_final_numbers_agree_with_the_prose():
    # §7: 144 = 4 scales x 3 squares x 6 crops x 2 mirrors; 7 models; 6.67% top-5 error.
    assert pt.CLASSIFICATION_CROPS == len(pt.CLASSIFICATION_SCALES) * 3 * 6 * 2
    winner = min(pt.TABLE2, key=lambda r: r.top5_error_pct)
    assert (winner.team, winner.year, winner.top5_error_pct) == ("GoogLeNet", 2014, 6.67)
    # §8: 6-model ensemble 43.9% mAP (Table 4), single model 38.02% (Table 5)
    g4 = next(r for r in pt.TABLE4 if r.team == "GoogLeNet")
    g5 = next(r for r in pt.TABLE5 if r.team == "GoogLeNet")
    assert (g4.ensemble, g4.map_pct, g5.map_pct) == (6, 43.9, 38.02)
    assert g5.bounding_box_regression is False


def test_row_counts_and_lookup_by_number():
    assert [len(pt.table(n)) for n in (2, 3, 4, 5)] == [7, 6, 4, 6]
    with pytest.raises(ValueError, match="Table 1 lives in utils.network.arch"):
        pt.table(1)


def test_as_frame():
    df = pt.as_frame(3)
    assert list(df.columns) == ["num_models", "num_crops", "cost", "top5_error_pct", "vs_base_pct"]
    assert df["cost"].tolist() == [1, 10, 144, 7, 70, 1008]
