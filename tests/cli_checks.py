"""Helpers for the command-line refusal tests: small noise images, a folder's files, and the refusal check."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dsrgan.cli import main


def noise_png(path, seed=0, size=(16, 20)):
    """An RGB noise image at `path` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)
    Image.fromarray(a).save(path)
    return path


def file_tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(argv, capsys, folder, *words) -> str:
    """`dsrgan ARGV` exits 2 with one line on stderr holding every word, and nothing under `folder` is made or
    changed."""
    before = file_tree(folder)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert file_tree(folder) == before
    return err
