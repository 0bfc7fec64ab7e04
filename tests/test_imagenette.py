"""Imagenette on disk (utils.training.imagenette, utils.training.data.imagenette): where the photos are found, the
uint8 cache, the download through torchvision against a real HTTP server on 127.0.0.1, and the real
folder beside the project when this machine has it.

Every photo here is generated: a few tiny JPEGs per class in Imagenette's layout, so the tests run
on a machine with no ../shared and no network.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from utils.network.arch import IMAGENET_MEAN, IMAGENET_STD
from utils.paths import ROOT
from utils.training import imagenette as inet
from utils.training.data import imagenette
from utils.training.recipe import imagenette_recipe

REAL = ROOT.parent / "shared" / "data" / "imagenette"


def _photo(seed: int, h: int, w: int) -> Image.Image:
    """A smooth but steep colour gradient (so a crop one pixel off shows), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    slopes = rng.uniform(2.0, 5.0, size=(3, 2)) * rng.choice([-1, 1], size=(3, 2))
    chans = [(slopes[c, 0] * x + slopes[c, 1] * y) for c in range(3)]
    img = np.stack([c - c.min() + rng.uniform(0, 30) for c in chans], axis=-1)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_imagenette(root: Path, train_per_class: int = 2, val_per_class: int = 1) -> Path:
    """Imagenette's layout under ``root``: train/WNID/*.JPEG (48x40, not square) and val/WNID/*.JPEG
    (48x48, square like the 224x224 copies beside the project)."""
    for split, per_class, (h, w) in (("train", train_per_class, (40, 48)), ("val", val_per_class, (48, 48))):
        for k, wnid in enumerate(inet.WNIDS):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                seed = 1000 * k + 10 * j + (split == "val")
                _photo(seed, h, w).save(folder / f"{wnid}_{j}.JPEG", quality=95)
    return root


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the caller's cache, $GOOGLENET_DATA or the real folder beside the project."""
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GOOGLENET_DATA", raising=False)
    monkeypatch.delenv("GOOGLENET_IMAGENETTE_URL", raising=False)
    monkeypatch.delenv("GOOGLENET_IMAGENETTE_MD5", raising=False)
    monkeypatch.setattr(inet, "ROOT", tmp_path / "home" / "project")


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_imagenette(tmp_path / "imagenette")


# ----------------------------------------------------------------------------- search order
def test_data_argument_comes_first(tmp_path, folder, monkeypatch):
    other = make_imagenette(tmp_path / "other", 1, 1)
    monkeypatch.setenv("GOOGLENET_DATA", str(other))
    assert inet.find(folder) == folder
    assert inet.locate(folder, allow_download=False) == folder


def test_environment_variable_comes_second(tmp_path, folder, monkeypatch):
    beside = make_imagenette(tmp_path / "home" / "shared" / "data" / "imagenette", 1, 1)
    monkeypatch.setenv("GOOGLENET_DATA", str(folder))
    assert inet.find() == folder
    monkeypatch.delenv("GOOGLENET_DATA")
    assert inet.find() == beside


def test_beside_the_project_comes_before_the_download_cache(tmp_path):
    downloaded = make_imagenette(tmp_path / "cache" / "imagenette" / "imagenette2-320", 1, 1)
    assert inet.find() == downloaded
    beside = make_imagenette(tmp_path / "home" / "shared" / "data" / "imagenette", 1, 1)
    assert inet.find() == beside


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_named_folder_without_train_and_val_is_an_error(tmp_path, monkeypatch, how):
    empty = tmp_path / "photos"
    (empty / "train").mkdir(parents=True)  # train/ alone is not enough
    make_imagenette(tmp_path / "home" / "shared" / "data" / "imagenette", 1, 1)  # must not be used instead
    if how == "environment":
        monkeypatch.setenv("GOOGLENET_DATA", str(empty))
    with pytest.raises(FileNotFoundError, match=r"no train/ and val/") as err:
        inet.find(empty if how == "argument" else None)
    assert str(empty) in str(err.value) and "\n" not in str(err.value)


def test_nothing_found_without_download_says_what_to_do():
    assert inet.find() is None
    with pytest.raises(FileNotFoundError, match=r"--data FOLDER.*GOOGLENET_DATA"):
        inet.locate(allow_download=False)


def test_wrong_classes_are_named(tmp_path, folder):
    (folder / "val" / inet.WNIDS[3]).rename(folder / "val" / "n99999999")
    with pytest.raises(ValueError, match=r"n99999999.*Imagenette's ten"):
        inet.load_split(folder, "val", 37, progress=False)


