"""The notes' quoted numbers agree with the notebooks' committed outputs (utils.presentation.quoted).

The first tests build small notebooks by hand and check that every kind of disagreement is caught;
the last ones run the check on every note of paper_notes/, English and Korean.
"""

from __future__ import annotations

import json
import re

import pytest

from utils.paths import NOTEBOOKS, PAPER_NOTES
from utils.presentation import quoted


def write_notebook(folder, stem, *texts, stream=None):
    """A minimal .ipynb whose one code cell has the given text/plain outputs (and a stdout stream)."""
    outputs = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/plain": t}} for t in texts]
    if stream:
        outputs.append({"output_type": "stream", "name": "stdout", "text": stream})
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": "a", "source": "", "metadata": {}, "execution_count": 1,
                     "outputs": outputs}]}
    path = folder / f"{stem}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def write_note(folder, text, name="note.md"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# Written by hand, not by quoted.show: it pins the format a committed notebook carries.
FULL = "Quoted by paper_notes (full run):\n  top1 = 97.58333\n  params = 6998552\n  ratio = 8.95"


@pytest.fixture
def folder(tmp_path):
    write_notebook(tmp_path, "05_results", FULL, stream="error over 3 models: 1.40%\n")
    return tmp_path


def problems(folder, text):
    return quoted.check_note(write_note(folder, text), notebooks=folder)


def test_values_are_read_from_the_committed_outputs(folder):
    values, quick = quoted.notebook_values(folder / "05_results.ipynb")
    assert values == {"top1": "97.58333", "params": "6998552", "ratio": "8.95"} and not quick


@pytest.mark.parametrize("text", ["top-1 97.6%<!-- nb:05_results#top1 -->",
                                  "top-1 97.58%<!-- nb:05_results#top1 -->",
                                  "6,998,552<!-- nb:05_results#params --> parameters",
                                  "about 9x<!-- nb:05_results#ratio --> fewer",
                                  "8.9 x<!-- nb:05_results#ratio -->"])  # 8.95 rounds either way
def test_agreeing_marks_pass(folder, text):
    assert problems(folder, text) == []


@pytest.mark.parametrize("text, wanted", [
    ("97.5%<!-- nb:05_results#top1 -->", "shows top1 = 97.58333"),
    ("97%<!-- nb:05_results#top1 -->", "shows top1 = 97.58333"),
    ("97.59%<!-- nb:05_results#top1 -->", "shows top1 = 97.58333"),
    ("7,000,000<!-- nb:05_results#params -->", "shows params"),
    ("97.6%<!-- nb:05_results#top5 -->", "no value named 'top5'"),
    ("97.6%<!-- nb:99_missing#top1 -->", "not in notebooks/"),
    ("1.40%<!-- nb:05_results --> error", "without a name"),  # printed, but which row's?
    ("top-1 is high<!-- nb:05_results#top1 -->", "does not follow a number"),
])
def test_disagreeing_marks_fail(folder, text, wanted):
    found = problems(folder, text)
    assert len(found) == 1 and wanted in found[0], found


def test_a_quick_run_value_is_refused(tmp_path):
    write_notebook(tmp_path, "05_results", FULL.replace("full run", "quick run"))
    found = problems(tmp_path, "97.6%<!-- nb:05_results#top1 -->")
    assert len(found) == 1 and "quick mode" in found[0]


def test_show_output_reads_back(tmp_path, monkeypatch):
    """What quoted.show displays is what the check reads, value for value."""
    monkeypatch.delenv("GOOGLENET_QUICK", raising=False)
    table = quoted.values_of(top1=97.58333, params=6998552, ratio=8.95)
    assert repr(table) == FULL.replace("97.58333", repr(97.58333))
    write_notebook(tmp_path, "05_results", repr(table))
    assert quoted.notebook_values(tmp_path / "05_results.ipynb") == (table.values, False)
    assert "<caption>Quoted by paper_notes (full run)</caption>" in table._repr_html_()


def test_show_takes_tensors_and_refuses_what_a_note_cannot_quote():
    torch = pytest.importorskip("torch")
    assert quoted.values_of(acc=torch.tensor(0.5), n=torch.tensor(3)).values == {"acc": "0.5", "n": "3"}
    for bad in ({"a": "97%"}, {"a": float("nan")}, {}):
        with pytest.raises(ValueError):
            quoted.values_of(**bad)


