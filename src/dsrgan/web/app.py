"""The FastAPI app behind `dsrgan serve`: one HTML page, a small JSON API, a bounded job queue.

API (all errors are JSON `{"error": "<one line>"}`, never a traceback):
  GET    /                          the page (static files are a fixed list shipped in the package)
  GET    /api/info                  models offered, limits
  POST   /api/jobs?model=&strength=&tile=&filename=   body: the image file itself (any Content-Type)
                                    -> 202 job status | 400/413/415 bad input | 503 busy, try again
  GET    /api/jobs/{id}             state (queued/running/done/error/cancelled), queue position, progress, result
  GET    /api/jobs/{id}/{name}.png  result | bicubic | detail (`?download=1` adds Content-Disposition)
  DELETE /api/jobs/{id}             cancel a job that has not started

The upload is streamed into a private temporary folder (mode 0700) with the size limit enforced while it
arrives, decoded with dsrgan.imaging.read_image (pixel limit), then deleted; results live in a per-job
subfolder that is removed when the job expires or the server stops. No endpoint takes a path.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from dsrgan import __version__, options
from dsrgan.errors import (
    DsrganError,
    EmptyFileError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    OptionError,
    UnknownModelError,
)
from dsrgan.utils.atomic import abandoned, temp_tag
from dsrgan.web.config import MB, ServeConfig
from dsrgan.web.jobs import Job, JobQueue, QueueFullError
from dsrgan.web.model_pool import ModelPool
from dsrgan.web.pipeline import RESULT_FILES, JobInput, run_job

log = logging.getLogger("dsrgan.web")

STATIC_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]
JOB_PARAMS = ("model", "strength", "tile", "filename")  # the query of POST /api/jobs
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
WORKDIR_PREFIX = "dsrgan-serve-"
_WORKDIR = re.compile(r"^dsrgan-serve-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[a-z0-9_]+$")


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def error_status(exc: DsrganError) -> int:
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, NotAnImageError):
        return 415
    return 400


def _mb(n: int) -> str:
    return f"{n / MB:.3g} MB"


def parse_strength(value: str | None) -> float:
    """The form's detail strength: the range of dsrgan.options, empty for 1 (as trained)."""
    if value is None or not value.strip():
        return 1.0
    try:
        return options.detail_strength(options.text_to_number(value), name="detail strength")
    except OptionError as e:
        raise ApiError(400, str(e)) from None


def parse_tile(value: str | None, config: ServeConfig) -> int | None:
    """Empty or 'auto': the server's default (None = the Upscaler picks from its memory budget); 0: whole image."""
    if value is None or value.strip().lower() in ("", "auto"):
        return config.default_tile
    try:
        return options.tile(options.text_to_number(value, integer=True), name="tile size")
    except OptionError as e:
        raise ApiError(400, f"{e} (or empty for automatic)") from None


def safe_stem(name: str | None) -> str:
    """A download-friendly name derived from the uploaded file's name (display only, never a path)."""
    stem = Path((name or "").replace("\\", "/")).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or "image"


def _load_static() -> dict[str, bytes]:
    folder = resources.files("dsrgan.web") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC_FILES}