# ----------------------------------------------------------------------------- the uint8 cache
def _cache_files(tmp_path) -> list[Path]:
    return sorted((tmp_path / "cache" / "tensors").glob("*.pt"))


def test_second_load_reads_the_cache(tmp_path, folder, monkeypatch):
    images, labels = inet.load_split(folder, "train", 37, progress=False)
    assert images.shape == (20, 3, 37, 37) and images.dtype == torch.uint8
    assert labels.tolist() == [k for k in range(10) for _ in range(2)]
    assert len(_cache_files(tmp_path)) == 1

    def no_decoding(*_):
        raise AssertionError("decoded a photo although the cache holds them")

    monkeypatch.setattr(inet, "decode_square", no_decoding)
    again, labels_again = inet.load_split(folder, "train", 37, progress=False)
    assert torch.equal(again, images) and torch.equal(labels_again, labels)


def test_cache_depends_on_the_size_and_the_files(tmp_path, folder):
    inet.load_split(folder, "val", 37, progress=False)
    inet.load_split(folder, "val", 40, progress=False)
    assert len(_cache_files(tmp_path)) == 2
    _photo(7, 48, 48).save(folder / "val" / inet.WNIDS[0] / "extra.JPEG")
    images, _ = inet.load_split(folder, "val", 37, progress=False)
    assert len(images) == 11 and len(_cache_files(tmp_path)) == 3


def test_same_photos_by_another_path_share_the_cache(tmp_path, folder, monkeypatch):
    """A relative path, a symlink or a copy with the same times all read the one cache file."""
    images, _ = inet.load_split(folder, "val", 37, progress=False)
    monkeypatch.setattr(inet, "decode_square", lambda *_: (_ for _ in ()).throw(AssertionError("decoded again")))
    (tmp_path / "link").symlink_to(folder)
    copy = tmp_path / "elsewhere" / "imagenette"
    shutil.copytree(folder, copy, copy_function=shutil.copy2)  # copy2 keeps the files' times
    monkeypatch.chdir(tmp_path / "elsewhere")
    for path in (tmp_path / "link", copy, Path("imagenette")):
        again, _ = inet.load_split(path, "val", 37, progress=False)
        assert torch.equal(again, images)
    assert len(_cache_files(tmp_path)) == 1


def test_corrupt_cache_is_rebuilt(tmp_path, folder):
    images, labels = inet.load_split(folder, "val", 37, progress=False)
    (cache,) = _cache_files(tmp_path)
    cache.write_bytes(b"this is not a tensor file")
    with pytest.warns(UserWarning, match="unreadable"):
        again, labels_again = inet.load_split(folder, "val", 37, progress=False)
    assert torch.equal(again, images) and torch.equal(labels_again, labels)
    blob = torch.load(cache, weights_only=True)  # rewritten, readable again
    assert torch.equal(blob["images"], images)
    assert not list(cache.parent.glob("*.tmp"))


def test_corrupt_photo_is_skipped_with_a_warning(folder):
    bad = folder / "val" / inet.WNIDS[4] / "broken.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated, not a JPEG")
    with pytest.warns(UserWarning, match="broken.JPEG"):
        images, labels = inet.load_split(folder, "val", 37, progress=False)
    assert len(images) == 10 and labels.tolist() == list(range(10))


def test_decode_square_is_the_antialiased_centre_square(tmp_path):
    """Checked against PIL's resize (bilinear, antialiased when shrinking): not the code under test."""
    path = tmp_path / "p.png"  # lossless, so the decoders agree exactly
    _photo(3, 40, 60).save(path)
    got = inet.decode_square(path, 30).permute(1, 2, 0).numpy().astype(int)
    # 45 - 30 = 15 columns to cut: 8 on the left, torchvision's center_crop rounding 7.5 to even
    ref = np.asarray(Image.open(path).resize((45, 30), Image.BILINEAR))[:, 8:38].astype(int)
    assert got.shape == (30, 30, 3)
    assert np.abs(got - ref).max() <= 2


