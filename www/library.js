// The Library view: a folder of the user's photos, embedded in the background and searched as
// the user types (or by an image, or "more like this" on any result). The package's `Library`
// does the work on workers of its own (each with its own copy of the page's model) and persists
// the index in the browser (OPFS or IndexedDB) per model, so after a reload the photos can be
// searched without picking the folder again; only their thumbnails need the files, which the
// page has only for the folder picked in this session.
//
// The library is opened lazily (the first time the view is shown or a folder picked) with the
// model the page last loaded from a source (state.js `current.loaded`: a fine-tuned model has
// no source to load again, so the library keeps the model it was tuned from), and opened again
// when the page loads another model. A persisted index of another model is never replaced
// without asking: the user confirms, or the view says whose index it is and offers to re-index.
//
// Test hooks: #view-library[data-state] ("idle" | "opening" | "ready" | "indexing" | "error");
// #lib-status[data-count][data-embedded][data-failed][data-storage][data-workers];
// #lib-results[data-query] (the text; "image:<name>" for a search by image, "like:<path>" for
// "more like this") with li.lib-hit[data-path][data-score][data-row] in rank order;
// #lib-errors li[data-path]; window.webclipLibrary() → the open Library, or null.
// Query parameter: ?libworkers=N (embedding workers on the CPU backend).

import { t } from "./i18n.js";
import { current, register } from "./state.js";
import { loadFolderHandle, saveFolderHandle } from "./storage.js";
import { $, clearError, errorMessage, fmtDuration, h, showError, thumbImg } from "./ui.js";

const PKG = "./vendor/webclip/dist/index.js";
const LIB_NAME = "default";
const TOP_K = 24;
const SEARCH_DELAY_MS = 150;
const STRIP_SIZE = 12; // thumbnails of the latest embedded images
const MAX_LISTED = 1000; // errors and entries listed at most (the counts say the rest)
// ?libworkers=N: the embedding workers on the CPU backend (default: the package's,
// min(hardwareConcurrency / 2, 4)); the browser tests and benchmarks set it.
const WORKERS = Number(new URLSearchParams(location.search).get("libworkers")) || undefined;
const STORAGE_NAMES = { opfs: "OPFS", indexeddb: "IndexedDB", memory: "not saved" };

const el = {
  view: $("view-library"),
  model: $("lib-model"),
  blocked: $("lib-blocked"),
  blockedText: $("lib-blocked-text"),
  reindex: $("lib-reindex"),
  drop: $("lib-drop"),
  choose: $("lib-choose"),
  dirInput: $("lib-dir-input"),
  pause: $("lib-pause"),
  resume: $("lib-resume"),
  rescan: $("lib-rescan"),
  viewStatus: $("lib-view-status"),
  progress: $("lib-progress"),
  done: $("lib-done"),
  rate: $("lib-rate"),
  eta: $("lib-eta"),
  failed: $("lib-failed"),
  strip: $("lib-strip"),
  status: $("lib-status"),
  entries: $("lib-entries"),
  entriesSummary: $("lib-entries-summary"),
  entriesList: $("lib-entries-list"),
  errors: $("lib-errors"),
  errorsSummary: $("lib-errors-summary"),
  errorsList: $("lib-errors-list"),
  exportBtn: $("lib-export"),
  importInput: $("lib-import-input"),
  importLabel: $("lib-import-label"),
  clear: $("lib-clear"),
  note: $("lib-note"),
  search: $("lib-search"),
  queryImage: $("lib-query-image"),
  caption: $("lib-results-caption"),
  results: $("lib-results"),
};

const lib = {
  pkg: null, // the package module, once imported (the drop handler needs it synchronously)
  pkgError: null,
  wanted: false, // shown or a folder picked: the library opens as soon as it can
  library: null,
  key: null, // the model the library was opened for (modelKey)
  opening: null, // { key, promise } while a library opens
  token: 0, // bumps on every open and close: an open that is no longer the latest drops its library
  blocked: null, // { key, stored, name }: a persisted index of another model the user kept
  replaces: [], // persisted indexes of other models to delete once this model's run completes
  files: null, // LibraryFile[] of the last pick (update() takes the whole collection)
  blobs: new Map(), // path → Blob of the last pick (thumbnails, "open")
  urls: new Map(), // path → object URL of the last pick, revoked at the next pick
  handle: null, // the picked FileSystemDirectoryHandle (Rescan walks it again)
  controller: null, // AbortController of the run under way (pause = abort)
  running: null, // its promise
  resumable: false, // the last run was paused or failed: Resume runs it again
  pendingRun: false, // a folder was picked before the library could open: it is indexed once it does
  last: null, // the last run's summary
  busy: false, // an import, export or clear is under way
  strip: [], // [{ path, url }] of the thumbnail strip
  searchSeq: 0, // bumps on every search: older answers are stale
  searchTimer: 0,
};

