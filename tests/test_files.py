"""utils.files: a destination is replaced whole or left as it was; digests match hashlib's on known bytes."""

from __future__ import annotations

import errno
import hashlib

import pytest
import torch

from utils.files import file_digest, save_atomically, temporary_beside, write_atomically, write_text_atomically


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    write_text_atomically(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_names_it(tmp_path):
    path = tmp_path / "a.pt"
    path.write_bytes(b"old")

    def full_disk(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left") as caught:
        write_atomically(path, full_disk, shown="the checkpoint")
    assert caught.value.filename == "the checkpoint"
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    # torch.save reports a failed write as a RuntimeError around the OSError: the OSError comes out

    def wrapped(f):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("unexpected pos 123") from None

    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, wrapped)
    with pytest.raises(KeyboardInterrupt):  # an interruption: no temporary left, the old file intact
        write_atomically(path, lambda f: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_replace_false_leaves_the_written_temporary_for_the_caller(tmp_path):
    path = tmp_path / "w.pt"
    tmp = save_atomically({"x": torch.arange(3)}, path, replace=False)
    assert tmp == temporary_beside(path) and tmp.parent == tmp_path and not path.exists()
    assert torch.equal(torch.load(tmp, weights_only=True)["x"], torch.arange(3))
    order = []
    write_text_atomically(path, "x", temporary=tmp_path / "p.tmp", before_replace=lambda: order.append(path.exists()))
    assert order == [False] and path.read_text() == "x"


def test_digests_agree_with_hashlib_on_known_bytes(tmp_path):
    path = tmp_path / "f.bin"
    data = b"abc" * (1 << 19)  # 1.5 MiB: more than one read
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(data).hexdigest()
    (tmp_path / "abc").write_bytes(b"abc")  # FIPS 180-2's first example
    assert file_digest(tmp_path / "abc", "sha1") == "a9993e364706816aba3e25717850c26c9cd0d89d"