async def _receive_upload(request: Request, path: Path, limit: int) -> int:
    """Stream the request body into `path`, refusing it as soon as it passes `limit` bytes."""
    too_big = ApiError(413, f"the file is larger than the upload limit of {_mb(limit)}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    size = 0
    with open(path, "xb") as f:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_big
                f.write(chunk)
        except ClientDisconnect:
            raise ApiError(400, "the upload was interrupted") from None
    return size


def remove_abandoned_workdirs() -> None:
    """Remove the private folders of earlier servers whose process is gone (ours only: name, host, pid)."""
    for p in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        m = _WORKDIR.match(p.name)
        if m and p.is_dir() and not p.is_symlink() and p.stat().st_uid == os.getuid() \
                and abandoned(m["host"], int(m["pid"]), p):
            shutil.rmtree(p, ignore_errors=True)


def decode_upload(path: Path, name: str, max_pixels: int):
    """read_image with messages for a web user: the private temp path replaced by the file's name."""
    from dsrgan.imaging import read_image

    try:
        return read_image(path, max_pixels=max_pixels)
    except ImageTooLargeError:
        size = ""
        with contextlib.suppress(Exception):
            from PIL import Image

            with Image.open(path) as im:
                size = f" ({im.size[0]}x{im.size[1]} = {im.size[0] * im.size[1]:,} pixels)"
        raise ApiError(413, f"{name}: the image{size} is larger than this server accepts ({max_pixels:,} pixels); "
                            "shrink it, or start dsrgan serve with a larger --max-pixels") from None
    except (NotAnImageError, EmptyFileError):
        raise ApiError(415, f"{name}: not an image file in a format we read; use PNG, JPEG, WebP, BMP or TIFF") \
            from None
    except ImageError as e:
        raise ApiError(400, str(e).replace(str(path), name)) from None


def create_app(pool: ModelPool, config: ServeConfig | None = None, *,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The web app serving `pool`'s models. `allowed_hosts` (e.g. LOOPBACK_HOSTS) guards against DNS rebinding."""
    config = config or ServeConfig()
    static = _load_static()
    queue = JobQueue(lambda job: run_job(job, pool), max_waiting=config.max_waiting,
                     keep_finished=config.keep_finished)
    state: dict[str, Path] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # Private folder for uploads and results (mkdtemp: mode 0700, unpredictable name), removed at exit; the
        # folders of servers that were killed (SIGKILL, power cut) are removed when the next one starts.
        remove_abandoned_workdirs()
        workdir = state["workdir"] = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{temp_tag()}-"))
        remove = functools.partial(shutil.rmtree, workdir, ignore_errors=True)
        atexit.register(remove)  # also when the process ends without a clean shutdown
        queue.start()
        try:
            yield
        finally:
            await queue.stop()
            remove()
            atexit.unregister(remove)

    app = FastAPI(title="dsrgan", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.queue = queue
    app.state.pool = pool
    app.state.config = config
    app.state.paths = state

    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        headers = {"Retry-After": "2"} if exc.status == 503 else None
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(DsrganError)
    async def _dsrgan_error(request: Request, exc: DsrganError):
        return JSONResponse({"error": str(exc)}, status_code=error_status(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal server error (the server log has the details)"}, status_code=500)

    def static_response(name: str) -> Response:
        return Response(static[name], media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def index():
        return static_response("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str):
        if name not in static or name == "index.html":
            raise ApiError(404, "not found")
        return static_response(name)

    @app.get("/api/info")
    async def info():
        return {
            "version": __version__,
            "models": pool.describe(),
            "default_model": pool.default,
            "limits": {"max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
                       "max_waiting": config.max_waiting, "max_strength": options.MAX_DETAIL_STRENGTH,
                       "min_tile": options.MIN_TILE, "max_tile": options.MAX_TILE,
                       "default_tile": config.default_tile},
            "queue": {"waiting": queue.waiting},
        }

    @app.post("/api/jobs", status_code=202)
    async def submit(request: Request):
        q = request.query_params
        unknown = sorted(set(q.keys()) - set(JOB_PARAMS))
        if unknown:  # a misspelt option (`strenght=0.5`) must not be ignored silently
            raise ApiError(400, f"unknown parameter {', '.join(map(repr, unknown))}; the parameters are "
                                f"{', '.join(JOB_PARAMS)}")
        repeated = sorted(k for k in set(q.keys()) if len(q.getlist(k)) > 1)
        if repeated:  # `strength=0&strength=2`: one value would be dropped without a word
            raise ApiError(400, f"parameter {', '.join(map(repr, repeated))} is given more than once; give each once")
        try:
            model = pool.check(q.get("model"))
        except UnknownModelError as e:
            raise ApiError(400, str(e)) from None
        strength = parse_strength(q.get("strength"))
        if strength != 1.0:  # the Upscaler's own check: a model without a detail branch would ignore it
            upscaler = await run_in_threadpool(pool.get, model)
            upscaler.check_options(detail_strength=strength)  # OptionError: a 400 before the upload is read
        tile = parse_tile(q.get("tile"), config)
        filename = safe_stem(q.get("filename"))
        display_name = (q.get("filename") or "the upload")[:120]
        if not queue.has_room():  # cheap early answer; the slot is reserved below, after the upload
            raise ApiError(503, "busy: too many images are waiting, try again in a moment")

        folder = Path(tempfile.mkdtemp(prefix="job-", dir=state["workdir"]))
        reserved = False
        try:
            upload = folder / "upload"
            size = await _receive_upload(request, upload, config.max_upload_bytes)
            if size == 0:
                raise ApiError(400, "the upload is empty: choose an image file")
            try:
                queue.reserve()  # holds a waiting slot while we decode, so a burst cannot decode unboundedly
            except QueueFullError:
                raise ApiError(503, "busy: too many images are waiting, try again in a moment") from None
            reserved = True
            try:
                loaded = await run_in_threadpool(decode_upload, upload, display_name, config.max_pixels)
            finally:
                upload.unlink(missing_ok=True)
            job = Job(payload=JobInput(loaded, model, strength, tile, filename), folder=folder)
            reserved = False  # submit() takes the reserved slot over
            queue.submit(job, reserved=True)
        except BaseException:
            if reserved:
                queue.release()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(job.status(queue.position(job)), status_code=202)

    def find_job(job_id: str) -> Job:
        job = queue.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise ApiError(404, "unknown or expired job: upload the image again")
        return job

    @app.get("/api/jobs/{job_id}")
    async def job_status(job_id: str):
        job = find_job(job_id)
        return job.status(queue.position(job))

    @app.delete("/api/jobs/{job_id}")
    async def job_cancel(job_id: str):
        job = find_job(job_id)
        return {"cancelled": queue.cancel(job), "state": job.state}

    @app.get("/api/jobs/{job_id}/{name}.png")
    async def job_file(request: Request, job_id: str, name: str):
        job = find_job(job_id)
        path = job.files.get(name) if name in RESULT_FILES else None
        if path is None or not path.is_file():
            raise ApiError(404, f"no {name!r} image for this job")
        headers = {"Cache-Control": "private, max-age=3600"}
        if request.query_params.get("download") in ("1", "true", "yes"):
            stem = job.result["input"]["name"] if job.result else "image"
            headers["Content-Disposition"] = f'attachment; filename="{stem}_x4.png"'
        return FileResponse(path, media_type="image/png", headers=headers)

    return app