// ---------------------------------------------------------------------------------------------
// The model and the library

/** What identifies the model the library must use: a URL with its backend and precision, or the files object. */
function modelKey(origin) {
  return typeof origin.source === "string" ? `${origin.source}|${origin.backend}|${origin.precision}` : origin;
}

function setViewState(state) {
  el.view.dataset.state = state;
}

function viewStatus(text) {
  el.viewStatus.textContent = text;
}

/** The open library for the page's model, opening it when needed; null when it cannot (yet). */
async function ensureLibrary({ explicit = false, reindex = false } = {}) {
  const origin = current.loaded;
  if (!lib.pkg || !origin || current.loading) {
    render();
    return null;
  }
  const key = modelKey(origin);
  if (lib.library && lib.key === key) return lib.library;
  if (lib.opening?.key === key) return lib.opening.promise;
  // The user kept another model's index: only a pick, an import or "Re-index" asks again.
  if (lib.blocked?.key === key && !explicit && !reindex) return null;
  closeLibrary();
  const token = ++lib.token;
  const promise = openFor(origin, key, { reindex, token });
  lib.opening = { key, promise };
  try {
    return await promise;
  } finally {
    if (lib.opening?.promise === promise) lib.opening = null;
    render();
  }
}

async function openFor(origin, key, { reindex, token }) {
  const pkg = lib.pkg;
  setViewState("opening");
  viewStatus(`Opening the library with ${origin.name}…`);
  clearError("lib-open");
  try {
    if (typeof pkg.openLibrary !== "function") {
      throw new Error("this build of the webclip package has no Library; rebuild it with ./build.sh");
    }
    // Another model's index, and none of this one's: ask before indexing over it.
    const [stored, mine] = await Promise.all([pkg.storedLibraries(), pkg.modelHashOf(origin.source, { cache: origin.cache })]);
    if (token !== lib.token) return null;
    const named = stored.filter((s) => s.name === LIB_NAME && s.count > 0);
    // (A model whose hash cannot be told is never compared: nothing to ask.)
    const others =
      mine.modelHash == null || named.some((s) => s.modelHash === mine.modelHash)
        ? []
        : named.filter((s) => s.modelHash !== mine.modelHash);
    let replacing = reindex;
    if (others.length && !reindex) {
      const old = others.reduce((a, b) => (b.count > a.count ? b : a));
      const newName = mine.modelId || origin.name;
      const ok = window.confirm(
        t(`This library was indexed with ${old.modelId} (${old.count} images). Re-index with ${newName}? The old index is kept until you do.`),
      );
      if (token !== lib.token) return null;
      if (!ok) {
        lib.blocked = { key, stored: old, name: newName };
        setViewState("idle");
        viewStatus("");
        return null;
      }
      replacing = true;
    }
    lib.replaces = others;
    const library = await pkg.openLibrary(origin.source, {
      name: LIB_NAME,
      backend: origin.backend,
      precision: origin.precision,
      cache: origin.cache,
      ...(WORKERS ? { workers: WORKERS } : {}),
      onProgress: (p) => {
        if (token === lib.token && p?.stage === "download" && p.total) {
          viewStatus(`Loading ${origin.name} for the library: ${Math.round((100 * p.loaded) / p.total)} %`);
        }
      },
    });
    if (token !== lib.token) {
      library.dispose();
      return null;
    }
    lib.library = library;
    lib.key = key;
    lib.blocked = null;
    setViewState("ready");
    viewStatus(library.size ? "Ready: type to search." : "Ready: choose a folder of photos to index it.");
    scheduleSearch(0);
    // A folder waiting for the library, or the user agreed to re-index: the folder goes in now.
    if ((replacing || lib.pendingRun) && lib.files) runUpdate();
    return library;
  } catch (e) {
    if (token !== lib.token) return null;
    setViewState("error");
    viewStatus("The library could not be opened.");
    showError(`Could not open the library: ${errorMessage(e)}`, "lib-open");
    return null;
  }
}

