"""The companion as a static web site: every notebook and paper note as HTML, readable without Jupyter.

``python -m utils.presentation.book [--execute] [--out build/book]`` renders ``notebooks/*.ipynb`` (with their
committed outputs, or re-executed in quick mode with ``--execute``) and ``paper_notes/*.md`` into
one folder with an index page. The index follows the headings of the Korean summary, which follow
the paper: Abstract, 도입부 & 관련 논문 (§1-§2), Motivation (§3), 모델 구조 (§4-§5), 훈련 방법 (§6),
분류 및 결과 (§7-§8), 결론 (§9) and 구현 (the implementation). Each page is placed under the first
heading its title names; reading guides and READMEs go first.

Both languages: every note ``X.md`` may have a Korean version ``X.ko.md`` beside it. The site has a
Korean contents page (``index.html``, the default: the reader is Korean) and an English one
(``index.en.html``), each with a 한국어 / English switch; every note page links to its counterpart
in the other language, and notebooks (bilingual themselves) are listed in both.

Layout of the site::

    index.html  index.en.html
    notebooks/NN_name.html     paper_notes/NN_name.html  paper_notes/NN_name.ko.html
    assets/<figures the pages use>

Relative links between notes and notebooks (``../notebooks/x.ipynb``, ``y.md``) are rewritten to
the ``.html`` pages, and the figures they reference in ``assets/`` are copied, so links keep
working when the folder is opened from disk or served as is.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..paths import ASSETS, NOTEBOOKS, PAPER_NOTES, ROOT

DEFAULT_OUT = ROOT / "build" / "book"

# The summary's headings in its order; each with words that identify a page's title as belonging there.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Abstract", ("abstract", "초록")),
    ("도입부 & 관련 논문", ("도입부", "introduction", "related work")),
    ("Motivation and High Level Considerations", ("motivation",)),
    ("모델 구조", ("모델 구조", "architecture", "inception module")),
    ("훈련 방법", ("훈련 방법", "training")),
    ("분류 및 결과", ("분류 및 결과", "classification", "detection", "results", "탐지")),
    ("결론", ("결론", "conclusion")),
    ("구현", ("구현", "implementation")),
)
GUIDE = "Start here"
GUIDE_STEMS = ("readme", "glossary", "summary_corrections")  # index, 용어집, 요약 바로잡기 open the book
KO_SUFFIX = ".ko"  # X.ko.md is the Korean version of X.md
FALLBACK = "구현"  # pages about the companion's own code (activations, performance) belong with 구현

CSS = """
body { font-family: system-ui, -apple-system, "Noto Sans KR", sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.55; color: #222; }
img { max-width: 100%; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .5rem; }
pre, code { background: #f5f5f5; } pre { padding: .6rem; overflow-x: auto; }
nav.book { font-size: .9rem; margin-bottom: 1.5rem; } nav.book a { margin-right: 1rem; }
nav.book .lang { float: right; } nav.book .lang a { margin: 0 0 0 .5rem; } nav.book .lang b { margin-left: .5rem; }
blockquote { border-left: 4px solid #e0a800; background: #fff8e1; margin: 1rem 0; padding: .2rem 1rem; }
h2 { border-bottom: 1px solid #ddd; }
"""

_HREF = re.compile(r'(href|src)="(?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)([^"#?]*)([^"]*)"')


@dataclass(frozen=True)
class Page:
    """One page of the site: its source file, its title and where it lands."""

    source: Path
    kind: str  # "notebook" or "note"
    title: str
    ko: Path | None = None  # a note's Korean version (X.ko.md), when there is one
    ko_title: str = ""

    @property
    def folder(self) -> str:
        return "notebooks" if self.kind == "notebook" else "paper_notes"

    @property
    def href(self) -> str:
        return f"{self.folder}/{self.source.stem}.html"

    @property
    def ko_href(self) -> str | None:
        return f"{self.folder}/{self.ko.stem}.html" if self.ko else None


def _strip_markup(text: str) -> str:
    text = re.sub(r"^#+\s*", "", text.strip())
    return re.sub(r"[*_`]", "", text)


def title_of(path: Path) -> str:
    """The first Markdown heading of a note, or of a notebook's first markdown cell."""
    if path.suffix == ".ipynb":
        import nbformat

        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#"):
            return _strip_markup(line)
    return path.stem


def sections_named(title: str) -> list[str]:
    """The summary headings a title names, in the summary's order."""
    low = title.lower()
    return [name for name, words in SECTIONS if any(w in low for w in words)]


def section_of(page: Page) -> str:
    """Where a page goes: the guide section for READMEs, reading guides and titles naming 3+ headings."""
    named = sections_named(page.title)
    if len(named) >= 3 or page.source.stem.lower() in GUIDE_STEMS or "guide" in page.title.lower():
        return GUIDE
    return named[0] if named else FALLBACK


def collect(notebooks: Path = NOTEBOOKS, notes: Path = PAPER_NOTES) -> dict[str, list[Page]]:
    """Every page, grouped by section in the summary's order (the guide first).

    A Korean note ``X.ko.md`` is not a page of its own in the grouping: it rides on ``X.md`` as
    ``Page.ko``, so both languages sit under the same heading.
    """
    pages = [Page(p, "notebook", title_of(p)) for p in sorted(notebooks.glob("*.ipynb"))]
    for p in sorted(notes.glob("*.md")):
        if p.stem.endswith(KO_SUFFIX):
            continue
        ko = p.with_name(p.stem + KO_SUFFIX + ".md")
        pages.append(Page(p, "note", title_of(p), ko if ko.is_file() else None,
                          title_of(ko) if ko.is_file() else ""))
    grouped: dict[str, list[Page]] = {GUIDE: []} | {name: [] for name, _ in SECTIONS}
    for page in pages:
        grouped[section_of(page)].append(page)
    for group in grouped.values():  # by number, a note before its notebook
        group.sort(key=lambda p: (p.source.stem.split("_")[0], p.kind != "note", p.source.stem))
    return {k: v for k, v in grouped.items() if v}


def _rewrite_links(body: str, page_dir: Path, out: Path, missing: list[str]) -> str:
    """Point .ipynb/.md links at the rendered pages; copy referenced assets into the site."""

    def fix(m: re.Match) -> str:
        attr, target, rest = m.group(1), m.group(2), m.group(3)
        if not target:
            return m.group(0)
        if target.endswith((".ipynb", ".md")):
            target = target.rsplit(".", 1)[0] + ".html"
        else:
            source = (page_dir / target).resolve()
            try:  # the assets/ folder beside notebooks/ and paper_notes/
                rel = source.relative_to((page_dir.parent / "assets").resolve())
            except ValueError:
                rel = None
            if rel is not None:
                if source.is_file():
                    dest = out / "assets" / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, dest)
                else:
                    missing.append(f"{page_dir.name}: {target}")
        return f'{attr}="{html.escape(target, quote=True)}{rest}"'

    return _HREF.sub(fix, body)


INDEX = {"ko": "index.html", "en": "index.en.html"}


def _switch(here: str, ko: str | None, en: str | None) -> str:
    """The 한국어 / English switch: the current language in bold, the other one a link (if it exists)."""
    parts = []
    for lang, label, href in (("ko", "한국어", ko), ("en", "English", en)):
        if lang == here or href is None:
            parts.append(f"<b>{label}</b>" if lang == here else f"<span>{label}</span>")
        else:
            parts.append(f'<a href="{href}" hreflang="{lang}" data-lang-switch="{lang}">{label}</a>')
    return '<span class="lang">' + " / ".join(parts) + "</span>"


def _wrap(title: str, body: str, up: str, lang: str = "ko", counterpart: str | None = None) -> str:
    """A complete page; ``counterpart`` is the same page in the other language (a relative href)."""
    ko, en = (None, counterpart) if lang == "ko" else (counterpart, None)
    contents = "목차" if lang == "ko" else "Contents"
    return (f"<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><link rel=\"stylesheet\" href=\"{up}style.css\"></head>"
            f"<body><nav class=\"book\"><a href=\"{up}{INDEX[lang]}\">{contents}</a>{_switch(lang, ko, en)}"
            f"</nav>\n{body}\n</body></html>\n")


def slug(text: str) -> str:
    """A heading's anchor as GitHub makes it, so ``note.md#anchor`` links work in the book too.

    Lower case, spaces to hyphens, and every character that is not a letter, digit, mark,
    hyphen or underscore dropped (Hangul is kept).
    """
    kept = [c for c in text.strip().lower()
            if c in " -_" or unicodedata.category(c)[0] in "LNM"]
    return "".join(kept).replace(" ", "-")


_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)


def _add_heading_ids(body: str) -> str:
    seen: dict[str, int] = {}

    def add(m: re.Match) -> str:
        text = html.unescape(re.sub(r"<[^>]+>", "", m.group(2)))
        base = slug(text)
        n = seen.get(base, 0)
        seen[base] = n + 1
        anchor = base if n == 0 else f"{base}-{n}"
        return f'<h{m.group(1)} id="{html.escape(anchor, quote=True)}">{m.group(2)}</h{m.group(1)}>'

    return _HEADING.sub(add, body)


def render_note(path: Path) -> str:
    """A paper note (Markdown, CommonMark with tables) as an HTML fragment; headings carry GitHub's ids."""
    from markdown_it import MarkdownIt

    from .quoted import strip_marks

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    # html=False would print the notes' <!-- nb:... --> marks (utils.presentation.quoted) as text
    return _add_heading_ids(md.render(strip_marks(path.read_text(encoding="utf-8"))))


def render_notebook(path: Path, execute: bool = False, timeout: int = 600) -> str:
    """A notebook as a complete HTML page, outputs included; ``execute`` re-runs it in quick mode first.

    Execution happens in memory: the notebook file is never written.
    """
    import nbformat
    from nbconvert import HTMLExporter

    if execute:
        from .notebook_exec import execute as run_notebook

        nb = run_notebook(path, quick=True, timeout=timeout).notebook
    else:
        nb = nbformat.read(path, as_version=4)
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return body


def error_outputs(path: Path) -> int:
    """How many error outputs a notebook's committed cells carry."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return sum(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def _index(grouped: dict[str, list[Page]], lang: str = "ko", atlas: bool = False) -> str:
    """The contents page in one language: Korean notes (falling back to English) or English notes; with
    ``atlas``, a link to the channel atlas written beside the pages (``atlas/index.html``)."""
    other = INDEX["en" if lang == "ko" else "ko"]
    if lang == "ko":
        parts = ["<h1>Going deeper with convolutions (GoogLeNet) — 스터디 노트</h1>",
                 "<p>논문과 한국어 요약의 순서대로 놓은 노트와 노트북입니다. 노트북은 저장된 출력과 함께 보입니다. "
                 "노트는 한국어판으로 열리며, 각 페이지 위의 English로 영어판을 볼 수 있습니다.</p>"]
    else:
        parts = ["<h1>Going deeper with convolutions (GoogLeNet) — study companion</h1>",
                 "<p>Notes and notebooks in the order of the paper and its Korean summary. "
                 "Notebooks are shown with their saved outputs.</p>"]
    for section, pages in grouped.items():
        parts.append(f"<h2>{html.escape(section)}</h2><ul>")
        for p in pages:
            if p.kind == "notebook":
                label = "노트북" if lang == "ko" else "notebook"
                href, title, name = p.href, p.title, p.source.name
            elif lang == "ko" and p.ko is not None:
                label, href, title, name = "노트", p.ko_href, p.ko_title, p.ko.name
            else:
                label = "노트" if lang == "ko" else "note"
                href, title, name = p.href, p.title, p.source.name
            parts.append(f'<li><a href="{href}">{html.escape(title)}</a> <small>({label}: '
                         f"{html.escape(name)})</small></li>")
        parts.append("</ul>")
    if atlas:
        words = (("채널 도감", "인셉션 (3a)의 모든 채널: 검증 사진에서 가장 강하게 반응한 조각과 통계")
                 if lang == "ko" else
                 ("Channel atlas", "Every channel of inception (3a): its strongest patches in the validation photos "
                                   "and its statistics"))
        parts.append(f'<h2>{words[0]}</h2><ul><li><a href="atlas/index.html">{words[1]}</a></li></ul>')
    return _wrap("GoogLeNet 스터디 노트" if lang == "ko" else "GoogLeNet study companion",
                 "\n".join(parts), "", lang, other)


def build(out: Path = DEFAULT_OUT, execute: bool = False, notebooks: Path = NOTEBOOKS,
          notes: Path = PAPER_NOTES, progress: bool = True, atlas=None) -> dict:
    """Render the whole site into ``out`` (emptied first) and return a summary.

    Returns:
        ``{"pages": [...hrefs], "missing_assets": [...], "error_outputs": {notebook: count},
        "sections": {heading: [hrefs]}, "korean": {english note href: Korean note href}}``.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    if out.resolve() in {ROOT.resolve(), NOTEBOOKS.resolve(), PAPER_NOTES.resolve(), ASSETS.resolve()}:
        raise ValueError(f"--out {out} would overwrite the project's own files; choose e.g. build/book")
    grouped = collect(notebooks, notes)
    if not grouped:
        raise FileNotFoundError(f"no notebooks in {notebooks} and no notes in {notes}; nothing to build")
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    (out / "paper_notes").mkdir()
    (out / "style.css").write_text(CSS, encoding="utf-8")
    missing: list[str] = []
    errors: dict[str, int] = {}
    pages = [p for group in grouped.values() for p in group]
    hrefs = []
    for page in tqdm(pages, desc="book", disable=not progress):
        if page.kind == "notebook":
            text = render_notebook(page.source, execute=execute)
            if not execute and (n := error_outputs(page.source)):
                errors[page.source.name] = n
            # the nbconvert page is complete; add the way back to the contents
            text = text.replace("<body", '<body data-book-page="notebook"', 1)
            # notebooks are bilingual themselves: one page, reachable from both contents pages
            text = re.sub(r"(<body[^>]*>)", r'\1<nav class="book" style="padding:.5rem 1rem">'
                          r'<a href="../index.html" hreflang="ko">목차</a>'
                          r'<a href="../index.en.html" hreflang="en">Contents</a></nav>', text, count=1)
            renders = [(page.href, text)]
        else:
            name = Path(page.href).name
            ko_name = Path(page.ko_href).name if page.ko else None
            renders = [(page.href, _wrap(page.title, render_note(page.source), "../", "en", ko_name))]
            if page.ko:
                renders.append((page.ko_href, _wrap(page.ko_title, render_note(page.ko), "../", "ko", name)))
        for href, text in renders:
            text = _rewrite_links(text, page.source.parent, out, missing)
            (out / href).write_text(text, encoding="utf-8")
            hrefs.append(href)
    if atlas is not None:  # a function that writes atlas pages into the folder it is given (utils.presentation.atlas)
        atlas(out / "atlas")
    linked = (out / "atlas" / "index.html").is_file()
    for lang, name in INDEX.items():
        (out / name).write_text(_index(grouped, lang, atlas=linked), encoding="utf-8")
    return {"pages": list(INDEX.values()) + hrefs, "missing_assets": missing, "atlas": linked,
            "error_outputs": errors, "sections": {k: [p.href for p in v] for k, v in grouped.items()},
            "korean": {p.href: p.ko_href for p in pages if p.ko}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.presentation.book", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="site folder (default build/book)")
    parser.add_argument("--execute", action="store_true",
                        help="re-run every notebook in quick mode before rendering (files are not changed), "
                             "and write the inception (3a) pages of the channel atlas (python -m utils atlas)")
    args = parser.parse_args(argv)
    try:
        from .atlas import book_atlas

        summary = build(args.out, execute=args.execute,
                        atlas=(lambda folder: book_atlas(folder, quick=True)) if args.execute else None)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for item in summary["missing_assets"]:
        print(f"warning: missing figure {item}", file=sys.stderr)
    for name, n in summary["error_outputs"].items():
        print(f"warning: {name} carries {n} error output(s); re-run it or use --execute", file=sys.stderr)
    print(f"{len(summary['pages'])} pages in {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
