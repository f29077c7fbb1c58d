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
