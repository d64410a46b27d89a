// A page using the built package's training API as a consumer would, driven step by step by
// tests/e2e/train.test.mjs: `window.T.call(method, args)` runs one operation on models, trainers
// and data kept here by name, and answers `{ value }` or `{ error: { name, message } }`.
import { loadModel, loadModelInWorker } from "/pkg/dist/index.js";

const TINY = "/tests/fixtures/models/tiny-legacy/";
const SHAPES = "/www/models/shapes/";

async function get(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

const models = new Map();
const trainers = new Map();
const files = new Map(); // exported folders by name
const states = new Map(); // saved optimiser states by name
const batches = new Map(); // { images, texts } by name

/** Fetched fixture photos with captions: `{ photos: ["chelsea.png", …], texts: […] }`. */
async function photoBatch({ photos, texts }) {
  const images = await Promise.all(photos.map(async (name) => (await get(`/tests/fixtures/images/${name}`)).blob()));
  return { images, texts };
}

/** A batch argument: a stored batch's name, or photos with captions. */
async function batch(arg) {
  if (typeof arg === "string") {
    const b = batches.get(arg);
    if (!b) throw new Error(`no batch ${arg}`);
    return b;
  }
  return photoBatch(arg);
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function lookup(map, name, what) {
  const v = map.get(name);
  if (!v) throw new Error(`no ${what} ${name}`);
  return v;
}

const ops = {
  /** source: "tiny" (URL), "tiny-files" (files object), "random-shapes" ({config, tokenizer, randomSeed}), or { exported: name }. */
  async load({ name, source, backend = "cpu", worker = false, randomSeed = 1 }) {
    let src;
    if (source === "tiny") src = TINY;
    else if (source === "random-shapes") {
      src = { config: await (await get(SHAPES + "config.json")).text(), tokenizer: await (await get(SHAPES + "tokenizer.json")).arrayBuffer(), randomSeed };
    } else if (source?.exported) src = lookup(files, source.exported, "export");
    else src = source;
    const t0 = performance.now();
    const model = await (worker ? loadModelInWorker : loadModel)(src, { backend });
    models.set(name, model);
    return { backend: model.backend, inWorker: model.inWorker, embeddingDim: model.embeddingDim, seconds: (performance.now() - t0) / 1000 };
  },

  async trainer({ name, model, options }) {
    trainers.set(name, await lookup(models, model, "model").trainer(options));
    return { steps: trainers.get(name).steps };
  },

  /** `n` steps on one batch: results with timings, and the `steps` mirror after each. */
  async steps({ trainer, batch: b, n = 1 }) {
    const t = lookup(trainers, trainer, "trainer");
    const { images, texts } = await batch(b);
    const out = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await t.step(images, texts);
      out.push({ ...r, seconds: (performance.now() - t0) / 1000, steps: t.steps });
    }
    return out;
  },

  async step({ trainer, images, texts }) {
    return lookup(trainers, trainer, "trainer").step(images, texts);
  },

  async evaluate({ trainer, batch: b }) {
    const { images, texts } = await batch(b);
    return lookup(trainers, trainer, "trainer").evaluate(images, texts);
  },

  /** Stores the export as `name`; with `bytes`, answers the files with the weights in base64. */
  async export({ trainer, name, options, bytes = false }) {
    const f = await lookup(trainers, trainer, "trainer").export(options);
    files.set(name, f);
    const out = { size: f.weights.byteLength, isUint8Array: f.weights instanceof Uint8Array, config: f.config };
    if (bytes) Object.assign(out, { weights: base64(f.weights), tokenizer: f.tokenizer, preprocessor: f.preprocessor });
    return out;
  },

  async saveState({ trainer, name }) {
    const s = await lookup(trainers, trainer, "trainer").saveState();
    states.set(name, s);
    return { size: s.byteLength, isUint8Array: s instanceof Uint8Array };
  },

  async restore({ trainer, name }) {
    const t = lookup(trainers, trainer, "trainer");
    await t.restore(lookup(states, name, "state"));
    return { steps: t.steps };
  },

  async reset({ trainer }) {
    const t = lookup(trainers, trainer, "trainer");
    await t.reset();
    return { steps: t.steps };
  },

  async embed({ model, batch: b }) {
    const m = lookup(models, model, "model");
    const { images, texts } = await batch(b);
    return {
      images: (await m.embedImages(images)).map((e) => Array.from(e)),
      texts: (await m.embedTexts(texts)).map((e) => Array.from(e)),
    };
  },

  /** Stores a shapes-world batch as `name`; answers what it holds. */
  async shapesBatch({ model, name, options }) {
    const r = await lookup(models, model, "model").shapesBatch(options);
    batches.set(name, { images: r.images, texts: r.captions });
    return {
      count: r.images.length,
      imageData: r.images.every((i) => i instanceof ImageData),
      sizes: r.images.map((i) => [i.width, i.height]),
      opaque: r.images.every((i) => i.data.length === i.width * i.height * 4),
      captions: r.captions,
      classes: r.classes,
    };
  },

  async shapesClasses({ model }) {
    return lookup(models, model, "model").shapesClasses();
  },

  async disposeTrainer({ trainer }) {
    lookup(trainers, trainer, "trainer").dispose();
  },

  async disposeModel({ model }) {
    lookup(models, model, "model").dispose();
    models.delete(model);
  },

  async memory({ model }) {
    return lookup(models, model, "model").memoryBytes();
  },

  /** Tries `loadModel` on a files source made of these fields (for the source checks). */
  async badSource({ fields }) {
    const src = {};
    if (fields.includes("config")) src.config = await (await get(SHAPES + "config.json")).text();
    if (fields.includes("tokenizer")) src.tokenizer = "{}";
    if (fields.includes("weights")) src.weights = new Uint8Array(8);
    if (fields.includes("randomSeed")) src.randomSeed = 1;
    if (fields.includes("badSeed")) src.randomSeed = -1;
    if (fields.includes("preprocessor")) src.preprocessor = "{}";
    await loadModel(src, { backend: "cpu" });
  },
};

/** Inputs for error tests that can't be sent from node: a non-image, a number. */
ops.badStep = async ({ trainer, kind }) => {
  const t = lookup(trainers, trainer, "trainer");
  const { images, texts } = await photoBatch({ photos: ["chelsea.png", "coffee.png"], texts: ["a cat", "coffee"] });
  if (kind === "notImage") {
    const junk = await (await get("/tests/fixtures/images/not_an_image.jpg")).blob();
    return t.step([images[0], junk], texts);
  }
  if (kind === "number") return t.step([images[0], 42], texts);
  if (kind === "onePair") return t.step(images.slice(0, 1), texts.slice(0, 1));
  if (kind === "mismatch") return t.step(images, texts.slice(0, 1));
  if (kind === "textNumber") return t.step(images, ["a cat", 7]);
  if (kind === "garbageState") return t.restore(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  if (kind === "stateNumber") return t.restore(42);
  throw new Error(`unknown kind ${kind}`);
};

window.T = {
  async call(method, args = {}) {
    try {
      return { value: await ops[method](args) };
    } catch (e) {
      return { error: { name: e?.name, message: String(e?.message ?? e), isError: e instanceof Error } };
    }
  },
};
window.trainPageReady = true;
