// The npm package (pkg/, built: pkg/dist + pkg/wasm) used by a plain ESM page, in headless
// Chromium: numbers against the reference fixture (tests/fixtures/expected/tiny-legacy.json,
// HF transformers on the same random-weight checkpoint), on WebGPU (SwiftShader) and the CPU
// backend, on the main thread and through loadModelInWorker; errors, progress and the cache.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { launch, open } from "./harness.mjs";

const expected = JSON.parse(readFileSync(new URL("../fixtures/expected/tiny-legacy.json", import.meta.url), "utf8"));
const IMAGES = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"];
const INDEX = IMAGES.map((name) => {
  const i = expected.images.indexOf(name);
  assert.ok(i >= 0, `${name} is in the fixture`);
  return i;
});
const PAGE = "tests/e2e/consumer/index.html";
const TIMEOUT = 10 * 60 * 1000;

const RUN = { texts: expected.texts, labels: expected.labels, rankQuery: expected.rank_query };

function close(actual, want, what) {
  assert.equal(actual.length, want.length, `${what}: length`);
  let maxAbs = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < want.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(actual[i] - want[i]));
    dot += actual[i] * want[i];
    na += actual[i] * actual[i];
    nb += want[i] * want[i];
  }
  const cos = dot / Math.sqrt(na * nb);
  assert.ok(maxAbs <= 1e-3 || cos >= 0.9999, `${what}: max |Δ| ${maxAbs.toExponential(2)}, cosine ${cos}`);
  return maxAbs;
}

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

function checkClassify(result, want, what) {
  assert.equal(result.length, IMAGES.length, `${what}: one result per image`);
  result.forEach((scores, i) => {
    assert.equal(scores.length, expected.labels.length, `${what}[${i}]: every label`);
    for (let j = 1; j < scores.length; j++) assert.ok(scores[j - 1].prob >= scores[j].prob, `${what}[${i}]: sorted by prob`);
    const byLabel = new Map(scores.map((s) => [s.label, s.prob]));
    expected.labels.forEach((label, j) => {
      const p = byLabel.get(label);
      const w = want[INDEX[i]][j];
      assert.ok(Math.abs(p - w) <= 1e-3, `${what}[${IMAGES[i]}][${label}]: ${p} vs ${w}`);
    });
  });
}

