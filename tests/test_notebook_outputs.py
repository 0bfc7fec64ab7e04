"""The committed notebooks carry clean outputs: what a reader sees on GitHub or in the book is the
result, not the noise of producing it.

No stderr streams (warnings, logger lines), no progress bars (tqdm's widget or its text), no saved
widget state (a static figure stands in for an interactive explorer), no CUDA warnings, no error
outputs. Each check is a function that returns what is wrong; ``test_checks_catch_*`` feeds it a
notebook with the fault, so a check that could never fail shows up.
"""

from __future__ import annotations

import json
import re

import pytest

from utils.paths import NOTEBOOKS

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGE_MIMES = {"image/png", "image/jpeg", "image/svg+xml"}
# tqdm's text bar ("  40%|####      | 4/10 [00:01<00:02, 2.9it/s]") and its widget's plain-text stand-in.
PROGRESS = re.compile(r"\d+%\|.*\|\s*\d+/\d*|\d+(?:\.\d+)?(?:it|s)/(?:s|it)\]")
# torch's warnings about a missing or unusable GPU ("No CUDA runtime is found", "CUDA initialization").
CUDA = re.compile(r"CUDA[^\n]*(?:not found|is found|not available|initiali[sz]ation|warn)|CUDA_HOME", re.I)


def output_texts(out: dict) -> list[str]:
    if out.get("output_type") == "stream":
        return ["".join(out.get("text", ""))]
    data = out.get("data", {})
    texts = [data.get(m) for m in ("text/plain", "text/html", "text/markdown") if data.get(m)]
    return ["".join(t) if isinstance(t, list) else t for t in texts]


def unclean(nb: dict) -> list[str]:
    """What a notebook's committed outputs should not hold, one line per fault with its cell."""
    problems = []
    if "widgets" in nb.get("metadata", {}):
        problems.append("metadata.widgets: saved widget state (clear it: nbformat, del nb.metadata['widgets'])")
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for n, cell in enumerate(code_cells, 1):
        where = f"code cell {n}"
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and out.get("name") == "stderr":
                problems.append(f"{where}: stderr output {''.join(out.get('text', ''))[:80]!r}")
            if kind == "error":
                problems.append(f"{where}: error output {out.get('ename')}: {out.get('evalue')}")
            data = out.get("data", {})
            if "<Figure size" in "".join(data.get("text/plain", "")) and not IMAGE_MIMES & set(data):
                problems.append(f"{where}: a figure saved as the text {''.join(data['text/plain'])[:40]!r} "
                                "without its image (the kernel ran a non-inline matplotlib backend)")
            if WIDGET_MIME in out.get("data", {}):
                problems.append(f"{where}: a widget output (tqdm's bar or an interactive control)")
                continue  # its plain-text stand-in says the same again
            for text in output_texts(out):
                if PROGRESS.search(text):
                    problems.append(f"{where}: progress-bar text {PROGRESS.search(text).group(0)!r}")
                    break
                if CUDA.search(text):
                    problems.append(f"{where}: CUDA text {text.strip()[:80]!r}")
                    break
    return problems


def test_there_are_notebooks():
    assert len(NOTEBOOK_FILES) >= 8


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    problems = unclean(json.loads(path.read_text(encoding="utf-8")))
    assert problems == [], f"{path.name}:\n  " + "\n  ".join(problems)


# ----------------------------------------------------------------------------- the checks can fail


def notebook(*outputs, metadata=None):
    return {"metadata": metadata or {}, "cells": [
        {"cell_type": "markdown", "source": "CUDA 50%|##| 1/2 in prose is fine"},
        {"cell_type": "code", "source": "", "outputs": list(outputs)}]}


def stream(name, text):
    return {"output_type": "stream", "name": name, "text": text}


def result(data):
    return {"output_type": "execute_result", "data": data, "metadata": {}, "execution_count": 1}


CLEAN = notebook(stream("stdout", "top-1 97.6%\n"), result({"text/plain": "   crops  top1\n0  144  97.6"}),
                result({"text/plain": "<Figure size 640x480 with 1 Axes>", "image/png": "iVBORw0KGgo="}))


def test_checks_pass_a_clean_notebook():
    assert unclean(CLEAN) == []


@pytest.mark.parametrize("nb, wanted", [
    (notebook(stream("stderr", "UserWarning: something\n")), "stderr"),
    (notebook(result({WIDGET_MIME: {"model_id": "x"}, "text/plain": "densities:   0%|  | 0/9 [00:00<?, ?it/s]"})),
     "widget output"),
    (notebook(stream("stdout", "train: 100%|##########| 10/10 [00:01<00:00, 9.1it/s]\n")), "progress-bar"),
    (notebook(stream("stdout", "W1128 cpp_extension.py:183] No CUDA runtime is found\n")), "CUDA"),
    (notebook(metadata={"widgets": {"state": {}}}), "metadata.widgets"),
    (notebook({"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}), "error output"),
    (notebook(result({"text/plain": "<Figure size 640x480 with 1 Axes>"})), "without its image"),
], ids=["stderr", "widget", "tqdm-text", "cuda", "widget-state", "error", "figure-as-text"])
def test_checks_catch_each_fault(nb, wanted):
    problems = unclean(nb)
    assert len(problems) == 1 and wanted in problems[0], problems


def test_the_executor_strips_what_only_a_live_kernel_shows():
    import nbformat

    from utils.presentation.notebook_exec import strip_widgets

    bar = result({WIDGET_MIME: {"model_id": "x"}, "text/plain": "decode:   0%|  | 0/9 [00:00<?, ?it/s]"})
    nb = nbformat.from_dict(notebook(bar, *CLEAN["cells"][1]["outputs"], metadata={"widgets": {"state": {}}}))
    assert unclean(nb) != []
    assert strip_widgets(nb) == 1
    assert unclean(nb) == [] and nb.cells[1].outputs == CLEAN["cells"][1]["outputs"]
