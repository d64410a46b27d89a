// The Classify view: zero-shot classification of the user's images (images.js) among the class
// names typed here, with prompt templates, per-image probabilities, timings, and text → image
// search. Images are classified one by one, so a bad file fails alone, names itself, and the
// other images still get their probabilities. Runs are debounced, and a newer run (new labels,
// templates, images or model) makes older results stale. The model is the page's current one
// (state.js): loaded in the Model panel (app.js) or fine-tuned (finetune.js).
//
// Test hooks: #app[data-first-run-ms]; each image card li.card[data-id][data-name][data-status]
// ("pending" | "ok" | "error"); each probability row [data-label][data-prob]; each search result
// [data-name][data-index][data-score] inside #search-results[data-query].

import { addImages, clearImages, images, imageUpdated, onImagesChange, pickImages, removeImage } from "./images.js";
import { current, register, updateAppState } from "./state.js";
import { $, clearError, errorMessage, formatMs, h, hasError, median, scoreRow, setStatus, showError, thumbImg } from "./ui.js";

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
const TOP_ROWS = 5; // rows shown before "show all"

const el = {
  app: $("app"),
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
};

const cls = {
  modelGen: 0, // bumps on every new model: results are keyed by it
  labelKey: null, // the label set whose text embeddings the model has cached
  labelWarmupError: null,
  firstRunStart: null,
  firstRunMs: null,
  imageTimes: [],
  labelTimes: [],
  labelTimesIncludeFirst: false,
  imageTimesIncludeFirst: false,
};

/**
 * Debounced work: each `schedule` makes the earlier ones stale (their generation no longer
 * matches) and, with an argument, runs `work(gen, arg)` after `delay` ms; the job is pending
 * (the app "busy") from then until that run is `done`.
 */
function debounced(work, failure, errorKey) {
  const job = {
    gen: 0,
    pending: false,
    timer: 0,
    schedule(delay, arg) {
      job.gen += 1;
      clearTimeout(job.timer);
      job.pending = arg != null;
      updateAppState();
      if (!job.pending) return;
      const gen = job.gen;
      job.timer = setTimeout(() => {
        work(gen, arg).catch((e) => showError(`${failure}: ${errorMessage(e)}`, errorKey));
      }, delay);
    },
    /** The end of run `gen`: whether it was the latest (then the job is no longer pending). */
    done(gen) {
      if (gen !== job.gen) return false;
      job.pending = false;
      updateAppState();
      return true;
    },
  };
  return job;
}

const runs = debounced(run, "Unexpected error", "run");
const searches = debounced(search, "Search failed", "search");

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
  const count = n === 0 ? "Add at least one class name." : `${n} class${n === 1 ? "" : "es"}.`;
  // SigLIP scores every label on its own (a sigmoid each), so the bars need not add up to 100 %.
  const sigmoid = current.model?.scoring === "sigmoid";
  el.labelsInfo.textContent = sigmoid
    ? `${count} SigLIP rates each class on its own: the percentages need not add up to 100 %.`
    : count;
  el.cards.dataset.scoring = current.model?.scoring ?? "";
}

function currentKey(labels = currentLabels(), templates = el.templates.value) {
  return JSON.stringify([cls.modelGen, templates, labels]);
}

let shapesLabels = null; // the shapes world's class names, one per line, once a model has told them
let lastDefaultLabels = null;

/**
 * Before a model of `kind` ("shapes" | "general") is used: its default class names, unless the
 * user has edited them. `shapesNames`: the shapes world's classes (from the model), or null.
 */
export function setDefaultLabels(kind, shapesNames) {
  if (shapesNames) shapesLabels = shapesNames.join("\n");
  const want = kind === "shapes" ? shapesLabels : GENERAL_LABELS;
  if (want == null) return;
  const cur = el.labels.value.trim();
  if (cur === "" || cur === shapesLabels || cur === GENERAL_LABELS || cur === lastDefaultLabels) {
    if (el.labels.value !== want) {
      el.labels.value = want;
      updateLabelsInfo();
    }
  }
  lastDefaultLabels = want;
}

// ---------------------------------------------------------------------------------------------
// Image cards

