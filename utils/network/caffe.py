"""BVLC's GoogLeNet in PyTorch: read a ``.caffemodel``, convert it to the paper variant, preprocess as Caffe did.

BVLC's ``bvlc_googlenet`` (``models/bvlc_googlenet`` in the BVLC/caffe repository) is the public Caffe
replication of the network of §5, Table 1 and Figure 3: true 5x5 branches, two LRN layers, no batch
norm, the two auxiliary classifiers. Its readme reports 68.7% top-1 / 88.9% top-5 accuracy on the
ILSVRC 2012 validation set with a single centre crop, and releases the weights for unrestricted use.
Its layers map one to one onto ``googlenet("paper", num_classes=1000, aux_logits=True)``: all 128
tensors, :data:`BVLC_LAYERS`.

Three pieces, one per step of getting those weights into this project:

* :func:`read_caffemodel` reads the binary ``NetParameter`` protobuf, in the current format
  (``layer``, field 100) and in the legacy V1 format (``layers``, field 2).
* :func:`convert_caffemodel` maps BVLC's layer names onto the paper variant's state dict and flips
  conv1 from Caffe's BGR input to RGB; :class:`CaffePreprocess` is the input transform that goes with
  the converted weights (0-255 pixels minus BVLC's mean, no std).
* :func:`download_bvlc` fetches the file from the model zoo, checks its SHA-1, converts it and caches
  the result; :func:`load_bvlc_googlenet` gives the ready model.

Class indices are Caffe's ``synset_words.txt`` order, ImageNet's WordNet ids sorted, the same order
as torchvision's ImageNet categories.
"""

from __future__ import annotations

import http.client
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import file_digest, save_atomically
from . import arch
from .model import GoogLeNet, googlenet

BVLC_URL = "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
BVLC_SHA1 = "405fc5acd08a3bb12de8ee5e23a96bec22f08204"  # models/bvlc_googlenet/readme.md
BVLC_BYTES = 53_533_754  # the size of that file; sets the download's deadline when the server gives none
# A download must average at least this rate after a grace period, else it is given up (a server that
# trickles a byte every few seconds never trips a per-read timeout). At 64 KiB/s BVLC's file takes 14 min.
MIN_BYTES_PER_S = 64 * 1024
GRACE_S = 120.0
CAFFEMODEL_NAME = "bvlc_googlenet.caffemodel"
CONVERTED_NAME = "bvlc_googlenet.pt"

# bvlc_googlenet/train_val.prototxt: mean_value 104, 117, 123 (B, G, R) on 0-255 pixels, no scale.
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)
CAFFE_MEAN_RGB = CAFFE_MEAN_BGR[::-1]
# The same transform in the (mean, std) convention of RGB images in [0, 1] that utils.results.activations and
# torchvision's Normalize use: (x - m/255) / (1/255) = 255 x - m, equal up to float rounding.
CAFFE_MEAN = tuple(m / 255.0 for m in CAFFE_MEAN_RGB)
CAFFE_STD = (1 / 255.0,) * 3


class CaffeModelError(ValueError):
    """A file that is not a readable BVLC GoogLeNet caffemodel; the message says what is wrong."""


# ----------------------------------------------------------------------------- layer names
def _bvlc_layers() -> dict[str, str]:
    """BVLC layer name -> module of the paper variant (weight and bias), in the network's order."""
    layers = {"conv1/7x7_s2": "conv1.conv",
              "conv2/3x3_reduce": "conv2.conv",  # Table 1's "#3×3 reduce" of the second stage
              "conv2/3x3": "conv3.conv"}
    branches = {"1x1": "branch1", "3x3_reduce": "branch2.0", "3x3": "branch2.1",
                "5x5_reduce": "branch3.0", "5x5": "branch3.1", "pool_proj": "branch4.1"}
    aux_of = {module: aux for aux, module in arch.AUX_ON.items()}
    for key in arch.INCEPTION_KEYS:
        caffe_key = "inception_" + key.removeprefix("inception")
        layers.update({f"{caffe_key}/{b}": f"{key}.{m}.conv" for b, m in branches.items()})
        if key in aux_of:  # BVLC names its heads loss1 (on 4a) and loss2 (on 4d); the main one is loss3
            aux, loss = aux_of[key], "loss" + aux_of[key][-1]
            layers.update({f"{loss}/conv": f"{aux}.conv.conv", f"{loss}/fc": f"{aux}.fc1",
                           f"{loss}/classifier": f"{aux}.fc2"})
    layers["loss3/classifier"] = "fc"
    return layers


