// The Learn view: a tiny CLIP trained from random weights on the shapes world (class-balanced
// batches, the native `webclip train-shapes` recipe), with the loss, a probe batch's similarity
// matrix, a 2-D map of its embeddings (PCA), the temperature, and zero-shot classification of
// the held-out colour × shape combinations; or the bundled, fully trained model for comparison.
// The model and its trainer live in a worker of their own (not the Classify view's model).
//
// Test hooks: #view-learn[data-state] ("idle" | "loading" | "running" | "stopped" | "done" |
// "error" | "pretrained") and [data-step]; #learn-loss[data-step][data-loss][data-losses];
// #learn-heatmap[data-rendered][data-step][data-hits]; #learn-map[data-rendered][data-step]
// [data-pair-cos][data-other-cos]; #learn-acc[data-acc]; #learn-temp[data-value];
// #learn-zeroshot[data-class][data-held-out][data-right] with li.zs-card[data-top][data-target]
// [data-rank]. `?steps=` sets "Stop after".

import { drawEmbeddingMap, drawHeatmap, imageDataCanvas, normalizeRows, pairStats, pca2 } from "./plots.js";
import { needTrainer, RunController } from "./run.js";
import { SHAPES_URL, backendChoice, loadInWorker, register } from "./state.js";
import {
  $,
  argmax,
  clearChart,
  clearError,
  errorMessage,
  fmtDuration,
  fmtLoss,
  formatPct,
  h,
  parseNumber,
  redrawOnResize,
  scoreRow,
  showBackend,
  showError,
} from "./ui.js";

// =============================================================================================
// THE RECIPE: how the Learn view trains is the native `webclip train-shapes` recipe, read from the
// core (`model.shapesRecipe()`, defined once in crates/webclip/src/shapes/recipe.rs): the
// learning-rate schedule (warmup, then a cosine) and the curriculum (clean drawings first, then a
// ramp to the cluttered world) span `recipe.steps`, and "Stop after" ends the run early. Each
// step's batch is the core's too (`model.shapesTrainingBatch({ seed, step })`), so stopping early
// is exactly the first N steps of `webclip train-shapes --seed S --stop-after N` (the browser
// test checks the losses step by step). Measured natively (10 images per class), held-out
// combinations named right on clean drawings at step 2000: 75 % (seed 1, the default),
// 87.5–92.5 % (seeds 0, 2, 3); at step 1500 55–57.5 % (seeds 1–3), hence the recipe's
// `stopAfter` of 2000. Runs with a schedule of their own do worse (1500 steps with their own
// cosine on clean drawings: 50 %; 600 steps with the whole recipe squeezed in: 31 %): the rate
// has decayed before shape is learnt.
let recipe = null;

/** The recipe, read from `model` the first time (every model of the package has the same one). */
async function readRecipe(model) {
  if (!recipe) {
    recipe = await model.shapesRecipe();
    applyRecipe();
  }
  return recipe;
}

/** The form's defaults and limits and the hint's numbers follow the recipe (a value set by
 * `?steps=` or typed by the user stays). */
function applyRecipe() {
  le.steps.max = String(recipe.steps);
  le.steps.defaultValue = String(recipe.stopAfter);
  le.batch.max = String(recipe.batchSize);
  le.batch.defaultValue = String(recipe.batchSize);
  le.lr.defaultValue = recipe.lr.toExponential();
  const clean = Math.floor(recipe.curriculum * recipe.steps);
  for (const el of le.view.querySelectorAll("[data-recipe]")) {
    el.textContent = String(el.dataset.recipe === "clean" ? clean : recipe[el.dataset.recipe]);
  }
  updateLearnControls();
}

const PROBE_SEED = 20240; // the fixed probe batch and galleries (not the training seed)
const PROBE_COUNT = 12;
const GALLERY_SEED = 777;
/** How the map draws each colour of the class list (presentation only: the classes come from the model). */
const COLOR_CSS = {
  red: "#e5484d",
  green: "#30a46c",
  blue: "#3e63dd",
  yellow: "#e2b500",
  purple: "#8e4ec6",
  orange: "#f76b15",
};

