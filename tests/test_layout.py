"""The library's layout: one package per layer, every module listed where the README says it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("network", "measuring", "training", "results", "presentation")


def _readme_table(name: str) -> dict[str, set[str]]:
    """package -> modules, from the README's library table."""
    rows = re.findall(r"^\| `utils\.(\w+)`[^|]*\| ([^|]+) \|", (ROOT / name).read_text(encoding="utf-8"), re.M)
    return {package: set(re.findall(r"`(\w+)`", modules)) for package, modules in rows}


@pytest.mark.parametrize("readme", ["README.md", "README.ko.md"])
def test_every_module_is_in_the_readme_under_its_package(readme):
    on_disk = {p: {f.stem for f in (ROOT / "utils" / p).glob("*.py") if f.stem != "__init__"} for p in PACKAGES}
    assert _readme_table(readme) == on_disk


def test_only_the_packages_and_shared_modules_sit_at_the_top():
    top = {f.stem for f in (ROOT / "utils").glob("*.py")}
    assert top == {"__init__", "__main__", "paths", "files", "cli_checks", "model"}
    assert {p.name for p in (ROOT / "utils").iterdir() if p.is_dir() and p.name != "__pycache__"} == set(PACKAGES)


def test_the_short_import_is_the_network_itself():
    from utils.model import GoogLeNet, googlenet
    from utils.network import model

    assert googlenet is model.googlenet and GoogLeNet is model.GoogLeNet
