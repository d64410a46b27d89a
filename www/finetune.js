// The Fine-tune view: the user's images (shared with the Classify view) with a label each become
// a contrastive training set (some held out for accuracy); Start/Stop/Reset, a live loss curve,
// the image × caption similarity matrix before and during training, held-out accuracy,
// temperature and step timings; "Use for classification" (optionally WiSE-FT-blended) and a
// download of the HF folder. Training starts from the Classify view's model (its trainer lives
// in that model's worker). The run is saved in IndexedDB (storage.js) after every step (weights
// + optimiser state + history), so after a reload or a crash "Resume" continues where it stopped.
//
// Test hooks: #view-finetune[data-state] ("idle" | "loading" | "running" | "stopped" | "done" |
// "error"), [data-step], [data-saved-step] (last step in IndexedDB), [data-resumed-from] and
// [data-first-step-after-resume]; #ft-loss[data-step][data-loss][data-losses]; the heatmaps'
// [data-rendered][data-step]; #ft-acc[data-acc]; li.ft-item[data-id][data-name][data-held]
// [data-pred][data-correct]; #resume-run[data-saved-step].

import { addImages, clearImages, onImagesChange, pickImages } from "./images.js";
import { blobThumb, drawHeatmap } from "./plots.js";
import { needTrainer, RunController } from "./run.js";
import { adoptModel, backendChoice, current, loadInWorker, register, retireModel } from "./state.js";
import { deleteSavedRun, readSavedRun, writeRun } from "./storage.js";
import { batchAt, finishData, initTrainSet, lockItems, renderItems as renderFtItems, snapshotData } from "./trainset.js";
import {
  $,
  argmax,
  clearChart,
  clearError,
  errorMessage,
  fmtTemp,
  formatBytes,
  formatPct,
  h,
  parseNumber,
  redrawOnResize,
  showBackend,
  showError,
} from "./ui.js";

const SAVE_AUTO_LIMIT = 64 * 1024 * 1024; // "auto": save every step up to this many bytes of weights

const fe = {
  view: $("view-finetune"),
  resume: $("ft-resume"),
  resumeText: $("ft-resume-text"),
  resumeBtn: $("resume-run"),
  discardBtn: $("discard-run"),
  add: $("ft-add"),
  template: $("ft-template"),
  form: $("ft-form"),
  train: $("ft-train"),
  lastWrap: $("ft-last-wrap"),
  lastN: $("ft-last-n"),
  lockImage: $("ft-lock-image"),
  lockText: $("ft-lock-text"),
  lossKind: $("ft-loss-kind"),
  lr: $("ft-lr"),
  batch: $("ft-batch"),
  steps: $("ft-steps"),
  warmup: $("ft-warmup"),
  wd: $("ft-wd"),
  evalEvery: $("ft-eval-every"),
  saveEvery: $("ft-save-every"),
  note: $("ft-settings-note"),
  start: $("ft-start"),
  stop: $("ft-stop"),
  reset: $("ft-reset"),
  alpha: $("ft-alpha"),
  alphaOut: $("ft-alpha-out"),
  apply: $("ft-apply"),
  download: $("ft-download"),
  badge: $("ft-badge"),
  status: $("ft-status"),
  progress: $("ft-progress"),
  step: $("ft-step"),
  lossVal: $("ft-loss-val"),
  temp: $("ft-temp"),
  ms: $("ft-ms"),
  acc: $("ft-acc"),
  saved: $("ft-saved"),
  loss: $("ft-loss"),
  heatBefore: $("ft-heatmap-before"),
  heat: $("ft-heatmap"),
  heatCaption: $("ft-heatmap-caption"),
};

/** What the run is about; the controller keeps the step, losses, timings and state. */
const ft = {
  trainer: null,
  owner: null, // the model whose worker holds the trainer
  ownerName: "",
  runId: null,
  settings: null,
  data: null, // the training set, fixed when the run starts
  evals: [], // { step, acc }
  preds: new Map(), // held-out item id → predicted label
  before: null, // { similarity, loss } at step 0
  now: null,
  metaSaved: false,
  savedStep: 0,
  saveEvery: 1,
  saveError: null,
  resumedFrom: null,
  firstAfterResume: null,
  busyAction: false,
};

const run = new RunController({
  view: fe.view,
  stopButton: fe.stop,
  status: fe.status,
  errorKey: "ft",
  label: "Fine-tuning",
  hasRun: () => !!ft.trainer,
  controls: updateFtControls,
  onFail: renderFtItems,
  persist: {
    due: (step, last) => last || step % ft.saveEvery === 0,
    unsaved: () => ft.savedStep !== run.step,
    save: queueSave,
  },
});

function updateFtControls() {
  const s = run.state;
  const hasRun = !!ft.trainer;
  const busy = s === "loading" || ft.busyAction;
  fe.start.disabled = busy || run.running || !(hasRun || current.model);
  fe.start.textContent = hasRun && run.step > 0 && run.step < (ft.settings?.steps ?? 0) ? "Continue" : "Start";
  fe.stop.disabled = !run.running;
  fe.reset.disabled = busy || run.running || !hasRun;
  fe.apply.disabled = busy || !hasRun || run.step === 0;
  fe.download.disabled = busy || !hasRun || run.step === 0;
  const lock = hasRun || s === "loading";
  for (const input of [fe.train, fe.lastN, fe.lockImage, fe.lockText, fe.lr, fe.batch, fe.steps, fe.warmup, fe.wd, fe.lossKind, fe.template]) {
    input.disabled = lock;
  }
  fe.note.textContent = hasRun
    ? `Training ${ft.ownerName}. The settings and the training set are fixed for this run: Reset to change them.`
    : `Training starts from the model in use in the Classify view${current.name ? ` (${current.name})` : ""}.`;
  fe.lastWrap.hidden = fe.train.value !== "last";
  lockItems(hasRun || s === "loading");
}

// ---- settings ---------------------------------------------------------------------------------

function readFtSettings() {
  const mode = fe.train.value;
  const lastN = parseNumber(fe.lastN.value, "N (blocks)", { min: 1, max: 48, integer: true });
  const saveText = fe.saveEvery.value.trim().toLowerCase();
  return {
    train: mode === "last" ? `last:${lastN}` : mode,
    lockImage: fe.lockImage.checked,
    lockText: fe.lockText.checked,
    lr: parseNumber(fe.lr.value, "Learning rate", { min: 1e-12, max: 1e6 }),
    batchSize: parseNumber(fe.batch.value, "Batch size", { min: 2, max: 4096, integer: true }),
    steps: parseNumber(fe.steps.value, "Steps", { min: 1, max: 1_000_000, integer: true }),
    warmup: parseNumber(fe.warmup.value || "0", "Warmup steps", { min: 0, integer: true }),
    weightDecay: parseNumber(fe.wd.value || "0", "Weight decay", { min: 0, max: 10 }),
    evalEvery: parseNumber(fe.evalEvery.value || "5", "Evaluate every", { min: 1, integer: true }),
    saveEvery: saveText === "auto" || saveText === "" ? "auto" : parseNumber(saveText, "Save every", { min: 1, integer: true }),
    seed: 1,
    loss: fe.lossKind.value || undefined,
  };
}

function showFtSettings(s) {
  const last = /^last:(\d+)$/.exec(s.train);
  fe.train.value = last ? "last" : s.train;
  if (last) fe.lastN.value = last[1];
  fe.lockImage.checked = !!s.lockImage;
  fe.lockText.checked = !!s.lockText;
  fe.lr.value = String(s.lr);
  fe.batch.value = String(s.batchSize);
  fe.steps.value = String(s.steps);
  fe.warmup.value = String(s.warmup ?? 0);
  fe.wd.value = String(s.weightDecay ?? 0.2);
  fe.evalEvery.value = String(s.evalEvery ?? 5);
  fe.saveEvery.value = String(s.saveEvery ?? "auto");
  fe.lossKind.value = s.loss ?? "";
}

function trainerOptions(s, n) {
  return {
    train: s.train,
    lockImage: s.lockImage,
    lockText: s.lockText,
    lr: s.lr,
    weightDecay: s.weightDecay,
    warmup: s.warmup,
    batchSize: Math.max(2, Math.min(s.batchSize, n)),
    steps: s.steps,
    seed: s.seed,
    ...(s.loss ? { loss: s.loss } : {}),
  };
}

// ---- drawing ----------------------------------------------------------------------------------

/** Whether the run's loss is SigLIP's sigmoid (asked for, or the model family's own). */
function sigmoidLoss() {
  const asked = ft.settings?.loss;
  return asked ? asked === "sigmoid" : ft.owner?.family === "siglip";
}

function renderFtProgress() {
  const total = ft.settings?.steps ?? 0;
  const bs = ft.data ? Math.max(2, Math.min(ft.settings.batchSize, ft.data.train.length)) : 0;
  run.drawLoss({
    canvas: fe.loss,
    total,
    // Chance level: softmax's ln B (a uniform pick among B captions); sigmoid's B·ln 2 (every
    // one of a row's B yes/no questions at 50 %).
    reference: !bs ? null : sigmoidLoss() ? { value: bs * Math.LN2, label: `chance: ${bs}·ln 2` } : { value: Math.log(bs), label: `chance: ln ${bs}` },
    empty: ft.trainer ? "Press Start." : "No run yet.",
    lossOut: fe.lossVal,
    msOut: fe.ms,
  });
  fe.step.textContent = ft.trainer ? `${run.step} / ${total}` : "—";
  fe.temp.textContent = fmtTemp(run.logitScale);
  fe.progress.max = Math.max(1, total);
  fe.progress.value = run.step;
  const acc = ft.evals.at(-1);
  fe.acc.textContent = acc ? `${formatPct(acc.acc)} (step ${acc.step}, ${ft.data.held.length} image${ft.data.held.length === 1 ? "" : "s"})` : "—";
  fe.acc.dataset.acc = acc ? String(acc.acc) : "";
  showBackend(fe.badge, ft.owner, "no run");
}

async function drawFtHeatmaps() {
  if (!ft.data) {
    for (const c of [fe.heatBefore, fe.heat]) clearChart(c);
    return;
  }
  const probe = ft.data.train.slice(0, 16);
  const thumbs = await Promise.all(probe.map((p) => blobThumb(p.blob)));
  const labels = probe.map((p) => p.label);
  for (const [canvas, ev, what] of [
    [fe.heatBefore, ft.before, "before training"],
    [fe.heat, ft.now, "now"],
  ]) {
    if (!ev) continue;
    const stats = drawHeatmap(canvas, ev.similarity, { thumbs, labels, range: "auto" });
    canvas.dataset.rendered = "true";
    canvas.dataset.step = String(ev.step ?? 0);
    canvas.setAttribute(
      "aria-label",
      `Similarity ${what}: ${stats.hits} of ${stats.rows} images pick their own caption; mean cosine of true pairs ${stats.diag.toFixed(3)}, of other combinations ${stats.off.toFixed(3)}`,
    );
  }
  if (ft.now) fe.heatCaption.textContent = `Now (step ${ft.now.step}).`;
}

function drawFt() {
  renderFtProgress();
  drawFtHeatmaps().catch(() => {});
}

// ---- evaluation -------------------------------------------------------------------------------

async function ftEvaluate(step) {
  const tr = ft.trainer;
  const gen = run.gen;
  const data = ft.data;
  const probe = data.train.slice(0, 16);
  const ev = await tr.evaluate(probe.map((p) => p.blob), probe.map((p) => p.text));
  if (run.stale(gen)) return;
  ft.now = { step, similarity: ev.similarity, loss: ev.loss };
  if (step === 0 && !ft.before) ft.before = ft.now;
  // Held-out accuracy: each held-out image against every label's caption (evaluate needs as
  // many texts as images, so both lists are repeated cyclically to the same length).
  if (data.held.length && data.labels.length >= 2) {
    const n = Math.max(data.held.length, data.labels.length, 2);
    const images = Array.from({ length: n }, (_, i) => data.held[i % data.held.length].blob);
    const texts = Array.from({ length: n }, (_, j) => data.prompts[j % data.labels.length]);
    const res = await tr.evaluate(images, texts);
    if (run.stale(gen)) return;
    let right = 0;
    data.held.forEach((it, i) => {
      const p = data.labels[argmax(res.similarity[i], data.labels.length)];
      ft.preds.set(it.id, p);
      if (p === it.label) right++;
    });
    const acc = right / data.held.length;
    const prev = ft.evals.at(-1);
    if (prev?.step === step) prev.acc = acc;
    else ft.evals.push({ step, acc });
    renderFtItems();
  }
  renderFtProgress();
  await drawFtHeatmaps();
}

// ---- persistence (the run controller's hooks) ------------------------------------------------

/** Saves the current step in IndexedDB; the promise never rejects (a failure is shown). */
function queueSave() {
  const tr = ft.trainer;
  const runId = ft.runId;
  const step = run.step;
  const snapshot = {
    runId,
    step,
    losses: run.losses.slice(),
    times: run.times.slice(),
    evals: ft.evals.map((e) => ({ ...e })),
    preds: [...ft.preds],
    logitScale: run.logitScale,
    now: ft.now,
  };
  const p = (async () => {
    // Both calls are sent at once, back to back: no step can come between them.
    const [files, bytes] = await Promise.all([tr.export(), tr.saveState()]);
    if (runId !== ft.runId) return;
    const weightBytes = files.weights.byteLength;
    if (ft.settings.saveEvery === "auto") ft.saveEvery = weightBytes <= SAVE_AUTO_LIMIT ? 1 : 25;
    const meta = ft.metaSaved
      ? null
      : {
          runId,
          createdAt: Date.now(),
          modelName: ft.ownerName,
          settings: ft.settings,
          template: ft.data.template,
          items: ft.data.items.map(({ id, name, blob, label, held }) => ({ id, name, blob, label, held })),
          config: files.config,
          tokenizer: files.tokenizer,
          preprocessor: files.preprocessor,
          tokenizerConfig: files.tokenizerConfig,
          before: ft.before,
        };
    await writeRun({ ...snapshot, weights: files.weights, state: bytes, savedAt: Date.now() }, meta);
    if (runId !== ft.runId) return;
    ft.metaSaved = true;
    ft.savedStep = step;
    ft.saveError = null;
    clearError("ft-save");
    fe.view.dataset.savedStep = String(step);
    fe.saved.textContent = `step ${step} (${formatBytes(weightBytes + bytes.byteLength)})`;
  })();
  return p.catch((e) => {
    const msg = errorMessage(e);
    if (ft.saveError !== msg) showError(`The run could not be saved in the browser: ${msg}`, "ft-save");
    ft.saveError = msg;
    fe.saved.textContent = "not saved (see the message above)";
  });
}

async function checkSavedRun() {
  try {
    const saved = await readSavedRun();
    if (!saved) {
      fe.resume.hidden = true;
      return;
    }
    if (ft.trainer) return; // a run of this session
    const { meta, ckpt } = saved;
    const total = meta.settings?.steps ?? ckpt.step;
    const when = new Date(ckpt.savedAt ?? meta.createdAt).toLocaleString();
    fe.resumeText.textContent = `A saved fine-tuning run was found: ${meta.modelName || "a model"}, ${meta.items.length} images, step ${ckpt.step} of ${total} (saved ${when}). Resuming brings back its images and labels.`;
    fe.resumeBtn.dataset.savedStep = String(ckpt.step);
    fe.resumeBtn.textContent = ckpt.step < total ? `Resume at step ${ckpt.step}` : "Restore it";
    fe.resume.hidden = false;
  } catch (e) {
    // No IndexedDB (private mode, old browser): nothing to offer.
    fe.resume.hidden = true;
    console.warn("webclip: saved runs unavailable:", e);
  }
}

// ---- the run ----------------------------------------------------------------------------------

/**
 * A new run (`fields` over an empty one's; `{}`: no run): older async work becomes stale, the
 * progress starts over, and the view's data-saved-step / data-resumed-from follow.
 */
function setRun(fields) {
  run.renew();
  Object.assign(
    ft,
    {
      trainer: null,
      owner: null,
      ownerName: "",
      runId: null,
      settings: null,
      data: null,
      evals: [],
      preds: new Map(),
      before: null,
      now: null,
      metaSaved: false,
      savedStep: 0,
      resumedFrom: null,
      firstAfterResume: null,
    },
    fields,
  );
  fe.view.dataset.savedStep = ft.metaSaved ? String(ft.savedStep) : "";
  if (ft.resumedFrom != null) fe.view.dataset.resumedFrom = String(ft.resumedFrom);
  else delete fe.view.dataset.resumedFrom;
  delete fe.view.dataset.firstStepAfterResume;
}

async function createRun() {
  const model = current.model;
  if (!model) throw new Error("load a model first (Classify view)");
  needTrainer(model);
  const settings = readFtSettings();
  const data = snapshotData();
  run.setState("loading");
  run.setStatus(`Preparing the trainer (${settings.train})…`);
  const trainer = await model.trainer(trainerOptions(settings, data.train.length));
  setRun({
    trainer,
    owner: model,
    ownerName: current.name || "the model",
    runId: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    settings,
    data,
    saveEvery: settings.saveEvery === "auto" ? 1 : settings.saveEvery,
  });
  run.logitScale = model.logitScale;
  fe.resume.hidden = true;
  renderFtItems();
  run.setStatus("Measuring the starting point…");
  await ftEvaluate(0);
}

function ftStart() {
  return run.start(async () => {
    if (!ft.trainer) await createRun();
    if (run.step >= ft.settings.steps) {
      run.setState("done");
      run.setStatus(`This run has done its ${ft.settings.steps} steps. Reset to start another.`);
      return null;
    }
    return ftSteps();
  });
}

/** The run loop's hooks: the training set's batches, an evaluation every so many steps. */
function ftSteps() {
  const total = ft.settings.steps;
  const evalEvery = ft.settings.evalEvery;
  const tr = ft.trainer;
  return {
    total,
    batch(s) {
      const batch = batchAt(ft.data, ft.settings, s);
      run.setStatus(`Step ${s + 1} of ${total}…`);
      return batch;
    },
    train: (batch) => tr.step(batch.images, batch.texts),
    async after(r, batch, last) {
      if (ft.resumedFrom != null && ft.firstAfterResume == null) {
        ft.firstAfterResume = r.step;
        fe.view.dataset.firstStepAfterResume = String(r.step);
      }
      renderFtProgress();
      if (last || run.step % evalEvery === 0) await ftEvaluate(run.step);
    },
    nonFinite(msg, s) {
      showError(
        `Fine-tuning stopped at step ${s + 1}: ${msg.replace(/\.$/, "")}. The weights of step ${s} are kept: lower the learning rate and Continue, or Reset.`,
        "ft",
      );
      run.setStatus(`Stopped: non-finite loss at step ${s + 1}; the last good weights (step ${s}) are kept.`);
    },
    ended(done) {
      run.setStatus(
        done ? `Done: ${total} steps. Use the result below, or download it.` : `Stopped at step ${run.step} of ${total}. Continue, or use the result.`,
      );
    },
  };
}

async function ftReset() {
  await run.halt();
  await run.lastSave;
  const { trainer, owner } = ft;
  setRun({});
  try {
    trainer?.dispose?.();
  } catch {
    // already gone
  }
  if (owner && owner !== current.model) retireModel(owner);
  fe.saved.textContent = "—";
  clearError("ft");
  clearError("ft-save");
  try {
    await deleteSavedRun();
  } catch {
    // nothing saved
  }
  run.setState("idle");
  run.setStatus("Reset. Adjust the labels or settings and press Start.");
  renderFtItems();
  drawFt();
}

async function ftResume() {
  if (run.running || run.state === "loading") return;
  clearError("ft");
  let saved;
  try {
    saved = await readSavedRun();
  } catch (e) {
    showError(`The saved run could not be read: ${errorMessage(e)}`, "ft");
    return;
  }
  if (!saved) {
    fe.resume.hidden = true;
    showError("The saved run is incomplete and cannot be resumed.", "ft");
    return;
  }
  const { meta, ckpt } = saved;
  if (ft.trainer) await ftReset();
  fe.resume.hidden = true;
  run.setState("loading");
  run.setStatus(`Restoring the run at step ${ckpt.step}…`);
  let model = null;
  try {
    // The run's images come back into the Classify view too (they are the user's images).
    clearImages();
    const files = meta.items.map((it) => new File([it.blob], it.name, { type: it.blob.type || "application/octet-stream" }));
    const added = addImages(files);
    const items = meta.items.map((it, i) => {
      const im = added[i];
      im.ftEdited = true;
      im.ftLabel = it.label;
      im.ftHeld = it.held;
      return { id: im.id, name: im.name, blob: im.blob, url: im.url, label: it.label, held: it.held };
    });
    const data = finishData(items, meta.template);
    model = await loadInWorker(
      withTokenizerConfig({ config: meta.config, weights: ckpt.weights, tokenizer: meta.tokenizer, preprocessor: meta.preprocessor }, meta.tokenizerConfig),
      { backend: backendChoice() },
    );
    needTrainer(model);
    const trainer = await model.trainer(trainerOptions(meta.settings, data.train.length));
    await trainer.restore(ckpt.state);
    const idMap = new Map(meta.items.map((it, i) => [it.id, items[i].id]));
    setRun({
      trainer,
      owner: model,
      ownerName: `${meta.modelName || "the model"}, resumed at step ${ckpt.step}`,
      runId: meta.runId,
      settings: meta.settings,
      data,
      evals: ckpt.evals ?? [],
      preds: new Map((ckpt.preds ?? []).map(([id, p]) => [idMap.get(id) ?? id, p])),
      before: meta.before ?? null,
      now: ckpt.now ?? null,
      metaSaved: true,
      savedStep: ckpt.step,
      saveEvery: meta.settings.saveEvery === "auto" ? 1 : meta.settings.saveEvery,
      resumedFrom: ckpt.step,
    });
    run.step = ckpt.step;
    run.losses = ckpt.losses.slice(0, ckpt.step);
    run.times = ckpt.times ?? [];
    run.logitScale = ckpt.logitScale;
    model = null;
    fe.saved.textContent = `step ${ckpt.step}`;
    fe.template.value = meta.template;
    showFtSettings(meta.settings);
    renderFtItems();
    drawFt();
    if (run.step < ft.settings.steps) {
      run.setStatus(`Resumed at step ${run.step}; continuing…`);
      await run.loop(ftSteps());
    } else {
      run.setState("done");
      run.setStatus(`Restored the finished run (${run.step} steps).`);
    }
  } catch (e) {
    if (model) retireModel(model);
    run.fail(e);
  }
}

async function ftDiscard() {
  try {
    await deleteSavedRun();
  } catch {
    // nothing to delete
  }
  fe.resume.hidden = true;
}

// ---- using the result -------------------------------------------------------------------------

function alpha() {
  return Number(fe.alpha.value);
}

async function exportFiles() {
  const a = alpha();
  const tr = ft.trainer;
  return a < 1 ? tr.export({ wiseFt: a }) : tr.export();
}

async function withBusy(fn) {
  ft.busyAction = true;
  updateFtControls();
  try {
    await fn();
  } finally {
    ft.busyAction = false;
    updateFtControls();
  }
}

async function ftApply() {
  if (!ft.trainer) return;
  const a = alpha();
  const step = run.step;
  await withBusy(async () => {
    try {
      run.setStatus("Exporting the fine-tuned weights…");
      const files = await exportFiles();
      run.setStatus("Loading them for classification…");
      const t0 = performance.now();
      const model = await loadInWorker(
        withTokenizerConfig({ config: files.config, weights: files.weights, tokenizer: files.tokenizer, preprocessor: files.preprocessor }, files.tokenizerConfig),
        { backend: ft.owner?.backend ?? backendChoice() },
      );
      const name = `the fine-tuned model (step ${step}${a < 1 ? `, WiSE-FT α ${a.toFixed(2)}` : ""})`;
      adoptModel(model, name, (performance.now() - t0) / 1000);
      run.setStatus(`The Classify view now uses ${name}.`);
    } catch (e) {
      showError(`Could not use the fine-tuned model: ${errorMessage(e)}`, "ft");
    }
  });
}

const FILE_NAMES = [
  ["config", "config.json", "application/json"],
  ["weights", "model.safetensors", "application/octet-stream"],
  ["tokenizer", "tokenizer.json", "application/json"],
  ["preprocessor", "preprocessor_config.json", "application/json"],
  ["tokenizerConfig", "tokenizer_config.json", "application/json"], // SigLIP exports only
];

/** A files source with SigLIP's tokenizer_config.json when the export has one. */
function withTokenizerConfig(source, tokenizerConfig) {
  return tokenizerConfig ? { ...source, tokenizerConfig } : source;
}

async function ftDownload() {
  if (!ft.trainer) return;
  await withBusy(async () => {
    try {
      // The folder picker must be asked for while the click still counts as a user gesture.
      let dir = null;
      if (typeof window.showDirectoryPicker === "function") {
        try {
          dir = await window.showDirectoryPicker({ id: "webclip-finetuned", mode: "readwrite" });
        } catch (e) {
          if (e?.name === "AbortError") return;
          dir = null; // not allowed here: fall back to downloads
        }
      }
      run.setStatus("Exporting the model folder…");
      const files = await exportFiles();
      const blobs = FILE_NAMES.filter(([k]) => files[k] !== undefined).map(([k, name, type]) => [name, new Blob([files[k]], { type })]);
      if (dir) {
        for (const [name, blob] of blobs) {
          const handle = await dir.getFileHandle(name, { create: true });
          const w = await handle.createWritable();
          await w.write(blob);
          await w.close();
        }
        run.setStatus(`Saved ${blobs.map(([name]) => name).join(", ")} in “${dir.name}”.`);
      } else {
        for (const [name, blob] of blobs) {
          const url = URL.createObjectURL(blob);
          const a = h("a", { href: url, download: name, hidden: true });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60_000);
          await new Promise((ok) => setTimeout(ok, 300)); // browsers drop rapid-fire downloads
        }
        run.setStatus(`Downloaded the ${blobs.length} files of the model folder: put them in one folder to load it.`);
      }
    } catch (e) {
      showError(`Could not save the model folder: ${errorMessage(e)}`, "ft");
    }
  });
}

// ---- the app's side ---------------------------------------------------------------------------

export function init() {
  fe.add.addEventListener("click", pickImages);
  fe.start.addEventListener("click", ftStart);
  fe.stop.addEventListener("click", () => run.requestStop());
  fe.reset.addEventListener("click", () => ftReset().catch((e) => run.fail(e)));
  fe.resumeBtn.addEventListener("click", ftResume);
  fe.discardBtn.addEventListener("click", ftDiscard);
  fe.apply.addEventListener("click", ftApply);
  fe.download.addEventListener("click", ftDownload);
  fe.form.addEventListener("submit", (e) => e.preventDefault());
  fe.train.addEventListener("change", updateFtControls);
  fe.alpha.addEventListener("input", () => {
    const a = alpha();
    fe.alphaOut.textContent = `α = ${a.toFixed(2)}${a === 1 ? " (fine-tuned)" : a === 0 ? " (original)" : ""}`;
  });
  initTrainSet({ data: () => ft.data, preds: () => ft.preds, locked: () => !!ft.trainer || run.state === "loading" });
  redrawOnResize(fe.view, drawFt);
  onImagesChange(() => renderFtItems());
  register({
    holds: (model) => model === ft.owner,
    modelChanged: (change) => change.adopted && updateFtControls(),
  });
}

/** Called once the package is loaded: offers a saved run. */
export function start() {
  checkSavedRun();
  updateFtControls();
  renderFtItems();
}

/** The view became visible: canvases can be measured now. */
export function shown() {
  renderFtItems();
  drawFt();
}
