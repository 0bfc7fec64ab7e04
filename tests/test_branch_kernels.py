import pytest
import torch

from utils.network.model import googlenet
from utils.results.branch_kernels import RING_SHARE_AT_RANDOM, ring_share, ring_shares


def test_ring_share_by_hand():
    w = torch.zeros(1, 1, 5, 5)
    w[0, 0, 2, 2] = 3.0  # centre: energy 9
    w[0, 0, 0, 0] = 1.0  # a corner of the ring: energy 1
    assert ring_share(w) == pytest.approx(1 / 10)
    assert ring_share(torch.ones(2, 3, 5, 5)) == pytest.approx(16 / 25)


def test_random_kernels_sit_near_the_reference_and_3x3_is_refused():
    torch.manual_seed(0)
    shares = ring_shares(googlenet("paper", num_classes=10))
    assert len(shares) == 9
    assert all(abs(r["ring_share"] - RING_SHARE_AT_RANDOM) < 0.05 for r in shares)
    with pytest.raises(ValueError, match="5x5"):
        ring_shares(googlenet("torchvision", num_classes=10))


def test_update_share_sees_a_change_confined_to_the_centre():
    torch.manual_seed(0)
    start = googlenet("paper", num_classes=10)
    trained = googlenet("paper", num_classes=10)
    trained.load_state_dict(start.state_dict())
    with torch.no_grad():
        trained.inception3a.branch3[1].conv.weight[..., 2, 2] += 1.0  # only the central tap learns
    row = ring_shares(trained, start)[0]
    assert row["update_ring_share"] == pytest.approx(0.0, abs=1e-6)
    assert row["relative_change"] > 0
