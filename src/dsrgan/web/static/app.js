// dsrgan serve: the page. Plain JS, no build step, talks to the JSON API in dsrgan/web/app.py.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { file: null, info: null, generation: 0, jobId: null, jobState: null, timer: null };

function setState(name) { document.body.dataset.state = name; }

function showError(message) {
  const box = $("error");
  box.textContent = message;  // text only: a message from the server is never interpreted as HTML
  box.hidden = false;
  $("progress").hidden = true;
  setState("error");
}

function clearError() { $("error").hidden = true; $("error").textContent = ""; }

function formatBytes(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.ceil(n / 1024) + " kB"; }

function setProgress(text, fraction) {
  $("progress").hidden = false;
  $("status-text").textContent = text;
  const bar = $("bar");
  if (fraction === null || fraction === undefined) bar.removeAttribute("value");  // indeterminate
  else bar.value = fraction;
}

async function loadInfo() {
  try {
    const r = await fetch("/api/info");
    const info = await r.json();
    if (!r.ok) throw new Error(info.error || "HTTP " + r.status);
    state.info = info;
    $("version").textContent = "v" + info.version;
    const select = $("model");
    select.textContent = "";
    for (const m of info.models) {
      const opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = m.label;
      select.appendChild(opt);
    }
    select.value = info.default_model;
    syncStrength();
    const lim = info.limits;
    $("strength").max = lim.max_strength;
    $("tile").max = lim.max_tile;
    $("limits").textContent = "PNG, JPEG, WebP, BMP or TIFF, up to " + formatBytes(lim.max_upload_bytes) +
      " and " + (lim.max_pixels / 1e6).toFixed(1) + " megapixels";
  } catch (e) {
    showError("cannot reach the dsrgan server: " + e.message);
  }
}

function chooseFile(file) {
  if (!file) return;
  clearError();
  const lim = state.info && state.info.limits;
  if (lim && file.size > lim.max_upload_bytes) {
    showError("the file is " + formatBytes(file.size) + ", larger than the upload limit of " +
              formatBytes(lim.max_upload_bytes));
    return;
  }
  state.file = file;
  $("filename").textContent = file.name + " (" + formatBytes(file.size) + ")";
  $("run").disabled = false;
  start();
}

function cancelPrevious() {
  if (state.timer) { clearTimeout(state.timer); state.timer = null; }
  if (state.jobId && state.jobState === "queued") {
    fetch("/api/jobs/" + state.jobId, { method: "DELETE" }).catch(() => {});
  }
  state.jobId = null;
}

// A model without a detail branch would ignore the strength (the server refuses anything but 1 for it):
// the slider goes back to 1 and is turned off while such a model is chosen.
function syncStrength() {
  const entry = state.info && state.info.models.find((m) => m.id === $("model").value);
  const off = Boolean(entry) && entry.detail === false;
  const strength = $("strength");
  if (off) {
    strength.value = 1;
    $("strength-value").textContent = "1.00";
  }
  strength.disabled = off;
  strength.title = off ? "this model has no detail branch" : "";
}

function start() {
  if (!state.file) return;
  cancelPrevious();
  clearError();
  const generation = ++state.generation;
  const params = new URLSearchParams({
    model: $("model").value,
    strength: $("strength").value,
    tile: $("tile").value.trim(),
    filename: state.file.name,
  });
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/jobs?" + params.toString());
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.responseType = "json";
  xhr.upload.onprogress = (ev) => {
    if (generation === state.generation && ev.lengthComputable) {
      setProgress("uploading " + Math.round(100 * ev.loaded / ev.total) + "%", ev.loaded / ev.total);
    }
  };
  xhr.onload = () => {
    if (generation !== state.generation) return;
    const body = xhr.response || {};
    if (xhr.status === 202) {
      state.jobId = body.id;
      state.jobState = body.state;
      follow(generation, body);
    } else {
      showError(body.error || ("the server answered HTTP " + xhr.status));
    }
  };
  xhr.onerror = () => {
    if (generation !== state.generation) return;
    showError("upload failed: the connection to the server was lost (is dsrgan serve still running?)");
  };
  setState("uploading");
  setProgress("uploading…", 0);
  xhr.send(state.file);
}