/** Everything runConsumer returns for a full run, against the fixture. */
function checkRun(out, label) {
  assert.equal(out.embeddingDim, expected.image_embeds[0].length);
  assert.ok(Math.abs(out.logitScale - expected.logit_scale) <= 1e-5, `logitScale ${out.logitScale} (the raw parameter)`);
  assert.equal(out.imageSize.length, 2);

  let worst = 0;
  out.imageEmbeds.forEach((row, i) => (worst = Math.max(worst, close(row, expected.image_embeds[INDEX[i]], `image ${IMAGES[i]}`))));
  assert.equal(out.textEmbeds.length, expected.texts.length);
  out.textEmbeds.forEach((row, i) => (worst = Math.max(worst, close(row, expected.text_embeds[i], `text ${i}`))));

  checkClassify(out.zeroshotDefault, expected.zeroshot_default, "classify default");
  checkClassify(out.zeroshotCifar, expected.zeroshot_cifar, "classify cifar");
  assert.equal(out.top2[0].length, 2, "topK: 2");
  assert.deepEqual(out.top2[0].map((s) => s.label), out.zeroshotDefault[0].slice(0, 2).map((s) => s.label));

  // The fixture ranks all its images; cosines don't depend on the others, so keep ours in order.
  const want = expected.rank.filter((r) => INDEX.includes(r.index)).map((r) => ({ index: INDEX.indexOf(r.index), score: r.score }));
  assert.deepEqual(out.rank.map((r) => r.index), want.map((r) => r.index), "rank order");
  out.rank.forEach((r, i) => assert.ok(Math.abs(r.score - want[i].score) <= 1e-3, `rank score ${r.score} vs ${want[i].score}`));

  // Input kinds: encoded bytes decode exactly like the Blob; browser-decoded pixels nearly so.
  const ref = out.imageEmbeds[1];
  close(out.inputKinds.embeds[0], ref, "ArrayBuffer input");
  close(out.inputKinds.embeds[1], ref, "Uint8Array input");
  assert.ok(cosine(out.inputKinds.embeds[2], ref) > 0.99, "ImageData input");
  assert.ok(cosine(out.inputKinds.embeds[3], ref) > 0.99, "ImageBitmap input");

  assert.ok(out.badImage, "a bad image rejects");
  assert.ok(out.badImage.isError, "with an Error");
  assert.match(out.badImage.message, /image/i);
  assert.doesNotMatch(out.badImage.message, /unreachable|internal error/i);
  close(out.afterBad[0], out.imageEmbeds[0], "embedding after the error");
  assert.ok(out.typeError?.isError && out.typeError.name === "TypeError", `TypeError for a number: ${JSON.stringify(out.typeError)}`);
  assert.match(out.typeError.message, /images\[1\]/);
  assert.ok(out.noLabels?.isError, "classify with no labels rejects");
  assert.deepEqual(out.empty, { embedImages: 0, embedTexts: 0, classify: 0, rank: 0 });
  close(out.concurrent.image, out.imageEmbeds[1], "concurrent image");
  close(out.concurrent.text, out.textEmbeds[0], "concurrent text");
  assert.ok(out.memoryBytes > 0);
  assert.equal(out.afterDispose?.message, "model disposed");

  const stages = out.progress.map((p) => p.stage);
  assert.equal(stages.at(-1), "ready");
  assert.equal(stages.at(-2), "load");
  assert.equal(out.progress.at(-1).backend, out.backend);
  assert.equal(out.progress.at(-1).precision, out.precision);
  // auto: f16 exactly where the adapter has shader-f16 (SwiftShader has not; the CPU stays f32).
  assert.equal(out.precision, out.backend === "webgpu" && out.adapterHasF16 ? "f16" : "f32", "precision auto");
  assert.ok(out.progress.at(-1).seconds > 0);
  console.log(`${label}: adapter ${JSON.stringify(out.adapter)}, load ${out.loadSeconds.toFixed(2)} s, calls ${JSON.stringify(out.seconds)}, max |Δ| ${worst.toExponential(2)}`);
}

function downloads(progress) {
  const last = new Map();
  for (const p of progress) if (p.stage === "download") last.set(p.file, p);
  return last;
}

