// webclip web app: the UI around the worker-backed model of the `webclip` package. This module
// loads the package and the models (the Model panel and the backend badge), routes between the
// views, and routes files dropped or pasted anywhere on the page. The views live in their own
// modules, which share only small modules, never a context object:
//
//   classify.js   the Classify view (labels, image cards, search)
//   finetune.js   the Fine-tune view (+ trainset.js, its training set; storage.js, its saved run)
//   learn.js      the Learn view
//   library.js    the Library view (a folder of photos, indexed in the background and searched;
//                 the package's Library, on workers of its own with the page's model)
//   run.js        the run controller both training views use
//   state.js      the current model, its source (and who hears about a new one), #app[data-state]
//   images.js     the user's images (Classify and Fine-tune)
//   ui.js         DOM helper, formatting, alerts and the status line
//   plots.js      the charts
//   i18n.js       the page's words in English or Korean (#lang), by their English text
//
// The page never touches wasm: every model call goes to the package's worker proxy
// (`loadModelInWorker`), and the package runs one model's calls one at a time (run.js says why
// the page has no queue of its own), so the UI stays responsive and a newer request simply
// makes older results stale.
//
// Machine-readable hooks for the browser tests: #app[data-state] ("loading" | "ready" | "busy" |
// "error", also "busy" while a training run is running) and [data-view];
// #backend-badge[data-backend][data-precision]; the views' own are listed in their modules.
//
// Views: a tablist switches between Classify (default), Fine-tune, Learn and Library; `?view=`
// picks one. A view may take the page's drops and pastes while it is shown (Library: a folder to
// index, an image to search by): it exports `drop(dataTransfer)`, `dropZone()` and `paste(files)`.
// Other query parameters: ?backend=, ?precision=, ?model= (a Hugging Face folder URL, or
// "shapes"), and the views' (?templates=, ?labels=, ?steps=).

import * as classify from "./classify.js";
import * as finetune from "./finetune.js";
import { initI18n } from "./i18n.js";
import { addImages } from "./images.js";
import * as learn from "./learn.js";
import * as library from "./library.js";
import {
  SHAPES_URL,
  adoptModel,
  current,
  loadEnded,
  loadInWorker,
  packageLoaded,
  register,
  setPackage,
  updateAppState,
} from "./state.js";
import { $, clearError, errorMessage, formatBytes, h, setStatus, showError } from "./ui.js";

const PKG = "./vendor/webclip/dist/index.js";
const HUB_DEFAULT = "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/";

const el = {
  app: $("app"),
  badge: $("backend-badge"),
  deviceNote: $("device-note"),
  modelActive: $("model-active"),
  form: $("model-form"),
  hubUrl: $("hub-url"),
  hubPreset: $("hub-preset"),
  hubSize: $("hub-size"),
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
  dropzone: $("dropzone"),
  tabs: [...document.querySelectorAll('#tabs [role="tab"]')],
};

const VIEWS = { classify, finetune, learn, library };

const loader = {
  token: 0, // bumps on every load and adoption: a load that is no longer the latest drops its model
  pendingName: null,
  folderFiles: new Map(), // basename → File (the "folder from disk" source)
};

// ---------------------------------------------------------------------------------------------
// Model loading

function selectedSource() {
  return el.form.querySelector('input[name="source"]:checked').value;
}

/** The preset whose URL the folder field holds (or "Other"), and its download sizes. */
function syncPreset() {
  const url = el.hubUrl.value.trim();
  const opt = [...el.hubPreset.options].find((o) => o.value && o.value === url);
  el.hubPreset.value = opt ? opt.value : "";
  const d = opt?.dataset;
  el.hubSize.textContent = d
    ? `Download: ${d.f32} (f32). As f16 ${d.f16}, as q8 ${d.q8Size}: webclip convert --dtype q8 writes them, to load from disk or your own URL. Text: ${d.langs}.`
    : "";
}

function showSourceOptions() {
  const src = selectedSource();
  el.hubOpts.hidden = src !== "hub";
  el.folderOpts.hidden = src !== "folder";
}

