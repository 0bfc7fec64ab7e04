"""BVLC's caffemodel: reading both formats, conversion, bad files, preprocessing and the download.

The caffemodels are written by a protobuf encoder of the test's own (below), from caffe.proto's
field numbers: NetParameter.layer = 100 (LayerParameter: name 1, type 2, bottom 3, top 4, blobs 7),
the legacy NetParameter.layers = 2 (V1LayerParameter: bottom 2, top 3, name 4, type 5, blobs 6),
BlobProto (num 1, channels 2, height 3, width 4, data 5 packed, shape 7), BlobShape (dim 1 packed).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import struct
import threading
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
import torch
from test_caffe_forward import bvlc_blobs, caffe_forward, random_paper_model, relative_error

from utils.__main__ import main
from utils.network import caffe
from utils.network.model import googlenet


# ----------------------------------------------------------------------------- a protobuf encoder
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes | int | str) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def floats(values: np.ndarray, packed: bool = True) -> bytes:
    data = np.asarray(values, dtype="<f4").ravel()
    if packed:
        return field(5, data.tobytes())
    return b"".join(varint(5 << 3 | 5) + struct.pack("<f", v) for v in data)  # one fixed32 each


def blob_v2(array: np.ndarray) -> bytes:
    shape = field(1, b"".join(varint(d) for d in array.shape))  # packed int64 dims
    return field(7, shape) + floats(array)


def blob_v1(array: np.ndarray, packed: bool = True) -> bytes:
    dims = (1,) * (4 - array.ndim) + array.shape  # fc weight 1x1xMxN, bias 1x1x1xN
    return b"".join(field(n, d) for n, d in zip((1, 2, 3, 4), dims, strict=True)) + floats(array, packed)


V1_TYPES = {"Convolution": 4, "InnerProduct": 14, "ReLU": 18, "Pooling": 17}


def layer(name: str, type_: str, blobs: list[np.ndarray], v1: bool) -> bytes:
    if v1:
        body = field(2, "bottom") + field(3, "top") + field(4, name) + field(5, V1_TYPES[type_])
        # a legacy file stores small blobs unpacked, one float per field
        body += b"".join(field(6, blob_v1(b, packed=b.ndim > 1)) for b in blobs)
        return field(2, body)
    body = field(1, name) + field(2, type_) + field(3, "bottom") + field(4, "top")
    body += b"".join(field(7, blob_v2(b)) for b in blobs)
    body += field(106, field(1, 64))  # convolution_param { num_output: 64 }: a field the reader skips
    return field(100, body)


def caffemodel(blobs: dict[str, tuple], v1: bool = False) -> bytes:
    """A NetParameter holding ``blobs`` ({BVLC layer name: (weight, bias)}), with weightless layers between."""
    out = field(1, "GoogleNet")
    for name, (w, b) in blobs.items():
        w, b = np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)
        out += layer(name, "Convolution" if w.ndim == 4 else "InnerProduct", [w, b], v1)
        out += layer(name + "_relu", "ReLU", [], v1)
    out += layer("pool5/7x7_s1", "Pooling", [], v1)
    return out


# ----------------------------------------------------------------------------- helpers
def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def reference():
    """A random paper-variant state dict and its BVLC blobs (conv1 in BGR)."""
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) for k, v in googlenet("paper", num_classes=1000).state_dict().items()}
    return state, bvlc_blobs(state)


def assert_refused(tmp_path, src, *needles):
    dst = tmp_path / "out" / "converted.pt"
    dst.parent.mkdir(exist_ok=True)
    code, out, err = run("convert-caffe", src, "--out", dst)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    for needle in needles:
        assert needle in err
    assert list(dst.parent.iterdir()) == []  # no output, no temporary file
    return err


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("v1", [False, True], ids=["V2 layer", "V1 layers"])
def test_round_trip_is_exact_in_both_formats(tmp_path, reference, v1):
    state, blobs = reference
    src, dst = tmp_path / "net.caffemodel", tmp_path / "net.pt"
    src.write_bytes(caffemodel(blobs, v1=v1))
    code, out, err = run("convert-caffe", src, "--out", dst)
    assert code == 0 and err == "" and "128 tensors" in out
    got = torch.load(dst, map_location="cpu", weights_only=True)
    assert list(got) == list(state) and len(got) == 128
    for k in state:
        assert got[k].dtype == torch.float32 and torch.equal(got[k], state[k]), k
    model = googlenet("paper", num_classes=1000, aux_logits=True)
    model.load_state_dict(got, strict=True)


def test_conv1_is_flipped_from_bgr_to_rgb(reference):
    _, blobs = reference
    got = caffe.caffe_to_state_dict(caffe.read_caffemodel(caffemodel(blobs)))
    caffe_w = blobs["conv1/7x7_s2"][0]
    assert torch.equal(got["conv1.conv.weight"][:, 0], caffe_w[:, 2])  # R was Caffe's third channel
    assert torch.equal(got["conv1.conv.weight"][:, 2], caffe_w[:, 0])


def test_missing_layer_is_refused(tmp_path, reference):
    _, blobs = reference
    src = tmp_path / "net.caffemodel"
    src.write_bytes(caffemodel({k: v for k, v in blobs.items() if k != "inception_4c/5x5"}))
    assert_refused(tmp_path, src, "'inception_4c/5x5'", "missing")


def test_shape_mismatch_is_refused(tmp_path, reference):
    _, blobs = reference
    wrong = dict(blobs, **{"loss3/classifier": (torch.randn(10, 1024), torch.randn(10))})
    src = tmp_path / "net.caffemodel"
    src.write_bytes(caffemodel(wrong))
    assert_refused(tmp_path, src, "'loss3/classifier'", "(10, 1024)", "(1000, 1024)")


def test_truncated_file_is_refused(tmp_path, reference):
    _, blobs = reference
    data = caffemodel(blobs)
    src = tmp_path / "net.caffemodel"
    src.write_bytes(data[: len(data) // 2])
    assert_refused(tmp_path, src, "truncated")


def test_corrupt_file_is_refused(tmp_path, reference):
    _, blobs = reference
    data = bytearray(caffemodel(blobs))
    data[0] = 0x0F  # field 1 with wire type 7, which does not exist
    src = tmp_path / "net.caffemodel"
    src.write_bytes(bytes(data))
    assert_refused(tmp_path, src, "corrupt", "invalid field tag")


def test_blob_whose_shape_and_data_disagree_is_refused(tmp_path):
    bad = field(7, field(1, varint(4) + varint(3))) + floats(np.zeros(5))  # 4x3 shape, 5 values
    src = tmp_path / "net.caffemodel"
    src.write_bytes(field(100, field(1, "conv1/7x7_s2") + field(7, bad)))
    assert_refused(tmp_path, src, "'conv1/7x7_s2'", "(4, 3)", "5 values")


@pytest.mark.parametrize("content", [b'name: "GoogleNet"\nlayer {\n  name: "data"\n}\n', b"",
                                     field(1, "a net without layers")],
                         ids=["prototxt", "empty", "no layers"])
def test_not_a_caffemodel_is_refused(tmp_path, content):
    src = tmp_path / "deploy.prototxt"
    src.write_bytes(content)
    err = assert_refused(tmp_path, src, str(src))
    assert any(w in err for w in ("not a binary", "empty", "is text"))


def test_missing_source_file_is_refused(tmp_path):
    assert_refused(tmp_path, tmp_path / "nowhere.caffemodel", "does not exist")


# ----------------------------------------------------------------------------- preprocessing
def test_preprocessing_gives_caffes_logits_on_a_photo(tmp_path):
    """Item 4: converted weights + CaffePreprocess on an RGB [0, 1] photo == Caffe on the BGR 0-255 image."""
    from skimage import data

    model = random_paper_model(seed=3)
    blobs = bvlc_blobs(model.state_dict())
    src, dst = tmp_path / "net.caffemodel", tmp_path / "net.pt"
    src.write_bytes(caffemodel(blobs))
    caffe.convert_caffemodel(src, dst)
    converted = googlenet("paper", num_classes=1000, aux_logits=True)
    converted.load_state_dict(torch.load(dst, weights_only=True))
    converted.eval()

    photo = data.chelsea()[38:262, 113:337]  # a 224x224 centre crop, uint8 RGB
    rgb01 = torch.from_numpy(photo.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        ours = converted(caffe.caffe_preprocess(rgb01))
    bgr255 = torch.from_numpy(photo[:, :, ::-1].astype(np.float64)).permute(2, 0, 1)[None]
    mean_bgr = torch.tensor([104.0, 117.0, 123.0], dtype=torch.float64).view(1, 3, 1, 1)  # train_val.prototxt
    assert relative_error(ours, caffe_forward(blobs, bgr255 - mean_bgr)) <= 1e-4


def test_mean_std_pair_is_the_same_transform():
    x = torch.rand(2, 3, 8, 8)
    mean = torch.tensor(caffe.CAFFE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(caffe.CAFFE_STD).view(1, 3, 1, 1)
    torch.testing.assert_close((x - mean) / std, caffe.CaffePreprocess()(x), rtol=0, atol=1e-4)
    assert caffe.caffe_preprocess(torch.ones(1, 3, 1, 1)).flatten().tolist() == [132.0, 138.0, 151.0]


# ----------------------------------------------------------------------------- download
@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path / "www"``."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def served(reference):
    data = caffemodel(reference[1], v1=True)
    return data, hashlib.sha1(data).hexdigest()


def test_download_verifies_converts_and_caches(tmp_path, server, served, reference, monkeypatch):
    root, base = server
    data, sha1 = served
    (root / "bvlc_googlenet.caffemodel").write_bytes(data)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GOOGLENET_CACHE", str(cache))
    assert caffe.bvlc_weights_path() is None
    code, out, err = run("download-bvlc", "--url", f"{base}/bvlc_googlenet.caffemodel", "--sha1", sha1, "--quiet")
    assert code == 0, err
    # the caffemodel is not kept; the converted file's digest is, to check the cache later
    assert sorted(p.name for p in cache.iterdir()) == ["bvlc_googlenet.pt", "bvlc_googlenet.pt.sha256"]
    assert caffe.bvlc_weights_path() == cache / "bvlc_googlenet.pt"
    model, preprocess = caffe.load_bvlc_googlenet()
    assert not model.training and isinstance(preprocess, caffe.CaffePreprocess)
    for k, v in reference[0].items():
        assert torch.equal(model.state_dict()[k], v), k


def test_download_takes_url_and_checksum_from_the_environment(tmp_path, server, served, monkeypatch):
    root, base = server
    data, sha1 = served
    (root / "weights.bin").write_bytes(data)
    monkeypatch.setenv("GOOGLENET_BVLC_URL", f"{base}/weights.bin")
    monkeypatch.setenv("GOOGLENET_BVLC_SHA1", sha1)
    path = caffe.download_bvlc(cache=tmp_path / "cache", progress=True)  # with its progress bar
    assert path == tmp_path / "cache" / "bvlc_googlenet.pt" and path.is_file()


def test_wrong_checksum_leaves_nothing_behind(tmp_path, server, served):
    root, base = server
    (root / "bvlc_googlenet.caffemodel").write_bytes(served[0])
    cache = tmp_path / "cache"
    code, _, err = run("download-bvlc", "--url", f"{base}/bvlc_googlenet.caffemodel", "--sha1", "0" * 40,
                       "--cache-dir", cache, "--quiet")
    assert code == 2 and "SHA-1" in err and served[1] in err and err.count("\n") == 1
    assert list(cache.iterdir()) == []


def test_server_404_says_where_to_put_the_file(tmp_path, server):
    _, base = server
    cache = tmp_path / "cache"
    code, _, err = run("download-bvlc", "--url", f"{base}/missing.caffemodel", "--cache-dir", cache, "--quiet")
    assert code == 2 and "404" in err and err.count("\n") == 1
    assert str(cache / "bvlc_googlenet.caffemodel") in err
    assert list(cache.iterdir()) == []


def test_offline_uses_a_caffemodel_put_in_the_cache_by_hand(tmp_path, served):
    data, sha1 = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "bvlc_googlenet.caffemodel").write_bytes(data)
    dead = "http://127.0.0.1:9/bvlc_googlenet.caffemodel"  # the discard port: nothing listens
    code, _, err = run("download-bvlc", "--url", dead, "--sha1", sha1, "--cache-dir", cache, "--quiet")
    assert code == 0, err
    assert (cache / "bvlc_googlenet.pt").is_file()


def test_offline_without_the_file_says_where_to_put_it(tmp_path):
    cache = tmp_path / "cache"
    code, _, err = run("download-bvlc", "--url", "http://127.0.0.1:9/x.caffemodel", "--cache-dir", cache, "--quiet")
    assert code == 2 and err.count("\n") == 1 and str(cache / "bvlc_googlenet.caffemodel") in err


def test_missing_weights_name_the_command_that_gets_them(tmp_path, monkeypatch):
    from utils.network.weights import WeightsUnavailable

    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path))
    assert caffe.bvlc_weights_path() is None
    with pytest.raises(WeightsUnavailable, match="python -m utils download-bvlc"):
        caffe.load_bvlc_googlenet()


def test_layer_table_covers_every_tensor_of_the_paper_variant():
    keys = {f"{m}.{s}" for m in caffe.BVLC_LAYERS.values() for s in ("weight", "bias")}
    assert keys == set(googlenet("paper", num_classes=1000, aux_logits=True).state_dict())
    assert len(caffe.BVLC_LAYERS) == 64 and caffe.BVLC_LAYERS["loss2/fc"] == "aux2.fc1"
