"""`dsrgan upscale` end to end with a tiny random model saved to a file."""

import numpy as np
import pytest
from PIL import Image

from dsrgan.cli import main
from dsrgan.imaging import read_image


@pytest.fixture(scope="module")
def model_file(tiny_model_file):
    return tiny_model_file


def _img(path, rng, size=(6, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = (rng.random((*size, 3)) * 255).astype(np.uint8)
    Image.fromarray(a).convert(mode).save(path)
    return path


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_folder_with_a_corrupt_file_in_the_middle(model_file, tmp_path, rng, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    _img(src / "a.png", rng)
    _img(src / "sub" / "c.png", rng, mode="L")
    (src / "m_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # sorts between a and sub/c
    _img(src / "z.jpg", rng)
    rc = main(["upscale", str(src), "-o", str(out), "--model", str(model_file)])
    err = capsys.readouterr().err
    assert rc == 1
    assert _files(out) == ["a_x4.png", "sub/c_x4.png", "z_x4.png"]  # layout kept, nothing for the bad file
    assert "m_broken.png" in err and "3 done" in err and "1 failed" in err
    assert "4/4" in err  # progress shows N/total
    assert read_image(out / "sub" / "c_x4.png").grayscale
    assert read_image(out / "a_x4.png").rgb.shape == (24, 32, 3)

    # a second run skips what exists, --overwrite redoes it
    before = (out / "a_x4.png").stat().st_mtime_ns
    (src / "m_broken.png").unlink()
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model_file)]) == 0
    assert "3 skipped" in capsys.readouterr().err
    assert (out / "a_x4.png").stat().st_mtime_ns == before
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model_file), "--overwrite"]) == 0
    assert "3 done" in capsys.readouterr().err


def test_never_writes_over_an_input(model_file, tmp_path, rng, capsys):
    src = _img(tmp_path / "a.png", rng)
    other = _img(tmp_path / "b.png", rng)
    before = src.read_bytes(), other.read_bytes()
    rc = main(["upscale", str(src), str(other), "-o", str(tmp_path), "--suffix", "", "--model", str(model_file),
               "--overwrite"])
    assert rc == 2  # a usage error found before the model loads
    assert "replace an input" in capsys.readouterr().err
    assert (src.read_bytes(), other.read_bytes()) == before
    # single file to an explicit file name that is the input
    rc = main(["upscale", str(src), "-o", str(src), "--model", str(model_file), "--overwrite"])
    assert rc == 2 and src.read_bytes() == before[0]


def test_single_file_to_file_with_format_and_outscale(model_file, tmp_path, rng):
    src = _img(tmp_path / "a.png", rng)
    assert main(["upscale", str(src), "-o", str(tmp_path / "x.jpg"), "--model", str(model_file),
                 "--outscale", "2"]) == 0
    assert Image.open(tmp_path / "x.jpg").size == (16, 12)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--model", str(model_file), "--format", "tiff",
                 "--tile", "16", "--tile-overlap", "4", "--threads", "1"]) == 0
    assert _files(tmp_path / "o") == ["a_x4.tiff"]


def test_interrupted_run_leaves_no_partial_files(model_file, tmp_path, rng, monkeypatch, capsys):
    import dsrgan.imaging.io as io

    src, out = tmp_path / "in", tmp_path / "out"
    for name in ("a.png", "b.png", "c.png"):
        _img(src / name, rng)
    real_encode = io._encode
    calls = []

    def encode_then_interrupt(tmp, *args, **kwargs):
        calls.append(tmp)
        if len(calls) == 2:  # Ctrl-C in the middle of writing the second image
            tmp.write_bytes(b"\x89PNG half")
            raise KeyboardInterrupt
        return real_encode(tmp, *args, **kwargs)

    monkeypatch.setattr(io, "_encode", encode_then_interrupt)
    rc = main(["upscale", str(src), "-o", str(out), "--model", str(model_file)])
    assert rc == 130
    assert "interrupted after 1 done" in capsys.readouterr().err
    assert _files(out) == ["a_x4.png"]  # the finished one, complete; no partial b, no temp files
    assert read_image(out / "a_x4.png").rgb.shape == (24, 32, 3)


