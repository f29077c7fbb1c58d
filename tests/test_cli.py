import subprocess
import sys

from dsrgan import __version__
from dsrgan.cli import COMMANDS, main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_subcommands(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for name in ("upscale", "detail", "train", "evaluate"):
        assert name in out
    assert {c[0] for c in COMMANDS} >= {"upscale", "detail", "train", "evaluate"}


def test_import_is_light():
    code = ("import sys, dsrgan, dsrgan.cli; dsrgan.cli.build_parser(); "
            "print([m for m in ('torch', 'numba', 'cv2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", "importing dsrgan or building the CLI must not import torch, numba or cv2"


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os
    import stat

    from dsrgan.utils.atomic import atomic_write_text

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left
