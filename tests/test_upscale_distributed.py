"""`torchrun ... -m dsrgan.cli upscale`: processes share the inputs, skip-existing holds, one summary."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dsrgan.cli import main
from dsrgan.imaging import read_image, write_image
from dsrgan.inference import shard
from dsrgan.utils import ranks


def test_take_splits_by_output_and_covers_everything():
    pairs = [(Path(f"in/{k}.png"), Path(f"out/{k % 5}.png")) for k in range(9)]  # 4 outputs are shared
    parts = [shard.take(pairs, ranks.Ranks(rank=r, world=3)) for r in range(3)]
    assert sorted(p for part in parts for p in part) == sorted(pairs)
    for part in parts:  # an output never lands in two processes
        others = {o for q in parts if q is not part for _, o in q}
        assert not {o for _, o in part} & others
    assert shard.take(pairs, ranks.Ranks()) == pairs


def test_environment_and_cpu_threads(monkeypatch):
    for k, v in dict(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", LOCAL_WORLD_SIZE="2").items():
        monkeypatch.setenv(k, v)
    share = ranks.from_env()
    assert (share.rank, share.world, share.local_rank, share.enabled) == (1, 2, 1, True)
    assert shard.device_for("cpu", share) == "cpu" and shard.device_for("cuda:3", share) == "cuda:3"
    assert shard.threads_for(5, "cpu", share) == 5 and shard.threads_for(None, "cuda:1", share) is None
    assert shard.threads_for(None, "cpu", share) >= 1
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not ranks.from_env().enabled


@pytest.mark.slow
def test_two_cpu_processes(tmp_path, rng, tiny_model_file):
    src, out, ref = tmp_path / "in", tmp_path / "out", tmp_path / "ref"
    for k in range(5):
        write_image(src / "sub" / f"p{k}.png" if k % 2 else src / f"p{k}.png", rng.random((10 + k, 12, 3)))
    kept = out / "p0_x4.png"
    write_image(kept, np.zeros((4, 4, 3)))  # exists already: must be skipped, not replaced
    before = kept.read_bytes()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dsrgan.cli", "upscale", str(src), "-o", str(out), "-n", str(tiny_model_file)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [ln for ln in done.stderr.splitlines() if "finished:" in ln]
    assert len(summaries) == 1 and "4 done, 1 skipped" in summaries[0] and "0 failed" in summaries[0]
    assert "[1/2]" in done.stderr and "[2/2]" in done.stderr  # both processes worked
    assert kept.read_bytes() == before
    # the same pictures as one process makes
    assert main(["upscale", str(src), "-o", str(ref), "-n", str(tiny_model_file)]) == 0
    made = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert made == sorted(p.relative_to(ref) for p in ref.rglob("*.png")) and len(made) == 5
    for rel in made:
        if out / rel != kept:
            np.testing.assert_array_equal(read_image(out / rel).rgb, read_image(ref / rel).rgb)