def test_show_prints_outside_a_kernel(capsys):
    quoted.show(top1=97.5)
    assert "top1 = 97.5" in capsys.readouterr().out


def test_marks_are_stripped_for_the_book():
    assert quoted.strip_marks("is 97.6%<!-- nb:05_results#top1 --> here") == "is 97.6% here"


# ----------------------------------------------------------------------------- the real notes


NOTES = sorted(PAPER_NOTES.glob("*.md"))


@pytest.mark.parametrize("note", NOTES, ids=lambda p: p.name)
def test_every_quoted_number_agrees_with_its_notebook(note):
    assert quoted.check_note(note) == []


@pytest.mark.parametrize("note", [p for p in NOTES if p.with_name(p.stem + ".ko.md").exists()],
                         ids=lambda p: p.name)
def test_korean_note_quotes_the_same_values(note):
    def cited(path):
        return sorted((m.notebook, m.key or "", m.number) for m in quoted.marks(path.read_text("utf-8"))[0])

    assert cited(note) == cited(note.with_name(note.stem + ".ko.md")), \
        "the Korean note should mark the same numbers from the same outputs"


def test_book_does_not_show_the_marks(tmp_path):
    from utils.presentation.book import render_note

    html = render_note(write_note(tmp_path, "Top-1 is 97.6%<!-- nb:05_results#top1 -->."))
    assert "97.6%." in html and not re.search(r"&lt;!--|nb:\w", html)


def test_a_negative_value_keeps_its_sign(tmp_path):
    write_notebook(tmp_path, "02_hebbian_sparsity", "Quoted by paper_notes (full run):\n  ari_min = -0.014712")
    check = lambda text: quoted.check_note(write_note(tmp_path, text), notebooks=tmp_path)  # noqa: E731
    assert check("between −0.015<!-- nb:02_hebbian_sparsity#ari_min --> and") == []  # U+2212, as typeset
    assert check("between -0.015<!-- nb:02_hebbian_sparsity#ari_min --> and") == []
    assert "shows ari_min = -0.014712" in check("between 0.015<!-- nb:02_hebbian_sparsity#ari_min -->")[0]
    assert "shows ari_min" in check("between −0.016<!-- nb:02_hebbian_sparsity#ari_min -->")[0]


def test_notebook_markdown_is_checked_against_its_outputs(tmp_path):
    path = write_notebook(tmp_path, "05_results", FULL)
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "markdown", "id": "b", "metadata": {},
                        "source": ["The model reaches 97.6%<!-- nb:05_results#top1 -->,\n",
                                   "with 8.95<!-- nb:05_results#ratio --> as shown."]})
    path.write_text(json.dumps(nb))
    assert quoted.check_notebook_markdown(path, notebooks=tmp_path) == []
    nb["cells"][-1]["source"][0] = "The model reaches 97.5%<!-- nb:05_results#top1 -->,\n"
    path.write_text(json.dumps(nb))
    found = quoted.check_notebook_markdown(path, notebooks=tmp_path)
    assert len(found) == 1 and "05_results.ipynb (markdown) line 1: 97.5" in found[0], found


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_numbers_in_notebook_markdown_agree_with_the_outputs(notebook):
    assert quoted.check_notebook_markdown(notebook) == []


# ----------------------------------------------------------------------------- numbers without a mark


def test_an_unmarked_number_that_a_notebook_prints_is_found():
    printed, paper = {"97.58", "1.40", "3925", "224", "12"}, {"224"}
    text = ("Top-1 97.58 on 3,925 photos, 1.40<!-- nb:05_results#err --> error, 224 px (the paper's), "
            "12 crops, `97.58` in code, [link](x/97.58.md), inception4c, 3x3, §4.1.\n# 1.40 in a heading")
    assert quoted.unmarked(text, printed, paper) == [(1, "97.58"), (1, "3,925")]
    signed = "saves \u2212380,928<!-- nb:03_architecture#saved --> and -380,928<!-- nb:03_architecture#saved -->"
    assert quoted.unmarked(signed, {"380928", "928"}, set()) == []


