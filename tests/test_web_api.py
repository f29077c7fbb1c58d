"""`dsrgan serve` over real HTTP (uvicorn on a free local port), without a browser.

Most tests use a nearest-neighbour stand-in for the Upscaler, which is an exact oracle for what the server
must hand back (the model's output, unchanged, at full resolution) and can be held on a gate to fill the
queue deterministically. The end-to-end tests use a real, randomly initialised tiny model file.
"""

from __future__ import annotations

import contextlib
import http.client as httpclient
import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'dsrgan[web]'")
pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install 'dsrgan[web]'")

from dsrgan.errors import DsrganError  # noqa: E402
from dsrgan.web.app import LOOPBACK_HOSTS, create_app  # noqa: E402
from dsrgan.web.config import ServeConfig  # noqa: E402
from dsrgan.web.model_pool import ModelPool  # noqa: E402
from dsrgan.web.pipeline import detail_for_display  # noqa: E402
from dsrgan.web.server import BackgroundServer  # noqa: E402


# --- helpers ------------------------------------------------------------------------------------------------
class NearestUpscaler:
    """Stand-in with the Upscaler's contract: x4 by pixel repetition, optionally held on a gate or failing."""

    def __init__(self, gate: threading.Event | None = None, fail: BaseException | None = None,
                 detail_variant: str | None = None):
        self.gate, self.fail, self.detail_variant = gate, fail, detail_variant
        self.device = "cpu"
        self.calls: list[dict] = []

    def _x4(self, a: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(a, 4, axis=0), 4, axis=1)

    def check_options(self, *, detail_strength=1.0):
        return None, None, detail_strength, None  # a stand-in takes every strength

    def upscale_array(self, rgb, *, tile=None, detail_strength=1.0, progress=None, max_pixels=None):
        self.calls.append({"shape": rgb.shape, "tile": tile, "strength": detail_strength})
        if self.gate is not None:
            if progress is not None:
                progress(1, 2)  # "half the tiles done" while held
            assert self.gate.wait(20), "test gate never opened"
        if self.fail is not None:
            raise self.fail
        if progress is not None:
            progress(1, 1)
        return self._x4(rgb)

    def upscale(self, image, *, tile=None, detail_strength=1.0, progress=None, max_pixels=None):
        assert image.ndim == 3 and image.shape[2] == 4 and image.dtype == np.float32
        self.upscale_array(image[..., :3], tile=tile, detail_strength=detail_strength, progress=progress)
        return self._x4(image)

    def detail_map(self, rgb):
        return rgb.mean(axis=2, keepdims=True) * 3.0 - 1.0  # any affine map of luma: normalises back to it


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def fetch(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def post_image(base: str, data: bytes, **params) -> tuple[int, dict]:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    status, _, body = fetch(f"{base}/api/jobs?{query}", "POST", data, {"Content-Type": "application/octet-stream"})
    return status, json.loads(body)


def wait_job(base: str, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = fetch(f"{base}/api/jobs/{job_id}")
        assert status == 200, body
        info = json.loads(body)
        if info["state"] in ("done", "error", "cancelled"):
            return info
        assert time.monotonic() < deadline, f"job still {info['state']} after {timeout} s"
        time.sleep(0.02)


@pytest.fixture
def start():
    """start(upscaler_or_loader, **ServeConfig fields) -> (base_url, app); servers stop at the end of the test."""
    stack = contextlib.ExitStack()

    def _start(model, names=("default",), **config):
        loader = model if callable(model) and not hasattr(model, "upscale_array") else (lambda name: model)
        pool = ModelPool(loader, names[0], list(names[1:]))
        app = create_app(pool, ServeConfig(**config), allowed_hosts=LOOPBACK_HOSTS)
        return stack.enter_context(BackgroundServer(app)), app

    with stack:
        yield _start


@pytest.fixture
def photo(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)


# --- the page and the light CLI -------------------------------------------------------------------------------
def test_building_the_parser_imports_neither_fastapi_nor_torch():
    code = ("import sys, dsrgan.cli; p = dsrgan.cli.build_parser(); p.parse_args(['serve', '--port', '0']); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_page_static_files_and_security_headers(start):
    base, _ = start(NearestUpscaler())
    status, headers, body = fetch(base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for element in ('id="file"', 'id="model"', 'id="strength"', 'id="tile"', 'id="compare"', 'id="download"'):
        assert element.encode() in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert fetch(base + "/static/app.js")[0] == 200
    # only the shipped files are served; nothing resolves to a path on disk
    for path in ("/static/..%2Fapp.py", "/static/../app.py", "/static/%2Fetc%2Fpasswd", "/static/config.py",
                 "/etc/passwd", "/api/jobs/..%2F..%2Fetc%2Fpasswd/result.png"):
        status, _, body = fetch(base + path)
        assert status == 404, path
        assert json.loads(body) == {"error": "not found"} or "error" in json.loads(body)


def test_dns_rebinding_guard_refuses_foreign_host_header(start):
    base, _ = start(NearestUpscaler())
    assert fetch(base + "/api/info", headers={"Host": "evil.example:80"})[0] == 400
    assert fetch(base + "/api/info", headers={"Host": "localhost"})[0] == 200


def test_bundled_models_are_offered_once(tmp_path, monkeypatch):
    import dsrgan.weights.bundled as bundled
    from dsrgan.web.model_pool import _label, bundled_model_names

    for name in (bundled.DEFAULT_MODEL, "other-x4"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path)
    assert bundled_model_names("default") == ["other-x4"]  # "default" is the same file as the default model
    assert bundled_model_names("other-x4") == [bundled.DEFAULT_MODEL]
    assert bundled_model_names(str(tmp_path / "other-x4.safetensors")) == [bundled.DEFAULT_MODEL]
    assert bundled_model_names("/no/such/model.pth") == [bundled.DEFAULT_MODEL, "other-x4"]
    assert _label("default") == f"default ({bundled.DEFAULT_MODEL})"
    assert _label("runs/exp1/model.safetensors") == "model.safetensors"


def test_info_lists_models_and_limits(start):
    base, _ = start(NearestUpscaler(), names=("my/model.safetensors", "default", "lite"), max_pixels=1234)
    info = json.loads(fetch(base + "/api/info")[2])
    assert [m["id"] for m in info["models"]] == ["my/model.safetensors", "default", "lite"]
    assert info["models"][0]["label"] == "model.safetensors"
    # whether each takes the detail strength, from the file header: unknown for a missing file
    assert [m["detail"] for m in info["models"]] == [None, True, None]
    assert info["default_model"] == "my/model.safetensors"
    assert info["limits"]["max_pixels"] == 1234


# --- a job from upload to download ------------------------------------------------------------------------------
def test_result_is_exactly_the_model_output_at_full_resolution(start, photo):
    from dsrgan.imaging import imresize, to_uint8

    up = NearestUpscaler()
    base, _ = start(up)
    status, job = post_image(base, png_bytes(photo), strength="1.5", tile="64", filename="My Photo (1).png")
    assert status == 202 and job["state"] in ("queued", "running", "done")
    info = wait_job(base, job["id"])
    assert info["state"] == "done", info
    result = info["result"]
    assert result["input"] == {"width": 17, "height": 12, "name": "My_Photo_1"}
    assert (result["output"]["width"], result["output"]["height"]) == (68, 48)
    assert up.calls == [{"shape": (12, 17, 3), "tile": 64, "strength": 1.5}]

    status, headers, data = fetch(base + result["images"]["result"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    np.testing.assert_array_equal(decode(data), np.repeat(np.repeat(photo, 4, 0), 4, 1))
    # the "before" half of the comparison is MATLAB-bicubic of the input to the same size
    bicubic = decode(fetch(base + result["images"]["bicubic"])[2])
    expected = to_uint8(np.clip(imresize(photo.astype(np.float32) / 255, output_shape=(48, 68)), 0, 1))
    assert np.abs(bicubic.astype(int) - expected.astype(int)).max() <= 1
    # no detail branch -> no detail image
    assert "detail" not in result["images"]
    assert fetch(base + f"/api/jobs/{job['id']}/detail.png")[0] == 404
    headers = fetch(base + result["images"]["result"] + "?download=1")[1]
    assert headers["Content-Disposition"] == 'attachment; filename="My_Photo_1_x4.png"'


def test_detail_map_is_min_max_normalised(start, photo):
    base, _ = start(NearestUpscaler(detail_variant="dsrgan"))
    info = wait_job(base, post_image(base, png_bytes(photo))[1]["id"])
    detail = decode(fetch(base + info["result"]["images"]["detail"])[2]).astype(float)
    assert detail.shape == (12, 17)  # one channel, at the input's size
    luma = photo.astype(float).mean(axis=2)
    expected = 255 * (luma - luma.min()) / (luma.max() - luma.min())
    assert np.abs(detail - expected).max() <= 1.0


def test_detail_picture_matches_the_detail_command(rng):
    """The page's detail picture equals `dsrgan detail`'s default picture (minmax of log2 I_D, or of D)."""
    from dsrgan.detail import get_prior, network_input

    rgb = rng.random((20, 24, 3), dtype=np.float32)
    for variant in ("dsrgan", "gif"):
        shown = detail_for_display(network_input(rgb, variant), variant)
        expected = get_prior(variant).picture(get_prior(variant).layer(rgb), "minmax")
        assert shown.shape == expected.shape
        np.testing.assert_allclose(shown, expected, atol=2e-4)
    assert np.all(detail_for_display(np.zeros((3, 4, 1)), "dsrgan") == 0.5)


def test_rgba_upload_keeps_its_alpha(start, rng):
    rgba = rng.integers(0, 256, size=(8, 9, 4), dtype=np.uint8)
    base, _ = start(NearestUpscaler())
    info = wait_job(base, post_image(base, png_bytes(rgba))[1]["id"])
    out = decode(fetch(base + info["result"]["images"]["result"])[2])
    assert out.shape == (32, 36, 4)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(rgba, 4, 0), 4, 1))


def test_gray_16bit_upload_stays_gray_16bit(start, rng):
    gray16 = rng.integers(0, 65536, size=(9, 7), dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(gray16).save(buf, format="PNG")
    base, _ = start(NearestUpscaler())
    info = wait_job(base, post_image(base, buf.getvalue())[1]["id"])
    assert info["result"]["output"]["bit_depth"] == 16
    with Image.open(io.BytesIO(fetch(base + info["result"]["images"]["result"])[2])) as im:
        assert im.mode.startswith("I")  # one 16-bit channel, not RGB
        out = np.asarray(im).astype(np.int64)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(gray16.astype(np.int64), 4, 0), 4, 1))


# --- bad input: a clear one-line message, never a traceback -------------------------------------------------------
def _assert_clean_error(body: dict, *words: str):
    assert set(body) == {"error"}
    msg = body["error"]
    assert "\n" not in msg and "Traceback" not in msg
    for w in words:
        assert w in msg, msg


def test_non_image_is_rejected_with_a_message(start):
    base, _ = start(NearestUpscaler())
    status, body = post_image(base, b"hello, this is a text file\n" * 20, filename="notes.txt")
    assert status == 415
    _assert_clean_error(body, "not an image")
    status, body = post_image(base, b"")
    assert status == 400
    _assert_clean_error(body, "empty")
    truncated = png_bytes(np.zeros((64, 64, 3), np.uint8) + 100)[:60]
    status, body = post_image(base, truncated)
    assert status in (400, 415)
    _assert_clean_error(body)


def test_upload_size_limit_is_enforced_while_streaming(start, photo):
    data = png_bytes(photo)
    base, _ = start(NearestUpscaler(), max_upload_bytes=len(data) - 1)
    status, body = post_image(base, data)
    assert status == 413
    _assert_clean_error(body, "upload limit")
    # without a Content-Length (chunked transfer) the limit still holds
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/api/jobs", body=iter([data[:100], data[100:]]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 413
    _assert_clean_error(json.loads(resp.read()), "upload limit")
    conn.close()


def test_pixel_limit(start, photo):
    base, _ = start(NearestUpscaler(), max_pixels=12 * 17 - 1)
    status, body = post_image(base, png_bytes(photo))
    assert status == 413
    _assert_clean_error(body, "203")


@pytest.mark.parametrize("params, words", [
    ({"strength": "2.5"}, ["strength", "0 to 2"]),
    ({"strength": "nan"}, ["strength"]),
    ({"strength": "-0.1"}, ["strength"]),
    ({"tile": "8"}, ["tile", "16"]),
    ({"tile": "abc"}, ["tile"]),
    ({"model": "/etc/passwd"}, ["unknown model", "default"]),
    ({"strenght": "0.5"}, ["unknown parameter 'strenght'", "strength"]),  # a typo was ignored: strength 1
    ({"strength": "0.5", "tiles": "64"}, ["unknown parameter 'tiles'"]),
])
def test_bad_options_are_rejected_before_anything_runs(start, photo, params, words):
    loaded = []
    up = NearestUpscaler()

    def loader(name):
        loaded.append(name)
        return up

    base, _ = start(loader)
    status, body = post_image(base, png_bytes(photo), **params)
    assert status == 400
    _assert_clean_error(body, *words)
    assert up.calls == [] and loaded == []


def test_a_parameter_given_twice_is_rejected_not_half_ignored(start, photo):
    up = NearestUpscaler()
    base, _ = start(up)
    status, _, body = fetch(f"{base}/api/jobs?strength=0&strength=2", "POST", png_bytes(photo),
                            {"Content-Type": "application/octet-stream"})
    assert status == 400
    _assert_clean_error(json.loads(body), "'strength' is given more than once")
    assert up.calls == []


def test_strength_for_a_model_without_detail_branch_is_a_400(start, photo, tmp_path):
    """The Upscaler's own check (as in the command and the API), before the upload is taken."""
    import torch

    from dsrgan.archs import ArchSpec, build
    from dsrgan.inference.api import load_model
    from dsrgan.weights import save_model

    spec = ArchSpec("rrdbnet", dict(num_feat=8, num_block=1, num_grow=4), name="tiny-esrgan")
    torch.manual_seed(0)
    path = tmp_path / "tiny-esrgan.safetensors"
    save_model(path, build(spec), spec)
    base, _ = start(lambda name: load_model(name, device="cpu", dtype="fp32"), names=(str(path),))
    # the page learns it from /api/info (read from the file header) and turns its slider off
    models = json.loads(fetch(base + "/api/info")[2])["models"]
    assert [(m["id"], m["detail"]) for m in models] == [(str(path), False)]
    status, body = post_image(base, png_bytes(photo), strength="0.5")
    assert status == 400
    _assert_clean_error(body, "no detail branch")
    status, job = post_image(base, png_bytes(photo), strength="1")
    assert status == 202 and wait_job(base, job["id"], timeout=600)["state"] == "done"


def test_unknown_job_is_404(start):
    base, _ = start(NearestUpscaler())
    for path in ("/api/jobs/nosuchjob123", "/api/jobs/x", "/api/jobs/nosuchjob123/result.png"):
        status, _, body = fetch(base + path)
        assert status == 404
        assert "error" in json.loads(body)


def test_failures_while_upscaling_become_messages(start, photo):
    base, _ = start(NearestUpscaler(fail=RuntimeError("secret internals /home/x")))
    info = wait_job(base, post_image(base, png_bytes(photo))[1]["id"])
    assert info["state"] == "error"
    assert "internal error" in info["message"] and "secret" not in info["message"]

    base, _ = start(NearestUpscaler(fail=DsrganError("tile must be 0 (whole image) or >= 16 (got 3)")))
    info = wait_job(base, post_image(base, png_bytes(photo))[1]["id"])
    assert info == {**info, "state": "error", "message": "tile must be 0 (whole image) or >= 16 (got 3)"}

    base, _ = start(NearestUpscaler(fail=RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")))
    info = wait_job(base, post_image(base, png_bytes(photo))[1]["id"])
    assert "smaller tile" in info["message"]


# --- the queue ----------------------------------------------------------------------------------------------------
def test_bounded_queue_answers_busy_and_then_runs_everything(start, photo):
    gate = threading.Event()
    up = NearestUpscaler(gate=gate)
    base, app = start(up, max_waiting=2)
    data = png_bytes(photo)
    first = post_image(base, data, strength="0")[1]
    deadline = time.monotonic() + 10
    while wait_state(base, first["id"]) != "running":  # the worker picked it up and is held on the gate
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = post_image(base, data, strength="0.5")[1]
    third = post_image(base, data, strength="1")[1]
    assert (second["position"], third["position"]) == (1, 2)

    status, _, body = fetch(f"{base}/api/jobs", "POST", data)
    assert status == 503
    _assert_clean_error(json.loads(body), "busy", "try again")

    gate.set()
    states = [wait_job(base, j["id"])["state"] for j in (first, second, third)]
    assert states == ["done"] * 3
    assert [c["strength"] for c in up.calls] == [0.0, 0.5, 1.0]  # first in, first out
    assert app.state.queue.waiting == 0
    # room again once the burst is through
    assert post_image(base, data)[0] == 202


def wait_state(base: str, job_id: str) -> str:
    return json.loads(fetch(f"{base}/api/jobs/{job_id}")[2])["state"]


def test_cancel_a_waiting_job(start, photo):
    gate = threading.Event()
    up = NearestUpscaler(gate=gate)
    base, _ = start(up)
    data = png_bytes(photo)
    first = post_image(base, data)[1]
    second = post_image(base, data, strength="2")[1]
    status, _, body = fetch(f"{base}/api/jobs/{second['id']}", "DELETE")
    assert status == 200 and json.loads(body) == {"cancelled": True, "state": "cancelled"}
    gate.set()
    assert wait_job(base, first["id"])["state"] == "done"
    assert wait_state(base, second["id"]) == "cancelled"
    assert [c["strength"] for c in up.calls] == [1.0]


def test_files_live_only_in_a_private_folder_that_is_cleaned_up(photo):
    up = NearestUpscaler()
    app = create_app(ModelPool(lambda name: up, "default"), ServeConfig(keep_finished=1))
    data = png_bytes(photo)
    with BackgroundServer(app) as base:
        workdir = app.state.paths["workdir"]
        assert stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
        first = wait_job(base, post_image(base, data)[1]["id"])
        first_files = sorted(p.name for p in workdir.rglob("*") if p.is_file())
        assert first_files == ["bicubic.png", "result.png"]  # the upload itself is already gone
        second = wait_job(base, post_image(base, data)[1]["id"])
        # only the newest finished job is kept: the first one's files are deleted and no longer served
        assert fetch(base + first["result"]["images"]["result"])[0] == 404
        assert fetch(base + second["result"]["images"]["result"])[0] == 200
        assert len([p for p in workdir.iterdir()]) == 1
    assert not workdir.exists()


# --- the real model, end to end -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from dsrgan.archs import build
    from dsrgan.archs.spec import PRESETS, ArchSpec
    from dsrgan.weights import save_model

    base = PRESETS["dsrgan-lite-x4"]
    spec = ArchSpec(base.arch, {**base.params, **TINY}, scale=base.scale, detail_variant=base.detail_variant,
                    name="web-test-tiny")
    torch.manual_seed(0)
    model = build(spec)
    with torch.no_grad():  # the detail output starts at zero (trunk only); wake it so strength has an effect
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.2)
    path = tmp_path_factory.mktemp("web-model") / "tiny.safetensors"
    save_model(path, model, spec)
    return path


TINY = dict(num_feat=8, num_block=2, num_grow=4, up_channels=8, taps=(1, 2), detail_feat=8, detail_grow=4,
            detail_up_channels=4, attention_channels=4)


class HeldUpscaler:
    """A real Upscaler whose runs wait until `gate` opens: the test decides when work starts, not the clock."""

    def __init__(self, inner, gate: threading.Event):
        self.inner, self.gate = inner, gate

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def upscale_array(self, *args, **kwargs):
        assert self.gate.wait(600), "test gate never opened"
        return self.inner.upscale_array(*args, **kwargs)


def test_real_model_burst_of_concurrent_requests_all_complete(start, tiny_model_file, rng):
    """Five clients post at once (a barrier lines them up) while the model is held: every upload is accepted and
    queued, none is lost or run twice; once the model runs, every job completes with its own result. No step
    depends on how fast the machine is (the timeouts only guard against a hang)."""
    from dsrgan.inference.api import load_model

    loads = []
    gate = threading.Event()

    def loader(name):
        loads.append(name)
        return HeldUpscaler(load_model(name, device="cpu", dtype="fp32"), gate)

    n = 5
    base, _ = start(loader, names=(str(tiny_model_file),), max_waiting=8)
    sizes = [(12, 17)] * n  # one size: the tiny model's first run per input shape is the slow part
    uploads = [png_bytes(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)) for h, w in sizes]
    posted: list = [None] * n
    errors: list = []
    line_up = threading.Barrier(n)

    def client(i):
        try:
            line_up.wait(60)
            posted[i] = post_image(base, uploads[i], strength=str(0.4 * i))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors and all(not t.is_alive() for t in threads), errors
    assert all(p is not None and p[0] == 202 for p in posted), posted
    ids = [job["id"] for _, job in posted]
    assert len(set(ids)) == n, "every upload is its own job"
    # the model is held: at most one job has started, the others wait in the queue, none has finished
    states = [json.loads(fetch(f"{base}/api/jobs/{i}")[2])["state"] for i in ids]
    assert all(s in ("queued", "running") for s in states) and states.count("running") <= 1, states
    gate.set()
    results = [wait_job(base, i, timeout=600) for i in ids]
    assert loads == [str(tiny_model_file)], "one shared model instance, loaded once"
    for (h, w), info, i in zip(sizes, results, range(n), strict=True):
        assert info["state"] == "done", info
        assert info["result"]["strength"] == pytest.approx(0.4 * i)  # each job kept its own options
        out = decode(fetch(base + info["result"]["images"]["result"])[2])
        assert out.shape == (4 * h, 4 * w, 3)
        detail = decode(fetch(base + info["result"]["images"]["detail"])[2])
        assert detail.shape == (h, w) and detail.min() == 0 and detail.max() == 255


def test_detail_strength_reaches_the_model(start, tiny_model_file, photo):
    from dsrgan.inference.api import load_model

    base, _ = start(lambda name: load_model(name, device="cpu", dtype="fp32"), names=(str(tiny_model_file),))
    outs = {}
    for s in ("0", "2"):
        info = wait_job(base, post_image(base, png_bytes(photo), strength=s)[1]["id"])
        outs[s] = decode(fetch(base + info["result"]["images"]["result"])[2])
    assert np.abs(outs["0"].astype(int) - outs["2"].astype(int)).max() > 2, "strength made no difference"
    direct = load_model(str(tiny_model_file), device="cpu", dtype="fp32")
    for s, out in outs.items():
        from dsrgan.imaging import to_uint8

        expected = to_uint8(direct.upscale_array(photo.astype(np.float32) / 255, detail_strength=float(s)))
        assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_serve_cli_fails_in_one_line_when_the_model_cannot_be_loaded(tmp_path, capsys):
    from dsrgan.cli import main

    code = main(["serve", "--port", "0", "--model", str(tmp_path / "missing.safetensors")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("dsrgan serve: error: ") and err.count("\n") == 1, err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert main(["serve", "--port", "0", "--model", str(bad)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("dsrgan serve: error: ") and err.count("\n") == 1, err


def test_serve_cli_reports_a_busy_port(tiny_model_file, capsys):
    import socket

    from dsrgan.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code = main(["serve", "--port", str(port), "--model", str(tiny_model_file), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and "cannot listen" in err and err.count("\n") == 1, err


def test_job_errors_do_not_show_the_private_folder():
    from dsrgan.errors import OutputError
    from dsrgan.web.jobs import user_message

    msg = user_message(OutputError("/tmp/dsrgan-serve-0a1b2c3d-123-abcd/job-xyz12/result.png: cannot write "
                                   "(No space left on device)"))
    assert msg == "result.png: cannot write (No space left on device)"
