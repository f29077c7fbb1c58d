"""Writes the training checkpoint fixture of this folder with the code of the day it was made (format
dsrgan-train-v1, config embedded as the old flat dict). Kept to document how the fixture was made:

    PYTHONPATH=src:. python tests/data/old_checkpoint/make.py   (at commit 2a9897b, tests/test_train.py of
    that commit with its data fixture as make_train_images)

It trains the tiny GAN config of tests/test_train.py for 2 iterations, keeps the checkpoint after iteration 1
(`iter_00000001.pt`) and the networks after iteration 2 (`after_2.pt`): resuming the first with today's code must
give the second exactly.
"""

import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.test_train import Trainer, make_train_images, tiny  # noqa: E402

HERE = Path(__file__).resolve().parent
EXTRA = ["train.iterations=2", "train.ema_decay=0.9", "optim.milestones=[1]", "log.checkpoint_every=1",
         "log.keep_checkpoints=2"]

with tempfile.TemporaryDirectory() as tmpd:
    tmp = Path(tmpd)
    (tmp / "data").mkdir()
    data = make_train_images(tmp / "data")
    tr = Trainer(tiny(data, tmp, "lite_dsrgan_gan.yaml", *EXTRA))
    tr.fit()
    shutil.copy(tr.run_dir / "checkpoints" / "iter_00000001.pt", HERE / "iter_00000001.pt")
    torch.save({"g": tr.g.state_dict(), "d_img": tr.d_img.state_dict(), "d_detail": tr.d_detail.state_dict(),
                "ema": tr.ema.model.state_dict()}, HERE / "after_2.pt")
