"""The book (utils.presentation.book): pages in the summary's order, both languages, working links, and pages
that render.

The browser test builds the site from the committed notebooks without executing them and opens
every page in Debian's headless Chromium through Playwright. Chromium comes from
``tests/setup_browser.sh`` (the fixture below runs it when it can); without it the test is skipped.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote

import nbformat
import pytest

from utils.paths import ROOT
from utils.presentation import book

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.parametrize("title, section", [
    ("Abstract — Abstract", "Abstract"),
    ("도입부 & 관련 논문 — Introduction and Related Work (§1, §2)", "도입부 & 관련 논문"),
    ("§4–§5 모델 구조: 1. Architecture", "모델 구조"),
    ("훈련 방법 · Training (§6)", "훈련 방법"),
    ("Detection · 탐지 (§8)", "분류 및 결과"),
    ("결론 · Conclusion (§9)", "결론"),
    ("Performance on a CPU", "구현"),  # pages about the code itself
    ("Reading guide — Abstract … 구현", book.GUIDE),
])
def test_pages_land_under_the_summary_heading(title, section):
    assert book.section_of(book.Page(Path("x.md"), "note", title)) == section


def test_section_order_is_the_summary_order():
    assert [name for name, _ in book.SECTIONS] == [
        "Abstract", "도입부 & 관련 논문", "Motivation and High Level Considerations", "모델 구조",
        "훈련 방법", "분류 및 결과", "결론", "구현"]


def _tiny_project(tmp_path: Path) -> tuple[Path, Path]:
    notebooks, notes = tmp_path / "notebooks", tmp_path / "paper_notes"
    notebooks.mkdir()
    notes.mkdir()
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets/fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# §7 분류 및 결과 — a figure\n\n[note](../paper_notes/07_x.md)"),
                nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "2"}, execution_count=1)])]
    nbformat.write(nb, notebooks / "07_x.ipynb")
    (notes / "07_x.md").write_text("# 결론 · Conclusion\n\n[nb](../notebooks/07_x.ipynb)\n\n"
                                   "| a | b |\n|---|---|\n| 1 | 2 |\n\n![fig](../assets/fig.png)\n"
                                   "![gone](../assets/no_such_figure.png)\n", encoding="utf-8")
    return notebooks, notes


def _add_korean(notes: Path) -> None:
    (notes / "07_x.ko.md").write_text("# 결론 · 한국어판\n\n## 논문의 주장\n\n[영어판의 표](07_x.md#결론--conclusion)\n"
                                      "[아래](#논문의-주장)\n", encoding="utf-8")


def broken_links(out: Path) -> list[str]:
    """Every href/src of every page that points at a missing file, or at an id its target lacks."""
    ids: dict[Path, set[str]] = {}
    problems = []
    for page in sorted(out.rglob("*.html")):
        for target in re.findall(r'\b(?:href|src)="([^"]*)"', page.read_text(encoding="utf-8")):
            target = html.unescape(target)
            if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", target):
                continue  # other sites: the browser test refuses them anyway
            path, _, frag = target.partition("#")
            dest = (page.parent / unquote(path)).resolve() if path else page
            if not dest.is_file():
                problems.append(f"{page.relative_to(out)}: {target} (no such file)")
                continue
            if frag and dest.suffix == ".html":
                if dest not in ids:  # nbconvert writes ids percent-encoded, the notes as text
                    ids[dest] = {html.unescape(i) for i in re.findall(r'\bid="([^"]*)"',
                                                                       dest.read_text(encoding="utf-8"))}
                if not {frag, unquote(frag)} & ids[dest]:
                    problems.append(f"{page.relative_to(out)}: {target} (no such anchor)")
    return problems


def test_build_rewrites_links_and_copies_figures(tmp_path):
    notebooks, notes = _tiny_project(tmp_path)
    out = tmp_path / "site"
    summary = book.build(out, notebooks=notebooks, notes=notes, progress=False)
    assert summary["sections"] == {"분류 및 결과": ["notebooks/07_x.html"], "결론": ["paper_notes/07_x.html"]}
    note = (out / "paper_notes/07_x.html").read_text(encoding="utf-8")
    assert 'href="../notebooks/07_x.html"' in note and "<table>" in note
    assert 'href="../paper_notes/07_x.html"' in (out / "notebooks/07_x.html").read_text(encoding="utf-8")
    assert (out / "assets/fig.png").read_bytes() == (tmp_path / "assets/fig.png").read_bytes()
    assert summary["missing_assets"] == ["paper_notes: ../assets/no_such_figure.png"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index("분류 및 결과") < index.index("결론")


def test_build_renders_both_languages_with_a_switch(tmp_path):
    notebooks, notes = _tiny_project(tmp_path)
    _add_korean(notes)
    out = tmp_path / "site"
    summary = book.build(out, notebooks=notebooks, notes=notes, progress=False)
    assert summary["korean"] == {"paper_notes/07_x.html": "paper_notes/07_x.ko.html"}
    assert summary["sections"]["결론"] == ["paper_notes/07_x.html"]  # the pair sits under one heading
    assert {"index.html", "index.en.html", "paper_notes/07_x.ko.html"} <= set(summary["pages"])
    ko = (out / "paper_notes/07_x.ko.html").read_text(encoding="utf-8")
    en = (out / "paper_notes/07_x.html").read_text(encoding="utf-8")
    assert '<html lang="ko">' in ko and '<html lang="en">' in en
    assert 'href="07_x.html" hreflang="en" data-lang-switch="en"' in ko
    assert 'href="07_x.ko.html" hreflang="ko" data-lang-switch="ko"' in en
    assert f'href="07_x.html#{quote("결론--conclusion")}"' in ko  # a link into the English note keeps its anchor
    index_ko = (out / "index.html").read_text(encoding="utf-8")
    index_en = (out / "index.en.html").read_text(encoding="utf-8")
    assert 'href="paper_notes/07_x.ko.html"' in index_ko and 'href="paper_notes/07_x.html"' in index_en
    assert 'href="index.en.html"' in index_ko and 'href="index.html"' in index_en
    for index in (index_ko, index_en):  # notebooks are bilingual pages, listed in both
        assert 'href="notebooks/07_x.html"' in index


def test_note_headings_carry_githubs_anchors(tmp_path):
    assert book.slug("12배 적은 파라미터, 확인") == "12배-적은-파라미터-확인"
    assert book.slug("§1 Introduction: progress from ideas") == "1-introduction-progress-from-ideas"
    assert book.slug("결론 · Conclusion") == "결론--conclusion"
    body = book.render_note(_write(tmp_path / "n.md", "# A\n\n## Same\n\n## Same\n"))
    assert '<h2 id="same">' in body and '<h2 id="same-1">' in body


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_link_in_the_site_resolves(tmp_path):
    notebooks, notes = _tiny_project(tmp_path)
    _add_korean(notes)
    out = tmp_path / "site"
    book.build(out, notebooks=notebooks, notes=notes, progress=False)
    gone_figure = "paper_notes/07_x.html: ../assets/no_such_figure.png (no such file)"  # on purpose
    assert broken_links(out) == [gone_figure]
    # the check itself: a missing page and a missing anchor are both reported
    _write(out / "paper_notes/bad.html", '<a href="07_x.ko.html#no-such-heading">x</a><a href="gone.html">y</a>')
    assert broken_links(out) == [gone_figure,
                                 "paper_notes/bad.html: 07_x.ko.html#no-such-heading (no such anchor)",
                                 "paper_notes/bad.html: gone.html (no such file)"]


def test_build_refuses_to_overwrite_the_project(tmp_path):
    with pytest.raises(ValueError, match="overwrite"):
        book.build(ROOT / "notebooks", progress=False)


def test_build_with_nothing_to_render(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to build"):
        book.build(tmp_path / "site", notebooks=tmp_path, notes=tmp_path, progress=False)


# ----------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    if not os.path.exists(CHROMIUM):
        subprocess.run(["sh", str(ROOT / "tests/setup_browser.sh")], check=False)
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing; run tests/setup_browser.sh as root (apt-get install -y chromium)")
    return CHROMIUM


def figures_made(href: str) -> int:
    """How many figures a book page's notebook holds as images in its committed outputs (0 for a note)."""
    folder, _, name = href.partition("/")
    path = ROOT / "notebooks" / name.replace(".html", ".ipynb")
    if folder != "notebooks" or not path.is_file():
        return 0
    nb = json.loads(path.read_text(encoding="utf-8"))
    return sum(bool({"image/png", "image/jpeg", "image/svg+xml"} & set(o.get("data", {})))
               for c in nb["cells"] for o in c.get("outputs", []))