/** Ends the library's workers (its index stays persisted) and any run or open under way. */
function closeLibrary() {
  lib.token += 1;
  lib.controller?.abort();
  lib.controller = null;
  lib.running = null;
  try {
    lib.library?.dispose();
  } catch {
    // already gone
  }
  lib.library = null;
  lib.key = null;
  lib.opening = null;
  lib.searchSeq += 1;
}

/** Once this model's index is complete, the other models' indexes the user agreed to replace go. */
async function dropReplaced() {
  const gone = lib.replaces;
  lib.replaces = [];
  for (const s of gone) {
    try {
      await lib.pkg.deleteStoredLibrary(s.name, s.modelHash);
    } catch (e) {
      showError(`Could not delete the old index of ${s.modelId}: ${errorMessage(e)}`, "lib-delete");
    }
  }
}

function modelChanged({ adopted }) {
  if (adopted && current.loaded && (lib.library || lib.opening) && lib.opening?.key !== modelKey(current.loaded) && lib.key !== modelKey(current.loaded)) {
    closeLibrary();
    setViewState("idle");
    viewStatus("");
  }
  // Open it (again) now only where the user sees the question it may ask; else when shown.
  if (!el.view.hidden) ensureLibrary();
  else render();
}

// ---------------------------------------------------------------------------------------------
// Picking a folder

async function chooseFolder() {
  if (!window.showDirectoryPicker) {
    el.dirInput.click();
    return;
  }
  let handle;
  try {
    handle = await window.showDirectoryPicker({ id: "webclip-library", mode: "read" });
  } catch (e) {
    if (e?.name !== "AbortError") showError(`Could not open the folder: ${errorMessage(e)}`, "lib-pick");
    return;
  }
  await pick(() => lib.pkg.filesFromDirectoryHandle(handle), handle);
}

/** A new collection: `read()` lists its files; the library embeds what is new or changed. */
async function pick(read, handle = null) {
  lib.wanted = true;
  if (!lib.pkg) {
    showError("The webclip package is not loaded yet; try again in a moment.", "lib-pick");
    return;
  }
  clearError("lib-pick");
  const before = el.view.dataset.state;
  setViewState("indexing");
  viewStatus("Reading the folder…");
  let files;
  try {
    files = await read();
  } catch (e) {
    setViewState(before);
    viewStatus("");
    showError(`Could not read the folder: ${errorMessage(e)}`, "lib-pick");
    return;
  }
  if (lib.running) {
    // The previous folder's run stops first (what it embedded is kept where still in the folder).
    lib.controller?.abort();
    await lib.running;
  }
  setFiles(files, handle);
  if (!files.length) {
    setViewState(lib.library ? "ready" : before);
    viewStatus("No images in that folder (JPEG, PNG, GIF, WebP, BMP, TIFF).");
    render();
    return;
  }
  lib.pendingRun = true;
  const library = await ensureLibrary({ explicit: true });
  if (library) {
    await runUpdate();
  } else {
    if (el.view.dataset.state === "indexing") {
      // No model yet (a declined question or a failed open set the state already): the folder
      // waits for the library, which opens once the model is loaded.
      setViewState("idle");
      viewStatus("The folder is indexed as soon as a model is loaded.");
    }
    render();
  }
}

function setFiles(files, handle) {
  for (const url of lib.urls.values()) URL.revokeObjectURL(url);
  lib.urls.clear();
  lib.files = files;
  lib.blobs = new Map(files.map((f) => [f.path, f.file]));
  lib.handle = handle;
  lib.resumable = false;
  if (handle) saveFolderHandle(handle);
}

/** The object URL of a picked file (kept until the next pick: an opened tab may still show it). */
function urlFor(path) {
  let url = lib.urls.get(path);
  if (!url) {
    const blob = lib.blobs.get(path);
    if (!blob) return null;
    url = URL.createObjectURL(blob);
    lib.urls.set(path, url);
  }
  return url;
}

