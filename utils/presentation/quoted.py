"""Numbers the notes quote from the notebooks, tied to the notebooks' committed outputs.

A notebook shows the values a note will quote, by name, in one call::

    from utils.presentation import quoted
    quoted.show(top1=100 * acc, params_m=n / 1e6)

which leaves a small table in the cell's output (its plain-text form starts with :data:`HEADER`).
A note marks each number it takes from a notebook with an HTML comment right after it (GitHub and
Jupyter do not show it; the book strips it)::

    97.6%<!-- nb:05_results#top1 -->        the value named top1 in notebook 05's outputs

:func:`check_note` compares every mark with the committed ``.ipynb``: the named value must round to the
note's number at the note's printed precision (97.58 is quoted as 97.6, not 97.5 or 98.0). A mark
without a name (``<!-- nb:05_results -->``) is refused: "printed somewhere in the outputs" passes a
number that belongs to another row. A value shown by a quick-mode run (``GOOGLENET_QUICK``) is
refused, since the notes describe full runs. The test ``tests/test_quoted.py`` runs the check on every
note, English and Korean, so a re-executed notebook whose numbers moved fails it until the notes follow.

:func:`unmarked` finds the numbers a mark should hold and does not: a number in the prose (outside
code, links and marks) that some notebook prints, that the paper's own tables in the project do not
hold (:func:`paper_numbers`), and that is a decimal or at least 100 (small whole numbers count things:
3 seeds, 4 scales). The tests list each note's reviewed exceptions with a reason.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path

from ..paths import NOTEBOOKS, quick_mode

HEADER = "Quoted by paper_notes"
_LINE = re.compile(r"^\s+([A-Za-z_]\w*) = (\S+)\s*$")
# A number (with its minus sign, ASCII or U+2212, if any), an optional unit of up to three characters
# (%, x, ms, M, px ...), then the mark.
MARK = re.compile(r"(?P<number>[-\u2212]?\d[\d,]*(?:\.\d+)?)(?: ?[^\s\d<>]{1,3})?"
                  r"<!--\s*nb:(?P<notebook>[\w.-]+?)(?:#(?P<key>\w+))?\s*-->")
_ANY_MARK = re.compile(r"<!--\s*nb:.*?-->", re.S)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


# ----------------------------------------------------------------------------- notebook side


@dataclass(frozen=True)
class QuotedValues:
    """Named numbers shown in a notebook's output for the notes to quote (see :func:`show`)."""

    values: dict
    quick: bool

    def __repr__(self) -> str:
        mode = "quick run" if self.quick else "full run"
        return "\n".join([f"{HEADER} ({mode}):"] + [f"  {k} = {v}" for k, v in self.values.items()])

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td></tr>"
                       for k, v in self.values.items())
        mode = "quick run" if self.quick else "full run"
        return (f"<table><caption>{HEADER} ({mode})</caption>"
                f"<tr><th>name</th><th>value</th></tr>{rows}</table>")


def _exact(name: str, value) -> str:
    """The value as text that reads back to the same number: ints whole, floats by their shortest repr."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:  # a 0-d tensor or numpy array
            value = value.item()
        except AttributeError:
            raise ValueError(f"quoted value {name}={value!r} is not a number; pass an int or a float") from None
        return _exact(name, value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if not math.isfinite(float(value)):
        raise ValueError(f"quoted value {name}={value!r} is not finite; a note cannot quote it")
    return repr(float(value))


def values_of(**values) -> QuotedValues:
    """The values as :func:`show` displays them (for a cell that ends with the table instead)."""
    if not values:
        raise ValueError("quoted.show() needs at least one name=value")
    return QuotedValues({k: _exact(k, v) for k, v in values.items()}, quick_mode())


def show(**values) -> None:
    """Display named numbers for the notes to quote: ``quoted.show(top1=97.58, crops=144)``.

    The output is a two-column table (plain text and HTML); a note refers to a value as
    ``97.6%<!-- nb:NOTEBOOK#top1 -->``. Returns None, so the table is shown once even as a cell's
    last line.
    """
    table = values_of(**values)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: print the text form
        print(repr(table))
        return
    if get_ipython() is None:
        print(repr(table))
    else:
        display(table)


# ----------------------------------------------------------------------------- reading outputs


def _output_texts(notebook: Path) -> list[str]:
    """Every text a notebook's committed outputs hold: plain text, HTML and markdown, stdout streams."""
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook.name} does not exist in {notebook.parent}")
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    texts = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                texts.append("".join(out.get("text", "")))
            for mime in ("text/plain", "text/html", "text/markdown"):
                data = out.get("data", {}).get(mime)
                if data is not None:
                    texts.append("".join(data) if isinstance(data, list) else data)
    return texts


def notebook_values(notebook: Path) -> tuple[dict[str, str], bool]:
    """The values a notebook's committed outputs show with :func:`show`, and whether any came from a
    quick-mode run. A name shown twice keeps its last value."""
    values, quick = {}, False
    for text in _output_texts(notebook):
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(HEADER + " ("):
                quick = quick or "quick run" in line
                for body in lines[i + 1:]:
                    m = _LINE.match(body)
                    if not m:
                        break
                    values[m.group(1)] = m.group(2)
    return values, quick


def printed_numbers(notebook: Path) -> set[str]:
    """Every number printed in a notebook's outputs, as written (thousands separators dropped)."""
    found = set()
    for text in _output_texts(notebook):
        if text.lstrip().startswith("<"):
            text = re.sub(r"<[^>]+>", " ", text)  # tags carry sizes and ids, not results
        found.update(n.replace(",", "") for n in _NUMBER.findall(text))
    return found


# ----------------------------------------------------------------------------- checking notes


@dataclass(frozen=True)
class Mark:
    """One quoted number of a note: as printed, with the notebook (a stem) and the value's name."""

    number: str
    notebook: str
    key: str | None
    line: int


def marks(text: str) -> tuple[list[Mark], list[str]]:
    """The marks of a note, and the ``<!-- nb: -->`` comments that do not follow a number (errors)."""
    found, bad = [], []
    good_spans = set()
    for m in MARK.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append(Mark(m.group("number").replace("\u2212", "-"), m.group("notebook"), m.group("key"), line))
        good_spans.add(m.end())
    for m in _ANY_MARK.finditer(text):
        if m.end() not in good_spans:
            line = text.count("\n", 0, m.start()) + 1
            bad.append(f"line {line}: {m.group(0)} does not follow a number "
                       "(write it right after the number and its unit, e.g. 97.6%<!-- nb:05_results#top1 -->)")
    return found, bad


def _decimals(number: str) -> int:
    return len(number.partition(".")[2])


def agrees(number: str, value: str) -> bool:
    """Does the note's ``number`` equal ``value`` rounded to the note's printed decimals?"""
    printed, exact = float(number.replace(",", "")), float(value)
    half = 0.5 * 10.0 ** -_decimals(number)
    return abs(exact - printed) <= half * (1 + 1e-9)


def check_note(note: Path, notebooks: Path = NOTEBOOKS) -> list[str]:
    """What is wrong with the marked numbers of one note, one line each (empty when all agree)."""
    return check_text(note.read_text(encoding="utf-8"), note.name, notebooks)


