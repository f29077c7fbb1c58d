"""The lite preset with its detail branch upsampling nearest against bilinear: CPU seconds per forward.

    python benchmarks/detail_upsample_speed.py [--size 256] [--rounds 4] [--threads 1]

Random weights (the speed does not depend on them), one LR input of SIZE x SIZE, torch eager on the CPU with
channels-last tensors, as the upscaler runs it. The two variants alternate round by round so that a change of
the machine's load hits both; the minimum CPU time of each is compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    import torch

    from dsrgan.archs import PRESETS, build
    from dsrgan.utils.machine import describe

    torch.set_num_threads(a.threads)
    print(describe())
    base = PRESETS["dsrgan-lite-x4"]
    nets = {}
    for mode in ("nearest", "bilinear"):
        torch.manual_seed(0)
        spec = dataclasses.replace(base, params=dict(base.params, detail_upsample=mode))
        nets[mode] = build(spec).eval().to(memory_format=torch.channels_last)
    lr = torch.rand(1, 3, a.size, a.size).contiguous(memory_format=torch.channels_last)
    detail = torch.rand(1, 1, a.size, a.size).contiguous(memory_format=torch.channels_last)
    times: dict[str, list[float]] = {m: [] for m in nets}
    with torch.inference_mode():
        for net in nets.values():  # warm-up
            net(lr, detail)
        for _ in range(a.rounds):
            for mode, net in nets.items():
                t0 = time.process_time()
                net(lr, detail)
                times[mode].append(time.process_time() - t0)
    for mode, t in times.items():
        rounds = ", ".join(f"{v:.2f}" for v in t)
        print(f"{mode:9s} CPU s per forward at {a.size}x{a.size}: min {min(t):.3f}  ({rounds})")
    print(f"bilinear / nearest: {min(times['bilinear']) / min(times['nearest']):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