# Numbers in the notes that a notebook also prints, but which are not read from that output: each has
# its reason. Keyed by the note's stem (the Korean note shares the English note's list).
PAPER = "the paper's own figure (its text, not a table the project holds)"
EXCEPTIONS: dict[str, dict[str, str]] = {
    "00_abstract": {"1.5": "§1's budget of 1.5 billion multiply-adds (the paper's text)"},
    "02_motivation": {"0.1": "a density the timing is run at (0.1 % of the weights nonzero): an input, not a result",
                      "200": "the ideal speedup 1/density at 0.5 % density: arithmetic on an input, not a result"},
    "01_introduction": {"1.5": "§1's budget of 1.5 billion multiply-adds (the paper's text)"},
    "03_architecture": {"1.5": "§1's budget of 1.5 billion multiply-adds (the paper's text)"},
    "03_googlenet": {"1.5": "§1's budget of 1.5 billion multiply-adds (the paper's text)",
                     "196": "14 x 14, the positions of stage 4's maps in Table 1: hand arithmetic on the paper"},
    "05_conclusion": {"1.5": "§1's budget of 1.5 billion multiply-adds (the paper's text)",
                      "7.0": "Table 1's printed params column, 6,798K with K = 1024: hand arithmetic on the paper"},
    "04_training": {"20.4": "an earlier MNIST run's raw accuracy in the table of recipe runs, recorded as it ended; "
                            "no notebook re-runs it (05 prints 20.4 for another quantity)",
                    "136": "§6's schedule by hand: the rate halves after about 17 decay steps of 8 epochs",
                    "0.995": "a Polyak decay an earlier MNIST run was set to (an input, not a result)"},
    "05_implementation": {"1.4": "1 + 0.4, the photometric strength of the recipe: arithmetic on a setting"},
    "06_branch_activations": {"1.5": "§1's budget of 1.5 billion multiply-adds (the paper's text)",
                              "5.0": "torchvision's 3x3 branch3 share of inception (3a), hand arithmetic in the note",
                              "6.0": "torchvision's 3x3 branch3 of inception (3a) in M MACs, hand arithmetic",
                              "0.587": "the green weight of the BT.601 luma formula for greyscale (a constant)",
                              "0.114": "the blue weight of the same BT.601 luma formula (a constant)"},
    "05_detection": {"200": "§8: 200 detection classes and 200 multi-box proposals (the paper's text)",
                     "2.2": "Deep Insight's 40.2% minus GoogLeNet's 38.02% in Table 5, hand arithmetic"},
    "05_results": {"1.4": "Table 3's 8.09% minus 6.67% (seven models, 1 crop to 144 crops): hand arithmetic"},
}


def _stem(note):
    return note.name.removesuffix(".md").removesuffix(".ko")


@pytest.mark.parametrize("note", [p for p in NOTES if p.stem not in ("README", "README.ko", "glossary")],
                         ids=lambda p: p.name)
def test_every_number_a_notebook_prints_carries_a_mark(note):
    printed, paper = quoted.all_printed(), quoted.paper_numbers()
    allowed = EXCEPTIONS.get(_stem(note), {})
    found = quoted.unmarked(note.read_text("utf-8"), printed, paper)
    missing = [f"line {line}: {number}" for line, number in found if number.replace(",", "") not in allowed]
    assert missing == [], (f"{note.name}: numbers printed by a notebook without a mark; mark each with "
                           "<!-- nb:NOTEBOOK#name --> or list it with its reason in EXCEPTIONS")
    # stale: a listed number the note no longer holds at all (a listed constant stays listed while no timing
    # table happens to print the same digits, which changes from run to run)
    text = note.read_text("utf-8").replace(",", "")
    stale = {n for n in allowed if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", text)}
    assert not stale, f"{note.name}: EXCEPTIONS lists numbers the note no longer holds: {sorted(stale)}"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_number_in_notebook_markdown_that_it_prints_carries_a_mark(notebook):
    printed, paper = quoted.printed_numbers(notebook), quoted.paper_numbers()
    allowed = EXCEPTIONS.get(notebook.stem, {})
    found = quoted.unmarked(quoted.markdown_text(notebook), printed, paper)
    assert [n for _, n in found if n.replace(",", "") not in allowed] == []
