"""Stops during writes: SIGTERM is handled like Ctrl-C (no partial or temporary file stays), SIGKILL's leftover
temporary file is removed by the next run, and the stale-file cleanup touches only abandoned files of ours."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsrgan.cli import main
from dsrgan.utils import atomic, signals

REPO = Path(__file__).resolve().parents[1]

# `dsrgan detail` (no torch: starts fast) whose encoder writes half a file, says so, then hangs until stopped
SLOW_WRITE = """
import sys, time
import dsrgan.imaging.io as io
def slow(tmp, *args, **kwargs):
    tmp.write_bytes(b"\\x89PNG half")
    print("writing", flush=True)
    time.sleep(60)
io._encode = slow
from dsrgan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _default_stop_signals():
    """A command started from a terminal: under nohup or as a background job of a script the test runner may
    inherit ignored SIGHUP/SIGINT, which the command rightly keeps ignoring."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _start(tmp_path, out):
    src = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(src)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, "detail", str(src), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_stop_signals)
    assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
    return src, proc


def _all_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_stop_signal_during_a_write_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out"
    out.mkdir()
    _, proc = _start(tmp_path, out / "a_detail.png")
    assert any(".dsrgan-" in n for n in _all_files(out))  # the temporary file exists while writing
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig
    assert "Traceback" not in err and ("interrupted" in err or signal.Signals(sig).name in err)
    assert _all_files(out) == []  # no output, no temporary file


def test_sigkill_leftover_is_removed_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    src, proc = _start(tmp_path, out / "a_detail.png")
    proc.kill()
    proc.communicate(timeout=30)
    (left,) = _all_files(out)
    assert left.startswith(".a_detail.png.dsrgan-") and left.endswith(".png")
    assert main(["detail", str(src), "-o", str(out / "a_detail.png")]) == 0
    assert _all_files(out) == ["a_detail.png"]


def _temp_name(target: str, host: str, pid: int) -> str:
    return f".{target}{atomic.TEMP_MARK}{host}-{pid}-abc123.part.png"


def test_stale_cleanup_only_removes_abandoned_files_of_ours(tmp_path):
    target = tmp_path / "x.png"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that has just ended
    here = atomic._host_tag()
    files = {
        "dead": _temp_name("x.png", here, dead.pid),
        "alive": _temp_name("x.png", here, os.getppid()),
        "mine": _temp_name("x.png", here, os.getpid()),
        "other_host_new": _temp_name("x.png", "0badf00d" if here != "0badf00d" else "0badf00e", 12345),
        "other_host_old": _temp_name("x.png", "0badf00d" if here != "0badf00d" else "0badf00e", 12346),
        "other_target": _temp_name("y.png", here, dead.pid),
        "not_ours": ".x.png.abc.part",
        "user_file": "x.png.dsrgan-00000000-1-a.part.png",
    }
    for name in files.values():
        (tmp_path / name).write_bytes(b"")
    old = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(tmp_path / files["other_host_old"], (old, old))
    removed = {p.name for p in atomic.remove_stale(target)}
    assert removed == {files["dead"], files["other_host_old"]}
    assert {p.name for p in tmp_path.iterdir()} == set(files.values()) - removed


def test_an_interrupt_that_a_library_turned_into_another_error_is_still_a_stop(monkeypatch, capsys):
    import dsrgan.detail.cli as detail_cli

    def run(_args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise ImportError("partially initialized module") from e  # what an interrupted import can look like

    monkeypatch.setattr(detail_cli, "run", run)
    assert main(["detail", "a.png", "-o", "b.png"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "internal error" not in err and "Traceback" not in err


def test_handlers_are_restored_after_a_command():
    before = signal.getsignal(signal.SIGTERM)
    with signals.stop_signals_raise():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_killed_web_server_folder_is_removed_by_the_next_one(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    import tempfile

    from dsrgan.web import app as web_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = atomic._host_tag()
    gone = tmp_path / f"dsrgan-serve-{here}-{dead.pid}-abc"
    live = tmp_path / f"dsrgan-serve-{here}-{os.getpid()}-def"
    other = tmp_path / "dsrgan-serve-xyz"  # not our pattern
    for d in (gone, live, other):
        (d / "job-1").mkdir(parents=True)
    web_app.remove_abandoned_workdirs()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_a_fallback_around_an_import_does_not_swallow_an_interrupt(monkeypatch, tmp_path):
    import builtins

    from dsrgan.train.logger import RunLogger

    real = builtins.__import__

    def interrupted_import(name, *args, **kwargs):
        if name == "torch.utils.tensorboard":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as e:
                raise ImportError("cannot import name 'SummaryWriter' (partially initialized module)") from e
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    with pytest.raises(KeyboardInterrupt):  # not "TensorBoard disabled" and on with the run
        RunLogger(tmp_path, tensorboard=True)
