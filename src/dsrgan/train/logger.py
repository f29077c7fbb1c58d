"""What a run tells the user: a plain-text log, a tqdm progress bar, and TensorBoard (optional, lazily imported).

Only rank 0 logs; other ranks get a logger that does nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dsrgan.utils import signals


class RunLogger:
    def __init__(self, run_dir: Path | None, *, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.run_dir = run_dir
        self._file = None
        self._tb = None
        self._bar = None
        if not enabled:
            return
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(run_dir / "train.log", "a", encoding="utf-8", buffering=1)
        if tensorboard and run_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(run_dir / "tb"))
            except Exception as e:  # tensorboard not installed or broken: scalars still go to train.log
                signals.raise_if_interrupted(e)  # a Ctrl-C during the import is a stop, not a missing package
                self.info(f"TensorBoard disabled ({type(e).__name__}: {e}); install the 'train' extra for it")

    def start_progress(self, total: int, initial: int = 0) -> None:
        """The tqdm bar (iteration, losses as postfix, it/s, ETA); a resumed run starts at `initial`."""
        if not self.enabled or self._bar is not None:
            return
        try:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, file=sys.stderr,
                             smoothing=0.05)
        except ImportError:  # tqdm is a dependency, but a missing bar must not stop a run
            self._bar = None

    def info(self, msg: str) -> None:
        if not self.enabled:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        if self._file:
            self._file.write(line + "\n")
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.enabled and self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)

    def images(self, tag: str, grid, step: int) -> None:
        """grid: 3 x H x W float tensor in [0, 1]."""
        if self.enabled and self._tb is not None:
            self._tb.add_image(tag, grid, step)

    def progress(self, n: int = 1, postfix: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._file is not None:
            self._file.close()
            self._file = None


def image_grid(lr_u8, sr_u8, hr_u8, detail=None):
    """LR (nearest-upsampled) | SR | HR | detail maps side by side, 3 x H x W float in [0, 1]."""
    import numpy as np
    import torch

    h, w = hr_u8.shape[:2]
    s = h // lr_u8.shape[0]
    tiles = [np.repeat(np.repeat(lr_u8, s, 0), s, 1)[:h, :w], sr_u8, hr_u8]
    out = [torch.from_numpy(t.astype(np.float32) / 255.0).permute(2, 0, 1) for t in tiles]
    if detail is not None:  # C x H x W: show the first channel, normalised to [0, 1] for display
        d = detail[:1].float()
        d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-6)
        out.append(d.expand(3, -1, -1)[:, :h, :w])
    return torch.cat(out, dim=2)
