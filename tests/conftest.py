"""Shared fixtures. Tests that need ../shared/data skip with a reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not available: {path} is missing (tests read ../shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def set5_dir(shared_data) -> Path:
    return _need(shared_data / "benchmarks" / "Set5")


@pytest.fixture(scope="session")
def set14_dir(shared_data) -> Path:
    return _need(shared_data / "benchmarks" / "Set14")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A small random-init DSRGAN model file: fast end-to-end runs of the CLI and the Python API."""
    import torch

    from dsrgan.archs import ArchSpec, build
    from dsrgan.weights import save_model

    spec = ArchSpec("dsrgan", dict(num_feat=8, num_block=1, num_grow=4, up_channels=4, taps=(1,), detail_feat=4,
                                   detail_grow=4, detail_up_channels=4, attention_channels=4, fusion="multiply",
                                   detail_channels=1), detail_variant="dsrgan", name="tiny")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, build(spec), spec)
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_engine_cache(tmp_path_factory):
    """Exported engine files go to a throw-away folder, never into the user's cache."""
    import os

    old = os.environ.get("DSRGAN_CACHE_DIR")
    os.environ["DSRGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("dsrgan-cache"))
    yield
    if old is None:
        os.environ.pop("DSRGAN_CACHE_DIR", None)
    else:
        os.environ["DSRGAN_CACHE_DIR"] = old
