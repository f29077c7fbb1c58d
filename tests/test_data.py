"""Training data: pair stores, aligned patches with detail maps, augmentation, sampler, `dsrgan prepare`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dsrgan.data.dataset import PatchDataset, ResumableSampler
from dsrgan.data.store import DataError, PairStore, cached_store, subimage_positions


def _photo(rng, h, w):
    """A smooth-plus-texture RGB test picture (uint8), so detail maps are not trivial."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 120 + 60 * np.sin(x / 7.0)[..., None] * np.cos(y / 5.0)[..., None] * np.array([1.0, 0.7, 0.4])
    img = base + rng.normal(0, 18, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def hr_folder(tmp_path, rng):
    d = tmp_path / "hr"
    d.mkdir()
    for i, (h, w) in enumerate([(70, 83), (64, 64), (90, 61)]):  # not multiples of 4 on purpose
        Image.fromarray(_photo(rng, h, w)).save(d / f"img{i}.png")
    (d / "empty.png").write_bytes(b"")
    (d / "broken.png").write_bytes((d / "img1.png").read_bytes()[:200])  # truncated PNG
    return d


def _apply(a, t, hw=(0, 1)):
    """Flip horizontally / vertically, then transpose, on the axes hw = (H axis, W axis) of `a`."""
    h, v, r = t
    if h:
        a = np.flip(a, hw[1])
    if v:
        a = np.flip(a, hw[0])
    if r:
        a = np.swapaxes(a, *hw)
    return a


TRANSFORMS = [(h, v, r) for h in (0, 1) for v in (0, 1) for r in (0, 1)]


def test_cached_store_skips_unreadable_files_and_makes_matlab_lr(hr_folder, tmp_path):
    from dsrgan.imaging import imresize

    msgs = []
    store = cached_store(hr_folder, tmp_path / "cache", scale=4, report=msgs.append)
    assert len(store) == 3
    assert sum("skipped" in m and ("empty.png" in m or "broken.png" in m) for m in msgs) == 2
    meta = json.loads((store.folder / "index.json").read_text())
    assert len(meta["skipped"]) == 2
    for i, name in enumerate(store.names):
        src = np.asarray(Image.open(hr_folder / name).convert("RGB"))
        h, w = src.shape[0] // 4 * 4, src.shape[1] // 4 * 4
        np.testing.assert_array_equal(store.hr(i), src[:h, :w])  # mod-cropped, lossless
        np.testing.assert_array_equal(store.lr(i), imresize(src[:h, :w], 0.25))
    # second use: the same cache, not rebuilt
    again = cached_store(hr_folder, tmp_path / "cache", scale=4, report=msgs.append)
    assert again.folder == store.folder and not any("caching" in m for m in msgs[-1:])
    # a changed folder gets a new cache
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(hr_folder / "new.png")
    assert cached_store(hr_folder, tmp_path / "cache", scale=4, report=msgs.append).folder != store.folder


def test_store_errors(tmp_path, hr_folder):
    with pytest.raises(DataError, match="not a dsrgan data store"):
        PairStore(tmp_path)
    with pytest.raises(DataError, match="training folder not found"):
        cached_store(tmp_path / "nope", tmp_path / "c")
    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    with open(store.folder / "hr.u8", "r+b") as f:
        f.truncate(10)
    with pytest.raises(DataError, match="damaged"):
        PairStore(store.folder)
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(DataError, match="no readable images"):
        cached_store(empty, tmp_path / "cache", report=lambda m: None)


def test_lr_folder_pairing(tmp_path, rng):
    hr, lr = tmp_path / "HR", tmp_path / "LR"
    hr.mkdir(), lr.mkdir()
    a = _photo(rng, 64, 48)
    Image.fromarray(a).save(hr / "0001.png")
    Image.fromarray(a[::4, ::4]).save(lr / "0001x4.png")  # DIV2K naming, any LR content
    Image.fromarray(a).save(hr / "0002.png")
    Image.fromarray(a[::2, ::2]).save(lr / "0002x4.png")  # wrong size -> skipped
    Image.fromarray(a).save(hr / "0003.png")  # no partner -> skipped
    msgs = []
    store = cached_store(hr, tmp_path / "c", lr_folder=lr, report=msgs.append)
    assert store.names == ["0001.png"]
    np.testing.assert_array_equal(store.lr(0), a[::4, ::4])
    assert any("0002" in m and "expected 12x16" in m for m in msgs)
    assert any("0003" in m and "no LR partner" in m for m in msgs)


def _locate(patch, img, transforms):
    """(y, x, t) with _apply(img[y:y+p, x:x+p], t) == patch; unique for a noisy image."""
    p = patch.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(img, (p, p), axis=(0, 1))  # Y x X x 3 x p x p
    target = patch.transpose(2, 0, 1)
    hits = []
    for t in transforms:
        match = (_apply(windows, t, (3, 4)) == target).all(axis=(2, 3, 4))
        hits += [(int(y), int(x), t) for y, x in zip(*np.nonzero(match), strict=True)]
    assert len(hits) == 1, f"patch found {len(hits)} times"
    return hits[0]


# How far a training patch's detail map may be from the whole-image map cropped (the map that validation and
# inference use), per prior. gif: a local filter (support 9 x 9) inside the 8 px margin: float32 rounding only.
# dsrgan: E's FGS sweeps couple every pixel of a line, but the coupling decays fast: at 8 px measured <= 2.4e-7
# here and <= 4.8e-7 on 32 px patches of Set14 crops (float32 rounding is 6e-8), so 2e-6.
# msdm: a global WLS solve, so patches are cut from cached whole-image maps: identical.
PATCH_MAP_TOLERANCE = {"dsrgan": 2e-6, "gif": 1e-6, "msdm": 0.0}


@pytest.mark.parametrize("variant", sorted(PATCH_MAP_TOLERANCE))
def test_patches_are_aligned_and_augmented_identically_with_whole_image_detail_maps(hr_folder, tmp_path, variant):
    """Oracle: locate each returned LR patch in its source image (position + one of the 8 flips/rotations); the
    HR patch and both detail maps must be that same crop of the HR image / of the WHOLE-image detail maps, under
    the same transform, within the prior's stated tolerance."""
    from dsrgan.detail import detail_target, network_input

    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    ds = PatchDataset([store], scale=4, hr_patch=32, variant=variant, detail_hr=True, margin=8,
                      report=lambda m: None)
    c = 1 if variant == "dsrgan" else 3
    sampler = ResumableSampler(len(ds), seed=3)
    whole = {i: (network_input(store.lr(i), variant), detail_target(store.hr(i), variant)) for i in range(len(store))}
    used = set()
    worst = 0.0
    for k in range(8):
        key = sampler.key(k)
        s = ds[key]
        assert s["lr"].shape == (3, 8, 8) and s["hr"].shape == (3, 32, 32)
        assert s["detail_lr"].shape == (c, 8, 8) and s["detail_hr"].shape == (c, 32, 32)
        i = ds.items[key[0]][1]
        lr_u8 = np.rint(s["lr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        y, x, t = _locate(lr_u8, store.lr(i), TRANSFORMS)
        used.add(t)
        hr_u8 = np.rint(s["hr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        np.testing.assert_array_equal(hr_u8, _apply(store.hr(i)[4 * y: 4 * y + 32, 4 * x: 4 * x + 32], t))
        d_lr, d_hr = whole[i]
        want_lr = _apply(d_lr[y: y + 8, x: x + 8], t).transpose(2, 0, 1)
        want_hr = _apply(d_hr[4 * y: 4 * y + 32, 4 * x: 4 * x + 32], t).transpose(2, 0, 1)
        worst = max(worst, np.abs(s["detail_lr"] - want_lr).max(), np.abs(s["detail_hr"] - want_hr).max())
        np.testing.assert_array_equal(ds[key]["detail_hr"], s["detail_hr"])  # same key, same sample
    assert worst <= PATCH_MAP_TOLERANCE[variant], worst
    assert len(used) > 1  # augmentation actually happens


def test_global_prior_maps_are_cached_beside_the_store_and_reused(hr_folder, tmp_path):
    """MSDM maps are computed once per store (not per patch, where the global WLS would give other values)."""
    from dsrgan.data import detail_maps
    from dsrgan.detail import get_prior, network_input

    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    msgs = []
    PatchDataset([store], scale=4, hr_patch=32, variant="msdm", report=msgs.append)
    assert sum("computing whole-image msdm" in m for m in msgs) == 1  # LR only: no detail target wanted
    folder = detail_maps.maps_folder(store, get_prior("msdm"))
    assert (folder / "lr.f32").is_file() and not (folder / "hr.f32").exists()
    PatchDataset([store], scale=4, hr_patch=32, variant="msdm", report=msgs.append)
    assert len(msgs) == 1  # reused
    # a damaged part is recomputed rather than read
    with open(folder / "lr.f32", "r+b") as f:
        f.truncate(12)
    maps = detail_maps.whole_image_maps(store, get_prior("msdm"), ("lr",), report=msgs.append)
    assert len(msgs) == 2
    i = 0
    np.testing.assert_array_equal(maps.map("lr", i), network_input(store.lr(i), "msdm"))
    # the reason for the cache: the map of a patch grown by a margin is not the whole-image map
    y, x, p = 4, 4, 8
    patch = network_input(np.ascontiguousarray(store.lr(i)[y - 4: y + p + 4, x - 4: x + p + 4]), "msdm")
    assert np.abs(patch[4:4 + p, 4:4 + p] - maps.map("lr", i)[y: y + p, x: x + p]).max() > 1e-3


@pytest.mark.parametrize("variant", ["dsrgan", "msdm"])
def test_flat_colour_patches_replace_a_share_of_samples_and_leave_the_others_unchanged(hr_folder, tmp_path, variant):
    """flat_patches: about that share of samples are uniform colour fields (LR = HR colour; detail maps = the
    prior's own maps of that field), many of them saturated; every other sample is exactly the sample of a run
    without them."""
    from dsrgan.detail import detail_target, network_input

    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    kw = dict(scale=4, hr_patch=32, variant=variant, detail_hr=True, report=lambda m: None)
    plain, flat = PatchDataset([store], **kw), PatchDataset([store], flat_patches=0.3, **kw)
    sampler = ResumableSampler(len(plain), seed=5)
    n_flat, saturated = 0, 0
    for k in range(200):
        key = sampler.key(k)
        a, b = plain[key], flat[key]
        if np.all(b["hr"] == b["hr"][:, :1, :1]) and not np.all(a["hr"] == a["hr"][:, :1, :1]):
            n_flat += 1
            colour = b["hr"][:, 0, 0]
            assert np.all(b["lr"] == colour[:, None, None]) and b["lr"].shape == (3, 8, 8)
            c_u8 = np.rint(colour * 255).astype(np.uint8)
            saturated += bool(np.isin(c_u8, [0, 255]).any())
            want_lr = network_input(np.broadcast_to(c_u8, (8, 8, 3)).copy(), variant).transpose(2, 0, 1)
            want_hr = detail_target(np.broadcast_to(c_u8, (32, 32, 3)).copy(), variant).transpose(2, 0, 1)
            np.testing.assert_allclose(b["detail_lr"], want_lr, atol=1e-6)
            np.testing.assert_allclose(b["detail_hr"], want_hr, atol=1e-6)
        else:
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])
    assert 40 <= n_flat <= 80 and saturated >= n_flat // 3, (n_flat, saturated)
    with pytest.raises(ValueError, match="flat_patches"):
        PatchDataset([store], flat_patches=1.0, **kw)


def test_margin_matters(hr_folder, tmp_path):
    """Without the margin the patch detail differs from the whole-image detail: the margin is doing the work."""
    from dsrgan.detail import network_input

    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    i = int(np.argmax([min(store.lr_shape(j)) for j in range(len(store))]))
    ds0 = PatchDataset([store], scale=4, hr_patch=32, variant="dsrgan", margin=0, flip=False, rot90=False)
    ds8 = PatchDataset([store], scale=4, hr_patch=32, variant="dsrgan", margin=8, flip=False, rot90=False)
    whole = network_input(store.lr(i))[..., 0]
    err0, err8 = [], []
    for seed in range(20):
        key = (ds0.items.index((0, i)), (seed,))
        a, b = ds0[key], ds8[key]
        lr_u8 = np.rint(a["lr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        y, x, _ = _locate(lr_u8, store.lr(i), TRANSFORMS[:1])
        ref = whole[y: y + 8, x: x + 8]
        err0.append(np.abs(a["detail_lr"][0] - ref).max())
        err8.append(np.abs(b["detail_lr"][0] - ref).max())
    assert max(err8) < 2e-5 < max(err0)


def test_esrgan_samples_have_no_detail_and_small_images_are_left_out(hr_folder, tmp_path):
    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    ds = PatchDataset([store], scale=4, hr_patch=64, variant=None)
    assert set(ds[(0, (1,))]) == {"lr", "hr"}
    assert len(ds) == 2 and ds.too_small == 1  # LR 17x20 and 16x16 fit a 16 px LR patch, 22x15 does not
    with pytest.raises(ValueError, match="multiple of the scale"):
        PatchDataset([store], scale=4, hr_patch=30)


def test_sampler_resumes_exactly_and_shards_disjointly():
    full = ResumableSampler(7, seed=5)
    it = iter(full)
    seq = [next(it) for _ in range(30)]
    resumed = iter(ResumableSampler(7, seed=5, start=11))
    assert [next(resumed) for _ in range(19)] == seq[11:]
    # every epoch is a permutation
    assert sorted(k[0] for k in seq[:7]) == list(range(7)) and sorted(k[0] for k in seq[7:14]) == list(range(7))
    # two ranks: disjoint halves of the same stream, sample seeds never repeat
    r0, r1 = iter(ResumableSampler(8, seed=5, rank=0, world=2)), iter(ResumableSampler(8, seed=5, rank=1, world=2))
    a, b = [next(r0) for _ in range(4)], [next(r1) for _ in range(4)]
    assert sorted(k[0] for k in a + b) == list(range(8))
    assert len({k[1] for k in a + b}) == 8


def test_subimage_positions():
    assert subimage_positions(10, 4, 4) == [0, 4, 6]
    assert subimage_positions(8, 4, 4) == [0, 4]
    assert subimage_positions(3, 4, 4) == [0]


def test_prepare_cli(hr_folder, tmp_path, capsys):
    from dsrgan.cli import main
    from dsrgan.imaging import imresize

    out = tmp_path / "store"
    assert main(["prepare", str(hr_folder), "-o", str(out), "--crop", "32", "--step", "24", "--workers", "1"]) == 0
    text = capsys.readouterr()
    assert "2 unreadable skipped" in text.out and "empty.png" in text.err
    store = PairStore(out)
    # img0 is 68x80 after mod-crop: rows at 0, 24, 36 and columns at 0, 24, 48 -> 9 sub-images
    names = [n for n in store.names if n.startswith("img0")]
    assert len(names) == 9
    src = np.asarray(Image.open(hr_folder / "img0.png").convert("RGB"))[:68, :80]
    j = store.names.index("img0_s00036_00048")
    np.testing.assert_array_equal(store.hr(j), src[36:68, 48:80])
    np.testing.assert_array_equal(store.lr(j), imresize(src, 0.25)[9:17, 12:20])  # LR of the whole image, cropped
    assert all(min(store.hr(k).shape[:2]) == 32 for k in range(len(store)))
    # refuses to overwrite without --overwrite, and bad crop sizes
    assert main(["prepare", str(hr_folder), "-o", str(out)]) != 0
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["prepare", str(hr_folder), "-o", str(tmp_path / "x"), "--crop", "30"]) != 0
    assert "multiples of --scale" in capsys.readouterr().err


def test_global_prior_with_degradation_crops_clean_targets_and_maps_the_degraded_lr(hr_folder, tmp_path):
    """With real-world degradations there is no whole LR image: the LR map is the degraded patch's own; the
    clean HR targets are still cut from the whole-image maps (not recomputed per patch)."""
    from dsrgan.data.degrade_settings import parse_degradation
    from dsrgan.detail import detail_target, network_input

    store = cached_store(hr_folder, tmp_path / "cache", report=lambda m: None)
    ds = PatchDataset([store], scale=4, hr_patch=32, variant="msdm", detail_hr=True, margin=0, flip=False,
                      rot90=False, degradation=parse_degradation({"sharpen": None}), report=lambda m: None)
    assert set(ds.maps[0].index) == {"hr"}
    for key in [(0, (1, 0, 2)), (1, (1, 5, 2))]:
        s = ds[key]
        i = ds.items[key[0]][1]
        hr_u8 = np.rint(s["hr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        y, x, _ = _locate(hr_u8[::4, ::4], store.hr(i)[::4, ::4], TRANSFORMS[:1])
        whole = detail_target(store.hr(i), "msdm")
        np.testing.assert_array_equal(s["detail_hr"], whole[4 * y: 4 * y + 32, 4 * x: 4 * x + 32].transpose(2, 0, 1))
        lr_u8 = np.rint(s["lr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        np.testing.assert_allclose(s["detail_lr"], network_input(lr_u8, "msdm").transpose(2, 0, 1), atol=1e-6)