def test_user_errors_are_one_line(model_file, tmp_path, rng, capsys):
    src = _img(tmp_path / "a.png", rng)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "nope.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsrgan upscale: error:") and "nope.safetensors" in err and "Traceback" not in err
    # a missing input, alone or beside a good one, is refused before the model loads (the model does not exist)
    for inputs in ([tmp_path / "empty_dir_missing"], [src, tmp_path / "nope.png"]):
        assert main(["upscale", *map(str, inputs), "-o", str(tmp_path / "o"), "--model",
                     str(tmp_path / "nope.safetensors")]) == 2
        err = capsys.readouterr().err
        assert "no such file" in err and "safetensors" not in err and err.count("\n") == 1
    # one input file and an OUTPUT with an extension we do not write: an error, not a folder of that name
    for out in ("o.pgn", "x.xyz"):
        assert main(["upscale", str(src), "-o", str(tmp_path / out), "--model", str(model_file)]) == 2
        assert "is not an image format we write" in capsys.readouterr().err and not (tmp_path / out).exists()
    # ...unless it ends with a separator (or exists as a folder): then it is the output folder
    assert main(["upscale", str(src), "-o", str(tmp_path / "res.v2") + "/", "--model", str(model_file)]) == 0
    assert (tmp_path / "res.v2" / "a_x4.png").is_file()
    (tmp_path / "empty").mkdir()
    assert main(["upscale", str(tmp_path / "empty"), "-o", str(tmp_path / "o"), "--model", str(model_file)]) == 2
    assert "no images found" in capsys.readouterr().err


def test_python_api_load_once_run_many(model_file, rng):
    import dsrgan

    up = dsrgan.load_model(model_file, device="cpu")
    a = (rng.random((5, 7, 3)) * 255).astype(np.uint8)
    assert up.upscale(a).shape == (20, 28, 3)
    assert dsrgan.upscale(a, model=model_file).dtype == np.uint8


def test_python_api_upscale_file_defaults_and_checks(model_file, tmp_path, rng):
    """upscale_file with its defaults writes what upscale() writes; an unknown keyword or output format fails before
    any compute (the model must not run: the output must not appear)."""
    import dsrgan
    from dsrgan.errors import OutputError

    src = _img(tmp_path / "a.png", rng)
    up = dsrgan.load_model(model_file, device="cpu")
    out = up.upscale_file(src, tmp_path / "b.png")
    assert out == tmp_path / "b.png"
    assert np.array_equal(read_image(out).rgb, read_image(up.upscale(src, output=tmp_path / "c.png")).rgb)
    assert up.upscale_file(src) == tmp_path / "a_x4.png" and (tmp_path / "a_x4.png").is_file()
    calls = []
    up._upscale_planes = lambda *a, **k: calls.append(1)
    with pytest.raises(TypeError, match="tiles"):
        up.upscale_file(src, tmp_path / "d.png", tiles=3)
    with pytest.raises(OutputError, match="unknown output format '.xyz'"):
        up.upscale_file(src, tmp_path / "d.xyz")
    assert not calls and not (tmp_path / "d.png").exists()


def test_destinations_are_checked_before_the_model_loads(tmp_path, rng, capsys):
    _img(tmp_path / "in" / "a.png", rng)
    _img(tmp_path / "in" / "b.png", rng)
    (tmp_path / "file").write_text("x")
    (tmp_path / "o" / "a_x4.png").mkdir(parents=True)
    missing_model = str(tmp_path / "no-such-model.safetensors")  # loading it would fail: it must not get there
    for out, words in ((tmp_path / "file", "is a file, not a folder"), (tmp_path / "file" / "sub", "is a file"),
                       (tmp_path / "o", "is a folder")):
        assert main(["upscale", str(tmp_path / "in"), "-o", str(out), "--model", missing_model]) == 2
        err = capsys.readouterr().err
        assert words in err and "no-such-model" not in err and err.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a_x4.png"]