# ----------------------------------------------------------------------------- utils.training.data.imagenette
def test_imagenette_bundle_shapes_classes_and_val_centre_crop(tmp_path, folder):
    config = imagenette_recipe(image_size=32)
    bundle = imagenette(32, config, data=folder, progress=False)
    assert bundle.classes == list(inet.WNIDS) and bundle.image_size == 32
    assert (bundle.mean, bundle.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert len(bundle.train) == 20 and len(bundle.val) == 10
    x, y = bundle.train[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 2
    # validation: resize to round(32 / 0.875) = 37, centre 32x32, normalise; computed here with PIL
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    for i in range(10):
        x, y = bundle.val[i]
        assert y == i
        photo = Image.open(folder / "val" / inet.WNIDS[i] / f"{inet.WNIDS[i]}_0.JPEG").convert("RGB")
        ref = np.asarray(photo.resize((37, 37), Image.BILINEAR))[2:34, 2:34] / 255.0
        ref = ((ref - mean) / std).transpose(2, 0, 1)
        assert x.shape == (3, 32, 32)
        assert np.abs(x.numpy() - ref).mean() < 0.02, f"val photo {i} is not the centre crop"


def test_imagenette_through_load_dataset(folder):
    from utils.training.data import load_dataset

    bundle = load_dataset("imagenette", 32, imagenette_recipe(image_size=32), data=folder)
    assert bundle.name == "imagenette" and len(bundle.val) == 10


# ----------------------------------------------------------------------------- the download
def _archive(tmp_path: Path) -> tuple[Path, str]:
    """imagenette2-320.tgz in torchvision's layout (imagenette2-320/train/..., .../val/...) and its md5."""
    src = make_imagenette(tmp_path / "src" / "imagenette2-320")
    serve = tmp_path / "www"
    serve.mkdir(exist_ok=True)
    tgz = serve / "imagenette2-320.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname="imagenette2-320")
    tgz.write_bytes(buf.getvalue())
    return tgz, hashlib.md5(buf.getvalue()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    (tmp_path / "www").mkdir(exist_ok=True)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path / "www")))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_download_from_a_local_server(tmp_path, server, monkeypatch):
    tgz, md5 = _archive(tmp_path)
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"{server}/{tgz.name}")
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_MD5", md5)
    found = inet.locate()
    assert found == tmp_path / "cache" / "imagenette" / "imagenette2-320"
    assert len(list((found / "train").glob("*/*.JPEG"))) == 20
    assert len(list((found / "val").glob("*/*.JPEG"))) == 10
    bundle = imagenette(32, imagenette_recipe(image_size=32), progress=False)
    assert len(bundle.train) == 20 and len(bundle.val) == 10
    # the next search finds the unpacked folder; nothing is downloaded again
    tgz.unlink()
    assert inet.locate() == found


def test_download_with_a_wrong_checksum_fails_in_one_line(tmp_path, server, monkeypatch):
    tgz, md5 = _archive(tmp_path)
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"{server}/{tgz.name}")
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_MD5", "0" * 32)
    with pytest.raises((FileNotFoundError, ValueError)) as err:
        inet.locate()
    message = str(err.value)
    assert "\n" not in message
    assert "0" * 32 in message and md5 in message  # what was expected, what came
    assert "--data" in message  # and what to do
    root = tmp_path / "cache" / "imagenette"
    assert not (root / "imagenette2-320").exists()
    assert not list(root.glob("*.tgz")), "the damaged archive was left behind"


def test_download_with_the_server_gone_fails_in_one_line(tmp_path, monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    port = httpd.server_address[1]
    httpd.server_close()  # nothing listens on the port any more
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"http://127.0.0.1:{port}/imagenette2-320.tgz")
    with pytest.raises(FileNotFoundError) as err:
        inet.locate()
    message = str(err.value)
    assert "\n" not in message and "could not download" in message and "--data" in message
    assert not (tmp_path / "cache" / "imagenette" / "imagenette2-320").exists()


def test_download_cli_error_is_one_line(tmp_path, monkeypatch, capsys):
    """The command line turns the failed download into `error: ...` and status 2, no traceback."""
    from utils.__main__ import main

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    port = httpd.server_address[1]
    httpd.server_close()
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"http://127.0.0.1:{port}/imagenette2-320.tgz")
    assert main(["train", "--dataset", "imagenette", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: could not download Imagenette") and "\n" not in err
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- the real folder
@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} is not on this machine (the generated folders above "
                                              "cover the code; this checks the shared copy's counts)")
def test_real_folder_beside_the_project(monkeypatch):
    monkeypatch.setattr(inet, "ROOT", ROOT)
    assert inet.find() == REAL
    train, train_labels = inet._files(REAL / "train")  # the listing only: no photo is decoded
    val, val_labels = inet._files(REAL / "val")
    assert (len(train), len(val)) == (9469, 3925)
    assert sorted(set(train_labels)) == sorted(set(val_labels)) == list(range(10))
    assert not {p.name for p in train} & {p.name for p in val}

