"""Loading weights: local ImageNet-style files, wrong files, and the offline message."""

import pytest
import torch
import torchvision

from utils.network import weights
from utils.network.model import googlenet


@pytest.fixture
def imagenet_like_file(tmp_path):
    """A state dict saved the way torchvision's IMAGENET1K_V1 file is laid out (random values)."""
    torch.manual_seed(1)
    ref = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True,
                                       transform_input=True)
    path = tmp_path / "googlenet-imagenet.pth"
    torch.save(ref.state_dict(), path)
    return path, ref.eval()


def test_pretrained_from_local_file_matches_torchvision(imagenet_like_file):
    path, ref = imagenet_like_file
    model = weights.pretrained_googlenet(path)
    assert model.aux1 is None and not model.training
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max().item() <= 1e-5


def test_env_variable_points_at_weights(imagenet_like_file, monkeypatch):
    path, _ = imagenet_like_file
    monkeypatch.setenv("GOOGLENET_WEIGHTS", str(path))
    assert weights.find_imagenet_weights() == path


def test_offline_without_weights_gives_one_line_message(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLENET_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with pytest.raises(weights.WeightsUnavailable) as info:
        weights.imagenet_state_dict(download=False)
    message = str(info.value)
    assert "\n" not in message and "GOOGLENET_WEIGHTS" in message


def test_wrong_architecture_names_missing_unexpected_and_shapes(tmp_path):
    path = tmp_path / "paper.pth"
    torch.save(googlenet("paper", num_classes=10).state_dict(), path)
    with pytest.raises(weights.WeightsError) as info:
        weights.pretrained_googlenet(path)
    message = str(info.value)
    assert "missing keys" in message and "bn.weight" in message
    assert "mismatched shapes" in message and "inception3a.branch3.1.conv.weight" in message


def test_unexpected_keys_are_named(tmp_path):
    model = googlenet("paper", num_classes=10, aux_logits=False)
    state = googlenet("paper", num_classes=10, aux_logits=True).state_dict()
    with pytest.raises(weights.WeightsError, match="unexpected keys: aux1"):
        weights.load_into(model, state)


def test_corrupt_file_is_rejected_clearly(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(weights.WeightsError, match="not a PyTorch weights file"):
        weights.read_state_dict(path)


def test_file_without_state_dict_is_rejected(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(weights.WeightsError, match="not a state dict"):
        weights.read_state_dict(path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        weights.pretrained_googlenet(tmp_path / "nowhere.pth")


def test_training_checkpoint_with_model_key_loads(tmp_path):
    model = googlenet("paper", num_classes=10)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)
    loaded = googlenet("paper", num_classes=10)
    weights.load_into(loaded, weights.read_state_dict(path), source=str(path))
    assert torch.equal(loaded.fc.weight, model.fc.weight)


def test_categories_are_available_offline():
    names = weights.imagenet_categories()
    assert len(names) == 1000 and names[281] == "tabby"


def test_empty_weights_file_is_a_message_not_an_index_error(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(weights.WeightsError, match="empty"):
        weights.read_state_dict(path)
    path.write_bytes(b"\x00")  # a file torch rejects with an empty message
    with pytest.raises(weights.WeightsError, match="not a PyTorch weights file"):
        weights.read_state_dict(path)


def test_a_folder_given_as_weights_is_named_not_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLENET_WEIGHTS", raising=False)
    with pytest.raises(ValueError, match="is a folder"):
        weights.find_imagenet_weights(tmp_path)
    monkeypatch.setenv("GOOGLENET_WEIGHTS", str(tmp_path))
    with pytest.raises(ValueError, match="GOOGLENET_WEIGHTS .* is a folder"):
        weights.find_imagenet_weights()
