"""Atomic file writes: write to a temporary file in the destination folder, then rename over the target.

An error, Ctrl-C or SIGTERM (see dsrgan.utils.signals) therefore never leaves a half-written output behind: the
temporary file is removed. Only SIGKILL or a power cut can leave one; its name says whose it is,
`.<target name>.dsrgan-<host>-<pid>-<random>.part<ext>`, and the next write of the same target removes those
whose process is gone (same host) or that are more than a day old (another host, whose processes we cannot see).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from dsrgan.errors import OutputError

TEMP_MARK = ".dsrgan-"
STALE_AFTER_S = 24 * 3600  # temporary files of other hosts older than this are abandoned
_TEMP = re.compile(r"^\.(?P<name>.+)\.dsrgan-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[^.]+\.part(\.[^.]*)?$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def temp_tag() -> str:
    """`<host>-<pid>`: who made a temporary file or folder, for telling later whether it is abandoned."""
    return f"{_host_tag()}-{os.getpid()}"


def abandoned(host: str, pid: int, path: Path, now: float | None = None) -> bool:
    """Whether a temporary file or folder tagged `host`-`pid` has lost its writer."""
    if host == _host_tag():
        return pid != os.getpid() and not _pid_alive(pid)
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age > STALE_AFTER_S


def is_stale(path: Path) -> bool:
    """Whether `path` is a temporary file of ours whose writer is gone."""
    m = _TEMP.match(path.name)
    return m is not None and abandoned(m["host"], int(m["pid"]), path)


def remove_stale(target: str | os.PathLike) -> list[Path]:
    """Remove the abandoned temporary files (or folders) of `target`: ours only, by name, host and process.
    Returns what was removed."""
    import shutil

    target = Path(target)
    removed = []
    with contextlib.suppress(OSError):
        for p in target.parent.glob(f".{glob_escape(target.name)}{TEMP_MARK}*.part*"):
            m = _TEMP.match(p.name)
            if m and m["name"] == target.name and not p.is_symlink() and is_stale(p):
                with contextlib.suppress(OSError):
                    if p.is_dir():
                        shutil.rmtree(p)
                    else:
                        p.unlink()
                    removed.append(p)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it is renamed to `target`, on error removed.

    `suffix` defaults to the target's suffix so that writers which pick a format from the extension work.
    A failure to write (full disk, permissions) is an OutputError naming `target`, never the temporary file.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}{temp_tag()}-",
                                   suffix=".part" + (target.suffix if suffix is None else suffix), dir=target.parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror or type(e).__name__})") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files; give the result the permissions a plain open() would have.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            reason = (e.strerror or str(e).strip() or type(e).__name__).replace(str(tmp_path), target.name)
            raise OutputError(f"{target}: cannot write ({reason.splitlines()[0]})") from None
        raise


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Like atomic_path for a folder: filled under a temporary name, then renamed into place (an existing
    `target` is replaced); removed on any error or stop."""
    import shutil

    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TEMP_MARK}{temp_tag()}-", suffix=".part",
                                    dir=target.parent))
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror or type(e).__name__})") from None
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))