const le = {
  view: $("view-learn"),
  steps: $("learn-steps"),
  batch: $("learn-batch"),
  lr: $("learn-lr"),
  seed: $("learn-seed"),
  form: $("learn-form"),
  start: $("learn-start"),
  stop: $("learn-stop"),
  reset: $("learn-reset"),
  pretrained: $("learn-pretrained"),
  badge: $("learn-badge"),
  status: $("learn-status"),
  progress: $("learn-progress"),
  step: $("learn-step"),
  lossVal: $("learn-loss-val"),
  ms: $("learn-ms"),
  eta: $("learn-eta"),
  difficulty: $("learn-difficulty"),
  acc: $("learn-acc"),
  loss: $("learn-loss"),
  heat: $("learn-heatmap"),
  heatCaption: $("learn-heatmap-caption"),
  map: $("learn-map"),
  mapCaption: $("learn-map-caption"),
  temp: $("learn-temp"),
  tempMeter: $("learn-temp-meter"),
  zsForm: $("learn-zs-form"),
  query: $("learn-query"),
  zsDifficulty: $("learn-zs-difficulty"),
  try: $("learn-try"),
  zsSummary: $("learn-zs-summary"),
  zs: $("learn-zeroshot"),
};

/** What the run is about; the controller keeps the step, losses, timings and state. */
const learn = {
  mode: null, // "scratch" | "pretrained"
  model: null,
  trainer: null,
  settings: null,
  difficulty: null,
  classes: null, // [{ name, heldOut }] from the model
  colors: [], // the colours and shapes the class names combine, in their order
  shapes: [],
  prompts: null,
  probe: null,
  galleries: new Map(), // `${split}:${difficulty}` → batch
  heat: null, // { step, similarity, loss }
  map: null, // { step, coords, pair, other, components }
  mapBusy: null,
  mapAgain: false,
  acc: null, // { step, acc }
};
let shapesFiles = null;
let tryGen = 0; // bumps on every zero-shot request and reset: stale answers are dropped

const run = new RunController({
  view: le.view,
  stopButton: le.stop,
  status: le.status,
  errorKey: "learn",
  label: "Learn",
  hasRun: () => !!learn.trainer,
  controls: updateLearnControls,
});

function updateLearnControls() {
  const busy = run.state === "loading";
  le.start.disabled = busy || run.running;
  le.start.textContent = canContinue() ? "Continue" : "Start training";
  le.stop.disabled = !run.running;
  le.reset.disabled = busy || run.running || !learn.trainer;
  le.pretrained.disabled = busy || run.running;
  le.try.disabled = !learn.trainer || busy;
  const lock = learn.mode === "scratch" && !!learn.trainer;
  for (const input of [le.batch, le.lr, le.seed]) input.disabled = lock || busy;
  // "Stop after" can be raised between runs: the same run then goes on.
  le.steps.disabled = busy || run.running;
}

/** A stopped or finished from-scratch run that "Stop after" lets go further. */
function canContinue() {
  if (learn.mode !== "scratch" || !learn.trainer || run.running || run.step === 0) return false;
  try {
    return run.step < readStopAfter();
  } catch {
    return false;
  }
}

/** "Stop after", within the recipe's schedule once the recipe is known. */
function readStopAfter() {
  return parseNumber(le.steps.value, "Stop after", { min: 1, max: recipe?.steps ?? Infinity, integer: true });
}

function readLearnSettings() {
  return {
    steps: readStopAfter(),
    batch: parseNumber(le.batch.value, "Pairs per step", { min: 2, max: recipe?.batchSize ?? Infinity, integer: true }),
    lr: parseNumber(le.lr.value, "Learning rate", { min: 1e-12, max: 1 }),
    seed: parseNumber(le.seed.value, "Seed", { min: 0, max: 2 ** 31, integer: true }),
  };
}