def test_every_notebook_page_counts_its_figures():
    assert figures_made("notebooks/05_results.html") >= 4 and figures_made("paper_notes/05_results.html") == 0


@pytest.mark.slow
def test_every_page_renders_in_chromium(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    out = tmp_path / "site"
    summary = book.build(out, progress=False)
    assert not summary["error_outputs"], f"notebooks committed with error outputs: {summary['error_outputs']}"
    assert not broken_links(out), "\n".join(broken_links(out))
    assert len(summary["korean"]) >= 12, "every note should have its Korean page"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            # the site must stand alone: anything not on disk (CDN scripts) is refused at once
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())
            for href in summary["pages"]:
                response = page.goto((out / href).as_uri(), wait_until="load", timeout=30_000)
                if response is None or not response.ok:
                    problems.append(f"{href}: did not load")
                    continue
                images = page.eval_on_selector_all("img", """els => els.map(e => ({
                    src: e.getAttribute('src').slice(0, 60), ok: e.complete && e.naturalWidth > 0,
                    w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height}))""")
                problems += [f"{href}: figure {i['src']} did not render" for i in images
                             if not (i["ok"] and i["w"] > 0 and i["h"] > 0)]
                made = figures_made(href)
                if len(images) < made:
                    problems.append(f"{href}: shows {len(images)} images, its notebook makes {made} figures")
                text = page.inner_text("body")
                if "Traceback (most recent call last)" in text or page.query_selector(".jp-OutputArea-error"):
                    problems.append(f"{href}: shows an error output")
                if not text.strip():
                    problems.append(f"{href}: is empty")
                page.screenshot(path=str(shots / (href.replace("/", "_") + ".png")))
            # the language switch, clicked as a reader would: English note -> Korean note -> back
            english = next(iter(summary["korean"]))
            page.goto((out / english).as_uri(), wait_until="load")
            page.click('[data-lang-switch="ko"]')
            if not (page.url.endswith(summary["korean"][english]) and page.get_attribute("html", "lang") == "ko"):
                problems.append(f"{english}: the 한국어 switch led to {page.url}")
            page.click('[data-lang-switch="en"]')
            if not page.url.endswith(english):
                problems.append(f"{summary['korean'][english]}: the English switch led to {page.url}")
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    assert len(list(shots.glob("*.png"))) == len(summary["pages"])
    shutil.rmtree(out)  # screenshots stay in the pytest tmp dir