function follow(generation, status) {
  if (generation !== state.generation) return;
  state.jobState = status.state;
  if (status.state === "queued") {
    setState("queued");
    const ahead = status.position || 0;
    setProgress(ahead ? "waiting in the queue: " + ahead + " ahead" : "starting…", null);
  } else if (status.state === "running") {
    setState("running");
    const t = status.elapsed_s ? " " + status.elapsed_s.toFixed(1) + " s" : "";
    setProgress("upscaling…" + t, status.progress);
  } else if (status.state === "done") {
    showResult(generation, status.result);
    return;
  } else if (status.state === "error") {
    showError(status.message || "upscaling failed");
    return;
  } else {
    return;  // cancelled
  }
  state.timer = setTimeout(async () => {
    try {
      const r = await fetch("/api/jobs/" + status.id);
      const body = await r.json();
      if (generation !== state.generation) return;
      if (!r.ok) { showError(body.error || ("the server answered HTTP " + r.status)); return; }
      follow(generation, body);
    } catch (e) {
      if (generation === state.generation) showError("lost the connection to the server: " + e.message);
    }
  }, 250);
}

function loadImage(img, src) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("could not load " + src));
    img.src = src;
  });
}

async function showResult(generation, result) {
  setProgress("loading the result…", 1);
  const imgs = result.images;
  try {
    const loads = [loadImage($("img-before"), imgs.bicubic), loadImage($("img-after"), imgs.result)];
    if (imgs.detail) loads.push(loadImage($("img-detail"), imgs.detail));
    await Promise.all(loads);
  } catch (e) {
    if (generation === state.generation) showError(e.message);
    return;
  }
  if (generation !== state.generation) return;
  $("detail-fig").hidden = !imgs.detail;
  const i = result.input, o = result.output;
  const model = $("model").selectedOptions.length ? $("model").selectedOptions[0].textContent : result.model;
  $("after-tag").textContent = model;
  $("summary").textContent = i.width + "×" + i.height + " → " + o.width + "×" + o.height + " · " +
    result.seconds.toFixed(2) + " s" + (result.device ? " on " + result.device : "") + " · " + model +
    " · strength " + Number(result.strength).toFixed(2) + (result.tile ? " · tile " + result.tile : "");
  const link = $("download");
  link.href = imgs.result + "?download=1";
  link.setAttribute("download", i.name + "_x4.png");
  $("progress").hidden = true;
  $("result").hidden = false;
  layoutCompare();
  setState("done");
}

// -- before/after divider ------------------------------------------------------------------------------
function layoutCompare() {
  // Fit the whole result into the viewer (at most 78% of the window height), or show it 1:1.
  const img = $("img-before"), c = $("compare");
  if (!img.naturalWidth) return;
  const w = img.naturalWidth, h = img.naturalHeight;
  const scale = $("actual").checked ? 1 :
    Math.min(($("viewer").clientWidth || w) / w, (0.78 * window.innerHeight) / h);
  c.style.width = Math.floor(w * scale) + "px";
  c.style.height = Math.floor(h * scale) + "px";
  c.classList.toggle("enlarged", scale > 1);
}

function setDivider(percent) {
  const p = Math.max(0, Math.min(100, percent));
  const c = $("compare");
  c.style.setProperty("--pos", p + "%");
  c.setAttribute("aria-valuenow", String(Math.round(p)));
}

function dividerFromPointer(ev) {
  const rect = $("compare").getBoundingClientRect();
  setDivider(100 * (ev.clientX - rect.left) / rect.width);
}

function setupCompare() {
  const c = $("compare");
  c.addEventListener("pointerdown", (ev) => { c.setPointerCapture(ev.pointerId); dividerFromPointer(ev); });
  c.addEventListener("pointermove", (ev) => { if (c.hasPointerCapture(ev.pointerId)) dividerFromPointer(ev); });
  c.addEventListener("keydown", (ev) => {
    const now = Number(c.getAttribute("aria-valuenow"));
    if (ev.key === "ArrowLeft") { setDivider(now - 2); ev.preventDefault(); }
    if (ev.key === "ArrowRight") { setDivider(now + 2); ev.preventDefault(); }
  });
  $("actual").addEventListener("change", layoutCompare);
  window.addEventListener("resize", layoutCompare);
}

// -- inputs ----------------------------------------------------------------------------------------------
function setupInputs() {
  const drop = $("drop");
  $("file").addEventListener("change", (ev) => chooseFile(ev.target.files[0]));
  drop.addEventListener("click", (ev) => { if (ev.target === drop) $("file").click(); });
  drop.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") $("file").click(); });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (ev) => { ev.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (ev) => chooseFile(ev.dataTransfer.files[0]));
  document.addEventListener("paste", (ev) => {
    const item = [...(ev.clipboardData ? ev.clipboardData.files : [])][0];
    if (item) chooseFile(item);
  });
  const strength = $("strength");
  strength.addEventListener("input", () => { $("strength-value").textContent = Number(strength.value).toFixed(2); });
  // Settings rerun the current image once they are released (not on every slider step).
  strength.addEventListener("change", start);
  $("model").addEventListener("change", () => { syncStrength(); start(); });
  $("tile").addEventListener("change", start);
  $("run").addEventListener("click", start);
}

setupInputs();
setupCompare();
loadInfo();