describe("npm consumer, WebGPU available (SwiftShader)", { timeout: TIMEOUT }, () => {
  let browser;
  let page;
  before(async () => {
    browser = await launch({ webgpu: true });
    page = await open(browser.context, browser.url, PAGE);
    await page.waitForFunction(() => typeof window.runConsumer === "function", null, { timeout: 60_000 });
  });
  after(async () => browser?.close());

  test("main thread, backend webgpu, URL source", { timeout: TIMEOUT }, async () => {
    const out = await page.evaluate((o) => window.runConsumer(o), { ...RUN, backend: "webgpu" });
    assert.equal(out.backend, "webgpu");
    assert.equal(out.inWorker, false);
    const files = downloads(out.progress);
    assert.deepEqual([...files.keys()].sort(), ["config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json"]);
    const w = files.get("model.safetensors");
    assert.equal(w.loaded, w.total);
    checkRun(out, "webgpu, main thread");
  });

  test("main thread, backend cpu, files source", { timeout: TIMEOUT }, async () => {
    const out = await page.evaluate((o) => window.runConsumer(o), { ...RUN, backend: "cpu", source: "object" });
    assert.equal(out.backend, "cpu");
    assert.deepEqual(out.progress.map((p) => p.stage), ["load", "ready"]);
    checkRun(out, "cpu, main thread, files source");
  });

  test("worker, backend webgpu, cached URL source", { timeout: TIMEOUT }, async () => {
    await page.evaluate(() => caches.delete("webclip-models-v1"));
    const out = await page.evaluate((o) => window.runConsumer(o), { ...RUN, backend: "webgpu", worker: true, cache: true });
    assert.equal(out.backend, "webgpu");
    assert.equal(out.inWorker, true);
    assert.ok(out.inputKinds.arrayBufferDetached, "ArrayBuffers are transferred to the worker");
    checkRun(out, "webgpu, worker");
    for (const p of downloads(out.progress).values()) assert.ok(!p.cached, `${p.file} downloaded`);
    const keys = await page.evaluate(async () => (await (await caches.open("webclip-models-v1")).keys()).map((r) => new URL(r.url).pathname));
    assert.ok(keys.includes("/tests/fixtures/models/tiny-legacy/model.safetensors"), `cached: ${keys}`);

    // Second load: every file from the cache.
    const again = await page.evaluate(() => window.runConsumer({ backend: "cpu", worker: true, cache: true, loadOnly: true }));
    assert.equal(again.backend, "cpu");
    const files = downloads(again.progress);
    assert.equal(files.size, 4);
    for (const p of files.values()) assert.equal(p.cached, true, `${p.file} from the cache`);
    close(again.imageEmbeds[0], expected.image_embeds[INDEX[0]], "image after a cached load");
  });

  test("precision: f16 where supported, a clear error where not", { timeout: TIMEOUT }, async () => {
    // The CPU backend computes in f16 when asked (the same f16 model code a shader-f16 GPU
    // runs; tests/precision.rs runs it on lavapipe's f16 Vulkan kernels).
    const out = await page.evaluate((o) => window.runConsumer(o), { ...RUN, backend: "cpu", precision: "f16", worker: true, loadOnly: "embed" });
    assert.equal(out.precision, "f16");
    assert.equal(out.progress.at(-1).precision, "f16");
    let worst = 1;
    let maxAbs = 0;
    const pairs = [
      ...out.imageEmbeds.map((row, i) => [row, expected.image_embeds[INDEX[i]]]),
      ...out.textEmbeds.map((row, i) => [row, expected.text_embeds[i]]),
    ];
    for (const [got, want] of pairs) {
      worst = Math.min(worst, cosine(got, want));
      got.forEach((v, k) => (maxAbs = Math.max(maxAbs, Math.abs(v - want[k]))));
    }
    // f16 keeps ~3 digits per op: direction to ~1e-3 (f32 parity is checked above to 1e-4).
    assert.ok(worst >= 0.998, `f16 vs HF f32: worst cosine ${worst}`);
    console.log(`cpu f16 (worker) vs HF f32: worst cosine ${worst.toFixed(7)}, max |Δ| ${maxAbs.toExponential(2)}`);

    const errors = await page.evaluate(async () => {
      const { loadModel, loadModelInWorker } = await import("/pkg/dist/index.js");
      const hasF16 = (await navigator.gpu.requestAdapter())?.features.has("shader-f16") ?? false;
      const messages = { hasF16 };
      for (const [key, f] of [
        ["webgpuF16", () => loadModelInWorker("/tests/fixtures/models/tiny-legacy/", { backend: "webgpu", precision: "f16" })],
        ["bad", () => loadModel("/tests/fixtures/models/tiny-legacy/", { precision: "f8" })],
      ]) {
        try {
          const m = await f();
          messages[key] = { precision: m.precision };
          m.dispose();
        } catch (e) {
          messages[key] = { name: e.name, message: e.message };
        }
      }
      return messages;
    });
    if (errors.hasF16) assert.equal(errors.webgpuF16.precision, "f16");
    else assert.match(errors.webgpuF16.message, /shader-f16/, JSON.stringify(errors.webgpuF16));
    assert.equal(errors.bad.name, "TypeError");
    assert.match(errors.bad.message, /options\.precision must be "auto", "f32" or "f16"/);
  });

  test("worker: load errors name the URL and status; the worker is ended", { timeout: TIMEOUT }, async () => {
    const err = await page.evaluate(async () => {
      const { loadModelInWorker, loadModel } = await import("/pkg/dist/index.js");
      const messages = [];
      for (const f of [() => loadModelInWorker("/tests/fixtures/models/nope/", { backend: "cpu" }), () => loadModel({ config: "{}", weights: "x", tokenizer: "{}" })]) {
        try {
          await f();
          messages.push(null);
        } catch (e) {
          messages.push({ name: e.name, message: e.message });
        }
      }
      return messages;
    });
    assert.match(err[0].message, /\/tests\/fixtures\/models\/nope\/(config|open_clip_config)\.json/);
    assert.match(err[0].message, /404/);
    assert.equal(err[1].name, "TypeError");
    assert.match(err[1].message, /source\.weights/);
  });
});