async function shapesSource() {
  if (!shapesFiles) {
    const get = async (f) => {
      const r = await fetch(new URL(f, SHAPES_URL));
      if (!r.ok) throw new Error(`${f}: HTTP ${r.status}`);
      return r.text();
    };
    shapesFiles = Promise.all([get("config.json"), get("tokenizer.json")]).catch((e) => {
      shapesFiles = null;
      throw e;
    });
  }
  const [config, tokenizer] = await shapesFiles;
  return { config, tokenizer };
}

function disposeLearn() {
  run.renew();
  tryGen++;
  le.zs.replaceChildren();
  le.zs.dataset.class = "";
  le.zs.dataset.heldOut = "";
  le.zsSummary.textContent = "Train first (or show the fully trained model).";
  le.heatCaption.textContent = `A fixed probe batch of ${PROBE_COUNT} images (rows) and their captions (columns).`;
  le.mapCaption.textContent = "The probe images and captions, projected to 2-D.";
  try {
    learn.trainer?.dispose?.();
  } catch {
    // gone
  }
  try {
    learn.model?.dispose();
  } catch {
    // gone
  }
  Object.assign(learn, {
    mode: null,
    model: null,
    trainer: null,
    settings: null,
    difficulty: null,
    probe: null,
    galleries: new Map(),
    heat: null,
    map: null,
    acc: null,
  });
}

async function prepareProbe(model) {
  learn.classes = await model.shapesClasses();
  const words = learn.classes.map((c) => c.name.split(" "));
  learn.colors = [...new Set(words.map((w) => w[0]))];
  learn.shapes = [...new Set(words.map((w) => w.slice(1).join(" ")))];
  learn.prompts = learn.classes.map((c) => `a photo of a ${c.name}.`);
  learn.probe = await model.shapesBatch({ seed: PROBE_SEED, first: 0, count: PROBE_COUNT, difficulty: 0, split: "train" });
}

// ---- the run ----------------------------------------------------------------------------------

async function learnCreate() {
  let settings = readLearnSettings();
  disposeLearn();
  const gen = run.gen;
  run.setState("loading");
  run.setStatus("Creating a CLIP with random weights…");
  const { config, tokenizer } = await shapesSource();
  const model = await loadInWorker({ config, tokenizer, randomSeed: settings.seed }, { backend: backendChoice() });
  if (run.stale(gen)) {
    model.dispose();
    return false;
  }
  learn.model = model;
  needTrainer(model);
  const r = await readRecipe(model);
  settings = readLearnSettings(); // again, now within the recipe's limits
  learn.trainer = await model.trainer({
    train: "all",
    lr: settings.lr,
    weightDecay: r.weightDecay,
    warmup: r.warmup,
    steps: r.steps,
    gradClip: r.gradClip,
    batchSize: settings.batch,
    seed: settings.seed,
  });
  learn.mode = "scratch";
  learn.settings = settings;
  run.logitScale = model.logitScale;
  await prepareProbe(model);
  if (run.stale(gen)) return false;
  run.setStatus("Measuring the random starting point…");
  await learnHeatmap();
  await learnHeldAcc();
  await learnMap();
  drawLearn();
  return !run.stale(gen);
}

function learnStart() {
  return run.start(async () => {
    if (canContinue()) learn.settings.steps = readStopAfter();
    else if (!(await learnCreate())) return null;
    return learnSteps();
  });
}

