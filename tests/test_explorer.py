"""The branch explorer and the activations figure (utils.presentation.explorer): photos of every class and
the reader's own, the strongest channel first, dead channels said to be dead, and one figure for every
source of weights (BVLC's, torchvision's, the shipped model: random weights in the shape of each)."""

from __future__ import annotations

import hashlib
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from utils.network.arch import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from utils.network.hooks import record_activations  # noqa: E402
from utils.network.model import googlenet  # noqa: E402
from utils.presentation import explorer as E  # noqa: E402
from utils.results.images import fit_square, to_input  # noqa: E402
from utils.training.imagenette import NAMES, WNIDS  # noqa: E402
from utils.training.pretrained import Found, candidates, load  # noqa: E402

INFO = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "image_size": 64, "variant": "paper", "weights": "random"}
DEAD = 5  # inception3a.branch1's channel 5, silenced below


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = googlenet("paper", num_classes=10, aux_logits=False).eval()
    with torch.no_grad():
        m.inception3a.branch1.conv.bias[DEAD] = -1e4  # never positive after its ReLU, whatever the photo
    return m


def _photos(n=3, size=64):
    rng = np.random.default_rng(1)
    return {f"p{i}": rng.random((size, size, 3)).astype(np.float32) for i in range(n)}


def _title_texts(fig):
    """Every title of a figure and of its subfigures, nested at any depth."""
    return " ".join([t.get_text() for t in fig.texts] + [_title_texts(sub) for sub in fig.subfigs])


# ----------------------------------------------------------------------------- choices
def test_class_photos_one_of_each_of_the_ten_classes(tmp_path):
    for split in ("train", "val"):
        for k, wnid in enumerate(WNIDS):
            (tmp_path / split / wnid).mkdir(parents=True)
            for j in range(2):  # a photo's grey level encodes its class and its order in the folder
                Image.new("RGB", (40, 30), (20 * k + 5 * j,) * 3).save(tmp_path / split / wnid / f"{wnid}_{j}.JPEG")
    photos = E.class_photos(16, data=tmp_path)
    assert list(photos) == [f"{n} (val 1)" for n in NAMES]
    assert [round(255 * p.mean()) for p in photos.values()] == [20 * k for k in range(10)]
    assert all(p.shape == (16, 16, 3) for p in photos.values())
    assert len(E.class_photos(16, per_class=2, data=tmp_path)) == 20
    for f in (tmp_path / "val" / WNIDS[3]).iterdir():
        f.unlink()
    with pytest.raises(ValueError, match="no photos of chain saw"):
        E.class_photos(16, data=tmp_path)


def test_fit_square_keeps_the_seen_region():
    photo = np.zeros((20, 40, 3), dtype=np.float32)
    photo[:, :10] = 1.0  # the left quarter is white: a centre crop loses it, squeeze and pad keep it
    square, region = fit_square(photo, 20, "crop")
    assert region == (10, 0, 20, 20) and square.max() == 0
    square, region = fit_square(photo, 20, "squeeze")
    assert region == (0, 0, 40, 20) and square[:, :4].min() > 0.9
    square, region = fit_square(photo, 20, "pad", fill=0.25)
    assert region == (0, 0, 40, 20) and square[0, 0, 0] == 0.25 and square[10, :4].min() > 0.9
    with pytest.raises(ValueError, match="crop, squeeze, pad"):
        fit_square(photo, 20, "stretch")


# ----------------------------------------------------------------------------- the explorer's state
def test_explorer_opens_on_the_strongest_channel(model):
    photos = _photos()
    state = E.BranchExplorer(model, photos, INFO)
    with record_activations(model, ["inception4a.branch2"]) as acts:
        model(to_input(np.stack(list(photos.values())), INFO["mean"], INFO["std"]))
    for i, name in enumerate(photos):
        expected = int(acts["inception4a.branch2"][i].mean((1, 2)).argmax())
        assert state.strongest(name, "inception4a", "branch2") == expected
    fig = state.figure("p1", "inception4a", "branch2")
    assert f"channel {state.strongest('p1', 'inception4a', 'branch2')}" in fig.axes[1].get_title()


def test_dead_channels_are_labelled_dead(model):
    state = E.BranchExplorer(model, _photos(), INFO)
    assert DEAD in state.dead("inception3a", "branch1")
    peak = state.peak["inception3a.branch1"]
    assert set(state.dead("inception3a", "branch1")) == set(torch.nonzero(peak <= 0).flatten().tolist())
    assert "DEAD" in state.figure("p0", "inception3a", "branch1", DEAD).axes[1].get_title()
    alive = int(peak.argmax())
    assert "DEAD" not in state.figure("p0", "inception3a", "branch1", alive).axes[1].get_title()
    # dead means silent on every photo held: a flat grey photo, on which many channels are silent, kills none
    alone = E.BranchExplorer(model, {"grey": np.full((64, 64, 3), 0.45, dtype=np.float32)}, INFO)
    before = set(state.dead("inception4e", "branch2"))
    assert set(alone.dead("inception4e", "branch2")) - before  # the grey photo alone would call more dead
    state.add_photo("grey", alone.photos["grey"])
    assert set(state.dead("inception4e", "branch2")) == before & set(alone.dead("inception4e", "branch2"))
    with pytest.raises(ValueError, match="no photo 'nope'"):
        state.maps("nope", "inception3a", "branch1")


