"""The Korean layer: every note has a Korean version that is Korean and keeps the English note's numbers,
every notebook opens with a Korean 핵심 요약 and has bilingual headings, every glossary term is used, and
every relative link in the notes and READMEs resolves.

Each check is a small function that returns what is wrong; the ``*_catches_*`` tests feed each one a
broken input, so a check that could never fail would show up here.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import nbformat
import pytest

from utils.paths import NOTEBOOKS, PAPER_NOTES, ROOT

BILINGUAL = {"glossary.md"}  # written in both languages at once; no .ko.md of its own
ENGLISH_NOTES = sorted(p for p in PAPER_NOTES.glob("*.md")
                       if not p.name.endswith(".ko.md") and p.name not in BILINGUAL)
KOREAN_NOTES = sorted(PAPER_NOTES.glob("*.ko.md"))
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))
LINKED_FILES = sorted(PAPER_NOTES.glob("*.md")) + sorted(ROOT.glob("README*.md"))
MIN_HANGUL = 0.5
BOX_KO, BOX_EN = "> **요약과 다른 점**", "> **Where the summary differs**"
SUMMARY_TITLE = "## 핵심 요약"

# Every heading of ../shared/summary/googlenet_summary_ko.md, copied from it (the project must not read
# that folder), including the ones it leaves empty.
SUMMARY_HEADINGS = ("Abstract", "Details", "도입부 & 관련 논문", "Motivation and High Level Considerations",
                    "모델 구조", "1. Architecture", "2. GoogLeNet", "3. 훈련 방법", "분류 및 결과", "결론",
                    "개인적인 생각", "구현", "이미지 출처")
# Terms every reader meets in the notes; the glossary may hold more.
REQUIRED_TERMS = ("합성곱", "차원 축소", "보조 분류기", "곱셈-덧셈", "희소", "밀집", "국소 반응 정규화",
                  "인셉션 모듈", "수용 영역", "폴리악 평균")

HANGUL = re.compile(r"[\uac00-\ud7a3]")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
HEADING = re.compile(r"^(#{1,6}) +(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


# ----------------------------------------------------------------------------- helpers


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def without_code(text: str) -> str:
    """Markdown with fenced and indented code blocks and inline code removed (they stay in English)."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def hangul_share(text: str) -> float:
    """Hangul syllables among all letters of the prose (code and link targets left out)."""
    prose = re.sub(r"\]\([^)]*\)", "]", without_code(text))
    prose = re.sub(r"<!--.*?-->", "", prose, flags=re.S)  # marks tying numbers to outputs are not read
    letters = [c for c in prose if c.isalpha()]
    return sum(bool(HANGUL.match(c)) for c in letters) / max(len(letters), 1)


def headings(text: str) -> list[str]:
    return [m.group(2) for line in without_code(text).splitlines() if (m := HEADING.match(line))]


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    found, seen = set(), {}
    for h in headings(text):
        base = github_anchor(h)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path: Path) -> list[str]:
    """Relative links of one Markdown file whose file, or whose #anchor in a Markdown target, is missing."""
    problems = []
    text = without_code(read(path))
    for target in LINK.findall(text):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            continue  # other sites are not checked (no network here)
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            problems.append(f"{path.name}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(read(dest)):
            problems.append(f"{path.name}: {target} (no heading with that anchor)")
    return problems


def markdown_of(notebook: Path) -> list[str]:
    return [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown"]


def numbers_missing(english: str, korean: str) -> list[str]:
    """Numbers of the English note that its Korean version does not carry (it may carry more)."""
    return sorted(set(NUMBER.findall(english)) - set(NUMBER.findall(korean)))


def glossary_rows(text: str) -> list[list[str]]:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return [r for r in rows[2:] if len(r) >= 4]  # past the header and its --- line


def unused_terms(rows: list[list[str]], korean_text: str, english_text: str) -> list[str]:
    """Glossary terms no note or notebook uses (Korean in the Korean texts, English in the English ones)."""
    low = english_text.lower()
    return ([r[0] for r in rows if r[0] not in korean_text]
            + [r[1] for r in rows if r[1].lower() not in low])


def korean_corpus() -> str:
    return "\n".join([read(p) for p in KOREAN_NOTES] + [read(ROOT / "README.ko.md")]
                     + [s for nb in NOTEBOOK_FILES for s in markdown_of(nb)])


def english_corpus() -> str:
    return "\n".join([read(p) for p in ENGLISH_NOTES] + [s for nb in NOTEBOOK_FILES for s in markdown_of(nb)])


# A negation or a hedge of the English must survive in its Korean version. Checked section by section: each
# section of an English note that denies or hedges something has a Korean section that does too (English
# quoted inside the Korean counts). "about" and "around" are left out: they mostly mean "concerning" and
# "surrounding" here, not "roughly".
NEGATION_EN = re.compile(r"\b(?:not|no|never|cannot|none|nothing|neither|nor|without)\b|n't\b", re.IGNORECASE)
NEGATION_KO = re.compile(r"않|없|못|아니|아닌|아닙|말고|불가|빼")
HEDGE_EN = re.compile(r"\b(?:may|might|perhaps|probably|likely|unlikely|roughly|approximately|nearly|almost|"
                      r"suggests?|seems?|appears?)\b", re.IGNORECASE)
HEDGE_KO = re.compile(r"수 있|수도|아마|듯|약 ?\d|대략|쯤|정도|가까|거의|보입|보인|보이|가능|추정|짐작|것 같|"
                      r"일지|시사|겠")


def sections(text: str) -> list[str]:
    """The text between headings (the part before the first heading included), code left out."""
    parts, current = [], []
    for line in without_code(text).splitlines():
        if HEADING.match(line):
            parts.append("\n".join(current))
            current = []
        else:
            current.append(line)
    return parts + ["\n".join(current)]


def dropped_qualifiers(english: str, korean: str) -> list[str]:
    """``"section N: negation"`` / ``"section N: hedge"`` for each section whose English denies or hedges and
    whose Korean does not."""
    problems = []
    for n, (en, ko) in enumerate(zip(sections(english), sections(korean), strict=False)):
        for kind, in_english, in_korean in (("negation", NEGATION_EN, NEGATION_KO), ("hedge", HEDGE_EN, HEDGE_KO)):
            if in_english.search(en) and not (in_korean.search(ko) or in_english.search(ko)):
                problems.append(f"section {n}: {kind} ({', '.join(sorted(set(in_english.findall(en)))[:4])})")
    return problems


def counterpart(english: Path) -> Path:
    return english.with_name(english.stem + ".ko.md")


# ----------------------------------------------------------------------------- notes


def test_there_are_notes_to_check():
    assert len(ENGLISH_NOTES) >= 12 and NOTEBOOK_FILES


@pytest.mark.parametrize("english", ENGLISH_NOTES + [ROOT / "README.md"], ids=lambda p: p.name)
def test_every_note_has_a_korean_counterpart_in_korean(english):
    korean = counterpart(english)
    assert korean.is_file(), f"{english.name} has no Korean version; write {korean.name} beside it"
    share = hangul_share(read(korean))
    assert share >= MIN_HANGUL, f"{korean.name}: only {share:.0%} of its letters are Hangul"


@pytest.mark.parametrize("english", ENGLISH_NOTES, ids=lambda p: p.name)
def test_korean_note_is_a_faithful_version(english):
    """Same numbers, same number of sections, table rows and figures; links go to Korean notes."""
    en, ko = read(english), read(counterpart(english))
    missing = numbers_missing(en, ko)
    assert not missing, f"{counterpart(english).name} lacks the English note's numbers {missing}"
    assert len(headings(ko)) == len(headings(en)), "a different number of sections"
    rows = [sum(line.startswith("|") for line in t.splitlines()) for t in (en, ko)]
    assert rows[0] == rows[1], f"table rows: {rows[0]} in English, {rows[1]} in Korean"
    dropped = dropped_qualifiers(en, ko)
    assert not dropped, f"{counterpart(english).name} drops what the English denies or hedges: {dropped}"
    figures = [re.findall(r"!\[[^\]]*\]\(([^)]+)\)", t) for t in (en, ko)]
    assert figures[0] == figures[1], "the figures differ"
    linked = {t.partition("#")[0] for t in LINK.findall(ko)}
    for file in linked:  # a link to another English note comes with (or is) a link to its Korean version
        korean = file[:-3] + ".ko.md"
        if file.endswith(".md") and not file.endswith(".ko.md") and file != english.name:
            assert korean in linked or not (PAPER_NOTES / korean).exists(), \
                f"{counterpart(english).name} links {file}; point it at {korean}"


def test_the_korean_readme_carries_every_command_of_the_english_one():
    commands = lambda text: set(re.findall(r"`(make [a-z]+(?: [A-Z_]+=\S+)?)`", text))
    english, korean = commands(read(ROOT / "README.md")), commands(read(ROOT / "README.ko.md"))
    assert {"make lab", "make test", "make lab PORT=8890"} <= english  # the pattern finds them
    assert english - korean == set()
    assert commands("`make lab NO_BROWSER=1` and `make book`") == {"make lab NO_BROWSER=1", "make book"}


def test_summary_differences_are_boxed_in_both_languages():
    ko = {p.name.replace(".ko.md", ".md"): read(p).count(BOX_KO) for p in KOREAN_NOTES}
    en = {p.name: read(p).count(BOX_EN) for p in ENGLISH_NOTES}
    assert sum(ko.values()) >= 3
    assert {k: v for k, v in ko.items() if v} == {k: v for k, v in en.items() if v}, \
        "each '요약과 다른 점' box needs its 'Where the summary differs' box in the English note"
    for p in KOREAN_NOTES:  # each box quotes the paper with a section number
        for box in re.findall(re.escape(BOX_KO) + r"(?:\n>.*)+", read(p)):
            assert '"' in box and "§" in box, f"{p.name}: a box without the paper's words and section"


@pytest.mark.parametrize("readme", ["README.md", "README.ko.md"])
def test_reading_guide_maps_every_summary_heading(readme):
    rows = [line for line in read(PAPER_NOTES / readme).splitlines() if line.startswith("| ")]
    for heading in SUMMARY_HEADINGS:
        row = next((r for r in rows if r.split("|")[1].strip() == heading), None)
        assert row is not None, f"paper_notes/{readme}: no row for the summary heading {heading!r}"
        assert ".ko.md)" in row and re.search(r"\((?!\.\./)[^)]*(?<!\.ko)\.md\)", row), \
            f"paper_notes/{readme}: {heading!r} needs both a Korean and an English note"


def stray_markup(text: str) -> list[str]:
    """Emphasis markers left as text after rendering: CommonMark does not close ``**`` between a
    parenthesis and a Hangul particle (``**합성곱(convolution)**을``), so the reader sees the stars."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    rendered = re.sub(r"<code>.*?</code>|<pre>.*?</pre>", "", rendered, flags=re.S)
    return [m.group(0) for m in re.finditer(r".{0,20}\*\*.{0,20}", rendered)]


@pytest.mark.parametrize("path", LINKED_FILES, ids=lambda p: p.name)
def test_emphasis_renders(path):
    assert stray_markup(read(path)) == [], \
        f"{path.name}: write **합성곱**(convolution)을, not **합성곱(convolution)**을"


# ----------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("notebook", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_opens_with_a_korean_summary(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    second = cells[1]
    assert second.cell_type == "markdown" and second.source.startswith(SUMMARY_TITLE), \
        f"{notebook.name}: the cell after the title should be a markdown '{SUMMARY_TITLE}'"
    body = second.source[len(SUMMARY_TITLE):]
    assert hangul_share(body) >= MIN_HANGUL, f"{notebook.name}: the 핵심 요약 is not written in Korean"
    sentences = len(re.findall(r"다\.(?:\s|$)", body))
    assert 3 <= sentences <= 6, f"{notebook.name}: the 핵심 요약 has {sentences} sentences, 3-6 wanted"


@pytest.mark.parametrize("notebook", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_section_headings_are_bilingual(notebook):
    for source in markdown_of(notebook)[1:]:  # the title cell keeps the paper's and the summary's words
        for line in source.splitlines():
            if re.match(r"#{2,3} ", line) and not line.startswith(SUMMARY_TITLE):
                assert HANGUL.search(line) and " / " in line and re.search(r"[A-Za-z]{3}", line), \
                    f"{notebook.name}: heading {line!r} should read '한국어 / English'"


# ----------------------------------------------------------------------------- glossary


def test_glossary_has_the_terms():
    rows = glossary_rows(read(PAPER_NOTES / "glossary.md"))
    assert len(rows) >= 40, f"the 용어집 has {len(rows)} terms, at least 40 wanted"
    korean = {r[0] for r in rows}
    assert not [t for t in REQUIRED_TERMS if t not in korean], "terms the notes rely on are missing from the glossary"
    for r in rows:
        assert r[2] and (("§" in r[2] or "Table" in r[2] or "Figure" in r[2] or "Abstract" in r[2])
                         or r[2].startswith("—")), f"{r[0]}: give the paper's word with its section, or —"


def test_every_glossary_term_is_used():
    rows = glossary_rows(read(PAPER_NOTES / "glossary.md"))
    assert unused_terms(rows, korean_corpus(), english_corpus()) == []


def test_glossary_first_use_points_at_a_page_that_uses_the_term():
    for r in glossary_rows(read(PAPER_NOTES / "glossary.md")):
        targets = LINK.findall(r[3])
        assert targets, f"{r[0]}: no link to where the companion first uses it"
        dest = (PAPER_NOTES / targets[0]).resolve()
        text = "\n".join(markdown_of(dest)) if dest.suffix == ".ipynb" else read(dest)
        assert r[1].lower() in " ".join(text.lower().split()), f"{r[0]}: {targets[0]} does not use {r[1]!r}"


def rejected_variants(rows: list[list[str]]) -> dict[str, str]:
    """Each variant the glossary rejects (backticked in its fifth column), mapped to the chosen term."""
    return {v: r[0] for r in rows if len(r) >= 5 for v in re.findall(r"`([^`]+)`", r[4])}


@functools.cache
def korean_texts() -> dict[str, str]:
    """Every Korean text a reader sees, by name: the Korean notes, README.ko.md and the notebooks' markdown."""
    texts = {str(p.relative_to(ROOT)): read(p) for p in KOREAN_NOTES + [ROOT / "README.ko.md"]}
    texts.update({str(nb.relative_to(ROOT)): "\n".join(markdown_of(nb)) for nb in NOTEBOOK_FILES})
    return texts


def variants_used(text: str, variants: dict[str, str]) -> list[str]:
    """The rejected variants a text uses (line breaks read as spaces), each with the term to write instead."""
    flat = " ".join(text.split())
    return [f"{v!r} (write {term!r})" for v, term in variants.items() if v in flat]


def test_glossary_rejects_the_variants_it_names():
    variants = rejected_variants(glossary_rows(read(PAPER_NOTES / "glossary.md")))
    assert {"에포크", "이식판", "색채감", "보조 헤드", "헤브", "시험 해상도"} <= set(variants)
    chosen = set(variants.values())
    assert not [v for v in variants if v in chosen], "a variant is also a chosen term"


@pytest.mark.parametrize("name", sorted(korean_texts()))
def test_korean_text_uses_the_glossary_terms(name):
    variants = rejected_variants(glossary_rows(read(PAPER_NOTES / "glossary.md")))
    used = variants_used(korean_texts()[name], variants)
    assert not used, f"{name} uses what the glossary rejects: {', '.join(used)}"


# ----------------------------------------------------------------------------- links


@pytest.mark.parametrize("path", LINKED_FILES, ids=lambda p: p.name)
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


# ----------------------------------------------------------------------------- the checks themselves


def test_hangul_share_catches_an_english_page():
    assert hangul_share("# 제목\n\nThis page was never translated, only its title was.") < MIN_HANGUL
    assert hangul_share("합성곱(convolution)은 `torch.nn.Conv2d`로 계산하는 연산입니다.") >= MIN_HANGUL


def test_stray_markup_catches_an_unclosed_emphasis():
    assert stray_markup("**합성곱(convolution)**을 씁니다") != []
    assert stray_markup("**합성곱**(convolution)을 씁니다, `a**b`") == []


def test_numbers_missing_catches_a_changed_number():
    assert numbers_missing("6,998,552 parameters and 1.58 G", "파라미터 6,998,552개와 1.59 G") == ["1.58"]


def test_broken_links_catches_missing_files_and_anchors(tmp_path):
    (tmp_path / "a.md").write_text("## 12배 적은 파라미터, 확인\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("[ok](a.md#12배-적은-파라미터-확인) [gone](c.md) [bad](a.md#nope)\n"
                                   "```\n[in code](ignored.md)\n```\n", encoding="utf-8")
    assert broken_links(tmp_path / "b.md") == ["b.md: c.md (no such file)",
                                               "b.md: a.md#nope (no heading with that anchor)"]


def test_dropped_qualifiers_catches_a_lost_negation_or_hedge():
    english = "# A\nThe gain is not significant.\n# B\nThis may help.\n"
    assert dropped_qualifiers(english, "# 가\n이득은 유의미하지 않습니다.\n# 나\n도움이 될 수 있습니다.\n") == []
    assert dropped_qualifiers(english, "# 가\n이득은 유의미합니다.\n# 나\n도움이 됩니다.\n") == [
        "section 1: negation (not)", "section 2: hedge (may)"]


def test_variants_used_catches_a_rejected_spelling():
    rows = [["에폭", "epoch", "", "", "`에포크`"], ["헵 원리", "Hebbian principle", "", "", "`헤브`"],
            ["합성곱", "", "", ""]]
    variants = rejected_variants(rows)
    assert variants == {"에포크": "에폭", "헤브": "헵 원리"}
    assert variants_used("15 에포크 동안\n헤브 원리를", variants) == ["'에포크' (write '에폭')",
                                                                 "'헤브' (write '헵 원리')"]
    assert variants_used("15 에폭 동안 헵 원리를", variants) == []


def test_unused_terms_catches_a_term_nobody_uses():
    rows = [["합성곱", "convolution", "", ""], ["초해상도", "super-resolution", "", ""]]
    assert unused_terms(rows, "합성곱을 씁니다", "a Convolution") == ["초해상도", "super-resolution"]


def test_github_anchor_matches_githubs_ids():
    assert github_anchor("12x fewer parameters, checked") == "12x-fewer-parameters-checked"
    assert github_anchor("Two networks from one builder: `Variant`") == "two-networks-from-one-builder-variant"
    assert github_anchor("결론 · Conclusion (§9)") == "결론--conclusion-9"
