"""The ``activations`` command of ``python -m utils``: one module's branch feature maps for a photo."""

from __future__ import annotations

import argparse

from ..cli_checks import existing_file, int_in, output_file, weights_env
from ..network.hooks import INCEPTION_MODULES, branch_names
from ..results.images import FITS, read_image
from ..training.pretrained import load_model
from .explorer import draw_branches

DESCRIPTION = """\
Draw what the four branches of one Inception module (§4, Figure 2(b): 1x1, 3x3, 5x5, pool projection)
compute for a photo. The figure shows the photo with the part the network saw outlined (--fit: the
centre square, or the whole photo squeezed or padded to a square), the square the network was given,
and the strongest feature maps of each branch (ranked by mean activation), every map labelled with its
channel index and read on one colour bar. Its title names the module, the branch, the weights and the
input size. Weights: BVLC's GoogLeNet if converted, else torchvision's ImageNet weights, else the
Imagenette model shipped with the project (or the file given with --weights).
"""

EXAMPLE = "example: python -m utils activations --image cat.jpg --module inception3a --out branches.png"


def _cli(args: argparse.Namespace) -> int:
    image = read_image(args.image)
    branch_names(args.module)  # fail on a bad module before loading any weights
    out = output_file(args.out, inputs=(args.image,))
    if args.weights is not None:
        existing_file(args.weights, "--weights")
    weights_env()
    if out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".pdf", ".svg"}:
        raise ValueError(f"--out {str(out)!r} needs a .png, .jpg, .pdf or .svg suffix")
    model, info = load_model(args.weights)
    fig = draw_branches(model, image, args.module, info, args.branch, k=args.channels, fit=args.fit)
    fig.savefig(out, dpi=90)
    print(f"wrote {out} ({info['source']}; input {info['image_size']} px, {args.fit})")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("activations", help="draw the branch feature maps of one Inception module for a photo",
                              description=DESCRIPTION, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", required=True, help="the photo (JPEG, PNG, ...), any size and shape")
    p.add_argument("--module", required=True, help=f"one of {', '.join(INCEPTION_MODULES)}")
    p.add_argument("--branch", type=int_in(1, 4), default=None,
                   help="1..4 (1x1, 3x3, 5x5, pool proj); default: the four branches side by side")
    p.add_argument("--channels", type=int_in(1, 64), default=None,
                   help="strongest channels per branch (default 8 for four branches, 32 for one)")
    p.add_argument("--fit", choices=FITS, default="crop",
                   help="how a photo that is not square becomes the square input: the centre square (crop, "
                        "default; the sides are cut off), the whole photo stretched (squeeze) or shrunk onto "
                        "a background (pad)")
    p.add_argument("--weights", default=None,
                   help="GoogLeNet weights (torchvision layout); "
                        "default: BVLC's, else torchvision's ImageNet weights, else the shipped model")
    p.add_argument("--out", required=True, help="figure to write, e.g. branches.png")
    p.set_defaults(func=_cli)
