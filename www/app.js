// webclip web app: the UI around the worker-backed model of the `webclip` package.
//
// The page never touches wasm: every model call goes through the package's worker proxy
// (`loadModelInWorker`), one call at a time (a queue below), so the UI stays responsive and a
// newer request simply makes older results stale. Images are classified one by one, so a bad
// file fails alone, names itself, and the other images still get their probabilities.
//
// Machine-readable hooks for the browser tests: #app[data-state] ("loading" | "ready" | "busy" |
// "error") and [data-first-run-ms]; #backend-badge[data-backend][data-precision]; each image card
// li.card[data-name][data-status]; each probability row [data-label][data-prob]; each search
// result [data-name][data-index][data-score] inside #search-results[data-query]. The root is
// also "busy" while a training run (Fine-tune or Learn view, train.js) is running.
//
// Views: a tablist switches between Classify (default), Fine-tune and Learn; `?view=` picks one.

import { initTraining } from "./train.js";

const PKG = "./vendor/webclip/dist/index.js";

const COLORS = ["red", "green", "blue", "yellow", "purple", "orange"];
const SHAPES = ["circle", "square", "triangle", "star"];
const SHAPES_LABELS = COLORS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)).join("\n");
const GENERAL_LABELS = [
  "cat",
  "dog",
  "bird",
  "horse",
  "car",
  "airplane",
  "rocket",
  "astronaut",
  "cup of coffee",
  "camera",
  "flower",
  "person",
].join("\n");
const HUB_DEFAULT = "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/";
const SHAPES_URL = new URL("models/shapes/", document.baseURI).href;
const TOP_ROWS = 5; // rows shown before "show all"

const $ = (id) => document.getElementById(id);
const el = {
  app: $("app"),
  badge: $("backend-badge"),
  deviceNote: $("device-note"),
  modelActive: $("model-active"),
  alerts: $("alerts"),
  status: $("status"),
  form: $("model-form"),
  hubUrl: $("hub-url"),
  hubOpts: $("hub-opts"),
  folderOpts: $("folder-opts"),
  modelDrop: $("model-drop"),
  modelFiles: $("model-files"),
  modelDir: $("model-dir"),
  modelFileList: $("model-file-list"),
  backend: $("backend"),
  precision: $("precision"),
  loadBtn: $("load-btn"),
  download: $("download"),
  downloadList: $("download-list"),
  tLoad: $("t-load"),
  tFirst: $("t-first"),
  tImage: $("t-image"),
  tLabels: $("t-labels"),
  labels: $("labels"),
  labelsInfo: $("labels-info"),
  templates: $("templates"),
  dropzone: $("dropzone"),
  fileInput: $("file-input"),
  clear: $("clear-images"),
  search: $("search-input"),
  searchResults: $("search-results"),
  cards: $("cards"),
  tabs: [...document.querySelectorAll('#tabs [role="tab"]')],
};

const VIEWS = ["classify", "finetune", "learn"];

/** The Fine-tune and Learn views (train.js), once started. */
let training = null;

const state = {
  loadModelInWorker: null,
  model: null,
  modelName: "",
  modelGen: 0, // bumps on every successful load: results are keyed by it
  loading: false,
  loadToken: 0,
  loadFailed: false,
  images: [], // { id, name, blob, url, status: "pending"|"ok"|"error", key, scores, error, ms }
  nextId: 1,
  folderFiles: new Map(), // basename → File (the "folder from disk" source)
  runGen: 0,
  runPending: false,
  runTimer: 0,
  searchGen: 0,
  searchPending: false,
  searchTimer: 0,
  labelKey: null, // the label set whose text embeddings the model has cached
  labelWarmupError: null,
  firstRunStart: null,
  firstRunMs: null,
  imageTimes: [],
  labelTimes: [],
  labelTimesIncludeFirst: false,
  imageTimesIncludeFirst: false,
};

// ---------------------------------------------------------------------------------------------
// Small helpers

