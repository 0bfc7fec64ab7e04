"""Imagenette's download and decoded cache under faults: an archive whose members climb out of the cache, an
archive from a mirror without a checksum, a kill in the middle of unpacking, a server that never answers,
and a cache file that does not hold what its photos are (labels all 0, 8x8 images), or a full disk."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import time
from pathlib import Path

import pytest
import torch
from test_faults_caffe import disk_full_after
from test_imagenette import _archive, isolated, make_imagenette, server  # noqa: F401  (fixtures)

from utils.training import imagenette as inet


def _evil_archive(tmp_path: Path, escape: str) -> tuple[Path, str]:
    """A real Imagenette archive plus one member named ``escape`` (a path out of the unpacking folder)."""
    tgz, _ = _archive(tmp_path)
    buf = io.BytesIO()
    with tarfile.open(tgz) as src, tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member) if member.isfile() else None)
        payload = b"written outside the cache"
        info = tarfile.TarInfo(escape)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    tgz.write_bytes(buf.getvalue())
    return tgz, hashlib.md5(buf.getvalue()).hexdigest()


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_an_archive_cannot_write_outside_the_cache(tmp_path, server, monkeypatch, kind):  # noqa: F811
    target = tmp_path / "outside" / "evil.txt"
    escape = "../../../outside/evil.txt" if kind == "dotdot" else str(target)
    tgz, md5 = _evil_archive(tmp_path, escape)
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"{server}/{tgz.name}")
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_MD5", md5)  # the checksum is right: the archive itself is hostile
    root = tmp_path / "cache" / "imagenette"
    if kind == "dotdot":
        with pytest.raises(ValueError, match="outside") as err:
            inet.locate()
        assert "\n" not in str(err.value)
        assert list(root.iterdir()) == []  # nothing unpacked, no archive, no temporary folder
    else:  # the leading "/" is dropped: the member lands inside the unpacking folder, which is then removed
        inet.locate()
        assert [p.name for p in root.iterdir()] == ["imagenette2-320"]
    assert not target.exists() and not (tmp_path / "cache" / "outside").exists()


def test_an_archive_from_another_address_needs_its_checksum(tmp_path, server, monkeypatch):  # noqa: F811
    tgz, md5 = _archive(tmp_path)
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"{server}/{tgz.name}")
    with pytest.raises(FileNotFoundError, match="GOOGLENET_IMAGENETTE_MD5") as err:
        inet.locate()
    assert md5 in str(err.value) and "\n" not in str(err.value)
    assert list((tmp_path / "cache" / "imagenette").iterdir()) == []


def test_a_kill_while_unpacking_leaves_nothing_that_passes_for_the_data(tmp_path, server, monkeypatch):  # noqa: F811
    tgz, md5 = _archive(tmp_path)
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"{server}/{tgz.name}")
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_MD5", md5)
    real = tarfile.TarFile.extractall

    def killed(self, *args, **kwargs):  # every file is out, the process dies before anything else runs
        real(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(tarfile.TarFile, "extractall", killed)
    with pytest.raises(KeyboardInterrupt):
        inet.locate()
    assert inet.find() is None
    monkeypatch.setattr(tarfile.TarFile, "extractall", real)
    found = inet.locate()  # the next try unpacks it whole
    assert len(list((found / "train").glob("*/*.JPEG"))) == 20


def test_a_server_that_never_answers_times_out(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes connections; nobody reads the request or answers
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/x.tgz")
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_MD5", "0" * 32)
    try:
        t0 = time.monotonic()
        with pytest.raises(FileNotFoundError, match="could not download"):
            inet.download(tmp_path / "dl", timeout=1.0)
        assert time.monotonic() - t0 < 15
    finally:
        listener.close()


# ----------------------------------------------------------------------------- the decoded cache
@pytest.fixture
def folder(tmp_path) -> Path:
    return make_imagenette(tmp_path / "imagenette")


def _tamper(tmp_path: Path, **changes) -> None:
    (cache,) = sorted((tmp_path / "cache" / "tensors").glob("*.pt"))
    blob = torch.load(cache, weights_only=True)
    torch.save({**blob, **changes}, cache)


@pytest.mark.parametrize("damage", ["labels all 0", "8x8 images", "old format, labels all 0"])
def test_a_cache_that_does_not_match_its_photos_is_decoded_again(tmp_path, folder, damage):
    images, labels = inet.load_split(folder, "val", 37, progress=False)
    if damage == "labels all 0":
        _tamper(tmp_path, labels=torch.zeros_like(labels))
    elif damage == "8x8 images":
        _tamper(tmp_path, images=torch.zeros(len(images), 3, 8, 8, dtype=torch.uint8))
    else:  # a cache written before the photo positions were kept
        (cache,) = sorted((tmp_path / "cache" / "tensors").glob("*.pt"))
        torch.save({"images": images, "labels": torch.zeros_like(labels)}, cache)
    with pytest.warns(UserWarning, match="does not match the photos"):
        again, labels_again = inet.load_split(folder, "val", 37, progress=False)
    assert torch.equal(again, images) and torch.equal(labels_again, labels)


def test_a_full_disk_under_the_cache_says_so_and_leaves_no_temporary_file(tmp_path, folder):
    tensors = tmp_path / "cache" / "tensors"
    with disk_full_after(4096), pytest.raises(OSError) as err:
        inet.load_split(folder, "train", 37, progress=False)
    assert not isinstance(err.value, RuntimeError) and "imagenette_train_37px" in str(err.value)
    assert list(tensors.iterdir()) == []


def test_ctrl_c_during_the_download_leaves_no_partial_archive(tmp_path, server, monkeypatch):  # noqa: F811
    from torchvision.datasets import utils as tv_utils

    tgz, md5 = _archive(tmp_path)

    def interrupted(url, filename, *args, **kwargs):  # some bytes are on disk when the user presses Ctrl-C
        Path(filename).write_bytes(b"the first bytes of the archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(tv_utils, "_urlretrieve", interrupted)
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_URL", f"{server}/{tgz.name}")
    monkeypatch.setenv("GOOGLENET_IMAGENETTE_MD5", md5)
    with pytest.raises(KeyboardInterrupt):
        inet.download(tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []
