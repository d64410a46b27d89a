// The page's shared state, in place of a context object handed from view to view:
//
// - `current`: the Classify view's model (the one the page loads at start, or a fine-tuned one),
//   where it came from (`source`, `loaded`: the Library view opens its own copy of it) and
//   whether a load is under way; `adoptModel` makes a model current;
// - `register`: a view's hooks: it hears about a new model, says which models it still holds
//   (`retireModel` disposes the others) and when it is busy (`updateAppState`: #app[data-state]);
// - `loadInWorker`: the package's `loadModelInWorker` once the package is imported.
//
// Model calls are not queued here: the package runs the calls of one model (and of its trainers)
// one at a time in the order they are made, each model in its own worker. See run.js for why
// the page needs no queue of its own.

import { $ } from "./ui.js";

/** The bundled shapes-world model (served with the page). */
export const SHAPES_URL = new URL("models/shapes/", document.baseURI).href;

export const current = {
  model: null,
  name: "",
  /** The ModelSource of `model` (a URL string or a files object); null for a fine-tuned model. */
  source: null,
  /**
   * The last model loaded from a source (fine-tuning does not change it): `{ source, name,
   * cache, backend, precision }`, what the Library view needs to load the same model again.
   */
  loaded: null,
  loading: false,
  loadFailed: false,
};

let loadModelInWorker = null;

/** Called once the package is imported. */
export function setPackage(load) {
  loadModelInWorker = load;
}

export function packageLoaded() {
  return loadModelInWorker != null;
}

/** A model in a worker of its own (`loadModelInWorker`). */
export function loadInWorker(source, options) {
  if (!loadModelInWorker) throw new Error("the webclip package did not load");
  return loadModelInWorker(source, options);
}

/** The backend the model form asks for ("auto" | "webgpu" | "cpu"): the training views use it too. */
export function backendChoice() {
  return $("backend").value;
}

// ---------------------------------------------------------------------------------------------
// What the views tell the page

const parts = [];

/**
 * A view (or part of one) joins the page: `modelChanged({ adopted, model, name, seconds })`
 * after a model became current (`adopted`) or after a load ended without one (failed; the
 * model in use unchanged); `holds(model)`: whether it still needs `model` (e.g. a trainer
 * lives in its worker); `busy()`: a classification, a search or a training run is under way;
 * `appState(state)` after every update of #app[data-state]. All optional.
 */
export function register(part) {
  parts.push(part);
}

// ---------------------------------------------------------------------------------------------
// The current model

/**
 * Makes `model` (freshly loaded, or fine-tuned) the Classify view's model; `seconds`: its load
 * time; `origin`: how it was loaded (`{ source, cache, backend, precision }`), none for a
 * fine-tuned model (it has no source to load again).
 */
export function adoptModel(model, name, seconds, origin = null) {
  const old = current.model;
  current.model = model;
  current.name = name;
  current.source = origin?.source ?? null;
  if (origin) current.loaded = { ...origin, name };
  current.loading = false;
  current.loadFailed = false;
  retireModel(old);
  for (const p of parts) p.modelChanged?.({ adopted: true, model, name, seconds });
  updateAppState();
}

/** A load ended without a model (`failed`: and there is none in use). */
export function loadEnded({ failed }) {
  current.loading = false;
  if (failed && !current.model) current.loadFailed = true;
  for (const p of parts) p.modelChanged?.({ adopted: false, model: current.model, name: current.name });
  updateAppState();
}

/** Disposes a model the Classify view no longer uses, unless a view still holds it. */
export function retireModel(model) {
  if (!model || model === current.model || parts.some((p) => p.holds?.(model))) return;
  try {
    model.dispose();
  } catch {
    // already gone
  }
}

/** #app[data-state]: "loading" | "ready" | "busy" | "error". */
export function updateAppState() {
  let s;
  if (current.loading) s = "loading";
  else if (!current.model) s = current.loadFailed ? "error" : "loading";
  else if (parts.some((p) => p.busy?.())) s = "busy";
  else s = "ready";
  $("app").dataset.state = s;
  for (const p of parts) p.appState?.(s);
}
