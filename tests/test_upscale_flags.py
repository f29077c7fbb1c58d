"""Real-ESRGAN's habits work: -i, -n, -s, --ext/--format auto, --fp32, and `results/` when -o is left out."""


from dsrgan.cli import build_parser, main
from dsrgan.imaging import read_image, write_image


def test_short_forms_and_default_output_folder(tmp_path, rng, monkeypatch, tiny_model_file, capsys):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "a.jpg", rng.random((8, 10, 3)))
    write_image(tmp_path / "b.webp", rng.random((6, 7, 3)), quality=100)
    argv = ["upscale", "-i", "a.jpg", "-i", "b.webp", "-n", str(tiny_model_file), "-s", "2", "--ext", "auto",
            "--fp32"]
    args = build_parser().parse_args(argv)
    assert (args.dtype, args.outscale, args.model, args.output) == ("fp32", 2.0, str(tiny_model_file), "results")
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["a_x2.jpg", "b_x2.webp"]
    assert read_image(tmp_path / "results" / "a_x2.jpg").shape == (16, 20)
    assert "float32" in capsys.readouterr().err


def test_positional_and_i_inputs_combine_and_png_stays_the_default(tmp_path, rng, tiny_model_file):
    for name in ("c.png", "d.png"):
        write_image(tmp_path / name, rng.random((5, 5, 3)))
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "c.png"), "-i", str(tmp_path / "d.png"), "-o", str(out),
                 "-n", str(tiny_model_file), "--format", "auto"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["c_x4.png", "d_x4.png"]


def test_no_input_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["upscale"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no input given" in err
    assert not (tmp_path / "results").exists()
    assert list(tmp_path.iterdir()) == []