function renderCard(im) {
  const key = currentKey();
  const fresh = im.key === key;
  const status = fresh ? im.status : im.status === "error" ? "error" : "pending";
  const card = h(
    "li",
    { class: `card status-${status}`, dataset: { id: String(im.id), name: im.name, status } },
    h(
      "div",
      { class: "card-head" },
      h("div", { class: "thumb" }, thumbImg(im.url)),
      h("p", { class: "card-name", "data-no-i18n": true, title: im.name, text: im.name }),
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
    const text = !current.model
      ? "Waiting for the model…"
      : currentLabels().length === 0
        ? "Add class names to classify this image."
        : "Classifying…";
    card.append(h("p", { class: "card-pending", text }));
  } else if (im.scores) {
    const rows = im.scores.map((s, i) => scoreRow(s.label, s.prob, { top: i === 0 }));
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

function rerenderCard(im) {
  const old = el.cards.querySelector(`li.card[data-id="${im.id}"]`);
  if (!old) return;
  old.replaceWith(renderCard(im));
}

function rerenderAllCards() {
  for (const im of images) rerenderCard(im);
}

function imagesChanged(change) {
  if (change.added) {
    for (const im of change.added) el.cards.append(renderCard(im));
    el.clear.disabled = false;
    scheduleRun(50);
  } else if (change.removed) {
    const im = change.removed;
    clearError(`image:${im.id}`);
    el.cards.querySelector(`li.card[data-id="${im.id}"]`)?.remove();
    el.clear.disabled = images.length === 0;
    scheduleSearch(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Timings

function resetTimings() {
  cls.labelKey = null;
  cls.firstRunStart = null;
  cls.firstRunMs = null;
  cls.imageTimes = [];
  cls.labelTimes = [];
  cls.imageTimesIncludeFirst = false;
  cls.labelTimesIncludeFirst = false;
  el.app.dataset.firstRunMs = "";
  el.tLoad.textContent = "—";
  el.tFirst.textContent = "—";
  el.tImage.textContent = "—";
  el.tLabels.textContent = "—";
}

function renderTimings() {
  el.tFirst.textContent = cls.firstRunMs == null ? "—" : formatMs(cls.firstRunMs);
  const img = median(cls.imageTimes.slice(-20));
  el.tImage.textContent =
    img == null ? "—" : `${formatMs(img)}${cls.imageTimes.length === 1 && cls.imageTimesIncludeFirst ? " (first run)" : ""}`;
  const lab = cls.labelTimes.at(-1);
  el.tLabels.textContent =
    lab == null ? "—" : `${formatMs(lab)}${cls.labelTimes.length === 1 && cls.labelTimesIncludeFirst ? " (first run)" : ""}`;
}

function modelChanged(change) {
  if (change.adopted) {
    cls.modelGen += 1;
    resetTimings();
    if (change.seconds != null) el.tLoad.textContent = `${change.seconds.toFixed(2)} s`;
  }
  scheduleRun(0);
}

// ---------------------------------------------------------------------------------------------
// Classification runs (debounced; a newer run makes the older stale)

function scheduleRun(delay = 300) {
  updateLabelsInfo();
  const ready = current.model != null && !current.loading;
  if (!ready) rerenderAllCards();
  runs.schedule(delay, ready ? true : null);
}

async function run(gen) {
  const model = current.model;
  const labels = currentLabels();
  const templates = el.templates.value;
  const key = currentKey(labels, templates);
  const stale = () => gen !== runs.gen || model !== current.model;
  rerenderAllCards();
  try {
    if (labels.length === 0) {
      setStatus("Add at least one class name to classify the images.");
      return;
    }
    clearError("labels");
    const todo = images.filter((im) => im.key !== key);
    if (todo.length === 0) return;
    const firstRun = cls.firstRunMs == null;
    if (firstRun && cls.firstRunStart == null) cls.firstRunStart = performance.now();
    setStatus(`Classifying ${todo.length} image${todo.length === 1 ? "" : "s"} among ${labels.length} classes…`);

    // The label set first: prepareLabels encodes the prompts classify will build (the core fills
    // the templates and caches text embeddings by string), so the per-image calls run only the
    // image tower (and the timings say which is which).
    if (cls.labelKey !== key) {
      const t = performance.now();
      try {
        await model.prepareLabels(labels, { templates });
        if (model !== current.model) return;
        cls.labelKey = key;
        cls.labelWarmupError = null;
        cls.labelTimes.push(performance.now() - t);
        if (cls.labelTimes.length === 1 && firstRun) cls.labelTimesIncludeFirst = true;
        renderTimings();
        if (stale()) return;
      } catch (e) {
        if (stale()) return;
        // Reported below if classify refuses the labels the same way.
        cls.labelWarmupError = errorMessage(e);
      }
    }

    let failedLikeLabels = 0;
    for (const im of todo) {
      if (stale()) return;
      if (!images.includes(im)) continue;
      const t = performance.now();
      try {
        const [scores] = await model.classify([im.blob], labels, { templates });
        const ms = performance.now() - t;
        if (model !== current.model) return;
        im.scores = scores;
        im.status = "ok";
        im.error = null;
        im.key = key;
        im.ms = ms;
        clearError(`image:${im.id}`);
        if (cls.firstRunMs == null) {
          cls.firstRunMs = performance.now() - cls.firstRunStart;
          el.app.dataset.firstRunMs = String(Math.round(cls.firstRunMs));
          cls.imageTimesIncludeFirst = true;
        }
        cls.imageTimes.push(ms);
        if (cls.imageTimes.length > 1 && cls.imageTimesIncludeFirst) {
          // Drop the first image's time (shader compilation) once there is a better figure.
          cls.imageTimes.shift();
          cls.imageTimesIncludeFirst = false;
        }
        if (key === currentKey()) rerenderCard(im);
        imageUpdated(im);
      } catch (e) {
        if (model !== current.model) return;
        const msg = errorMessage(e);
        if (cls.labelWarmupError && msg === cls.labelWarmupError) {
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
        if (isNew || !hasError(`image:${im.id}`)) showError(text, `image:${im.id}`);
        if (key === currentKey()) rerenderCard(im);
        imageUpdated(im);
      }
      renderTimings();
    }
    renderTimings();
    if (!stale()) {
      const ok = images.filter((im) => im.key === key && im.status === "ok").length;
      const bad = images.filter((im) => im.key === key && im.status === "error").length;
      setStatus(
        failedLikeLabels
          ? "The class names were refused; edit them to continue."
          : `Classified ${ok} image${ok === 1 ? "" : "s"}${bad ? ` (${bad} could not be read)` : ""} with ${current.name}.`,
      );
    }
  } finally {
    if (runs.done(gen)) scheduleSearch(0);
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
  const query = el.search.value.trim();
  if (!query) {
    el.searchResults.replaceChildren();
    el.searchResults.dataset.query = "";
  }
  // Without a model, or while classifying, it runs again when that is done.
  const ready = query && current.model && !current.loading && !runs.pending;
  searches.schedule(delay, ready ? query : null);
}

async function search(gen, query) {
  const model = current.model;
  const stale = () => gen !== searches.gen || model !== current.model;
  try {
    const key = currentKey();
    const found = images.filter((im) => im.status === "ok" && im.key === key);
    if (!found.length) {
      el.searchResults.replaceChildren(h("li", { class: "search-empty", text: "Add images to search them." }));
      el.searchResults.dataset.query = query;
      return;
    }
    const ranked = await model.rank(
      query,
      found.map((im) => im.blob),
    );
    if (stale()) return;
    clearError("search");
    const items = ranked.map((r, i) => {
      const im = found[r.index];
      return h(
        "li",
        { class: i === 0 ? "hit top" : "hit", dataset: { name: im.name, index: String(r.index), score: String(r.score) } },
        h("img", { src: im.url, alt: "" }),
        h("span", { class: "hit-name", "data-no-i18n": true, text: im.name }),
        h("span", { class: "hit-score", text: `cos ${r.score.toFixed(3)}` }),
      );
    });
    el.searchResults.replaceChildren(...items);
    el.searchResults.dataset.query = query;
  } catch (e) {
    if (stale()) return;
    showError(`Search failed: ${errorMessage(e)}`, "search");
  } finally {
    searches.done(gen);
  }
}

// ---------------------------------------------------------------------------------------------
// The app's side

export function init() {
  el.dropzone.addEventListener("click", pickImages);
  el.dropzone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      pickImages();
    }
  });
  el.fileInput.addEventListener("change", () => {
    addImages([...el.fileInput.files]);
    el.fileInput.value = "";
  });
  el.clear.addEventListener("click", clearImages);
  el.labels.addEventListener("input", () => scheduleRun(400));
  el.templates.addEventListener("change", () => scheduleRun(0));
  el.search.addEventListener("input", () => scheduleSearch(300));
  onImagesChange(imagesChanged);
  register({
    modelChanged,
    busy: () => runs.pending || searches.pending,
    appState: (s) => el.cards.setAttribute("aria-busy", s === "busy" ? "true" : "false"),
  });
}

/** Query parameters: ?templates= (a template set), ?labels= (class names, separated by |). */
export function configure(params) {
  const templates = params.get("templates");
  if (templates && [...el.templates.options].some((o) => o.value === templates)) el.templates.value = templates;
  const labels = params.get("labels");
  if (labels) el.labels.value = labels.split("|").join("\n");
  updateLabelsInfo();
}
