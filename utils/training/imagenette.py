"""Imagenette: ten ImageNet classes of real photographs, for training the paper's network on a CPU.

Imagenette (fast.ai's ``imagenette2`` split: 9,469 training and 3,925 validation photos of tench,
English springer, cassette player, chain saw, church, French horn, garbage truck, gas pump, golf ball
and parachute) stands in for ILSVRC 2012 (§7), which a laptop cannot train on.

Where the photos come from, first match wins:

1. ``data=PATH`` (the command line's ``--data``);
2. ``$GOOGLENET_DATA``;
3. a folder ``data/imagenette`` beside the project (``../shared/data/imagenette`` from its root);
4. a download with :class:`torchvision.datasets.Imagenette` into ``$GOOGLENET_CACHE`` (default
   ``~/.cache/googlenet-companion``), with a progress bar; the archive's checksum is verified.

Decoding thousands of JPEGs for every epoch would cost more CPU than the network at 112 px, so the
photos are decoded once into a uint8 tensor at ``cache_size`` pixels (shorter side resized with
antialiasing, then the centre square) and kept in a ``.pt`` file beside the other caches; training
then crops and resizes tensors in memory (utils.training.data's §6 augmentations).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tarfile
import warnings
import zlib
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..files import file_digest, save_atomically
from ..network.images import read_uint8, square
from ..paths import ROOT

# WordNet ids in the output order of every Imagenette model here (sorted, as ImageFolder sorts them).
WNIDS = ("n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042",
         "n03425413", "n03445777", "n03888257")
NAMES = ("tench", "English springer", "cassette player", "chain saw", "church", "French horn",
         "garbage truck", "gas pump", "golf ball", "parachute")
SPLITS = ("train", "val")
DOWNLOAD_SIZE = "320px"  # torchvision's smaller archive (about 340 MB); photos 320 px on the shorter side


def cache_dir() -> Path:
    """``$GOOGLENET_CACHE`` or ``~/.cache/googlenet-companion``: downloads and decoded tensors."""
    return Path(os.environ.get("GOOGLENET_CACHE") or Path.home() / ".cache" / "googlenet-companion").expanduser()


def _is_imagenette(folder: Path) -> bool:
    return all((folder / split).is_dir() for split in SPLITS)


def candidates(data: str | Path | None = None) -> list[tuple[str, Path]]:
    """The places searched for the photos, in order, each with how it was named."""
    out = []
    if data is not None:
        out.append(("--data", Path(data)))
    if os.environ.get("GOOGLENET_DATA"):
        out.append(("$GOOGLENET_DATA", Path(os.environ["GOOGLENET_DATA"])))
    out.append(("beside the project", ROOT.parent / "shared" / "data" / "imagenette"))
    for size in (DOWNLOAD_SIZE, "160px", "full"):
        stem = {"full": "imagenette2"}.get(size, f"imagenette2-{size.removesuffix('px')}")
        out.append(("downloaded", cache_dir() / "imagenette" / stem))
    return out


def find(data: str | Path | None = None) -> Path | None:
    """The first folder with ``train/`` and ``val/`` among :func:`candidates`, or None.

    A folder named explicitly (``data`` or ``$GOOGLENET_DATA``) that is not such a folder is an error,
    not something to skip silently.
    """
    for how, folder in candidates(data):
        if _is_imagenette(folder):
            return folder
        if how in ("--data", "$GOOGLENET_DATA"):
            raise FileNotFoundError(f"{how} is {folder}, which has no train/ and val/ folders; point it at "
                                    "the Imagenette folder (train/WNID/*.JPEG, val/WNID/*.JPEG)")
    return None


def download(root: Path | None = None, size: str = DOWNLOAD_SIZE, timeout: float = 60.0) -> Path:
    """Download Imagenette's archive with torchvision, check its MD5 and unpack it safely; returns the folder.

    ``$GOOGLENET_IMAGENETTE_URL`` and ``$GOOGLENET_IMAGENETTE_MD5`` replace torchvision's archive
    address and checksum (a mirror, or a local server in the tests); an archive other than
    torchvision's is unpacked only with its MD5. Unpacking refuses members that would land outside
    the folder (tarfile's ``"data"`` filter) and happens in a temporary folder that is renamed into
    place once complete, so a kill never leaves half the photos where a later search would take them
    for the data set. A server silent for ``timeout`` seconds ends the download. The archive is
    deleted once unpacked.
    """
    from torchvision.datasets import Imagenette
    from torchvision.datasets.utils import download_url

    root = Path(root or cache_dir() / "imagenette")
    known_url, known_md5 = Imagenette._ARCHIVES[size]
    url = os.environ.get("GOOGLENET_IMAGENETTE_URL") or known_url
    md5 = os.environ.get("GOOGLENET_IMAGENETTE_MD5") or (known_md5 if url == known_url else None)
    archive, unpacked = root / os.path.basename(url), root / Path(url).stem  # torchvision's names
    by_hand = (f"download it by hand and unpack it into {root}, or pass --data FOLDER (a folder with "
               "train/WNID/*.JPEG and val/WNID/*.JPEG)")
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_unpacking(root)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # torchvision's urlopen takes no timeout; it takes the default
    try:
        download_url(url, str(root), md5=md5)
    except Exception as exc:  # no network, a silent server, a bad checksum, a truncated archive
        got = file_digest(archive, "md5") if md5 and archive.is_file() else None
        archive.unlink(missing_ok=True)  # a damaged archive would only be checked and refused again
        if got is not None and got != md5:
            raise FileNotFoundError(
                f"the archive from {url} has MD5 {got}, expected {md5}: the download is damaged or the address "
                f"serves another file; try again, set GOOGLENET_IMAGENETTE_MD5 to a mirror's checksum, or "
                f"{by_hand}") from exc
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise FileNotFoundError(f"could not download Imagenette from {url} into {root} ({reason}); "
                                f"{by_hand}") from exc
    except BaseException:  # Ctrl-C: no partial archive left behind
        archive.unlink(missing_ok=True)
        raise
    finally:
        socket.setdefaulttimeout(previous)
    try:
        if not md5:
            raise FileNotFoundError(
                f"the archive from {url} is not torchvision's and GOOGLENET_IMAGENETTE_MD5 is not set, so it is not "
                f"unpacked (its MD5 is {file_digest(archive, 'md5')}); set GOOGLENET_IMAGENETTE_MD5 to the checksum "
                f"its publisher gives, or {by_hand}")
        _unpack(archive, root, unpacked.name, url)
    finally:
        archive.unlink(missing_ok=True)  # about 340 MB that the unpacked photos make redundant
    return unpacked


UNPACKING = ".unpacking-"  # + the pid of the process unpacking there


def _remove_stale_unpacking(root: Path) -> None:
    """Delete the temporary folders of unpackings whose process is gone (killed half-way)."""
    for folder in root.glob(UNPACKING + "*"):
        try:
            os.kill(int(folder.name.removeprefix(UNPACKING)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):  # not ours to judge, or alive under another user
            pass


def _unpack(archive: Path, root: Path, name: str, url: str) -> None:
    """Unpack ``archive`` into ``root / name`` through a temporary folder; nothing outside it is written."""
    work = root / f"{UNPACKING}{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(work, filter="data")  # refuses absolute paths, "..", links out, devices
        except tarfile.FilterError as exc:
            raise ValueError(f"the archive from {url} holds {exc.tarinfo.name!r}, which would be written outside "
                             f"{root} or is not a plain file ({type(exc).__name__}); nothing was unpacked. It is not "
                             "an Imagenette archive: check GOOGLENET_IMAGENETTE_URL") from None
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise FileNotFoundError(f"the archive from {url} is damaged ({type(exc).__name__}: {exc}); nothing was "
                                    "unpacked. Download it again") from None
        if not _is_imagenette(work / name):
            raise FileNotFoundError(f"the archive from {url} holds no {name}/train and {name}/val folders; it is not "
                                    "an Imagenette archive")
        os.rename(work / name, root / name)
    except OSError as exc:
        if (root / name).exists() and not isinstance(exc, FileNotFoundError):
            raise FileExistsError(f"{root / name} already exists but is not a complete data set; delete it and "
                                  "run again") from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def locate(data: str | Path | None = None, allow_download: bool = True) -> Path:
    """:func:`find`, else :func:`download` (when allowed), else a FileNotFoundError that says what to do."""
    folder = find(data)
    if folder is not None:
        return folder
    if not allow_download:
        raise FileNotFoundError("Imagenette not found; pass --data FOLDER, set GOOGLENET_DATA, or allow the "
                                f"download into {cache_dir() / 'imagenette'}")
    return download()


def _files(split_dir: Path) -> tuple[list[Path], list[int]]:
    present = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if tuple(present) != WNIDS:
        raise ValueError(f"{split_dir} holds the classes {present}; Imagenette's ten are {list(WNIDS)}")
    files, labels = [], []
    for k, wnid in enumerate(WNIDS):
        for f in sorted((split_dir / wnid).iterdir()):
            if f.suffix.lower() in (".jpeg", ".jpg", ".png"):
                files.append(f)
                labels.append(k)
    if not files:
        raise ValueError(f"no photos in {split_dir}")
    return files, labels


def decode_square(path: Path, size: int) -> torch.Tensor:
    """One photo as a (3, size, size) uint8 tensor: :func:`utils.network.images.square` of the file.

    Raises ValueError naming the file when it cannot be decoded.
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return square(read_uint8(path), size)


def _cache_key(files: list[Path], size: int) -> str:
    """Keyed by each photo's class folder, name, size and time: the same photos share one cache
    whichever path reached them (``--data``, ``$GOOGLENET_DATA``, a notebook's relative path)."""
    h = hashlib.sha256(f"v3 {size}".encode())  # v3: torchvision's resize and crop geometry
    for f in files:
        st = f.stat()
        h.update(f"{f.parent.name}/{f.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_split(folder: Path, split: str, size: int, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """All photos of one split as ``(uint8 images N x 3 x size x size, int64 labels)``, cached on disk.

    The cache file is keyed by the files' names, sizes and times and by ``size``; it is written
    atomically and loaded with ``weights_only=True``, and what it holds is checked against the photos
    (shape, and each label against its photo's class folder) before it is used; a cache that does not
    match is decoded again. Corrupt photos are skipped with a warning.

    Raises:
        OSError: the cache cannot be written (a full disk); names the file, leaves no temporary file.
    """
    files, labels = _files(Path(folder) / split)
    path = cache_dir() / "tensors" / f"imagenette_{split}_{size}px_{_cache_key(files, size)}.pt"
    if path.is_file():
        cached = _read_cache(path, labels, size)
        if cached is not None:
            return cached
    images = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    keep = []
    for i, f in enumerate(tqdm(files, desc=f"decode {split} {size}px", disable=not progress)):
        try:
            images[i] = decode_square(f, size)
            keep.append(i)
        except ValueError as exc:
            warnings.warn(str(exc), stacklevel=2)
    if not keep:
        raise ValueError(f"no photo in {folder / split} could be decoded")
    idx = torch.tensor(keep)
    images, labels_t = images[idx].contiguous(), torch.tensor(labels)[idx]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomically({"images": images, "labels": labels_t, "index": idx}, path)
    return images, labels_t


def _read_cache(path: Path, labels: list[int], size: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The cached ``(images, labels)`` if they fit the photos they were decoded from, else None (with a warning).

    ``index`` holds the positions of the photos that decoded (all of them when it is absent); the labels
    must be those of the photos at those positions, the images ``N x 3 x size x size`` uint8.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images, got = blob["images"], blob["labels"]
        index = blob.get("index", torch.arange(len(labels)))
    except Exception:
        warnings.warn(f"cache {path} is unreadable; decoding the photos again", stacklevel=3)
        return None
    n = len(index) if isinstance(index, torch.Tensor) else -1
    problem = None
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or tuple(images.shape) != (n, 3, size,
                                                                                                      size):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        problem = f"images of shape {shape}, expected ({n}, 3, {size}, {size}) uint8"
    elif index.dtype != torch.int64 or n == 0 or bool((index[1:] <= index[:-1]).any()) or int(index[0]) < 0 \
            or int(index[-1]) >= len(labels):
        problem = f"photo positions outside 0..{len(labels) - 1}"
    elif not isinstance(got, torch.Tensor) or got.dtype != torch.int64 or tuple(got.shape) != (n,) \
            or not torch.equal(got, torch.tensor(labels)[index]):
        problem = "labels that are not the photos' classes"
    if problem:
        warnings.warn(f"cache {path} does not match the photos ({problem}); decoding them again", stacklevel=3)
        return None
    return images, got