function errorMessage(e) {
  if (e instanceof Error) return e.message || String(e);
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return "?";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

function formatMs(ms) {
  if (ms == null) return "—";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

function formatPct(p) {
  const v = p * 100;
  if (v >= 99.95 && v < 100) return ">99.9%";
  if (v > 0 && v < 0.1) return "<0.1%";
  return `${v.toFixed(1)}%`;
}

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

// One model call at a time: the worker is a single thread anyway, and queueing here means a
// newer run never interleaves with an older one's call.
let chain = Promise.resolve();
function modelCall(fn) {
  const p = chain.then(fn);
  chain = p.catch(() => {});
  return p;
}

// ---------------------------------------------------------------------------------------------
// Alerts and status

const alertsByKey = new Map();

function showError(message, key = `e${Math.random()}`) {
  clearError(key);
  const item = h(
    "div",
    { class: "alert-item" },
    h("span", { class: "alert-text", text: message }),
    h("button", {
      type: "button",
      class: "alert-close",
      "aria-label": "Dismiss this message",
      text: "×",
      onclick: () => clearError(key),
    }),
  );
  item.dataset.key = key;
  alertsByKey.set(key, item);
  el.alerts.append(item);
  while (el.alerts.children.length > 6) {
    const first = el.alerts.firstElementChild;
    alertsByKey.delete(first.dataset.key);
    first.remove();
  }
}

function clearError(key) {
  const item = alertsByKey.get(key);
  if (item) {
    item.remove();
    alertsByKey.delete(key);
  }
}

function setStatus(text) {
  el.status.textContent = text;
}

function updateAppState() {
  let s;
  if (state.loading) s = "loading";
  else if (!state.model) s = state.loadFailed ? "error" : "loading";
  else if (state.runPending || state.searchPending || training?.isBusy()) s = "busy";
  else s = "ready";
  el.app.dataset.state = s;
  el.cards.setAttribute("aria-busy", s === "busy" ? "true" : "false");
  el.loadBtn.disabled = state.loading;
}

// ---------------------------------------------------------------------------------------------
// Model loading

function selectedSource() {
  return el.form.querySelector('input[name="source"]:checked').value;
}

function showSourceOptions() {
  const src = selectedSource();
  el.hubOpts.hidden = src !== "hub";
  el.folderOpts.hidden = src !== "folder";
}

function updateBadge() {
  const m = state.model;
  if (!m) {
    el.badge.dataset.backend = "";
    el.badge.className = "badge";
    el.badge.textContent = state.loading ? "loading…" : "no model";
    el.deviceNote.hidden = true;
    return;
  }
  el.badge.dataset.backend = m.backend;
  el.badge.className = `badge badge-${m.backend}`;
  el.modelActive.textContent = `In use: ${state.modelName} (${m.embeddingDim}-d embeddings).`;
  el.badge.dataset.precision = m.precision;
  const kind = `${m.backend === "webgpu" ? "WebGPU" : "CPU"} · ${m.precision}`;
  el.badge.textContent = m.adapter ? `${kind} · ${m.adapter}` : kind;
  el.badge.title = `${state.modelName} runs in ${m.precision} on ${m.backend === "webgpu" ? "WebGPU" : "the CPU (WebAssembly)"}${
    m.adapter ? `: ${m.adapter}` : " (the adapter does not report its name)"
  }`;
  if (m.deviceNote) {
    el.deviceNote.textContent = m.deviceNote;
    el.deviceNote.hidden = false;
  } else {
    el.deviceNote.hidden = true;
  }
}

function resetDownloads() {
  el.downloadList.replaceChildren();
  el.download.hidden = true;
}

const downloadRows = new Map();
function onProgress(p) {
  if (!p || typeof p !== "object") return;
  if (p.stage === "download") {
    el.download.hidden = false;
    let row = downloadRows.get(p.file);
    if (!row) {
      const bar = h("progress", { max: 1, "aria-label": `Download of ${p.file}` });
      const text = h("span", { class: "dl-bytes" });
      row = { li: h("li", {}, h("span", { class: "dl-file", text: p.file }), bar, text), bar, text };
      downloadRows.set(p.file, row);
      el.downloadList.append(row.li);
    }
    if (p.total) {
      row.bar.max = p.total;
      row.bar.value = p.loaded;
      row.text.textContent = `${formatBytes(p.loaded)} / ${formatBytes(p.total)}`;
    } else {
      row.bar.removeAttribute("value");
      row.text.textContent = formatBytes(p.loaded);
    }
    if (p.cached) row.text.textContent += " (from the cache)";
    setStatus(`Downloading ${p.file}: ${formatBytes(p.loaded)}${p.total ? ` of ${formatBytes(p.total)}` : ""}`);
  } else if (p.stage === "load") {
    setStatus(`Building ${state.pendingName ?? "the model"}…`);
  }
}

async function readFolderSource() {
  const files = state.folderFiles;
  const pick = (...names) => names.map((n) => files.get(n)).find(Boolean);
  const config = pick("config.json");
  const openClipConfig = pick("open_clip_config.json");
  const weights = pick("model.safetensors", "open_clip_model.safetensors");
  const tokenizer = pick("tokenizer.json");
  const preprocessor = pick("preprocessor_config.json");
  const missing = [];
  if (!config && !openClipConfig) missing.push("config.json");
  if (!weights) missing.push("model.safetensors");
  if (!tokenizer) missing.push("tokenizer.json");
  if (missing.length) {
    throw new Error(`the model folder is incomplete: missing ${missing.join(", ")}`);
  }
  // Files are Blobs: the package reads them in its worker.
  const source = { weights, tokenizer };
  if (config) source.config = config;
  else source.openClipConfig = openClipConfig;
  if (preprocessor) source.preprocessor = preprocessor;
  let looksLikeShapes = false;
  try {
    const cfg = JSON.parse(config ? await config.text() : "{}");
    looksLikeShapes = cfg?.vision_config?.image_size === 64 && cfg?.projection_dim === 64;
  } catch {
    // the loader reports bad JSON with a better message
  }
  return { source, looksLikeShapes };
}

/** Loads the model the form describes (or `override`). */
async function loadModel(override) {
  const kind = override?.kind ?? selectedSource();
  const backend = el.backend.value;
  const precision = el.precision.value;
  const token = ++state.loadToken;
  let name;
  let source;
  let labelsKind = "general";
  state.loading = true;
  updateAppState();
  updateBadge();
  clearError("load");
  resetDownloads();
  downloadRows.clear();
  try {
    if (!state.loadModelInWorker) throw new Error("the webclip package did not load (see the message above)");
    if (kind === "shapes") {
      name = "the shapes-world model";
      source = SHAPES_URL;
      labelsKind = "shapes";
    } else if (kind === "hub") {
      const url = el.hubUrl.value.trim();
      if (!url) throw new Error("enter the URL of a Hugging Face model folder");
      let parsed;
      try {
        parsed = new URL(url);
      } catch {
        throw new Error(`${url} is not a URL`);
      }
      source = parsed.href.endsWith("/") ? parsed.href : `${parsed.href}/`;
      name = source.match(/huggingface\.co\/([^/]+\/[^/]+)/)?.[1] ?? source;
    } else {
      name = "the model from disk";
      setStatus("Reading the model files…");
      const folder = await readFolderSource();
      source = folder.source;
      if (folder.looksLikeShapes) labelsKind = "shapes";
    }
    state.pendingName = name;
    setStatus(`Loading ${name} (${backend})…`);
    const t0 = performance.now();
    const model = await state.loadModelInWorker(source, {
      backend,
      precision,
      cache: kind === "hub",
      onProgress: (p) => {
        if (token === state.loadToken) onProgress(p);
      },
    });
    if (token !== state.loadToken) {
      model.dispose();
      return;
    }
    swapDefaultLabels(labelsKind);
    adoptModel(model, name, (performance.now() - t0) / 1000);
  } catch (e) {
    if (token !== state.loadToken) return;
    const still = state.model ? ` Still using ${state.modelName}.` : "";
    showError(`Could not load ${name ?? "the model"}: ${errorMessage(e).replace(/\.$/, "")}.${still}`, "load");
    setStatus(`Loading failed.${still}`);
    if (!state.model) state.loadFailed = true;
  } finally {
    if (token === state.loadToken) {
      state.loading = false;
      state.pendingName = null;
      updateBadge();
      updateAppState();
      scheduleRun(0);
    }
  }
}

/** Disposes a model the Classify view no longer uses, unless a training run still needs it. */
function retireModel(model) {
  if (!model || model === state.model || training?.holds(model)) return;
  try {
    model.dispose();
  } catch {
    // already gone
  }
}

/** Makes `model` (a freshly loaded one, or the fine-tuned one) the Classify view's model. */
function adoptModel(model, name, seconds) {
  state.loadToken += 1; // a load still under way must not replace it
  state.loading = false;
  state.pendingName = null;
  const old = state.model;
  state.model = model;
  state.modelName = name;
  state.modelGen += 1;
  state.loadFailed = false;
  retireModel(old);
  training?.modelChanged();
  resetTimings();
  if (seconds != null) el.tLoad.textContent = `${seconds.toFixed(2)} s`;
  updateBadge();
  updateAppState();
  setStatus(`Ready: ${name} on ${model.backend === "webgpu" ? "WebGPU" : "the CPU"} (${model.precision}).`);
  scheduleRun(0);
}

function resetTimings() {
  state.labelKey = null;
  state.firstRunStart = null;
  state.firstRunMs = null;
  state.imageTimes = [];
  state.labelTimes = [];
  state.imageTimesIncludeFirst = false;
  state.labelTimesIncludeFirst = false;
  el.app.dataset.firstRunMs = "";
  el.tLoad.textContent = "—";
  el.tFirst.textContent = "—";
  el.tImage.textContent = "—";
  el.tLabels.textContent = "—";
}

function renderTimings() {
  el.tFirst.textContent = state.firstRunMs == null ? "—" : formatMs(state.firstRunMs);
  const img = median(state.imageTimes.slice(-20));
  el.tImage.textContent =
    img == null ? "—" : `${formatMs(img)}${state.imageTimes.length === 1 && state.imageTimesIncludeFirst ? " (first run)" : ""}`;
  const lab = state.labelTimes.at(-1);
  el.tLabels.textContent =
    lab == null ? "—" : `${formatMs(lab)}${state.labelTimes.length === 1 && state.labelTimesIncludeFirst ? " (first run)" : ""}`;
}

let lastDefaultLabels = SHAPES_LABELS;
function swapDefaultLabels(kind) {
  const want = kind === "shapes" ? SHAPES_LABELS : GENERAL_LABELS;
  const cur = el.labels.value.trim();
  // Only replace what the user has not edited.
  if (cur === "" || cur === SHAPES_LABELS || cur === GENERAL_LABELS || cur === lastDefaultLabels) {
    if (el.labels.value !== want) {
      el.labels.value = want;
      updateLabelsInfo();
    }
  }
  lastDefaultLabels = want;
}

// ---------------------------------------------------------------------------------------------
// Labels

/** The class names: one per line, trimmed, empty lines dropped, duplicates kept once. */
function currentLabels() {
  const seen = new Set();
  const out = [];
  for (const line of el.labels.value.split(/\r?\n/)) {
    const l = line.trim();
    if (l && !seen.has(l)) {
      seen.add(l);
      out.push(l);
    }
  }
  return out;
}

function updateLabelsInfo() {
  const n = currentLabels().length;
  el.labelsInfo.textContent = n === 0 ? "Add at least one class name." : `${n} class${n === 1 ? "" : "es"}.`;
}

function currentKey(labels = currentLabels(), templates = el.templates.value) {
  return JSON.stringify([state.modelGen, templates, labels]);
}

// ---------------------------------------------------------------------------------------------
// Images

function addImages(files) {
  const out = [];
  let added = 0;
  for (const f of files) {
    if (!(f instanceof Blob)) continue;
    const name = f.name || `pasted-${state.nextId}.${(f.type.split("/")[1] || "png").replace("jpeg", "jpg")}`;
    const im = {
      id: state.nextId++,
      name,
      blob: f,
      url: URL.createObjectURL(f),
      status: "pending",
      key: null,
      scores: null,
      error: null,
      ms: null,
    };
    state.images.push(im);
    el.cards.append(renderCard(im));
    out.push(im);
    added++;
  }
  if (added) {
    el.clear.disabled = false;
    training?.imagesChanged();
    scheduleRun(50);
  }
  return out;
}

function removeImage(im) {
  const i = state.images.indexOf(im);
  if (i < 0) return;
  state.images.splice(i, 1);
  URL.revokeObjectURL(im.url);
  clearError(`image:${im.id}`);
  el.cards.querySelector(`li.card[data-id="${im.id}"]`)?.remove();
  el.clear.disabled = state.images.length === 0;
  training?.imagesChanged();
  scheduleSearch(0);
}

function clearImages() {
  for (const im of [...state.images]) removeImage(im);
}

function renderCard(im) {
  const key = currentKey();
  const fresh = im.key === key;
  const status = fresh ? im.status : im.status === "error" ? "error" : "pending";
  const img = h("img", { src: im.url, alt: "", loading: "lazy", decoding: "async" });
  img.addEventListener("error", () => img.closest(".thumb")?.classList.add("broken"), { once: true });
  const card = h(
    "li",
    { class: `card status-${status}`, dataset: { id: String(im.id), name: im.name, status } },
    h(
      "div",
      { class: "card-head" },
      h("div", { class: "thumb" }, img),
      h("p", { class: "card-name", title: im.name, text: im.name }),
      h("button", {
        type: "button",
        class: "remove",
        "aria-label": `Remove ${im.name}`,
        title: "Remove",
        text: "×",
        onclick: () => removeImage(im),
      }),
    ),
  );
  if (status === "error") {
    card.append(h("p", { class: "card-error", text: im.error ?? "this file could not be read" }));
  } else if (status === "pending") {
    const text = !state.model
      ? "Waiting for the model…"
      : currentLabels().length === 0
        ? "Add class names to classify this image."
        : "Classifying…";
    card.append(h("p", { class: "card-pending", text }));
  } else if (im.scores) {
    const rows = im.scores.map((s, i) => scoreRow(s, i === 0));
    const list = h("ol", { class: "scores", "aria-label": `Probabilities for ${im.name}` }, ...rows.slice(0, TOP_ROWS));
    card.append(list);
    if (rows.length > TOP_ROWS) {
      card.append(
        h(
          "details",
          { class: "more" },
          h("summary", { text: `Show all ${rows.length} classes` }),
          h("ol", { class: "scores", start: String(TOP_ROWS + 1) }, ...rows.slice(TOP_ROWS)),
        ),
      );
    }
    if (im.ms != null) card.append(h("p", { class: "card-meta", text: `${formatMs(im.ms)}` }));
  }
  return card;
}

function scoreRow(s, top) {
  const pct = Math.max(0, Math.min(1, s.prob)) * 100;
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${pct}%`;
  return h(
    "li",
    { class: top ? "score top" : "score", dataset: { label: s.label, prob: String(s.prob) } },
    h("span", { class: "score-label", text: s.label }),
    h("span", { class: "score-pct", text: formatPct(s.prob) }),
    h("span", { class: "bar", "aria-hidden": "true" }, fill),
  );
}

function rerenderCard(im) {
  const old = el.cards.querySelector(`li.card[data-id="${im.id}"]`);
  if (!old) return;
  old.replaceWith(renderCard(im));
}

function rerenderAllCards() {
  for (const im of state.images) rerenderCard(im);
}

// ---------------------------------------------------------------------------------------------
// Classification runs (debounced; a newer run makes the older stale)

function scheduleRun(delay = 300) {
  state.runGen += 1;
  clearTimeout(state.runTimer);
  updateLabelsInfo();
  if (!state.model || state.loading) {
    state.runPending = false;
    rerenderAllCards();
    updateAppState();
    return;
  }
  state.runPending = true;
  updateAppState();
  const gen = state.runGen;
  state.runTimer = setTimeout(() => {
    run(gen).catch((e) => showError(`Unexpected error: ${errorMessage(e)}`, "run"));
  }, delay);
}

async function run(gen) {
  const model = state.model;
  const labels = currentLabels();
  const templates = el.templates.value;
  const key = currentKey(labels, templates);
  const stale = () => gen !== state.runGen || model !== state.model;
  rerenderAllCards();
  try {
    if (labels.length === 0) {
      setStatus("Add at least one class name to classify the images.");
      return;
    }
    clearError("labels");
    const todo = state.images.filter((im) => im.key !== key);
    if (todo.length === 0) return;
    const firstRun = state.firstRunMs == null;
    if (firstRun && state.firstRunStart == null) state.firstRunStart = performance.now();
    setStatus(`Classifying ${todo.length} image${todo.length === 1 ? "" : "s"} among ${labels.length} classes…`);

    // The label set first: prepareLabels encodes the prompts classify will build (the core fills
    // the templates and caches text embeddings by string), so the per-image calls run only the
    // image tower (and the timings say which is which).
    if (state.labelKey !== key) {
      const t = performance.now();
      try {
        await modelCall(() => model.prepareLabels(labels, { templates }));
        if (model !== state.model) return;
        state.labelKey = key;
        state.labelWarmupError = null;
        state.labelTimes.push(performance.now() - t);
        if (state.labelTimes.length === 1 && firstRun) state.labelTimesIncludeFirst = true;
        renderTimings();
        if (stale()) return;
      } catch (e) {
        if (stale()) return;
        // Reported below if classify refuses the labels the same way.
        state.labelWarmupError = errorMessage(e);
      }
    }

    let failedLikeLabels = 0;
    for (const im of todo) {
      if (stale()) return;
      if (!state.images.includes(im)) continue;
      const t = performance.now();
      try {
        const [scores] = await modelCall(() => model.classify([im.blob], labels, { templates }));
        const ms = performance.now() - t;
        if (model !== state.model) return;
        im.scores = scores;
        im.status = "ok";
        im.error = null;
        im.key = key;
        im.ms = ms;
        clearError(`image:${im.id}`);
        if (state.firstRunMs == null) {
          state.firstRunMs = performance.now() - state.firstRunStart;
          el.app.dataset.firstRunMs = String(Math.round(state.firstRunMs));
          state.imageTimesIncludeFirst = true;
        }
        state.imageTimes.push(ms);
        if (state.imageTimes.length > 1 && state.imageTimesIncludeFirst) {
          // Drop the first image's time (shader compilation) once there is a better figure.
          state.imageTimes.shift();
          state.imageTimesIncludeFirst = false;
        }
        if (key === currentKey()) rerenderCard(im);
        training?.imagesChanged();
      } catch (e) {
        if (model !== state.model) return;
        const msg = errorMessage(e);
        if (state.labelWarmupError && msg === state.labelWarmupError) {
          // Not this image's fault: the label set itself is refused.
          failedLikeLabels++;
          showError(`The class names were refused: ${msg}`, "labels");
          continue;
        }
        const text = describeImageError(im.name, msg);
        const isNew = im.error !== text;
        im.status = "error";
        im.error = text;
        im.key = key;
        im.scores = null;
        if (isNew || !alertsByKey.has(`image:${im.id}`)) showError(text, `image:${im.id}`);
        if (key === currentKey()) rerenderCard(im);
        training?.imagesChanged();
      }
      renderTimings();
    }
    renderTimings();
    if (!stale()) {
      const ok = state.images.filter((im) => im.key === key && im.status === "ok").length;
      const bad = state.images.filter((im) => im.key === key && im.status === "error").length;
      setStatus(
        failedLikeLabels
          ? "The class names were refused; edit them to continue."
          : `Classified ${ok} image${ok === 1 ? "" : "s"}${bad ? ` (${bad} could not be read)` : ""} with ${state.modelName}.`,
      );
    }
  } finally {
    if (gen === state.runGen) {
      state.runPending = false;
      updateAppState();
      scheduleSearch(0);
    }
  }
}

function describeImageError(name, msg) {
  // The model numbers images within a call ("image 1: …"); each call here holds one image.
  const clean = msg.replace(/^image \d+:\s*/i, "").replace(/^image:\s*/i, "");
  return /image/i.test(clean) ? `${name}: ${clean}` : `${name}: could not be read as an image: ${clean}`;
}

// ---------------------------------------------------------------------------------------------
// Text → image search

function scheduleSearch(delay = 300) {
  state.searchGen += 1;
  clearTimeout(state.searchTimer);
  const query = el.search.value.trim();
  if (!query) {
    state.searchPending = false;
    el.searchResults.replaceChildren();
    el.searchResults.dataset.query = "";
    updateAppState();
    return;
  }
  if (!state.model || state.loading || state.runPending) {
    // runs again when the model or the classification is done
    state.searchPending = false;
    updateAppState();
    return;
  }
  state.searchPending = true;
  updateAppState();
  const gen = state.searchGen;
  state.searchTimer = setTimeout(() => {
    search(gen, query).catch((e) => showError(`Search failed: ${errorMessage(e)}`, "search"));
  }, delay);
}

async function search(gen, query) {
  const model = state.model;
  const stale = () => gen !== state.searchGen || model !== state.model;
  try {
    const key = currentKey();
    const images = state.images.filter((im) => im.status === "ok" && im.key === key);
    if (!images.length) {
      el.searchResults.replaceChildren(h("li", { class: "search-empty", text: "Add images to search them." }));
      el.searchResults.dataset.query = query;
      return;
    }
    const ranked = await modelCall(() =>
      model.rank(
        query,
        images.map((im) => im.blob),
      ),
    );
    if (stale()) return;
    clearError("search");
    const items = ranked.map((r, i) => {
      const im = images[r.index];
      return h(
        "li",
        { class: i === 0 ? "hit top" : "hit", dataset: { name: im.name, index: String(r.index), score: String(r.score) } },
        h("img", { src: im.url, alt: "" }),
        h("span", { class: "hit-name", text: im.name }),
        h("span", { class: "hit-score", text: `cos ${r.score.toFixed(3)}` }),
      );
    });
    el.searchResults.replaceChildren(...items);
    el.searchResults.dataset.query = query;
  } catch (e) {
    if (stale()) return;
    showError(`Search failed: ${errorMessage(e)}`, "search");
  } finally {
    if (gen === state.searchGen) {
      state.searchPending = false;
      updateAppState();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Drag & drop, picker, paste

async function filesFromDataTransfer(dt) {
  // Folders (Chromium/Firefox/Safari entries API), else plain files.
  const items = [...(dt.items ?? [])].filter((i) => i.kind === "file");
  const entries = items.map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length && entries.some((e) => e.isDirectory)) {
    const out = [];
    const walk = async (entry, depth) => {
      if (entry.isFile) {
        out.push(await new Promise((ok, fail) => entry.file(ok, fail)));
      } else if (entry.isDirectory && depth < 3) {
        const reader = entry.createReader();
        for (;;) {
          const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
          if (!batch.length) break;
          for (const e of batch) await walk(e, depth + 1);
        }
      }
    };
    for (const e of entries) await walk(e, 0);
    return out;
  }
  return [...(dt.files ?? [])];
}

function setModelFiles(files) {
  const map = new Map();
  for (const f of files) {
    const base = f.name.split("/").pop();
    if (/\.(json|safetensors)$/i.test(base)) map.set(base, f);
  }
  state.folderFiles = map;
  el.modelFileList.replaceChildren(
    ...[...map.values()].map((f) => h("li", { text: `${f.name} (${formatBytes(f.size)})` })),
  );
  if (!map.size) {
    showError("No model files found: pick config.json, model.safetensors and tokenizer.json.", "load");
    return;
  }
  el.form.querySelector('input[name="source"][value="folder"]').checked = true;
  showSourceOptions();
  const hasConfig = map.has("config.json") || map.has("open_clip_config.json");
  const hasWeights = map.has("model.safetensors") || map.has("open_clip_model.safetensors");
  if (!(hasConfig && hasWeights && map.has("tokenizer.json"))) {
    setStatus("Some model files are missing; loading will name them.");
  }
  loadModel({ kind: "folder" });
}

function wireInputs() {
  el.dropzone.addEventListener("click", () => el.fileInput.click());
  el.dropzone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      el.fileInput.click();
    }
  });
  el.fileInput.addEventListener("change", () => {
    addImages([...el.fileInput.files]);
    el.fileInput.value = "";
  });

  // Drops anywhere on the page add images, except on the model area (model files). Without
  // this a missed drop would navigate away from the page.
  let dragDepth = 0;
  const zoneFor = (target) => (el.modelDrop.contains(target) ? el.modelDrop : el.dropzone);
  window.addEventListener("dragenter", (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes("Files")) return;
    e.preventDefault();
    dragDepth++;
    zoneFor(e.target).classList.add("dragover");
  });
  window.addEventListener("dragover", (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes("Files")) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    const zone = zoneFor(e.target);
    el.dropzone.classList.toggle("dragover", zone === el.dropzone);
    el.modelDrop.classList.toggle("dragover", zone === el.modelDrop);
  });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) {
      el.dropzone.classList.remove("dragover");
      el.modelDrop.classList.remove("dragover");
    }
  });
  window.addEventListener("drop", async (e) => {
    if (!e.dataTransfer) return;
    e.preventDefault();
    dragDepth = 0;
    el.dropzone.classList.remove("dragover");
    el.modelDrop.classList.remove("dragover");
    const toModel = el.modelDrop.contains(e.target) && !el.folderOpts.hidden;
    try {
      const files = await filesFromDataTransfer(e.dataTransfer);
      if (!files.length) return;
      if (toModel) setModelFiles(files);
      else addImages(files);
    } catch (err) {
      showError(`Could not read the dropped files: ${errorMessage(err)}`);
    }
  });

  window.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (!files.length) return; // plain text pastes go where they were meant to
    e.preventDefault();
    addImages(files);
  });

  el.clear.addEventListener("click", clearImages);
  el.labels.addEventListener("input", () => scheduleRun(400));
  el.templates.addEventListener("change", () => scheduleRun(0));
  el.search.addEventListener("input", () => scheduleSearch(300));

  el.form.addEventListener("submit", (e) => {
    e.preventDefault();
    loadModel();
  });
  for (const r of el.form.querySelectorAll('input[name="source"]')) {
    r.addEventListener("change", () => {
      showSourceOptions();
      if (r.checked && r.value === "shapes") loadModel({ kind: "shapes" }); // offline and small
      if (r.checked && r.value === "hub") setStatus("Press “Load model” to download it (cached after the first time).");
      if (r.checked && r.value === "folder") setStatus("Choose or drop the model files.");
    });
  }
  for (const [select, what] of [
    [el.backend, "backend"],
    [el.precision, "precision"],
  ]) {
    select.addEventListener("change", () => {
      if (selectedSource() === "shapes") loadModel({ kind: "shapes" });
      else setStatus(`Press “Load model” to use the new ${what}.`);
    });
  }
  el.modelFiles.addEventListener("change", () => {
    setModelFiles([...el.modelFiles.files]);
    el.modelFiles.value = "";
  });
  el.modelDir.addEventListener("change", () => {
    setModelFiles([...el.modelDir.files]);
    el.modelDir.value = "";
  });

  window.addEventListener("error", (e) => showError(`Unexpected error: ${e.message}`, "unexpected"));
  window.addEventListener("unhandledrejection", (e) =>
    showError(`Unexpected error: ${errorMessage(e.reason)}`, "unexpected"),
  );
}

// ---------------------------------------------------------------------------------------------
// Views (a tablist: arrows, Home and End move between the tabs; selection follows focus)

function showView(name, { focus = false, updateUrl = true } = {}) {
  if (!VIEWS.includes(name)) name = "classify";
  for (const tab of el.tabs) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) tab.focus();
  }
  el.app.dataset.view = name;
  if (updateUrl) {
    const url = new URL(location.href);
    if (name === "classify") url.searchParams.delete("view");
    else url.searchParams.set("view", name);
    history.replaceState(history.state, "", url);
  }
  training?.shown(name);
}

function wireTabs() {
  for (const tab of el.tabs) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
    tab.addEventListener("keydown", (e) => {
      const i = el.tabs.indexOf(tab);
      let j = null;
      if (e.key === "ArrowRight" || e.key === "ArrowDown") j = (i + 1) % el.tabs.length;
      else if (e.key === "ArrowLeft" || e.key === "ArrowUp") j = (i - 1 + el.tabs.length) % el.tabs.length;
      else if (e.key === "Home") j = 0;
      else if (e.key === "End") j = el.tabs.length - 1;
      if (j == null) return;
      e.preventDefault();
      showView(el.tabs[j].dataset.view, { focus: true });
    });
  }
}

function startTraining() {
  training = initTraining({
    state,
    h,
    showError,
    clearError,
    errorMessage,
    formatMs,
    formatPct,
    formatBytes,
    median,
    modelCall,
    addImages,
    clearImages,
    retireModel,
    adoptModel,
    updateAppState,
    loadModelInWorker: () => state.loadModelInWorker,
    backendChoice: () => el.backend.value,
    openFilePicker: () => el.fileInput.click(),
    shapesUrl: SHAPES_URL,
  });
}

// ---------------------------------------------------------------------------------------------
// Start

async function main() {
  startTraining();
  wireInputs();
  wireTabs();
  const params = new URLSearchParams(location.search);
  training.configure(params);
  showView(params.get("view") ?? "classify", { updateUrl: false });
  const backend = params.get("backend");
  if (backend && ["auto", "webgpu", "cpu"].includes(backend)) el.backend.value = backend;
  const precision = params.get("precision");
  if (precision && ["auto", "f32", "f16"].includes(precision)) el.precision.value = precision;
  const templates = params.get("templates");
  if (templates && [...el.templates.options].some((o) => o.value === templates)) el.templates.value = templates;
  const modelParam = params.get("model");
  el.labels.value = SHAPES_LABELS;
  let startKind = "shapes";
  if (modelParam && modelParam !== "shapes") {
    el.hubUrl.value = modelParam;
    el.form.querySelector('input[name="source"][value="hub"]').checked = true;
    startKind = "hub";
  } else if (!el.hubUrl.value) {
    el.hubUrl.value = HUB_DEFAULT;
  }
  const labels = params.get("labels");
  if (labels) el.labels.value = labels.split("|").join("\n");
  showSourceOptions();
  updateLabelsInfo();
  updateBadge();

  try {
    ({ loadModelInWorker: state.loadModelInWorker } = await import(PKG));
  } catch (e) {
    showError(
      `The webclip package is missing or broken (${errorMessage(e)}). Build it with ./build.sh so that www/vendor/webclip/ exists.`,
      "pkg",
    );
    state.loadFailed = true;
    updateAppState();
    updateBadge();
    setStatus("The webclip package could not be loaded.");
    return;
  }
  training.start();
  await loadModel({ kind: startKind });
}

main();
