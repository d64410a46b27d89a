// A plain ESM app using the built package exactly as a consumer would (the server root is the
// repository root). tests/e2e/consumer.test.mjs calls window.runConsumer(options) and checks the
// numbers against tests/fixtures/expected/tiny-legacy.json.
import { loadModel, loadModelInWorker } from "/pkg/dist/index.js";

const MODEL = "/tests/fixtures/models/tiny-legacy/";
const IMAGES = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"];

async function get(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

const image = async (name) => (await get(`/tests/fixtures/images/${name}`)).blob();

/** The checkpoint's files as data, each in a different accepted form. */
async function filesSource() {
  return {
    config: await (await get(MODEL + "config.json")).json(), // plain object
    weights: await (await get(MODEL + "model.safetensors")).arrayBuffer(), // ArrayBuffer
    tokenizer: await (await get(MODEL + "tokenizer.json")).text(), // string
    preprocessor: new Uint8Array(await (await get(MODEL + "preprocessor_config.json")).arrayBuffer()), // bytes
  };
}

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { isError: e instanceof Error, name: e?.name, message: String(e?.message ?? e) };
  }
}

/**
 * options: backend ("auto" | "webgpu" | "cpu"), precision ("auto" | "f32" | "f16"), worker (loadModelInWorker), source ("url" |
 * "object"), cache, texts, labels, rankQuery, loadOnly (load and embed one image only).
 */
window.runConsumer = async function runConsumer(options = {}) {
  const { backend = "auto", precision, worker = false, source = "url", cache = false, loadOnly = false } = options;
  const progress = [];
  const t0 = performance.now();
  const src = source === "object" ? await filesSource() : MODEL;
  const load = worker ? loadModelInWorker : loadModel;
  const model = await load(src, { backend, ...(precision ? { precision } : {}), cache, onProgress: (p) => progress.push(p) });
  const out = {
    loadSeconds: (performance.now() - t0) / 1000,
    progress,
    backend: model.backend,
    precision: model.precision,
    adapterHasF16: (await navigator.gpu?.requestAdapter())?.features.has("shader-f16") ?? false,
    adapter: model.adapter,
    deviceNote: model.deviceNote ?? null,
    embeddingDim: model.embeddingDim,
    imageSize: model.imageSize,
    logitScale: model.logitScale,
    inWorker: model.inWorker,
  };
  const images = await Promise.all(IMAGES.map(image));
  const timed = async (name, f) => {
    const t = performance.now();
    const r = await f();
    (out.seconds ??= {})[name] = (performance.now() - t) / 1000;
    return r;
  };
  const rows = (embs) => embs.map((e) => Array.from(e));

  if (loadOnly) {
    out.imageEmbeds = rows(await timed("embedImages", () => model.embedImages(images.slice(0, loadOnly === true ? 1 : images.length))));
    if (loadOnly === "embed") out.textEmbeds = rows(await model.embedTexts(options.texts ?? []));
    model.dispose();
    return out;
  }

  out.imageEmbeds = rows(await timed("embedImages", () => model.embedImages(images)));
  out.textEmbeds = rows(await timed("embedTexts", () => model.embedTexts(options.texts ?? [])));
  out.zeroshotDefault = await timed("classifyDefault", () => model.classify(images, options.labels ?? []));
  out.zeroshotCifar = await timed("classifyCifar", () => model.classify(images, options.labels ?? [], { templates: "cifar" }));
  out.top2 = await model.classify(images.slice(0, 1), options.labels ?? [], { topK: 2 });
  out.rank = await timed("rank", () => model.rank(options.rankQuery ?? "", images));

  // The other input kinds: encoded bytes (ArrayBuffer, Uint8Array) and decoded pixels (ImageData,
  // ImageBitmap; the browser's decoder, so compared loosely by the test).
  const png = await images[1].arrayBuffer();
  const bitmap = await createImageBitmap(images[1]);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const imageData = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  const kinds = await model.embedImages([png, new Uint8Array(png.slice(0)), imageData, bitmap]);
  out.inputKinds = { embeds: rows(kinds), arrayBufferDetached: png.byteLength === 0 };

  // Errors: a file that is not an image (a core error naming the image), then the model still works.
  out.badImage = await failure(model.embedImages([images[0], await image("not_an_image.jpg")]));
  out.afterBad = rows(await model.embedImages([images[0]]));
  out.typeError = await failure(model.embedImages([images[0], 42]));
  out.noLabels = await failure(model.classify(images.slice(0, 1), []));
  out.empty = {
    embedImages: (await model.embedImages([])).length,
    embedTexts: (await model.embedTexts([])).length,
    classify: (await model.classify([], ["cat"])).length,
    rank: (await model.rank("cat", [])).length,
  };
  // Concurrent calls are serialised, each with its own result.
  const [a, b] = await Promise.all([model.embedImages([images[1]]), model.embedTexts([options.texts?.[0] ?? "cat"])]);
  out.concurrent = { image: Array.from(a[0]), text: Array.from(b[0]) };
  out.memoryBytes = await model.memoryBytes();
  model.dispose();
  out.afterDispose = await failure(model.embedTexts(["cat"]));
  document.getElementById("out").textContent = JSON.stringify({ backend: out.backend, seconds: out.seconds }, null, 1);
  return out;
};

/**
 * A SigLIP folder (tests/fixtures/models/siglip-tiny) by URL: its family, sigmoid scores with
 * Korean templates, multilingual text and image embeddings, and the sigmoid-loss trainer.
 * tests/e2e/consumer.test.mjs checks the numbers against expected/siglip-tiny.json.
 */
window.runSiglip = async function runSiglip({ backend, worker = false, images: names, texts, labels, templates }) {
  const load = worker ? loadModelInWorker : loadModel;
  const model = await load("/tests/fixtures/models/siglip-tiny/", { backend });
  const images = await Promise.all(names.map(image));
  const out = {
    backend: model.backend,
    family: model.family,
    scoring: model.scoring,
    logitScale: model.logitScale,
    logitBias: model.logitBias,
    imageEmbeds: (await model.embedImages(images)).map((e) => Array.from(e)),
    textEmbeds: (await model.embedTexts(texts)).map((e) => Array.from(e)),
    classify: await model.classify(images, labels, { templates }),
  };
  const trainer = await model.trainer({ train: "projections", lr: 1e-4 });
  out.steps = [];
  for (let s = 0; s < 2; s++) out.steps.push(await trainer.step(images.slice(0, 2), ["a photo of a cat", "커피 한 잔"]));
  out.badLoss = await failure(model.trainer({ loss: "hinge" }));
  const files = await trainer.export();
  out.exported = { files: Object.keys(files).sort(), tokenizerConfig: JSON.parse(files.tokenizerConfig ?? "{}") };
  model.dispose();
  return out;
};
