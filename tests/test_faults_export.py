"""export-model under faults: an --out that would write over the run it reads or a file nobody named, the
shipped model as the default --out, a missing run folder and a full disk."""

from __future__ import annotations

import hashlib
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest
from test_faults_caffe import disk_full_after
from test_shipped import photos, run  # noqa: F401  (fixtures: a finished fake run and its photos)

from utils.__main__ import main
from utils.training import export


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_never_writes_into_the_run_folder(run, photos):  # noqa: F811
    folder = run[0]
    final = folder / "final.pt"
    before = digest(final)
    for out in (final, folder / "export.pt"):
        code, printed, err = cli("export-model", folder, "--out", out, "--data", photos, "--quiet", "--overwrite")
        assert code == 2 and printed == "" and "run's folder" in err and err.count("\n") == 1
    assert digest(final) == before
    assert not (folder / "export.pt").exists() and not (folder / "final.json").exists()


def test_export_replaces_an_existing_file_only_when_asked(run, photos, tmp_path):  # noqa: F811
    out = tmp_path / "model.pt"
    out.write_bytes(b"someone's file")
    with pytest.raises(ValueError, match="already exists.*--overwrite"):
        export.export_model(run[0], out, data=photos, progress=False)
    assert out.read_bytes() == b"someone's file"
    lone = tmp_path / "lone.pt"
    lone.with_suffix(".json").write_text("{}")  # the manifest it would write beside is someone's too
    with pytest.raises(ValueError, match=r"lone\.json already exists"):
        export.export_model(run[0], lone, data=photos, progress=False)
    assert not lone.exists() and lone.with_suffix(".json").read_text() == "{}"
    m = export.export_model(run[0], out, data=photos, progress=False, overwrite=True)
    assert digest(out) == m["sha256"]


def test_reshipping_the_default_needs_overwrite_and_says_so(run, photos, tmp_path, monkeypatch):  # noqa: F811
    shipped = tmp_path / "assets" / "googlenet_imagenette.pt"
    shipped.parent.mkdir()
    shipped.write_bytes(b"the shipped weights")
    monkeypatch.setattr(export, "SHIPPED", shipped)
    code, _, err = cli("export-model", run[0], "--data", photos, "--quiet")
    assert code == 2 and "shipped model" in err and "--overwrite" in err and err.count("\n") == 1
    assert shipped.read_bytes() == b"the shipped weights"
    code, printed, err = cli("export-model", run[0], "--data", photos, "--quiet", "--overwrite")
    assert code == 0, err
    assert str(shipped) in printed and shipped.with_suffix(".json").is_file()


def test_a_missing_run_folder_is_named_as_missing(tmp_path, photos):  # noqa: F811
    code, _, err = cli("export-model", tmp_path / "no_such_run", "--out", tmp_path / "m.pt", "--data", photos)
    assert code == 2 and "does not exist" in err and "resume" not in err


def test_export_on_a_full_disk_says_so_and_keeps_the_old_pair(run, photos, tmp_path):  # noqa: F811
    out = tmp_path / "model.pt"
    first = export.export_model(run[0], out, data=photos, progress=False)
    manifest = out.with_suffix(".json").read_text()
    with disk_full_after(1 << 20):
        code, _, err = cli("export-model", run[0], "--out", out, "--data", photos, "--quiet", "--overwrite")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and str(out) in err
    assert digest(out) == first["sha256"] and out.with_suffix(".json").read_text() == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt"]  # no temporary file