def markdown_text(notebook: Path) -> str:
    """A notebook's markdown cells, one after another: the prose a reader reads between outputs."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in nb.get("cells", []) if c.get("cell_type") == "markdown")


def check_notebook_markdown(notebook: Path, notebooks: Path = NOTEBOOKS) -> list[str]:
    """:func:`check_text` on a notebook's markdown cells: a number that interprets a result carries
    a mark (usually to the same notebook) and must agree with the committed output it describes."""
    return check_text(markdown_text(notebook), f"{notebook.name} (markdown)", notebooks)


# Where the paper's own numbers live in the project: Table 1 (arch), Tables 2-5 (paper_tables), the
# published AlexNet/VGG figures (reference) and §6's recipe (recipe). A number found there is the paper's.
PAPER_SOURCES = ("utils.network.arch", "utils.results.paper_tables", "utils.measuring.reference",
                 "utils.training.recipe")
_SKIP = re.compile(r"`[^`\n]*`|\]\([^)]*\)|<!--[\s\S]*?-->|https?://\S+|^#[^\n]*", re.M)
# a number standing alone: not part of a name (inception4c, conv1), a file name (05_results), a size
# written 3x3 or 28×28, or a section (§4)
_PROSE_NUMBER = re.compile(r"(?<![\w.,§/\-])(\d+(?:,\d{3})*(?:\.\d+)?)(?![\w]*\d)(?![x×]\d|\.\d)")


def paper_numbers() -> set[str]:
    """Every number written in the modules that hold the paper's own figures (:data:`PAPER_SOURCES`)."""
    import importlib
    import inspect

    text = "".join(inspect.getsource(importlib.import_module(name)) for name in PAPER_SOURCES)
    return {n.replace(",", "").replace("_", "") for n in re.findall(r"\d[\d_,]*(?:\.\d+)?", text)}


def all_printed(notebooks: Path = NOTEBOOKS) -> set[str]:
    """The numbers printed in every notebook's outputs, and the values they show by name."""
    found = set()
    for path in sorted(notebooks.glob("*.ipynb")):
        found |= printed_numbers(path)
    return found


def unmarked(text: str, printed: set[str], paper: set[str]) -> list[tuple[int, str]]:
    """``(line, number)`` for each number of ``text`` that a notebook prints (``printed``) but no mark
    ties to its output: decimals and whole numbers from 100 up, outside code, links, headings and
    marks, and not among the paper's own numbers (``paper``)."""
    masked = _SKIP.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    # a mark's number may carry its sign (-, or U+2212): the prose number starts after it
    marked = {m.start("number") + (m.group("number")[0] in "-\u2212") for m in MARK.finditer(text)}
    found = []
    for m in _PROSE_NUMBER.finditer(masked):
        number = m.group(1).replace(",", "")
        if m.start(1) in marked or number in paper or ("." not in number and int(number) < 100):
            continue
        if number in printed:
            found.append((text.count("\n", 0, m.start(1)) + 1, m.group(1)))
    return found


def check_text(text: str, name: str, notebooks: Path = NOTEBOOKS) -> list[str]:
    """What is wrong with the marked numbers of ``text`` (called ``name`` in the messages)."""
    found, problems = marks(text)
    problems = [f"{name} {p}" for p in problems]
    cache: dict[str, tuple] = {}
    for mark in found:
        where = f"{name} line {mark.line}: {mark.number}"
        path = notebooks / f"{mark.notebook}.ipynb"
        if not path.is_file():
            problems.append(f"{where} cites notebook {mark.notebook!r}, which is not in notebooks/")
            continue
        if mark.notebook not in cache:
            cache[mark.notebook] = (*notebook_values(path), printed_numbers(path))
        values, quick, printed = cache[mark.notebook]
        if mark.key is None:
            problems.append(f"{where} has a mark without a name: show the value with quoted.show(name=...) in "
                            f"{path.name} and cite it as <!-- nb:{mark.notebook}#name -->")
        elif mark.key not in values:
            problems.append(f"{where}: {path.name} shows no value named {mark.key!r} "
                            f"(it shows {sorted(values) or 'none'}); add quoted.show({mark.key}=...) to it")
        elif quick:
            problems.append(f"{where}: {path.name} was last executed in quick mode; re-execute it in full mode")
        elif not agrees(mark.number, values[mark.key]):
            problems.append(f"{where} but {path.name} shows {mark.key} = {values[mark.key]}; "
                            f"update the note (and its Korean version)")
    return problems


def strip_marks(text: str) -> str:
    """The note without its marks, for renderers that would print an HTML comment as text."""
    return _ANY_MARK.sub("", text)