describe("npm consumer, no WebGPU", { timeout: TIMEOUT }, () => {
  let browser;
  let page;
  before(async () => {
    browser = await launch({ webgpu: false });
    page = await open(browser.context, browser.url, PAGE);
    await page.waitForFunction(() => typeof window.runConsumer === "function", null, { timeout: 60_000 });
  });
  after(async () => browser?.close());

  test("backend auto falls back to the CPU and says why", { timeout: TIMEOUT }, async () => {
    const out = await page.evaluate(() => window.runConsumer({ backend: "auto", loadOnly: true }));
    assert.equal(out.backend, "cpu");
    assert.equal(typeof out.deviceNote, "string");
    assert.ok(out.deviceNote.length > 0);
    close(out.imageEmbeds[0], expected.image_embeds[INDEX[0]], "image on the fallback");
    console.log(`auto without WebGPU: ${out.deviceNote}`);
  });
});

// SigLIP through the package: the same checks as the native parity test (crates/webclip/tests/
// parity.rs), against transformers' numbers, on WebGPU (SwiftShader) in a worker and on the CPU.
describe("npm consumer, SigLIP", { timeout: TIMEOUT }, () => {
  const sig = JSON.parse(readFileSync(new URL("../fixtures/expected/siglip-tiny.json", import.meta.url), "utf8"));
  const names = ["chelsea.png", "horse.png", "astronaut.png"];
  let browser;
  let page;
  before(async () => {
    browser = await launch({ webgpu: true });
    page = await open(browser.context, browser.url, PAGE);
    await page.waitForFunction(() => typeof window.runSiglip === "function", null, { timeout: 60_000 });
  });
  after(async () => browser?.close());

  for (const [backend, worker] of [["webgpu", true], ["cpu", false]]) {
    test(`${backend}${worker ? ", worker" : ""}: embeddings, sigmoid scores, training`, { timeout: TIMEOUT }, async () => {
      const out = await page.evaluate((o) => window.runSiglip(o), {
        backend,
        worker,
        images: names,
        texts: sig.texts,
        labels: sig.labels,
        templates: sig.templates.ko,
      });
      assert.equal(out.backend, backend);
      assert.equal(out.family, "siglip");
      assert.equal(out.scoring, "sigmoid");
      assert.ok(Math.abs(out.logitBias - sig.logit_bias) < 1e-5, `logitBias ${out.logitBias}`);
      let worst = 1;
      names.forEach((name, i) => {
        const c = cosine(out.imageEmbeds[i], sig.image_embeds[sig.images.indexOf(name)]);
        worst = Math.min(worst, c);
        assert.ok(c >= 0.999, `${backend}: image ${name}: cos ${c}`);
      });
      sig.texts.forEach((t, i) => {
        const c = cosine(out.textEmbeds[i], sig.text_embeds[i]);
        worst = Math.min(worst, c);
        assert.ok(c >= 0.9999, `${backend}: text ${JSON.stringify(t.slice(0, 20))}: cos ${c}`);
      });
      let maxDp = 0;
      out.classify.forEach((scores, i) => {
        const want = sig.zeroshot.ko[sig.images.indexOf(names[i])];
        for (const s of scores) {
          const d = Math.abs(s.prob - want[sig.labels.indexOf(s.label)]);
          maxDp = Math.max(maxDp, d);
          assert.ok(d <= 1e-3, `${backend}: ${names[i]} ${s.label}: ${s.prob} vs ${want[sig.labels.indexOf(s.label)]}`);
        }
      });
      // The default loss of a SigLIP model is the sigmoid one: the bias is reported and moves.
      assert.equal(out.steps.length, 2);
      for (const r of out.steps) assert.ok(Number.isFinite(r.loss) && typeof r.logitBias === "number", JSON.stringify(r));
      assert.notEqual(out.steps[1].logitBias, sig.logit_bias);
      assert.equal(out.badLoss?.name, "TypeError");
      assert.match(out.badLoss.message, /options\.loss must be "softmax" or "sigmoid"/);
      assert.deepEqual(out.exported.files, ["config", "preprocessor", "tokenizer", "tokenizerConfig", "weights"]);
      assert.equal(out.exported.tokenizerConfig.pad_token, "<pad>");
      console.log(`siglip ${backend}: worst cos ${worst.toFixed(6)}, max |Δp| ${maxDp.toExponential(2)}, losses ${out.steps.map((r) => r.loss.toFixed(4))}`);
    });
  }
});
