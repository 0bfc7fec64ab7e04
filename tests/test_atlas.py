"""The channel atlas (utils.presentation.atlas): statistics by hand, every channel of every branch on a page,
links that resolve, and the pages in Chromium (with the book linking to them)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch

from utils.network.arch import IMAGENET_MEAN, IMAGENET_STD
from utils.network.model import googlenet
from utils.presentation import atlas as A

SIZE = 64  # photos and input side: inception (3a) maps are 8x8 here, (4a) 4x4
INFO = {"source": "random weights for the test", "variant": "paper", "image_size": SIZE, "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD}
DEAD = 3  # inception3a.branch3's channel 3, silenced below


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = googlenet("paper", num_classes=10, aux_logits=False).eval()
    with torch.no_grad():
        m.inception3a.branch3[1].conv.bias[DEAD] = -1e4
    return m


@pytest.fixture(scope="module")
def photos():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(10, 3, SIZE, SIZE, generator=g) * 255).to(torch.uint8)


@pytest.fixture(scope="module")
def site(model, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "atlas"
    summary = A.write_atlas(model, INFO, photos, out, modules=["inception3a", "inception4a"],
                            photos_text="ten random photos", top=3, batch_size=4, progress=False)
    return out, summary


# ----------------------------------------------------------------------------- statistics by hand
def test_channel_stats_keep_the_best_photos_across_batches():
    stats = A.ChannelStats(top=2)
    colour = torch.zeros(5, 2, 3, 3)
    colour[1, 0, 2, 1] = 5.0  # channel 0: best on photo 1 at (2, 1), then photo 4 at (0, 2)
    colour[4, 0, 0, 2] = 3.0
    colour[0, 0, 1, 1] = 1.0
    colour[:, 1] = -1.0  # channel 1 never positive: dead
    gray = colour.clone()
    gray[:, 0] *= 0.25  # channel 0 keeps a quarter of its peaks without colour
    stats.add(colour[:3], gray[:3], 0)  # two batches: photos 0-2, then 3-4
    stats.add(colour[3:], gray[3:], 3)
    assert stats.where[0].tolist() == [[1, 2, 1], [4, 0, 2]]
    assert stats.best[0].tolist() == [5.0, 3.0]
    table = stats.table()
    assert table["dead"].tolist() == [False, True]
    assert table["colour_dependence"][0] == pytest.approx(0.75)
    assert np.isnan(table["colour_dependence"][1])
    assert table["mean"][0] == pytest.approx((5 + 3 + 1) / 9 / 5)


def test_patch_box_by_hand():
    # an 8x8 map of a 64-pixel photo: a cell is 8 pixels, a patch 4 cells = 32 pixels, clipped to the photo
    assert A.patch_box(3, 3, (8, 8), 64) == (12, 12, 32)
    assert A.patch_box(0, 7, (8, 8), 64) == (0, 32, 32)
    assert A.patch_box(0, 0, (2, 2), 64) == (0, 0, 64)  # deep layers: the whole photo


def test_recording_stops_after_the_last_layer(model, photos):
    calls = []
    handle = model.inception4a.register_forward_hook(lambda *_: calls.append(1))
    try:
        stats = A.record_atlas(model, photos[:2], ["inception3a.branch1"], INFO["mean"], INFO["std"], progress=False)
    finally:
        handle.remove()
    assert calls == [] and stats["inception3a.branch1"].photos == 2
    with pytest.raises(ValueError, match="unknown layers"):
        A.record_atlas(model, photos[:2], ["inception3z.branch1"], INFO["mean"], INFO["std"], progress=False)


def test_desaturate_uses_luma():
    x = torch.zeros(1, 3, 1, 1)
    x[0, 1] = 1.0  # pure green: luma 0.587
    assert A._desaturate(x).flatten().tolist() == pytest.approx([0.587] * 3)


# ----------------------------------------------------------------------------- the pages
def _sections(page: str) -> dict[str, tuple[int, list[int], list[int]]]:
    """layer -> (channels it says it has, channel numbers of its cards, channel numbers marked dead)."""
    out = {}
    parts = re.split(r'<section id="[^"]+" data-layer="([^"]+)" data-channels="(\d+)">', page)
    for name, n, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        cards = [int(c) for c in re.findall(r'data-channel="(\d+)"', body)]
        dead = [int(c) for c in re.findall(r'class="ch dead" id="[^"]+" data-channel="(\d+)"', body)]
        out[name] = (int(n), cards, dead)
    return out


def test_every_channel_of_every_branch_and_reduction_has_a_card(site, model):
    out, summary = site
    modules = dict(model.named_modules())
    for m in ("inception3a", "inception4a"):
        sections = _sections((out / f"{m}.html").read_text(encoding="utf-8"))
        expected = {f"{m}.branch1": modules[f"{m}.branch1"].conv.out_channels}
        for b in ("branch2", "branch3"):
            expected[f"{m}.{b}.0"] = modules[f"{m}.{b}"][0].conv.out_channels  # the 1x1 reduction
            expected[f"{m}.{b}"] = modules[f"{m}.{b}"][1].conv.out_channels
        expected[f"{m}.branch4"] = modules[f"{m}.branch4"][1].conv.out_channels
        assert {k: v[0] for k, v in sections.items()} == expected
        for name, (n, cards, _) in sections.items():
            assert cards == list(range(n)), name
        sprite = out / "sprites" / f"{m}.branch1.jpg"
        from PIL import Image

        with Image.open(sprite) as im:  # a row of thumbnails per channel, `top` of them
            assert im.size == (3 * A.THUMB, expected[f"{m}.branch1"] * A.THUMB)
    dead = _sections((out / "inception3a.html").read_text(encoding="utf-8"))["inception3a.branch3"][2]
    assert DEAD in dead
    assert summary["modules"]["inception3a"][4]["dead"] == dead
    saved = json.loads((out / A.MARKER).read_text(encoding="utf-8"))
    assert saved["weights"] == INFO["source"] and saved["num_photos"] == 10


def test_pages_name_weights_photos_and_the_multiply_add_shares(site):
    out, _ = site
    page = (out / "inception3a.html").read_text(encoding="utf-8")
    assert "random weights for the test" in page and "ten random photos" in page and "10 photos at 64 px" in page
    # inception (3a) at 64 px: 8x8 maps; branch2 by hand 64*(192*96 + 9*96*128) of the module's
    # 64*(192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32 + 192*32): 79.0%, as at 224 (Table 1)
    module = 64 * (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32)
    branch2 = 64 * (192 * 96 + 9 * 96 * 128)
    assert f"branch2 costs {100 * branch2 / module:.1f}% of the module's multiply-adds" in page
    assert f"{100 * 64 * 192 * 96 / module:.1f}% of the module's, part of branch2's" in page


def broken_links(out: Path) -> list[str]:
    """Every href/src of the atlas that points at a missing file or at an id its page lacks."""
    problems = []
    for page in sorted(out.rglob("*.html")):
        for target in re.findall(r'\b(?:href|src)="([^"]*)"', page.read_text(encoding="utf-8")):
            path, _, frag = html.unescape(target).partition("#")
            dest = (page.parent / unquote(path)).resolve() if path else page
            if not dest.is_file():
                problems.append(f"{page.name}: {target} (no such file)")
            elif frag and f'id="{frag}"' not in dest.read_text(encoding="utf-8"):
                problems.append(f"{page.name}: {target} (no such anchor)")
    return problems


def test_every_link_resolves(site):
    out, _ = site
    assert broken_links(out) == []
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="inception4a.html#branch3-reduce"' in index  # navigation by module and branch
    (out / "bad.html").write_text('<a href="inception3a.html#nowhere">x</a><img src="sprites/gone.jpg">')
    try:  # the check itself can fail
        assert broken_links(out) == ["bad.html: inception3a.html#nowhere (no such anchor)",
                                     "bad.html: sprites/gone.jpg (no such file)"]
    finally:
        (out / "bad.html").unlink()


def test_the_atlas_never_empties_a_folder_it_did_not_write(tmp_path, model, photos):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="other files"):
        A.write_atlas(model, INFO, photos[:2], mine, modules=["inception3a"], progress=False)
    assert (mine / "keep.txt").read_text() == "mine"
    out = tmp_path / "a"
    A.write_atlas(model, INFO, photos[:2], out, modules=["inception3a"], progress=False)
    A.write_atlas(model, INFO, photos[:2], out, modules=["inception3b"], progress=False)  # an atlas is replaced
    assert sorted(p.name for p in out.glob("*.html")) == ["inception3b.html", "index.html"]
    with pytest.raises(ValueError, match="project's own folders"):
        A.write_atlas(model, INFO, photos[:2], A.ROOT / "notebooks", progress=False)


def test_command_help_and_errors(tmp_path, capsys):
    from utils.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["atlas", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "every channel" in text and "--photos" in text and "multiply-adds" in text
    assert main(["atlas", "--modules", "inception3c", "--out", str(tmp_path / "x")]) == 2
    assert "unknown Inception module 'inception3c'" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["atlas", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- in a browser
@pytest.fixture(scope="module")
def chromium() -> str:
    import os
    import subprocess

    from utils.paths import ROOT

    pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    path = "/usr/bin/chromium"
    if not os.path.exists(path):
        subprocess.run(["sh", str(ROOT / "tests/setup_browser.sh")], check=False)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing; run tests/setup_browser.sh as root (apt-get install -y chromium)")
    return path


@pytest.mark.slow
def test_the_book_links_the_atlas_and_it_browses_in_chromium(chromium, model, photos, tmp_path):
    import nbformat
    from playwright.sync_api import sync_playwright

    from utils.presentation import book

    notebooks, notes = tmp_path / "notebooks", tmp_path / "paper_notes"
    notebooks.mkdir()
    notes.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 06 · Branch activations — 구현")]
    nbformat.write(nb, notebooks / "06_x.ipynb")
    out = tmp_path / "site"

    def write(folder):
        A.write_atlas(model, INFO, photos, folder, modules=["inception3a", "inception3b"], top=2, progress=False)

    summary = book.build(out, notebooks=notebooks, notes=notes, progress=False, atlas=write)
    assert summary["atlas"]
    for index in ("index.html", "index.en.html"):
        assert 'href="atlas/index.html"' in (out / index).read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
            page.goto((out / "index.html").as_uri())
            page.click('a[href="atlas/index.html"]')
            assert page.locator("h1").inner_text().startswith("Atlas of every channel")
            page.click('nav.atlas a[href="inception3b.html"]')  # navigation by module
            assert page.url.endswith("inception3b.html")
            page.click('nav.atlas a[href="#branch3-reduce"]')  # and by branch
            assert page.url.endswith("#branch3-reduce")
            for m in ("inception3a", "inception3b"):
                page.goto((out / "atlas" / f"{m}.html").as_uri())
                counts = page.evaluate("""() => [...document.querySelectorAll('section')].map(s =>
                    [s.dataset.layer, +s.dataset.channels, s.querySelectorAll('.ch').length])""")
                assert len(counts) == 6 and all(n == cards for _, n, cards in counts), counts
                page.wait_for_load_state("load")
                broken = page.evaluate("""() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                    .map(i => i.getAttribute('src'))""")
                assert broken == []
                # the first card shows the top of its layer's sprite, the last card its last row
                shown = page.evaluate("""() => { const s = document.querySelector('section');
                    const cards = s.querySelectorAll('.ch img');
                    return [cards[0].style.marginTop, cards[cards.length - 1].style.marginTop,
                            cards[0].naturalHeight]; }""")
                assert shown[0] in ("0px", "-0px") and shown[2] == int(shown[1].strip("-px")) + A.THUMB
        finally:
            browser.close()