BVLC_LAYERS: dict[str, str] = _bvlc_layers()


# ----------------------------------------------------------------------------- protobuf wire format
# A reader of our own rather than the protobuf package: we need five messages and a dozen fields,
# the wire format is short to decode, and the project gains no compiled dependency or generated
# schema. Packed float arrays are read with numpy in one call, so a 50 MB file takes well under a second.
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: memoryview, pos: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CaffeModelError(f"truncated: {where} ends inside a number")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CaffeModelError(f"corrupt: {where} has a number longer than 10 bytes")


def _fields(buf: memoryview, where: str):
    """Yield ``(field number, wire type, value)``: an int for numbers, a memoryview for bytes."""
    pos = 0
    while pos < len(buf):
        start = pos
        tag, pos = _varint(buf, pos, where)
        number, wire = tag >> 3, tag & 7
        if number == 0 or wire not in (_VARINT, _FIXED64, _BYTES, _FIXED32):
            raise CaffeModelError(f"corrupt: {where} has an invalid field tag {tag} at byte {start} "
                                  "(not a binary protobuf)")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, where)
        elif wire == _BYTES:
            size, pos = _varint(buf, pos, where)
            if pos + size > len(buf):
                raise CaffeModelError(f"truncated: {where} announces {size} bytes at byte {pos}, "
                                      f"only {len(buf) - pos} are left")
            value = buf[pos:pos + size]
            pos += size
        else:
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(buf):
                raise CaffeModelError(f"truncated: {where} ends inside a {width * 8}-bit value")
            value = buf[pos:pos + width]
            pos += width
        yield number, wire, value


def _numbers(value, wire: int, dtype: str, where: str) -> np.ndarray:
    """A repeated numeric field: packed (bytes) or one element per field."""
    if wire == _BYTES:
        itemsize = np.dtype(dtype).itemsize
        if dtype.endswith(("f4", "f8")):
            if len(value) % itemsize:
                raise CaffeModelError(f"corrupt: {where} holds {len(value)} bytes, not a whole number "
                                      f"of {itemsize}-byte values")
            return np.frombuffer(value, dtype=dtype)
        out, pos = [], 0
        while pos < len(value):
            v, pos = _varint(value, pos, where)
            out.append(v)
        return np.array(out, dtype=np.int64)
    if wire in (_FIXED32, _FIXED64):
        return np.frombuffer(value, dtype=dtype)
    return np.array([value], dtype=np.int64)


def _read_blob(buf: memoryview, where: str) -> np.ndarray:
    """BlobProto: ``shape`` (7, BlobShape.dim = 1) or legacy num/channels/height/width (1-4);
    ``data`` (5, float) or ``double_data`` (8)."""
    shape, legacy, chunks = None, [0, 0, 0, 0], []
    for number, wire, value in _fields(buf, where):
        if number == 7 and wire == _BYTES:
            shape = [int(d) for n, w, v in _fields(value, where + " shape") if n == 1
                     for d in _numbers(v, w, "<i8", where + " shape")]
        elif number in (1, 2, 3, 4) and wire == _VARINT:
            legacy[number - 1] = value
        elif number == 5:
            chunks.append(_numbers(value, wire, "<f4", where + " data"))
        elif number == 8:
            chunks.append(_numbers(value, wire, "<f8", where + " double data").astype(np.float32))
    data = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if shape is None:
        shape = legacy  # V1: a 4-D num x channels x height x width; an fc weight is 1 x 1 x M x N
    if int(np.prod(shape)) != data.size:
        raise CaffeModelError(f"corrupt: {where} has shape {tuple(shape)} but holds {data.size} values")
    return data.reshape(shape)


