"""Branch analyses, patch scores, model loading and the ``activations`` command."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils.__main__ import main  # noqa: E402
from utils.measuring.timing import recorder_overhead  # noqa: E402
from utils.network.arch import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from utils.network.hooks import BRANCHES, INCEPTION_MODULES  # noqa: E402
from utils.network.model import googlenet  # noqa: E402
from utils.presentation.explorer import draw_branches  # noqa: E402
from utils.presentation.featurevis import FeatureVisConfig, visualize_channel  # noqa: E402
from utils.results import activations as A  # noqa: E402
from utils.results import images as image_inputs  # noqa: E402
from utils.training.pretrained import load_model  # noqa: E402

# inception (3a) at 28x28 with 192 input channels (Table 1), multiply-adds per branch by hand:
# 1x1: 784*192*64; 3x3: 784*(192*96 + 9*96*128); 5x5: 784*(192*16 + 25*16*32); pool proj: 784*192*32.
MACS_3A = {"branch1": 9_633_792, "branch2": 101_154_816, "branch3": 12_443_648, "branch4": 4_816_896}


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory):
    """A randomly initialised state dict in torchvision's layout, standing in for the ImageNet file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "googlenet-random.pth"
    torch.save(googlenet("torchvision", num_classes=1000, aux_logits=True).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "cat.png"
    Image.fromarray((image_inputs.photos(96, ["chelsea"])["chelsea"] * 255).astype(np.uint8)).save(path)
    return path


# ----------------------------------------------------------------------------- scores, by hand
def test_colourfulness_matches_hand_values():
    gray = np.full((4, 4, 3), 0.4)
    red = np.zeros((4, 4, 3))
    red[..., 0] = 1
    half = np.zeros((4, 4, 3))
    half[:, :2, 0] = 1
    half[:, 2:, 1] = 1
    scores = A.colourfulness(np.stack([gray, red, half]))
    # red: rg = 1, yb = 0.5 everywhere -> 0.3*sqrt(1.25); half: rg = +-1 (sd 1), yb = 0.5 -> 1 + 0.3*0.5
    np.testing.assert_allclose(scores, [0.0, 0.3 * np.sqrt(1.25), 1.15], atol=1e-12)
    with pytest.raises(ValueError, match="RGB"):
        A.colourfulness(np.zeros((4, 4)))


def test_spatial_frequency_and_orientation_of_gratings():
    x = np.arange(32)
    grating = np.tile(np.sin(2 * np.pi * 4 * x / 32), (32, 1))  # 4 cycles per 32 px, varying along x
    assert A.spatial_frequency(grating) == pytest.approx(0.125)
    assert A.spatial_frequency(np.ones((8, 8))) == 0.0
    angle, coherence = A.orientation(np.stack([grating, grating.T]))
    np.testing.assert_allclose(coherence, 1.0, atol=1e-9)
    np.testing.assert_allclose(angle, [0.0, 90.0], atol=1e-6)  # gradient along x, then along y
    noise = np.random.default_rng(0).random((64, 64))
    assert A.orientation(noise)[1] < 0.1


def test_top_patches_cut_where_the_channel_peaks():
    images = np.zeros((2, 32, 32))
    images[1, 16:24, 8:16] = 1.0  # a bright square under map cell (2, 1) of an 4x4 map (stride 8)
    act = torch.zeros(2, 3, 4, 4)
    act[1, 2, 2, 1] = 5.0
    patches = A.top_patches(act, images, patch=8)
    assert patches.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(patches[2, 0], 1.0)
    with pytest.raises(ValueError, match="images"):
        A.top_patches(act, images[:1], patch=8)


def test_branch_specialisation_finds_the_colour_branch():
    rng = np.random.default_rng(0)
    images = np.repeat(rng.random((2, 32, 32, 1)), 3, axis=-1) * 0.5  # gray, except one coloured corner
    images[:, :8, :8] = [1.0, 0.0, 0.2]
    images[:, :8, :4] = [0.0, 1.0, 0.2]
    acts = {f"inception3a.{b}": torch.rand(2, 4, 4, 4, generator=torch.Generator().manual_seed(i))
            for i, b in enumerate(BRANCHES)}
    acts["inception3a.branch3"][:, :, 0, 0] += 10  # every 5x5 channel fires on the coloured corner
    table = A.branch_specialisation(acts, images, "colourfulness", per_channel=1, factor=1.0,
                                    modules=["inception3a"])
    best = table.set_index("branch")["ratio"]
    assert best.idxmax() == "branch3" and best["branch3"] > 2 * best.drop("branch3").max()
    assert table.set_index("branch").loc["branch3", "share_above"] == 1.0
    with pytest.raises(ValueError, match="unknown score"):
        A.branch_specialisation(acts, images, "sharpness", modules=["inception3a"])


# ----------------------------------------------------------------------------- energy and multiply-adds
def test_branch_energy_shares_by_hand():
    acts = {}
    for m in INCEPTION_MODULES[:1]:
        for i, b in enumerate(BRANCHES):
            acts[f"{m}.{b}"] = torch.full((1, i + 1, 2, 2), 1.0)  # energy 4 * (i + 1)
    table = A.branch_energy(acts)
    np.testing.assert_allclose(table["energy"], [4, 8, 12, 16])
    np.testing.assert_allclose(table["energy_share"], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="no complete module"):
        A.branch_energy({"inception3a.branch1": torch.ones(1, 1, 1, 1)})


def test_energy_vs_macs_uses_the_profiler_multiply_adds():
    from utils.measuring.profiling import branch_breakdown

    macs = branch_breakdown("paper", 224)
    got = macs[macs["module"] == "inception3a"].set_index("branch")["macs"].to_dict()
    assert got == MACS_3A
    torch.manual_seed(0)
    model = googlenet("paper", num_classes=10, aux_logits=False).eval()
    acts, _ = A.record(model, torch.randn(1, 3, 64, 64))
    table = A.energy_vs_macs(acts, macs)
    assert len(table) == 36
    np.testing.assert_allclose(table.groupby("module")["energy_share"].sum(), 1.0)
    share_3a = table[table["module"] == "inception3a"].set_index("branch")["macs_share"]
    total = sum(MACS_3A.values())
    np.testing.assert_allclose(share_3a, [MACS_3A[b] / total for b in BRANCHES])
    with pytest.raises(ValueError, match="no multiply-adds"):
        A.energy_vs_macs(acts, macs[macs["module"] != "inception5b"])


def test_recorder_overhead_reports_both_timings():
    model = googlenet("paper", num_classes=10, aux_logits=False)
    out = recorder_overhead(model, input_size=64, repeats=1)
    assert set(out) == {"plain_ms", "recorded_ms", "overhead"} and out["plain_ms"] > 0


# ----------------------------------------------------------------------------- models and feature visualization
def test_load_model_pretrained_path(imagenet_file):
    model, info = load_model(imagenet_file)
    assert info["dataset"] == "imagenet" and info["variant"] == "torchvision" and len(info["classes"]) == 1000
    assert "ImageNet" in info["source"] and not model.training
    stack = np.stack(list(image_inputs.photos(64, ["coffee", "rocket"]).values()))
    x = image_inputs.to_input(stack, info["mean"], info["std"])
    acts, logits = A.record(model, x)
    assert logits.shape == (2, 1000) and acts["inception3a.branch3"].shape[1] == 32
    top = A.top_classes(logits, info["classes"], k=5)
    assert len(top) == 10 and top["probability"].between(0, 1).all()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(imagenet_file.with_name("missing.pth"))


def test_load_model_offline_path(monkeypatch, tmp_path):
    import utils.network.weights
    import utils.training.pretrained

    monkeypatch.setattr(utils.network.weights, "find_imagenet_weights", lambda path=None: None)
    monkeypatch.setattr(utils.training.pretrained, "candidates", lambda: [])  # no BVLC, no shipped model either
    checkpoint = tmp_path / "mnist_paper_seed0" / "final.pt"
    checkpoint.parent.mkdir()
    monkeypatch.setattr(utils.training.pretrained, "_project_checkpoint", lambda quick: checkpoint)
    # nothing on disk: a clear error, and nothing is trained
    with pytest.raises(FileNotFoundError, match="no trained GoogLeNet on disk"):
        load_model()
    net = googlenet("paper", num_classes=10, aux_logits=True, transform_input=False).state_dict()
    torch.save({"model": net, "averaged": {"module." + k: v for k, v in net.items()}, "variant": "paper",
                "dataset": "mnist", "classes": [str(d) for d in range(10)], "image_size": 32, "mean": (0.1307,),
                "std": (0.3081,), "config": {}, "history": [{"epoch": 1.0, "val_acc": 0.4, "val_acc_polyak": 0.5}]},
               checkpoint)
    assert utils.training.pretrained.find_weights().kind == "checkpoint"
    model, info = load_model()
    assert info["dataset"] == "mnist" and info["variant"] == "paper" and info["image_size"] == 32
    assert "MNIST" in info["source"].upper() and "50.0%" in info["source"]
    fig = draw_branches(model, np.random.default_rng(0).random((40, 50, 3)), "inception4a", info, branch=3)
    assert len([ax for ax in fig.get_axes() if ax.get_title().startswith("ch ")]) == 32


def test_feature_visualization_raises_its_objective():
    torch.manual_seed(0)
    model = googlenet("paper", num_classes=10, aux_logits=False).eval()
    image, history = visualize_channel(model, "inception3a.branch3", 5, FeatureVisConfig.quick(steps=20))
    assert image.shape == (64, 64, 3) and 0 <= image.min() and image.max() <= 1
    assert np.mean(history[-5:]) > 1.5 * np.mean(history[:3])
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="out of range"):
        visualize_channel(model, "inception3a.branch3", 32, FeatureVisConfig.quick(steps=1))
    with pytest.raises(ValueError, match="unknown module"):
        visualize_channel(model, "inception3z", 0, FeatureVisConfig.quick(steps=1))


