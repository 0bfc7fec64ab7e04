"""Files written whole or not at all, and their digests: how every part of the project writes and checks files.

Checkpoints, snapshots, training logs, the shipped model and its manifest, converted Caffe weights, cached
photo tensors and the benchmark report are all written the same way (:func:`write_atomically`): into a
temporary file in the destination's folder, flushed to disk, then renamed over the destination with
``os.replace``, which is atomic within one file system. A failure at any point (a full disk, an interruption)
removes the temporary file and leaves the destination as it was, so a reader never meets half a file.
Downloads and shipped files are checked by :func:`file_digest`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temporary_beside(path: str | os.PathLike) -> Path:
    """A hidden name beside ``path``, unique to this process: where :func:`write_atomically` writes first."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, temporary: Path | None = None,
                     shown: str | os.PathLike | None = None, before_replace: Callable[[], object] | None = None,
                     replace: bool = True) -> Path:
    """Write ``path`` whole: ``write(f)`` fills a temporary file, which then replaces ``path``.

    Args:
        write: called with the temporary file open for binary writing.
        temporary: where to write first (default :func:`temporary_beside`); must be in ``path``'s folder.
        shown: the name a write error gives (default ``path``): a failed write carries no file name of its own.
        before_replace: called after the data is on disk and before the rename.
        replace: ``False`` leaves the written temporary file for the caller to rename (when two files must
            replace their old versions together); on failure it is removed all the same.

    Returns:
        The temporary file (already renamed to ``path`` unless ``replace`` is ``False``).

    Raises:
        OSError: writing failed (full disk, no permission), naming ``shown``; ``path`` is unchanged. An
            OSError that ``write`` raises inside another error (``torch.save`` wraps one in a RuntimeError)
            is raised as that OSError.
    """
    path = Path(path)
    tmp = Path(temporary) if temporary is not None else temporary_beside(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the rename must not reach the disk before the data does
        if before_replace is not None:
            before_replace()
        if replace:
            os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        cause = exc
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__context__
        if cause is None:
            raise
        raise OSError(cause.errno, cause.strerror or str(cause), str(shown or path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_text_atomically(path: str | os.PathLike, text: str, **kwargs) -> Path:
    """:func:`write_atomically` for UTF-8 text."""
    return write_atomically(path, lambda f: f.write(text.encode("utf-8")), **kwargs)


def save_atomically(obj, path: str | os.PathLike, **kwargs) -> Path:
    """``torch.save(obj)`` written by :func:`write_atomically` (loads with ``torch.load(weights_only=True)``
    when ``obj`` holds only tensors and plain containers)."""
    import torch

    return write_atomically(path, lambda f: torch.save(obj, f), **kwargs)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of the file at ``path`` (``"sha256"``, or ``"sha1"`` / ``"md5"`` where a download
    publishes one), read in 1 MiB pieces."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