def read_caffemodel(data: bytes) -> dict[str, list[np.ndarray]]:
    """The weights of a binary Caffe ``NetParameter``: layer name -> its blobs, layers without blobs left out.

    Reads ``layer`` (field 100, LayerParameter: name 1, blobs 7) and the legacy ``layers`` (field 2,
    V1LayerParameter: name 4, blobs 6); everything else (types, parameters, bottoms, tops) is skipped.

    Raises:
        CaffeModelError: truncated or corrupt data, a layer with weights named twice, or no layers.
    """
    head = bytes(data[:256])
    if head and all(32 <= c < 127 or c in b"\t\r\n" for c in head):
        raise CaffeModelError("is text, not a binary .caffemodel (a .prototxt describes the net; "
                              "the weights are in the .caffemodel)")
    buf = memoryview(data)
    found: dict[str, list[np.ndarray]] = {}
    num_layers = 0
    for number, wire, value in _fields(buf, "the net"):
        if wire != _BYTES or number not in (100, 2):
            continue
        name_field, blobs_field = (1, 7) if number == 100 else (4, 6)
        num_layers += 1
        where = f"layer #{num_layers}"
        name, raw_blobs = None, []
        for n, w, v in _fields(value, where):
            if n == name_field and w == _BYTES:
                name = bytes(v).decode("utf-8", errors="replace")
            elif n == blobs_field and w == _BYTES:
                raw_blobs.append(v)
        if not raw_blobs:
            continue
        where = f"layer {name!r}"
        if name is None or name in found:
            raise CaffeModelError(f"corrupt: {where} with weights is {'unnamed' if name is None else 'named twice'}")
        found[name] = [_read_blob(b, f"{where} blob {i}") for i, b in enumerate(raw_blobs)]
    if num_layers == 0:
        raise CaffeModelError("holds no Caffe layers: not a binary .caffemodel (a .prototxt is the text "
                              "description, not the weights)")
    return found


# ----------------------------------------------------------------------------- conversion
def _squeeze_leading(shape) -> tuple[int, ...]:
    shape = tuple(shape)
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def caffe_to_state_dict(blobs: dict[str, list[np.ndarray]]) -> dict[str, torch.Tensor]:
    """BVLC blobs -> the state dict of ``googlenet("paper", num_classes=1000, aux_logits=True)``.

    Caffe stores conv weights as out x in x kh x kw and fc weights as out x in, as PyTorch does; a
    legacy fc weight (1 x 1 x out x in) or bias (1 x 1 x 1 x out) only has extra leading ones.
    conv1's input channels are reversed, so the converted network takes RGB where BVLC's took BGR.

    Raises:
        CaffeModelError: a missing layer, a layer without weight and bias, or a shape that does not fit.
    """
    with torch.device("meta"):  # shapes only; no memory, no initialisation cost
        target = googlenet("paper", num_classes=1000, aux_logits=True).state_dict()
    missing = [name for name in BVLC_LAYERS if name not in blobs]
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise CaffeModelError(f"not BVLC's GoogLeNet: layer {', '.join(map(repr, missing[:3]))}{more} is missing "
                              f"({len(blobs)} layers with weights found)")
    out: dict[str, torch.Tensor] = {}
    for name, module in BVLC_LAYERS.items():
        if len(blobs[name]) != 2:
            raise CaffeModelError(f"layer {name!r} has {len(blobs[name])} blobs; expected weight and bias")
        for blob, suffix in zip(blobs[name], ("weight", "bias"), strict=True):
            key = f"{module}.{suffix}"
            shape = tuple(target[key].shape)
            if _squeeze_leading(blob.shape) != _squeeze_leading(shape):
                raise CaffeModelError(f"layer {name!r} {suffix} has shape {tuple(blob.shape)}; "
                                      f"{key} needs {shape}")
            out[key] = torch.from_numpy(np.array(blob, dtype=np.float32).reshape(shape))
    out["conv1.conv.weight"] = out["conv1.conv.weight"].flip(1).contiguous()  # BGR -> RGB input channels
    assert list(out) != [] and set(out) == set(target), "BVLC_LAYERS does not cover the paper variant"
    return {k: out[k] for k in target}


