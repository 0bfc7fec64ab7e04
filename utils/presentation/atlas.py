"""An atlas of every channel of every Inception branch (§4, Figure 2(b); §5, Table 1), as HTML pages.

``python -m utils atlas`` runs the network once over Imagenette's validation photos and writes, for every
module and each of its four branches and the 1x1 reductions in front of the 3x3 and 5x5 convolutions,
every channel with

* its dataset examples: the patches of the photos where it fires most (one per photo), as thumbnails;
* its statistics: dead (never positive on any photo) or alive, the mean activation, and its colour
  dependence (how much of its peak response it loses when the photos lose their colour; the measure
  of :func:`utils.results.photo_results.colour_dependence`);

and, for every branch, its share of the module's multiply-adds (:func:`utils.measuring.profiling.layer_costs`).
OpenAI's Microscope showed the same kind of pages for InceptionV1 online; this writes them offline, for
whichever network :func:`utils.training.pretrained.reader_model` finds (BVLC's weights first).

One recorded pass: each batch of photos runs together with its desaturated copy, the forward pass stops
after the last module asked for, and per channel only running sums and the top photos are kept. The
thumbnails of one layer are one JPEG (a row per channel), so the atlas is a few files per module.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..network.hooks import BRANCH_LABELS, INCEPTION_MODULES
from ..network.images import normalise, resize, to_float
from ..paths import ASSETS, NOTEBOOKS, PAPER_NOTES, ROOT
from ..results.photo_results import LUMA

DEFAULT_OUT = ROOT / "build" / "atlas"
MARKER = "atlas.json"  # written into every atlas folder; a folder without it is never emptied
THUMB = 32  # thumbnail side in pixels
PATCH_FACTOR = 4  # a patch is this many map cells wide (4 x the layer's stride), at most the whole photo


@dataclass(frozen=True)
class AtlasLayer:
    """One recorded layer: ``name`` (a module path), its ``kind`` (branch or reduction) and a label."""

    module: str
    name: str
    branch: str
    label: str

    @property
    def anchor(self) -> str:
        return self.name.split(".", 1)[1].replace(".0", "-reduce")


def atlas_layers(module: str, variant: str = "paper") -> list[AtlasLayer]:
    """Every layer of a module the atlas shows: the four branches and the two 1x1 reductions, in
    Figure 2(b)'s order (a reduction just before the branch it feeds)."""
    if module not in INCEPTION_MODULES:
        raise ValueError(f"unknown Inception module {module!r}; choose from {', '.join(INCEPTION_MODULES)}")
    five = "3x3" if variant == "torchvision" else BRANCH_LABELS["branch3"]  # vision#906
    return [AtlasLayer(module, f"{module}.branch1", "branch1", "branch1 (1x1)"),
            AtlasLayer(module, f"{module}.branch2.0", "branch2", "branch2's 1x1 reduction (#3x3 reduce)"),
            AtlasLayer(module, f"{module}.branch2", "branch2", "branch2 (3x3)"),
            AtlasLayer(module, f"{module}.branch3.0", "branch3", f"branch3's 1x1 reduction (#{five} reduce)"),
            AtlasLayer(module, f"{module}.branch3", "branch3", f"branch3 ({five})"),
            AtlasLayer(module, f"{module}.branch4", "branch4", "branch4 (pool proj)")]