def test_own_photo_from_a_file_or_an_upload(model, tmp_path):
    state = E.BranchExplorer(model, _photos(1), INFO)
    path = tmp_path / "wide.png"
    Image.fromarray((np.random.default_rng(2).random((30, 90, 3)) * 255).astype(np.uint8)).save(path)
    key = state.add_file(path, fit="pad")
    assert key == "wide.png" and state.photos[key].shape == (64, 64, 3)
    assert state.acts[key]["inception5b.branch4"].shape[0] == 128  # recorded like the others
    key2 = state.add_bytes("wide.png", path.read_bytes())
    assert key2 != key and len(state.photos) == 3
    with pytest.raises(ValueError, match="cannot read"):
        state.add_bytes("notes.png", b"not an image")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        state.add_file(tmp_path / "missing.jpg")
    assert len(state.photos) == 3  # a failed add loses nothing and adds nothing


def test_widgets_follow_the_choices(model, tmp_path):
    pytest.importorskip("ipywidgets")
    box = E.explorer(model, _photos(2), INFO)
    state = box.state
    (photo, module, branch), (channel, message), (path, add, _upload, _fit) = (r.children for r in box.children[:3])
    assert channel.value == state.strongest("p0", "inception3a", "branch1")
    assert "dead" in message.value and f"[{DEAD}" in message.value.replace(" ", "")
    branch.value = "branch3"  # inception3a's 5x5 branch has 32 channels (Table 1)
    assert channel.max == 31 and channel.value == state.strongest("p0", "inception3a", "branch3")
    module.value, photo.value = "inception5b", "p1"
    assert channel.max == 127 and channel.value == state.strongest("p1", "inception5b", "branch3")
    file = tmp_path / "mine.jpg"
    Image.fromarray(np.zeros((40, 60, 3), dtype=np.uint8)).save(file)
    path.value = str(file)
    add.click()
    assert photo.value == "mine.jpg" and "mine.jpg" in photo.options
    path.value = str(tmp_path / "missing.jpg")
    add.click()
    assert "could not add" in message.value and photo.value == "mine.jpg"


# ----------------------------------------------------------------------------- the figure with each source of weights
@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    """Random weights in the shape of each source, as utils.training.pretrained finds them."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    bvlc = root / "bvlc_googlenet.pt"
    torch.save(googlenet("paper", num_classes=1000, aux_logits=True).state_dict(), bvlc)
    imagenet = root / "googlenet-1378be20.pth"
    torch.save(googlenet("torchvision", num_classes=1000, aux_logits=True).state_dict(), imagenet)
    ship = root / "googlenet_imagenette.pt"
    sd = googlenet("paper", num_classes=10, aux_logits=False, transform_input=False).state_dict()
    torch.save({k: v.half() for k, v in sd.items()}, ship)
    manifest = {"file": ship.name, "sha256": hashlib.sha256(ship.read_bytes()).hexdigest(), "variant": "paper",
                "num_classes": 10, "classes": list(WNIDS), "names": list(NAMES), "image_size": 128,
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "val_top1": 0.8,
                "eval_crop_fraction": 0.875, "dataset": "imagenette"}
    ship.with_suffix(".json").write_text(json.dumps(manifest))
    return {"bvlc": bvlc, "imagenet": imagenet, "shipped": ship}


def test_weights_order_is_bvlc_torchvision_shipped(weight_files):
    assert [c.kind for c in candidates(**weight_files)] == ["bvlc", "imagenet", "shipped"]
    assert [c.kind for c in candidates(bvlc=weight_files["bvlc"].with_name("none"), imagenet=weight_files["imagenet"],
                                       shipped=weight_files["shipped"])] == ["imagenet", "shipped"]


@pytest.mark.parametrize("kind, words, size, label3", [
    ("bvlc", "BVLC GoogLeNet", 224, "5x5"),
    ("imagenet", "torchvision's ImageNet weights", 224, "3x3"),
    ("shipped", "shipped Imagenette model", 128, "5x5"),
])
def test_the_figure_names_its_weights_with_every_source(weight_files, kind, words, size, label3):
    model, info = load(Found(kind, weight_files[kind]))
    photo = np.random.default_rng(0).random((60, 90, 3)).astype(np.float32)
    fig = E.draw_branches(model, photo, "inception3a", info)
    title = _title_texts(fig)
    assert words in title and f"input {size}x{size} px" in title and "inception3a" in title
    assert f"branch3 ({label3})" in title
    maps = [ax for ax in fig.axes if ax.get_title().startswith("ch ")]
    assert len(maps) == 32  # 8 strongest of each of the four branches
    assert any(ax.get_title().startswith("photo 90x60") for ax in fig.axes)
    assert any(ax.get_ylabel() == "activation (after ReLU)" for ax in fig.axes)
