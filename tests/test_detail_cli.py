"""`dsrgan detail`: files and folders, pictures and raw arrays, bad inputs reported without tracebacks."""

from __future__ import annotations

import numpy as np
from PIL import Image
from synthetic import synthetic_image

from dsrgan.cli import main
from dsrgan.detail import extract_detail, get_prior, guided_detail


def _write(path, seed=0, shape=(24, 31)):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = synthetic_image(*shape, seed=seed)
    Image.fromarray(img).save(path)
    return img


def test_single_file_picture_and_raw(tmp_path):
    img = _write(tmp_path / "a.png")
    assert main(["detail", str(tmp_path / "a.png"), "-o", str(tmp_path / "d.png"), "--raw",
                 str(tmp_path / "d.npy")]) == 0
    raw = np.load(tmp_path / "d.npy")
    expect = extract_detail(img.astype(np.float32) / 255)
    assert raw.shape == img.shape[:2] and np.abs(raw - expect).max() <= 1e-6
    pic = np.asarray(Image.open(tmp_path / "d.png"))
    assert pic.ndim == 2 and pic.min() == 0 and pic.max() == 255  # min-max normalised, gray
    assert np.abs(pic / 255.0 - get_prior("dsrgan").picture(raw)).max() <= 0.5 / 255 + 1e-6


def test_folder_keeps_layout_and_reports_bad_files(tmp_path, capsys):
    src = tmp_path / "in"
    img = _write(src / "x" / "one.png", 1)
    _write(src / "two.png", 2)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rc = main(["detail", str(src), "-o", str(tmp_path / "out"), "--variant", "gif", "--raw", str(tmp_path / "raw")])
    err = capsys.readouterr().err
    assert rc == 1 and "broken.png" in err and "Traceback" not in err
    assert (tmp_path / "out" / "two_detail.png").exists()
    pic = np.asarray(Image.open(tmp_path / "out" / "x" / "one_detail.png"))
    assert pic.shape == img.shape  # gif detail is RGB
    raw = np.load(tmp_path / "raw" / "x" / "one_detail.npy")
    assert np.abs(raw - guided_detail(img.astype(np.float32) / 255)).max() <= 1e-6
    # existing outputs are kept unless --overwrite
    rc = main(["detail", str(src / "two.png"), "-o", str(tmp_path / "out" / "two_detail.png")])
    assert rc == 0 and "1 skipped" in capsys.readouterr().err


def test_refuses_to_overwrite_input_and_missing_paths(tmp_path, capsys):
    _write(tmp_path / "a.png")
    assert main(["detail", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.png"), "--overwrite"]) == 2
    assert "replace an input" in capsys.readouterr().err
    # a missing input, even beside a good one, stops the command before any work, in one line
    assert main(["detail", str(tmp_path / "a.png"), str(tmp_path / "nope.png"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope.png: no such file" in err and err.count("\n") == 1 and not (tmp_path / "o").exists()
    # a mistyped extension is refused, not made into a folder
    assert main(["detail", str(tmp_path / "a.png"), "-o", str(tmp_path / "d.pgn")]) == 2
    assert "'.pgn' is not an image format" in capsys.readouterr().err and not (tmp_path / "d.pgn").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detail", str(empty), "-o", str(tmp_path / "o")]) != 0
    assert "no images found" in capsys.readouterr().err


def test_robust_normalisation_centres_no_detail():
    flat = get_prior("dsrgan").picture(np.ones((4, 5), np.float32), "robust")
    assert np.all(flat == 0.5)
    d = np.zeros((10, 10, 3))
    d[0, 0, 0] = 1.0  # one outlier
    d[5:, :, :] = 0.01
    pic = get_prior("gif").picture(d, "robust")
    assert pic[0, 0, 0] == 1.0 and pic[0, 1, 0] == 0.5 and pic[6, 6, 1] == 1.0


def test_existing_picture_or_raw_is_never_replaced_without_overwrite(tmp_path, capsys):
    _write(tmp_path / "a.png")
    src, pic, raw = str(tmp_path / "a.png"), tmp_path / "p.png", tmp_path / "r.npy"
    pic.write_bytes(b"old picture")
    assert main(["detail", src, "-o", str(pic), "--raw", str(raw)]) == 0
    assert pic.read_bytes() == b"old picture" and np.load(raw).shape == (24, 31)  # only the new --raw written
    raw.write_bytes(b"old raw")
    pic.unlink()
    assert main(["detail", src, "-o", str(pic), "--raw", str(raw)]) == 0
    assert raw.read_bytes() == b"old raw" and Image.open(pic).size == (31, 24)
    assert main(["detail", src, "-o", str(pic), "--raw", str(raw)]) == 0
    assert "1 skipped" in capsys.readouterr().err
    assert main(["detail", src, "-o", str(pic), "--raw", str(raw), "--overwrite"]) == 0
    assert np.load(raw).shape == (24, 31)


def test_destinations_are_checked_before_any_work(tmp_path, capsys):
    _write(tmp_path / "in" / "a.png")
    _write(tmp_path / "in" / "b.png", seed=1)
    (tmp_path / "file").write_text("x")
    cases = [
        (["-o", str(tmp_path / "file")], "is a file, not a folder"),
        (["-o", str(tmp_path / "o"), "--raw", str(tmp_path / "file")], "is a file, not a folder"),
        (["-o", str(tmp_path / "file" / "sub")], "is a file, not a folder"),
    ]
    for extra, words in cases:
        assert main(["detail", str(tmp_path / "in"), *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    (tmp_path / "o" / "a_detail.png").mkdir(parents=True)  # an output name taken by a folder
    assert main(["detail", str(tmp_path / "in"), "-o", str(tmp_path / "o")]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a_detail.png"]  # nothing computed or written