# ----------------------------------------------------------------------------- the recorded pass
@dataclass
class ChannelStats:
    """Running statistics of one layer's channels over the photos (see :func:`record_atlas`)."""

    top: int
    sum_mean: torch.Tensor = None  # sum over photos of each channel's mean over the map
    peak_colour: torch.Tensor = None  # sum over photos of each channel's peak, colour photos
    peak_gray: torch.Tensor = None  # the same on the desaturated photos
    peak: torch.Tensor = None  # largest value over every photo and position
    best: torch.Tensor = None  # (C, top) peak values of the best photos
    where: torch.Tensor = None  # (C, top, 3): photo index, row, column of each
    map_hw: tuple[int, int] = (0, 0)
    photos: int = 0

    def add(self, colour: torch.Tensor, gray: torch.Tensor, first: int) -> None:
        n, c, h, w = colour.shape
        flat = colour.flatten(2)
        peaks, pos = flat.max(2)  # (N, C): each photo's strongest position per channel
        if self.sum_mean is None:
            self.sum_mean, self.peak_colour, self.peak_gray = (torch.zeros(c, dtype=torch.float64) for _ in range(3))
            self.peak = torch.full((c,), -torch.inf)
            self.best = torch.empty(c, 0)
            self.where = torch.empty(c, 0, 3, dtype=torch.long)
            self.map_hw = (h, w)
        self.sum_mean += flat.mean(2).double().sum(0)
        self.peak_colour += peaks.double().sum(0)
        self.peak_gray += gray.flatten(2).amax(2).double().sum(0)
        self.peak = torch.maximum(self.peak, peaks.amax(0))
        where = torch.stack([torch.arange(first, first + n).expand(c, n), (pos // w).T, (pos % w).T], dim=2)
        values = torch.cat([self.best, peaks.T], dim=1)
        keep = values.topk(min(self.top, values.shape[1]), dim=1).indices  # one patch per photo at most
        self.best = values.gather(1, keep)
        self.where = torch.cat([self.where, where], dim=1).gather(1, keep[..., None].expand(-1, -1, 3))
        self.photos += n

    def table(self) -> dict[str, np.ndarray]:
        """Per channel: ``mean``, ``dead`` (never positive), ``colour_dependence`` (NaN when dead)."""
        colour = self.peak_colour / self.photos
        alive = self.peak > 0
        dependence = torch.where(colour > 1e-6, 1 - (self.peak_gray / self.photos) / colour.clamp_min(1e-12),
                                 torch.tensor(float("nan"), dtype=torch.float64))
        return {"mean": (self.sum_mean / self.photos).numpy(), "dead": (~alive).numpy(),
                "colour_dependence": dependence.numpy()}


class _Done(Exception):
    """Raised by the last hook: the layers after it are not needed."""


def _desaturate(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> each pixel's luma on all three channels (ITU-R BT.601)."""
    gray = torch.einsum("nchw,c->nhw", x, torch.tensor(LUMA, dtype=x.dtype))
    return gray[:, None].expand(-1, 3, -1, -1)


@torch.no_grad()
def record_atlas(model: nn.Module, photos: torch.Tensor, names: list[str], mean, std, top: int = 5,
                 batch_size: int = 32, progress: bool = True) -> dict[str, ChannelStats]:
    """One pass over ``photos`` (uint8 (N, 3, S, S)) and their desaturated copies, recording ``names``.

    Returns ``name -> ChannelStats`` with each channel's ``top`` best photos (by peak value, one position
    per photo) and its running statistics. The forward pass stops once every name has been recorded.
    """
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; the atlas records branches such as 'inception3a.branch2.0'")
    stats = {n: ChannelStats(top) for n in names}
    store: dict[str, torch.Tensor] = {}

    def hook_for(name):
        def hook(_m, _i, out):
            store[name] = out.detach().float()
            if len(store) == len(names):
                raise _Done
        return hook

    was_training = model.training
    model.eval()
    handles = [modules[n].register_forward_hook(hook_for(n)) for n in names]
    try:
        for start in tqdm(range(0, len(photos), batch_size), desc=f"atlas: {len(photos)} photos",
                          disable=not progress):
            x = to_float(photos[start:start + batch_size])
            both = torch.cat([x, _desaturate(x)])
            if len(mean) == 1:  # a grayscale model sees the luminance
                both = both.mean(1, keepdim=True)
            store.clear()
            try:
                model(normalise(both, mean, std))
            except _Done:
                pass
            n = len(x)
            for name in names:
                out = store[name]
                stats[name].add(out[:n], out[n:], start)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return stats


# ----------------------------------------------------------------------------- thumbnails
def patch_box(row: int, col: int, map_hw: tuple[int, int], image_size: int, factor: int = PATCH_FACTOR):
    """(top, left, side) of the square patch centred on map cell (row, col), clipped to the photo."""
    h, w = map_hw
    side = min(image_size, int(round(factor * image_size / w)))
    cy, cx = (row + 0.5) * image_size / h, (col + 0.5) * image_size / w
    top = int(np.clip(round(cy - side / 2), 0, image_size - side))
    left = int(np.clip(round(cx - side / 2), 0, image_size - side))
    return top, left, side


def sprite(stats: ChannelStats, photos: torch.Tensor, thumb: int = THUMB, chunk: int = 256) -> np.ndarray:
    """All channels' dataset examples as one uint8 image: row c holds channel c's patches, best first.

    Every patch of a layer has the same side, so instead of resizing each patch, the photos it needs are
    resized once by ``thumb / side`` (antialiased) and the thumbnails cut from them.
    """
    c, k = stats.best.shape
    size = photos.shape[-1]
    side = patch_box(0, 0, stats.map_hw, size)[2]
    small = max(thumb, round(size * thumb / side))
    scale = small / size
    needed = torch.unique(stats.where[..., 0])
    lookup = {int(i): j for j, i in enumerate(needed.tolist())}
    resized = torch.cat([resize(photos[needed[i:i + chunk]].float(), (small, small)).round_().clamp_(0, 255).byte()
                         for i in range(0, len(needed), chunk)])
    out = torch.full((3, c * thumb, stats.top * thumb), 255, dtype=torch.uint8)
    for ch in range(c):
        for j in range(k):
            i, row, col = stats.where[ch, j].tolist()
            top, left, _ = patch_box(row, col, stats.map_hw, size)
            y = min(round(top * scale), small - thumb)
            x = min(round(left * scale), small - thumb)
            out[:, ch * thumb:(ch + 1) * thumb, j * thumb:(j + 1) * thumb] = resized[lookup[i], :, y:y + thumb,
                                                                                     x:x + thumb]
    return out.permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------- the pages
CSS = """
body { font-family: system-ui, -apple-system, "Noto Sans KR", sans-serif; margin: 1rem 2rem; color: #222; }
nav.atlas { position: sticky; top: 0; background: #fff; padding: .4rem 0; border-bottom: 1px solid #ddd; }
nav.atlas a { margin-right: .8rem; } nav.atlas .here { font-weight: bold; }
.grid { display: flex; flex-wrap: wrap; gap: .4rem; }
section, .ch { scroll-margin-top: 5rem; }  /* a jump to an anchor lands below the sticky nav */
.ch { border: 1px solid #ddd; padding: 2px; font-size: .72rem; width: %(strip)dpx; }
.ch.dead { background: #f3f3f3; color: #999; }
.strip { height: %(thumb)dpx; overflow: hidden; }
.strip img { display: block; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .15rem .45rem; }
"""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _page(title: str, body: str, nav: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="atlas.css"></head><body>{nav}\n{body}\n</body></html>\n')


def _nav(modules: list[str], here: str | None, layers: list[AtlasLayer] = ()) -> str:
    links = ['<a href="index.html"' + (' class="here"' if here is None else "") + ">atlas index</a>"]
    links += [f'<a href="{m}.html"' + (' class="here"' if m == here else "") + f">{m}</a>" for m in modules]
    inner = " ".join(f'<a href="#{lay.anchor}">{html.escape(lay.label)}</a>' for lay in layers)
    return f'<nav class="atlas">{" ".join(links)}' + (f"<br><small>{inner}</small>" if inner else "") + "</nav>"


def _costs(variant: str, image_size: int) -> dict[str, int]:
    from ..measuring.profiling import layer_costs

    costs = {}
    for c in layer_costs(variant, image_size):
        costs[c.name] = costs.get(c.name, 0) + c.macs
    return costs


def _layer_costs(layer: AtlasLayer, costs: dict[str, int]) -> tuple[int, int, int]:
    """(this layer's MACs, its whole branch's MACs, the module's MACs), from the per-layer costs."""
    def total(prefix: str) -> int:
        return sum(v for k, v in costs.items() if k == prefix or k.startswith(prefix + "."))

    branch = f"{layer.module}.{layer.branch}"
    own = costs.get(layer.name, 0) if layer.name in costs else costs.get(layer.name + ".1", 0)
    return own, total(branch), total(layer.module)


def write_atlas(model: nn.Module, info: dict, photos: torch.Tensor, out: str | Path = DEFAULT_OUT,
                modules=INCEPTION_MODULES, photos_text: str = "", top: int = 5, batch_size: int = 32,
                progress: bool = True) -> dict:
    """Record ``photos`` and write the atlas into ``out`` (which must be new, empty, or an earlier atlas).

    Args:
        info: the model's description (a :class:`~utils.network.weights_info.WeightsInfo`, or a mapping with its
            ``source``, ``variant``, ``image_size``, ``mean``, ``std``).
        photos: uint8 (N, 3, S, S) at the model's input size.
        photos_text: one line saying which photos these are (printed on every page).

    Returns:
        The summary written to ``out/atlas.json``: weights, photos, and per layer its channels, dead
        channels and multiply-adds.
    """
    out = _prepare(out)
    modules = list(modules)
    layers = {m: atlas_layers(m, info.get("variant", "paper")) for m in modules}
    names = [lay.name for m in modules for lay in layers[m]]
    stats = record_atlas(model, photos, names, info["mean"], info["std"], top, batch_size, progress)
    costs = _costs(info.get("variant", "paper"), int(info["image_size"]))
    weights = info.get("source") or "?"
    about = (f"<p><b>Weights:</b> {html.escape(weights)}<br><b>Photos:</b> {html.escape(photos_text)} "
             f"({len(photos)} photos at {photos.shape[-1]} px, each with a desaturated copy for the colour "
             f"measure)</p>")
    (out / "sprites").mkdir()
    (out / "atlas.css").write_text(CSS % {"strip": top * THUMB + 4, "thumb": THUMB}, encoding="utf-8")
    summary = {"weights": weights, "photos": photos_text, "num_photos": len(photos), "top": top,
               "thumb": THUMB, "modules": {}}
    from PIL import Image

    for m in tqdm(modules, desc="atlas pages", disable=not progress):
        sections, rows = [], []
        for lay in layers[m]:
            s = stats[lay.name]
            Image.fromarray(sprite(s, photos)).save(out / "sprites" / f"{lay.name}.jpg", quality=82)
            table = s.table()
            own, branch, module = _layer_costs(lay, costs)
            dead = np.flatnonzero(table["dead"]).tolist()
            rows.append({"name": lay.name, "label": lay.label, "channels": len(table["dead"]), "dead": dead,
                         "macs": own, "branch_macs": branch, "module_macs": module})
            sections.append(_section(lay, s, table, own, branch, module))
        summary["modules"][m] = rows
        body = (f"<h1>{m}: every channel of its branches</h1>{about}{_how_to_read()}" + "".join(sections))
        (out / f"{m}.html").write_text(_page(f"atlas: {m}", body, _nav(modules, m, layers[m])), encoding="utf-8")
    (out / "index.html").write_text(_index(summary, modules, about), encoding="utf-8")
    (out / MARKER).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def _how_to_read() -> str:
    return ("<p><small>Each card is one channel: its strongest patches in the photos (one per photo, strongest "
            "first; a patch is four map cells wide), then its mean activation and its colour dependence (the "
            "share of its peak response lost when the photos lose their colour; 0: colour does not matter). "
            "A grey card is a dead channel: never positive on any photo.<br>각 카드는 채널 하나입니다: 가장 강하게 "
            "반응한 사진 조각(사진마다 하나, 강한 순), 평균 활성값, 색 의존도(사진에서 색을 빼면 잃는 최대 반응의 "
            "비율). 회색 카드는 어떤 사진에서도 양수가 되지 않은 죽은 채널입니다.</small></p>")


def _section(lay: AtlasLayer, s: ChannelStats, table: dict, own: int, branch: int, module: int) -> str:
    n = len(table["dead"])
    dead = int(table["dead"].sum())
    if lay.name.endswith(".0"):
        cost = (f"{own / 1e6:.1f} M multiply-adds: {_pct(own / module)} of the module's, part of {lay.branch}'s "
                f"{_pct(branch / module)}")
    else:
        cost = (f"{lay.branch} costs {_pct(branch / module)} of the module's multiply-adds ({branch / 1e6:.1f} M"
                + (f", its 1x1 reduction included; this convolution {own / 1e6:.1f} M" if own != branch else "")
                + ")")
    h, w = s.map_hw
    sprite_src = f"sprites/{lay.name}.jpg"
    cards = []
    for c in range(n):
        is_dead = bool(table["dead"][c])
        dep = table["colour_dependence"][c]
        text = (f"ch {c} · dead" if is_dead else
                f"ch {c} · mean {table['mean'][c]:.3g} · colour {dep:.2f}")
        cards.append(f'<div class="ch{" dead" if is_dead else ""}" id="{lay.anchor}-{c}" data-channel="{c}">'
                     f'<div class="strip"><img src="{sprite_src}" alt="{html.escape(lay.name)} channel {c}" '
                     f'style="margin-top:-{c * THUMB}px" width="{s.top * THUMB}"></div>{text}</div>')
    return (f'<section id="{lay.anchor}" data-layer="{html.escape(lay.name)}" data-channels="{n}">'
            f"<h2>{html.escape(lay.label)} <small>({lay.name})</small></h2>"
            f"<p>{n} channels on a {h}x{w} map; {dead} dead, {n - dead} alive. {cost}.</p>"
            f'<div class="grid">{"".join(cards)}</div></section>')


def _index(summary: dict, modules: list[str], about: str) -> str:
    rows = []
    for m in modules:
        for r in summary["modules"][m]:
            anchor = r["name"].split(".", 1)[1].replace(".0", "-reduce")
            rows.append(f'<tr><td><a href="{m}.html">{m}</a></td><td><a href="{m}.html#{anchor}">'
                        f'{html.escape(r["label"])}</a></td><td>{r["channels"]}</td><td>{len(r["dead"])}</td>'
                        f'<td>{_pct(r["branch_macs"] / r["module_macs"])}</td></tr>')
    body = ("<h1>Atlas of every channel of GoogLeNet's Inception branches (§4, Figure 2(b))</h1>"
            "<p>모든 인셉션 브랜치의 모든 채널 도감: 각 채널이 검증 사진에서 가장 강하게 반응한 조각과 통계.</p>"
            f"{about}<table><tr><th>module</th><th>layer</th><th>channels</th><th>dead</th>"
            "<th>branch's share of the module's multiply-adds</th></tr>" + "".join(rows) + "</table>")
    return _page("atlas of every channel", body, _nav(modules, None))


def _prepare(out: str | Path) -> Path:
    """``out`` ready to write: created if new; emptied only if it is an earlier atlas (it holds ``atlas.json``)."""
    out = Path(out)
    protected = {p.resolve() for p in (ROOT, ASSETS, NOTEBOOKS, PAPER_NOTES, ROOT / "utils", ROOT / "tests")}
    if out.resolve() in protected:
        raise ValueError(f"--out {out} is one of the project's own folders; choose e.g. build/atlas")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder for the atlas")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise ValueError(f"--out {out} is a folder with other files in it; the atlas only replaces an earlier "
                             f"atlas (a folder with {MARKER}). Choose a new or empty folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ----------------------------------------------------------------------------- photos, the book, the command
def atlas_photos(image_size: int, num: int | None = None, data=None, progress: bool = True):
    """Imagenette's validation photos at ``image_size`` (each one's centre square), and a line saying which.

    ``num``: a seeded subset (:func:`utils.results.photo_results.validation_photos`); None: all of them,
    through the decoded-photo cache of :func:`utils.training.imagenette.load_split`.
    """
    from ..results.photo_results import GET_PHOTOS, validation_photos
    from ..training import imagenette

    folder = imagenette.find(data)
    if folder is None:
        raise FileNotFoundError(GET_PHOTOS)
    if num is None:
        photos, _ = imagenette.load_split(folder, "val", image_size, progress=progress)
        what = f"all of Imagenette's validation photos ({folder / 'val'})"
    else:
        photos, _ = validation_photos(image_size, num=num, data=data, progress=progress)
        what = f"a seeded subset (seed 0) of Imagenette's validation photos ({folder / 'val'})"
    return photos, what


def book_atlas(out: Path, quick: bool = False, progress: bool = True) -> dict | None:
    """The inception (3a) pages of the atlas for the book; ``None`` (and a line saying why) without photos."""
    from ..training.pretrained import reader_model

    model, info = reader_model()
    try:
        photos, what = atlas_photos(int(info["image_size"]), num=400 if quick else None, progress=progress)
    except FileNotFoundError as exc:
        print(f"atlas: skipped ({exc})")
        return None
    return write_atlas(model, info, photos, out, modules=["inception3a"], photos_text=what, progress=progress)


def _cli(args: argparse.Namespace) -> int:
    from ..cli_checks import existing_file, weights_env
    from ..training.pretrained import load_model

    modules = args.modules or list(INCEPTION_MODULES)
    for m in modules:
        atlas_layers(m)  # a bad name fails before any loading
    _prepare_check(args.out)
    if args.weights is not None:
        existing_file(args.weights, "--weights")
    weights_env()
    model, info = load_model(args.weights)
    photos, what = atlas_photos(int(info["image_size"]), num=args.photos, data=args.data)
    summary = write_atlas(model, info, photos, args.out, modules, what, top=args.top, batch_size=args.batch_size)
    channels = sum(r["channels"] for rows in summary["modules"].values() for r in rows)
    print(f"wrote {Path(args.out) / 'index.html'}: {channels} channels of {len(modules)} modules, "
          f"{summary['num_photos']} photos ({summary['weights']})")
    return 0


def _prepare_check(out) -> None:
    """The checks of :func:`_prepare` without writing anything (run before the model is loaded)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder for the atlas")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(f"--out {out} is a folder with other files in it; the atlas only replaces an earlier "
                         f"atlas (a folder with {MARKER}). Choose a new or empty folder")


def add_cli(subparsers) -> None:
    from ..cli_checks import int_in, positive_int

    p = subparsers.add_parser(
        "atlas", help="write a browsable HTML atlas of every channel of every Inception branch",
        description="Run the network once over Imagenette's validation photos and write HTML pages: for every "
                    "module, its four branches and their 1x1 reductions, every channel with its strongest "
                    "patches (dataset examples), dead or alive, mean activation and colour dependence, and each "
                    "branch's share of the module's multiply-adds. The pages name the weights and the photos.",
        epilog="example: python -m utils atlas --photos 500 --modules inception3a inception4a --out build/atlas")
    p.add_argument("--out", default=str(DEFAULT_OUT),
                   help="folder to write (new, empty, or an earlier atlas; default build/atlas in the project)")
    p.add_argument("--modules", nargs="+", default=None, metavar="MODULE",
                   help=f"modules to include (default all nine: {', '.join(INCEPTION_MODULES)})")
    p.add_argument("--photos", type=positive_int, default=None,
                   help="a seeded subset of this many validation photos (quick); default all 3,925")
    p.add_argument("--top", type=int_in(1, 12), default=5, help="dataset examples per channel (default 5)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="photos per forward pass (default 32)")
    p.add_argument("--data", default=None,
                   help="Imagenette folder (train/ and val/); default: found where training finds it")
    p.add_argument("--weights", default=None,
                   help="GoogLeNet weights (torchvision layout); default: BVLC's, else torchvision's, else shipped")
    p.set_defaults(func=_cli)
