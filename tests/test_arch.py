"""Table 1 as data: transcription checks against the paper's own arithmetic."""

import pytest

from utils.network import arch


def test_table_has_the_papers_19_rows_and_nine_inception_modules():
    assert len(arch.TABLE1) == 19
    assert arch.INCEPTION_KEYS == ("inception3a", "inception3b", "inception4a", "inception4b",
                                   "inception4c", "inception4d", "inception4e", "inception5a",
                                   "inception5b")


def test_each_inception_output_depth_is_the_sum_of_its_branches():
    # The printed output depth must equal #1x1 + #3x3 + #5x5 + pool proj (concatenation, §4).
    for r in arch.TABLE1:
        if r.kind == "inception":
            assert arch.inception_out_channels(r) == r.out_channels, r.layer


def test_input_channels_are_derived_from_the_previous_row():
    assert arch.in_channels("conv1") == 3
    assert arch.in_channels("inception3a") == 192
    assert arch.in_channels("inception4a") == 480
    assert arch.in_channels("inception5a") == 832


def test_depth_column_sums_to_22_layers_with_parameters():
    # §5: "The network is 22 layers deep when counting only layers with parameters".
    assert sum(r.depth for r in arch.TABLE1) == 22


def test_depth_with_pooling_is_27():
    # §5: "(or 27 layers if we also count pooling)": 22 plus the five pooling rows.
    pools = sum(1 for r in arch.TABLE1 if r.kind in ("maxpool", "avgpool"))
    assert sum(r.depth for r in arch.TABLE1) + pools == 27


@pytest.mark.parametrize("text,value", [("2.7K", 2700), ("34M", 34_000_000), ("1072K", 1_072_000),
                                        ("", None)])
def test_parse_count(text, value):
    assert arch.parse_count(text) == value


def test_parse_count_rejects_garbage():
    with pytest.raises(ValueError, match="cannot parse"):
        arch.parse_count("12 apples")


def test_printed_precision_is_half_a_unit_in_the_last_digit():
    assert arch.printed_precision("2.7K") == 50
    assert arch.printed_precision("34M") == 500_000


def test_unknown_row_lists_valid_keys():
    with pytest.raises(KeyError, match="inception3a"):
        arch.row("inception9z")