async function rescan() {
  if (lib.handle) {
    const handle = lib.handle;
    try {
      if (handle.queryPermission && (await handle.queryPermission({ mode: "read" })) !== "granted") {
        await handle.requestPermission({ mode: "read" });
      }
    } catch {
      // reading below says what is wrong
    }
    await pick(() => lib.pkg.filesFromDirectoryHandle(handle), handle);
  } else if (lib.files) {
    // A folder from the file dialog cannot be read again: the same files, to catch up after a pause or an error.
    lib.resumable = false;
    await runUpdate();
  }
}

/** Drops while the view is shown (app.js routes the page's drops here): a folder to index. */
export function drop(dataTransfer) {
  if (!lib.pkg) {
    showError("The webclip package is not loaded yet; try again in a moment.", "lib-pick");
    return;
  }
  // The entries must be read while the drop event lasts: start reading now, await later.
  const reading = lib.pkg.filesFromDataTransfer(dataTransfer);
  pick(() => reading);
}

/** The area that lights up while files are dragged over the page (app.js). */
export function dropZone() {
  return el.drop;
}

/** A pasted image searches the library (app.js routes the page's pastes here). */
export function paste(files) {
  const image = files.find((f) => f.type.startsWith("image/")) ?? files[0];
  if (image) searchBy({ image }, `image:${image.name || "pasted"}`, `Images like the pasted image`);
}

// ---------------------------------------------------------------------------------------------
// Indexing (pause = abort the run, resume = run it again: unchanged files are skipped)

async function runUpdate() {
  if (lib.running) return lib.running;
  const library = lib.library;
  const files = lib.files;
  if (!library || !files) return;
  const controller = new AbortController();
  lib.controller = controller;
  lib.resumable = false;
  lib.pendingRun = false;
  clearError("lib-update");
  setViewState("indexing");
  viewStatus(`Indexing ${files.length} files…`);
  resetProgress();
  render();
  const run = (async () => {
    try {
      const s = await library.update(files, {
        signal: controller.signal,
        onProgress: (p) => {
          if (library === lib.library && lib.controller === controller) showProgress(p);
        },
      });
      if (library !== lib.library) return;
      lib.last = s;
      lib.resumable = s.aborted;
      setViewState("ready");
      if (s.aborted) {
        viewStatus(`Paused after ${s.embedded} new images. Resume continues where it stopped.`);
      } else {
        viewStatus(
          `Done in ${s.seconds.toFixed(1)} s: ${s.embedded} embedded, ${s.unchanged} unchanged, ${s.removed} removed, ${s.failed} failed.`,
        );
        el.progress.max = 1;
        el.progress.value = 1;
        await dropReplaced();
      }
    } catch (e) {
      if (library !== lib.library) return;
      lib.resumable = true;
      setViewState("error");
      viewStatus("Indexing stopped. The images embedded so far are kept: Resume tries again.");
      showError(`Indexing stopped: ${errorMessage(e)}`, "lib-update");
    } finally {
      if (lib.controller === controller) {
        lib.controller = null;
        lib.running = null;
      }
      if (library === lib.library) {
        render();
        refreshSearch();
      }
    }
  })();
  lib.running = run;
  return run;
}

function pause() {
  lib.controller?.abort();
  el.pause.disabled = true;
  viewStatus("Pausing after the images in flight…");
}

function resetProgress() {
  el.progress.max = 1;
  el.progress.removeAttribute("value");
  el.done.textContent = "—";
  el.rate.textContent = "—";
  el.eta.textContent = "—";
  el.failed.textContent = "0";
  for (const s of lib.strip) URL.revokeObjectURL(s.url);
  lib.strip = [];
  el.strip.replaceChildren();
}

function showProgress(p) {
  el.progress.max = Math.max(1, p.total);
  el.progress.value = p.done;
  el.done.textContent = `${p.done} / ${p.total}`;
  el.rate.textContent = Number.isFinite(p.rate) && p.rate > 0 ? `${p.rate.toFixed(1)} images/s` : "—";
  el.eta.textContent = Number.isFinite(p.etaSeconds) ? fmtDuration(p.etaSeconds * 1000) : "—";
  el.failed.textContent = String(p.failed);
  el.progress.setAttribute("aria-valuetext", `${p.done} of ${p.total}`);
  showStrip(p.latest ?? []);
  renderStatus();
}

