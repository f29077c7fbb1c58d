"""The `dsrgan serve` page in a real browser: Debian's Chromium driven headless by Playwright (PyPI).

Setup: `tools/install_browser.sh` (apt-get install chromium) and `pip install playwright`; Playwright's own browser
download is never used. These tests skip, saying why, only when Chromium or the playwright package is missing.

For the documentation screenshot with the bundled model:
    DSRGAN_WEB_SCREENSHOT=docs/img/web.png DSRGAN_WEB_MODEL=default pytest tests/test_web_browser.py -k screenshot
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'dsrgan[web]'")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed: pip install playwright (no browser download "
                                      "needed; the tests use Debian's Chromium)")

from test_web_api import tiny_model_file  # noqa: E402,F401 - shared fixture: a random tiny DSRGAN model file

from dsrgan.web.app import LOOPBACK_HOSTS, create_app  # noqa: E402
from dsrgan.web.config import ServeConfig  # noqa: E402
from dsrgan.web.model_pool import ModelPool  # noqa: E402
from dsrgan.web.server import BackgroundServer  # noqa: E402

CHROMIUM = os.environ.get("DSRGAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"Chromium not found at {CHROMIUM} (run tools/install_browser.sh, or set DSRGAN_CHROMIUM)",
                allow_module_level=True)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SET5_WOMAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks" / "Set5" / "LR_bicubic" / "X4" \
    / "womanx4.png"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _serve(model: str, others=(), **config):
    from dsrgan.inference.api import load_model

    pool = ModelPool(lambda name: load_model(name, device="cpu", dtype="fp32"), model, others)
    pool.get(model)
    return BackgroundServer(create_app(pool, ServeConfig(**config), allowed_hosts=LOOPBACK_HOSTS))


@pytest.fixture(scope="module")
def server(tiny_model_file):  # noqa: F811
    with _serve(str(tiny_model_file)) as url:
        yield url


@pytest.fixture
def page(browser, server):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.goto(server + "/")
    pg.wait_for_selector("#model option", state="attached")
    pg.problems = problems
    yield pg
    context.close()


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    """A real photo (Set5 'woman', bicubic x4 LR, 57x86) when ../shared is there, else a synthetic one."""
    path = tmp_path_factory.mktemp("web-browser") / "woman.png"
    if SET5_WOMAN.is_file():
        shutil.copy(SET5_WOMAN, path)
    else:
        y, x = np.mgrid[0:86, 0:57]
        img = np.stack([128 + 100 * np.sin(x / 4.0), 128 + 100 * np.cos(y / 5.0), (x * y) % 256], axis=2)
        Image.fromarray(img.astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def small_photo_file(photo_file) -> Path:
    """A 20x24 crop of the photo: the burst test runs the model six times."""
    path = photo_file.with_name("crop.png")
    with Image.open(photo_file) as im:
        im.crop((16, 20, 36, 44)).save(path)
    return path


def _natural_size(page, selector: str) -> tuple[int, int]:
    return tuple(page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]"))


def _wait_done(page, strength: str | None = None):
    page.wait_for_function("() => ['done', 'error'].includes(document.body.dataset.state)")
    assert page.get_attribute("body", "data-state") == "done", page.inner_text("#error")
    if strength is not None:
        page.wait_for_function("s => document.body.dataset.state === 'done' && "
                               "document.getElementById('summary').textContent.includes('strength ' + s)",
                               arg=strength)


def test_upload_move_the_slider_compare_and_download(page, photo_file):
    w, h = Image.open(photo_file).size
    page.set_input_files("#file", str(photo_file))  # picking a file starts the job
    _wait_done(page)
    assert _natural_size(page, "#img-after") == (4 * w, 4 * h)
    assert _natural_size(page, "#img-before") == (4 * w, 4 * h)
    assert _natural_size(page, "#img-detail") == (w, h)
    assert f"{w}×{h} → {4 * w}×{4 * h}" in page.inner_text("#summary")
    assert page.is_hidden("#error")

    # move the strength slider with the mouse (to about 3/4 of its track = about 1.5); releasing it reruns
    box = page.locator("#strength").bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + box["height"] / 2)
    value = float(page.input_value("#strength"))
    assert 1.2 <= value <= 1.8
    assert page.inner_text("#strength-value") == f"{value:.2f}"
    _wait_done(page, strength=f"{value:.2f}")
    assert _natural_size(page, "#img-after") == (4 * w, 4 * h)

    # drag the before/after divider to a quarter of the width
    page.locator("#compare").scroll_into_view_if_needed()
    box = page.locator("#compare").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert abs(int(page.get_attribute("#compare", "aria-valuenow")) - 25) <= 1
    clip = page.eval_on_selector("#img-after", "img => getComputedStyle(img).clipPath")
    assert "25" in clip, clip

    # the download is the full-resolution PNG
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "woman_x4.png"
    with Image.open(download.path()) as im:
        assert im.size == (4 * w, 4 * h)
    assert page.is_hidden("#error")
    assert page.problems == []


def test_a_text_file_gets_a_message_not_a_traceback(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a picture\n" * 50)
    page.set_input_files("#file", str(notes))
    page.wait_for_selector("#error", state="visible")
    message = page.inner_text("#error")
    assert "notes.txt: not an image" in message
    assert "Traceback" not in message and "\n" not in message.strip()
    assert page.get_attribute("body", "data-state") == "error"
    assert page.is_hidden("#result")


def test_a_burst_from_the_browser_waits_and_all_complete(page, small_photo_file):
    """Six uploads fired at once from the page's JavaScript: all are queued (none busy) and all finish."""
    data = list(small_photo_file.read_bytes())
    outcome = page.evaluate("""async ([bytes, n]) => {
        const blob = new Blob([new Uint8Array(bytes)], {type: 'image/png'});
        const one = async (i) => {
            const r = await fetch('/api/jobs?strength=' + (i / 4), {method: 'POST', body: blob});
            let job = await r.json();
            if (r.status !== 202) return {status: r.status, error: job.error};
            while (!['done', 'error', 'cancelled'].includes(job.state)) {
                await new Promise(ok => setTimeout(ok, 100));
                job = await (await fetch('/api/jobs/' + job.id)).json();
            }
            if (job.state !== 'done') return {status: 202, state: job.state, error: job.message};
            const img = await createImageBitmap(await (await fetch(job.result.images.result)).blob());
            return {status: 202, state: job.state, size: [img.width, img.height]};
        };
        return Promise.all([...Array(n).keys()].map(one));
    }""", [data, 6])
    w, h = Image.open(small_photo_file).size
    assert outcome == [{"status": 202, "state": "done", "size": [4 * w, 4 * h]}] * 6


