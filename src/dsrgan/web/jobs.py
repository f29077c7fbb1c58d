"""A bounded job queue: one job at a time runs the model in a thread, a fixed number may wait behind it.

Why a single worker: the model instance is shared by all requests and a forward pass already uses every CPU
core (or the whole GPU); running two at once only doubles the memory. Waiting jobs hold their decoded input
(bounded by the pixel limit), so `max_waiting` bounds the memory a burst of requests can take.
Standard library only; the app drives it from its event loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsrgan.errors import DsrganError

log = logging.getLogger("dsrgan.web")

QUEUED, RUNNING, DONE, ERROR, CANCELLED = "queued", "running", "done", "error", "cancelled"


class QueueFullError(Exception):
    """Too many jobs are waiting; the client should try again later (HTTP 503)."""


@dataclass(eq=False)
class Job:
    """One upscaling request. `payload` is whatever the work function needs (the decoded image, options)."""

    payload: Any
    folder: Path | None = None  # private per-job folder with its result files; removed when the job is dropped
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = QUEUED
    message: str | None = None  # error message shown to the user (one line, no traceback)
    progress: float | None = None  # 0..1 while running when the model reports it, else None
    result: dict | None = None  # JSON-able summary once done
    files: dict[str, Path] = field(default_factory=dict)  # name -> file inside `folder`
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    def status(self, position: int | None) -> dict:
        now = time.monotonic()
        out = {"id": self.id, "state": self.state, "position": position, "progress": self.progress,
               "message": self.message, "result": self.result,
               "waited_s": round((self.started or now) - self.created, 3)}
        if self.started is not None:
            out["elapsed_s"] = round((self.finished or now) - self.started, 3)
        return out


def user_message(exc: BaseException) -> str:
    """The one line a user sees for a failed job. Our own errors say what went wrong; bugs are logged."""
    if isinstance(exc, DsrganError):  # the server's private folder is nobody's business: file names only
        return re.sub(r"/\S*/dsrgan-serve-[^/\s]+/(?:job-[^/\s]+/)?", "", str(exc))
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "out of memory while upscaling: choose a smaller tile size or a smaller image"
    return "upscaling failed with an internal error (the server log has the details)"


async def _in_daemon_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[Job], None], job: Job) -> None:
    """Run fn(job) in a daemon thread and wait for it (an executor's threads would hold up interpreter exit)."""
    done = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    def target() -> None:
        error = None
        try:
            fn(job)
        except BaseException as e:  # noqa: BLE001 - handed to the event loop
            error = e
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # the loop is closed: the server stopped while this job ran
            pass

    threading.Thread(target=target, name=f"dsrgan-model-{job.id}", daemon=True).start()
    await done


class JobQueue:
    """FIFO of jobs run one at a time by `work(job)` in a dedicated thread.

    `submit` never blocks: it either queues the job or raises QueueFullError. Finished jobs are kept (for their
    downloads) up to `keep_finished`; older ones are forgotten and their folders deleted.
    """

    def __init__(self, work: Callable[[Job], None], *, max_waiting: int, keep_finished: int):
        if max_waiting < 1 or keep_finished < 1:
            raise ValueError("max_waiting and keep_finished must be >= 1")
        self._work = work
        self.max_waiting = max_waiting
        self.keep_finished = keep_finished
        self._waiting: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._reserved = 0  # slots promised to uploads that are still being received or decoded
        self._finished: collections.deque[str] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    # -- called from the event loop ------------------------------------------------------------------------
    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dsrgan-job-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        # A forward pass still running in its daemon thread is abandoned: Ctrl-C should not wait for it.
        for job in list(self._jobs.values()):
            self._drop(job)

    def has_room(self) -> bool:
        return len(self._waiting) + self._reserved < self.max_waiting

    def reserve(self) -> None:
        """Promise a waiting slot to a request that is still decoding its image (QueueFullError if none)."""
        if not self.has_room():
            raise QueueFullError(f"busy: {len(self._waiting)} jobs are already waiting, try again in a moment")
        self._reserved += 1

    def release(self) -> None:
        """Give back a reserved slot that will not be used."""
        self._reserved -= 1

    def submit(self, job: Job, *, reserved: bool = False) -> None:
        """Queue `job`, using a slot from `reserve()` when `reserved`, else taking a free one."""
        if reserved:
            self.release()
        if not self.has_room():
            raise QueueFullError(f"busy: {len(self._waiting)} jobs are already waiting, try again in a moment")
        self._jobs[job.id] = job
        self._waiting.append(job)
        if self._wakeup is not None:
            self._wakeup.set()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """Jobs ahead of this one in the queue, counting the running one (None once it has started)."""
        if job.state != QUEUED:
            return None
        running = 1 if any(j.state == RUNNING for j in self._jobs.values()) else 0
        return self._waiting.index(job) + running

    def cancel(self, job: Job) -> bool:
        """Cancel a job that has not started yet (a running forward pass cannot be interrupted)."""
        if job.state != QUEUED:
            return False
        self._waiting.remove(job)
        job.state = CANCELLED
        self._finish(job)
        return True

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while True:
            if not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            job = self._waiting.popleft()
            job.state, job.started = RUNNING, time.monotonic()
            try:
                await _in_daemon_thread(loop, self._work, job)
                job.state = DONE
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # noqa: BLE001 - any failure becomes a message on the page
                if not isinstance(e, DsrganError):
                    log.exception("job %s failed", job.id)
                job.state, job.message = ERROR, user_message(e)
            finally:
                job.finished = time.monotonic()
                job.payload = None  # the decoded input can go now
                if job.state in (DONE, ERROR):
                    self._finish(job)

    # -- bookkeeping -----------------------------------------------------------------------------------------
    def _finish(self, job: Job) -> None:
        self._finished.append(job.id)
        while len(self._finished) > self.keep_finished:
            old = self._jobs.get(self._finished.popleft())
            if old is not None:
                self._drop(old)

    def _drop(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        job.files = {}
        if job.folder is not None:
            shutil.rmtree(job.folder, ignore_errors=True)