/** The run loop's hooks: batches of the recipe, measurements every so many steps. */
function learnSteps() {
  const { settings, model, trainer } = learn;
  const heatEvery = Math.max(1, Math.round(settings.steps / 60));
  const accEvery = Math.max(5, Math.round(settings.steps / 12));
  const mapEvery = Math.max(10, Math.round(settings.steps / 12));
  return {
    total: settings.steps,
    // `s` steps are done: this is the batch of step s + 1, with its curriculum difficulty.
    batch: (s) => model.shapesTrainingBatch({ seed: settings.seed, step: s + 1, batchSize: settings.batch }),
    train: (batch) => trainer.step(batch.images, batch.captions),
    async after(r, batch, last) {
      learn.difficulty = batch.difficulty;
      renderLearnProgress();
      run.setStatus(`Step ${run.step} of ${settings.steps}: loss ${fmtLoss(r.loss)}.`);
      if (last || run.step % heatEvery === 0) await learnHeatmap();
      if (last || run.step % accEvery === 0) await learnHeldAcc();
      if (last) await learnMap();
      else if (run.step % mapEvery === 0) learnMap().catch(() => {});
    },
    nonFinite(msg, s) {
      showError(
        `Training stopped at step ${s + 1}: ${msg.replace(/\.$/, "")}. The weights of step ${s} are kept; try a lower learning rate.`,
        "learn",
      );
      run.setStatus(`Stopped: non-finite loss at step ${s + 1}.`);
    },
    finish: () => learnMap(),
    ended(done) {
      if (done) {
        const t = (performance.now() - run.startedAt) / 1000;
        run.setStatus(
          `Done: ${settings.steps} steps in ${t.toFixed(1)} s. Try a held-out combination below — or compare with the fully trained model.`,
        );
        if (le.query.value.trim()) learnTry().catch(() => {});
      } else {
        run.setStatus(`Stopped at step ${run.step} of ${settings.steps}.`);
      }
    },
  };
}

function learnStop() {
  run.requestStop();
}

async function learnReset() {
  await run.halt();
  disposeLearn();
  run.setState("idle");
  run.setStatus("Reset. Press “Start training” for a new run.");
  drawLearn();
}

async function learnPretrained() {
  await run.halt();
  clearError("learn");
  disposeLearn();
  const gen = run.gen;
  run.setState("loading");
  run.setStatus(
    recipe
      ? `Loading the bundled model (trained natively: ${recipe.steps} steps of ${recipe.batchSize} pairs)…`
      : "Loading the bundled model (trained natively)…",
  );
  try {
    const model = await loadInWorker(SHAPES_URL, { backend: backendChoice() });
    if (run.stale(gen)) {
      model.dispose();
      return;
    }
    learn.model = model;
    needTrainer(model);
    await readRecipe(model);
    learn.trainer = await model.trainer({ train: "projections" });
    learn.mode = "pretrained";
    learn.settings = null;
    run.logitScale = model.logitScale;
    await prepareProbe(model);
    await learnHeatmap();
    await learnHeldAcc();
    await learnMap();
    if (run.stale(gen)) return;
    drawLearn();
    run.setState("pretrained");
    run.setStatus(
      `The bundled model, trained for ${recipe.steps} steps: a diagonal matrix, tight pairs, a high temperature. Try a held-out combination below.`,
    );
    if (le.query.value.trim()) await learnTry();
  } catch (e) {
    run.fail(e);
  }
}

// ---- measurements -----------------------------------------------------------------------------

async function learnHeatmap() {
  const { trainer, probe } = learn;
  const gen = run.gen;
  const step = run.step;
  const ev = await trainer.evaluate(probe.images, probe.captions);
  if (run.stale(gen)) return;
  learn.heat = { step, similarity: ev.similarity, loss: ev.loss };
  drawLearnHeatmap();
}

async function gallery(split, difficulty) {
  const key = `${split}:${difficulty}`;
  if (!learn.galleries.has(key)) {
    const model = learn.model;
    const count = split === "heldout" ? 24 : 80; // 6 per held-out class; 4 per seen class
    const p = model.shapesBatch({ seed: GALLERY_SEED, first: 0, count, difficulty, split });
    learn.galleries.set(key, p);
    p.catch(() => learn.galleries.delete(key));
  }
  return learn.galleries.get(key);
}

/** Probabilities over the 24 class prompts for up to 24 images (current weights). */
async function zeroShot(images) {
  const n = learn.prompts.length;
  const imgs = Array.from({ length: n }, (_, i) => images[i % images.length]);
  const ev = await learn.trainer.evaluate(imgs, learn.prompts);
  const scale = Math.exp(Math.min(Math.log(100), Number.isFinite(run.logitScale) ? run.logitScale : Math.log(1 / 0.07)));
  return images.map((_, i) => softmax(ev.similarity[i].slice(0, n).map((v) => scale * v)));
}