def test_progress_and_queue_position_are_shown(browser, photo_file, small_photo_file):
    """With the model held on a gate: the first page shows the running job's progress, the second its queue place."""
    from test_web_api import NearestUpscaler

    gate = threading.Event()
    app = create_app(ModelPool(lambda name: NearestUpscaler(gate=gate), "held"), ServeConfig())
    with BackgroundServer(app) as url:
        context = browser.new_context()
        first, second = context.new_page(), context.new_page()
        for pg in (first, second):
            pg.set_default_timeout(TIMEOUT_MS)
            pg.goto(url + "/")
            pg.wait_for_selector("#model option", state="attached")
        try:
            first.set_input_files("#file", str(photo_file))
            first.wait_for_function("() => document.body.dataset.state === 'running' && "
                                    "document.getElementById('bar').value === 0.5")
            assert first.inner_text("#status-text").startswith("upscaling…")
            second.set_input_files("#file", str(small_photo_file))
            second.wait_for_function("() => document.body.dataset.state === 'queued'")
            assert second.inner_text("#status-text") == "waiting in the queue: 1 ahead"
        finally:
            gate.set()
        for pg in (first, second):
            _wait_done(pg)
            assert pg.is_hidden("#progress")
        context.close()


@pytest.mark.skipif(not os.environ.get("DSRGAN_WEB_SCREENSHOT"), reason="set DSRGAN_WEB_SCREENSHOT=path to take "
                    "the documentation screenshot (and DSRGAN_WEB_MODEL=default for the bundled model)")
def test_screenshot_for_the_docs(browser, tiny_model_file, tmp_path):  # noqa: F811
    model = os.environ.get("DSRGAN_WEB_MODEL") or str(tiny_model_file)
    source = Path(os.environ.get("DSRGAN_WEB_IMAGE") or SET5_WOMAN.with_name("babyx4.png"))
    if not source.is_file():
        pytest.skip(f"{source} is missing (set DSRGAN_WEB_IMAGE)")
    from dsrgan.web.model_pool import bundled_model_names

    with _serve(model, bundled_model_names(model)) as url:  # the model list as `dsrgan serve` offers it
        context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS * 3)
        pg.goto(url + "/")
        pg.wait_for_selector("#model option", state="attached")
        pg.set_input_files("#file", str(source))
        _wait_done(pg)
        pg.evaluate("document.getElementById('compare').style.setProperty('--pos', '50%')")
        out = Path(os.environ["DSRGAN_WEB_SCREENSHOT"])
        out.parent.mkdir(parents=True, exist_ok=True)
        png = pg.screenshot(full_page=True)
        with Image.open(io.BytesIO(png)) as im:
            im.convert("RGB").save(out, optimize=True)
        context.close()