def _same_file(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.samefile(b) or a.resolve() == b.resolve()


def convert_caffemodel(src: str | os.PathLike, dst: str | os.PathLike,
                       overwrite: bool = False) -> dict[str, torch.Tensor]:
    """Convert BVLC's ``bvlc_googlenet.caffemodel`` to a PyTorch state dict at ``dst`` (written atomically).

    Load the result with ``googlenet("paper")`` and feed it :class:`CaffePreprocess`-ed RGB images.
    An existing ``dst`` is replaced only with ``overwrite``; ``dst`` is never ``src``.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: ``src`` is a folder; ``dst`` is ``src``, a folder, or an existing file without ``overwrite``.
        CaffeModelError: ``src`` is not BVLC's GoogLeNet or is damaged; nothing is written.
    """
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        raise ValueError(f"caffemodel {str(src)!r} is a folder; pass the .caffemodel file inside it")
    if not src.is_file():
        raise FileNotFoundError(f"caffemodel {str(src)!r} does not exist; check the path")
    if _same_file(src, dst):
        raise ValueError(f"--out {str(dst)!r} is the caffemodel being converted; writing would destroy it. "
                         "Pass another --out, e.g. bvlc_googlenet.pt")
    if dst.is_dir():
        raise ValueError(f"--out {str(dst)!r} is a folder; pass a file name such as {dst / CONVERTED_NAME}")
    if dst.exists() and not overwrite:
        raise ValueError(f"--out {str(dst)!r} already exists; pass --overwrite to replace it, or another --out")
    data = src.read_bytes()
    if not data:
        raise CaffeModelError(f"{str(src)!r} is empty")
    try:
        state = caffe_to_state_dict(read_caffemodel(data))
    except CaffeModelError as exc:
        raise CaffeModelError(f"{str(src)!r}: {exc}") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(state, dst)
    return state


# ----------------------------------------------------------------------------- preprocessing
class CaffePreprocess(nn.Module):
    """BVLC's input transform for RGB images in [0, 1]: ``255 x - mean``, mean (123, 117, 104) in RGB.

    BVLC fed BGR pixels in 0-255 minus (104, 117, 123), with no division by a std. The converted
    conv1 takes RGB, so only the scale and the mean (in RGB order) remain.

    Shape:
        (N, 3, H, W) -> (N, 3, H, W)
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0 - self.mean.to(x.dtype)


def caffe_preprocess(x: torch.Tensor) -> torch.Tensor:
    """:class:`CaffePreprocess` as a function: (N, 3, H, W) RGB in [0, 1] -> BVLC's input (RGB order)."""
    return CaffePreprocess().to(x.device)(x)


# ----------------------------------------------------------------------------- download and cache
def cache_dir() -> Path:
    """Where converted weights are kept: ``$GOOGLENET_CACHE``, else ``~/.cache/googlenet-companion``."""
    env = os.environ.get("GOOGLENET_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "googlenet-companion"


def bvlc_weights_path() -> Path | None:
    """The converted BVLC weights if they are on this machine (see :func:`download_bvlc`), else ``None``."""
    path = cache_dir() / CONVERTED_NAME
    return path if path.is_file() else None


class _DiskError(OSError):
    """Writing the downloaded bytes failed (full disk, no permission): the network is not to blame."""


class _TooSlow(OSError):
    """The whole download ran past its deadline."""


def _fetch(url: str, dest: Path, progress: bool, min_bytes_per_s: float = MIN_BYTES_PER_S,
           grace_s: float = GRACE_S) -> None:
    """Stream ``url`` into ``dest`` with a progress bar, within ``grace_s + size / min_bytes_per_s`` seconds.

    The size is the server's Content-Length, else :data:`BVLC_BYTES`. Each read returns what has
    arrived (``read1``), so the deadline is checked however slowly the bytes come.
    """
    from tqdm.auto import tqdm

    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=min(30.0, grace_s)) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        deadline = start + grace_s + (total or BVLC_BYTES) / min_bytes_per_s
        try:
            f = open(dest, "wb")
        except OSError as exc:
            raise _DiskError(exc.errno, exc.strerror, str(dest)) from None
        received = 0
        with f, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=CAFFEMODEL_NAME,
                     disable=not progress) as bar:
            while chunk := response.read1(1 << 20):
                try:
                    f.write(chunk)
                except OSError as exc:
                    raise _DiskError(exc.errno, exc.strerror, str(dest)) from None
                received += len(chunk)
                bar.update(len(chunk))
                if time.monotonic() > deadline:
                    raise _TooSlow(f"{received} of {total or 'an unknown number of'} bytes arrived in "
                                   f"{deadline - start:.0f} s, slower than {min_bytes_per_s / 1024:.0f} KiB/s")


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _cached_is_intact(path: Path) -> bool:
    """Whether the converted file in the cache still has the SHA-256 recorded when it was written."""
    record = _digest_path(path)
    try:
        expected = record.read_text().split()[0]
    except (OSError, IndexError):
        return False
    return file_digest(path) == expected