# ----------------------------------------------------------------------------- command line
def test_cli_draws_branch_grids(imagenet_file, photo_file, tmp_path, capsys):
    out = tmp_path / "b.png"
    args = ["activations", "--image", str(photo_file), "--module", "inception3a", "--weights", str(imagenet_file)]
    assert main(args + ["--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert main(args + ["--branch", "2", "--out", str(tmp_path / "b2.png")]) == 0
    assert (tmp_path / "b2.png").is_file()


@pytest.mark.parametrize("change, message", [
    ({"--image": "missing.jpg"}, "does not exist"),
    ({"--image": "notes.png"}, "cannot read"),
    ({"--module": "inception3c"}, "inception3a, inception3b"),
    ({"--branch": "5"}, "--branch: must be from 1 to 4, got 5"),
    ({"--out": "nowhere/x.png"}, "does not exist; create it"),
    ({"--weights": "missing.pth"}, "does not exist"),
])
def test_cli_errors_are_clear(change, message, imagenet_file, photo_file, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    opts = {"--image": str(photo_file), "--module": "inception3a", "--weights": str(imagenet_file),
            "--out": str(tmp_path / "o.png")}
    opts.update({k: (str(tmp_path / v) if k in ("--image", "--out", "--weights") else v) for k, v in change.items()})
    argv = ["activations"] + [x for kv in opts.items() for x in kv]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse rejects a bad value itself, with exit status 2
        status = exc.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_read_image_and_pivot(photo_file, tmp_path):
    assert image_inputs.read_image(photo_file).shape == (96, 96, 3)
    # a 16-bit grey ramp of mean 0.5: Pillow's own RGB conversion clips it to almost white
    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    grey = image_inputs.read_image(tmp_path / "grey16.png")
    assert grey.shape == (16, 64, 3) and abs(grey.mean() - 0.5) < 0.01
    long = pd.DataFrame([{"module": m, "branch": b, "v": i} for i, (m, b) in
                         enumerate((m, b) for m in ("inception4a", "inception3a") for b in BRANCHES)])
    wide = A.pivot(long, "v")
    assert list(wide.index) == ["inception3a", "inception4a"] and list(wide.columns) == list(BRANCHES)


def test_cli_help_describes_the_figure(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["activations", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for words in ("Figure 2(b)", "part the network saw", "colour bar", "channel index", "weights and the input size",
                  "--fit {crop,squeeze,pad}", "example:"):
        assert words in text, words


def test_cli_fit_choices(imagenet_file, photo_file, tmp_path, capsys):
    args = ["activations", "--image", str(photo_file), "--module", "inception4e", "--weights", str(imagenet_file),
            "--branch", "4", "--channels", "4"]
    assert main(args + ["--fit", "pad", "--out", str(tmp_path / "p.png")]) == 0
    assert "pad" in capsys.readouterr().out and (tmp_path / "p.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        main(args + ["--fit", "stretch", "--out", str(tmp_path / "s.png")])
    assert "invalid choice" in capsys.readouterr().err


def _silenced(channels):
    torch.manual_seed(0)
    model = googlenet("paper", num_classes=10, aux_logits=False).eval()
    with torch.no_grad():
        for c in channels:
            model.inception3a.branch4[1].conv.bias[c] = -1e4  # never positive: no gradient reaches the image
    return model


def test_a_channel_that_does_not_move_is_reported_and_the_next_drawn():
    from utils.presentation.featurevis import visualize_strongest

    model = _silenced([7])
    cfg = FeatureVisConfig.quick(steps=12)
    with torch.no_grad():  # the channel that fires most on a grey image (where the optimisation starts)
        acts, _ = A.record(model, image_inputs.to_input(np.full((1, 64, 64, 3), 0.5), IMAGENET_MEAN, IMAGENET_STD),
                           ["inception3a.branch4", "inception3a.branch1"])
    alive = int(acts["inception3a.branch4"][0].mean((1, 2)).argmax())
    first = int(acts["inception3a.branch1"][0].mean((1, 2)).argmax())
    (pool, one) = visualize_strongest(model, {"inception3a.branch4": [7, alive], "inception3a.branch1": [first]}, cfg)
    assert (pool.channel, pool.moved) == (alive, True) and pool.skipped == ((7, pool.skipped[0][1]),)
    assert "did not respond" in pool.skipped[0][1] and "ch 7 did not respond" in pool.caption()
    assert pool.image.std() > 0.01 and pool.history[-1] > pool.history[0]
    assert (one.channel, one.moved, one.skipped) == (first, True, ())
    # every candidate silent: the result says so instead of showing a blank without a word
    (flat,) = visualize_strongest(_silenced([1, 2]), {"inception3a.branch4": [1, 2]}, cfg, tries=2)
    assert not flat.moved and "FLAT" in flat.caption() and "did not respond" in flat.why
    assert "ch 2 did not respond" in flat.caption()


def test_feature_visualization_runs_only_up_to_its_layers():
    from utils.presentation.featurevis import visualize

    model = _silenced([])
    calls = []
    handle = model.inception3b.register_forward_hook(lambda *_: calls.append(1))
    try:
        images, history = visualize(model, [("inception3a.branch1", 0), ("inception3a.branch3", 4)],
                                    FeatureVisConfig.quick(size=32, steps=3))
    finally:
        handle.remove()
    assert calls == [] and images.shape == (2, 32, 32, 3) and history.shape == (3, 2)