function softmax(xs) {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

async function learnHeldAcc() {
  const gen = run.gen;
  const step = run.step;
  const g = await gallery("heldout", 0);
  const probs = await zeroShot(g.images.slice(0, 24));
  if (run.stale(gen)) return;
  const names = learn.classes.map((c) => c.name);
  let right = 0;
  probs.forEach((p, i) => {
    if (names[argmax(p)] === g.classes[i]) right++;
  });
  learn.acc = { step, acc: right / probs.length, n: probs.length };
  renderLearnProgress();
}

/** The probe's embeddings on the PCA plane; one at a time (a request meanwhile runs once more after). */
async function learnMap() {
  if (learn.mapBusy) {
    learn.mapAgain = true;
    return learn.mapBusy;
  }
  const once = async () => {
    const gen = run.gen;
    const step = run.step;
    const { probe } = learn;
    let embedder = null;
    let temp = null;
    try {
      if (learn.mode === "pretrained" || step === 0) {
        const model = learn.model;
        embedder = { images: (x) => model.embedImages(x), texts: (x) => model.embedTexts(x) };
      } else {
        // The trainer's current weights, as a small CPU model of their own (the trainer keeps going).
        const files = await learn.trainer.export();
        if (run.stale(gen)) return;
        temp = await loadInWorker(
          { config: files.config, weights: files.weights, tokenizer: files.tokenizer, preprocessor: files.preprocessor },
          { backend: "cpu" },
        );
        embedder = { images: (x) => temp.embedImages(x), texts: (x) => temp.embedTexts(x) };
      }
      const [ie, te] = await Promise.all([embedder.images(probe.images), embedder.texts(probe.captions)]);
      if (run.stale(gen)) return;
      const imgs = normalizeRows(ie);
      const txts = normalizeRows(te);
      const pca = pca2([...imgs, ...txts], learn.map?.components);
      const n = imgs.length;
      const stats = pairStats(imgs, txts);
      learn.map = {
        step,
        images: pca.coords.slice(0, n),
        texts: pca.coords.slice(n),
        components: pca.components,
        explained: (pca.variance[0] + pca.variance[1]) / (pca.total || 1),
        pair: stats.pair,
        other: stats.other,
      };
      drawLearnMap();
    } finally {
      temp?.dispose();
    }
  };
  learn.mapBusy = (async () => {
    try {
      do {
        learn.mapAgain = false;
        await once();
      } while (learn.mapAgain);
    } finally {
      learn.mapBusy = null;
    }
  })();
  return learn.mapBusy;
}

// ---- drawing ----------------------------------------------------------------------------------

function renderLearnProgress() {
  const total = learn.settings?.steps ?? 0;
  const bs = learn.settings?.batch ?? recipe?.batchSize ?? 0;
  run.drawLoss({
    canvas: le.loss,
    total,
    reference: { value: Math.log(bs), label: `random guessing: ln ${bs} = ${Math.log(bs).toFixed(2)}` },
    empty:
      learn.mode === "pretrained"
        ? `The bundled model was trained natively (${recipe?.steps} steps); its curve is not stored.`
        : "Press “Start training”.",
    lossOut: le.lossVal,
    msOut: le.ms,
  });
  le.step.textContent = learn.mode === "scratch" ? `${run.step} / ${total}` : learn.mode === "pretrained" ? `${recipe?.steps} (native)` : "—";
  if (run.running && run.step > run.startStep) {
    const per = (performance.now() - run.startedAt) / (run.step - run.startStep);
    le.eta.textContent = fmtDuration(per * (total - run.step));
  } else {
    le.eta.textContent = "—";
  }
  le.difficulty.textContent = learn.difficulty == null ? "—" : learn.difficulty.toFixed(2);
  le.progress.max = Math.max(1, total);
  le.progress.value = learn.mode === "pretrained" ? le.progress.max : run.step;
  le.acc.textContent = learn.acc ? `${formatPct(learn.acc.acc)} of ${learn.acc.n} (chance ≈ 4 %)` : "—";
  le.acc.dataset.acc = learn.acc ? String(learn.acc.acc) : "";
  const t = Number.isFinite(run.logitScale) ? Math.exp(run.logitScale) : NaN;
  le.temp.textContent = Number.isFinite(t) ? `×${t.toFixed(1)}` : "—";
  le.temp.dataset.value = Number.isFinite(t) ? String(t) : "";
  le.tempMeter.value = Number.isFinite(t) ? Math.max(1, Math.min(100, t)) : 1;
  showBackend(le.badge, learn.model, "not started");
}

function drawLearnHeatmap() {
  const hm = learn.heat;
  if (!hm || !learn.probe) {
    clearChart(le.heat);
    return;
  }
  const thumbs = learn.probe.images.map(imageDataCanvas);
  const stats = drawHeatmap(le.heat, hm.similarity, {
    thumbs,
    labels: learn.probe.captions,
    range: "auto",
    title: "cosine similarity; outlined: each image's pick",
  });
  le.heat.dataset.rendered = "true";
  le.heat.dataset.step = String(hm.step);
  le.heat.dataset.hits = String(stats.hits);
  le.heat.setAttribute(
    "aria-label",
    `Similarity matrix at step ${hm.step}: ${stats.hits} of ${stats.rows} images pick their own caption; mean cosine on the diagonal ${stats.diag.toFixed(2)}, elsewhere ${stats.off.toFixed(2)}`,
  );
  le.heatCaption.textContent = `Step ${hm.step}: ${stats.hits} of ${stats.rows} images pick their own caption (diagonal ${stats.diag.toFixed(2)} vs. ${stats.off.toFixed(2)} elsewhere; probe loss ${fmtLoss(hm.loss)}).`;
}

function drawLearnMap() {
  const m = learn.map;
  if (!m || !learn.probe) {
    clearChart(le.map);
    return;
  }
  const colors = learn.probe.classes.map((c) => COLOR_CSS[c.split(" ")[0]] ?? "#888");
  drawEmbeddingMap(le.map, { images: m.images, texts: m.texts }, {
    thumbs: learn.probe.images.map(imageDataCanvas),
    colors,
  });
  le.map.dataset.rendered = "true";
  le.map.dataset.step = String(m.step);
  le.map.dataset.pairCos = String(m.pair);
  le.map.dataset.otherCos = String(m.other);
  le.map.setAttribute(
    "aria-label",
    `Embedding map at step ${m.step}: mean cosine of matching image–caption pairs ${m.pair.toFixed(2)}, of other combinations ${m.other.toFixed(2)}`,
  );
  le.mapCaption.textContent = `Step ${m.step}: matching pairs at cosine ${m.pair.toFixed(2)} on average, other combinations ${m.other.toFixed(2)} (the plane shows ${Math.round(m.explained * 100)} % of the spread).`;
}

function drawLearn() {
  renderLearnProgress();
  drawLearnHeatmap();
  drawLearnMap();
}

// ---- zero-shot box ----------------------------------------------------------------------------

/** "a purple star", "an orange circle". */
function withArticle(name) {
  return `${/^[aeiou]/i.test(name) ? "an" : "a"} ${name}`;
}

/** The colour and shape named in `text`, and their class name (or null). */
function parseClass(text) {
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  const color = learn.colors.find((c) => words.includes(c));
  const shape = learn.shapes.find((s) => words.includes(s) || words.includes(`${s}s`));
  return { color, shape, name: color && shape ? `${color} ${shape}` : null };
}

async function learnTry() {
  if (!learn.trainer || !learn.classes) return;
  const gen = ++tryGen;
  const q = parseClass(le.query.value);
  if (!q.name) {
    le.zs.replaceChildren();
    le.zs.dataset.class = "";
    le.zsSummary.textContent = `Name a colour (${learn.colors.join(", ")}) and a shape (${learn.shapes.join(", ")}).`;
    return;
  }
  const cls = learn.classes.find((c) => c.name === q.name);
  const difficulty = Number(le.zsDifficulty.value);
  le.zsSummary.textContent = `Classifying pictures of ${withArticle(q.name)}…`;
  try {
    const g = await gallery(cls.heldOut ? "heldout" : "train", difficulty);
    const idx = g.classes.map((c, i) => [c, i]).filter(([c]) => c === q.name).map(([, i]) => i).slice(0, 4);
    if (!idx.length) throw new Error(`no pictures of ${withArticle(q.name)} in the gallery`);
    const images = idx.map((i) => g.images[i]);
    const probs = await zeroShot(images);
    if (gen !== tryGen) return;
    const names = learn.classes.map((c) => c.name);
    let right = 0;
    const cards = images.map((img, k) => {
      const p = probs[k];
      const order = names.map((n, j) => [n, p[j]]).sort((a, b) => b[1] - a[1]);
      const top = order[0][0];
      if (top === q.name) right++;
      const rank = order.findIndex(([n]) => n === q.name) + 1;
      const thumb = imageDataCanvas(img);
      const cv = h("canvas", { class: "zs-thumb", width: String(img.width), height: String(img.height), role: "img", "aria-label": `picture ${k + 1} of ${withArticle(q.name)}` });
      cv.getContext("2d").drawImage(thumb, 0, 0);
      const rows = order.slice(0, 3).map(([n, pr], i) => scoreRow(n, pr, { top: i === 0, target: n === q.name }));
      const target = p[names.indexOf(q.name)];
      return h(
        "li",
        { class: `zs-card ${top === q.name ? "right" : "wrong"}`, dataset: { top, target: String(target), rank: String(rank) } },
        cv,
        h("ol", { class: "scores", "aria-label": `Top 3 names for picture ${k + 1}` }, ...rows),
        rank > 3 ? h("p", { class: "card-meta", text: `“${q.name}”: ${formatPct(target)} (rank ${rank})` }) : null,
      );
    });
    le.zs.replaceChildren(...cards);
    le.zs.dataset.class = q.name;
    le.zs.dataset.heldOut = String(cls.heldOut);
    le.zs.dataset.right = String(right);
    const what = learn.mode === "pretrained" ? "the fully trained model" : `the model at step ${run.step}`;
    le.zsSummary.textContent = cls.heldOut
      ? `${right} of ${images.length} pictures of ${withArticle(q.name)} are named “${q.name}” by ${what} — a combination it never saw in training (chance: 1 in 24).`
      : `${right} of ${images.length} pictures of ${withArticle(q.name)} are named correctly by ${what}. (${withArticle(q.name).replace(/^a/, "A")} is a seen combination; try a held-out one: ${learn.classes.filter((c) => c.heldOut).map((c) => c.name).join(", ")}.)`;
  } catch (e) {
    if (gen !== tryGen) return;
    le.zsSummary.textContent = `Could not classify: ${errorMessage(e)}`;
  }
}

// ---- the app's side ---------------------------------------------------------------------------

/** Wires the view; its form's defaults and limits follow the recipe once a model can say it. */
export function init() {
  le.start.addEventListener("click", learnStart);
  le.steps.addEventListener("input", updateLearnControls);
  le.stop.addEventListener("click", learnStop);
  le.reset.addEventListener("click", () => learnReset().catch((e) => run.fail(e)));
  le.pretrained.addEventListener("click", learnPretrained);
  le.form.addEventListener("submit", (e) => e.preventDefault());
  le.zsForm.addEventListener("submit", (e) => {
    e.preventDefault();
    learnTry();
  });
  le.zsDifficulty.addEventListener("change", () => learnTry());
  redrawOnResize(le.view, drawLearn);
  register({
    holds: (model) => model === learn.model,
    // Any model of the package knows the recipe: the first one the page loads fills the form.
    modelChanged: ({ model }) => {
      if (model && !recipe) readRecipe(model).catch(() => {});
    },
  });
}

/** Query parameters: ?steps= ("Stop after"). */
export function configure(params) {
  const steps = params.get("steps");
  if (steps && /^\d+$/.test(steps) && Number(steps) > 0) le.steps.value = steps;
}

/** Called once the package is loaded. */
export function start() {
  updateLearnControls();
}

/** The view became visible: canvases can be measured now. */
export function shown() {
  drawLearn();
}