/** The latest embedded images, newest last; their object URLs go when they leave the strip. */
function showStrip(latest) {
  const shown = new Set(lib.strip.map((s) => s.path));
  for (const path of latest) {
    const blob = lib.blobs.get(path);
    if (!blob || shown.has(path)) continue;
    shown.add(path);
    lib.strip.push({ path, url: URL.createObjectURL(blob) });
  }
  while (lib.strip.length > STRIP_SIZE) URL.revokeObjectURL(lib.strip.shift().url);
  el.strip.replaceChildren(
    ...lib.strip.map((s) => h("li", { class: "thumb", title: s.path, dataset: { path: s.path } }, thumbImg(s.url))),
  );
}

// ---------------------------------------------------------------------------------------------
// Search: text as the user types, an image, or "more like this"

function scheduleSearch(delay = SEARCH_DELAY_MS) {
  clearTimeout(lib.searchTimer);
  const text = el.search.value.trim();
  if (!text) {
    // An empty box clears text results (not an image's or "more like this").
    if (!el.results.dataset.query || !/^(image|like):/.test(el.results.dataset.query)) {
      lib.searchSeq += 1;
      showResults(null);
    }
    return;
  }
  lib.searchTimer = setTimeout(() => searchBy(text, text, `Best matches for “${text}”`), delay);
}

/** Runs the shown query again (new rows after a run or an import). */
function refreshSearch() {
  const q = el.results.dataset.query;
  if (q && q.startsWith("like:")) searchBy({ path: q.slice(5) }, q, el.caption.textContent);
  else scheduleSearch(0);
}

async function searchBy(query, label, caption) {
  const seq = ++lib.searchSeq;
  const library = lib.library;
  if (!library) {
    el.caption.textContent = lib.opening ? "Opening the library…" : "The library is not open yet.";
    return;
  }
  try {
    const hits = await library.search(query, { topK: TOP_K });
    if (seq !== lib.searchSeq || library !== lib.library) return;
    clearError("lib-search");
    showResults({ label, caption }, hits);
  } catch (e) {
    if (seq !== lib.searchSeq || library !== lib.library) return;
    showError(`Search failed: ${errorMessage(e)}`, "lib-search");
  }
}

function showResults(query, hits = []) {
  el.results.dataset.query = query?.label ?? "";
  if (!query) {
    el.caption.textContent = "";
    el.results.replaceChildren();
    return;
  }
  const size = lib.library?.size ?? 0;
  el.caption.textContent = size === 0 ? "The library is empty: choose a folder to index it." : query.caption;
  el.results.replaceChildren(...hits.map(hitCard));
}

