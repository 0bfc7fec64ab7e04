"""The recipe's defaults against the numbers printed in §5 and §6."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from utils.network import arch
from utils.training.loop import lr_factor
from utils.training.recipe import TrainConfig, config_from_dict, recipe_table


def test_defaults_are_the_papers_numbers():
    c = TrainConfig()
    assert c.momentum == 0.9  # §6
    assert c.lr_decay == 0.04 and c.lr_decay_every_epochs == 8  # §6: 4% every 8 epochs
    assert c.aux_weight == 0.3  # §5
    assert arch.PAPER.dropout == 0.4 and arch.AUX_DROPOUT == 0.7  # Table 1, §5: the network's, not the recipe's
    assert c.crop_area == (0.08, 1.0)  # §6: 8%..100% of the area
    assert c.crop_aspect == pytest.approx((0.75, 4 / 3))  # §6: 3/4..4/3
    assert set(c.interpolations) == {"bilinear", "area", "nearest", "bicubic"}  # §6
    assert c.polyak and c.photometric


def test_table_marks_what_the_paper_does_not_give():
    rows = {name: (value, source) for name, value, source in recipe_table()}
    assert len(rows) == len(TrainConfig.__dataclass_fields__)
    for name in ("batch_size", "lr", "weight_decay", "epochs", "init", "warmup_steps"):
        assert rows[name][1].startswith("not in the paper"), name
    for name in ("momentum", "lr_decay", "crop_area", "crop_aspect", "interpolations", "polyak"):
        assert rows[name][1].startswith("§6"), name


def test_decay_is_four_percent_every_eight_epochs():
    c = replace(TrainConfig(), warmup_steps=0)
    steps = 100  # steps per epoch
    assert lr_factor(0, steps, c) == 1.0
    assert lr_factor(8 * steps - 1, steps, c) == 1.0
    assert lr_factor(8 * steps, steps, c) == pytest.approx(0.96)
    assert lr_factor(16 * steps, steps, c) == pytest.approx(0.96 * 0.96)


def test_warmup_is_linear():
    c = replace(TrainConfig(), warmup_steps=10)
    assert [lr_factor(s, 100, c) for s in (0, 4, 9, 10)] == pytest.approx([0.1, 0.5, 1.0, 1.0])
    assert math.isclose(lr_factor(10, 100, c), 1.0)


@pytest.mark.parametrize("bad", [{"crop_area": (0.5, 0.1)}, {"image_size": 28}, {"lr": 0.0},
                                 {"interpolations": ("lanczos",)}, {"init": "orthogonal"}])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        replace(TrainConfig(), **bad)


def test_the_mnist_recipe_changes_only_what_it_names_and_says_why():
    from dataclasses import fields

    from utils.training.recipe import MNIST_CHANGES, mnist_recipe

    paper, mnist = TrainConfig(), mnist_recipe()
    changed = {f.name for f in fields(TrainConfig) if getattr(paper, f.name) != getattr(mnist, f.name)}
    assert changed == set(MNIST_CHANGES) == {"crop_area", "epochs", "lr_decay_every_epochs"}
    assert mnist.crop_aspect == paper.crop_aspect and mnist.lr_decay == 0.04  # the rest stays §6
    rows = {name: source for name, _, source in recipe_table(mnist)}
    for name in changed:
        assert rows[name].startswith("MNIST:") and "(default " in rows[name], rows[name]
    assert rows["momentum"].startswith("§6")
    assert mnist_recipe(epochs=3).epochs == 3


def test_the_restart_recipe_names_its_three_changes_on_top_of_imagenettes():
    from dataclasses import fields

    from utils.training.recipe import IMAGENETTE_RESTART_CHANGES, imagenette_recipe, imagenette_restart_recipe

    first, restart = imagenette_recipe(), imagenette_restart_recipe()
    changed = {f.name for f in fields(TrainConfig) if getattr(first, f.name) != getattr(restart, f.name)}
    assert changed == set(IMAGENETTE_RESTART_CHANGES) == {"epochs", "lr", "seed"}
    assert (restart.epochs, restart.lr, restart.seed) == (10, 0.01, 1) and restart.image_size == 112
    rows = {name: source for name, _, source in recipe_table(restart, dataset="imagenette-restart")}
    # lr 0.01 is also TrainConfig's default: the restart's reason is still the one shown
    assert all(rows[name].startswith("restart:") for name in changed), rows
    assert rows["image_size"].startswith("Imagenette") and rows["momentum"].startswith("§6")


def test_a_recorded_config_reads_back_as_the_same_config():
    from dataclasses import asdict

    config = replace(TrainConfig(), crop_area=(0.35, 1.0), epochs=3)
    recorded = json.loads(json.dumps(asdict(config)))  # tuples become lists in JSON
    assert config_from_dict(recorded) == config
    # the dropout rates a recorded config may carry are the network's (§5), not the recipe's: dropped
    assert config_from_dict(recorded | {"dropout": 0.4, "aux_dropout": 0.7}) == config
    with pytest.raises(ValueError, match="learning_rate: not fields of TrainConfig"):
        config_from_dict(recorded | {"learning_rate": 0.1})
