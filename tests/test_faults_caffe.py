"""convert-caffe and download-bvlc under faults: an --out that would destroy a file, a full disk, a server
that trickles or never answers, a kill during the download, a damaged file in the cache.

The servers are real HTTP servers on 127.0.0.1; the deadlines are made short so each test takes seconds.
A full disk is a real one for the process: a soft RLIMIT_FSIZE makes every write past it fail (EFBIG).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from test_caffe import caffemodel, run
from test_caffe_forward import bvlc_blobs

from utils.network import caffe
from utils.network.model import googlenet
from utils.network.weights import WeightsUnavailable

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def disk_full_after(nbytes: int):
    """Every write of this process past ``nbytes`` into a file fails with EFBIG, as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal that kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@pytest.fixture(scope="module")
def bvlc_file(tmp_path_factory) -> tuple[Path, str]:
    """A caffemodel of BVLC's layout with random weights, and its SHA-1."""
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) for k, v in googlenet("paper", num_classes=1000).state_dict().items()}
    path = tmp_path_factory.mktemp("bvlc") / "bvlc_googlenet.caffemodel"
    path.write_bytes(caffemodel(bvlc_blobs(state), v1=True))
    return path, hashlib.sha1(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- convert-caffe
def test_convert_refuses_to_write_over_its_source(bvlc_file, tmp_path):
    src = tmp_path / "x.caffemodel"
    src.write_bytes(bvlc_file[0].read_bytes())
    before = hashlib.sha1(src.read_bytes()).hexdigest()
    for out in (src, tmp_path / "." / "x.caffemodel"):
        code, printed, err = run("convert-caffe", src, "--out", out)
        assert code == 2 and printed == "" and "caffemodel being converted" in err and err.count("\n") == 1
    code, _, err = run("convert-caffe", src, "--out", src, "--overwrite")  # not even when asked
    assert code == 2 and "caffemodel being converted" in err
    assert hashlib.sha1(src.read_bytes()).hexdigest() == before


def test_convert_refuses_an_existing_out_unless_asked(bvlc_file, tmp_path):
    out = tmp_path / "mine.pt"
    out.write_bytes(b"the user's own file")
    code, _, err = run("convert-caffe", bvlc_file[0], "--out", out)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"the user's own file"
    code, _, err = run("convert-caffe", bvlc_file[0], "--out", out, "--overwrite")
    assert code == 0, err
    assert len(torch.load(out, weights_only=True)) == len(caffe.BVLC_LAYERS) * 2


def test_convert_names_a_folder_as_a_folder(tmp_path):
    code, _, err = run("convert-caffe", tmp_path, "--out", tmp_path / "o.pt")
    assert code == 2 and "is a folder" in err and "does not exist" not in err
    (tmp_path / "x.caffemodel").write_bytes(b"\x08\x01")
    code, _, err = run("convert-caffe", tmp_path / "x.caffemodel", "--out", tmp_path)
    assert code == 2 and "is a folder" in err


def test_convert_on_a_full_disk_says_so_and_leaves_no_temporary_file(bvlc_file, tmp_path):
    out = tmp_path / "out" / "bvlc.pt"
    out.parent.mkdir()
    with disk_full_after(1 << 20), pytest.raises(OSError) as err:
        caffe.convert_caffemodel(bvlc_file[0], out)
    assert not isinstance(err.value, RuntimeError) and str(out) in str(err.value)
    assert list(out.parent.iterdir()) == []
    with disk_full_after(1 << 20):
        code, _, message = run("convert-caffe", bvlc_file[0], "--out", out)
    assert code == 1 and message.startswith("error: ") and message.count("\n") == 1 and str(out) in message
    assert list(out.parent.iterdir()) == []


# ----------------------------------------------------------------------------- download-bvlc
class _Trickle(http.server.BaseHTTPRequestHandler):
    """Announces 1000 bytes and sends one every 0.05 s: no single read ever waits long."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(handler):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_trickling_server_meets_the_deadline_of_the_whole_download(tmp_path):
    cache = tmp_path / "cache"
    with serving(_Trickle) as base:
        t0 = time.monotonic()
        with pytest.raises(WeightsUnavailable, match="too slow") as err:
            caffe.download_bvlc(url=f"{base}/x.caffemodel", cache=cache, progress=False,
                                min_bytes_per_s=1000, grace_s=0.5)  # a deadline of 1.5 s
        assert time.monotonic() - t0 < 10
    assert "\n" not in str(err.value)
    assert list(cache.iterdir()) == []  # no .part left


def test_a_server_that_never_answers_times_out(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections complete in the kernel; nobody ever reads or answers
    try:
        t0 = time.monotonic()
        with pytest.raises(WeightsUnavailable, match="could not download"):
            caffe.download_bvlc(url=f"http://127.0.0.1:{listener.getsockname()[1]}/x", cache=tmp_path / "c",
                                progress=False, grace_s=1.0)
        assert time.monotonic() - t0 < 10
    finally:
        listener.close()
    assert list((tmp_path / "c").iterdir()) == []


def test_sigterm_during_the_download_removes_the_partial_file(tmp_path):
    cache = tmp_path / "cache"
    with serving(_Trickle) as base:
        proc = subprocess.Popen([sys.executable, "-m", "utils", "download-bvlc", "--url", f"{base}/x",
                                 "--cache-dir", str(cache), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not list(cache.glob("*.part")):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the download never started"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode != 0
    assert list(cache.iterdir()) == []


def _serve_file(root: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    return serving(functools.partial(Quiet, directory=str(root)))


def test_a_damaged_file_in_the_cache_is_not_trusted(bvlc_file, tmp_path):
    src, sha1 = bvlc_file
    cache = tmp_path / "cache"
    with _serve_file(src.parent) as base:
        url = f"{base}/{src.name}"
        path = caffe.download_bvlc(url=url, sha1=sha1, cache=cache, progress=False)
        good = hashlib.sha256(path.read_bytes()).hexdigest()
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor: torch.load would not notice
        path.write_bytes(bytes(data))
        assert caffe.download_bvlc(url=url, sha1=sha1, cache=cache, progress=False) == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == good


def test_a_full_disk_during_the_download_is_not_blamed_on_the_network(bvlc_file, tmp_path):
    src, sha1 = bvlc_file
    cache = tmp_path / "cache"
    cache.mkdir()
    with _serve_file(src.parent) as base, disk_full_after(1 << 20), pytest.raises(OSError) as err:
        caffe.download_bvlc(url=f"{base}/{src.name}", sha1=sha1, cache=cache, progress=False)
    assert not isinstance(err.value, WeightsUnavailable)
    assert "machine with network access" not in str(err.value) and str(cache) in str(err.value)
    assert list(cache.iterdir()) == []
