"""The ``activations`` command of ``python -m utils``: one module's branch feature maps for an image."""

from __future__ import annotations

import argparse

from ..cli_checks import existing_file, int_in, output_file, weights_env
from ..network.pretrained import load_model
from ..results.hooks import INCEPTION_MODULES, branch_names
from ..results.images import read_image
from .explorer import draw_branches


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
    fig = draw_branches(model, image, args.module, info, args.branch)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    print(f"wrote {out} ({info['weights']})")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("activations", help="draw the branch feature maps of one Inception module for an image")
    p.add_argument("--image", required=True, help="image file (JPEG, PNG, ...)")
    p.add_argument("--module", required=True, help=f"one of {', '.join(INCEPTION_MODULES)}")
    p.add_argument("--branch", type=int_in(1, 4), default=None,
                   help="1..4 (1x1, 3x3, 5x5, pool proj); default: the four branches side by side")
    p.add_argument("--weights", default=None,
                   help="GoogLeNet weights (torchvision layout); "
                        "default: what utils.network.pretrained.find_weights finds")
    p.add_argument("--out", required=True, help="figure to write, e.g. branches.png")
    p.set_defaults(func=_cli)
