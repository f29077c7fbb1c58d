"""Destination mistakes by class, in every command that writes: two inputs with one output, an output that is
(or holds) an input, a file name given for many outputs. Each is refused before any work, nothing is made,
and no input changes, even with --overwrite."""

import pytest
from cli_checks import assert_refused, file_tree, noise_png

from dsrgan.cli import main


def _img(path, seed=0, size=(16, 20)):
    return noise_png(path, seed, size)


def _refused(argv, capsys, tmp_path, words):
    return assert_refused(argv, capsys, tmp_path, "error:", words)


@pytest.mark.parametrize("command", [["upscale", "--model", "MODEL"], ["detail"], ["degrade"]])
def test_two_inputs_with_one_output_are_refused_before_any_work(command, tiny_model_file, tmp_path, capsys,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = [str(tiny_model_file) if c == "MODEL" else c for c in command]
    _img(tmp_path / "a.png"), _img(tmp_path / "a.jpg", 1)  # same stem: the same output name
    (tmp_path / "out").mkdir()
    err = _refused([*command, "a.png", "a.jpg", "-o", "out"], capsys, tmp_path, "would be written for both")
    assert "a.png" in err and "a.jpg" in err


def test_a_file_inside_a_folder_also_given_is_done_once(tiny_model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "in" / "a.png")
    assert main(["upscale", "in", "in/a.png", "--model", str(tiny_model_file), "-o", "out"]) == 0
    assert "1 done" in capsys.readouterr().err and file_tree(tmp_path / "out").keys() == {"a_x4.png"}


@pytest.mark.parametrize("command", [["upscale", "--model", "MODEL"], ["detail"]])
def test_a_file_name_for_several_outputs_is_refused_not_made_a_folder(command, tiny_model_file, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = [str(tiny_model_file) if c == "MODEL" else c for c in command]
    _img(tmp_path / "a.png"), _img(tmp_path / "b.png", 1)
    _refused([*command, "a.png", "b.png", "-o", "big.png"], capsys, tmp_path, "names a file")
    assert main([*command, "a.png", "b.png", "-o", "big.png/"]) == 0  # a folder of that name, when asked
    assert sorted(file_tree(tmp_path / "big.png")) == sorted(f"{s}_{'x4' if 'upscale' in command else 'detail'}.png"
                                                         for s in "ab")


def test_detail_raw_names_a_npy_file_or_a_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "a.png")
    _refused(["detail", "a.png", "-o", "d.png", "--raw", "r.txt"], capsys, tmp_path, "not the --raw format")
    _refused(["detail", "a.png", "-o", "d.png", "--raw", "d.png"], capsys, tmp_path, "not the --raw format")
    # the picture's file name cannot also be the folder of the raw file
    _refused(["detail", "a.png", "-o", "d.png", "--raw", "d.png/"], capsys, tmp_path, "also the folder of")


def test_evaluate_reports_never_replace_an_input_even_with_overwrite(tiny_model_file, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    hr = _img(tmp_path / "set" / "HR" / "im.png", size=(32, 32))
    model = tmp_path / "m.safetensors"
    model.write_bytes(tiny_model_file.read_bytes())
    base = ["evaluate", "--quiet", "--no-lpips", "--no-niqe", "set", "--overwrite"]
    _refused([*base, "--json", str(hr)], capsys, tmp_path, "would replace an input")
    _refused([*base, "--model", str(model), "--markdown", str(model)], capsys, tmp_path, "would replace an input")


def test_prepare_overwrite_never_deletes_inputs_or_other_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(2):
        _img(tmp_path / "data" / "HR" / f"im{i}.png", i, size=(32, 32))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    args = ["--crop", "0", "--workers", "1", "--overwrite"]
    # -o holding the input folder: --overwrite used to delete it with the store's old contents
    _refused(["prepare", "data/HR", "-o", "data", *args], capsys, tmp_path, "holds the input")
    _refused(["prepare", "data/HR", "-o", ".", *args], capsys, tmp_path, "holds the input")
    _refused(["prepare", "data", "-o", "data/HR/store", *args], capsys, tmp_path, "lies inside the input")
    _refused(["prepare", "data/HR", "-o", "notes", *args], capsys, tmp_path, "not a store")
    # a store is replaced; a run that finds nothing usable keeps the old store instead of deleting it
    assert main(["prepare", "data/HR", "-o", "store", *args]) == 0
    capsys.readouterr()
    store = file_tree(tmp_path / "store")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("no images")
    assert main(["prepare", "junk", "-o", "store", *args]) == 2
    assert "no readable images in junk" in capsys.readouterr().err
    assert file_tree(tmp_path / "store") == store


@pytest.mark.parametrize("command", [["upscale", "--model", "MODEL"], ["detail"], ["degrade"]])
def test_an_input_folder_inside_the_output_folder_is_refused(command, tiny_model_file, tmp_path, capsys,
                                                             monkeypatch):
    # its files were left out as "our outputs": `-o .` said "no images found", and `a.png photos -o photos`
    # upscaled a.png alone, dropping the folder without a word
    monkeypatch.chdir(tmp_path)
    command = [str(tiny_model_file) if c == "MODEL" else c for c in command]
    _img(tmp_path / "photos" / "p.png"), _img(tmp_path / "a.png", 1)
    _refused([*command, "photos", "-o", "."], capsys, tmp_path, "input folder photos lies in the output folder .")
    _refused([*command, "a.png", "photos", "-o", "photos"], capsys, tmp_path, "is the output folder photos")
