"""Imports go one way: a package imports only from itself, the packages below it and the base.

The order, lowest first, is network <- measuring <- training <- results <- presentation <- benchmarks.
``utils.paths``, ``utils.files`` and ``utils.cli_checks`` sit at the top level of ``utils`` as the base every
layer may use, beside ``utils.model``, the short import of the network. An import inside a function is still an import,
so the test walks each module's whole syntax tree rather than its top lines. Nothing imports from
``notebooks`` or ``tests``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = ("network", "measuring", "training", "results", "presentation", "benchmarks")
BASE = ("utils", "utils.paths", "utils.files", "utils.cli_checks", "utils.model", "utils.__main__")
# What each base module may import: the base is below every layer, but ``utils.model`` re-names the
# network, and ``python -m utils`` lists the commands of every layer.
BASE_REACHES = {"utils.model": "network", "utils.__main__": "benchmarks"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to: one of ``LAYERS``, ``"base"``, ``"notebooks"`` or
    ``"tests"``, or ``None`` outside the project (the standard library, torch, ...)."""
    parts = module.split(".")
    if parts[0] in ("benchmarks", "notebooks", "tests"):
        return parts[0]
    if parts[0] != "utils":
        return None
    if ".".join(parts[:2]) in BASE:
        return "base"
    return parts[1]


def imports_in(source: str, path: Path) -> list[tuple[int, str]]:
    """Every module ``source`` imports, at any depth of its syntax tree, as (line, absolute dotted name),
    with relative imports resolved as if the text sat at ``path``."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from . import x`` and ``from utils import x`` may name submodules: count each name
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def allowed(importer: str, module: str, imported_name: str) -> bool:
    imported = layer_of(imported_name)
    if imported is None or imported == importer or imported == "base":
        return True
    if imported in ("notebooks", "tests") or imported not in LAYERS:
        return False
    ceiling = BASE_REACHES.get(module) if importer == "base" else importer
    return ceiling is not None and LAYERS.index(imported) <= LAYERS.index(ceiling)


def violations(source: str, path: Path) -> list[str]:
    module = module_name(path)
    importer = layer_of(module)
    return [
        f"{path.relative_to(ROOT)}:{line} ({importer}) imports {name} ({layer_of(name)})"
        for line, name in imports_in(source, path)
        if not allowed(importer, module, name)
    ]


SOURCES = sorted([*(ROOT / "utils").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])


def test_every_module_sits_in_a_layer():
    for path in SOURCES:
        assert layer_of(module_name(path)) in (*LAYERS, "base"), f"{path}: not in a layer; add it to LAYERS"


def test_no_import_goes_up_the_layers():
    found = [v for path in SOURCES for v in violations(path.read_text(encoding="utf-8"), path)]
    assert found == [], "imports against network <- measuring <- training <- results <- presentation <- " \
        "benchmarks:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("path", "statement", "is_allowed"),
    [
        ("utils/network/pretrained.py", "from ..training.checkpoint import load_checkpoint", False),
        ("utils/network/pretrained.py", "from utils.results import hooks", False),
        ("utils/network/pretrained.py", "from .. import paths", True),
        ("utils/training/loop.py", "from ..results.hooks import record", False),
        ("utils/training/loop.py", "from ..network.hooks import record", True),
        ("utils/results/evaluate.py", "from ..training import data", True),
        ("utils/measuring/profiling.py", "import utils.presentation.viz", False),
        ("utils/paths.py", "from .training import runs", False),
        ("utils/model.py", "from .network.model import googlenet", True),
        ("benchmarks/report.py", "from tests import helpers", False),
        ("utils/presentation/viz.py", "import benchmarks.report", False),
        ("utils/presentation/viz.py", "from utils import paths", True),
    ],
)
def test_an_import_planted_inside_a_function_is_judged(path, statement, is_allowed):
    source = f"import torch\n\n\ndef f():\n    if True:\n        {statement}\n"
    found = violations(source, ROOT / path)
    assert (found == []) is is_allowed, found
