"""Fetch the five TID2013 image pairs that pyiqa ships with official MATLAB metric values (for tests).

The pyiqa wheel (0.1.16) carries `ResultsCalibra/{ref_dir,dist_dir}/I{03,04,06,08,19}.bmp`; the official
MATLAB SSIM / LPIPS / NIQE values for them are pinned in tests/test_metrics_reference.py (source:
pyiqa's calibration summary, see docs/metrics.md). This script downloads the wheel with
`pip download --no-deps` (no code from it is installed or run), extracts only those ten images into
tests/data/pyiqa_calibration/ and deletes nothing else. It is idempotent: when the images are present it
does nothing. When the download fails (offline), it says so and exits 0; the tests then skip with a reason.

Usage: python tools/fetch_reference_data.py [--cache DIR] [--dest DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEST = REPO / "tests" / "data" / "pyiqa_calibration"
WHEEL_SPEC = "pyiqa==0.1.16"
NAMES = ("I03", "I04", "I06", "I08", "I19")
MEMBERS = [f"ResultsCalibra/{kind}/{n}.bmp" for kind in ("ref_dir", "dist_dir") for n in NAMES]


def wanted_paths(dest: Path) -> list[Path]:
    return [dest / m.split("/", 1)[1] for m in MEMBERS]


def download_wheel(cache: Path) -> Path | None:
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob("pyiqa-0.1.16-*.whl"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", WHEEL_SPEC,
           "-d", str(cache), "-q"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"fetch_reference_data: pip download failed ({e})")
        return None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"fetch_reference_data: pip download {WHEEL_SPEC} failed: {last}")
        return None
    found = sorted(cache.glob("pyiqa-0.1.16-*.whl"))
    return found[0] if found else None


def extract(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        missing = [m for m in MEMBERS if m not in names]
        if missing:
            raise SystemExit(f"fetch_reference_data: {wheel.name} lacks {missing[0]} (unexpected wheel layout)")
        for member, target in zip(MEMBERS, wanted_paths(dest), strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            with z.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="where to keep the downloaded wheel (default: temp)")
    ap.add_argument("--dest", type=Path, default=DEST, help=f"output folder (default: {DEST})")
    args = ap.parse_args(argv)
    if all(p.is_file() for p in wanted_paths(args.dest)):
        print(f"fetch_reference_data: reference images already in {args.dest}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        wheel = download_wheel(cache)
        if wheel is None:
            print("fetch_reference_data: reference images not fetched; tests that need them will skip")
            return 0
        extract(wheel, args.dest)
    print(f"fetch_reference_data: extracted {len(MEMBERS)} images into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