def download_bvlc(url: str | None = None, sha1: str | None = None, cache: str | os.PathLike | None = None,
                  force: bool = False, progress: bool = True, min_bytes_per_s: float = MIN_BYTES_PER_S,
                  grace_s: float = GRACE_S) -> Path:
    """Download BVLC's GoogLeNet, verify its SHA-1, convert it and cache the state dict; return its path.

    A ``bvlc_googlenet.caffemodel`` put in the cache folder by hand is used instead of the network.
    ``url`` and ``sha1`` default to ``$GOOGLENET_BVLC_URL`` and ``$GOOGLENET_BVLC_SHA1``, else the
    model zoo's. The converted file's SHA-256 is recorded beside it (``bvlc_googlenet.pt.sha256``); a
    cached file that no longer matches is converted again. The download gives up after ``grace_s +
    size / min_bytes_per_s`` seconds. Nothing is left behind when a step fails.

    Raises:
        WeightsUnavailable: the download failed (offline, the server refused, too slow); says where to put the file.
        CaffeModelError: the file's SHA-1 differs, or it does not convert.
        OSError: the cache folder cannot be written (a full disk); names the file.
    """
    from .weights import WeightsUnavailable

    url = url or os.environ.get("GOOGLENET_BVLC_URL") or BVLC_URL
    sha1 = (sha1 or os.environ.get("GOOGLENET_BVLC_SHA1") or BVLC_SHA1).lower()
    folder = Path(cache) if cache is not None else cache_dir()
    dst = folder / CONVERTED_NAME
    if dst.is_file() and not force:
        if _cached_is_intact(dst):
            return dst
        why = ("does not match the SHA-256 recorded when it was converted (damaged)" if _digest_path(dst).is_file()
               else f"has no SHA-256 recorded beside it ({_digest_path(dst).name}) to check it by")
        print(f"{dst} {why}; converting BVLC's weights again", file=sys.stderr)
    by_hand = folder / CAFFEMODEL_NAME
    if by_hand.is_file():
        src, temporary = by_hand, False
    else:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{CAFFEMODEL_NAME}.", suffix=".part", dir=folder)
        os.close(fd)
        src, temporary = Path(tmp), True
    try:
        if temporary:
            try:
                _fetch(url, src, progress, min_bytes_per_s, grace_s)
            except _DiskError as exc:  # the network worked; the disk did not
                raise OSError(exc.errno, exc.strerror, str(folder)) from None
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
                reason = (f"the server answered {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError)
                          else f"too slow: {exc}" if isinstance(exc, _TooSlow)
                          else f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
                raise WeightsUnavailable(
                    f"could not download {url} ({reason}); download it on a machine with network access "
                    f"and put it at {by_hand}, then run `python -m utils download-bvlc` again") from None
        got = file_digest(src, "sha1")
        if got != sha1:
            hint = (f"download it again (delete {by_hand} first)" if not temporary
                    else "the download is damaged or the URL serves another file; try again")
            raise CaffeModelError(f"SHA-1 of {CAFFEMODEL_NAME} is {got}, expected {sha1}: {hint}")
        convert_caffemodel(src, dst, overwrite=True)
        _digest_path(dst).write_text(f"{file_digest(dst)}  {dst.name}\n")
    finally:
        if temporary:
            src.unlink(missing_ok=True)
    return dst


def load_bvlc_googlenet(path: str | os.PathLike | None = None) -> tuple[GoogLeNet, CaffePreprocess]:
    """BVLC's ImageNet GoogLeNet as the paper variant in eval mode, and the input transform it needs.

    Use it as ``model(preprocess(x))`` with ``x`` an (N, 3, H, W) RGB batch in [0, 1]. The auxiliary
    heads are kept: unlike torchvision's, BVLC's were trained.

    Raises:
        WeightsUnavailable: no converted weights; the message says how to get them.
    """
    from .weights import WeightsUnavailable, load_into, read_state_dict

    found = Path(path) if path is not None else bvlc_weights_path()
    if found is None or not found.is_file():
        where = str(path) if path is not None else str(cache_dir() / CONVERTED_NAME)
        raise WeightsUnavailable(f"BVLC GoogLeNet weights are not at {where}; get them with "
                                 "`python -m utils download-bvlc` (or convert a local file with "
                                 "`python -m utils convert-caffe bvlc_googlenet.caffemodel --out ...`)")
    model = googlenet("paper", num_classes=1000, aux_logits=True)
    load_into(model, read_state_dict(found), source=str(found))
    return model.eval(), CaffePreprocess()


# ----------------------------------------------------------------------------- command line
def _convert_cli(args) -> int:
    state = convert_caffemodel(args.src, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {len(state)} tensors of googlenet('paper', num_classes=1000, aux_logits=True); "
          "input RGB in [0, 1] through utils.network.caffe.CaffePreprocess")
    return 0


def _stop_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so the partial download is removed


def _download_cli(args) -> int:
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        path = download_bvlc(url=args.url, sha1=args.sha1, cache=args.cache_dir, force=args.force,
                             progress=not args.quiet)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"BVLC GoogLeNet weights at {path}; load them with utils.network.caffe.load_bvlc_googlenet()")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("convert-caffe", help="convert BVLC's bvlc_googlenet.caffemodel to a state dict "
                              "of the paper variant")
    p.add_argument("src", help="bvlc_googlenet.caffemodel (binary NetParameter, current or V1 format)")
    p.add_argument("--out", required=True, help="state dict to write, e.g. bvlc_googlenet.pt")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_convert_cli)
    p = subparsers.add_parser("download-bvlc", help="download, verify, convert and cache BVLC's ImageNet GoogLeNet")
    p.add_argument("--url", default=None, help=f"default: $GOOGLENET_BVLC_URL or {BVLC_URL}")
    p.add_argument("--sha1", default=None, help=f"expected SHA-1; default: $GOOGLENET_BVLC_SHA1 or {BVLC_SHA1}")
    p.add_argument("--cache-dir", default=None, help="default: $GOOGLENET_CACHE or ~/.cache/googlenet-companion")
    p.add_argument("--force", action="store_true", help="download again even if converted weights are cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_download_cli)
