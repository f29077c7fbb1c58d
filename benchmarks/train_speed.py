"""Training speed: data-loader throughput vs. what the trainer consumes, for the paper and the lite config.

  python benchmarks/train_speed.py [--data ../shared/data/train] [--workers 2] [--device cpu] [--steps 2]
                                  [--degradation realesrgan|none]

Loader: patch pairs (HR 128 / LR 32) with both detail maps (network_input of the LR patch, detail_target of the
HR patch, each on the patch + 8 px margin) per second from a DataLoader with N workers; also with real-world
degradations on (the LR synthesised from the HR patch + margin, the preset of --degradation), which the
*_real configs use. Trainer: seconds per
iteration of the GAN stage (G step + both D steps, all loss terms) at the config's batch size, on synthetic
batches so that only the model is timed. The paper config's perceptual loss uses randomly initialised VGG19
weights here (timing only: the real weights are not available offline). Prints a table and the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def loader_rate(store, variant: str | None, workers: int, batch: int, batches: int, degradation=None) -> float:
    import torch

    from dsrgan.data.dataset import PatchDataset, ResumableSampler, prefer_fork_safe_numba, worker_init

    ctx = prefer_fork_safe_numba()
    ds = PatchDataset([store], scale=4, hr_patch=128, variant=variant, detail_hr=variant is not None, margin=8,
                      degradation=degradation)
    kw = dict(prefetch_factor=4, persistent_workers=True, worker_init_fn=worker_init,
              multiprocessing_context=ctx) if workers else {}
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=ResumableSampler(len(ds), seed=1),
                                     num_workers=workers, drop_last=True, **kw)
    it = iter(dl)
    for _ in range(max(2, workers)):  # warm-up: worker start, numba load
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        b = next(it)
    dt = time.perf_counter() - t
    assert b["hr"].shape[-1] == 128
    del it, dl
    return batches * batch / dt


def torch_detail_rate(device: str, batch: int = 16, reps: int = 10) -> float:
    """The alternative: both detail maps on the training device with the batched torch path (patch + margin)."""
    import torch

    from dsrgan.detail import detail_target_torch, network_input_torch

    dev = torch.device(device)
    hr = torch.rand(batch, 3, 144, 144, device=dev)
    lr = torch.rand(batch, 3, 48, 48, device=dev)

    def once():
        network_input_torch(lr)
        detail_target_torch(hr)

    once()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        once()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return reps * batch / (time.perf_counter() - t)


def step_time(config: str, device: str, steps: int, tmp: Path, overrides: list[str]) -> tuple[float, int, str]:
    import torch

    from dsrgan.train.config import load_config
    from dsrgan.train.trainer import Trainer

    cfg = load_config(REPO / "configs" / config, [
        f"log.root={tmp / 'runs'}", f"data.cache_dir={tmp / 'cache'}", f"data.train=[{tmp / 'img'}]", "data.val=[]",
        "data.num_workers=0", f"train.device={device}", "log.progress=false", "log.tensorboard=false",
        "init.generator=null", "init.trunk=null", f"name=bench_{Path(config).stem}", *overrides])
    tr = Trainer(cfg)
    tr.setup()
    bs, p = cfg.train.batch_size, cfg.data.hr_patch
    g = torch.Generator().manual_seed(0)
    batch = {"lr": torch.rand(bs, 3, p // 4, p // 4, generator=g), "hr": torch.rand(bs, 3, p, p, generator=g)}
    if tr.has_detail:
        c = tr.spec.detail_channels
        batch["detail_lr"] = torch.randn(bs, c, p // 4, p // 4, generator=g) * 0.2
        batch["detail_hr"] = torch.rand(bs, c, p, p, generator=g) + 0.5
    tr.train_step(batch)  # warm-up
    if tr.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        tr.train_step(batch)
    if tr.device.type == "cuda":
        torch.cuda.synchronize()
    tr.log.close()
    return (time.perf_counter() - t) / steps, bs, tr.amp if tr.amp != "off" else "fp32"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "train"), help="folder of HR images")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20, help="loader batches (of 16) to time")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=2, help="training iterations to time per config")
    ap.add_argument("--threads", type=int, default=0,
                    help="trainer threads (train.threads; 0: all cores). On a shared machine 1 is often faster")
    ap.add_argument("--skip-paper", action="store_true", help="time only the lite configs")
    ap.add_argument("--configs", nargs="*", metavar="YAML",
                    help="time only these configs of configs/ (default: the three lite configs and the paper's; "
                         "none given: the loader only)")
    ap.add_argument("--degradation", default="realesrgan",
                    help="preset for the loader with real-world degradations, or none (default: %(default)s)")
    args = ap.parse_args()

    from dsrgan.data.store import cached_store
    from dsrgan.utils.files import list_images

    data = Path(args.data)
    if not data.is_dir():
        print(f"no training data at {data} (--data FOLDER)", file=sys.stderr)
        return 2
    from dsrgan.utils.machine import describe

    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        t = time.perf_counter()
        store = cached_store(data, tmp / "cache", report=lambda m: None, workers=max(1, args.workers))
        print(f"cache of {len(store)} images from {data}: {time.perf_counter() - t:.1f} s (once per data set)")
        rates = {v: loader_rate(store, v, args.workers, 16, args.batches) for v in ("dsrgan", None)}
        real = None
        if args.degradation != "none":
            from dsrgan.data.degrade_settings import parse_degradation

            real = loader_rate(store, "dsrgan", args.workers, 16, args.batches,
                               parse_degradation(args.degradation, "--degradation"))
        on_device = torch_detail_rate(args.device)
        # the trainer's own data set: one small image (batches are synthetic in step_time)
        (tmp / "img").mkdir()
        from PIL import Image

        first = list_images(data)[0]
        Image.open(first).convert("RGB").save(tmp / "img" / "a.png")
        rows = []
        vgg19 = tmp / "vgg19.safetensors"  # random weights, timing only
        from safetensors.torch import save_file

        from dsrgan.archs.features import VGGFeatures

        save_file({k: v.contiguous() for k, v in VGGFeatures("vgg19", ("conv5_4",)).state_dict().items()}, str(vgg19))
        configs = [("lite_dsrgan_psnr.yaml", []), ("lite_dsrgan_gan.yaml", []), ("lite_esrgan_gan.yaml", [])]
        if not args.skip_paper:
            configs.append(("dsrgan_x4.yaml", [f"loss.perceptual.weights={vgg19}"]))
        if args.configs is not None:
            configs = [(c, [f"loss.perceptual.weights={vgg19}"] if "_x4" in c else []) for c in args.configs]
        for config, over in configs:
            dt, bs, prec = step_time(config, args.device, args.steps, tmp, over + [f"train.threads={args.threads}"])
            variant = None if "esrgan" in config else "dsrgan"
            need = bs / dt
            rows.append((config, bs, prec, dt, need, rates[variant], rates[variant] / need))
            print(f"  {config}: {dt:.3f} s / iteration (batch {bs}, {prec})", flush=True)
    print(f"\nloader, {args.workers} workers, HR 128 / LR 32 patches:")
    print(f"  with both detail maps (dsrgan): {rates['dsrgan']:.0f} pairs/s;  images only (esrgan): {rates[None]:.0f}"
          " pairs/s")
    if real is not None:
        print(f"  with {args.degradation} degradations and both detail maps: {real:.0f} pairs/s")
    print(f"  alternative, both detail maps by the batched torch path on {args.device}: {on_device:.0f} pairs/s "
          "(and it would occupy the training device)")
    print(f"\n| config | batch | precision | s / iteration ({args.device}) | pairs/s consumed | loader pairs/s | "
          f"loader / trainer |")
    print("|---|---|---|---|---|---|---|")
    for config, bs, prec, dt, need, have, ratio in rows:
        print(f"| {config} | {bs} | {prec} | {dt:.3f} | {need:.1f} | {have:.0f} | {ratio:.1f}x |")
    ok = all(r[-1] >= 5 for r in rows)
    print(f"\nloader >= 5x trainer consumption: {'yes' if ok else 'NO'}")
    if real is not None:
        dsrgan_rows = [r for r in rows if "esrgan" not in r[0]]
        print(f"\nwith {args.degradation} degradations (the *_real configs: same networks, same step time):")
        print("| config | pairs/s consumed | loader pairs/s | loader / trainer |\n|---|---|---|---|")
        for config, _bs, _prec, _dt, need, _have, _ratio in dsrgan_rows:
            print(f"| {config} | {need:.1f} | {real:.0f} | {real / need:.1f}x |")
        ok_real = all(real / r[4] >= 5 for r in dsrgan_rows)
        print(f"loader with degradations >= 5x trainer consumption: {'yes' if ok_real else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