function hitCard(hit) {
  const url = urlFor(hit.path);
  const name = hit.path.split("/").pop();
  const thumb = url
    ? h("div", { class: "thumb lib-thumb" }, thumbImg(url))
    : h("div", { class: "thumb lib-thumb lib-placeholder", title: "No preview: choose the folder again to see the images." },
        h("span", { "data-no-i18n": true, text: name }));
  return h(
    "li",
    { class: "lib-hit", dataset: { path: hit.path, score: String(hit.score), row: String(hit.row) } },
    thumb,
    h("p", { class: "lib-path", "data-no-i18n": true, title: hit.path, text: hit.path }),
    h("p", { class: "lib-score", "data-no-i18n": true, text: `cos ${hit.score.toFixed(3)}` }),
    h(
      "div",
      { class: "lib-actions" },
      url ? h("a", { href: url, target: "_blank", rel: "noopener", text: "Open" }) : null,
      h("button", {
        type: "button",
        class: "ghost",
        text: "More like this",
        onclick: () => searchBy({ path: hit.path }, `like:${hit.path}`, `Images like ${hit.path}`),
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Export and import (the folder layout of `webclip index`)

async function exportIndex() {
  const library = lib.library;
  if (!library) return;
  let dir = null;
  if (window.showDirectoryPicker) {
    // Asked first, while the click still counts as the user's gesture.
    try {
      dir = await window.showDirectoryPicker({ id: "webclip-index", mode: "readwrite" });
    } catch (e) {
      if (e?.name !== "AbortError") showError(`Could not open the folder: ${errorMessage(e)}`, "lib-export");
      return;
    }
  }
  lib.busy = true;
  render();
  try {
    const files = await library.exportIndex();
    if (dir) {
      for (const f of files) await writeInto(dir, f.path, f.data);
      note(`Exported ${files.length} files to the folder ${dir.name}.`);
    } else {
      for (const f of files) download(f.path.split("/").pop(), f.data);
      note(`Downloaded ${files.length} files: put the .npy in img_emb/ and the .parquet in metadata/.`);
    }
    clearError("lib-export");
  } catch (e) {
    showError(`Export failed: ${errorMessage(e)}`, "lib-export");
  } finally {
    lib.busy = false;
    render();
  }
}

async function writeInto(dir, path, data) {
  const parts = path.split("/");
  const name = parts.pop();
  for (const part of parts) dir = await dir.getDirectoryHandle(part, { create: true });
  const file = await dir.getFileHandle(name, { create: true });
  const writable = await file.createWritable();
  await writable.write(data);
  await writable.close();
}

function download(name, data) {
  const url = URL.createObjectURL(new Blob([data]));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A file's path inside the index folder: its top folder stripped; loose downloads put back in place. */
function importPath(file) {
  const parts = (file.webkitRelativePath || file.name).split("/");
  if (parts.length > 1) parts.shift();
  const path = parts.join("/");
  if (/^img_emb_\d+\.npy$/.test(path)) return `img_emb/${path}`;
  if (/^metadata_\d+\.parquet$/.test(path)) return `metadata/${path}`;
  return path;
}

async function importIndex(list) {
  lib.wanted = true;
  if (!list.length) return;
  lib.busy = true;
  render();
  try {
    const files = await Promise.all(list.map(async (f) => ({ path: importPath(f), data: new Uint8Array(await f.arrayBuffer()) })));
    const library = await ensureLibrary({ explicit: true });
    if (!library) return;
    await library.importIndex(files);
    if (library !== lib.library) return;
    clearError("lib-import");
    lib.last = null;
    note(`Imported an index of ${library.size} images.`);
    refreshSearch();
  } catch (e) {
    showError(`Import failed: ${errorMessage(e)}`, "lib-import");
  } finally {
    lib.busy = false;
    render();
  }
}

async function clearLibrary() {
  const library = lib.library;
  if (!library) return;
  if (!window.confirm(t(`Remove all ${library.size} images from the library? Your photos themselves are not touched.`))) return;
  lib.busy = true;
  render();
  try {
    await library.clear();
    lib.last = null;
    lib.resumable = false;
    showResults(null);
    note("The library is empty.");
  } catch (e) {
    showError(`Could not clear the library: ${errorMessage(e)}`, "lib-clear");
  } finally {
    lib.busy = false;
    render();
  }
}

function note(text) {
  el.note.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Rendering the state

function render() {
  renderModel();
  renderStatus();
  renderErrors();
  const library = lib.library;
  const indexing = !!lib.controller;
  const idle = !!library && !indexing && !lib.busy;
  el.pause.disabled = !indexing || !!lib.controller?.signal.aborted;
  el.resume.disabled = !idle || !lib.resumable || !lib.files;
  el.rescan.disabled = !idle || !(lib.handle || lib.files);
  el.choose.disabled = indexing || lib.busy || !lib.pkg;
  el.exportBtn.disabled = !idle || library.size === 0;
  el.clear.disabled = !idle || library.size === 0;
  const importOff = indexing || lib.busy || !lib.pkg;
  el.importInput.disabled = importOff;
  el.importLabel.classList.toggle("disabled", importOff);
  el.view.setAttribute("aria-busy", indexing || lib.busy ? "true" : "false");
  el.entriesSummary.textContent = `Indexed images: ${library?.size ?? 0}`;
  if (el.entries.open) renderEntries();
}

function renderModel() {
  const origin = current.loaded;
  let text;
  if (lib.pkgError) text = "The Library needs the webclip package (see the message above).";
  else if (!origin) text = current.loading ? "Waiting for the page's model to load…" : "Load a model in the Classify view first: the library indexes with it.";
  else if (!current.source && current.model) text = `The model in use is fine-tuned: the library indexes with ${origin.name}, the last model loaded (not a fine-tuned one).`;
  else text = `The library indexes with ${origin.name}.`;
  el.model.textContent = text;
  const blocked = lib.blocked && origin && lib.blocked.key === modelKey(origin) && !lib.library;
  el.blocked.hidden = !blocked;
  if (blocked) {
    const s = lib.blocked.stored;
    el.blockedText.textContent = `The saved library belongs to another model: it was indexed with ${s.modelId} (${s.count} images). Re-index it with ${lib.blocked.name} to search it with this model; the old index is kept until then.`;
  }
}

function renderStatus() {
  const library = lib.library;
  const ds = el.status.dataset;
  ds.count = String(library?.size ?? 0);
  ds.embedded = lib.last ? String(lib.last.embedded) : "";
  ds.failed = String(library ? library.errors().length : 0);
  ds.storage = library?.storage ?? "";
  ds.workers = library ? String(library.workers) : "";
  if (!library) {
    el.status.replaceChildren(h("span", { text: "No library open." }));
    return;
  }
  const parts = [
    library.storage === "memory" ? "Not saved (this browser offers no storage)" : `Saved in: ${STORAGE_NAMES[library.storage] ?? library.storage}`,
    `${library.size} images`,
    `${library.workers} worker${library.workers === 1 ? "" : "s"} on ${library.backend === "webgpu" ? "WebGPU" : "the CPU"}`,
  ];
  if (lib.last) parts.push(`${lib.last.embedded} embedded at ${lib.last.imagesPerSecond.toFixed(1)} images/s`);
  el.status.replaceChildren(...parts.flatMap((text, i) => [i ? " · " : null, h("span", { text })].filter(Boolean)));
}

function renderErrors() {
  const errors = lib.library?.errors() ?? [];
  el.errors.hidden = errors.length === 0;
  el.errorsSummary.textContent = `Files that could not be indexed: ${errors.length}`;
  el.errorsList.replaceChildren(
    ...errors.slice(0, MAX_LISTED).map((e) =>
      h("li", { dataset: { path: e.path } }, h("span", { class: "lib-path", text: e.path }), ` — ${e.reason}`),
    ),
  );
}

function renderEntries() {
  const entries = lib.library?.entries() ?? [];
  el.entriesSummary.textContent = `Indexed images: ${entries.length}`;
  el.entriesList.replaceChildren(
    ...entries.slice(0, MAX_LISTED).map((e) => h("li", { dataset: { path: e.path }, text: `${e.path} (${e.width}×${e.height})` })),
  );
}

// ---------------------------------------------------------------------------------------------
// The app's side

export function init() {
  el.choose.addEventListener("click", chooseFolder);
  el.dirInput.addEventListener("change", () => {
    const list = [...el.dirInput.files];
    el.dirInput.value = "";
    if (list.length) pick(() => lib.pkg.filesFromFileList(list));
  });
  el.pause.addEventListener("click", pause);
  el.resume.addEventListener("click", () => runUpdate());
  el.rescan.addEventListener("click", rescan);
  el.reindex.addEventListener("click", () => ensureLibrary({ reindex: true }));
  el.search.addEventListener("input", () => scheduleSearch());
  el.queryImage.addEventListener("change", () => {
    const file = el.queryImage.files[0];
    el.queryImage.value = "";
    if (file) searchBy({ image: file }, `image:${file.name}`, `Images like ${file.name}`);
  });
  el.exportBtn.addEventListener("click", exportIndex);
  el.importInput.addEventListener("change", () => {
    const list = [...el.importInput.files];
    el.importInput.value = "";
    importIndex(list);
  });
  el.clear.addEventListener("click", clearLibrary);
  el.entries.addEventListener("toggle", () => el.entries.open && renderEntries());
  window.webclipLibrary = () => lib.library;
  register({ modelChanged });
  render();
}

/** Called once the package is loaded: the library opens if the view asked for it. */
export async function start() {
  try {
    lib.pkg = await import(PKG);
  } catch (e) {
    lib.pkgError = errorMessage(e);
  }
  // The folder of an earlier visit (showDirectoryPicker only): Rescan reads it again once the
  // user grants access, embedding only what changed, and its files give the thumbnails back.
  lib.handle ??= await loadFolderHandle();
  render();
  if (lib.wanted) ensureLibrary();
}

/** The view became visible: its library opens (once a model is loaded). */
export function shown() {
  lib.wanted = true;
  ensureLibrary();
}