function updateBadge() {
  const m = current.model;
  if (!m) {
    el.badge.dataset.backend = "";
    el.badge.className = "badge";
    el.badge.textContent = current.loading ? "loading…" : "no model";
    el.deviceNote.hidden = true;
    return;
  }
  el.badge.dataset.backend = m.backend;
  el.badge.className = `badge badge-${m.backend}`;
  el.modelActive.textContent = `In use: ${current.name} (${m.embeddingDim}-d embeddings).`;
  el.badge.dataset.precision = m.precision;
  const kind = `${m.backend === "webgpu" ? "WebGPU" : "CPU"} · ${m.precision}`;
  el.badge.textContent = m.adapter ? `${kind} · ${m.adapter}` : kind;
  el.badge.title = `${current.name} runs in ${m.precision} on ${m.backend === "webgpu" ? "WebGPU" : "the CPU (WebAssembly)"}${
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
      row = { li: h("li", {}, h("span", { class: "dl-file", "data-no-i18n": true, text: p.file }), bar, text), bar, text };
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
    setStatus(`Building ${loader.pendingName ?? "the model"}…`);
  }
}

async function readFolderSource() {
  const files = loader.folderFiles;
  const pick = (...names) => names.map((n) => files.get(n)).find(Boolean);
  const config = pick("config.json");
  const openClipConfig = pick("open_clip_config.json");
  const weights = pick("model.safetensors", "open_clip_model.safetensors");
  const tokenizer = pick("tokenizer.json");
  const preprocessor = pick("preprocessor_config.json");
  const tokenizerConfig = pick("tokenizer_config.json");
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
  if (tokenizerConfig && config) source.tokenizerConfig = tokenizerConfig;
  let looksLikeShapes = false;
  try {
    const cfg = JSON.parse(config ? await config.text() : "{}");
    looksLikeShapes = cfg?.vision_config?.image_size === 64 && cfg?.projection_dim === 64;
  } catch {
    // the loader reports bad JSON with a better message
  }
  return { source, looksLikeShapes };
}

let shapesNames = null;

/** The shapes world's class names (the same from every model: the core draws that world), or null. */
async function shapesClassNames(model) {
  try {
    shapesNames ??= model.shapesClasses().then((classes) => classes.map((c) => c.name));
    return await shapesNames;
  } catch {
    shapesNames = null;
    return null;
  }
}

/** Loads the model the form describes (or `override`). */
async function loadModel(override) {
  const kind = override?.kind ?? selectedSource();
  const backend = el.backend.value;
  const precision = el.precision.value;
  const token = ++loader.token;
  let name;
  let source;
  let labelsKind = "general";
  current.loading = true;
  updateAppState();
  updateBadge();
  clearError("load");
  resetDownloads();
  downloadRows.clear();
  try {
    if (!packageLoaded()) throw new Error("the webclip package did not load (see the message above)");
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
    loader.pendingName = name;
    setStatus(`Loading ${name} (${backend})…`);
    const t0 = performance.now();
    const model = await loadInWorker(source, {
      backend,
      precision,
      cache: kind === "hub",
      onProgress: (p) => {
        if (token === loader.token) onProgress(p);
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const names = await shapesClassNames(model);
    if (token !== loader.token) {
      model.dispose();
      return;
    }
    classify.setDefaultLabels(labelsKind, names);
    adoptModel(model, name, seconds, { source, cache: kind === "hub", backend, precision });
  } catch (e) {
    if (token !== loader.token) return;
    const still = current.model ? ` Still using ${current.name}.` : "";
    showError(`Could not load ${name ?? "the model"}: ${errorMessage(e).replace(/\.$/, "")}.${still}`, "load");
    setStatus(`Loading failed.${still}`);
    loadEnded({ failed: true });
  } finally {
    if (token === loader.token) {
      loader.pendingName = null;
      updateBadge();
    }
  }
}

/** Any model that became current (loaded here, or fine-tuned): the badge and the status say so. */
function modelAdopted({ adopted, model, name }) {
  if (!adopted) return;
  loader.token += 1; // a load still under way must not replace it
  loader.pendingName = null;
  updateBadge();
  setStatus(`Ready: ${name} on ${model.backend === "webgpu" ? "WebGPU" : "the CPU"} (${model.precision}).`);
}

// ---------------------------------------------------------------------------------------------
// Model files from disk; files dropped or pasted anywhere on the page

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
  loader.folderFiles = map;
  el.modelFileList.replaceChildren(
    ...[...map.values()].map((f) => h("li", { "data-no-i18n": true, text: `${f.name} (${formatBytes(f.size)})` })),
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

/** Drops anywhere on the page add images, except on the model area (model files) and while a
 * view that takes drops itself is shown (Library: a folder to index). Without this a missed drop
 * would navigate away from the page. Pasted files are images too (or go to that view). */
function wirePageDrops() {
  let dragDepth = 0;
  const shownView = () => VIEWS[el.app.dataset.view] ?? classify;
  const zoneFor = (target) =>
    shownView().dropZone?.() ?? (el.modelDrop.contains(target) ? el.modelDrop : el.dropzone);
  const zones = () => [el.dropzone, el.modelDrop, ...Object.values(VIEWS).map((v) => v.dropZone?.()).filter(Boolean)];
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
  const unmark = () => {
    for (const z of zones()) z.classList.remove("dragover");
  };
  window.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth++;
    zoneFor(e.target).classList.add("dragover");
  });
  window.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    const zone = zoneFor(e.target);
    for (const z of zones()) z.classList.toggle("dragover", z === zone);
  });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) unmark();
  });
  window.addEventListener("drop", async (e) => {
    if (!e.dataTransfer) return;
    e.preventDefault();
    dragDepth = 0;
    unmark();
    const view = shownView();
    if (view.drop) {
      view.drop(e.dataTransfer); // it reads the items now, while the event lasts
      return;
    }
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
    const view = shownView();
    if (view.paste) view.paste(files);
    else addImages(files);
  });
}

function wireModelForm() {
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
  for (const input of [el.modelFiles, el.modelDir]) {
    input.addEventListener("change", () => {
      setModelFiles([...input.files]);
      input.value = "";
    });
  }
  register({
    modelChanged: modelAdopted,
    appState: () => {
      el.loadBtn.disabled = current.loading;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Views (a tablist: arrows, Home and End move between the tabs; selection follows focus)

function showView(name, { focus = false, updateUrl = true } = {}) {
  if (!Object.hasOwn(VIEWS, name)) name = "classify";
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
  VIEWS[name].shown?.();
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

// ---------------------------------------------------------------------------------------------
// Start

async function main() {
  initI18n(); // first: what the views write from now on is translated as it appears
  for (const view of Object.values(VIEWS)) view.init();
  wirePageDrops();
  wireModelForm();
  wireTabs();
  window.addEventListener("error", (e) => showError(`Unexpected error: ${e.message}`, "unexpected"));
  window.addEventListener("unhandledrejection", (e) =>
    showError(`Unexpected error: ${errorMessage(e.reason)}`, "unexpected"),
  );
  const params = new URLSearchParams(location.search);
  for (const view of Object.values(VIEWS)) view.configure?.(params);
  showView(params.get("view") ?? "classify", { updateUrl: false });
  const backend = params.get("backend");
  if (backend && ["auto", "webgpu", "cpu"].includes(backend)) el.backend.value = backend;
  const precision = params.get("precision");
  if (precision && ["auto", "f32", "f16"].includes(precision)) el.precision.value = precision;
  const modelParam = params.get("model");
  let startKind = "shapes";
  if (modelParam && modelParam !== "shapes") {
    el.hubUrl.value = modelParam;
    el.form.querySelector('input[name="source"][value="hub"]').checked = true;
    startKind = "hub";
  } else if (!el.hubUrl.value) {
    el.hubUrl.value = HUB_DEFAULT;
  }
  syncPreset();
  el.hubPreset.addEventListener("change", () => {
    if (el.hubPreset.value) el.hubUrl.value = el.hubPreset.value;
    else el.hubUrl.focus();
    syncPreset();
  });
  el.hubUrl.addEventListener("input", syncPreset);
  showSourceOptions();
  updateBadge();

  try {
    const { loadModelInWorker } = await import(PKG);
    setPackage(loadModelInWorker);
  } catch (e) {
    showError(
      `The webclip package is missing or broken (${errorMessage(e)}). Build it with ./build.sh so that www/vendor/webclip/ exists.`,
      "pkg",
    );
    current.loadFailed = true;
    updateAppState();
    updateBadge();
    setStatus("The webclip package could not be loaded.");
    return;
  }
  for (const view of Object.values(VIEWS)) view.start?.();
  await loadModel({ kind: startKind });
}

main();
